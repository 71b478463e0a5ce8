/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The guard daemon's lifecycle: lock, attach, seed, wire the modules
 * (watch: kernel events -> claims -> conflicts; reclaim; restart; reload;
 * request: the control socket), run the one epoll loop, shut down.
 */
#include <errno.h>
#include <malloc.h>
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
#include <unistd.h>

#include "agg.h"
#include "alerts.h"
#include "claims.h"
#include "config.h"
#include "control.h"
#include "ctx.h"
#include "emit.h"
#include "encode.h"
#include "event.h"
#include "fs.h"
#include "guard.h"
#include "journal.h"
#include "journald.h"
#include "loader.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "notify.h"
#include "reclaim.h"
#include "reload.h"
#include "request.h"
#include "restart.h"
#include "snapshot.h"
#include "spawn.h"
#include "supervise.h"
#include "sysctl.h"
#include "watch.h"

static struct guard_ctx G;
static struct pg_watch G_ring_w, G_sig_w;
static int G_lock_fd = -1;
static struct ctl_client *G_shutdown_client;

static const struct pg_config *guard_config(void)
{
	return G.cfg;
}

static uint64_t guard_host_netns(void)
{
	return G.host_netns;
}

/* ---- the supervisor's lifecycle events ---- */

static void guard_on_service(enum ev_type type, struct pg_service *s, const char *detail)
{
	struct pg_ev ev;

	ev_init(&ev, type, 0, s->conf->name);
	ev.u.svc.port = s->conf->port;
	ev.u.svc.pid = s->pid > 0 ? (uint32_t)s->pid : 0;
	ev.u.svc.state = svc_state_name(s->state);
	if (detail)
		ev_detail(&ev, "%s", detail);
	emit_event(&ev);
	restart_on_service(type, s);
	snapshot_notify();
	if (type == EV_SERVICE_EXIT || type == EV_SERVICE_BACKOFF || type == EV_SERVICE_FATAL)
		reclaim_maybe(s);
}

static void guard_ring_ready(struct pg_watch *w, uint32_t events)
{
	(void)w;
	(void)events;
	watch_consume(0);
	snapshot_notify();
}

/* ---- shutdown ---- */

static void guard_shutdown_client_gone(struct ctl_client *c)
{
	if (G_shutdown_client == c)
		G_shutdown_client = NULL;
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
	if (G_shutdown_client) {
		G_shutdown_client->on_close = NULL;
		control_reply(G_shutdown_client, encode_ok(NULL));
	}
	log_info("shutdown: every service stopped, the guard exits");
	notify_stopping();
	loop_stop();
}

/* `shutdown` from c (root; no job, no other shutdown): answered when every service stopped. */
static int guard_shutdown(struct ctl_client *c)
{
	G.shutdown_pending = 1;
	G_shutdown_client = c;
	reclaim_reset();
	c->on_close = guard_shutdown_client_gone;
	log_info("shutdown requested by pid %d: stopping every service", (int)c->pid);
	supervise_stop_all(guard_shutdown_done, NULL);
	return 1;
}

/* ---- signals ---- */

/*
 * Signals whose default would end the guard and that mean nothing to it
 * (SIGUSR1 from a logrotate script written for another daemon, SIGALRM,
 * a real-time signal): taken on the signalfd and ignored, a line a second
 * at most saying so. The faults (SIGSEGV, SIGBUS, ...) and SIGQUIT keep
 * their defaults; SIGKILL and SIGSTOP cannot be caught.
 */
static int guard_signal_is_ignored(int sig)
{
	switch (sig) {
	case SIGUSR1:
	case SIGUSR2:
	case SIGALRM:
	case SIGVTALRM:
	case SIGPROF:
	case SIGIO:
	case SIGPWR:
#ifdef SIGSTKFLT
	case SIGSTKFLT:
#endif
		return 1;
	}
	return sig >= SIGRTMIN && sig <= SIGRTMAX;
}

static void guard_signal_ignored(const struct signalfd_siginfo *si)
{
	static uint64_t last_ms;
	static unsigned long quiet;

	if (!every_ms(&last_ms, 1000)) {
		quiet++;
		return;
	}
	log_info("signal %u (%s) from pid %u ignored%s", si->ssi_signo, strsignal(si->ssi_signo),
		 si->ssi_pid, quiet ? " (and more in the last second)" : "");
	quiet = 0;
}

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
		reload_start(NULL);
		break;
	default:
		guard_signal_ignored(&si);
		break;
	}
}

static int guard_signals(void)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	for (sig = 1; sig <= SIGRTMAX; sig++)
		if (guard_signal_is_ignored(sig))
			sigaddset(&set, sig);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN); /* a write past RLIMIT_FSIZE fails with EFBIG instead */
	G_sig_w.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (G_sig_w.fd < 0)
		return -errno;
	G_sig_w.cb = guard_signal;
	return loop_add(&G_sig_w, EPOLLIN);
}

