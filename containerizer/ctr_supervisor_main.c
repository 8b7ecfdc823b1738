/* The keel-ctr-supervisor program: reads its launch plan from an inherited fd, then supervises. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctr_plan.h"
#include "runtime/alloc.h"
#include "runtime/failpoint.h"

/* A plan is a few KiB; anything near this is not one. */
#define PLAN_MAX (64 << 20)

/* Reads the whole plan from fd; returns a heap buffer or NULL with errno set. */
static void *read_plan(int fd, size_t *len)
{
	struct stat st;
	size_t off = 0;
	char *buf;

	if (fstat(fd, &st) < 0)
		return NULL;
	if (st.st_size <= 0 || st.st_size > PLAN_MAX) {
		errno = EINVAL;
		return NULL;
	}
	buf = keel_malloc((size_t)st.st_size);
	if (buf == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + off, (size_t)st.st_size - off, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			keel_free(buf);
			return NULL;
		}
		off += (size_t)n;
	}
	*len = off;
	return buf;
}

int main(int argc, char **argv)
{
	struct ctr_plan *p;
	char *end;
	void *buf;
	size_t len = 0;
	long fd;
	int rv;

	/* Started by the containerizer library only: keel-supervisor <plan fd>. */
	if (argc != 2) {
		fprintf(stderr,
			"keel-ctr-supervisor: started by the keel containerizer, not by hand\n");
		return 2;
	}
	errno = 0;
	fd = strtol(argv[1], &end, 10);
	if (*end != '\0' || errno != 0 || fd < 0 || fd > 65535) {
		fprintf(stderr, "keel-ctr-supervisor: bad plan fd '%s'\n", argv[1]);
		return 2;
	}
	buf = read_plan((int)fd, &len);
	if (buf == NULL) {
		perror("keel-ctr-supervisor: read the plan");
		return 1;
	}
	close((int)fd);
	rv = ctr_plan_decode(buf, len, &p);
	if (rv == 0 && KEEL_FAILPOINT("ctr_sup_plan") < 0) {
		ctr_plan_free(p); /* test hook: as a plan that does not decode */
		rv = -EINVAL;
	}
	keel_free(buf);
	if (rv < 0) {
		fprintf(stderr, "keel-ctr-supervisor: bad plan (%d)\n", rv);
		return 1;
	}
	ctr_supervisor_main(p);
}
