/* SPDX-License-Identifier: BSD-3-Clause */
/* The file-system layer: the one place directories are made. */
#ifndef PG_FS_H
#define PG_FS_H

#include <sys/types.h>

/*
 * mkdir -p: make every missing directory of path, each new one with mode
 * (a directory that exists is left as it is). 0, or -errno; -ENOTDIR when a
 * component exists and is not a directory.
 */
int fs_mkdir_p(const char *path, mode_t mode);
/* fs_mkdir_p() of the directory that holds file. */
int fs_mkdir_parent(const char *file, mode_t mode);

#endif