/* The control socket dropped a client for its behaviour: the journal says so. */
static void guard_control_notice(const char *what, pid_t pid, uid_t uid)
{
	struct pg_ev ev;

	ev_init(&ev, EV_CONTROL_CLIENT_DROPPED, 0, NULL);
	ev.u.client.pid = pid;
	ev.u.client.uid = uid;
	ev_detail(&ev, "%s", what);
	emit_event(&ev);
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
	ok = flock(G_lock_fd, LOCK_EX) == 0;
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	return ok;
}

/* One guard per instance: a lock in state_dir, taken before anything else. */
static int guard_lock(const struct pg_config *cfg)
{
	char path[PATH_MAX];

	int err;

	fs_path(path, sizeof(path), cfg->state_dir, FS_LOCK, NULL);
	err = fs_mkdir_p(cfg->state_dir, 0750);
	if (!err && (G_lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
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
	if (flock(G_lock_fd, LOCK_EX | LOCK_NB) < 0 && !guard_lock_wait(cfg)) {
		log_warnx("a guard is already running for %s (%s is locked)", cfg->name, path);
		return -EALREADY;
	}
	return 0;
}

/* The pinned state was of another layout: what was migrated, journaled. */
static void guard_layout_migrated(const struct layout *Y)
{
	struct pg_ev ev;
	char buf[256];

	log_info("%s: %llu entries copied, %llu did not fit; %llu old ring records read, "
		 "%llu of no known size", layout_summary(Y, buf, sizeof(buf)),
		 (unsigned long long)Y->copied, (unsigned long long)Y->dropped,
		 (unsigned long long)Y->ring_read, (unsigned long long)Y->ring_bad);
	ev_init(&ev, EV_LAYOUT_MIGRATED, 0, NULL);
	ev.u.layout.from = Y->old.layout;
	ev.u.layout.to = PG_LAYOUT;
	ev_detail(&ev, "%s", buf);
	ev.u.layout.copied = Y->copied;
	ev.u.layout.dropped = Y->dropped;
	ev.u.layout.ring_read = Y->ring_read;
	emit_event(&ev);
	if (!Y->ring_bad && !Y->dropped)
		return;
	ev_init(&ev, EV_EVENTS_LOST, 0, NULL);
	ev.u.lost.count = Y->ring_bad + Y->dropped;
	ev_detail(&ev, "the migration of the pinned state could not carry everything over; "
		       "the claim table was re-synced");
	emit_event(&ev);
}

/* A restart job ended: reclaim's bookkeeping, then a SIGHUP that came meanwhile. */
static void guard_job_done(int reclaim, struct pg_service **svc, int n, int ok)
{
	reclaim_job_done(reclaim, svc, n, ok);
	reload_kick();
}

/* Every module, told of the others through its interface. */
static void guard_wire(void)
{
	static const struct watch_hooks wh = { reclaim_maybe, restart_on_claims };
	static const struct restart_env re = { guard_config, watch_claims, guard_host_netns,
					       snapshot_guard, guard_job_done };

	watch_init(&G, &wh);
	reclaim_init(&G);
	restart_init(&re);
	reload_init(&G);
	snapshot_init(&G);
	metrics_set_port_source(snapshot_each_port); /* portguard_port_state, per scrape */
	request_init(&G, guard_shutdown);
}

/* The kernel side: attached and its maps filled. */
static int guard_attach(struct pg_config *cfg)
{
	char why[512];
	int err;

	err = loader_open(&G.L, cfg->ring_buffer_kb, cfg->bpffs, cfg->name, watch_on_kevent, NULL,
			  why, sizeof(why));
	if (err) {
		log_warnx("%s", why);
		return err;
	}
	G.host_netns = G.L.host_netns;
	/*
	 * The probe (cgroup/sock_create) runs only where SO_NETNS_COOKIE is missing
	 * (loader_host_netns): attaching it flips the kernel's static key of
	 * every socket() on the host, for nothing where the sockopt works; and
	 * under qemu's TCG that patching, beside a process in a socket() loop,
	 * left a vCPU spinning in inet_create (the Debian 12 guest, soft lockup).
	 */
	if (G.L.reused)
		log_info("reused the pinned programs and maps of an earlier guard: enforcement had "
			 "no gap; reading what happened meanwhile");
	return 0;
}

/* Journal, alerts, metrics, services: everything before the kernel's maps. */
static int guard_open_parts(struct pg_config *cfg, char *journal, size_t len)
{
	static const struct agg_hooks agg_hooks = { watch_on_folded, watch_folded_socks,
						    snapshot_notify };
	int err;

	fs_path(journal, len, cfg->state_dir, FS_JOURNAL, NULL);
	if ((err = journal_open(journal, cfg->journal_max))) {
		log_warnx("cannot open the journal %s: %s", journal, strerror(-err));
		return err;
	}
	emit_set_config(cfg);
	if ((err = alerts_init(cfg, emit_publish)) || (err = metrics_init(cfg, &G.L)) ||
	    (err = agg_init(&G.L, &agg_hooks, cfg->coalesce_ms)))
		return err;
	if ((err = supervise_init(cfg, guard_on_service)))
		return err;
	if ((err = reload_apply_policy())) {
		log_warnx("cannot fill the port maps: %s", strerror(-err));
		return err;
	}
	if (cfg->mode == PG_MODE_ENFORCE)
		sysctl_reserve_ports(cfg);
	return 0;
}

/*
 * Attached first, then seeded: nothing falls between the two. Then what
 * happened while no guard ran, journaled in order and read against the
 * sockets that are there (an owner's failed bind is judged by who holds
 * the port now; claims are by socket cookie, so an event older than the
 * table updates or removes only its own socket's claim).
 */
static void guard_seed(void)
{
	int i;

	watch_resync("start");
	watch_consume(1);
	if (G.L.Y.migrated)
		guard_layout_migrated(&G.L.Y);
	for (i = 0; i < supervise_count(); i++) {
		struct pg_service *s = supervise_get(i);
		struct claim probe = { .port = s->conf->port, .netns = G.host_netns,
				       .proto = IPPROTO_TCP };

		if (s->conf->port)
			watch_listen_state(&probe);
	}
}

/* The control socket and the ring in the loop. */
static int guard_listen(struct pg_config *cfg)
{
	int err;

	control_set_notice(guard_control_notice);
	err = control_open(cfg->control, cfg->control_group, request_handle);
	if (err == -EADDRINUSE)
		log_warnx("a guard is already running for %s (control socket %s answers)",
			  cfg->name, cfg->control);
	else if (err)
		log_warnx("cannot open the control socket %s: %s", cfg->control, strerror(-err));
	if (err)
		return err;
	G_ring_w.fd = loader_ring_fd(&G.L);
	G_ring_w.cb = guard_ring_ready;
	return loop_add(&G_ring_w, EPOLLIN);
}

/* Started: services up, strangers on their ports reclaimed, the parent and systemd told. */
static void guard_started(int ready_fd)
{
	int i;

	supervise_start_all();
	watch_consume(1);
	for (i = 0; i < supervise_count(); i++) /* ports held by strangers at start-up */
		reclaim_maybe(supervise_get(i));
	if (ready_fd >= 0) { /* run --daemon: the parent may go */
		if (write(ready_fd, "R", 1) < 0)
			log_warn("telling the parent we are ready");
		close(ready_fd);
	}
	notify_ready(); /* attached, services adopted or started, control socket up */
	snapshot_notify();
	malloc_trim(0); /* what the load used (BTF, the object) goes back: some 2 MiB */
}

static void guard_close(void)
{
	agg_flush(); /* what the kernel folded, then the open coalescing windows: journaled now */
	agg_close();
	alerts_close();
	metrics_close();
	control_close();
	supervise_cleanup();
	loader_close(&G.L);
	journal_close();
	watch_close();
	emit_reset();
	reclaim_close();
	reload_close();
	if (G_lock_fd >= 0)
		close(G_lock_fd);
	G_lock_fd = -1;
	config_free(G.cfg); /* ours since guard_run; a reload may have replaced it */
	G.cfg = NULL;
}

int guard_run(struct pg_config *cfg, int ready_fd)
{
	char journal[4096];
	int err;

	memset(&G, 0, sizeof(G));
	log_stderr_nonblock();
	notify_init();
	journald_init(); /* stderr is the journal: events go there with their fields */
	G.cfg = cfg;
	G.start_ms = now_ms();
	guard_wire();
	if ((err = guard_lock(cfg)) || (err = loop_init()) || (err = guard_signals()) ||
	    (err = guard_attach(cfg)) || (err = guard_open_parts(cfg, journal, sizeof(journal))))
		goto out;
	spawn_priority(cfg->priority_boost); /* once it is a guard: an unprivileged run says why not */
	guard_seed();
	if ((err = guard_listen(cfg)))
		goto out;
	log_info("guarding %s: %s mode, config %s, control %s, journal %s", cfg->name,
		 cfg->mode == PG_MODE_OBSERVE ? "observe" : "enforce", cfg->path, cfg->control,
		 journal);
	guard_started(ready_fd);
	err = loop_run();
out:
	guard_close();
	return err;
}
