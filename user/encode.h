/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The one way out of the guard as JSON (json-c): events, `status`, and the
 * control socket's replies, each as one line (no newline, malloc'd, the
 * caller frees; NULL only when out of memory). Nothing else in the guard
 * builds JSON; control.c parses the requests that come in.
 */
#ifndef PG_ENCODE_H
#define PG_ENCODE_H

#include <stdint.h>

struct pg_ev;
struct status;
struct ev_step;

char *encode_event(const struct pg_ev *ev);
char *encode_status(const struct status *st);
/* {"ok":true}, with "detail" when not NULL. */
char *encode_ok(const char *detail);
/* {"ok":false,"error":"..."} */
char *encode_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A reload's answer: ok with "detail", or not with "error"; "errors": the lines (NULL: none). */
char *encode_reload_reply(int ok, const char *msg, const char *errors);
/* {"progress":"..."} */
char *encode_progress(const char *text);
/* A job's final answer: {"ok","mode","error"?,"ms","steps","status"}. */
char *encode_job(int ok, const char *mode, const char *error, uint64_t ms,
		 const struct ev_step *steps, int nsteps, const struct status *st);

#endif
