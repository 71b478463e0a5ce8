/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agg.h"
#include "cgroup.h"
#include "claims.h"
#include "config.h"
#include "ctx.h"
#include "diag.h"
#include "emit.h"
#include "event.h"
#include "judge.h"
#include "log.h"
#include "metrics.h"
#include "portset.h"
#include "proc.h"
#include "status.h"
#include "supervise.h"
#include "watch.h"

/* Bits of claim.reported: each alert is raised once per socket. */
#define REP_ROGUE (1 << 0)
#define REP_CONFLICT (1 << 1)
#define REP_SHARED (1 << 2)
#define REP_NETNS (1 << 3)

/*
 * At most WATCH_BATCH events per wake-up: a storm must not keep the loop
 * from the control socket, the timers and the services (the ring fd stays
 * readable while events are left, so the next epoll_wait comes back).
 */
#define WATCH_BATCH 512 /* some 2 ms of work: status answers within a few batches */

static struct {
	struct guard_ctx *x;
	struct watch_hooks h;
	struct claims claims;
	int batch_left;		/* events this wake-up may still take (0: no limit) */
	uint64_t events_seen;
	uint64_t lost_seen;
	int need_resync;
	uint32_t resync_round;	/* claim.mark of the claims in the latest dump */
	uint32_t denied[65536]; /* binds denied in the kernel, per port */
	uint64_t denied_total;	/* their sum (read after every batch: never summed then) */
	struct judge_env J;	/* what the verdicts are judged against */
} W;

void watch_init(struct guard_ctx *x, const struct watch_hooks *h)
{
	memset(&W, 0, sizeof(W));
	W.x = x;
	W.h = *h;
	W.J.claims = &W.claims;
	W.J.owner_of = supervise_by_port;
	W.J.service_of = supervise_by_cgroup;
}

/* The judge sees the config and namespace in force. */
static const struct judge_env *watch_judge(void)
{
	W.J.cfg = W.x->cfg;
	W.J.host_netns = W.x->host_netns;
	return &W.J;
}

const struct claims *watch_claims(void)
{
	return &W.claims;
}

uint64_t watch_denied(int port)
{
	return port > 0 && port < 65536 ? W.denied[port] : 0;
}

uint64_t watch_denied_total(void)
{
	return W.denied_total;
}

uint64_t watch_events_seen(void)
{
	return W.events_seen;
}

uint64_t watch_lost_seen(void)
{
	return W.lost_seen;
}

void watch_close(void)
{
	claims_free(&W.claims);
}

const char *watch_svc_of(uint64_t cgid)
{
	struct pg_service *s = cgid ? supervise_by_cgroup(cgid) : NULL;

	return s ? s->conf->name : NULL;
}

/* ---- the claim table ---- */

/*
 * Gone: holding claims of the host namespace not in the dump r, and any
 * claim whose socket the kernel no longer tracks (its release was lost).
 */
static void watch_resync_drop(const struct diag_result *r)
{
	int i;

	W.resync_round++;
	for (i = 0; i < r->n; i++) {
		struct claim *c = claims_find(&W.claims, r->socks[i].cookie);

		if (c)
			c->mark = W.resync_round;
	}
	for (i = 0; i < W.claims.n;) {
		struct claim *c = &W.claims.v[i];
		int found = c->mark == W.resync_round;

		if ((c->netns == W.x->host_netns && claim_is_holding(c) && !found) ||
		    !loader_socket_tracked(&W.x->L, c->cookie))
			claims_remove(&W.claims, c->cookie);
		else
			i++;
	}
}

/*
 * The sockets the kernel folded (agg.h) make no event: the dumps alone
 * follow them. Their claims (dumped) go when a dump no longer shows them;
 * r is compacted to the sockets the table lacks, to be added.
 */
static void watch_resync_folded(struct diag_result *r)
{
	int i, n = 0;

	W.resync_round++;
	for (i = 0; i < r->n; i++) {
		struct claim *c = claims_find(&W.claims, r->socks[i].cookie);

		if (c)
			c->mark = W.resync_round;
		else
			r->socks[n++] = r->socks[i];
	}
	r->n = n;
	for (i = 0; i < W.claims.n;) {
		struct claim *c = &W.claims.v[i];

		if (c->dumped && c->mark != W.resync_round)
			claims_remove(&W.claims, c->cookie);
		else
			i++;
	}
}

