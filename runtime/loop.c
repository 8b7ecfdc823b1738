/* The io_uring loop: ring set-up, the turn (flush, wait, dispatch, timers, finish), shutdown. */
#include "loop_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "alloc.h"

uint64_t keel_loop_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void loop_update_time(struct keel_loop *loop)
{
	loop->now_ms = keel_loop_clock_ns() / 1000000ull;
}

uint64_t keel_loop_now(const struct keel_loop *loop)
{
	return loop->now_ms;
}

static int loop_ring_init(struct keel_loop *loop, unsigned entries, char *errmsg)
{
	struct io_uring_params p;
	int rv;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		  IORING_SETUP_SUBMIT_ALL;
	p.cq_entries = entries * 4;
	rv = io_uring_queue_init_params(entries, &loop->ring, &p);
	if (rv == -EINVAL) {
		/* Kernels before 6.1 lack the task-run flags; the loop works without them. */
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = entries * 4;
		rv = io_uring_queue_init_params(entries, &loop->ring, &p);
	}
	if (rv == -ENOSYS || rv == -EPERM)
		return keel_errno_f(errmsg, rv,
				    "io_uring is not available (allow it: sysctl "
				    "kernel.io_uring_disabled=0, and in containers a seccomp "
				    "profile that permits io_uring_setup)");
	if (rv < 0)
		return keel_errno_f(errmsg, rv, "io_uring_queue_init(%u entries)", entries);
	if (!(p.features & IORING_FEAT_EXT_ARG) || !(p.features & IORING_FEAT_NODROP)) {
		io_uring_queue_exit(&loop->ring);
		return keel_errf(errmsg, -ENOSYS,
				 "io_uring too old: keel needs Linux 5.19 or later");
	}
	return 0;
}

static int loop_bufs_init(struct keel_loop *loop, char *errmsg)
{
	struct io_uring_buf_reg reg;
	unsigned i;
	int rv;

	loop->br_bytes = loop->nbufs * sizeof(struct io_uring_buf);
	loop->br =
	    mmap(NULL, loop->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (loop->br == MAP_FAILED) {
		loop->br = NULL;
		return keel_errno_f(errmsg, -errno, "mmap receive ring");
	}
	loop->bufs = keel_malloc((size_t)loop->nbufs * loop->bufsize);
	if (loop->bufs == NULL)
		return keel_errf(errmsg, -ENOMEM, "receive buffers (%u x %u bytes)", loop->nbufs,
				 loop->bufsize);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)loop->br;
	reg.ring_entries = loop->nbufs;
	reg.bgid = KEEL_BGID;
	rv = io_uring_register_buf_ring(&loop->ring, &reg, 0);
	if (rv < 0)
		return keel_errno_f(errmsg, rv, "io_uring provided buffers (needs Linux 5.19+)");
	io_uring_buf_ring_init(loop->br);
	for (i = 0; i < loop->nbufs; i++)
		io_uring_buf_ring_add(loop->br, keel_loop_buf(loop, i), loop->bufsize,
				      (unsigned short)i, io_uring_buf_ring_mask(loop->nbufs),
				      (int)i);
	io_uring_buf_ring_advance(loop->br, (int)loop->nbufs);
	return 0;
}

static void loop_release(struct keel_loop *loop, bool ring_up)
{
	if (ring_up)
		io_uring_queue_exit(&loop->ring);
	if (loop->br != NULL)
		munmap(loop->br, loop->br_bytes);
	keel_free(loop->bufs);
	keel_free(loop->heap);
	keel_free(loop);
}

int keel_loop_new(struct keel_loop **out, const struct keel_loop_config *cfg, char *errmsg)
{
	struct keel_loop *loop;
	unsigned entries = cfg && cfg->entries ? cfg->entries : 1024;
	int rv;

	loop = keel_calloc(1, sizeof(*loop));
	if (loop == NULL)
		return keel_errf(errmsg, -ENOMEM, "allocating the loop");
	loop->nbufs = cfg && cfg->recv_buffers ? cfg->recv_buffers : 2048;
	loop->bufsize = cfg && cfg->recv_buffer_size ? cfg->recv_buffer_size : 16384;
	if ((loop->nbufs & (loop->nbufs - 1)) != 0 || loop->nbufs > 32768) {
		keel_free(loop);
		return keel_errf(errmsg, -EINVAL, "recv_buffers must be a power of two <= 32768");
	}
	rv = loop_ring_init(loop, entries, errmsg);
	if (rv < 0) {
		keel_free(loop);
		return rv;
	}
	rv = loop_bufs_init(loop, errmsg);
	if (rv < 0) {
		loop_release(loop, true);
		return rv;
	}
	loop_update_time(loop);
	*out = loop;
	return 0;
}

