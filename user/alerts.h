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

struct pg_config;
struct pg_ev;

/* publish(ev) sends a coalesced summary down the normal path. */
int alerts_init(const struct pg_config *c, void (*publish)(struct pg_ev *ev));
void alerts_close(void);
/* After a reload (the settings that apply live: syslog, alert_command, coalesce_window). */
void alerts_set_config(const struct pg_config *c);
/* 1: publish ev now (the first of a window gets count 1); 0: it was folded into a window. */
int alerts_coalesce(struct pg_ev *ev);
/* syslog and alert_command for an alert (EVF_ALERT) that was just journaled as json. */
void alerts_deliver(const struct pg_ev *ev, const char *json);
/* alert_command runs that were dropped (queue full) or failed, for the metrics. */
unsigned long alerts_command_failures(void);
/* alerts syslog had no room for, or no /dev/log to take them. */
unsigned long alerts_syslog_dropped(void);

#endif
