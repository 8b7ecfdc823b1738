/* Latency trace of the replog driver and store: buffered event lines in a per-thread file. */
#include "trace.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "runtime/alloc.h"

#define TRACE_BUF_SIZE (1u << 20)

struct replog_trace {
	FILE *f;   /* the trace file, fully buffered */
	char *buf; /* its stdio buffer (owned) */
};

int replog_trace_open(const char *prefix, unsigned node, const char *who, struct replog_trace **out)
{
	struct replog_trace *t;
	char path[4096];

	*out = NULL;
	if (prefix == NULL || prefix[0] == '\0')
		return 0;
	if ((size_t)snprintf(path, sizeof(path), "%s.%u.%s.%ld", prefix, node, who,
			     (long)getpid()) >= sizeof(path))
		return -ENAMETOOLONG;
	t = keel_calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->buf = keel_malloc(TRACE_BUF_SIZE);
	if (t->buf == NULL) {
		keel_free(t);
		return -ENOMEM;
	}
	t->f = fopen(path, "we");
	if (t->f == NULL) {
		int e = -errno;
		keel_free(t->buf);
		keel_free(t);
		return e;
	}
	setvbuf(t->f, t->buf, _IOFBF, TRACE_BUF_SIZE);
	*out = t;
	return 0;
}

void replog_trace_event(struct replog_trace *t, const char *ev, uint64_t a, uint64_t b, uint64_t c)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	fprintf(t->f, "%" PRIu64 " %s %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
		(uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec, ev, a, b, c);
}

void replog_trace_close(struct replog_trace *t)
{
	if (t == NULL)
		return;
	fclose(t->f);
	keel_free(t->buf);
	keel_free(t);
}
