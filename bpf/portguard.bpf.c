// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * portguard kernel side: every claim of a watched port, filtered in the kernel.
 *
 *   cgroup/bind{4,6}        bind attempts on a watched port (requested port)
 *   cgroup/post_bind{4,6}   successful binds, with the port actually assigned
 *   cgroup/sock_release     release of a socket that holds a watched port
 *   raw_tp/inet_sock_set_state   TCP LISTEN enter / leave
 *   raw_tp/sched_process_{fork,exec,exit}   lifecycle of processes holding one
 *
 * Only ports present in the `ports` map (filled by the daemon, rewritten on
 * reload) produce events. Every event goes through one ring buffer; a failed
 * reservation is counted per kind and in lost_total, which every later event
 * carries, so user space notices a loss with the next event it reads.
 * No syscalls:* tracepoints are used: they would tax every system call.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "portguard.h"

#define AF_INET 2
#define AF_INET6 10
#define SOL_SOCKET 1
#define SO_REUSEPORT 15

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the daemon between open and load: bpf_getsockopt() is allowed in cgroup/bind4|6 (Linux >= 5.12); user/probe.c. */
const volatile __u8 have_bind_sockopt = 1;
/* Set likewise: bpf_probe_read_kernel() is allowed in cgroup/sock_release (5.10 has it). */
const volatile __u8 have_release_read = 1;
/* A 64th of the ring (16 KiB of 1 MiB, some 150 records, half a ms of work): more waiting, the guard is behind. */
const volatile __u64 ring_busy_at = (1 << 20) / 64;

/* Every port number a slot: one lookup, no hashing; flags 0 is a port not watched. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PG_PORTS_MAX);
	__type(key, __u32);
	__type(value, struct pg_port);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PG_ALLOW_MAX);
	__type(key, struct pg_allow_key);
	__type(value, __u32);
} allow SEC(".maps");

/* Sockets that attempted or hold a watched port, by socket cookie. */
#ifndef PG_LAYOUT_NEXT
#define PG_SOCKS_MAX 65536
#else
#define PG_SOCKS_MAX 49152 /* tests only: a map an upgrade resized */
#endif
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PG_SOCKS_MAX);
	__type(key, __u64);
	__type(value, struct pg_sock);
} socks SEC(".maps");

/* Processes that claimed a watched port (and their forks), by tgid. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} procs SEC(".maps");

/*
 * listen() without bind(): the tracepoint sees port 0 (LISTEN is announced
 * before get_port() picks the port), so it leaves the task here, keyed by
 * the sock's address, for the sockops TCP_LISTEN_CB that runs once the port
 * is known but cannot read the current task.
 */
struct pg_task {
	__u64 cgroup_id;
	__u64 netns; /* sockops has bpf_get_netns_cookie only since Linux 5.15 */
	__u32 tgid;
	__u32 pid;
	__u32 uid;
	char comm[PG_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct pg_task);
} autobind SEC(".maps");

/*
 * Binders whose executable already went to user space, by tgid: the inode
 * sent. A storm from one process sends its path once (user space keeps it),
 * then events of the common size. Not pinned: a new guard starts empty.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} exe_sent SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* ring_buffer_kb, set by the guard */
} events SEC(".maps");

/* Claims folded in the kernel (include/portguard.h, struct pg_agg_key). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PG_AGG_MAX);
	__type(key, struct pg_agg_key);
	__type(value, struct pg_agg);
} agg SEC(".maps");

/* The layout of the pinned state (include/portguard.h): user space only. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pg_meta);
} meta SEC(".maps");

/* [kind]: events lost, [PG_EV_KIND_MAX + kind]: events sent. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * PG_EV_KIND_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

__u64 lost_total = 0;
/* The guard's network namespace (its cookie), set before the programs attach. */
__u64 host_netns = 0;

/* Set by the guard: the epoch of new `agg` keys; 1: fold repeats even while the ring keeps up. */
__u32 agg_epoch = 0;
__u32 agg_always = 0;
/*
 * Claims folded (all kinds), keys made, and binds, listens and releases of
 * folded sockets (the claim table learns those by dumps): the guard's timer
 * runs while they grow.
 */
