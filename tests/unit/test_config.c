/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for user/config.c: edge cases first, then every error the parser
 * reports (exact "file:line: message" text), then whole files.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static char test_dir[] = "/tmp/pg-test-config.XXXXXX";
static char test_path[sizeof(test_dir) + 32];

/* Writes text to the test file and parses it; errs gets what config_parse wrote. */
static int test_parse(const char *text, struct pg_config **c, char **errs)
{
	FILE *f, *e;
	size_t len;
	int rc;

	f = fopen(test_path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	e = open_memstream(errs, &len);
	assert_non_null(e);
	rc = config_parse(test_path, c, e);
	assert_int_equal(fclose(e), 0);
	unlink(test_path);
	return rc;
}

/*
 * Parses text that must be valid; the caller frees the config. Service
 * sections alone get an empty [guard] first (a file needs one).
 */
static struct pg_config *test_ok(const char *text)
{
	struct pg_config *c = NULL;
	char *errs = NULL, *full = NULL;
	int rc;

	if (!strstr(text, "[guard]") && asprintf(&full, "[guard]\n%s", text) < 0)
		fail();
	rc = test_parse(full ? full : text, &c, &errs);
	free(full);

	if (rc != 0 || errs[0]) {
		print_error("expected a valid config, got rc %d and errors:\n%s", rc, errs);
		free(errs);
		config_free(c);
		fail();
	}
	free(errs);
	assert_non_null(c);
	return c;
}

/*
 * Parses text that must be rejected with exactly the errors given, one
 * "LINE: message" per argument (the file name is prepended), NULL-terminated.
 */
static void test_errs(const char *text, ...)
{
	struct pg_config *c = (struct pg_config *)1;
	char *errs = NULL, *want = NULL, *line;
	size_t wlen = 0;
	FILE *w;
	va_list ap;
	int rc;

	w = open_memstream(&want, &wlen);
	assert_non_null(w);
	/* a text of service sections alone also lacks [guard]: that comes first */
	if (!strstr(text, "[guard]"))
		fprintf(w, "%s: no [guard] section (an empty file guards nothing; see "
			   "examples/trading.conf)\n", test_path);
	va_start(ap, text);
	while ((line = va_arg(ap, char *)))
		fprintf(w, "%s:%s\n", test_path, line);
	va_end(ap);
	assert_int_equal(fclose(w), 0);

	rc = test_parse(text, &c, &errs);
	if (rc != -1 || c != NULL || strcmp(errs, want)) {
		/* not print_error(): its buffer would cut the lists short */
		fprintf(stderr,
			"config:\n%s\nrc: actual %d, expected -1; config %s\n"
			"errors actual:\n%s\nerrors expected:\n%s",
			text, rc, c ? "not NULL" : "NULL", errs, want);
		free(errs);
		free(want);
		fail();
	}
	free(errs);
	free(want);
}

#define EXPECT_ERRS(text, ...) test_errs(text, __VA_ARGS__, (char *)NULL)

static void assert_str(const char *what, const char *actual, const char *expected)
{
	if ((actual == NULL) != (expected == NULL) || (actual && strcmp(actual, expected))) {
		print_error("%s: actual '%s', expected '%s'\n", what, actual ? actual : "(null)",
			    expected ? expected : "(null)");
		fail();
	}
}

static void assert_num(const char *what, long long actual, long long expected)
{
	if (actual != expected) {
		print_error("%s: actual %lld, expected %lld\n", what, actual, expected);
		fail();
	}
}

static int test_setup(void **state)
{
	(void)state;
	if (!mkdtemp(test_dir))
		return -1;
	snprintf(test_path, sizeof(test_path), "%s/test.conf", test_dir);
	return 0;
}

static int test_teardown(void **state)
{
	(void)state;
	unlink(test_path);
	return rmdir(test_dir);
}

/* A string of n copies of ch. */
static char *test_repeat(char ch, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

/* --- edge cases --- */

static void test_missing_value(void **state)
{
	(void)state;
	EXPECT_ERRS("[guard]\n"
		    "name =\n"
		    "ports = ; nothing\n"
		    "[service:a]\n"
		    "command=\n"
		    "port =   \n",
		    "2: name: missing value", "3: ports: missing value",
		    "5: command: missing value", "6: port: missing value");
}

static void test_value_too_long(void **state)
{
	char *name64 = test_repeat('n', 64), *name63 = test_repeat('n', 63);
	char *path = test_repeat('p', 120), *big = test_repeat('x', 9000);
	char text[20480], want[3][256];
	struct pg_config *c;

	(void)state;
	snprintf(text, sizeof(text),
		 "[guard]\nname = %s\ncontrol = /%s\n[service:%s]\ncommand = /bin/true %s\n",
		 name64, path, name64, big);
	snprintf(want[0], sizeof(want[0]),
		 "2: name: invalid name '%s' (expected 1..63 characters of A-Za-z0-9_.-)", name64);
	snprintf(want[1], sizeof(want[1]),
		 "4: invalid service name '%s' (expected 1..63 characters of A-Za-z0-9_.-)",
		 name64);
	EXPECT_ERRS(text, want[0], "3: control: path too long (max 107 characters)", want[1],
		    "5: line too long (max 8192 characters)");

	/* 63 characters is the longest name */
	snprintf(text, sizeof(text), "[guard]\nname = %s\n[service:%s]\ncommand = x\n", name63,
		 name63);
	c = test_ok(text);
	assert_str("name", c->name, name63);
	assert_str("service name", c->svc[0].name, name63);
	config_free(c);

	/* a line longer than inih's 200-byte buffer still parses, comment stripped */
	snprintf(text, sizeof(text),
		 "[service:long]\ncommand = /bin/echo %.1000s ; a comment\nport = 3000\n"
		 "[guard]\nports = 3000\n",
		 big);
	c = test_ok(text);
	assert_num("command length", strlen(c->svc[0].command), strlen("/bin/echo ") + 1000);
	assert_int_equal(strncmp(c->svc[0].command, "/bin/echo xxx", 13), 0);
	assert_num("port after long line", c->svc[0].port, 3000);
	config_free(c);

	/* a too long line is one error; its key still counts as given */
	snprintf(text, sizeof(text), "[service:a]\ncommand = %s\nbogus = %s\ncommand = x\n", big,
		 big);
	EXPECT_ERRS(text, "2: line too long (max 8192 characters)",
		    "3: line too long (max 8192 characters)",
		    "3: unknown key 'bogus' in [service:a]",
		    "4: duplicate key 'command' (first at line 2)");
	snprintf(text, sizeof(text), "[service:%s]\ncommand = x\n", big);
	EXPECT_ERRS(text, "1: line too long (max 8192 characters)");

	/* a long value that is empty after its comment is still missing */
	snprintf(text, sizeof(text), "[service:a]\ncommand =      ; %.300s\n", big);
	EXPECT_ERRS(text, "2: command: missing value");

	free(name64);
	free(name63);
	free(path);
	free(big);
}

static void test_duplicate_key(void **state)
{
	(void)state;
	EXPECT_ERRS("[guard]\n"
		    "mode = enforce\n"
		    "mode = observe\n"
		    "[service:a]\n"
		    "command = x\n"
		    "; comment\n"
		    "command = y\n"
		    "priority = 1\n"
		    "priority = 2\n",
		    "3: duplicate key 'mode' (first at line 2)",
		    "7: duplicate key 'command' (first at line 5)",
		    "9: duplicate key 'priority' (first at line 8)");
}

static void test_duplicate_section(void **state)
{
	(void)state;
	EXPECT_ERRS("[service:a]\n"
		    "command = x\n"
		    "[guard]\n"
		    "[service:b]\n"
		    "command = y\n"
		    "[service:a]\n"
		    "command = z\n"
		    "bogus = ignored in a bad section\n"
		    "[guard]\n",
		    "6: duplicate service 'a' (first at line 1)",
		    "9: duplicate section [guard] (first at line 3)");
}

static void test_unknown_section(void **state)
{
	(void)state;
	EXPECT_ERRS("[guards]\n"
		    "name = x\n"
		    "[service]\n"
		    "[service:]\n"
		    "[service:a b]\n"
		    "[service:..]\n"
		    "[Service:a]\n"
		    "[ service:ok ]\n"
		    "command = x\n",
		    "1: unknown section [guards] (expected [guard] or [service:NAME])",
		    "3: unknown section [service] (expected [guard] or [service:NAME])",
		    "4: invalid service name '' (expected 1..63 characters of A-Za-z0-9_.-)",
		    "5: invalid service name 'a b' (expected 1..63 characters of A-Za-z0-9_.-)",
		    "6: invalid service name '..' (expected 1..63 characters of A-Za-z0-9_.-)",
		    "7: unknown section [Service:a] (expected [guard] or [service:NAME])");
}

static void test_unknown_key(void **state)
{
	(void)state;
	EXPECT_ERRS("top = level\n"
		    "[guard]\n"
		    "nmae = x\n"
		    "[service:web]\n"
		    "command = x\n"
		    "Port = 3000\n"
		    "restart_delay = 1s\n",
		    "1: key 'top' outside of any section", "3: unknown key 'nmae' in [guard]",
		    "6: unknown key 'Port' in [service:web]",
		    "7: unknown key 'restart_delay' in [service:web]");
}

static void test_syntax_errors(void **state)
{
	(void)state;
	EXPECT_ERRS("[guard\n"
		    "[guard] name = x\n"
		    "[guard]\n"
		    "just words\n"
		    "= value\n"
		    "mode ; = comment hides the =\n"
		    "[service:a]\n"
		    "command = /bin/x\n"
		    "    --continued\n",
		    "1: syntax error: missing ']' in section header",
		    "2: syntax error: unexpected 'name = x' after section header",
		    "4: syntax error: expected 'key = value' or '[section]'",
		    "5: syntax error: missing key before '='",
		    "6: syntax error: expected 'key = value' or '[section]'",
		    "9: syntax error: expected 'key = value' or '[section]'");
}

/* Parses path; returns rc and the one line written, which must name path. */
static int test_refused(const char *path, char *line, size_t len)
{
	struct pg_config *c = (struct pg_config *)1;
	char *errs = NULL;
	size_t n;
	FILE *e = open_memstream(&errs, &n);
	int rc;

	assert_non_null(e);
	rc = config_parse(path, &c, e);
	fclose(e);
	assert_null(c);
	snprintf(line, len, "%s", errs);
	free(errs);
	assert_int_equal(strncmp(line, path, strlen(path)), 0);
	assert_non_null(strchr(line, '\n'));
	assert_null(strchr(line, '\n') + 1 == line + strlen(line) ? NULL : "more than one line");
	return rc;
}

static void test_reserved_service_name(void **state)
{
	(void)state;
	EXPECT_ERRS("[guard]\nports = 3000\n[service:guard]\ncommand = x\n",
		    "3: service name 'guard' is reserved for the guard itself");
}

static void test_no_guard_section(void **state)
{
	(void)state;
	test_errs("", (char *)NULL);
	test_errs("# only comments\n; and more\n\n", (char *)NULL);
}

static void test_nul_byte_and_control_characters(void **state)
{
	char text[] = "[guard]\nports = 3000\nname = a\0b\n";
	struct pg_config *c = NULL;
	char *errs = NULL, want[512];
	size_t len;
	FILE *f = fopen(test_path, "w"), *e;

	(void)state;
	assert_non_null(f);
	fwrite(text, 1, sizeof(text) - 1, f);
	fclose(f);
	e = open_memstream(&errs, &len);
	assert_int_equal(config_parse(test_path, &c, e), -1);
	fclose(e);
	snprintf(want, sizeof(want), "%s:3: NUL byte in the line\n", test_path);
	assert_str("errs", errs, want);
	free(errs);
	/* a file's escape sequences never reach the terminal */
	EXPECT_ERRS("[guard]\nfoo\x1b[31m = 1\n", "2: unknown key 'foo\\x1b[31m' in [guard]");
}

static void test_unknown_user_and_group(void **state)
{
	(void)state;
	EXPECT_ERRS("[guard]\ncontrol_group = no_such_group_pg\n[service:a]\ncommand = x\n"
		    "user = no_such_user_pg\n",
		    "2: control_group: no such group 'no_such_group_pg'",
		    "5: user: no such user 'no_such_user_pg'");
}

static void test_only_regular_files_of_root(void **state)
{
	char path[sizeof(test_dir) + 16], line[1024], dir[sizeof(test_dir) + 16];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/fifo", test_dir);
	assert_int_equal(mkfifo(path, 0600), 0); /* no writer: opening must not block */
	assert_num("fifo", test_refused(path, line, sizeof(line)), -EINVAL);
	assert_non_null(strstr(line, "not a regular file"));
	unlink(path);
	assert_num("device", test_refused("/dev/zero", line, sizeof(line)), -EINVAL);

	f = fopen(test_path, "w");
	assert_non_null(f);
	fputs("[guard]\nports = 3000\n", f);
	fclose(f);
	chmod(test_path, 0666);
	assert_num("world-writable", test_refused(test_path, line, sizeof(line)), -EINVAL);
	assert_non_null(strstr(line, "writable by group or others"));
	chmod(test_path, 0644);
	if (geteuid() == 0) { /* a file of another user */
		assert_int_equal(chown(test_path, 65534, 65534), 0);
		assert_num("not root's", test_refused(test_path, line, sizeof(line)), -EINVAL);
		assert_non_null(strstr(line, "belongs to uid 65534"));
		assert_int_equal(chown(test_path, 0, 0), 0);
	}
	/* a directory above it that others may write (and that is not sticky) */
	snprintf(dir, sizeof(dir), "%s/d", test_dir);
	assert_int_equal(mkdir(dir, 0777), 0);
	chmod(dir, 0777);
	snprintf(path, sizeof(path), "%s/d/c.conf", test_dir);
	assert_int_equal(rename(test_path, path), 0);
	assert_num("writable dir", test_refused(path, line, sizeof(line)), -EINVAL);
	assert_non_null(strstr(line, "is writable by group or others"));
	chmod(dir, 01777); /* sticky, as /tmp: fine */
	{
		struct pg_config *c = NULL;

		assert_int_equal(config_parse(path, &c, NULL), 0);
		config_free(c);
	}
	unlink(path);
	rmdir(dir);
}

static void test_cannot_open(void **state)
{
	struct pg_config *c = (struct pg_config *)1;
	char path[sizeof(test_dir) + 16], *errs = NULL, want[256];
	size_t len;
	FILE *e, *f;
	int rc;

	(void)state;
	snprintf(path, sizeof(path), "%s/missing", test_dir);
	e = open_memstream(&errs, &len);
	rc = config_parse(path, &c, e);
	fclose(e);
	assert_num("rc", rc, -ENOENT);
	assert_null(c);
	snprintf(want, sizeof(want), "%s: cannot open: %s\n", path, strerror(ENOENT));
	assert_str("errs", errs, want);
	free(errs);

	e = open_memstream(&errs, &len);
	rc = config_parse(test_dir, &c, e);
	fclose(e);
	assert_num("rc on a directory", rc, -EISDIR);
	assert_null(c);
	snprintf(want, sizeof(want), "%s: cannot open: %s\n", test_dir, strerror(EISDIR));
	assert_str("errs", errs, want);
	free(errs);

	/* errs may be NULL */
	assert_num("rc, errs NULL", config_parse(path, &c, NULL), -ENOENT);
	f = fopen(test_path, "w");
	assert_non_null(f);
	fputs("[guard]\nmode = loud\n", f);
	fclose(f);
	assert_num("rc of a bad file, errs NULL", config_parse(test_path, &c, NULL), -1);
	assert_null(c);
	unlink(test_path);
}

/* --- values --- */

static void test_parse_duration(void **state)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} good[] = {
		{ "500ms", 500 },  { "10s", 10000 },  { "2m", 120000 },
		{ "1.5s", 1500 },  { "10", 10000 },   { "0", 0 },
		{ "0.25", 250 },   { "1h", 3600000 }, { "0ms", 0 },
		{ "1.5m", 90000 }, { "0.0015s", 1 },  { "18446744073709551615ms", UINT64_MAX },
	};
	static const char *const bad[] = {
		"",
		"-1s",
		"-0",
		"+5s",
		"abc",
		"10x",
		"10 s",
		"1.s",
		".5s",
		"1..5s",
		"s",
		"10sec",
		"1e3",
		"18446744073709551616ms",
		"99999999999999999999s",
		"18446744073709551615s",
		"307445734561825861m",
	};
	uint64_t ms;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ms = 12345;
		if (config_parse_duration(good[i].s, &ms) != 0) {
			print_error("duration '%s': rejected, expected %llu\n", good[i].s,
				    (unsigned long long)good[i].ms);
			fail();
		}
		assert_num(good[i].s, (long long)ms, (long long)good[i].ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = 12345;
		if (config_parse_duration(bad[i], &ms) != -1) {
			print_error("duration '%s': accepted as %llu, expected -1\n", bad[i],
				    (unsigned long long)ms);
			fail();
		}
		assert_num("ms untouched on error", ms, 12345);
	}
	assert_int_equal(config_parse_duration(NULL, &ms), -1);
}

