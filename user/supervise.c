/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The embedded supervisor. Each service runs setsid() in its own cgroup v2
 * (<cg_root>/portguard-<name>/<service>), so the guard may exit or crash and
 * the services keep running; a restarted guard adopts them. Every wait is an
 * fd of the one event loop: a pidfd for the main process, inotify on the
 * cgroup's cgroup.events, one timerfd per service and the socket of an
 * in-flight health check. The state machine is the table svc_actions below.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <wordexp.h>

#include "cgroup.h"
#include "event.h"
#include "fs.h"
#include "log.h"
#include "proc.h"
#include "spawn.h"
#include "supervise.h"
#include "svcnotify.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define SVC_BACKOFF_MIN_MS 100ULL
#define SVC_BACKOFF_MAX_MS 10000ULL
#define SVC_STABLE_MS 10000ULL	/* RUNNING this long: the next exit is not a failure */
#define SVC_MAX_FAILURES 5
#define SVC_HEALTH_RETRY_MS 50ULL

/* State private to this file, parallel to svc_tab[] (struct pg_service is fixed). */
struct svc_priv {
	struct pg_watch exec_w; /* the child's report pipe: EOF at exec, data if it failed */
	struct pg_watch pidf_w; /* forking: inotify on the pidfile's directory while it is awaited */
	int main_known;		/* forking: the pidfile named the main process (simple: always) */
	struct svn_sock notify;	/* type = notify: its NOTIFY_SOCKET */
	int notified;		/* notify: READY=1 came for this start (others: always) */
	int reloading, stopping; /* notify: RELOADING=1 / STOPPING=1 and no READY=1 since */
	char nstatus[SVN_STATUS_MAX]; /* notify: the last STATUS= */
	struct pg_watch old_w;	/* notify: a main process MAINPID= replaced, reaped when it exits */
	int failed;		/* the current run failed to start (not ready in time) */
	int health_v6;		/* the in-flight check goes to ::1 */
	int health_sent;	/* request written, reading the status line */
	size_t health_len;
	char health_buf[128];
};

/*
 * Services live in fixed slots (their watches point into them, so a slot never
 * moves); svc_order[] lists the slots in use in priority order.
 */
static struct pg_service svc_tab[PG_MAX_SERVICES];
static struct svc_priv svc_priv_tab[PG_MAX_SERVICES];
static int svc_order[PG_MAX_SERVICES];
static int svc_n;
#define SVC(i) (&svc_tab[svc_order[i]])
static const struct pg_config *svc_conf;
static svc_event_fn svc_emit_fn;
static char svc_instance[PATH_MAX];
static int svc_delegated; /* svc_instance is our systemd unit's own cgroup: never removed */

static int svc_stopall_idx = -1;	/* next service to stop, -1 when idle */
static struct pg_service *svc_stopall_wait;
static int svc_stopall_stepping;
static void (*svc_stopall_done)(void *);
static void *svc_stopall_arg;

static const char *const svc_state_names[SVC__NSTATES] = {
	[SVC_STOPPED] = "STOPPED", [SVC_STARTING] = "STARTING", [SVC_RUNNING] = "RUNNING",
	[SVC_BACKOFF] = "BACKOFF", [SVC_STOPPING] = "STOPPING", [SVC_EXITED] = "EXITED",
	[SVC_FATAL] = "FATAL",
};

static int svc_dispatch(struct pg_service *s, enum svc_event ev);
/* used before their sections (type = forking, the state machine's actions) */
static int svc_ready_on_exec(const struct pg_service_conf *sc);
static void svc_forking_prepare(struct pg_service *s);
static void svc_pidfile_unwatch(struct pg_service *s);
static int svc_forking_parent_exit(struct pg_service *s);
static int svc_act_listen(struct pg_service *s);
static int svc_act_check_done(struct pg_service *s);
static void svc_settle(struct pg_service *s);
static void svc_begin_stop(struct pg_service *s, int sig);
static void svc_maybe_ready(struct pg_service *s);
static int svc_notify_open(struct pg_service *s);
static void svc_notify_close(struct pg_service *s);


const char *svc_state_name(enum svc_state st)
{
	if ((unsigned)st >= SVC__NSTATES)
		return "UNKNOWN";
	return svc_state_names[st];
}

static struct svc_priv *svc_priv(struct pg_service *s)
{
	return &svc_priv_tab[s - svc_tab];
}

static void svc_emit(enum ev_type type, struct pg_service *s, const char *detail)
{
	log_debug("%s: %s%s%s", s->conf->name, ev_type_name(type), detail ? ": " : "",
		  detail ? detail : "");
	if (svc_emit_fn)
		svc_emit_fn(type, s, detail);
}

/* ---- small file and /proc helpers ---- */

/* Field 22 of /proc/PID/stat: start time in clock ticks after boot. 0 on error. */
static unsigned long long svc_proc_starttime(pid_t pid)
{
	return proc_stat((uint32_t)pid, 22);
}

static int64_t svc_boot_time_s(void)
{
	char line[256];
	long long bt = 0;
	FILE *f;

	f = fopen("/proc/stat", "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %lld", &bt) == 1)
			break;
	fclose(f);
	return bt;
}

static long svc_clk_tck(void)
{
	long hz = sysconf(_SC_CLK_TCK);

	return hz > 0 ? hz : 100;
}

static int svc_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void svc_main_path(struct pg_service *s, char *buf, size_t len)
{
	fs_path(buf, len, svc_conf->state_dir, s->conf->name, FS_MAIN);
}

/*
 * pid pinned with a pidfd, then checked alive inside the service's cgroup
 * (the pid cannot be recycled while pinned): the pidfd, or -1 (closed).
 */
static int svc_pin_in_cgroup(struct pg_service *s, pid_t pid)
{
	int fd = pid > 1 && pid != getpid() ? svc_pidfd_open(pid) : -1;

	if (fd >= 0 && (!cg_pid_within(pid, s->cgpath) ||
			syscall(SYS_pidfd_send_signal, fd, 0, NULL, 0) < 0)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* ---- signalling the cgroup, never anything outside it ---- */

static void svc_signal_one(struct pg_service *s, pid_t pid, int sig)
{
	int fd;

	if (pid <= 1 || pid == getpid())
		return;
	/* pin the process first, then check it is ours: a recycled pid cannot slip in */
	fd = svc_pidfd_open(pid);
	if (fd < 0)
		return;
	if (cg_pid_within(pid, s->cgpath) && syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) < 0)
		log_warn("%s: signal %d to pid %d", s->conf->name, sig, (int)pid);
	close(fd);
}

static void svc_signal_all(struct pg_service *s, int sig)
{
	pid_t *pids;
	int i, n;

	n = cg_procs(s->cgpath, &pids);
	if (n < 0) {
		log_warnx("%s: cannot list %s: %s", s->conf->name, s->cgpath, strerror(-n));
		return;
	}
	for (i = 0; i < n; i++)
		svc_signal_one(s, pids[i], sig);
	free(pids);
}

static void svc_kill_cgroup(struct pg_service *s)
{
	int err = cg_kill(s->cgpath);

	if (err < 0)
		log_warnx("%s: cgroup.kill: %s", s->conf->name, strerror(-err));
}

/* ---- the main process ---- */

static void svc_close_pidfd(struct pg_service *s)
{
	if (s->pidfd >= 0) {
		loop_del(&s->pid_w);
		close(s->pidfd);
	}
	s->pidfd = -1;
	s->pid_w.fd = -1;
	s->pid = 0;
}

static void svc_exec_report(struct pg_watch *w, uint32_t events);

static void svc_pid_ready(struct pg_watch *w, uint32_t events)
{
	struct pg_service *s = w->arg;
	siginfo_t si;

	(void)events;
	if (w->fd < 0 || w->fd != s->pidfd)
		return;
	if (svc_priv(s)->exec_w.fd >= 0) { /* a setup failure is reported first */
		svc_exec_report(&svc_priv(s)->exec_w, EPOLLIN);
		if (s->pidfd < 0)
			return;
	}
	if (s->is_child) {
		memset(&si, 0, sizeof(si));
		if (waitid((idtype_t)P_PIDFD, (id_t)s->pidfd, &si, WEXITED | WNOHANG) < 0) {
			log_warn("%s: waitid", s->conf->name);
			s->last_exit_code = -1;
			s->last_signal = 0;
		} else if (si.si_pid == 0) {
			return; /* stale readiness from an earlier pidfd */
		} else if (si.si_code == CLD_EXITED) {
			s->last_exit_code = si.si_status;
			s->last_signal = 0;
		} else {
			s->last_exit_code = -1;
			s->last_signal = si.si_status;
		}
	} else {
		s->last_exit_code = -1; /* not our child: the status is not ours to read */
		s->last_signal = 0;
	}
	svc_close_pidfd(s);
	svc_dispatch(s, SE_EXIT);
}

static int svc_watch_pid(struct pg_service *s, pid_t pid, int pidfd)
{
	s->pid = pid;
	s->pidfd = pidfd;
	s->pid_w.fd = pidfd;
	s->pid_w.cb = svc_pid_ready;
	s->pid_w.arg = s;
	return loop_add(&s->pid_w, EPOLLIN);
}

static void svc_exit_detail(struct pg_service *s, char *buf, size_t len)
{
	if (s->last_signal)
		snprintf(buf, len, "killed by signal %d (%s)", s->last_signal,
			 strsignal(s->last_signal));
	else if (s->last_exit_code >= 0)
		snprintf(buf, len, "exited with status %d", s->last_exit_code);
	else
		snprintf(buf, len, "exited (status unknown: adopted process)");
}

/* ---- the cgroup ---- */

static void svc_events_ready(struct pg_watch *w, uint32_t events)
{
	struct pg_service *s = w->arg;
	char buf[4096];

	(void)events;
	if (w->fd < 0)
		return;
	while (read(w->fd, buf, sizeof(buf)) > 0)
		;
	if (cg_populated(s->cgpath) == 0)
		svc_dispatch(s, SE_EMPTY);
}

static int svc_watch_events(struct pg_service *s)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/cgroup.events", s->cgpath) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	s->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (s->inotify_fd < 0)
		return -errno;
	if (inotify_add_watch(s->inotify_fd, path, IN_MODIFY) < 0)
		return -errno;
	s->ev_w.fd = s->inotify_fd;
	s->ev_w.cb = svc_events_ready;
	s->ev_w.arg = s;
	return loop_add(&s->ev_w, EPOLLIN);
}

