// SPDX-License-Identifier: BSD-3-Clause
/* libFuzzer harness: the whole config parser on arbitrary bytes (make fuzz). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[] = "/tmp/pg-fuzz-config.XXXXXX", path[sizeof(dir) + 16];
	static FILE *errs;
	struct pg_config *c = NULL;
	int fd;

	if (!path[0]) {
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof(path), "%s/fuzz.conf", dir);
		errs = fopen("/dev/null", "w"); /* the messages are formatted all the same */
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (config_parse(path, &c, errs) == 0)
		config_free(c);
	return 0;
}
