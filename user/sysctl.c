/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fs.h"
#include "portset.h"
#include "log.h"
#include "sysctl.h"

#define SYSCTL_RANGE "/proc/sys/net/ipv4/ip_local_port_range"
#define SYSCTL_RESERVED "/proc/sys/net/ipv4/ip_local_reserved_ports"

static int sysctl_read(const char *path, char *buf, int len)
{
	FILE *f = fopen(path, "r");

	if (!f)
		return -errno;
	if (!fgets(buf, len, f))
		buf[0] = 0;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static int sysctl_write(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f)
		return -errno;
	if (fprintf(f, "%s\n", val) < 0)
		err = -EIO;
	if (fclose(f) != 0 && !err)
		err = -errno;
	return err;
}

void sysctl_format_ports(const unsigned char *set, char *buf, int len)
{
	int p = 1, n = 0;

	buf[0] = 0;
	while (p < 65536 && n < len - 16) {
		int q;

		if (!set[p]) {
			p++;
			continue;
		}
		for (q = p; q + 1 < 65536 && set[q + 1]; q++)
			;
		n += snprintf(buf + n, len - n, q > p ? "%s%d-%d" : "%s%d", n ? "," : "", p, q);
		p = q + 1;
	}
}

static void sysctl_state_path(const struct pg_config *c, char *buf, int len)
{
	fs_path(buf, len, c->state_dir, FS_RESERVED, NULL);
}

int sysctl_reserve_ports(const struct pg_config *c)
{
	struct portset *cur = portset_new(), *mine = portset_new();
	char val[8192], path[4096];
	const char *why;
	int lo, hi, p, n = 0, err = 0;
	FILE *f;

	if (!cur || !mine) {
		err = -ENOMEM;
		goto out;
	}
	if ((err = sysctl_read(SYSCTL_RANGE, val, sizeof(val))) ||
	    sscanf(val, "%d %d", &lo, &hi) != 2 ||
	    (err = sysctl_read(SYSCTL_RESERVED, val, sizeof(val))))
		goto out;
	if (val[0] && config_parse_ports(val, cur->has, &why) < 0) {
		err = -EINVAL;
		goto out;
	}
	sysctl_state_path(c, path, sizeof(path));
	f = fopen(path, "r"); /* what an earlier guard of this instance added */
	if (f) {
		if (fgets(val, sizeof(val), f) && val[0] != '\n')
			config_parse_ports(val, mine->has, &why);
		fclose(f);
	}
	for (p = lo; p <= hi && p < 65536; p++)
		if (c->guarded[p] && !cur->has[p]) {
			cur->has[p] = mine->has[p] = 1;
			n++;
		}
	if (n) {
		sysctl_format_ports(cur->has, val, sizeof(val));
		if ((err = sysctl_write(SYSCTL_RESERVED, val)))
			goto out;
		sysctl_format_ports(mine->has, val, sizeof(val));
		log_info("%d guarded ports lie in the ephemeral range %d-%d: reserved them in "
			 "net.ipv4.ip_local_reserved_ports (%s)", n, lo, hi, val);
	}
	sysctl_format_ports(mine->has, val, sizeof(val));
	strcat(val, "\n");
	if (fs_write_file(path, val, strlen(val), 0644) < 0)
		log_warn("%s", path);
out:
	if (err)
		log_warnx("cannot reserve the guarded ports in the ephemeral range: %s",
			  strerror(-err));
	portset_free(cur);
	portset_free(mine);
	return err;
}

int sysctl_unreserve_ports(const struct pg_config *c)
{
	struct portset *cur = portset_new(), *mine = portset_new();
	char val[8192], path[4096];
	const char *why;
	int p, err = 0;
	FILE *f;

	if (!cur || !mine) {
		err = -ENOMEM;
		goto out;
	}
	sysctl_state_path(c, path, sizeof(path));
	f = fopen(path, "r");
	if (!f)
		goto out;
	if (!fgets(val, sizeof(val), f) || val[0] == '\n' ||
	    config_parse_ports(val, mine->has, &why) < 0) {
		fclose(f);
		unlink(path);
		goto out;
	}
	fclose(f);
	if ((err = sysctl_read(SYSCTL_RESERVED, val, sizeof(val))))
		goto out;
	if (val[0] && config_parse_ports(val, cur->has, &why) < 0) {
		err = -EINVAL;
		goto out;
	}
	for (p = 1; p < 65536; p++)
		cur->has[p] &= !mine->has[p];
	sysctl_format_ports(cur->has, val, sizeof(val));
	if (!(err = sysctl_write(SYSCTL_RESERVED, val)))
		unlink(path);
	sysctl_format_ports(mine->has, val, sizeof(val));
	log_info("released the ports this guard reserved in ip_local_reserved_ports (%s)", val);
out:
	portset_free(cur);
	portset_free(mine);
	return err;
}
