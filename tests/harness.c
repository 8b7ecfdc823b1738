/* The test runner behind harness.h: runs registered cases, reports, exits 0/1/77. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>

static struct th_case *th_head, **th_tail = &th_head;
static jmp_buf th_jmp;
static int th_skipped;
static char th_ctx[256];
static uint64_t th_seed_value;

void th_register(struct th_case *c)
{
	*th_tail = c;
	th_tail = &c->next;
}

void th_context(const char *fmt, ...)
{
	va_list ap;

	if (fmt == NULL) {
		th_ctx[0] = '\0';
		return;
	}
	va_start(ap, fmt);
	vsnprintf(th_ctx, sizeof(th_ctx), fmt, ap);
	va_end(ap);
}

uint64_t th_seed(void)
{
	return th_seed_value;
}

void th_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stdout, "  %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	if (th_ctx[0] != '\0')
		fprintf(stdout, " [%s]", th_ctx);
	fprintf(stdout, " (seed %llu)\n", (unsigned long long)th_seed_value);
	fflush(stdout);
	longjmp(th_jmp, 1);
}

void th_skip(const char *reason)
{
	fprintf(stdout, "  skip: %s\n", reason);
	th_skipped = 1;
	longjmp(th_jmp, 2);
}

/* Runs one case; returns 0 passed, 1 failed, 2 skipped. Kept apart so setjmp clobbers nothing. */
static int th_run(struct th_case *c)
{
	int r;

	th_ctx[0] = '\0';
	th_skipped = 0;
	r = setjmp(th_jmp);
	if (r == 0)
		c->fn();
	return r;
}

int main(int argc, char **argv)
{
	const char *filter = NULL;
	int passed = 0, failed = 0, skipped = 0, i;
	struct th_case *c;

	th_seed_value = (uint64_t)time(NULL);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc)
			filter = argv[++i];
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			th_seed_value = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--list") == 0) {
			for (c = th_head; c != NULL; c = c->next)
				printf("%s\n", c->name);
			return 0;
		} else {
			fprintf(stderr, "usage: %s [--filter SUBSTRING] [--seed N] [--list]\n",
				argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (c = th_head; c != NULL; c = c->next) {
		if (filter != NULL && strstr(c->name, filter) == NULL)
			continue;
		int r = th_run(c);
		if (r == 0) {
			printf("ok %s\n", c->name);
			passed++;
		} else if (r == 2) {
			printf("skip %s\n", c->name);
			skipped++;
		} else {
			printf("FAIL %s\n", c->name);
			failed++;
		}
	}
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	if (failed > 0)
		return 1;
	if (passed == 0 && skipped > 0)
		return 77;
	return 0;
}
