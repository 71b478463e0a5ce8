/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "notify.h"

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

static char notify_last[256];
static char *notify_socket; /* NOTIFY_SOCKET, kept from the services (notify_init) */

void notify_init(void)
{
	const char *s = getenv("NOTIFY_SOCKET");

	free(notify_socket);
	notify_socket = s ? strdup(s) : NULL;
	unsetenv("NOTIFY_SOCKET"); /* a service must not speak for the guard's unit */
}

/* sd_notify() reads the socket from the environment: there only for the call. */
static void notify_send(const char *msg)
{
#ifdef HAVE_SYSTEMD
	if (!notify_socket || setenv("NOTIFY_SOCKET", notify_socket, 1) < 0)
		return;
	sd_notify(1, msg); /* 1: unset again */
#else
	(void)msg;
#endif
}

void notify_ready(void)
{
	notify_send("READY=1");
}

void notify_reloading(void)
{
	notify_send("RELOADING=1");
}

void notify_stopping(void)
{
	notify_send("STOPPING=1");
}

/*
 * At most one STATUS= a second (NOTIFY_STATUS_MS): the line changes after every
 * batch of a storm (its count of denials), and each one is a datagram pid 1
 * must read; a change inside the second goes out when it ends (a timerfd),
 * so the last word is always sent.
 */
#define NOTIFY_STATUS_MS 1000

static char notify_pending[sizeof(notify_last)];
static uint64_t notify_sent_ms;
static struct pg_timer notify_timer = { .w = { .fd = -1 } };
static int notify_timer_armed;

static void notify_status_send(void)
{
	char msg[sizeof(notify_last) + 8];

	snprintf(notify_last, sizeof(notify_last), "%s", notify_pending);
	snprintf(msg, sizeof(msg), "STATUS=%s", notify_last);
	notify_send(msg);
	notify_sent_ms = now_ms();
}

static void notify_status_due(struct pg_timer *t)
{
	(void)t;
	notify_timer_armed = 0;
	if (strcmp(notify_pending, notify_last))
		notify_status_send();
}

void notify_status(const char *line)
{
	uint64_t since;

	if (!notify_socket)
		return;
	snprintf(notify_pending, sizeof(notify_pending), "%s", line);
	if (!strcmp(notify_pending, notify_last) || notify_timer_armed)
		return; /* the same; or the timer sends the newest when the second is up */
	since = now_ms() - notify_sent_ms;
	if (since >= NOTIFY_STATUS_MS ||
	    (notify_timer.w.fd < 0 && timer_init(&notify_timer, notify_status_due, NULL) < 0) ||
	    timer_arm_ms(&notify_timer, NOTIFY_STATUS_MS - since) < 0) {
		notify_status_send();
		return;
	}
	notify_timer_armed = 1;
}
