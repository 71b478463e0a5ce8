/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bindloop: what a guard costs the host, in ns per call (bench/suite.py).
 *
 *   bindloop bind PORT N REPS [CGROUP_PROCS]   socket()+bind(127.0.0.1:PORT)+close(), N per rep
 *   bindloop getppid N REPS                     getppid(), N per rep
 *
 * With CGROUP_PROCS the process first moves itself into that cgroup (a
 * service's cgroup: the binds are then the owner's). Prints one line per rep:
 * the mean wall-clock ns and the mean CPU ns (user + system time of the
 * process, which includes the BPF programs run in its system calls) per
 * iteration. A failed bind is an error (exit 1): the loop must measure
 * successful binds.
 *
 * Build: gcc -O2 -o bindloop bindloop.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

static int bind_rep(int port, long n, double *ns, double *cpu)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	double t0, c0;
	long i;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c0 = cpu_ns();
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);

		if (s < 0) {
			fprintf(stderr, "socket: %s\n", strerror(errno));
			return -1;
		}
		if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
			int e = errno;

			fprintf(stderr, "bind 127.0.0.1:%d (iteration %ld): %s\n", port, i,
				strerror(e));
			close(s);
			return e == EADDRINUSE ? -2 : -1;
		}
		close(s);
	}
	*ns = (now_ns() - t0) / n;
	*cpu = (cpu_ns() - c0) / n;
	return 0;
}

static void getppid_rep(long n, double *ns, double *cpu)
{
	double c0 = cpu_ns(), t0 = now_ns();
	long i;

	for (i = 0; i < n; i++)
		syscall(SYS_getppid); /* no libc caching */
	*ns = (now_ns() - t0) / n;
	*cpu = (cpu_ns() - c0) / n;
}

int main(int argc, char **argv)
{
	long n, reps, r;
	int retries;
	double ns, cpu;

	if (argc < 4) {
		fprintf(stderr, "usage: bindloop bind PORT N REPS [CGROUP_PROCS] | "
				"bindloop getppid N REPS\n");
		return 2;
	}
	if (!strcmp(argv[1], "getppid")) {
		n = atol(argv[2]);
		reps = atol(argv[3]);
		getppid_rep(n / 10 + 1, &ns, &cpu); /* warm-up */
		for (r = 0; r < reps; r++) {
			getppid_rep(n, &ns, &cpu);
			printf("%.1f %.1f\n", ns, cpu);
		}
		return 0;
	}
	if (strcmp(argv[1], "bind") || argc < 5) {
		fprintf(stderr, "bindloop: bad arguments\n");
		return 2;
	}
	n = atol(argv[3]);
	reps = atol(argv[4]);
	if (argc > 5) {
		FILE *f = fopen(argv[5], "w");

		if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f) != 0) {
			fprintf(stderr, "bindloop: cannot join %s: %s\n", argv[5], strerror(errno));
			return 1;
		}
	}
	/* warm-up; a rep that met EADDRINUSE (someone else on the port for a
	 * moment) is run again, up to 3 times in all */
	for (r = 0, retries = 0; r <= reps; r++) {
		int err = bind_rep(atoi(argv[2]), r ? n : n / 10 + 1, &ns, &cpu);

		if (err == -2 && ++retries <= 3) {
			r--;
			continue;
		}
		if (err)
			return 1;
		if (r)
			printf("%.1f %.1f\n", ns, cpu);
	}
	return 0;
}
