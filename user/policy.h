/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the kernel enforces, computed from the config alone: the value of
 * every port in the `ports` map and the entries of the `allow` map. Pure
 * functions: what they need of the host (cgroup ids, an executable's
 * inode) comes in as arguments, so they are unit-tested without root.
 */
#ifndef PG_POLICY_H
#define PG_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "portguard.h"

struct pg_config;
struct pg_allow;

/* The owner of each service of the config (c->svc[i]): its cgroup id and depth. */
struct policy_owner {
	uint64_t cgroup_id;	/* 0: not known (no cgroup yet) */
	uint32_t level;		/* depth below the cgroup2 root (the root is 0) */
};

/*
 * out[65536]: each guarded or protected port's value (flags 0: not
 * watched). owners[i] is c->svc[i]'s. Returns the ports watched.
 */
int policy_ports(const struct pg_config *c, const struct policy_owner *owners,
		 struct pg_port *out);

/* What an `allow` rule needs of the host. */
struct policy_host {
	/* the id of a cgroup path relative to the cgroup2 root, 0 if none */
	uint64_t (*cgroup_id)(const char *path);
	/* inode and kernel dev_t of an executable; 0 or -errno */
	int (*exe)(const char *path, uint64_t *ino, uint32_t *dev);
	/* a rule that cannot be made now (it applies once its target exists and the guard reloads) */
	void (*skipped)(const char *service, const struct pg_allow *a, int err);
};

/* The `allow` map: keys[] and vals[] (room for max); how many, or -E2BIG. */
int policy_allow(const struct pg_config *c, const struct policy_host *h,
		 struct pg_allow_key *keys, uint32_t *vals, int max);

/* Depth of a cgroup path below the cgroup2 root `root` (the root is 0). */
uint32_t policy_cg_level(const char *root, const char *path);

/* Does c fit the kernel's maps? NULL, or why not (one line into buf). */
const char *policy_limits(const struct pg_config *c, char *buf, size_t len);

#endif
