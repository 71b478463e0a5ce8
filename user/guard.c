/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The guard daemon: kernel events -> claim table -> conflicts -> journal,
 * the supervisor's lifecycle, and the control socket, in one epoll loop.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/time.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "alerts.h"
#include "cgroup.h"
#include "claims.h"
#include "config.h"
#include "control.h"
#include "diag.h"
#include "events.h"
#include "fs.h"
#include "guard.h"
#include "loader.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "notify.h"
#include "report.h"
#include "restart.h"
#include "supervise.h"
#include "sysctl.h"

#define GUARD_RECENT 32

/* Bits of claim.reported: each alert is raised once per socket. */
#define REP_ROGUE (1 << 0)
#define REP_CONFLICT (1 << 1)
#define REP_SHARED (1 << 2)
#define REP_NETNS (1 << 3)

static struct guard {
	struct pg_config *cfg;
	struct loader L;
	struct claims claims;
	uint64_t host_netns;
	int batch_left;			/* events this wake-up may still take (0: no limit) */
	uint64_t events_seen;
	uint64_t lost_seen;
	uint64_t start_ms;
	json_object *recent[GUARD_RECENT]; /* last conflicts, a ring */
	int nrecent;
	struct pg_watch ring_w;
	struct pg_watch sig_w;
	uint32_t denied[65536];	/* binds denied in the kernel, per port */
	int need_resync;
	int lock_fd;
	struct pg_config *reloading;	/* the new config while services stop */
	struct ctl_client *reload_client;
	struct pg_timer reclaim_timer[PG_MAX_SERVICES]; /* a reclaim waiting for its turn */
	int reclaims[PG_MAX_SERVICES];		       /* reclaims in a row, for the backoff */
	int reclaim_armed[PG_MAX_SERVICES];	       /* a reclaim is already scheduled */
	uint64_t reclaim_ms[PG_MAX_SERVICES];	       /* when the last one started */
	int shutdown_pending;
	struct ctl_client *shutdown_client;
	int exit_code;
} G;

const struct pg_config *guard_config(void)
{
	return G.cfg;
}

struct claims *guard_claims_table(void)
{
	return &G.claims;
}

uint64_t guard_host_netns(void)
{
	return G.host_netns;
}

static void guard_maybe_reclaim(struct pg_service *s);
static void guard_reload(struct ctl_client *c);
static void guard_notify_status(void);
static void guard_port_value(int port, struct pg_port *v);
static int guard_allow_rules(void);

static const char *guard_svc_of(uint64_t cgid)
{
	struct pg_service *s = cgid ? supervise_by_cgroup(cgid) : NULL;

	return s ? s->conf->name : NULL;
}

static int guard_is_conflict(const char *type)
{
	return !strcmp(type, "rogue_bind") || !strcmp(type, "port_conflict") ||
	       !strcmp(type, "port_shared") || !strcmp(type, "events_lost") ||
	       !strcmp(type, "bind_denied") || !strcmp(type, "reclaim") ||
	       !strcmp(type, "autobind_killed");
}

/* The journal first (so no alert is lost), then stderr, followers, syslog, alert_command. */
static void guard_publish(json_object *ev)
{
	const char *type = json_object_get_string(json_object_object_get(ev, "type"));
	int err = journal_write(ev);

	if (err)
		log_warnx("journal write failed: %s", strerror(-err));
	fprintf(stderr, "%s\n", json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN));
	clearerr(stderr);
	control_broadcast(ev);
	alerts_deliver(ev);
	if (guard_is_conflict(type)) {
		int i = G.nrecent++ % GUARD_RECENT;

		json_object_put(G.recent[i]);
		G.recent[i] = json_object_get(ev);
	}
	json_object_put(ev);
}

/* Counted by the metrics as it is; repeated identical alerts are coalesced. */
void guard_emit_json(json_object *ev)
{
	metrics_count(ev);
	if (alerts_coalesce(ev))
		guard_publish(ev);
	else
		json_object_put(ev);
}

static json_object *guard_kevent(const char *type, const struct pg_event *e, const char *service)
{
	return events_from_kernel(type, e, events_boot_to_real_us(e->ts_ns), service);
}

/* ---- claim table upkeep ---- */

/* Re-read the truth for the host's namespace: one sock_diag dump. */
static void guard_resync(const char *why)
{
	struct diag_result r = { 0 };
	uint8_t *want = calloc(65536, 1);
	int i, err;

	if (!want)
		return;
	for (i = 1; i < 65536; i++)
		want[i] = G.cfg->guarded[i] | G.cfg->protected_[i];
	err = diag_dump(want, 0, &r);
	free(want);
	if (err) {
		log_warnx("sock_diag re-sync (%s) failed: %s", why, strerror(-err));
		return;
	}
	/*
	 * Gone: holding claims of the host namespace not in the dump, and any
	 * claim whose socket the kernel no longer tracks (its release was lost).
	 */
	for (i = 0; i < G.claims.n;) {
		struct claim *c = &G.claims.v[i];
		int j, found = 0;

		for (j = 0; j < r.n && !found; j++)
			found = r.socks[j].cookie == c->cookie;
		if ((c->netns == G.host_netns && claim_is_holding(c) && !found) ||
		    !loader_socket_tracked(&G.L, c->cookie))
			claims_remove(&G.claims, c->cookie);
		else
			i++;
	}
	report_claims_from_diag(&G.claims, &r, G.host_netns);
	for (i = 0; i < r.n; i++) { /* from now on the kernel reports their release */
		int k;

		loader_watch_socket(&G.L, r.socks[i].cookie, r.socks[i].port, r.socks[i].family,
				    r.socks[i].proto);
		for (k = 0; k < r.socks[i].nholders; k++)
			loader_watch_pid(&G.L, r.socks[i].holders[k].pid);
	}
	log_debug("re-synced the claim table (%s): %d sockets", why, r.n);
	diag_free(&r);
}

/*
 * Holders that may have closed their copy of a socket without a release (the
 * socket lives on in others, so the kernel says nothing): check them against
 * /proc/<pid>/fd by the socket's inode. pid 0: every holder of every socket
 * with several holders (before `status` answers); else that process alone,
 * after its exec closed its close-on-exec sockets.
 */
static int guard_check_applies(const struct claim *c, uint32_t pid)
{
	if (c->netns != G.host_netns)
		return 0;
	return pid ? claim_has_holder(c, pid) : c->nholders > 1;
}

static void guard_check_holders(uint32_t pid)
{
	struct diag_result r = { 0 };
	uint8_t *want = calloc(65536, 1);
	int i, j, k, any = 0;

	for (i = 0; want && i < G.claims.n; i++)
		if (guard_check_applies(&G.claims.v[i], pid))
			any = want[G.claims.v[i].port] = 1;
	if (!any || diag_dump(want, 1, &r) != 0) {
		free(want);
		return;
	}
	for (i = 0; i < G.claims.n; i++) {
		struct claim *c = &G.claims.v[i];

		if (!guard_check_applies(c, pid))
			continue;
		for (j = 0; j < r.n && r.socks[j].cookie != c->cookie; j++)
			;
		if (j == r.n)
			continue;
		for (k = 0; k < c->nholders;) {
			if ((pid && c->holders[k].pid != pid) ||
			    diag_pid_has_inode(c->holders[k].pid, r.socks[j].inode))
				k++;
			else
				c->holders[k] = c->holders[--c->nholders];
		}
	}
	diag_free(&r);
	free(want);
}

