/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "claims.h"
#include "config.h"
#include "diag.h"
#include "events.h"
#include "report.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

uint64_t report_netns_cookie(void)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) < 0)
		cookie = 0;
	close(fd);
	return cookie;
}

int report_claims_from_diag(struct claims *t, const struct diag_result *r, uint64_t netns)
{
	int i, j;

	for (i = 0; i < r->n; i++) {
		const struct diag_sock *d = &r->socks[i];
		struct claim *c = claims_upsert(t, d->cookie);

		if (!c)
			return -ENOMEM;
		c->netns = netns;
		c->port = d->port;
		c->family = d->family;
		c->proto = d->proto;
		memcpy(c->addr, d->addr, sizeof(c->addr));
		c->state = d->proto == IPPROTO_TCP ? CLAIM_LISTEN : CLAIM_BOUND;
		c->nholders = 0;
		for (j = 0; j < d->nholders && j < CLAIM_MAX_HOLDERS; j++) {
			struct claim_holder h = { .pid = d->holders[j].pid,
						  .uid = d->holders[j].uid,
						  .cgroup_id = d->holders[j].cgroup_id };

			memcpy(h.comm, d->holders[j].comm, sizeof(h.comm));
			h.comm[sizeof(h.comm) - 1] = 0;
			claim_add_holder(c, &h);
		}
		if (c->nholders)
			c->cgroup_id = c->holders[0].cgroup_id;
	}
	return 0;
}

static const char *report_port_state(const struct pg_config *cfg, int port, int n_owner, int n_other,
				     int n_allowed)
{
	if (cfg->protected_[port])
		return "protected";
	if (!n_owner && !n_other && !n_allowed)
		return "free";
	if (!n_other)
		return n_owner ? "owned" : "allowed"; /* allowed: only who an allow rule lets */
	return n_owner ? "shared" : "rogue";
}

json_object *report_ports(const struct pg_config *cfg, struct claims *t, uint64_t netns,
			  report_svc_fn svc_of)
{
	json_object *arr = json_object_new_array();
	int port, i, j;

	for (port = 1; port < 65536; port++) {
		const struct pg_service_conf *owner;
		json_object *o, *holders;
		int n_owner = 0, n_other = 0, n_allowed = 0;

		if (!cfg->guarded[port] && !cfg->protected_[port])
			continue;
		owner = config_port_owner(cfg, port);
		holders = json_object_new_array();
		for (i = 0; i < t->n; i++) {
			struct claim *c = &t->v[i];
			json_object *hs;

			if (c->port != port || c->netns != netns || !claim_is_holding(c))
				continue;
			hs = events_claim_holders(c, svc_of);
			for (j = 0; j < (int)json_object_array_length(hs); j++) {
				json_object *h = json_object_array_get_idx(hs, j), *s;
				const char *sn;

				json_object_object_get_ex(h, "service", &s);
				sn = s ? json_object_get_string(s) : NULL;
				if (owner && sn && strcmp(sn, owner->name) == 0)
					n_owner++;
				else if (c->allowed)
					n_allowed++;
				else
					n_other++;
				if (c->allowed)
					json_object_object_add(h, "allowed", json_object_new_boolean(1));
				json_object_array_add(holders, json_object_get(h));
			}
			if (!c->nholders)
				n_other++; /* held, by nobody we can name */
			json_object_put(hs);
		}
		o = json_object_new_object();
		json_object_object_add(o, "port", json_object_new_int(port));
		json_object_object_add(o, "state", json_object_new_string(
						   report_port_state(cfg, port, n_owner, n_other,
								     n_allowed)));
		json_object_object_add(o, "owner", owner ? json_object_new_string(owner->name) : NULL);
		json_object_object_add(o, "holders", holders);
		json_object_array_add(arr, o);
	}
	return arr;
}

int report_ports_ok(json_object *ports)
{
	int i;

	for (i = 0; i < (int)json_object_array_length(ports); i++) {
		json_object *st;
		const char *s;

		json_object_object_get_ex(json_object_array_get_idx(ports, i), "state", &st);
		s = json_object_get_string(st);
		if (strcmp(s, "free") && strcmp(s, "owned") && strcmp(s, "protected") &&
		    strcmp(s, "allowed"))
			return 0;
	}
	return 1;
}

static const char *jstr(json_object *o, const char *key, const char *dflt)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v)
		return dflt;
	return json_object_get_string(v);
}

