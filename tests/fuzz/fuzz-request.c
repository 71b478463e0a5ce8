// SPDX-License-Identifier: BSD-3-Clause
/* libFuzzer harness: one control-socket request line, as the guard reads it (make fuzz). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_request *req = malloc(sizeof(*req));
	const char *why;
	int i;

	if (!req)
		return 0;
	why = control_parse_request((const char *)data, size, req);
	/* what the request table and a job then read of it: every string is terminated */
	if (!why) {
		(void)strcmp(req->cmd, "status");
		(void)strlen(req->mode);
		for (i = 0; i < req->nnames; i++)
			(void)strlen(req->names[i]);
	}
	free(req);
	return 0;
}
