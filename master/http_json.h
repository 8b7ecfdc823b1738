/* A small streaming JSON writer for the master's hand-rendered endpoints (/state, /metrics). */
#ifndef KEEL_MASTER_HTTP_JSON_H
#define KEEL_MASTER_HTTP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/buf.h"

/*
 * Writes compact JSON into a keel_buf, inserting the commas itself: open a
 * container, then alternate master_json_key and a value inside objects, or
 * write values one after another inside arrays. Strings come out as pure
 * ASCII the way runtime/pbjson.h writes them (every non-ASCII character as
 * \uXXXX, bytes that are not UTF-8 as \ufffd), so byte and character counts
 * agree. Doubles are written the way Mesos (rapidjson) writes them: the
 * shortest text that reads back to the same double, integral values with a
 * trailing ".0"; NaN and infinities (not JSON) as the strings "NaN",
 * "Infinity", "-Infinity".
 *
 * Memory: the master is a daemon, and out-of-memory is fatal there
 * (runtime/alloc.h): a buffer that cannot grow aborts the process. Nesting
 * deeper than MASTER_JSON_MAX_DEPTH is a programming error and aborts too.
 */

/* Most containers open at once. */
#define MASTER_JSON_MAX_DEPTH 32

/* The writer (caller-owned, usually on the stack). */
struct master_json {
	struct keel_buf *out; /* where the text goes (not owned) */
	unsigned depth;	      /* containers open */
	uint32_t nonempty;    /* bit d: the container at depth d has a member already */
	bool after_key;	      /* a key was written and its value not yet */
};

/* Starts writing into out (appending to what it holds). */
void master_json_init(struct master_json *w, struct keel_buf *out);

void master_json_object_begin(struct master_json *w);
void master_json_object_end(struct master_json *w);
void master_json_array_begin(struct master_json *w);
void master_json_array_end(struct master_json *w);

/* An object member's key (NUL-terminated); the value follows. */
void master_json_key(struct master_json *w, const char *key);

/* Values. master_json_string writes "" for NULL. */
void master_json_string(struct master_json *w, const char *s);
void master_json_stringn(struct master_json *w, const char *s, size_t len);
void master_json_double(struct master_json *w, double v);
void master_json_int(struct master_json *w, int64_t v);
void master_json_uint(struct master_json *w, uint64_t v);
void master_json_bool(struct master_json *w, bool v);
/*
 * A wall-clock time in nanoseconds as seconds ("1795722379.123456789", trailing zeros dropped,
 * ".0" when whole): Mesos's double seconds without the cost of a shortest-double search.
 */
void master_json_seconds(struct master_json *w, uint64_t ns);
/* A value that is JSON text already (copied verbatim; the caller vouches for it). */
void master_json_raw(struct master_json *w, const char *json, size_t len);

/* Key and value in one call. */
void master_json_kv_string(struct master_json *w, const char *key, const char *s);
void master_json_kv_double(struct master_json *w, const char *key, double v);
void master_json_kv_int(struct master_json *w, const char *key, int64_t v);
void master_json_kv_bool(struct master_json *w, const char *key, bool v);
void master_json_kv_seconds(struct master_json *w, const char *key, uint64_t ns);

/* Appends the shortest round-trip text of a finite double to out ("4.0", "0.1", "1e+300"). */
void master_json_format_double(double v, char *out, size_t size);

#endif
