/* SPDX-License-Identifier: BSD-3-Clause */
/* cgroup v2 helpers: find the mount, make/kill/remove groups, list members. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cgroup.h"
#include "proc.h"
#include "fs.h"

static char cg_mnt[PATH_MAX];
static int cg_mnt_done;

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void cg_unescape(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = '\0';
}

/* "36 25 0:31 / /sys/fs/cgroup rw,... shared:9 - cgroup2 cgroup2 rw" */
static int cg_parse_mountinfo_line(char *line, char *out, size_t len)
{
	char *sep, *root, *mnt, *save = NULL;

	sep = strstr(line, " - ");
	if (!sep || strncmp(sep + 3, "cgroup2 ", 8) != 0)
		return -ENOENT;
	*sep = '\0';
	if (!strtok_r(line, " ", &save) || !strtok_r(NULL, " ", &save) ||
	    !strtok_r(NULL, " ", &save))
		return -EINVAL;
	root = strtok_r(NULL, " ", &save);
	mnt = strtok_r(NULL, " ", &save);
	/* a bind mount of a sub-tree would give wrong paths for /proc/PID/cgroup */
	if (!root || !mnt || strcmp(root, "/") != 0)
		return -ENOENT;
	cg_unescape(mnt);
	if (strlen(mnt) >= len)
		return -ENAMETOOLONG;
	strcpy(out, mnt);
	return 0;
}

const char *cg_root(void)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	if (cg_mnt_done)
		return cg_mnt[0] ? cg_mnt : NULL;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return NULL;
	while (getline(&line, &cap, f) > 0) {
		if (cg_parse_mountinfo_line(line, cg_mnt, sizeof(cg_mnt)) == 0)
			break;
		cg_mnt[0] = '\0';
	}
	free(line);
	fclose(f);
	cg_mnt_done = 1;
	return cg_mnt[0] ? cg_mnt : NULL;
}

