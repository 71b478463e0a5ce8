/* SPDX-License-Identifier: BSD-3-Clause */
/* Claims folded in the kernel: epochs, collection, exact counts (agg.h). */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "agg.h"
#include "loader.h"
#include "log.h"
#include "loop.h"

static struct {
	struct loader *L;
	struct agg_hooks h;
	struct pg_timer timer;
	uint64_t window_ms;
	uint32_t epoch;
	int armed;
	uint64_t seen;	     /* loader_agg_folded() when the timer last ran */
	uint64_t socks_seen; /* ... its socket folds, when the claim table was last re-synced */
} A = { .timer = { .w.fd = -1 } };

static uint64_t agg_tick_ms(void)
{
	return A.window_ms ? A.window_ms : AGG_OVERLOAD_MS;
}

static void agg_arm(void)
{
	if (!A.armed && timer_arm_ms(&A.timer, agg_tick_ms()) == 0)
		A.armed = 1;
}

/* A key the collection takes: not of the current epoch, nor (keep_last) of the one before. */
static int agg_closed(const struct pg_agg_key *k, int keep_last)
{
	return k->epoch != A.epoch && (!keep_last || k->epoch != A.epoch - 1);
}

/*
 * Every closed key (agg_closed): deleted, then its count reported (a crash
 * between loses that key's count rather than journal it twice). Returns the
 * keys left, or -ENOMEM (what was not gathered waits for the next tick).
 */
static long agg_collect(int fd, int keep_last)
{
	struct pg_agg_key key, *prev = NULL, *closed = NULL, *v;
	size_t n = 0, cap = 0, i;
	long left = 0;
	struct pg_agg val;

	while (bpf_map_get_next_key(fd, prev, &key) == 0) {
		prev = &key;
		if (!agg_closed(&key, keep_last)) {
			left++;
			continue;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			if (!(v = realloc(closed, cap * sizeof(*v)))) {
				left = -ENOMEM;
				break;
			}
			closed = v;
		}
		closed[n++] = key;
	}
	for (i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(fd, &closed[i], &val) < 0 ||
		    bpf_map_delete_elem(fd, &closed[i]) < 0)
			continue;
		if (val.count)
			A.h.claims(&closed[i], &val, val.count);
	}
	free(closed);
	return left;
}

static void agg_check_socks(void)
{
	uint64_t socks;

	loader_agg_folded(A.L, &socks);
	if (socks == A.socks_seen)
		return;
	A.socks_seen = socks;
	A.h.resync();
}

/*
 * The timer: a new epoch, and the one before the last collected. A program
 * that read an epoch just before it changed has finished long before the
 * next tick, so a key is read once, whole.
 */
static void agg_tick(struct pg_timer *t)
{
	long left;

	(void)t;
	A.armed = 0;
	A.seen = loader_agg_folded(A.L, NULL);
	loader_set_agg(A.L, ++A.epoch, A.window_ms > 0);
	left = agg_collect(loader_agg_fd(A.L), 1);
	agg_check_socks();
	if (A.h.collected)
		A.h.collected();
	if (left || loader_agg_folded(A.L, NULL) != A.seen)
		agg_arm();
	else
		malloc_trim(0); /* the storm is over: what it took goes back */
}

int agg_init(struct loader *L, const struct agg_hooks *h, uint64_t window_ms)
{
	struct pg_agg_key key, *prev = NULL;
	int fd = loader_agg_fd(L), err, any = 0;

	memset(&A, 0, sizeof(A));
	A.timer.w.fd = -1;
	A.L = L;
	A.h = *h;
	A.window_ms = window_ms;
	if ((err = timer_init(&A.timer, agg_tick, NULL)))
		return err;
	/* past every pinned key's epoch: an earlier guard's counts are collected at the first tick */
	while (bpf_map_get_next_key(fd, prev, &key) == 0) {
		if (key.epoch >= A.epoch)
			A.epoch = key.epoch + 1;
		prev = &key;
		any = 1;
	}
	loader_set_agg(L, A.epoch, window_ms > 0);
	A.seen = loader_agg_folded(L, &A.socks_seen);
	if (any)
		agg_arm();
	return 0;
}

void agg_set_window(uint64_t window_ms)
{
	A.window_ms = window_ms;
	if (A.L)
		loader_set_agg(A.L, A.epoch, window_ms > 0);
}

void agg_after_batch(void)
{
	if (A.L && !A.armed && loader_agg_folded(A.L, NULL) != A.seen)
		agg_arm();
}

uint64_t *agg_pending_denied(void)
{
	struct pg_agg_key key, *prev = NULL;
	uint64_t *out = NULL;
	struct pg_agg v;
	int fd;

	if (!A.L)
		return NULL;
	fd = loader_agg_fd(A.L);
	while (bpf_map_get_next_key(fd, prev, &key) == 0) {
		prev = &key;
		if (key.kind != PG_EV_BIND_DENIED || bpf_map_lookup_elem(fd, &key, &v) < 0 ||
		    !v.count)
			continue;
		if (!out && !(out = calloc(65536, sizeof(*out))))
			return NULL;
		out[key.port] += v.count;
	}
	return out;
}

void agg_settle(void)
{
	if (A.L)
		agg_check_socks();
}

/*
 * Wait until no BPF program still runs that read the epoch before: an
 * update of a map-in-map makes the kernel wait for every running program
 * (synchronize_rcu() in maybe_wait_bpf_programs()); there is no other way
 * to ask for that from user space. Shutdown only: it may take milliseconds.
 */
static void agg_barrier(void)
{
	int inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL), outer = -1;
	LIBBPF_OPTS(bpf_map_create_opts, o, .inner_map_fd = inner);
	__u32 key = 0, val = (__u32)inner;

	if (inner >= 0)
		outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, NULL, 4, 4, 1, &o);
	if (outer >= 0 && bpf_map_update_elem(outer, &key, &val, BPF_ANY) < 0)
		log_debug("agg: no barrier (%s): a count folded at this instant may be lost",
			  strerror(errno));
	if (outer >= 0)
		close(outer);
	if (inner >= 0)
		close(inner);
}

void agg_flush(void)
{
	if (!A.L)
		return;
	loader_set_agg(A.L, ++A.epoch, A.window_ms > 0);
	agg_barrier(); /* then every epoch before this one is whole */
	agg_collect(loader_agg_fd(A.L), 0);
}

void agg_close(void)
{
	timer_close(&A.timer);
	A.armed = 0;
	A.L = NULL;
}
