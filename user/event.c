/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "event.h"

/* The one list of what each type is: its name outside, and its flags. */
static const struct {
	const char *name;
	unsigned flags;
} ev_types[EV__NTYPES] = {
	[EV_BIND] = { "bind", EVF_KERNEL },
	[EV_LISTEN] = { "listen", EVF_KERNEL },
	[EV_UNLISTEN] = { "unlisten", EVF_KERNEL },
	[EV_RELEASE] = { "release", EVF_KERNEL },
	[EV_ROGUE_BIND] = { "rogue_bind", EVF_KERNEL | EVF_ALERT | EVF_CONFLICT | EVF_COALESCE },
	[EV_PORT_CONFLICT] = { "port_conflict", EVF_KERNEL | EVF_ALERT | EVF_CONFLICT },
	[EV_PORT_SHARED] = { "port_shared", EVF_KERNEL | EVF_ALERT | EVF_CONFLICT },
	[EV_NETNS_CLAIM] = { "netns_claim", EVF_KERNEL },
	[EV_AUTOBIND_KILLED] = { "autobind_killed", EVF_KERNEL | EVF_ALERT | EVF_CONFLICT },
	[EV_BIND_DENIED] = { "bind_denied", EVF_KERNEL | EVF_ALERT | EVF_CONFLICT | EVF_COALESCE },
	[EV_EVENTS_LOST] = { "events_lost", EVF_ALERT | EVF_CONFLICT },
	[EV_RECLAIM] = { "reclaim", EVF_ALERT | EVF_CONFLICT },
	[EV_RECLAIM_BACKOFF] = { "reclaim_backoff", EVF_ALERT },
	[EV_SERVICE_START] = { "service_start", EVF_SERVICE },
	[EV_SERVICE_READY] = { "service_ready", EVF_SERVICE },
	[EV_SERVICE_EXIT] = { "service_exit", EVF_SERVICE },
	[EV_SERVICE_BACKOFF] = { "service_backoff", EVF_SERVICE },
	[EV_SERVICE_FATAL] = { "service_fatal", EVF_SERVICE | EVF_ALERT },
	[EV_SERVICE_STOP] = { "service_stop", EVF_SERVICE },
	[EV_SERVICE_ADOPT] = { "service_adopt", EVF_SERVICE },
	[EV_RELOAD] = { "reload", 0 },
	[EV_RELOAD_FAILED] = { "reload_failed", 0 },
	[EV_RESTART_DONE] = { "restart_done", 0 },
	[EV_RESTART_FAILED] = { "restart_failed", EVF_ALERT },
	[EV_CONTROL_CLIENT_DROPPED] = { "control_client_dropped", 0 },
	[EV_LAYOUT_MIGRATED] = { "layout_migrated", 0 },
};

const char *ev_type_name(enum ev_type t)
{
	return (unsigned)t < EV__NTYPES ? ev_types[t].name : "unknown";
}

unsigned ev_flags(enum ev_type t)
{
	return (unsigned)t < EV__NTYPES ? ev_types[t].flags : 0;
}

const char *ev_action_name(enum ev_action a)
{
	static const char *const names[] = {
		[EVA_NONE] = "",
		[EVA_DENIED] = "denied",
		[EVA_KILLED] = "killed",
		[EVA_GONE] = "gone",
		[EVA_NOT_BINDER] = "not killed: the pid is no longer the binder",
		[EVA_KILL_FAILED] = "kill failed",
	};

	return (unsigned)a <= EVA_KILL_FAILED ? names[a] : "?";
}

void ev_init(struct pg_ev *ev, enum ev_type t, uint64_t ts_us, const char *service)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = t;
	ev->ts_us = ts_us ? ts_us : ev_now_us();
	if (service)
		snprintf(ev->service, sizeof(ev->service), "%s", service);
}

void ev_from_kernel(struct pg_ev *ev, enum ev_type t, const struct pg_event *e,
		    const char *service)
{
	struct ev_kernel *k = &ev->u.k;

	ev_init(ev, t, ev_boot_to_real_us(e->ts_ns), service);
	k->port = e->port;
	k->proto = e->proto;
	k->family = e->family;
	k->reuseport = e->reuseport;
	memcpy(k->addr, e->addr, sizeof(k->addr));
	k->pid = e->tgid;
	k->tid = e->pid;
	k->uid = e->uid;
	memcpy(k->comm, e->comm, PG_COMM_LEN);
	k->comm[PG_COMM_LEN] = 0;
	k->cgroup_id = e->cgroup_id;
	k->netns = e->netns;
	k->cookie = e->cookie;
}

