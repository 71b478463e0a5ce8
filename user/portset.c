/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdlib.h>

#include "config.h"
#include "portset.h"

struct portset *portset_new(void)
{
	return calloc(1, sizeof(struct portset));
}

struct portset *portset_watched(const struct pg_config *c)
{
	struct portset *s = portset_new();
	int p;

	for (p = 1; s && p < 65536; p++)
		s->has[p] = c->guarded[p] | c->protected_[p];
	return s;
}

void portset_free(struct portset *s)
{
	free(s);
}
