/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket: a unix stream socket (mode 0660) speaking
 * line-delimited JSON. One request per connection; `events` with
 * "follow": true keeps the connection as a live event stream.
 * Each client's credentials come from SO_PEERCRED.
 */
#ifndef PG_CONTROL_H
#define PG_CONTROL_H

#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "loop.h"

struct ctl_client {
	struct pg_watch w;
	uid_t uid;
	pid_t pid;
	int follow;
	int follow_all;		/* the routine events too ({"all": true}) */
	int busy;		/* a request is being answered: further input is ignored */
	int close_after;	/* drop once the output buffer is flushed */
	char *out;		/* what the socket did not take yet */
	size_t outlen, outcap;
	uint64_t deadline;	/* monotonic ms: dropped then (0: none); see control.c */
	void (*on_close)(struct ctl_client *c); /* called once, when it is dropped */
	size_t len;
	char buf[4096];
	struct ctl_client *next;
};

/*
 * A request, as control_parse_request() read it. Strings are cut to their
 * buffers; a cut one is longer than any command, mode or service name, so
 * it matches none.
 */
#define CTL_NAMES_MAX 256
struct ctl_request {
	int has_cmd;		/* "cmd" is a string */
	char cmd[72];
	int follow;		/* "follow" is true */
	int all;		/* "all" is true: events, the routine ones too */
	int has_mode;		/* "mode" given */
	char mode[64];
	int has_services;	/* "services" given */
	int services_bad;	/* ... but not a list */
	int nnames;
	int too_many;		/* more than CTL_NAMES_MAX names */
	char names[CTL_NAMES_MAX][PG_NAME_MAX + 1];
};

/* Handle one request; return 0 to close the client after the reply, 1 to keep it. */
typedef int (*ctl_handler_fn)(struct ctl_client *c, const struct ctl_request *req);

/*
 * Refuses with -EADDRINUSE when a live daemon answers on path; unlinks a stale
 * socket. The socket is mode 0660, its group `group` (NULL: the guard's).
 */
int control_open(const char *path, const char *group, ctl_handler_fn fn);
void control_close(void);
/*
 * Queue one line (encode.c's, taken and freed; NULL: out of memory) to a
 * client (what the socket does not take now goes on EPOLLOUT); returns 0,
 * or -errno when the client is hopeless (too much queued).
 */
int control_reply(struct ctl_client *c, char *line);
void control_drop(struct ctl_client *c);
/* Drop c once everything queued has been written. */
void control_finish(struct ctl_client *c);
/*
 * Send an event line to every following client (a routine one to those that
 * asked for all); one that has fallen CTL_MAX_FOLLOW behind is dropped, and
 * `notice` (control_set_notice) told.
 */
void control_broadcast(const char *line, int routine);
/* Would any follower take an event line (routine: one that asked for all)? */
int control_wants(int routine);
/* Told of each client the guard drops for its own behaviour (what, its pid and uid). */
void control_set_notice(void (*notice)(const char *what, pid_t pid, uid_t uid));

/*
 * Limits, whatever clients do (the guard's memory ceiling for them):
 * at most CTL_MAX_CLIENTS at once, of which CTL_ROOT_RESERVE only for root
 * and CTL_PER_UID per other uid; a request within CTL_REQUEST_MS of the
 * connect; queued output drained with progress at least every
 * CTL_DRAIN_MS; at most CTL_MAX_FOLLOW queued per follower, CTL_MAX_QUEUED
 * per request, CTL_MAX_NONROOT for all non-root clients together.
 */
#define CTL_MAX_CLIENTS 64
#define CTL_ROOT_RESERVE 16
#define CTL_PER_UID 8
#define CTL_REQUEST_MS 2000
#define CTL_DRAIN_MS 5000
#define CTL_MAX_FOLLOW (1 << 20)
#define CTL_MAX_QUEUED (16 << 20)
#define CTL_MAX_NONROOT (32 << 20)

/*
 * One request line (len bytes, no newline): NULL and *req filled, or why it
 * is refused. Never trusts the bytes.
 */
const char *control_parse_request(const char *line, size_t len, struct ctl_request *req);

/* Does a live daemon answer on path? Its connected fd, or -errno. */
int control_probe(const char *path);
/* Client side: connect, send the request line, return the connected fd or -errno. */
int control_connect(const char *path, const char *line);

#endif
