/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * on_conflict = reclaim (enforce mode): an owner's port held by someone
 * else while the owner does not serve it is flushed and the owner
 * restarted (restart.c's "reclaim" job), with an exponential backoff for
 * a holder that keeps coming back. One timer per service slot.
 */
#ifndef PG_RECLAIM_H
#define PG_RECLAIM_H

struct guard_ctx;
struct pg_service;

/* Nothing scheduled, no history; x: the guard's shared state. */
void reclaim_init(struct guard_ctx *x);
/* s's port may have been taken, or s stopped serving it: reclaim if it is due. */
void reclaim_maybe(struct pg_service *s);
/* A job ended (the guard's own reclaim, or one by hand). */
void reclaim_job_done(int reclaim, struct pg_service **svc, int n, int ok);
/* Forget every pending reclaim and its history (a reload reorders the services; shutdown). */
void reclaim_reset(void);
void reclaim_close(void);

#endif