/*
 * The claim table made true again by one sock_diag dump of the watched
 * ports. folded: for the sockets the kernel folded (watch_resync_folded),
 * nothing else is dropped (a claim whose events are still in the ring is
 * not stale).
 */
static void watch_resync_mode(const char *why, int folded)
{
	struct portset *want = portset_watched(W.x->cfg);
	struct diag_result r = { 0 };
	int i, err;

	if (!want)
		return;
	/* folded: /proc is read only for the sockets the table lacks (a storm's are gone by then) */
	err = diag_dump(want->has, folded, &r);
	portset_free(want);
	if (!err && folded) {
		watch_resync_folded(&r);
		if (r.n)
			err = diag_resolve_holders(&r);
	}
	if (err) {
		diag_free(&r);
		log_warnx("sock_diag re-sync (%s) failed: %s", why, strerror(-err));
		return;
	}
	if (!folded)
		watch_resync_drop(&r);
	claims_from_diag(&W.claims, &r, W.x->host_netns);
	for (i = 0; i < r.n; i++) { /* from now on the kernel reports their release */
		struct claim *c = claims_find(&W.claims, r.socks[i].cookie);
		uint64_t cookie = r.socks[i].cookie;
		int k;

		if (c && loader_socket_folded(&W.x->L, cookie)) {
			c->dumped = 1; /* no event will say when it goes */
		} else if (folded && c && !loader_socket_tracked(&W.x->L, cookie)) {
			claims_remove(&W.claims, cookie); /* folded, and released since the dump */
			continue;
		} else if (!folded) {
			loader_watch_socket(&W.x->L, cookie, r.socks[i].port, r.socks[i].family,
					    r.socks[i].proto);
		}
		for (k = 0; k < r.socks[i].nholders; k++)
			loader_watch_pid(&W.x->L, r.socks[i].holders[k].pid);
	}
	log_debug("re-synced the claim table (%s): %d sockets", why, r.n);
	diag_free(&r);
}

void watch_resync(const char *why)
{
	watch_resync_mode(why, 0);
}

/*
 * Holders that may have closed their copy of a socket without a release (the
 * socket lives on in others, so the kernel says nothing): check them against
 * /proc/<pid>/fd by the socket's inode. pid 0: every holder of every socket
 * with several holders (before `status` answers); else that process alone,
 * after its exec closed its close-on-exec sockets.
 */
static int watch_check_applies(const struct claim *c, uint32_t pid)
{
	if (c->netns != W.x->host_netns)
		return 0;
	return pid ? claim_has_holder(c, pid) : c->nholders > 1;
}

/* Drop the holders of c (pid's alone, unless 0) that no longer have inode open. */
static void watch_prune_holders(struct claim *c, uint32_t pid, uint64_t inode)
{
	int k;

	for (k = 0; k < c->nholders;) {
		if ((pid && c->holders[k].pid != pid) ||
		    proc_has_inode(c->holders[k].pid, inode))
			k++;
		else
			c->holders[k] = c->holders[--c->nholders];
	}
}

void watch_check_holders(uint32_t pid)
{
	struct portset *want = portset_new();
	struct diag_result r = { 0 };
	int i, j, any = 0;

	for (i = 0; want && i < W.claims.n; i++)
		if (watch_check_applies(&W.claims.v[i], pid))
			any = want->has[W.claims.v[i].port] = 1;
	if (!any || diag_dump(want->has, 1, &r) != 0) {
		portset_free(want);
		return;
	}
	for (j = 0; j < r.n; j++) {
		struct claim *c = claims_find(&W.claims, r.socks[j].cookie);

		if (c && watch_check_applies(c, pid))
			watch_prune_holders(c, pid, r.socks[j].inode);
	}
	diag_free(&r);
	portset_free(want);
}

static struct claim *watch_claim(const struct pg_event *e)
{
	struct claim *c = claims_upsert(&W.claims, e->cookie);
	struct claim_holder h = { .pid = e->tgid, .uid = e->uid, .cgroup_id = e->cgroup_id };
	int fresh;

