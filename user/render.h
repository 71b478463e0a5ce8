/* SPDX-License-Identifier: BSD-3-Clause */
/* The CLI's human rendering of `status` and of event lines. */
#ifndef PG_RENDER_H
#define PG_RENDER_H

#include <stdio.h>

#include <json-c/json.h>

/* Human rendering of a `status` object. */
void render_status(FILE *f, json_object *st);
/* One human line for an event object. */
void render_event(FILE *f, json_object *ev);

#endif
