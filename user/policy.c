/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "policy.h"

int policy_ports(const struct pg_config *c, const struct policy_owner *owners,
		 struct pg_port *out)
{
	int p, i, n = 0;

	memset(out, 0, 65536 * sizeof(*out));
	for (p = 1; p < 65536; p++) {
		if (!c->guarded[p] && !c->protected_[p])
			continue;
		out[p].flags = (c->guarded[p] ? PG_PORT_GUARDED : 0) |
			       (c->protected_[p] ? PG_PORT_PROTECTED : 0);
		if (c->guarded[p] && c->mode == PG_MODE_ENFORCE &&
		    config_port_policy(c, p) != PG_ROGUE_ALERT)
			out[p].flags |= PG_PORT_DENY;
		n++;
	}
	for (i = 0; i < c->nsvc; i++) {
		int port = c->svc[i].port;

		if (port > 0 && port < 65536 && out[port].flags) {
			out[port].owner_cgroup = owners[i].cgroup_id;
			out[port].owner_level = owners[i].level;
		}
	}
	return n;
}

/* One rule as a map entry; 0, 1 when it was skipped, -E2BIG. */
static int policy_rule(const struct pg_service_conf *sc, const struct pg_allow *a,
		       const struct policy_host *h, struct pg_allow_key *key, uint32_t *val)
{
	int err = 0;

	memset(key, 0, sizeof(*key));
	key->port = sc->port;
	*val = 0;
	if (a->kind == PG_ALLOW_KIND_UID) {
		key->kind = PG_ALLOW_UID;
		key->value = a->uid;
	} else if (a->kind == PG_ALLOW_KIND_CGROUP) {
		key->kind = PG_ALLOW_CGROUP;
		key->value = h->cgroup_id(a->path);
		err = key->value ? 0 : -ENOENT;
	} else {
		uint64_t ino = 0;

		key->kind = PG_ALLOW_EXE;
		err = h->exe(a->path, &ino, val);
		key->value = ino;
	}
	if (err && h->skipped)
		h->skipped(sc->name, a, err);
	return err ? 1 : 0;
}

int policy_allow(const struct pg_config *c, const struct policy_host *h,
		 struct pg_allow_key *keys, uint32_t *vals, int max)
{
	int i, k, n = 0;

	for (i = 0; i < c->nsvc; i++) {
		const struct pg_service_conf *sc = &c->svc[i];

		for (k = 0; sc->port && k < sc->nallow; k++) {
			if (n == max)
				return -E2BIG;
			if (policy_rule(sc, &sc->allow[k], h, &keys[n], &vals[n]) == 0)
				n++;
		}
	}
	return n;
}

uint32_t policy_cg_level(const char *root, const char *path)
{
	size_t rl = strlen(root);
	uint32_t n = 0;

	if (strncmp(path, root, rl))
		return 0;
	for (path += rl; *path; path++)
		n += *path == '/';
	return n;
}

const char *policy_limits(const struct pg_config *c, char *buf, size_t len)
{
	int p, i, n = 0, rules = 0;

	for (p = 1; p < 65536; p++)
		n += c->guarded[p] || c->protected_[p];
	for (i = 0; i < c->nsvc; i++)
		rules += c->svc[i].port ? c->svc[i].nallow : 0;
	if (n > PG_PORTS_MAX)
		snprintf(buf, len, "%s: %d guarded and protected ports: the kernel's map holds %d",
			 c->path, n, PG_PORTS_MAX);
	else if (rules > PG_ALLOW_MAX)
		snprintf(buf, len, "%s: %d allow rules: the kernel's map holds %d", c->path, rules,
			 PG_ALLOW_MAX);
	else
		return NULL;
	return buf;
}