/* ---- the child side of a start ---- */

struct svc_child_err {
	int stage;
	int err;
};

enum { CS_CGROUP, CS_SETSID, CS_STDIN, CS_LOG, CS_CHDIR, CS_ENV, CS_USER, CS_EXEC };

static const char *const svc_child_stage[] = {
	[CS_CGROUP] = "cannot join the service cgroup", [CS_SETSID] = "setsid failed",
	[CS_STDIN] = "cannot open /dev/null", [CS_LOG] = "cannot open the log file",
	[CS_CHDIR] = "cannot chdir to the directory", [CS_ENV] = "cannot set the environment",
	[CS_USER] = "cannot switch user", [CS_EXEC] = "cannot exec /bin/sh",
};

static void __attribute__((noreturn)) svc_child_fail(int pipefd, int stage, int err)
{
	struct svc_child_err ce = { stage, err };

	dprintf(2, "portguard: %s: %s\n", svc_child_stage[stage], strerror(err));
	if (write(pipefd, &ce, sizeof(ce)) < 0)
		_exit(127);
	_exit(127);
}

static int svc_child_stdio(const struct pg_service_conf *sc)
{
	char path[PATH_MAX];
	int fd;

	fd = open("/dev/null", O_RDONLY);
	if (fd < 0 || dup2(fd, 0) < 0)
		return -CS_STDIN - 1;
	if (fd > 2)
		close(fd);
	fs_path(path, sizeof(path), svc_conf->log_dir, sc->name, FS_SERVICE_LOG);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0640);
	if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		return -CS_LOG - 1;
	if (fd > 2)
		close(fd);
	return 0;
}

static int svc_child_user(const char *user)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (!pw) {
		dprintf(2, "portguard: unknown user %s\n", user);
		return errno ? -errno : -ENOENT;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0)
		return -errno;
	setenv("HOME", pw->pw_dir, 1);
	setenv("USER", pw->pw_name, 1);
	setenv("LOGNAME", pw->pw_name, 1);
	return 0;
}

/* errno set on failure */
static int svc_child_join(const char *cgpath)
{
	char path[PATH_MAX];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cgpath);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ret = write(fd, "0", 1) == 1 ? 0 : -1;
	close(fd);
	return ret;
}

static void __attribute__((noreturn)) svc_child(struct pg_service *s, int pipefd)
{
	const struct pg_service_conf *sc = s->conf;
	size_t len = strlen(sc->command) + sizeof("exec ");
	char *cmd;
	int i, err;

	spawn_close_fds(pipefd); /* only 0-2 and the report pipe from here on */
	if (svc_child_join(s->cgpath) < 0)
		svc_child_fail(pipefd, CS_CGROUP, errno);
	if (setsid() < 0)
		svc_child_fail(pipefd, CS_SETSID, errno);
	err = svc_child_stdio(sc);
	if (err < 0)
		svc_child_fail(pipefd, -err - 1, errno);
	if (chdir(sc->directory ? sc->directory : "/") < 0)
		svc_child_fail(pipefd, CS_CHDIR, errno);
	for (i = 0; i < sc->nenv; i++)
		if (putenv(sc->env[i]) < 0)
			svc_child_fail(pipefd, CS_ENV, errno);
	if (sc->user && (err = svc_child_user(sc->user)) < 0)
		svc_child_fail(pipefd, CS_USER, -err);
	/* conf->env wins over what the user switch set */
	for (i = 0; i < sc->nenv; i++)
		putenv(sc->env[i]);
	if (sc->start == PG_START_NOTIFY && setenv("NOTIFY_SOCKET", svc_priv(s)->notify.name, 1) < 0)
		svc_child_fail(pipefd, CS_ENV, errno);
	/*
	 * No shell syntax beyond words and quotes: exec the program itself
	 * (each exec costs milliseconds); anything else goes to /bin/sh.
	 */
	if (!strpbrk(sc->command, "$`;|&<>()*?[]~{}#=\\\n")) {
		wordexp_t we;

		if (wordexp(sc->command, &we, WRDE_NOCMD) == 0 && we.we_wordc > 0) {
			execvp(we.we_wordv[0], we.we_wordv);
			svc_child_fail(pipefd, CS_EXEC, errno);
		}
	}
	cmd = malloc(len);
	if (!cmd)
		svc_child_fail(pipefd, CS_EXEC, ENOMEM);
	snprintf(cmd, len, "exec %s", sc->command);
	execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	svc_child_fail(pipefd, CS_EXEC, errno);
}

/* ---- the parent side of a start ---- */

/*
 * state_dir/<svc>.main: "pid starttime ready", what a guard started after
 * a crash adopts by (ready 0: it was still starting; older guards wrote
 * the first two fields alone, read as ready).
 */
static void svc_write_main(struct pg_service *s)
{
	char path[PATH_MAX], text[64];
	int err;

	svc_main_path(s, path, sizeof(path));
	snprintf(text, sizeof(text), "%d %llu %d\n", (int)s->pid, svc_proc_starttime(s->pid),
		 s->state == SVC_RUNNING);
	err = fs_write_file(path, text, strlen(text), 0644);
	if (err < 0)
		log_warnx("%s: cannot write %s: %s", s->conf->name, path, strerror(-err));
}

static void svc_write_state(struct pg_service *s)
{
	char text[64];
	int err;

	svc_write_main(s);
	if (!s->conf->pidfile || s->conf->start == PG_START_FORKING) /* that one is the daemon's */
		return;
	snprintf(text, sizeof(text), "%d\n", (int)s->pid);
	err = fs_mkdir_parent(s->conf->pidfile, 0755);
	if (!err)
		err = fs_write_file(s->conf->pidfile, text, strlen(text), 0644);
	if (err < 0)
		log_warnx("%s: cannot write %s: %s", s->conf->name, s->conf->pidfile,
			  strerror(-err));
}

static void svc_remove_state(struct pg_service *s)
{
	char path[PATH_MAX];

	svc_main_path(s, path, sizeof(path));
	unlink(path);
	if (s->conf->pidfile && s->conf->start != PG_START_FORKING)
		unlink(s->conf->pidfile);
}