void ev_detail(struct pg_ev *ev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ev->detail, sizeof(ev->detail), fmt, ap);
	va_end(ap);
}

int ev_exe_path(const struct pg_exe *x, char *buf, size_t len)
{
	size_t n = 0, end = x->len < sizeof(x->path) ? x->len : sizeof(x->path);
	const char *comp[PG_PATH_DEPTH];
	size_t i, ncomp = 0, at = 0;

	while (at < end && ncomp < PG_PATH_DEPTH) { /* each component ends with a NUL */
		const char *c = x->path + at, *nul = memchr(c, 0, end - at);

		if (!nul)
			break;
		comp[ncomp++] = c;
		at += nul - c + 1;
	}
	if (!ncomp || len < 8)
		return 0;
	if (!x->complete)
		n = snprintf(buf, len, "...");
	for (i = ncomp; i-- > 0 && n < len;)
		n += snprintf(buf + n, len - n, "/%s", comp[i]);
	return n < len;
}

static uint32_t ev_self_mntns(void)
{
	static uint32_t ino;
	struct stat st;

	if (!ino && stat("/proc/self/ns/mnt", &st) == 0)
		ino = (uint32_t)st.st_ino;
	return ino;
}

/*
 * The last executable the kernel sent for a pid: it sends each binder's
 * once (bpf/ exe_sent) and later events of that pid come without it.
 */
#define EV_EXE_CACHE 64
static struct {
	uint32_t pid;
	struct pg_exe exe;
} ev_exe_cache[EV_EXE_CACHE];

static const struct pg_exe *ev_exe_cached(const struct pg_exe *x, uint32_t pid)
{
	unsigned slot = pid % EV_EXE_CACHE;

	if (x) {
		ev_exe_cache[slot].pid = pid;
		ev_exe_cache[slot].exe = *x;
		return x;
	}
	return ev_exe_cache[slot].pid == pid ? &ev_exe_cache[slot].exe : NULL;
}

void ev_set_exe(struct pg_ev *ev, const struct pg_exe *x, uint32_t pid)
{
	struct ev_exe *o = &ev->u.k.exe;
	char proc[64];
	ssize_t n;

	ev->u.k.has_exe = 1;
	x = ev_exe_cached(x, pid);
	if (x && ev_exe_path(x, o->path, sizeof(o->path)))
		o->source = x->complete ? "kernel" : "kernel-partial";
	if (!o->source || !x->complete) {
		snprintf(proc, sizeof(proc), "/proc/%u/exe", pid);
		n = readlink(proc, o->path, sizeof(o->path) - 1);
		if (n > 0) {
			o->path[n] = 0;
			o->source = "proc";
		}
	}
	if (!x || !x->ino)
		return;
	o->have_ino = 1;
	o->host_ns = x->mntns == ev_self_mntns();
	o->ino = x->ino;
	o->dev = x->dev;
}

uint64_t ev_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint64_t ev_boot_to_real_us(uint64_t boot_ns)
{
	struct timespec r, b;
	int64_t off_ns;

	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_BOOTTIME, &b);
	off_ns = ((int64_t)r.tv_sec - b.tv_sec) * 1000000000LL + (r.tv_nsec - b.tv_nsec);
	return (uint64_t)((int64_t)boot_ns + off_ns) / 1000;
}

const char *ev_ts(uint64_t realtime_us, char *buf, int len)
{
	time_t s = realtime_us / 1000000;
	struct tm tm;
	char base[32];

	gmtime_r(&s, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%06uZ", base, (unsigned)(realtime_us % 1000000));
	return buf;
}

const char *ev_kind_name(uint32_t kind)
{
	static const char *names[PG_EV_KIND_MAX] = {
		[PG_EV_BIND_ATTEMPT] = "bind_attempt", [PG_EV_BIND] = "bind",
		[PG_EV_LISTEN] = "listen",	       [PG_EV_LISTEN_CLOSE] = "unlisten",
		[PG_EV_RELEASE] = "release",	       [PG_EV_EXIT] = "exit",
		[PG_EV_FORK] = "fork",		       [PG_EV_EXEC] = "exec",
		[PG_EV_BIND_DENIED] = "bind_denied",
	};

	return kind < PG_EV_KIND_MAX && names[kind] ? names[kind] : "unknown";
}

const char *ev_proto_name(uint16_t proto)
{
	return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "?";
}

const char *ev_addr_str(uint16_t family, const uint8_t *addr, char *buf, int len)
{
	if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, addr, buf, len))
		snprintf(buf, len, "?");
	return buf;
}
