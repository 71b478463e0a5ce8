/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pg-demo - portguard's tiny demo service.
 *
 * A stand-in for a real trading service, used by the demo script, the
 * examples and the end-to-end tests. Two modes:
 *
 *   http        an HTTP/1.0 server answering GET /health with "ok\n"
 *   background  a worker that sleeps until it is killed
 *
 * Options exercise supervisor edge cases: --ignore-term (stop_timeout and
 * cgroup.kill), --double-fork (daemonising services), --delay-listen
 * (readiness), --exit-after/--exit-code (crash loops).
 *
 * An idle pg-demo makes no system calls: it blocks in ppoll()/sigsuspend()
 * with no timeout unless one was asked for.
 *
 * Build: gcc -std=gnu11 -O2 -Wall -Wextra -o pg-demo pg-demo.c
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#define REQ_MAX		4096
#define CLIENT_TIMEOUT	5	/* seconds to wait for a client's request */

enum mode {
	MODE_HTTP,
	MODE_BACKGROUND,
};

struct opts {
	enum mode mode;
	const char *name;
	const char *addr;
	int port;
	bool ignore_term;
	bool double_fork;
	bool udp;
	bool reuseport;
	long delay_listen_ms;
	long exit_after_ms;	/* -1: never */
	int exit_code;
	long notify_ms;		/* -1: no sd_notify; else READY=1 this long after it is ready */
};

static volatile sig_atomic_t got_term;

static const char usage_synopsis[] =
	"usage: pg-demo http --port N [--addr A] [--name NAME] [--ignore-term]\n"
	"                    [--double-fork] [--delay-listen MS] [--udp]\n"
	"                    [--reuseport]\n"
	"       pg-demo background [--name NAME] [--ignore-term] [--double-fork]\n"
	"                          [--exit-after MS] [--exit-code C]\n"
	"       (both modes: [--notify MS])\n";

static const char usage_details[] =
	"\n"
	"modes:\n"
	"  http              HTTP/1.0 server on A:N: GET /health -> 200 \"ok\\n\",\n"
	"                    any other request -> 404; one request per connection\n"
	"  background        worker that blocks until it is killed\n"
	"\n"
	"options:\n"
	"  --port N          TCP port to listen on (http, required)\n"
	"  --addr A          address to bind, IPv4 or IPv6 (default 0.0.0.0)\n"
	"  --name NAME       name used in the startup line (default: the mode)\n"
	"  --ignore-term     ignore SIGTERM (only SIGKILL stops the process)\n"
	"  --double-fork     fork, setsid, fork again; the grandchild does the\n"
	"                    work, the original process stays alive in pause()\n"
	"  --delay-listen MS bind, then wait MS milliseconds before listen()\n"
	"  --reuseport       set SO_REUSEPORT on the sockets (to share the port)\n"
	"  --udp             also bind a UDP socket on the same port; each\n"
	"                    datagram is answered with \"ok\\n\"\n"
	"  --exit-after MS   exit MS milliseconds after start (background)\n"
	"  --exit-code C     exit status used by --exit-after (default 0)\n"
	"  --notify MS       MS milliseconds after it is ready (listening, or started),\n"
	"                    say so to the service manager: sd_notify(3) READY=1 and\n"
	"                    STATUS=, through libsystemd, to $NOTIFY_SOCKET\n"
	"  -h, --help        show this help\n"
	"\n"
	"On SIGTERM (unless ignored) pg-demo exits with status 0.\n";

/* Full help on stdout for --help; the synopsis on stderr for misuse. */
static void __attribute__((noreturn)) usage(int status)
{
	FILE *f = status ? stderr : stdout;

	fputs(usage_synopsis, f);
	if (!status)
		fputs(usage_details, f);
	exit(status);
}

static void __attribute__((noreturn)) die(const char *name, const char *what)
{
	fprintf(stderr, "pg-demo %s: %s: %s\n", name, what, strerror(errno));
	exit(1);
}

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static long parse_num(const char *s, long min, long max, const char *opt)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "pg-demo: invalid value for %s: '%s'\n", opt, s);
		usage(2);
	}
	return v;
}

