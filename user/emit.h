/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Where every event goes, in this order: the metrics count it (all of
 * them), coalescing may fold it (alerts.c), then it is encoded once and
 * written to the journal first (so no alert is lost), stderr, the event
 * followers, syslog and alert_command; a conflict also joins the recent
 * list that `status` shows.
 */
#ifndef PG_EMIT_H
#define PG_EMIT_H

#include "event.h"

/* The config in force (journal_routine). */
struct pg_config;
void emit_set_config(const struct pg_config *c);
void emit_event(struct pg_ev *ev);
/* A summary the kernel counted (ev->folded): metrics by its count, published as is. */
void emit_folded(struct pg_ev *ev);
/* Past coalescing (alerts.c's summaries come this way). */
void emit_publish(struct pg_ev *ev);
/* The recent conflicts, oldest first, into out (at most ST_RECENT); how many. */
int emit_recent(const struct pg_ev **out, int max);
/* The newest recent conflict on port, or NULL. */
const struct pg_ev *emit_last_conflict(int port);
void emit_reset(void);

#endif
