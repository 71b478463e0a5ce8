/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One netlink sock_diag dump of the sockets that hold ports (TCP listeners,
 * bound-but-unconnected UDP sockets; IPv4 and IPv6) in the caller's network
 * namespace, mapped to the processes holding them through /proc/<pid>/fd.
 */
#ifndef PG_DIAG_H
#define PG_DIAG_H

#include <stdint.h>

#define DIAG_MAX_HOLDERS 16

struct diag_holder {
	uint32_t pid;	 /* thread-group id */
	uint32_t uid;	 /* from /proc/<pid>/status Uid (real) */
	char comm[16];	 /* /proc/<pid>/comm */
	uint64_t cgroup_id; /* inode number of the process's cgroup v2 dir, 0 if unknown */
};

struct diag_sock {
	uint64_t cookie;   /* idiag_cookie[0] | (uint64_t)idiag_cookie[1] << 32 */
	uint64_t inode;
	uint32_t uid;	   /* socket owner uid */
	uint16_t family;   /* AF_INET / AF_INET6 */
	uint16_t proto;	   /* IPPROTO_TCP / IPPROTO_UDP */
	uint16_t port;	   /* host order */
	uint8_t state;	   /* TCP state number (10 LISTEN; 7 for unconnected UDP) */
	uint8_t addr[16];  /* IPv4 in the first 4 bytes */
	int nholders;
	struct diag_holder holders[DIAG_MAX_HOLDERS];
};

struct diag_result {
	struct diag_sock *socks;
	int n;
};

/*
 * Dump listening TCP and unconnected (bound) UDP sockets, v4 and v6, whose
 * local port has want[port] != 0 (want may be NULL for every port). Resolves
 * holders through /proc unless `no_holders`. Returns 0 or -errno.
 */
int diag_dump(const uint8_t *want, int no_holders, struct diag_result *out);
/* The holders of r's sockets (a dump made with no_holders), through /proc. */
int diag_resolve_holders(struct diag_result *r);
void diag_free(struct diag_result *r);
/* The caller's network namespace cookie (SO_NETNS_COOKIE), 0 when unknown. */
uint64_t diag_netns_cookie(void);

/*
 * Every socket holding a local port in want, for a flush: TCP listeners and
 * bound-only TCP sockets (Linux >= 6.8 dumps those), and UDP sockets,
 * connected or not. Established TCP connections are left out: they do not
 * keep a new listener from binding (SO_REUSEADDR) and a client is not a holder.
 */
int diag_dump_holding(const uint8_t *want, struct diag_result *out);

#endif