static struct claim_holder guard_holder(const struct pg_event *e)
{
	struct claim_holder h = { .pid = e->tgid, .uid = e->uid, .cgroup_id = e->cgroup_id };

	memcpy(h.comm, e->comm, sizeof(h.comm));
	h.comm[sizeof(h.comm) - 1] = 0;
	return h;
}

static struct claim *guard_claim(const struct pg_event *e)
{
	struct claim *c = claims_upsert(&G.claims, e->cookie);
	struct claim_holder h = guard_holder(e);
	int fresh;

	if (!c)
		return NULL;
	fresh = !c->port;
	if (e->kind == PG_EV_BIND_ATTEMPT && (e->verdict & PG_VERDICT_ALLOWED))
		c->allowed = 1; /* the kernel matched an allow rule */
	c->netns = e->netns;
	c->port = e->port;
	c->family = e->family;
	c->proto = e->proto;
	c->reuseport = e->reuseport;
	memcpy(c->addr, e->addr, sizeof(c->addr));
	if (fresh) {
		c->ts_ns = e->ts_ns;
		c->cgroup_id = e->cgroup_id;
	}
	claim_add_holder(c, &h);
	return c;
}

/* ---- conflicts ---- */

/* cgid is s's cgroup or one below it (what the kernel's deny check allows too). */
static int guard_is_owner(const struct pg_service *s, uint64_t cgid)
{
	return s && cgid && (s->cgroup_id == cgid || supervise_by_cgroup(cgid) == s);
}

static void guard_rogue(struct claim *c, const struct pg_event *e, const struct pg_exe *exe,
			const char *stage)
{
	struct pg_service *owner = supervise_by_port(e->port);
	json_object *ev;

	if (!G.cfg->guarded[e->port] || (c->reported & REP_ROGUE))
		return;
	if (e->netns != G.host_netns) {
		if (c->reported & REP_NETNS)
			return;
		c->reported |= REP_NETNS;
		ev = guard_kevent("netns_claim", e, owner ? owner->conf->name : NULL);
		json_object_object_add(ev, "detail", json_object_new_string(
			"claim in another network namespace: reported, no conflict with the host"));
		guard_emit_json(ev);
		return;
	}
	if (guard_is_owner(owner, e->cgroup_id) || c->allowed)
		return;
	c->reported |= REP_ROGUE;
	ev = guard_kevent("rogue_bind", e, owner ? owner->conf->name : NULL);
	json_object_object_add(ev, "stage", json_object_new_string(stage));
	events_add_exe(ev, exe, e->tgid);
	json_object_object_add(ev, "detail", json_object_new_string(
		owner ? "process outside the owner's cgroup" : "reserved port: no service owns it"));
	guard_emit_json(ev);
}

/* Holding claims of others on the same port, protocol and namespace that overlap c. */
static struct claim *guard_other_holder(const struct claim *c, const struct pg_service *owner,
					int listeners_only)
{
	int i;

	for (i = 0; i < G.claims.n; i++) {
		struct claim *o = &G.claims.v[i];

		if (o == c || o->port != c->port || o->proto != c->proto || o->netns != c->netns)
			continue;
		if (o->state < CLAIM_BOUND || (listeners_only && !claim_is_holding(o)))
			continue;
		if (guard_is_owner(owner, o->cgroup_id) || !claim_addr_overlap(c, o))
			continue;
		return o;
	}
	return NULL;
}

/* Does a bound socket of the owner itself overlap c (its own bind was in the way)? */
static int guard_owner_holds(const struct claim *c, const struct pg_service *owner)
{
	int i;

	for (i = 0; i < G.claims.n; i++) {
		struct claim *o = &G.claims.v[i];

		if (o != c && o->port == c->port && o->proto == c->proto && o->netns == c->netns &&
		    o->state >= CLAIM_BOUND && guard_is_owner(owner, o->cgroup_id) &&
		    claim_addr_overlap(c, o))
			return 1;
	}
	return 0;
}

static void guard_conflict(struct claim *c, const struct pg_event *e, struct pg_service *owner,
			   const struct claim *holder)
{
	json_object *ev;

	if (c->reported & REP_CONFLICT)
		return;
	c->reported |= REP_CONFLICT;
	ev = guard_kevent("port_conflict", e, owner->conf->name);
	if (holder) {
		json_object_object_add(ev, "holders", events_claim_holders(holder, guard_svc_of));
		json_object_object_add(ev, "detail", json_object_new_string(
			"the owner cannot bind: the port is held by another process"));
	} else {
		json_object_object_add(ev, "holders", json_object_new_array());
		json_object_object_add(ev, "detail", json_object_new_string(
			"the owner's bind failed and nothing live holds the port "
			"(TIME_WAIT or a socket being torn down)"));
	}
	guard_emit_json(ev);
}

static void guard_shared(struct claim *c, const struct pg_event *e)
{
	struct pg_service *owner = supervise_by_port(e->port);
	struct claim *o;
	json_object *ev;
	int i, mine = guard_is_owner(owner, c->cgroup_id), owner_listens = mine;

	if (!G.cfg->guarded[e->port] || (c->reported & REP_SHARED) || e->netns != G.host_netns ||
	    c->allowed)
		return;
	/* Shared = the owner and someone else listen on the port at once. */
	o = guard_other_holder(c, mine ? owner : NULL, 1);
	for (i = 0; !owner_listens && i < G.claims.n; i++) {
		struct claim *x = &G.claims.v[i];

		owner_listens = x != c && x->port == c->port && x->proto == c->proto &&
				claim_is_holding(x) && guard_is_owner(owner, x->cgroup_id) &&
				x->netns == c->netns;
	}
	if (!owner || !owner_listens || (mine && !o))
		return;
	if (!mine)
		o = c;
	c->reported |= REP_SHARED;
	ev = guard_kevent("port_shared", e, owner->conf->name);
	json_object_object_add(ev, "holders", events_claim_holders(o, guard_svc_of));
	json_object_object_add(ev, "detail", json_object_new_string(
		"a second listener shares the owner's port through SO_REUSEPORT"));
	guard_emit_json(ev);
}

/* ---- kernel events ---- */

static void guard_listen_state(const struct claim *c)
{
	struct pg_service *s = supervise_by_port(c->port);
	int i;

	if (!s || c->netns != G.host_netns || c->proto != IPPROTO_TCP)
		return;
	for (i = 0; i < G.claims.n; i++) {
		struct claim *x = &G.claims.v[i];

		if (x->port == c->port && x->state == CLAIM_LISTEN && x->netns == G.host_netns &&
		    guard_is_owner(s, x->cgroup_id)) {
			if (!s->listening)
				supervise_listen_seen(s);
			return;
		}
	}
	if (s->listening)
		supervise_listen_gone(s);
}

static void guard_on_bind_attempt(const struct pg_event *e, const struct pg_exe *exe)
{
	struct pg_service *owner = supervise_by_port(e->port);
	struct claim *c = guard_claim(e), *other;

	if (!c)
		return;
	if (guard_is_owner(owner, e->cgroup_id) && e->netns == G.host_netns) {
		other = guard_other_holder(c, owner, 0);
		if (other && !(other->reuseport && c->reuseport))
			guard_conflict(c, e, owner, other);
		return;
	}
	guard_rogue(c, e, exe, "bind");
}

