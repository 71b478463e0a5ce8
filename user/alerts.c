/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "alerts.h"
#include "config.h"
#include "event.h"
#include "journald.h"
#include "log.h"
#include "loop.h"
#include "spawn.h"

#define AL_SLOTS 1024	     /* distinct (type, port, binder) keys in a window */
#define AL_CMD_MAX 4	     /* alert_command runs at once */
#define AL_CMD_QUEUE 256     /* waiting ones; beyond: dropped and counted */
#define AL_CMD_TIMEOUT_MS 10000

struct al_slot {
	enum ev_type type;
	int port;
	uint32_t pid;
	uint64_t end_ms;      /* window end */
	long count;	      /* folded since the window opened */
	struct pg_ev *last;   /* the last folded alert: the summary's fields */
};

struct al_run {
	struct pg_watch w; /* pidfd */
	pid_t pid;
	struct pg_timer timeout;
	int busy;
};

static const struct pg_config *al_cfg;
static void (*al_publish)(struct pg_ev *ev);
static struct al_slot al_slots[AL_SLOTS];
static int al_nslots;
static struct pg_timer al_timer = { .w.fd = -1 };
static struct al_run al_runs[AL_CMD_MAX];
static char *al_queue[AL_CMD_QUEUE];
static int al_qhead, al_qlen;
static unsigned long al_cmd_failures;

/* The summary of a window that folded something, published and freed. */
static void al_summary(struct al_slot *s)
{
	struct pg_ev *ev = s->last;

	ev->count = s->count;
	ev->coalesced = 1;
	ev->window_ms = al_cfg->coalesce_ms;
	s->last = NULL;
	s->count = 0;
	al_publish(ev);
	free(ev);
}

/* Close expired windows: a summary for those that folded something. */
static void al_sweep(struct pg_timer *t)
{
	uint64_t now = now_ms(), next = 0;
	int i;

	(void)t;
	for (i = 0; i < al_nslots;) {
		struct al_slot *s = &al_slots[i];

		if (s->end_ms <= now && !s->count) {
			*s = al_slots[--al_nslots];
			continue;
		}
		if (s->end_ms <= now) {
			al_summary(s);
			/* keep the key for one more window: a storm gives one line a window */
			s->end_ms = now + al_cfg->coalesce_ms;
		}
		if (!next || s->end_ms < next)
			next = s->end_ms;
		i++;
	}
	if (next)
		timer_arm_ms(&al_timer, next - now ? next - now : 1);
}

int alerts_coalesce(struct pg_ev *ev)
{
	uint32_t pid = ev->u.k.pid;
	int i, port = ev->u.k.port;

	if (!al_cfg || !al_cfg->coalesce_ms || !(ev_flags(ev->type) & EVF_COALESCE))
		return 1;
	for (i = 0; i < al_nslots; i++) {
		struct al_slot *s = &al_slots[i];

		if (s->port == port && s->pid == pid && s->type == ev->type &&
		    s->end_ms > now_ms()) {
			if (!s->last && !(s->last = malloc(sizeof(*s->last))))
				return 1; /* cannot keep it: it goes out on its own */
			s->count++;
			*s->last = *ev;
			return 0;
		}
	}
	if (al_nslots == AL_SLOTS)
		return 1; /* too many distinct binders at once: every alert goes out */
	memset(&al_slots[al_nslots], 0, sizeof(al_slots[0]));
	al_slots[al_nslots].type = ev->type;
	al_slots[al_nslots].port = port;
	al_slots[al_nslots].pid = pid;
	al_slots[al_nslots].end_ms = now_ms() + al_cfg->coalesce_ms;
	if (al_nslots++ == 0)
		timer_arm_ms(&al_timer, al_cfg->coalesce_ms);
	ev->count = 1;
	return 1;
}

/* ---- alert_command ---- */

static void al_cmd_next(void);

static void al_run_end(struct al_run *r, const char *why)
{
	siginfo_t si = { 0 };

	if (r->w.fd >= 0) {
		waitid((idtype_t)P_PIDFD, (id_t)r->w.fd, &si, WEXITED | WNOHANG);
		loop_del(&r->w);
		close(r->w.fd);
		r->w.fd = -1;
	}
	timer_disarm(&r->timeout);
	if (why || si.si_code != CLD_EXITED || si.si_status != 0) {
		al_cmd_failures++;
		log_warnx("alert_command %s (pid %d)", why ? why : si.si_code == CLD_EXITED
			  ? "exited non-zero" : "was killed by a signal", (int)r->pid);
	}
	r->busy = 0;
	al_cmd_next();
}

static void al_run_exited(struct pg_watch *w, uint32_t events)
{
	(void)events;
	al_run_end(w->arg, NULL);
}

static void al_run_timeout(struct pg_timer *t)
{
	struct al_run *r = t->arg;

	if (r->w.fd >= 0)
		syscall(SYS_pidfd_send_signal, r->w.fd, SIGKILL, NULL, 0);
	log_warnx("alert_command took over %d ms: killed", AL_CMD_TIMEOUT_MS);
	al_cmd_failures++;
}

