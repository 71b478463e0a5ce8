/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "config.h"
#include "control.h"
#include "emit.h"
#include "encode.h"
#include "journal.h"
#include "journald.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "status.h"

static struct pg_ev emit_ring[ST_RECENT]; /* the last conflicts */
static int emit_nrecent;
static const struct pg_config *emit_cfg;

void emit_set_config(const struct pg_config *c)
{
	emit_cfg = c;
}

/* The port an event is about, 0 when none. */
static int emit_port(const struct pg_ev *ev)
{
	if (ev_flags(ev->type) & EVF_KERNEL)
		return ev->u.k.port;
	if (ev->type == EV_RECLAIM || ev->type == EV_RECLAIM_BACKOFF)
		return ev->u.reclaim.port;
	return 0;
}

/* A line events.jsonl could not take (a full disk): said at most once a second, counted. */
static void emit_journal_failed(int err)
{
	static uint64_t last_ms;

	if (every_ms(&last_ms, 1000))
		log_warnx("journal write failed: %s (%lu lines not written since the start; "
			  "portguard_journal_write_failures_total)", strerror(-err),
			  journal_failures());
}

void emit_publish(struct pg_ev *ev)
{
	int keep = !ev->routine || (emit_cfg && emit_cfg->journal_routine);
	char *line;
	int err;

	/* an owner's routine claim nobody asked to see: counted (metrics), not encoded */
	if (!keep && !control_wants(1))
		return;
	line = encode_event(ev);
	if (!line) {
		log_warnx("%s: out of memory: the event is lost", ev_type_name(ev->type));
		return;
	}
	if (keep) { /* journaled: every event but the routine ones, unless configured */
		if ((err = journal_write(line)))
			emit_journal_failed(err);
		if (journald_active()) { /* once, with its fields: not again as a stderr line */
			journald_send(ev, line);
		} else {
			log_line(line);
		}
	}
	control_broadcast(line, ev->routine);
	alerts_deliver(ev, line);
	if (ev_flags(ev->type) & EVF_CONFLICT)
		emit_ring[emit_nrecent++ % ST_RECENT] = *ev; /* EVF_KEEP: literals only */
	free(line);
}

void emit_folded(struct pg_ev *ev)
{
	metrics_count(ev);
	emit_publish(ev); /* counted already: no second coalescing */
}

void emit_event(struct pg_ev *ev)
{
	metrics_count(ev);
	if (alerts_coalesce(ev))
		emit_publish(ev);
}

int emit_recent(const struct pg_ev **out, int max)
{
	int n = emit_nrecent < ST_RECENT ? emit_nrecent : ST_RECENT, i, k = 0;

	for (i = emit_nrecent - n; i < emit_nrecent && k < max; i++)
		out[k++] = &emit_ring[i % ST_RECENT];
	return k;
}

const struct pg_ev *emit_last_conflict(int port)
{
	int i, n = emit_nrecent < ST_RECENT ? emit_nrecent : ST_RECENT;

	for (i = emit_nrecent - 1; i >= emit_nrecent - n; i--)
		if (emit_port(&emit_ring[i % ST_RECENT]) == port)
			return &emit_ring[i % ST_RECENT];
	return NULL;
}

void emit_reset(void)
{
	emit_nrecent = 0;
}