static void guard_on_bind(const struct pg_event *e)
{
	struct claim *c = guard_claim(e);

	if (!c)
		return;
	if (c->state < CLAIM_BOUND)
		c->state = CLAIM_BOUND;
	guard_emit_json(guard_kevent("bind", e, guard_svc_of(e->cgroup_id)));
	guard_rogue(c, e, NULL, "bind");
	if (c->proto == IPPROTO_UDP) {
		guard_shared(c, e);
		if (supervise_by_port(e->port))
			guard_maybe_reclaim(supervise_by_port(e->port));
	}
}

static const char *guard_kill_binder(const struct pg_event *e);

static void guard_on_listen(const struct pg_event *e)
{
	struct claim *c = guard_claim(e);

	if (!c)
		return;
	c->state = CLAIM_LISTEN;
	guard_emit_json(guard_kevent("listen", e, guard_svc_of(e->cgroup_id)));
	guard_rogue(c, e, NULL, "listen");
	/*
	 * listen() without bind() got a guarded port (the kernel cannot refuse
	 * that one): in enforce mode the listener is stopped instead.
	 */
	if (e->child == 1 && e->netns == G.host_netns && G.cfg->guarded[e->port] &&
	    G.cfg->mode == PG_MODE_ENFORCE && config_port_policy(G.cfg, e->port) != PG_ROGUE_ALERT &&
	    !guard_is_owner(supervise_by_port(e->port), e->cgroup_id)) {
		json_object *ev = guard_kevent("autobind_killed", e, NULL);

		json_object_object_add(ev, "action", json_object_new_string(guard_kill_binder(e)));
		json_object_object_add(ev, "detail", json_object_new_string(
			"listen() without bind() was given a guarded port: the listener was stopped"));
		guard_emit_json(ev);
	}
	guard_shared(c, e);
	guard_listen_state(c);
	if (supervise_by_port(e->port)) /* taken while its owner was down? */
		guard_maybe_reclaim(supervise_by_port(e->port));
}

static void guard_on_unlisten(const struct pg_event *e)
{
	struct claim *c = claims_find(&G.claims, e->cookie);

	if (!c)
		return; /* released first: already handled */
	c->state = CLAIM_BOUND;
	guard_emit_json(guard_kevent("unlisten", e, guard_svc_of(c->cgroup_id)));
	guard_listen_state(c);
}

static void guard_on_release(const struct pg_event *e)
{
	struct claim *c = claims_find(&G.claims, e->cookie), copy;
	struct pg_service *owner = supervise_by_port(e->port);

	if (!c)
		return;
	copy = *c;
	claims_remove(&G.claims, e->cookie);
	if (!e->child && guard_is_owner(owner, copy.cgroup_id) && copy.netns == G.host_netns) {
		struct claim *other = guard_other_holder(&copy, owner, 0);

		/* the service's own socket in the way (a second bind of its own): not a conflict */
		if (other || !guard_owner_holds(&copy, owner))
			guard_conflict(&copy, e, owner, other);
	}
	if (e->child) {
		struct pg_event full = *e; /* the kernel knows no address at release */

		memcpy(full.addr, copy.addr, sizeof(full.addr));
		guard_emit_json(guard_kevent("release", &full, guard_svc_of(copy.cgroup_id)));
	}
	guard_listen_state(&copy);
}

/* The process's start time in boot-clock ns, 0 if unknown. */
static uint64_t guard_start_ns(uint32_t pid)
{
	return diag_proc_stat(pid, 22) * (1000000000ULL / sysconf(_SC_CLK_TCK));
}

static int guard_comm_is(uint32_t pid, const char *comm)
{
	char path[64], buf[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
	return !strncmp(buf, comm, PG_COMM_LEN - 1);
}

/* on_rogue = kill: SIGKILL the binder, if the pid is still the process that bound. */
static const char *guard_kill_binder(const struct pg_event *e)
{
	int fd = syscall(SYS_pidfd_open, e->tgid, 0);
	uint64_t start;

	if (fd < 0)
		return "gone";
	start = guard_start_ns(e->tgid); /* after the pidfd: the pid cannot change now */
	/* start times are clock ticks: within one tick, the name must match too */
	if (e->tgid <= 1 || e->tgid == (uint32_t)getpid() || !start || start > e->ts_ns ||
	    !guard_comm_is(e->tgid, e->comm)) {
		close(fd);
		return "not killed: the pid is no longer the binder";
	}
	if (syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) < 0) {
		close(fd);
		return "kill failed";
	}
	close(fd);
	return "killed";
}

static void guard_on_denied(const struct pg_event *e, const struct pg_exe *exe)
{
	struct pg_service *owner = supervise_by_port(e->port);
	json_object *ev = guard_kevent("bind_denied", e, owner ? owner->conf->name : NULL);
	char cg[PATH_MAX];

	events_add_exe(ev, exe, e->tgid);
	json_object_object_add(ev, "cgroup", cg_path_of_id(e->cgroup_id, cg, sizeof(cg)) == 0 ||
						     cg_of_pid(e->tgid, cg, sizeof(cg)) == 0
						     ? json_object_new_string(cg) : NULL);
	json_object_object_add(ev, "owner", owner ? json_object_new_string(owner->conf->name)
						  : NULL);
	G.denied[e->port]++;
	if (config_port_policy(G.cfg, e->port) == PG_ROGUE_KILL)
		json_object_object_add(ev, "action", json_object_new_string(guard_kill_binder(e)));
	else
		json_object_object_add(ev, "action", json_object_new_string("denied"));
	guard_emit_json(ev);
}

static int guard_on_kevent(void *ctx, void *data, size_t size)
{
	const struct pg_event *e = data;
	const struct pg_exe *exe = NULL;
	int stop = 0;

	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	if (size >= sizeof(struct pg_event_exe))
		exe = &((const struct pg_event_exe *)data)->exe;
	G.events_seen++;
	if (G.batch_left && !--G.batch_left)
		stop = -EAGAIN; /* this one is handled, then back to the loop */
	metrics_kernel_event(e->kind);
	if (e->lost_total > G.lost_seen)
		G.need_resync = 1; /* one re-sync after the batch, not one per event */
	switch (e->kind) {
	case PG_EV_BIND_DENIED:
		guard_on_denied(e, exe);
		break;
	case PG_EV_BIND_ATTEMPT:
		guard_on_bind_attempt(e, exe);
		break;
	case PG_EV_BIND:
		guard_on_bind(e);
		break;
	case PG_EV_LISTEN:
		guard_on_listen(e);
		break;
	case PG_EV_LISTEN_CLOSE:
		guard_on_unlisten(e);
		break;
	case PG_EV_RELEASE:
		guard_on_release(e);
		break;
	case PG_EV_FORK:
		claims_fork(&G.claims, e->tgid, e->child, NULL);
		break;
	case PG_EV_EXEC:
		guard_check_holders(e->tgid);
		break;
	case PG_EV_EXIT:
		claims_drop_pid(&G.claims, e->tgid);
		break;
	}
	if (e->kind == PG_EV_RELEASE || e->kind == PG_EV_LISTEN_CLOSE)
		restart_on_claims();
	return stop;
}

