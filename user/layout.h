/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The layout of the pinned state (include/portguard.h, PG_LAYOUT): what a
 * guard finds pinned, what it reuses, and the migration of what changed.
 *
 *   layout_plan()    before the object is loaded: read `meta`, refuse a
 *                    layout this guard cannot take over, give every pinned
 *                    map that still fits its pin path (libbpf reuses it) and
 *                    keep the others open to migrate from;
 *   layout_copy()    after the load, before any attach (pass 0), and again
 *                    after every program was swapped in (pass 1: what the old
 *                    programs added meanwhile): copy each migrated map;
 *   layout_commit()  after the attach: re-pin each new map over the old one
 *                    (rename(2): atomic), then write `meta`;
 *   layout_drain()   read the old ring's backlog with the old record sizes.
 */
#ifndef PG_LAYOUT_H
#define PG_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "portguard.h"

struct bpf_map;

/* The pinned maps, in the order they are re-pinned (the ring, counters and meta last). */
enum layout_map {
	LM_PORTS,
	LM_ALLOW,
	LM_SOCKS,
	LM_PROCS,
	LM_AUTOBIND,
	LM_AGG,
	LM_EVENTS,
	LM_COUNTERS,
	LM_META,
	LAYOUT_MAPS,
};

struct layout {
	char dir[4096 - 256];	  /* the pin directory */
	struct bpf_map *maps[LAYOUT_MAPS]; /* this guard's (the skeleton's), by enum layout_map */
	int found;		  /* an earlier guard's pins are there */
	int had_meta;		  /* ... with a layout record (not layout 1) */
	unsigned migrated;	  /* 1 << i: pinned map i is replaced (a copy) */
	struct pg_meta old;	  /* the pinned layout (layout 1 when there was no meta) */
	int old_fd[LAYOUT_MAPS];  /* a pinned map that is not reused: migrated from */
	uint64_t copied;	  /* entries copied by layout_copy */
	uint64_t dropped;	  /* entries that did not fit (a full map) */
	uint64_t ring_read;	  /* old ring records read */
	uint64_t ring_bad;	  /* old ring records of no known size: counted as lost */
};

/*
 * maps: this guard's, by enum layout_map. Returns 0, or -EPROTO after
 * writing one line (the pins stay) into why[len].
 */
int layout_plan(struct layout *Y, const char *pin_dir, struct bpf_map *const *maps, char *why,
		size_t len);
int layout_copy(struct layout *Y, int pass);
int layout_commit(struct layout *Y, char *why, size_t len);
/* Write `meta` (layout_commit does; a fresh start does it right after the load). */
int layout_write_meta(struct layout *Y, char *why, size_t len);
/*
 * Hand every record of the old ring to fn, converted to this guard's struct
 * pg_event (and pg_event_exe); then close it. Returns the records read.
 */
int layout_drain(struct layout *Y, int (*fn)(void *ctx, void *data, size_t size), void *ctx);
void layout_close(struct layout *Y);
/* "layout 1 -> 2: ports socks events migrated" (for the start-up log) */
const char *layout_summary(const struct layout *Y, char *buf, size_t len);

#endif
