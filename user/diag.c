/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Which sockets hold which ports, and which processes hold those sockets.
 *
 * One NETLINK_SOCK_DIAG dump per (family, protocol) pair, filtered here by
 * port, then one pass over /proc/<tgid>/fd to map socket inodes to holders.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "cgroup.h"
#include "diag.h"
#include "log.h"
#include "proc.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

/* TCP states as the kernel numbers them (include/net/tcp_states.h). */
#define DIAG_TCP_ESTABLISHED 1
#define DIAG_TCP_CLOSE	     7
#define DIAG_TCP_LISTEN	     10
#define DIAG_TCP_BOUND_INACTIVE 13 /* Linux >= 6.8 dumps bound-only TCP sockets */

/* Larger than the 32 KiB the kernel puts in one dump skb, so no MSG_TRUNC. */
#define DIAG_RECV_BUF (64 * 1024)

enum diag_mode {
	DIAG_BOUND,	/* TCP listeners, unconnected UDP; match the local port */
	DIAG_CONNECTED, /* established TCP; match the remote port */
	DIAG_HOLDING,	/* anything that holds the local port but established TCP */
};

struct diag_req {
	struct nlmsghdr nlh;
	struct inet_diag_req_v2 r;
};

/* A socket inode we look for in /proc, and where its diag_sock is. */
struct diag_ino {
	uint64_t inode;
	int idx;
};

