/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "claims.h"
#include "diag.h"

static uint32_t claims_hash(const struct claims *t, uint64_t cookie)
{
	return (uint32_t)((cookie * 0x9E3779B97F4A7C15ULL) >> 32) & (t->nslots - 1);
}

/* The slot that holds cookie, or the empty slot where it would go. */
static uint32_t claims_probe(const struct claims *t, uint64_t cookie)
{
	uint32_t h = claims_hash(t, cookie);

	while (t->slot[h] && t->v[t->slot[h] - 1].cookie != cookie)
		h = (h + 1) & (t->nslots - 1);
	return h;
}

struct claim *claims_find(struct claims *t, uint64_t cookie)
{
	uint32_t h;

	if (!t->n)
		return NULL;
	h = claims_probe(t, cookie);
	return t->slot[h] ? &t->v[t->slot[h] - 1] : NULL;
}

/* Slots for twice `want` claims (more on growth: shrink 1), every claim rehashed. */
static int claims_rehash(struct claims *t, int want, int shrink)
{
	uint32_t n = 64, i;
	int32_t *slot;

	while (n < 2U * (uint32_t)want)
		n *= 2;
	if (shrink ? n >= t->nslots : n <= t->nslots)
		return 0;
	if (!(slot = calloc(n, sizeof(*slot))))
		return -ENOMEM;
	free(t->slot);
	t->slot = slot;
	t->nslots = n;
	for (i = 0; i < (uint32_t)t->n; i++)
		t->slot[claims_probe(t, t->v[i].cookie)] = (int32_t)i + 1;
	return 0;
}