struct io_uring_sqe *keel_loop_sqe(struct keel_loop *loop)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);

	while (sqe == NULL) {
		io_uring_submit(&loop->ring);
		sqe = io_uring_get_sqe(&loop->ring);
	}
	return sqe;
}

void keel_loop_cancel_fd(struct keel_loop *loop, int fd)
{
	struct io_uring_sqe *sqe = keel_loop_sqe(loop);

	io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data(sqe, NULL);
}

void keel_loop_buf_return(struct keel_loop *loop, unsigned bid)
{
	io_uring_buf_ring_add(loop->br, keel_loop_buf(loop, bid), loop->bufsize,
			      (unsigned short)bid, io_uring_buf_ring_mask(loop->nbufs), 0);
	io_uring_buf_ring_advance(loop->br, 1);
	loop->bufs_out--;
}

void keel_handle_init(struct keel_loop *loop, struct keel_handle *h,
		      void (*finish)(struct keel_handle *),
		      void (*force_close)(struct keel_handle *))
{
	memset(h, 0, sizeof(*h));
	h->loop = loop;
	h->finish = finish;
	h->force_close = force_close;
	h->next = loop->handles;
	if (loop->handles != NULL)
		loop->handles->prev = h;
	loop->handles = h;
}

static void handle_queue(struct keel_handle *h)
{
	if (h->queued)
		return;
	h->queued = true;
	h->closeq_next = h->loop->closeq;
	h->loop->closeq = h;
}

void keel_handle_close(struct keel_handle *h)
{
	h->closing = true;
	if (h->inflight == 0)
		handle_queue(h);
}

/* Finishes closed handles: unlinks each, then its finish() runs the close callback and frees. */
static void loop_finish_closed(struct keel_loop *loop)
{
	while (loop->closeq != NULL) {
		struct keel_handle *h = loop->closeq;
		loop->closeq = h->closeq_next;
		if (h->inflight != 0) {
			/* Re-queued after new requests: wait for them. */
			h->queued = false;
			continue;
		}
		if (h->prev != NULL)
			h->prev->next = h->next;
		else
			loop->handles = h->next;
		if (h->next != NULL)
			h->next->prev = h->prev;
		h->finish(h);
	}
}

static void loop_dispatch(struct keel_loop *loop)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&loop->ring, head, cqe)
	{
		struct keel_op *op = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		unsigned flags = cqe->flags;

		n++;
		if (op == NULL)
			continue;
		struct keel_handle *h = op->h;
		if (!(flags & IORING_CQE_F_MORE))
			h->inflight--;
		op->done(op, res, flags);
		if (h->closing && h->inflight == 0)
			handle_queue(h);
	}
	io_uring_cq_advance(&loop->ring, n);
}

int keel_loop_run_once(struct keel_loop *loop, int timeout_ms)
{
	struct __kernel_timespec ts, *tsp = NULL;
	struct io_uring_cqe *cqe;
	int64_t next;
	int rv;

	loop_update_time(loop);
	next = keel_timer_run_due(loop);
	keel_stream_flush_all(loop);
	loop_finish_closed(loop);
	if (timeout_ms >= 0 && (next < 0 || next > timeout_ms))
		next = timeout_ms;
	if (loop->closeq != NULL || loop->stop)
		next = 0;
	if (next >= 0) {
		ts.tv_sec = next / 1000;
		ts.tv_nsec = (next % 1000) * 1000000;
		tsp = &ts;
	}
	rv = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, tsp, NULL);
	if (rv < 0 && rv != -ETIME && rv != -EINTR && rv != -EBUSY && rv != -EAGAIN)
		return rv;
	loop_update_time(loop);
	loop_dispatch(loop);
	keel_timer_run_due(loop);
	keel_stream_flush_all(loop);
	loop_finish_closed(loop);
	return 0;
}

int keel_loop_run(struct keel_loop *loop)
{
	int rv = 0;

	loop->stop = false;
	while (!loop->stop && rv == 0)
		rv = keel_loop_run_once(loop, -1);
	return rv;
}

void keel_loop_stop(struct keel_loop *loop)
{
	loop->stop = true;
}

void keel_loop_free(struct keel_loop *loop)
{
	struct keel_handle *h, *next;
	int spins = 0;

	if (loop == NULL)
		return;
	for (h = loop->handles; h != NULL; h = next) {
		next = h->next;
		if (!h->closing)
			h->force_close(h);
	}
	/* Cancellations complete promptly; bound the wait in case the kernel misbehaves. */
	while (loop->handles != NULL && spins++ < 10000) {
		loop_finish_closed(loop);
		if (loop->handles == NULL)
			break;
		io_uring_submit(&loop->ring);
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = {0, 10000000};
		io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, &ts, NULL);
		loop_dispatch(loop);
	}
	keel_timer_free_all(loop);
	loop_release(loop, true);
}
