/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The one event loop: a single epoll_wait(-1) over every fd the guard waits on.
 * Timers are timerfds, so every wait with a deadline is an fd too.
 */
#ifndef PG_LOOP_H
#define PG_LOOP_H

#include <stdint.h>

struct pg_watch;
typedef void (*pg_watch_cb)(struct pg_watch *w, uint32_t events);

struct pg_watch {
	int fd;
	pg_watch_cb cb;
	void *arg;
};

int loop_init(void);
/* Register w->fd for `events` (EPOLLIN...). Returns 0 or -errno. */
int loop_add(struct pg_watch *w, uint32_t events);
void loop_del(struct pg_watch *w);
/* Change the events w waits for. */
int loop_mod(struct pg_watch *w, uint32_t events);
/*
 * Free p after the current batch of events: a watch removed by one callback
 * may still have an event pending later in the same epoll_wait batch.
 */
void loop_defer_free(void *p);
/* Run until loop_stop(); returns 0 or -errno. */
int loop_run(void);
void loop_stop(void);

/* One-shot timer on a timerfd (CLOCK_MONOTONIC). */
struct pg_timer {
	struct pg_watch w;
	void (*cb)(struct pg_timer *t);
	void *arg;
};
int timer_init(struct pg_timer *t, void (*cb)(struct pg_timer *), void *arg);
/* Arm to fire once after ms milliseconds (0 fires at once). */
int timer_arm_ms(struct pg_timer *t, uint64_t ms);
void timer_disarm(struct pg_timer *t);
void timer_close(struct pg_timer *t);

/* Monotonic time in milliseconds / nanoseconds. */
uint64_t now_ms(void);
uint64_t now_ns(void);
/* 1 (and *last_ms set to now) when every_ms have passed since *last_ms (0: never), else 0. */
int every_ms(uint64_t *last_ms, uint64_t every_ms);

#endif