/* Fork the service; the CLOEXEC pipe (*report_fd) tells whether the exec happened. */
static pid_t svc_fork(struct pg_service *s, int *report_fd)
{
	int pfd[2];
	pid_t pid;

	/*
	 * Not clone3(CLONE_INTO_CGROUP): on this kernel a child cloned into a
	 * cgroup that once got a cgroup.kill is SIGKILLed at birth; and it
	 * saves nothing measurable here (fork+exec dominates).
	 */
	pid = spawn_fork(pfd);
	if (pid < 0)
		return pid;
	if (pid == 0) {
		close(pfd[0]);
		svc_child(s, pfd[1]);
	}
	close(pfd[1]);
	*report_fd = pfd[0]; /* read in the loop: the exec takes milliseconds */
	return pid;
}

/* The start failed before the command ran: no retry can fix that. */
static int svc_spawn_failed(struct pg_service *s, const struct svc_child_err *ce, int err)
{
	char detail[256];

	if (ce->stage == CS_USER && err == -ENOENT)
		snprintf(detail, sizeof(detail), "failed to start: unknown user %s", s->conf->user);
	else if (ce->stage == CS_CHDIR)
		snprintf(detail, sizeof(detail), "failed to start: cannot chdir to %s: %s",
			 s->conf->directory, strerror(-err));
	else if (ce->stage >= 0)
		snprintf(detail, sizeof(detail), "failed to start: %s: %s",
			 svc_child_stage[ce->stage], strerror(-err));
	else
		snprintf(detail, sizeof(detail), "failed to start: %s", strerror(-err));
	s->last_exit_code = 127;
	s->last_signal = 0;
	s->state = SVC_FATAL;
	svc_emit(EV_SERVICE_EXIT, s, detail);
	svc_emit(EV_SERVICE_FATAL, s, detail);
	return err;
}

static int svc_spawn_failed(struct pg_service *s, const struct svc_child_err *ce, int err);
static int svc_act_ready(struct pg_service *s);

/* The child's report: EOF once the command runs, a struct if setting it up failed. */
static void svc_exec_report(struct pg_watch *w, uint32_t events)
{
	struct pg_service *s = w->arg;
	struct svc_child_err ce = { -1, 0 };
	ssize_t n;

	(void)events;
	if (w->fd < 0)
		return;
	do
		n = read(w->fd, &ce, sizeof(ce));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	loop_del(w);
	close(w->fd);
	w->fd = -1;
	if (n != (ssize_t)sizeof(ce)) { /* the command runs */
		/*
		 * A background service has nothing else to wait for: ready now,
		 * not after start_window (an exit within it still fails the
		 * start: svc_act_exit). The start_window timer stays the way
		 * when this report cannot be read.
		 */
		if (s->state == SVC_STARTING && svc_ready_on_exec(s->conf))
			svc_act_ready(s);
		return;
	}
	/* No retry can fix a setup failure: reap it and go FATAL. */
	timer_disarm(&s->timer);
	if (s->pidfd >= 0)
		waitid((idtype_t)P_PIDFD, (id_t)s->pidfd, &(siginfo_t){ 0 }, WEXITED);
	svc_close_pidfd(s);
	svc_spawn_failed(s, &ce, -(ce.err ? ce.err : EIO));
}

static int svc_spawn(struct pg_service *s)
{
	const struct pg_service_conf *sc = s->conf;
	struct svc_child_err ce = { -1, 0 };
	int pidfd, err, report_fd = -1;
	pid_t pid;

	if (sc->start == PG_START_FORKING) /* the cgroup is empty: what it names is not ours */
		svc_forking_prepare(s);
	if (sc->start == PG_START_NOTIFY && (err = svc_notify_open(s)) < 0)
		return svc_spawn_failed(s, &ce, err);
	pid = svc_fork(s, &report_fd);
	if (pid < 0)
		return svc_spawn_failed(s, &ce, pid);
	pidfd = svc_pidfd_open(pid);
	err = pidfd < 0 ? -errno : svc_watch_pid(s, pid, pidfd);
	if (err < 0) {
		log_warnx("%s: cannot watch pid %d: %s", sc->name, (int)pid, strerror(-err));
		if (pidfd >= 0)
			close(pidfd);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(report_fd);
		s->pid = 0;
		s->pidfd = -1;
		s->pid_w.fd = -1;
		return svc_spawn_failed(s, &ce, err);
	}
	s->is_child = 1;
	s->state = SVC_STARTING;
	s->listening = 0;
	s->start_ms = now_ms();
	s->ready_ms = 0;
	s->start_wall_s = time(NULL);
	svc_priv(s)->failed = 0;
	svc_priv(s)->main_known = sc->start != PG_START_FORKING;
	svc_priv(s)->notified = sc->start != PG_START_NOTIFY;
	svc_priv(s)->reloading = svc_priv(s)->stopping = 0;
	svc_priv(s)->nstatus[0] = 0;
	svc_priv(s)->exec_w.fd = report_fd;
	svc_priv(s)->exec_w.cb = svc_exec_report;
	svc_priv(s)->exec_w.arg = s;
	fcntl(report_fd, F_SETFL, O_NONBLOCK);
	if (loop_add(&svc_priv(s)->exec_w, EPOLLIN) < 0) {
		close(report_fd);
		svc_priv(s)->exec_w.fd = -1;
	}
	svc_write_state(s);
	svc_emit(EV_SERVICE_START, s, NULL);
	if (svc_ready_on_exec(sc))
		timer_arm_ms(&s->timer, sc->start_window_ms);
	else
		timer_arm_ms(&s->timer, sc->start_timeout_ms);
	return 0;
}

/* ---- type = forking: the daemon's pidfile names the main process ---- */

/* Ready once its command runs: a simple service without a port to listen on. */
static int svc_ready_on_exec(const struct pg_service_conf *sc)
{
	return sc->type == PG_SVC_BACKGROUND && sc->start == PG_START_SIMPLE;
}

static void svc_forking_prepare(struct pg_service *s)
{
	int err = fs_mkdir_parent(s->conf->pidfile, 0755);

	if (err < 0)
		log_warnx("%s: cannot make the directory of %s: %s", s->conf->name,
			  s->conf->pidfile, strerror(-err));
	if (unlink(s->conf->pidfile) == 0)
		log_info("%s: removed the stale pidfile %s", s->conf->name, s->conf->pidfile);
}

static void svc_pidfile_unwatch(struct pg_service *s)
{
	struct pg_watch *w = &svc_priv(s)->pidf_w;

	if (w->fd >= 0) {
		loop_del(w);
		close(w->fd);
	}
	w->fd = -1;
}

/*
 * The main process the pidfile names, pinned with a pidfd and checked to
 * be alive in the service's cgroup: 1, watched as the main process; 0, not
 * (yet) such a pid: wait; -1, it names something else (why says what),
 * which is never supervised nor signalled.
 */
static int svc_take_pidfile(struct pg_service *s, char *why, size_t len)
{
	const char *path = s->conf->pidfile;
	pid_t pid = fs_read_pid(path);
	int fd;

	if (pid <= 0) {
		if (pid < 0)
			snprintf(why, len, "pidfile %s: %s", path,
				 pid == -EINVAL ? "not a pid" : strerror(-pid));
		return pid < 0 ? -1 : 0;
	}
	fd = svc_pin_in_cgroup(s, pid);
	if (fd >= 0 && svc_watch_pid(s, pid, fd) == 0) {
		s->is_child = 0; /* the daemon is the start command's child, not ours */
		return 1;
	}
	if (fd >= 0)
		close(fd);
	if (kill(pid, 0) < 0) /* a dead pid: the daemon has not written its own yet */
		return 0;
	snprintf(why, len, "pidfile %s names pid %d, which is not in the service's cgroup: not "
		 "supervised, not signalled", path, (int)pid);
	return -1;
}

/* The main process is known: it runs as the service from now on. */
static void svc_forking_main(struct pg_service *s)
{
	char detail[64];

	svc_pidfile_unwatch(s);
	svc_priv(s)->main_known = 1;
	svc_write_state(s); /* adoption after a guard crash finds it by this */
	snprintf(detail, sizeof(detail), "main pid %d (from the pidfile)", (int)s->pid);
	log_info("%s: %s", s->conf->name, detail);
	svc_maybe_ready(s);
}

/* A forking start that cannot become the service: a failed start, the cgroup emptied. */
static void svc_forking_fail(struct pg_service *s, const char *why)
{
	svc_pidfile_unwatch(s);
	svc_priv(s)->failed = 1;
	s->last_exit_code = -1;
	svc_emit(EV_SERVICE_EXIT, s, why);
	if (cg_populated(s->cgpath) <= 0) {
		svc_settle(s);
		return;
	}
	svc_begin_stop(s, SIGKILL);
	svc_kill_cgroup(s);
	svc_act_check_done(s);
}

