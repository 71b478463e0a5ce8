/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef PG_GUARD_H
#define PG_GUARD_H

#include <stdint.h>

#include <json-c/json.h>

struct pg_config;
struct claims;

/*
 * `portguard run`: returns when the guard stops (0) or fails to start
 * (-errno). When ready_fd >= 0, one byte is written to it (and it is
 * closed) once the guard answers on its control socket. The guard owns cfg
 * (a reload replaces it) and frees it.
 */
int guard_run(struct pg_config *cfg, int ready_fd);

/* For the restart job, inside the running guard. */
const struct pg_config *guard_config(void);
struct claims *guard_claims_table(void);
uint64_t guard_host_netns(void);
json_object *guard_status_json(void);
/* Journal, stderr and followers; takes the reference. */
void guard_emit_json(json_object *ev);

#endif