static int diag_sock_push(struct diag_result *out, int *cap, const struct diag_sock *s)
{
	if (out->n == *cap) {
		int ncap = *cap ? *cap * 2 : 16;
		struct diag_sock *p = realloc(out->socks, (size_t)ncap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		out->socks = p;
		*cap = ncap;
	}
	out->socks[out->n++] = *s;
	return 0;
}

/* Keep this message? Fills *s when it does. */
static int diag_msg_keep(const struct inet_diag_msg *m, int proto, enum diag_mode mode,
			 const uint8_t *want, struct diag_sock *s)
{
	uint16_t sport = ntohs(m->id.idiag_sport);
	uint16_t dport = ntohs(m->id.idiag_dport);
	uint16_t port;

	if (mode == DIAG_CONNECTED) {
		if (m->idiag_state != DIAG_TCP_ESTABLISHED)
			return 0;
		port = dport;
	} else if (mode == DIAG_HOLDING) {
		/* A bound-only socket comes back as CLOSE (7) from the bind hash. */
		if (proto == IPPROTO_TCP && m->idiag_state != DIAG_TCP_LISTEN &&
		    m->idiag_state != DIAG_TCP_CLOSE && m->idiag_state != DIAG_TCP_BOUND_INACTIVE)
			return 0;
		port = sport;
	} else {
		if (proto == IPPROTO_UDP && (m->idiag_state != DIAG_TCP_CLOSE || dport != 0))
			return 0;
		if (proto == IPPROTO_TCP && m->idiag_state != DIAG_TCP_LISTEN)
			return 0;
		port = sport;
	}
	if (!port || (want && !want[port]))
		return 0;

	memset(s, 0, sizeof(*s));
	s->cookie = m->id.idiag_cookie[0] | (uint64_t)m->id.idiag_cookie[1] << 32;
	s->inode = m->idiag_inode;
	s->uid = m->idiag_uid;
	s->family = m->idiag_family;
	s->proto = (uint16_t)proto;
	s->port = sport;
	s->state = m->idiag_state;
	if (m->idiag_family == AF_INET)
		memcpy(s->addr, m->id.idiag_src, 4);
	else
		memcpy(s->addr, m->id.idiag_src, 16);
	return 1;
}

/*
 * The kernel's own filter of a dump (INET_DIAG_REQ_BYTECODE): only sockets
 * whose port (the local one; the remote one for DIAG_CONNECTED) is in want,
 * so a host with a million unrelated UDP sockets (a local user can make them)
 * costs a dump the kernel's walk, not a million messages to read and drop.
 * An OR of ranges, compiled as ss(8) compiles "sport >= a and sport <= b or
 * ...": [GE a][LE b][JMP to the end] per range, a failed test jumping past
 * that range's JMP to the next one, or past the end (rejected) from the
 * last; a pass falls through to the JMP, or to the end (accepted).
 */
#define DIAG_BC_MAX_RANGES 512 /* more (scattered ports): no filter, the dump is read whole */

struct diag_bc {
	size_t len; /* 0: no filter */
	struct inet_diag_bc_op op[DIAG_BC_MAX_RANGES * 5];
};

static void diag_bc_build(struct diag_bc *bc, const uint8_t *want, int remote)
{
	int ge = remote ? INET_DIAG_BC_D_GE : INET_DIAG_BC_S_GE;
	int le = remote ? INET_DIAG_BC_D_LE : INET_DIAG_BC_S_LE;
	int lo[DIAG_BC_MAX_RANGES], hi[DIAG_BC_MAX_RANGES], n = 0, p, i;
	struct inet_diag_bc_op *op = bc->op;

	bc->len = 0;
	for (p = 1; want && p < 65536; p++) {
		if (!want[p])
			continue;
		if (n && hi[n - 1] == p - 1) {
			hi[n - 1] = p;
			continue;
		}
		if (n == DIAG_BC_MAX_RANGES)
			return;
		lo[n] = hi[n] = p;
		n++;
	}
	for (i = 0; i < n; i++) {
		/* bytes after this range's JMP: the ranges to come, 20 each but the last (16) */
		unsigned short rest = (unsigned short)(i + 1 < n ? 20 * (n - i - 1) - 4 : 0);

		*op++ = (struct inet_diag_bc_op){ (unsigned char)ge, 8, 20 };
		*op++ = (struct inet_diag_bc_op){ 0, 0, (unsigned short)lo[i] };
		*op++ = (struct inet_diag_bc_op){ (unsigned char)le, 8, 12 };
		*op++ = (struct inet_diag_bc_op){ 0, 0, (unsigned short)hi[i] };
		if (i + 1 < n)
			*op++ = (struct inet_diag_bc_op){ INET_DIAG_BC_JMP, 4, (unsigned short)(4 + rest) };
	}
	bc->len = (size_t)(op - bc->op) * sizeof(*op);
}

static int diag_send(int fd, int family, int proto, uint32_t states, uint32_t seq,
		     const struct diag_bc *bc)
{
	struct nlattr nla = { .nla_len = (unsigned short)(NLA_HDRLEN + bc->len),
			      .nla_type = INET_DIAG_REQ_BYTECODE };
	struct diag_req req = {
		.nlh = {
			.nlmsg_len = (uint32_t)(sizeof(req) + (bc->len ? NLA_HDRLEN + bc->len : 0)),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			.nlmsg_seq = seq,
		},
		.r = {
			.sdiag_family = (uint8_t)family,
			.sdiag_protocol = (uint8_t)proto,
			.idiag_states = states,
		},
	};
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct iovec iov[3] = { { &req, sizeof(req) }, { &nla, NLA_HDRLEN },
				{ (void *)bc->op, bc->len } };
	struct msghdr mh = { .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = iov,
			     .msg_iovlen = bc->len ? 3 : 1 };
	ssize_t n;

	do
		n = sendmsg(fd, &mh, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != req.nlh.nlmsg_len)
		return -EIO;
	return 0;
}

/* One dump request and all its replies, appended to out. */
/* The dump's query, for each of its messages. */
struct diag_ctx {
	uint32_t seq;
	int proto;
	enum diag_mode mode;
	const uint8_t *want;
	struct diag_result *out;
	int *cap;
};

/* One message of the dump: 1 at its end, 0 to read on, or -errno. */
static int diag_one_msg(const struct diag_ctx *q, const struct nlmsghdr *h)
{
	const struct inet_diag_msg *m;
	struct diag_sock s;

	if (h->nlmsg_seq != q->seq)
		return 0;
	if (h->nlmsg_type == NLMSG_DONE) {
		/* A dump that failed midway says so in the DONE payload. */
		if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int)) && *(const int *)NLMSG_DATA(h) < 0)
			return *(const int *)NLMSG_DATA(h);
		return 1;
	}
	if (h->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(h);

		if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
			return -EIO;
		if (e->error == 0) /* an ACK; keep reading */
			return 0;
		return e->error < 0 ? e->error : -e->error;
	}
	if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
		return 0;
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return -EIO;
	m = NLMSG_DATA(h);
	if (!diag_msg_keep(m, q->proto, q->mode, q->want, &s))
		return 0;
	return diag_sock_push(q->out, q->cap, &s);
}