/* The pidfile's directory changed while the pidfile is awaited. */
static void svc_pidfile_event(struct pg_watch *w, uint32_t events)
{
	struct pg_service *s = w->arg;
	char buf[4096], why[PATH_MAX + 128];
	int r;

	(void)events;
	while (w->fd >= 0 && read(w->fd, buf, sizeof(buf)) > 0)
		;
	if (s->state != SVC_STARTING || svc_priv(s)->main_known)
		return;
	r = svc_take_pidfile(s, why, sizeof(why));
	if (r > 0)
		svc_forking_main(s);
	else if (r < 0)
		svc_forking_fail(s, why);
}

static int svc_pidfile_watch(struct pg_service *s)
{
	struct pg_watch *w = &svc_priv(s)->pidf_w;
	char dir[PATH_MAX], *slash;

	snprintf(dir, sizeof(dir), "%s", s->conf->pidfile);
	slash = strrchr(dir, '/');
	if (!slash)
		return -EINVAL;
	*(slash == dir ? slash + 1 : slash) = 0;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0)
		return -errno;
	w->cb = svc_pidfile_event;
	w->arg = s;
	if (inotify_add_watch(w->fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY) < 0 ||
	    loop_add(w, EPOLLIN) < 0) {
		int err = -errno;

		close(w->fd);
		w->fd = -1;
		return err;
	}
	return 0;
}

/*
 * The start command of a forking service exited; 1 when that was the
 * expected part of its start (status 0: the daemon runs, its pidfile names
 * it now or soon), 0 when it is an exit like any other (a failed start).
 */
static int svc_forking_parent_exit(struct pg_service *s)
{
	char why[PATH_MAX + 128];
	int r, err;

	if (s->last_signal || s->last_exit_code != 0)
		return 0;
	r = svc_take_pidfile(s, why, sizeof(why));
	if (r > 0) {
		svc_forking_main(s);
		return 1;
	}
	if (r == 0 && cg_populated(s->cgpath) <= 0)
		snprintf(why, sizeof(why), "the start command exited 0 and left nothing running "
			 "(no daemon in the cgroup)");
	else if (r == 0 && (err = svc_pidfile_watch(s)) == 0)
		return 1; /* inotify on its directory; start_timeout bounds the wait */
	else if (r == 0)
		snprintf(why, sizeof(why), "cannot watch the directory of %s: %s",
			 s->conf->pidfile, strerror(-err));
	svc_forking_fail(s, why);
	return 1;
}

/* STARTING and the cgroup emptied while no main process is known: the daemon died. */
static int svc_act_starting_empty(struct pg_service *s)
{
	if (s->pid == 0 && !svc_priv(s)->main_known)
		svc_forking_fail(s, "the daemon exited before its pidfile named it");
	return 0;
}

/* ---- type = notify: the service says READY=1 (svcnotify.h) ---- */

/* STARTING and every condition of its type met (main known, READY=1): ready, or to listen. */
static void svc_maybe_ready(struct pg_service *s)
{
	struct svc_priv *p = svc_priv(s);

	if (s->state != SVC_STARTING || !p->main_known || !p->notified)
		return;
	if (s->conf->type != PG_SVC_HTTP)
		svc_act_ready(s);
	else if (s->listening)
		svc_act_listen(s);
}

static int svc_notify_trusted(void *arg, pid_t pid)
{
	struct pg_service *s = arg;

	return pid != getpid() && cg_pid_within(pid, s->cgpath);
}

/* A main process that MAINPID= replaced: reaped once it exits (it is our child). */
static void svc_old_main_exited(struct pg_watch *w, uint32_t events)
{
	(void)events;
	if (w->fd < 0)
		return;
	waitid((idtype_t)P_PIDFD, (id_t)w->fd, &(siginfo_t){ 0 }, WEXITED | WNOHANG);
	loop_del(w);
	close(w->fd);
	w->fd = -1;
}

/* MAINPID=: the main process is pid from now on, if it is alive in the cgroup. */
static void svc_notify_mainpid(struct pg_service *s, pid_t pid)
{
	struct svc_priv *p = svc_priv(s);
	int fd, old = s->pidfd, child = s->is_child;

	if (pid == s->pid)
		return;
	if ((fd = svc_pin_in_cgroup(s, pid)) < 0) {
		log_warnx("%s: MAINPID=%d is not a live process of the service: ignored",
			  s->conf->name, (int)pid);
		return;
	}
	loop_del(&s->pid_w);
	if (child && old >= 0 && p->old_w.fd < 0) { /* the old main: reaped when it goes */
		p->old_w.fd = old;
		p->old_w.cb = svc_old_main_exited;
		p->old_w.arg = s;
		if (loop_add(&p->old_w, EPOLLIN) < 0)
			svc_old_main_exited(&p->old_w, 0);
	} else if (old >= 0) {
		close(old);
	}
	s->pidfd = s->pid_w.fd = -1;
	if (svc_watch_pid(s, pid, fd) < 0)
		log_warnx("%s: cannot watch MAINPID=%d", s->conf->name, (int)pid);
	s->is_child = 0;
	svc_write_state(s);
	log_info("%s: main pid %d (MAINPID=)", s->conf->name, (int)pid);
}

static void svc_notify_msg(void *arg, pid_t sender, const struct svn_msg *m)
{
	struct pg_service *s = arg;
	struct svc_priv *p = svc_priv(s);

	(void)sender;
	if (m->has_status)
		snprintf(p->nstatus, sizeof(p->nstatus), "%s", m->status);
	if (m->mainpid && s->pid)
		svc_notify_mainpid(s, m->mainpid);
	if (m->reloading)
		p->reloading = 1;
	if (m->stopping)
		p->stopping = 1;
	if (m->ready) {
		p->reloading = 0;
		if (!p->notified) {
			p->notified = 1;
			svc_maybe_ready(s);
		}
	}
}

static int svc_notify_open(struct pg_service *s)
{
	struct svn_sock *n = &svc_priv(s)->notify;
	char keep[PATH_MAX];
	int err;

	if (n->w.fd >= 0)
		return 0;
	n->trusted = svc_notify_trusted;
	n->fn = svc_notify_msg;
	n->arg = s;
	fs_path(keep, sizeof(keep), svc_conf->state_dir, s->conf->name, FS_NOTIFY);
	if ((err = svn_open(n, svc_conf->name, s->conf->name, keep)) < 0)
		log_warnx("%s: cannot open its notify socket: %s", s->conf->name, strerror(-err));
	return err;
}

static void svc_notify_close(struct pg_service *s)
{
	struct svc_priv *p = svc_priv(s);

	svn_close(&p->notify);
	if (p->old_w.fd >= 0) {
		loop_del(&p->old_w);
		close(p->old_w.fd);
		p->old_w.fd = -1;
	}
}

const char *supervise_notify_status(struct pg_service *s)
{
	struct svc_priv *p = svc_priv(s);

	if (s->conf->start != PG_START_NOTIFY)
		return NULL;
	if (p->stopping)
		return p->nstatus[0] ? p->nstatus : "stopping";
	if (p->reloading)
		return p->nstatus[0] ? p->nstatus : "reloading";
	return p->nstatus[0] ? p->nstatus : NULL;
}

/* ---- the HTTP health check ---- */

static void svc_health_close(struct pg_service *s)
{
	struct svc_priv *p = svc_priv(s);

	if (s->health_w.fd >= 0) {
		loop_del(&s->health_w);
		/* Close with a reset, as HAProxy's checks do: a server that closes
		 * first (HTTP/1.0) would otherwise hold its own port in TIME_WAIT
		 * for 60 s after every probe, and a restart of a server that binds
		 * without SO_REUSEADDR would then fail with EADDRINUSE. */
		setsockopt(s->health_w.fd, SOL_SOCKET, SO_LINGER,
			   &(struct linger){ .l_onoff = 1, .l_linger = 0 }, sizeof(struct linger));
		close(s->health_w.fd);
	}
	s->health_w.fd = -1;
	p->health_sent = 0;
	p->health_len = 0;
}

static uint64_t svc_start_left_ms(struct pg_service *s)
{
	uint64_t deadline = s->start_ms + s->conf->start_timeout_ms, now = now_ms();

	return now >= deadline ? 0 : deadline - now;
}

