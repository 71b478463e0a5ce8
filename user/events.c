/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "claims.h"
#include "events.h"
#include "fs.h"

#define JOURNAL_KEEP 3

static int journal_fd = -1;
static char journal_path[4096];
static uint64_t journal_max, journal_size;

const char *events_ts(uint64_t realtime_us, char *buf, int len)
{
	time_t s = realtime_us / 1000000;
	struct tm tm;
	char base[32];

	gmtime_r(&s, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%06uZ", base, (unsigned)(realtime_us % 1000000));
	return buf;
}

const char *events_kind_name(uint32_t kind)
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

const char *events_proto_name(uint16_t proto)
{
	return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "?";
}

json_object *events_new(const char *type, uint64_t realtime_us, const char *service)
{
	json_object *o = json_object_new_object();
	char ts[40];

	json_object_object_add(o, "ts", json_object_new_string(events_ts(realtime_us, ts, sizeof(ts))));
	json_object_object_add(o, "type", json_object_new_string(type));
	if (service)
		json_object_object_add(o, "service", json_object_new_string(service));
	return o;
}

static const char *events_addr(uint16_t family, const uint8_t *addr, char *buf, int len)
{
	if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, addr, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

int events_exe_path(const struct pg_exe *x, char *buf, size_t len)
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

static uint32_t events_self_mntns(void)
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
#define EVENTS_EXE_CACHE 64
static struct {
	uint32_t pid;
	struct pg_exe exe;
} events_exe_cache[EVENTS_EXE_CACHE];

static const struct pg_exe *events_exe_cached(const struct pg_exe *x, uint32_t pid)
{
	unsigned slot = pid % EVENTS_EXE_CACHE;

	if (x) {
		events_exe_cache[slot].pid = pid;
		events_exe_cache[slot].exe = *x;
		return x;
	}
	return events_exe_cache[slot].pid == pid ? &events_exe_cache[slot].exe : NULL;
}

void events_add_exe(json_object *o, const struct pg_exe *x, uint32_t pid)
{
	char path[2 * PG_PATH_LEN + 8], proc[64], dev[32];
	const char *src = NULL;
	ssize_t n;

	x = events_exe_cached(x, pid);
	if (x && events_exe_path(x, path, sizeof(path)))
		src = x->complete ? "kernel" : "kernel-partial";
	if (!src || !x->complete) {
		snprintf(proc, sizeof(proc), "/proc/%u/exe", pid);
		n = readlink(proc, path, sizeof(path) - 1);
		if (n > 0) {
			path[n] = 0;
			src = "proc";
		}
	}
	json_object_object_add(o, "exe", src ? json_object_new_string(path) : NULL);
	json_object_object_add(o, "exe_source", src ? json_object_new_string(src) : NULL);
	if (!x || !x->ino)
		return;
	json_object_object_add(o, "exe_ns", json_object_new_string(
		x->mntns == events_self_mntns() ? "host" : "other"));
	json_object_object_add(o, "exe_ino", json_object_new_int64((int64_t)x->ino));
	snprintf(dev, sizeof(dev), "%u:%u", x->dev >> 20, x->dev & 0xfffff);
	json_object_object_add(o, "exe_dev", json_object_new_string(dev));
}

json_object *events_from_kernel(const char *type, const struct pg_event *e, uint64_t realtime_us,
				const char *service)
{
	json_object *o = events_new(type, realtime_us, NULL);
	char comm[PG_COMM_LEN + 1], addr[64];

	memcpy(comm, e->comm, PG_COMM_LEN);
	comm[PG_COMM_LEN] = 0;
	json_object_object_add(o, "port", json_object_new_int(e->port));
	json_object_object_add(o, "proto", json_object_new_string(events_proto_name(e->proto)));
	json_object_object_add(o, "pid", json_object_new_int64(e->tgid));
	json_object_object_add(o, "comm", json_object_new_string(comm));
	json_object_object_add(o, "uid", json_object_new_int64(e->uid));
	json_object_object_add(o, "service", service ? json_object_new_string(service) : NULL);
	json_object_object_add(o, "tid", json_object_new_int64(e->pid));
	json_object_object_add(o, "cgroup_id", json_object_new_int64((int64_t)e->cgroup_id));
	json_object_object_add(o, "netns", json_object_new_int64((int64_t)e->netns));
	json_object_object_add(o, "family",
			       json_object_new_string(e->family == AF_INET6 ? "ipv6" : "ipv4"));
	json_object_object_add(o, "addr",
			       json_object_new_string(events_addr(e->family, e->addr, addr, sizeof(addr))));
	json_object_object_add(o, "reuseport", json_object_new_boolean(e->reuseport));
	json_object_object_add(o, "cookie", json_object_new_int64((int64_t)e->cookie));
	return o;
}

json_object *events_claim_holders(const struct claim *c, const char *(*svc_of)(uint64_t cgid))
{
	json_object *a = json_object_new_array();
	char addr[64];
	int i;

	for (i = 0; i < c->nholders; i++) {
		const struct claim_holder *h = &c->holders[i];
		json_object *o = json_object_new_object();
		const char *svc = svc_of ? svc_of(h->cgroup_id) : NULL;

		json_object_object_add(o, "pid", json_object_new_int64(h->pid));
		json_object_object_add(o, "comm", json_object_new_string(h->comm));
		json_object_object_add(o, "uid", json_object_new_int64(h->uid));
		json_object_object_add(o, "service", svc ? json_object_new_string(svc) : NULL);
		json_object_object_add(o, "proto", json_object_new_string(events_proto_name(c->proto)));
		json_object_object_add(o, "addr", json_object_new_string(
						  events_addr(c->family, c->addr, addr, sizeof(addr))));
		json_object_array_add(a, o);
	}
	return a;
}

int journal_open(const char *path, uint64_t max_bytes)
{
	struct stat st;
	int err = fs_mkdir_parent(path, 0750);

	if (err)
		return err;
	snprintf(journal_path, sizeof(journal_path), "%s", path);
	journal_max = max_bytes;
	journal_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (journal_fd < 0)
		return -errno;
	journal_size = fstat(journal_fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	return 0;
}

static void journal_rotate(void)
{
	char from[4200], to[4200];
	int i;

	for (i = JOURNAL_KEEP - 1; i >= 1; i--) {
		snprintf(from, sizeof(from), "%s.%d", journal_path, i);
		snprintf(to, sizeof(to), "%s.%d", journal_path, i + 1);
		rename(from, to);
	}
	snprintf(to, sizeof(to), "%s.1", journal_path);
	if (rename(journal_path, to) < 0)
		return;
	close(journal_fd);
	journal_fd = open(journal_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	journal_size = 0;
}

int journal_write(json_object *ev)
{
	const char *s = json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN);
	size_t n = strlen(s);
	struct iovec iov[2] = { { (void *)s, n }, { "\n", 1 } };

	ssize_t w;

	if (journal_fd >= 0 && journal_max && journal_size + n + 1 > journal_max)
		journal_rotate();
	if (journal_fd < 0 && journal_path[0]) /* a rotation that could not reopen: again */
		journal_fd = open(journal_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (journal_fd < 0)
		return -EBADF;
	/* One writev on an O_APPEND fd: a line is never interleaved or torn. */
	w = writev(journal_fd, iov, 2);
	if (w != (ssize_t)(n + 1))
		return w < 0 ? -errno : -EIO;
	journal_size += n + 1;
	return 0;
}

void journal_close(void)
{
	if (journal_fd >= 0)
		close(journal_fd);
	journal_fd = -1;
}

uint64_t events_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint64_t events_boot_to_real_us(uint64_t boot_ns)
{
	struct timespec r, b;
	int64_t off_ns;

	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_BOOTTIME, &b);
	off_ns = ((int64_t)r.tv_sec - b.tv_sec) * 1000000000LL + (r.tv_nsec - b.tv_nsec);
	return (uint64_t)((int64_t)boot_ns + off_ns) / 1000;
}
