/* SPDX-License-Identifier: BSD-3-Clause */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
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

pid_t fs_read_pid(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	char buf[32], *p, *end;
	struct stat st;
	ssize_t n;
	long v;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	for (p = buf; isspace((unsigned char)*p); p++)
		;
	if (!*p)
		return 0; /* being written */
	errno = 0;
	v = strtol(p, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	if (end == p || *end || errno || v < 2 || v > INT_MAX || n == (ssize_t)sizeof(buf) - 1)
		return -EINVAL;
	return (pid_t)v;
}
