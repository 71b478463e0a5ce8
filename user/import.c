/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * supervisord's config is read here by hand, as Python's RawConfigParser
 * reads it for supervisord (sections, `=` or `:`, indented continuation
 * lines, `;`/`#` comments, inline ones after a blank, keys lowercased,
 * %(name)s expansion): Debian's libinih cuts lines at 200 characters, and
 * program command lines are often longer.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "import.h"
#include "proc.h"

struct imp_kv {
	char *key, *val;
	int line;
	struct imp_kv *next;
};

struct imp_sec {
	char *name, *file, *here; /* here: the file's directory, supervisord's %(here)s */
	int line;
	struct imp_kv *kv, **tail;
	struct imp_sec *next;
};

/* One service to write: a program's process (numprocs make several). */
struct imp_svc {
	const struct imp_sec *sec;
	char name[PG_NAME_MAX];	  /* the service's name */
	char pname[256];	  /* supervisord's process name (SUPERVISOR_PROCESS_NAME) */
	int num;		  /* process_num */
	int ports[8], nports;	  /* listening now (TCP or UDP), lowest first */
};

struct imp {
	struct imp_sec *secs, **tail;
	FILE *err;
	int nerr;
	struct imp_svc svc[PG_MAX_SERVICES];
	int nsvc, dropped;
};

