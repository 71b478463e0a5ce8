// SPDX-License-Identifier: BSD-3-Clause
/* libFuzzer harness: one sd_notify datagram from a notify service, as the guard parses it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "svcnotify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct svn_msg m;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0; /* the guard terminates what it read */
	svn_parse(text, &m);
	/* what supervise.c then reads of it: the status is terminated and printable */
	if (m.has_status && strlen(m.status) >= sizeof(m.status))
		abort();
	for (size_t i = 0; m.status[i]; i++)
		if ((unsigned char)m.status[i] < 0x20 || m.status[i] == 0x7f)
			abort();
	if (m.mainpid < 0 || m.mainpid == 1)
		abort();
	free(text);
	return 0;
}
