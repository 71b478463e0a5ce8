/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "alerts.h"
#include "config.h"
#include "event.h"
#include "fs.h"
#include "journal.h"
#include "journald.h"
#include "loader.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "supervise.h"

static const struct pg_config *m_cfg;
static struct loader *m_loader;
static uint64_t m_kernel[PG_EV_KIND_MAX];
static uint32_t m_rogue[65536], m_denied[65536], m_killed[65536];
static unsigned long m_reclaims[PG_MAX_SERVICES];
static unsigned long m_restarts_ok, m_restarts_failed;
static unsigned long m_backoffs[PG_MAX_SERVICES];
static int64_t m_start_s; /* wall clock of the guard's start */
static void (*m_each_port)(void (*fn)(int port, const char *state, void *arg), void *arg);

/* A Prometheus histogram: counts per upper bound (not cumulative here), count and sum. */
struct m_hist {
	const char *name, *help;
	const double *le;
	int n;
	uint64_t b[16], count;
	double sum;
};
static const double m_lat_le[] = { 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3,
				   25e-3, 100e-3, 1 };
static const double m_job_le[] = { 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10, 30 };
static struct m_hist m_latency = { "portguard_event_latency_seconds",
				   "From the kernel hook to the guard reading the event.", m_lat_le,
				   sizeof(m_lat_le) / sizeof(m_lat_le[0]), { 0 }, 0, 0 };
static struct m_hist m_jobs = { "portguard_restart_duration_seconds",
				"Restart jobs (restart, stop, start, reclaim), start to end.",
				m_job_le, sizeof(m_job_le) / sizeof(m_job_le[0]), { 0 }, 0, 0 };

static void m_observe(struct m_hist *h, double v)
{
	int i;

	for (i = 0; i < h->n && v > h->le[i]; i++)
		;
	if (i < h->n)
		h->b[i]++;
	h->count++;
	h->sum += v;
}

static void m_hist_render(FILE *f, const struct m_hist *h)
{
	uint64_t c = 0;
	int i;

	fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", h->name, h->help, h->name);
	for (i = 0; i < h->n; i++) {
		c += h->b[i];
		fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", h->name, h->le[i], (unsigned long long)c);
	}
	fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n%s_count %llu\n", h->name,
		(unsigned long long)h->count, h->name, h->sum, h->name,
		(unsigned long long)h->count);
}

