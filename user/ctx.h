/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the guard's modules share, owned by guard.c and handed to each at
 * init: the config in force (a reload replaces it), the kernel side, and
 * the two states every module must respect.
 */
#ifndef PG_CTX_H
#define PG_CTX_H

#include <stdint.h>

#include "loader.h"

struct pg_config;

struct guard_ctx {
	struct pg_config *cfg;
	struct loader L;
	uint64_t host_netns;	/* cookie of the guard's network namespace */
	uint64_t start_ms;	/* monotonic */
	int shutdown_pending;	/* `shutdown` is stopping the services */
	int reloading;		/* a reload waits for changed services to stop */
};

#endif