	if (!c)
		return NULL;
	memcpy(h.comm, e->comm, sizeof(h.comm));
	h.comm[sizeof(h.comm) - 1] = 0;
	fresh = !c->port;
	c->dumped = 0; /* its events follow it now */
	if (e->kind == PG_EV_BIND_ATTEMPT && (e->verdict & PG_VERDICT_ALLOWED))
		c->allowed = 1; /* the kernel matched an allow rule */
	c->netns = e->netns;
	claims_set_port(&W.claims, c, e->port);
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

static int watch_is_owner(const struct pg_service *s, uint64_t cgid)
{
	return judge_is_owner(watch_judge(), s, cgid);
}

static const char *watch_owner_name(int port)
{
	struct pg_service *s = supervise_by_port(port);

	return s ? s->conf->name : NULL;
}

/* A kernel-made event of type t for e, and the owner of the port as its service. */
static void watch_kev(struct pg_ev *ev, enum ev_type t, const struct pg_event *e)
{
	ev_from_kernel(ev, t, e, watch_owner_name(e->port));
}

/* A claim of c by someone it is not theirs: a rogue_bind, or a netns_claim, once per socket. */
static void watch_rogue(struct claim *c, const struct pg_event *e, const struct pg_exe *exe,
			const char *stage)
{
	enum judge_verdict v = judge_claim(watch_judge(), c, e);
	unsigned bit = v == J_NETNS ? REP_NETNS : REP_ROGUE;
	struct pg_ev ev;

	if (v == J_NONE || (c->reported & (REP_ROGUE | bit)))
		return;
	c->reported |= bit;
	watch_kev(&ev, v == J_NETNS ? EV_NETNS_CLAIM : EV_ROGUE_BIND, e);
	if (v == J_NETNS) {
		ev_detail(&ev, "claim in another network namespace: reported, no conflict with "
			       "the host");
	} else {
		ev.u.k.stage = stage;
		ev_set_exe(&ev, exe, e->tgid);
		ev_detail(&ev, "%s", supervise_by_port(e->port) ? "process outside the owner's "
					"cgroup" : "reserved port: no service owns it");
	}
	emit_event(&ev);
}

/* The owner cannot have its port: a port_conflict, once per socket. */
static void watch_conflict(struct claim *c, const struct pg_event *e, const struct claim *holder)
{
	struct pg_ev ev;

	if (c->reported & REP_CONFLICT)
		return;
	c->reported |= REP_CONFLICT;
	watch_kev(&ev, EV_PORT_CONFLICT, e);
	status_ev_holders(&ev, holder, watch_svc_of);
	ev_detail(&ev, "%s", holder ? "the owner cannot bind: the port is held by another process"
				    : "the owner's bind failed and nothing live holds the port "
				      "(TIME_WAIT or a socket being torn down)");
	emit_event(&ev);
}

/* The owner and another listen at once: a port_shared, once per socket. */
static void watch_shared(struct claim *c, const struct pg_event *e)
{
	const struct claim *holder;
	struct pg_ev ev;

	if ((c->reported & REP_SHARED) || judge_shared(watch_judge(), c, e, &holder) != J_SHARED)
		return;
	c->reported |= REP_SHARED;
	watch_kev(&ev, EV_PORT_SHARED, e);
	status_ev_holders(&ev, holder, watch_svc_of);
	ev_detail(&ev, "a second listener shares the owner's port through SO_REUSEPORT");
	emit_event(&ev);
}

/* ---- kernel events ---- */

void watch_listen_state(const struct claim *c)
{
	struct pg_service *s = supervise_by_port(c->port);
	const struct claim *x;

	if (!s || c->netns != W.x->host_netns || c->proto != IPPROTO_TCP)
		return;
	for (x = claims_port_first(&W.claims, c->port); x; x = claims_port_next(&W.claims, x)) {
		if (x->state == CLAIM_LISTEN && x->netns == W.x->host_netns &&
		    watch_is_owner(s, x->cgroup_id)) {
			if (!s->listening)
				supervise_listen_seen(s);
			return;
		}
	}
	if (s->listening)
		supervise_listen_gone(s);
}

static void watch_port_taken(int port)
{
	struct pg_service *s = supervise_by_port(port);

	if (s && W.h.port_taken)
		W.h.port_taken(s);
}

static void watch_on_bind_attempt(const struct pg_event *e, const struct pg_exe *exe)
{
	int owner = watch_is_owner(supervise_by_port(e->port), e->cgroup_id) &&
		    e->netns == W.x->host_netns;
	const struct claim *holder;
	struct claim *c;

	if (owner)
		agg_settle(); /* the holders the kernel folded are known before the verdict */
	if (!(c = watch_claim(e))) /* after: a re-sync moves claims */
		return;
	if (owner) {
		if (judge_attempt(watch_judge(), c, e, &holder) == J_CONFLICT)
			watch_conflict(c, e, holder);
		return;
	}
	watch_rogue(c, e, exe, "bind");
}

/* The plain record of a claim's change (bind, listen, unlisten, release). */
static void watch_plain(enum ev_type t, const struct pg_event *e, uint64_t cgid)
{
	struct pg_ev ev;

	ev_from_kernel(&ev, t, e, watch_svc_of(cgid));
	/* the owner's own, on its own port: counted, journaled only when asked for */
	ev.routine = e->netns == W.x->host_netns &&
		     watch_is_owner(supervise_by_port(e->port), cgid);
	emit_event(&ev);
}

static void watch_on_bind(const struct pg_event *e)
{
	struct claim *c = watch_claim(e);

	if (!c)
		return;
	if (c->state < CLAIM_BOUND)
		c->state = CLAIM_BOUND;
	watch_plain(EV_BIND, e, e->cgroup_id);
	watch_rogue(c, e, NULL, "bind");
	if (c->proto == IPPROTO_UDP) {
		watch_shared(c, e);
		watch_port_taken(e->port);
	}
}

/* on_rogue = kill: SIGKILL the binder, if the pid is still the process that bound. */
static enum ev_action watch_kill_binder(const struct pg_event *e)
{
	int fd = syscall(SYS_pidfd_open, e->tgid, 0);
	enum ev_action done = EVA_KILLED;
	char comm[PG_COMM_LEN];
	uint64_t start;

