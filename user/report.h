/* SPDX-License-Identifier: BSD-3-Clause */
/* The port table of `status` (shared by the guard and the no-guard snapshot) and its rendering. */
#ifndef PG_REPORT_H
#define PG_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

struct pg_config;
struct claims;
struct diag_result;

/* Service name for a holder's cgroup id, or NULL. */
typedef const char *(*report_svc_fn)(uint64_t cgroup_id);

/*
 * One entry per guarded and protected port, ascending:
 * {"port", "state": free|owned|rogue|shared|protected, "owner", "holders": [...]}
 * from the holding claims of network namespace `netns`.
 */
json_object *report_ports(const struct pg_config *c, struct claims *t, uint64_t netns,
			  report_svc_fn svc_of);
/* Fill a claim table from a sock_diag dump (netns is the caller's namespace cookie). */
int report_claims_from_diag(struct claims *t, const struct diag_result *r, uint64_t netns);
/* 1 when every port entry is free, owned or protected. */
int report_ports_ok(json_object *ports);
/* Human rendering of a `status` object. */
void report_print_status(FILE *f, json_object *st);
/* One human line for an event object. */
void report_print_event(FILE *f, json_object *ev);
/* The caller's network namespace cookie (SO_NETNS_COOKIE), 0 when unknown. */
uint64_t report_netns_cookie(void);

#endif
