/* SPDX-License-Identifier: BSD-3-Clause */
/* The pinned state's layout and its migration (layout.h, docs/design.md "Upgrades"). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "layout.h"
#include "log.h"

/* Every map that is pinned; `meta` is written last. */
static const char *const layout_names[LAYOUT_MAPS] = { "ports",	   "allow",  "socks",
						       "procs",	   "autobind", "events",
						       "counters", "meta" };
enum { M_EVENTS = 5, M_COUNTERS = 6, M_META = 7 };

/* What layout 1 (before `meta`) wrote; sizes of struct pg_event and pg_exe then. */
#define LAYOUT1_EVENT_SIZE 104
#define LAYOUT1_EXE_SIZE 536
#define LAYOUT1_KIND_MAX 10

#ifndef PG_LAYOUT_NEXT
_Static_assert(sizeof(struct pg_event) == LAYOUT1_EVENT_SIZE &&
		       sizeof(struct pg_exe) == LAYOUT1_EXE_SIZE,
	       "struct pg_event or pg_exe changed: raise PG_LAYOUT (include/portguard.h)");
#endif

static void layout_path(const struct layout *Y, char *buf, size_t len, const char *prefix,
			const char *name)
{
	snprintf(buf, len, "%s/%s%s", Y->dir, prefix, name);
}

/* Value `ov` (osize bytes) into nv (nsize bytes): the common prefix, zeros after. */
static void layout_convert(void *nv, size_t nsize, const void *ov, size_t osize)
{
	memset(nv, 0, nsize);
	memcpy(nv, ov, osize < nsize ? osize : nsize);
}

static int layout_read_meta(struct layout *Y, char *why, size_t len)
{
	char path[4096];
	__u32 key = 0;
	int fd, i;

	layout_path(Y, path, sizeof(path), "", "meta");
	fd = bpf_obj_get(path);
	if (fd < 0 && errno != ENOENT) {
		snprintf(why, len, "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fd >= 0) {
		struct bpf_map_info info = { 0 };
		__u32 ilen = sizeof(info);
		char buf[4096]; /* a later layout's struct pg_meta may be larger: its prefix */
		const char *bad = NULL;
		int err = 0;

		if (bpf_obj_get_info_by_fd(fd, &info, &ilen) < 0)
			err = -errno;
		/* a plain array of one value that fits buf, or not ours (a per-CPU
		 * map would write a value per CPU into buf) */
		else if (info.type != BPF_MAP_TYPE_ARRAY || info.max_entries < 1 ||
			 info.key_size != sizeof(key) || info.value_size > sizeof(buf) ||
			 info.value_size < 2 * sizeof(__u32))
			bad = "not an array of one struct pg_meta";
		else if (bpf_map_lookup_elem(fd, &key, buf) < 0)
			err = -errno;
		else
			layout_convert(&Y->old, sizeof(Y->old), buf, info.value_size);
		close(fd);
		if (err) {
			snprintf(why, len, "cannot read %s: %s", path, strerror(-err));
			return err;
		}
		if (!bad && Y->old.magic == PG_META_MAGIC) {
			Y->found = Y->had_meta = 1;
			return 0;
		}
		/* all zeros: made by a load whose guard died before it wrote it */
		if (!bad && !Y->old.magic && !Y->old.layout)
			goto unwritten;
		snprintf(why, len, "%s is not portguard's layout record (%s): the pinned "
			 "programs stay attached; 'portguard shutdown' removes them", path,
			 bad ? bad : "bad magic");
		return -EPROTO;
	}
unwritten:
	for (i = 0; i < LAYOUT_MAPS; i++) { /* no meta: layout 1, if anything is pinned */
		layout_path(Y, path, sizeof(path), "", layout_names[i]);
		if (access(path, F_OK) == 0)
			Y->found = 1;
	}
	Y->old = (struct pg_meta){ .magic = PG_META_MAGIC, .layout = 1, .compat = 1,
				   .event_size = LAYOUT1_EVENT_SIZE,
				   .exe_size = LAYOUT1_EXE_SIZE, .kind_max = LAYOUT1_KIND_MAX };
	return 0;
}

/* libbpf's own test for reusing a pinned map (map_is_reuse_compat), plus our layout. */
static int layout_fits(const struct layout *Y, int i, int fd, const struct bpf_map *m)
{
	struct bpf_map_info info = { 0 };
	__u32 ilen = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &ilen) < 0)
		return 0;
	if (info.type != bpf_map__type(m) || info.key_size != bpf_map__key_size(m) ||
	    info.value_size != bpf_map__value_size(m) ||
	    info.max_entries != bpf_map__max_entries(m) || info.map_flags != bpf_map__map_flags(m))
		return 0;
	if (i == M_EVENTS) /* the records in it must be ours */
		return Y->old.event_size == sizeof(struct pg_event) &&
		       Y->old.exe_size == sizeof(struct pg_exe);
	return 1; /* counters: max_entries is 2 * kind_max, it says its own layout */
}

