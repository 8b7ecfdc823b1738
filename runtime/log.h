/* Logging: one line per event with a UTC timestamp, a level letter and a component. */
#ifndef KEEL_RUNTIME_LOG_H
#define KEEL_RUNTIME_LOG_H

#include "util.h"

enum keel_log_level {
	KEEL_LOG_DEBUG = 0,
	KEEL_LOG_INFO = 1,
	KEEL_LOG_WARN = 2,
	KEEL_LOG_ERROR = 3,
	KEEL_LOG_OFF = 4,
};

/*
 * The process's log level and sink are set once by a daemon's main() before
 * it starts threads; libraries only write through keel_log. Lines look like
 *
 *	2026-11-26T15:04:05.123456Z I http: listening on 127.0.0.1:5050
 *
 * and go to stderr unless keel_log_set_fd chose another fd. One write(2) per
 * line, so lines from threads do not interleave.
 */
void keel_log_set_level(enum keel_log_level level);
void keel_log_set_fd(int fd);
enum keel_log_level keel_log_get_level(void);

/* Parses "debug", "info", "warning"/"warn", "error", "off"; -EINVAL otherwise. */
int keel_log_level_parse(const char *s, enum keel_log_level *out);

void keel_log(enum keel_log_level level, const char *component, const char *fmt, ...)
    KEEL_PRINTF(3, 4);

#define KEEL_DEBUG(comp, ...)                                                                      \
	do {                                                                                       \
		if (keel_log_get_level() <= KEEL_LOG_DEBUG)                                        \
			keel_log(KEEL_LOG_DEBUG, comp, __VA_ARGS__);                               \
	} while (0)
#define KEEL_INFO(comp, ...) keel_log(KEEL_LOG_INFO, comp, __VA_ARGS__)
#define KEEL_WARN(comp, ...) keel_log(KEEL_LOG_WARN, comp, __VA_ARGS__)
#define KEEL_ERROR(comp, ...) keel_log(KEEL_LOG_ERROR, comp, __VA_ARGS__)

#endif
