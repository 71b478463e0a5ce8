/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Shared between bpf/portguard.bpf.c and user/: fixed-width types only. */
#ifndef PORTGUARD_H
#define PORTGUARD_H

#ifndef __VMLINUX_H__ /* user space; the BPF side has vmlinux.h */
#include <linux/types.h>
#endif

#define PG_COMM_LEN 16

/*
 * The layout of what outlives a guard: the pinned maps (types, sizes, what
 * keys and values mean) and the records in the pinned event ring. Any change
 * to them raises PG_LAYOUT. A guard that finds another layout pinned
 * migrates (user/layout.c): it copies each map that changed into a new one,
 * key by key, keeping the common prefix of the value and zero-filling the
 * rest, swaps its programs into the pinned links, reads the old ring with
 * the old record sizes, and re-pins. So, as a rule, value and event structs
 * only grow at their end, and a new field's zero means what the old layout
 * did. A change that breaks the rule (a key changes, a field changes
 * meaning) sets PG_LAYOUT_COMPAT to the new PG_LAYOUT: older guards then
 * refuse the state (and leave its programs enforcing) instead of misreading
 * it. docs/design.md "Upgrades".
 */
#ifndef PG_LAYOUT_NEXT
/*
 * 1: before `meta` (no layout recorded); 2: `ports` a hash of 8192; 3: `ports`
 * an array; 4: `agg` (claims folded in the kernel) and pg_sock.folded
 */
#define PG_LAYOUT 4
#define PG_LAYOUT_COMPAT 3 /* the oldest layout whose guard may take over this state */
#else
/* tests only (make build-next): a layout that grew, as an upgrade would (tests/e2e/test_upgrade.py) */
#define PG_LAYOUT 5
#define PG_LAYOUT_COMPAT 3
#endif
#define PG_LAYOUT_OLDEST 1 /* the oldest layout this guard migrates from */
#define PG_META_MAGIC 0x50474d31U /* "PGM1" */

/* The one value of the pinned `meta` map: the layout of the pinned state. */
struct pg_meta {
	__u32 magic;	  /* PG_META_MAGIC */
	__u32 layout;	  /* PG_LAYOUT of the guard that wrote it */
	__u32 compat;	  /* its PG_LAYOUT_COMPAT */
	__u32 event_size; /* sizeof(struct pg_event) of the records in the ring */
	__u32 exe_size;	  /* sizeof(struct pg_exe) */
	__u32 kind_max;	  /* PG_EV_KIND_MAX: the `counters` layout */
	__u64 written_ns; /* CLOCK_BOOTTIME of the write */
	__u64 lost_reported; /* of the lost events in `counters`, those journaled so far */
};

/* Kinds of kernel events. Keep ev_kind_name() in user/event.c in step. */
enum pg_kind {
	PG_EV_BIND_ATTEMPT = 1, /* cgroup/bind{4,6}: requested port is watched */
	PG_EV_BIND = 2,		/* cgroup/post_bind{4,6}: port assigned */
	PG_EV_LISTEN = 3,	/* TCP socket entered LISTEN */
	PG_EV_LISTEN_CLOSE = 4, /* TCP socket left LISTEN */
	PG_EV_RELEASE = 5,	/* a watched socket was released */
	PG_EV_EXIT = 6,		/* a watched process exited */
	PG_EV_FORK = 7,		/* a watched process forked (child inherits fds) */
	PG_EV_EXEC = 8,		/* a watched process called exec (CLOEXEC fds close) */
	PG_EV_BIND_DENIED = 9,	/* cgroup/bind{4,6} refused the bind (EPERM) */
	PG_EV_KIND_MAX = 10,
};

/* pg_port.flags */
#define PG_PORT_GUARDED (1U << 0)
#define PG_PORT_PROTECTED (1U << 1)
#define PG_PORT_DENY (1U << 2) /* enforce: binds from outside the owner fail with EPERM */

/* Sizes of the maps the config fills (user/policy.c checks a config against them). */
#define PG_PORTS_MAX 65536 /* `ports` is an array: every port number has its slot */
#define PG_ALLOW_MAX 4096

/* Value of the `ports` array, indexed by the port number; flags 0: not watched. */
struct pg_port {
	__u32 flags;
	__u32 owner_level;  /* depth of the owner's cgroup (root = 0) */
	__u64 owner_cgroup; /* cgroup id of the owning service, 0 when none */
#ifdef PG_LAYOUT_NEXT
	__u64 next_field; /* tests only: a field an upgrade appended */
#endif
};

/* Key of the `allow` map: who may bind a port besides its owner. */
#define PG_ALLOW_UID 1
#define PG_ALLOW_CGROUP 2
#define PG_ALLOW_EXE 3
struct pg_allow_key {
	__u32 port;
	__u32 kind;  /* PG_ALLOW_UID, PG_ALLOW_CGROUP or PG_ALLOW_EXE */
	__u64 value; /* the uid; the cgroup id (descendants too); the executable's inode */
};
/* The `allow` map's value: for PG_ALLOW_EXE the executable's device (kernel dev_t). */

