/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `status` of the running guard, gathered from the modules that know each
 * part (watch: claims and denials; supervise: services; emit: recent
 * conflicts; the loader: kernel counters), and, with no guard, from one
 * sock_diag snapshot (the CLI's).
 */
#ifndef PG_SNAPSHOT_H
#define PG_SNAPSHOT_H

struct guard_ctx;
struct pg_config;
struct status;

void snapshot_init(struct guard_ctx *x);
/* st: the guard's status now (status_free after). 0 or -errno. */
int snapshot_guard(struct status *st);
/* fn(port, state name, arg) for each guarded and protected port, as `status` judges it now. */
void snapshot_each_port(void (*fn)(int port, const char *state, void *arg), void *arg);
/* st: no guard runs; the port table from one sock_diag dump. 0 or -errno. */
int snapshot_no_guard(struct status *st, const struct pg_config *c);
/* The service manager's one-line STATUS= (systemctl status), kept current. */
void snapshot_notify(void);

#endif