static int diag_dump_one(int fd, char *buf, int family, int proto, uint32_t states,
			 enum diag_mode mode, const uint8_t *want, const struct diag_bc *bc,
			 struct diag_result *out, int *cap)
{
	static uint32_t seq;
	struct sockaddr_nl sa;
	struct iovec iov = { .iov_base = buf, .iov_len = DIAG_RECV_BUF };
	struct msghdr msg = { .msg_name = &sa, .msg_iov = &iov, .msg_iovlen = 1 };
	struct diag_ctx q = { ++seq, proto, mode, want, out, cap };
	int err = diag_send(fd, family, proto, states, q.seq, bc);

	while (!err) {
		struct nlmsghdr *h;
		ssize_t n;
		size_t len;

		msg.msg_namelen = sizeof(sa);
		n = recvmsg(fd, &msg, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		if (msg.msg_flags & MSG_TRUNC)
			return -EMSGSIZE;
		if (sa.nl_pid != 0) /* not from the kernel */
			continue;
		len = (size_t)n;
		for (h = (struct nlmsghdr *)buf; !err && NLMSG_OK(h, len); h = NLMSG_NEXT(h, len))
			err = diag_one_msg(&q, h);
		if (!err && len != 0)
			return -EIO; /* a partial message in a datagram */
	}
	return err < 0 ? err : 0;
}

/* ---- /proc ------------------------------------------------------------ */

/* Fill pid, uid, comm and cgroup_id of a process. 0, or -errno when it is gone. */
static int diag_holder_fill(uint32_t pid, struct diag_holder *h)
{
	int err;

	memset(h, 0, sizeof(*h));
	h->pid = pid;
	if ((err = proc_uid(pid, &h->uid)) || (err = proc_comm(pid, h->comm, sizeof(h->comm))))
		return err;
	h->cgroup_id = cg_id_of_pid(pid);
	return 0;
}

static int diag_ino_cmp(const void *a, const void *b)
{
	const struct diag_ino *x = a, *y = b;

	return x->inode < y->inode ? -1 : x->inode > y->inode;
}

static void diag_holder_add(struct diag_sock *s, const struct diag_holder *h)
{
	int i;

	for (i = 0; i < s->nholders; i++)
		if (s->holders[i].pid == h->pid)
			return; /* the same socket on two fds of one process */
	if (s->nholders < DIAG_MAX_HOLDERS)
		s->holders[s->nholders++] = *h;
}

/* What diag_scan_pid looks for in one process, and the holder it makes of it. */
struct diag_scan {
	uint32_t pid;
	const struct diag_ino *inos;
	int ninos, have_info;
	struct diag_holder h;
	struct diag_result *out;
};

static int diag_scan_fd(uint64_t ino, void *arg)
{
	struct diag_scan *sc = arg;
	struct diag_ino key = { .inode = ino }, *hit;

	hit = bsearch(&key, sc->inos, (size_t)sc->ninos, sizeof(*sc->inos), diag_ino_cmp);
	if (!hit)
		return 0;
	if (!sc->have_info && diag_holder_fill(sc->pid, &sc->h) < 0)
		return 1; /* exited while we looked */
	sc->have_info = 1;
	diag_holder_add(&sc->out->socks[hit->idx], &sc->h);
	return 0;
}

/* Scan one process's fds for the wanted inodes. A vanished process is skipped. */
static void diag_scan_pid(uint32_t pid, const struct diag_ino *inos, int ninos,
			  struct diag_result *out)
{
	struct diag_scan sc = { .pid = pid, .inos = inos, .ninos = ninos, .out = out };