static void test_bad_duration(void **state)
{
	(void)state;
	EXPECT_ERRS("[service:a]\n"
		    "command = x\n"
		    "start_timeout = -1s\n"
		    "start_window = fast\n"
		    "stop_timeout = 99999999999999999999s\n",
		    "3: start_timeout: bad duration '-1s' (expected e.g. 500ms, 10s, 1.5s, 2m)",
		    "4: start_window: bad duration 'fast' (expected e.g. 500ms, 10s, 1.5s, 2m)",
		    "5: stop_timeout: bad duration '99999999999999999999s' "
		    "(expected e.g. 500ms, 10s, 1.5s, 2m)");
}

static void test_parse_ports(void **state)
{
	static const struct {
		const char *s;
		const char *why;
	} bad[] = {
		{ "", "empty port list entry" },
		{ "3000,", "empty port list entry" },
		{ "3000,,4000", "empty port list entry" },
		{ "0", "port 0 out of range (1..65535)" },
		{ "65536", "port 65536 out of range (1..65535)" },
		{ "99999999999999999999", "port 99999999999999999999 out of range (1..65535)" },
		{ "1-70000", "port 70000 out of range (1..65535)" },
		{ "8005-8001", "bad range '8005-8001'" },
		{ "8001-", "bad range '8001-'" },
		{ "8001-x", "bad range '8001-x'" },
		{ "-5", "bad number '-5'" },
		{ "abc", "bad number 'abc'" },
		{ "3000 4000", "bad number '3000 4000'" },
		{ "3000x", "bad number '3000x'" },
		{ "1-2-3", "bad number '1-2-3'" },
	};
	uint8_t *set = calloc(65536, 1);
	const char *why;
	size_t i;
	int n, p;

	(void)state;
	assert_non_null(set);
	assert_int_equal(config_parse_ports("3000, 4000,6000 , 8001-8005, 9000 - 9001,1,65535", set,
					    &why),
			 0);
	assert_null(why);
	for (p = 0, n = 0; p < 65536; p++)
		n += set[p];
	assert_num("ports set", n, 12);
	assert_true(set[3000] && set[4000] && set[6000] && set[8001] && set[8005]);
	assert_true(set[9000] && set[9001] && set[1] && set[65535]);
	assert_true(!set[8000] && !set[8006] && !set[0]);
	/* adds to the set, and a single-port range is fine */
	assert_int_equal(config_parse_ports("7000-7000", set, &why), 0);
	assert_true(set[7000] && set[3000]);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(set, 0, 65536);
		why = NULL;
		if (config_parse_ports(bad[i].s, set, &why) != -1) {
			print_error("ports '%s': accepted, expected '%s'\n", bad[i].s, bad[i].why);
			fail();
		}
		assert_str(bad[i].s, why, bad[i].why);
	}
	/* nothing set when any entry is bad */
	memset(set, 0, 65536);
	assert_int_equal(config_parse_ports("3000, 4000, 0", set, &why), -1);
	for (p = 0, n = 0; p < 65536; p++)
		n += set[p];
	assert_num("ports set after an error", n, 0);
	free(set);
}

