/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Events to systemd's journal with structured fields (its native protocol,
 * on a socket that never blocks the guard):
 * when the guard's stderr is the journal (JOURNAL_STREAM names it, as
 * systemd.exec(5) says), each journaled event goes there once, with
 * MESSAGE_ID per event type, PRIORITY and PORTGUARD_* fields, instead of a
 * line on stderr and the syslog copy of an alert.
 */
#ifndef PG_JOURNALD_H
#define PG_JOURNALD_H

#include "event.h"

/* Is stderr systemd's journal? Decided once, at the guard's start. */
int journald_init(void);
int journald_active(void);
/* One event (json: its line, as events.jsonl has it) to the journal. */
void journald_send(const struct pg_ev *ev, const char *json);
/* Events journald had no room for (its queue full, or it was restarting). */
unsigned long journald_dropped(void);
/* The MESSAGE_ID of an event type (32 hex digits), for the docs and the tests. */
const char *journald_message_id(enum ev_type t, char buf[33]);

#endif
