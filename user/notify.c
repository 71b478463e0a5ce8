/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <string.h>

#include "notify.h"

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#define notify_send(s) sd_notify(0, s)
#else
#define notify_send(s) ((void)(s), 0)
#endif

static char notify_last[256];

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