int layout_plan(struct layout *Y, const char *pin_dir, struct bpf_object *obj, char *why,
		size_t len)
{
	char path[4096];
	int i, err;

	memset(Y, 0, sizeof(*Y));
	for (i = 0; i < LAYOUT_MAPS; i++)
		Y->old_fd[i] = -1;
	snprintf(Y->dir, sizeof(Y->dir), "%s", pin_dir);
	if ((err = layout_read_meta(Y, why, len)))
		return err;
	if (Y->found && Y->old.compat > PG_LAYOUT) {
		snprintf(why, len, "%s holds the state of a newer portguard (layout %u, readable "
			 "from layout %u; this one has %u): its programs stay attached and "
			 "enforcing; start that portguard, or stop with its 'portguard shutdown'",
			 Y->dir, Y->old.layout, Y->old.compat, PG_LAYOUT);
		return -EPROTO;
	}
	if (Y->found && Y->old.layout < PG_LAYOUT_OLDEST) {
		snprintf(why, len, "%s holds the state of layout %u, older than this portguard "
			 "migrates from (%u): its programs stay attached and enforcing",
			 Y->dir, Y->old.layout, PG_LAYOUT_OLDEST);
		return -EPROTO;
	}
	for (i = 0; i < LAYOUT_MAPS; i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(obj, layout_names[i]);
		int fd;

		if (!m)
			return -ENOENT;
		layout_path(Y, path, sizeof(path), "", layout_names[i]);
		fd = bpf_obj_get(path);
		if (fd >= 0 && !layout_fits(Y, i, fd, m)) {
			struct bpf_map_info info = { 0 };
			__u32 ilen = sizeof(info);

			/* a key of another size or a map of another type has no generic
			 * migration (a per-CPU value is not a value) */
			if (bpf_obj_get_info_by_fd(fd, &info, &ilen) < 0 ||
			    info.type != bpf_map__type(m)) {
				snprintf(why, len, "%s: the pinned map is of another type than this "
					 "portguard's, and no conversion is known: the pinned "
					 "programs stay attached and enforcing", path);
				close(fd);
				return -EPROTO;
			}
			if (info.key_size != bpf_map__key_size(m)) {
				snprintf(why, len, "%s: the pinned map's key is %u bytes, this "
					 "portguard's %u, and no conversion is known: the pinned "
					 "programs stay attached and enforcing", path, info.key_size,
					 bpf_map__key_size(m));
				close(fd);
				return -EPROTO;
			}
			Y->old_fd[i] = fd; /* a new map is made; this one is copied */
			Y->migrated |= 1U << i;
			continue;
		}
		if (fd >= 0)
			close(fd);
		/* reused when pinned, else made and pinned by the load */
		if ((err = bpf_map__set_pin_path(m, path)))
			return err;
	}
	return 0;
}