void metrics_event_latency(uint64_t ts_ns)
{
	struct timespec now;
	uint64_t t;

	if (clock_gettime(CLOCK_BOOTTIME, &now) < 0)
		return;
	t = (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
	if (t >= ts_ns)
		m_observe(&m_latency, (double)(t - ts_ns) / 1e9);
}
static struct pg_timer m_timer = { .w.fd = -1 };
static struct pg_watch m_listen = { .fd = -1 };
static int m_dirty_armed;

void metrics_kernel_event(unsigned int kind)
{
	metrics_kernel_events(kind, 1);
}

void metrics_kernel_events(unsigned int kind, uint64_t n)
{
	if (kind < PG_EV_KIND_MAX)
		m_kernel[kind] += n;
}

void metrics_count(const struct pg_ev *ev)
{
	int i, port = ev_flags(ev->type) & EVF_KERNEL ? ev->u.k.port : 0;
	uint32_t n = ev->folded ? (uint32_t)ev->count : 1; /* the kernel counted them */
	struct pg_service *s;

	switch (ev->type) {
	case EV_ROGUE_BIND:
		m_rogue[port] += n;
		break;
	case EV_BIND_DENIED:
		m_denied[port] += n;
		if (ev->u.k.action == EVA_KILLED)
			m_killed[port]++;
		break;
	case EV_RECLAIM:
	case EV_RECLAIM_BACKOFF:
		s = supervise_by_name(ev->service);
		for (i = 0; s && i < supervise_count(); i++)
			if (supervise_get(i) == s)
				(ev->type == EV_RECLAIM ? m_reclaims : m_backoffs)[i]++;
		break;
	case EV_RESTART_DONE:
	case EV_RESTART_FAILED:
		*(ev->type == EV_RESTART_DONE ? &m_restarts_ok : &m_restarts_failed) += 1;
		m_observe(&m_jobs, (double)ev->u.job.ms / 1e3);
		break;
	default:
		break;
	}
	metrics_dirty();
}

/* Who and since when: build info, start times, each service's state as a label. */
static void metrics_info(FILE *f)
{
	static const char *const states[] = { "STOPPED", "STARTING", "RUNNING", "BACKOFF",
					      "STOPPING", "EXITED", "FATAL" };
	size_t k;
	int i;

	fprintf(f, "# HELP portguard_build_info The guard's version and pinned layout; always 1.\n"
		   "# TYPE portguard_build_info gauge\n"
		   "portguard_build_info{version=\"%s\",layout=\"%d\"} 1\n"
		   "# HELP portguard_start_time_seconds When the guard started (Unix time).\n"
		   "# TYPE portguard_start_time_seconds gauge\nportguard_start_time_seconds %lld\n"
		   "# HELP portguard_service_start_time_seconds When the service's process started "
		   "(Unix time; 0 when none runs).\n# TYPE portguard_service_start_time_seconds gauge\n",
		PG_VERSION, PG_LAYOUT, (long long)m_start_s);
	for (i = 0; i < supervise_count(); i++)
		fprintf(f, "portguard_service_start_time_seconds{service=\"%s\"} %lld\n",
			supervise_get(i)->conf->name,
			supervise_get(i)->pid ? (long long)supervise_get(i)->start_wall_s : 0LL);
	fprintf(f, "# HELP portguard_service_state 1 for the state the service is in.\n"
		   "# TYPE portguard_service_state gauge\n");
	for (i = 0; i < supervise_count(); i++)
		for (k = 0; k < sizeof(states) / sizeof(states[0]); k++)
			fprintf(f, "portguard_service_state{service=\"%s\",state=\"%s\"} %d\n",
				supervise_get(i)->conf->name, states[k],
				!strcmp(svc_state_name(supervise_get(i)->state), states[k]));
	fprintf(f, "# HELP portguard_reclaim_backoffs_total Reclaims of a port put off "
		   "(backoff), by service.\n# TYPE portguard_reclaim_backoffs_total counter\n");
	for (i = 0; i < supervise_count(); i++)
		fprintf(f, "portguard_reclaim_backoffs_total{service=\"%s\"} %lu\n",
			supervise_get(i)->conf->name, m_backoffs[i]);
}

void metrics_set_port_source(void (*each)(void (*fn)(int, const char *, void *), void *))
{
	m_each_port = each;
}

static void metrics_port_state(int port, const char *state, void *arg)
{
	static const char *const states[] = { "free", "owned", "allowed", "shared", "rogue",
					      "protected" };
	size_t i;

	/* a guarded port no service owns and nobody holds has no series: 10,000
	 * guarded ports made 60,000 lines (4 MB a scrape) of state free */
	if (!strcmp(state, "free") && !supervise_by_port(port))
		return;
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		fprintf(arg, "portguard_port_state{port=\"%d\",state=\"%s\"} %d\n", port, states[i],
			!strcmp(state, states[i]));
}

static void metrics_ports(FILE *f, const char *name, const char *help, const uint32_t *v)
{
	int p;

	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (p = 1; p < 65536; p++)
		if (v[p] || m_cfg->guarded[p]) /* every series from the start: increase() sees the first */
			fprintf(f, "%s{port=\"%d\"} %u\n", name, p, v[p]);
}

/* Per service; and the outputs' own failures (alert_command, journald, syslog). */
static void metrics_services_and_outputs(FILE *f)
{
	int i;

	fprintf(f, "# HELP portguard_service_up 1 when the service is RUNNING.\n"
		   "# TYPE portguard_service_up gauge\n");
	for (i = 0; i < supervise_count(); i++)
		fprintf(f, "portguard_service_up{service=\"%s\"} %d\n", supervise_get(i)->conf->name,
			supervise_get(i)->state == SVC_RUNNING);
	fprintf(f, "# HELP portguard_service_restarts_total Automatic restarts, by service.\n"
		   "# TYPE portguard_service_restarts_total counter\n");
	for (i = 0; i < supervise_count(); i++)
		fprintf(f, "portguard_service_restarts_total{service=\"%s\"} %d\n",
			supervise_get(i)->conf->name, supervise_get(i)->restarts);
	fprintf(f, "# HELP portguard_alert_command_failures_total alert_command runs dropped, "
		   "failed or timed out.\n# TYPE portguard_alert_command_failures_total counter\n"
		   "portguard_alert_command_failures_total %lu\n", alerts_command_failures());
	fprintf(f, "# HELP portguard_journald_dropped_total Events systemd's journal had no room "
		   "for (its queue full or it restarting): dropped there, never waited for; "
		   "events.jsonl has them.\n# TYPE portguard_journald_dropped_total counter\n"
		   "portguard_journald_dropped_total %lu\n", journald_dropped());
	fprintf(f, "# HELP portguard_syslog_dropped_total Alerts syslog had no room for, or no "
		   "/dev/log to take: dropped there, never waited for.\n"
		   "# TYPE portguard_syslog_dropped_total counter\nportguard_syslog_dropped_total "
		   "%lu\n", alerts_syslog_dropped());
	fprintf(f, "# HELP portguard_stderr_dropped_total Lines (events and messages) a full "
		   "stderr pipe or socket had no room for: dropped there, never waited for.\n"
		   "# TYPE portguard_stderr_dropped_total counter\nportguard_stderr_dropped_total "
		   "%lu\n", log_stderr_dropped());
	fprintf(f, "# HELP portguard_journal_write_failures_total Events events.jsonl could not "
		   "take (a full disk): not written there, never a torn line; the other outputs "
		   "still had them.\n# TYPE portguard_journal_write_failures_total counter\n"
		   "portguard_journal_write_failures_total %lu\n", journal_failures());
}

void metrics_render(FILE *f)
{
	uint64_t lost[PG_EV_KIND_MAX] = { 0 }, sent[PG_EV_KIND_MAX] = { 0 };
	unsigned int k;
	int i;

	if (m_loader)
		loader_counters(m_loader, lost, sent);
	metrics_info(f);
	if (m_each_port) {
		fprintf(f, "# HELP portguard_port_state 1 for the state `status` gives the port now "
			   "(rogue: held by strangers only, shared: by its owner and others).\n"
			   "# TYPE portguard_port_state gauge\n");
		m_each_port(metrics_port_state, f);
	}
	m_hist_render(f, &m_latency);
	m_hist_render(f, &m_jobs);
	fprintf(f, "# HELP portguard_events_total Kernel events received, by kind.\n"
		   "# TYPE portguard_events_total counter\n");
	for (k = 1; k < PG_EV_KIND_MAX; k++)
		fprintf(f, "portguard_events_total{kind=\"%s\"} %llu\n", ev_kind_name(k),
			(unsigned long long)m_kernel[k]);
	fprintf(f, "# HELP portguard_events_lost_total Kernel events lost (ring buffer full), by "
		   "kind.\n# TYPE portguard_events_lost_total counter\n");
	for (k = 1; k < PG_EV_KIND_MAX; k++)
		fprintf(f, "portguard_events_lost_total{kind=\"%s\"} %llu\n", ev_kind_name(k),
			(unsigned long long)lost[k]);
	metrics_ports(f, "portguard_rogue_binds_total", "Rogue binds or listens seen, by port.",
		      m_rogue);
	metrics_ports(f, "portguard_denials_total", "Binds denied in the kernel, by port.",
		      m_denied);
	metrics_ports(f, "portguard_kills_total", "Binders killed (on_rogue = kill), by port.",
		      m_killed);
	fprintf(f, "# HELP portguard_reclaims_total Ports reclaimed for their owner.\n"
		   "# TYPE portguard_reclaims_total counter\n");
	for (i = 0; i < supervise_count(); i++)
		fprintf(f, "portguard_reclaims_total{service=\"%s\"} %lu\n",
			supervise_get(i)->conf->name, m_reclaims[i]);
	fprintf(f, "# HELP portguard_restarts_total Restart jobs (restart, stop, start, "
		   "reclaim), by result.\n# TYPE portguard_restarts_total counter\n"
		   "portguard_restarts_total{result=\"ok\"} %lu\n"
		   "portguard_restarts_total{result=\"failed\"} %lu\n",
		m_restarts_ok, m_restarts_failed);
	metrics_services_and_outputs(f);
}

/* Atomically (fs_write_file): a scraper never reads half a file. */
static void metrics_write(struct pg_timer *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int err;

	(void)t;
	m_dirty_armed = 0;
	if (!m_cfg->metrics_file)
		return;
	f = open_memstream(&buf, &len);
	if (!f) {
		log_warn("metrics_file %s", m_cfg->metrics_file);
		return;
	}
	metrics_render(f);
	fclose(f);
	if ((err = fs_write_file(m_cfg->metrics_file, buf, len, 0644)) < 0)
		log_warnx("metrics_file %s: %s", m_cfg->metrics_file, strerror(-err));
	free(buf);
}

void metrics_dirty(void)
{
	if (!m_cfg || !m_cfg->metrics_file || m_dirty_armed || m_timer.w.fd < 0)
		return;
	m_dirty_armed = 1;
	timer_arm_ms(&m_timer, 1000); /* at most one write a second, none when idle */
}

/*
 * The body served on metrics_listen, rendered at most once per
 * M_SERVE_CACHE_MS: a render walks every service, port and output (some
 * 0.3 ms), and a local user looping on connect() would otherwise keep the
 * guard rendering (3000 renders/s measured). A scraper sees values at most
 * that old; metrics_file is rendered apart, at most once a second.
 */
#define M_SERVE_CACHE_MS 100
static char *m_body;
static size_t m_body_len;
static uint64_t m_body_at;

static const char *metrics_body(size_t *len)
{
	uint64_t now = now_ms();
	char *buf = NULL;
	size_t n = 0;
	FILE *f;

	if (m_body && now - m_body_at < M_SERVE_CACHE_MS) {
		*len = m_body_len;
		return m_body;
	}
	f = open_memstream(&buf, &n);
	if (!f)
		return NULL;
	metrics_render(f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	free(m_body);
	m_body = buf;
	m_body_len = n;
	m_body_at = now;
	*len = n;
	return m_body;
}

static void metrics_serve(struct pg_watch *w, uint32_t events)
{
	const char *body;
	char hdr[128];
	size_t len = 0;
	int fd;

	(void)events;
	/* never blocks: what the socket does not take at once is a failed scrape */
	fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	body = metrics_body(&len);
	if (body) {
		/*
		 * Room for the whole answer in the socket at once (the guard never
		 * waits for a scraper): SO_SNDBUF is capped by net.core.wmem_max,
		 * and a scrape of 10,000 ports (2 MB) came out cut in half.
		 */
		int room = len > (16 << 20) ? 32 << 20 : (int)len * 2 + (64 << 10);

		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &room, sizeof(room)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &room, sizeof(room));
		snprintf(hdr, sizeof(hdr), "HTTP/1.0 200 OK\r\nContent-Type: text/plain; "
			 "version=0.0.4\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", len);
		if (write(fd, hdr, strlen(hdr)) < 0 || write(fd, body, len) != (ssize_t)len)
			log_debug("metrics: the socket took less than the whole answer");
	}
	close(fd);
}

static int metrics_listen(const char *spec)
{
	struct sockaddr_storage ss = { 0 };
	char host[64];
	const char *colon = strrchr(spec, ':');
	int fd, one = 1, port = atoi(colon + 1);
	socklen_t sl;

	snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
	if (host[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		host[strlen(host) - 1] = 0;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			return -EINVAL;
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -EINVAL;
		sl = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 16) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	m_listen.fd = fd;
	m_listen.cb = metrics_serve;
	return loop_add(&m_listen, EPOLLIN);
}

int metrics_init(const struct pg_config *c, struct loader *L)
{
	int err;

	m_start_s = (int64_t)time(NULL);
	m_cfg = c;
	m_loader = L;
	if (c->metrics_file && (err = timer_init(&m_timer, metrics_write, NULL)))
		return err;
	if (c->metrics_listen && (err = metrics_listen(c->metrics_listen))) {
		log_warnx("metrics_listen %s: %s", c->metrics_listen, strerror(-err));
		return err;
	}
	if (c->metrics_file)
		metrics_write(NULL); /* the first file at once */
	return 0;
}

void metrics_set_config(const struct pg_config *c)
{
	m_cfg = c;
	m_body_at = 0; /* the next scrape renders the new services */
	free(m_body);
	m_body = NULL;
	metrics_dirty();
}

void metrics_close(void)
{
	if (m_cfg && m_cfg->metrics_file && m_dirty_armed)
		metrics_write(NULL); /* what changed last */
	timer_close(&m_timer);
	if (m_listen.fd >= 0) {
		loop_del(&m_listen);
		close(m_listen.fd);
		m_listen.fd = -1;
	}
	free(m_body);
	m_body = NULL;
	m_cfg = NULL;
}
