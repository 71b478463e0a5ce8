/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Claims folded in the kernel (include/portguard.h, struct pg_agg_key): the
 * guard's half. A rogue's repeated claims are counted in the pinned `agg`
 * map; on its timer (coalesce_window, or AGG_OVERLOAD_MS when that is 0)
 * the guard starts a new epoch and collects the epoch before the last: each
 * key deleted, then its count handed to a hook (a counted journal line,
 * metrics). A program that read an epoch just before it changed has
 * finished a tick later, so no count is lost or doubled; a guard that dies
 * leaves its keys to the next. The timer runs only while the kernel folds:
 * an idle guard does not wake.
 */
#ifndef PG_AGG_H
#define PG_AGG_H

#include <stdint.h>

#include "portguard.h"

struct loader;

#define AGG_OVERLOAD_MS 100 /* coalesce_window = 0: how often folds of an overload are collected */

struct agg_hooks {
	/* n claims of key k (value v) were folded and not yet reported */
	void (*claims)(const struct pg_agg_key *k, const struct pg_agg *v, uint64_t n);
	/* the kernel folded binds, listens or releases the claim table did not see: re-sync it */
	void (*resync)(void);
	/* after a tick's counts went out (the guard's STATUS= follows them); may be NULL */
	void (*collected)(void);
};

/* After loader_open: new keys get an epoch no pinned key has. */
int agg_init(struct loader *L, const struct agg_hooks *h, uint64_t window_ms);
/* coalesce_window in force (reload): 0 folds only while the guard is behind. */
void agg_set_window(uint64_t window_ms);
/* After each batch of ring events: arm the timer if the kernel folded something. */
void agg_after_batch(void);
/* Before the claim table is read (status, an owner's verdict): re-sync it if sockets were folded. */
void agg_settle(void);
/*
 * Denials the kernel counted and the guard has not journaled yet, by port:
 * a calloc'd [65536] the caller frees, or NULL when there are none.
 */
uint64_t *agg_pending_denied(void);
/* At shutdown: report every count, none left for the next guard to report again. */
void agg_flush(void);
void agg_close(void);

#endif