static int layout_copy_map(struct layout *Y, int i, struct bpf_map *m, int pass)
{
	struct bpf_map_info info = { 0 };
	__u32 ilen = sizeof(info);
	int ofd = Y->old_fd[i], nfd = bpf_map__fd(m), ncpu = 1, err = 0, cpu;
	enum bpf_map_type t = bpf_map__type(m);
	int percpu = t == BPF_MAP_TYPE_PERCPU_ARRAY || t == BPF_MAP_TYPE_PERCPU_HASH ||
		     t == BPF_MAP_TYPE_LRU_PERCPU_HASH;
	int array = t == BPF_MAP_TYPE_ARRAY || t == BPF_MAP_TYPE_PERCPU_ARRAY;
	size_t ovs, nvs, ostride, nstride;
	char key[64], next[64], nkey[64], *ov = NULL, *nv = NULL;
	void *prev = NULL;

	if (bpf_obj_get_info_by_fd(ofd, &info, &ilen) < 0)
		return -errno;
	if (info.key_size > sizeof(key) || info.key_size != bpf_map__key_size(m))
		return -EINVAL;
	/*
	 * counters: pass 1 only, added to what the new programs counted since
	 * their attach (the old programs count until their last swap). Other
	 * arrays: pass 0 only (an array has every key).
	 */
	if (i == M_COUNTERS ? !pass : pass && array)
		return 0;
	if (percpu && (ncpu = libbpf_num_possible_cpus()) <= 0)
		return ncpu;
	ovs = info.value_size;
	nvs = bpf_map__value_size(m);
	ostride = percpu ? (ovs + 7) / 8 * 8 : ovs;
	nstride = percpu ? (nvs + 7) / 8 * 8 : nvs;
	ov = calloc(ncpu, ostride);
	nv = calloc(ncpu, nstride);
	if (!ov || !nv) {
		err = -ENOMEM;
		goto out;
	}
	while (bpf_map_get_next_key(ofd, prev, next) == 0) {
		memcpy(key, next, info.key_size);
		memcpy(nkey, next, info.key_size);
		prev = key;
		if (bpf_map_lookup_elem(ofd, key, ov) < 0)
			continue; /* gone meanwhile (LRU) */
		for (cpu = 0; cpu < ncpu; cpu++) {
			memset(nv + cpu * nstride, 0, nstride);
			layout_convert(nv + cpu * nstride, nvs, ov + cpu * ostride, ovs);
		}
		if (i == M_COUNTERS) { /* [kind] lost, [kind_max + kind] sent; __u64 per CPU */
			__u32 k = *(__u32 *)key, ok = info.max_entries / 2;

			if (k < ok ? k >= PG_EV_KIND_MAX : k - ok >= PG_EV_KIND_MAX)
				continue; /* a kind this guard does not have */
			k = k < ok ? k : k - ok + PG_EV_KIND_MAX;
			memcpy(nkey, &k, sizeof(k));
			if (nvs == 8 && ovs == 8 && bpf_map_lookup_elem(nfd, nkey, ov) == 0) {
				/* ov (converted already) now holds the new counts: add them in */
				for (cpu = 0; cpu < ncpu; cpu++)
					*(__u64 *)(nv + cpu * nstride) += *(__u64 *)(ov + cpu * ostride);
			}
		}
		if (bpf_map_update_elem(nfd, nkey, nv, array ? BPF_ANY : BPF_NOEXIST) == 0)
			Y->copied++;
		else if (errno != EEXIST) /* EEXIST: the new programs know better */
			Y->dropped++;
	}
out:
	free(ov);
	free(nv);
	return err;
}

int layout_copy(struct layout *Y, struct bpf_object *obj, int pass)
{
	int i, err;

	for (i = 0; i < LAYOUT_MAPS; i++) {
		if (Y->old_fd[i] < 0 || i == M_EVENTS || i == M_META)
			continue; /* the ring is drained; meta is written */
		if ((err = layout_copy_map(Y, i, bpf_object__find_map_by_name(obj,
									      layout_names[i]),
					   pass)))
			return err;
	}
	return 0;
}

static int layout_repin(struct layout *Y, struct bpf_map *m, const char *name, char *why,
			size_t len)
{
	char path[4096], tmp[4096];

	layout_path(Y, path, sizeof(path), "", name);
	layout_path(Y, tmp, sizeof(tmp), "new_", name); /* bpffs names have no '.' */
	unlink(tmp);
	if (bpf_obj_pin(bpf_map__fd(m), tmp) < 0 || rename(tmp, path) < 0) {
		int err = -errno;

		snprintf(why, len, "cannot pin the migrated map %s: %s", path, strerror(-err));
		unlink(tmp);
		return err;
	}
	return 0;
}

/* Lost events the pinned counters hold ([kind] of [0, kind_max)). */
static uint64_t layout_lost(struct bpf_object *obj)
{
	int fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "counters"));
	int ncpu = libbpf_num_possible_cpus(), cpu;
	uint64_t n = 0;
	__u64 *v;
	__u32 k;

	if (ncpu <= 0 || !(v = calloc(ncpu, sizeof(*v))))
		return 0;
	for (k = 0; k < PG_EV_KIND_MAX; k++)
		if (bpf_map_lookup_elem(fd, &k, v) == 0)
			for (cpu = 0; cpu < ncpu; cpu++)
				n += v[cpu];
	free(v);
	return n;
}

