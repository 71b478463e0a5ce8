/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cgroup.h"
#include "config.h"
#include "fs.h"
#include "loader.h"
#include "log.h"
#include "probe.h"
#include "diag.h"
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

#define BPF_FS_MAGIC_ 0xcafe4a11

/* <bpffs>/portguard/<name>, with '.' (which bpffs refuses in names) as '_'. */
static void loader_pin_dir(char *buf, size_t len, const char *bpffs, const char *name)
{
	char *p;

	snprintf(buf, len, "%s/portguard/", bpffs);
	p = buf + strlen(buf);
	snprintf(p, len - (p - buf), "%s", name);
	for (; *p; p++)
		if (*p == '.')
			*p = '_';
}

/* bpffs at `dir`, mounted by us if it is not; the marker directory says we did. */
static int loader_bpffs(const char *dir, char *why, size_t len)
{
	struct statfs sf;
	char marker[PATH_MAX];

	if (statfs(dir, &sf) == 0 && sf.f_type == BPF_FS_MAGIC_)
		return 0;
	int err = fs_mkdir_p(dir, 0700);

	if (!err && mount("bpf", dir, "bpf", 0, "mode=0700") < 0)
		err = -errno;
	if (err) {
		snprintf(why, len, "cannot mount bpffs at %s: %s (mount -t bpf bpf %s)", dir,
			 strerror(-err), dir);
		return err;
	}
	snprintf(marker, sizeof(marker), "%s/portguard_mounted", dir);
	mkdir(marker, 0700);
	return 0;
}

/* The pinned maps, by enum layout_map (the skeleton's typed fields). */
static void loader_maps(const struct portguard_bpf *s, struct bpf_map **m)
{
	struct bpf_map *v[LAYOUT_MAPS] = {
		[LM_PORTS] = s->maps.ports,	  [LM_ALLOW] = s->maps.allow,
		[LM_SOCKS] = s->maps.socks,	  [LM_PROCS] = s->maps.procs,
		[LM_AUTOBIND] = s->maps.autobind, [LM_EVENTS] = s->maps.events,
		[LM_AGG] = s->maps.agg,		  [LM_COUNTERS] = s->maps.counters,
		[LM_META] = s->maps.meta,
	};

	memcpy(m, v, sizeof(v));
}