static void test_port_out_of_range(void **state)
{
	(void)state;
	EXPECT_ERRS("[guard]\n"
		    "ports = 3000, 70000\n"
		    "protected = 0\n"
		    "[service:a]\n"
		    "command = x\n"
		    "port = 65536\n"
		    "[service:b]\n"
		    "command = x\n"
		    "port = 0\n",
		    "2: ports: port 70000 out of range (1..65535)",
		    "3: protected: port 0 out of range (1..65535)",
		    "6: port: 65536 out of range (1..65535)", "9: port: 0 out of range (1..65535)");
}

static void test_bad_range(void **state)
{
	(void)state;
	EXPECT_ERRS("[guard]\n"
		    "ports = 3000, 8005-8001\n"
		    "protected = 5000-\n",
		    "2: ports: bad range '8005-8001'", "3: protected: bad range '5000-'");
}

static void test_bad_number(void **state)
{
	(void)state;
	EXPECT_ERRS("[guard]\n"
		    "ports = 3000, three\n"
		    "[service:a]\n"
		    "command = x\n"
		    "port = 3k\n"
		    "priority = high\n"
		    "[service:b]\n"
		    "command = x\n"
		    "priority = 99999999999\n",
		    "2: ports: bad number 'three'", "5: port: bad number '3k'",
		    "6: priority: bad number 'high'", "9: priority: bad number '99999999999'");
}

