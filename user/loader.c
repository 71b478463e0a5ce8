/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cgroup.h"
#include "config.h"
#include "loader.h"
#include "log.h"
#include "portguard.skel.h"

static int loader_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* Failures are explained in one line of our own; libbpf's text with -v. */
	if (level == LIBBPF_DEBUG && log_verbose < 2)
		return 0;
	if (level != LIBBPF_DEBUG && !log_verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int loader_attach_cg(struct loader *L, struct bpf_program *p, char *why, size_t len)
{
	struct bpf_link *l = bpf_program__attach_cgroup(p, L->cg_fd);

	if (!l) {
		snprintf(why, len, "cannot attach %s to the cgroup v2 root %s: %s",
			 bpf_program__name(p), cg_root(), strerror(errno));
		return -errno;
	}
	L->cg_links[L->ncg_links++] = l;
	return 0;
}

int loader_open(struct loader *L, uint32_t ring_kb, loader_event_fn fn, void *ctx, char *why,
		size_t len)
{
	struct portguard_bpf *skel;
	int err;

	memset(L, 0, sizeof(*L));
	L->cg_fd = -1;
	libbpf_set_print(loader_libbpf_print);
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		snprintf(why, len, "no kernel BTF (/sys/kernel/btf/vmlinux): portguard needs Linux "
			 ">= 5.8 built with CONFIG_DEBUG_INFO_BTF=y");
		return -ENOENT;
	}
	if (!cg_root()) {
		snprintf(why, len, "cgroup v2 is not mounted: mount it with "
			 "'mount -t cgroup2 none /sys/fs/cgroup' (or boot with "
			 "systemd.unified_cgroup_hierarchy=1)");
		return -ENOENT;
	}
	L->cg_fd = open(cg_root(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (L->cg_fd < 0) {
		snprintf(why, len, "cannot open the cgroup v2 root %s: %s", cg_root(),
			 strerror(errno));
		return -errno;
	}
	skel = portguard_bpf__open();
	if (!skel) {
		err = -errno;
		snprintf(why, len, "cannot open the BPF object: %s", strerror(errno));
		return err;
	}
	L->skel = skel;
	bpf_map__set_max_entries(skel->maps.events, ring_kb * 1024);
	err = portguard_bpf__load(skel);
	if (err) {
		if (err == -EPERM || err == -EACCES)
			snprintf(why, len, "no permission to load BPF programs (%s): run as root or "
				 "with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON", strerror(-err));
		else
			snprintf(why, len, "cannot load the BPF programs: %s (run with -v -v "
				 "for the verifier log)", strerror(-err));
		return err;
	}
	if ((err = loader_attach_cg(L, skel->progs.pg_bind4, why, len)) ||
	    (err = loader_attach_cg(L, skel->progs.pg_bind6, why, len)) ||
	    (err = loader_attach_cg(L, skel->progs.pg_post_bind4, why, len)) ||
	    (err = loader_attach_cg(L, skel->progs.pg_post_bind6, why, len)) ||
	    (err = loader_attach_cg(L, skel->progs.pg_sock_release, why, len)) ||
	    (err = loader_attach_cg(L, skel->progs.pg_sockops, why, len)))
		return err;
	err = portguard_bpf__attach(skel); /* the raw tracepoints */
	if (err) {
		snprintf(why, len, "cannot attach the raw tracepoints: %s", strerror(-err));
		return err;
	}
	L->rb = ring_buffer__new(bpf_map__fd(skel->maps.events), fn, ctx, NULL);
	if (!L->rb) {
		err = -errno;
		snprintf(why, len, "cannot open the BPF ring buffer: %s", strerror(errno));
		return err;
	}
	return 0;
}

int loader_set_ports(struct loader *L, const struct pg_config *c,
		     void (*fill)(int port, struct pg_port *v))
{
	int fd = bpf_map__fd(L->skel->maps.ports);
	__u32 key, next, *prev = NULL;
	struct pg_port v;
	int p;

	/* Drop ports no longer watched, then write the current set. */
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (!c->guarded[next] && !c->protected_[next]) {
			bpf_map_delete_elem(fd, &key);
			prev = NULL; /* restart: deleting may reorder */
		}
	}
	for (p = 1; p < 65536; p++) {
		if (!c->guarded[p] && !c->protected_[p])
			continue;
		memset(&v, 0, sizeof(v));
		v.flags = (c->guarded[p] ? PG_PORT_GUARDED : 0) |
			  (c->protected_[p] ? PG_PORT_PROTECTED : 0);
		if (fill)
			fill(p, &v);
		key = p;
		if (bpf_map_update_elem(fd, &key, &v, BPF_ANY) < 0)
			return -errno;
	}
	return 0;
}

int loader_set_allow(struct loader *L, const struct pg_allow_key *keys, const __u32 *vals, int n)
{
	int fd = bpf_map__fd(L->skel->maps.allow), i, j;
	struct pg_allow_key key, next, *prev = NULL;

	for (i = 0; i < n; i++)
		if (bpf_map_update_elem(fd, &keys[i], &vals[i], BPF_ANY) < 0)
			return -errno;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		for (j = 0; j < n && memcmp(&keys[j], &next, sizeof(next)); j++)
			;
		if (j == n) {
			bpf_map_delete_elem(fd, &key);
			prev = NULL;
		}
	}
	return 0;
}

int loader_watch_socket(struct loader *L, uint64_t cookie, uint16_t port, uint16_t family,
			uint16_t proto)
{
	struct pg_sock v = { .port = port, .family = family, .proto = proto, .bound = 1 };
	__u64 key = cookie;

	/* BPF_NOEXIST: an entry the kernel made itself knows more (reuseport). */
	if (bpf_map_update_elem(bpf_map__fd(L->skel->maps.socks), &key, &v, BPF_NOEXIST) < 0 &&
	    errno != EEXIST)
		return -errno;
	return 0;
}

int loader_watch_pid(struct loader *L, uint32_t pid)
{
	__u32 key = pid, one = 1;

	if (bpf_map_update_elem(bpf_map__fd(L->skel->maps.procs), &key, &one, BPF_ANY) < 0)
		return -errno;
	return 0;
}

int loader_ring_fd(struct loader *L)
{
	return ring_buffer__epoll_fd(L->rb);
}

int loader_consume(struct loader *L)
{
	return ring_buffer__consume(L->rb);
}

int loader_counters(struct loader *L, uint64_t lost[PG_EV_KIND_MAX], uint64_t sent[PG_EV_KIND_MAX])
{
	int ncpu = libbpf_num_possible_cpus(), fd, i, cpu;
	__u64 *vals;
	__u32 key;

	if (ncpu <= 0)
		return ncpu;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	fd = bpf_map__fd(L->skel->maps.counters);
	for (i = 0; i < 2 * PG_EV_KIND_MAX; i++) {
		uint64_t sum = 0;

		key = i;
		if (bpf_map_lookup_elem(fd, &key, vals) == 0)
			for (cpu = 0; cpu < ncpu; cpu++)
				sum += vals[cpu];
		if (i < PG_EV_KIND_MAX)
			lost[i] = sum;
		else
			sent[i - PG_EV_KIND_MAX] = sum;
	}
	free(vals);
	return 0;
}

void loader_close(struct loader *L)
{
	int i;

	for (i = 0; i < L->ncg_links; i++)
		bpf_link__destroy(L->cg_links[i]);
	ring_buffer__free(L->rb);
	portguard_bpf__destroy(L->skel);
	if (L->cg_fd >= 0)
		close(L->cg_fd);
	memset(L, 0, sizeof(*L));
	L->cg_fd = -1;
}
