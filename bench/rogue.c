/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rogue: detection latency of rogue binds (bench/suite.py).
 *
 *   rogue PORT COUNT INTERVAL_US CMD [ARG...]
 *
 * Runs CMD (`portguard events --follow --json -c CONF`) with its stdout on a
 * pipe; a reader thread stamps every chunk it reads with CLOCK_REALTIME and
 * keeps the cookie, the receive time and the "ts" of every rogue_bind line.
 * The main thread makes COUNT rogue binds at a steady rate, each on a new
 * socket: socket(), bind(127.0.0.1:PORT), CLOCK_REALTIME right after bind
 * returns, SO_COOKIE, listen(), close(). A few warm-up binds first, until
 * the stream is seen to be live.
 *
 * Prints one line per bind: cookie bind_ns recv_ns ts_us late_ns (recv_ns
 * and ts_us are -1 when no rogue_bind arrived for that cookie within 10 s;
 * late_ns is how late the binder woke for that bind: the machine's own
 * scheduling noise, measured in the same run).
 *
 * Build: gcc -O2 -pthread -o rogue rogue.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif
#define WARMUP 20

struct seen {
	uint64_t cookie;
	int64_t recv_ns;
	int64_t ts_us;
};

static struct seen *seen;
static int nseen, maxseen;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int pipe_rd;

static int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* "2026-11-28T03:52:00.123456Z" -> microseconds since the epoch, -1 if not that */
static int64_t parse_ts(const char *s)
{
	struct tm tm = { 0 };
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	int64_t us = 0;
	int digits = 0;

	if (!p)
		return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			us = us * 10 + (*p - '0');
	while (digits < 6) {
		us *= 10;
		digits++;
	}
	return (int64_t)timegm(&tm) * 1000000LL + us;
}

static void on_line(char *line, int64_t recv)
{
	char *c, *t;

	if (!strstr(line, "\"type\":\"rogue_bind\"") && !strstr(line, "\"type\": \"rogue_bind\""))
		return;
	c = strstr(line, "\"cookie\":");
	t = strstr(line, "\"ts\":");
	if (!c)
		return;
	c += strlen("\"cookie\":");
	pthread_mutex_lock(&mu);
	if (nseen < maxseen) {
		seen[nseen].cookie = strtoull(c + strspn(c, " "), NULL, 10);
		seen[nseen].recv_ns = recv;
		seen[nseen].ts_us = -1;
		if (t) {
			t = strchr(t + 5, '"');
			if (t)
				seen[nseen].ts_us = parse_ts(t + 1);
		}
		nseen++;
	}
	pthread_mutex_unlock(&mu);
}

static void *reader(void *arg)
{
	static char buf[1 << 20];
	size_t have = 0;
	ssize_t n;

	(void)arg;
	while ((n = read(pipe_rd, buf + have, sizeof(buf) - 1 - have)) > 0) {
		int64_t recv = realtime_ns();
		char *p = buf, *nl;

		have += n;
		buf[have] = 0;
		while ((nl = memchr(p, '\n', buf + have - p))) {
			*nl = 0;
			on_line(p, recv);
			p = nl + 1;
		}
		have = buf + have - p;
		memmove(buf, p, have);
		if (have == sizeof(buf) - 1)
			have = 0; /* an absurd line: drop it */
	}
	return NULL;
}

static int find(uint64_t cookie)
{
	int i, r = -1;

	pthread_mutex_lock(&mu);
	for (i = 0; i < nseen; i++)
		if (seen[i].cookie == cookie) {
			r = i;
			break;
		}
	pthread_mutex_unlock(&mu);
	return r;
}

static int seen_count(void)
{
	int n;

	pthread_mutex_lock(&mu);
	n = nseen;
	pthread_mutex_unlock(&mu);
	return n;
}

/* One rogue bind; returns its cookie (0 on failure), *at = realtime right after bind. */
static uint64_t rogue_bind(int port, int64_t *at)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0)
		return 0;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		fprintf(stderr, "rogue: bind 127.0.0.1:%d: %s\n", port, strerror(errno));
		close(s);
		return 0;
	}
	*at = realtime_ns();
	if (getsockopt(s, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0)
		cookie = 0;
	listen(s, 1);
	close(s);
	return cookie;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	int port, count, interval_us, fds[2], i, ok = 0, rc = 1;
	uint64_t *cookies;
	int64_t *at, *late, start;
	pthread_t th;
	pid_t child;
	struct timespec next;

	if (argc < 5) {
		fprintf(stderr, "usage: rogue PORT COUNT INTERVAL_US CMD [ARG...]\n");
		return 2;
	}
	port = atoi(argv[1]);
	count = atoi(argv[2]);
	interval_us = atoi(argv[3]);
	maxseen = count + 10 * WARMUP;
	seen = calloc(maxseen, sizeof(*seen));
	cookies = calloc(count, sizeof(*cookies));
	at = calloc(count, sizeof(*at));
	late = calloc(count, sizeof(*late));
	if (!seen || !cookies || !at || !late || pipe(fds) < 0)
		return 1;
	prctl(PR_SET_TIMERSLACK, 1UL);
	child = fork();
	if (child == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execvp(argv[4], argv + 4);
		_exit(127);
	}
	close(fds[1]);
	pipe_rd = fds[0];
	pthread_create(&th, NULL, reader, NULL);

	/* warm-up: until the follower's stream is live (or 10 s) */
	for (i = 0; i < 10 * WARMUP && !ok; i++) {
		int64_t t;
		uint64_t c = rogue_bind(port, &t);
		int w;

		for (w = 0; w < 50 && c && !ok; w++) {
			sleep_ms(1);
			ok = find(c) >= 0;
		}
	}
	if (!ok) {
		fprintf(stderr, "rogue: no rogue_bind event arrived from the follower\n");
		goto out;
	}
	for (i = 0; i < WARMUP; i++) {
		int64_t t;

		rogue_bind(port, &t);
		sleep_ms(2);
	}
	sleep_ms(100);

	clock_gettime(CLOCK_MONOTONIC, &next);
	for (i = 0; i < count; i++) {
		next.tv_nsec += interval_us * 1000L;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		{
			struct timespec now;

			clock_gettime(CLOCK_MONOTONIC, &now);
			late[i] = (now.tv_sec - next.tv_sec) * 1000000000LL +
				  (now.tv_nsec - next.tv_nsec);
		}
		cookies[i] = rogue_bind(port, &at[i]);
	}
	/* every event, or 10 s */
	start = realtime_ns();
	while (realtime_ns() - start < 10000000000LL) {
		int missing = 0;

		for (i = 0; i < count && !missing; i++)
			missing = cookies[i] && find(cookies[i]) < 0;
		if (!missing)
			break;
		sleep_ms(20);
	}
	for (i = 0; i < count; i++) {
		int j = cookies[i] ? find(cookies[i]) : -1;

		printf("%llu %lld %lld %lld %lld\n", (unsigned long long)cookies[i],
		       (long long)at[i], j >= 0 ? (long long)seen[j].recv_ns : -1LL,
		       j >= 0 ? (long long)seen[j].ts_us : -1LL, (long long)late[i]);
	}
	fprintf(stderr, "rogue: %d rogue_bind lines read\n", seen_count());
	rc = 0;
out:
	kill(child, SIGTERM);
	waitpid(child, NULL, 0);
	return rc;
}
