/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of conflict classification (user/judge.c): claims and kernel
 * records made by hand, two fake services, no root, no BPF.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "claims.h"
#include "config.h"
#include "judge.h"
#include "supervise.h"

#define WEB 19000	/* owned by web (cgroup 10; its sub-cgroup 11 is web's too) */
#define FREE 19005	/* guarded, no owner */
#define HOST 4026531840ULL

static struct pg_config *cfg;
static struct pg_service_conf web_conf = { .name = "web", .port = WEB };
static struct pg_service web = { .conf = &web_conf, .cgroup_id = 10 };
static struct claims table;
static struct judge_env J;

static struct pg_service *owner_of(int port)
{
	return port == WEB ? &web : NULL;
}

static struct pg_service *service_of(uint64_t cg)
{
	return cg == 10 || cg == 11 ? &web : NULL;
}

static int setup(void **state)
{
	(void)state;
	cfg = calloc(1, sizeof(*cfg));
	cfg->guarded[WEB] = cfg->guarded[FREE] = 1;
	cfg->mode = PG_MODE_ENFORCE;
	cfg->on_rogue = PG_ROGUE_DENY;
	cfg->nsvc = 1;
	cfg->svc[0] = web_conf;
	cfg->svc[0].on_rogue = -1;
	memset(&table, 0, sizeof(table));
	J = (struct judge_env){ cfg, &table, HOST, owner_of, service_of };
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	claims_free(&table);
	free(cfg);
	return 0;
}

/* A claim of cookie on port from cgroup cg at addr, in state st. */
static struct claim *claim(uint64_t cookie, int port, uint64_t cg, const char *addr,
			   enum claim_state st)
{
	struct claim *c = claims_upsert(&table, cookie);
	struct claim_holder h = { .pid = (uint32_t)cookie + 100, .cgroup_id = cg };

	assert_non_null(c);
	claims_set_port(&table, c, port);
	c->proto = IPPROTO_TCP;
	c->family = AF_INET;
	c->netns = HOST;
	c->cgroup_id = cg;
	c->state = st;
	inet_pton(AF_INET, addr, c->addr);
	strcpy(h.comm, "x");
	claim_add_holder(c, &h);
	return c;
}

static struct pg_event rec(const struct claim *c, uint32_t kind)
{
	struct pg_event e = { .kind = kind, .port = c->port, .cgroup_id = c->cgroup_id,
			      .netns = c->netns, .cookie = c->cookie, .proto = c->proto };

	return e;
}

static void test_rogue_owner_allowed_netns(void **state)
{
	struct claim *mine = claim(1, WEB, 10, "0.0.0.0", CLAIM_BOUND);
	struct claim *sub = claim(2, WEB, 11, "0.0.0.0", CLAIM_BOUND);
	struct claim *other = claim(3, WEB, 99, "127.0.0.1", CLAIM_BOUND);
	struct claim *reserved = claim(4, FREE, 10, "0.0.0.0", CLAIM_BOUND);
	struct pg_event e;

	(void)state;
	e = rec(mine, PG_EV_BIND);
	assert_int_equal(judge_claim(&J, mine, &e), J_NONE);
	e = rec(sub, PG_EV_BIND); /* a sub-cgroup the service made is the service's */
	assert_int_equal(judge_claim(&J, sub, &e), J_NONE);
	e = rec(other, PG_EV_BIND);
	assert_int_equal(judge_claim(&J, other, &e), J_ROGUE);
	other->allowed = 1; /* an `allow` rule matched in the kernel */
	assert_int_equal(judge_claim(&J, other, &e), J_NONE);
	e = rec(reserved, PG_EV_BIND); /* no owner: even web's cgroup is a rogue there */
	assert_int_equal(judge_claim(&J, reserved, &e), J_ROGUE);
	other->allowed = 0;
	e = rec(other, PG_EV_BIND);
	e.netns = 12345; /* another namespace: reported, never a conflict */
	assert_int_equal(judge_claim(&J, other, &e), J_NETNS);
	e.port = 19001; /* not guarded */
	assert_int_equal(judge_claim(&J, other, &e), J_NONE);
}