static void test_port_guarded_and_protected(void **state)
{
	(void)state;
	EXPECT_ERRS("[guard]\n"
		    "protected = 5000, 8003-8010\n"
		    "ports = 3000, 5000, 8001-8005\n",
		    "3: port 5000 is in both ports and protected",
		    "3: ports 8003-8005 are in both ports and protected");
}

static void test_port_assigned_twice(void **state)
{
	(void)state;
	EXPECT_ERRS("[guard]\n"
		    "ports = 3000\n"
		    "[service:main_app]\n"
		    "command = x\n"
		    "port = 3000\n"
		    "[service:other]\n"
		    "command = y\n"
		    "port = 3000\n"
		    "[service:third]\n"
		    "command = z\n"
		    "port = 3000\n",
		    "8: port 3000 already assigned to service main_app",
		    "11: port 3000 already assigned to service main_app");
}

static void test_port_not_guarded_or_protected(void **state)
{
	(void)state;
	EXPECT_ERRS("[service:a]\n"
		    "command = x\n"
		    "port = 3001\n"
		    "[guard]\n"
		    "ports = 3000\n"
		    "protected = 5000\n"
		    "[service:b]\n"
		    "command = x\n"
		    "port = 5000\n",
		    "3: service a: port 3001 is not in ports",
		    "9: service b: port 5000 is protected");
}

static void test_missing_command(void **state)
{
	(void)state;
	EXPECT_ERRS("[guard]\n"
		    "ports = 3000\n"
		    "\n"
		    "[service:web]\n"
		    "port = 3000\n"
		    "[service:empty]\n",
		    "4: service web: missing command", "6: service empty: missing command");
}

static void test_type(void **state)
{
	struct pg_config *c;

	(void)state;
	EXPECT_ERRS("[service:a]\n"
		    "command = x\n"
		    "type = http\n"
		    "[service:b]\n"
		    "command = x\n"
		    "type = web\n",
		    "3: service a: type http needs a port",
		    "6: type: bad value 'web' (expected http, background, forking or notify)");

	c = test_ok("[guard]\nports = 3000, 3001\n"
		    "[service:p]\ncommand = x\nport = 3000\n"
		    "[service:q]\ncommand = x\n"
		    "[service:r]\ncommand = x\nport = 3001\ntype = background\n"
		    "[service:s]\ncommand = x\ntype = background\n");
	assert_num("p type (port, default)", c->svc[0].type, PG_SVC_HTTP);
	assert_num("p type_set", c->svc[0].type_set, 0);
	assert_num("q type (no port, default)", c->svc[1].type, PG_SVC_BACKGROUND);
	assert_num("r type (explicit)", c->svc[2].type, PG_SVC_BACKGROUND);
	assert_num("r type_set", c->svc[2].type_set, 1);
	assert_num("r port", c->svc[2].port, 3001);
	assert_num("s type", c->svc[3].type, PG_SVC_BACKGROUND);
	config_free(c);
}

static void test_bad_enums(void **state)
{
	(void)state;
	EXPECT_ERRS("[guard]\n"
		    "mode = Enforce\n"
		    "[service:a]\n"
		    "command = x\n"
		    "restart = sometimes\n"
		    "stop_signal = STOP\n"
		    "[service:b]\n"
		    "command = x\n"
		    "stop_signal = 65\n"
		    "[service:c]\n"
		    "command = x\n"
		    "stop_signal = 0\n",
		    "2: mode: bad value 'Enforce' (expected enforce or observe)",
		    "5: restart: bad value 'sometimes' (expected always, on-failure or never)",
		    "6: stop_signal: bad signal 'STOP' (expected TERM, INT, QUIT, HUP, KILL, USR1, "
		    "USR2 or 1..64)",
		    "9: stop_signal: bad signal '65' (expected TERM, INT, QUIT, HUP, KILL, USR1, "
		    "USR2 or 1..64)",
		    "12: stop_signal: bad signal '0' (expected TERM, INT, QUIT, HUP, KILL, USR1, "
		    "USR2 or 1..64)");
}