uint64_t cg_id(const char *abspath)
{
	struct stat st;

	if (stat(abspath, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	return (uint64_t)st.st_ino;
}

int cg_mkdir(const char *abspath)
{
	const char *root = cg_root();
	size_t rlen;

	if (!root)
		return -ENOENT;
	rlen = strlen(root);
	if (strncmp(abspath, root, rlen) != 0 || abspath[rlen] != '/')
		return -EINVAL; /* only below the cgroup2 root */
	return fs_mkdir_p(abspath, 0755);
}

static int cg_write(const char *abspath, const char *file, const char *val)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd, err = 0;

	if (snprintf(path, sizeof(path), "%s/%s", abspath, file) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	if (n < 0)
		err = -errno;
	close(fd);
	return err;
}

/*
 * Before cgroup.kill (Linux 5.14): freeze the subtree (no new forks can run),
 * SIGKILL every member, thaw (a fatal signal ends a frozen task too). A
 * member that forked just before the freeze shows up on the next pass.
 */
static int cg_kill_frozen(const char *abspath)
{
	pid_t *pids = NULL;
	int n, i, pass, err = cg_write(abspath, "cgroup.freeze", "1");

	if (err < 0)
		return err;
	for (pass = 0; pass < 8; pass++) {
		n = cg_procs(abspath, &pids);
		if (n <= 0)
			break;
		for (i = 0; i < n; i++)
			kill(pids[i], SIGKILL); /* frozen: still that process, not a reused pid */
		free(pids);
		pids = NULL;
	}
	free(pids);
	cg_write(abspath, "cgroup.freeze", "0");
	return n < 0 ? n : 0;
}

int cg_kill(const char *abspath)
{
	int err = cg_write(abspath, "cgroup.kill", "1");

	return err == -ENOENT || err == -EACCES ? cg_kill_frozen(abspath) : err;
}

static int cg_push(pid_t **pids, int *n, int *cap, pid_t pid)
{
	if (*n == *cap) {
		int ncap = *cap ? *cap * 2 : 16;
		pid_t *np = realloc(*pids, ncap * sizeof(**pids));

		if (!np)
			return -ENOMEM;
		*pids = np;
		*cap = ncap;
	}
	(*pids)[(*n)++] = pid;
	return 0;
}

static int cg_procs_one(const char *dir, pid_t **pids, int *n, int *cap)
{
	char path[PATH_MAX];
	struct dirent *de;
	long pid;
	DIR *d;
	FILE *f;
	int err = 0;

	if (snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (!err && fscanf(f, "%ld", &pid) == 1)
		err = cg_push(pids, n, cap, (pid_t)pid);
	fclose(f);
	if (err)
		return err;
	d = opendir(dir);
	if (!d)
		return -errno;
	while (!err && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		err = cg_procs_one(path, pids, n, cap);
		if (err == -ENOENT) /* removed under us */
			err = 0;
	}
	closedir(d);
	return err;
}

int cg_procs(const char *abspath, pid_t **pids)
{
	int n = 0, cap = 0, err;

	*pids = NULL;
	err = cg_procs_one(abspath, pids, &n, &cap);
	if (err < 0) {
		free(*pids);
		*pids = NULL;
		return err;
	}
	return n;
}

int cg_populated(const char *abspath)
{
	char path[PATH_MAX], key[32];
	int val, ret = -ENODATA;
	FILE *f;

	if (snprintf(path, sizeof(path), "%s/cgroup.events", abspath) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fscanf(f, "%31s %d", key, &val) == 2) {
		if (strcmp(key, "populated") == 0) {
			ret = val ? 1 : 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

int cg_remove(const char *abspath)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	d = opendir(abspath);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", abspath, de->d_name) >= (int)sizeof(path))
			continue;
		cg_remove(path);
	}
	closedir(d);
	return rmdir(abspath) < 0 ? -errno : 0;
}

int cg_path_of_id(uint64_t id, char *buf, size_t len)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = { .fh = { .handle_bytes = sizeof(uint64_t), .handle_type = 0xfe /* FILEID_KERNFS */ },
		.id = id };
	char link[64];
	int root, fd;
	ssize_t n;

	if (!cg_root() || !id)
		return -ENOENT;
	root = open(cg_root(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -errno;
	fd = open_by_handle_at(root, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(root);
	if (fd < 0)
		return -errno;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

/* systemd (>= 251) marks a cgroup it delegated with this xattr set to "1". */
static int cg_delegated(const char *abspath)
{
	char v[8];
	ssize_t n = getxattr(abspath, "trusted.delegate", v, sizeof(v) - 1);

	if (n < 0)
		n = getxattr(abspath, "user.delegate", v, sizeof(v) - 1);
	return n == 1 && v[0] == '1';
}

int cg_instance(const char *name, char *buf, size_t len, int *delegated, const char **why)
{
	char own[PATH_MAX], leaf[PATH_MAX + 16], pid[32], *slash;
	const char *root = cg_root();
	int err, fd;

	*delegated = 0;
	*why = NULL;
	if (!root)
		return -ENOENT;
	if (cg_of_pid(getpid(), own, sizeof(own)) == 0) {
		slash = strrchr(own, '/');
		if (!cg_delegated(own) && slash && !strcmp(slash, "/guard")) {
			*slash = 0; /* already in the leaf: a restart of the guard's own */
			if (!cg_delegated(own))
				*slash = '/';
		}
		if (cg_delegated(own)) {
			if (snprintf(leaf, sizeof(leaf), "%s/guard", own) >= (int)sizeof(leaf) ||
			    snprintf(buf, len, "%s", own) >= (int)len)
				return -ENAMETOOLONG;
			if ((err = cg_mkdir(leaf)) < 0)
				return err;
			snprintf(leaf + strlen(leaf), sizeof(leaf) - strlen(leaf), "/cgroup.procs");
			snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
			fd = open(leaf, O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, pid, strlen(pid)) < 0) {
				err = -errno;
				if (fd >= 0)
					close(fd);
				return err;
			}
			close(fd);
			*delegated = 1;
			*why = "cgroups: in the delegated unit's own tree (the guard in guard/, each "
			       "service beside it)";
			return 0;
		}
	}
	if (snprintf(buf, len, "%s/portguard-%s", root, name) >= (int)len)
		return -ENAMETOOLONG;
	if (access("/run/systemd/system", F_OK) == 0)
		*why = "cgroups: not in a delegated unit (start portguard@NAME.service for "
		       "systemd's tree): the services go beside systemd's slices";
	return 0;
}

int cg_of_pid(pid_t pid, char *buf, size_t len)
{
	const char *root = cg_root();
	char rel[PATH_MAX];
	int err;

	if (!root)
		return -ENOENT;
	if ((err = proc_cgroup((uint32_t)pid, rel, sizeof(rel))))
		return err;
	/* the root cgroup is "/": do not append it */
	if (snprintf(buf, len, "%s%s", root, strcmp(rel, "/") ? rel : "") >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

uint64_t cg_id_of_pid(uint32_t pid)
{
	char path[PATH_MAX];

	return cg_of_pid((pid_t)pid, path, sizeof(path)) ? 0 : cg_id(path);
}

int cg_pid_within(pid_t pid, const char *abspath)
{
	char path[PATH_MAX];
	size_t len = strlen(abspath);

	if (cg_of_pid(pid, path, sizeof(path)) < 0)
		return 0;
	return strncmp(path, abspath, len) == 0 && (path[len] == '\0' || path[len] == '/');
}
