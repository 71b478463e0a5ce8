/* SPDX-License-Identifier: BSD-3-Clause */
/* restart [master|quick|emergency] [SERVICE...], stop, start: jobs in the guard. */
#ifndef PG_RESTART_H
#define PG_RESTART_H

#include <stdint.h>

#include "event.h"

struct claims;
struct ctl_client;
struct ctl_request;
struct pg_config;
struct pg_service;
struct status;

/* What a job needs of the guard, given once (restart.c knows nothing else of it). */
struct restart_env {
	const struct pg_config *(*config)(void); /* the config in force */
	const struct claims *(*claims)(void);	  /* the claim table */
	uint64_t (*host_netns)(void);
	int (*status)(struct status *st);	  /* fill st (status_free after); 0 or -errno */
	/* any job ended (reclaim: the guard's own) */
	void (*done)(int reclaim, struct pg_service **svc, int n, int ok);
};

void restart_init(const struct restart_env *env);
/*
 * A "restart" ({"mode", "services"}), "stop" or "start" ({"services"})
 * request from c. Progress lines go to c as {"progress": "..."}, then one
 * final {"ok", "mode", "error"?, "ms", "steps", "status"}. Returns 1 when the
 * job keeps c (it answers later), 0 when c can be closed now.
 */
int restart_request(struct ctl_client *c, const struct ctl_request *req);
/* The supervisor reported a lifecycle event (an EVF_SERVICE type). */
void restart_on_service(enum ev_type type, struct pg_service *s);
/* The claim table changed (a release): a job waiting for free ports looks. */
void restart_on_claims(void);
int restart_busy(void);
/* Reclaim s's port: a master restart of s alone, flushing only its port. -EBUSY if a job runs. */
int restart_reclaim(struct pg_service *s);
/* The steps of a mode ("master", "quick", ...), in order, into names; how many, or -1. */
int restart_mode_steps(const char *mode, const char **names, int max);

#endif
