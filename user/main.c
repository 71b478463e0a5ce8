/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * portguard: the command line. A table of { "word", handler } rows; options
 * may stand anywhere (GNU getopt permutes them).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cgroup.h"
#include "claims.h"
#include "config.h"
#include "control.h"
#include "diag.h"
#include "encode.h"
#include "fs.h"
#include "guard.h"
#include "import.h"
#include "loader.h"
#include "log.h"
#include "loop.h"
#include "policy.h"
#include "render.h"
#include "snapshot.h"
#include "spawn.h"
#include "status.h"
#include "supervise.h"
#include "sysctl.h"

/* Exit codes: 0 ok, 1 degraded or failed, 2 usage or config error, 3 no guard running. */
#define EX_DEGRADED 1
#define EX_USAGE 2
#define EX_NOGUARD 3
#define EX_PINNED 4 /* run: the pinned state is of a layout this guard cannot take over */

struct opts {
	const char *config;
	int daemon;
	int json;
	int follow;
	int all;
	int verbose;
	int help;
	const char *output; /* import: -o FILE */
	int check;	    /* status --check: one line and a monitoring plugin's exit status */
};

struct cmd {
	const char *name;
	int (*fn)(struct opts *o, int argc, char **argv);
	const char *usage;
	const char *help;
};

static const struct cmd *cmd_find(const char *name);

/* The config, valid and within the kernel's limits, or exit 2 with what is wrong. */
static struct pg_config *cmd_load_config(struct opts *o)
{
	struct pg_config *c = NULL;
	char why[256];

	if (config_parse(o->config, &c, stderr) != 0)
		exit(EX_USAGE);
	if (policy_limits(c, why, sizeof(why))) {
		fprintf(stderr, "%s\n", why);
		exit(EX_USAGE);
	}
	return c;
}

/*
 * The config of a command that talks to the running guard: a file being
 * edited into shape must not hide the guard that runs an older one.
 */
static struct pg_config *cmd_client_config(struct opts *o)
{
	struct pg_config *c = NULL;

	if (config_parse_opt(o->config, &c, stderr, 1) != 0) {
		if (!c)
			exit(EX_USAGE);
		fprintf(stderr, "portguard: %s has errors (above; the running guard keeps its "
			"config): using its name and control socket %s\n", o->config, c->control);
	}
	return c;
}

/* run --daemon: detach, log to log_dir/portguard.log, pidfile in state_dir. */
static int cmd_daemonize(struct pg_config *c)
{
	char path[PATH_MAX], b;
	int pfd[2], fd;
	pid_t pid;

	if ((pid = spawn_fork(pfd)) < 0)
		return pid;
	if (pid > 0) { /* the parent waits for "ready", or for the child's end */
		close(pfd[1]);
		if (read(pfd[0], &b, 1) != 1) {
			fprintf(stderr, "portguard: the guard did not start; see %s/portguard.log\n",
				c->log_dir);
			exit(1);
		}
		exit(0);
	}
	close(pfd[0]);
	setsid();
	if ((fd = fs_mkdir_p(c->log_dir, 0750)) < 0)
		fprintf(stderr, "portguard: %s: %s\n", c->log_dir, strerror(-fd));
	fs_path(path, sizeof(path), c->log_dir, FS_GUARD_LOG, NULL);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
	return pfd[1];
}

static void cmd_pidfile(struct pg_config *c, int write_it)
{
	char path[PATH_MAX], pid[32];

	fs_path(path, sizeof(path), c->state_dir, FS_PIDFILE, NULL);
	if (!write_it) {
		unlink(path);
		return;
	}
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (fs_write_file(path, pid, strlen(pid), 0644) < 0)
		log_warn("%s", path);
}

