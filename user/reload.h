/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SIGHUP or `portguard reload`: all of the new file, or nothing. A valid
 * file's unchanged services keep running; changed and removed ones stop,
 * then the kernel's maps are rewritten in place and the new ones start.
 */
#ifndef PG_RELOAD_H
#define PG_RELOAD_H

struct ctl_client;
struct guard_ctx;

void reload_init(struct guard_ctx *x);
/*
 * Start a reload for client c (NULL: SIGHUP); its answer comes when it
 * ends. While a restart or another reload runs, a client is told to try
 * again, and a SIGHUP is kept and done once that ends (reload_kick).
 */
void reload_start(struct ctl_client *c);
/* A job ended: run the SIGHUP that came meanwhile, if any. */
void reload_kick(void);
/* Is c the client a reload in flight will answer? */
int reload_answers(const struct ctl_client *c);
/* The kernel's `ports` and `allow` maps from the config in force (policy.c). 0 or -errno. */
int reload_apply_policy(void);
/* Free a new config still waiting (the guard exits mid-reload). */
void reload_close(void);

#endif