__u64 agg_folded = 0;
__u64 agg_made = 0;
__u64 agg_folded_socks = 0;

/*
 * struct net.net_cookie was an atomic64_t until Linux 5.12 (3d368ab87cf6,
 * "net: initialize net->net_cookie at netns setup") and is a u64 since.
 * Each CO-RE read below matches one of them; the other is dead code.
 */
struct net___atomic_cookie {
	atomic64_t net_cookie;
} __attribute__((preserve_access_index));

static __always_inline __u64 sk_netns_cookie(struct sock *sk)
{
	struct net *net = BPF_CORE_READ(sk, __sk_common.skc_net.net);

	if (bpf_core_field_exists(((struct net___atomic_cookie *)net)->net_cookie))
		return BPF_CORE_READ((struct net___atomic_cookie *)net, net_cookie.counter);
	return BPF_CORE_READ(net, net_cookie);
}

/* SO_REUSEPORT of the socket being bound; 0 when the kernel cannot say. */
static __always_inline int bind_reuseport(struct bpf_sock_addr *ctx)
{
	int reuse = 0;

	if (have_bind_sockopt)
		bpf_getsockopt(ctx, SOL_SOCKET, SO_REUSEPORT, &reuse, sizeof(reuse));
	return !!reuse;
}

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		*c += 1;
}

static __always_inline struct pg_port *port_lookup(__u32 port)
{
	struct pg_port *p;

	if (port == 0)
		return NULL;
	p = bpf_map_lookup_elem(&ports, &port);
	return p && p->flags ? p : NULL;
}

/*
 * A socket's local address into dst (16 bytes; IPv4 in the first 4). The
 * callers read the context's fields in their family's branch only (the
 * verifier lets only IPv6 programs read a context's ip6 fields), each a
 * plain 4-byte load off the context into an argument.
 */
static __always_inline void addr_put(__u8 *dst, __u16 family, __u32 a0, __u32 a1, __u32 a2,
				     __u32 a3)
{
	__u32 a[4] = { a0, a1, a2, a3 };

	__builtin_memcpy(dst, a, family == AF_INET ? 4 : 16);
}

#define ADDR_COPY(dst, family, ip4, ip6)                                                    \
	do {                                                                                \
		if ((family) == AF_INET)                                                    \
			addr_put((dst), AF_INET, (ip4), 0, 0, 0);                           \
		else                                                                        \
			addr_put((dst), AF_INET6, ip6[0], ip6[1], ip6[2], ip6[3]);         \
	} while (0)

static __always_inline void ev_lost(__u32 kind)
{
	count(kind);
	__sync_fetch_and_add(&lost_total, 1);
}

/* A zeroed event of `size` bytes (a constant) with its kind and time, or NULL: the ring is full. */
static __always_inline struct pg_event *ev_try(__u32 kind, __u64 size)
{
	struct pg_event *e = bpf_ringbuf_reserve(&events, size, 0);

	if (!e)
		return NULL;
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->lost_total = lost_total;
	e->kind = kind;
	return e;
}

/* ev_try, a failure counted as lost. */
static __always_inline struct pg_event *ev_alloc(__u32 kind, __u64 size)
{
	struct pg_event *e = ev_try(kind, size);

	if (!e)
		ev_lost(kind);
	return e;
}