/*
 * After a batch: did the kernel lose events (even if no later event says
 * so)? The count journaled is the pinned counters' growth since the last
 * report, by this guard or an earlier one: losses while no guard ran are
 * journaled by the next.
 */
static void guard_check_lost(int start)
{
	uint64_t total = loader_lost_total(&G.L), counted, reported;
	int grew = total > G.lost_seen;
	json_object *ev;

	if (!start && !grew && !G.need_resync)
		return;
	G.lost_seen = total;
	counted = loader_lost_counted(&G.L);
	reported = loader_lost_reported(&G.L);
	if (counted > reported) {
		ev = events_new("events_lost", events_now_us(), NULL);
		json_object_object_add(ev, "count", json_object_new_int64(counted - reported));
		json_object_object_add(ev, "detail", json_object_new_string(
			start ? "the kernel ring buffer was full while no guard read it; the claim "
				"table was re-synced"
			      : "the kernel ring buffer was full; the claim table was re-synced"));
		guard_emit_json(ev); /* then the record: a crash between journals it twice, never not */
		loader_set_lost_reported(&G.L, counted);
	} else {
		if (counted < reported) /* counters that started over (a kind went) */
			loader_set_lost_reported(&G.L, counted);
		if (!grew && !G.need_resync)
			return;
	}
	G.need_resync = 0;
	guard_resync("events lost");
}

/*
 * At most GUARD_RING_BATCH events per wake-up: a storm must not keep the
 * loop from the control socket, the timers and the services (the ring fd
 * stays readable while events are left, so the next epoll_wait comes back).
 */
#define GUARD_RING_BATCH 4096

static void guard_ring_ready(struct pg_watch *w, uint32_t events)
{
	(void)w;
	(void)events;
	G.batch_left = GUARD_RING_BATCH;
	loader_consume(&G.L);
	G.batch_left = 0;
	guard_check_lost(0);
	guard_notify_status();
}

/*
 * At start-up, before the loop runs: one batch. The rest of a backlog (a
 * full ring is 8 MiB, some 75,000 events), or a storm that goes on, is the
 * loop's, batch by batch, with the control socket answering between.
 */
static void guard_consume_backlog(void)
{
	uint64_t seen = G.events_seen;

	G.batch_left = GUARD_RING_BATCH;
	loader_consume(&G.L);
	G.batch_left = 0;
	guard_check_lost(1);
	/* read after the seed, an old bind can add a claim whose release is still
	 * to come: the table is made true again before anything acts on it */
	if (G.events_seen != seen)
		guard_resync("backlog");
}

/* ---- reclaim ---- */

static int guard_svc_index(const struct pg_service *s)
{
	int i;

	for (i = 0; i < supervise_count(); i++)
		if (supervise_get(i) == s)
			return i;
	return -1;
}

/* A holding claim on s's port in the host's namespace that is not s's. */
static struct claim *guard_port_stolen(const struct pg_service *s)
{
	int i;

	for (i = 0; i < G.claims.n; i++) {
		struct claim *c = &G.claims.v[i];

		if (c->port == s->conf->port && c->netns == G.host_netns && claim_is_holding(c) &&
		    !guard_is_owner(s, c->cgroup_id) && !c->allowed) /* allowed: never flushed */
			return c;
	}
	return NULL;
}

static void guard_reclaim_now(struct pg_timer *t);

/*
 * on_conflict = reclaim (enforce mode): the owner's port is held by someone
 * else while the owner is not serving it: flush that port (same safety rules
 * as restart), restart the owner, verify. A holder that keeps coming back is
 * reclaimed with an exponential backoff and an alert, never in a hot loop.
 */
static void guard_maybe_reclaim(struct pg_service *s)
{
	int i = guard_svc_index(s);
	struct claim *c;
	uint64_t delay = 0, now = now_ms();
	json_object *ev;

	if (i < 0 || !s->conf->port || s->conf->type != PG_SVC_HTTP || !G.cfg->reclaim ||
	    G.cfg->mode != PG_MODE_ENFORCE || G.shutdown_pending || G.reclaim_armed[i])
		return; /* not ours to reclaim, or one is already on its way */
	if ((s->state == SVC_RUNNING && s->listening) || s->want_stop || !(c = guard_port_stolen(s)))
		return; /* serving, stopped on purpose, or not stolen */
	if (G.reclaim_timer[i].w.fd < 0 && timer_init(&G.reclaim_timer[i], guard_reclaim_now, s))
		return;
	G.reclaim_timer[i].arg = s; /* indexes follow the service order, which a reload changes */
	G.reclaim_armed[i] = 1;
	if (now - G.reclaim_ms[i] > 300000)
		G.reclaims[i] = 0; /* quiet for 5 minutes: start over */
	if (G.reclaims[i] > 0)
		delay = 1000ULL << (G.reclaims[i] > 6 ? 6 : G.reclaims[i] - 1);
	ev = events_new(delay ? "reclaim_backoff" : "reclaim", events_now_us(), s->conf->name);
	json_object_object_add(ev, "port", json_object_new_int(s->conf->port));
	json_object_object_add(ev, "holders", events_claim_holders(c, guard_svc_of));
	json_object_object_add(ev, "attempt", json_object_new_int(G.reclaims[i] + 1));
	if (delay) {
		json_object_object_add(ev, "delay_ms", json_object_new_int64(delay));
		json_object_object_add(ev, "detail", json_object_new_string(
			"the port was taken again after a reclaim: backing off"));
	}
	guard_emit_json(ev);
	timer_arm_ms(&G.reclaim_timer[i], delay);
}

static void guard_reclaim_now(struct pg_timer *t)
{
	struct pg_service *s = t->arg;
	int i = guard_svc_index(s);

	if (i < 0)
		return;
	G.reclaim_armed[i] = 0;
	/* what held when it was scheduled may not hold now (up to 64 s later) */
	if (s->want_stop || G.shutdown_pending || !G.cfg->reclaim || G.cfg->mode != PG_MODE_ENFORCE ||
	    !guard_port_stolen(s) || (s->state == SVC_RUNNING && s->listening))
		return;
	if (G.reloading || restart_reclaim(s) == -EBUSY) {
		G.reclaim_armed[i] = 1;
		timer_arm_ms(t, 200); /* another job runs: take the next turn */
		return;
	}
	G.reclaims[i]++;
	G.reclaim_ms[i] = now_ms();
}

static void guard_job_done(const char *mode, struct pg_service **svc, int n, int ok)
{
	int i;

	if (strcmp(mode, "reclaim")) { /* a restart by hand also settles stolen ports */
		for (i = 0; i < n; i++)
			guard_maybe_reclaim(svc[i]);
		return;
	}
	/* a failed reclaim must not leave the owner stopped: its policy takes over again */
	for (i = 0; !ok && i < n; i++)
		if (svc[i]->state == SVC_STOPPED && svc[i]->want_stop && !G.shutdown_pending)
			supervise_start(svc[i]);
}

/* ---- supervisor notifications ---- */

