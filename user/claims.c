/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "claims.h"
#include "diag.h"

struct claim *claims_find(struct claims *t, uint64_t cookie)
{
	int i;

	for (i = 0; i < t->n; i++)
		if (t->v[i].cookie == cookie)
			return &t->v[i];
	return NULL;
}

struct claim *claims_upsert(struct claims *t, uint64_t cookie)
{
	struct claim *c = claims_find(t, cookie);

	if (c)
		return c;
	if (t->n == t->cap) {
		int cap = t->cap ? t->cap * 2 : 64;
		struct claim *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		t->v = v;
		t->cap = cap;
	}
	c = &t->v[t->n++];
	memset(c, 0, sizeof(*c));
	c->cookie = cookie;
	return c;
}

void claims_remove(struct claims *t, uint64_t cookie)
{
	struct claim *c = claims_find(t, cookie);

	if (!c)
		return;
	*c = t->v[--t->n];
}

void claims_free(struct claims *t)
{
	free(t->v);
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
		c->port = d->port;
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
