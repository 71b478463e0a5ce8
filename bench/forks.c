/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * forks: a storm of distinct short-lived binders (bench/suite.py). Forks
 * PROCS children, PAR at a time; each makes BINDS rogue binds to PORT (a new
 * socket each: socket, bind, close) and exits.
 *
 *   forks PORT PROCS PAR BINDS
 *
 * Prints one line per child: "pid binds", then "secs S" (wall time).
 *
 * Build: gcc -O2 -o forks forks.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void child(int port, int binds)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int i;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < binds; i++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);

		if (s < 0)
			_exit(1);
		bind(s, (struct sockaddr *)&a, sizeof(a)); /* EPERM (enforce) or not: counted */
		close(s);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	int port, procs, par, binds, started = 0, running = 0, status;
	struct timespec t0, t1;
	pid_t pid;

	if (argc != 5) {
		fprintf(stderr, "usage: forks PORT PROCS PAR BINDS\n");
		return 2;
	}
	port = atoi(argv[1]);
	procs = atoi(argv[2]);
	par = atoi(argv[3]);
	binds = atoi(argv[4]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (started < procs || running > 0) {
		if (started < procs && running < par) {
			fflush(stdout);
			pid = fork();
			if (pid < 0) {
				perror("fork");
				return 1;
			}
			if (pid == 0)
				child(port, binds);
			printf("%d %d\n", (int)pid, binds);
			started++;
			running++;
			continue;
		}
		if (wait(&status) > 0)
			running--;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("secs %.3f\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
