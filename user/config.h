/* SPDX-License-Identifier: BSD-3-Clause */
/* The INI config (libinih): [guard] and [service:NAME] sections. */
#ifndef PG_CONFIG_H
#define PG_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#define PG_DEFAULT_CONFIG "/etc/portguard/portguard.conf"
#define PG_MAX_SERVICES 64
#define PG_MAX_ENV 32
#define PG_NAME_MAX 64

enum pg_mode { PG_MODE_ENFORCE = 0, PG_MODE_OBSERVE = 1 };
enum pg_svc_type { PG_SVC_HTTP = 0, PG_SVC_BACKGROUND = 1 };
/*
 * How a start becomes the running service: the command is the service
 * (simple); the command exits 0 once the daemon it forked wrote `pidfile`
 * (forking); the service says READY=1 on its NOTIFY_SOCKET (notify).
 */
enum pg_svc_start { PG_START_SIMPLE = 0, PG_START_FORKING = 1, PG_START_NOTIFY = 2 };
enum pg_restart { PG_RESTART_ALWAYS = 0, PG_RESTART_ON_FAILURE = 1, PG_RESTART_NEVER = 2 };
/* What enforce mode does to a bind on a guarded port from outside its owner. */
enum pg_on_rogue { PG_ROGUE_DENY = 0, PG_ROGUE_KILL = 1, PG_ROGUE_ALERT = 2 };

#define PG_MAX_ALLOW 16
enum pg_allow_kind { PG_ALLOW_KIND_UID = 1, PG_ALLOW_KIND_CGROUP = 2, PG_ALLOW_KIND_EXE = 3 };
/* `allow = uid:N, cgroup:/path, exe:/path`: others who may bind the service's port. */
struct pg_allow {
	enum pg_allow_kind kind;
	uint32_t uid;		/* PG_ALLOW_KIND_UID */
	char *path;		/* cgroup path (under the cgroup2 root) or executable path */
};

struct pg_service_conf {
	char name[PG_NAME_MAX];
	int line;		/* line of the [service:NAME] header */
	char *command;		/* required */
	int port;		/* 0 when omitted */
	enum pg_svc_type type;	/* default http when port set, else background */
	int type_set;		/* type given explicitly */
	enum pg_svc_start start; /* type = forking | notify; else simple */
	char *health;		/* NULL when unset; must start with '/' */
	char *user;		/* NULL: run as the guard's user */
	char *directory;	/* NULL: "/" */
	char *env[PG_MAX_ENV];	/* "K=V" strings */
	int nenv;
	char *pidfile;		/* NULL when unset */
	char *socket;		/* NULL when unset */
	uint64_t start_timeout_ms; /* default 10000 */
	uint64_t start_window_ms;  /* background readiness window, default 100 */
	int stop_signal;	   /* default SIGTERM; TERM, INT, QUIT, HUP, KILL, USR1, USR2 or number */
	uint64_t stop_timeout_ms;  /* default 5000 */
	enum pg_restart restart;   /* default always */
	int priority;		   /* default 100; start order ascending, ties by name */
	int on_rogue;		   /* enum pg_on_rogue, or -1: the [guard] setting */
	struct pg_allow allow[PG_MAX_ALLOW];
	int nallow;
};

struct pg_config {
	char *path;		/* the file parsed */
	char name[PG_NAME_MAX];	/* default "portguard"; [A-Za-z0-9_.-]+ */
	uint8_t guarded[65536];	/* 1 where the port is in `ports` */
	uint8_t protected_[65536]; /* 1 where the port is in `protected` */
	enum pg_mode mode;	/* default enforce */
	char *control;		/* default /run/portguard/<name>.sock */
	char *control_group;	/* group of the control socket (read-only requests), or NULL */
	char *state_dir;	/* default /var/lib/portguard/<name> */
	char *log_dir;		/* default /var/log/portguard/<name> */
	uint32_t ring_buffer_kb; /* kernel->daemon ring buffer, default 1024 */
	enum pg_on_rogue on_rogue; /* default deny */
	int reclaim;		/* on_conflict = reclaim (default, enforce mode only) | alert */
	uint64_t journal_max;	/* rotate events.jsonl past this size (default 64M) */
	int syslog;		/* alerts to syslog (LOG_DAEMON), default yes */
	char *alert_command;	/* run with one alert's JSON on stdin, or NULL */
	char *metrics_file;	/* Prometheus textfile, or NULL */
	char *metrics_listen;	/* host:port serving /metrics, or NULL */
	int metrics_loopback;	/* metrics_listen is 127.x or [::1] */
	int metrics_public;	/* metrics_public = yes: metrics_listen may be any address */
	uint64_t coalesce_ms;	/* window for repeated identical alerts (default 1s) */
	int journal_routine;	/* journal the owners' own binds, listens, releases (default no) */
	int priority_boost;	/* the guard's nice below the one it started with (default 4) */
	char *bpffs;		/* default /sys/fs/bpf: pins in <bpffs>/portguard/<name>/ */
	struct pg_service_conf svc[PG_MAX_SERVICES]; /* sorted by priority, then name */
	int nsvc;
};

/*
 * Parse and validate `path`. On success returns 0 and *out is a new config.
 * On any error returns -1 (or -errno when the file cannot be opened), writes one
 * "file:line: message" line per error to `errs` (when not NULL), keeps going to
 * report every error, and *out is NULL.
 */
int config_parse(const char *path, struct pg_config **out, FILE *errs);
/*
 * The same, and with keep_broken a file with errors still gives *out (and
 * -1): what parsed, defaults for the rest. For the CLI's talk to a running
 * guard, which needs only the name and the control socket.
 */
int config_parse_opt(const char *path, struct pg_config **out, FILE *errs, int keep_broken);
void config_free(struct pg_config *c);

/* The two services are configured alike (nothing to restart on a reload). */
int config_service_equal(const struct pg_service_conf *a, const struct pg_service_conf *b);

/* The on_rogue policy in force for a guarded port (its owner's, else the guard's). */
enum pg_on_rogue config_port_policy(const struct pg_config *c, int port);

/* Service that owns `port`, or NULL. */
const struct pg_service_conf *config_port_owner(const struct pg_config *c, int port);

/* Parse "10s", "500ms", "2m", "1.5s", plain number = seconds. Returns 0 or -1. */
int config_parse_duration(const char *s, uint64_t *ms);
/* Parse a port list "3000, 4000, 8001-8005" into set[65536]. Returns 0 or -1, *why set. */
int config_parse_ports(const char *s, uint8_t *set, const char **why);

#endif