/* Try again in a little while, within the start timeout (the timer checks it). */
static void svc_health_retry(struct pg_service *s)
{
	uint64_t left = svc_start_left_ms(s);

	svc_health_close(s);
	timer_arm_ms(&s->timer, left < SVC_HEALTH_RETRY_MS ? left : SVC_HEALTH_RETRY_MS);
}

static void svc_health_io(struct pg_watch *w, uint32_t events);

static int svc_health_connect(struct pg_service *s, int v6)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	int fd, err;

	svc_health_close(s);
	svc_priv(s)->health_v6 = v6;
	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a4.sin_port = a6.sin6_port = htons((uint16_t)s->conf->port);
	if (v6)
		err = connect(fd, (struct sockaddr *)&a6, sizeof(a6));
	else
		err = connect(fd, (struct sockaddr *)&a4, sizeof(a4));
	if (err < 0 && errno != EINPROGRESS) {
		err = -errno;
		close(fd);
		return err;
	}
	s->health_w.fd = fd;
	s->health_w.cb = svc_health_io;
	s->health_w.arg = s;
	return loop_add(&s->health_w, EPOLLOUT);
}

static void svc_health_begin(struct pg_service *s)
{
	int err = svc_health_connect(s, 0);

	if (err == -ECONNREFUSED)
		err = svc_health_connect(s, 1);
	if (err < 0) {
		svc_health_retry(s);
		return;
	}
	/* in flight: only the start deadline can end it early */
	timer_arm_ms(&s->timer, svc_start_left_ms(s));
}

static int svc_health_send(struct pg_service *s)
{
	char req[512];
	int len, err = 0;
	socklen_t elen = sizeof(err);

	if (getsockopt(s->health_w.fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		return -errno;
	if (err)
		return -err;
	len = snprintf(req, sizeof(req),
		       "GET %s HTTP/1.0\r\nHost: localhost:%d\r\nConnection: close\r\n\r\n",
		       s->conf->health, s->conf->port);
	if (len >= (int)sizeof(req) || send(s->health_w.fd, req, len, MSG_NOSIGNAL) != len)
		return -EIO;
	svc_priv(s)->health_sent = 1;
	loop_del(&s->health_w);
	return loop_add(&s->health_w, EPOLLIN);
}

/* 1: 2xx, 0: need more bytes, -1: any other answer */
static int svc_health_parse(struct svc_priv *p, int eof)
{
	int status;

	p->health_buf[p->health_len] = '\0';
	if (!strchr(p->health_buf, '\n') && !eof && p->health_len < sizeof(p->health_buf) - 1)
		return 0;
	if (sscanf(p->health_buf, "HTTP/%*d.%*d %d", &status) != 1)
		return -1;
	return status >= 200 && status < 300 ? 1 : -1;
}

static void svc_health_read(struct pg_service *s)
{
	struct svc_priv *p = svc_priv(s);
	ssize_t n;
	int r;

	n = read(s->health_w.fd, p->health_buf + p->health_len,
		 sizeof(p->health_buf) - 1 - p->health_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		svc_health_retry(s);
		return;
	}
	p->health_len += n;
	r = svc_health_parse(p, n == 0);
	if (r == 0)
		return;
	if (r < 0) {
		p->health_buf[strcspn(p->health_buf, "\r\n")] = '\0';
		log_debug("%s: health check %s: %.60s", s->conf->name, s->conf->health,
			  p->health_buf);
		svc_health_retry(s);
		return;
	}
	svc_health_close(s);
	svc_dispatch(s, SE_HEALTHY);
}

static void svc_health_io(struct pg_watch *w, uint32_t events)
{
	struct pg_service *s = w->arg;
	struct svc_priv *p = svc_priv(s);
	int err;

	(void)events;
	if (w->fd < 0)
		return;
	if (p->health_sent) {
		svc_health_read(s);
		return;
	}
	err = svc_health_send(s);
	if (err == -ECONNREFUSED && !p->health_v6)
		err = svc_health_connect(s, 1);
	if (err < 0)
		svc_health_retry(s);
}

/* ---- transitions ---- */

static void svc_finish_stop(struct pg_service *s)
{
	void (*cb)(struct pg_service *, void *) = s->stopped_cb;
	void *arg = s->stopped_arg;
	enum svc_state was = s->state;

	timer_disarm(&s->timer);
	svc_health_close(s);
	svc_remove_state(s);
	s->state = SVC_STOPPED;
	s->stopped_cb = NULL;
	s->stopped_arg = NULL;
	if (was != SVC_STOPPED)
		svc_emit(EV_SERVICE_STOP, s, NULL);
	if (cb)
		cb(s, arg);
	if (svc_stopall_wait == s) {
		svc_stopall_wait = NULL;
		supervise_stop_all(NULL, NULL);
	}
}

static void svc_backoff(struct pg_service *s)
{
	uint64_t delay = SVC_BACKOFF_MIN_MS;
	char detail[64];

	if (s->failures > 0)
		delay <<= s->failures - 1;
	if (delay > SVC_BACKOFF_MAX_MS)
		delay = SVC_BACKOFF_MAX_MS;
	s->state = SVC_BACKOFF;
	timer_arm_ms(&s->timer, delay);
	snprintf(detail, sizeof(detail), "restart in %llu ms", (unsigned long long)delay);
	svc_emit(EV_SERVICE_BACKOFF, s, detail);
}

/* The process is gone and the cgroup empty: restart it or not. */
static void svc_policy(struct pg_service *s)
{
	int failed = svc_priv(s)->failed || s->last_signal || s->last_exit_code != 0;
	enum pg_restart r = s->conf->restart;
	char detail[64];

	if (r == PG_RESTART_NEVER || (r == PG_RESTART_ON_FAILURE && !failed)) {
		s->state = SVC_EXITED;
		return;
	}
	if (!s->ready_ms || now_ms() - s->ready_ms < SVC_STABLE_MS)
		s->failures++;
	else
		s->failures = 0;
	if (s->failures >= SVC_MAX_FAILURES) {
		s->state = SVC_FATAL;
		snprintf(detail, sizeof(detail), "%d failed starts in a row", s->failures);
		svc_emit(EV_SERVICE_FATAL, s, detail);
		return;
	}
	svc_backoff(s);
}

static void svc_settle(struct pg_service *s)
{
	timer_disarm(&s->timer);
	svc_health_close(s);
	svc_pidfile_unwatch(s);
	if (s->want_stop) {
		svc_finish_stop(s);
		return;
	}
	svc_remove_state(s);
	svc_policy(s);
}

static void svc_begin_stop(struct pg_service *s, int sig)
{
	svc_health_close(s);
	s->state = SVC_STOPPING;
	svc_signal_all(s, sig);
	timer_arm_ms(&s->timer, s->conf->stop_timeout_ms);
}

static int svc_act_check_done(struct pg_service *s)
{
	if (s->pid == 0 && cg_populated(s->cgpath) <= 0)
		svc_settle(s);
	return 0;
}

static void svc_start_failed(struct pg_service *s)
{
	uint64_t ms = s->conf->start_timeout_ms;
	char detail[64];

	if (ms % 1000 == 0)
		snprintf(detail, sizeof(detail), "not ready after %llus",
			 (unsigned long long)ms / 1000);
	else
		snprintf(detail, sizeof(detail), "not ready after %llums", (unsigned long long)ms);
	svc_priv(s)->failed = 1;
	svc_emit(EV_SERVICE_EXIT, s, detail);
	svc_begin_stop(s, s->conf->stop_signal);
	svc_act_check_done(s);
}

static int svc_act_nop(struct pg_service *s)
{
	(void)s;
	return 0;
}

static int svc_act_busy(struct pg_service *s)
{
	(void)s;
	return -EBUSY;
}

static int svc_act_already(struct pg_service *s)
{
	(void)s;
	return -EALREADY;
}

/* A start asked for by the guard (not an automatic restart). */
static int svc_act_start(struct pg_service *s)
{
	timer_disarm(&s->timer);
	s->want_stop = 0;
	s->failures = 0;
	return svc_spawn(s);
}

static int svc_act_restart(struct pg_service *s)
{
	s->restarts++;
	return svc_spawn(s);
}

static int svc_act_ready(struct pg_service *s)
{
	svc_health_close(s);
	s->state = SVC_RUNNING;
	s->ready_ms = now_ms();
	svc_write_main(s); /* ready: a guard that adopts it after a crash knows */
	/*
	 * No timer: an idle guard makes no system calls. Whether it ran long
	 * enough (SVC_STABLE_MS) is decided from ready_ms when it exits.
	 */
	timer_disarm(&s->timer);
	svc_emit(EV_SERVICE_READY, s, NULL);
	return 0;
}

static int svc_act_stable(struct pg_service *s)
{
	s->failures = 0;
	return 0;
}

static int svc_act_listen(struct pg_service *s)
{
	/* a forking service is ready once its main process is known, a notify one once it said so */
	if (s->conf->type != PG_SVC_HTTP || !svc_priv(s)->main_known || !svc_priv(s)->notified)
		return 0;
	if (!s->conf->health)
		return svc_act_ready(s);
	if (s->health_w.fd < 0)
		svc_health_begin(s);
	return 0;
}

static int svc_act_start_timer(struct pg_service *s)
{
	if (svc_ready_on_exec(s->conf))
		return svc_act_ready(s);
	if (svc_start_left_ms(s) == 0)
		svc_start_failed(s);
	else if (s->listening && s->conf->health && s->health_w.fd < 0)
		svc_health_begin(s);
	return 0;
}

static int svc_act_exit(struct pg_service *s)
{
	char detail[96];

	svc_exit_detail(s, detail, sizeof(detail));
	/* ready once it ran, but gone within start_window: the start failed (crash loops end FATAL) */
	if (s->state == SVC_STARTING && !svc_priv(s)->main_known && svc_forking_parent_exit(s))
		return 0; /* the start command forked the daemon and left: the pidfile names it */
	if (s->is_child && svc_ready_on_exec(s->conf) &&
	    now_ms() - s->start_ms < s->conf->start_window_ms)
		svc_priv(s)->failed = 1;
	svc_emit(EV_SERVICE_EXIT, s, detail);
	if (cg_populated(s->cgpath) <= 0) {
		svc_settle(s);
		return 0;
	}
	/* leftovers of the main process go before any restart */
	svc_begin_stop(s, SIGKILL);
	svc_kill_cgroup(s);
	return svc_act_check_done(s);
}

static int svc_act_stop(struct pg_service *s)
{
	svc_begin_stop(s, s->conf->stop_signal);
	return svc_act_check_done(s);
}

static int svc_act_stop_now(struct pg_service *s)
{
	timer_disarm(&s->timer);
	if (cg_populated(s->cgpath) > 0)
		return svc_act_stop(s);
	svc_finish_stop(s);
	return 0;
}

/* STOPPING and the stop timeout passed: cgroup.kill ends everything, forks included. */
static int svc_act_kill(struct pg_service *s)
{
	log_info("%s: still running %llu ms after the stop signal, killing its cgroup",
		 s->conf->name, (unsigned long long)s->conf->stop_timeout_ms);
	svc_kill_cgroup(s);
	return svc_act_check_done(s);
}

static int svc_act_stopping_exit(struct pg_service *s)
{
	char detail[96];

	svc_exit_detail(s, detail, sizeof(detail));
	log_debug("%s: main process %s while stopping", s->conf->name, detail);
	return svc_act_check_done(s);
}

typedef int (*svc_action_fn)(struct pg_service *s);

#define SVC_IDLE_ROW                                                                           \
	{                                                                                      \
		[SE_START] = svc_act_start, [SE_STOP] = svc_act_stop_now,                      \
		[SE_TIMER] = svc_act_nop, [SE_EXIT] = svc_act_nop, [SE_EMPTY] = svc_act_nop,   \
		[SE_LISTEN] = svc_act_nop, [SE_HEALTHY] = svc_act_nop,                         \
	}

static const svc_action_fn svc_actions[SVC__NSTATES][SE__NEVENTS] = {
	[SVC_STOPPED] = SVC_IDLE_ROW,
	[SVC_EXITED] = SVC_IDLE_ROW,
	[SVC_FATAL] = SVC_IDLE_ROW,
	[SVC_STARTING] = {
		[SE_START] = svc_act_already, [SE_STOP] = svc_act_stop,
		[SE_TIMER] = svc_act_start_timer, [SE_EXIT] = svc_act_exit,
		[SE_EMPTY] = svc_act_starting_empty, [SE_LISTEN] = svc_act_listen,
		[SE_HEALTHY] = svc_act_ready,
	},
	[SVC_RUNNING] = {
		[SE_START] = svc_act_already, [SE_STOP] = svc_act_stop,
		[SE_TIMER] = svc_act_stable, [SE_EXIT] = svc_act_exit,
		[SE_EMPTY] = svc_act_nop, [SE_LISTEN] = svc_act_nop,
		[SE_HEALTHY] = svc_act_nop,
	},
	[SVC_BACKOFF] = {
		[SE_START] = svc_act_start, [SE_STOP] = svc_act_stop_now,
		[SE_TIMER] = svc_act_restart, [SE_EXIT] = svc_act_nop,
		[SE_EMPTY] = svc_act_nop, [SE_LISTEN] = svc_act_nop,
		[SE_HEALTHY] = svc_act_nop,
	},
	[SVC_STOPPING] = {
		[SE_START] = svc_act_busy, [SE_STOP] = svc_act_nop,
		[SE_TIMER] = svc_act_kill, [SE_EXIT] = svc_act_stopping_exit,
		[SE_EMPTY] = svc_act_check_done, [SE_LISTEN] = svc_act_nop,
		[SE_HEALTHY] = svc_act_nop,
	},
};

static int svc_dispatch(struct pg_service *s, enum svc_event ev)
{
	return svc_actions[s->state][ev](s);
}

const char *supervise_action_name(enum svc_state st, enum svc_event ev)
{
	static const struct {
		svc_action_fn fn;
		const char *name;
	} names[] = {
		{ svc_act_check_done, "check_done" }, { svc_act_nop, "nop" },
		{ svc_act_busy, "busy" },	      { svc_act_already, "already" },
		{ svc_act_start, "start" },	      { svc_act_restart, "restart" },
		{ svc_act_ready, "ready" },	      { svc_act_stable, "stable" },
		{ svc_act_listen, "listen" },	      { svc_act_start_timer, "start_timer" },
		{ svc_act_exit, "exit" },	      { svc_act_stop, "stop" },
		{ svc_act_stop_now, "stop_now" },     { svc_act_kill, "kill" },
		{ svc_act_starting_empty, "starting_empty" },
		{ svc_act_stopping_exit, "stopping_exit" },
	};
	size_t i;

	if ((unsigned)st >= SVC__NSTATES || (unsigned)ev >= SE__NEVENTS)
		return NULL;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].fn == svc_actions[st][ev])
			return names[i].name;
	return NULL; /* an empty cell, or an action without a name here */
}

