/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * restart [master|quick|emergency] [SERVICE...], stop, start: one job at a
 * time, a list of steps, each finished by an event (a service stopped or
 * ready, a holder's pidfd, the kernel's release of a port) with a deadline
 * on a timerfd. Never a sleep.
 *
 *   master     stop (reverse priority) -> flush -> wait release -> clean files
 *              -> start (priority order, each ready) -> verify
 *   quick      stop -> start -> verify
 *   emergency  kill (cgroup.kill) -> flush with SIGKILL -> wait release -> clean
 *              -> start -> verify
 *
 * Never signalled: pid 1, the guard, kernel threads, a process holding a
 * protected port, or a process that no longer holds the socket it was found
 * holding (checked through a pidfd opened before the check, so a recycled
 * pid cannot be hit).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "claims.h"
#include "config.h"
#include "control.h"
#include "diag.h"
#include "emit.h"
#include "encode.h"
#include "fs.h"
#include "event.h"
#include "log.h"
#include "loop.h"
#include "portset.h"
#include "proc.h"
#include "restart.h"
#include "status.h"
#include "supervise.h"

#define RS_MAX_TARGETS 256
#define RS_FLUSH_GRACE_MS 3000
#define RS_RELEASE_TIMEOUT_MS 5000

struct rs_job;
typedef void (*rs_step_fn)(struct rs_job *j);

/* One step of a job: its name (in the answer, the journal and the progress lines). */
struct rs_step {
	const char *name;
	rs_step_fn fn;
};

struct rs_target {
	struct pg_watch w; /* pidfd */
	struct rs_job *job;
	uint32_t pid;
	uint32_t uid;
	uint64_t inode[8]; /* the sockets it was found holding */
	int ninodes;
	char comm[16];
	int port;
	int exited;
};

struct rs_mode {
	const char *name;
	const struct rs_step *steps;
	int by_hand;	/* a mode of `restart` (the others are commands or the guard's own) */
	int flush_sig;	/* what the flush sends first */
	int reclaim;	/* the guard's reclaim of one port */
};

struct rs_job {
	const struct rs_mode *mode;
	const struct rs_step *steps;
	int step;
	struct ctl_client *client;
	int in_request;	      /* still inside the request handler */
	struct pg_service *svc[PG_MAX_SERVICES]; /* selected, priority order */
	int nsvc;
	struct portset *ports;	      /* the assigned ports to flush and verify */
	int idx;	      /* services: next to stop/start */
	int waiting;	      /* services still to report */
	int group_prio;
	int bg_pending;	      /* background services in their start window */
	struct pg_timer timer;
	uint64_t t0_ns, step_t0_ns;
	const char *step_name;
	int nsteps;
	struct ev_step steps_done[EV_STEPS];
	struct rs_target targets[RS_MAX_TARGETS];
	int ntargets;
	int failed;
	char error[512];
};

static struct rs_job *rs_job;
static struct restart_env rs_env;

void restart_init(const struct restart_env *env)
{
	rs_env = *env;
}

static void rs_next(struct rs_job *j);

static uint64_t rs_ms(uint64_t since_ns)
{
	return (now_ns() - since_ns) / 1000000;
}

