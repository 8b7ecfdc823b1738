/* Log line formatting and output. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Set once by the daemon's main() before any thread starts (see log.h). */
static enum keel_log_level log_level = KEEL_LOG_INFO;
static int log_fd = 2;

void keel_log_set_level(enum keel_log_level level)
{
	log_level = level;
}

void keel_log_set_fd(int fd)
{
	log_fd = fd;
}

enum keel_log_level keel_log_get_level(void)
{
	return log_level;
}

int keel_log_level_parse(const char *s, enum keel_log_level *out)
{
	static const struct {
		const char *name;
		enum keel_log_level level;
	} names[] = {
	    {"debug", KEEL_LOG_DEBUG}, {"info", KEEL_LOG_INFO},	  {"warning", KEEL_LOG_WARN},
	    {"warn", KEEL_LOG_WARN},   {"error", KEEL_LOG_ERROR}, {"off", KEEL_LOG_OFF},
	};
	size_t i;

	for (i = 0; i < KEEL_ARRAY_SIZE(names); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

void keel_log(enum keel_log_level level, const char *component, const char *fmt, ...)
{
	static const char letters[] = "DIWE";
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, m;

	if (level < log_level || level >= KEEL_LOG_OFF)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %c %s: ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000,
		     letters[level], component);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += KEEL_MIN(m, (int)sizeof(line) - n - 2);
	line[n++] = '\n';
	while (write(log_fd, line, (size_t)n) < 0 && errno == EINTR)
		;
}
