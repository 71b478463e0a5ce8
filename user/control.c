/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "control.h"
#include "encode.h"
#include "fs.h"
#include "log.h"

static struct pg_watch ctl_w = { .fd = -1 };
static struct pg_timer ctl_timer = { .w = { .fd = -1 } }; /* the nearest client deadline */
static void (*ctl_notice)(const char *what, pid_t pid, uid_t uid);
static size_t ctl_queued_nonroot; /* output queued for non-root clients */
static int ctl_nclients, ctl_nnonroot;
static int ctl_reserve_fd = -1; /* given up to accept-and-close when out of fds */
static ctl_handler_fn ctl_handler;
static struct ctl_client *ctl_clients;
static char ctl_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

static int control_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	strcpy(sun->sun_path, path);
	return 0;
}

/* A connected stream socket to path, or -errno. */
static int control_dial(const char *path)
{
	struct sockaddr_un sun;
	int fd, err = control_addr(path, &sun);

	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

void control_drop(struct ctl_client *c)
{
	struct ctl_client **pp;

	if (c->w.fd < 0)
		return; /* already dropped */
	if (c->on_close)
		c->on_close(c);
	c->on_close = NULL;
	for (pp = &ctl_clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	loop_del(&c->w);
	close(c->w.fd);
	c->w.fd = -1;
	if (c->uid != 0) {
		ctl_queued_nonroot -= c->outlen;
		ctl_nnonroot--;
	}
	free(c->out);
	c->out = NULL;
	c->outlen = c->outcap = 0;
	ctl_nclients--;
	loop_defer_free(c); /* an event for it may still be pending in this batch */
}

/* The timer goes off at the nearest deadline of any client. */
static void control_arm(void)
{
	uint64_t next = 0, now = now_ms();
	struct ctl_client *c;

	for (c = ctl_clients; c; c = c->next)
		if (c->deadline && (!next || c->deadline < next))
			next = c->deadline;
	if (!next)
		timer_disarm(&ctl_timer);
	else
		timer_arm_ms(&ctl_timer, next > now ? next - now : 0);
}

static void control_deadline(struct ctl_client *c, uint64_t ms)
{
	c->deadline = ms ? now_ms() + ms : 0;
	control_arm();
}

static void control_expire(struct pg_timer *t)
{
	struct ctl_client *c, *next;
	uint64_t now = now_ms();

	(void)t;
	for (c = ctl_clients; c; c = next) {
		next = c->next;
		if (!c->deadline || c->deadline > now)
			continue;
		if (ctl_notice)
			ctl_notice(c->busy ? "control client dropped: it did not read its answer"
					   : "control client dropped: no request in time",
				   c->pid, c->uid);
		control_drop(c);
	}
	control_arm();
}

static int control_flush(struct ctl_client *c)
{
	ssize_t n;
	int progress = 0;

	while (c->outlen) {
		n = write(c->w.fd, c->out, c->outlen);
		if (n < 0) {
			if (errno != EAGAIN)
				return -errno;
			break;
		}
		memmove(c->out, c->out + n, c->outlen - n);
		c->outlen -= n;
		if (c->uid != 0)
			ctl_queued_nonroot -= n;
		progress = 1;
	}
	/* a reader that stops reading is dropped; a follower is held by its cap */
	if (!c->follow && (progress || !c->outlen))
		control_deadline(c, c->outlen ? CTL_DRAIN_MS : 0);
	return 0;
}

static void control_want_out(struct ctl_client *c, int on)
{
	loop_mod(&c->w, EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0));
}

void control_finish(struct ctl_client *c)
{
	if (!c->outlen) {
		control_drop(c);
		return;
	}
	c->close_after = 1;
}

/* Queue one line to c (not taken). */
static int control_queue(struct ctl_client *c, const char *s)
{
	size_t len = strlen(s), need, limit = c->follow ? CTL_MAX_FOLLOW : CTL_MAX_QUEUED;
	char *nb;
	int err;

	if (c->w.fd < 0)
		return -EPIPE;
	need = c->outlen + len + 1;
	if (need > limit || (c->uid != 0 && ctl_queued_nonroot + len + 1 > CTL_MAX_NONROOT))
		return -ENOBUFS;
	if (need > c->outcap) { /* doubling: a follower in a storm is not copied per line */
		size_t cap = c->outcap ? 2 * c->outcap : 4096;

		cap = cap < need ? need : cap > limit ? limit : cap;
		nb = realloc(c->out, cap);
		if (!nb)
			return -ENOMEM;
		c->out = nb;
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, s, len);
	c->out[c->outlen + len] = '\n';
	c->outlen += len + 1;
	if (c->uid != 0)
		ctl_queued_nonroot += len + 1;
	err = control_flush(c);
	if (err)
		return err;
	if (c->outlen)
		control_want_out(c, 1);
	return 0;
}

int control_reply(struct ctl_client *c, char *line)
{
	int err = line ? control_queue(c, line) : -ENOMEM;

	free(line);
	return err;
}

/* Answer {"ok":false,"error":why} and drop the client. */
static void control_refuse(struct ctl_client *c, const char *why)
{
	control_reply(c, encode_error("%s", why));
	control_drop(c);
}

/* Does a string anywhere in o hold a NUL (json-c keeps "\u0000" in its length)? */
static int control_has_nul(json_object *o)
{
	size_t i, n;

	switch (json_object_get_type(o)) {
	case json_type_string:
		return strlen(json_object_get_string(o)) != (size_t)json_object_get_string_len(o);
	case json_type_array:
		n = json_object_array_length(o);
		for (i = 0; i < n; i++)
			if (control_has_nul(json_object_array_get_idx(o, i)))
				return 1;
		return 0;
	case json_type_object: {
		json_object_object_foreach(o, k, v) {
			(void)k; /* keys: json-c cuts them at the NUL, a lookup cannot match */
			if (control_has_nul(v))
				return 1;
		}
		return 0;
	}
	default:
		return 0;
	}
}

/* The typed request of a parsed JSON object. */
static void control_fields(json_object *o, struct ctl_request *req)
{
	json_object *v;
	int i, n;

	memset(req, 0, sizeof(*req));
	if (json_object_object_get_ex(o, "cmd", &v) && json_object_is_type(v, json_type_string)) {
		req->has_cmd = 1;
		snprintf(req->cmd, sizeof(req->cmd), "%s", json_object_get_string(v));
	}
	req->follow = json_object_get_boolean(json_object_object_get(o, "follow"));
	req->all = json_object_get_boolean(json_object_object_get(o, "all"));
	if (json_object_object_get_ex(o, "mode", &v) && v) {
		req->has_mode = 1;
		snprintf(req->mode, sizeof(req->mode), "%s", json_object_get_string(v));
	}
	if (!json_object_object_get_ex(o, "services", &v) || !v)
		return;
	req->has_services = 1;
	if (!json_object_is_type(v, json_type_array)) {
		req->services_bad = 1;
		return;
	}
	n = (int)json_object_array_length(v);
	req->too_many = n > CTL_NAMES_MAX;
	for (i = 0; i < n && i < CTL_NAMES_MAX; i++) {
		const char *name = json_object_get_string(json_object_array_get_idx(v, i));

		snprintf(req->names[req->nnames++], sizeof(req->names[0]), "%s", name ? name : "");
	}
}

const char *control_parse_request(const char *line, size_t len, struct ctl_request *req)
{
	struct json_tokener *tok;
	json_object *o;

	if (memchr(line, 0, len))
		return "NUL byte in the request";
	tok = json_tokener_new();
	if (!tok)
		return "out of memory";
	o = json_tokener_parse_ex(tok, line, (int)len);
	if (o) { /* "{}{}" is not one request; "{}\r" (CRLF) is */
		size_t end = json_tokener_get_parse_end(tok);

		while (end < len && strchr(" \t\r", line[end]))
			end++;
		if (end != len) {
			json_object_put(o);
			o = NULL;
		}
	}
	json_tokener_free(tok);
	if (o && control_has_nul(o)) { /* "shutdown\u0000x" is not "shutdown" */
		json_object_put(o);
		return "NUL character in a request string";
	}
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return "request is not a JSON object";
	}
	control_fields(o, req);
	json_object_put(o);
	return NULL;
}

