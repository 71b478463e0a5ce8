/* SPDX-License-Identifier: BSD-3-Clause */
/* The CLI's human rendering of what the guard says (the JSON of encode.c). */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "render.h"

/*
 * A string as the terminal gets it: a control character (a rogue's comm, as
 * its process set it, may be an escape sequence that rewrites the screen) is
 * shown as '?'. Rotating buffers: several of these are arguments of one
 * fprintf; one longer than a buffer is cut there.
 */
static const char *rsafe(const char *s)
{
	static char buf[16][512];
	static unsigned next;
	const unsigned char *u = (const unsigned char *)s;
	char *b;
	size_t i;

	for (i = 0; u && u[i] && u[i] >= 0x20 && u[i] != 0x7f; i++)
		;
	if (!u || !u[i])
		return s;
	b = buf[next++ % 16];
	for (i = 0; u[i] && i < sizeof(buf[0]) - 1; i++)
		b[i] = u[i] < 0x20 || u[i] == 0x7f ? '?' : (char)u[i];
	b[i] = 0;
	return b;
}

static const char *jstr(json_object *o, const char *key, const char *dflt)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v)
		return dflt;
	return rsafe(json_object_get_string(v));
}

static int64_t jint(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	return json_object_get_int64(v);
}

static void render_holders(FILE *f, json_object *holders)
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

void render_status(FILE *f, json_object *st)
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
			if (jstr(s, "status_text", NULL))
				fprintf(f, "%-26s %s\n", "", jstr(s, "status_text", ""));
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
			render_holders(f, h);
			fprintf(f, "\n");
		}
	}
	if (json_object_object_get_ex(st, "conflicts", &conf) && json_object_array_length(conf)) {
		fprintf(f, "\nrecent conflicts:\n");
		for (i = 0; i < (int)json_object_array_length(conf); i++) {
			fprintf(f, "  ");
			render_event(f, json_object_array_get_idx(conf, i));
		}
	}
}

void render_event(FILE *f, json_object *ev)
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

/* How bad one service's state is for a monitor: 0 fine, 1 warning, 2 critical. */
static int render_check_service(const char *state)
{
	if (!strcmp(state, "RUNNING"))
		return 0;
	if (!strcmp(state, "FATAL") || !strcmp(state, "EXITED") || !strcmp(state, "BACKOFF"))
		return 2; /* down, and not by an operator's stop */
	return 1;	  /* starting, stopping, or stopped by hand */
}

int render_check(FILE *f, json_object *st, int guard_running, const char *name)
{
	static const char *const word[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };
	json_object *svcs = NULL, *ports = NULL, *g = NULL;
	int i, rc = 0, n = 0, up = 0, rogue = 0, bad, worst = -1;
	const char *down = NULL, *down_state = "";
	long long lost = 0;

	if (!guard_running) {
		fprintf(f, "PORTGUARD CRITICAL - no guard is running for instance %s | "
			   "services_running=0 rogue_ports=0 events_lost=0\n", name);
		return 2;
	}
	json_object_object_get_ex(st, "guard", &g);
	lost = jint(g, "lost");
	if (json_object_object_get_ex(st, "services", &svcs))
		for (i = 0; i < (int)json_object_array_length(svcs); i++, n++) {
			json_object *s = json_object_array_get_idx(svcs, i);

			bad = render_check_service(jstr(s, "state", "?"));
			up += !bad;
			if (bad > worst && bad) {
				worst = bad;
				down = jstr(s, "name", "?");
				down_state = jstr(s, "state", "?");
			}
			rc = bad > rc ? bad : rc;
		}
	if (json_object_object_get_ex(st, "ports", &ports))
		for (i = 0; i < (int)json_object_array_length(ports); i++) {
			const char *ps = jstr(json_object_array_get_idx(ports, i), "state", "");

			rogue += !strcmp(ps, "rogue") || !strcmp(ps, "shared");
		}
	if ((rogue || lost) && rc < 1)
		rc = 1;
	fprintf(f, "PORTGUARD %s - %d/%d services running%s%s%s%s%s, %d ports held by strangers, "
		   "%lld events lost | services_running=%d rogue_ports=%d events_lost=%lld\n",
		word[rc], up, n, down ? " (" : "", down ? down : "", down ? " " : "", down_state,
		down ? ")" : "", rogue, lost, up, rogue, lost);
	return rc;
}
