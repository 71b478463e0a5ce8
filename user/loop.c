/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdlib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

static int loop_epfd = -1;
static int loop_stopped;
static void **loop_graveyard;
static int loop_ngrave, loop_capgrave;

void loop_defer_free(void *p)
{
	if (loop_ngrave == loop_capgrave) {
		int cap = loop_capgrave ? loop_capgrave * 2 : 16;
		void **g = realloc(loop_graveyard, cap * sizeof(*g));

		if (!g)
			return; /* leak rather than use after free */
		loop_graveyard = g;
		loop_capgrave = cap;
	}
	loop_graveyard[loop_ngrave++] = p;
}

static void loop_bury(void)
{
	while (loop_ngrave)
		free(loop_graveyard[--loop_ngrave]);
}

int loop_init(void)
{
	loop_epfd = epoll_create1(EPOLL_CLOEXEC);
	return loop_epfd < 0 ? -errno : 0;
}

int loop_add(struct pg_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (epoll_ctl(loop_epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0)
		return -errno;
	return 0;
}

int loop_mod(struct pg_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	return epoll_ctl(loop_epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

void loop_del(struct pg_watch *w)
{
	if (w->fd >= 0)
		epoll_ctl(loop_epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

void loop_stop(void)
{
	loop_stopped = 1;
}

int loop_run(void)
{
	struct epoll_event evs[32];
	int i, n;

	while (!loop_stopped) {
		n = epoll_wait(loop_epfd, evs, 32, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (i = 0; i < n && !loop_stopped; i++) {
			struct pg_watch *w = evs[i].data.ptr;

			if (w->fd >= 0) /* -1: removed earlier in this batch */
				w->cb(w, evs[i].events);
		}
		loop_bury();
	}
	loop_bury();
	return 0;
}

static void timer_fired(struct pg_watch *w, uint32_t events)
{
	struct pg_timer *t = w->arg;
	uint64_t n;

	(void)events;
	if (read(w->fd, &n, sizeof(n)) != sizeof(n))
		return;
	t->cb(t);
}

int timer_init(struct pg_timer *t, void (*cb)(struct pg_timer *), void *arg)
{
	t->w.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->w.fd < 0)
		return -errno;
	t->w.cb = timer_fired;
	t->w.arg = t;
	t->cb = cb;
	t->arg = arg;
	return loop_add(&t->w, EPOLLIN);
}

int timer_arm_ms(struct pg_timer *t, uint64_t ms)
{
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (ms % 1000) * 1000000;
	if (ms == 0)
		its.it_value.tv_nsec = 1; /* fire at once */
	return timerfd_settime(t->w.fd, 0, &its, NULL) < 0 ? -errno : 0;
}

void timer_disarm(struct pg_timer *t)
{
	struct itimerspec its = { 0 };

	if (t->w.fd >= 0)
		timerfd_settime(t->w.fd, 0, &its, NULL);
}

void timer_close(struct pg_timer *t)
{
	if (t->w.fd < 0)
		return;
	loop_del(&t->w);
	close(t->w.fd);
	t->w.fd = -1;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

uint64_t now_ms(void)
{
	return now_ns() / 1000000ULL;
}

int every_ms(uint64_t *last_ms, uint64_t every)
{
	uint64_t now = now_ms();

	if (*last_ms && now - *last_ms < every)
		return 0;
	*last_ms = now;
	return 1;
}
