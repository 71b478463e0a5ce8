/* SPDX-License-Identifier: BSD-3-Clause */
/* The one fork of the guard: a child with a CLOEXEC pipe and the signals of a fresh process. */
#ifndef PG_SPAWN_H
#define PG_SPAWN_H

#include <sys/types.h>

/*
 * pipe2(O_CLOEXEC) into pfd, then fork. In the child (0) the signal mask
 * is empty and every signal has its default action (not the guard's
 * blocked signals, nor its SIG_IGN of SIGPIPE). The pid in the parent;
 * -errno, with the pipe closed, when either fails.
 */
pid_t spawn_fork(int pfd[2]);

/*
 * In a child about to exec: close every fd from 3 up but keep (-1: none),
 * at once rather than at the exec. Until then the child holds the guard's
 * guard.lock and control socket: a guard killed while a child was between
 * fork and exec (a cgroup join can take milliseconds) left both alive in
 * it, and the next guard found the lock taken and a socket that accepted.
 */
void spawn_close_fds(int keep);

/*
 * The guard's nice: `boost` below the one it was started with (the first
 * call notes that one), so a storm of binds from ordinary processes
 * cannot starve the guard of the CPU it needs to see them (auditd's
 * priority_boost). Children of spawn_fork() go back to the nice the guard
 * was started with: services never inherit the boost. A boost the kernel
 * refuses (no CAP_SYS_NICE) is a warning, not an error.
 */
void spawn_priority(int boost);

#endif
