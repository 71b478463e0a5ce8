/* SPDX-License-Identifier: BSD-3-Clause */
/* The file-system layer: the one place directories are made and small files written. */
#ifndef PG_FS_H
#define PG_FS_H

#include <stddef.h>
#include <sys/types.h>

/*
 * mkdir -p: make every missing directory of path, each new one with mode
 * (a directory that exists is left as it is). 0, or -errno; -ENOTDIR when a
 * component exists and is not a directory.
 */
int fs_mkdir_p(const char *path, mode_t mode);
/* fs_mkdir_p() of the directory that holds file. */
int fs_mkdir_parent(const char *file, mode_t mode);

/*
 * The whole of a small file, replaced at once: text goes to "<path>.tmp"
 * (made anew: O_EXCL | O_NOFOLLOW, so no link planted there is followed),
 * then rename(2) over path (a link at path is replaced, never written
 * through). Readers see the old file or the new one. 0 or -errno.
 */
int fs_write_file(const char *path, const char *text, size_t len, mode_t mode);

/*
 * The pid a pidfile names: > 0; 0 when there is none (yet): no file, empty;
 * -EINVAL when it holds anything but a pid (>= 2, surrounding blanks
 * allowed); -errno. A pidfile is written by the service, which may be
 * anyone: read without following a link, never blocking (a FIFO is
 * refused), at most 31 bytes.
 */
pid_t fs_read_pid(const char *path);

/* state_dir/<name> and log_dir/<name>: every file of an instance, named here. */
#define FS_LOCK "guard.lock"		/* one guard per instance (flock) */
#define FS_JOURNAL "events.jsonl"	/* the journal */
#define FS_PIDFILE "portguard.pid"	/* run --daemon */
#define FS_RESERVED "reserved_ports"	/* the ports this instance reserved (sysctl.c) */
#define FS_MAIN ".main"			/* <service>.main: its main pid and start time */
#define FS_NOTIFY ".notify"		/* <service>.notify: its NOTIFY_SOCKET name (svcnotify.h) */
#define FS_GUARD_LOG "portguard.log"	/* run --daemon's stderr, in log_dir */
#define FS_SERVICE_LOG ".log"		/* <service>.log, in log_dir */
/* dir/name (name may be "<service>" and a suffix above: fs_path(b, n, dir, svc, FS_MAIN)). */
const char *fs_path(char *buf, size_t len, const char *dir, const char *name,
		    const char *suffix);

#endif