/* The keys of enforcement, alerting and sinks (issue 4). */
static void test_enforce_keys_errors(void **state)
{
	(void)state;
	EXPECT_ERRS("[guard]\n"
		    "on_rogue = shoot\n"
		    "on_conflict = maybe\n"
		    "ring_buffer_kb = 100\n"
		    "journal_max = lots\n"
		    "syslog = sometimes\n"
		    "metrics_listen = 0.0.0.0:9464\n"
		    "coalesce_window = soon\n"
		    "bpffs = relative/path\n"
		    "[service:a]\n"
		    "command = x\n"
		    "on_rogue = ignore\n"
		    "allow = uid:alice, pid:7\n",
		    "2: on_rogue: bad value 'shoot' (expected deny, kill or alert)",
		    "3: on_conflict: bad value 'maybe' (expected reclaim or alert)",
		    "4: ring_buffer_kb: '100' is not a power of two from 4 to 1048576 (KiB)",
		    "5: journal_max: bad size 'lots' (e.g. 64M; at least 4K)",
		    "6: syslog: bad value 'sometimes' (expected yes or no)",
		    "7: metrics_listen: '0.0.0.0:9464' is not a loopback address: serving the "
		    "metrics beyond this host (read-only) needs metrics_public = yes",
		    "8: coalesce_window: bad duration 'soon' (expected e.g. 500ms, 10s, 1.5s, 2m)",
		    "9: bpffs: 'relative/path' is not an absolute path",
		    "12: on_rogue: bad value 'ignore' (expected deny, kill or alert)",
		    "13: allow: malformed entry 'uid:alice' (expected uid:N, exe:/path or "
		    "cgroup:/path)");
	EXPECT_ERRS("[guard]\npriority_boost = 21\n",
		    "2: priority_boost: '21' is not a number from 0 to 20");
	EXPECT_ERRS("[guard]\npriority_boost = -1\n",
		    "2: priority_boost: '-1' is not a number from 0 to 20");
	/* 127.0.0.01 is no dotted quad (inet_pton says no): not taken as loopback */
	EXPECT_ERRS("[guard]\nmetrics_listen = 127.0.0.01:9464\n",
		    "2: metrics_listen: '127.0.0.01:9464' is not an address:port (127.0.0.1:9464, "
		    "[::1]:9464; another address needs metrics_public = yes)");
	EXPECT_ERRS("[guard]\nmetrics_listen = [fe80::zz]:9464\nmetrics_public = yes\n",
		    "2: metrics_listen: '[fe80::zz]:9464' is not an address:port (127.0.0.1:9464, "
		    "[::1]:9464; another address needs metrics_public = yes)");
	/* beyond loopback only when asked for, whatever the keys' order */
	EXPECT_ERRS("[guard]\nmetrics_public = no\nmetrics_listen = [::]:9464\n",
		    "3: metrics_listen: '[::]:9464' is not a loopback address: serving the "
		    "metrics beyond this host (read-only) needs metrics_public = yes");
}

static void test_enforce_keys_values(void **state)
{
	struct pg_config *c;

	(void)state;
	c = test_ok("[guard]\n"
		    "ports = 3000, 4000\n"
		    "on_rogue = kill\n"
		    "on_conflict = alert\n"
		    "journal_max = 2M\n"
		    "syslog = no\n"
		    "metrics_listen = [::1]:9464\n"
		    "coalesce_window = 0\n"
		    "alert_command = /usr/local/bin/page --team trading\n"
		    "[service:a]\n"
		    "command = x\n"
		    "port = 3000\n"
		    "on_rogue = alert\n"
		    "allow = uid:1000, exe:/usr/bin/curl, cgroup:/system.slice/hc.service\n");
	assert_num("on_rogue", c->on_rogue, PG_ROGUE_KILL);
	assert_num("reclaim", c->reclaim, 0);
	assert_num("journal_max", (long long)c->journal_max, 2 << 20);
	assert_num("syslog", c->syslog, 0);
	assert_str("metrics_listen", c->metrics_listen, "[::1]:9464");
	assert_num("coalesce_ms", (long long)c->coalesce_ms, 0);
	assert_str("alert_command", c->alert_command, "/usr/local/bin/page --team trading");
	assert_num("service on_rogue", c->svc[0].on_rogue, PG_ROGUE_ALERT);
	assert_num("policy of 3000 (the service's)", config_port_policy(c, 3000), PG_ROGUE_ALERT);
	assert_num("policy of 4000 (the guard's)", config_port_policy(c, 4000), PG_ROGUE_KILL);
	assert_num("nallow", c->svc[0].nallow, 3);
	assert_num("allow[0] uid", c->svc[0].allow[0].uid, 1000);
	assert_num("allow[1] kind", c->svc[0].allow[1].kind, PG_ALLOW_KIND_EXE);
	assert_str("allow[1] path", c->svc[0].allow[1].path, "/usr/bin/curl");
	assert_num("allow[2] kind", c->svc[0].allow[2].kind, PG_ALLOW_KIND_CGROUP);
	assert_str("allow[2] path", c->svc[0].allow[2].path, "/system.slice/hc.service");
	config_free(c);
	/* defaults */
	c = test_ok("[guard]\nname = t\n");
	assert_num("default on_rogue", c->on_rogue, PG_ROGUE_DENY);
	assert_num("default reclaim", c->reclaim, 1);
	assert_num("default journal_max", (long long)c->journal_max, 64 << 20);
	assert_num("default ring_buffer_kb", c->ring_buffer_kb, 1024);
	assert_num("default priority_boost", c->priority_boost, 4);
	assert_num("default coalesce_ms", (long long)c->coalesce_ms, 1000);
	assert_str("default bpffs", c->bpffs, "/sys/fs/bpf");
	config_free(c);
	c = test_ok("[guard]\nmetrics_public = yes\nmetrics_listen = 0.0.0.0:9464\n");
	assert_str("metrics_listen, public", c->metrics_listen, "0.0.0.0:9464");
	config_free(c);
}

