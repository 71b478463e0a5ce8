/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Prometheus metrics in the text exposition format: written atomically to
 * metrics_file (for node_exporter's textfile collector) at most once a second
 * and only after something changed, and served on an opt-in loopback
 * metrics_listen address. No timer runs while nothing happens.
 */
#ifndef PG_METRICS_H
#define PG_METRICS_H

#include <stdio.h>

struct pg_config;
struct loader;
struct pg_ev;

int metrics_init(const struct pg_config *c, struct loader *L);
void metrics_close(void);
/* After a reload (the ports and services to list). */
void metrics_set_config(const struct pg_config *c);
/* Count one event (before coalescing: the metrics see every one). */
void metrics_count(const struct pg_ev *ev);
/* The kernel delivered an event of this kind. */
void metrics_kernel_event(unsigned int kind);
void metrics_kernel_events(unsigned int kind, uint64_t n);
/* A ring record read: its boot-clock time from the kernel hook, into the latency histogram. */
void metrics_event_latency(uint64_t ts_ns);
/* Something changed: schedule a write of metrics_file. */
void metrics_dirty(void);
/* The exposition text. */
void metrics_render(FILE *f);
/* Where portguard_port_state comes from (snapshot_each_port): set by the guard. */
void metrics_set_port_source(void (*each)(void (*fn)(int, const char *, void *), void *));

#endif