static int cmd_run(struct opts *o, int argc, char **argv)
{
	struct pg_config *c;
	int err, ready = -1;

	(void)argc;
	(void)argv;
	c = cmd_load_config(o);
	if (o->daemon) {
		ready = cmd_daemonize(c);
		if (ready < 0) {
			fprintf(stderr, "portguard: cannot detach: %s\n", strerror(-ready));
			config_free(c);
			return 1;
		}
	}
	if (o->daemon) {
		if ((err = fs_mkdir_p(c->state_dir, 0750)) < 0)
			log_warnx("%s: %s", c->state_dir, strerror(-err));
		cmd_pidfile(c, 1);
	}
	{
		char state_dir[PATH_MAX];

		snprintf(state_dir, sizeof(state_dir), "%s", c->state_dir);
		err = guard_run(c, ready); /* takes c */
		if (o->daemon) {
			char path[PATH_MAX + 16];

			snprintf(path, sizeof(path), "%s/portguard.pid", state_dir);
			unlink(path);
		}
	}
	/* EX_PINNED: not retried by the unit (RestartPreventExitStatus) */
	return err == -EPROTO ? EX_PINNED : err ? 1 : 0;
}

static int cmd_check(struct opts *o, int argc, char **argv)
{
	struct pg_config *c = cmd_load_config(o);
	int p, ng = 0, np = 0;

	(void)argc;
	(void)argv;
	for (p = 1; p < 65536; p++) {
		ng += c->guarded[p];
		np += c->protected_[p];
	}
	printf("%s: ok: instance %s, %d services, %d guarded ports, %d protected ports\n",
	       o->config, c->name, c->nsvc, ng, np);
	config_free(c);
	return 0;
}

static int cmd_import(struct opts *o, int argc, char **argv)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out;
	int err;

	argc--, argv++; /* the command's name */
	if (argc < 2 || strcmp(argv[0], "supervisord")) {
		fprintf(stderr, "usage: portguard import supervisord FILE... [-o OUT]\n");
		return EX_USAGE;
	}
	if (o->output && access(o->output, F_OK) == 0) {
		fprintf(stderr, "portguard: %s exists: not overwritten\n", o->output);
		return 1;
	}
	out = o->output ? open_memstream(&text, &len) : stdout;
	if (!out || import_supervisord((const char *const *)argv + 1, argc - 1, out, stderr)) {
		if (out && out != stdout)
			fclose(out);
		free(text);
		return 1;
	}
	if (out == stdout)
		return 0;
	fclose(out);
	err = fs_write_file(o->output, text, len, 0644);
	free(text);
	if (err) {
		fprintf(stderr, "portguard: cannot write %s: %s\n", o->output, strerror(-err));
		return 1;
	}
	return 0;
}

/* How long `status` waits for the guard's answer (it takes milliseconds). */
#define CMD_STATUS_TIMEOUT_S 10
#define CMD_STATUS_TIMEOUT_STR "10"

/* Send req (not taken) to the guard at path: the connected fd, or -errno. */
static int cmd_connect(const char *path, json_object *req)
{
	return control_connect(path, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
}

/* No guard answered on the control socket (fd: -errno): said, c freed; exit 3. */
static int cmd_no_guard(struct pg_config *c, int fd)
{
	fprintf(stderr, "portguard: no guard is running for %s (%s): %s\n", c->name, c->control,
		strerror(-fd));
	config_free(c);
	return EX_NOGUARD;
}

/* A request to the running guard; returns the fd or a negative errno. */
static int cmd_request(struct pg_config *c, const char *what, int follow, int all)
{
	json_object *req = json_object_new_object();
	int fd;

	json_object_object_add(req, "cmd", json_object_new_string(what));
	if (follow)
		json_object_object_add(req, "follow", json_object_new_boolean(1));
	if (all)
		json_object_object_add(req, "all", json_object_new_boolean(1));
	fd = cmd_connect(c->control, req);
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

/* {"ok":false,"error":...}: the guard said no (too many clients, a bad request); say why. */
static int cmd_refused(json_object *r)
{
	json_object *ok, *e;

	if (!json_object_object_get_ex(r, "ok", &ok) || json_object_get_boolean(ok) ||
	    !json_object_object_get_ex(r, "error", &e))
		return 0;
	fprintf(stderr, "portguard: the guard refused the request: %s\n", json_object_get_string(e));
	return 1;
}

/*
 * One request, one reply: NULL with *err = -errno when no guard answers
 * (-EREMOTEIO: it refused, and the reason was printed).
 */
static json_object *cmd_ask(struct pg_config *c, const char *what, int timeout_s, int *err)
{
	int fd = cmd_request(c, what, 0, 0);
	json_object *r;
	FILE *f;

	*err = fd < 0 ? fd : 0;
	if (fd < 0)
		return NULL;
	if (timeout_s > 0) /* a guard stopped (SIGSTOP) or wedged must not hang a monitor */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_sec = timeout_s },
			   sizeof(struct timeval));
	f = fdopen(fd, "r");
	r = cmd_read_reply(f);
	fclose(f);
	if (!r)
		*err = -EPROTO; /* connected, but no answer */
	else if (cmd_refused(r)) {
		json_object_put(r);
		*err = -EREMOTEIO;
		return NULL;
	}
	return r;
}

