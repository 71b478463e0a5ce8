/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fs.h"
#include "log.h"
#include "svcnotify.h"

#define SVN_DGRAM_MAX 4096 /* what sd_notify sends is a few lines; longer is truncated: dropped */
#define SVN_BATCH 64	   /* datagrams per wake-up: a flood cannot hold the loop */

/*
 * Hand-written: the protocol is newline-separated KEY=VALUE assignments
 * (sd_notify(3)); libsystemd implements only the sending side.
 */
void svn_parse(const char *text, struct svn_msg *m)
{
	const char *p = text;

	memset(m, 0, sizeof(*m));
	while (*p) {
		size_t len = strcspn(p, "\n");
		char *end;
		long v;

		if (len == 7 && !strncmp(p, "READY=1", 7))
			m->ready = 1;
		else if (len == 11 && !strncmp(p, "RELOADING=1", 11))
			m->reloading = 1;
		else if (len == 10 && !strncmp(p, "STOPPING=1", 10))
			m->stopping = 1;
		else if (len > 8 && !strncmp(p, "MAINPID=", 8)) {
			errno = 0;
			v = strtol(p + 8, &end, 10);
			m->mainpid = !errno && end == p + len && v > 1 && v <= INT_MAX ? (pid_t)v : 0;
		} else if (len >= 7 && !strncmp(p, "STATUS=", 7)) {
			size_t n = len - 7, i;

			if (n >= sizeof(m->status))
				n = sizeof(m->status) - 1;
			for (i = 0; i < n; i++) {
				unsigned char c = (unsigned char)p[7 + i];

				m->status[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
			}
			m->status[n] = 0;
			m->has_status = 1;
		}
		p += len;
		if (*p == '\n')
			p++;
	}
}

/* The sender's credentials of a received message; fds passed with it closed. */
static int svn_creds(struct msghdr *mh, struct ucred *uc)
{
	struct cmsghdr *c;
	int got = 0;

	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_RIGHTS) {
			int *fds = (int *)CMSG_DATA(c);
			size_t i, n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (i = 0; i < n; i++)
				close(fds[i]);
		} else if (c->cmsg_type == SCM_CREDENTIALS &&
			   c->cmsg_len >= CMSG_LEN(sizeof(*uc))) {
			memcpy(uc, CMSG_DATA(c), sizeof(*uc));
			got = 1;
		}
	}
	return got;
}

/* One datagram: 1 read (handled or dropped), 0 none left. */
static int svn_recv_one(struct svn_sock *n)
{
	char buf[SVN_DGRAM_MAX + 1];
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(253 * sizeof(int))];
	} cbuf;
	struct iovec iov = { buf, SVN_DGRAM_MAX };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b,
			     .msg_controllen = sizeof(cbuf.b) };
	struct ucred uc = { 0 };
	struct svn_msg m;
	ssize_t len = recvmsg(n->w.fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	if (len < 0)
		return errno == EINTR;
	if (!svn_creds(&mh, &uc) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || uc.pid <= 0 ||
	    !n->trusted(n->arg, uc.pid)) {
		if (n->rejected++ % 1000 == 0)
			log_warnx("%s: dropped a notify datagram from pid %d (uid %u): not from "
				  "inside the service, without credentials, or too long",
				  n->name, (int)uc.pid, (unsigned)uc.uid);
		return 1;
	}
	buf[len] = 0;
	svn_parse(buf, &m);
	n->fn(n->arg, uc.pid, &m);
	return 1;
}

static void svn_readable(struct pg_watch *w, uint32_t events)
{
	struct svn_sock *n = w->arg;
	int i;

	(void)events;
	for (i = 0; i < SVN_BATCH && n->w.fd >= 0 && svn_recv_one(n); i++)
		;
}

static int svn_bind(int fd, const char *name)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t len = strlen(name);

	if (len >= sizeof(sun.sun_path) || name[0] != '@')
		return -EINVAL;
	memcpy(sun.sun_path, name, len);
	sun.sun_path[0] = 0; /* abstract: sd_notify takes the leading '@' for this NUL */
	if (bind(fd, (struct sockaddr *)&sun, offsetof(struct sockaddr_un, sun_path) + len) < 0)
		return -errno;
	return 0;
}

/* The kept name (if it is one of ours), else a new one: bound to fd. */
static int svn_name(struct svn_sock *n, int fd, const char *instance, const char *svc,
		    const char *keep_path)
{
	char kept[sizeof(n->name) + 2] = "";
	unsigned long long token;
	int kfd = open(keep_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), err;
	ssize_t len = kfd >= 0 ? read(kfd, kept, sizeof(kept) - 1) : -1;

	if (kfd >= 0)
		close(kfd);
	if (len > 0) {
		kept[len] = 0;
		kept[strcspn(kept, "\n")] = 0;
		if (!strncmp(kept, "@portguard/", 11) && strlen(kept) < sizeof(n->name) &&
		    svn_bind(fd, kept) == 0) {
			snprintf(n->name, sizeof(n->name), "%s", kept);
			return 0;
		}
	}
	if (getrandom(&token, sizeof(token), 0) != sizeof(token))
		return -errno;
	snprintf(n->name, sizeof(n->name), "@portguard/%.32s/%.32s/%016llx", instance, svc, token);
	if ((err = svn_bind(fd, n->name)))
		return err;
	snprintf(kept, sizeof(kept), "%s\n", n->name);
	if ((err = fs_write_file(keep_path, kept, strlen(kept), 0600)))
		log_warnx("cannot keep %s in %s: %s", n->name, keep_path, strerror(-err));
	return 0;
}

int svn_open(struct svn_sock *n, const char *instance, const char *svc, const char *keep_path)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1, err;

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if ((err = svn_name(n, fd, instance, svc, keep_path))) {
		close(fd);
		return err;
	}
	n->w.fd = fd;
	n->w.cb = svn_readable;
	n->w.arg = n;
	if ((err = loop_add(&n->w, EPOLLIN)) < 0) {
		close(fd);
		n->w.fd = -1;
	}
	return err;
}

void svn_close(struct svn_sock *n)
{
	if (n->w.fd >= 0) {
		loop_del(&n->w);
		close(n->w.fd);
	}
	n->w.fd = -1;
}