/* The service manager's one-line STATUS= (systemctl status), kept current. */
static void guard_notify_status(void)
{
	int i, running = 0, n = supervise_count();
	uint64_t denied = 0;
	char line[200];

	if (!G.cfg)
		return;
	for (i = 0; i < n; i++)
		running += supervise_get(i)->state == SVC_RUNNING;
	for (i = 1; i < 65536; i++)
		denied += G.denied[i];
	snprintf(line, sizeof(line), "%s, %s: %d/%d services running, %llu binds denied, "
		 "%llu events lost", G.cfg->name, G.cfg->mode == PG_MODE_ENFORCE ? "enforce" :
		 "observe", running, n, (unsigned long long)denied,
		 (unsigned long long)G.lost_seen);
	notify_status(line);
}

static void guard_on_service(const char *type, struct pg_service *s, const char *detail)
{
	json_object *ev = events_new(type, events_now_us(), s->conf->name);

	if (s->conf->port)
		json_object_object_add(ev, "port", json_object_new_int(s->conf->port));
	json_object_object_add(ev, "pid", s->pid ? json_object_new_int64(s->pid) : NULL);
	json_object_object_add(ev, "state", json_object_new_string(svc_state_name(s->state)));
	if (detail)
		json_object_object_add(ev, "detail", json_object_new_string(detail));
	guard_emit_json(ev);
	restart_on_service(type, s);
	guard_notify_status();
	if (!strcmp(type, "service_exit") || !strcmp(type, "service_backoff") ||
	    !strcmp(type, "service_fatal"))
		guard_maybe_reclaim(s);
}

/* ---- status ---- */

/* The newest recent conflict on port, or NULL. */
static json_object *guard_last_conflict(int port)
{
	int i, n = G.nrecent < GUARD_RECENT ? G.nrecent : GUARD_RECENT;

	for (i = G.nrecent - 1; i >= G.nrecent - n; i--) {
		json_object *ev = G.recent[i % GUARD_RECENT];
		json_object *p = json_object_object_get(ev, "port");

		if (p && json_object_get_int(p) == port)
			return json_object_get(ev);
	}
	return NULL;
}

/* Every claim in the table (all namespaces), for tests and debugging. */
static json_object *guard_claims_json(void)
{
	static const char *states[] = { "attempt", "bound", "listen" };
	json_object *a = json_object_new_array();
	char addr[64];
	int i, j;

	for (i = 0; i < G.claims.n; i++) {
		struct claim *c = &G.claims.v[i];
		json_object *o = json_object_new_object(), *pids = json_object_new_array();

		json_object_object_add(o, "cookie", json_object_new_int64((int64_t)c->cookie));
		json_object_object_add(o, "host", json_object_new_boolean(c->netns == G.host_netns));
		json_object_object_add(o, "netns", json_object_new_int64((int64_t)c->netns));
		json_object_object_add(o, "port", json_object_new_int(c->port));
		json_object_object_add(o, "proto", json_object_new_string(events_proto_name(c->proto)));
		json_object_object_add(o, "addr", json_object_new_string(
						  claim_addr_str(c, addr, sizeof(addr))));
		json_object_object_add(o, "state", json_object_new_string(states[c->state]));
		json_object_object_add(o, "holding", json_object_new_boolean(claim_is_holding(c)));
		json_object_object_add(o, "reuseport", json_object_new_boolean(c->reuseport));
		for (j = 0; j < c->nholders; j++)
			json_object_array_add(pids, json_object_new_int64(c->holders[j].pid));
		json_object_object_add(o, "pids", pids);
		json_object_array_add(a, o);
	}
	return a;
}

json_object *guard_status_json(void)
{
	json_object *st = json_object_new_object(), *g = json_object_new_object();
	json_object *svcs = json_object_new_array(), *conf = json_object_new_array(), *ports;
	uint64_t lost[PG_EV_KIND_MAX] = { 0 }, sent[PG_EV_KIND_MAX] = { 0 }, nlost = 0;
	int i, healthy = 1, n;

	guard_check_holders(0);
	loader_counters(&G.L, lost, sent);
	for (i = 0; i < PG_EV_KIND_MAX; i++)
		nlost += lost[i];
	json_object_object_add(g, "running", json_object_new_boolean(1));
	json_object_object_add(g, "name", json_object_new_string(G.cfg->name));
	json_object_object_add(g, "pid", json_object_new_int64(getpid()));
	json_object_object_add(g, "mode", json_object_new_string(
					  G.cfg->mode == PG_MODE_OBSERVE ? "observe" : "enforce"));
	json_object_object_add(g, "uptime_s", json_object_new_int64((now_ms() - G.start_ms) / 1000));
	json_object_object_add(g, "events", json_object_new_int64(G.events_seen));
	json_object_object_add(g, "lost", json_object_new_int64(nlost));
	json_object_object_add(g, "layout", json_object_new_int(PG_LAYOUT));
	json_object_object_add(g, "config", json_object_new_string(G.cfg->path));
	json_object_object_add(g, "cgroup", json_object_new_string(supervise_instance_cgroup()));
	json_object_object_add(st, "guard", g);

	for (i = 0; i < supervise_count(); i++) {
		struct pg_service *s = supervise_get(i);
		json_object *o = json_object_new_object();
		int64_t up = s->state == SVC_RUNNING ? (int64_t)time(NULL) - s->start_wall_s : 0;

		json_object_object_add(o, "name", json_object_new_string(s->conf->name));
		json_object_object_add(o, "state", json_object_new_string(svc_state_name(s->state)));
		json_object_object_add(o, "pid", s->pid ? json_object_new_int64(s->pid) : NULL);
		json_object_object_add(o, "port", s->conf->port ? json_object_new_int(s->conf->port)
								: NULL);
		json_object_object_add(o, "type", json_object_new_string(
			s->conf->type == PG_SVC_HTTP ? "http" : "background"));
		json_object_object_add(o, "listening", json_object_new_boolean(s->listening));
		json_object_object_add(o, "uptime_s", json_object_new_int64(up < 0 ? 0 : up));
		json_object_object_add(o, "restarts", json_object_new_int(s->restarts));
		json_object_array_add(svcs, o);
		healthy &= s->state == SVC_RUNNING;
	}
	json_object_object_add(st, "services", svcs);
	ports = report_ports(G.cfg, &G.claims, G.host_netns, guard_svc_of);
	for (i = 0; i < (int)json_object_array_length(ports); i++) {
		json_object *p = json_object_array_get_idx(ports, i);
		int port = json_object_get_int(json_object_object_get(p, "port"));

		json_object_object_add(p, "denied", json_object_new_int64(G.denied[port]));
		json_object_object_add(p, "last_conflict", guard_last_conflict(port));
	}
	healthy &= report_ports_ok(ports);
	json_object_object_add(st, "ports", ports);
	n = G.nrecent < GUARD_RECENT ? G.nrecent : GUARD_RECENT;
	for (i = G.nrecent - n; i < G.nrecent; i++)
		json_object_array_add(conf, json_object_get(G.recent[i % GUARD_RECENT]));
	json_object_object_add(st, "conflicts", conf);
	json_object_object_add(st, "claims", guard_claims_json());
	json_object_object_add(st, "healthy", json_object_new_boolean(healthy));
	return st;
}

/* ---- control requests ---- */

static json_object *guard_error(const char *msg)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	return o;
}

static void guard_shutdown_client_gone(struct ctl_client *c)
{
	if (G.shutdown_client == c)
		G.shutdown_client = NULL;
}

