/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "spawn.h"

static int spawn_nice = INT_MIN; /* the guard's nice at start: its children's */

void spawn_priority(int boost)
{
	int want;

	if (spawn_nice == INT_MIN) {
		errno = 0;
		spawn_nice = getpriority(PRIO_PROCESS, 0);
		if (errno)
			spawn_nice = 0;
	}
	want = spawn_nice - boost < -20 ? -20 : spawn_nice - boost;
	if (setpriority(PRIO_PROCESS, 0, want) < 0)
		log_warn("priority_boost %d: cannot set the guard's nice to %d", boost, want);
}

pid_t spawn_fork(int pfd[2])
{
	sigset_t none;
	pid_t pid;
	int sig;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		pid = -errno;
		close(pfd[0]);
		close(pfd[1]);
		return pid;
	}
	if (pid > 0)
		return pid;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	if (spawn_nice != INT_MIN)
		setpriority(PRIO_PROCESS, 0, spawn_nice); /* raising one's nice needs no privilege */
	return 0;
}

void spawn_close_fds(int keep)
{
	/* close_range(2): Linux >= 5.9; without it O_CLOEXEC on every fd still ends them at exec */
	if (keep > 3)
		syscall(SYS_close_range, 3U, (unsigned int)keep - 1, 0U);
	syscall(SYS_close_range, keep >= 3 ? (unsigned int)keep + 1 : 3U, ~0U, 0U);
}
