/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guard events as JSON objects (json-c), one per line: the journal
 * (state_dir/events.jsonl, written first), then stderr and live followers.
 */
#ifndef PG_EVENTS_H
#define PG_EVENTS_H

#include <stdint.h>

#include <json-c/json.h>

#include "portguard.h"

struct claim;

/* RFC 3339 UTC with microseconds: 2026-11-28T03:22:02.123456Z */
const char *events_ts(uint64_t realtime_us, char *buf, int len);
/* Name of a kernel event kind ("bind_attempt", "bind", ...). */
const char *events_kind_name(uint32_t kind);
/* "tcp" / "udp" / "?" */
const char *events_proto_name(uint16_t proto);
/*
 * A new event object: {"ts", "type", "port", "proto", "pid", "comm", "uid",
 * "service"} from a kernel event, plus "tid", "cgroup_id", "netns", "family",
 * "addr", "reuseport", "cookie". service may be NULL (JSON null).
 */
json_object *events_from_kernel(const char *type, const struct pg_event *e, uint64_t realtime_us,
				const char *service);
/*
 * The binder's executable into o: "exe" (the path), "exe_source" ("kernel":
 * walked at the bind; "kernel-partial": the walk stopped short, the path
 * starts with ".../"; "proc": /proc/PID/exe, the kernel's walk had nothing),
 * "exe_ns" ("host", or "other": the path is relative to the binder's own
 * mount namespace), "exe_ino" and "exe_dev" ("major:minor"). x may be NULL.
 */
void events_add_exe(json_object *o, const struct pg_exe *x, uint32_t pid);
/* The path of the kernel's walk, leaf-first components reversed, into buf; 0 if empty. */
int events_exe_path(const struct pg_exe *x, char *buf, size_t len);
/* A new event object with only "ts" and "type" (and "service" when not NULL). */
json_object *events_new(const char *type, uint64_t realtime_us, const char *service);
/* The first holder of a claim as {"pid", "comm", "uid", "proto", "addr"}. */
json_object *events_claim_holders(const struct claim *c, const char *(*svc_of)(uint64_t cgid));

/*
 * Journal: open (mkdir -p its directory), append one line, close. Past
 * max_bytes the file is rotated: events.jsonl -> .1 -> .2 -> .3 (the oldest goes).
 */
int journal_open(const char *path, uint64_t max_bytes);
/* Writes the line; returns 0 or -errno. */
int journal_write(json_object *ev);
void journal_close(void);

/* Realtime microseconds for a boot-clock timestamp from the kernel. */
uint64_t events_boot_to_real_us(uint64_t boot_ns);
uint64_t events_now_us(void);

#endif
