/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the typed events (user/event.c), their one encoder (user/encode.c), the journal
 * and the port table of `status` (user/status.c). */
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
#include "encode.h"
#include "event.h"
#include "journal.h"
#include "status.h"

/* The encoder's line for ev is want (and freed). */
static void assert_line(char *got, const char *want)
{
	assert_non_null(got);
	if (strcmp(got, want)) {
		print_error("JSON differs\n  actual:   %s\n  expected: %s\n", got, want);
		free(got);
		fail();
	}
	free(got);
}

static void assert_ev(const struct pg_ev *ev, const char *want)
{
	assert_line(encode_event(ev), want);
}

static void test_ts_format(void **state)
{
	char buf[40];

	(void)state;
	assert_string_equal(ev_ts(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000000Z");
	/* 2026-11-28T03:22:02.123456Z */
	assert_string_equal(ev_ts(1795836122123456ULL, buf, sizeof(buf)),
			    "2026-11-28T03:22:02.123456Z");
	assert_string_equal(ev_ts(1795836122000001ULL, buf, sizeof(buf)),
			    "2026-11-28T03:22:02.000001Z");
}

static void test_kind_and_proto_names(void **state)
{
	(void)state;
	assert_string_equal(ev_kind_name(PG_EV_BIND), "bind");
	assert_string_equal(ev_kind_name(PG_EV_LISTEN_CLOSE), "unlisten");
	assert_string_equal(ev_kind_name(0), "unknown");
	assert_string_equal(ev_kind_name(999), "unknown");
	assert_string_equal(ev_proto_name(IPPROTO_TCP), "tcp");
	assert_string_equal(ev_proto_name(IPPROTO_UDP), "udp");
	assert_string_equal(ev_proto_name(0), "?");
}

static void test_kernel_event_v4(void **state)
{
	struct pg_event e = { .kind = PG_EV_BIND, .tgid = 4242, .pid = 4243, .uid = 1000,
			      .cgroup_id = 77, .netns = 4026531840ULL, .family = AF_INET,
			      .proto = IPPROTO_TCP, .port = 3000, .reuseport = 1, .cookie = 9 };
	struct pg_ev ev;

	(void)state;
	inet_pton(AF_INET, "127.0.0.1", e.addr);
	memcpy(e.comm, "python3", 8);
	ev_from_kernel(&ev, EV_BIND, &e, "main_app");
	ev.ts_us = 1795836122123456ULL;
	assert_ev(&ev, "{\"ts\":\"2026-11-28T03:22:02.123456Z\",\"type\":\"bind\","
		       "\"port\":3000,\"proto\":\"tcp\",\"pid\":4242,\"comm\":\"python3\","
		       "\"uid\":1000,\"service\":\"main_app\",\"tid\":4243,\"cgroup_id\":77,"
		       "\"netns\":4026531840,\"family\":\"ipv4\",\"addr\":\"127.0.0.1\","
		       "\"reuseport\":true,\"cookie\":9}");
}

static void test_kernel_event_v6_null_service_full_comm(void **state)
{
	struct pg_event e = { .kind = PG_EV_BIND, .tgid = 1, .pid = 1, .family = AF_INET6,
			      .proto = IPPROTO_UDP, .port = 8002 };
	struct pg_ev ev;

	(void)state;
	inet_pton(AF_INET6, "::1", e.addr);
	memcpy(e.comm, "0123456789abcdef", 16); /* no NUL in the kernel's 16 bytes */
	ev_from_kernel(&ev, EV_BIND, &e, NULL);
	ev.ts_us = 0;
	assert_ev(&ev, "{\"ts\":\"1970-01-01T00:00:00.000000Z\",\"type\":\"bind\",\"port\":8002,"
		       "\"proto\":\"udp\",\"pid\":1,\"comm\":\"0123456789abcdef\",\"uid\":0,"
		       "\"service\":null,\"tid\":1,\"cgroup_id\":0,\"netns\":0,\"family\":\"ipv6\","
		       "\"addr\":\"::1\",\"reuseport\":false,\"cookie\":0}");
}

static void test_quoting(void **state)
{
	struct pg_event e = { .family = AF_INET, .proto = IPPROTO_TCP, .port = 1 };
	struct pg_ev ev;
	char *line;

	(void)state;
	memcpy(e.comm, "a\"b\\c\n", 7);
	ev_from_kernel(&ev, EV_LISTEN, &e, "s\"vc");
	line = encode_event(&ev);
	assert_non_null(strstr(line, "\"comm\":\"a\\\"b\\\\c\\n\""));
	assert_non_null(strstr(line, "\"service\":\"s\\\"vc\""));
	free(line);
}

static void test_journal_appends_lines(void **state)
{
	char dir[] = "/tmp/pg-unit-XXXXXX", path[256], line[512];
	const char *o = "{\"ts\":\"1970-01-01T00:00:00.000000Z\",\"type\":\"service_start\","
			"\"service\":\"db_poller\"}";
	FILE *f;
	int n = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sub/events.jsonl", dir);
	assert_int_equal(journal_open(path, 0), 0);
	assert_int_equal(journal_write(o), 0);
	assert_int_equal(journal_write(o), 0);
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

	claims_set_port(t, c, port);
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
	struct status st = { 0 };
	const enum port_state want[] = { PORT_OWNED, PORT_SHARED, PORT_ROGUE, PORT_FREE,
					 PORT_PROTECTED };
	int i, ok = 1;

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
	assert_int_equal(status_ports(&st, cfg, &t, 0, svc_of), 0);
	assert_int_equal(st.nports, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(st.ports[i].port, 19000 + i);
		assert_int_equal(st.ports[i].state, want[i]);
		ok &= port_state_ok(st.ports[i].state);
	}
	assert_false(ok);
	assert_int_equal(st.ports[1].nholders, 2);
	assert_string_equal(st.ports[1].holders[0].service, "web2");
	assert_string_equal(st.ports[1].owner, "web2");
	assert_null(st.ports[2].owner);
	/* the CLI's snapshot: no guard, so no claims, denials or health */
	st.name = "t";
	assert_line(encode_status(&st),
		    "{\"guard\":{\"running\":false,\"name\":\"t\"},\"services\":[],\"ports\":["
		    "{\"port\":19000,\"state\":\"owned\",\"owner\":\"web\",\"holders\":[{\"pid\":100,"
		    "\"comm\":\"x\",\"uid\":0,\"service\":\"web\",\"proto\":\"tcp\",\"addr\":"
		    "\"0.0.0.0\"}]},{\"port\":19001,\"state\":\"shared\",\"owner\":\"web2\","
		    "\"holders\":[{\"pid\":200,\"comm\":\"x\",\"uid\":0,\"service\":\"web2\","
		    "\"proto\":\"tcp\",\"addr\":\"0.0.0.0\"},{\"pid\":300,\"comm\":\"x\",\"uid\":0,"
		    "\"service\":null,\"proto\":\"tcp\",\"addr\":\"0.0.0.0\"}]},{\"port\":19002,"
		    "\"state\":\"rogue\",\"owner\":null,\"holders\":[{\"pid\":400,\"comm\":\"x\","
		    "\"uid\":0,\"service\":null,\"proto\":\"tcp\",\"addr\":\"0.0.0.0\"}]},"
		    "{\"port\":19003,\"state\":\"free\",\"owner\":null,\"holders\":[]},"
		    "{\"port\":19004,\"state\":\"protected\",\"owner\":null,\"holders\":[{"
		    "\"pid\":500,\"comm\":\"x\",\"uid\":0,\"service\":null,\"proto\":\"tcp\","
		    "\"addr\":\"0.0.0.0\"}]}],\"conflicts\":[]}");
	status_free(&st);
	claims_free(&t);
	free(cfg);
}

/* Each type's own fields, in the order the journal always had them. */
static void test_own_events(void **state)
{
	static const char *const started[] = { "web", "db" };
	struct pg_ev ev;

	(void)state;
	ev_init(&ev, EV_SERVICE_EXIT, 1, "web");
	ev.u.svc.port = 19000;
	ev.u.svc.state = "BACKOFF";
	ev_detail(&ev, "exited with status %d", 3);
	assert_ev(&ev, "{\"ts\":\"1970-01-01T00:00:00.000001Z\",\"type\":\"service_exit\","
		       "\"service\":\"web\",\"port\":19000,\"pid\":null,\"state\":\"BACKOFF\","
		       "\"detail\":\"exited with status 3\"}");
	ev_init(&ev, EV_EVENTS_LOST, 1, NULL);
	ev.u.lost.count = 7;
	ev_detail(&ev, "full");
	assert_ev(&ev, "{\"ts\":\"1970-01-01T00:00:00.000001Z\",\"type\":\"events_lost\","
		       "\"count\":7,\"detail\":\"full\"}");
	ev_init(&ev, EV_RELOAD, 1, NULL);
	ev.u.reload.config = "/etc/p.conf";
	ev.u.reload.started = started;
	ev.u.reload.nstarted = 2;
	assert_ev(&ev, "{\"ts\":\"1970-01-01T00:00:00.000001Z\",\"type\":\"reload\","
		       "\"config\":\"\\/etc\\/p.conf\",\"started\":[\"web\",\"db\"]}");
	ev_init(&ev, EV_RELOAD_FAILED, 1, NULL);
	ev.u.reload.errors = "a.conf:1: x\na.conf:2: y\n";
	ev_detail(&ev, "unchanged");
	assert_ev(&ev, "{\"ts\":\"1970-01-01T00:00:00.000001Z\",\"type\":\"reload_failed\","
		       "\"errors\":[\"a.conf:1: x\",\"a.conf:2: y\"],\"detail\":\"unchanged\"}");
	ev_init(&ev, EV_RESTART_FAILED, 1, "web");
	ev.u.job.mode = "quick";
	ev.u.job.ms = 12;
	ev.u.job.nsteps = 1;
	ev.u.job.steps[0].name = "stop";
	ev.u.job.steps[0].ms = 11;
	ev_detail(&ev, "verify: port 1 is free");
	assert_ev(&ev, "{\"ts\":\"1970-01-01T00:00:00.000001Z\",\"type\":\"restart_failed\","
		       "\"mode\":\"quick\",\"ms\":12,\"steps\":[{\"step\":\"stop\",\"ms\":11}],"
		       "\"service\":\"web\",\"detail\":\"verify: port 1 is free\"}");
}

/* A denial: the owner twice (as service and owner), the cgroup null when unknown. */
static void test_denied_and_coalesced(void **state)
{
	struct pg_event e = { .kind = PG_EV_BIND_DENIED, .tgid = 7, .pid = 7, .family = AF_INET,
			      .proto = IPPROTO_TCP, .port = 19000 };
	struct pg_exe x = { .ino = 42, .dev = (8 << 20) | 1, .len = 7, .complete = 1 };
	struct pg_ev ev;

	(void)state;
	memcpy(x.path, "nc\0bin\0", 8);
	memcpy(e.comm, "nc", 3);
	ev_from_kernel(&ev, EV_BIND_DENIED, &e, "web");
	ev.ts_us = 0;
	ev_set_exe(&ev, &x, 7);
	ev.u.k.has_cgroup = 1;
	ev.u.k.action = EVA_DENIED;
	ev.count = 5;
	ev.coalesced = 1;
	ev.window_ms = 1000;
	assert_ev(&ev, "{\"ts\":\"1970-01-01T00:00:00.000000Z\",\"type\":\"bind_denied\","
		       "\"port\":19000,\"proto\":\"tcp\",\"pid\":7,\"comm\":\"nc\",\"uid\":0,"
		       "\"service\":\"web\",\"tid\":7,\"cgroup_id\":0,\"netns\":0,\"family\":\"ipv4\","
		       "\"addr\":\"0.0.0.0\",\"reuseport\":false,\"cookie\":0,\"exe\":\"\\/bin\\/nc\","
		       "\"exe_source\":\"kernel\",\"exe_ns\":\"other\",\"exe_ino\":42,"
		       "\"exe_dev\":\"8:1\",\"cgroup\":null,\"owner\":\"web\",\"action\":\"denied\","
		       "\"count\":5,\"coalesced\":true,\"window_ms\":1000}");
	assert_true(ev_flags(EV_BIND_DENIED) & EVF_COALESCE);
	assert_true(ev_flags(EV_SERVICE_FATAL) & EVF_ALERT);
	assert_false(ev_flags(EV_SERVICE_EXIT) & EVF_ALERT);
	assert_string_equal(ev_type_name(EV__NTYPES), "unknown");
}

/* Every type has a name, and each name once. */
static void test_type_names(void **state)
{
	int i, j;

	(void)state;
	for (i = 0; i < EV__NTYPES; i++) {
		assert_non_null(ev_type_name(i));
		assert_string_not_equal(ev_type_name(i), "unknown");
		for (j = 0; j < i; j++)
			assert_string_not_equal(ev_type_name(i), ev_type_name(j));
	}
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
		cmocka_unit_test(test_own_events),
		cmocka_unit_test(test_denied_and_coalesced),
		cmocka_unit_test(test_type_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
