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

#define M_EVENTS LM_EVENTS
#define M_COUNTERS LM_COUNTERS
#define M_META LM_META

/*
 * A map whose type changed, and how its entries are carried over: the key
 * is the same, each value is copied (layout_copy_map). Anything else of
 * another type or key is refused.
 */
static const struct {
	enum layout_map map;
	enum bpf_map_type from, to;
	unsigned layout;	/* the layout that changed it */
} layout_conversions[] = {
	{ LM_PORTS, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_ARRAY, 3 }, /* a slot per port number */
};

static const char *layout_name(const struct layout *Y, int i)
{
	return bpf_map__name(Y->maps[i]);
}

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
		layout_path(Y, path, sizeof(path), "", layout_name(Y, i));
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

/* A pinned map of another type than ours that a known conversion carries over. */
static int layout_convertible(const struct layout *Y, int i, const struct bpf_map_info *info)
{
	size_t k;

	for (k = 0; k < sizeof(layout_conversions) / sizeof(layout_conversions[0]); k++)
		if (layout_conversions[k].map == (enum layout_map)i &&
		    layout_conversions[k].from == info->type &&
		    layout_conversions[k].to == bpf_map__type(Y->maps[i]) &&
		    Y->old.layout < layout_conversions[k].layout)
			return 1;
	return 0;
}

/* Pinned map i (fd) does not fit ours: 0 to migrate from it, or -EPROTO and why. */
static int layout_migratable(struct layout *Y, int i, int fd, const char *path, char *why,
			     size_t len)
{
	struct bpf_map_info info = { 0 };
	__u32 ilen = sizeof(info);
	const struct bpf_map *m = Y->maps[i];

	/* a key of another size or a map of another type has no generic migration (a
	 * per-CPU value is not a value): only the conversions known to this guard */
	if (bpf_obj_get_info_by_fd(fd, &info, &ilen) < 0 ||
	    (info.type != bpf_map__type(m) && !layout_convertible(Y, i, &info))) {
		snprintf(why, len, "%s: the pinned map is of another type than this portguard's, "
			 "and no conversion is known: the pinned programs stay attached and "
			 "enforcing", path);
		return -EPROTO;
	}
	if (info.key_size != bpf_map__key_size(m)) {
		snprintf(why, len, "%s: the pinned map's key is %u bytes, this portguard's %u, and "
			 "no conversion is known: the pinned programs stay attached and enforcing",
			 path, info.key_size, bpf_map__key_size(m));
		return -EPROTO;
	}
	return 0;
}

/* Can this guard take over the pinned layout at all? 0, or -EPROTO and why. */
static int layout_readable(const struct layout *Y, char *why, size_t len)
{
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
	return 0;
}

int layout_plan(struct layout *Y, const char *pin_dir, struct bpf_map *const *maps, char *why,
		size_t len)
{
	struct bpf_map *m[LAYOUT_MAPS];
	char path[4096];
	int i, fd, err;

	memcpy(m, maps, sizeof(m)); /* maps may be Y->maps */
	memset(Y, 0, sizeof(*Y));
	for (i = 0; i < LAYOUT_MAPS; i++) {
		Y->old_fd[i] = -1;
		Y->maps[i] = m[i];
	}
	snprintf(Y->dir, sizeof(Y->dir), "%s", pin_dir);
	if ((err = layout_read_meta(Y, why, len)) || (err = layout_readable(Y, why, len)))
		return err;
	for (i = 0; i < LAYOUT_MAPS; i++) {
		layout_path(Y, path, sizeof(path), "", layout_name(Y, i));
		fd = bpf_obj_get(path);
		if (fd >= 0 && !layout_fits(Y, i, fd, Y->maps[i])) {
			if ((err = layout_migratable(Y, i, fd, path, why, len))) {
				close(fd);
				return err;
			}
			Y->old_fd[i] = fd; /* a new map is made; this one is copied */
			Y->migrated |= 1U << i;
			continue;
		}
		if (fd >= 0)
			close(fd);
		/* reused when pinned, else made and pinned by the load */
		if ((err = bpf_map__set_pin_path(Y->maps[i], path)))
			return err;
	}
	return 0;
}

/* How values are laid out in a map copy: per-CPU values are each 8-byte aligned. */
struct layout_vals {
	int ncpu;
	size_t ovs, nvs, ostride, nstride;
	char *ov, *nv;
};

/* counters: [kind] lost, [kind_max + kind] sent; the old kind's key as ours, or -1. */
static int layout_counter_key(const struct bpf_map_info *info, __u32 k)
{
	__u32 ok = info->max_entries / 2;

	if (k < ok ? k >= PG_EV_KIND_MAX : k - ok >= PG_EV_KIND_MAX)
		return -1; /* a kind this guard does not have */
	return (int)(k < ok ? k : k - ok + PG_EV_KIND_MAX);
}

/* v->nv += what the new map already counted for nkey (the new programs since their attach). */
static void layout_add_counts(struct layout_vals *v, int nfd, const void *nkey)
{
	int cpu;

	if (v->nvs != 8 || v->ovs != 8 || bpf_map_lookup_elem(nfd, nkey, v->ov) < 0)
		return;
	for (cpu = 0; cpu < v->ncpu; cpu++) /* ov now holds the new counts */
		*(__u64 *)(v->nv + cpu * v->nstride) += *(__u64 *)(v->ov + cpu * v->ostride);
}

