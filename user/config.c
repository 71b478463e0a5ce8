/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The INI config: [guard] and [service:NAME] sections, in the syntax of
 * libinih (sections, "key = value" or "key: value", ';' and '#' comment
 * lines, an inline "; comment" after whitespace, no continuation lines).
 *
 * One parser of our own, as systemd's conf-parser is: Debian's libinih has
 * no line numbers (INI_HANDLER_LINENO is off) and a fixed 200-byte line
 * buffer, so it could do only part of the job (it once split the key from
 * the value behind our reader; two parsers of one file). The reader here
 * counts lines, reads lines of any length up to CONFIG_LINE_MAX, and
 * reports every problem as "file:line: message".
 *
 * Every error is reported as "file:line: message" and parsing goes on; the
 * config is returned only when the whole file is valid.
 */
#ifndef _GNU_SOURCE
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <unistd.h>
#include <pwd.h>
#include <grp.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define CONFIG_LINE_MAX 8192 /* longest line accepted, in bytes */
#define CONFIG_PATH_MAX (PATH_MAX - 1)
#define CONFIG_SUN_PATH_MAX 107 /* sizeof(sockaddr_un.sun_path) - 1 */

#define CONFIG_DEF_START_TIMEOUT_MS 10000
#define CONFIG_DEF_START_WINDOW_MS 100
#define CONFIG_DEF_STOP_TIMEOUT_MS 5000
#define CONFIG_DEF_PRIORITY 100

enum config_sect {
	CONFIG_SECT_NONE, /* before the first section header */
	CONFIG_SECT_GUARD,
	CONFIG_SECT_SERVICE,
	CONFIG_SECT_SKIP, /* a bad section: its keys are ignored */
};

struct config_ctx;
struct config_msg;

struct config_key {
	const char *name;
	int (*set)(struct config_ctx *ctx, const char *key, const char *value);
};

struct config_ctx {
	struct pg_config *c;
	const char *path;
	FILE *errs;
	FILE *f;
	int nerr;
	int oom;
	struct config_msg *msgs; /* the errors, in the order found */
	int nmsg, msgcap;

	/* the reader */
	char *buf;
	size_t bufsz;
	int line; /* line the current line starts on */

	/* the current section */
	enum config_sect sect;
	struct pg_service_conf *cur;
	int *cur_keys; /* line of each key seen in the current section */

	int guard_line; /* line of the [guard] header, 0 if none */
	int guard_keys[21];
	int svc_keys[PG_MAX_SERVICES][17];
};

/* Errors are kept and written sorted by line once the whole file is checked. */
struct config_msg {
	int line;
	int seq;
	char *text;
};

static void config_err(struct config_ctx *ctx, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * The file's bytes are the file's, not the terminal's: control characters
 * (ESC, CSI, CR, ...) in a message become \xNN. Takes s; NULL on ENOMEM.
 */
static char *config_escape(char *s)
{
	size_t n = 0, i;
	char *out, *o;

	for (i = 0; s[i]; i++)
		n += (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? 4 : 1;
	if (n == i)
		return s;
	out = malloc(n + 1);
	for (i = 0, o = out; out && s[i]; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			o += sprintf(o, "\\x%02x", (unsigned char)s[i]);
		else
			*o++ = s[i];
	}
	if (out)
		*o = 0;
	free(s);
	return out;
}

static void config_err(struct config_ctx *ctx, int line, const char *fmt, ...)
{
	struct config_msg *msgs;
	char *text;
	va_list ap;
	int n;

	ctx->nerr++;
	if (!ctx->errs)
		return;
	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n >= 0 && !(text = config_escape(text)))
		n = -1;
	if (n < 0) {
		fprintf(ctx->errs, "%s:%d: out of memory\n", ctx->path, line);
		return;
	}
	if (ctx->nmsg == ctx->msgcap) {
		msgs = reallocarray(ctx->msgs, ctx->msgcap * 2 + 16, sizeof(*msgs));
		if (!msgs) {
			fprintf(ctx->errs, "%s:%d: %s\n", ctx->path, line, text);
			free(text);
			return;
		}
		ctx->msgs = msgs;
		ctx->msgcap = ctx->msgcap * 2 + 16;
	}
	ctx->msgs[ctx->nmsg].line = line;
	ctx->msgs[ctx->nmsg].seq = ctx->nmsg;
	ctx->msgs[ctx->nmsg].text = text;
	ctx->nmsg++;
}

static int config_msg_cmp(const void *a, const void *b)
{
	const struct config_msg *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq - y->seq;
}

/* Writes the errors in line order ("file:line: message", or "file: message") and frees them. */
static void config_flush(struct config_ctx *ctx)
{
	struct config_msg *m;
	int i;

	if (!ctx->nmsg)
		return;
	qsort(ctx->msgs, ctx->nmsg, sizeof(ctx->msgs[0]), config_msg_cmp);
	for (i = 0; i < ctx->nmsg; i++) {
		m = &ctx->msgs[i];
		if (m->line > 0)
			fprintf(ctx->errs, "%s:%d: %s\n", ctx->path, m->line, m->text);
		else
			fprintf(ctx->errs, "%s: %s\n", ctx->path, m->text);
		free(m->text);
	}
	free(ctx->msgs);
	ctx->msgs = NULL;
	ctx->nmsg = 0;
}

static int config_oom(struct config_ctx *ctx)
{
	if (!ctx->oom)
		config_err(ctx, ctx->line, "out of memory");
	ctx->oom = 1;
	return -ENOMEM;
}

static char *config_lskip(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return (char *)s;
}

static char *config_rstrip(char *s)
{
	char *e = s + strlen(s);

	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/*
 * First of `chars` in s, or the start of an inline comment (';' after
 * whitespace), or the end of s: the rule of libinih's syntax.
 */
static char *config_find(const char *s, const char *chars)
{
	int was_space = 0;

	while (*s && (!chars || !strchr(chars, *s)) && !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s);
		s++;
	}
	return (char *)s;
}

/* [A-Za-z0-9_.-]+, 1..PG_NAME_MAX - 1 characters, not "." or "..". */
static int config_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n >= PG_NAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
			return 0;
	return 1;
}

