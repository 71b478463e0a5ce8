/* SPDX-License-Identifier: BSD-3-Clause */
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "claims.h"
#include "encode.h"
#include "event.h"
#include "status.h"

/* The line of o, and o put. */
static char *enc_line(json_object *o)
{
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));

	json_object_put(o);
	return s;
}

/* The length of the valid UTF-8 sequence at s (n bytes left), or 0 (RFC 3629). */
static size_t enc_utf8_seq(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, lo = s[0] == 0xe0 ? 0xa0 : 0x80, hi = s[0] == 0xed ? 0x9f : 0xbf;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, lo = s[0] == 0xf0 ? 0x90 : 0x80, hi = s[0] == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/*
 * A JSON string of v[0..n) that is valid UTF-8 whatever v holds: a comm or an
 * exe path is whatever bytes its process chose, and json-c passes bytes
 * through as given, so one hostile name made events.jsonl a line that strict
 * parsers (Python's, Go's) refuse. Each byte that starts no valid sequence
 * becomes '?'. (Control characters are escaped by json-c; the CLI's text
 * rendering replaces them.)
 */
static json_object *enc_string(const char *v, size_t n)
{
	const unsigned char *u = (const unsigned char *)v;
	json_object *o;
	size_t i = 0, k;
	char *copy;

	while (i < n && (k = enc_utf8_seq(u + i, n - i)))
		i += k;
	if (i == n)
		return json_object_new_string_len(v, (int)n);
	if (!(copy = malloc(n)))
		return NULL;
	memcpy(copy, v, n);
	while (i < n)
		if ((k = enc_utf8_seq(u + i, n - i)))
			i += k;
		else
			copy[i++] = '?';
	o = json_object_new_string_len(copy, (int)n);
	free(copy);
	return o;
}

static void enc_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? enc_string(v, strlen(v)) : NULL);
}

