/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * storm: rogue binds to a guarded port, a new socket each time (socket, bind,
 * close), for SECONDS, counting attempts and how each ended (bench/suite.py).
 *
 *   storm PORT SECONDS RATE      RATE binds/s (paced in 1 ms batches), 0 = as fast as possible
 *
 * Prints one JSON object: attempts, eperm, ok, other, secs.
 *
 * Build: gcc -O2 -o storm storm.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	unsigned long attempts = 0, eperm = 0, ok = 0, other = 0;
	double t0, end, rate, now;
	int last_errno = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: storm PORT SECONDS RATE\n");
		return 2;
	}
	prctl(PR_SET_TIMERSLACK, 1UL);
	a.sin_port = htons(atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rate = atof(argv[3]);
	t0 = now_s();
	end = t0 + atof(argv[2]);
	for (now = t0; now < end; now = now_s()) {
		/* paced: as many binds as are due by now (batches of about 1 ms) */
		unsigned long due = rate > 0 ? (unsigned long)((now - t0) * rate) + 1 : attempts + 256;

		if (rate > 0 && attempts >= due) {
			struct timespec ts = { 0, 1000000 - (long)((now - t0) * 1e9) % 1000000 };

			nanosleep(&ts, NULL);
			continue;
		}
		while (attempts < due) {
			int s = socket(AF_INET, SOCK_STREAM, 0);

			if (s < 0) {
				fprintf(stderr, "socket: %s\n", strerror(errno));
				return 1;
			}
			attempts++;
			if (bind(s, (struct sockaddr *)&a, sizeof(a)) == 0)
				ok++;
			else if (errno == EPERM)
				eperm++;
			else {
				other++;
				last_errno = errno;
			}
			close(s);
		}
	}
	printf("{\"attempts\": %lu, \"eperm\": %lu, \"ok\": %lu, \"other\": %lu, "
	       "\"last_errno\": %d, \"secs\": %.3f}\n",
	       attempts, eperm, ok, other, last_errno, now_s() - t0);
	return 0;
}