/* Queued output may go now: 0, or -1 when c was dropped. */
static int control_writable(struct ctl_client *c)
{
	if (control_flush(c) < 0) {
		control_drop(c);
		return -1;
	}
	if (!c->outlen) {
		control_want_out(c, 0);
		if (c->close_after) {
			control_drop(c);
			return -1;
		}
	}
	return 0;
}

/* The request line of c (len bytes) is complete: parse it and hand it on. */
static void control_request(struct ctl_client *c, size_t len)
{
	struct ctl_request *req = malloc(sizeof(*req)); /* 16 KiB of names: not on the stack */
	const char *why;

	if (!req) {
		control_refuse(c, "out of memory");
		return;
	}
	if ((why = control_parse_request(c->buf, len, req))) {
		free(req);
		control_refuse(c, why);
		return;
	}
	c->busy = 1;
	control_deadline(c, 0); /* a job may take long; its answer has CTL_DRAIN_MS */
	if (ctl_handler(c, req) == 0)
		control_finish(c);
	free(req);
}

static void control_read(struct pg_watch *w, uint32_t events)
{
	struct ctl_client *c = w->arg;
	char *nl;
	ssize_t n;

	if ((events & EPOLLOUT) && control_writable(c) < 0)
		return;
	if (events & (EPOLLHUP | EPOLLERR) && !(events & EPOLLIN)) {
		control_drop(c);
		return;
	}
	if (!(events & EPOLLIN))
		return;
	n = read(w->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		control_drop(c);
		return;
	}
	if (c->follow || c->busy)
		return; /* one request per connection */
	c->len += n;
	c->buf[c->len] = 0;
	nl = memchr(c->buf, '\n', c->len);
	if (!nl && memchr(c->buf, 0, c->len))
		control_refuse(c, "NUL byte in the request");
	else if (!nl && c->len == sizeof(c->buf) - 1)
		control_refuse(c, "request too long");
	else if (nl)
		control_request(c, nl - c->buf);
}