int layout_write_meta(struct layout *Y, struct bpf_object *obj, char *why, size_t len)
{
	struct bpf_map *meta = bpf_object__find_map_by_name(obj, "meta");
	struct pg_meta v = { .magic = PG_META_MAGIC, .layout = PG_LAYOUT,
			     .compat = PG_LAYOUT_COMPAT, .event_size = sizeof(struct pg_event),
			     .exe_size = sizeof(struct pg_exe), .kind_max = PG_EV_KIND_MAX };
	struct timespec ts;
	__u32 key = 0;

	/* the losses already journaled; with no record of it (layout 1, a fresh
	 * start), all that is counted now: never journaled twice */
	v.lost_reported = Y->had_meta ? Y->old.lost_reported : layout_lost(obj);
	clock_gettime(CLOCK_BOOTTIME, &ts);
	v.written_ns = (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	if (bpf_map_update_elem(bpf_map__fd(meta), &key, &v, BPF_ANY) < 0) {
		snprintf(why, len, "cannot write the layout record: %s", strerror(errno));
		return -errno;
	}
	Y->old.lost_reported = v.lost_reported;
	Y->had_meta = 1;
	return 0;
}

int layout_commit(struct layout *Y, struct bpf_object *obj, char *why, size_t len)
{
	int i, err;

	/* meta last, the ring just before it: see layout_ring_cb on a crash between */
	for (i = 0; i < M_META; i++) {
		int j = i < M_EVENTS ? i : i == M_EVENTS ? M_COUNTERS : M_EVENTS;

		if (Y->old_fd[j] >= 0 &&
		    (err = layout_repin(Y, bpf_object__find_map_by_name(obj, layout_names[j]),
					layout_names[j], why, len)))
			return err;
	}
	if ((err = layout_write_meta(Y, obj, why, len)))
		return err;
	if (Y->old_fd[M_META] >= 0 &&
	    (err = layout_repin(Y, bpf_object__find_map_by_name(obj, "meta"), "meta", why, len)))
		return err;
	for (i = 0; i < LAYOUT_MAPS; i++) /* copied: only the old ring is still to be read */
		if (i != M_EVENTS && Y->old_fd[i] >= 0) {
			close(Y->old_fd[i]);
			Y->old_fd[i] = -1;
		}
	return 0;
}

struct layout_ring {
	struct layout *Y;
	int (*fn)(void *ctx, void *data, size_t size);
	void *ctx;
};

/*
 * One record of the old ring. Its size must be exactly one of the old
 * layout's two (an event, an event with its executable): a record of any
 * other size is not parsed but counted as lost. (A guard killed between the
 * ring's re-pin and meta's write leaves records of the new sizes under the
 * old meta: they are counted, never misread.)
 */
static int layout_ring_cb(void *ctx, void *data, size_t size)
{
	struct layout_ring *r = ctx;
	struct layout *Y = r->Y;
	struct pg_event_exe out;
	size_t es = Y->old.event_size, xs = Y->old.exe_size;
	const struct pg_event *e = data;

	if ((size != es && size != es + xs) || size < offsetof(struct pg_event, kind) + 4 ||
	    !e->kind || e->kind >= PG_EV_KIND_MAX) {
		Y->ring_bad++;
		return 0;
	}
	Y->ring_read++;
	layout_convert(&out.ev, sizeof(out.ev), data, es);
	out.ev.lost_total = 0; /* the old programs' own count: losses are in `counters` */
	if (size == es) {
		r->fn(r->ctx, &out.ev, sizeof(out.ev));
		return 0;
	}
	layout_convert(&out.exe, sizeof(out.exe), (const char *)data + es, xs);
	r->fn(r->ctx, &out, sizeof(out));
	return 0;
}

int layout_drain(struct layout *Y, int (*fn)(void *ctx, void *data, size_t size), void *ctx)
{
	struct layout_ring r = { Y, fn, ctx };
	struct ring_buffer *rb;
	uint64_t before = Y->ring_read;

	if (Y->old_fd[M_EVENTS] < 0)
		return 0;
	/* fn's "stop here" (a batch's end) does not apply: all of it, now */
	rb = ring_buffer__new(Y->old_fd[M_EVENTS], layout_ring_cb, &r, NULL);
	if (rb) {
		/* in order; the old programs are all swapped out: nothing more comes */
		while (ring_buffer__consume(rb) > 0)
			;
		ring_buffer__free(rb);
	}
	close(Y->old_fd[M_EVENTS]);
	Y->old_fd[M_EVENTS] = -1;
	return (int)(Y->ring_read - before);
}

void layout_close(struct layout *Y)
{
	int i;

	for (i = 0; i < LAYOUT_MAPS; i++)
		if (Y->old_fd[i] >= 0)
			close(Y->old_fd[i]);
	for (i = 0; i < LAYOUT_MAPS; i++)
		Y->old_fd[i] = -1;
}

const char *layout_summary(const struct layout *Y, char *buf, size_t len)
{
	size_t n;
	int i;

	n = snprintf(buf, len, "layout %u -> %u:", Y->old.layout, PG_LAYOUT);
	for (i = 0; i < LAYOUT_MAPS && n < len; i++)
		if (Y->migrated & (1U << i))
			n += snprintf(buf + n, len - n, " %s", layout_names[i]);
	if (n < len)
		snprintf(buf + n, len - n, " migrated");
	return buf;
}