static void test_owner_attempt_conflicts_with_an_overlapping_holder(void **state)
{
	struct claim *stranger = claim(1, WEB, 99, "0.0.0.0", CLAIM_LISTEN);
	struct claim *attempt = claim(2, WEB, 10, "127.0.0.1", CLAIM_ATTEMPT);
	const struct claim *holder;
	struct pg_event e = rec(attempt, PG_EV_BIND_ATTEMPT);

	(void)state;
	assert_int_equal(judge_attempt(&J, attempt, &e, &holder), J_CONFLICT);
	assert_ptr_equal(holder, stranger);
	stranger->reuseport = attempt->reuseport = 1; /* both SO_REUSEPORT: they may share */
	assert_int_equal(judge_attempt(&J, attempt, &e, &holder), J_NONE);
	stranger->reuseport = 0;
	inet_pton(AF_INET, "127.0.0.2", stranger->addr); /* another address: no overlap */
	assert_int_equal(judge_attempt(&J, attempt, &e, &holder), J_NONE);
	stranger->cgroup_id = 11; /* the owner's own sub-cgroup: not a stranger */
	inet_pton(AF_INET, "0.0.0.0", stranger->addr);
	assert_int_equal(judge_attempt(&J, attempt, &e, &holder), J_NONE);
}

static void test_release_of_a_failed_owner_bind(void **state)
{
	struct claim *attempt = claim(1, WEB, 10, "0.0.0.0", CLAIM_ATTEMPT);
	const struct claim *holder = attempt;
	struct pg_event e = rec(attempt, PG_EV_RELEASE);

	(void)state;
	/* nothing holds it: TIME_WAIT or a socket being torn down, still a conflict */
	assert_int_equal(judge_release(&J, attempt, &e, &holder), J_CONFLICT);
	assert_null(holder);
	claim(2, WEB, 10, "0.0.0.0", CLAIM_LISTEN); /* the owner's own listener was in the way */
	assert_int_equal(judge_release(&J, attempt, &e, &holder), J_NONE);
	e.child = 1; /* it was bound: a plain release */
	assert_int_equal(judge_release(&J, attempt, &e, &holder), J_NONE);
}

static void test_shared_needs_the_owner_and_another_listening(void **state)
{
	struct claim *mine = claim(1, WEB, 10, "0.0.0.0", CLAIM_LISTEN);
	struct claim *other = claim(2, WEB, 99, "0.0.0.0", CLAIM_LISTEN);
	const struct claim *holder;
	struct pg_event e = rec(other, PG_EV_LISTEN);

	(void)state;
	assert_int_equal(judge_shared(&J, other, &e, &holder), J_SHARED);
	assert_ptr_equal(holder, other); /* judged on the stranger's listen: its holders */
	e = rec(mine, PG_EV_LISTEN);
	assert_int_equal(judge_shared(&J, mine, &e, &holder), J_SHARED);
	assert_ptr_equal(holder, other); /* judged on the owner's: the stranger's */
	mine->state = CLAIM_BOUND; /* the owner stopped listening */
	e = rec(other, PG_EV_LISTEN);
	assert_int_equal(judge_shared(&J, other, &e, &holder), J_NONE);
	e = rec(mine, PG_EV_LISTEN);
	e.port = FREE; /* no owner: rogue, never shared */
	assert_int_equal(judge_shared(&J, mine, &e, &holder), J_NONE);
}

static void test_autobind_and_stolen(void **state)
{
	struct claim *other = claim(1, WEB, 99, "0.0.0.0", CLAIM_LISTEN);
	struct pg_event e = rec(other, PG_EV_LISTEN);

	(void)state;
	e.child = 1; /* listen() without bind() */
	assert_true(judge_autobind(&J, &e));
	e.cgroup_id = 11;
	assert_false(judge_autobind(&J, &e)); /* the owner's own */
	e.cgroup_id = 99;
	cfg->svc[0].on_rogue = PG_ROGUE_ALERT; /* its policy only alerts */
	assert_false(judge_autobind(&J, &e));
	cfg->svc[0].on_rogue = -1;
	cfg->mode = PG_MODE_OBSERVE;
	assert_false(judge_autobind(&J, &e));
	cfg->mode = PG_MODE_ENFORCE;
	assert_ptr_equal(judge_stolen(&J, &web), other);
	other->allowed = 1; /* allowed holders are never flushed */
	assert_null(judge_stolen(&J, &web));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rogue_owner_allowed_netns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_attempt_conflicts_with_an_overlapping_holder,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_of_a_failed_owner_bind, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_shared_needs_the_owner_and_another_listening,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_autobind_and_stolen, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
