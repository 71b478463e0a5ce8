/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"

/* mkdir(2) of one directory; an existing directory (not another file) is fine. */
static int fs_mkdir_one(const char *dir, mode_t mode)
{
	struct stat st;

	if (mkdir(dir, mode) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (stat(dir, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int fs_mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX], *p;
	int err;

	if (!path || !*path)
		return -EINVAL;
	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (p[-1] != '/') { /* skip the empty components of "a//b" and "a/" */
			char c = *p;

			*p = '\0';
			err = fs_mkdir_one(buf, mode);
			if (err)
				return err;
			*p = c;
		}
		if (*p == '\0')
			return 0;
	}
}

int fs_mkdir_parent(const char *file, mode_t mode)
{
	char dir[PATH_MAX], *slash;

	if (strlen(file) >= sizeof(dir))
		return -ENAMETOOLONG;
	strcpy(dir, file);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0; /* a relative name in the working directory, or a file in / */
	*slash = '\0';
	return fs_mkdir_p(dir, mode);
}

int fs_write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		err = errno ? -errno : -EIO;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

const char *fs_path(char *buf, size_t len, const char *dir, const char *name, const char *suffix)
{
	snprintf(buf, len, "%s/%s%s", dir, name, suffix ? suffix : "");
	return buf;
}