/* Room for one more claim: the array, the slots, the port chains. 0 or -ENOMEM. */
static int claims_room(struct claims *t)
{
	if (!t->port_head) { /* [0, 65536) heads, then [65536, 131072) tails */
		if (!(t->port_head = malloc(2 * 65536 * sizeof(*t->port_head))))
			return -ENOMEM;
		memset(t->port_head, 0xff, 2 * 65536 * sizeof(*t->port_head)); /* -1 */
	}
	if (t->n == t->cap) {
		int cap = t->cap ? t->cap * 2 : 64;
		struct claim *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	return claims_rehash(t, t->n + 1, 0);
}

/* At the end of its port's chain: a port's claims stay in the order they came. */
static void claims_link(struct claims *t, int32_t i)
{
	struct claim *c = &t->v[i];
	int32_t *tail = &t->port_head[65536 + c->port];

	c->pnext = -1;
	c->pprev = *tail;
	if (*tail >= 0)
		t->v[*tail].pnext = i;
	else
		t->port_head[c->port] = i;
	*tail = i;
}

static void claims_unlink(struct claims *t, int32_t i)
{
	struct claim *c = &t->v[i];

	if (c->pprev >= 0)
		t->v[c->pprev].pnext = c->pnext;
	else
		t->port_head[c->port] = c->pnext;
	if (c->pnext >= 0)
		t->v[c->pnext].pprev = c->pprev;
	else
		t->port_head[65536 + c->port] = c->pprev;
}

struct claim *claims_upsert(struct claims *t, uint64_t cookie)
{
	struct claim *c = claims_find(t, cookie);

	if (c)
		return c;
	if (claims_room(t) < 0)
		return NULL;
	c = &t->v[t->n];
	memset(c, 0, sizeof(*c));
	c->cookie = cookie;
	t->slot[claims_probe(t, cookie)] = t->n + 1;
	claims_link(t, t->n++);
	return c;
}

void claims_set_port(struct claims *t, struct claim *c, uint16_t port)
{
	int32_t i = (int32_t)(c - t->v);

	if (c->port == port)
		return;
	claims_unlink(t, i);
	c->port = port;
	claims_link(t, i);
}

struct claim *claims_port_first(const struct claims *t, uint16_t port)
{
	return t->port_head && t->port_head[port] >= 0 ? &t->v[t->port_head[port]] : NULL;
}

struct claim *claims_port_next(const struct claims *t, const struct claim *c)
{
	return c->pnext >= 0 ? &t->v[c->pnext] : NULL;
}

/* Empty slot h: the entries after it that probed past it move back (no tombstones). */
static void claims_unslot(struct claims *t, uint32_t h)
{
	uint32_t j = h, k, mask = t->nslots - 1;

	t->slot[h] = 0;
	for (;;) {
		j = (j + 1) & mask;
		if (!t->slot[j])
			return;
		k = claims_hash(t, t->v[t->slot[j] - 1].cookie);
		/* j's entry stays unless its home k lies cyclically outside (h, j] */
		if (h <= j ? (h < k && k <= j) : (h < k || k <= j))
			continue;
		t->slot[h] = t->slot[j];
		t->slot[j] = 0;
		h = j;
	}
}

/* After a storm: a table a quarter full gives half of its memory back. */
static void claims_shrink(struct claims *t)
{
	struct claim *v;
	int cap = t->cap / 2;

	if (t->cap <= 64 || t->n >= t->cap / 4)
		return;
	if ((v = realloc(t->v, cap * sizeof(*v)))) {
		t->v = v;
		t->cap = cap;
	}
	claims_rehash(t, cap, 1); /* fails only without memory: the larger slots stay */
}

void claims_remove(struct claims *t, uint64_t cookie)
{
	struct claim *c = claims_find(t, cookie);
	int32_t i, last;

	if (!c)
		return;
	i = (int32_t)(c - t->v);
	last = t->n - 1;
	claims_unlink(t, i);
	claims_unslot(t, claims_probe(t, cookie));
	if (i != last) { /* the last claim fills the hole: its slot and chain links follow */
		struct claim *m = &t->v[i];

		*m = t->v[last];
		t->slot[claims_probe(t, m->cookie)] = i + 1;
		if (m->pprev >= 0)
			t->v[m->pprev].pnext = i;
		else
			t->port_head[m->port] = i;
		if (m->pnext >= 0)
			t->v[m->pnext].pprev = i;
		else
			t->port_head[65536 + m->port] = i;
	}
	t->n--;
	claims_shrink(t);
}

void claims_free(struct claims *t)
{
	free(t->v);
	free(t->slot);
	free(t->port_head);
	memset(t, 0, sizeof(*t));
}

int claim_has_holder(const struct claim *c, uint32_t pid)
{
	int i;

	for (i = 0; i < c->nholders; i++)
		if (c->holders[i].pid == pid)
			return 1;
	return 0;
}

int claim_add_holder(struct claim *c, const struct claim_holder *h)
{
	int i;

	for (i = 0; i < c->nholders; i++)
		if (c->holders[i].pid == h->pid) {
			c->holders[i] = *h;
			return 0;
		}
	if (c->nholders == CLAIM_MAX_HOLDERS)
		return -ENOSPC;
	c->holders[c->nholders++] = *h;
	return 0;
}

int claims_drop_holder(struct claim *c, uint32_t pid)
{
	int i;

	for (i = 0; i < c->nholders; i++)
		if (c->holders[i].pid == pid) {
			c->holders[i] = c->holders[--c->nholders];
			return 1;
		}
	return 0;
}

int claims_drop_pid(struct claims *t, uint32_t pid)
{
	int i, n = 0;

	for (i = 0; i < t->n; i++)
		n += claims_drop_holder(&t->v[i], pid);
	return n;
}

int claims_fork(struct claims *t, uint32_t parent, uint32_t child, const char *comm)
{
	int i, j, n = 0;

	for (i = 0; i < t->n; i++) {
		struct claim *c = &t->v[i];

		for (j = 0; j < c->nholders; j++) {
			struct claim_holder h;

			if (c->holders[j].pid != parent)
				continue;
			h = c->holders[j];
			h.pid = child;
			if (comm)
				strncpy(h.comm, comm, sizeof(h.comm) - 1);
			if (claim_add_holder(c, &h) == 0)
				n++;
			break;
		}
	}
	return n;
}

int claim_is_holding(const struct claim *c)
{
	if (c->proto == IPPROTO_TCP)
		return c->state == CLAIM_LISTEN;
	return c->state >= CLAIM_BOUND;
}

int claim_addr_any(const struct claim *c)
{
	static const uint8_t zero[16];

	return memcmp(c->addr, zero, c->family == AF_INET ? 4 : 16) == 0;
}

int claim_addr_overlap(const struct claim *a, const struct claim *b)
{
	if (claim_addr_any(a) || claim_addr_any(b))
		return 1;
	if (a->family != b->family)
		return 0;
	return memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

int claims_from_diag(struct claims *t, const struct diag_result *r, uint64_t netns)
{
	int i, j;

	for (i = 0; i < r->n; i++) {
		const struct diag_sock *d = &r->socks[i];
		struct claim *c = claims_upsert(t, d->cookie);

		if (!c)
			return -ENOMEM;
		c->netns = netns;
		claims_set_port(t, c, d->port);
		c->family = d->family;
		c->proto = d->proto;
		memcpy(c->addr, d->addr, sizeof(c->addr));
		c->state = d->proto == IPPROTO_TCP ? CLAIM_LISTEN : CLAIM_BOUND;
		c->nholders = 0;
		for (j = 0; j < d->nholders && j < CLAIM_MAX_HOLDERS; j++) {
			struct claim_holder h = { .pid = d->holders[j].pid,
						  .uid = d->holders[j].uid,
						  .cgroup_id = d->holders[j].cgroup_id };

			memcpy(h.comm, d->holders[j].comm, sizeof(h.comm));
			h.comm[sizeof(h.comm) - 1] = 0;
			claim_add_holder(c, &h);
		}
		if (c->nholders)
			c->cgroup_id = c->holders[0].cgroup_id;
	}
	return 0;
}
