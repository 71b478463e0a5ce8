/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * noop: the floor under any guard built on cgroup hooks (bench/cost.py).
 * Attaches three programs that only return 1 to CGROUP on the hooks the
 * guard's unguarded-bind path runs (inet4 bind, inet4 post_bind, inet
 * sock_release), runs CMD (which moves itself into CGROUP), then prints
 * each program's bpf_stats ("noop_bind4 RUN_TIME_NS RUN_CNT", 0 0 unless
 * kernel.bpf_stats_enabled is on) and exits with CMD's status.
 *
 *   noop CGROUP CMD [ARG...]
 *
 * Raw bpf(2) rather than libbpf: two instructions per program need no ELF
 * object, no clang and no pin; the attachments are bpf links, so they go
 * with this process however it ends (never left on the host's cgroup).
 *
 * Build: gcc -O2 -o noop noop.c
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int sys_bpf(int cmd, union bpf_attr *a)
{
	return syscall(__NR_bpf, cmd, a, sizeof(*a));
}

static const struct {
	const char *name;
	enum bpf_prog_type type;
	enum bpf_attach_type attach;
} progs[] = {
	{ "noop_bind4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_BIND },
	{ "noop_post_bind4", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET4_POST_BIND },
	{ "noop_release", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_RELEASE },
};
#define NPROGS (int)(sizeof(progs) / sizeof(progs[0]))

static int load(int i)
{
	struct bpf_insn insn[2] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.prog_type = progs[i].type;
	a.expected_attach_type = progs[i].attach;
	a.insns = (unsigned long)insn;
	a.insn_cnt = 2;
	a.license = (unsigned long)"GPL";
	strncpy(a.prog_name, progs[i].name, sizeof(a.prog_name) - 1);
	return sys_bpf(BPF_PROG_LOAD, &a);
}

static int attach(int prog, int cg, int i)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.link_create.prog_fd = prog;
	a.link_create.target_fd = cg;
	a.link_create.attach_type = progs[i].attach;
	return sys_bpf(BPF_LINK_CREATE, &a);
}

static void stats(int prog, const char *name)
{
	struct bpf_prog_info info;
	union bpf_attr a;

	memset(&info, 0, sizeof(info));
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = prog;
	a.info.info_len = sizeof(info);
	a.info.info = (unsigned long)&info;
	if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a) < 0)
		memset(&info, 0, sizeof(info));
	printf("%s %llu %llu\n", name, (unsigned long long)info.run_time_ns,
	       (unsigned long long)info.run_cnt);
}

int main(int argc, char **argv)
{
	int cg, prog[NPROGS], i, st;
	pid_t pid;

	if (argc < 3)
		return 2;
	cg = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		perror(argv[1]);
		return 1;
	}
	for (i = 0; i < NPROGS; i++) {
		prog[i] = load(i);
		if (prog[i] < 0 || attach(prog[i], cg, i) < 0) {
			fprintf(stderr, "noop: %s: %m\n", progs[i].name);
			return 1;
		}
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return 1;
	for (i = 0; i < NPROGS; i++)
		stats(prog[i], progs[i].name);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
