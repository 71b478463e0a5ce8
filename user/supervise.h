/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The embedded supervisor: each service in its own cgroup v2 under the guard's
 * instance cgroup (<cg_root>/portguard-<name>/<service>), tracked with pidfds,
 * inotify on cgroup.events and timerfds in the one event loop. The state
 * machine is data: svc_actions[state][event].
 */
#ifndef PG_SUPERVISE_H
#define PG_SUPERVISE_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "event.h"
#include "loop.h"

enum svc_state {
	SVC_STOPPED = 0,
	SVC_STARTING,
	SVC_RUNNING,
	SVC_BACKOFF,
	SVC_STOPPING,
	SVC_EXITED,
	SVC_FATAL,
	SVC__NSTATES,
};

/* What the state machine reacts to (svc_actions[state][event] in supervise.c). */
enum svc_event {
	SE_START,	/* supervise_start() */
	SE_STOP,	/* supervise_stop() */
	SE_TIMER,	/* the service timer fired; its meaning depends on the state */
	SE_EXIT,	/* the main process exited (pidfd readable) */
	SE_EMPTY,	/* cgroup.events says populated 0 */
	SE_LISTEN,	/* the kernel saw the listen on conf->port */
	SE_HEALTHY,	/* the health check got a 2xx */
	SE__NEVENTS,
};

struct pg_service {
	const struct pg_service_conf *conf;
	enum svc_state state;
	pid_t pid;		/* main process, 0 when none */
	int pidfd;		/* -1 when none */
	int is_child;		/* started by this guard (can be reaped) vs adopted */
	char cgpath[PATH_MAX];	/* absolute path of the service cgroup */
	uint64_t cgroup_id;
	int listening;		/* kernel reported its listen on conf->port */
	uint64_t start_ms;	/* monotonic, when the current process started */
	uint64_t ready_ms;	/* monotonic, when it became RUNNING (0: not yet) */
	int64_t start_wall_s;	/* wall clock seconds of the start (for uptime after adoption) */
	int restarts;		/* automatic restarts so far */
	int failures;		/* consecutive failed starts (for backoff / FATAL) */
	int last_exit_code;	/* -1 when unknown (adopted process) */
	int last_signal;	/* 0 when it did not die by a signal */
	int want_stop;		/* a stop was requested: do not restart */
	/* private to supervise.c */
	struct pg_watch pid_w;
	struct pg_watch ev_w;	/* inotify on cgroup.events */
	int inotify_fd;
	struct pg_timer timer;	/* start window / start timeout / stop timeout / backoff */
	struct pg_watch health_w; /* in-flight health check connection */
	void (*stopped_cb)(struct pg_service *s, void *arg);
	void *stopped_arg;
};

/*
 * Lifecycle notifications to the guard: type is one of the EVF_SERVICE
 * types (EV_SERVICE_START, _READY, _EXIT, _BACKOFF, _FATAL, _STOP, _ADOPT).
 * detail is a short human text or NULL.
 */
typedef void (*svc_event_fn)(enum ev_type type, struct pg_service *s, const char *detail);

/*
 * Create the instance cgroup and one cgroup per service, and adopt the
 * processes already found in them (a restarted guard keeps running services).
 * Does not start anything. Returns 0 or -errno (with a log line).
 */
int supervise_init(const struct pg_config *c, svc_event_fn on_event);
/* Start every STOPPED/EXITED service that is not running, in priority order. */
void supervise_start_all(void);
int supervise_start(struct pg_service *s);
/* Graceful stop: stop_signal to every process of the cgroup, cgroup.kill after
 * stop_timeout; cb (may be NULL) runs once the cgroup is empty. */
int supervise_stop(struct pg_service *s, void (*cb)(struct pg_service *, void *), void *arg);
/* As supervise_stop, but cgroup.kill at once (emergency). */
int supervise_kill(struct pg_service *s, void (*cb)(struct pg_service *, void *), void *arg);
/* Stop all services in reverse priority order, one after the other, then call done. */
void supervise_stop_all(void (*done)(void *), void *arg);
/* Remove the service cgroups and the instance cgroup (they must be empty). */
void supervise_remove_cgroups(void);
/* The kernel reported a TCP listen on s->conf->port from s's cgroup. */
void supervise_listen_seen(struct pg_service *s);
/* Its listener on s->conf->port went away. */
void supervise_listen_gone(struct pg_service *s);

/*
 * Switch to a new config: services configured alike keep running untouched;
 * changed and removed ones are stopped; then done(arg, started, n) runs with
 * the changed and new services, which the caller starts. nc must live on.
 */
int supervise_reload(const struct pg_config *nc,
		     void (*done)(void *arg, struct pg_service **started, int n), void *arg);

int supervise_count(void);
struct pg_service *supervise_get(int i);
struct pg_service *supervise_by_name(const char *name);
/* Service whose cgroup is cgid, or has cgid below it (a sub-cgroup it made), else NULL. */
struct pg_service *supervise_by_cgroup(uint64_t cgid);
struct pg_service *supervise_by_port(int port);
/* Absolute path of the instance cgroup. */
const char *supervise_instance_cgroup(void);
const char *svc_state_name(enum svc_state st);
/* The name of the action svc_actions[st][ev] runs ("start", "kill", ...), NULL if none. */
const char *supervise_action_name(enum svc_state st, enum svc_event ev);
/* type = notify: the service's last STATUS= (or "reloading", "stopping"), else NULL. */
const char *supervise_notify_status(struct pg_service *s);
/* Release fds and memory; does not touch the processes. */
void supervise_cleanup(void);

#endif