static void guard_shutdown_done(void *arg)
{
	int err;

	(void)arg;
	supervise_remove_cgroups();
	sysctl_unreserve_ports(G.cfg);
	err = loader_remove_pins(G.cfg->bpffs, G.cfg->name);
	if (err)
		log_warnx("cannot remove the pins in %s/portguard/%s: %s", G.cfg->bpffs,
			  G.cfg->name, strerror(-err));
	if (G.shutdown_client) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "ok", json_object_new_boolean(1));
		G.shutdown_client->on_close = NULL;
		control_reply(G.shutdown_client, o);
		json_object_put(o);
	}
	log_info("shutdown: every service stopped, the guard exits");
	notify_stopping();
	loop_stop();
}

static int guard_request(struct ctl_client *c, json_object *req)
{
	json_object *cmdv, *r;
	const char *cmd;
	int keep = 0;

	if (!json_object_object_get_ex(req, "cmd", &cmdv) || !cmdv ||
	    !json_object_is_type(cmdv, json_type_string)) {
		r = guard_error("missing or non-string \"cmd\"");
	} else if (!strcmp(cmd = json_object_get_string(cmdv), "status")) {
		r = guard_status_json();
	} else if (!strcmp(cmd, "events") &&
		   !json_object_get_boolean(json_object_object_get(req, "follow"))) {
		r = guard_error("events: only {\"follow\": true} is served here; the journal is "
				"state_dir/events.jsonl");
	} else if (!strcmp(cmd, "events")) {
		c->follow = 1;
		r = json_object_new_object();
		json_object_object_add(r, "ok", json_object_new_boolean(1));
		keep = 1;
	} else if ((!strcmp(cmd, "restart") || !strcmp(cmd, "stop") || !strcmp(cmd, "start")) &&
		   G.reloading) {
		r = guard_error("a reload is in progress: try again when it ends");
	} else if (!strcmp(cmd, "restart") || !strcmp(cmd, "stop") || !strcmp(cmd, "start")) {
		return restart_request(c, cmd, req);
	} else if (!strcmp(cmd, "reload")) {
		if (c->uid != 0) {
			r = guard_error("reload changes state: it requires root");
		} else {
			guard_reload(c);
			return G.reload_client == c; /* answered later, or already */
		}
	} else if (!strcmp(cmd, "shutdown")) {
		if (c->uid != 0)
			r = guard_error("shutdown changes state: it requires root");
		else if (G.shutdown_pending)
			r = guard_error("a shutdown is already in progress");
		else if (restart_busy())
			r = guard_error("a restart is running: shut down when it ends");
		else {
			G.shutdown_pending = 1;
			G.shutdown_client = c;
			for (int k = 0; k < PG_MAX_SERVICES; k++) {
				timer_disarm(&G.reclaim_timer[k]);
				G.reclaim_armed[k] = 0;
			}
			c->on_close = guard_shutdown_client_gone;
			log_info("shutdown requested by pid %d: stopping every service", (int)c->pid);
			supervise_stop_all(guard_shutdown_done, NULL);
			return 1; /* answered when done */
		}
	} else {
		char msg[128];

		snprintf(msg, sizeof(msg), "unknown command \"%.64s\"", cmd);
		r = guard_error(msg);
	}
	if (control_reply(c, r) < 0)
		keep = 0;
	json_object_put(r);
	return keep;
}

/* ---- reload ---- */

static void guard_reload_client_gone(struct ctl_client *c)
{
	if (G.reload_client == c)
		G.reload_client = NULL;
}

static void guard_reload_reply(int ok, json_object *errors, const char *msg)
{
	json_object *r = json_object_new_object();

	json_object_object_add(r, "ok", json_object_new_boolean(ok));
	if (msg)
		json_object_object_add(r, ok ? "detail" : "error", json_object_new_string(msg));
	if (errors)
		json_object_object_add(r, "errors", json_object_get(errors));
	if (G.reload_client) {
		G.reload_client->on_close = NULL;
		control_reply(G.reload_client, r);
		control_finish(G.reload_client);
		G.reload_client = NULL;
	}
	json_object_put(r);
}

static void guard_reload_done(void *arg, struct pg_service **started, int n)
{
	struct pg_config *old = G.cfg;
	json_object *ev, *names = json_object_new_array();
	int i, err;

	(void)arg;
	G.cfg = G.reloading;
	G.reloading = NULL;
	/* pending reclaims name services by their old order (and maybe a removed one) */
	for (i = 0; i < PG_MAX_SERVICES; i++)
		timer_disarm(&G.reclaim_timer[i]);
	memset(G.reclaims, 0, sizeof(G.reclaims));
	memset(G.reclaim_ms, 0, sizeof(G.reclaim_ms));
	memset(G.reclaim_armed, 0, sizeof(G.reclaim_armed));
	alerts_set_config(G.cfg);
	metrics_set_config(G.cfg);
	/* entries are rewritten in place: no moment without enforcement */
	if ((err = loader_set_ports(&G.L, G.cfg, guard_port_value)) || (err = guard_allow_rules()))
		log_warnx("reload: cannot update the port maps: %s", strerror(-err));
	if (G.cfg->mode == PG_MODE_ENFORCE)
		sysctl_reserve_ports(G.cfg);
	for (i = 0; i < n; i++) {
		json_object_array_add(names, json_object_new_string(started[i]->conf->name));
		supervise_start(started[i]);
	}
	ev = events_new("reload", events_now_us(), NULL);
	json_object_object_add(ev, "config", json_object_new_string(G.cfg->path));
	json_object_object_add(ev, "started", names);
	guard_emit_json(ev);
	guard_reload_reply(1, NULL, "reloaded");
	config_free(old);
	notify_ready();
	guard_notify_status();
}

/* The settings that only a new guard can take. */
static const char *guard_reload_fixed(const struct pg_config *a, const struct pg_config *b)
{
	if (strcmp(a->name, b->name))
		return "name";
	if (strcmp(a->control, b->control))
		return "control";
	if (strcmp(a->state_dir, b->state_dir))
		return "state_dir";
	if (strcmp(a->log_dir, b->log_dir))
		return "log_dir";
	if (strcmp(a->bpffs, b->bpffs))
		return "bpffs";
	if (a->ring_buffer_kb != b->ring_buffer_kb)
		return "ring_buffer_kb";
	if (a->journal_max != b->journal_max)
		return "journal_max";
	if ((a->control_group == NULL) != (b->control_group == NULL) ||
	    (a->control_group && strcmp(a->control_group, b->control_group)))
		return "control_group";
	if ((a->metrics_file == NULL) != (b->metrics_file == NULL) ||
	    (a->metrics_file && strcmp(a->metrics_file, b->metrics_file)))
		return "metrics_file";
	if ((a->metrics_listen == NULL) != (b->metrics_listen == NULL) ||
	    (a->metrics_listen && strcmp(a->metrics_listen, b->metrics_listen)))
		return "metrics_listen";
	return NULL;
}