static void test_service_equal(void **state)
{
	struct pg_config *a, *b;

	(void)state;
	a = test_ok("[service:a]\ncommand = x --y\nport = 3000\nallow = uid:1\n"
		    "[guard]\nports = 3000\n");
	b = test_ok("[guard]\nports = 3000\n[service:a]\ncommand = x --y\nport = 3000\n"
		    "allow = uid:1\n");
	assert_true(config_service_equal(&a->svc[0], &b->svc[0]));
	config_free(b);
	b = test_ok("[guard]\nports = 3000\n[service:a]\ncommand = x --z\nport = 3000\n"
		    "allow = uid:1\n");
	assert_false(config_service_equal(&a->svc[0], &b->svc[0]));
	config_free(b);
	/* policy is the guard's, not the process's: no restart for it */
	b = test_ok("[guard]\nports = 3000\n[service:a]\ncommand = x --y\nport = 3000\n"
		    "allow = uid:2\non_rogue = alert\npriority = 7\n");
	assert_true(config_service_equal(&a->svc[0], &b->svc[0]));
	config_free(b);
	config_free(a);
}

static void test_stop_signal_values(void **state)
{
	static const struct {
		const char *s;
		int sig;
	} sigs[] = {
		{ "TERM", SIGTERM }, { "SIGTERM", SIGTERM }, { "INT", SIGINT },
		{ "QUIT", SIGQUIT }, { "HUP", SIGHUP },	     { "KILL", SIGKILL },
		{ "USR1", SIGUSR1 }, { "SIGUSR2", SIGUSR2 }, { "1", 1 },
		{ "64", 64 },	     { "15", 15 },
	};
	char text[128];
	struct pg_config *c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		snprintf(text, sizeof(text), "[service:a]\ncommand = x\nstop_signal = %s\n",
			 sigs[i].s);
		c = test_ok(text);
		assert_num(sigs[i].s, c->svc[0].stop_signal, sigs[i].sig);
		config_free(c);
	}
	c = test_ok("[guard]\nmode = observe\n[service:a]\ncommand = x\nrestart = on-failure\n"
		    "[service:b]\ncommand = x\nrestart = never\n");
	assert_num("mode", c->mode, PG_MODE_OBSERVE);
	assert_num("a restart", c->svc[0].restart, PG_RESTART_ON_FAILURE);
	assert_num("b restart", c->svc[1].restart, PG_RESTART_NEVER);
	config_free(c);
}

static void test_health(void **state)
{
	(void)state;
	EXPECT_ERRS("[guard]\n"
		    "ports = 3000\n"
		    "[service:a]\n"
		    "command = x\n"
		    "port = 3000\n"
		    "health = health\n"
		    "[service:b]\n"
		    "command = x\n"
		    "health = /health\n"
		    "[service:c]\n"
		    "command = x\n"
		    "type = background\n"
		    "health = /ok\n",
		    "6: health: 'health' must start with '/'",
		    "9: service b: health is not allowed for a background service",
		    "13: service c: health is not allowed for a background service");
}

static void test_invalid_instance_name(void **state)
{
	(void)state;
	EXPECT_ERRS("[guard]\n"
		    "name = trading/prod\n",
		    "2: name: invalid name 'trading/prod' (expected 1..63 characters of "
		    "A-Za-z0-9_.-)");
	EXPECT_ERRS("[guard]\n"
		    "name = ..\n",
		    "2: name: invalid name '..' (expected 1..63 characters of A-Za-z0-9_.-)");
}

static void test_paths(void **state)
{
	(void)state;
	EXPECT_ERRS("[guard]\n"
		    "state_dir = var/lib/x\n"
		    "[service:a]\n"
		    "command = x\n"
		    "directory = opt\n"
		    "pidfile = a.pid\n"
		    "socket = a.sock\n",
		    "2: state_dir: 'var/lib/x' is not an absolute path",
		    "5: directory: 'opt' is not an absolute path",
		    "6: pidfile: 'a.pid' is not an absolute path",
		    "7: socket: 'a.sock' is not an absolute path");
}

static void test_too_many_services(void **state)
{
	size_t size = (PG_MAX_SERVICES + 2) * 48 + 1, off = 0;
	char *text = malloc(size), want[2][64];
	struct pg_config *c;
	int i;

	(void)state;
	assert_non_null(text);
	for (i = 0; i < PG_MAX_SERVICES; i++)
		off += snprintf(text + off, size - off, "[service:s%02d]\ncommand = x\n", i);
	c = test_ok(text);
	assert_num("nsvc", c->nsvc, PG_MAX_SERVICES);
	config_free(c);

	off += snprintf(text + off, size - off, "[service:extra]\ncommand = x\n");
	off += snprintf(text + off, size - off, "[service:extra2]\ncommand = x\n");
	snprintf(want[0], sizeof(want[0]), "%d: too many services (max %d)",
		 2 * PG_MAX_SERVICES + 1, PG_MAX_SERVICES);
	snprintf(want[1], sizeof(want[1]), "%d: too many services (max %d)",
		 2 * PG_MAX_SERVICES + 3, PG_MAX_SERVICES);
	EXPECT_ERRS(text, want[0], want[1]);
	free(text);
}

static void test_environment(void **state)
{
	char text[1024], want[64];
	struct pg_config *c;
	size_t off;
	int i;

	(void)state;
	EXPECT_ERRS("[service:a]\n"
		    "command = x\n"
		    "environment = A=1, B\n"
		    "[service:b]\n"
		    "command = x\n"
		    "environment = A=1,,B=2\n"
		    "[service:c]\n"
		    "command = x\n"
		    "environment = =1\n"
		    "[service:d]\n"
		    "command = x\n"
		    "environment = 1A=1\n"
		    "[service:e]\n"
		    "command = x\n"
		    "environment = A B=1\n",
		    "3: environment: malformed entry 'B' (expected NAME=VALUE)",
		    "6: environment: malformed entry '' (expected NAME=VALUE)",
		    "9: environment: malformed entry '=1' (expected NAME=VALUE)",
		    "12: environment: malformed entry '1A=1' (expected NAME=VALUE)",
		    "15: environment: malformed entry 'A B=1' (expected NAME=VALUE)");

	/* PG_MAX_ENV entries fit (on a line longer than inih's buffer), one more does not */
	off = snprintf(text, sizeof(text), "[service:a]\ncommand = x\nenvironment = ");
	for (i = 0; i < PG_MAX_ENV; i++)
		off += snprintf(text + off, sizeof(text) - off, "%sVAR%d=%d", i ? ", " : "", i, i);
	snprintf(text + off, sizeof(text) - off, "\n");
	c = test_ok(text);
	assert_num("nenv", c->svc[0].nenv, PG_MAX_ENV);
	assert_str("env[0]", c->svc[0].env[0], "VAR0=0");
	assert_str("env[31]", c->svc[0].env[PG_MAX_ENV - 1], "VAR31=31");
	config_free(c);

	snprintf(text + off, sizeof(text) - off, ", ONE=more\n");
	snprintf(want, sizeof(want), "3: environment: too many entries (max %d)", PG_MAX_ENV);
	EXPECT_ERRS(text, want);

	c = test_ok("[service:a]\ncommand = x\nenvironment =A=1,  B=two words ,C=,D=x=y\n");
	assert_num("nenv", c->svc[0].nenv, 4);
	assert_str("env[0]", c->svc[0].env[0], "A=1");
	assert_str("env[1]", c->svc[0].env[1], "B=two words");
	assert_str("env[2]", c->svc[0].env[2], "C=");
	assert_str("env[3]", c->svc[0].env[3], "D=x=y");
	config_free(c);
}

