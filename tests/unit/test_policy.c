/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of what the kernel enforces, from the config alone (user/policy.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "policy.h"

static struct pg_config *two_services(void)
{
	struct pg_config *c = calloc(1, sizeof(*c));

	c->path = "t.conf";
	c->mode = PG_MODE_ENFORCE;
	c->guarded[19000] = c->guarded[19001] = c->guarded[19002] = 1;
	c->protected_[19010] = 1;
	c->nsvc = 2;
	strcpy(c->svc[0].name, "web");
	c->svc[0].port = 19000;
	c->svc[0].on_rogue = -1;
	strcpy(c->svc[1].name, "api");
	c->svc[1].port = 19001;
	c->svc[1].on_rogue = PG_ROGUE_ALERT; /* its own policy: alert, never deny */
	return c;
}

static void test_ports(void **state)
{
	struct pg_config *c = two_services();
	struct policy_owner owners[2] = { { 10, 3 }, { 11, 3 } };
	struct pg_port *v = malloc(65536 * sizeof(*v));

	(void)state;
	assert_int_equal(policy_ports(c, owners, v), 4);
	assert_int_equal(v[19000].flags, PG_PORT_GUARDED | PG_PORT_DENY);
	assert_int_equal(v[19000].owner_cgroup, 10);
	assert_int_equal(v[19000].owner_level, 3);
	assert_int_equal(v[19001].flags, PG_PORT_GUARDED); /* alert: watched, not denied */
	assert_int_equal(v[19002].flags, PG_PORT_GUARDED | PG_PORT_DENY); /* reserved */
	assert_int_equal(v[19002].owner_cgroup, 0);
	assert_int_equal(v[19010].flags, PG_PORT_PROTECTED); /* watched, never denied */
	assert_int_equal(v[19003].flags, 0);
	assert_int_equal(v[0].flags, 0);
	c->mode = PG_MODE_OBSERVE; /* observe mode denies nothing */
	policy_ports(c, owners, v);
	assert_int_equal(v[19000].flags, PG_PORT_GUARDED);
	free(v);
	free(c);
}

static uint64_t fake_cgroup(const char *path)
{
	return !strcmp(path, "/ops.slice") ? 77 : 0;
}

static int fake_exe(const char *path, uint64_t *ino, uint32_t *dev)
{
	if (strcmp(path, "/usr/bin/probe"))
		return -ENOENT;
	*ino = 4242;
	*dev = 8 << 20 | 1;
	return 0;
}

static int nskipped;

static void fake_skipped(const char *svc, const struct pg_allow *a, int err)
{
	(void)svc;
	(void)a;
	assert_int_equal(err, -ENOENT);
	nskipped++;
}

static void test_allow(void **state)
{
	static const struct policy_host host = { fake_cgroup, fake_exe, fake_skipped };
	struct pg_config *c = two_services();
	struct pg_allow_key keys[8];
	uint32_t vals[8];
	char cg[] = "/ops.slice", missing[] = "/nope", exe[] = "/usr/bin/probe";

	(void)state;
	c->svc[0].allow[0] = (struct pg_allow){ .kind = PG_ALLOW_KIND_UID, .uid = 1000 };
	c->svc[0].allow[1] = (struct pg_allow){ .kind = PG_ALLOW_KIND_CGROUP, .path = cg };
	c->svc[0].allow[2] = (struct pg_allow){ .kind = PG_ALLOW_KIND_CGROUP, .path = missing };
	c->svc[0].allow[3] = (struct pg_allow){ .kind = PG_ALLOW_KIND_EXE, .path = exe };
	c->svc[0].nallow = 4;
	assert_int_equal(policy_allow(c, &host, keys, vals, 8), 3);
	assert_int_equal(nskipped, 1); /* a cgroup not made yet: said, and applied later */
	assert_int_equal(keys[0].port, 19000);
	assert_int_equal(keys[0].kind, PG_ALLOW_UID);
	assert_int_equal(keys[0].value, 1000);
	assert_int_equal(keys[1].kind, PG_ALLOW_CGROUP);
	assert_int_equal(keys[1].value, 77);
	assert_int_equal(keys[2].kind, PG_ALLOW_EXE);
	assert_int_equal(keys[2].value, 4242);
	assert_int_equal(vals[2], 8 << 20 | 1);
	assert_int_equal(policy_allow(c, &host, keys, vals, 2), -E2BIG);
	free(c);
}

static void test_levels_and_limits(void **state)
{
	struct pg_config *c = two_services();
	char buf[256];
	int p;

	(void)state;
	assert_int_equal(policy_cg_level("/sys/fs/cgroup", "/sys/fs/cgroup"), 0);
	assert_int_equal(policy_cg_level("/sys/fs/cgroup", "/sys/fs/cgroup/portguard-t/web"), 2);
	assert_int_equal(policy_cg_level("/sys/fs/cgroup", "/elsewhere/a/b"), 0);
	assert_null(policy_limits(c, buf, sizeof(buf)));
	for (p = 1; p < 65536; p++) /* every port guarded: the array has a slot for each */
		c->guarded[p] = 1;
	assert_null(policy_limits(c, buf, sizeof(buf)));
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_allow),
		cmocka_unit_test(test_levels_and_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