/*
 * SIGTERM is blocked at all times except while sleeping in ppoll() or
 * sigsuspend(), so it is only ever acted upon between requests and the
 * "check flag, then sleep" race cannot lose it.
 */
static void setup_signals(const struct opts *o, sigset_t *waitmask)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = o->ignore_term ? SIG_IGN : on_term;
	sigaction(SIGTERM, &sa, NULL);

	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, waitmask);
	sigdelset(waitmask, SIGTERM);
}

static void __attribute__((noreturn)) term_exit(void)
{
	fflush(stdout);
	_exit(0);
}

/*
 * Sleep for @ms milliseconds (forever if @ms < 0), leaving early with
 * status 0 on SIGTERM.
 */
static void sleep_ms(long ms, const sigset_t *waitmask)
{
	struct timespec now, end, left;

	if (ms < 0) {
		for (;;) {
			sigsuspend(waitmask);
			if (got_term)
				term_exit();
		}
	}

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += ms / 1000;
	end.tv_nsec += (ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		left.tv_sec = end.tv_sec - now.tv_sec;
		left.tv_nsec = end.tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += 1000000000L;
		}
		if (left.tv_sec < 0)
			return;
		ppoll(NULL, 0, &left, waitmask);
		if (got_term)
			term_exit();
	}
}

/*
 * --double-fork: the caller forks; the child starts a new session and forks
 * again; the grandchild returns and does the real work. The original process
 * reaps the intermediate child and then stays alive in pause(), so the
 * supervisor still has a main pid to watch.
 */
static void double_fork(const struct opts *o, const sigset_t *waitmask)
{
	pid_t pid;
	int status;

	fflush(stdout);
	fflush(stderr);

	pid = fork();
	if (pid < 0)
		die(o->name, "fork");
	if (pid > 0) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		sleep_ms(-1, waitmask);
	}

	if (setsid() < 0)
		die(o->name, "setsid");

	pid = fork();
	if (pid < 0)
		die(o->name, "fork");
	if (pid > 0)
		_exit(0);
}

/* --notify: READY=1 (and a STATUS=) MS after it is ready; a test service speaking sd_notify. */
static void notify_ready(const struct opts *o, const sigset_t *waitmask)
{
	if (o->notify_ms < 0)
		return;
	if (o->notify_ms > 0)
		sleep_ms(o->notify_ms, waitmask);
#ifdef HAVE_SYSTEMD
	if (sd_notifyf(0, "READY=1\nSTATUS=%s: serving%s%.0d", o->name,
		       o->port ? " on port " : "", o->port) <= 0)
		fprintf(stderr, "pg-demo %s: sd_notify: nothing sent (NOTIFY_SOCKET %s)\n",
			o->name, getenv("NOTIFY_SOCKET") ? "unreachable" : "unset");
#else
	fprintf(stderr, "pg-demo %s: built without libsystemd: --notify sends nothing\n",
		o->name);
#endif
}

static void __attribute__((noreturn)) run_background(const struct opts *o,
						     const sigset_t *waitmask)
{
	printf("pg-demo %s: background worker started\n", o->name);
	fflush(stdout);
	notify_ready(o, waitmask);

	if (o->exit_after_ms >= 0) {
		sleep_ms(o->exit_after_ms, waitmask);
		fflush(stdout);
		_exit(o->exit_code);
	}
	sleep_ms(-1, waitmask);
	_exit(0);	/* not reached */
}

struct sockaddr_any {
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	};
	socklen_t len;
};

static void parse_addr(const struct opts *o, struct sockaddr_any *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, o->addr, &a->in4.sin_addr) == 1) {
		a->in4.sin_family = AF_INET;
		a->in4.sin_port = htons(o->port);
		a->len = sizeof(a->in4);
	} else if (inet_pton(AF_INET6, o->addr, &a->in6.sin6_addr) == 1) {
		a->in6.sin6_family = AF_INET6;
		a->in6.sin6_port = htons(o->port);
		a->len = sizeof(a->in6);
	} else {
		fprintf(stderr, "pg-demo: invalid address '%s'\n", o->addr);
		usage(2);
	}
}