	if (fd < 0)
		return EVA_GONE;
	start = proc_start_ns(e->tgid); /* after the pidfd: the pid cannot change now */
	/* start times are clock ticks: within one tick, the name must match too */
	if (e->tgid <= 1 || e->tgid == (uint32_t)getpid() || !start || start > e->ts_ns ||
	    proc_comm(e->tgid, comm, sizeof(comm)) ||
	    strncmp(comm, e->comm, PG_COMM_LEN - 1))
		done = EVA_NOT_BINDER;
	else if (syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) < 0)
		done = EVA_KILL_FAILED;
	close(fd);
	return done;
}

static void watch_on_listen(const struct pg_event *e)
{
	struct claim *c = watch_claim(e);
	struct pg_ev ev;

	if (!c)
		return;
	c->state = CLAIM_LISTEN;
	watch_plain(EV_LISTEN, e, e->cgroup_id);
	watch_rogue(c, e, NULL, "listen");
	/* listen() without bind() got a guarded port (the kernel cannot refuse that one) */
	if (judge_autobind(watch_judge(), e)) { /* in enforce mode it is stopped instead */
		ev_from_kernel(&ev, EV_AUTOBIND_KILLED, e, NULL);
		ev.u.k.action = watch_kill_binder(e);
		ev_detail(&ev, "listen() without bind() was given a guarded port: the listener "
			       "was stopped");
		emit_event(&ev);
	}
	watch_shared(c, e);
	watch_listen_state(c);
	watch_port_taken(e->port); /* taken while its owner was down? */
}

static void watch_on_unlisten(const struct pg_event *e)
{
	struct claim *c = claims_find(&W.claims, e->cookie);

	if (!c)
		return; /* released first: already handled */
	c->state = CLAIM_BOUND;
	watch_plain(EV_UNLISTEN, e, c->cgroup_id);
	watch_listen_state(c);
}