static void svc_timer_fired(struct pg_timer *t)
{
	svc_dispatch(t->arg, SE_TIMER);
}

/* ---- adoption of the processes a previous guard left running ---- */

/* pids[i] if it is pid (with start time want; 0: any), else 0; its start time in *start. */
static pid_t svc_find_pid(const pid_t *pids, int n, pid_t pid, unsigned long long want,
			  unsigned long long *start)
{
	unsigned long long st;
	int i;

	for (i = 0; pid > 1 && i < n; i++)
		if (pids[i] == pid && pid != getpid() && (st = svc_proc_starttime(pid)) &&
		    (st == want || !want)) {
			*start = st;
			return pid;
		}
	return 0;
}

/*
 * The main process among the cgroup's: for a forking service, the pid its
 * pidfile names, taken only if it is among the cgroup's (a guard that died
 * while the start command still ran left .main naming that command); else
 * the one state_dir/<svc>.main names (pid and start time); else the oldest.
 */
static pid_t svc_pick_main(struct pg_service *s, const pid_t *pids, int n,
			   unsigned long long *start, int *ready)
{
	unsigned long long st, want = 0, best = ~0ULL;
	char path[PATH_MAX];
	pid_t pid = 0, chosen = 0;
	int i, was_ready = 1;
	FILE *f;

	*ready = 1; /* unless .main says otherwise of the very process */
	svc_main_path(s, path, sizeof(path));
	f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%d %llu %d", &pid, &want, &was_ready) < 2)
			pid = 0;
		fclose(f);
	}
	if (s->conf->start == PG_START_FORKING && s->conf->pidfile &&
	    (chosen = svc_find_pid(pids, n, fs_read_pid(s->conf->pidfile), 0, start)))
		return chosen;
	if (pid > 0 && want && (chosen = svc_find_pid(pids, n, pid, want, start))) {
		*ready = was_ready != 0;
		return chosen;
	}
	for (i = 0; i < n; i++) {
		st = svc_proc_starttime(pids[i]);
		if (!st || pids[i] <= 1 || pids[i] == getpid())
			continue;
		if (st < best) {
			best = st;
			chosen = pids[i];
		}
	}
	*start = best;
	return chosen;
}

