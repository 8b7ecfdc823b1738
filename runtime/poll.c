/* Poll: level-triggered readiness of an fd the loop does not own, one re-armed poll request at a
 * time, cancelled by user data so that a pending wake-up cannot keep it alive. */
#include <errno.h>
#include <poll.h>

#include "alloc.h"
#include "loop_int.h"

/*
 * Why cancel rather than poll-remove. A poll request whose wake-up is
 * pending (with DEFER_TASKRUN the kernel runs it only when the loop next
 * waits) cannot be taken by IORING_OP_POLL_REMOVE: that fails with
 * -EALREADY, and the wake-up's task work then polls the fd again and, when
 * nothing is ready any more, re-arms the request for the old interest. A
 * stopped watch would then report the old interest, a restarted one never
 * the new, and a closed one would keep its fd's file open forever (the
 * request holds a reference). IORING_OP_ASYNC_CANCEL marks the request
 * cancelled, which the pending task work honours.
 *
 * One request and at most one cancel are in flight, both counted on the
 * handle: a new poll request is armed only when neither is (so a cancel can
 * only ever hit the request it was aimed at), and a closed watch is freed
 * only after both completions arrived (so no cancel outlives it and hits
 * another request that reuses its address).
 */

/* A readiness watch. */
struct keel_poll {
	struct keel_handle h;	  /* accounting; first member */
	struct keel_op op;	  /* the poll request */
	struct keel_op cancel_op; /* the cancel of the poll request */
	int fd;			  /* watched fd (not owned) */
	int events;		  /* KEEL_POLL_* wanted; 0 = stopped */
	bool armed;		  /* a poll request is in flight */
	bool cancelling;	  /* a cancel of it is in flight */
	unsigned gen;		  /* bumped by start/stop so a stale completion is ignored */
	unsigned armed_gen;	  /* gen of the request in flight */
	keel_poll_cb cb;	  /* callback */
	void *arg;		  /* callback argument */
};

static void poll_arm(struct keel_poll *p)
{
	struct io_uring_sqe *sqe = keel_loop_sqe(p->h.loop);

	io_uring_prep_poll_add(sqe, p->fd, (unsigned)p->events);
	keel_op_arm(sqe, &p->op);
	p->armed = true;
	p->armed_gen = p->gen;
}

/* Arms a request for the current interest once neither a request nor a cancel is in flight. */
static void poll_rearm(struct keel_poll *p)
{
	if (!p->h.closing && p->events != 0 && !p->armed && !p->cancelling)
		poll_arm(p);
}

/* Cancels the request in flight (none: nothing to do; already being cancelled: that suffices). */
static void poll_cancel(struct keel_poll *p)
{
	struct io_uring_sqe *sqe;

	if (!p->armed || p->cancelling)
		return;
	sqe = keel_loop_sqe(p->h.loop);
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&p->op, 0);
	keel_op_arm(sqe, &p->cancel_op);
	p->cancelling = true;
}

static void poll_done(struct keel_op *op, int res, unsigned flags)
{
	struct keel_poll *p = keel_container_of(op, struct keel_poll, op);
	bool stale = p->armed_gen != p->gen;

	(void)flags;
	p->armed = false;
	if (p->h.closing)
		return;
	if (stale || res == -ECANCELED) {
		/* Stopped or restarted while in flight: arm for the current interest. */
		poll_rearm(p);
		return;
	}
	if (res < 0) {
		p->events = 0;
		p->cb(p, res, p->arg);
		return;
	}
	int mask = res & (KEEL_POLL_IN | KEEL_POLL_OUT | KEEL_POLL_ERR | KEEL_POLL_HUP);
	/* Re-arm first: the callback may stop or close the watch. */
	poll_rearm(p);
	p->cb(p, mask, p->arg);
}

/* The cancel completed (0, or -ENOENT when the request had completed already). */
static void poll_cancel_done(struct keel_op *op, int res, unsigned flags)
{
	struct keel_poll *p = keel_container_of(op, struct keel_poll, cancel_op);

	(void)res;
	(void)flags;
	p->cancelling = false;
	poll_rearm(p);
}

static void poll_finish(struct keel_handle *h)
{
	keel_free(h);
}

static void poll_force_close(struct keel_handle *h)
{
	keel_poll_close((struct keel_poll *)h);
}

int keel_poll_new(struct keel_loop *loop, int fd, keel_poll_cb cb, void *arg,
		  struct keel_poll **out)
{
	struct keel_poll *p = keel_calloc(1, sizeof(*p));

	if (p == NULL)
		return -ENOMEM;
	keel_handle_init(loop, &p->h, poll_finish, poll_force_close);
	p->op.done = poll_done;
	p->op.h = &p->h;
	p->cancel_op.done = poll_cancel_done;
	p->cancel_op.h = &p->h;
	p->fd = fd;
	p->cb = cb;
	p->arg = arg;
	*out = p;
	return 0;
}

int keel_poll_start(struct keel_poll *p, int events)
{
	if (p->h.closing)
		return -EBADF;
	events &= KEEL_POLL_IN | KEEL_POLL_OUT;
	if (events == p->events && p->armed && p->armed_gen == p->gen)
		return 0;
	p->events = events;
	p->gen++;
	if (p->armed)
		poll_cancel(p); /* its completions re-arm with the new interest */
	else
		poll_rearm(p);
	return 0;
}

void keel_poll_stop(struct keel_poll *p)
{
	if (p->events == 0)
		return;
	p->events = 0;
	p->gen++;
	poll_cancel(p);
}

void keel_poll_close(struct keel_poll *p)
{
	if (p == NULL || p->h.closing)
		return;
	keel_poll_stop(p);
	/* Freed once the request and its cancel have both completed (keel_handle accounting). */
	keel_handle_close(&p->h);
}
