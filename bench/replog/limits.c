/* Machine limits for bench/replog: fdatasync (syscall and io_uring) in a directory, loopback RTT.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#define ROUNDS 200

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	uint64_t lat[ROUNDS];
	char path[4096], block[4096];
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd, ls, a, b, one = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: keel-replog-limits DIR\n");
		return 2;
	}
	/* fdatasync of one 4 KiB write appended to a file, as a log commit does. */
	snprintf(path, sizeof(path), "%s/fsync-probe", argv[1]);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	memset(block, 'f', sizeof(block));
	for (int i = 0; i < ROUNDS; i++) {
		uint64_t t = now_ns();
		if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block) ||
		    fdatasync(fd) < 0) {
			perror("write/fdatasync");
			return 1;
		}
		lat[i] = now_ns() - t;
	}
	qsort(lat, ROUNDS, sizeof(lat[0]), cmp_u64);
	printf("fdatasync_p50_us=%.0f fdatasync_p99_us=%.0f\n", (double)lat[ROUNDS / 2] / 1e3,
	       (double)lat[ROUNDS * 99 / 100] / 1e3);

	/* The same through io_uring (IORING_OP_FSYNC, DATASYNC), submit and wait: what the
	 * store's trailing meta sync would cost if it moved to a ring. */
	{
		struct io_uring ring;
		if (io_uring_queue_init(4, &ring, 0) == 0) {
			for (int i = 0; i < ROUNDS; i++) {
				struct io_uring_cqe *cqe;
				struct io_uring_sqe *sqe;
				uint64_t t = now_ns();
				if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block))
					return 1;
				sqe = io_uring_get_sqe(&ring);
				io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
				io_uring_submit(&ring);
				if (io_uring_wait_cqe(&ring, &cqe) < 0 || cqe->res < 0)
					return 1;
				io_uring_cqe_seen(&ring, cqe);
				lat[i] = now_ns() - t;
			}
			io_uring_queue_exit(&ring);
			qsort(lat, ROUNDS, sizeof(lat[0]), cmp_u64);
			printf("uring_fdatasync_p50_us=%.0f uring_fdatasync_p99_us=%.0f\n",
			       (double)lat[ROUNDS / 2] / 1e3, (double)lat[ROUNDS * 99 / 100] / 1e3);
		}
	}
	close(fd);
	unlink(path);

	/* Loopback TCP round trip of a 100-byte message, one socket pair in this process. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 1) < 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) < 0) {
		perror("listen");
		return 1;
	}
	a = socket(AF_INET, SOCK_STREAM, 0);
	if (a < 0 || connect(a, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (b = accept(ls, NULL, NULL)) < 0) {
		perror("connect");
		return 1;
	}
	setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (int i = 0; i < ROUNDS; i++) {
		uint64_t t = now_ns();
		if (write(a, block, 100) != 100 || read(b, block, 100) != 100 ||
		    write(b, block, 100) != 100 || read(a, block, 100) != 100) {
			perror("ping");
			return 1;
		}
		lat[i] = now_ns() - t;
	}
	qsort(lat, ROUNDS, sizeof(lat[0]), cmp_u64);
	printf("loopback_rtt_p50_us=%.1f loopback_rtt_p99_us=%.1f\n", (double)lat[ROUNDS / 2] / 1e3,
	       (double)lat[ROUNDS * 99 / 100] / 1e3);
	close(a);
	close(b);
	close(ls);
	return 0;
}