/* No guard: the port table from one sock_diag snapshot. */
static json_object *cmd_snapshot(struct pg_config *c)
{
	struct status st;
	json_object *o = NULL;
	char *line = NULL;

	if (snapshot_no_guard(&st, c) == 0)
		line = encode_status(&st);
	status_free(&st);
	if (line)
		o = json_tokener_parse(line);
	free(line);
	return o ? o : json_object_new_object();
}

/* status --check: what a monitor pages on (render_check); 3 UNKNOWN when the guard cannot be asked. */
static int cmd_status_check(struct pg_config *c, json_object *st, int fd)
{
	int rc;

	if (st || fd == -ENOENT || fd == -ECONNREFUSED)
		rc = render_check(stdout, st, st != NULL, c->name);
	else {
		printf("PORTGUARD UNKNOWN - cannot ask the guard at %s: %s\n", c->control,
		       fd == -EREMOTEIO ? "it refused the request"
		       : fd == -EPROTO	? "it did not answer within " CMD_STATUS_TIMEOUT_STR " s"
					: strerror(-fd));
		rc = 3;
	}
	json_object_put(st);
	config_free(c);
	return rc;
}

static int cmd_status(struct opts *o, int argc, char **argv)
{
	struct pg_config *c = cmd_client_config(o);
	json_object *st, *h;
	int fd, rc;

	(void)argc;
	(void)argv;
	st = cmd_ask(c, "status", CMD_STATUS_TIMEOUT_S, &fd);
	if (o->check)
		return cmd_status_check(c, st, fd);
	if (!st && fd == -EREMOTEIO) {
		config_free(c);
		return 1;
	}
	if (!st && fd != -ENOENT && fd != -ECONNREFUSED) {
		fprintf(stderr, "portguard: cannot reach the guard at %s: %s\n", c->control,
			fd == -EPROTO ? "it did not answer (within " CMD_STATUS_TIMEOUT_STR " s)"
				      : strerror(-fd));
		config_free(c);
		return 1;
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
		render_status(stdout, st);
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
		render_event(stdout, ev);
	json_object_put(ev);
}

/*
 * Has f handed out all it read (its next getline would wait on the socket)?
 * Then what was printed goes out: one write per burst, not per line (a line
 * buffer made the follower a write(2) per event, too slow for a storm, and
 * the guard dropped it). glibc's FILE fields: stdio has no call that says it.
 */
static int cmd_stream_drained(FILE *f)
{
	return f->_IO_read_ptr >= f->_IO_read_end;
}

static int cmd_events(struct opts *o, int argc, char **argv)
{
	struct pg_config *c = cmd_client_config(o);
	char path[PATH_MAX], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int fd, rc = 0;

	(void)argc;
	(void)argv;
	fs_path(path, sizeof(path), c->state_dir, FS_JOURNAL, NULL);
	if (o->follow) {
		fd = cmd_request(c, "events", 1, o->all);
		if (fd < 0)
			return cmd_no_guard(c, fd);
		f = fdopen(fd, "r");
		if (f) /* a storm's stream in big reads, not 4 KiB ones */
			setvbuf(f, NULL, _IOFBF, 1 << 20);
		setvbuf(stdout, NULL, _IOFBF, 1 << 16); /* flushed whenever the stream is drained */
		if ((n = getline(&line, &cap, f)) > 0) { /* the {"ok":true} greeting */
			json_object *g = json_tokener_parse(line);

			if (g && cmd_refused(g))
				rc = 1, n = 0;
			json_object_put(g);
		}
		if (n <= 0 && !rc) {
			fprintf(stderr, "portguard: the guard closed the event stream\n");
			rc = 1;
		}
		while (!rc && (n = getline(&line, &cap, f)) > 0) {
			line[n - 1] = line[n - 1] == '\n' ? 0 : line[n - 1];
			cmd_print_event_line(o, line);
			if (cmd_stream_drained(f))
				fflush(stdout);
			if (ferror(stdout))
				break; /* the reader of our output is gone (SIGPIPE is ignored) */
		}
		if (!rc && n <= 0) /* a shutdown, or we fell 1 MiB behind and were dropped */
			fprintf(stderr, "portguard: the guard closed the event stream\n");
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

/* Run argv and wait: its exit status, or -1. */
static int cmd_run_wait(char *const argv[])
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/*
 * Under systemd, the unit of a config at /etc/portguard/NAME.conf
 * (portguard@NAME.service, contrib/systemd) into unit; 0 when there is none
 * to ask. A guard started by hand there would run outside the unit, in a
 * cgroup of its own, and not find the services the unit's guard left.
 */
static int cmd_unit_of(const char *config, char *unit, size_t len)
{
	char real[PATH_MAX];
	const char *base;
	size_t n;

	if (access("/run/systemd/system", F_OK) != 0 || !realpath(config, real) ||
	    strncmp(real, "/etc/portguard/", 15) != 0)
		return 0;
	base = real + 15;
	n = strlen(base);
	if (n <= 5 || strcmp(base + n - 5, ".conf") != 0 || strchr(base, '/'))
		return 0;
	return snprintf(unit, len, "portguard@%.*s.service", (int)(n - 5), base) < (int)len;
}

/* No guard runs: start one (its systemd unit, else portguard run --daemon); 0 when it is up. */
static int cmd_start_guard(struct opts *o, struct pg_config *c)
{
	char *args[] = { "/proc/self/exe", "run", "--daemon", "-c", (char *)o->config, NULL };
	char unit[PATH_MAX];
	int rc;

	if (cmd_unit_of(o->config, unit, sizeof(unit))) {
		char *sc[] = { "/bin/systemctl", "start", unit, NULL };

		if (!o->json)
			printf("no guard is running for %s: starting %s\n", c->name, unit);
		rc = cmd_run_wait(sc);
		if (rc == 0)
			return 0;
		if (rc != 5) { /* 5: no such unit installed; else it failed: never a second way */
			fprintf(stderr, "portguard: systemctl start %s failed (exit %d): see "
				"systemctl status %s\n", unit, rc, unit);
			return -1;
		}
	}
	if (!o->json)
		printf("no guard is running for %s: starting one (portguard run --daemon)\n",
		       c->name);
	return cmd_run_wait(args) == 0 ? 0 : -1;
}

/* A job's final answer r, printed; its exit code. */
static int cmd_job_result(struct opts *o, json_object *r)
{
	json_object *v, *st;
	int rc = json_object_object_get_ex(r, "ok", &v) && json_object_get_boolean(v) ? 0 : 1;

	if (o->json) {
		printf("%s\n", json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN));
		return rc;
	}
	if (json_object_object_get_ex(r, "status", &st)) {
		printf("\n");
		render_status(stdout, st);
	}
	if (json_object_object_get_ex(r, "error", &v))
		fprintf(stderr, "portguard: %s\n", json_object_get_string(v));
	else if (json_object_object_get_ex(r, "ms", &v))
		printf("\n%s done in %lld ms\n",
		       json_object_get_string(json_object_object_get(r, "mode")),
		       (long long)json_object_get_int64(v));
	return rc;
}

/* Send a job request and print its progress; returns the exit code. */
static int cmd_job(struct opts *o, struct pg_config *c, json_object *req)
{
	json_object *r, *v;
	char *line = NULL;
	size_t cap = 0;
	int fd, rc = 1, answered = 0;
	FILE *f;

	fd = cmd_connect(c->control, req);
	if (fd == -ENOENT || fd == -ECONNREFUSED) {
		if (cmd_start_guard(o, c) < 0)
			return 1;
		fd = cmd_connect(c->control, req);
	}
	if (fd < 0) {
		fprintf(stderr, "portguard: cannot reach the guard at %s: %s\n", c->control,
			strerror(-fd));
		return 1;
	}
	f = fdopen(fd, "r");
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (getline(&line, &cap, f) > 0) {
		if (!(r = json_tokener_parse(line)))
			continue;
		if (json_object_object_get_ex(r, "progress", &v)) {
			if (!o->json)
				printf("  %s\n", json_object_get_string(v));
			json_object_put(r);
			continue;
		}
		rc = cmd_job_result(o, r); /* the final answer */
		json_object_put(r);
		answered = 1;
		break;
	}
	free(line);
	fclose(f);
	if (!answered) { /* the guard exited or was killed with the job under way */
		const char *what = json_object_get_string(json_object_object_get(req, "cmd"));
		const char *why = "the guard closed the connection before the job ended (it exited "
				  "or was killed): `portguard status` says what runs now";

		if (o->json) {
			json_object *e = json_object_new_object();

			json_object_object_add(e, "ok", json_object_new_boolean(0));
			json_object_object_add(e, "error", json_object_new_string(why));
			printf("%s\n", json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
			json_object_put(e);
		}
		fprintf(stderr, "portguard: %s: %s\n", what ? what : "job", why);
	}
	return rc;
}

static json_object *cmd_job_req(const char *cmd, const char *mode, int argc, char **argv)
{
	json_object *req = json_object_new_object(), *names = json_object_new_array();
	int i;

	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	if (mode)
		json_object_object_add(req, "mode", json_object_new_string(mode));
	for (i = 0; i < argc; i++)
		json_object_array_add(names, json_object_new_string(argv[i]));
	json_object_object_add(req, "services", names);
	return req;
}

static int cmd_restart(struct opts *o, int argc, char **argv)
{
	struct pg_config *c = cmd_client_config(o);
	const char *mode = "master";
	json_object *req;
	int rc;

	argc--;
	argv++;
	if (argc && (!strcmp(argv[0], "master") || !strcmp(argv[0], "quick") ||
		     !strcmp(argv[0], "emergency"))) {
		mode = argv[0];
		argc--;
		argv++;
	}
	req = cmd_job_req("restart", mode, argc, argv);
	rc = cmd_job(o, c, req);
	json_object_put(req);
	config_free(c);
	return rc;
}

static int cmd_start_stop(struct opts *o, int argc, char **argv)
{
	struct pg_config *c;
	json_object *req;
	int rc;

	if (argc < 2 && !strcmp(argv[0], "stop")) {
		fprintf(stderr, "portguard: stop: name the services to stop (or use shutdown)\n");
		return EX_USAGE;
	}
	c = cmd_client_config(o);
	req = cmd_job_req(argv[0], NULL, argc - 1, argv + 1);
	rc = cmd_job(o, c, req);
	json_object_put(req);
	config_free(c);
	return rc;
}

/* Is a guard of this instance alive (it holds state_dir/guard.lock)? */
static int cmd_guard_locked(struct pg_config *c)
{
	char path[PATH_MAX];
	int fd, locked;

	fs_path(path, sizeof(path), c->state_dir, FS_LOCK, NULL);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	locked = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return locked;
}

static void shutdown_local_done(void *arg)
{
	(void)arg;
	supervise_remove_cgroups();
	loop_stop();
}

static void shutdown_local_event(enum ev_type type, struct pg_service *s, const char *detail)
{
	printf("%s %s%s%s\n", s->conf->name, ev_type_name(type), detail ? ": " : "",
	       detail ? detail : "");
}

static int cmd_shutdown(struct opts *o, int argc, char **argv)
{
	struct pg_config *c = cmd_client_config(o);
	json_object *r, *ok;
	int fd, rc = 0;

	(void)argc;
	(void)argv;
	r = cmd_ask(c, "shutdown", 0, &fd); /* it answers once every service stopped */
	if (r || fd == -EPROTO) {
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
	if (fd != -ENOENT && fd != -ECONNREFUSED) {
		fprintf(stderr, "portguard: cannot reach the guard at %s: %s\n", c->control,
			strerror(-fd));
		config_free(c);
		return 1;
	}
	if (cmd_guard_locked(c)) {
		fprintf(stderr, "portguard: a guard for %s holds %s/guard.lock but does not answer "
			"on %s: not touching its services\n", c->name, c->state_dir, c->control);
		config_free(c);
		return 1;
	}
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
	if (loader_remove_pins(c->bpffs, c->name) < 0)
		rc = 1;
	sysctl_unreserve_ports(c);
	printf("instance %s: no guard was running; every service stopped\n", c->name);
	config_free(c);
	return rc;
}

static int cmd_reload(struct opts *o, int argc, char **argv)
{
	struct pg_config *c = cmd_load_config(o); /* a broken file stops here: file:line */
	json_object *req = json_object_new_object(), *r = NULL, *v;
	int fd, rc = 1, i;
	FILE *f;

	(void)argc;
	(void)argv;
	json_object_object_add(req, "cmd", json_object_new_string("reload"));
	fd = cmd_connect(c->control, req);
	json_object_put(req);
	if (fd < 0)
		return cmd_no_guard(c, fd);
	f = fdopen(fd, "r");
	r = cmd_read_reply(f);
	fclose(f);
	if (r && json_object_object_get_ex(r, "ok", &v) && json_object_get_boolean(v)) {
		printf("%s: reloaded\n", o->config);
		rc = 0;
	} else if (r) {
		if (json_object_object_get_ex(r, "errors", &v))
			for (i = 0; i < (int)json_object_array_length(v); i++)
				fprintf(stderr, "%s\n", json_object_get_string(
								  json_object_array_get_idx(v, i)));
		fprintf(stderr, "portguard: %s\n",
			json_object_get_string(json_object_object_get(r, "error")));
	} else {
		fprintf(stderr, "portguard: the guard did not answer\n");
	}
	json_object_put(r);
	config_free(c);
	return rc;
}

static int cmd_help(struct opts *o, int argc, char **argv);

static const struct cmd cmds[] = {
	{ "run", cmd_run, "run [-c FILE] [-v] [--daemon]",
	  "Run the guard in the foreground: load the BPF programs, start and supervise the\n"
	  "services, watch every claim of the guarded ports. SIGTERM/SIGINT end the guard\n"
	  "and leave the services running; a new `run` adopts them. --daemon detaches\n"
	  "(log in log_dir/portguard.log, pidfile in state_dir/portguard.pid) once the guard\n"
	  "answers on its control socket." },
	{ "restart", cmd_restart, "restart [master|quick|emergency] [SERVICE...] [-c FILE] [--json]",
	  "master (the default): stop the services gracefully (reverse priority), flush every\n"
	  "assigned port (SIGTERM, then SIGKILL, to each process holding one: never pid 1,\n"
	  "the guard, a kernel thread or a process on a protected port), wait for the kernel\n"
	  "to release the ports, remove stale pidfiles and socket files, start the services\n"
	  "(priority order, each ready), verify. quick: stop and start through the supervisor\n"
	  "only. emergency: cgroup.kill every service and SIGKILL every holder at once, then as\n"
	  "master. SERVICE... restricts it to those services and their ports. Starts a guard\n"
	  "in the background when none runs. Exit 0 only when the final check passes." },
	{ "stop", cmd_start_stop, "stop SERVICE... [-c FILE] [--json]",
	  "Stop the named services (stop_signal, then cgroup.kill after stop_timeout)." },
	{ "start", cmd_start_stop, "start [SERVICE...] [-c FILE] [--json]",
	  "Start the named services (all when none is named) and wait until they are ready." },
	{ "check", cmd_check, "check [-c FILE]",
	  "Validate the config without running: exit 0, or exit 2 with one\n"
	  "`file:line: message` per error." },
	{ "status", cmd_status, "status [-c FILE] [--json | --check]",
	  "Show the guard, each service and each guarded and protected port. Exit 0 when\n"
	  "all is well, 1 when anything is degraded, 3 when no guard runs (the port table\n"
	  "then comes from one sock_diag snapshot). --check: one line for a Nagios/Icinga-\n"
	  "style monitor, exit 0 OK, 1 WARNING (a service starting or stopped by hand, a port\n"
	  "held by a stranger, events lost), 2 CRITICAL (no guard; a service FATAL, EXITED\n"
	  "or in BACKOFF), 3 UNKNOWN (the guard cannot be asked)." },
	{ "events", cmd_events, "events [-c FILE] [--json] [--follow [--all]]",
	  "Print the journal (state_dir/events.jsonl); with --follow, the live stream;\n"
	  "with --all, the owners' own binds, listens and releases too." },
	{ "reload", cmd_reload, "reload [-c FILE]",
	  "Read the config again (as SIGHUP does). A file with errors changes nothing (each\n"
	  "error is printed as file:line: message); a valid one updates the port maps and\n"
	  "policy in place, starts new services, stops removed ones and restarts changed\n"
	  "ones, leaving the others untouched." },
	{ "shutdown", cmd_shutdown, "shutdown [-c FILE]",
	  "Stop every service (reverse priority order), then the guard, and remove the\n"
	  "instance's cgroups. Requires root." },
	{ "import", cmd_import, "import supervisord FILE... [-o OUT]",
	  "Write a portguard.conf from a supervisord config: its [program:x] sections (and\n"
	  "the files its [include] names) become services; what cannot be mapped is a\n"
	  "comment. When that supervisord runs (and as root), each program's listening\n"
	  "ports, found from its processes, become its service's port and the guarded set.\n"
	  "To stdout, or to OUT (never over an existing file)." },
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
		   "      --all          events --follow: the owners' routine claims too\n"
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

/* The options, anywhere on the line (GNU getopt permutes them): 0, or -1 after the usage. */
static int main_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "config", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
		{ "follow", no_argument, NULL, 'f' },	    { "verbose", no_argument, NULL, 'v' },
		{ "all", no_argument, NULL, 'a' },	    { "output", required_argument, NULL, 'o' },
		{ "check", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },	    { "daemon", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "c:fvho:", lopts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			o->output = optarg;
			break;
		case 'k':
			o->check = 1;
			break;
		case 'c':
			o->config = optarg;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'd':
			o->daemon = 1;
			break;
		case 'f':
			o->follow = 1;
			break;
		case 'a':
			o->all = 1;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'h':
			o->help = 1;
			break;
		default:
			usage(stderr);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .config = PG_DEFAULT_CONFIG };
	const struct cmd *c;

	/* a guard that closes on us is an error to report, not a silent death */
	signal(SIGPIPE, SIG_IGN);
	if (main_opts(argc, argv, &o) < 0)
		return EX_USAGE;
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