/* SIGHUP or `portguard reload`: all of the file, or nothing. */
static void guard_reload(struct ctl_client *c)
{
	struct pg_config *nc = NULL;
	json_object *errors = json_object_new_array(), *ev;
	char *buf = NULL, *line, *save, msg[256];
	const char *fixed;
	size_t len = 0;
	FILE *f;
	int rc;

	if (G.reloading || restart_busy() || G.shutdown_pending) {
		/* answer the newcomer; a reload in flight keeps its own client */
		json_object *r = guard_error("a reload, restart or shutdown is in progress: try "
					     "again when it ends");

		log_warnx("reload refused: a reload, restart or shutdown is in progress");
		if (c)
			control_reply(c, r);
		json_object_put(r);
		json_object_put(errors);
		return;
	}
	G.reload_client = c;
	if (c)
		c->on_close = guard_reload_client_gone;
	f = open_memstream(&buf, &len);
	rc = f ? config_parse(G.cfg->path, &nc, f) : -ENOMEM;
	if (f)
		fclose(f);
	for (line = buf ? strtok_r(buf, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		log_warnx("reload: %s", line);
		json_object_array_add(errors, json_object_new_string(line));
	}
	free(buf);
	if (rc == 0 && (fixed = guard_reload_fixed(G.cfg, nc))) {
		snprintf(msg, sizeof(msg), "%s: changing %s needs a new guard (portguard shutdown, "
			 "then portguard run); nothing was changed", G.cfg->path, fixed);
		log_warnx("reload: %s", msg);
		json_object_array_add(errors, json_object_new_string(msg));
		config_free(nc);
		rc = -EINVAL;
	}
	if (rc) {
		ev = events_new("reload_failed", events_now_us(), NULL);
		json_object_object_add(ev, "errors", json_object_get(errors));
		json_object_object_add(ev, "detail", json_object_new_string(
			"the running config is unchanged"));
		guard_emit_json(ev);
		guard_reload_reply(0, errors, "the config has errors; the running config is unchanged");
		json_object_put(errors);
		return;
	}
	json_object_put(errors);
	log_info("reload: %s is valid; applying it", G.cfg->path);
	notify_reloading();
	/*
	 * Set before: when no service has to stop first, supervise_reload()
	 * calls guard_reload_done() at once, and that takes G.reloading.
	 */
	G.reloading = nc;
	if ((rc = supervise_reload(nc, guard_reload_done, NULL)) < 0) {
		G.reloading = NULL;
		notify_ready(); /* the old config goes on */
		snprintf(msg, sizeof(msg), "%s: more new services than free slots (%d at most); "
			 "nothing was changed", G.cfg->path, PG_MAX_SERVICES);
		log_warnx("reload: %s", msg);
		config_free(nc);
		guard_reload_reply(0, NULL, msg);
	}
}

/* ---- signals ---- */

static void guard_signal(struct pg_watch *w, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)events;
	if (read(w->fd, &si, sizeof(si)) != sizeof(si))
		return;
	switch (si.ssi_signo) {
	case SIGTERM:
	case SIGINT:
		log_info("signal %d: the guard exits; the services keep running", si.ssi_signo);
		notify_stopping();
		loop_stop();
		break;
	case SIGHUP:
		guard_reload(NULL);
		break;
	}
}

static int guard_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	G.sig_w.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (G.sig_w.fd < 0)
		return -errno;
	G.sig_w.cb = guard_signal;
	return loop_add(&G.sig_w, EPOLLIN);
}

/* Depth of a cgroup path below the cgroup2 root (the root is 0). */
static uint32_t guard_cg_level(const char *path)
{
	const char *p = path + strlen(cg_root());
	uint32_t n = 0;

	for (; *p; p++)
		n += *p == '/';
	return n;
}

static void guard_port_value(int port, struct pg_port *v)
{
	struct pg_service *s = supervise_by_port(port);

	if (s) {
		v->owner_cgroup = s->cgroup_id;
		v->owner_level = guard_cg_level(s->cgpath);
	}
	if (G.cfg->guarded[port] && G.cfg->mode == PG_MODE_ENFORCE &&
	    config_port_policy(G.cfg, port) != PG_ROGUE_ALERT)
		v->flags |= PG_PORT_DENY;
}

/* The `allow` rules of every service with a port, as kernel map entries. */
static int guard_allow_rules(void)
{
	struct pg_allow_key keys[PG_MAX_SERVICES * PG_MAX_ALLOW];
	__u32 vals[PG_MAX_SERVICES * PG_MAX_ALLOW];
	char path[PATH_MAX];
	struct stat st;
	int i, k, n = 0;

	for (i = 0; i < G.cfg->nsvc; i++) {
		const struct pg_service_conf *sc = &G.cfg->svc[i];

		for (k = 0; sc->port && k < sc->nallow; k++) {
			const struct pg_allow *a = &sc->allow[k];
			struct pg_allow_key *key = &keys[n];

			memset(key, 0, sizeof(*key));
			key->port = sc->port;
			vals[n] = 0;
			if (a->kind == PG_ALLOW_KIND_UID) {
				key->kind = PG_ALLOW_UID;
				key->value = a->uid;
			} else if (a->kind == PG_ALLOW_KIND_CGROUP) {
				snprintf(path, sizeof(path), "%s%s", cg_root(), a->path);
				key->kind = PG_ALLOW_CGROUP;
				key->value = cg_id(path);
				if (!key->value) {
					log_warnx("%s: allow cgroup:%s: no such cgroup (%s); the rule "
						  "applies once it exists and the guard reloads",
						  sc->name, a->path, path);
					continue;
				}
			} else {
				if (stat(a->path, &st) < 0) {
					log_warn("%s: allow exe:%s", sc->name, a->path);
					continue;
				}
				key->kind = PG_ALLOW_EXE;
				key->value = st.st_ino;
				/* the kernel's dev_t: MKDEV(major, minor) = major << 20 | minor */
				vals[n] = major(st.st_dev) << 20 | minor(st.st_dev);
			}
			n++;
		}
	}
	return loader_set_allow(&G.L, keys, vals, n);
}

/* The control socket dropped a client for its behaviour: the journal says so. */
static void guard_control_notice(const char *what, pid_t pid, uid_t uid)
{
	json_object *ev = events_new("control_client_dropped", events_now_us(), NULL);

	json_object_object_add(ev, "pid", json_object_new_int(pid));
	json_object_object_add(ev, "uid", json_object_new_int64(uid));
	json_object_object_add(ev, "detail", json_object_new_string(what));
	guard_emit_json(ev);
}

static void guard_alarm(int sig)
{
	(void)sig; /* only to interrupt flock() */
}

/*
 * The lock is held but no guard answers on the control socket: a guard that
 * just exited may not have let go of it yet (seen under load). Wait for it
 * in flock() itself, at most 2 s (SIGALRM ends the wait), never in a loop.
 */
static int guard_lock_wait(const struct pg_config *cfg)
{
	struct sigaction sa = { .sa_handler = guard_alarm }, old;
	struct itimerval it = { .it_value = { .tv_sec = 2 } }, off = { 0 };
	int fd = control_probe(cfg->control), ok;

	if (fd >= 0) { /* a live guard answers: it is really running */
		close(fd);
		return 0;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old); /* no SA_RESTART: flock returns EINTR */
	setitimer(ITIMER_REAL, &it, NULL);
	ok = flock(G.lock_fd, LOCK_EX) == 0;
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	return ok;
}

