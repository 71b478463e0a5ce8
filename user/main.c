/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * portguard: the command line. A table of { "word", handler } rows; options
 * may stand anywhere (GNU getopt permutes them).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cgroup.h"
#include "claims.h"
#include "config.h"
#include "control.h"
#include "diag.h"
#include "guard.h"
#include "log.h"
#include "loop.h"
#include "report.h"
#include "supervise.h"

/* Exit codes: 0 ok, 1 degraded or failed, 2 usage or config error, 3 no guard running. */
#define EX_DEGRADED 1
#define EX_USAGE 2
#define EX_NOGUARD 3

struct opts {
	const char *config;
	int json;
	int follow;
	int verbose;
	int help;
};

struct cmd {
	const char *name;
	int (*fn)(struct opts *o, int argc, char **argv);
	const char *usage;
	const char *help;
};

static const struct cmd *cmd_find(const char *name);

static struct pg_config *cmd_load_config(struct opts *o)
{
	struct pg_config *c = NULL;

	if (config_parse(o->config, &c, stderr) != 0)
		exit(EX_USAGE);
	return c;
}

static int cmd_run(struct opts *o, int argc, char **argv)
{
	struct pg_config *c;
	int err;

	(void)argc;
	(void)argv;
	c = cmd_load_config(o);
	err = guard_run(c);
	config_free(c);
	return err ? 1 : 0;
}

static int cmd_check(struct opts *o, int argc, char **argv)
{
	struct pg_config *c = NULL;
	int p, ng = 0, np = 0;

	(void)argc;
	(void)argv;
	if (config_parse(o->config, &c, stderr) != 0)
		return EX_USAGE;
	for (p = 1; p < 65536; p++) {
		ng += c->guarded[p];
		np += c->protected_[p];
	}
	printf("%s: ok: instance %s, %d services, %d guarded ports, %d protected ports\n",
	       o->config, c->name, c->nsvc, ng, np);
	config_free(c);
	return 0;
}

/* A request to the running guard; returns the fd or a negative errno. */
static int cmd_request(struct pg_config *c, const char *what, int follow)
{
	json_object *req = json_object_new_object();
	int fd;

	json_object_object_add(req, "cmd", json_object_new_string(what));
	if (follow)
		json_object_object_add(req, "follow", json_object_new_boolean(1));
	fd = control_connect(c->control, req);
	json_object_put(req);
	return fd;
}

static json_object *cmd_read_reply(FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	json_object *o = NULL;

	if (getline(&line, &cap, f) > 0)
		o = json_tokener_parse(line);
	free(line);
	return o;
}

static uint64_t status_svc_ids[PG_MAX_SERVICES];
static const struct pg_config *status_cfg;

static const char *status_svc_of(uint64_t cgid)
{
	int i;

	for (i = 0; cgid && i < status_cfg->nsvc; i++)
		if (status_svc_ids[i] == cgid)
			return status_cfg->svc[i].name;
	return NULL;
}

/* No guard: the port table from one sock_diag snapshot. */
static json_object *cmd_snapshot(struct pg_config *c)
{
	json_object *st = json_object_new_object(), *g = json_object_new_object();
	struct claims t = { 0 };
	struct diag_result r = { 0 };
	uint8_t *want = calloc(65536, 1);
	char path[PATH_MAX];
	int i;

	for (i = 1; want && i < 65536; i++)
		want[i] = c->guarded[i] | c->protected_[i];
	status_cfg = c;
	for (i = 0; i < c->nsvc && cg_root(); i++) {
		snprintf(path, sizeof(path), "%s/portguard-%s/%s", cg_root(), c->name, c->svc[i].name);
		status_svc_ids[i] = cg_id(path);
	}
	if (want && diag_dump(want, 0, &r) == 0)
		report_claims_from_diag(&t, &r, 0);
	free(want);
	json_object_object_add(g, "running", json_object_new_boolean(0));
	json_object_object_add(g, "name", json_object_new_string(c->name));
	json_object_object_add(st, "guard", g);
	json_object_object_add(st, "services", json_object_new_array());
	json_object_object_add(st, "ports", report_ports(c, &t, 0, status_svc_of));
	json_object_object_add(st, "conflicts", json_object_new_array());
	diag_free(&r);
	claims_free(&t);
	return st;
}