/* The current task into e. */
static __always_inline void ev_task(struct pg_event *e)
{
	__u64 id = bpf_get_current_pid_tgid();

	e->tgid = id >> 32;
	e->pid = (__u32)id;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

/* An event of `size` bytes (a constant) of the current task. */
static __always_inline struct pg_event *ev_reserve_size(__u32 kind, __u64 size)
{
	struct pg_event *e = ev_alloc(kind, size);

	if (e)
		ev_task(e);
	return e;
}

static __always_inline struct pg_event *ev_reserve(__u32 kind)
{
	return ev_reserve_size(kind, sizeof(struct pg_event));
}

static __always_inline void ev_submit(struct pg_event *e)
{
	count(PG_EV_KIND_MAX + e->kind);
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void proc_watch(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, one = 1;

	bpf_map_update_elem(&procs, &tgid, &one, BPF_ANY);
}

/* ---- claims folded in the kernel ---- */

/* The guard is behind: more than ring_busy_at is waiting to be read. */
static __always_inline int ring_busy(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > ring_busy_at;
}

/*
 * The key of the current process's claims of `kind` on `port` in this epoch;
 * start: its start time, or 0 where bpf_get_current_task() is not allowed
 * (cgroup/post_bind and sock_release on Linux 5.10).
 */
static __always_inline void agg_key(struct pg_agg_key *k, __u32 kind, __u32 port, __u64 start)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->start = start;
	k->epoch = agg_epoch;
	k->tgid = bpf_get_current_pid_tgid() >> 32;
	k->port = port;
	k->kind = kind;
}

/* A new key's value: the current task; count 1 when it is folded, else 0 (sent). */
static __always_inline void agg_init(struct pg_agg *v, __u16 family, __u16 proto, __u8 verdict,
				     __u64 netns, const __u8 *addr, int folded)
{
	__u64 id = bpf_get_current_pid_tgid();

	__builtin_memset(v, 0, sizeof(*v));
	v->count = folded;
	v->first_ns = v->last_ns = bpf_ktime_get_boot_ns();
	v->cgroup_id = bpf_get_current_cgroup_id();
	v->netns = netns;
	v->pid = (__u32)id;
	v->uid = (__u32)bpf_get_current_uid_gid();
	v->family = family;
	v->proto = proto;
	v->verdict = verdict;
	v->sent = !folded;
	bpf_get_current_comm(v->comm, sizeof(v->comm));
	if (addr)
		__builtin_memcpy(v->addr, addr, sizeof(v->addr));
}

/* One more claim folded into a (counted as sent: it reaches user space through `agg`). */
static __always_inline void agg_add(struct pg_agg *a, __u32 kind)
{
	__sync_fetch_and_add(&a->count, 1);
	a->last_ns = bpf_ktime_get_boot_ns();
	__sync_fetch_and_add(&agg_folded, 1);
	count(PG_EV_KIND_MAX + kind);
}

/*
 * Count one claim of key k in `agg` (a new key made with count 1).
 * 1: counted; 0: the map is full (the caller sends or loses it).
 */
static __always_inline int agg_count(struct pg_agg_key *k, __u16 family, __u16 proto,
				     __u8 verdict, __u64 netns, const __u8 *addr)
{
	struct pg_agg *a = bpf_map_lookup_elem(&agg, k), v;

	if (a) {
		agg_add(a, k->kind);
		return 1;
	}
	agg_init(&v, family, proto, verdict, netns, addr, 1);
	if (bpf_map_update_elem(&agg, k, &v, BPF_NOEXIST) == 0) {
		__sync_fetch_and_add(&agg_folded, 1);
		__sync_fetch_and_add(&agg_made, 1);
		count(PG_EV_KIND_MAX + k->kind);
		return 1;
	}
	a = bpf_map_lookup_elem(&agg, k); /* made meanwhile on another CPU */
	if (!a)
		return 0;
	agg_add(a, k->kind);
	return 1;
}

/*
 * Is this rogue claim a repeat to fold? 1: counted in `agg`, nothing to
 * send; 0: send it (the first of its key in the epoch, or the guard keeps
 * up and coalesce_window is 0, or the map is full).
 */
static __always_inline int agg_fold(struct pg_agg_key *k, __u16 family, __u16 proto,
				    __u8 verdict, __u64 netns, const __u8 *addr)
{
	struct pg_agg *a, v;

	if (!agg_always && !ring_busy())
		return 0;
	a = bpf_map_lookup_elem(&agg, k);
	if (a) {
		agg_add(a, k->kind);
		return 1;
	}
	/* busy in the epoch before too: a storm goes on, one counted line a window */
	k->epoch--;
	a = bpf_map_lookup_elem(&agg, k);
	k->epoch++;
	if (a)
		return agg_count(k, family, proto, verdict, netns, addr);
	agg_init(&v, family, proto, verdict, netns, addr, 0);
	if (bpf_map_update_elem(&agg, k, &v, BPF_NOEXIST) == 0) /* EEXIST: sent twice, counted right */
		__sync_fetch_and_add(&agg_made, 1);
	return 0;
}

/* A claim of a folded socket (its bind, listen, release): 1 counted, 0 `agg` is full. */
static __always_inline int sock_fold(__u32 kind, __u32 port, __u16 family, __u16 proto,
				     __u64 netns)
{
	struct pg_agg_key k;

	agg_key(&k, kind, port, 0);
	if (!agg_count(&k, family, proto, 0, netns, NULL))
		return 0;
	__sync_fetch_and_add(&agg_folded_socks, 1); /* the guard's dumps follow the socket */
	return 1;
}

/* ---- bind attempts ---- */

/* The current task's cgroup is cg or one of its descendants (cg at depth level). */
static __always_inline int in_cgroup(__u64 cg, __u32 level)
{
	if (!cg)
		return 0;
	if (bpf_get_current_cgroup_id() == cg)
		return 1;
	return bpf_get_current_ancestor_cgroup_id(level) == cg;
}

/* Does an `allow` rule of this port let the current task bind it (uid, cgroup, exe)? */
static __always_inline int allow_match(__u32 port)
{
	struct pg_allow_key k = { .port = port, .kind = PG_ALLOW_UID };
	int i;

	k.value = (__u32)bpf_get_current_uid_gid();
	if (bpf_map_lookup_elem(&allow, &k))
		return 1;
	/* allowed cgroups: the task's own and its ancestors up to depth 16 */
	k.kind = PG_ALLOW_CGROUP;
	k.value = bpf_get_current_cgroup_id();
	if (bpf_map_lookup_elem(&allow, &k))
		return 1;
	for (i = 1; i < 16; i++) {
		k.value = bpf_get_current_ancestor_cgroup_id(i);
		if (!k.value)
			break;
		if (bpf_map_lookup_elem(&allow, &k))
			return 1;
	}
	/* allowed executables, by inode and device */
	{
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();
		struct file *f = BPF_CORE_READ(t, mm, exe_file);
		__u32 *dev;

		if (!f)
			return 0;
		k.kind = PG_ALLOW_EXE;
		k.value = BPF_CORE_READ(f, f_inode, i_ino);
		dev = bpf_map_lookup_elem(&allow, &k);
		if (dev && *dev == BPF_CORE_READ(f, f_inode, i_sb, s_dev))
			return 1;
	}
	return 0;
}

static __always_inline __u64 exe_ino(void)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(t, mm, exe_file, f_inode, i_ino);
}

