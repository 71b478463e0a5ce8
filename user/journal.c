/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs.h"
#include "journal.h"

#define JOURNAL_KEEP 3

static int journal_fd = -1;
static char journal_path[4096];
static uint64_t journal_max, journal_size;
static unsigned long journal_failed; /* lines not written (a metric) */

int journal_open(const char *path, uint64_t max_bytes)
{
	struct stat st;
	int err = fs_mkdir_parent(path, 0750);

	if (err)
		return err;
	snprintf(journal_path, sizeof(journal_path), "%s", path);
	journal_max = max_bytes;
	journal_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (journal_fd < 0)
		return -errno;
	journal_size = fstat(journal_fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	return 0;
}

static void journal_rotate(void)
{
	char from[4200], to[4200];
	int i;

	for (i = JOURNAL_KEEP - 1; i >= 1; i--) {
		snprintf(from, sizeof(from), "%s.%d", journal_path, i);
		snprintf(to, sizeof(to), "%s.%d", journal_path, i + 1);
		rename(from, to);
	}
	snprintf(to, sizeof(to), "%s.1", journal_path);
	if (rename(journal_path, to) < 0)
		return;
	close(journal_fd);
	journal_fd = open(journal_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	journal_size = 0;
}

int journal_write(const char *line)
{
	size_t n = strlen(line);
	struct iovec iov[2] = { { (void *)line, n }, { "\n", 1 } };
	ssize_t w;

	if (journal_fd >= 0 && journal_max && journal_size + n + 1 > journal_max)
		journal_rotate();
	if (journal_fd < 0 && journal_path[0]) /* a rotation that could not reopen: again */
		journal_fd = open(journal_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (journal_fd < 0)
		return -EBADF;
	/* One writev on an O_APPEND fd: a line is never interleaved or torn. */
	w = writev(journal_fd, iov, 2);
	if (w != (ssize_t)(n + 1)) {
		int err = w < 0 ? -errno : -ENOSPC; /* a short write: the disk filled up */

		/* what a short write put there goes: the next line must not join a torn one */
		if (w > 0 && ftruncate(journal_fd, (off_t)journal_size) < 0)
			journal_size += (uint64_t)w;
		journal_failed++;
		return err;
	}
	journal_size += n + 1;
	return 0;
}

unsigned long journal_failures(void)
{
	return journal_failed;
}

void journal_close(void)
{
	if (journal_fd >= 0)
		close(journal_fd);
	journal_fd = -1;
}
