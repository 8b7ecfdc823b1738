/* Latency trace of the replog driver and store: timestamped events to a file, off by default. */
#ifndef KEEL_REPLOG_TRACE_H
#define KEEL_REPLOG_TRACE_H

#include <stdint.h>

/*
 * A debugging aid for finding where the time of an append goes. When the
 * environment variable KEEL_REPLOG_TRACE names a path prefix, each replica
 * writes one line per event to PREFIX.<node>.<who>.<pid>:
 *
 *	<CLOCK_MONOTONIC ns> <event> <a> <b> <c>
 *
 * (the events and their arguments are listed in docs/replog.md, "Where the
 * time of one append goes"). CLOCK_MONOTONIC is shared by the processes of
 * one machine, so the files of three replicas merge by sorting. Lines are
 * buffered in memory and written when the buffer fills and at close.
 *
 * A trace is used by one thread (the driver's loop thread, or the storage
 * thread, each has its own). When tracing is off the handle is NULL and
 * REPLOG_TRACE costs one predictable branch.
 */

struct replog_trace;

/*
 * Opens the trace file `prefix`.<node>.<who>.<pid>. Returns 0 and *out = NULL
 * when prefix is NULL or empty (tracing off), 0 and a handle, or a negative
 * errno (the file could not be opened or memory ran out).
 */
int replog_trace_open(const char *prefix, unsigned node, const char *who,
		      struct replog_trace **out);

/* Appends one event line with the current CLOCK_MONOTONIC time. */
void replog_trace_event(struct replog_trace *t, const char *ev, uint64_t a, uint64_t b, uint64_t c);

/* Writes what is buffered and closes. NULL is a no-op. */
void replog_trace_close(struct replog_trace *t);

#define REPLOG_TRACE(t, ev, a, b, c)                                                               \
	do {                                                                                       \
		if (__builtin_expect((t) != NULL, 0))                                              \
			replog_trace_event((t), (ev), (a), (b), (c));                              \
	} while (0)

#endif
