/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fresh: one rogue bind by a new process (bench/storms.py). Waits for a
 * byte on stdin (its pid is known to the reader before it binds), binds
 * 127.0.0.1:PORT once, prints CLOCK_REALTIME in ns taken right before the
 * bind() call (so a sight includes the bind itself: never below zero, as a
 * time taken after it can be when the binder is preempted on its return),
 * and exits.
 *
 *   fresh PORT
 *
 * Build: gcc -O2 -o fresh fresh.c
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct timespec ts;
	char go;
	int s;

	if (argc != 2 || read(0, &go, 1) != 1)
		return 2;
	a.sin_port = htons(atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		return 1;
	clock_gettime(CLOCK_REALTIME, &ts);
	bind(s, (struct sockaddr *)&a, sizeof(a)); /* EPERM in enforce mode: the same event */
	printf("%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	close(s);
	return 0;
}
