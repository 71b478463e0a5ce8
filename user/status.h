/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `status` as a C value: the guard, its services, one row per guarded and
 * protected port (enum port_state), the recent conflicts and the claim
 * table. The guard fills it from its state, the CLI without a guard from
 * one sock_diag snapshot; encode.c renders it.
 */
#ifndef PG_STATUS_H
#define PG_STATUS_H

#include <stdint.h>

#include "config.h"
#include "event.h"

#define ST_RECENT 32 /* recent conflicts kept for `status` */

struct claim;
struct claims;

enum port_state {
	PORT_FREE = 0,
	PORT_OWNED,	/* its owner holds it, nobody else */
	PORT_ALLOWED,	/* only who an `allow` rule lets */
	PORT_SHARED,	/* its owner and someone else */
	PORT_ROGUE,	/* someone else, not its owner */
	PORT_PROTECTED, /* listed in `protected`: never touched, never judged */
};

/* Service name for a holder's cgroup id, or NULL. */
typedef const char *(*status_svc_fn)(uint64_t cgroup_id);

struct st_port {
	int port;
	enum port_state state;
	const char *owner;	/* its service's name, NULL when none */
	uint64_t denied;	/* binds denied in the kernel (guard only) */
	const struct pg_ev *last_conflict; /* newest recent conflict on it, or NULL */
	int nholders;
	struct ev_holder *holders;
};

struct st_service {
	const char *name;
	const char *state;	/* svc_state_name() */
	int running;
	uint32_t pid;
	int port;
	int http;
	const char *start; /* "forking", "notify", or NULL (simple) */
	const char *notify_status; /* notify: its STATUS= (or reloading, stopping), or NULL */
	int listening;
	int64_t uptime_s;
	int restarts;
};

struct status {
	int running;		/* a guard answered; else only name and ports are set */
	const char *name;
	uint32_t pid;
	int enforce;
	uint64_t uptime_s, events, lost;
	int layout;
	const char *config, *cgroup;
	int nsvc;
	struct st_service svc[PG_MAX_SERVICES];
	int nports;
	struct st_port *ports;
	int nconflicts;
	const struct pg_ev *conflicts[ST_RECENT];
	const struct claims *claims; /* every claim (the guard's), or NULL */
	uint64_t host_netns;
	int healthy;
};

const char *port_state_name(enum port_state s);
/* The healthy states: free, owned, allowed, protected. */
int port_state_ok(enum port_state s);
/*
 * st->ports: one row per guarded and protected port, ascending, from the
 * holding claims of network namespace netns. 0 or -ENOMEM.
 */
int status_ports(struct status *st, const struct pg_config *c, const struct claims *t,
		 uint64_t netns, status_svc_fn svc_of);
/* The row of a port, or NULL. */
struct st_port *status_port(const struct status *st, int port);
void status_free(struct status *st);
/* A claim's holders as events name them; returns how many went into out (max EV_HOLDERS). */
int status_claim_holders(struct ev_holder *out, const struct claim *c, status_svc_fn svc_of);
/* ev's holders: those of claim c (has_holders set even when c is NULL: an empty list). */
void status_ev_holders(struct pg_ev *ev, const struct claim *c, status_svc_fn svc_of);

#endif