static int loader_attach(struct loader *L, struct bpf_program *p, int cgroup, char *why,
			 size_t len)
{
	char path[PATH_MAX];
	struct bpf_link *l, *old;

	snprintf(path, sizeof(path), "%s/link_%s", L->pin_dir, bpf_program__name(p));
	old = bpf_link__open(path);
	if (old && cgroup) {
		/* The earlier guard's attachment: swap the program in, atomically. */
		if (bpf_link__update_program(old, p) == 0) {
			L->links[L->nlinks++] = old;
			L->reused = 1;
			return 0;
		}
		bpf_link__unpin(old);
		bpf_link__destroy(old);
		old = NULL;
	}
	l = cgroup ? bpf_program__attach_cgroup(p, L->cg_fd) : bpf_program__attach(p);
	if (!l) {
		snprintf(why, len, "cannot attach %s: %s", bpf_program__name(p), strerror(errno));
		bpf_link__destroy(old);
		return -errno;
	}
	if (old) { /* a tracepoint: the new one is on, the old one goes */
		bpf_link__unpin(old);
		bpf_link__destroy(old);
	}
	L->links[L->nlinks++] = l;
	if (bpf_link__pin(l, path) < 0) {
		snprintf(why, len, "cannot pin %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Every program attached (cgroup ones at the cgroup root: their links can swap programs). */
static int loader_attach_all(struct loader *L, char *why, size_t len)
{
	const struct portguard_bpf *k = L->skel;
	const struct {
		struct bpf_program *p;
		int cgroup;
	} progs[] = {
		{ k->progs.pg_bind4, 1 },	 { k->progs.pg_bind6, 1 },
		{ k->progs.pg_post_bind4, 1 },	 { k->progs.pg_post_bind6, 1 },
		{ k->progs.pg_sock_release, 1 }, { k->progs.pg_sockops, 1 },
		{ k->progs.pg_sock_state, 0 },	 { k->progs.pg_fork, 0 },
		{ k->progs.pg_exec, 0 },	 { k->progs.pg_exit, 0 },
	};
	size_t i;
	int err;

	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++)
		if ((err = loader_attach(L, progs[i].p, progs[i].cgroup, why, len)))
			return err;
	return 0;
}

/* What the host must offer (BTF, cgroup v2, the essential helpers); the degraded said. */
static int loader_host(struct loader *L, char *why, size_t len)
{
	const char *line;
	size_t i;

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
	L->have = ~0U;
	if (geteuid() != 0) /* the probes load programs: without root the load explains */
		return 0;
	L->have = probe_kernel();
	if (*probe_missing_essential(L->have, why, len))
		return -ENOTSUP;
	for (i = 0; i < PROBE_MAX; i++)
		if ((line = probe_degraded(L->have, i)))
			log_warnx("%s", line);
	return 0;
}

/* bpffs, the instance's pin directory, and what of it is reused (layout_plan). */
static int loader_pins(struct loader *L, const char *bpffs, const char *name, char *why,
		       size_t len)
{
	int err;

	if ((err = loader_bpffs(bpffs, why, len)))
		return err;
	loader_pin_dir(L->pin_dir, sizeof(L->pin_dir), bpffs, name);
	if ((err = fs_mkdir_p(L->pin_dir, 0700))) {
		snprintf(why, len, "cannot make %s: %s", L->pin_dir, strerror(-err));
		return err;
	}
	return layout_plan(&L->Y, L->pin_dir, L->Y.maps, why, len);
}

static int loader_load(struct loader *L, char *why, size_t len)
{
	int err = portguard_bpf__load(L->skel);

	if (err == -EPERM || err == -EACCES)
		snprintf(why, len, "no permission to load BPF programs (%s): run as root or "
			 "with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON", strerror(-err));
	else if (err)
		snprintf(why, len, "cannot load the BPF programs: %s (run with -v -v for the "
			 "verifier log)", strerror(-err));
	/* maps of another layout: copied before any program of ours runs */
	else if (L->Y.migrated && (err = layout_copy(&L->Y, 0)))
		snprintf(why, len, "cannot migrate the pinned maps: %s", strerror(-err));
	/* fresh pins: their layout on record at once, before anything can fail */
	else if (!L->Y.found)
		err = layout_write_meta(&L->Y, why, len);
	return err;
}

/* The guard's network namespace: the bind hooks deny only in it. */
static int loader_host_netns(struct loader *L, char *why, size_t len)
{
	L->host_netns = diag_netns_cookie();
	if (!L->host_netns) /* before Linux 5.14: a BPF program tells */
		L->host_netns = loader_netns_cookie(L);
	if (!L->host_netns) {
		snprintf(why, len, "cannot read this network namespace's cookie (no "
			 "SO_NETNS_COOKIE, and the cgroup/sock_create probe saw nothing)");
		return -ENOTSUP;
	}
	L->skel->bss->host_netns = L->host_netns;
	return 0;
}

int loader_open(struct loader *L, uint32_t ring_kb, const char *bpffs, const char *name,
		loader_event_fn fn, void *ctx, char *why, size_t len)
{
	int err, i;

	memset(L, 0, sizeof(*L));
	L->cg_fd = -1;
	for (i = 0; i < LAYOUT_MAPS; i++)
		L->Y.old_fd[i] = -1;
	libbpf_set_print(loader_libbpf_print);
	if ((err = loader_host(L, why, len)))
		return err;
	if (!(L->skel = portguard_bpf__open())) {
		snprintf(why, len, "cannot open the BPF object: %s", strerror(errno));
		return -errno;
	}
	loader_maps(L->skel, L->Y.maps);
	bpf_map__set_max_entries(L->skel->maps.events, ring_kb * 1024);
	L->skel->rodata->ring_busy_at = ring_kb * 1024ULL / 64;
	L->skel->rodata->have_bind_sockopt = !!(L->have & (1U << PROBE_BIND_SOCKOPT));
	L->skel->rodata->have_release_read = !!(L->have & (1U << PROBE_RELEASE_READ));
	/* without root nothing is pinned (the load explains what is missing) */
	if ((geteuid() == 0 && (err = loader_pins(L, bpffs, name, why, len))) ||
	    (err = loader_load(L, why, len)) || (err = loader_host_netns(L, why, len)) ||
	    (err = loader_attach_all(L, why, len)))
		return err;
	/* what the old programs added while the links were swapped, then the pins */
	if (L->Y.migrated && (err = layout_copy(&L->Y, 1))) {
		snprintf(why, len, "cannot migrate the pinned maps: %s", strerror(-err));
		return err;
	}
	if ((err = layout_commit(&L->Y, why, len)))
		return err;
	L->fn = fn;
	L->ctx = ctx;
	L->rb = ring_buffer__new(bpf_map__fd(L->skel->maps.events), fn, ctx, NULL);
	if (!L->rb) {
		snprintf(why, len, "cannot open the BPF ring buffer: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* The bpffs root holds nothing but our marker and the kernel's preloaded iterators. */
static int loader_bpffs_only_ours(const char *bpffs)
{
	struct dirent *d;
	DIR *dp = opendir(bpffs);
	int only = 1;

	if (!dp)
		return 0;
	while (only && (d = readdir(dp)))
		only = !strcmp(d->d_name, ".") || !strcmp(d->d_name, "..") ||
		       !strcmp(d->d_name, "portguard_mounted") || !strcmp(d->d_name, "maps.debug") ||
		       !strcmp(d->d_name, "progs.debug");
	closedir(dp);
	return only;
}

int loader_remove_pins(const char *bpffs, const char *name)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct dirent *d;
	DIR *dp;

	loader_pin_dir(dir, sizeof(dir), bpffs, name);
	dp = opendir(dir);
	if (!dp)
		return errno == ENOENT ? 0 : -errno;
	while ((d = readdir(dp))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		unlink(path); /* the last reference to a link: its program detaches */
	}
	closedir(dp);
	if (rmdir(dir) < 0)
		return -errno;
	snprintf(dir, sizeof(dir), "%s/portguard", bpffs);
	if (rmdir(dir) == 0 && loader_bpffs_only_ours(bpffs)) {
		/* no other instance, no other tool's pins: undo our mount, if it was ours */
		snprintf(path, sizeof(path), "%s/portguard_mounted", bpffs);
		if (rmdir(path) == 0)
			umount2(bpffs, MNT_DETACH);
	}
	return 0;
}

/* Every slot of the `ports` array into cur[65536]: one batch (Linux >= 5.6), else slot by slot. */
static int loader_read_ports(int fd, struct pg_port *cur)
{
	__u32 *keys = malloc(65536 * sizeof(*keys)), count = 65536, out = 0, p;
	int err = 0;

	if (keys && bpf_map_lookup_batch(fd, NULL, &out, keys, cur, &count, NULL) == 0 &&
	    count == 65536) {
		for (p = 0; p < 65536 && keys[p] == p; p++)
			;
		err = p == 65536 ? 0 : -EIO;
	} else {
		for (p = 0; p < 65536 && !err; p++)
			if (bpf_map_lookup_elem(fd, &p, &cur[p]) < 0)
				err = -errno;
	}
	free(keys);
	return err;
}

int loader_set_ports(struct loader *L, const struct pg_port *ports)
{
	int fd = bpf_map__fd(L->skel->maps.ports), err = 0;
	struct pg_port *cur = malloc(65536 * sizeof(*cur));
	__u32 p;

	/*
	 * An array slot is written in place (a copy, not an atomic swap): only
	 * the slots whose value changes are written, so a reload that leaves a
	 * port as it was never touches what the kernel reads of it.
	 */
	if (cur && loader_read_ports(fd, cur) < 0) {
		free(cur);
		cur = NULL; /* unreadable: every slot is written */
	}
	for (p = 0; p < 65536 && !err; p++)
		if (!cur || memcmp(&cur[p], &ports[p], sizeof(*cur)))
			if (bpf_map_update_elem(fd, &p, &ports[p], BPF_ANY) < 0)
				err = -errno;
	free(cur);
	return err;
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

	/*
	 * BPF_NOEXIST: an entry the kernel made itself knows more (reuseport),
	 * and a folded socket stays folded (the dumps alone follow it: watch.c).
	 */
	if (bpf_map_update_elem(bpf_map__fd(L->skel->maps.socks), &key, &v, BPF_NOEXIST) < 0 &&
	    errno != EEXIST)
		return -errno;
	return 0;
}

int loader_agg_fd(struct loader *L)
{
	return bpf_map__fd(L->skel->maps.agg);
}

void loader_set_agg(struct loader *L, uint32_t epoch, int always)
{
	__atomic_store_n(&L->skel->bss->agg_always, (__u32)!!always, __ATOMIC_RELAXED);
	__atomic_store_n(&L->skel->bss->agg_epoch, epoch, __ATOMIC_RELEASE);
}

uint64_t loader_agg_folded(struct loader *L, uint64_t *socks)
{
	if (socks)
		*socks = __atomic_load_n(&L->skel->bss->agg_folded_socks, __ATOMIC_RELAXED);
	return __atomic_load_n(&L->skel->bss->agg_folded, __ATOMIC_RELAXED) +
	       __atomic_load_n(&L->skel->bss->agg_made, __ATOMIC_RELAXED);
}

int loader_watch_pid(struct loader *L, uint32_t pid)
{
	__u32 key = pid, one = 1;

	if (bpf_map_update_elem(bpf_map__fd(L->skel->maps.procs), &key, &one, BPF_ANY) < 0)
		return -errno;
	return 0;
}

uint64_t loader_netns_cookie(struct loader *L)
{
	struct bpf_link *link;
	char cg[PATH_MAX];
	uint64_t cookie;
	int cgfd, fd;

	if (cg_of_pid(getpid(), cg, sizeof(cg)) < 0)
		return 0;
	cgfd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return 0;
	L->skel->bss->probe_tgid = getpid();
	link = bpf_program__attach_cgroup(L->skel->progs.pg_netns_probe, cgfd);
	close(cgfd);
	if (!link)
		return 0;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); /* seen by pg_netns_probe */
	if (fd >= 0)
		close(fd);
	bpf_link__destroy(link);
	cookie = __atomic_load_n(&L->skel->bss->probe_netns, __ATOMIC_RELAXED);
	L->skel->bss->probe_tgid = 0;
	return cookie;
}

uint64_t loader_lost_total(struct loader *L)
{
	return L->skel && L->skel->bss ? __atomic_load_n(&L->skel->bss->lost_total, __ATOMIC_RELAXED)
				       : 0;
}

uint64_t loader_lost_counted(struct loader *L)
{
	uint64_t lost[PG_EV_KIND_MAX] = { 0 }, sent[PG_EV_KIND_MAX], n = 0;
	int i;

	if (loader_counters(L, lost, sent) < 0)
		return 0;
	for (i = 0; i < PG_EV_KIND_MAX; i++)
		n += lost[i];
	return n;
}

uint64_t loader_lost_reported(struct loader *L)
{
	struct pg_meta m;
	__u32 key = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(L->skel->maps.meta), &key, &m) < 0)
		return 0;
	return m.lost_reported;
}

void loader_set_lost_reported(struct loader *L, uint64_t n)
{
	int fd = bpf_map__fd(L->skel->maps.meta);
	struct pg_meta m;
	__u32 key = 0;

	if (bpf_map_lookup_elem(fd, &key, &m) == 0 && m.magic == PG_META_MAGIC) {
		m.lost_reported = n;
		bpf_map_update_elem(fd, &key, &m, BPF_ANY);
	}
}

int loader_socket_folded(struct loader *L, uint64_t cookie)
{
	struct pg_sock v;
	__u64 key = cookie;

	return bpf_map_lookup_elem(bpf_map__fd(L->skel->maps.socks), &key, &v) == 0 && v.folded;
}

int loader_socket_tracked(struct loader *L, uint64_t cookie)
{
	struct pg_sock v;
	__u64 key = cookie;

	return bpf_map_lookup_elem(bpf_map__fd(L->skel->maps.socks), &key, &v) == 0;
}

int loader_ring_fd(struct loader *L)
{
	return ring_buffer__epoll_fd(L->rb);
}

int loader_consume(struct loader *L)
{
	/* a replaced ring first, all of it (no one writes to it any more): its records
	 * are older; this ring's are the next call's */
	if (layout_drain(&L->Y, L->fn, L->ctx) > 0)
		return 0;
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

	for (i = 0; i < L->nlinks; i++)
		bpf_link__destroy(L->links[i]); /* pinned: they stay attached */
	ring_buffer__free(L->rb);
	portguard_bpf__destroy(L->skel);
	layout_close(&L->Y);
	if (L->cg_fd >= 0)
		close(L->cg_fd);
	memset(L, 0, sizeof(*L));
	L->cg_fd = -1;
	for (i = 0; i < LAYOUT_MAPS; i++)
		L->Y.old_fd[i] = -1;
}
