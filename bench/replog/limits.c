/* Machine limits for bench/replog: fdatasync (syscall and io_uring) in a directory, loopback RTT.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
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

/* Three writers that each append 4 KiB to their own file and fdatasync it, in lockstep. */
struct flusher {
	pthread_barrier_t *start; /* all three begin a round together */
	int fd;			  /* own file */
	uint64_t lat[ROUNDS];	  /* per round: write + fdatasync */
	int err;		  /* a failed write or fdatasync */
};

static void *flusher_main(void *arg)
{
	struct flusher *f = arg;
	char block[4096];

	memset(block, 'g', sizeof(block));
	for (int i = 0; i < ROUNDS; i++) {
		pthread_barrier_wait(f->start);
		uint64_t t = now_ns();
		if (write(f->fd, block, sizeof(block)) != (ssize_t)sizeof(block) ||
		    fdatasync(f->fd) < 0)
			f->err = 1;
		f->lat[i] = now_ns() - t;
	}
	return NULL;
}

/*
 * What three replicas on this disk see when each flushes one append at the
 * same time: per round, the second of the three flushes to finish (a quorum
 * of two durable copies). 0 or -1.
 */
static int probe_three_flushes(const char *dir)
{
	struct flusher f[3];
	pthread_t th[3];
	pthread_barrier_t start;
	uint64_t second[ROUNDS];
	char path[4096];
	int rv = 0;

	pthread_barrier_init(&start, NULL, 3);
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/fsync-probe-%d", dir, i);
		memset(&f[i], 0, sizeof(f[i]));
		f[i].start = &start;
		f[i].fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
		if (f[i].fd < 0) {
			perror(path);
			return -1;
		}
		unlink(path);
	}
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, flusher_main, &f[i]);
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		close(f[i].fd);
		rv |= f[i].err ? -1 : 0;
	}
	pthread_barrier_destroy(&start);
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t a = f[0].lat[r], b = f[1].lat[r], c = f[2].lat[r];
		/* the median of three */
		second[r] = a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b));
	}
	qsort(second, ROUNDS, sizeof(second[0]), cmp_u64);
	printf("fdatasync3_second_p50_us=%.0f fdatasync3_second_p99_us=%.0f\n",
	       (double)second[ROUNDS / 2] / 1e3, (double)second[ROUNDS * 99 / 100] / 1e3);
	return rv;
}

/*
 * Loopback TCP round trip of 100 bytes between two processes, each blocked
 * in read() until the other's message arrives: every leg wakes a sleeping
 * process, as every hop between replicas does. 0 or -1.
 */
static int probe_rtt_two_processes(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	uint64_t lat[ROUNDS];
	char block[100];
	int ls, a, b, one = 1, status;
	pid_t pid;

	memset(block, 'p', sizeof(block));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 1) < 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) < 0) {
		perror("listen");
		return -1;
	}
	a = socket(AF_INET, SOCK_STREAM, 0);
	if (a < 0 || connect(a, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (b = accept(ls, NULL, NULL)) < 0) {
		perror("connect");
		return -1;
	}
	close(ls);
	setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		/* The echo: answers each message until the parent closes. */
		close(a);
		while (read(b, block, sizeof(block)) == (ssize_t)sizeof(block))
			if (write(b, block, sizeof(block)) != (ssize_t)sizeof(block))
				break;
		_exit(0);
	}
	close(b);
	for (int i = 0; i < ROUNDS; i++) {
		/* A pause first, so that the echo is asleep when the message comes. */
		struct timespec pause = {0, 200000};
		nanosleep(&pause, NULL);
		uint64_t t = now_ns();
		if (write(a, block, sizeof(block)) != (ssize_t)sizeof(block) ||
		    read(a, block, sizeof(block)) != (ssize_t)sizeof(block)) {
			perror("ping");
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		lat[i] = now_ns() - t;
	}
	close(a);
	waitpid(pid, &status, 0);
	qsort(lat, ROUNDS, sizeof(lat[0]), cmp_u64);
	printf("loopback_rtt_2proc_p50_us=%.1f loopback_rtt_2proc_p99_us=%.1f\n",
	       (double)lat[ROUNDS / 2] / 1e3, (double)lat[ROUNDS * 99 / 100] / 1e3);
	return 0;
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
	if (probe_rtt_two_processes() < 0 || probe_three_flushes(argv[1]) < 0)
		return 1;
	return 0;
}
