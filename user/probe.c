/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include "probe.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

static const struct {
	const char *what;  /* what is missing, as the kernel names it */
	const char *since; /* the Linux release that brought it */
	const char *without; /* NULL: essential; else what the guard does without it */
} probe_info[PROBE_MAX] = {
	[PROBE_SOCK_COOKIE] = { "bpf_get_socket_cookie in cgroup/post_bind and sock_release",
				"5.12", NULL },
	[PROBE_SO_NETNS] = { "SO_NETNS_COOKIE", "5.14",
			     "the guard's netns cookie is read by a BPF program at start" },
	[PROBE_BIND_SOCKOPT] = { "bpf_getsockopt in cgroup/bind4", "5.12",
				 "SO_REUSEPORT of a bind is not known (events say reuseport: false)" },
	/* 5.10, the oldest kernel of the matrix, has it (make vmtest) */
	[PROBE_RELEASE_READ] = { "bpf_probe_read_kernel in cgroup/sock_release", "5.10",
				 "every socket's close on the host looks up the guard's socket map" },
};

/*
 * Does a program of this type and attach type know the helper? Load
 * "call helper; r0 = 1; exit": the verifier names an unknown or
 * disallowed helper before it looks at the (unset) arguments.
 */
static int probe_helper(enum bpf_prog_type type, enum bpf_attach_type attach, int helper)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_JMP | BPF_CALL, .imm = helper },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	char log[4096] = "";
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = attach, .log_buf = log,
		    .log_size = sizeof(log), .log_level = 1);
	int fd = bpf_prog_load(type, NULL, "GPL", insns, sizeof(insns) / sizeof(insns[0]), &o);

	if (fd >= 0) {
		close(fd);
		return 1;
	}
	return !strstr(log, "unknown func") && !strstr(log, "invalid func");
}

/*
 * Can cgroup/sock_release read its socket (the context is the struct sock)
 * with bpf_probe_read_kernel? "r3 = ctx + 8; probe_read_kernel(fp - 8, 8,
 * r3)": the shape of the read pg_sock_release makes of skc_cookie.
 */
static int probe_release_read(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_3, .src_reg = BPF_REG_1 },
		{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_3, .imm = 8 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_1, .src_reg = BPF_REG_10 },
		{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_1, .imm = -8 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_2, .imm = 8 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_probe_read_kernel },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = BPF_CGROUP_INET_SOCK_RELEASE);
	int fd = bpf_prog_load(BPF_PROG_TYPE_CGROUP_SOCK, NULL, "GPL", insns,
			       sizeof(insns) / sizeof(insns[0]), &o);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static int probe_so_netns(void)
{
	unsigned long long cookie = 0;
	socklen_t len = sizeof(cookie);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return 0;
	ok = getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) == 0 && cookie;
	close(fd);
	return ok;
}

unsigned probe_kernel(void)
{
	unsigned have = 0;

	if (probe_helper(BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET4_POST_BIND,
			 BPF_FUNC_get_socket_cookie))
		have |= 1U << PROBE_SOCK_COOKIE;
	if (probe_so_netns())
		have |= 1U << PROBE_SO_NETNS;
	if (probe_helper(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_BIND,
			 BPF_FUNC_getsockopt))
		have |= 1U << PROBE_BIND_SOCKOPT;
	if (probe_release_read())
		have |= 1U << PROBE_RELEASE_READ;
	return have;
}

const char *probe_missing_essential(unsigned have, char *buf, size_t len)
{
	struct utsname u;
	size_t n = 0;
	int f, any = 0;

	buf[0] = 0;
	for (f = 0; f < PROBE_MAX; f++) {
		if (probe_info[f].without || (have & (1U << f)))
			continue;
		if (!any) {
			uname(&u);
			n = snprintf(buf, len, "this kernel (Linux %s) cannot run portguard: it lacks ",
				     u.release);
		}
		if (n < len)
			n += snprintf(buf + n, len - n, "%s%s (Linux %s)", any ? ", " : "",
				      probe_info[f].what, probe_info[f].since);
		any = 1;
	}
	return buf;
}

const char *probe_degraded(unsigned have, enum probe_feature f)
{
	static char line[256];

	if ((have & (1U << f)) || !probe_info[f].without)
		return NULL;
	snprintf(line, sizeof(line), "this kernel lacks %s (Linux %s): %s", probe_info[f].what,
		 probe_info[f].since, probe_info[f].without);
	return line;
}