/* A decimal integer in [min, max]: 0, -ERANGE or -EINVAL. */
static int config_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)*s) &&
	    !((*s == '-' || *s == '+') && isdigit((unsigned char)s[1])))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int config_parse_duration(const char *s, uint64_t *ms)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	uint64_t ip = 0, frac = 0, fdiv = 1, unit = 0, v, f;
	const char *p;
	size_t i;
	int d;

	if (!s)
		return -1;
	p = config_lskip(s);
	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		d = *p - '0';
		if (ip > (UINT64_MAX - d) / 10)
			return -1;
		ip = ip * 10 + d;
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		for (; isdigit((unsigned char)*p); p++) {
			if (fdiv >= 1000000000)
				continue; /* below a nanosecond: ignored */
			frac = frac * 10 + (*p - '0');
			fdiv *= 10;
		}
	}
	for (i = 0; i < ARRAY_SIZE(units); i++) {
		size_t n = strlen(units[i].suffix);

		if (!strncmp(p, units[i].suffix, n) && !*config_lskip(p + n)) {
			unit = units[i].ms;
			break;
		}
	}
	if (!unit || ip > UINT64_MAX / unit)
		return -1;
	v = ip * unit;
	f = frac * unit / fdiv;
	if (v > UINT64_MAX - f)
		return -1;
	*ms = v + f;
	return 0;
}

static __thread char config_why[160];

/* One port at *p ("8001"); *p moves past it. 0 or -1 with config_why set. */
static int config_port_at(const char **p, const char *item, size_t itemlen, long *port)
{
	const char *s = *p;
	long v = 0;

	if (!isdigit((unsigned char)*s)) {
		snprintf(config_why, sizeof(config_why), "bad number '%.*s'", (int)itemlen, item);
		return -1;
	}
	for (; isdigit((unsigned char)*s); s++)
		if (v <= 65535)
			v = v * 10 + (*s - '0');
	if (v < 1 || v > 65535) {
		snprintf(config_why, sizeof(config_why), "port %.*s out of range (1..65535)",
			 (int)(s - *p), *p);
		return -1;
	}
	*p = s;
	*port = v;
	return 0;
}

/* "3000" or "8001-8005" (spaces allowed around '-'), nothing else. */
static int config_port_item(const char *item, size_t len, long *lo, long *hi)
{
	const char *p = item, *end = item + len;

	if (!len) {
		snprintf(config_why, sizeof(config_why), "empty port list entry");
		return -1;
	}
	if (config_port_at(&p, item, len, lo))
		return -1;
	*hi = *lo;
	while (p < end && isspace((unsigned char)*p))
		p++;
	if (p < end && *p == '-') {
		for (p++; p < end && isspace((unsigned char)*p);)
			p++;
		if (p >= end || !isdigit((unsigned char)*p)) {
			snprintf(config_why, sizeof(config_why), "bad range '%.*s'", (int)len,
				 item);
			return -1;
		}
		if (config_port_at(&p, item, len, hi))
			return -1;
		if (*hi < *lo) {
			snprintf(config_why, sizeof(config_why), "bad range '%.*s'", (int)len,
				 item);
			return -1;
		}
	}
	if (p != end) {
		snprintf(config_why, sizeof(config_why), "bad number '%.*s'", (int)len, item);
		return -1;
	}
	return 0;
}

int config_parse_ports(const char *s, uint8_t *set, const char **why)
{
	const char *item, *end;
	long lo, hi, port;
	size_t len;
	int pass;

	if (why)
		*why = NULL;
	if (!s || !set) {
		snprintf(config_why, sizeof(config_why), "no port list");
		goto fail;
	}
	/* Pass 0 checks the whole list, pass 1 fills set: nothing is set on error. */
	for (pass = 0; pass < 2; pass++) {
		for (item = s;; item = end + 1) {
			item = config_lskip(item);
			end = strchr(item, ',');
			if (!end)
				end = item + strlen(item);
			len = end - item;
			while (len && isspace((unsigned char)item[len - 1]))
				len--;
			if (config_port_item(item, len, &lo, &hi))
				goto fail;
			for (port = lo; pass && port <= hi; port++)
				set[port] = 1;
			if (!*end)
				break;
		}
	}
	return 0;
fail:
	if (why)
		*why = config_why;
	return -1;
}