	proc_each_socket(pid, diag_scan_fd, &sc);
}

static int diag_holders(struct diag_result *out)
{
	struct diag_ino *inos;
	struct dirent *de;
	int i, ninos = 0;
	DIR *proc;

	if (out->n == 0)
		return 0;
	inos = calloc((size_t)out->n, sizeof(*inos));
	if (!inos)
		return -ENOMEM;
	for (i = 0; i < out->n; i++) {
		if (!out->socks[i].inode) /* a socket being torn down */
			continue;
		inos[ninos].inode = out->socks[i].inode;
		inos[ninos].idx = i;
		ninos++;
	}
	qsort(inos, (size_t)ninos, sizeof(*inos), diag_ino_cmp);

	proc = opendir("/proc");
	if (!proc) {
		i = -errno;
		free(inos);
		return i;
	}
	while ((de = readdir(proc))) {
		unsigned long pid;
		char *end;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = strtoul(de->d_name, &end, 10);
		if (*end || pid == 0 || pid > UINT32_MAX)
			continue;
		diag_scan_pid((uint32_t)pid, inos, ninos, out);
	}
	closedir(proc);
	free(inos);
	return 0;
}

/* ---- the API ------------------------------------------------------------ */

struct diag_query {
	int family;
	int proto;
	uint32_t states;
};

static int diag_run(const struct diag_query *q, int nq, enum diag_mode mode, const uint8_t *want,
		    int holders, struct diag_result *out)
{
	static int bc_refused; /* a kernel that refused the filter once: read whole after */
	int fd, i, err = 0, cap = 0;
	struct diag_bc *bc;
	char *buf;

	out->socks = NULL;
	out->n = 0;

	buf = malloc(DIAG_RECV_BUF);
	bc = malloc(sizeof(*bc));
	if (!buf || !bc) {
		err = -ENOMEM;
		goto out;
	}
	bc->len = 0;
	if (!bc_refused)
		diag_bc_build(bc, want, mode == DIAG_CONNECTED);
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	for (i = 0; i < nq && !err; i++) {
		err = diag_dump_one(fd, buf, q[i].family, q[i].proto, q[i].states, mode, want, bc,
				    out, &cap);
		if (err == -EINVAL && bc->len) { /* the same dump unfiltered (want filters it) */
			log_warnx("sock_diag refused the port filter: dumps are read whole");
			bc_refused = 1;
			bc->len = 0;
			err = diag_dump_one(fd, buf, q[i].family, q[i].proto, q[i].states, mode, want,
					    bc, out, &cap);
		}
	}
	close(fd);
	if (!err && holders)
		err = diag_holders(out);
out:
	free(bc);
	free(buf);
	if (err)
		diag_free(out);
	return err;
}

int diag_dump(const uint8_t *want, int no_holders, struct diag_result *out)
{
	static const struct diag_query q[] = {
		{ AF_INET, IPPROTO_TCP, 1U << DIAG_TCP_LISTEN },
		{ AF_INET6, IPPROTO_TCP, 1U << DIAG_TCP_LISTEN },
		{ AF_INET, IPPROTO_UDP, ~0U },
		{ AF_INET6, IPPROTO_UDP, ~0U },
	};

	return diag_run(q, 4, DIAG_BOUND, want, !no_holders, out);
}

int diag_resolve_holders(struct diag_result *r)
{
	return diag_holders(r);
}

int diag_dump_holding(const uint8_t *want, struct diag_result *out)
{
	static const struct diag_query q[] = {
		{ AF_INET, IPPROTO_TCP, 1U << DIAG_TCP_LISTEN | 1U << DIAG_TCP_BOUND_INACTIVE },
		{ AF_INET6, IPPROTO_TCP, 1U << DIAG_TCP_LISTEN | 1U << DIAG_TCP_BOUND_INACTIVE },
		{ AF_INET, IPPROTO_UDP, ~0U },
		{ AF_INET6, IPPROTO_UDP, ~0U },
	};

	return diag_run(q, 4, DIAG_HOLDING, want, 1, out);
}
void diag_free(struct diag_result *r)
{
	if (!r)
		return;
	free(r->socks);
	r->socks = NULL;
	r->n = 0;
}

uint64_t diag_netns_cookie(void)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) < 0)
		cookie = 0;
	close(fd);
	return cookie;
}