/* The mount that holds vfsmount vm (the kernel's real_mount()). */
static __always_inline struct mount *exe_real_mount(struct vfsmount *vm)
{
	return (void *)vm - bpf_core_field_offset(struct mount, mnt);
}

/*
 * The current task's executable: inode, device and the path, walked from
 * the file's dentry up to its mount's root, then across to the mount point
 * in the parent mount, until the root of the task's mount namespace
 * (bpf_d_path is for tracing programs only, and not on every kernel).
 */
static __always_inline void exe_fill(struct pg_exe *x)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct file *f = BPF_CORE_READ(t, mm, exe_file);
	struct dentry *d, *parent, *root;
	struct vfsmount *vm;
	struct mount *m, *mp;
	__u32 off = 0;
	int i, n;

	x->ino = 0;
	x->dev = 0;
	x->len = 0;
	x->complete = 0;
	x->mntns = BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum);
	if (!f)
		return; /* a kernel thread */
	x->ino = BPF_CORE_READ(f, f_inode, i_ino);
	x->dev = BPF_CORE_READ(f, f_inode, i_sb, s_dev);
	d = BPF_CORE_READ(f, f_path.dentry);
	vm = BPF_CORE_READ(f, f_path.mnt);
	m = exe_real_mount(vm);
	for (i = 0; i < PG_PATH_DEPTH + 8; i++) { /* + 8 mount crossings */
		root = BPF_CORE_READ(vm, mnt_root);
		parent = BPF_CORE_READ(d, d_parent);
		if (d == root || d == parent) {
			mp = BPF_CORE_READ(m, mnt_parent);
			if (mp == m) {
				x->complete = 1; /* the namespace's root mount */
				break;
			}
			d = BPF_CORE_READ(m, mnt_mountpoint);
			m = mp;
			vm = (void *)m + bpf_core_field_offset(struct mount, mnt);
			continue;
		}
		if (off >= PG_PATH_LEN)
			break;
		n = bpf_probe_read_kernel_str(&x->path[off & (PG_PATH_LEN - 1)], PG_PATH_LEN,
					      BPF_CORE_READ(d, d_name.name));
		if (n <= 0)
			break;
		off += n;
		d = parent;
	}
	x->len = off < PG_PATH_LEN ? off : PG_PATH_LEN;
}

