/* Test helpers for code on the event loop: run the loop until a condition holds or a deadline
 * passes. */
#ifndef KEEL_TESTS_LOOP_UTIL_H
#define KEEL_TESTS_LOOP_UTIL_H

#include <stdbool.h>

#include "runtime/loop.h"

/* Runs turns until `cond` becomes true; false if timeout_ms passed first. Evaluates cond once a
 * turn. */
#define RUN_UNTIL(loop, cond, timeout_ms)                                                          \
	({                                                                                         \
		uint64_t th_deadline_ = keel_loop_clock_ns() / 1000000 + (timeout_ms);             \
		bool th_ok_;                                                                       \
		while (!(th_ok_ = (cond)) && keel_loop_clock_ns() / 1000000 < th_deadline_)        \
			keel_loop_run_once((loop), 50);                                            \
		th_ok_;                                                                            \
	})

#endif
