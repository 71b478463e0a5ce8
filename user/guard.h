/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef PG_GUARD_H
#define PG_GUARD_H

struct pg_config;

/* `portguard run`: returns when the guard stops (0) or fails to start (-errno). */
int guard_run(struct pg_config *cfg);

#endif
