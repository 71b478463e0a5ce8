/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The guard's events as C values: one enum of types, one tagged struct.
 * Everything inside the guard (metrics, alerts and their coalescing, the
 * recent-conflicts list, restart verification) reads these fields; only
 * encode.c turns an event into the JSON line the journal, the control
 * socket, syslog and alert_command see (docs/design.md "Events").
 *
 * Pointers in a struct pg_ev point to string literals or to data that lives
 * through the one ev_emit() call; an event kept past it (the recent list,
 * a coalescing window) is of a type that holds literals only (EVF_KEEP).
 */
#ifndef PG_EVENT_H
#define PG_EVENT_H

#include <stdint.h>

#include "portguard.h"

#define EV_NAME_MAX 64	   /* a service name (PG_NAME_MAX) */
#define EV_HOLDERS 16	   /* CLAIM_MAX_HOLDERS */
#define EV_STEPS 8	   /* steps of a restart job */
#define EV_DETAIL 512
#define EV_PATH 4096

enum ev_type {
	/* from the kernel's events: a claim of a guarded port */
	EV_BIND,
	EV_LISTEN,
	EV_UNLISTEN,
	EV_RELEASE,
	EV_ROGUE_BIND,
	EV_PORT_CONFLICT,
	EV_PORT_SHARED,
	EV_NETNS_CLAIM,
	EV_AUTOBIND_KILLED,
	EV_BIND_DENIED,
	/* the guard's own */
	EV_EVENTS_LOST,
	EV_RECLAIM,
	EV_RECLAIM_BACKOFF,
	EV_SERVICE_START,
	EV_SERVICE_READY,
	EV_SERVICE_EXIT,
	EV_SERVICE_BACKOFF,
	EV_SERVICE_FATAL,
	EV_SERVICE_STOP,
	EV_SERVICE_ADOPT,
	EV_RELOAD,
	EV_RELOAD_FAILED,
	EV_RESTART_DONE,
	EV_RESTART_FAILED,
	EV_CONTROL_CLIENT_DROPPED,
	EV_LAYOUT_MIGRATED,
	EV__NTYPES,
};

/* What a type is (ev_flags). */
#define EVF_KERNEL (1U << 0)   /* made from a kernel event: the socket fields (ev.k) */
#define EVF_ALERT (1U << 1)    /* syslog and alert_command */
#define EVF_CONFLICT (1U << 2) /* kept in the recent-conflicts list of `status` */
#define EVF_COALESCE (1U << 3) /* repeats within coalesce_window fold into one */
#define EVF_SERVICE (1U << 4)  /* a service's lifecycle (ev.u.svc) */
#define EVF_KEEP (EVF_CONFLICT | EVF_COALESCE)

/* A process holding a socket, as events and `status` name it. */
struct ev_holder {
	uint32_t pid;
	uint32_t uid;
	char comm[PG_COMM_LEN];
	char service[EV_NAME_MAX]; /* "" when it is no service's */
	uint16_t proto;
	uint16_t family;
	uint8_t addr[16];
	uint8_t allowed;	   /* an `allow` rule lets it hold the port (status only) */
};

/* The binder's executable (ev_set_exe). */
struct ev_exe {
	const char *source;	/* "kernel", "kernel-partial", "proc", NULL: unknown */
	char path[2 * PG_PATH_LEN + 8];
	int have_ino;		/* the kernel sent inode and device */
	int host_ns;		/* the path is in the guard's mount namespace */
	uint64_t ino;
	uint32_t dev;		/* kernel dev_t */
};

/* What was done to a binder (autobind_killed, bind_denied). */
enum ev_action {
	EVA_NONE = 0,
	EVA_DENIED,	 /* "denied": the kernel refused the bind */
	EVA_KILLED,	 /* "killed" */
	EVA_GONE,	 /* "gone": it exited before it could be killed */
	EVA_NOT_BINDER,	 /* the pid is no longer the process that bound */
	EVA_KILL_FAILED, /* "kill failed" */
};
const char *ev_action_name(enum ev_action a);

