/* Async: an eventfd that other threads write; a read on the ring wakes the loop and runs the
 * callback. */
#include <errno.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "alloc.h"
#include "loop_int.h"

/* A cross-thread wake-up. */
struct keel_async {
	struct keel_handle h; /* accounting; first member */
	struct keel_op op;    /* the pending eventfd read */
	int fd;		      /* the eventfd */
	uint64_t value;	      /* read target for the eventfd counter */
	atomic_int pending;   /* a send happened since the last callback */
	keel_async_cb cb;     /* callback */
	void *arg;	      /* callback argument */
};

static void async_arm(struct keel_async *a)
{
	struct io_uring_sqe *sqe = keel_loop_sqe(a->h.loop);

	io_uring_prep_read(sqe, a->fd, &a->value, sizeof(a->value), 0);
	keel_op_arm(sqe, &a->op);
}

static void async_done(struct keel_op *op, int res, unsigned flags)
{
	struct keel_async *a = keel_container_of(op, struct keel_async, op);

	(void)flags;
	if (a->h.closing)
		return;
	async_arm(a);
	if (res < 0 && res != -EINTR && res != -EAGAIN)
		return;
	if (atomic_exchange(&a->pending, 0))
		a->cb(a, a->arg);
}

static void async_finish(struct keel_handle *h)
{
	struct keel_async *a = (struct keel_async *)h;

	close(a->fd);
	keel_free(a);
}

static void async_force_close(struct keel_handle *h)
{
	keel_async_close((struct keel_async *)h);
}

int keel_async_new(struct keel_loop *loop, keel_async_cb cb, void *arg, struct keel_async **out,
		   char *errmsg)
{
	struct keel_async *a = keel_calloc(1, sizeof(*a));

	if (a == NULL)
		return keel_errf(errmsg, -ENOMEM, "allocating an async handle");
	a->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->fd < 0) {
		int rv = -errno;
		keel_free(a);
		return keel_errno_f(errmsg, rv, "eventfd");
	}
	keel_handle_init(loop, &a->h, async_finish, async_force_close);
	a->op.done = async_done;
	a->op.h = &a->h;
	a->cb = cb;
	a->arg = arg;
	async_arm(a);
	*out = a;
	return 0;
}

void keel_async_send(struct keel_async *a)
{
	uint64_t one = 1;

	if (atomic_exchange(&a->pending, 1))
		return;
	while (write(a->fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

void keel_async_close(struct keel_async *a)
{
	if (a == NULL || a->h.closing)
		return;
	keel_loop_cancel_fd(a->h.loop, a->fd);
	keel_handle_close(&a->h);
}
