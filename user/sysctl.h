/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * net.ipv4.ip_local_reserved_ports: guarded ports inside the ephemeral range
 * are reserved so that the kernel never picks one for a listen() without
 * bind() or a connect(). Only what the guard added is removed again, and
 * what it added is kept in state_dir/reserved_ports across guard restarts.
 */
#ifndef PG_SYSCTL_H
#define PG_SYSCTL_H

struct pg_config;

/* Reserve the guarded ports of c that fall inside ip_local_port_range. */
int sysctl_reserve_ports(const struct pg_config *c);
/* Remove the ports this instance reserved (shutdown). */
int sysctl_unreserve_ports(const struct pg_config *c);
/* "3000,8001-8005" from set[65536]. */
void sysctl_format_ports(const unsigned char *set, char *buf, int len);

#endif