static void imp_err(struct imp *I, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(I->err, "%s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(I->err, fmt, ap);
	va_end(ap);
	fputc('\n', I->err);
	I->nerr++;
}

static char *imp_strip(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

/* Python 3's inline comments for supervisord: ';' or '#' after whitespace. */
static char *imp_uncomment(char *s)
{
	char *p;

	for (p = s; *p; p++)
		if ((*p == ';' || *p == '#') && p > s && isspace((unsigned char)p[-1])) {
			*p = 0;
			break;
		}
	return imp_strip(s);
}

static struct imp_kv *imp_find(const struct imp_sec *sec, const char *key)
{
	struct imp_kv *kv;

	for (kv = sec ? sec->kv : NULL; kv; kv = kv->next)
		if (!strcmp(kv->key, key))
			return kv;
	return NULL;
}

static struct imp_sec *imp_section(struct imp *I, const char *name, const char *file, int line)
{
	struct imp_sec *sec = calloc(1, sizeof(*sec));
	char dir[PATH_MAX], *slash;

	if (!sec || !(sec->name = strdup(name)) || !(sec->file = strdup(file)))
		return NULL;
	snprintf(dir, sizeof(dir), "%s", file);
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = 0;
	else
		snprintf(dir, sizeof(dir), ".");
	sec->here = realpath(dir, NULL);
	if (!sec->here && !(sec->here = strdup(dir)))
		return NULL;
	sec->line = line;
	sec->tail = &sec->kv;
	*I->tail = sec;
	I->tail = &sec->next;
	return sec;
}

/* key = value (or key: value) in sec; later duplicates replace (strict = False). */
static struct imp_kv *imp_set(struct imp_sec *sec, char *line, int lineno)
{
	size_t k = strcspn(line, "=:");
	struct imp_kv *kv;
	char *key, *p;

	if (!line[k])
		return NULL;
	line[k] = 0;
	key = imp_strip(line);
	for (p = key; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!*key)
		return NULL;
	kv = imp_find(sec, key);
	if (!kv) {
		if (!(kv = calloc(1, sizeof(*kv))) || !(kv->key = strdup(key)))
			return NULL;
		*sec->tail = kv;
		sec->tail = &kv->next;
	}
	free(kv->val);
	kv->val = strdup(imp_uncomment(line + k + 1));
	kv->line = lineno;
	return kv->val ? kv : NULL;
}

/* An indented line continues the value before it. */
static int imp_continue(struct imp_kv *kv, char *line)
{
	char *more = imp_uncomment(line), *v;

	if (!*more)
		return 0;
	if (!(v = malloc(strlen(kv->val) + strlen(more) + 2)))
		return -1;
	sprintf(v, "%s%s%s", kv->val, *kv->val ? "\n" : "", more);
	free(kv->val);
	kv->val = v;
	return 0;
}

static int imp_line(struct imp *I, const char *path, char *line, int lineno,
		    struct imp_sec **sec, struct imp_kv **last)
{
	char *s = imp_strip(line), *end;

	if (!*s || *s == '#' || *s == ';') {
		if (!*s)
			*last = NULL;
		return 0;
	}
	if (isspace((unsigned char)line[0]) && *last) /* imp_strip left line[0] alone */
		return imp_continue(*last, s);
	*last = NULL;
	if (*s == '[') {
		if (!(end = strchr(s, ']'))) {
			imp_err(I, path, lineno, "malformed section header");
			return 0;
		}
		*end = 0;
		return (*sec = imp_section(I, imp_strip(s + 1), path, lineno)) ? 0 : -1;
	}
	if (!*sec) {
		imp_err(I, path, lineno, "a key before any [section]");
		return 0;
	}
	if (!(*last = imp_set(*sec, s, lineno)) && !strpbrk(s, "=:"))
		imp_err(I, path, lineno, "expected 'key = value' or '[section]'");
	return 0;
}

/* A supervisord config, with the guard config's care: never blocks on a FIFO or a
 * device (/dev/zero would be read until memory ran out), refuses what is not a
 * regular file, and anything over IMP_MAX_BYTES (supervisord's own are some KiB). */
#define IMP_MAX_BYTES (16u << 20)

static FILE *imp_open(struct imp *I, const char *path)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	struct stat st;
	FILE *f;

	if (fd < 0) {
		imp_err(I, path, 0, "cannot read: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)IMP_MAX_BYTES) {
		imp_err(I, path, 0, "%s", S_ISDIR(st.st_mode) ? "cannot read: Is a directory" :
			!S_ISREG(st.st_mode) ? "not a regular file (a FIFO, device or socket is refused)"
					     : "larger than 16 MiB: not a supervisord config");
		close(fd);
		return NULL;
	}
	if (!(f = fdopen(fd, "r"))) {
		imp_err(I, path, 0, "cannot read: %s", strerror(errno));
		close(fd);
	}
	return f;
}

static int imp_read(struct imp *I, const char *path)
{
	struct imp_sec *sec = NULL;
	struct imp_kv *last = NULL;
	FILE *f = imp_open(I, path);
	size_t cap = 0;
	char *line = NULL;
	int lineno = 0, err = 0;

	if (!f)
		return 0;
	while (!err && getline(&line, &cap, f) >= 0)
		err = imp_line(I, path, line, ++lineno, &sec, &last);
	free(line);
	fclose(f);
	return err;
}

/* ---- %(name)s expansion, as supervisord does it ---- */

struct imp_vars {
	const struct imp_sec *sec;
	const char *program;
	int num, numprocs;
};

/* The value of %(name): a string in buf; 0, or -1 when supervisord would not know it. */
static int imp_var(const struct imp_vars *v, const char *name, char *buf, size_t len)
{
	struct utsname u;

	if (!strcmp(name, "here"))
		snprintf(buf, len, "%s", v->sec->here);
	else if (!strcmp(name, "program_name") || !strcmp(name, "group_name"))
		snprintf(buf, len, "%s", v->program);
	else if (!strcmp(name, "process_num"))
		snprintf(buf, len, "%d", v->num);
	else if (!strcmp(name, "numprocs"))
		snprintf(buf, len, "%d", v->numprocs);
	else if (!strcmp(name, "host_node_name") && uname(&u) == 0)
		snprintf(buf, len, "%s", u.nodename);
	else if (!strncmp(name, "ENV_", 4) && getenv(name + 4))
		snprintf(buf, len, "%s", getenv(name + 4));
	else
		return -1;
	return 0;
}

/* in with every %(name)<flags><width><conv> replaced: malloc'd, or NULL (why in *bad). */
static char *imp_expand(const char *in, const struct imp_vars *v, const char **bad)
{
	size_t cap = strlen(in) + 256, n = 0;
	char *out = malloc(cap), name[64], val[PATH_MAX], spec[16];
	const char *p = in, *close;

	while (out && *p) {
		size_t w = 0;

		if (p[0] == '%' && p[1] == '%') {
			val[0] = '%', val[1] = 0, p += 2;
		} else if (p[0] == '%' && p[1] == '(' && (close = strchr(p, ')')) &&
			   (size_t)(close - p - 2) < sizeof(name)) {
			snprintf(name, sizeof(name), "%.*s", (int)(close - p - 2), p + 2);
			p = close + 1;
			while (w + 1 < sizeof(spec) - 2 && strchr("-0 +123456789", p[w]))
				w++;
			if (!strchr("sdir", p[w]) || !p[w] || imp_var(v, name, val, sizeof(val))) {
				*bad = in;
				free(out);
				return NULL;
			}
			if (p[w] != 's' && p[w] != 'r') { /* a number, with its width */
				snprintf(spec, sizeof(spec), "%%%.*sld", (int)w, p);
				snprintf(val, sizeof(val), spec, strtol(val, NULL, 10));
			}
			p += w + 1;
		} else {
			val[0] = *p++, val[1] = 0;
		}
		if (n + strlen(val) + 1 > cap && !(out = realloc(out, cap = cap * 2 + strlen(val))))
			break;
		n += (size_t)sprintf(out + n, "%s", val);
	}
	if (out)
		out[n] = 0;
	return out;
}

/* ---- the programs' processes: which is which, from their environment ---- */

/* The value of NAME= in a NUL-separated environment block, or NULL. */
static const char *imp_env(const char *env, size_t len, const char *name)
{
	size_t nl = strlen(name);
	const char *p;

	for (p = env; p < env + len; p += strlen(p) + 1)
		if (!strncmp(p, name, nl) && p[nl] == '=')
			return p + nl + 1;
	return NULL;
}

/* The service whose supervisord process name pid carries in its environment, or NULL. */
static struct imp_svc *imp_svc_of_pid(struct imp *I, uint32_t pid, const char *url)
{
	static char env[65536];
	const char *name, *srv;
	ssize_t len = proc_read(pid, "environ", env, sizeof(env));
	int i;

	if (len <= 0 || !(name = imp_env(env, (size_t)len, "SUPERVISOR_PROCESS_NAME")))
		return NULL;
	srv = imp_env(env, (size_t)len, "SUPERVISOR_SERVER_URL");
	if (url && srv && strcmp(url, srv))
		return NULL; /* a program of another supervisord */
	for (i = 0; i < I->nsvc; i++)
		if (!strcmp(I->svc[i].pname, name))
			return &I->svc[i];
	return NULL;
}

static void imp_add_port(struct imp_svc *s, int port)
{
	int i, j;

	for (i = 0; i < s->nports; i++)
		if (s->ports[i] == port)
			return;
	if (s->nports == (int)(sizeof(s->ports) / sizeof(s->ports[0])))
		return;
	for (i = 0; i < s->nports && s->ports[i] < port; i++)
		;
	for (j = s->nports++; j > i; j--)
		s->ports[j] = s->ports[j - 1];
	s->ports[i] = port;
}

/* Listening sockets (sock_diag) held by each program's processes: its ports. */
static void imp_find_ports(struct imp *I, const char *url)
{
	struct diag_result r = { 0 };
	struct imp_svc *s;
	int i, h;

	if (diag_dump(NULL, 0, &r) < 0)
		return; /* not root, or no sock_diag: no ports, and the output says so */
	for (i = 0; i < r.n; i++)
		for (h = 0; h < r.socks[i].nholders; h++)
			if ((s = imp_svc_of_pid(I, r.socks[i].holders[h].pid, url)))
				imp_add_port(s, r.socks[i].port);
	diag_free(&r);
}

/* supervisord's own URL its programs get as SUPERVISOR_SERVER_URL, when the config says. */
static const char *imp_server_url(struct imp *I, char *buf, size_t len)
{
	const struct imp_sec *sec;
	struct imp_kv *kv;

	for (sec = I->secs; sec; sec = sec->next)
		if (!strcmp(sec->name, "unix_http_server") && (kv = imp_find(sec, "file"))) {
			snprintf(buf, len, "unix://%s", kv->val);
			return buf;
		}
	return NULL;
}

/* ---- the services: one per program, or per process with numprocs ---- */

static void imp_service_name(char *out, size_t len, const char *in)
{
	size_t i;

	for (i = 0; in[i] && i + 1 < len; i++)
		out[i] = isalnum((unsigned char)in[i]) || strchr("_.-", in[i]) ? in[i] : '_';
	out[i] = 0;
}

static int imp_num(const struct imp_sec *sec, const char *key, int dflt)
{
	struct imp_kv *kv = imp_find(sec, key);
	char *end;
	long v;

	if (!kv)
		return dflt;
	v = strtol(kv->val, &end, 10);
	return *kv->val && !*end && v >= 0 && v <= INT_MAX ? (int)v : dflt;
}

static void imp_programs(struct imp *I)
{
	const struct imp_sec *sec;
	const char *bad = NULL;

	for (sec = I->secs; sec; sec = sec->next) {
		int n, start, k;
		struct imp_kv *pn;

		if (strncmp(sec->name, "program:", 8))
			continue;
		n = imp_num(sec, "numprocs", 1);
		start = imp_num(sec, "numprocs_start", 0);
		pn = imp_find(sec, "process_name");
		for (k = 0; k < (n ? n : 1); k++) {
			struct imp_vars v = { sec, sec->name + 8, start + k, n };
			struct imp_svc *s;
			char *name;

			if (I->nsvc == PG_MAX_SERVICES) {
				I->dropped++;
				continue;
			}
			s = &I->svc[I->nsvc++];
			s->sec = sec;
			s->num = start + k;
			name = imp_expand(pn ? pn->val : "%(program_name)s", &v, &bad);
			snprintf(s->pname, sizeof(s->pname), "%s", name ? name : sec->name + 8);
			imp_service_name(s->name, sizeof(s->name), s->pname);
			free(name);
		}
	}
}

/* ---- writing portguard.conf ---- */

static const char *const imp_mapped[] = { "command", "directory", "user", "environment",
					  "autorestart", "startsecs", "stopsignal",
					  "stopwaitsecs", "priority", "numprocs", "numprocs_start",
					  "process_name", NULL };

/* supervisord's environment (KEY="v",KEY2=v2, quotes optional) as portguard's list. */
static int imp_environment(const char *in, char *out, size_t len)
{
	size_t n = 0;
	const char *p = in;

	while (*p) {
		char key[128], val[1024], q = 0;
		size_t k = 0, v = 0;

		while (isspace((unsigned char)*p) || *p == ',')
			p++;
		while (*p && *p != '=' && k + 1 < sizeof(key))
			key[k++] = *p++;
		if (*p++ != '=')
			return *imp_strip(key) ? -1 : 0;
		key[k] = 0;
		if (*p == '"' || *p == '\'')
			q = *p++;
		while (*p && (q ? *p != q : *p != ',') && v + 1 < sizeof(val))
			val[v++] = *p++;
		if (q && *p++ != q)
			return -1;
		val[v] = 0;
		if (strchr(val, ',') || strchr(val, '\n'))
			return -1; /* portguard's list has no quoting for these */
		n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s=%s", n ? ", " : "",
				      imp_strip(key), q ? val : imp_strip(val));
	}
	return n < len ? 0 : -1;
}

static void imp_write_value(FILE *out, const char *key, const char *val)
{
	const char *p;

	fprintf(out, "%s = ", key);
	for (p = val; *p; p++)
		fputc(*p == '\n' ? ' ' : *p, out); /* continuation lines: one line here */
	fputc('\n', out);
}

/* The keys of one program that map: each written, or a comment saying why not. */
static void imp_write_mapped(FILE *out, const struct imp_svc *s, const struct imp_vars *v)
{
	static const char *const restart[][2] = { { "true", "always" }, { "false", "never" },
						  { "unexpected", "on-failure" } };
	const struct imp_sec *sec = s->sec;
	const char *bad = NULL;
	struct imp_kv *kv;
	char buf[4096], *x;
	size_t i;

	if ((kv = imp_find(sec, "command")) && (x = imp_expand(kv->val, v, &bad))) {
		imp_write_value(out, "command", x);
		free(x);
	} else {
		fprintf(out, "# command: %s: not mapped\ncommand = /bin/false\n",
			kv ? "cannot expand its %(...)s" : "none in the program");
	}
	if ((kv = imp_find(sec, "directory")) && (x = imp_expand(kv->val, v, &bad))) {
		imp_write_value(out, "directory", x);
		free(x);
	}
	if ((kv = imp_find(sec, "user")))
		fprintf(out, getpwnam(kv->val) ? "user = %s\n"
					       : "# user = %s: no such user on this host\n", kv->val);
	if ((kv = imp_find(sec, "environment")) && (x = imp_expand(kv->val, v, &bad))) {
		if (imp_environment(x, buf, sizeof(buf)) == 0)
			fprintf(out, "environment = %s\n", buf);
		else
			fprintf(out, "# environment = %s: not mapped (a value with a comma or a "
				     "newline has no portguard form)\n", kv->val);
		free(x);
	}
	if ((kv = imp_find(sec, "autorestart"))) {
		for (i = 0; i < 3 && strcasecmp(kv->val, restart[i][0]); i++)
			;
		fprintf(out, i < 3 ? "restart = %s\n" : "# autorestart = %s: not mapped\n",
			i < 3 ? restart[i][1] : kv->val);
	}
	if ((kv = imp_find(sec, "startsecs")))
		fprintf(out, "start_window = %ss\n", kv->val);
	if ((kv = imp_find(sec, "stopsignal")))
		fprintf(out, "stop_signal = %s\n", kv->val);
	if ((kv = imp_find(sec, "stopwaitsecs")))
		fprintf(out, "stop_timeout = %ss\n", kv->val);
	if ((kv = imp_find(sec, "priority")))
		fprintf(out, "priority = %s\n", kv->val);
}

/* What does not map: one comment per key, never dropped. */
static void imp_write_unmapped(FILE *out, const struct imp_sec *sec)
{
	const struct imp_kv *kv;
	size_t i;

	for (kv = sec->kv; kv; kv = kv->next) {
		for (i = 0; imp_mapped[i] && strcmp(imp_mapped[i], kv->key); i++)
			;
		if (imp_mapped[i])
			continue;
		if (!strcmp(kv->key, "autostart") && !strcasecmp(kv->val, "false"))
			fprintf(out, "# autostart = false: not mapped (portguard starts every "
				     "service; leave this one out to keep it from starting)\n");
		else
			fprintf(out, "# %s = %s: not mapped (%s:%d)\n", kv->key, kv->val, sec->file,
				kv->line);
	}
}

static int imp_port_taken(const struct imp *I, int upto, int port)
{
	int i;

	for (i = 0; i < upto; i++)
		if (I->svc[i].nports && I->svc[i].ports[0] == port)
			return 1;
	return 0;
}

static void imp_write_service(struct imp *I, FILE *out, int i)
{
	const struct imp_svc *s = &I->svc[i];
	struct imp_vars v = { s->sec, s->sec->name + 8, s->num, imp_num(s->sec, "numprocs", 1) };
	int p;

	fprintf(out, "\n# [%s] in %s:%d%s%s\n[service:%s]\n", s->sec->name, s->sec->file,
		s->sec->line, strcmp(s->pname, s->sec->name + 8) ? ", process " : "",
		strcmp(s->pname, s->sec->name + 8) ? s->pname : "", s->name);
	imp_write_mapped(out, s, &v);
	for (p = 0; p < s->nports; p++) {
		if (p == 0 && !imp_port_taken(I, i, s->ports[0]))
			fprintf(out, "port = %d\n", s->ports[0]); /* its processes listen there now */
		else
			fprintf(out, "# port %d: its processes listen there too (one port per "
				     "service; it is in the guarded set)\n", s->ports[p]);
	}
	imp_write_unmapped(out, s->sec);
}

static void imp_write_guard(struct imp *I, FILE *out, const char *const *files, int n)
{
	uint8_t seen[65536] = { 0 };
	int i, p, any = 0;

	fprintf(out, "# portguard.conf written by `portguard import supervisord");
	for (i = 0; i < n; i++)
		fprintf(out, " %s", files[i]);
	fprintf(out, "`.\n# What could not be mapped is a comment below.\n[guard]\n"
		     "# watch first; `mode = enforce` once `portguard status` looks right\n"
		     "mode = observe\n");
	for (i = 0; i < I->nsvc; i++)
		for (p = 0; p < I->svc[i].nports; p++)
			seen[I->svc[i].ports[p]] = 1;
	for (p = 1; p < 65536; p++)
		if (seen[p])
			fprintf(out, "%s%d", any++ ? ", " : "# the programs' processes listen on "
							    "these now\nports = ", p);
	fprintf(out, any ? "\n" : "# ports: none found listening (is that supervisord "
				  "running?); list the ports the services own here\n");
}

static void imp_write_others(struct imp *I, FILE *out)
{
	const struct imp_sec *sec;

	for (sec = I->secs; sec; sec = sec->next)
		if (!strncmp(sec->name, "group:", 6) || !strncmp(sec->name, "eventlistener:", 14) ||
		    !strncmp(sec->name, "fcgi-program:", 13))
			fprintf(out, "# [%s] (%s:%d): not mapped (portguard has no %.*s; services "
				     "start by priority)\n", sec->name, sec->file, sec->line,
				(int)strcspn(sec->name, ":"), sec->name);
	for (sec = I->secs; sec; sec = sec->next)
		if (strncmp(sec->name, "program:", 8) && strncmp(sec->name, "group:", 6) &&
		    strncmp(sec->name, "eventlistener:", 14) &&
		    strncmp(sec->name, "fcgi-program:", 13) && strcmp(sec->name, "include"))
				fprintf(out, "# [%s] (%s:%d): supervisord's own settings, not needed\n",
					sec->name, sec->file, sec->line);
	if (I->dropped)
		fprintf(out, "# %d more processes: not mapped (at most %d services)\n",
			I->dropped, PG_MAX_SERVICES);
}

/* [include] files = globs, relative to the including file's directory: read in order. */
static int imp_includes(struct imp *I, struct imp_sec *first, struct imp_sec *upto)
{
	struct imp_sec *sec;

	for (sec = first; sec; sec = sec == upto ? NULL : sec->next) {
		struct imp_kv *kv = strcmp(sec->name, "include") ? NULL : imp_find(sec, "files");
		char *list, *tok, *save, pat[PATH_MAX];
		glob_t g;
		size_t j;

		if (!kv || !(list = strdup(kv->val)))
			continue;
		for (tok = strtok_r(list, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
			snprintf(pat, sizeof(pat), "%s%s%s", tok[0] == '/' ? "" : sec->here,
				 tok[0] == '/' ? "" : "/", tok);
			if (glob(pat, 0, NULL, &g) == 0) {
				for (j = 0; j < g.gl_pathc; j++)
					if (imp_read(I, g.gl_pathv[j]) < 0)
						break;
				globfree(&g);
			}
		}
		free(list);
	}
	return 0;
}

static void imp_free(struct imp *I)
{
	struct imp_sec *sec, *ns;
	struct imp_kv *kv, *nk;

	for (sec = I->secs; sec; sec = ns) {
		ns = sec->next;
		for (kv = sec->kv; kv; kv = nk) {
			nk = kv->next;
			free(kv->key);
			free(kv->val);
			free(kv);
		}
		free(sec->name);
		free(sec->file);
		free(sec->here);
		free(sec);
	}
}

int import_supervisord(const char *const *files, int n, FILE *out, FILE *err)
{
	struct imp *I = calloc(1, sizeof(*I));
	char url[PATH_MAX + 16];
	int i, rc = -1;

	if (!I) {
		fprintf(err, "portguard: out of memory\n");
		return -1;
	}
	I->tail = &I->secs;
	I->err = err;
	for (i = 0; i < n; i++) {
		struct imp_sec **start = I->tail, *last = NULL, *s;

		if (imp_read(I, files[i]) < 0)
			break;
		for (s = *start; s; s = s->next)
			last = s;
		if (last) /* this file's [include], as supervisord reads it */
			imp_includes(I, *start, last);
	}
	if (i == n && !I->nerr) {
		imp_programs(I);
		imp_find_ports(I, imp_server_url(I, url, sizeof(url)));
		imp_write_guard(I, out, files, n);
		for (i = 0; i < I->nsvc; i++)
			imp_write_service(I, out, i);
		imp_write_others(I, out);
		rc = 0;
	}
	imp_free(I);
	free(I);
	return rc;
}
