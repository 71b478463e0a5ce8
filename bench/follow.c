/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * follow: the reading end of `portguard events --follow --json` for
 * bench/storms.py. Reads stdin in 1 MiB reads, counts the lines, and for
 * each line about PORT prints "PID NS", NS being CLOCK_REALTIME right
 * after the read that completed the line; at EOF prints "lines N".
 *
 *   portguard events --follow --json | follow PORT
 *
 * In C, and a process of its own, so that reading a storm's 100,000 lines a
 * second neither falls behind nor holds the bench's Python interpreter
 * (its GIL) while that process times the guard's answers: a reader thread
 * in the bench itself added tens of ms to the status times it measured.
 *
 * Build: gcc -O2 -o follow follow.c
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUF (1 << 20)

static char want[32];
static size_t want_len;

/* A line naming the port: its "pid", or -1. */
static long line_pid(const char *s, size_t n)
{
	const char *end = s + n, *p = s, *q;

	for (;;) {
		p = memmem(p, end - p, want, want_len);
		if (!p)
			return -1;
		p += want_len;
		if (p == end || *p < '0' || *p > '9')
			break; /* the whole number, not a prefix of another port */
	}
	q = memmem(s, n, "\"pid\":", 6);
	return q ? strtol(q + 6, NULL, 10) : -1;
}

int main(int argc, char **argv)
{
	static char buf[2 * BUF];
	size_t have = 0, at;
	unsigned long long lines = 0;
	struct timespec ts;
	ssize_t r;

	if (argc != 2)
		return 2;
	want_len = snprintf(want, sizeof(want), "\"port\":%d", atoi(argv[1]));
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((r = read(0, buf + have, BUF)) > 0) {
		char *nl;
		long long ns;

		clock_gettime(CLOCK_REALTIME, &ts);
		ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
		have += r;
		at = 0;
		while ((nl = memchr(buf + at, '\n', have - at))) {
			long pid = line_pid(buf + at, nl - (buf + at));

			if (pid > 0)
				printf("%ld %lld\n", pid, ns);
			lines++;
			at = nl - buf + 1;
		}
		memmove(buf, buf + at, have - at);
		have -= at;
		if (have >= BUF) /* a line over 1 MiB: counted, not searched */
			have = 0, lines++;
	}
	printf("lines %llu\n", lines);
	return 0;
}