static void test_many_errors(void **state)
{
	(void)state;
	EXPECT_ERRS("; every error here is reported, sorted by line\n"
		    "[guard]\n"
		    "name = bad name\n"
		    "ports = 3000, 4000, 5000\n"
		    "protected = 5000\n"
		    "mode = loud\n"
		    "colour = blue\n"
		    "\n"
		    "[service:main_app]\n"
		    "command = /bin/main\n"
		    "port = 3000\n"
		    "start_timeout = soon\n"
		    "\n"
		    "[service:dup_port]\n"
		    "port = 3000\n"
		    "health = nope\n"
		    "\n"
		    "[nonsense]\n"
		    "command = ignored\n"
		    "[service:bg]\n"
		    "command = /bin/bg\n"
		    "health = /h\n"
		    "port = 3000\n"
		    "port = 4000\n",
		    "3: name: invalid name 'bad name' (expected 1..63 characters of A-Za-z0-9_.-)",
		    "5: port 5000 is in both ports and protected",
		    "6: mode: bad value 'loud' (expected enforce or observe)",
		    "7: unknown key 'colour' in [guard]",
		    "12: start_timeout: bad duration 'soon' (expected e.g. 500ms, 10s, 1.5s, 2m)",
		    "14: service dup_port: missing command",
		    "15: port 3000 already assigned to service main_app",
		    "16: health: 'nope' must start with '/'",
		    "18: unknown section [nonsense] (expected [guard] or [service:NAME])",
		    "23: port 3000 already assigned to service main_app",
		    "24: duplicate key 'port' (first at line 23)");
}

/* --- whole files --- */

static const char example[] =
	"[guard]\n"
	"name = trading                        ; instance name (cgroup, pin and socket names)\n"
	"ports = 3000, 4000, 6000, 8001-8005   ; guarded ports\n"
	"protected = 5000, 7000, 9000, 10000   ; never flushed, killed or assigned\n"
	"mode = enforce                        ; enforce | observe\n"
	"control = /run/portguard/trading.sock\n"
	"state_dir = /var/lib/portguard/trading\n"
	"log_dir = /var/log/portguard/trading\n"
	"\n"
	"[service:main_app]\n"
	"command = /opt/trading/bin/main_app --port 3000\n"
	"port = 3000                           ; omitted for a background service\n"
	"type = http                           ; http | background\n"
	"health = /health                      ; optional HTTP GET path\n"
	"user = nobody\n"
	"directory = /opt/trading\n"
	"environment = A=1, B=two\n"
	"pidfile = /run/trading/main_app.pid\n"
	"socket = /run/trading/main_app.sock\n"
	"start_timeout = 10s\n"
	"start_window = 100ms                  ; (ours) how long a background service must stay "
	"alive to be ready\n"
	"stop_signal = TERM\n"
	"stop_timeout = 5s\n"
	"restart = always                      ; always | on-failure | never\n"
	"priority = 10                         ; start order, ascending\n";

static void test_full_example(void **state)
{
	struct pg_config *c = test_ok(example);
	const struct pg_service_conf *s = &c->svc[0];
	static const int guarded[] = { 3000, 4000, 6000, 8001, 8002, 8003, 8004, 8005 };
	static const int protected_[] = { 5000, 7000, 9000, 10000 };
	int p, n;
	size_t i;

	(void)state;
	assert_str("path", c->path, test_path);
	assert_str("name", c->name, "trading");
	for (p = 0, n = 0; p < 65536; p++)
		n += c->guarded[p];
	assert_num("guarded count", n, 8);
	for (i = 0; i < sizeof(guarded) / sizeof(guarded[0]); i++)
		assert_num("guarded", c->guarded[guarded[i]], 1);
	for (p = 0, n = 0; p < 65536; p++)
		n += c->protected_[p];
	assert_num("protected count", n, 4);
	for (i = 0; i < sizeof(protected_) / sizeof(protected_[0]); i++)
		assert_num("protected", c->protected_[protected_[i]], 1);
	assert_num("mode", c->mode, PG_MODE_ENFORCE);
	assert_str("control", c->control, "/run/portguard/trading.sock");
	assert_str("state_dir", c->state_dir, "/var/lib/portguard/trading");
	assert_str("log_dir", c->log_dir, "/var/log/portguard/trading");

	assert_num("nsvc", c->nsvc, 1);
	assert_str("svc name", s->name, "main_app");
	assert_num("svc line", s->line, 10);
	assert_str("command", s->command, "/opt/trading/bin/main_app --port 3000");
	assert_num("port", s->port, 3000);
	assert_num("type", s->type, PG_SVC_HTTP);
	assert_num("type_set", s->type_set, 1);
	assert_str("health", s->health, "/health");
	assert_str("user", s->user, "nobody");
	assert_str("directory", s->directory, "/opt/trading");
	assert_num("nenv", s->nenv, 2);
	assert_str("env[0]", s->env[0], "A=1");
	assert_str("env[1]", s->env[1], "B=two");
	assert_str("pidfile", s->pidfile, "/run/trading/main_app.pid");
	assert_str("socket", s->socket, "/run/trading/main_app.sock");
	assert_num("start_timeout_ms", s->start_timeout_ms, 10000);
	assert_num("start_window_ms", s->start_window_ms, 100);
	assert_num("stop_signal", s->stop_signal, SIGTERM);
	assert_num("stop_timeout_ms", s->stop_timeout_ms, 5000);
	assert_num("restart", s->restart, PG_RESTART_ALWAYS);
	assert_num("priority", s->priority, 10);

	assert_ptr_equal(config_port_owner(c, 3000), s);
	assert_null(config_port_owner(c, 4000));
	assert_null(config_port_owner(c, 0));
	assert_null(config_port_owner(c, 70000));
	config_free(c);
}