/* The bind's own fields of an event. */
static __always_inline void bind_fill(struct pg_event *e, struct bpf_sock_addr *ctx, __u64 cookie,
				      __u64 netns, __u16 family, __u32 port, int reuse)
{
	e->cookie = cookie;
	e->netns = netns;
	e->family = family;
	e->proto = ctx->protocol;
	e->port = port;
	e->reuseport = reuse;
	ADDR_COPY(e->addr, family, ctx->user_ip4, ctx->user_ip6);
}

/*
 * A rogue's claim the full ring refused: counted in `agg` (1) rather than
 * lost, unless the map is full too (0, counted as lost).
 */
static __always_inline int fold_lost(struct pg_agg_key *k, int rogue, __u32 kind,
				     __u16 family, __u16 proto, __u64 netns, const __u8 *addr)
{
	struct pg_agg *a;

	if (rogue && agg_count(k, family, proto, 0, netns, addr)) {
		a = bpf_map_lookup_elem(&agg, k);
		if (a)
			a->sent = 0; /* the first one never reached user space */
		return 1;
	}
	ev_lost(kind);
	return 0;
}

/*
 * The event of a bind by someone else than the owner (a denial, or a rogue
 * in observe mode), with its executable the first time its pid binds one.
 * A rogue's repeats (no owner, no allow rule) fold into `agg`: 1, the
 * socket is folded (its bind, listen and release are counted there too).
 */
static __always_inline int bind_report(struct bpf_sock_addr *ctx, __u32 kind, __u64 cookie,
				       __u64 netns, __u16 family, __u32 port, int reuse,
				       int verdict)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, proto = ctx->protocol;
	__u64 ino = exe_ino(), *sent = bpf_map_lookup_elem(&exe_sent, &tgid);
	int rogue = !verdict;
	struct pg_event_exe *x;
	struct pg_agg_key k;
	struct pg_event *e;
	__u8 addr[16] = {};

	__builtin_memset(&k, 0, sizeof(k));
	if (rogue) {
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();

		ADDR_COPY(addr, family, ctx->user_ip4, ctx->user_ip6);
		agg_key(&k, kind, port, BPF_CORE_READ(t, group_leader, start_time));
		if (agg_fold(&k, family, proto, verdict, netns, addr))
			return 1;
	}
	if (sent && *sent == ino) { /* user space has it */
		e = ev_try(kind, sizeof(*e));
		if (!e)
			return fold_lost(&k, rogue, kind, family, proto, netns, addr);
		ev_task(e);
		bind_fill(e, ctx, cookie, netns, family, port, reuse);
		e->verdict = verdict;
		ev_submit(e);
		return 0;
	}
	x = (struct pg_event_exe *)ev_try(kind, sizeof(*x));
	if (!x)
		return fold_lost(&k, rogue, kind, family, proto, netns, addr);
	ev_task(&x->ev);
	bind_fill(&x->ev, ctx, cookie, netns, family, port, reuse);
	x->ev.verdict = verdict;
	exe_fill(&x->exe);
	ev_submit(&x->ev);
	bpf_map_update_elem(&exe_sent, &tgid, &ino, BPF_ANY);
	return 0;
}

