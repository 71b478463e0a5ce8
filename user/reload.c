/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "agg.h"
#include "alerts.h"
#include "cgroup.h"
#include "config.h"
#include "control.h"
#include "ctx.h"
#include "emit.h"
#include "encode.h"
#include "event.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "policy.h"
#include "reclaim.h"
#include "reload.h"
#include "restart.h"
#include "snapshot.h"
#include "spawn.h"
#include "supervise.h"
#include "sysctl.h"

static struct {
	struct guard_ctx *x;
	struct pg_config *next;		/* the new config while services stop */
	struct ctl_client *client;
	int deferred;			/* a SIGHUP came while busy: reload when that ends */
} RL;

void reload_init(struct guard_ctx *x)
{
	memset(&RL, 0, sizeof(RL));
	RL.x = x;
}

int reload_answers(const struct ctl_client *c)
{
	return c && RL.client == c;
}

/* ---- the kernel's maps ---- */

static uint64_t reload_cgroup_id(const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s%s", cg_root(), rel);
	return cg_id(path);
}

static int reload_exe(const char *path, uint64_t *ino, uint32_t *dev)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	*ino = st.st_ino;
	/* the kernel's dev_t: MKDEV(major, minor) = major << 20 | minor */
	*dev = major(st.st_dev) << 20 | minor(st.st_dev);
	return 0;
}

static void reload_skipped(const char *svc, const struct pg_allow *a, int err)
{
	if (a->kind == PG_ALLOW_KIND_CGROUP)
		log_warnx("%s: allow cgroup:%s: no such cgroup (%s%s); the rule applies once it "
			  "exists and the guard reloads", svc, a->path, cg_root(), a->path);
	else
		log_warnx("%s: allow exe:%s: %s", svc, a->path, strerror(-err));
}

int reload_apply_policy(void)
{
	static const struct policy_host host = { reload_cgroup_id, reload_exe, reload_skipped };
	static struct pg_allow_key keys[PG_MAX_SERVICES * PG_MAX_ALLOW];
	static uint32_t vals[PG_MAX_SERVICES * PG_MAX_ALLOW];
	const struct pg_config *c = RL.x->cfg;
	struct policy_owner owners[PG_MAX_SERVICES] = { { 0 } };
	struct pg_port *ports = malloc(65536 * sizeof(*ports));
	int i, n, err;

	if (!ports)
		return -ENOMEM;
	for (i = 0; i < c->nsvc; i++) {
		struct pg_service *s = supervise_by_name(c->svc[i].name);

		if (s) {
			owners[i].cgroup_id = s->cgroup_id;
			owners[i].level = policy_cg_level(cg_root(), s->cgpath);
		}
	}
	policy_ports(c, owners, ports);
	err = loader_set_ports(&RL.x->L, ports);
	free(ports);
	if (err)
		return err;
	n = policy_allow(c, &host, keys, vals, PG_MAX_SERVICES * PG_MAX_ALLOW);
	return n < 0 ? n : loader_set_allow(&RL.x->L, keys, vals, n);
}

/* ---- the reload ---- */

static void reload_client_gone(struct ctl_client *c)
{
	if (RL.client == c)
		RL.client = NULL;
}

static void reload_reply(int ok, const char *msg, const char *errors)
{
	if (!RL.client)
		return;
	RL.client->on_close = NULL;
	control_reply(RL.client, encode_reload_reply(ok, msg, errors));
	control_finish(RL.client);
	RL.client = NULL;
}

static void reload_done(void *arg, struct pg_service **started, int n)
{
	struct pg_config *old = RL.x->cfg;
	const char *names[PG_MAX_SERVICES];
	struct pg_ev ev;
	int i, err;

	(void)arg;
	RL.x->cfg = RL.next;
	RL.next = NULL;
	RL.x->reloading = 0;
	reclaim_reset(); /* pending reclaims name services by their old order */
	alerts_set_config(RL.x->cfg);
	agg_set_window(RL.x->cfg->coalesce_ms);
	emit_set_config(RL.x->cfg);
	metrics_set_config(RL.x->cfg);
	spawn_priority(RL.x->cfg->priority_boost);
	/* entries are rewritten in place: no moment without enforcement */
	if ((err = reload_apply_policy()))
		log_warnx("reload: cannot update the port maps: %s", strerror(-err));
	if (RL.x->cfg->mode == PG_MODE_ENFORCE)
		sysctl_reserve_ports(RL.x->cfg);
	for (i = 0; i < n; i++) {
		names[i] = started[i]->conf->name;
		supervise_start(started[i]);
	}
	ev_init(&ev, EV_RELOAD, 0, NULL);
	ev.u.reload.config = RL.x->cfg->path;
	ev.u.reload.started = names;
	ev.u.reload.nstarted = n;
	emit_event(&ev);
	reload_reply(1, "reloaded", NULL);
	config_free(old);
	notify_ready();
	snapshot_notify();
	reload_kick(); /* a SIGHUP during this reload: the file may have changed again */
}

