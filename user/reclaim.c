/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <string.h>

#include "config.h"
#include "ctx.h"
#include "emit.h"
#include "event.h"
#include "loop.h"
#include "reclaim.h"
#include "restart.h"
#include "status.h"
#include "supervise.h"
#include "watch.h"

#define RC_QUIET_MS 300000ULL /* quiet this long: the backoff starts over */
#define RC_RETRY_MS 200	      /* another job runs: the next turn */

static struct {
	struct guard_ctx *x;
	struct pg_timer timer[PG_MAX_SERVICES]; /* a reclaim waiting for its turn */
	int count[PG_MAX_SERVICES];		 /* reclaims in a row, for the backoff */
	int armed[PG_MAX_SERVICES];		 /* a reclaim is already scheduled */
	uint64_t last_ms[PG_MAX_SERVICES];	 /* when the last one started */
} R;

static void reclaim_now(struct pg_timer *t);

void reclaim_init(struct guard_ctx *x)
{
	int i;

	memset(&R, 0, sizeof(R));
	R.x = x;
	for (i = 0; i < PG_MAX_SERVICES; i++)
		R.timer[i].w.fd = -1;
}

static int reclaim_index(const struct pg_service *s)
{
	int i;

	for (i = 0; i < supervise_count(); i++)
		if (supervise_get(i) == s)
			return i;
	return -1;
}

/* Reclaiming is on, and s's port is stolen while s does not serve it. */
static int reclaim_due(const struct pg_service *s)
{
	const struct pg_config *c = R.x->cfg;

	if (!c->reclaim || c->mode != PG_MODE_ENFORCE || R.x->shutdown_pending || s->want_stop)
		return 0;
	if (s->state == SVC_RUNNING && s->listening)
		return 0;
	return watch_port_stolen(s) != NULL;
}

/* The journal's reclaim (or reclaim_backoff, with the delay). */
static void reclaim_journal(struct pg_service *s, int i, uint64_t delay)
{
	struct pg_ev ev;

	ev_init(&ev, delay ? EV_RECLAIM_BACKOFF : EV_RECLAIM, 0, s->conf->name);
	ev.u.reclaim.port = s->conf->port;
	ev.u.reclaim.attempt = R.count[i] + 1;
	ev.u.reclaim.delay_ms = delay;
	status_ev_holders(&ev, watch_port_stolen(s), watch_svc_of);
	if (delay)
		ev_detail(&ev, "the port was taken again after a reclaim: backing off");
	emit_event(&ev);
}

/*
 * The owner's port is held by someone else while the owner is not serving
 * it: flush that port (same safety rules as restart), restart the owner,
 * verify. A holder that keeps coming back is reclaimed with an exponential
 * backoff and an alert, never in a hot loop.
 */
void reclaim_maybe(struct pg_service *s)
{
	int i = reclaim_index(s);
	uint64_t delay = 0, now = now_ms();

	if (i < 0 || !s->conf->port || s->conf->type != PG_SVC_HTTP || R.armed[i] ||
	    !reclaim_due(s))
		return; /* not ours to reclaim, one is on its way, or nothing to reclaim */
	if (R.timer[i].w.fd < 0 && timer_init(&R.timer[i], reclaim_now, s))
		return;
	R.timer[i].arg = s; /* indexes follow the service order, which a reload changes */
	R.armed[i] = 1;
	if (now - R.last_ms[i] > RC_QUIET_MS)
		R.count[i] = 0;
	if (R.count[i] > 0)
		delay = 1000ULL << (R.count[i] > 6 ? 6 : R.count[i] - 1);
	reclaim_journal(s, i, delay);
	timer_arm_ms(&R.timer[i], delay);
}

static void reclaim_now(struct pg_timer *t)
{
	struct pg_service *s = t->arg;
	int i = reclaim_index(s);

	if (i < 0)
		return;
	R.armed[i] = 0;
	if (!reclaim_due(s)) /* what held when it was scheduled may not hold now (up to 64 s later) */
		return;
	if (R.x->reloading || restart_reclaim(s) == -EBUSY) {
		R.armed[i] = 1;
		timer_arm_ms(t, RC_RETRY_MS);
		return;
	}
	R.count[i]++;
	R.last_ms[i] = now_ms();
}

void reclaim_job_done(int reclaim, struct pg_service **svc, int n, int ok)
{
	int i;

	if (!reclaim) { /* a restart by hand also settles stolen ports */
		for (i = 0; i < n; i++)
			reclaim_maybe(svc[i]);
		return;
	}
	/* a failed reclaim must not leave the owner stopped: its policy takes over again */
	for (i = 0; !ok && i < n; i++)
		if (svc[i]->state == SVC_STOPPED && svc[i]->want_stop && !R.x->shutdown_pending)
			supervise_start(svc[i]);
}

void reclaim_reset(void)
{
	int i;

	for (i = 0; i < PG_MAX_SERVICES; i++)
		timer_disarm(&R.timer[i]);
	memset(R.count, 0, sizeof(R.count));
	memset(R.last_ms, 0, sizeof(R.last_ms));
	memset(R.armed, 0, sizeof(R.armed));
}

void reclaim_close(void)
{
	int i;

	for (i = 0; i < PG_MAX_SERVICES; i++)
		timer_close(&R.timer[i]);
}
