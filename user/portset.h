/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A set of ports: a byte per port number, so membership is one index
 * (diag.c and config.c take ->has as a uint8_t[65536]). 64 KiB: on the heap.
 */
#ifndef PG_PORTSET_H
#define PG_PORTSET_H

#include <stdint.h>

struct pg_config;

struct portset {
	uint8_t has[65536];
};

/* An empty set, or NULL when out of memory. */
struct portset *portset_new(void);
/* The ports c watches (guarded and protected), or NULL. */
struct portset *portset_watched(const struct pg_config *c);
void portset_free(struct portset *s);

#endif