void reload_kick(void)
{
	if (!RL.deferred || RL.x->reloading || restart_busy() || RL.x->shutdown_pending)
		return;
	RL.deferred = 0;
	log_info("reload: the SIGHUP deferred until now");
	reload_start(NULL);
}

/* Two optional strings differ. */
static int reload_differ(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b));
}

/* The settings that only a new guard can take. */
static const char *reload_fixed(const struct pg_config *a, const struct pg_config *b)
{
	static const struct {
		const char *name;
		size_t off;
	} strs[] = {
		{ "control", offsetof(struct pg_config, control) },
		{ "state_dir", offsetof(struct pg_config, state_dir) },
		{ "log_dir", offsetof(struct pg_config, log_dir) },
		{ "bpffs", offsetof(struct pg_config, bpffs) },
		{ "control_group", offsetof(struct pg_config, control_group) },
		{ "metrics_file", offsetof(struct pg_config, metrics_file) },
		{ "metrics_listen", offsetof(struct pg_config, metrics_listen) },
	};
	size_t i;

	if (strcmp(a->name, b->name))
		return "name";
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (reload_differ(*(char *const *)((const char *)a + strs[i].off),
				  *(char *const *)((const char *)b + strs[i].off)))
			return strs[i].name;
	if (a->ring_buffer_kb != b->ring_buffer_kb)
		return "ring_buffer_kb";
	if (a->journal_max != b->journal_max)
		return "journal_max";
	return NULL;
}

/* Why the valid nc cannot replace c in this guard (one line into buf), or NULL. */
static const char *reload_unfit(const struct pg_config *c, const struct pg_config *nc,
				char *buf, size_t len)
{
	const char *fixed = reload_fixed(c, nc);
	char why[256];

	if (fixed)
		snprintf(buf, len, "%s: changing %s needs a new guard (portguard shutdown, then "
			 "portguard run); nothing was changed", c->path, fixed);
	else if (policy_limits(nc, why, sizeof(why)))
		snprintf(buf, len, "%s; nothing was changed", why);
	else
		return NULL;
	return buf;
}

/* Parse the file again: the new config, or NULL and *errors (malloc'd lines). */
static struct pg_config *reload_parse(char **errors)
{
	const struct pg_config *c = RL.x->cfg;
	struct pg_config *nc = NULL;
	size_t len = 0;
	FILE *f = open_memstream(errors, &len);
	char why[512];

	if (!f)
		return NULL;
	if (config_parse(c->path, &nc, f) == 0 && reload_unfit(c, nc, why, sizeof(why))) {
		fprintf(f, "%s\n", why);
		config_free(nc);
		nc = NULL;
	}
	fclose(f);
	return nc;
}

/* The file had errors: each logged, journaled, and told the client. */
static void reload_refused(const char *errors)
{
	const char *p = errors, *nl;
	struct pg_ev ev;

	for (; p && *p; p = nl ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		log_warnx("reload: %.*s", nl ? (int)(nl - p) : (int)strlen(p), p);
	}
	ev_init(&ev, EV_RELOAD_FAILED, 0, NULL);
	ev.u.reload.errors = errors;
	ev_detail(&ev, "the running config is unchanged");
	emit_event(&ev);
	reload_reply(0, "the config has errors; the running config is unchanged", errors);
}

void reload_start(struct ctl_client *c)
{
	struct pg_config *nc;
	char *errors = NULL, msg[256];

	if (!c && (RL.x->reloading || restart_busy()) && !RL.x->shutdown_pending) {
		/* a signal has nobody to tell "try again": kept, and done when that ends */
		if (!RL.deferred)
			log_info("reload (SIGHUP) deferred: a %s is in progress; applied when it ends",
				 RL.x->reloading ? "reload" : "restart");
		RL.deferred = 1;
		return;
	}
	if (RL.x->reloading || restart_busy() || RL.x->shutdown_pending) {
		/* answer the newcomer; a reload in flight keeps its own client */
		log_warnx("reload refused: a reload, restart or shutdown is in progress");
		if (c)
			control_reply(c, encode_error("a reload, restart or shutdown is in progress: "
						      "try again when it ends"));
		return;
	}
	RL.client = c;
	if (c)
		c->on_close = reload_client_gone;
	nc = reload_parse(&errors);
	if (!nc) {
		reload_refused(errors ? errors : "out of memory");
		free(errors);
		return;
	}
	free(errors);
	log_info("reload: %s is valid; applying it", RL.x->cfg->path);
	notify_reloading();
	/* set before: with nothing to stop first, supervise_reload() calls reload_done() at once */
	RL.next = nc;
	RL.x->reloading = 1;
	if (supervise_reload(nc, reload_done, NULL) < 0) {
		RL.next = NULL;
		RL.x->reloading = 0;
		notify_ready(); /* the old config goes on */
		snprintf(msg, sizeof(msg), "%s: more new services than free slots (%d at most); "
			 "nothing was changed", RL.x->cfg->path, PG_MAX_SERVICES);
		log_warnx("reload: %s", msg);
		config_free(nc);
		reload_reply(0, msg, NULL);
	}
}

void reload_close(void)
{
	config_free(RL.next);
	RL.next = NULL;
}