/* One guard per instance: a lock in state_dir, taken before anything else. */
static int guard_lock(const struct pg_config *cfg)
{
	char path[PATH_MAX];

	int err;

	snprintf(path, sizeof(path), "%s/guard.lock", cfg->state_dir);
	err = fs_mkdir_p(cfg->state_dir, 0750);
	if (!err && (G.lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		err = -errno;
	if (err) {
		if ((err == -EACCES || err == -EPERM) && geteuid() != 0)
			log_warnx("no permission (%s: %s): run as root or with CAP_BPF, "
				  "CAP_NET_ADMIN and CAP_PERFMON and write access to %s", path,
				  strerror(-err), cfg->state_dir);
		else
			log_warnx("%s: %s", path, strerror(-err));
		return err;
	}
	if (flock(G.lock_fd, LOCK_EX | LOCK_NB) < 0 && !guard_lock_wait(cfg)) {
		log_warnx("a guard is already running for %s (%s is locked)", cfg->name, path);
		return -EALREADY;
	}
	return 0;
}

/* The pinned state was of another layout: what was migrated, journaled. */
static void guard_layout_migrated(const struct layout *Y)
{
	json_object *ev = events_new("layout_migrated", events_now_us(), NULL);
	char buf[256];

	log_info("%s: %llu entries copied, %llu did not fit; %llu old ring records read, "
		 "%llu of no known size", layout_summary(Y, buf, sizeof(buf)),
		 (unsigned long long)Y->copied, (unsigned long long)Y->dropped,
		 (unsigned long long)Y->ring_read, (unsigned long long)Y->ring_bad);
	json_object_object_add(ev, "from", json_object_new_int(Y->old.layout));
	json_object_object_add(ev, "to", json_object_new_int(PG_LAYOUT));
	json_object_object_add(ev, "detail", json_object_new_string(buf));
	json_object_object_add(ev, "copied", json_object_new_int64(Y->copied));
	json_object_object_add(ev, "dropped", json_object_new_int64(Y->dropped));
	json_object_object_add(ev, "ring_read", json_object_new_int64(Y->ring_read));
	guard_emit_json(ev);
	if (Y->ring_bad || Y->dropped) {
		ev = events_new("events_lost", events_now_us(), NULL);
		json_object_object_add(ev, "count", json_object_new_int64(Y->ring_bad + Y->dropped));
		json_object_object_add(ev, "detail", json_object_new_string(
			"the migration of the pinned state could not carry everything over; "
			"the claim table was re-synced"));
		guard_emit_json(ev);
	}
}

int guard_run(struct pg_config *cfg, int ready_fd)
{
	char why[512], path[4096];
	int err, i;

	memset(&G, 0, sizeof(G));
	log_stderr_nonblock();
	notify_init();
	G.cfg = cfg;
	G.start_ms = now_ms();
	G.lock_fd = -1;
	for (i = 0; i < PG_MAX_SERVICES; i++)
		G.reclaim_timer[i].w.fd = -1;
	restart_done_hook = guard_job_done;
	if ((err = guard_lock(cfg)))
		goto out;
	err = loop_init();
	if (err)
		goto out;
	if ((err = guard_signals()))
		goto out;
	err = loader_open(&G.L, cfg->ring_buffer_kb, cfg->bpffs, cfg->name, guard_on_kevent, NULL, why, sizeof(why));
	if (err) {
		log_warnx("%s", why);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/events.jsonl", cfg->state_dir);
	if ((err = journal_open(path, cfg->journal_max))) {
		log_warnx("cannot open the journal %s: %s", path, strerror(-err));
		goto out;
	}
	if ((err = alerts_init(cfg, guard_publish)) || (err = metrics_init(cfg, &G.L)))
		goto out;
	err = supervise_init(cfg, guard_on_service);
	if (err)
		goto out;
	if ((err = loader_set_ports(&G.L, cfg, guard_port_value)) || (err = guard_allow_rules())) {
		log_warnx("cannot fill the port maps: %s", strerror(-err));
		goto out;
	}
	G.host_netns = G.L.host_netns;
	{
		/* the kernels without SO_NETNS_COOKIE use the probe: check it where both work */
		uint64_t bpf = loader_netns_cookie(&G.L);

		if (bpf && bpf != G.host_netns)
			log_warnx("netns cookie: SO_NETNS_COOKIE says %llu, the BPF probe %llu",
				  (unsigned long long)G.host_netns, (unsigned long long)bpf);
	}
	if (G.L.reused)
		log_info("reused the pinned programs and maps of an earlier guard: enforcement had "
			 "no gap; reading what happened meanwhile");
	if (cfg->mode == PG_MODE_ENFORCE)
		sysctl_reserve_ports(cfg);
	/*
	 * Attached first, then seeded: nothing falls between the two. Then what
	 * happened while no guard ran, journaled in order and read against the
	 * sockets that are there (an owner's failed bind is judged by who holds
	 * the port now; claims are by socket cookie, so an event older than the
	 * table updates or removes only its own socket's claim).
	 */
	guard_resync("start");
	guard_consume_backlog();
	if (G.L.Y.migrated)
		guard_layout_migrated(&G.L.Y);
	for (i = 0; i < supervise_count(); i++) {
		struct pg_service *s = supervise_get(i);
		struct claim probe = { .port = s->conf->port, .netns = G.host_netns,
				       .proto = IPPROTO_TCP };

		if (s->conf->port)
			guard_listen_state(&probe);
	}
	control_set_notice(guard_control_notice);
	err = control_open(cfg->control, cfg->control_group, guard_request);
	if (err == -EADDRINUSE) {
		log_warnx("a guard is already running for %s (control socket %s answers)",
			  cfg->name, cfg->control);
		goto out;
	} else if (err) {
		log_warnx("cannot open the control socket %s: %s", cfg->control, strerror(-err));
		goto out;
	}
	G.ring_w.fd = loader_ring_fd(&G.L);
	G.ring_w.cb = guard_ring_ready;
	if ((err = loop_add(&G.ring_w, EPOLLIN)))
		goto out;
	log_info("guarding %s: %s mode, config %s, control %s, journal %s", cfg->name,
		 cfg->mode == PG_MODE_OBSERVE ? "observe" : "enforce", cfg->path, cfg->control, path);
	supervise_start_all();
	guard_consume_backlog();
	for (i = 0; i < supervise_count(); i++) /* ports held by strangers at start-up */
		guard_maybe_reclaim(supervise_get(i));
	if (ready_fd >= 0) { /* run --daemon: the parent may go */
		if (write(ready_fd, "R", 1) < 0)
			log_warn("telling the parent we are ready");
		close(ready_fd);
	}
	notify_ready(); /* attached, services adopted or started, control socket up */
	guard_notify_status();
	err = loop_run();
out:
	alerts_close(); /* open coalescing windows are journaled now */
	metrics_close();
	control_close();
	supervise_cleanup();
	loader_close(&G.L);
	journal_close();
	claims_free(&G.claims);
	for (i = 0; i < GUARD_RECENT; i++)
		json_object_put(G.recent[i]);
	if (G.lock_fd >= 0)
		close(G.lock_fd);
	for (i = 0; i < PG_MAX_SERVICES; i++)
		timer_close(&G.reclaim_timer[i]);
	config_free(G.reloading);
	config_free(G.cfg); /* ours since guard_run; a reload may have replaced it */
	return err;
}