static int bind_socket(const struct opts *o, const struct sockaddr_any *a,
		       int type)
{
	int one = 1;
	int fd;

	fd = socket(a->sa.sa_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		die(o->name, "socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		die(o->name, "setsockopt(SO_REUSEADDR)");
	if (o->reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		die(o->name, "setsockopt(SO_REUSEPORT)");
	if (bind(fd, &a->sa, a->len) < 0)
		die(o->name, type == SOCK_STREAM ? "bind tcp" : "bind udp");
	return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= n;
	}
	return 0;
}

static bool is_health(const char *req)
{
	static const char get[] = "GET /health";
	size_t n = sizeof(get) - 1;

	if (strncmp(req, get, n))
		return false;
	/* "/health", "/health?x" or "/health " but not "/healthz" */
	return req[n] == ' ' || req[n] == '?' || req[n] == '\r' ||
	       req[n] == '\n' || req[n] == '\0';
}

static void serve_client(int fd)
{
	static const char ok[] =
		"HTTP/1.0 200 OK\r\n"
		"Content-Type: text/plain\r\n"
		"Content-Length: 3\r\n"
		"Connection: close\r\n"
		"\r\n"
		"ok\n";
	static const char notfound[] =
		"HTTP/1.0 404 Not Found\r\n"
		"Content-Type: text/plain\r\n"
		"Content-Length: 10\r\n"
		"Connection: close\r\n"
		"\r\n"
		"not found\n";
	struct timeval tv = { .tv_sec = CLIENT_TIMEOUT };
	char req[REQ_MAX + 1];
	size_t len = 0;
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

	/* Read up to the end of the headers (or until the buffer is full). */
	while (len < REQ_MAX) {
		n = recv(fd, req + len, REQ_MAX - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	if (!len)
		return;
	req[len] = '\0';

	if (is_health(req))
		send_all(fd, ok, sizeof(ok) - 1);
	else
		send_all(fd, notfound, sizeof(notfound) - 1);
	shutdown(fd, SHUT_WR);
}

static void serve_udp(int fd)
{
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	char buf[512];

	while (recvfrom(fd, buf, sizeof(buf), 0,
			(struct sockaddr *)&peer, &plen) >= 0) {
		sendto(fd, "ok\n", 3, 0, (struct sockaddr *)&peer, plen);
		plen = sizeof(peer);
	}
}

static void __attribute__((noreturn)) run_http(const struct opts *o,
					       const sigset_t *waitmask)
{
	struct pollfd pfd[2];
	struct sockaddr_any a;
	int nfds = 1;
	int tcp, cfd;

	parse_addr(o, &a);
	tcp = bind_socket(o, &a, SOCK_STREAM);
	pfd[0].fd = tcp;
	pfd[0].events = POLLIN;
	if (o->udp) {
		pfd[1].fd = bind_socket(o, &a, SOCK_DGRAM);
		pfd[1].events = POLLIN;
		nfds = 2;
	}

	if (o->delay_listen_ms > 0)
		sleep_ms(o->delay_listen_ms, waitmask);

	if (listen(tcp, SOMAXCONN) < 0)
		die(o->name, "listen");

	if (a.sa.sa_family == AF_INET6)
		printf("pg-demo %s: listening on [%s]:%d\n", o->name, o->addr,
		       o->port);
	else
		printf("pg-demo %s: listening on %s:%d\n", o->name, o->addr,
		       o->port);
	fflush(stdout);
	notify_ready(o, waitmask);

	for (;;) {
		if (got_term)
			term_exit();
		if (ppoll(pfd, nfds, NULL, waitmask) < 0) {
			if (errno == EINTR)
				continue;
			die(o->name, "ppoll");
		}
		if (nfds == 2 && (pfd[1].revents & POLLIN))
			serve_udp(pfd[1].fd);
		if (!(pfd[0].revents & POLLIN))
			continue;
		/* Drain the backlog, one request per connection. */
		for (;;) {
			cfd = accept4(tcp, NULL, NULL, SOCK_CLOEXEC);
			if (cfd < 0) {
				if (errno == EINTR || errno == ECONNABORTED)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				die(o->name, "accept");
			}
			serve_client(cfd);
			close(cfd);
		}
	}
}

int main(int argc, char **argv)
{
	enum {
		OPT_PORT = 256,
		OPT_ADDR,
		OPT_NAME,
		OPT_IGNORE_TERM,
		OPT_DOUBLE_FORK,
		OPT_DELAY_LISTEN,
		OPT_UDP,
		OPT_REUSEPORT,
		OPT_EXIT_AFTER,
		OPT_EXIT_CODE,
		OPT_NOTIFY,
	};
	static const struct option longopts[] = {
		{ "port",		required_argument, NULL, OPT_PORT },
		{ "addr",		required_argument, NULL, OPT_ADDR },
		{ "name",		required_argument, NULL, OPT_NAME },
		{ "ignore-term",	no_argument,	   NULL, OPT_IGNORE_TERM },
		{ "double-fork",	no_argument,	   NULL, OPT_DOUBLE_FORK },
		{ "delay-listen",	required_argument, NULL, OPT_DELAY_LISTEN },
		{ "udp",		no_argument,	   NULL, OPT_UDP },
		{ "reuseport",		no_argument,	   NULL, OPT_REUSEPORT },
		{ "exit-after",		required_argument, NULL, OPT_EXIT_AFTER },
		{ "exit-code",		required_argument, NULL, OPT_EXIT_CODE },
		{ "notify",		required_argument, NULL, OPT_NOTIFY },
		{ "help",		no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = {
		.addr = "0.0.0.0",
		.exit_after_ms = -1,
		.notify_ms = -1,
	};
	bool http_only = false, bg_only = false;
	sigset_t waitmask;
	int c;

	if (argc < 2)
		usage(2);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		usage(0);
	if (!strcmp(argv[1], "http")) {
		o.mode = MODE_HTTP;
		o.name = "http";
	} else if (!strcmp(argv[1], "background")) {
		o.mode = MODE_BACKGROUND;
		o.name = "background";
	} else {
		fprintf(stderr, "pg-demo: unknown mode '%s'\n", argv[1]);
		usage(2);
	}

	/* Parse the options after the mode word. */
	while ((c = getopt_long(argc - 1, argv + 1, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_PORT:
			o.port = parse_num(optarg, 1, 65535, "--port");
			http_only = true;
			break;
		case OPT_ADDR:
			o.addr = optarg;
			http_only = true;
			break;
		case OPT_NAME:
			o.name = optarg;
			break;
		case OPT_IGNORE_TERM:
			o.ignore_term = true;
			break;
		case OPT_DOUBLE_FORK:
			o.double_fork = true;
			break;
		case OPT_DELAY_LISTEN:
			o.delay_listen_ms = parse_num(optarg, 0, INT_MAX,
						      "--delay-listen");
			http_only = true;
			break;
		case OPT_UDP:
			o.udp = true;
			http_only = true;
			break;
		case OPT_REUSEPORT:
			o.reuseport = true;
			http_only = true;
			break;
		case OPT_EXIT_AFTER:
			o.exit_after_ms = parse_num(optarg, 0, INT_MAX,
						    "--exit-after");
			bg_only = true;
			break;
		case OPT_EXIT_CODE:
			o.exit_code = parse_num(optarg, 0, 255, "--exit-code");
			bg_only = true;
			break;
		case OPT_NOTIFY:
			o.notify_ms = parse_num(optarg, 0, INT_MAX, "--notify");
			break;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "pg-demo: unexpected argument '%s'\n",
			argv[optind + 1]);
		usage(2);
	}
	if (o.mode == MODE_HTTP && bg_only) {
		fprintf(stderr, "pg-demo: --exit-after/--exit-code are for background mode\n");
		usage(2);
	}
	if (o.mode == MODE_BACKGROUND && http_only) {
		fprintf(stderr, "pg-demo: --port/--addr/--delay-listen/--udp are for http mode\n");
		usage(2);
	}
	if (o.mode == MODE_HTTP && !o.port) {
		fprintf(stderr, "pg-demo: http mode needs --port\n");
		usage(2);
	}

	setup_signals(&o, &waitmask);

	if (o.double_fork)
		double_fork(&o, &waitmask);

	if (o.mode == MODE_HTTP)
		run_http(&o, &waitmask);
	run_background(&o, &waitmask);
}