static void svc_adopt(struct pg_service *s)
{
	unsigned long long st;
	char detail[64];
	pid_t *pids, pid;
	int n, fd, ready = 1;

	int tries;

	/*
	 * Pick the main process, open its pidfd, then check through the pidfd's
	 * pin that it is still that process (same start time, still in the
	 * cgroup): the pid could have exited and been reused in between.
	 */
	for (tries = 0;; tries++) {
		n = cg_procs(s->cgpath, &pids);
		if (n <= 0)
			return; /* empty: nothing to adopt, a normal start follows */
		pid = svc_pick_main(s, pids, n, &st, &ready);
		free(pids);
		fd = pid > 0 ? svc_pidfd_open(pid) : -1;
		if (fd >= 0 && svc_proc_starttime(pid) == st && cg_pid_within(pid, s->cgpath))
			break; /* in the service's cgroup or below it */
		if (fd >= 0)
			close(fd);
		if (tries == 2) {
			fd = -1;
			break;
		}
	}
	if (fd < 0 || svc_watch_pid(s, pid, fd) < 0) {
		log_warn("%s: cannot adopt pid %d", s->conf->name, (int)pid);
		if (fd >= 0)
			close(fd);
		s->pid = 0;
		s->pidfd = s->pid_w.fd = -1;
		return;
	}
	s->is_child = 0;
	s->state = SVC_RUNNING;
	s->start_ms = s->ready_ms = now_ms();
	s->start_wall_s = svc_boot_time_s() + (int64_t)(st / (unsigned long long)svc_clk_tck());
	s->last_exit_code = -1;
	/*
	 * The guard died while this http service was still starting: it is
	 * ready when it listens (the kernel's sockets, read at the seed just
	 * after), or it fails to start within start_timeout, as it would have
	 * had the guard not died. A notify service's READY=1 sent while no
	 * guard listened is lost for good, so that one is taken as RUNNING.
	 */
	if (!ready && s->conf->type == PG_SVC_HTTP && s->conf->start == PG_START_SIMPLE) {
		s->state = SVC_STARTING;
		s->ready_ms = 0;
		timer_arm_ms(&s->timer, s->conf->start_timeout_ms);
	}
	svc_write_state(s);
	snprintf(detail, sizeof(detail), "pid %d%s", (int)pid,
		 s->state == SVC_STARTING ? ", still starting" : "");
	svc_emit(EV_SERVICE_ADOPT, s, detail);
}

/* ---- public API ---- */

static int svc_init_one(struct pg_service *s, const struct pg_service_conf *sc)
{
	int err;

	memset(s, 0, sizeof(*s));
	memset(svc_priv(s), 0, sizeof(struct svc_priv));
	s->conf = sc;
	s->pidfd = s->pid_w.fd = s->ev_w.fd = s->inotify_fd = s->health_w.fd = -1;
	s->timer.w.fd = -1;
	svc_priv(s)->exec_w.fd = -1;
	svc_priv(s)->pidf_w.fd = -1;
	svc_priv(s)->notify.w.fd = svc_priv(s)->old_w.fd = -1;
	svc_priv(s)->main_known = svc_priv(s)->notified = 1;
	s->last_exit_code = -1;
	if (snprintf(s->cgpath, sizeof(s->cgpath), "%s/%s", svc_instance, sc->name) >=
	    (int)sizeof(s->cgpath))
		return -ENAMETOOLONG;
	err = cg_mkdir(s->cgpath);
	if (err < 0) {
		log_warnx("%s: cannot create cgroup %s: %s", sc->name, s->cgpath, strerror(-err));
		return err;
	}
	s->cgroup_id = cg_id(s->cgpath);
	err = timer_init(&s->timer, svc_timer_fired, s);
	if (!err)
		err = svc_watch_events(s);
	if (err < 0) {
		log_warnx("%s: cannot watch the service: %s", sc->name, strerror(-err));
		return err;
	}
	if (sc->start == PG_START_NOTIFY) /* the name kept: an adopted service reaches us again */
		svc_notify_open(s);
	svc_adopt(s);
	return 0;
}

/* Release a slot's watches; the processes are not touched. */
static void svc_fini_one(struct pg_service *s)
{
	struct svc_priv *p = svc_priv(s);

	timer_close(&s->timer);
	svc_health_close(s);
	svc_pidfile_unwatch(s);
	svc_notify_close(s);
	svc_close_pidfd(s);
	if (s->inotify_fd >= 0) {
		loop_del(&s->ev_w);
		close(s->inotify_fd);
	}
	s->inotify_fd = s->ev_w.fd = -1;
	if (p->exec_w.fd >= 0) {
		loop_del(&p->exec_w);
		close(p->exec_w.fd);
		p->exec_w.fd = -1;
	}
}

static int svc_make_dir(const char *what, const char *dir)
{
	int err = fs_mkdir_p(dir, 0750);

	if (err < 0)
		log_warnx("cannot create %s %s: %s", what, dir, strerror(-err));
	return err;
}

int supervise_init(const struct pg_config *c, svc_event_fn on_event)
{
	const char *root = cg_root(), *why;
	int i, err;

	if (!root) {
		log_warnx("cgroup v2 is not mounted (no cgroup2 line in /proc/self/mountinfo): "
			  "mount it with `mount -t cgroup2 none /sys/fs/cgroup` or boot with "
			  "systemd.unified_cgroup_hierarchy=1");
		return -ENOENT;
	}
	svc_conf = c;
	svc_emit_fn = on_event;
	svc_n = 0;
	if ((err = svc_make_dir("state_dir", c->state_dir)) < 0 ||
	    (err = svc_make_dir("log_dir", c->log_dir)) < 0)
		return err;
	err = cg_instance(c->name, svc_instance, sizeof(svc_instance), &svc_delegated, &why);
	if (err < 0) {
		log_warnx("cannot place the services' cgroups: %s", strerror(-err));
		return err;
	}
	if (why)
		log_info("%s: %s", why, svc_instance);
	err = cg_mkdir(svc_instance);
	if (err < 0) {
		log_warnx("cannot create cgroup %s: %s", svc_instance, strerror(-err));
		return err;
	}
	for (i = 0; i < c->nsvc && i < PG_MAX_SERVICES; i++) {
		svc_order[i] = i;
		svc_n = i + 1;
		err = svc_init_one(&svc_tab[i], &c->svc[i]);
		if (err < 0)
			return err;
	}
	return 0;
}

void supervise_start_all(void)
{
	int i;

	for (i = 0; i < svc_n; i++)
		if (SVC(i)->state == SVC_STOPPED || SVC(i)->state == SVC_EXITED)
			supervise_start(SVC(i));
}

int supervise_start(struct pg_service *s)
{
	if (!s)
		return -EINVAL;
	return svc_dispatch(s, SE_START);
}

int supervise_stop(struct pg_service *s, void (*cb)(struct pg_service *, void *), void *arg)
{
	if (!s)
		return -EINVAL;
	if (cb) {
		if (s->stopped_cb && (s->stopped_cb != cb || s->stopped_arg != arg))
			return -EBUSY;
		s->stopped_cb = cb;
		s->stopped_arg = arg;
	}
	s->want_stop = 1;
	return svc_dispatch(s, SE_STOP);
}

int supervise_kill(struct pg_service *s, void (*cb)(struct pg_service *, void *), void *arg)
{
	int err = supervise_stop(s, cb, arg);

	if (!err && s->state == SVC_STOPPING)
		svc_kill_cgroup(s);
	return err;
}

/*
 * One service after the other, last priority first. A stop that completes at
 * once ends inside supervise_stop(): svc_finish_stop() clears svc_stopall_wait
 * and the loop below goes on instead of recursing.
 */
