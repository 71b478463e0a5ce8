/* SPDX-License-Identifier: BSD-3-Clause */
/* restart [master|quick|emergency] [SERVICE...], stop, start: jobs in the guard. */
#ifndef PG_RESTART_H
#define PG_RESTART_H

#include <json-c/json.h>

struct ctl_client;
struct pg_service;

/*
 * A "restart" ({"mode", "services"}), "stop" or "start" ({"services"})
 * request from c. Progress lines go to c as {"progress": "..."}, then one
 * final {"ok", "mode", "error"?, "ms", "steps", "status"}. Returns 1 when the
 * job keeps c (it answers later), 0 when c can be closed now.
 */
int restart_request(struct ctl_client *c, const char *cmd, json_object *req);
/* The supervisor reported a lifecycle event. */
void restart_on_service(const char *type, struct pg_service *s);
/* The claim table changed (a release): a job waiting for free ports looks. */
void restart_on_claims(void);
int restart_busy(void);
/* Reclaim s's port: a master restart of s alone, flushing only its port. -EBUSY if a job runs. */
int restart_reclaim(struct pg_service *s);
/* Called when any job ends (set by the guard). */
extern void (*restart_done_hook)(const char *mode, struct pg_service **svc, int n, int ok);

#endif
