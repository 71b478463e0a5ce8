/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of what the guard does in order, without root: the steps of
 * each restart mode (user/restart.c's tables), the supervisor's state
 * table (user/supervise.c) and the coalescing of repeated alerts
 * (user/alerts.c, with a fake publish).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alerts.h"
#include "config.h"
#include "event.h"
#include "loop.h"
#include "restart.h"
#include "supervise.h"

static void assert_steps(const char *mode, const char *want)
{
	const char *names[16];
	char got[256] = "";
	int i, n = restart_mode_steps(mode, names, 16);

	assert_true(n > 0);
	for (i = 0; i < n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? " " : "",
			 names[i]);
	assert_string_equal(got, want);
}

/* The seed system's order, made exact: nothing starts before every port is free. */
static void test_restart_step_order(void **state)
{
	const char *names[16];

	(void)state;
	assert_steps("master", "stop flush release clean start verify");
	assert_steps("quick", "stop start verify");
	assert_steps("emergency", "kill flush release clean start verify");
	assert_steps("stop", "stop");
	assert_steps("start", "start verify");
	assert_steps("reclaim", "stop flush release clean start verify");
	assert_int_equal(restart_mode_steps("hard", names, 16), -1);
}

/* Every cell of the table acts; the transitions that matter most, by name. */
static void test_supervisor_state_table(void **state)
{
	static const struct {
		enum svc_state st;
		enum svc_event ev;
		const char *action;
	} want[] = {
		{ SVC_STOPPED, SE_START, "start" },	     { SVC_EXITED, SE_START, "start" },
		{ SVC_FATAL, SE_START, "start" },	     { SVC_FATAL, SE_STOP, "stop_now" },
		{ SVC_STARTING, SE_LISTEN, "listen" },	     { SVC_STARTING, SE_HEALTHY, "ready" },
		{ SVC_STARTING, SE_TIMER, "start_timer" },  { SVC_STARTING, SE_EXIT, "exit" },
		{ SVC_STARTING, SE_START, "already" },	     { SVC_RUNNING, SE_EXIT, "exit" },
		{ SVC_RUNNING, SE_TIMER, "stable" },	     { SVC_RUNNING, SE_STOP, "stop" },
		{ SVC_RUNNING, SE_LISTEN, "nop" },	     { SVC_BACKOFF, SE_TIMER, "restart" },
		{ SVC_BACKOFF, SE_STOP, "stop_now" },	     { SVC_STOPPING, SE_TIMER, "kill" },
		{ SVC_STOPPING, SE_EMPTY, "check_done" },   { SVC_STOPPING, SE_START, "busy" },
		{ SVC_STOPPING, SE_EXIT, "stopping_exit" },
		{ SVC_STARTING, SE_EMPTY, "starting_empty" },
	};
	size_t i;
	int st, ev;

	(void)state;
	for (st = 0; st < SVC__NSTATES; st++)
		for (ev = 0; ev < SE__NEVENTS; ev++)
			assert_non_null(supervise_action_name(st, ev));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_string_equal(supervise_action_name(want[i].st, want[i].ev), want[i].action);
	assert_null(supervise_action_name(SVC__NSTATES, SE_START));
}

static struct pg_ev published[8];
static int npublished;

static void publish(struct pg_ev *ev)
{
	if (npublished < 8)
		published[npublished] = *ev;
	npublished++;
}

static void rogue(struct pg_ev *ev, enum ev_type t, uint32_t pid, int port)
{
	ev_init(ev, t, 1, NULL);
	ev->u.k.pid = pid;
	ev->u.k.port = port;
}

/* The first of a window goes out (count 1), the repeats fold into one summary. */
static void test_coalescing(void **state)
{
	struct pg_config *c = calloc(1, sizeof(*c));
	struct pg_ev ev;
	int i;

	(void)state;
	assert_int_equal(loop_init(), 0);
	c->coalesce_ms = 60000; /* no window closes during the test: alerts_close ends them */
	assert_int_equal(alerts_init(c, publish), 0);
	rogue(&ev, EV_ROGUE_BIND, 5, 19000);
	assert_int_equal(alerts_coalesce(&ev), 1);
	assert_int_equal(ev.count, 1);
	for (i = 0; i < 3; i++) { /* the same binder on the same port: folded */
		rogue(&ev, EV_ROGUE_BIND, 5, 19000);
		assert_int_equal(alerts_coalesce(&ev), 0);
	}
	rogue(&ev, EV_ROGUE_BIND, 6, 19000); /* another binder */
	assert_int_equal(alerts_coalesce(&ev), 1);
	rogue(&ev, EV_BIND_DENIED, 5, 19000); /* another type */
	assert_int_equal(alerts_coalesce(&ev), 1);
	rogue(&ev, EV_PORT_CONFLICT, 5, 19000); /* never coalesced */
	assert_int_equal(alerts_coalesce(&ev), 1);
	assert_int_equal(alerts_coalesce(&ev), 1);
	assert_int_equal(ev.count, 0);
	assert_int_equal(npublished, 0); /* coalescing publishes only summaries */
	alerts_close();
	assert_int_equal(npublished, 1);
	assert_int_equal(published[0].type, EV_ROGUE_BIND);
	assert_int_equal(published[0].u.k.pid, 5);
	assert_int_equal(published[0].count, 3);
	assert_true(published[0].coalesced);
	c->coalesce_ms = 0; /* off: every alert goes out */
	assert_int_equal(alerts_init(c, publish), 0);
	rogue(&ev, EV_ROGUE_BIND, 5, 19000);
	assert_int_equal(alerts_coalesce(&ev), 1);
	assert_int_equal(alerts_coalesce(&ev), 1);
	alerts_close();
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restart_step_order),
		cmocka_unit_test(test_supervisor_state_table),
		cmocka_unit_test(test_coalescing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
