/* SPDX-License-Identifier: BSD-3-Clause */
/* Load, configure and attach the BPF programs; fill the port map. */
#ifndef PG_LOADER_H
#define PG_LOADER_H

#include <stdint.h>

#include "layout.h"
#include "portguard.h"

struct pg_config;
struct ring_buffer;
struct bpf_link;

typedef int (*loader_event_fn)(void *ctx, void *data, size_t size);

#include <limits.h>

struct loader {
	struct portguard_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *links[16]; /* every attachment, pinned in pin_dir */
	int nlinks;
	int cg_fd;
	char pin_dir[PATH_MAX - 256]; /* <bpffs>/portguard/<name> */
	int reused;		    /* pinned maps and links of an earlier guard were reused */
	unsigned have;		    /* what the kernel offers: 1 << enum probe_feature */
	uint64_t host_netns;	    /* cookie of the guard's network namespace */
	struct layout Y;	    /* what was pinned, and what of it was migrated */
	loader_event_fn fn;
	void *ctx;
};

/*
 * Check the host (BTF, cgroup v2, BPF permission), load and attach every
 * program at the cgroup v2 root, and open the ring buffer (ring_kb KiB) with `fn`.
 * Maps and links are pinned in <bpffs>/portguard/<name>/ (bpffs is mounted
 * there first if it is not): when the guard exits or dies, the programs stay
 * attached and enforcement stays on; the next loader_open reuses the pinned
 * maps and swaps its programs into the pinned cgroup links (no gap). Pinned
 * state of another layout (PG_LAYOUT) is migrated (layout.h) or, when this
 * guard cannot read it, refused with -EPROTO and left enforcing.
 * On failure returns -errno after writing one line saying what is missing
 * and what would fix it into why[len].
 */
int loader_open(struct loader *L, uint32_t ring_kb, const char *bpffs, const char *name,
		loader_event_fn fn, void *ctx, char *why, size_t len);
/*
 * Make the `ports` map hold exactly the ports with flags in ports[65536]
 * (policy_ports), and the `allow` map exactly keys[n] (with vals[n]).
 * Entries are overwritten in place, never dropped and re-added, so
 * enforcement has no gap.
 */
int loader_set_ports(struct loader *L, const struct pg_port *ports);
int loader_set_allow(struct loader *L, const struct pg_allow_key *keys, const __u32 *vals, int n);
/*
 * Have the kernel report the release of a socket found by sock_diag (not by
 * its bind), and the fork/exec/exit of a process found holding one.
 */
int loader_watch_socket(struct loader *L, uint64_t cookie, uint16_t port, uint16_t family,
			uint16_t proto);
int loader_watch_pid(struct loader *L, uint32_t pid);
/*
 * Claims folded in the kernel (include/portguard.h, `agg`): the map, the
 * epoch of new keys and whether repeats fold while the ring keeps up, and
 * how many claims were folded or keys made (and of them socket state:
 * binds, listens, releases) since the load.
 */
int loader_agg_fd(struct loader *L);
void loader_set_agg(struct loader *L, uint32_t epoch, int always);
uint64_t loader_agg_folded(struct loader *L, uint64_t *socks);
/*
 * The cookie of this process's network namespace, from a BPF program seeing
 * a socket we make (for kernels without SO_NETNS_COOKIE, Linux < 5.14); 0 on failure.
 */
uint64_t loader_netns_cookie(struct loader *L);
/* Events lost in the kernel by these programs so far (the mmapped counter). */
uint64_t loader_lost_total(struct loader *L);
/*
 * Events lost in the kernel since the pins were made (the `counters`, which
 * every guard and migration keeps), and how many of them were journaled
 * (kept in `meta`, so a loss while no guard ran is journaled by the next).
 */
uint64_t loader_lost_counted(struct loader *L);
uint64_t loader_lost_reported(struct loader *L);
void loader_set_lost_reported(struct loader *L, uint64_t n);
/* Does the kernel still track this socket (its release will be reported)? */
/* The kernel folds its claims (agg): it makes no events. */
int loader_socket_folded(struct loader *L, uint64_t cookie);
int loader_socket_tracked(struct loader *L, uint64_t cookie);
/* The ring buffer's epoll-able fd. */
int loader_ring_fd(struct loader *L);
/* Consume what is in the ring buffer (calls fn per event); the first call
 * reads an old ring that a migration replaced first, all of it. */
int loader_consume(struct loader *L);
/* Per-kind counters summed over CPUs. */
int loader_counters(struct loader *L, uint64_t lost[PG_EV_KIND_MAX], uint64_t sent[PG_EV_KIND_MAX]);
/* Free what this process holds; the pinned programs stay attached. */
void loader_close(struct loader *L);
/* shutdown: unpin everything of instance `name` (the programs detach) and
 * unmount bpffs if portguard mounted it and nothing else is pinned there. */
int loader_remove_pins(const char *bpffs, const char *name);

#endif
