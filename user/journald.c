/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>

#include "journald.h"

static int jd_active;

int journald_init(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	jd_active = 0;
	/* "dev:ino" of the stream systemd connected stderr to; a redirect elsewhere breaks it */
	if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino)
		jd_active = 1;
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

/*
 * The journal's native protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL: one datagram,
 * "KEY=value\n" per field) is spoken here instead of through libsystemd's
 * sd_journal_sendv, which the guard used first: that one's socket is private
 * to libsystemd and blocking, so a journald that falls behind (its queue holds
 * net.unix.max_dgram_qlen datagrams: 10 by the kernel's default, 512 by
 * systemd's sysctl.d) stopped the whole guard in sendmsg(). This socket is
 * non-blocking: an event journald has no room for is counted as dropped
 * (journald_dropped(), a metric), never waited for; events.jsonl has it still.
 */
#define JD_SOCKET "/run/systemd/journal/socket"

static int jd_fd = -1;
static unsigned long jd_dropped;

/* One "KEY=value\n" field into iov[*n] (text in buf, which must outlive the send);
 * a newline inside the value would end the field: made a space (the long form of
 * the protocol is for binary values, which no field here has). */
static void jd_field(struct iovec *iov, int *n, char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	char *nl;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(buf, len - 1, fmt, ap);
	va_end(ap);
	if (k <= 0)
		return;
	if ((size_t)k > len - 2)
		k = (int)len - 2;
	while ((nl = memchr(buf, '\n', (size_t)k)))
		*nl = ' ';
	buf[k++] = '\n';
	buf[k] = 0;
	iov[*n].iov_base = buf;
	iov[(*n)++].iov_len = (size_t)k;
}

static void jd_sendv(struct iovec *iov, int n)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = JD_SOCKET };
	struct msghdr mh = { .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = iov,
			     .msg_iovlen = (size_t)n };

	if (jd_fd < 0)
		jd_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	/* EAGAIN: journald's queue is full; ENOENT/ECONNREFUSED: it is restarting */
	if (jd_fd < 0 || sendmsg(jd_fd, &mh, MSG_NOSIGNAL) < 0)
		jd_dropped++;
}

unsigned long journald_dropped(void)
{
	return jd_dropped;
}

void journald_send(const struct pg_ev *ev, const char *json)
{
	char msg[1024], id[64], prio[16], type[64], port[32], pid[32], svc[96], id128[33];
	char *full = NULL;
	struct iovec iov[10] = { { 0 } };
	unsigned p = 0, who = 0;
	int n = 0, k;

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
	/* the JSON line has no raw newline (encode escapes them) but its own end */
	if ((k = asprintf(&full, "PORTGUARD_JSON=%.*s\n", (int)strcspn(json, "\n"), json)) > 0) {
		iov[n].iov_base = full;
		iov[n++].iov_len = (size_t)k;
	}
	iov[n].iov_base = "SYSLOG_IDENTIFIER=portguard\n";
	iov[n++].iov_len = strlen("SYSLOG_IDENTIFIER=portguard\n");
	jd_sendv(iov, n);
	free(full);
}