static int cmd_status(struct opts *o, int argc, char **argv)
{
	struct pg_config *c = cmd_load_config(o);
	json_object *st = NULL, *h;
	int fd, rc;
	FILE *f;

	(void)argc;
	(void)argv;
	fd = cmd_request(c, "status", 0);
	if (fd >= 0) {
		f = fdopen(fd, "r");
		st = cmd_read_reply(f);
		fclose(f);
	}
	if (!st) {
		st = cmd_snapshot(c);
		rc = EX_NOGUARD;
	} else {
		rc = json_object_object_get_ex(st, "healthy", &h) && json_object_get_boolean(h)
			     ? 0 : EX_DEGRADED;
	}
	if (o->json)
		printf("%s\n", json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN));
	else
		report_print_status(stdout, st);
	if (rc == EX_NOGUARD && !o->json)
		printf("\nno guard is running for instance %s (control socket %s)\n", c->name,
		       c->control);
	json_object_put(st);
	config_free(c);
	return rc;
}

static void cmd_print_event_line(struct opts *o, const char *line)
{
	json_object *ev;

	if (o->json) {
		printf("%s\n", line);
		return;
	}
	ev = json_tokener_parse(line);
	if (ev)
		report_print_event(stdout, ev);
	json_object_put(ev);
}

static int cmd_events(struct opts *o, int argc, char **argv)
{
	struct pg_config *c = cmd_load_config(o);
	char path[PATH_MAX], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int fd, rc = 0;

	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "%s/events.jsonl", c->state_dir);
	if (o->follow) {
		fd = cmd_request(c, "events", 1);
		if (fd < 0) {
			fprintf(stderr, "portguard: no guard is running for %s (%s): %s\n", c->name,
				c->control, strerror(-fd));
			config_free(c);
			return EX_NOGUARD;
		}
		f = fdopen(fd, "r");
		setvbuf(stdout, NULL, _IOLBF, 0);
		if (getline(&line, &cap, f) > 0) /* the {"ok":true} greeting */
			while ((n = getline(&line, &cap, f)) > 0) {
				line[n - 1] = line[n - 1] == '\n' ? 0 : line[n - 1];
				cmd_print_event_line(o, line);
			}
		fclose(f);
	} else {
		f = fopen(path, "r");
		if (!f) {
			fprintf(stderr, "portguard: %s: %s\n", path, strerror(errno));
			config_free(c);
			return 1;
		}
		while ((n = getline(&line, &cap, f)) > 0) {
			line[n - 1] = line[n - 1] == '\n' ? 0 : line[n - 1];
			cmd_print_event_line(o, line);
		}
		fclose(f);
	}
	free(line);
	config_free(c);
	return rc;
}

static void shutdown_local_done(void *arg)
{
	(void)arg;
	supervise_remove_cgroups();
	loop_stop();
}

static void shutdown_local_event(const char *type, struct pg_service *s, const char *detail)
{
	printf("%s %s%s%s\n", s->conf->name, type, detail ? ": " : "", detail ? detail : "");
}

