/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The one reader of /proc/<pid>: what the guard asks of a process (its
 * name, uid, start time, flags, cgroup, open sockets). A process that is
 * gone reads as an error or 0, never as another's.
 */
#ifndef PG_PROC_H
#define PG_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* /proc/<pid>/<what> into buf (NUL-terminated); bytes read or -errno. */
ssize_t proc_read(uint32_t pid, const char *what, char *buf, size_t size);
/* Its name (/proc/<pid>/comm, no newline). 0 or -errno. */
int proc_comm(uint32_t pid, char *buf, size_t len);
/* Its real uid (/proc/<pid>/status). 0 or -errno. */
int proc_uid(uint32_t pid, uint32_t *uid);
/* Field `field` (1-based, as in proc(5)) of /proc/<pid>/stat; 0 when unknown. */
unsigned long long proc_stat(uint32_t pid, int field);
/* Its start time in boot-clock ns (field 22), 0 if unknown. */
uint64_t proc_start_ns(uint32_t pid);
/* A kernel thread (PF_KTHREAD)? */
int proc_is_kthread(uint32_t pid);
/* Its cgroup v2 path relative to the cgroup2 root ("/" for the root). 0 or -errno. */
int proc_cgroup(uint32_t pid, char *buf, size_t len);
/*
 * fn(inode, arg) for each socket it has open (/proc/<pid>/fd), until fn
 * returns non-zero (returned); 0 at the end, -errno when it cannot be read.
 */
int proc_each_socket(uint32_t pid, int (*fn)(uint64_t ino, void *arg), void *arg);
/* Does it have socket inode ino open? */
int proc_has_inode(uint32_t pid, uint64_t ino);

#endif