static int al_spawn(struct al_run *r, const char *json)
{
	int pfd[2];
	pid_t pid = spawn_fork(pfd);

	if (pid == 0) { /* stdin: the alert */
		dup2(pfd[0], 0);
		spawn_close_fds(-1);
		setsid();
		execl("/bin/sh", "sh", "-c", al_cfg->alert_command, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		return pid;
	close(pfd[0]);
	/* one alert is small (< 64 KiB pipe buffer): this write does not block */
	if (write(pfd[1], json, strlen(json)) < 0 || write(pfd[1], "\n", 1) < 0)
		log_warn("alert_command stdin");
	close(pfd[1]);
	r->pid = pid;
	r->w.fd = syscall(SYS_pidfd_open, pid, 0);
	r->w.cb = al_run_exited;
	r->w.arg = r;
	if (r->w.fd < 0 || loop_add(&r->w, EPOLLIN) < 0) {
		kill(pid, SIGKILL); /* we cannot watch it: end it rather than wait for it */
		waitpid(pid, NULL, 0);
		if (r->w.fd >= 0)
			close(r->w.fd);
		r->w.fd = -1;
		return -EIO;
	}
	r->busy = 1;
	timer_arm_ms(&r->timeout, AL_CMD_TIMEOUT_MS);
	return 0;
}

static void al_cmd_next(void)
{
	int i;

	for (i = 0; i < AL_CMD_MAX && al_qlen; i++) {
		char *json;

		if (al_runs[i].busy)
			continue;
		json = al_queue[al_qhead];
		al_qhead = (al_qhead + 1) % AL_CMD_QUEUE;
		al_qlen--;
		if (al_spawn(&al_runs[i], json) < 0) {
			al_cmd_failures++;
			log_warnx("alert_command: cannot run it");
		}
		free(json);
	}
}

/*
 * syslog through a socket of the guard's own, not syslog(3): glibc's socket
 * is blocking, so a syslog daemon that stopped reading /dev/log (its queue:
 * net.unix.max_dgram_qlen datagrams) stopped the guard in send(); and where
 * no /dev/log exists it made, connected and closed a socket on every call
 * (11% of the guard's CPU in an observe-mode storm, perf). This one never
 * blocks, tries to connect at most once a second, and counts what it drops.
 * The line is glibc's: "<PRI>Mmm dd hh:mm:ss portguard[pid]: type json".
 */
static int al_log_fd = -1;
static uint64_t al_log_tried_ms;
static unsigned long al_log_dropped;

static int al_log_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };
	if (al_log_fd >= 0 || !every_ms(&al_log_tried_ms, 1000))
		return al_log_fd;
	al_log_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (al_log_fd >= 0 && connect(al_log_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(al_log_fd);
		al_log_fd = -1;
	}
	return al_log_fd;
}

static void al_syslog(const char *type, const char *json)
{
	char head[96], stamp[32] = "";
	time_t now = time(NULL);
	struct iovec iov[4];
	struct tm tm;

	if (al_log_connect() < 0) {
		al_log_dropped++;
		return;
	}
	if (localtime_r(&now, &tm))
		strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	snprintf(head, sizeof(head), "<%d>%s portguard[%d]: ", LOG_DAEMON | LOG_WARNING, stamp,
		 (int)getpid());
	iov[0] = (struct iovec){ head, strlen(head) };
	iov[1] = (struct iovec){ (void *)type, strlen(type) };
	iov[2] = (struct iovec){ " ", 1 };
	iov[3] = (struct iovec){ (void *)json, strcspn(json, "\n") };
	if (writev(al_log_fd, iov, 4) < 0) {
		al_log_dropped++;
		if (errno != EAGAIN) { /* the daemon went or restarted: connect again, later */
			close(al_log_fd);
			al_log_fd = -1;
		}
	}
}

unsigned long alerts_syslog_dropped(void)
{
	return al_log_dropped;
}

void alerts_deliver(const struct pg_ev *ev, const char *json)
{
	if (!al_cfg || !(ev_flags(ev->type) & EVF_ALERT))
		return;
	if (al_cfg->syslog && !journald_active()) /* the journal has it, with its fields */
		al_syslog(ev_type_name(ev->type), json);
	if (!al_cfg->alert_command)
		return;
	if (al_qlen == AL_CMD_QUEUE) {
		al_cmd_failures++; /* counted and logged, never a stall */
		log_warnx("alert_command: %d alerts waiting, this one is dropped (the journal has "
			  "it)", AL_CMD_QUEUE);
		return;
	}
	al_queue[(al_qhead + al_qlen) % AL_CMD_QUEUE] = strdup(json);
	if (al_queue[(al_qhead + al_qlen) % AL_CMD_QUEUE])
		al_qlen++;
	al_cmd_next();
}

void alerts_set_config(const struct pg_config *c)
{
	al_cfg = c;
}

unsigned long alerts_command_failures(void)
{
	return al_cmd_failures;
}

int alerts_init(const struct pg_config *c, void (*publish)(struct pg_ev *ev))
{
	int i, err;

	al_cfg = c;
	al_publish = publish;
	for (i = 0; i < AL_CMD_MAX; i++)
		al_runs[i].w.fd = al_runs[i].timeout.w.fd = -1;
	if ((err = timer_init(&al_timer, al_sweep, NULL)))
		return err;
	for (i = 0; i < AL_CMD_MAX; i++) {
		if ((err = timer_init(&al_runs[i].timeout, al_run_timeout, &al_runs[i])))
			return err;
	}
	return 0;
}

void alerts_close(void)
{
	int i;

	if (!al_cfg)
		return; /* never initialised: its timers hold no fds */
	timer_close(&al_timer);
	for (i = 0; i < al_nslots; i++) { /* the windows still open: their counts go out now */
		if (al_slots[i].count && al_publish)
			al_summary(&al_slots[i]);
		free(al_slots[i].last);
	}
	al_nslots = 0;
	for (i = 0; i < AL_CMD_MAX; i++)
		timer_close(&al_runs[i].timeout);
	while (al_qlen) {
		free(al_queue[al_qhead]);
		al_qhead = (al_qhead + 1) % AL_CMD_QUEUE;
		al_qlen--;
	}
	if (al_log_fd >= 0)
		close(al_log_fd);
	al_log_fd = -1;
	al_cfg = NULL;
}
