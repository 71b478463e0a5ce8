/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The port-claim table: one claim per socket (by socket cookie) that tried,
 * holds or listens on a watched port, with the processes holding it. Seeded
 * by one sock_diag dump, then changed only by kernel events. A claim is
 * found by its cookie through a hash (open addressing) and the claims of
 * one port through a chain: no event scans the table.
 */
#ifndef PG_CLAIMS_H
#define PG_CLAIMS_H

#include <stdint.h>

struct diag_result;

#define CLAIM_MAX_HOLDERS 16

enum claim_state { CLAIM_ATTEMPT = 0, CLAIM_BOUND, CLAIM_LISTEN };

struct claim_holder {
	uint32_t pid;
	uint32_t uid;
	uint64_t cgroup_id;
	char comm[16];
};

struct claim {
	uint64_t cookie;
	uint64_t netns;		/* network namespace cookie */
	uint16_t port;
	uint16_t family;	/* AF_INET / AF_INET6 */
	uint16_t proto;		/* IPPROTO_TCP / IPPROTO_UDP */
	uint8_t reuseport;
	uint8_t reported;	/* a rogue_bind was already reported for it */
	uint8_t allowed;	/* a non-owner an `allow` rule lets hold the port */
	uint8_t dumped;		/* a socket the kernel folded (no events): the dumps alone keep it */
	uint8_t addr[16];
	enum claim_state state;
	uint64_t cgroup_id;	/* cgroup of the process that bound it */
	uint64_t ts_ns;		/* when it was first seen (boot clock) */
	int nholders;
	struct claim_holder holders[CLAIM_MAX_HOLDERS];
	int32_t pnext, pprev;	/* the claims of the same port (indexes into v; -1 ends) */
	uint32_t mark;		/* the caller's (watch_resync: seen in the dump of that round) */
};

/* v[0..n) dense (any order: a removal moves the last claim into the hole). */
struct claims {
	struct claim *v;
	int n, cap;
	int32_t *slot;		/* cookie -> index + 1 (0: empty), linear probing */
	uint32_t nslots;	/* a power of two, at least twice n */
	int32_t *port_head;	/* [65536] first, then [65536] last claim of each port; -1: none */
};

struct claim *claims_find(struct claims *t, uint64_t cookie);
/* Existing claim for cookie, or a new zeroed one (port 0). NULL on ENOMEM. */
struct claim *claims_upsert(struct claims *t, uint64_t cookie);
/* Move c to port (its chain follows): the only way a claim's port is set. */
void claims_set_port(struct claims *t, struct claim *c, uint16_t port);
/* The claims of one port: first, then next (NULL at the end). */
struct claim *claims_port_first(const struct claims *t, uint16_t port);
struct claim *claims_port_next(const struct claims *t, const struct claim *c);
void claims_remove(struct claims *t, uint64_t cookie);
void claims_free(struct claims *t);
/* Add (or refresh) a holder; returns 0, or -ENOSPC when full. */
int claim_add_holder(struct claim *c, const struct claim_holder *h);
int claim_has_holder(const struct claim *c, uint32_t pid);
/* Drop one holder; returns 1 when it was there. */
int claims_drop_holder(struct claim *c, uint32_t pid);
/* A process exited: drop it from every claim. Returns the claims changed. */
int claims_drop_pid(struct claims *t, uint32_t pid);
/* A process forked: the child holds what the parent holds. Returns claims changed. */
int claims_fork(struct claims *t, uint32_t parent, uint32_t child, const char *comm);
/* Listed as a port holder by `ss -ltnup`: a TCP listener or a bound UDP socket. */
int claim_is_holding(const struct claim *c);
/* The two claims' local addresses overlap (equal, or either is a wildcard). */
int claim_addr_overlap(const struct claim *a, const struct claim *b);
/* The address is the wildcard (0.0.0.0 or ::). */
int claim_addr_any(const struct claim *c);
/* Fill a claim table from a sock_diag dump (netns: the namespace cookie of the dump). */
int claims_from_diag(struct claims *t, const struct diag_result *r, uint64_t netns);

#endif