static void watch_on_release(const struct pg_event *e)
{
	struct claim *c = claims_find(&W.claims, e->cookie), copy;
	const struct claim *holder;

	if (!c)
		return;
	copy = *c;
	claims_remove(&W.claims, e->cookie);
	if (!e->child)
		agg_settle(); /* a failed bind is judged against every holder */
	if (judge_release(watch_judge(), &copy, e, &holder) == J_CONFLICT)
		watch_conflict(&copy, e, holder);
	if (e->child) {
		struct pg_event full = *e; /* the kernel knows no address at release */

		memcpy(full.addr, copy.addr, sizeof(full.addr));
		watch_plain(EV_RELEASE, &full, copy.cgroup_id);
	}
	watch_listen_state(&copy);
}

/* The cgroup of a denied binder, by id (or by pid, if the cgroup is gone). */
static void watch_denied_cgroup(struct pg_ev *ev, const struct pg_event *e)
{
	ev->u.k.has_cgroup = 1;
	if (cg_path_of_id(e->cgroup_id, ev->u.k.cgroup, sizeof(ev->u.k.cgroup)) &&
	    cg_of_pid(e->tgid, ev->u.k.cgroup, sizeof(ev->u.k.cgroup)))
		ev->u.k.cgroup[0] = 0;
}

static void watch_on_denied(const struct pg_event *e, const struct pg_exe *exe)
{
	struct pg_ev ev;

	watch_kev(&ev, EV_BIND_DENIED, e);
	ev_set_exe(&ev, exe, e->tgid);
	watch_denied_cgroup(&ev, e);
	W.denied[e->port]++;
	W.denied_total++;
	ev.u.k.action = config_port_policy(W.x->cfg, e->port) == PG_ROGUE_KILL
				? watch_kill_binder(e) : EVA_DENIED;
	emit_event(&ev);
}

static void watch_dispatch(const struct pg_event *e, const struct pg_exe *exe)
{
	switch (e->kind) {
	case PG_EV_BIND_DENIED:
		watch_on_denied(e, exe);
		break;
	case PG_EV_BIND_ATTEMPT:
		watch_on_bind_attempt(e, exe);
		break;
	case PG_EV_BIND:
		watch_on_bind(e);
		break;
	case PG_EV_LISTEN:
		watch_on_listen(e);
		break;
	case PG_EV_LISTEN_CLOSE:
		watch_on_unlisten(e);
		break;
	case PG_EV_RELEASE:
		watch_on_release(e);
		break;
	case PG_EV_FORK:
		claims_fork(&W.claims, e->tgid, e->child, NULL);
		break;
	case PG_EV_EXEC:
		watch_check_holders(e->tgid);
		break;
	case PG_EV_EXIT:
		claims_drop_pid(&W.claims, e->tgid);
		break;
	}
}

int watch_on_kevent(void *ctx, void *data, size_t size)
{
	const struct pg_event *e = data;
	const struct pg_exe *exe = NULL;
	int stop = 0;

	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	if (size >= sizeof(struct pg_event_exe))
		exe = &((const struct pg_event_exe *)data)->exe;
	W.events_seen++;
	if (W.batch_left && !--W.batch_left)
		stop = -EAGAIN; /* this one is handled, then back to the loop */
	metrics_kernel_event(e->kind);
	metrics_event_latency(e->ts_ns);
	if (e->lost_total > W.lost_seen)
		W.need_resync = 1; /* one re-sync after the batch, not one per event */
	watch_dispatch(e, exe);
	if ((e->kind == PG_EV_RELEASE || e->kind == PG_EV_LISTEN_CLOSE) && W.h.released)
		W.h.released();
	return stop;
}

/* ---- claims folded in the kernel (agg.h) ---- */

/* The kernel record a folded key stands for. */
static void watch_folded_event(struct pg_event *e, const struct pg_agg_key *k,
			       const struct pg_agg *v)
{
	memset(e, 0, sizeof(*e));
	e->ts_ns = v->last_ns;
	e->cgroup_id = v->cgroup_id;
	e->netns = v->netns;
	e->kind = k->kind;
	e->tgid = k->tgid;
	e->pid = v->pid;
	e->uid = v->uid;
	e->family = v->family;
	e->proto = v->proto;
	e->port = k->port;
	e->verdict = v->verdict;
	memcpy(e->addr, v->addr, sizeof(e->addr));
	memcpy(e->comm, v->comm, sizeof(e->comm));
	e->comm[sizeof(e->comm) - 1] = 0;
}