/* One entry (key, its value in v->ov) into the new map. */
static void layout_copy_entry(struct layout *Y, int i, const struct bpf_map_info *info,
			      struct layout_vals *v, const char *key)
{
	enum bpf_map_type t = bpf_map__type(Y->maps[i]);
	int nfd = bpf_map__fd(Y->maps[i]), cpu;
	int array = t == BPF_MAP_TYPE_ARRAY || t == BPF_MAP_TYPE_PERCPU_ARRAY;
	char nkey[64];

	memcpy(nkey, key, info->key_size);
	for (cpu = 0; cpu < v->ncpu; cpu++)
		layout_convert(v->nv + cpu * v->nstride, v->nvs, v->ov + cpu * v->ostride, v->ovs);
	if (i == M_COUNTERS) {
		int k = layout_counter_key(info, *(const __u32 *)key);

		if (k < 0)
			return;
		memcpy(nkey, &k, sizeof(__u32));
		layout_add_counts(v, nfd, nkey);
	}
	if (bpf_map_update_elem(nfd, nkey, v->nv, array ? BPF_ANY : BPF_NOEXIST) == 0)
		Y->copied++;
	else if (errno != EEXIST) /* EEXIST: the new programs know better */
		Y->dropped++;
}

static int layout_copy_map(struct layout *Y, int i, const struct bpf_map_info *info)
{
	enum bpf_map_type t = bpf_map__type(Y->maps[i]);
	int percpu = t == BPF_MAP_TYPE_PERCPU_ARRAY || t == BPF_MAP_TYPE_PERCPU_HASH ||
		     t == BPF_MAP_TYPE_LRU_PERCPU_HASH;
	struct layout_vals v = { .ncpu = 1, .ovs = info->value_size,
				 .nvs = bpf_map__value_size(Y->maps[i]) };
	char key[64], next[64];
	void *prev = NULL;
	int err = 0;

	if (percpu && (v.ncpu = libbpf_num_possible_cpus()) <= 0)
		return v.ncpu;
	v.ostride = percpu ? (v.ovs + 7) / 8 * 8 : v.ovs;
	v.nstride = percpu ? (v.nvs + 7) / 8 * 8 : v.nvs;
	v.ov = calloc(v.ncpu, v.ostride);
	v.nv = calloc(v.ncpu, v.nstride);
	if (!v.ov || !v.nv)
		err = -ENOMEM;
	while (!err && bpf_map_get_next_key(Y->old_fd[i], prev, next) == 0) {
		memcpy(key, next, info->key_size);
		prev = key;
		if (bpf_map_lookup_elem(Y->old_fd[i], key, v.ov) == 0) /* else gone meanwhile (LRU) */
			layout_copy_entry(Y, i, info, &v, key);
	}
	free(v.ov);
	free(v.nv);
	return err;
}

int layout_copy(struct layout *Y, int pass)
{
	struct bpf_map_info info;
	__u32 ilen;
	int i, array, err;

	for (i = 0; i < LAYOUT_MAPS; i++) {
		enum bpf_map_type t = bpf_map__type(Y->maps[i]);

		if (Y->old_fd[i] < 0 || i == M_EVENTS || i == M_META)
			continue; /* the ring is drained; meta is written */
		/*
		 * counters: pass 1 only, added to what the new programs counted since
		 * their attach (the old programs count until their last swap). Other
		 * arrays: pass 0 only (an array has every key).
		 */
		array = t == BPF_MAP_TYPE_ARRAY || t == BPF_MAP_TYPE_PERCPU_ARRAY;
		if (i == M_COUNTERS ? !pass : pass && array)
			continue;
		memset(&info, 0, sizeof(info));
		ilen = sizeof(info);
		if (bpf_obj_get_info_by_fd(Y->old_fd[i], &info, &ilen) < 0)
			return -errno;
		if (info.key_size > 64 || info.key_size != bpf_map__key_size(Y->maps[i]))
			return -EINVAL;
		if ((err = layout_copy_map(Y, i, &info)))
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
static uint64_t layout_lost(const struct layout *Y)
{
	int fd = bpf_map__fd(Y->maps[M_COUNTERS]);
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

int layout_write_meta(struct layout *Y, char *why, size_t len)
{
	struct bpf_map *meta = Y->maps[M_META];
	struct pg_meta v = { .magic = PG_META_MAGIC, .layout = PG_LAYOUT,
			     .compat = PG_LAYOUT_COMPAT, .event_size = sizeof(struct pg_event),
			     .exe_size = sizeof(struct pg_exe), .kind_max = PG_EV_KIND_MAX };
	struct timespec ts;
	__u32 key = 0;

	/* the losses already journaled; with no record of it (layout 1, a fresh
	 * start), all that is counted now: never journaled twice */
	v.lost_reported = Y->had_meta ? Y->old.lost_reported : layout_lost(Y);
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

int layout_commit(struct layout *Y, char *why, size_t len)
{
	int i, err;

	/* meta last, the ring just before it: see layout_ring_cb on a crash between */
	for (i = 0; i < M_META; i++) {
		int j = i < M_EVENTS ? i : i == M_EVENTS ? M_COUNTERS : M_EVENTS;

		if (Y->old_fd[j] >= 0 &&
		    (err = layout_repin(Y, Y->maps[j], layout_name(Y, j), why, len)))
			return err;
	}
	if ((err = layout_write_meta(Y, why, len)))
		return err;
	if (Y->old_fd[M_META] >= 0 &&
	    (err = layout_repin(Y, Y->maps[M_META], "meta", why, len)))
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
			n += snprintf(buf + n, len - n, " %s", layout_name(Y, i));
	if (n < len)
		snprintf(buf + n, len - n, " migrated");
	return buf;
}
