/* SPDX-License-Identifier: BSD-3-Clause */
/* The control socket's requests: a table of {cmd, needs_root, fn}. */
#ifndef PG_REQUEST_H
#define PG_REQUEST_H

struct ctl_client;
struct ctl_request;
struct guard_ctx;

/* shutdown(c): stop every service, answer c when done (1), or refuse (0, answered). */
void request_init(struct guard_ctx *x, int (*shutdown)(struct ctl_client *c));
/* control.c's handler: 1 keeps c (it is answered later, or follows), 0 closes it. */
int request_handle(struct ctl_client *c, const struct ctl_request *req);

#endif