/* The socket and process of a kernel event (EVF_KERNEL types). */
struct ev_kernel {
	uint16_t port;
	uint16_t proto;
	uint16_t family;
	uint8_t reuseport;
	uint8_t addr[16];
	uint32_t pid;		/* thread-group id */
	uint32_t tid;
	uint32_t uid;
	char comm[PG_COMM_LEN + 1];
	uint64_t cgroup_id;
	uint64_t netns;
	uint64_t cookie;
	const char *stage;	/* rogue_bind: "bind" or "listen" */
	enum ev_action action;	/* autobind_killed, bind_denied: what was done */
	int has_exe;		/* rogue_bind, bind_denied */
	struct ev_exe exe;
	int has_cgroup;		/* bind_denied: "cgroup" (path, or null: "" unknown) */
	char cgroup[EV_PATH];
};

struct ev_step {
	const char *name;	/* a literal: "stop", "flush", ... */
	uint64_t ms;
};

struct pg_ev {
	enum ev_type type;
	uint64_t ts_us;		/* realtime microseconds */
	char service[EV_NAME_MAX]; /* "" when none */
	char detail[EV_DETAIL];	/* "" when none */
	int routine;		/* an owner's own bind, listen, unlisten or release (emit.c) */
	/* the holders of the port in question (conflicts, shared, reclaim) */
	int has_holders;
	int nholders;
	struct ev_holder holders[EV_HOLDERS];
	/* coalescing (EVF_COALESCE): 1 for the first of a window, N for its summary */
	long count;
	int coalesced;
	int folded;		/* the kernel counted them (agg.h): count claims in one line */
	uint64_t window_ms;
	union {
		struct ev_kernel k;
		struct {
			uint64_t count;
		} lost;
		struct {
			int port;
			int attempt;
			uint64_t delay_ms; /* reclaim_backoff */
		} reclaim;
		struct {
			int port;	   /* 0: a service without one */
			uint32_t pid;	   /* 0: none */
			const char *state; /* svc_state_name() */
		} svc;
		struct {
			const char *config;
			const char *const *started; /* names, live through the emit */
			int nstarted;
			const char *errors; /* reload_failed: lines, '\n'-separated */
		} reload;
		struct {
			const char *mode;
			uint64_t ms;
			int nsteps;
			struct ev_step steps[EV_STEPS];
		} job;
		struct {
			int32_t pid;
			uint32_t uid;
		} client;
		struct {
			int from, to;
			uint64_t copied, dropped, ring_read;
		} layout;
	} u;
};

const char *ev_type_name(enum ev_type t);
unsigned ev_flags(enum ev_type t);
/* Clear ev and set its type, time (0: now) and service (NULL: none). */
void ev_init(struct pg_ev *ev, enum ev_type t, uint64_t ts_us, const char *service);
/* An event of an EVF_KERNEL type from the kernel's record e, at e's time. */
void ev_from_kernel(struct pg_ev *ev, enum ev_type t, const struct pg_event *e,
		    const char *service);
/* ev->detail = the formatted text. */
void ev_detail(struct pg_ev *ev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * The binder's executable: what the kernel sent (x; NULL: the last it sent
 * for pid, kept here, as it sends each binder's once) or /proc/PID/exe.
 */
void ev_set_exe(struct pg_ev *ev, const struct pg_exe *x, uint32_t pid);
/* The kernel walk's path, leaf-first components reversed, into buf; 0 if empty. */
int ev_exe_path(const struct pg_exe *x, char *buf, size_t len);

/* Clocks: realtime microseconds now, and for a boot-clock timestamp. */
uint64_t ev_now_us(void);
uint64_t ev_boot_to_real_us(uint64_t boot_ns);
/* RFC 3339 UTC with microseconds: 2026-11-28T03:22:02.123456Z */
const char *ev_ts(uint64_t realtime_us, char *buf, int len);
/* Name of a kernel event kind ("bind_attempt", "bind", ...). */
const char *ev_kind_name(uint32_t kind);
/* "tcp" / "udp" / "?" */
const char *ev_proto_name(uint16_t proto);
/* Printable address of a family's 16-byte address ("0.0.0.0", "::1", ...). */
const char *ev_addr_str(uint16_t family, const uint8_t *addr, char *buf, int len);

#endif