static int config_parse_signal(const char *s, int *sig)
{
	static const struct {
		const char *name;
		int sig;
	} sigs[] = {
		{ "TERM", SIGTERM }, { "INT", SIGINT },	  { "QUIT", SIGQUIT }, { "HUP", SIGHUP },
		{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
	};
	const char *name = s;
	size_t i;
	long v;

	if (!strncasecmp(name, "SIG", 3))
		name += 3;
	for (i = 0; i < ARRAY_SIZE(sigs); i++) {
		if (!strcasecmp(name, sigs[i].name)) {
			*sig = sigs[i].sig;
			return 0;
		}
	}
	if (isdigit((unsigned char)*s) && !config_parse_long(s, 1, 64, &v)) {
		*sig = (int)v;
		return 0;
	}
	return -EINVAL;
}

/* The value as a new string in *dst. */
static int config_set_str(struct config_ctx *ctx, char **dst, const char *value)
{
	char *s = strdup(value);

	if (!s)
		return config_oom(ctx);
	free(*dst);
	*dst = s;
	return 0;
}

static int config_set_path_max(struct config_ctx *ctx, char **dst, const char *key,
			       const char *value, size_t max)
{
	if (value[0] != '/') {
		config_err(ctx, ctx->line, "%s: '%s' is not an absolute path", key, value);
		return -EINVAL;
	}
	if (strlen(value) > max) {
		config_err(ctx, ctx->line, "%s: path too long (max %zu characters)", key, max);
		return -ENAMETOOLONG;
	}
	return config_set_str(ctx, dst, value);
}

static int config_set_duration(struct config_ctx *ctx, uint64_t *dst, const char *key,
			       const char *value)
{
	if (config_parse_duration(value, dst)) {
		config_err(ctx, ctx->line,
			   "%s: bad duration '%s' (expected e.g. 500ms, 10s, 1.5s, 2m)", key,
			   value);
		return -EINVAL;
	}
	return 0;
}

/* A word from `words` (NULL-terminated); its index in *out. */
static int config_set_enum(struct config_ctx *ctx, int *out, const char *key, const char *value,
			   const char *const *words, const char *expected)
{
	int i;

	for (i = 0; words[i]; i++) {
		if (!strcmp(value, words[i])) {
			*out = i;
			return 0;
		}
	}
	config_err(ctx, ctx->line, "%s: bad value '%s' (expected %s)", key, value, expected);
	return -EINVAL;
}

static int config_set_ports(struct config_ctx *ctx, uint8_t *set, const char *key,
			    const char *value)
{
	const char *why;

	if (config_parse_ports(value, set, &why)) {
		config_err(ctx, ctx->line, "%s: %s", key, why);
		return -EINVAL;
	}
	return 0;
}

/* [guard] */

static int config_guard_name(struct config_ctx *ctx, const char *key, const char *value)
{
	if (!config_name_ok(value)) {
		config_err(ctx, ctx->line,
			   "%s: invalid name '%s' (expected 1..%d characters of A-Za-z0-9_.-)", key,
			   value, PG_NAME_MAX - 1);
		return -EINVAL;
	}
	strcpy(ctx->c->name, value);
	return 0;
}

static int config_guard_ports(struct config_ctx *ctx, const char *key, const char *value)
{
	return config_set_ports(ctx, ctx->c->guarded, key, value);
}

static int config_guard_protected(struct config_ctx *ctx, const char *key, const char *value)
{
	return config_set_ports(ctx, ctx->c->protected_, key, value);
}

static int config_guard_mode(struct config_ctx *ctx, const char *key, const char *value)
{
	static const char *const modes[] = { "enforce", "observe", NULL };
	int v;

	if (config_set_enum(ctx, &v, key, value, modes, "enforce or observe"))
		return -EINVAL;
	ctx->c->mode = v ? PG_MODE_OBSERVE : PG_MODE_ENFORCE;
	return 0;
}

static int config_guard_control(struct config_ctx *ctx, const char *key, const char *value)
{
	return config_set_path_max(ctx, &ctx->c->control, key, value, CONFIG_SUN_PATH_MAX);
}

static int config_guard_state_dir(struct config_ctx *ctx, const char *key, const char *value)
{
	return config_set_path_max(ctx, &ctx->c->state_dir, key, value, CONFIG_PATH_MAX);
}

static int config_guard_log_dir(struct config_ctx *ctx, const char *key, const char *value)
{
	return config_set_path_max(ctx, &ctx->c->log_dir, key, value, CONFIG_PATH_MAX);
}

/* Ring buffer size in KiB: a power of two from 4 (one page) to 1 GiB. */
static int config_guard_ring_buffer_kb(struct config_ctx *ctx, const char *key, const char *value)
{
	long v;

	if (config_parse_long(value, 4, 1L << 20, &v) || (v & (v - 1))) {
		config_err(ctx, ctx->line, "%s: '%s' is not a power of two from 4 to 1048576 (KiB)",
			   key, value);
		return -EINVAL;
	}
	ctx->c->ring_buffer_kb = v;
	return 0;
}

static int config_on_rogue(struct config_ctx *ctx, int *out, const char *key, const char *value)
{
	static const char *const pols[] = { "deny", "kill", "alert", NULL };

	return config_set_enum(ctx, out, key, value, pols, "deny, kill or alert") ? -EINVAL : 0;
}

static int config_guard_on_rogue(struct config_ctx *ctx, const char *key, const char *value)
{
	int v;

	if (config_on_rogue(ctx, &v, key, value))
		return -EINVAL;
	ctx->c->on_rogue = v;
	return 0;
}

static int config_guard_bpffs(struct config_ctx *ctx, const char *key, const char *value)
{
	return config_set_path_max(ctx, &ctx->c->bpffs, key, value, CONFIG_PATH_MAX);
}

static int config_guard_on_conflict(struct config_ctx *ctx, const char *key, const char *value)
{
	static const char *const vals[] = { "reclaim", "alert", NULL };
	int v;

	if (config_set_enum(ctx, &v, key, value, vals, "reclaim or alert"))
		return -EINVAL;
	ctx->c->reclaim = v == 0;
	return 0;
}

/* "64M", "512K", "1G" or a number of bytes. */
static int config_guard_journal_max(struct config_ctx *ctx, const char *key, const char *value)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(value, &end, 10);
	if (end == value || errno || value[0] == '-')
		goto bad;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	else if (*end == 'G' || *end == 'g')
		v <<= 30, end++;
	if (*end || v < 4096)
		goto bad;
	ctx->c->journal_max = v;
	return 0;
bad:
	config_err(ctx, ctx->line, "%s: bad size '%s' (e.g. 64M; at least 4K)", key, value);
	return -EINVAL;
}

/* "yes" or "no" into *out. */
static int config_set_bool(struct config_ctx *ctx, int *out, const char *key, const char *value)
{
	static const char *const vals[] = { "no", "yes", NULL };

	return config_set_enum(ctx, out, key, value, vals, "yes or no") ? -EINVAL : 0;
}

static int config_guard_syslog(struct config_ctx *ctx, const char *key, const char *value)
{
	return config_set_bool(ctx, &ctx->c->syslog, key, value);
}

/* How far the guard's nice goes below the one it was started with (auditd's priority_boost). */
static int config_guard_priority_boost(struct config_ctx *ctx, const char *key,
				       const char *value)
{
	long v;

	if (config_parse_long(value, 0, 20, &v)) {
		config_err(ctx, ctx->line, "%s: '%s' is not a number from 0 to 20", key, value);
		return -EINVAL;
	}
	ctx->c->priority_boost = (int)v;
	return 0;
}

static int config_guard_journal_routine(struct config_ctx *ctx, const char *key,
					const char *value)
{
	return config_set_bool(ctx, &ctx->c->journal_routine, key, value);
}

static int config_guard_alert_command(struct config_ctx *ctx, const char *key, const char *value)
{
	(void)key;
	return config_set_str(ctx, &ctx->c->alert_command, value);
}

static int config_guard_metrics_file(struct config_ctx *ctx, const char *key, const char *value)
{
	return config_set_path_max(ctx, &ctx->c->metrics_file, key, value, CONFIG_PATH_MAX);
}

/* 127.0.0.1:9464 or [::1]:9464: loopback only. */
static int config_guard_metrics_listen(struct config_ctx *ctx, const char *key, const char *value)
{
	const char *colon = strrchr(value, ':');
	unsigned char a[16];
	char host[64];
	size_t n;
	long port;

	snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - value) : 0, value);
	n = strlen(host);
	if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
		host[n - 1] = 0;
		ctx->c->metrics_loopback = inet_pton(AF_INET6, host + 1, a) == 1 && !strcmp(host, "[::1");
		n = inet_pton(AF_INET6, host + 1, a) == 1;
	} else {
		n = inet_pton(AF_INET, host, a) == 1;
		ctx->c->metrics_loopback = n && a[0] == 127;
	}
	if (!colon || config_parse_long(colon + 1, 1, 65535, &port) || !n) {
		config_err(ctx, ctx->line, "%s: '%s' is not an address:port (127.0.0.1:9464, "
			   "[::1]:9464; another address needs metrics_public = yes)", key, value);
		return -EINVAL;
	}
	return config_set_str(ctx, &ctx->c->metrics_listen, value);
}

