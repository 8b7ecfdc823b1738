/* libFuzzer target: hostile layer bytes must unpack inside the destination or be refused. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "containerizer/ctr_layer.h"
#include "containerizer/ctr_path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[] = "/tmp/keel-fuzz-layer-XXXXXX";

static void remove_root(void)
{
	rmdir(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int rootfd = -1;
	char blob[72], diff[72], msg[256];
	int fd;

	if (rootfd < 0) {
		if (mkdtemp(root) == NULL)
			abort();
		atexit(remove_root);
		rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0)
			abort();
	}
	fd = memfd_create("layer", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0)
		abort();
	/* Small limits, so that the fuzzer finds the budget's edges too. */
	struct ctr_unpack_budget budget;
	ctr_unpack_budget_init(&budget, 1 << 20, 256);
	/* Success or refusal are both fine; a crash, a leak or an escape is not. */
	if (ctr_layer_unpack(fd, rootfd, "l", &budget, blob, diff, msg) == 0)
		ctr_remove_tree_at(rootfd, "l");
	close(fd);
	/* Nothing but the layer dir may ever appear next to it. */
	if (faccessat(rootfd, "l", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		abort();
	return 0;
}