/* inih as Debian builds it: inline ';' comments need a space before them, '#' is not one. */
static void test_inline_comments(void **state)
{
	struct pg_config *c;

	(void)state;
	c = test_ok("\xEF\xBB\xBF# a BOM, then a comment\r\n"
		    "  [guard]   ; indented header\r\n"
		    "\tname = x-1.y_z ; comment\r\n"
		    "ports: 3000\n"
		    "[service:a];no space needed after a header\n"
		    "    command = /bin/sh -c 'a;b' #not;a comment ; but this is\n"
		    "   user = nobody\n"
		    "environment = A=1;2\n"
		    "health=/x;y\n"
		    "port = 3000\n");
	assert_str("name", c->name, "x-1.y_z");
	assert_num("guarded 3000", c->guarded[3000], 1);
	assert_str("command", c->svc[0].command, "/bin/sh -c 'a;b' #not;a comment");
	assert_str("user (indented, not a continuation)", c->svc[0].user, "nobody");
	assert_str("env[0]", c->svc[0].env[0], "A=1;2");
	assert_str("health", c->svc[0].health, "/x;y");
	config_free(c);
}

static void test_defaults(void **state)
{
	struct pg_config *c;
	const struct pg_service_conf *s;
	int p, n;

	(void)state;
	c = test_ok("[guard]\n");
	assert_str("name", c->name, "portguard");
	assert_num("mode", c->mode, PG_MODE_ENFORCE);
	assert_str("control", c->control, "/run/portguard/portguard.sock");
	assert_str("state_dir", c->state_dir, "/var/lib/portguard/portguard");
	assert_str("log_dir", c->log_dir, "/var/log/portguard/portguard");
	assert_num("nsvc", c->nsvc, 0);
	for (p = 0, n = 0; p < 65536; p++)
		n += c->guarded[p] + c->protected_[p];
	assert_num("no ports", n, 0);
	config_free(c);

	/* no [guard] at all; name-derived paths follow a name given after them */
	c = test_ok("[service:bg]\ncommand = /bin/sleep 1000\n"
		    "[guard]\nlog_dir = /tmp/logs\nname = later\n");
	assert_str("name", c->name, "later");
	assert_str("control", c->control, "/run/portguard/later.sock");
	assert_str("state_dir", c->state_dir, "/var/lib/portguard/later");
	assert_str("log_dir", c->log_dir, "/tmp/logs");
	s = &c->svc[0];
	assert_num("line", s->line, 1);
	assert_num("port", s->port, 0);
	assert_num("type", s->type, PG_SVC_BACKGROUND);
	assert_num("type_set", s->type_set, 0);
	assert_null(s->health);
	assert_null(s->user);
	assert_null(s->directory);
	assert_num("nenv", s->nenv, 0);
	assert_null(s->pidfile);
	assert_null(s->socket);
	assert_num("start_timeout_ms", s->start_timeout_ms, 10000);
	assert_num("start_window_ms", s->start_window_ms, 100);
	assert_num("stop_signal", s->stop_signal, SIGTERM);
	assert_num("stop_timeout_ms", s->stop_timeout_ms, 5000);
	assert_num("restart", s->restart, PG_RESTART_ALWAYS);
	assert_num("priority", s->priority, 100);
	config_free(c);
}

static void test_sort_order(void **state)
{
	static const char *const order[] = { "first", "a", "b", "c", "z_default" };
	struct pg_config *c;
	size_t i;

	(void)state;
	c = test_ok("[guard]\nports = 3000-3010\n"
		    "[service:z_default]\ncommand = x\nport = 3001\n"
		    "[service:c]\ncommand = x\npriority = 10\nport = 3002\n"
		    "[service:b]\ncommand = x\npriority = 10\n"
		    "[service:a]\ncommand = x\npriority = 10\nport = 3004\n"
		    "[service:first]\ncommand = x\npriority = -5\n");
	assert_num("nsvc", c->nsvc, 5);
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		assert_str("sorted name", c->svc[i].name, order[i]);
	/* the header line and the port travel with the service */
	assert_num("a line", c->svc[1].line, 13);
	assert_str("owner of 3002", config_port_owner(c, 3002)->name, "c");
	assert_str("owner of 3001", config_port_owner(c, 3001)->name, "z_default");
	assert_str("owner of 3004", config_port_owner(c, 3004)->name, "a");
	assert_null(config_port_owner(c, 3003));
	assert_null(config_port_owner(NULL, 3003));
	config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_value),
		cmocka_unit_test(test_no_guard_section),
		cmocka_unit_test(test_reserved_service_name),
		cmocka_unit_test(test_nul_byte_and_control_characters),
		cmocka_unit_test(test_unknown_user_and_group),
		cmocka_unit_test(test_only_regular_files_of_root),
		cmocka_unit_test(test_value_too_long),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_duplicate_section),
		cmocka_unit_test(test_unknown_section),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_cannot_open),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_bad_duration),
		cmocka_unit_test(test_parse_ports),
		cmocka_unit_test(test_port_out_of_range),
		cmocka_unit_test(test_bad_range),
		cmocka_unit_test(test_bad_number),
		cmocka_unit_test(test_port_guarded_and_protected),
		cmocka_unit_test(test_port_assigned_twice),
		cmocka_unit_test(test_port_not_guarded_or_protected),
		cmocka_unit_test(test_missing_command),
		cmocka_unit_test(test_type),
		cmocka_unit_test(test_bad_enums),
		cmocka_unit_test(test_stop_signal_values),
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_invalid_instance_name),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_too_many_services),
		cmocka_unit_test(test_environment),
		cmocka_unit_test(test_many_errors),
		cmocka_unit_test(test_full_example),
		cmocka_unit_test(test_inline_comments),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_sort_order),
		cmocka_unit_test(test_enforce_keys_errors),
		cmocka_unit_test(test_enforce_keys_values),
		cmocka_unit_test(test_service_equal),
	};

	return cmocka_run_group_tests(tests, test_setup, test_teardown);
}
