/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The service manager's side of the sd_notify protocol (type = notify):
 * one datagram socket per service, in the abstract namespace under a
 * random name (nothing in the file system to leave behind or to plant;
 * the name is kept in state_dir so a guard that adopts the service binds
 * the same one). Every datagram must carry the sender's credentials and
 * come from inside the service's cgroup; fds passed along are closed.
 */
#ifndef PG_SVCNOTIFY_H
#define PG_SVCNOTIFY_H

#include <sys/types.h>

#include "loop.h"

#define SVN_STATUS_MAX 128

/* What one datagram said; each field only when its key was in it. */
struct svn_msg {
	int ready, reloading, stopping; /* READY=1, RELOADING=1, STOPPING=1 */
	pid_t mainpid;			/* MAINPID=, 0 when absent or not a pid */
	int has_status;
	char status[SVN_STATUS_MAX];	/* STATUS=, control characters made spaces */
};

struct svn_sock {
	struct pg_watch w;
	char name[108]; /* the NOTIFY_SOCKET value: "@portguard/..." */
	/* is pid inside the service? (its cgroup); else the datagram is dropped */
	int (*trusted)(void *arg, pid_t pid);
	void (*fn)(void *arg, pid_t sender, const struct svn_msg *m);
	void *arg;
	unsigned long rejected; /* datagrams dropped: no credentials, outsiders, truncated */
};

/*
 * Bind n (its w.fd -1 before) to the name kept in keep_path, or a new one
 * (then kept there), and watch it in the loop. 0 or -errno.
 */
int svn_open(struct svn_sock *n, const char *instance, const char *svc, const char *keep_path);
void svn_close(struct svn_sock *n);
/* Parse one datagram's text (NUL-terminated) into m (for the fuzzer and the tests). */
void svn_parse(const char *text, struct svn_msg *m);

#endif
