// SPDX-License-Identifier: BSD-3-Clause
/* libFuzzer harness: one control-socket request line, as the guard reads it (make fuzz). */
#include <stdint.h>
#include <string.h>

#include "control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_object *req = NULL, *cmd;
	const char *why = control_parse_request((const char *)data, size, &req);

	if (why)
		return 0;
	/* what the request table then reads of it */
	if (json_object_object_get_ex(req, "cmd", &cmd) && json_object_is_type(cmd, json_type_string))
		(void)strcmp(json_object_get_string(cmd), "status");
	json_object_put(req);
	return 0;
}
