/* SPDX-License-Identifier: BSD-3-Clause */
/* Logging in the OpenBSD daemons' manner: log_warn appends strerror(errno). */
#ifndef PG_LOG_H
#define PG_LOG_H

#include <stdarg.h>

extern int log_verbose;

void log_init(const char *progname, int verbose);
/*
 * The guard's stderr, when a pipe or a socket, never blocks the loop: a
 * reader that stops reading loses lines (the journal has every event).
 */
void log_stderr_nonblock(void);
/* One line (an event's JSON) to stderr; a line a full pipe did not take is counted. */
void log_line(const char *line);
void log_count_stderr(void);
unsigned long log_stderr_dropped(void); /* lines lost so (a metric) */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