static void enc_int(json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static void enc_bool(json_object *o, const char *k, int v)
{
	json_object_object_add(o, k, json_object_new_boolean(v));
}

/* "" as null: the optional names (a holder's service, a cgroup not found). */
static void enc_name(json_object *o, const char *k, const char *v)
{
	enc_str(o, k, v && v[0] ? v : NULL);
}

static json_object *enc_holders(const struct ev_holder *h, int n)
{
	json_object *a = json_object_new_array();
	char addr[64];
	int i;

	for (i = 0; i < n; i++) {
		json_object *o = json_object_new_object();

		enc_int(o, "pid", h[i].pid);
		enc_str(o, "comm", h[i].comm);
		enc_int(o, "uid", h[i].uid);
		enc_name(o, "service", h[i].service);
		enc_str(o, "proto", ev_proto_name(h[i].proto));
		enc_str(o, "addr", ev_addr_str(h[i].family, h[i].addr, addr, sizeof(addr)));
		if (h[i].allowed)
			enc_bool(o, "allowed", 1);
		json_object_array_add(a, o);
	}
	return a;
}

static void enc_exe(json_object *o, const struct ev_exe *x)
{
	char dev[32];

	enc_str(o, "exe", x->source ? x->path : NULL);
	enc_str(o, "exe_source", x->source);
	if (!x->have_ino)
		return;
	enc_str(o, "exe_ns", x->host_ns ? "host" : "other");
	enc_int(o, "exe_ino", (int64_t)x->ino);
	snprintf(dev, sizeof(dev), "%u:%u", x->dev >> 20, x->dev & 0xfffff);
	enc_str(o, "exe_dev", dev);
}

/* The socket and process of a kernel event, then what its type adds. */
static void enc_kernel(json_object *o, const struct pg_ev *ev)
{
	const struct ev_kernel *k = &ev->u.k;
	char addr[64];

	enc_int(o, "port", k->port);
	enc_str(o, "proto", ev_proto_name(k->proto));
	enc_int(o, "pid", k->pid);
	enc_str(o, "comm", k->comm);
	enc_int(o, "uid", k->uid);
	enc_name(o, "service", ev->service);
	enc_int(o, "tid", k->tid);
	enc_int(o, "cgroup_id", (int64_t)k->cgroup_id);
	enc_int(o, "netns", (int64_t)k->netns);
	enc_str(o, "family", k->family == AF_INET6 ? "ipv6" : "ipv4");
	enc_str(o, "addr", ev_addr_str(k->family, k->addr, addr, sizeof(addr)));
	enc_bool(o, "reuseport", k->reuseport);
	enc_int(o, "cookie", (int64_t)k->cookie);
	if (k->stage)
		enc_str(o, "stage", k->stage);
	if (k->has_exe)
		enc_exe(o, &k->exe);
	if (k->has_cgroup) {
		enc_name(o, "cgroup", k->cgroup);
		enc_name(o, "owner", ev->service);
	}
	if (k->action)
		enc_str(o, "action", ev_action_name(k->action));
}

static json_object *enc_lines(const char *text)
{
	json_object *a = json_object_new_array();
	const char *p = text, *nl;

	while (p && *p) {
		nl = strchr(p, '\n');
		json_object_array_add(a, enc_string(p, nl ? (size_t)(nl - p) : strlen(p)));
		p = nl ? nl + 1 : NULL;
	}
	return a;
}

static json_object *enc_steps(const struct ev_step *s, int n)
{
	json_object *a = json_object_new_array();
	int i;

	for (i = 0; i < n; i++) {
		json_object *o = json_object_new_object();

		enc_str(o, "step", s[i].name);
		enc_int(o, "ms", (int64_t)s[i].ms);
		json_object_array_add(a, o);
	}
	return a;
}

static void enc_service_ev(json_object *o, const struct pg_ev *ev)
{
	enc_str(o, "service", ev->service);
	if (ev->u.svc.port)
		enc_int(o, "port", ev->u.svc.port);
	json_object_object_add(o, "pid", ev->u.svc.pid ? json_object_new_int64(ev->u.svc.pid)
						       : NULL);
	enc_str(o, "state", ev->u.svc.state);
}

static void enc_reclaim(json_object *o, const struct pg_ev *ev)
{
	enc_str(o, "service", ev->service);
	enc_int(o, "port", ev->u.reclaim.port);
	json_object_object_add(o, "holders", enc_holders(ev->holders, ev->nholders));
	enc_int(o, "attempt", ev->u.reclaim.attempt);
	if (ev->u.reclaim.delay_ms)
		enc_int(o, "delay_ms", (int64_t)ev->u.reclaim.delay_ms);
}

static void enc_reload(json_object *o, const struct pg_ev *ev)
{
	json_object *a = json_object_new_array();
	int i;

	if (ev->type == EV_RELOAD_FAILED) {
		json_object_object_add(o, "errors", enc_lines(ev->u.reload.errors));
		json_object_put(a);
		return;
	}
	enc_str(o, "config", ev->u.reload.config);
	for (i = 0; i < ev->u.reload.nstarted; i++)
		json_object_array_add(a, enc_string(ev->u.reload.started[i],
						    strlen(ev->u.reload.started[i])));
	json_object_object_add(o, "started", a);
}

static void enc_job_ev(json_object *o, const struct pg_ev *ev)
{
	enc_str(o, "mode", ev->u.job.mode);
	enc_int(o, "ms", (int64_t)ev->u.job.ms);
	json_object_object_add(o, "steps", enc_steps(ev->u.job.steps, ev->u.job.nsteps));
	if (ev->service[0])
		enc_str(o, "service", ev->service);
}

static void enc_layout(json_object *o, const struct pg_ev *ev)
{
	enc_int(o, "from", ev->u.layout.from);
	enc_int(o, "to", ev->u.layout.to);
	enc_str(o, "detail", ev->detail);
	enc_int(o, "copied", (int64_t)ev->u.layout.copied);
	enc_int(o, "dropped", (int64_t)ev->u.layout.dropped);
	enc_int(o, "ring_read", (int64_t)ev->u.layout.ring_read);
}

/* The fields of the guard's own events, in the order they always had. */
static void enc_own(json_object *o, const struct pg_ev *ev)
{
	switch (ev->type) {
	case EV_EVENTS_LOST:
		enc_int(o, "count", (int64_t)ev->u.lost.count);
		break;
	case EV_RECLAIM:
	case EV_RECLAIM_BACKOFF:
		enc_reclaim(o, ev);
		break;
	case EV_RELOAD:
	case EV_RELOAD_FAILED:
		enc_reload(o, ev);
		break;
	case EV_RESTART_DONE:
	case EV_RESTART_FAILED:
		enc_job_ev(o, ev);
		break;
	case EV_CONTROL_CLIENT_DROPPED:
		enc_int(o, "pid", ev->u.client.pid);
		enc_int(o, "uid", ev->u.client.uid);
		break;
	case EV_LAYOUT_MIGRATED:
		enc_layout(o, ev);
		return; /* its detail is in the middle */
	default:
		if (ev_flags(ev->type) & EVF_SERVICE)
			enc_service_ev(o, ev);
		else if (ev->service[0])
			enc_str(o, "service", ev->service);
	}
	if (ev->detail[0])
		enc_str(o, "detail", ev->detail);
}

static json_object *enc_event(const struct pg_ev *ev)
{
	json_object *o = json_object_new_object();
	char ts[40];

	enc_str(o, "ts", ev_ts(ev->ts_us, ts, sizeof(ts)));
	enc_str(o, "type", ev_type_name(ev->type));
	if (!(ev_flags(ev->type) & EVF_KERNEL)) {
		enc_own(o, ev);
		return o;
	}
	enc_kernel(o, ev);
	if (ev->has_holders)
		json_object_object_add(o, "holders", enc_holders(ev->holders, ev->nholders));
	if (ev->detail[0])
		enc_str(o, "detail", ev->detail);
	if (ev->count)
		enc_int(o, "count", ev->count);
	if (ev->coalesced) {
		enc_bool(o, "coalesced", 1);
		enc_int(o, "window_ms", (int64_t)ev->window_ms);
	}
	if (ev->folded)
		enc_str(o, "counted_in", "kernel");
	return o;
}

char *encode_event(const struct pg_ev *ev)
{
	return enc_line(enc_event(ev));
}

static json_object *enc_guard(const struct status *st)
{
	json_object *g = json_object_new_object();

	enc_bool(g, "running", st->running);
	enc_str(g, "name", st->name);
	if (!st->running)
		return g;
	enc_int(g, "pid", st->pid);
	enc_str(g, "mode", st->enforce ? "enforce" : "observe");
	enc_int(g, "uptime_s", (int64_t)st->uptime_s);
	enc_int(g, "events", (int64_t)st->events);
	enc_int(g, "lost", (int64_t)st->lost);
	enc_int(g, "layout", st->layout);
	enc_str(g, "config", st->config);
	enc_str(g, "cgroup", st->cgroup);
	return g;
}

static json_object *enc_services(const struct status *st)
{
	json_object *a = json_object_new_array();
	int i;

	for (i = 0; i < st->nsvc; i++) {
		const struct st_service *s = &st->svc[i];
		json_object *o = json_object_new_object();

		enc_str(o, "name", s->name);
		enc_str(o, "state", s->state);
		json_object_object_add(o, "pid", s->pid ? json_object_new_int64(s->pid) : NULL);
		json_object_object_add(o, "port", s->port ? json_object_new_int(s->port) : NULL);
		enc_str(o, "type", s->start ? s->start : s->http ? "http" : "background");
		enc_bool(o, "listening", s->listening);
		if (s->start && !strcmp(s->start, "notify"))
			enc_str(o, "status_text", s->notify_status);
		enc_int(o, "uptime_s", s->uptime_s);
		enc_int(o, "restarts", s->restarts);
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *enc_ports(const struct status *st)
{
	json_object *a = json_object_new_array();
	int i;

	for (i = 0; i < st->nports; i++) {
		const struct st_port *p = &st->ports[i];
		json_object *o = json_object_new_object();

		enc_int(o, "port", p->port);
		enc_str(o, "state", port_state_name(p->state));
		enc_str(o, "owner", p->owner);
		json_object_object_add(o, "holders", enc_holders(p->holders, p->nholders));
		if (st->running) {
			enc_int(o, "denied", (int64_t)p->denied);
			json_object_object_add(o, "last_conflict",
					       p->last_conflict ? enc_event(p->last_conflict) : NULL);
		}
		json_object_array_add(a, o);
	}
	return a;
}

/* Every claim in the table (all namespaces), for tests and debugging. */
static json_object *enc_claims(const struct claims *t, uint64_t host)
{
	static const char *const states[] = { "attempt", "bound", "listen" };
	json_object *a = json_object_new_array();
	char addr[64];
	int i, j;

	for (i = 0; t && i < t->n; i++) {
		const struct claim *c = &t->v[i];
		json_object *o = json_object_new_object(), *pids = json_object_new_array();

		enc_int(o, "cookie", (int64_t)c->cookie);
		enc_bool(o, "host", c->netns == host);
		enc_int(o, "netns", (int64_t)c->netns);
		enc_int(o, "port", c->port);
		enc_str(o, "proto", ev_proto_name(c->proto));
		enc_str(o, "addr", ev_addr_str(c->family, c->addr, addr, sizeof(addr)));
		enc_str(o, "state", states[c->state]);
		enc_bool(o, "holding", claim_is_holding(c));
		enc_bool(o, "reuseport", c->reuseport);
		for (j = 0; j < c->nholders; j++)
			json_object_array_add(pids, json_object_new_int64(c->holders[j].pid));
		json_object_object_add(o, "pids", pids);
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *enc_status(const struct status *st)
{
	json_object *o = json_object_new_object(), *conf = json_object_new_array();
	int i;

	json_object_object_add(o, "guard", enc_guard(st));
	json_object_object_add(o, "services", enc_services(st));
	json_object_object_add(o, "ports", enc_ports(st));
	for (i = 0; i < st->nconflicts; i++)
		json_object_array_add(conf, enc_event(st->conflicts[i]));
	json_object_object_add(o, "conflicts", conf);
	if (!st->running)
		return o;
	json_object_object_add(o, "claims", enc_claims(st->claims, st->host_netns));
	enc_bool(o, "healthy", st->healthy);
	return o;
}

char *encode_status(const struct status *st)
{
	return enc_line(enc_status(st));
}

char *encode_ok(const char *detail)
{
	json_object *o = json_object_new_object();

	enc_bool(o, "ok", 1);
	if (detail)
		enc_str(o, "detail", detail);
	return enc_line(o);
}

char *encode_error(const char *fmt, ...)
{
	json_object *o = json_object_new_object();
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	enc_bool(o, "ok", 0);
	enc_str(o, "error", buf);
	return enc_line(o);
}

char *encode_reload_reply(int ok, const char *msg, const char *errors)
{
	json_object *o = json_object_new_object();

	enc_bool(o, "ok", ok);
	if (msg)
		enc_str(o, ok ? "detail" : "error", msg);
	if (errors)
		json_object_object_add(o, "errors", enc_lines(errors));
	return enc_line(o);
}

char *encode_progress(const char *text)
{
	json_object *o = json_object_new_object();

	enc_str(o, "progress", text);
	return enc_line(o);
}

char *encode_job(int ok, const char *mode, const char *error, uint64_t ms,
		 const struct ev_step *steps, int nsteps, const struct status *st)
{
	json_object *o = json_object_new_object();

	enc_bool(o, "ok", ok);
	enc_str(o, "mode", mode);
	if (error)
		enc_str(o, "error", error);
	enc_int(o, "ms", (int64_t)ms);
	json_object_object_add(o, "steps", enc_steps(steps, nsteps));
	json_object_object_add(o, "status", enc_status(st));
	return enc_line(o);
}
