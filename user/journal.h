/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The journal, state_dir/events.jsonl: one JSON line per event, written
 * before anything else sees the event. Past max_bytes the file is rotated:
 * events.jsonl -> .1 -> .2 -> .3 (the oldest goes).
 */
#ifndef PG_JOURNAL_H
#define PG_JOURNAL_H

#include <stdint.h>

/* Open for appending (mkdir -p its directory). 0 or -errno. */
int journal_open(const char *path, uint64_t max_bytes);
/*
 * Append line and a newline in one write; 0 or -errno. A write the disk
 * has no room for (ENOSPC, EDQUOT, EIO) writes nothing: a short write is
 * cut off again, so the file never holds a torn line. Counted.
 */
int journal_write(const char *line);
/* Lines journal_write() could not write, since the start. */
unsigned long journal_failures(void);
void journal_close(void);

#endif
