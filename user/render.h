/* SPDX-License-Identifier: BSD-3-Clause */
/* The CLI's human rendering of `status` and of event lines. */
#ifndef PG_RENDER_H
#define PG_RENDER_H

#include <stdio.h>

#include <json-c/json.h>

/* Human rendering of a `status` object. */
void render_status(FILE *f, json_object *st);
/*
 * `status --check`: one line for a Nagios/Icinga-style monitor (with
 * perfdata), and its exit status: 0 OK; 1 WARNING (a service starting,
 * stopping or stopped by hand, a port held by a stranger, events lost);
 * 2 CRITICAL (no guard, a service FATAL, EXITED or in BACKOFF).
 */
int render_check(FILE *f, json_object *st, int guard_running, const char *name);
/* One human line for an event object. */
void render_event(FILE *f, json_object *ev);

#endif
