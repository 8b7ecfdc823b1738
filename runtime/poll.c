/* Poll: level-triggered readiness of an fd the loop does not own, one re-armed poll request at a
 * time. */
#include <errno.h>
#include <poll.h>

#include "alloc.h"
#include "loop_int.h"

/* A readiness watch. */
struct keel_poll {
	struct keel_handle h; /* accounting; first member */
	struct keel_op op;    /* the pending poll request */
	int fd;		      /* watched fd (not owned) */
	int events;	      /* KEEL_POLL_* wanted; 0 = stopped */
	bool armed;	      /* a poll request is in flight */
	unsigned gen;	      /* bumped by start/stop so a stale completion is ignored */
	unsigned armed_gen;   /* gen of the request in flight */
	keel_poll_cb cb;      /* callback */
	void *arg;	      /* callback argument */
};

static void poll_arm(struct keel_poll *p)
{
	struct io_uring_sqe *sqe = keel_loop_sqe(p->h.loop);

	io_uring_prep_poll_add(sqe, p->fd, (unsigned)p->events);
	keel_op_arm(sqe, &p->op);
	p->armed = true;
	p->armed_gen = p->gen;
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
		if (p->events != 0)
			poll_arm(p);
		return;
	}
	if (res < 0) {
		p->events = 0;
		p->cb(p, res, p->arg);
		return;
	}
	int mask = res & (KEEL_POLL_IN | KEEL_POLL_OUT | KEEL_POLL_ERR | KEEL_POLL_HUP);
	/* Re-arm first: the callback may stop or close the watch. */
	if (p->events != 0)
		poll_arm(p);
	p->cb(p, mask, p->arg);
}

static void poll_cancel(struct keel_poll *p)
{
	struct io_uring_sqe *sqe = keel_loop_sqe(p->h.loop);

	io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)&p->op);
	io_uring_sqe_set_data(sqe, NULL);
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
	if (events == p->events && p->armed)
		return 0;
	p->events = events & (KEEL_POLL_IN | KEEL_POLL_OUT);
	p->gen++;
	if (p->armed)
		poll_cancel(p); /* its completion re-arms with the new interest */
	else if (p->events != 0)
		poll_arm(p);
	return 0;
}

void keel_poll_stop(struct keel_poll *p)
{
	if (p->events == 0)
		return;
	p->events = 0;
	p->gen++;
	if (p->armed)
		poll_cancel(p);
}

void keel_poll_close(struct keel_poll *p)
{
	if (p == NULL || p->h.closing)
		return;
	keel_poll_stop(p);
	keel_handle_close(&p->h);
}