/*
 * n claims of one process the kernel folded: a counted line for its
 * attempts and denials (its binds, listens and releases are counted in the
 * metrics only; the claim table learns the sockets it holds by re-sync).
 */
void watch_on_folded(const struct pg_agg_key *k, const struct pg_agg *v, uint64_t n)
{
	struct pg_event e;
	struct pg_ev ev;

	metrics_kernel_events(k->kind, n);
	if (k->kind != PG_EV_BIND_DENIED && k->kind != PG_EV_BIND_ATTEMPT)
		return;
	watch_folded_event(&e, k, v);
	if (k->kind == PG_EV_BIND_DENIED) {
		watch_kev(&ev, EV_BIND_DENIED, &e);
		watch_denied_cgroup(&ev, &e);
		ev.u.k.action = EVA_DENIED;
		W.denied[e.port] += n;
		W.denied_total += n;
	} else {
		watch_kev(&ev, e.netns == W.x->host_netns ? EV_ROGUE_BIND : EV_NETNS_CLAIM, &e);
		ev.u.k.stage = "bind";
	}
	ev_set_exe(&ev, NULL, e.tgid);
	ev_detail(&ev, "%s", e.netns != W.x->host_netns ? "claims in another network namespace"
			     : supervise_by_port(e.port) ? "process outside the owner's cgroup"
			     : "reserved port: no service owns it");
	ev.count = (long)n;
	ev.coalesced = ev.folded = 1;
	ev.window_ms = W.x->cfg->coalesce_ms ? W.x->cfg->coalesce_ms : AGG_OVERLOAD_MS;
	emit_folded(&ev);
}

void watch_folded_socks(void)
{
	watch_resync_mode("sockets folded in the kernel", 1);
}

/* The journal's events_lost for what the pinned counters gained since the last report. */
static void watch_report_lost(uint64_t n, int start)
{
	struct pg_ev ev;

	ev_init(&ev, EV_EVENTS_LOST, 0, NULL);
	ev.u.lost.count = n;
	ev_detail(&ev, "%s", start ? "the kernel ring buffer was full while no guard read it; "
				     "the claim table was re-synced"
				   : "the kernel ring buffer was full; the claim table was re-synced");
	emit_event(&ev);
}

/*
 * After a batch: did the kernel lose events (even if no later event says
 * so)? The count journaled is the pinned counters' growth since the last
 * report, by this guard or an earlier one: losses while no guard ran are
 * journaled by the next.
 */
static void watch_check_lost(int start)
{
	uint64_t total = loader_lost_total(&W.x->L), counted, reported;
	int grew = total > W.lost_seen;

	if (!start && !grew && !W.need_resync)
		return;
	W.lost_seen = total;
	counted = loader_lost_counted(&W.x->L);
	reported = loader_lost_reported(&W.x->L);
	if (counted > reported) {
		/* then the record: a crash between journals it twice, never not */
		watch_report_lost(counted - reported, start);
		loader_set_lost_reported(&W.x->L, counted);
	} else {
		if (counted < reported) /* counters that started over (a kind went) */
			loader_set_lost_reported(&W.x->L, counted);
		if (!grew && !W.need_resync)
			return;
	}
	W.need_resync = 0;
	watch_resync("events lost");
}

/*
 * One batch. At start-up, before the loop runs, a backlog (a full ring is
 * 1 MiB by default, some 9,000 events) or a storm that goes on is left to the loop,
 * batch by batch, with the control socket answering between; what was read
 * after the seed can add a claim whose release is still to come, so the
 * table is made true again before anything acts on it.
 */
void watch_consume(int start)
{
	uint64_t seen = W.events_seen;

	W.batch_left = WATCH_BATCH;
	loader_consume(&W.x->L);
	W.batch_left = 0;
	agg_after_batch();
	watch_check_lost(start);
	if (start && W.events_seen != seen)
		watch_resync("backlog");
}

const struct claim *watch_port_stolen(const struct pg_service *s)
{
	return judge_stolen(watch_judge(), s);
}
