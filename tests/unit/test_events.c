/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the event JSON encoding (user/events.c) and the port table (user/report.c). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "claims.h"
#include "config.h"
#include "events.h"
#include "report.h"

static void assert_json(json_object *o, const char *want)
{
	const char *got = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

	if (strcmp(got, want)) {
		print_error("JSON differs\n  actual:   %s\n  expected: %s\n", got, want);
		fail();
	}
}

static void test_ts_format(void **state)
{
	char buf[40];

	(void)state;
	assert_string_equal(events_ts(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000000Z");
	/* 2026-11-28T03:22:02.123456Z */
	assert_string_equal(events_ts(1795836122123456ULL, buf, sizeof(buf)),
			    "2026-11-28T03:22:02.123456Z");
	assert_string_equal(events_ts(1795836122000001ULL, buf, sizeof(buf)),
			    "2026-11-28T03:22:02.000001Z");
}

static void test_kind_and_proto_names(void **state)
{
	(void)state;
	assert_string_equal(events_kind_name(PG_EV_BIND), "bind");
	assert_string_equal(events_kind_name(PG_EV_LISTEN_CLOSE), "unlisten");
	assert_string_equal(events_kind_name(0), "unknown");
	assert_string_equal(events_kind_name(999), "unknown");
	assert_string_equal(events_proto_name(IPPROTO_TCP), "tcp");
	assert_string_equal(events_proto_name(IPPROTO_UDP), "udp");
	assert_string_equal(events_proto_name(0), "?");
}

static void test_kernel_event_v4(void **state)
{
	struct pg_event e = { .kind = PG_EV_BIND, .tgid = 4242, .pid = 4243, .uid = 1000,
			      .cgroup_id = 77, .netns = 4026531840ULL, .family = AF_INET,
			      .proto = IPPROTO_TCP, .port = 3000, .reuseport = 1, .cookie = 9 };
	json_object *o;

	(void)state;
	inet_pton(AF_INET, "127.0.0.1", e.addr);
	memcpy(e.comm, "python3", 8);
	o = events_from_kernel("rogue_bind", &e, 1795836122123456ULL, "main_app");
	assert_json(o, "{\"ts\":\"2026-11-28T03:22:02.123456Z\",\"type\":\"rogue_bind\","
		       "\"port\":3000,\"proto\":\"tcp\",\"pid\":4242,\"comm\":\"python3\","
		       "\"uid\":1000,\"service\":\"main_app\",\"tid\":4243,\"cgroup_id\":77,"
		       "\"netns\":4026531840,\"family\":\"ipv4\",\"addr\":\"127.0.0.1\","
		       "\"reuseport\":true,\"cookie\":9}");
	json_object_put(o);
}

static void test_kernel_event_v6_null_service_full_comm(void **state)
{
	struct pg_event e = { .kind = PG_EV_BIND, .tgid = 1, .pid = 1, .family = AF_INET6,
			      .proto = IPPROTO_UDP, .port = 8002 };
	json_object *o;

	(void)state;
	inet_pton(AF_INET6, "::1", e.addr);
	memcpy(e.comm, "0123456789abcdef", 16); /* no NUL in the kernel's 16 bytes */
	o = events_from_kernel("bind", &e, 0, NULL);
	assert_json(o, "{\"ts\":\"1970-01-01T00:00:00.000000Z\",\"type\":\"bind\",\"port\":8002,"
		       "\"proto\":\"udp\",\"pid\":1,\"comm\":\"0123456789abcdef\",\"uid\":0,"
		       "\"service\":null,\"tid\":1,\"cgroup_id\":0,\"netns\":0,\"family\":\"ipv6\","
		       "\"addr\":\"::1\",\"reuseport\":false,\"cookie\":0}");
	json_object_put(o);
}

static void test_quoting(void **state)
{
	struct pg_event e = { .family = AF_INET, .proto = IPPROTO_TCP, .port = 1 };
	json_object *o;

	(void)state;
	memcpy(e.comm, "a\"b\\c\n", 7);
	o = events_from_kernel("x", &e, 0, "s\"vc");
	assert_non_null(strstr(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
			       "\"comm\":\"a\\\"b\\\\c\\n\""));
	assert_non_null(strstr(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
			       "\"service\":\"s\\\"vc\""));
	json_object_put(o);
}

static void test_journal_appends_lines(void **state)
{
	char dir[] = "/tmp/pg-unit-XXXXXX", path[256], line[512];
	json_object *o;
	FILE *f;
	int n = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sub/events.jsonl", dir);
	assert_int_equal(journal_open(path, 0), 0);
	o = events_new("service_start", 0, "db_poller");
	assert_int_equal(journal_write(o), 0);
	assert_int_equal(journal_write(o), 0);
	json_object_put(o);
	journal_close();
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		assert_string_equal(line, "{\"ts\":\"1970-01-01T00:00:00.000000Z\",\"type\":"
					  "\"service_start\",\"service\":\"db_poller\"}\n");
		n++;
	}
	fclose(f);
	assert_int_equal(n, 2);
	unlink(path);
	snprintf(path, sizeof(path), "%s/sub", dir);
	rmdir(path);
	rmdir(dir);
}

static const char *svc_of(uint64_t cgid)
{
	return cgid == 10 ? "web" : cgid == 11 ? "web2" : NULL;
}

static void add_claim(struct claims *t, uint64_t cookie, int port, uint64_t cg, uint32_t pid)
{
	struct claim *c = claims_upsert(t, cookie);
	struct claim_holder h = { .pid = pid, .cgroup_id = cg };

	c->port = port;
	c->proto = IPPROTO_TCP;
	c->family = AF_INET;
	c->state = CLAIM_LISTEN;
	c->cgroup_id = cg;
	strcpy(h.comm, "x");
	claim_add_holder(c, &h);
}

static void test_port_states(void **state)
{
	struct pg_config *cfg = calloc(1, sizeof(*cfg));
	struct claims t = { 0 };
	json_object *ports;
	const char *want[] = { "owned", "shared", "rogue", "free", "protected" };
	int i;

	(void)state;
	cfg->guarded[19000] = cfg->guarded[19001] = cfg->guarded[19002] = cfg->guarded[19003] = 1;
	cfg->protected_[19004] = 1;
	cfg->nsvc = 2;
	strcpy(cfg->svc[0].name, "web");
	cfg->svc[0].port = 19000;
	strcpy(cfg->svc[1].name, "web2");
	cfg->svc[1].port = 19001;
	add_claim(&t, 1, 19000, 10, 100);	/* owner */
	add_claim(&t, 2, 19001, 11, 200);	/* web2 on its port... */
	add_claim(&t, 3, 19001, 0, 300);	/* ...and a stranger */
	add_claim(&t, 4, 19002, 0, 400);	/* reserved port, stranger */
	add_claim(&t, 5, 19004, 0, 500);	/* protected: never a conflict */
	ports = report_ports(cfg, &t, 0, svc_of);
	assert_int_equal(json_object_array_length(ports), 5);
	for (i = 0; i < 5; i++) {
		json_object *p = json_object_array_get_idx(ports, i);

		assert_int_equal(json_object_get_int(json_object_object_get(p, "port")), 19000 + i);
		assert_string_equal(json_object_get_string(json_object_object_get(p, "state")),
				    want[i]);
	}
	assert_false(report_ports_ok(ports));
	json_object_put(ports);
	claims_free(&t);
	free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ts_format),
		cmocka_unit_test(test_kind_and_proto_names),
		cmocka_unit_test(test_kernel_event_v4),
		cmocka_unit_test(test_kernel_event_v6_null_service_full_comm),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_journal_appends_lines),
		cmocka_unit_test(test_port_states),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