static int config_guard_metrics_public(struct config_ctx *ctx, const char *key,
				       const char *value)
{
	return config_set_bool(ctx, &ctx->c->metrics_public, key, value);
}

static int config_guard_coalesce(struct config_ctx *ctx, const char *key, const char *value)
{
	return config_set_duration(ctx, &ctx->c->coalesce_ms, key, value);
}

static int config_guard_control_group(struct config_ctx *ctx, const char *key, const char *value)
{
	if (!config_name_ok(value)) {
		config_err(ctx, ctx->line, "%s: bad group name '%s'", key, value);
		return -EINVAL;
	}
	if (!getgrnam(value)) {
		config_err(ctx, ctx->line, "%s: no such group '%s'", key, value);
		return -EINVAL;
	}
	return config_set_str(ctx, &ctx->c->control_group, value);
}

enum { GK_NAME, GK_PORTS, GK_PROTECTED, GK_MODE, GK_CONTROL, GK_STATE_DIR, GK_LOG_DIR,
       GK_RING_BUFFER_KB, GK_ON_ROGUE, GK_BPFFS, GK_ON_CONFLICT, GK_JOURNAL_MAX, GK_SYSLOG,
       GK_ALERT_COMMAND, GK_METRICS_FILE, GK_METRICS_LISTEN, GK_COALESCE, GK_CONTROL_GROUP,
       GK_JOURNAL_ROUTINE, GK_PRIORITY_BOOST, GK_METRICS_PUBLIC };

static const struct config_key config_guard_keys[] = {
	[GK_NAME] = { "name", config_guard_name },
	[GK_PORTS] = { "ports", config_guard_ports },
	[GK_PROTECTED] = { "protected", config_guard_protected },
	[GK_MODE] = { "mode", config_guard_mode },
	[GK_CONTROL] = { "control", config_guard_control },
	[GK_STATE_DIR] = { "state_dir", config_guard_state_dir },
	[GK_LOG_DIR] = { "log_dir", config_guard_log_dir },
	[GK_RING_BUFFER_KB] = { "ring_buffer_kb", config_guard_ring_buffer_kb },
	[GK_ON_ROGUE] = { "on_rogue", config_guard_on_rogue },
	[GK_BPFFS] = { "bpffs", config_guard_bpffs },
	[GK_ON_CONFLICT] = { "on_conflict", config_guard_on_conflict },
	[GK_JOURNAL_MAX] = { "journal_max", config_guard_journal_max },
	[GK_SYSLOG] = { "syslog", config_guard_syslog },
	[GK_ALERT_COMMAND] = { "alert_command", config_guard_alert_command },
	[GK_METRICS_FILE] = { "metrics_file", config_guard_metrics_file },
	[GK_METRICS_LISTEN] = { "metrics_listen", config_guard_metrics_listen },
	[GK_COALESCE] = { "coalesce_window", config_guard_coalesce },
	[GK_CONTROL_GROUP] = { "control_group", config_guard_control_group },
	[GK_JOURNAL_ROUTINE] = { "journal_routine", config_guard_journal_routine },
	[GK_PRIORITY_BOOST] = { "priority_boost", config_guard_priority_boost },
	[GK_METRICS_PUBLIC] = { "metrics_public", config_guard_metrics_public },
};

/* [service:NAME] */

static int config_svc_command(struct config_ctx *ctx, const char *key, const char *value)
{
	(void)key;
	return config_set_str(ctx, &ctx->cur->command, value);
}

static int config_svc_port(struct config_ctx *ctx, const char *key, const char *value)
{
	long v;
	int err = config_parse_long(value, 1, 65535, &v);

	if (err == -ERANGE)
		config_err(ctx, ctx->line, "%s: %s out of range (1..65535)", key, value);
	else if (err)
		config_err(ctx, ctx->line, "%s: bad number '%s'", key, value);
	else
		ctx->cur->port = (int)v;
	return err;
}

static int config_svc_type(struct config_ctx *ctx, const char *key, const char *value)
{
	static const char *const types[] = { "http", "background", "forking", "notify", NULL };
	static const enum pg_svc_start start[] = { PG_START_SIMPLE, PG_START_SIMPLE,
						   PG_START_FORKING, PG_START_NOTIFY };
	int v;

	if (config_set_enum(ctx, &v, key, value, types, "http, background, forking or notify"))
		return -EINVAL;
	ctx->cur->type = v == 1 ? PG_SVC_BACKGROUND : PG_SVC_HTTP;
	ctx->cur->start = start[v];
	ctx->cur->type_set = v < 2; /* forking, notify: http with a port, else background */
	return 0;
}

static int config_svc_health(struct config_ctx *ctx, const char *key, const char *value)
{
	if (value[0] != '/') {
		config_err(ctx, ctx->line, "%s: '%s' must start with '/'", key, value);
		return -EINVAL;
	}
	return config_set_str(ctx, &ctx->cur->health, value);
}

static int config_svc_user(struct config_ctx *ctx, const char *key, const char *value)
{
	if (!getpwnam(value)) { /* the start would fail; say so now, at the line */
		config_err(ctx, ctx->line, "%s: no such user '%s'", key, value);
		return -EINVAL;
	}
	return config_set_str(ctx, &ctx->cur->user, value);
}

static int config_svc_directory(struct config_ctx *ctx, const char *key, const char *value)
{
	return config_set_path_max(ctx, &ctx->cur->directory, key, value, CONFIG_PATH_MAX);
}

/* "NAME=VALUE": NAME is [A-Za-z_][A-Za-z0-9_]*. */
/* One item of a comma list: skips leading blanks, *end at its ',' or NUL, *len trimmed. */
static const char *config_list_item(const char *item, const char **end, size_t *len)
{
	item = config_lskip(item);
	*end = strchr(item, ',');
	if (!*end)
		*end = item + strlen(item);
	*len = *end - item;
	while (*len && isspace((unsigned char)item[*len - 1]))
		(*len)--;
	return item;
}