void supervise_stop_all(void (*done)(void *), void *arg)
{
	void (*fn)(void *);

	if (done) {
		svc_stopall_done = done;
		svc_stopall_arg = arg;
		svc_stopall_idx = svc_n - 1;
	}
	if (svc_stopall_stepping || svc_stopall_wait)
		return;
	svc_stopall_stepping = 1;
	while (!svc_stopall_wait && svc_stopall_idx >= 0) {
		svc_stopall_wait = SVC(svc_stopall_idx--);
		supervise_stop(svc_stopall_wait, NULL, NULL);
	}
	svc_stopall_stepping = 0;
	if (svc_stopall_wait || !svc_stopall_done)
		return;
	fn = svc_stopall_done;
	svc_stopall_done = NULL;
	fn(svc_stopall_arg);
}

void supervise_remove_cgroups(void)
{
	int i, err;

	for (i = 0; i < svc_n; i++) {
		err = cg_remove(SVC(i)->cgpath);
		if (err < 0 && err != -ENOENT)
			log_warnx("cannot remove %s: %s", SVC(i)->cgpath, strerror(-err));
	}
	if (!svc_instance[0] || svc_delegated)
		return; /* the unit's cgroup is systemd's; the guard's leaf goes with the guard */
	err = cg_remove(svc_instance);
	if (err < 0 && err != -ENOENT)
		log_warnx("cannot remove %s: %s", svc_instance, strerror(-err));
}

void supervise_listen_seen(struct pg_service *s)
{
	s->listening = 1;
	svc_dispatch(s, SE_LISTEN);
}

void supervise_listen_gone(struct pg_service *s)
{
	s->listening = 0;
}

int supervise_count(void)
{
	return svc_n;
}

struct pg_service *supervise_get(int i)
{
	return i >= 0 && i < svc_n ? SVC(i) : NULL;
}

struct pg_service *supervise_by_name(const char *name)
{
	int i;

	for (i = 0; i < svc_n; i++)
		if (strcmp(SVC(i)->conf->name, name) == 0)
			return SVC(i);
	return NULL;
}

/* Is the cgroup `id` below the directory `dir` (depth-limited walk)? */
static int svc_cg_below(const char *dir, uint64_t id, int depth)
{
	char path[PATH_MAX];
	struct dirent *d;
	struct stat st;
	DIR *dp;
	int found = 0;

	if (depth > 8 || !(dp = opendir(dir)))
		return 0;
	while (!found && (d = readdir(dp))) {
		if (d->d_type != DT_DIR || d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (stat(path, &st) == 0)
			found = st.st_ino == id || svc_cg_below(path, id, depth + 1);
	}
	closedir(dp);
	return found;
}

/*
 * Answers for cgroup ids that are not a service's own: a cgroup never moves
 * to another parent, so an answer stays true (the cache is cleared when the
 * service set changes).
 */
#define SVC_CG_CACHE 256
static struct {
	uint64_t id;
	int slot; /* -1: in no service */
} svc_cg_cache[SVC_CG_CACHE];
static int svc_cg_cache_n, svc_cg_cache_next;

struct pg_service *supervise_by_cgroup(uint64_t cgid)
{
	int i, slot = -1;

	if (!cgid)
		return NULL;
	for (i = 0; i < svc_n; i++)
		if (SVC(i)->cgroup_id == cgid)
			return SVC(i);
	for (i = 0; i < svc_cg_cache_n; i++)
		if (svc_cg_cache[i].id == cgid)
			return svc_cg_cache[i].slot < 0 ? NULL : &svc_tab[svc_cg_cache[i].slot];
	/* a sub-cgroup a service made itself? */
	for (i = 0; i < svc_n && slot < 0; i++)
		if (svc_cg_below(SVC(i)->cgpath, cgid, 0))
			slot = svc_order[i];
	svc_cg_cache[svc_cg_cache_next].id = cgid;
	svc_cg_cache[svc_cg_cache_next].slot = slot;
	svc_cg_cache_next = (svc_cg_cache_next + 1) % SVC_CG_CACHE;
	if (svc_cg_cache_n < SVC_CG_CACHE)
		svc_cg_cache_n++;
	return slot < 0 ? NULL : &svc_tab[slot];
}

struct pg_service *supervise_by_port(int port)
{
	int i;

	if (port <= 0)
		return NULL;
	for (i = 0; i < svc_n; i++)
		if (SVC(i)->conf->port == port)
			return SVC(i);
	return NULL;
}

const char *supervise_instance_cgroup(void)
{
	return svc_instance;
}

void supervise_cleanup(void)
{
	struct pg_service *s;
	int i;

	for (i = 0; i < svc_n; i++) {
		s = SVC(i);
		svc_fini_one(s);
	}
	svc_n = 0;
}

/* ---- reload ---- */

static struct {
	const struct pg_config *nc;
	void (*done)(void *arg, struct pg_service **started, int n);
	void *arg;
	int waiting;
} svc_rl;

static int svc_slot_in_use(int slot)
{
	int i;

	for (i = 0; i < svc_n; i++)
		if (svc_order[i] == slot)
			return 1;
	return 0;
}

/* Every stop is done: switch to the new config's services. */
static void svc_reload_apply(void)
{
	const struct pg_config *nc = svc_rl.nc;
	struct pg_service *started[PG_MAX_SERVICES];
	int order[PG_MAX_SERVICES], free_slots[PG_MAX_SERVICES], nfree = 0, nstart = 0;
	int i, k, slot;

	for (slot = 0; slot < PG_MAX_SERVICES; slot++) /* free before this reload */
		if (!svc_slot_in_use(slot))
			free_slots[nfree++] = slot;
	for (i = 0; i < nc->nsvc; i++) {
		struct pg_service *s = NULL;

		for (k = 0; k < svc_n && !s; k++)
			if (!strcmp(SVC(k)->conf->name, nc->svc[i].name))
				s = SVC(k);
		if (s) {
			int changed = !config_service_equal(s->conf, &nc->svc[i]);

			s->conf = &nc->svc[i];
			order[i] = s - svc_tab;
			if (changed)
				started[nstart++] = s;
			continue;
		}
		slot = free_slots[--nfree];
		order[i] = slot;
		if (svc_init_one(&svc_tab[slot], &nc->svc[i]) < 0) {
			log_warnx("reload: cannot set up %s", nc->svc[i].name);
			continue;
		}
		if (svc_tab[slot].state != SVC_RUNNING) /* not adopted */
			started[nstart++] = &svc_tab[slot];
	}
	for (k = 0; k < svc_n; k++) { /* removed: release the slot and the cgroup */
		int kept = 0;

		for (i = 0; i < nc->nsvc && !kept; i++)
			kept = order[i] == svc_order[k];
		if (!kept) {
			svc_fini_one(SVC(k));
			cg_remove(SVC(k)->cgpath);
		}
	}
	memcpy(svc_order, order, sizeof(order[0]) * nc->nsvc);
	svc_n = nc->nsvc;
	svc_cg_cache_n = svc_cg_cache_next = 0; /* slots changed hands */
	svc_conf = nc;
	svc_rl.done(svc_rl.arg, started, nstart);
}

static void svc_reload_stopped(struct pg_service *s, void *arg)
{
	(void)s;
	(void)arg;
	if (--svc_rl.waiting == 0)
		svc_reload_apply();
}

int supervise_reload(const struct pg_config *nc,
		     void (*done)(void *arg, struct pg_service **started, int n), void *arg)
{
	int i, k, added = 0, nfree = 0;

	for (i = 0; i < nc->nsvc; i++) { /* new names need slots free right now */
		for (k = 0; k < svc_n && strcmp(SVC(k)->conf->name, nc->svc[i].name); k++)
			;
		added += k == svc_n;
	}
	for (k = 0; k < PG_MAX_SERVICES; k++)
		nfree += !svc_slot_in_use(k);
	if (added > nfree)
		return -ENOSPC;
	svc_rl.nc = nc;
	svc_rl.done = done;
	svc_rl.arg = arg;
	svc_rl.waiting = 1; /* held until every stop is issued */
	for (k = 0; k < svc_n; k++) {
		struct pg_service *s = SVC(k);
		int same = 0;

		for (i = 0; i < nc->nsvc && !same; i++)
			same = !strcmp(nc->svc[i].name, s->conf->name) &&
			       config_service_equal(&nc->svc[i], s->conf);
		if (same)
			continue;
		/* removed or changed: stop it first (a changed one starts again after) */
		svc_rl.waiting++;
		if (supervise_stop(s, svc_reload_stopped, NULL) < 0)
			svc_rl.waiting--;
	}
	if (--svc_rl.waiting == 0)
		svc_reload_apply();
	return 0;
}
