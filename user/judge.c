/* SPDX-License-Identifier: BSD-3-Clause */
#include <netinet/in.h>
#include <stddef.h>

#include "claims.h"
#include "config.h"
#include "judge.h"
#include "supervise.h"

int judge_is_owner(const struct judge_env *J, const struct pg_service *s, uint64_t cgid)
{
	return s && cgid && (s->cgroup_id == cgid || J->service_of(cgid) == s);
}

/* Does claim o, another than c, hold c's port, protocol and namespace at c's address? */
static int judge_rival(const struct claim *c, const struct claim *o)
{
	return o != c && o->port == c->port && o->proto == c->proto && o->netns == c->netns &&
	       o->state >= CLAIM_BOUND && claim_addr_overlap(c, o);
}

/* A claim of someone else than owner that overlaps c (holding ones only: listeners_only). */
static const struct claim *judge_other_holder(const struct judge_env *J, const struct claim *c,
					      const struct pg_service *owner, int listeners_only)
{
	const struct claim *o;

	for (o = claims_port_first(J->claims, c->port); o; o = claims_port_next(J->claims, o)) {
		if (!judge_rival(c, o) || (listeners_only && !claim_is_holding(o)))
			continue;
		if (!judge_is_owner(J, owner, o->cgroup_id))
			return o;
	}
	return NULL;
}

/* Does a bound socket of the owner itself overlap c (its own bind was in the way)? */
static int judge_owner_holds(const struct judge_env *J, const struct claim *c,
			     const struct pg_service *owner)
{
	const struct claim *o;

	for (o = claims_port_first(J->claims, c->port); o; o = claims_port_next(J->claims, o))
		if (judge_rival(c, o) && judge_is_owner(J, owner, o->cgroup_id))
			return 1;
	return 0;
}

/* Does the owner listen on c's port through another socket than c? */
static int judge_owner_listens(const struct judge_env *J, const struct claim *c,
			       const struct pg_service *owner)
{
	const struct claim *x;

	for (x = claims_port_first(J->claims, c->port); x; x = claims_port_next(J->claims, x)) {
		if (x != c && x->proto == c->proto && claim_is_holding(x) &&
		    judge_is_owner(J, owner, x->cgroup_id) && x->netns == c->netns)
			return 1;
	}
	return 0;
}

enum judge_verdict judge_claim(const struct judge_env *J, const struct claim *c,
			       const struct pg_event *e)
{
	if (!J->cfg->guarded[e->port])
		return J_NONE;
	if (e->netns != J->host_netns)
		return J_NETNS;
	if (judge_is_owner(J, J->owner_of(e->port), e->cgroup_id) || c->allowed)
		return J_NONE;
	return J_ROGUE;
}

enum judge_verdict judge_attempt(const struct judge_env *J, const struct claim *c,
				 const struct pg_event *e, const struct claim **holder)
{
	struct pg_service *owner = J->owner_of(e->port);

	*holder = judge_other_holder(J, c, owner, 0);
	/* two SO_REUSEPORT sockets may share the port: not a conflict */
	if (!*holder || ((*holder)->reuseport && c->reuseport))
		return J_NONE;
	return J_CONFLICT;
}

enum judge_verdict judge_release(const struct judge_env *J, const struct claim *c,
				 const struct pg_event *e, const struct claim **holder)
{
	struct pg_service *owner = J->owner_of(e->port);

	*holder = NULL;
	if (e->child || !judge_is_owner(J, owner, c->cgroup_id) || c->netns != J->host_netns)
		return J_NONE;
	*holder = judge_other_holder(J, c, owner, 0);
	/* the service's own socket in the way (a second bind of its own): not a conflict */
	return *holder || !judge_owner_holds(J, c, owner) ? J_CONFLICT : J_NONE;
}

enum judge_verdict judge_shared(const struct judge_env *J, const struct claim *c,
				const struct pg_event *e, const struct claim **holder)
{
	struct pg_service *owner = J->owner_of(e->port);
	int mine = judge_is_owner(J, owner, c->cgroup_id);
	const struct claim *o;

	*holder = NULL;
	if (!J->cfg->guarded[e->port] || e->netns != J->host_netns || c->allowed || !owner)
		return J_NONE;
	o = judge_other_holder(J, c, mine ? owner : NULL, 1);
	if (!(mine || judge_owner_listens(J, c, owner)) || (mine && !o))
		return J_NONE;
	*holder = mine ? o : c;
	return J_SHARED;
}

int judge_autobind(const struct judge_env *J, const struct pg_event *e)
{
	const struct pg_config *cfg = J->cfg;

	return e->child == 1 && e->netns == J->host_netns && cfg->guarded[e->port] &&
	       cfg->mode == PG_MODE_ENFORCE && config_port_policy(cfg, e->port) != PG_ROGUE_ALERT &&
	       !judge_is_owner(J, J->owner_of(e->port), e->cgroup_id);
}

const struct claim *judge_stolen(const struct judge_env *J, const struct pg_service *s)
{
	const struct claim *c;

	for (c = claims_port_first(J->claims, s->conf->port); c; c = claims_port_next(J->claims, c)) {
		if (c->netns == J->host_netns && claim_is_holding(c) &&
		    !judge_is_owner(J, s, c->cgroup_id) && !c->allowed) /* allowed: never flushed */
			return c;
	}
	return NULL;
}