static __always_inline int on_bind(struct bpf_sock_addr *ctx, __u16 family)
{
	__u32 port = bpf_ntohs(ctx->user_port), kind;
	int owner, allowed, verdict, folded = 0;
	struct pg_sock s = {};
	struct pg_event *e;
	struct pg_port *p;
	__u64 cookie, netns;

	p = port_lookup(port);
	if (!p)
		return 1;
	cookie = bpf_get_socket_cookie(ctx);
	netns = bpf_get_netns_cookie(ctx);
	owner = in_cgroup(p->owner_cgroup, p->owner_level);
	/* the rules are read in both modes: observe mode must not call allowed binds rogue */
	verdict = owner ? PG_VERDICT_OWNER : allow_match(port) ? PG_VERDICT_ALLOWED : 0;
	/* another network namespace's port is not the host's: reported, never denied */
	allowed = netns != host_netns || verdict || !(p->flags & PG_PORT_DENY);
	s.reuseport = bind_reuseport(ctx);
	kind = allowed ? PG_EV_BIND_ATTEMPT : PG_EV_BIND_DENIED;
	if (!owner) {
		folded = bind_report(ctx, kind, cookie, netns, family, port, s.reuseport, verdict);
	} else if ((e = ev_reserve(kind))) {
		bind_fill(e, ctx, cookie, netns, family, port, s.reuseport);
		e->verdict = verdict;
		ev_submit(e);
	}
	if (allowed) { /* EPERM comes before the port is taken: nothing of a denied one is kept */
		s.port = port;
		s.family = family;
		s.proto = ctx->protocol;
		s.folded = folded;
		bpf_map_update_elem(&socks, &cookie, &s, BPF_ANY);
		proc_watch();
	}
	return allowed;
}

