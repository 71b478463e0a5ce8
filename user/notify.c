/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <string.h>

#include "notify.h"

#include <stdlib.h>

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

void notify_status(const char *line)
{
	char msg[sizeof(notify_last) + 8];

	if (!strncmp(line, notify_last, sizeof(notify_last) - 1))
		return;
	snprintf(notify_last, sizeof(notify_last), "%s", line);
	snprintf(msg, sizeof(msg), "STATUS=%s", notify_last);
	notify_send(msg);
}