static int64_t jint(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	return json_object_get_int64(v);
}

static void report_print_holders(FILE *f, json_object *holders)
{
	int i, n = json_object_array_length(holders);

	if (!n)
		fprintf(f, "-");
	for (i = 0; i < n; i++) {
		json_object *h = json_object_array_get_idx(holders, i);

		fprintf(f, "%s%lld/%s uid %lld %s %s%s%s", i ? ", " : "", (long long)jint(h, "pid"),
			jstr(h, "comm", "?"), (long long)jint(h, "uid"), jstr(h, "proto", "?"),
			jstr(h, "addr", "?"), jstr(h, "service", NULL) ? " service " : "",
			jstr(h, "service", ""));
	}
}

void report_print_status(FILE *f, json_object *st)
{
	json_object *g, *svcs, *ports, *conf;
	int i;

	json_object_object_get_ex(st, "guard", &g);
	if (g && json_object_get_boolean(json_object_object_get(g, "running")))
		fprintf(f, "guard %s: running, pid %lld, mode %s, up %llds, events %lld, lost %lld\n",
			jstr(g, "name", "?"), (long long)jint(g, "pid"), jstr(g, "mode", "?"),
			(long long)jint(g, "uptime_s"), (long long)jint(g, "events"),
			(long long)jint(g, "lost"));
	else
		fprintf(f, "guard %s: NOT RUNNING (port table from one sock_diag snapshot)\n",
			g ? jstr(g, "name", "?") : "?");
	if (json_object_object_get_ex(st, "services", &svcs) && json_object_array_length(svcs)) {
		fprintf(f, "\n%-26s %-9s %8s %6s %-6s %8s %s\n", "SERVICE", "STATE", "PID", "PORT",
			"LISTEN", "UPTIME", "RESTARTS");
		for (i = 0; i < (int)json_object_array_length(svcs); i++) {
			json_object *s = json_object_array_get_idx(svcs, i);
			char port[16] = "-";

			if (jint(s, "port"))
				snprintf(port, sizeof(port), "%lld", (long long)jint(s, "port"));
			fprintf(f, "%-26s %-9s %8lld %6s %-6s %7llds %lld\n", jstr(s, "name", "?"),
				jstr(s, "state", "?"), (long long)jint(s, "pid"), port,
				jint(s, "port") ? (json_object_get_boolean(json_object_object_get(
							   s, "listening")) ? "yes" : "no") : "-",
				(long long)jint(s, "uptime_s"), (long long)jint(s, "restarts"));
		}
	}
	if (json_object_object_get_ex(st, "ports", &ports)) {
		fprintf(f, "\n%-6s %-10s %-26s %7s %s\n", "PORT", "STATE", "OWNER", "DENIED",
			"HOLDERS");
		for (i = 0; i < (int)json_object_array_length(ports); i++) {
			json_object *p = json_object_array_get_idx(ports, i), *h;

			fprintf(f, "%-6lld %-10s %-26s %7lld ", (long long)jint(p, "port"),
				jstr(p, "state", "?"), jstr(p, "owner", "-"), (long long)jint(p, "denied"));
			json_object_object_get_ex(p, "holders", &h);
			report_print_holders(f, h);
			fprintf(f, "\n");
		}
	}
	if (json_object_object_get_ex(st, "conflicts", &conf) && json_object_array_length(conf)) {
		fprintf(f, "\nrecent conflicts:\n");
		for (i = 0; i < (int)json_object_array_length(conf); i++) {
			fprintf(f, "  ");
			report_print_event(f, json_object_array_get_idx(conf, i));
		}
	}
}

void report_print_event(FILE *f, json_object *ev)
{
	static const char *skip[] = { "ts", "type", NULL };
	int i;

	fprintf(f, "%s %-14s", jstr(ev, "ts", "?"), jstr(ev, "type", "?"));
	json_object_object_foreach(ev, key, val)
	{
		for (i = 0; skip[i] && strcmp(skip[i], key); i++)
			;
		if (skip[i] || !val || !strcmp(key, "cookie") || !strcmp(key, "tid") ||
		    !strcmp(key, "cgroup_id") || !strcmp(key, "netns") || !strcmp(key, "family"))
			continue;
		fprintf(f, " %s=%s", key, json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN));
	}
	fprintf(f, "\n");
}
