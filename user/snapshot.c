/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agg.h"
#include "cgroup.h"
#include "claims.h"
#include "config.h"
#include "ctx.h"
#include "diag.h"
#include "emit.h"
#include "loop.h"
#include "notify.h"
#include "portset.h"
#include "snapshot.h"
#include "status.h"
#include "supervise.h"
#include "watch.h"

static struct guard_ctx *S;

void snapshot_init(struct guard_ctx *x)
{
	S = x;
}

static void snapshot_services(struct status *st)
{
	int i;

	for (i = 0; i < supervise_count() && i < PG_MAX_SERVICES; i++) {
		struct pg_service *s = supervise_get(i);
		struct st_service *o = &st->svc[st->nsvc++];
		int64_t up = s->state == SVC_RUNNING ? (int64_t)time(NULL) - s->start_wall_s : 0;

		o->name = s->conf->name;
		o->state = svc_state_name(s->state);
		o->running = s->state == SVC_RUNNING;
		o->pid = s->pid > 0 ? (uint32_t)s->pid : 0;
		o->port = s->conf->port;
		o->http = s->conf->type == PG_SVC_HTTP;
		o->start = s->conf->start == PG_START_FORKING ? "forking"
			   : s->conf->start == PG_START_NOTIFY ? "notify" : NULL;
		o->listening = s->listening;
		o->notify_status = supervise_notify_status(s);
		o->uptime_s = up < 0 ? 0 : up;
		o->restarts = s->restarts;
	}
}

int snapshot_guard(struct status *st)
{
	uint64_t lost[PG_EV_KIND_MAX] = { 0 }, sent[PG_EV_KIND_MAX] = { 0 }, *pending;
	int i, err;

	agg_settle(); /* sockets the kernel folded are in the table first */
	memset(st, 0, sizeof(*st));
	watch_check_holders(0);
	loader_counters(&S->L, lost, sent);
	for (i = 0; i < PG_EV_KIND_MAX; i++)
		st->lost += lost[i];
	st->running = 1;
	st->name = S->cfg->name;
	st->pid = (uint32_t)getpid();
	st->enforce = S->cfg->mode == PG_MODE_ENFORCE;
	st->uptime_s = (now_ms() - S->start_ms) / 1000;
	st->events = watch_events_seen();
	st->layout = PG_LAYOUT;
	st->config = S->cfg->path;
	st->cgroup = supervise_instance_cgroup();
	snapshot_services(st);
	if ((err = status_ports(st, S->cfg, watch_claims(), S->host_netns, watch_svc_of)))
		return err;
	st->healthy = 1;
	for (i = 0; i < st->nsvc; i++)
		st->healthy &= st->svc[i].running;
	pending = agg_pending_denied(); /* folded in the kernel, not yet journaled */
	for (i = 0; i < st->nports; i++) {
		st->ports[i].denied = watch_denied(st->ports[i].port) +
				      (pending ? pending[st->ports[i].port] : 0);
		st->ports[i].last_conflict = emit_last_conflict(st->ports[i].port);
		st->healthy &= port_state_ok(st->ports[i].state);
	}
	free(pending);
	st->nconflicts = emit_recent(st->conflicts, ST_RECENT);
	st->claims = watch_claims();
	st->host_netns = S->host_netns;
	return 0;
}

void snapshot_each_port(void (*fn)(int port, const char *state, void *arg), void *arg)
{
	struct status st = { 0 };
	int i;

	if (status_ports(&st, S->cfg, watch_claims(), S->host_netns, watch_svc_of) == 0)
		for (i = 0; i < st.nports; i++)
			fn(st.ports[i].port, port_state_name(st.ports[i].state), arg);
	status_free(&st);
}

/* The CLI's: the services' cgroup ids, from where a guard would have made them. */
static const struct pg_config *snap_cfg;
static uint64_t snap_ids[PG_MAX_SERVICES];

static const char *snapshot_svc_of(uint64_t cgid)
{
	int i;

	for (i = 0; cgid && i < snap_cfg->nsvc; i++)
		if (snap_ids[i] == cgid)
			return snap_cfg->svc[i].name;
	return NULL;
}

int snapshot_no_guard(struct status *st, const struct pg_config *c)
{
	struct portset *want = portset_watched(c);
	struct diag_result r = { 0 };
	struct claims t = { 0 };
	char path[PATH_MAX];
	int i, err;

	memset(st, 0, sizeof(*st));
	st->name = c->name;
	if (!want)
		return -ENOMEM;
	snap_cfg = c;
	for (i = 0; i < c->nsvc && cg_root(); i++) {
		snprintf(path, sizeof(path), "%s/portguard-%s/%s", cg_root(), c->name, c->svc[i].name);
		snap_ids[i] = cg_id(path);
	}
	if (diag_dump(want->has, 0, &r) == 0)
		claims_from_diag(&t, &r, 0);
	portset_free(want);
	err = status_ports(st, c, &t, 0, snapshot_svc_of);
	diag_free(&r);
	claims_free(&t);
	return err;
}

void snapshot_notify(void)
{
	int i, running = 0, n = supervise_count();
	char line[200];

	if (!S || !S->cfg)
		return;
	for (i = 0; i < n; i++)
		running += supervise_get(i)->state == SVC_RUNNING;
	snprintf(line, sizeof(line), "%s, %s: %d/%d services running, %llu binds denied, "
		 "%llu events lost", S->cfg->name, S->cfg->mode == PG_MODE_ENFORCE ? "enforce" :
		 "observe", running, n, (unsigned long long)watch_denied_total(),
		 (unsigned long long)watch_lost_seen());
	notify_status(line);
}