static int cmd_shutdown(struct opts *o, int argc, char **argv)
{
	struct pg_config *c = cmd_load_config(o);
	json_object *r = NULL, *ok;
	int fd, rc = 0;
	FILE *f;

	(void)argc;
	(void)argv;
	fd = cmd_request(c, "shutdown", 0);
	if (fd >= 0) {
		f = fdopen(fd, "r");
		r = cmd_read_reply(f);
		fclose(f);
		if (!r || !json_object_object_get_ex(r, "ok", &ok) || !json_object_get_boolean(ok)) {
			fprintf(stderr, "portguard: shutdown failed: %s\n",
				r ? json_object_get_string(json_object_object_get(r, "error"))
				  : "the guard closed the connection");
			rc = 1;
		} else {
			printf("guard %s: every service stopped, the guard exited\n", c->name);
		}
		json_object_put(r);
		config_free(c);
		return rc;
	}
	/* No guard: stop what runs in the instance's cgroups ourselves. */
	if (geteuid() != 0) {
		fprintf(stderr, "portguard: shutdown requires root\n");
		config_free(c);
		return 1;
	}
	if (loop_init() || supervise_init(c, shutdown_local_event)) {
		config_free(c);
		return 1;
	}
	supervise_stop_all(shutdown_local_done, NULL);
	rc = loop_run() ? 1 : 0;
	supervise_cleanup();
	printf("instance %s: no guard was running; every service stopped\n", c->name);
	config_free(c);
	return rc;
}

static int cmd_help(struct opts *o, int argc, char **argv);

static const struct cmd cmds[] = {
	{ "run", cmd_run, "run [-c FILE] [-v]",
	  "Run the guard in the foreground: load the BPF programs, start and supervise the\n"
	  "services, watch every claim of the guarded ports. SIGTERM/SIGINT end the guard\n"
	  "and leave the services running; a new `run` adopts them." },
	{ "check", cmd_check, "check [-c FILE]",
	  "Validate the config without running: exit 0, or exit 2 with one\n"
	  "`file:line: message` per error." },
	{ "status", cmd_status, "status [-c FILE] [--json]",
	  "Show the guard, each service and each guarded and protected port. Exit 0 when\n"
	  "all is well, 1 when anything is degraded, 3 when no guard runs (the port table\n"
	  "then comes from one sock_diag snapshot)." },
	{ "events", cmd_events, "events [-c FILE] [--json] [--follow]",
	  "Print the journal (state_dir/events.jsonl); with --follow, the live stream." },
	{ "shutdown", cmd_shutdown, "shutdown [-c FILE]",
	  "Stop every service (reverse priority order), then the guard, and remove the\n"
	  "instance's cgroups. Requires root." },
	{ "help", cmd_help, "help [COMMAND]", "Show help." },
};

static const struct cmd *cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: portguard COMMAND [options]\n\ncommands:\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  portguard %s\n", cmds[i].usage);
	fprintf(f, "\noptions (anywhere on the line):\n"
		   "  -c, --config FILE  config file (default %s)\n"
		   "      --json         machine-readable output\n"
		   "  -f, --follow       events: keep printing live events\n"
		   "  -v, --verbose      more logging (twice: libbpf debug)\n"
		   "  -h, --help         this help, or a command's help\n",
		PG_DEFAULT_CONFIG);
}

static int cmd_help(struct opts *o, int argc, char **argv)
{
	const struct cmd *c = argc > 1 ? cmd_find(argv[1]) : NULL;

	(void)o;
	if (!c) {
		usage(stdout);
		return 0;
	}
	printf("usage: portguard %s\n\n%s\n", c->usage, c->help);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "config", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
		{ "follow", no_argument, NULL, 'f' },	    { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },	    { NULL, 0, NULL, 0 },
	};
	struct opts o = { .config = PG_DEFAULT_CONFIG };
	const struct cmd *c;
	int ch;

	while ((ch = getopt_long(argc, argv, "c:fvh", lopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o.config = optarg;
			break;
		case 'j':
			o.json = 1;
			break;
		case 'f':
			o.follow = 1;
			break;
		case 'v':
			o.verbose++;
			break;
		case 'h':
			o.help = 1;
			break;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	log_init("portguard", o.verbose);
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		usage(o.help ? stdout : stderr);
		return o.help ? 0 : EX_USAGE;
	}
	c = cmd_find(argv[0]);
	if (!c) {
		fprintf(stderr, "portguard: unknown command '%s' (try portguard --help)\n", argv[0]);
		return EX_USAGE;
	}
	if (o.help) {
		printf("usage: portguard %s\n\n%s\n", c->usage, c->help);
		return 0;
	}
	return c->fn(&o, argc, argv);
}
