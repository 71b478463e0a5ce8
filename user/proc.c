/* SPDX-License-Identifier: BSD-3-Clause */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"

ssize_t proc_read(uint32_t pid, const char *what, char *buf, size_t size)
{
	char path[64];
	size_t off = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/%s", pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (off < size - 1) {
		ssize_t n = read(fd, buf + off, size - 1 - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			close(fd);
			return n;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	buf[off] = 0;
	return (ssize_t)off;
}

int proc_comm(uint32_t pid, char *buf, size_t len)
{
	char tmp[64];
	ssize_t n = proc_read(pid, "comm", tmp, sizeof(tmp));

	if (n < 0)
		return (int)n;
	tmp[strcspn(tmp, "\n")] = 0;
	snprintf(buf, len, "%s", tmp);
	return 0;
}

int proc_uid(uint32_t pid, uint32_t *uid)
{
	char buf[4096], *p;
	ssize_t n = proc_read(pid, "status", buf, sizeof(buf));
	unsigned u;

	if (n < 0)
		return (int)n;
	p = strstr(buf, "\nUid:");
	if (!p || sscanf(p + 5, "%u", &u) != 1)
		return -EIO;
	*uid = u;
	return 0;
}

unsigned long long proc_stat(uint32_t pid, int field)
{
	char buf[1024], *p;
	int i;

	if (proc_read(pid, "stat", buf, sizeof(buf)) <= 0)
		return 0;
	p = strrchr(buf, ')'); /* comm (field 2) may hold spaces and parentheses */
	for (i = 2; i < field && p; i++)
		p = strchr(p + 1, ' ');
	return p && field > 2 ? strtoull(p + 1, NULL, 10) : 0;
}

uint64_t proc_start_ns(uint32_t pid)
{
	return proc_stat(pid, 22) * (1000000000ULL / sysconf(_SC_CLK_TCK));
}

int proc_is_kthread(uint32_t pid)
{
	/*
	 * field 9, flags: PF_KTHREAD. A process we cannot read is caught later:
	 * without its /proc/<pid>/fd it cannot be shown to hold the socket.
	 */
	return (proc_stat(pid, 9) & 0x00200000) != 0;
}

int proc_cgroup(uint32_t pid, char *buf, size_t len)
{
	char tmp[4096], *line, *nl;
	ssize_t n = proc_read(pid, "cgroup", tmp, sizeof(tmp));

	if (n < 0)
		return (int)n;
	for (line = tmp; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		if (strncmp(line, "0::", 3) || line[3] != '/')
			continue;
		return snprintf(buf, len, "%s", line + 3) >= (int)len ? -ENAMETOOLONG : 0;
	}
	return -ENOENT;
}

/* "socket:[12345]" -> 12345; 0 when the link is not a socket. */
static uint64_t proc_link_inode(int dfd, const char *name)
{
	unsigned long long ino;
	char link[64], *end;
	ssize_t n;

	n = readlinkat(dfd, name, link, sizeof(link) - 1);
	if (n < 9 || (size_t)n >= sizeof(link) - 1)
		return 0;
	link[n] = '\0';
	if (strncmp(link, "socket:[", 8) != 0)
		return 0;
	errno = 0;
	ino = strtoull(link + 8, &end, 10);
	if (errno || end == link + 8 || strcmp(end, "]") != 0)
		return 0;
	return ino;
}

int proc_each_socket(uint32_t pid, int (*fn)(uint64_t ino, void *arg), void *arg)
{
	struct dirent *de;
	char path[64];
	int dfd, rc = 0;
	uint64_t ino;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%u/fd", pid);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -ENOMEM;
	}
	while (!rc && (de = readdir(d)))
		if (de->d_name[0] != '.' && (de->d_type == DT_LNK || de->d_type == DT_UNKNOWN) &&
		    (ino = proc_link_inode(dfd, de->d_name)))
			rc = fn(ino, arg);
	closedir(d);
	return rc;
}

static int proc_is_inode(uint64_t ino, void *want)
{
	return ino == *(const uint64_t *)want;
}

int proc_has_inode(uint32_t pid, uint64_t ino)
{
	return proc_each_socket(pid, proc_is_inode, &ino) > 0;
}
