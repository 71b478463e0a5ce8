/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Conflict classification: what a claim of a guarded port is, judged
 * against the config and the claim table alone (pure functions; the
 * owner of a port and of a cgroup come in through struct judge_env, so
 * tests/unit/test_judge.c runs them without root, BPF or services).
 * watch.c applies the verdicts: it keeps each alert to once per socket
 * and emits the events.
 */
#ifndef PG_JUDGE_H
#define PG_JUDGE_H

#include <stdint.h>

#include "portguard.h"

struct claim;
struct claims;
struct pg_config;
struct pg_service;

struct judge_env {
	const struct pg_config *cfg;
	const struct claims *claims;
	uint64_t host_netns;
	struct pg_service *(*owner_of)(int port);		/* the service that owns port */
	struct pg_service *(*service_of)(uint64_t cgroup_id); /* its own cgroup or one below */
};

enum judge_verdict {
	J_NONE = 0,
	J_ROGUE,	/* a bind or listen outside the owner's cgroup (or on a reserved port) */
	J_NETNS,	/* a claim in another network namespace: reported, no conflict */
	J_CONFLICT,	/* the owner cannot have its port (a holder, or TIME_WAIT: no holder) */
	J_SHARED,	/* the owner and another listen at once (SO_REUSEPORT) */
};

/* cgid is s's cgroup or one below it (what the kernel's deny check allows too). */
int judge_is_owner(const struct judge_env *J, const struct pg_service *s, uint64_t cgid);
/* A bind attempt or a bind/listen of c (e): rogue or netns, or none. */
enum judge_verdict judge_claim(const struct judge_env *J, const struct claim *c,
			       const struct pg_event *e);
/* The owner's bind attempt c (e): a conflict with *holder, or none. */
enum judge_verdict judge_attempt(const struct judge_env *J, const struct claim *c,
				 const struct pg_event *e, const struct claim **holder);
/* c was released before it got its port (its bind failed): a conflict, *holder or NULL. */
enum judge_verdict judge_release(const struct judge_env *J, const struct claim *c,
				 const struct pg_event *e, const struct claim **holder);
/* A bind (UDP) or listen of c: shared with *holder (whose holders to name), or none. */
enum judge_verdict judge_shared(const struct judge_env *J, const struct claim *c,
				const struct pg_event *e, const struct claim **holder);
/* A listen() without bind() that got a guarded port, to be stopped (enforce mode)? */
int judge_autobind(const struct judge_env *J, const struct pg_event *e);
/* A holding claim on s's port in the host's namespace that is not s's (nor allowed). */
const struct claim *judge_stolen(const struct judge_env *J, const struct pg_service *s);

#endif
