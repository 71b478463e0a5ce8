/* SPDX-License-Identifier: BSD-3-Clause */
/* cgroup v2 helpers: find the mount, make/kill/remove groups, list members. */
#ifndef PG_CGROUP_H
#define PG_CGROUP_H

#include <stdint.h>
#include <sys/types.h>

/* cgroup2 mount point from /proc/self/mountinfo ("/sys/fs/cgroup" or
 * "/sys/fs/cgroup/unified"), or NULL when cgroup v2 is not mounted. Cached. */
const char *cg_root(void);
/* cgroup id (inode number of the directory) of an absolute cgroup path, 0 on error. */
uint64_t cg_id(const char *abspath);
/* mkdir -p under the root; returns 0 or -errno. */
int cg_mkdir(const char *abspath);
/* Write 1 to cgroup.kill (kills every process in the subtree). 0 or -errno. */
int cg_kill(const char *abspath);
/* Processes (cgroup.procs) of the group and its descendants; *pids malloc'd. Count or -errno. */
int cg_procs(const char *abspath, pid_t **pids);
/* 1 when cgroup.events says "populated 1", 0 when not, -errno on error. */
int cg_populated(const char *abspath);
/* rmdir the group (children first). 0 or -errno. */
int cg_remove(const char *abspath);
/*
 * Absolute path of the cgroup with this id (what the kernel's
 * bpf_get_current_cgroup_id() says), found by file handle: right even
 * when the process that was in it is gone. 0 or -errno.
 */
int cg_path_of_id(uint64_t id, char *buf, size_t len);
/*
 * Where instance `name` keeps its services' cgroups, into buf:
 *  - started by systemd in a unit with Delegate=yes (its cgroup carries
 *    systemd's trusted.delegate or user.delegate xattr): that unit's cgroup;
 *    the guard moves itself into its leaf "guard" first (no process stays in
 *    an inner node), and the services are its siblings;
 *  - anywhere else: <cgroup2 root>/portguard-<name>, as on a host where
 *    nothing manages the tree.
 * *delegated says which; *why gets the one line to say at start. 0 or -errno.
 */
int cg_instance(const char *name, char *buf, size_t len, int *delegated, const char **why);
/* Absolute cgroup v2 path of a process into buf. 0 or -errno. */
int cg_of_pid(pid_t pid, char *buf, size_t len);
/* Is the process in the cgroup at abspath, or one below it? */
int cg_pid_within(pid_t pid, const char *abspath);
/* The cgroup id of a process, 0 if unknown. */
uint64_t cg_id_of_pid(uint32_t pid);

#endif
