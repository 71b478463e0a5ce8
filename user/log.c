/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

int log_verbose;
static const char *log_prog = "portguard";
static unsigned long log_dropped;

void log_init(const char *progname, int verbose)
{
	log_prog = progname;
	log_verbose = verbose;
}

static void log_vwrite(const char *fmt, va_list ap, int err)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (err)
		fprintf(stderr, "%s: %s: %s\n", log_prog, buf, strerror(err));
	else
		fprintf(stderr, "%s: %s\n", log_prog, buf);
	log_count_stderr();
}

void log_line(const char *line)
{
	fprintf(stderr, "%s\n", line);
	log_count_stderr();
}

/* A full pipe (see log_stderr_nonblock) loses the line, counted, not the next. */
void log_count_stderr(void)
{
	if (ferror(stderr))
		log_dropped++;
	clearerr(stderr);
}

unsigned long log_stderr_dropped(void)
{
	return log_dropped;
}

void log_stderr_nonblock(void)
{
	struct stat st;
	int fl;

	if (fstat(STDERR_FILENO, &st) < 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
		return; /* a file never blocks for long, and a terminal is the shell's */
	fl = fcntl(STDERR_FILENO, F_GETFL);
	if (fl >= 0)
		fcntl(STDERR_FILENO, F_SETFL, fl | O_NONBLOCK);
}

void log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(fmt, ap, saved);
	va_end(ap);
	errno = saved;
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(fmt, ap, 0);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(fmt, ap, 0);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vwrite(fmt, ap, 0);
	va_end(ap);
}
