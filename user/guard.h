/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The guard's lifecycle: one instance lock, the kernel side attached and
 * seeded, every module wired to the others, the one loop, and a shutdown.
 */
#ifndef PG_GUARD_H
#define PG_GUARD_H

struct pg_config;

/*
 * `portguard run`: returns when the guard stops (0) or fails to start
 * (-errno). When ready_fd >= 0, one byte is written to it (and it is
 * closed) once the guard answers on its control socket. The guard owns cfg
 * (a reload replaces it) and frees it.
 */
int guard_run(struct pg_config *cfg, int ready_fd);

#endif
