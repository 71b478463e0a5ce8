/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "claims.h"
#include "config.h"
#include "status.h"

const char *port_state_name(enum port_state s)
{
	static const char *const names[] = {
		[PORT_FREE] = "free",	    [PORT_OWNED] = "owned", [PORT_ALLOWED] = "allowed",
		[PORT_SHARED] = "shared", [PORT_ROGUE] = "rogue", [PORT_PROTECTED] = "protected",
	};

	return (unsigned)s <= PORT_PROTECTED ? names[s] : "?";
}

int port_state_ok(enum port_state s)
{
	return s == PORT_FREE || s == PORT_OWNED || s == PORT_ALLOWED || s == PORT_PROTECTED;
}

int status_claim_holders(struct ev_holder *out, const struct claim *c, status_svc_fn svc_of)
{
	int i;

	for (i = 0; i < c->nholders && i < EV_HOLDERS; i++) {
		const struct claim_holder *h = &c->holders[i];
		const char *svc = svc_of ? svc_of(h->cgroup_id) : NULL;
		struct ev_holder *o = &out[i];

		memset(o, 0, sizeof(*o));
		o->pid = h->pid;
		o->uid = h->uid;
		memcpy(o->comm, h->comm, sizeof(o->comm));
		if (svc)
			snprintf(o->service, sizeof(o->service), "%s", svc);
		o->proto = c->proto;
		o->family = c->family;
		memcpy(o->addr, c->addr, sizeof(o->addr));
	}
	return i;
}

void status_ev_holders(struct pg_ev *ev, const struct claim *c, status_svc_fn svc_of)
{
	ev->has_holders = 1;
	ev->nholders = c ? status_claim_holders(ev->holders, c, svc_of) : 0;
}

static enum port_state status_port_state(const struct pg_config *cfg, int port, int n_owner,
					 int n_other, int n_allowed)
{
	if (cfg->protected_[port])
		return PORT_PROTECTED;
	if (!n_owner && !n_other && !n_allowed)
		return PORT_FREE;
	if (!n_other)
		return n_owner ? PORT_OWNED : PORT_ALLOWED;
	return n_owner ? PORT_SHARED : PORT_ROGUE;
}

/* The holders of port p in netns into row (grown as needed); counts who they are. */
static int status_port_row(struct st_port *row, const struct claims *t, uint64_t netns,
			   status_svc_fn svc_of, int n[3])
{
	struct ev_holder hs[EV_HOLDERS];
	const struct claim *c;
	int j, k, cap = 0;

	for (c = claims_port_first(t, row->port); c; c = claims_port_next(t, c)) {
		if (c->netns != netns || !claim_is_holding(c))
			continue;
		k = status_claim_holders(hs, c, svc_of);
		for (j = 0; j < k; j++) {
			if (row->nholders == cap) {
				struct ev_holder *nh = realloc(row->holders,
							       (cap + EV_HOLDERS) * sizeof(*nh));

				if (!nh)
					return -ENOMEM;
				row->holders = nh;
				cap += EV_HOLDERS;
			}
			hs[j].allowed = c->allowed;
			if (row->owner && hs[j].service[0] && !strcmp(hs[j].service, row->owner))
				n[0]++;
			else if (c->allowed)
				n[2]++;
			else
				n[1]++;
			row->holders[row->nholders++] = hs[j];
		}
		if (!c->nholders)
			n[1]++; /* held, by nobody we can name */
	}
	return 0;
}

int status_ports(struct status *st, const struct pg_config *c, const struct claims *t,
		 uint64_t netns, status_svc_fn svc_of)
{
	int port, n = 0;

	for (port = 1; port < 65536; port++)
		n += c->guarded[port] || c->protected_[port];
	st->ports = calloc(n ? n : 1, sizeof(*st->ports));
	if (!st->ports)
		return -ENOMEM;
	for (port = 1; port < 65536; port++) {
		struct st_port *row = &st->ports[st->nports];
		const struct pg_service_conf *owner;
		int count[3] = { 0 }; /* the owner's, others', allowed ones' */

		if (!c->guarded[port] && !c->protected_[port])
			continue;
		owner = config_port_owner(c, port);
		row->port = port;
		row->owner = owner ? owner->name : NULL;
		st->nports++;
		if (status_port_row(row, t, netns, svc_of, count))
			return -ENOMEM;
		row->state = status_port_state(c, port, count[0], count[1], count[2]);
	}
	return 0;
}

struct st_port *status_port(const struct status *st, int port)
{
	int i;

	for (i = 0; i < st->nports; i++)
		if (st->ports[i].port == port)
			return &st->ports[i];
	return NULL;
}

void status_free(struct status *st)
{
	int i;

	for (i = 0; i < st->nports; i++)
		free(st->ports[i].holders);
	free(st->ports);
	st->ports = NULL;
	st->nports = 0;
}
