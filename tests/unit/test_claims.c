/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the port-claim table (user/claims.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "claims.h"
#include "event.h"

static struct claim *add(struct claims *t, uint64_t cookie, uint16_t port, uint16_t proto,
			 const char *addr, enum claim_state st, uint32_t pid)
{
	struct claim *c = claims_upsert(t, cookie);
	struct claim_holder h = { .pid = pid, .uid = 1000, .cgroup_id = 7 };

	assert_non_null(c);
	claims_set_port(t, c, port);
	c->proto = proto;
	c->family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	inet_pton(c->family, addr, c->addr);
	c->state = st;
	strcpy(h.comm, "proc");
	assert_int_equal(claim_add_holder(c, &h), 0);
	return c;
}

static void test_find_missing(void **state)
{
	struct claims t = { 0 };

	(void)state;
	assert_null(claims_find(&t, 42));
	claims_remove(&t, 42); /* removing what is not there is harmless */
	assert_int_equal(t.n, 0);
	claims_free(&t);
}

static void test_upsert_is_idempotent(void **state)
{
	struct claims t = { 0 };
	struct claim *a, *b;

	(void)state;
	a = add(&t, 1, 19000, IPPROTO_TCP, "0.0.0.0", CLAIM_BOUND, 100);
	b = claims_upsert(&t, 1);
	assert_ptr_equal(a, b);
	assert_int_equal(t.n, 1);
	assert_int_equal(b->port, 19000);
	claims_free(&t);
}

static void test_grow_and_remove(void **state)
{
	struct claims t = { 0 };
	uint64_t i;

	(void)state;
	for (i = 1; i <= 1000; i++)
		add(&t, i, 19000 + i % 10, IPPROTO_UDP, "127.0.0.1", CLAIM_BOUND, i);
	assert_int_equal(t.n, 1000);
	for (i = 1; i <= 1000; i += 2)
		claims_remove(&t, i);
	assert_int_equal(t.n, 500);
	for (i = 1; i <= 1000; i++)
		if (i % 2)
			assert_null(claims_find(&t, i));
		else
			assert_non_null(claims_find(&t, i));
	claims_free(&t);
}

static void test_holders_dedupe_and_full(void **state)
{
	struct claim c = { 0 };
	struct claim_holder h = { .pid = 5 };
	int i;

	(void)state;
	assert_int_equal(claim_add_holder(&c, &h), 0);
	assert_int_equal(claim_add_holder(&c, &h), 0);
	assert_int_equal(c.nholders, 1);
	for (i = 1; i < CLAIM_MAX_HOLDERS; i++) {
		h.pid = 100 + i;
		assert_int_equal(claim_add_holder(&c, &h), 0);
	}
	h.pid = 9999;
	assert_int_equal(claim_add_holder(&c, &h), -ENOSPC);
	assert_true(claim_has_holder(&c, 5));
	assert_false(claim_has_holder(&c, 9999));
}

static void test_fork_inherits_and_exit_drops(void **state)
{
	struct claims t = { 0 };
	struct claim *a, *b;

	(void)state;
	a = add(&t, 1, 19000, IPPROTO_TCP, "0.0.0.0", CLAIM_LISTEN, 100);
	b = add(&t, 2, 19001, IPPROTO_UDP, "::", CLAIM_BOUND, 200);
	assert_int_equal(claims_fork(&t, 100, 101, "child"), 1);
	assert_int_equal(a->nholders, 2);
	assert_true(claim_has_holder(a, 101));
	assert_false(claim_has_holder(b, 101));
	assert_string_equal(a->holders[1].comm, "child");
	/* A fork of a process holding nothing changes nothing. */
	assert_int_equal(claims_fork(&t, 300, 301, NULL), 0);
	assert_int_equal(claims_drop_pid(&t, 100), 1);
	assert_int_equal(a->nholders, 1);
	assert_int_equal(a->holders[0].pid, 101);
	assert_int_equal(claims_drop_pid(&t, 101), 1);
	assert_int_equal(a->nholders, 0);
	claims_free(&t);
}

static void test_holding_states(void **state)
{
	struct claim c = { .proto = IPPROTO_TCP };

	(void)state;
	c.state = CLAIM_ATTEMPT;
	assert_false(claim_is_holding(&c));
	c.state = CLAIM_BOUND; /* bound, not listening: not in ss -l */
	assert_false(claim_is_holding(&c));
	c.state = CLAIM_LISTEN;
	assert_true(claim_is_holding(&c));
	c.proto = IPPROTO_UDP;
	c.state = CLAIM_BOUND;
	assert_true(claim_is_holding(&c));
	c.state = CLAIM_ATTEMPT;
	assert_false(claim_is_holding(&c));
}

static void test_addr_overlap(void **state)
{
	struct claims t = { 0 };
	struct claim *any4, *lo4, *lo4b, *other4, *any6, *lo6;

	(void)state;
	any4 = add(&t, 1, 19000, IPPROTO_TCP, "0.0.0.0", CLAIM_LISTEN, 1);
	lo4 = add(&t, 2, 19000, IPPROTO_TCP, "127.0.0.1", CLAIM_LISTEN, 2);
	lo4b = add(&t, 3, 19000, IPPROTO_TCP, "127.0.0.1", CLAIM_LISTEN, 3);
	other4 = add(&t, 4, 19000, IPPROTO_TCP, "127.0.0.2", CLAIM_LISTEN, 4);
	any6 = add(&t, 5, 19000, IPPROTO_TCP, "::", CLAIM_LISTEN, 5);
	lo6 = add(&t, 6, 19000, IPPROTO_TCP, "::1", CLAIM_LISTEN, 6);
	assert_true(claim_addr_any(any4));
	assert_true(claim_addr_any(any6));
	assert_false(claim_addr_any(lo6));
	assert_true(claim_addr_overlap(any4, lo4));
	assert_true(claim_addr_overlap(lo4, lo4b));
	assert_false(claim_addr_overlap(lo4, other4));
	assert_true(claim_addr_overlap(any6, lo4)); /* [::] is dual-stack by default */
	assert_false(claim_addr_overlap(lo6, lo4));
	claims_free(&t);
}

static void test_addr_str(void **state)
{
	struct claims t = { 0 };
	char buf[64];

	(void)state;
	struct claim *c = add(&t, 1, 1, IPPROTO_TCP, "10.1.2.3", CLAIM_LISTEN, 1);

	assert_string_equal(ev_addr_str(c->family, c->addr, buf, sizeof(buf)), "10.1.2.3");
	c = add(&t, 2, 1, IPPROTO_TCP, "fe80::1", CLAIM_LISTEN, 1);
	assert_string_equal(ev_addr_str(c->family, c->addr, buf, sizeof(buf)), "fe80::1");
	claims_free(&t);
}

/* Against a plain model: thousands of random upserts, port moves and removals. */
static void test_index_matches_a_model(void **state)
{
	enum { N = 3000, PORTS = 7 };
	static uint8_t live[N];
	static uint16_t port_of[N];
	struct claims t = { 0 };
	unsigned seed = 12345;
	int step, k, p, n;

	(void)state;
	for (step = 0; step < 200000; step++) {
		seed = seed * 1103515245 + 12345;
		k = (seed >> 8) % N;
		if ((seed >> 4) % 3 == 0) {
			claims_remove(&t, (uint64_t)k * 7919 + 1);
			live[k] = 0;
			continue;
		}
		struct claim *c = claims_upsert(&t, (uint64_t)k * 7919 + 1);

		assert_non_null(c);
		port_of[k] = 19000 + (seed >> 12) % PORTS;
		claims_set_port(&t, c, port_of[k]);
		live[k] = 1;
	}
	for (k = 0, n = 0; k < N; k++) {
		struct claim *c = claims_find(&t, (uint64_t)k * 7919 + 1);

		n += live[k];
		if (!live[k]) {
			assert_null(c);
			continue;
		}
		assert_non_null(c);
		assert_int_equal(c->port, port_of[k]);
	}
	assert_int_equal(t.n, n);
	for (p = 19000, k = 0; p < 19000 + PORTS; p++) { /* every claim in its port's chain, once */
		const struct claim *c;

		for (c = claims_port_first(&t, p); c; c = claims_port_next(&t, c)) {
			assert_int_equal(c->port, p);
			k++;
		}
	}
	assert_int_equal(k, n);
	for (k = 0; k < N; k++) /* all gone: the memory of the storm is given back */
		claims_remove(&t, (uint64_t)k * 7919 + 1);
	assert_int_equal(t.n, 0);
	assert_true(t.cap <= 64 && t.nslots <= 256);
	assert_null(claims_port_first(&t, 19000));
	claims_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_missing),
		cmocka_unit_test(test_index_matches_a_model),
		cmocka_unit_test(test_upsert_is_idempotent),
		cmocka_unit_test(test_grow_and_remove),
		cmocka_unit_test(test_holders_dedupe_and_full),
		cmocka_unit_test(test_fork_inherits_and_exit_drops),
		cmocka_unit_test(test_holding_states),
		cmocka_unit_test(test_addr_overlap),
		cmocka_unit_test(test_addr_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
