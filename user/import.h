/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `portguard import supervisord FILE...`: a portguard.conf from a
 * supervisord config. Its [program:x] sections (and the files its [include]
 * names) become [service:x] sections: command, directory, user,
 * environment, autorestart, startsecs, stopsignal, stopwaitsecs, priority
 * and numprocs are mapped (portguard.conf(5) has the table); anything else
 * is a comment in the output, never dropped silently. When that
 * supervisord runs, each program's listening ports are found from its
 * processes (SUPERVISOR_PROCESS_NAME in their environment, their sockets
 * by sock_diag) and become the service's port and the guarded set.
 */
#ifndef PG_IMPORT_H
#define PG_IMPORT_H

#include <stdio.h>

/*
 * Write the config for files[0..n) to out. 0, or -1 with one
 * "file:line: problem" line per error on err (a file that cannot be read,
 * a line that is not INI); nothing is written then.
 */
int import_supervisord(const char *const *files, int n, FILE *out, FILE *err);

#endif