static int config_env_ok(const char *s, size_t len)
{
	const char *eq = memchr(s, '=', len);
	const char *p;

	if (!eq || eq == s || isdigit((unsigned char)*s))
		return 0;
	for (p = s; p < eq; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return 0;
	return 1;
}

static int config_svc_environment(struct config_ctx *ctx, const char *key, const char *value)
{
	struct pg_service_conf *svc = ctx->cur;
	const char *item, *end;
	size_t len;

	for (item = value;; item = end + 1) {
		item = config_list_item(item, &end, &len);
		if (!config_env_ok(item, len)) {
			config_err(ctx, ctx->line,
				   "%s: malformed entry '%.*s' (expected NAME=VALUE)", key,
				   (int)len, item);
			return -EINVAL;
		}
		if (svc->nenv == PG_MAX_ENV) {
			config_err(ctx, ctx->line, "%s: too many entries (max %d)", key,
				   PG_MAX_ENV);
			return -E2BIG;
		}
		svc->env[svc->nenv] = strndup(item, len);
		if (!svc->env[svc->nenv])
			return config_oom(ctx);
		svc->nenv++;
		if (!*end)
			return 0;
	}
}

static int config_svc_pidfile(struct config_ctx *ctx, const char *key, const char *value)
{
	return config_set_path_max(ctx, &ctx->cur->pidfile, key, value, CONFIG_PATH_MAX);
}

static int config_svc_socket(struct config_ctx *ctx, const char *key, const char *value)
{
	return config_set_path_max(ctx, &ctx->cur->socket, key, value, CONFIG_SUN_PATH_MAX);
}

static int config_svc_start_timeout(struct config_ctx *ctx, const char *key, const char *value)
{
	return config_set_duration(ctx, &ctx->cur->start_timeout_ms, key, value);
}

static int config_svc_start_window(struct config_ctx *ctx, const char *key, const char *value)
{
	return config_set_duration(ctx, &ctx->cur->start_window_ms, key, value);
}

static int config_svc_stop_timeout(struct config_ctx *ctx, const char *key, const char *value)
{
	return config_set_duration(ctx, &ctx->cur->stop_timeout_ms, key, value);
}

static int config_svc_stop_signal(struct config_ctx *ctx, const char *key, const char *value)
{
	if (config_parse_signal(value, &ctx->cur->stop_signal)) {
		config_err(
			ctx, ctx->line,
			"%s: bad signal '%s' (expected TERM, INT, QUIT, HUP, KILL, USR1, USR2 or 1..64)",
			key, value);
		return -EINVAL;
	}
	return 0;
}

static int config_svc_restart(struct config_ctx *ctx, const char *key, const char *value)
{
	static const char *const restarts[] = { "always", "on-failure", "never", NULL };
	static const enum pg_restart map[] = { PG_RESTART_ALWAYS, PG_RESTART_ON_FAILURE,
					       PG_RESTART_NEVER };
	int v;

	if (config_set_enum(ctx, &v, key, value, restarts, "always, on-failure or never"))
		return -EINVAL;
	ctx->cur->restart = map[v];
	return 0;
}

static int config_svc_priority(struct config_ctx *ctx, const char *key, const char *value)
{
	long v;

	if (config_parse_long(value, INT_MIN, INT_MAX, &v)) {
		config_err(ctx, ctx->line, "%s: bad number '%s'", key, value);
		return -EINVAL;
	}
	ctx->cur->priority = (int)v;
	return 0;
}

static int config_svc_on_rogue(struct config_ctx *ctx, const char *key, const char *value)
{
	return config_on_rogue(ctx, &ctx->cur->on_rogue, key, value);
}

/* allow = uid:N, cgroup:/path, exe:/path */
static int config_svc_allow(struct config_ctx *ctx, const char *key, const char *value)
{
	struct pg_service_conf *svc = ctx->cur;
	const char *item, *end;
	char buf[CONFIG_PATH_MAX + 16];
	size_t len;

	for (item = value;; item = end + 1) {
		struct pg_allow *a;
		long uid;

		item = config_list_item(item, &end, &len);
		if (len >= sizeof(buf)) {
			config_err(ctx, ctx->line, "%s: entry too long", key);
			return -E2BIG;
		}
		memcpy(buf, item, len);
		buf[len] = 0;
		if (svc->nallow == PG_MAX_ALLOW) {
			config_err(ctx, ctx->line, "%s: too many entries (max %d)", key,
				   PG_MAX_ALLOW);
			return -E2BIG;
		}
		a = &svc->allow[svc->nallow];
		memset(a, 0, sizeof(*a));
		if (!strncmp(buf, "uid:", 4) && !config_parse_long(buf + 4, 0, UINT32_MAX - 1, &uid)) {
			a->kind = PG_ALLOW_KIND_UID;
			a->uid = (uint32_t)uid;
		} else if ((!strncmp(buf, "exe:", 4) || !strncmp(buf, "cgroup:", 7)) &&
			   strchr(buf, ':')[1] == '/') {
			a->kind = buf[0] == 'e' ? PG_ALLOW_KIND_EXE : PG_ALLOW_KIND_CGROUP;
			a->path = strdup(strchr(buf, ':') + 1);
			if (!a->path)
				return config_oom(ctx);
		} else {
			config_err(ctx, ctx->line, "%s: malformed entry '%s' (expected uid:N, "
				   "exe:/path or cgroup:/path)", key, buf);
			return -EINVAL;
		}
		svc->nallow++;
		if (!*end)
			return 0;
	}
}

enum {
	SK_COMMAND,
	SK_PORT,
	SK_TYPE,
	SK_HEALTH,
	SK_USER,
	SK_DIRECTORY,
	SK_ENVIRONMENT,
	SK_PIDFILE,
	SK_SOCKET,
	SK_START_TIMEOUT,
	SK_START_WINDOW,
	SK_STOP_SIGNAL,
	SK_STOP_TIMEOUT,
	SK_RESTART,
	SK_PRIORITY,
	SK_ON_ROGUE,
	SK_ALLOW
};

static const struct config_key config_svc_keys[] = {
	[SK_COMMAND] = { "command", config_svc_command },
	[SK_PORT] = { "port", config_svc_port },
	[SK_TYPE] = { "type", config_svc_type },
	[SK_HEALTH] = { "health", config_svc_health },
	[SK_USER] = { "user", config_svc_user },
	[SK_DIRECTORY] = { "directory", config_svc_directory },
	[SK_ENVIRONMENT] = { "environment", config_svc_environment },
	[SK_PIDFILE] = { "pidfile", config_svc_pidfile },
	[SK_SOCKET] = { "socket", config_svc_socket },
	[SK_START_TIMEOUT] = { "start_timeout", config_svc_start_timeout },
	[SK_START_WINDOW] = { "start_window", config_svc_start_window },
	[SK_STOP_SIGNAL] = { "stop_signal", config_svc_stop_signal },
	[SK_STOP_TIMEOUT] = { "stop_timeout", config_svc_stop_timeout },
	[SK_RESTART] = { "restart", config_svc_restart },
	[SK_PRIORITY] = { "priority", config_svc_priority },
	[SK_ON_ROGUE] = { "on_rogue", config_svc_on_rogue },
	[SK_ALLOW] = { "allow", config_svc_allow },
};

_Static_assert(ARRAY_SIZE(config_guard_keys) == ARRAY_SIZE(((struct config_ctx *)0)->guard_keys),
	       "guard_keys holds one line per [guard] key");
_Static_assert(ARRAY_SIZE(config_svc_keys) == ARRAY_SIZE(((struct config_ctx *)0)->svc_keys[0]),
	       "svc_keys holds one line per [service] key");

/* The keys of the current section, or NULL (none may be set here: said why). */
static const struct config_key *config_keys(struct config_ctx *ctx, const char *key,
					    size_t *nkeys)
{
	switch (ctx->sect) {
	case CONFIG_SECT_SKIP:
		return NULL;
	case CONFIG_SECT_NONE:
		config_err(ctx, ctx->line, "key '%s' outside of any section", key);
		return NULL;
	case CONFIG_SECT_GUARD:
		*nkeys = ARRAY_SIZE(config_guard_keys);
		return config_guard_keys;
	default:
		*nkeys = ARRAY_SIZE(config_svc_keys);
		return config_svc_keys;
	}
}

/* One "key = value" of the current section (value NULL: the line was refused). */
static void config_handler(struct config_ctx *ctx, const char *key, const char *value)
{
	const struct config_key *keys;
	size_t i, nkeys = 0;

	if (!(keys = config_keys(ctx, key, &nkeys)))
		return;
	for (i = 0; i < nkeys; i++)
		if (!strcmp(key, keys[i].name))
			break;
	if (i == nkeys) {
		if (ctx->sect == CONFIG_SECT_GUARD)
			config_err(ctx, ctx->line, "unknown key '%s' in [guard]", key);
		else
			config_err(ctx, ctx->line, "unknown key '%s' in [service:%s]", key,
				   ctx->cur->name);
		return;
	}
	if (ctx->cur_keys[i]) {
		config_err(ctx, ctx->line, "duplicate key '%s' (first at line %d)", key,
			   ctx->cur_keys[i]);
		return;
	}
	ctx->cur_keys[i] = ctx->line;
	if (!value)
		return;
	if (!*value) {
		config_err(ctx, ctx->line, "%s: missing value", key);
		return;
	}
	keys[i].set(ctx, key, value); /* its errors are counted in ctx */
}

static void config_service_open(struct config_ctx *ctx, const char *name)
{
	struct pg_config *c = ctx->c;
	struct pg_service_conf *svc;
	int i;

	ctx->sect = CONFIG_SECT_SKIP;
	if (!config_name_ok(name)) {
		config_err(ctx, ctx->line,
			   "invalid service name '%s' (expected 1..%d characters of A-Za-z0-9_.-)",
			   name, PG_NAME_MAX - 1);
		return;
	}
	if (!strcmp(name, "guard")) { /* under systemd: the guard's own cgroup (cg_instance) */
		config_err(ctx, ctx->line, "service name 'guard' is reserved for the guard itself");
		return;
	}
	for (i = 0; i < c->nsvc; i++) {
		if (!strcmp(c->svc[i].name, name)) {
			config_err(ctx, ctx->line, "duplicate service '%s' (first at line %d)",
				   name, c->svc[i].line);
			return;
		}
	}
	if (c->nsvc == PG_MAX_SERVICES) {
		config_err(ctx, ctx->line, "too many services (max %d)", PG_MAX_SERVICES);
		return;
	}
	svc = &c->svc[c->nsvc];
	strcpy(svc->name, name);
	svc->line = ctx->line;
	svc->type = PG_SVC_BACKGROUND;
	svc->start_timeout_ms = CONFIG_DEF_START_TIMEOUT_MS;
	svc->start_window_ms = CONFIG_DEF_START_WINDOW_MS;
	svc->stop_signal = SIGTERM;
	svc->on_rogue = -1;
	svc->stop_timeout_ms = CONFIG_DEF_STOP_TIMEOUT_MS;
	svc->restart = PG_RESTART_ALWAYS;
	svc->priority = CONFIG_DEF_PRIORITY;
	ctx->cur = svc;
	ctx->cur_keys = ctx->svc_keys[c->nsvc];
	ctx->sect = CONFIG_SECT_SERVICE;
	c->nsvc++;
}

/* A "[...]" line. */
static void config_section(struct config_ctx *ctx, char *s)
{
	char *end = config_find(s + 1, "]");
	char *name, *rest;

	ctx->sect = CONFIG_SECT_SKIP;
	if (*end != ']') {
		config_err(ctx, ctx->line, "syntax error: missing ']' in section header");
		return;
	}
	*end = '\0';
	rest = config_lskip(end + 1);
	if (*rest && *rest != ';' && *rest != '#') {
		config_err(ctx, ctx->line, "syntax error: unexpected '%s' after section header",
			   rest);
		return;
	}
	name = config_rstrip(config_lskip(s + 1));
	if (!strcmp(name, "guard")) {
		if (ctx->guard_line) {
			config_err(ctx, ctx->line, "duplicate section [guard] (first at line %d)",
				   ctx->guard_line);
			return;
		}
		ctx->guard_line = ctx->line;
		ctx->cur = NULL;
		ctx->cur_keys = ctx->guard_keys;
		ctx->sect = CONFIG_SECT_GUARD;
	} else if (!strncmp(name, "service:", 8)) {
		config_service_open(ctx, config_lskip(name + 8));
	} else {
		config_err(ctx, ctx->line,
			   "unknown section [%s] (expected [guard] or [service:NAME])", name);
	}
}

/*
 * A "key = value" (or "key: value") line s, stripped: split at the first '='
 * or ':', the key's end and the value's ends trimmed, an inline "; comment"
 * cut from the value; then handed to the section's key.
 */
static void config_key_line(struct config_ctx *ctx, char *s)
{
	char *sep = config_find(s, "=:"), *value;
	size_t keylen, len = strlen(s);

	if (*sep != '=' && *sep != ':') {
		config_err(ctx, ctx->line, "syntax error: expected 'key = value' or '[section]'");
		return;
	}
	keylen = sep - s;
	while (keylen && isspace((unsigned char)s[keylen - 1]))
		keylen--;
	if (!keylen) {
		config_err(ctx, ctx->line, "syntax error: missing key before '%c'", *sep);
		return;
	}
	s[keylen] = '\0';
	if (len > CONFIG_LINE_MAX) {
		/* the key is still seen: no "missing command" after this */
		config_err(ctx, ctx->line, "line too long (max %d characters)", CONFIG_LINE_MAX);
		config_handler(ctx, s, NULL);
		return;
	}
	value = sep + 1;
	*config_find(value, NULL) = '\0'; /* before the skip: " ; x" is a comment, "; x" not */
	config_handler(ctx, s, config_rstrip(config_lskip(value)));
}

/* Every line of the file, each a section header, a key or nothing. */
static void config_read(struct config_ctx *ctx)
{
	ssize_t n;
	char *s;

	while ((n = getline(&ctx->buf, &ctx->bufsz, ctx->f)) >= 0) {
		ctx->line++;
		s = ctx->buf;
		if (strlen(s) != (size_t)n) { /* a C string would silently cut the line */
			config_err(ctx, ctx->line, "NUL byte in the line");
			continue;
		}
		if (ctx->line == 1 && !strncmp(s, "\xEF\xBB\xBF", 3))
			s += 3; /* UTF-8 BOM */
		s = config_rstrip(config_lskip(s));
		if (!*s || *s == ';' || *s == '#')
			continue;
		if (*s == '[' && strlen(s) > CONFIG_LINE_MAX) {
			config_err(ctx, ctx->line, "line too long (max %d characters)",
				   CONFIG_LINE_MAX);
			ctx->sect = CONFIG_SECT_SKIP;
		} else if (*s == '[') {
			config_section(ctx, s);
		} else {
			config_key_line(ctx, s);
		}
	}
	if (ferror(ctx->f))
		config_err(ctx, 0, "read error: %s", strerror(errno));
}

/* Ports in both `ports` and `protected`, one error per run of ports. */
static void config_check_overlap(struct config_ctx *ctx)
{
	struct pg_config *c = ctx->c;
	int line = ctx->guard_keys[GK_PORTS];
	int lo, hi;

	if (ctx->guard_keys[GK_PROTECTED] > line)
		line = ctx->guard_keys[GK_PROTECTED];
	for (lo = 1; lo < 65536; lo = hi + 1) {
		hi = lo;
		if (!c->guarded[lo] || !c->protected_[lo])
			continue;
		while (hi + 1 < 65536 && c->guarded[hi + 1] && c->protected_[hi + 1])
			hi++;
		if (lo == hi)
			config_err(ctx, line, "port %d is in both ports and protected", lo);
		else
			config_err(ctx, line, "ports %d-%d are in both ports and protected", lo,
				   hi);
	}
}

static void config_check_service(struct config_ctx *ctx, int i)
{
	struct pg_config *c = ctx->c;
	struct pg_service_conf *svc = &c->svc[i];
	const int *keys = ctx->svc_keys[i];
	int j;

	if (!svc->command && !keys[SK_COMMAND])
		config_err(ctx, svc->line, "service %s: missing command", svc->name);
	if (!svc->type_set)
		svc->type = svc->port ? PG_SVC_HTTP : PG_SVC_BACKGROUND;
	if (svc->start == PG_START_FORKING && !svc->pidfile && !keys[SK_PIDFILE])
		config_err(ctx, keys[SK_TYPE], "service %s: type forking needs a pidfile (the "
			   "daemon's, which names its main process)", svc->name);
	else if (svc->type == PG_SVC_HTTP && !svc->port && !keys[SK_PORT])
		config_err(ctx, keys[SK_TYPE], "service %s: type http needs a port", svc->name);
	if (svc->health && svc->type == PG_SVC_BACKGROUND)
		config_err(ctx, keys[SK_HEALTH],
			   "service %s: health is not allowed for a background service", svc->name);
	if (!svc->port)
		return;
	if (c->protected_[svc->port])
		config_err(ctx, keys[SK_PORT], "service %s: port %d is protected", svc->name,
			   svc->port);
	else if (!c->guarded[svc->port])
		config_err(ctx, keys[SK_PORT], "service %s: port %d is not in ports", svc->name,
			   svc->port);
	for (j = 0; j < i; j++) {
		if (c->svc[j].port == svc->port) {
			config_err(ctx, keys[SK_PORT], "port %d already assigned to service %s",
				   svc->port, c->svc[j].name);
			break;
		}
	}
}

static int config_svc_cmp(const void *a, const void *b)
{
	const struct pg_service_conf *x = a, *y = b;

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* *dst from fmt and the instance name, unless the file set it. */
static void config_default_path(struct config_ctx *ctx, char **dst, const char *fmt)
{
	if (*dst)
		return;
	if (asprintf(dst, fmt, ctx->c->name) < 0) {
		*dst = NULL;
		config_oom(ctx);
	}
}

/* Checks across keys and sections, defaults that depend on the name, the start order. */
static void config_finish(struct config_ctx *ctx)
{
	struct pg_config *c = ctx->c;
	int i;

	if (!ctx->guard_line)
		config_err(ctx, 0, "no [guard] section (an empty file guards nothing; see "
			   "examples/trading.conf)");
	config_check_overlap(ctx);
	if (c->metrics_listen && !c->metrics_loopback && !c->metrics_public)
		config_err(ctx, ctx->guard_keys[GK_METRICS_LISTEN], "metrics_listen: '%s' is not a "
			   "loopback address: serving the metrics beyond this host (read-only) needs "
			   "metrics_public = yes", c->metrics_listen);
	for (i = 0; i < c->nsvc; i++)
		config_check_service(ctx, i);

	config_default_path(ctx, &c->control, "/run/portguard/%s.sock");
	config_default_path(ctx, &c->state_dir, "/var/lib/portguard/%s");
	config_default_path(ctx, &c->log_dir, "/var/log/portguard/%s");
	if (!c->bpffs && !(c->bpffs = strdup("/sys/fs/bpf")))
		config_oom(ctx);

	qsort(c->svc, c->nsvc, sizeof(c->svc[0]), config_svc_cmp);
}

/* Whose files and directories may steer a root daemon: root's, or the caller's own. */
static int config_trusted_uid(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/*
 * sshd's StrictModes for the config, whose commands and alert_command run
 * as root: the file and every directory above it (where it is named and
 * where it really is) belong to root and are writable by nobody else; a
 * sticky directory (/tmp) is fine, its entries cannot be swapped. NULL,
 * or why not.
 */
static const char *config_check_dirs(const char *path, char *why, size_t len)
{
	char dir[PATH_MAX], *slash;
	struct stat st;

	if (!realpath(path, dir)) {
		snprintf(why, len, "cannot resolve its directory: %s", strerror(errno));
		return why;
	}
	while ((slash = strrchr(dir, '/'))) {
		slash[slash == dir] = 0; /* "/a/b" -> "/a" -> "/" */
		if (stat(dir, &st) < 0) {
			snprintf(why, len, "%s: %s", dir, strerror(errno));
			return why;
		}
		if (!config_trusted_uid(st.st_uid)) {
			snprintf(why, len, "directory %s belongs to uid %u, not root", dir,
				 (unsigned)st.st_uid);
			return why;
		}
		if ((st.st_mode & 022) && !(st.st_mode & S_ISVTX)) {
			snprintf(why, len, "directory %s is writable by group or others (chmod go-w)",
				 dir);
			return why;
		}
		if (slash == dir)
			return NULL;
	}
	return NULL;
}

/* Open the config without blocking (a FIFO or a device never stalls the loop). */
static FILE *config_open(const char *path, char *why, size_t len, int *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	const char *bad = NULL;
	FILE *f;

	*err = -EINVAL;
	if (fd < 0) {
		*err = -errno;
		snprintf(why, len, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0)
		snprintf(why, len, "cannot stat: %s", strerror(errno)), bad = why;
	else if (S_ISDIR(st.st_mode))
		*err = -EISDIR, bad = "cannot open: Is a directory";
	else if (!S_ISREG(st.st_mode))
		bad = "not a regular file (a FIFO, device or socket is refused)";
	else if (!config_trusted_uid(st.st_uid))
		snprintf(why, len, "refused: it belongs to uid %u, not root", (unsigned)st.st_uid),
			bad = why;
	else if (st.st_mode & 022)
		bad = "refused: it is writable by group or others (chmod go-w)";
	else
		bad = config_check_dirs(path, why, len);
	if (bad) {
		if (bad != why)
			snprintf(why, len, "%s", bad);
		close(fd);
		return NULL;
	}
	f = fdopen(fd, "r");
	if (!f) {
		snprintf(why, len, "cannot open: %s", strerror(errno));
		close(fd);
	}
	return f;
}

int config_parse(const char *path, struct pg_config **out, FILE *errs)
{
	return config_parse_opt(path, out, errs, 0);
}

int config_parse_opt(const char *path, struct pg_config **out, FILE *errs, int keep_broken)
{
	struct config_ctx *ctx;
	char why[PATH_MAX + 128];
	int rc;

	*out = NULL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		if (errs)
			fprintf(errs, "%s: out of memory\n", path);
		return -1;
	}
	ctx->path = path;
	ctx->errs = errs;
	ctx->f = config_open(path, why, sizeof(why), &rc);
	if (!ctx->f) {
		if (errs)
			fprintf(errs, "%s: %s\n", path, why);
		free(ctx);
		return rc;
	}
	ctx->c = calloc(1, sizeof(*ctx->c));
	if (!ctx->c || !(ctx->c->path = strdup(path))) {
		config_oom(ctx);
		goto out;
	}
	strcpy(ctx->c->name, "portguard");
	ctx->c->mode = PG_MODE_ENFORCE;
	ctx->c->ring_buffer_kb = 1024; /* with claims folded in the kernel (agg.h), plenty */
	ctx->c->reclaim = 1;
	ctx->c->journal_max = 64ULL << 20;
	ctx->c->syslog = 1;
	ctx->c->coalesce_ms = 1000;
	ctx->c->priority_boost = 4; /* auditd's default */

	config_read(ctx);
	config_finish(ctx);
out:
	rc = ctx->nerr ? -1 : 0;
	if (rc && !(keep_broken && ctx->c && !ctx->oom))
		config_free(ctx->c);
	else
		*out = ctx->c;
	config_flush(ctx);
	fclose(ctx->f);
	free(ctx->buf);
	free(ctx);
	return rc;
}

void config_free(struct pg_config *c)
{
	int i, j;

	if (!c)
		return;
	for (i = 0; i < c->nsvc; i++) {
		struct pg_service_conf *svc = &c->svc[i];

		free(svc->command);
		free(svc->health);
		free(svc->user);
		free(svc->directory);
		for (j = 0; j < svc->nenv; j++)
			free(svc->env[j]);
		free(svc->pidfile);
		free(svc->socket);
		for (j = 0; j < svc->nallow; j++)
			free(svc->allow[j].path);
	}
	free(c->path);
	free(c->control);
	free(c->state_dir);
	free(c->log_dir);
	free(c->bpffs);
	free(c->alert_command);
	free(c->metrics_file);
	free(c->metrics_listen);
	free(c->control_group);
	free(c);
}

static int config_str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

int config_service_equal(const struct pg_service_conf *a, const struct pg_service_conf *b)
{
	int i;

	if (strcmp(a->name, b->name) || !config_str_eq(a->command, b->command) ||
	    a->port != b->port || a->type != b->type || a->start != b->start ||
	    !config_str_eq(a->health, b->health) ||
	    !config_str_eq(a->user, b->user) || !config_str_eq(a->directory, b->directory) ||
	    a->nenv != b->nenv || !config_str_eq(a->pidfile, b->pidfile) ||
	    !config_str_eq(a->socket, b->socket) || a->start_timeout_ms != b->start_timeout_ms ||
	    a->start_window_ms != b->start_window_ms || a->stop_signal != b->stop_signal ||
	    a->stop_timeout_ms != b->stop_timeout_ms || a->restart != b->restart)
		return 0;
	for (i = 0; i < a->nenv; i++)
		if (strcmp(a->env[i], b->env[i]))
			return 0;
	return 1; /* priority, on_rogue and allow are the guard's: applied in place */
}

enum pg_on_rogue config_port_policy(const struct pg_config *c, int port)
{
	const struct pg_service_conf *s = config_port_owner(c, port);

	return s && s->on_rogue >= 0 ? (enum pg_on_rogue)s->on_rogue : c->on_rogue;
}

const struct pg_service_conf *config_port_owner(const struct pg_config *c, int port)
{
	int i;

	if (!c || port < 1 || port > 65535)
		return NULL;
	for (i = 0; i < c->nsvc; i++)
		if (c->svc[i].port == port)
			return &c->svc[i];
	return NULL;
}