/* pg_event.verdict of a bind attempt or denial */
#define PG_VERDICT_OWNER (1U << 0)   /* the port's owner (its cgroup or below) */
#define PG_VERDICT_ALLOWED (1U << 1) /* an `allow` rule of the port matched */

/* Value of the `socks` map, keyed by socket cookie. */
struct pg_sock {
	__u16 port;
	__u16 family;
	__u16 proto;
	__u8 reuseport;
	__u8 bound;  /* 0: attempt seen, 1: post_bind seen */
	__u8 folded; /* 1: its claims are counted in `agg`, not sent (layout 4) */
	__u8 pad;
};

/*
 * Claims folded in the kernel (layout 4). A rogue's repeated claims of one
 * port, by one process, of one kind, are counted in `agg` instead of each
 * going through the ring: the first of a key in an epoch is sent at once
 * (unless the key was busy in the epoch before), the rest only counted.
 * The guard advances `agg_epoch` on its coalescing timer and collects the
 * epochs before the last into counted journal lines (a folded claim counts
 * as sent in `counters`). With coalesce_window = 0
 * the kernel folds only while the ring is backed up (the guard is behind),
 * and a record the full ring refuses is folded instead of lost.
 */
#define PG_AGG_MAX 16384 /* distinct keys in the two epochs the guard holds */
struct pg_agg_key {
	__u64 start;  /* the process's start time (task start_time, ns): a pid reused is another key */
	__u32 epoch;
	__u32 tgid;
	__u16 port;
	__u8 kind;    /* enum pg_kind */
	__u8 pad[5];
};

struct pg_agg {
	__u64 count;	 /* claims folded: counted here, not sent */
	__u64 first_ns;	 /* bpf_ktime_get_boot_ns() of the key's first claim */
	__u64 last_ns;	 /* ... of the last one folded */
	__u64 cgroup_id;
	__u64 netns;
	__u32 pid;	 /* the thread of the first claim */
	__u32 uid;
	__u16 family;
	__u16 proto;
	__u8 verdict;
	__u8 sent;	 /* 1: the key's first claim went through the ring */
	__u8 pad[2];
	char comm[PG_COMM_LEN];
	__u8 addr[16];	 /* of the first claim (attempts only); IPv4 in the first 4 bytes */
};

struct pg_event {
	__u64 ts_ns;	  /* bpf_ktime_get_boot_ns() */
	__u64 cookie;	  /* socket cookie (0 for process events) */
	__u64 cgroup_id;  /* cgroup v2 id of the current task */
	__u64 netns;	  /* network namespace cookie */
	__u64 lost_total; /* events lost in the kernel so far (all kinds) */
	__u32 kind;	  /* enum pg_kind */
	__u32 tgid;	  /* process id */
	__u32 pid;	  /* thread id */
	__u32 uid;
	__u32 child;	  /* PG_EV_FORK: child tgid; PG_EV_RELEASE: 1 if it was bound */
	__u32 reserved;	  /* 0 (layouts 1 and 2 sent the owner's cgroup depth, never read) */
	__u16 family;	  /* AF_INET / AF_INET6 */
	__u16 proto;	  /* IPPROTO_TCP / IPPROTO_UDP */
	__u16 port;	  /* host byte order */
	__u8 reuseport;
	__u8 verdict;	  /* bind events: PG_VERDICT_* (why the kernel let it bind) */
	__u8 addr[16];	  /* IPv4 in the first 4 bytes, network order */
	char comm[PG_COMM_LEN];
#ifdef PG_LAYOUT_NEXT
	__u64 next_field; /* tests only: a field an upgrade appended */
#endif
};

/*
 * The binder's executable, read in the kernel at the bind (a binder that
 * exits at once is still named): inode and device always; the path by a
 * bounded walk of its dentries and mounts, as far as PG_PATH_DEPTH
 * components and PG_PATH_LEN bytes reach. path[] holds the components
 * leaf first, each NUL-terminated ("python3.11\0bin\0usr\0"); user space
 * reverses them.
 */
#define PG_PATH_LEN 256
#define PG_PATH_DEPTH 16
struct pg_exe {
	__u64 ino;
	__u32 dev;	/* kernel dev_t of the file system (s_dev) */
	__u32 mntns;	/* inode of the binder's mount namespace */
	__u16 len;	/* bytes of path[] used */
	__u8 complete;	/* 1: the walk reached the mount namespace's root */
	__u8 pad[5];
	char path[2 * PG_PATH_LEN];
};

/* PG_EV_BIND_DENIED, and PG_EV_BIND_ATTEMPT from outside the owner. */
struct pg_event_exe {
	struct pg_event ev;
	struct pg_exe exe;
};

#endif /* PORTGUARD_H */
