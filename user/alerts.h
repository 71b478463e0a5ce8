/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What happens to an alert after the journal: coalescing of repeated
 * identical alerts (same type, port and binder within coalesce_window: the
 * first goes out at once, the rest become one alert with "count" at the end
 * of the window, so nothing is dropped silently), syslog (LOG_DAEMON), and
 * alert_command (one JSON alert on stdin; bounded concurrency and a timeout;
 * its failures are logged and never block the loop).
 */
#ifndef PG_ALERTS_H
#define PG_ALERTS_H

#include <json-c/json.h>

struct pg_config;

/* publish(ev) sends a coalesced summary down the normal path (takes the reference). */
int alerts_init(const struct pg_config *c, void (*publish)(json_object *ev));
void alerts_close(void);
/* After a reload (the settings that apply live: syslog, alert_command, coalesce_window). */
void alerts_set_config(const struct pg_config *c);
/* 1: an alert kind (conflicts, denials, reclaims, losses, failures). */
int alerts_is_alert(const char *type);
/* 1: publish ev now; 0: it was folded into a window (the caller drops its reference). */
int alerts_coalesce(json_object *ev);
/* syslog and alert_command for an alert that was just journaled. */
void alerts_deliver(json_object *ev);
/* alert_command runs that were dropped (queue full) or failed, for the metrics. */
unsigned long alerts_command_failures(void);

#endif
