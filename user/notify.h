/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Telling a service manager how the guard is (the sd_notify protocol, via
 * libsystemd): READY=1, STATUS=..., RELOADING=1, STOPPING=1. Nothing at all
 * when NOTIFY_SOCKET is unset (not started as a Type=notify unit) or when
 * built without libsystemd.
 */
#ifndef PG_NOTIFY_H
#define PG_NOTIFY_H

/* Take NOTIFY_SOCKET out of the environment the services will inherit. */
void notify_init(void);
void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
/* STATUS=line, sent only when it differs from the last one sent, at most once a second
 * (the newest line of a busy second goes out at its end). */
void notify_status(const char *line);

#endif