/* The IPv4 and the IPv6 program of one hook: fn(ctx, family), each family a constant. */
#define PG_PROG_4_6(hook, name, ctx_type, fn)                                            \
	SEC("cgroup/" #hook "4") int name##4(ctx_type *ctx) { return fn(ctx, AF_INET); }   \
	SEC("cgroup/" #hook "6") int name##6(ctx_type *ctx) { return fn(ctx, AF_INET6); }

PG_PROG_4_6(bind, pg_bind, struct bpf_sock_addr, on_bind)

/* ---- successful binds (port actually assigned, also for port 0) ---- */

static __always_inline int on_post_bind(struct bpf_sock *sk, __u16 family)
{
	__u32 port = sk->src_port;
	struct pg_sock s = {}, *old;
	struct pg_event *e;
	__u64 cookie, netns;

	if (!port_lookup(port))
		return 1;
	cookie = bpf_get_socket_cookie(sk);
	netns = bpf_get_netns_cookie(sk);
	old = bpf_map_lookup_elem(&socks, &cookie);
	if (old) {
		s.reuseport = old->reuseport;
		s.folded = old->folded;
	}
	s.port = port;
	s.family = family;
	s.proto = sk->protocol;
	s.bound = 1;
	if (s.folded && !sock_fold(PG_EV_BIND, port, family, sk->protocol, netns))
		s.folded = 0; /* `agg` is full: this socket goes through the ring from now on */
	bpf_map_update_elem(&socks, &cookie, &s, BPF_ANY);
	proc_watch();
	if (s.folded)
		return 1;

	e = ev_reserve(PG_EV_BIND);
	if (!e)
		return 1;
	e->cookie = cookie;
	e->netns = netns;
	e->family = family;
	e->proto = sk->protocol;
	e->port = port;
	e->reuseport = s.reuseport;
	ADDR_COPY(e->addr, family, sk->src_ip4, sk->src_ip6);
	ev_submit(e);
	return 1;
}

PG_PROG_4_6(post_bind, pg_post_bind, struct bpf_sock, on_post_bind)

/* ---- release: src_port is not readable here, hence the socks map ---- */

/*
 * The cookie of a socket being released, 0 for one that cannot be in
 * `socks`. Every socket in it has a cookie (bpf_get_socket_cookie() gave
 * it one when it went in), and a socket nobody asked the cookie of still
 * has 0: read off the socket, that skips the cookie's making and the
 * map's lookup for nearly every close on the host (most sockets never
 * had a cookie).
 */
static __always_inline __u64 release_cookie(struct bpf_sock *sk)
{
	__u64 cookie = 0;

	if (!have_release_read)
		return bpf_get_socket_cookie(sk);
	bpf_core_read(&cookie, sizeof(cookie),
		      &((struct sock *)sk)->__sk_common.skc_cookie.counter);
	return cookie;
}

SEC("cgroup/sock_release")
int pg_sock_release(struct bpf_sock *sk)
{
	__u64 cookie = release_cookie(sk);
	struct pg_sock *s;
	struct pg_event *e;

	if (!cookie || !(s = bpf_map_lookup_elem(&socks, &cookie)))
		return 1;
	if (s->folded &&
	    sock_fold(PG_EV_RELEASE, s->port, s->family, s->proto, bpf_get_netns_cookie(sk))) {
		bpf_map_delete_elem(&socks, &cookie);
		return 1;
	}
	e = ev_reserve(PG_EV_RELEASE);
	if (e) {
		e->cookie = cookie;
		e->netns = bpf_get_netns_cookie(sk);
		e->family = s->family;
		e->proto = s->proto;
		e->port = s->port;
		e->reuseport = s->reuseport;
		e->child = s->bound; /* 0: the socket never got the port */
		ev_submit(e);
	}
	bpf_map_delete_elem(&socks, &cookie);
	return 1;
}

/* ---- TCP listen / unlisten ---- */

/* listen() without bind(): the task, for pg_sockops, which sees the port but not the task. */
static __always_inline void listen_autobind(struct sock *sk)
{
	__u64 id = bpf_get_current_pid_tgid(), key = (__u64)sk;
	struct pg_task t = { .tgid = id >> 32, .pid = (__u32)id };

	t.uid = (__u32)bpf_get_current_uid_gid();
	t.cgroup_id = bpf_get_current_cgroup_id();
	t.netns = sk_netns_cookie(sk);
	bpf_get_current_comm(t.comm, sizeof(t.comm));
	bpf_map_update_elem(&autobind, &key, &t, BPF_ANY);
}

/* A TCP socket on a watched port entered or left LISTEN (kind): counted if folded, else sent. */
static __always_inline void listen_report(struct sock *sk, __u32 kind, __u32 port)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u64 cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	__u64 netns = sk_netns_cookie(sk);
	struct pg_sock *s = bpf_map_lookup_elem(&socks, &cookie);
	struct pg_event *e;

	if (s && s->folded && sock_fold(kind, port, family, IPPROTO_TCP, netns))
		return;
	e = ev_reserve(kind);
	if (!e)
		return;
	e->cookie = cookie;
	e->netns = netns;
	e->family = family;
	e->proto = IPPROTO_TCP;
	e->port = port;
	e->reuseport = BPF_CORE_READ_BITFIELD_PROBED(&sk->__sk_common, skc_reuseport);
	if (family == AF_INET)
		BPF_CORE_READ_INTO(&e->addr, sk, __sk_common.skc_rcv_saddr);
	else
		BPF_CORE_READ_INTO(&e->addr, sk, __sk_common.skc_v6_rcv_saddr);
	ev_submit(e);
}

SEC("raw_tp/inet_sock_set_state")
int pg_sock_state(struct bpf_raw_tracepoint_args *ctx)
{
	struct sock *sk = (struct sock *)ctx->args[0];
	int oldstate = (int)ctx->args[1];
	int newstate = (int)ctx->args[2];
	__u32 kind, port;

	/*
	 * A listener leaves LISTEN only for CLOSE (tcp_close(), or
	 * tcp_disconnect() from shutdown()). LISTEN -> SYN_RECV is not the
	 * listener: it is the clone inet_csk_clone_lock() makes for each
	 * accepted connection, born a copy of the listener (state LISTEN,
	 * same port); 6.1 and 6.12 fire the tracepoint for it, with the
	 * listener's cookie still in the copy. So only LISTEN -> CLOSE ends a
	 * listener, whatever its clones, children or reuseport siblings do.
	 */
	if (newstate == TCP_LISTEN && oldstate != TCP_LISTEN)
		kind = PG_EV_LISTEN;
	else if (oldstate == TCP_LISTEN && newstate == TCP_CLOSE)
		kind = PG_EV_LISTEN_CLOSE;
	else
		return 0;
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	port = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (port == 0 && kind == PG_EV_LISTEN) {
		listen_autobind(sk); /* see pg_sockops */
		return 0;
	}
	if (!port_lookup(port))
		return 0;
	if (kind == PG_EV_LISTEN)
		proc_watch();
	listen_report(sk, kind, port);
	return 0;
}

/* The listen of an autobound socket, as the task that called listen() (saved in t). */
static __always_inline void sockops_report(struct bpf_sock_ops *skops, const struct pg_task *t,
					   __u64 cookie, __u32 port)
{
	struct pg_event *e = ev_alloc(PG_EV_LISTEN, sizeof(*e));
	__u32 tgid = t->tgid, one = 1;

	if (!e)
		return;
	e->tgid = t->tgid;
	e->pid = t->pid;
	e->uid = t->uid;
	e->cgroup_id = t->cgroup_id;
	__builtin_memcpy(e->comm, t->comm, sizeof(e->comm));
	e->cookie = cookie;
	e->netns = t->netns;
	e->family = skops->family;
	e->proto = IPPROTO_TCP;
	e->port = port;
	ADDR_COPY(e->addr, skops->family, skops->local_ip4, skops->local_ip6);
	e->child = 1; /* autobound */
	ev_submit(e);
	bpf_map_update_elem(&procs, &tgid, &one, BPF_ANY);
}

/* Runs in inet_listen() after the port is picked, for every listen(). */
SEC("sockops")
int pg_sockops(struct bpf_sock_ops *skops)
{
	struct pg_task *tp, task;
	struct pg_sock s = {};
	struct bpf_sock *sk;
	__u64 cookie, key;
	__u32 port;

	if (skops->op != BPF_SOCK_OPS_TCP_LISTEN_CB)
		return 1;
	sk = skops->sk;
	if (!sk)
		return 1;
	key = (__u64)sk;
	tp = bpf_map_lookup_elem(&autobind, &key);
	if (!tp)
		return 1; /* bound before listen: post_bind and the tracepoint saw it */
	__builtin_memcpy(&task, tp, sizeof(task)); /* the LRU slot may be reused once deleted */
	bpf_map_delete_elem(&autobind, &key);
	port = skops->local_port;
	if (!port_lookup(port))
		return 1;
	cookie = bpf_get_socket_cookie(skops);
	s.port = port;
	s.family = skops->family;
	s.proto = IPPROTO_TCP;
	s.bound = 1;
	bpf_map_update_elem(&socks, &cookie, &s, BPF_ANY);
	sockops_report(skops, &task, cookie, port);
	return 1;
}

/*
 * The netns cookie of the guard's own namespace where SO_NETNS_COOKIE
 * (Linux 5.14) is missing: attached for a moment to the guard's own
 * cgroup, it sees the socket the guard then makes (user/loader.c).
 */
__u64 probe_netns = 0;
__u32 probe_tgid = 0;

SEC("cgroup/sock_create")
int pg_netns_probe(struct bpf_sock *sk)
{
	if (probe_tgid && bpf_get_current_pid_tgid() >> 32 == probe_tgid)
		probe_netns = bpf_get_netns_cookie(sk);
	return 1;
}

/* ---- processes holding a watched port ---- */

SEC("raw_tp/sched_process_fork")
int pg_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid), one = 1;
	struct pg_event *e;

	if (ptgid == ctgid || !bpf_map_lookup_elem(&procs, &ptgid))
		return 0;
	bpf_map_update_elem(&procs, &ctgid, &one, BPF_ANY);
	e = ev_reserve(PG_EV_FORK);
	if (!e)
		return 0;
	e->child = ctgid;
	ev_submit(e);
	return 0;
}

SEC("raw_tp/sched_process_exec")
int pg_exec(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct pg_event *e;

	if (!bpf_map_lookup_elem(&procs, &tgid))
		return 0;
	e = ev_reserve(PG_EV_EXEC);
	if (e)
		ev_submit(e);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int pg_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pg_event *e;

	if ((__u32)id != tgid || !bpf_map_lookup_elem(&procs, &tgid))
		return 0;
	bpf_map_delete_elem(&procs, &tgid);
	e = ev_reserve(PG_EV_EXIT);
	if (e)
		ev_submit(e);
	return 0;
}
