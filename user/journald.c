/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-journal.h>
#endif

#include "journald.h"

static int jd_active;

int journald_init(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	jd_active = 0;
#ifdef HAVE_SYSTEMD
	/* "dev:ino" of the stream systemd connected stderr to; a redirect elsewhere breaks it */
	if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino)
		jd_active = 1;
#else
	(void)js, (void)dev, (void)ino, (void)st;
#endif
	return jd_active;
}

int journald_active(void)
{
	return jd_active;
}

/*
 * portguard's base id (made once with `systemd-id128 new`), its last byte
 * the event type: stable across releases as long as the types keep their
 * order (event.h appends new ones).
 */
const char *journald_message_id(enum ev_type t, char buf[33])
{
	snprintf(buf, 33, "5f0c3b7e2a9d4c61b8e4f1a6d3c2b7%02x", (unsigned)t & 0xff);
	return buf;
}

static int jd_priority(const struct pg_ev *ev)
{
	if (ev->type == EV_SERVICE_FATAL || ev->type == EV_RESTART_FAILED)
		return LOG_ERR;
	if (ev_flags(ev->type) & (EVF_ALERT | EVF_CONFLICT))
		return LOG_WARNING;
	return ev->routine ? LOG_DEBUG : LOG_INFO;
}

/* One "KEY=value" field into iov[*n] (text in buf, which must outlive the send). */
static void jd_field(struct iovec *iov, int *n, char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (k > 0) {
		iov[*n].iov_base = buf;
		iov[(*n)++].iov_len = (size_t)k < len ? (size_t)k : len - 1;
	}
}

void journald_send(const struct pg_ev *ev, const char *json)
{
#ifdef HAVE_SYSTEMD
	char msg[1024], id[64], prio[16], type[64], port[32], pid[32], svc[96], id128[33];
	char *full = NULL;
	struct iovec iov[10] = { { 0 } };
	unsigned p = 0, who = 0;
	int n = 0;

	if (ev_flags(ev->type) & EVF_KERNEL)
		p = ev->u.k.port, who = ev->u.k.pid;
	else if (ev_flags(ev->type) & EVF_SERVICE)
		p = (unsigned)ev->u.svc.port, who = ev->u.svc.pid;
	else if (ev->type == EV_RECLAIM || ev->type == EV_RECLAIM_BACKOFF)
		p = (unsigned)ev->u.reclaim.port;
	jd_field(iov, &n, msg, sizeof(msg), "MESSAGE=%s%s%s%s%s", ev_type_name(ev->type),
		 ev->service[0] ? " " : "", ev->service, ev->detail[0] ? ": " : " ",
		 ev->detail[0] ? ev->detail : json);
	jd_field(iov, &n, id, sizeof(id), "MESSAGE_ID=%s", journald_message_id(ev->type, id128));
	jd_field(iov, &n, prio, sizeof(prio), "PRIORITY=%d", jd_priority(ev));
	jd_field(iov, &n, type, sizeof(type), "PORTGUARD_TYPE=%s", ev_type_name(ev->type));
	if (p)
		jd_field(iov, &n, port, sizeof(port), "PORTGUARD_PORT=%u", p);
	if (who)
		jd_field(iov, &n, pid, sizeof(pid), "PORTGUARD_PID=%u", who);
	if (ev->service[0])
		jd_field(iov, &n, svc, sizeof(svc), "PORTGUARD_SERVICE=%s", ev->service);
	if (asprintf(&full, "PORTGUARD_JSON=%s", json) > 0) {
		iov[n].iov_base = full;
		iov[n++].iov_len = strlen(full);
	}
	iov[n].iov_base = "SYSLOG_IDENTIFIER=portguard";
	iov[n++].iov_len = strlen("SYSLOG_IDENTIFIER=portguard");
	sd_journal_sendv(iov, n);
	free(full);
#else
	(void)ev, (void)json;
#endif
}
