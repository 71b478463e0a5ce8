/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What this kernel offers the BPF programs, probed once before they load:
 * each helper is tried in a two-instruction program of the program type
 * and attach type that uses it, as libbpf's libbpf_probe_bpf_helper() does
 * (which cannot be used: it probes cgroup/sock_addr as connect4, and
 * helpers differ between connect and bind there).
 */
#ifndef PG_PROBE_H
#define PG_PROBE_H

#include <stddef.h>

enum probe_feature {
	PROBE_SOCK_COOKIE,   /* bpf_get_socket_cookie in cgroup/post_bind, sock_release */
	PROBE_SO_NETNS,	     /* getsockopt(SO_NETNS_COOKIE) */
	PROBE_BIND_SOCKOPT,  /* bpf_getsockopt in cgroup/bind4|6 (SO_REUSEPORT at bind) */
	PROBE_RELEASE_READ,  /* bpf_probe_read_kernel of the socket in cgroup/sock_release */
	PROBE_MAX,
};

/* Bit (1 << feature) set for each feature the kernel has. */
unsigned probe_kernel(void);
/*
 * One line: what the kernel lacks of the features the guard cannot run
 * without, each with the Linux version that brought it; "" when none.
 */
const char *probe_missing_essential(unsigned have, char *buf, size_t len);
/* The start-up line for an optional feature the kernel lacks, NULL if it has it. */
const char *probe_degraded(unsigned have, enum probe_feature f);

#endif
