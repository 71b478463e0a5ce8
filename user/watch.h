/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Claim watching and conflicts: each kernel event updates the claim table
 * (seeded by one sock_diag dump, re-synced after a loss) and is judged
 * against the config: a rogue bind, a conflict of the owner, a shared
 * port, a denial, a listen without bind. Their events go to emit.c.
 */
#ifndef PG_WATCH_H
#define PG_WATCH_H

#include <stddef.h>
#include <stdint.h>

struct claim;
struct claims;
struct guard_ctx;
struct pg_service;

/* What watching tells the rest of the guard. */
struct watch_hooks {
	void (*port_taken)(struct pg_service *owner); /* someone holds owner's port now */
	void (*released)(void);			      /* a release or an unlisten */
};

void watch_init(struct guard_ctx *x, const struct watch_hooks *h);
/* The loader's callback for one ring record. */
int watch_on_kevent(void *ctx, void *data, size_t size);
/* Re-read the truth of the host's namespace: one sock_diag dump. */
void watch_resync(const char *why);
/* One batch of the ring (at most WATCH_BATCH events), then what was lost; start: at start-up. */
void watch_consume(int start);
/* agg.h's hooks: n claims of key k the kernel folded; sockets folded (re-sync). */
void watch_on_folded(const struct pg_agg_key *k, const struct pg_agg *v, uint64_t n);
void watch_folded_socks(void);
/* Holders that may have closed their copy of a socket: checked by /proc (before `status`). */
void watch_check_holders(uint32_t pid);
/* The owner's listening state from the table (supervise_listen_seen / _gone). */
void watch_listen_state(const struct claim *c);
/* A holding claim on s's port in the host's namespace that is not s's (nor allowed). */
const struct claim *watch_port_stolen(const struct pg_service *s);
/* Service name of a cgroup id (its own or one below), or NULL. */
const char *watch_svc_of(uint64_t cgid);
const struct claims *watch_claims(void);
uint64_t watch_denied(int port);
uint64_t watch_denied_total(void);
uint64_t watch_events_seen(void);
uint64_t watch_lost_seen(void);
void watch_close(void);

#endif