/* Why a new client of this uid cannot be taken now, or NULL. */
static const char *control_full(uid_t uid)
{
	struct ctl_client *c;
	int mine = 0;

	if (ctl_nclients >= CTL_MAX_CLIENTS)
		return "too many control clients";
	if (uid == 0)
		return NULL;
	if (ctl_nnonroot >= CTL_MAX_CLIENTS - CTL_ROOT_RESERVE)
		return "too many control clients (the rest is kept for root)";
	for (c = ctl_clients; c; c = c->next)
		mine += c->uid == uid;
	return mine >= CTL_PER_UID ? "too many control clients of this uid" : NULL;
}

static void control_accept(struct pg_watch *w, uint32_t events)
{
	struct ctl_client *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	const char *why;
	int fd;

	(void)events;
	fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0 && (errno == EMFILE || errno == ENFILE) && ctl_reserve_fd >= 0) {
		/* out of fds: take the one in reserve to refuse this client, not spin */
		close(ctl_reserve_fd);
		fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			close(fd);
		ctl_reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		log_warnx("control: out of file descriptors; a client was refused");
		return;
	}
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		close(fd);
		return;
	}
	if ((why = control_full(cred.uid))) {
		/* one line the CLI can show, never blocking: the socket is fresh */
		char line[160];
		int n = snprintf(line, sizeof(line), "{\"ok\":false,\"error\":\"%s\"}\n", why);

		if (send(fd, line, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			(void)0;
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->w.fd = fd;
	c->w.cb = control_read;
	c->w.arg = c;
	c->uid = cred.uid;
	c->pid = cred.pid;
	if (loop_add(&c->w, EPOLLIN | EPOLLRDHUP) < 0) {
		close(fd);
		free(c);
		return;
	}
	c->next = ctl_clients;
	ctl_clients = c;
	ctl_nclients++;
	ctl_nnonroot += c->uid != 0;
	control_deadline(c, CTL_REQUEST_MS);
}

int control_open(const char *path, const char *group, ctl_handler_fn fn)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd, err;

	err = control_addr(path, &sun);
	if (err)
		return err;
	/* A live daemon answers: refuse. Otherwise the file is stale. */
	fd = control_dial(path);
	if (fd >= 0) {
		close(fd);
		return -EADDRINUSE;
	}
	unlink(path);
	err = fs_mkdir_parent(path, 0755);
	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old = umask(0117);
	err = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (err < 0 || listen(fd, 64) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if (group) {
		struct group *gr = getgrnam(group);

		if (!gr || chown(path, (uid_t)-1, gr->gr_gid) < 0) {
			err = gr ? -errno : -ENOENT;
			log_warnx("control_group %s: %s", group, gr ? strerror(errno) : "no such group");
			close(fd);
			unlink(path);
			return err;
		}
	}
	ctl_w.fd = fd;
	ctl_w.cb = control_accept;
	if (ctl_reserve_fd < 0)
		ctl_reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ctl_handler = fn;
	snprintf(ctl_path, sizeof(ctl_path), "%s", path);
	if ((err = timer_init(&ctl_timer, control_expire, NULL)))
		return err;
	return loop_add(&ctl_w, EPOLLIN);
}

void control_close(void)
{
	while (ctl_clients)
		control_drop(ctl_clients);
	if (ctl_w.fd >= 0) {
		loop_del(&ctl_w);
		close(ctl_w.fd);
		ctl_w.fd = -1;
		unlink(ctl_path);
	}
	if (ctl_timer.w.fd >= 0)
		timer_close(&ctl_timer);
}

void control_set_notice(void (*notice)(const char *what, pid_t pid, uid_t uid))
{
	ctl_notice = notice;
}

int control_wants(int routine)
{
	const struct ctl_client *c;

	for (c = ctl_clients; c; c = c->next)
		if (c->follow && (!routine || c->follow_all))
			return 1;
	return 0;
}

void control_broadcast(const char *line, int routine)
{
	struct ctl_client *c, *next;
	struct {
		pid_t pid;
		uid_t uid;
	} gone[CTL_MAX_CLIENTS];
	int n = 0, i;

	for (c = ctl_clients; c; c = next) {
		next = c->next;
		if (c->follow && (!routine || c->follow_all) && control_queue(c, line) < 0) {
			gone[n].pid = c->pid;
			gone[n++].uid = c->uid;
			control_drop(c);
		}
	}
	for (i = 0; i < n && ctl_notice; i++) /* after the walk: a notice broadcasts too */
		ctl_notice("event follower dropped: it could not keep up (1 MiB behind, or all "
			   "non-root clients at 32 MiB; the journal has every event)", gone[i].pid,
			   gone[i].uid);
}

int control_probe(const char *path)
{
	return control_dial(path);
}

int control_connect(const char *path, const char *s)
{
	int fd = control_dial(path), err;

	if (fd < 0)
		return fd;
	if (write(fd, s, strlen(s)) < 0 || write(fd, "\n", 1) < 0) {
		err = -errno;
		if (err == -EPIPE || err == -ECONNRESET)
			return fd; /* it may have said why before it closed: read that */
		close(fd);
		return err;
	}
	return fd;
}
