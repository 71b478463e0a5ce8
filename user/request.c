/* SPDX-License-Identifier: BSD-3-Clause */
#include <string.h>
#include <sys/socket.h>

#include "control.h"
#include "ctx.h"
#include "encode.h"
#include "reload.h"
#include "request.h"
#include "restart.h"
#include "snapshot.h"
#include "status.h"

static struct guard_ctx *RQ;
static int (*rq_shutdown)(struct ctl_client *c);

void request_init(struct guard_ctx *x, int (*shutdown)(struct ctl_client *c))
{
	RQ = x;
	rq_shutdown = shutdown;
}

/* Answer c with line; 1 to keep it (when keep and the reply went out). */
static int rq_answer(struct ctl_client *c, char *line, int keep)
{
	return control_reply(c, line) < 0 ? 0 : keep;
}

static int rq_status(struct ctl_client *c, const struct ctl_request *req)
{
	struct status st;
	char *line;

	(void)req;
	line = snapshot_guard(&st) ? encode_error("out of memory") : encode_status(&st);
	status_free(&st);
	return rq_answer(c, line, 0);
}

static int rq_events(struct ctl_client *c, const struct ctl_request *req)
{
	if (!req->follow)
		return rq_answer(c, encode_error("events: only {\"follow\": true} is served here; "
						 "the journal is state_dir/events.jsonl"), 0);
	c->follow = 1;
	c->follow_all = req->all;
	if (c->uid == 0) {
		/*
		 * root's follower may fall 4 MiB behind in the socket (kernel memory:
		 * SO_SNDBUFFORCE, root's alone, so no other user's followers can claim
		 * it) on top of CTL_MAX_FOLLOW queued: an observe-mode storm writes
		 * some 40 MB/s, and a follower with a share of a busy CPU was dropped
		 * within 25 ms of falling behind.
		 */
		int big = 4 << 20;

		setsockopt(c->w.fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	}
	return rq_answer(c, encode_ok(NULL), 1);
}

static int rq_job(struct ctl_client *c, const struct ctl_request *req)
{
	if (RQ->reloading)
		return rq_answer(c, encode_error("a reload is in progress: try again when it ends"),
				 0);
	return restart_request(c, req);
}

static int rq_reload(struct ctl_client *c, const struct ctl_request *req)
{
	(void)req;
	reload_start(c);
	return reload_answers(c); /* answered later, or already */
}

static int rq_shutdown_req(struct ctl_client *c, const struct ctl_request *req)
{
	(void)req;
	if (RQ->shutdown_pending)
		return rq_answer(c, encode_error("a shutdown is already in progress"), 0);
	if (restart_busy())
		return rq_answer(c, encode_error("a restart is running: shut down when it ends"), 0);
	return rq_shutdown(c);
}

static const struct {
	const char *cmd;
	int needs_root;	/* it changes state (restart.c checks its own) */
	int (*fn)(struct ctl_client *c, const struct ctl_request *req);
} rq_table[] = {
	{ "status", 0, rq_status },
	{ "events", 0, rq_events },
	{ "restart", 0, rq_job },
	{ "stop", 0, rq_job },
	{ "start", 0, rq_job },
	{ "reload", 1, rq_reload },
	{ "shutdown", 1, rq_shutdown_req },
};

int request_handle(struct ctl_client *c, const struct ctl_request *req)
{
	size_t i;

	if (!req->has_cmd)
		return rq_answer(c, encode_error("missing or non-string \"cmd\""), 0);
	for (i = 0; i < sizeof(rq_table) / sizeof(rq_table[0]); i++) {
		if (strcmp(req->cmd, rq_table[i].cmd))
			continue;
		if (rq_table[i].needs_root && c->uid != 0)
			return rq_answer(c, encode_error("%s changes state: it requires root",
							 req->cmd), 0);
		return rq_table[i].fn(c, req);
	}
	return rq_answer(c, encode_error("unknown command \"%.64s\"", req->cmd), 0);
}