/* One progress line to the client, the log, and the step's details. */
static void rs_say(struct rs_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rs_say(struct rs_job *j, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_info("%s: %s", j->mode->name, buf);
	if (!j->client)
		return;
	if (control_reply(j->client, encode_progress(buf)) < 0) {
		struct ctl_client *c = j->client;

		j->client = NULL; /* gone; the job goes on */
		c->on_close = NULL;
		control_drop(c);
	}
}

/* The journal's restart_done or restart_failed. */
static void rs_journal(struct rs_job *j)
{
	struct pg_ev ev;

	ev_init(&ev, j->failed ? EV_RESTART_FAILED : EV_RESTART_DONE, 0,
		j->nsvc == 1 ? j->svc[0]->conf->name : NULL);
	ev.u.job.mode = j->mode->name;
	ev.u.job.ms = rs_ms(j->t0_ns);
	ev.u.job.nsteps = j->nsteps;
	memcpy(ev.u.job.steps, j->steps_done, sizeof(ev.u.job.steps));
	if (j->failed)
		ev_detail(&ev, "%s", j->error);
	emit_event(&ev);
}

static void rs_finish(struct rs_job *j)
{
	struct ctl_client *c = j->client;
	struct status st = { 0 };
	int i;

	timer_close(&j->timer);
	for (i = 0; i < j->ntargets; i++)
		if (j->targets[i].w.fd >= 0) {
			loop_del(&j->targets[i].w);
			close(j->targets[i].w.fd);
			j->targets[i].w.fd = -1;
		}
	rs_journal(j);
	if (c) {
		rs_env.status(&st);
		c->on_close = NULL;
		control_reply(c, encode_job(!j->failed, j->mode->name, j->failed ? j->error : NULL,
					    rs_ms(j->t0_ns), j->steps_done, j->nsteps, &st));
		status_free(&st);
	}
	portset_free(j->ports);
	rs_job = NULL;
	if (rs_env.done)
		rs_env.done(j->mode->reclaim, j->svc, j->nsvc, !j->failed);
	if (c && !j->in_request)
		control_finish(c);
	loop_defer_free(j); /* its watches may have events pending in this batch */
}

static void rs_fail(struct rs_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rs_fail(struct rs_job *j, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->error, sizeof(j->error), fmt, ap);
	va_end(ap);
	j->failed = 1;
	rs_say(j, "FAILED: %s", j->error);
	rs_finish(j);
}

static void rs_step_done(struct rs_job *j)
{
	if (j->nsteps < EV_STEPS) {
		j->steps_done[j->nsteps].name = j->step_name;
		j->steps_done[j->nsteps++].ms = rs_ms(j->step_t0_ns);
	}
	timer_disarm(&j->timer);
	rs_next(j);
}

/* ---- stop ---- */

static void rs_stop_next(struct rs_job *j);

static void rs_stopped(struct pg_service *s, void *arg)
{
	struct rs_job *j = arg;

	rs_say(j, "stopped %s in %llu ms", s->conf->name,
	       (unsigned long long)rs_ms(j->step_t0_ns));
	j->waiting--;
	rs_stop_next(j);
}

/* Graceful: one service after the other, in reverse priority order. */
static void rs_stop_next(struct rs_job *j)
{
	while (j->idx >= 0) {
		struct pg_service *s = j->svc[j->idx--];
		int err;

		if (s->state == SVC_STOPPED && s->pid == 0)
			continue;
		j->waiting++;
		rs_say(j, "stopping %s (pid %d, %s)", s->conf->name, (int)s->pid,
		       strsignal(s->conf->stop_signal));
		err = supervise_stop(s, rs_stopped, j);
		if (err) {
			rs_fail(j, "%s: cannot stop: %s", s->conf->name, strerror(-err));
			return;
		}
		return; /* rs_stopped continues */
	}
	if (j->waiting == 0)
		rs_step_done(j);
}

static void rs_step_stop(struct rs_job *j)
{
	j->idx = j->nsvc - 1;
	j->waiting = 0;
	rs_stop_next(j);
}

/* Emergency: cgroup.kill every service at once. */
static void rs_killed(struct pg_service *s, void *arg)
{
	struct rs_job *j = arg;

	rs_say(j, "killed %s (cgroup.kill) in %llu ms", s->conf->name,
	       (unsigned long long)rs_ms(j->step_t0_ns));
	if (--j->waiting == 0)
		rs_step_done(j);
}

static void rs_step_kill(struct rs_job *j)
{
	int i;

	j->idx = -1;
	j->waiting = 1; /* held until every kill is issued */
	for (i = 0; i < j->nsvc; i++) {
		struct pg_service *s = j->svc[i];

		if (s->state == SVC_STOPPED && s->pid == 0)
			continue;
		j->waiting++;
		if (supervise_kill(s, rs_killed, j)) {
			rs_fail(j, "%s: cannot kill its cgroup", s->conf->name);
			return;
		}
	}
	if (--j->waiting == 0)
		rs_step_done(j);
}

/* ---- flush ---- */

static void rs_target_exited(struct pg_watch *w, uint32_t events)
{
	struct rs_target *t = w->arg;
	struct rs_job *j = t->job;
	int i, left = 0;

	(void)events;
	loop_del(w);
	close(w->fd);
	w->fd = -1;
	t->exited = 1;
	rs_say(j, "pid %u (%s) exited after %llu ms", t->pid, t->comm,
	       (unsigned long long)rs_ms(j->step_t0_ns));
	for (i = 0; i < j->ntargets; i++)
		left += !j->targets[i].exited;
	if (!left)
		rs_step_done(j);
}

static int rs_still_holds(const struct rs_target *t)
{
	int i;

	for (i = 0; i < t->ninodes; i++)
		if (proc_has_inode(t->pid, t->inode[i]))
			return 1;
	return 0;
}

/* Signal t through its pidfd, if it still holds a socket it was found with. */
static int rs_signal(struct rs_job *j, struct rs_target *t, int sig)
{
	if (t->w.fd < 0 || t->exited)
		return 0;
	if (!rs_still_holds(t)) {
		rs_say(j, "pid %u (%s) no longer holds port %d: not signalled", t->pid, t->comm,
		       t->port);
		return 0;
	}
	if (syscall(SYS_pidfd_send_signal, t->w.fd, sig, NULL, 0) < 0 && errno != ESRCH)
		return -errno;
	return 1;
}

static void rs_flush_timeout(struct pg_timer *tm)
{
	struct rs_job *j = tm->arg;
	int i;

	for (i = 0; i < j->ntargets; i++)
		if (!j->targets[i].exited) {
			rs_fail(j, "flush: pid %u (%s) still alive %d ms after SIGKILL",
				j->targets[i].pid, j->targets[i].comm, RS_RELEASE_TIMEOUT_MS);
			return;
		}
}

static void rs_flush_grace(struct pg_timer *tm)
{
	struct rs_job *j = tm->arg;
	int i;

	for (i = 0; i < j->ntargets; i++) {
		struct rs_target *t = &j->targets[i];

		if (!t->exited && rs_signal(j, t, SIGKILL) > 0)
			rs_say(j, "pid %u (%s) still alive after %d ms: SIGKILL", t->pid, t->comm,
			       RS_FLUSH_GRACE_MS);
	}
	j->timer.cb = rs_flush_timeout;
	timer_arm_ms(&j->timer, RS_RELEASE_TIMEOUT_MS);
}

static int rs_add_target(struct rs_job *j, const struct diag_sock *d, const struct diag_holder *h)
{
	struct rs_target *t;
	int i;

	for (i = 0; i < j->ntargets; i++)
		if (j->targets[i].pid == h->pid) {
			t = &j->targets[i];
			if (t->ninodes < 8)
				t->inode[t->ninodes++] = d->inode;
			return 0;
		}
	if (j->ntargets == RS_MAX_TARGETS)
		return -ENOSPC;
	t = &j->targets[j->ntargets];
	memset(t, 0, sizeof(*t));
	t->job = j;
	t->pid = h->pid;
	t->uid = h->uid;
	t->inode[t->ninodes++] = d->inode;
	t->port = d->port;
	memcpy(t->comm, h->comm, sizeof(t->comm));
	t->w.fd = syscall(SYS_pidfd_open, h->pid, 0);
	if (t->w.fd < 0)
		return 0; /* already gone */
	if (!rs_still_holds(t)) { /* the pid was reused since the dump: not ours to wait for */
		close(t->w.fd);
		return 0;
	}
	t->w.cb = rs_target_exited;
	t->w.arg = t;
	if (loop_add(&t->w, EPOLLIN) < 0) {
		close(t->w.fd);
		return -errno;
	}
	j->ntargets++;
	return 1;
}

/* Does any socket of pid hold a protected port? Names it in *port. */
static int rs_holds_protected(const struct diag_result *r, uint32_t pid, int *port)
{
	const struct pg_config *c = rs_env.config();
	int i, k;

	for (i = 0; i < r->n; i++)
		for (k = 0; k < r->socks[i].nholders; k++)
			if (r->socks[i].holders[k].pid == pid && c->protected_[r->socks[i].port]) {
				*port = r->socks[i].port;
				return 1;
			}
	return 0;
}

/* Each holder of an assigned port in r, a target, unless it is one portguard never kills. */
static void rs_pick_targets(struct rs_job *j, const struct diag_result *r)
{
	int i, k, prot;

	for (i = 0; i < r->n && !j->failed; i++) {
		const struct diag_sock *d = &r->socks[i];

		for (k = 0; !j->failed && j->ports->has[d->port] && k < d->nholders; k++) {
			const struct diag_holder *h = &d->holders[k];

			if (h->pid == 1 || h->pid == (uint32_t)getpid() || proc_is_kthread(h->pid))
				rs_fail(j, "flush: port %u is held by pid %u (%s), which portguard "
					"never kills", d->port, h->pid, h->comm);
			else if (rs_holds_protected(r, h->pid, &prot))
				rs_fail(j, "flush: pid %u (%s) holds assigned port %u and protected "
					"port %d: not killing it", h->pid, h->comm, d->port, prot);
			else if (rs_add_target(j, d, h) < 0)
				rs_fail(j, "flush: too many holders");
		}
	}
}

static void rs_step_flush(struct rs_job *j)
{
	const struct pg_config *c = rs_env.config();
	struct portset *want = portset_new();
	struct diag_result r = { 0 };
	int i, p, err, sig = j->mode->flush_sig;

	if (!want) {
		rs_fail(j, "flush: out of memory");
		return;
	}
	for (p = 1; p < 65536; p++)
		want->has[p] = j->ports->has[p] | c->protected_[p];
	err = diag_dump_holding(want->has, &r);
	portset_free(want);
	if (err) {
		rs_fail(j, "flush: sock_diag: %s", strerror(-err));
		return;
	}
	rs_pick_targets(j, &r);
	for (i = 0; i < r.n; i++) /* reported, never touched */
		if (c->protected_[r.socks[i].port] && r.socks[i].nholders)
			rs_say(j, "protected port %u held by pid %u (%s): left alone", r.socks[i].port,
			       r.socks[i].holders[0].pid, r.socks[i].holders[0].comm);
	diag_free(&r);
	if (j->failed)
		return;
	if (!j->ntargets) {
		rs_say(j, "flush: no process holds an assigned port");
		rs_step_done(j);
		return;
	}
	for (i = 0; i < j->ntargets; i++)
		if (rs_signal(j, &j->targets[i], sig) > 0)
			rs_say(j, "flush: %s pid %u (%s, uid %u) holding port %d", sigabbrev_np(sig),
			       j->targets[i].pid, j->targets[i].comm, j->targets[i].uid,
			       j->targets[i].port);
	j->timer.cb = rs_flush_grace;
	timer_arm_ms(&j->timer, RS_FLUSH_GRACE_MS);
}

/* ---- wait for the kernel's release of every assigned port ---- */

static int rs_port_held(struct rs_job *j, int *port, uint32_t *pid)
{
	const struct claims *t = rs_env.claims();
	uint64_t host = rs_env.host_netns();
	int i;

	for (i = 0; i < t->n; i++) {
		const struct claim *c = &t->v[i];

		if (c->netns == host && j->ports->has[c->port] && c->state >= CLAIM_BOUND) {
			*port = c->port;
			*pid = c->nholders ? c->holders[0].pid : 0;
			return 1;
		}
	}
	return 0;
}

static void rs_release_confirm(struct rs_job *j)
{
	struct diag_result r = { 0 };
	int err = diag_dump_holding(j->ports->has, &r);

	if (err) {
		rs_fail(j, "release: sock_diag: %s", strerror(-err));
		return;
	}
	if (r.n) {
		int port = r.socks[0].port;
		uint32_t pid = r.socks[0].nholders ? r.socks[0].holders[0].pid : 0;

		diag_free(&r);
		rs_fail(j, "release: port %d is still held (pid %u) after the flush", port, pid);
		return;
	}
	diag_free(&r);
	rs_say(j, "every assigned port is free (kernel release events, confirmed by sock_diag) "
		  "after %llu ms", (unsigned long long)rs_ms(j->step_t0_ns));
	rs_step_done(j);
}

static void rs_release_timeout(struct pg_timer *tm)
{
	struct rs_job *j = tm->arg;
	uint32_t pid = 0;
	int port = 0;

	if (rs_port_held(j, &port, &pid))
		rs_fail(j, "release: port %d still held by pid %u after %d ms", port, pid,
			RS_RELEASE_TIMEOUT_MS);
	else
		rs_release_confirm(j);
}

static void rs_step_release(struct rs_job *j)
{
	uint32_t pid;
	int port;

	if (!rs_port_held(j, &port, &pid)) {
		rs_release_confirm(j);
		return;
	}
	rs_say(j, "waiting for the kernel to release port %d", port);
	j->timer.cb = rs_release_timeout;
	timer_arm_ms(&j->timer, RS_RELEASE_TIMEOUT_MS);
}

/* ---- stale pidfiles and unix socket files ---- */

static int rs_unix_path_live(const char *path)
{
	char line[4096];
	FILE *f = fopen("/proc/net/unix", "r");
	int live = 0;

	if (!f)
		return 1; /* cannot tell: leave it */
	while (!live && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/');

		if (p) {
			p[strcspn(p, "\n")] = 0;
			live = !strcmp(p, path);
		}
	}
	fclose(f);
	return live;
}

static void rs_clean_pidfile(struct rs_job *j, struct pg_service *s)
{
	const char *path = s->conf->pidfile;
	char comm[64] = "?";
	struct stat st;
	pid_t pid;

	if (!path || lstat(path, &st) < 0)
		return;
	pid = fs_read_pid(path); /* the service wrote it: no FIFO can stall the guard here */
	if (pid > 0 && kill(pid, 0) == 0) {
		proc_comm((uint32_t)pid, comm, sizeof(comm));
		/* The service is stopped and its cgroup empty: this pid was recycled. */
		rs_say(j, "%s: pidfile %s names pid %d (%s), a live process that is not the "
			  "service: left alone, file replaced", s->conf->name, path, (int)pid, comm);
	} else {
		rs_say(j, "%s: removed stale pidfile %s", s->conf->name, path);
	}
	unlink(path);
}

static void rs_clean_socket(struct rs_job *j, struct pg_service *s)
{
	const char *path = s->conf->socket;
	struct stat st;

	if (!path || lstat(path, &st) < 0)
		return;
	if (!S_ISSOCK(st.st_mode)) {
		rs_say(j, "%s: %s is not a socket: left alone", s->conf->name, path);
	} else if (rs_unix_path_live(path)) {
		rs_say(j, "%s: socket %s is in use by a live process: left alone", s->conf->name,
		       path);
	} else {
		unlink(path);
		rs_say(j, "%s: removed stale socket %s", s->conf->name, path);
	}
}

static void rs_step_clean(struct rs_job *j)
{
	int i;

	for (i = 0; i < j->nsvc; i++) {
		rs_clean_pidfile(j, j->svc[i]);
		rs_clean_socket(j, j->svc[i]);
	}
	rs_step_done(j);
}

/* ---- start, one priority group after the other ---- */

static void rs_start_group(struct rs_job *j);

static void rs_start_timeout(struct pg_timer *tm)
{
	struct rs_job *j = tm->arg;
	int i;

	for (i = 0; i < j->nsvc && i < j->idx; i++)
		if (j->svc[i]->state != SVC_RUNNING) {
			rs_fail(j, "%s: not ready in time; see %s/%s.log", j->svc[i]->conf->name,
				rs_env.config()->log_dir, j->svc[i]->conf->name);
			return;
		}
}

/*
 * Start one priority group. Its http services gate the next group (their
 * readiness is real: the kernel saw the listen); a background service is
 * started in its turn, but its start window runs alongside the next groups
 * and is awaited before the step ends.
 */
static void rs_start_group(struct rs_job *j)
{
	uint64_t deadline = 0;
	int prio;

	if (j->idx >= j->nsvc) {
		if (j->bg_pending == 0)
			rs_step_done(j);
		return;
	}
	prio = j->group_prio = j->svc[j->idx]->conf->priority;
	j->waiting = 1;
	for (; j->idx < j->nsvc && j->svc[j->idx]->conf->priority == prio; j->idx++) {
		struct pg_service *s = j->svc[j->idx];
		int err;

		if (s->state == SVC_RUNNING)
			continue;
		if (s->conf->type == PG_SVC_HTTP)
			j->waiting++;
		else
			j->bg_pending++;
		err = supervise_start(s);
		if (rs_job != j)
			return; /* it failed at once and the job ended */
		if (err) {
			rs_fail(j, "%s: cannot start: %s; see %s/%s.log", s->conf->name,
				strerror(-err), rs_env.config()->log_dir, s->conf->name);
			return;
		}
		if (s->conf->start_timeout_ms > deadline)
			deadline = s->conf->start_timeout_ms;
	}
	/* the supervisor's own start_timeout fires first; this is a safety net */
	j->timer.cb = rs_start_timeout;
	timer_arm_ms(&j->timer, deadline + 1000);
	if (--j->waiting == 0)
		rs_start_group(j);
}

static void rs_step_start(struct rs_job *j)
{
	j->idx = 0;
	j->bg_pending = 0;
	rs_start_group(j);
}

void restart_on_service(enum ev_type type, struct pg_service *s)
{
	struct rs_job *j = rs_job;
	int i, mine = 0;

	if (!j || !j->step_name || strcmp(j->step_name, "start"))
		return;
	for (i = 0; i < j->nsvc; i++)
		mine |= j->svc[i] == s;
	if (!mine)
		return;
	if (s->conf->type == PG_SVC_HTTP && s->conf->priority != j->group_prio)
		return;
	if (type == EV_SERVICE_READY) {
		if (s->conf->port)
			rs_say(j, "started %s (pid %d): listening on %d after %llu ms", s->conf->name,
			       (int)s->pid, s->conf->port, (unsigned long long)rs_ms(j->step_t0_ns));
		else
			rs_say(j, "started %s (pid %d): alive after its %llu ms start window",
			       s->conf->name, (int)s->pid,
			       (unsigned long long)s->conf->start_window_ms);
		if (s->conf->type != PG_SVC_HTTP) {
			if (--j->bg_pending == 0 && j->idx >= j->nsvc && j->waiting == 0) {
				timer_disarm(&j->timer);
				rs_step_done(j);
			}
		} else if (--j->waiting == 0) {
			timer_disarm(&j->timer);
			rs_start_group(j);
		}
	} else if (type == EV_SERVICE_EXIT || type == EV_SERVICE_FATAL) {
		if (s->conf->port)
			rs_fail(j, "%s: not listening on %d after %llu ms: it exited or timed out; "
				"see %s/%s.log", s->conf->name, s->conf->port,
				(unsigned long long)rs_ms(j->step_t0_ns), rs_env.config()->log_dir,
				s->conf->name);
		else
			rs_fail(j, "%s: exited during its start window; see %s/%s.log",
				s->conf->name, rs_env.config()->log_dir, s->conf->name);
	}
}

/* ---- verify ---- */

/* What port p must be after the job: its http owner's, or free. NULL: as it is. */
static const char *rs_verify_port(struct rs_job *j, const struct st_port *p, char *want, size_t len)
{
	struct pg_service *owner = supervise_by_port(p->port);
	int i, selected = 0, http = owner && owner->conf->type == PG_SVC_HTTP;

	for (i = 0; i < j->nsvc; i++)
		selected |= j->svc[i] == owner;
	if (!j->ports->has[p->port] || (owner && !selected))
		return NULL;
	if (http ? p->state == PORT_OWNED : p->state == PORT_FREE)
		return NULL;
	if (http)
		snprintf(want, len, "owned by %s", owner->conf->name);
	else
		snprintf(want, len, "free");
	return want;
}

static void rs_step_verify(struct rs_job *j)
{
	struct status st = { 0 };
	char want[96];
	int i;

	for (i = 0; i < j->nsvc; i++)
		if (j->svc[i]->state != SVC_RUNNING) {
			rs_fail(j, "verify: %s is %s", j->svc[i]->conf->name,
				svc_state_name(j->svc[i]->state));
			return;
		}
	if (rs_env.status(&st) < 0) {
		status_free(&st);
		rs_fail(j, "verify: out of memory");
		return;
	}
	for (i = 0; i < st.nports; i++)
		if (rs_verify_port(j, &st.ports[i], want, sizeof(want))) {
			int port = st.ports[i].port;
			enum port_state state = st.ports[i].state;

			status_free(&st);
			rs_fail(j, "verify: port %d is %s, expected %s", port,
				port_state_name(state), want);
			return;
		}
	status_free(&st);
	rs_say(j, "verified: every service RUNNING, every assigned port held by its owner "
		  "(total %llu ms)", (unsigned long long)rs_ms(j->t0_ns));
	rs_step_done(j);
}

/* ---- the job ---- */

#define RS_STOP { "stop", rs_step_stop }
#define RS_KILL { "kill", rs_step_kill }
#define RS_FLUSH { "flush", rs_step_flush }
#define RS_RELEASE { "release", rs_step_release }
#define RS_CLEAN { "clean", rs_step_clean }
#define RS_START { "start", rs_step_start }
#define RS_VERIFY { "verify", rs_step_verify }
#define RS_END { NULL, NULL }

static const struct rs_step rs_master[] = { RS_STOP,  RS_FLUSH,	 RS_RELEASE, RS_CLEAN,
					    RS_START, RS_VERIFY, RS_END };
static const struct rs_step rs_quick[] = { RS_STOP, RS_START, RS_VERIFY, RS_END };
static const struct rs_step rs_emergency[] = { RS_KILL,	 RS_FLUSH,  RS_RELEASE, RS_CLEAN,
					       RS_START, RS_VERIFY, RS_END };
static const struct rs_step rs_stop_only[] = { RS_STOP, RS_END };
static const struct rs_step rs_start_only[] = { RS_START, RS_VERIFY, RS_END };

static void rs_next(struct rs_job *j)
{
	const struct rs_step *st = &j->steps[j->step];

	if (!st->fn) {
		rs_finish(j);
		return;
	}
	j->step++;
	j->step_t0_ns = now_ns();
	j->step_name = st->name;
	st->fn(j);
}

void restart_on_claims(void)
{
	struct rs_job *j = rs_job;
	uint32_t pid;
	int port;

	if (!j || !j->step_name || strcmp(j->step_name, "release"))
		return;
	if (!rs_port_held(j, &port, &pid)) {
		timer_disarm(&j->timer);
		rs_release_confirm(j);
	}
}

static void rs_timer_none(struct pg_timer *tm)
{
	(void)tm;
}

static void rs_client_gone(struct ctl_client *c)
{
	if (rs_job && rs_job->client == c)
		rs_job->client = NULL;
}

int restart_busy(void)
{
	return rs_job != NULL;
}

static const struct rs_mode rs_modes[] = {
	{ "master", rs_master, 1, SIGTERM, 0 },
	{ "quick", rs_quick, 1, SIGTERM, 0 },
	{ "emergency", rs_emergency, 1, SIGKILL, 0 },
	{ "stop", rs_stop_only, 0, SIGTERM, 0 },
	{ "start", rs_start_only, 0, SIGTERM, 0 },
	{ "reclaim", rs_master, 0, SIGTERM, 1 }, /* master, for one port, by the guard itself */
};
#define RS_NMODES (sizeof(rs_modes) / sizeof(rs_modes[0]))

static const struct rs_mode *rs_mode_find(const char *name)
{
	size_t m;

	for (m = 0; m < RS_NMODES; m++)
		if (!strcmp(rs_modes[m].name, name))
			return &rs_modes[m];
	return NULL;
}

/* "master, quick or emergency": the modes of `restart`, from the table. */
static const char *rs_mode_list(char *buf, size_t len)
{
	size_t m, n = 0, k = 0, at = 0;

	for (m = 0; m < RS_NMODES; m++)
		n += rs_modes[m].by_hand;
	buf[0] = 0;
	for (m = 0; m < RS_NMODES && at < len; m++)
		if (rs_modes[m].by_hand)
			at += snprintf(buf + at, len - at, "%s%s", !k++ ? "" : k == n ? " or " : ", ",
				       rs_modes[m].name);
	return buf;
}

/* Select the services (all, or those named) and their ports; an error line on a bad name. */
static char *rs_select(struct rs_job *j, const struct ctl_request *req)
{
	const struct pg_config *c = rs_env.config();
	int i, k, n = req ? req->nnames : 0;

	for (k = 0; k < n; k++)
		if (!supervise_by_name(req->names[k]))
			return encode_error("no service named \"%s\" in %s", req->names[k], c->path);
	for (i = 0; i < supervise_count(); i++) {
		struct pg_service *s = supervise_get(i);
		int want = n == 0;

		for (k = 0; k < n && !want; k++)
			want = !strcmp(req->names[k], s->conf->name);
		if (want) {
			j->svc[j->nsvc++] = s;
			if (s->conf->port)
				j->ports->has[s->conf->port] = 1;
		}
	}
	if (n == 0) /* everything: every assigned port, the reserved ones too */
		for (i = 1; i < 65536; i++)
			j->ports->has[i] |= c->guarded[i];
	return NULL;
}

/* A new job of mode on the services req names (all when NULL or none); NULL and *err. */
static struct rs_job *rs_new(const struct rs_mode *mode, const struct ctl_request *req,
			     char **err)
{
	struct rs_job *j = calloc(1, sizeof(*j));

	if (j)
		j->ports = portset_new();
	if (!j || !j->ports || timer_init(&j->timer, rs_timer_none, j) < 0) {
		if (j)
			portset_free(j->ports);
		free(j);
		*err = encode_error("out of resources");
		return NULL;
	}
	*err = rs_select(j, req);
	if (*err) {
		timer_close(&j->timer);
		portset_free(j->ports);
		free(j);
		return NULL;
	}
	j->mode = mode;
	j->steps = mode->steps;
	j->t0_ns = now_ns();
	return j;
}

int restart_reclaim(struct pg_service *s)
{
	struct ctl_request *req;
	struct rs_job *j;
	char *err = NULL;

	if (rs_job)
		return -EBUSY;
	req = calloc(1, sizeof(*req));
	if (!req)
		return -ENOMEM;
	req->nnames = 1;
	snprintf(req->names[0], sizeof(req->names[0]), "%s", s->conf->name);
	j = rs_new(rs_mode_find("reclaim"), req, &err);
	free(req);
	if (!j) {
		free(err);
		return -ENOMEM;
	}
	/* a reclaim flushes the owner's port only, never the reserved ones */
	memset(j->ports->has, 0, sizeof(j->ports->has));
	j->ports->has[s->conf->port] = 1;
	rs_job = j;
	log_info("reclaim of port %d for %s", s->conf->port, s->conf->name);
	rs_next(j);
	return 0;
}

/* Why req cannot start a job now (an error line), or NULL and *mode. */
static char *rs_refusal(struct ctl_client *c, const struct ctl_request *req,
			const struct rs_mode **mode)
{
	char modes[64];

	if (c->uid != 0)
		return encode_error("%s changes state: it requires root", req->cmd);
	if (rs_job)
		return encode_error("a %s is already running (step %s, %llu ms so far): try again "
				    "when it ends", rs_job->mode->name,
				    rs_job->step_name ? rs_job->step_name : "-",
				    (unsigned long long)rs_ms(rs_job->t0_ns));
	*mode = rs_mode_find(req->cmd);
	if (!strcmp(req->cmd, "restart")) {
		*mode = rs_mode_find(req->has_mode ? req->mode : "master");
		if (!*mode || !(*mode)->by_hand)
			return encode_error("unknown restart mode \"%.32s\" (%s)", req->mode,
					    rs_mode_list(modes, sizeof(modes)));
	}
	if (!*mode)
		return encode_error("\"%.32s\" is not a job", req->cmd);
	if (req->services_bad)
		return encode_error("\"services\" must be a list of names");
	if (req->too_many)
		return encode_error("\"services\": more than %d names", CTL_NAMES_MAX);
	return NULL;
}

int restart_request(struct ctl_client *c, const struct ctl_request *req)
{
	const struct rs_mode *mode = NULL;
	struct rs_job *j = NULL;
	char *err = rs_refusal(c, req, &mode);

	if (!err)
		j = rs_new(mode, req, &err);
	if (!j) {
		control_reply(c, err);
		return 0;
	}
	j->client = c;
	c->on_close = rs_client_gone;
	j->in_request = 1;
	rs_job = j;
	log_info("%s requested by pid %d (%d services)", j->mode->name, (int)c->pid, j->nsvc);
	rs_next(j);
	if (rs_job != j)
		return 0; /* finished at once: the caller closes the client */
	j->in_request = 0;
	return 1;
}

int restart_mode_steps(const char *mode, const char **names, int max)
{
	const struct rs_mode *m = rs_mode_find(mode);
	int n;

	for (n = 0; m && m->steps[n].fn && n < max; n++)
		names[n] = m->steps[n].name;
	return m ? n : -1;
}
