/* Loop internals shared by loop.c, timer.c, async.c, poll.c and stream.c (never installed). */
#ifndef KEEL_RUNTIME_LOOP_INT_H
#define KEEL_RUNTIME_LOOP_INT_H

#include <liburing.h>

#include "loop.h"

struct keel_handle;

/* One submitted io_uring request; its address is the SQE's user_data. */
struct keel_op {
	void (*done)(struct keel_op *op, int res, unsigned flags); /* completion handler */
	struct keel_handle *h;					   /* owner, for accounting */
};

/* What every handle with io_uring requests shares: accounting and deferred free. */
struct keel_handle {
	struct keel_loop *loop;			    /* owning loop */
	struct keel_handle *prev, *next;	    /* the loop's list of live handles */
	struct keel_handle *closeq_next;	    /* link in the loop's close queue */
	void (*finish)(struct keel_handle *h);	    /* runs the close callback and frees */
	void (*force_close)(struct keel_handle *h); /* used by keel_loop_free */
	unsigned inflight;			    /* requests submitted, not yet completed */
	bool closing;				    /* close requested; no callbacks but close */
	bool queued;				    /* on the close queue */
};

/* The loop. */
struct keel_loop {
	struct io_uring ring;	      /* the ring */
	bool stop;		      /* keel_loop_stop was called */
	uint64_t now_ms;	      /* monotonic ms at the start of the turn */
	struct keel_handle *handles;  /* live handles */
	struct keel_handle *closeq;   /* handles to finish at the end of the turn */
	struct keel_timer **heap;     /* timer min-heap by deadline */
	size_t heap_len, heap_cap;    /* heap size and capacity */
	uint64_t timer_seq;	      /* tie-break so equal deadlines fire in start order */
	struct keel_stream *flushq;   /* streams with bytes to send this turn */
	struct keel_stream *rearmq;   /* streams whose receive must be re-armed */
	struct io_uring_buf_ring *br; /* shared receive buffer ring */
	char *bufs;		      /* the receive buffers' memory */
	size_t br_bytes;	      /* size of the mapped ring */
	unsigned nbufs, bufsize;      /* receive buffer count and size */
	unsigned bufs_out;	      /* buffers handed to callbacks, not yet returned */
};

/* Returns a free SQE, submitting queued ones first if the ring is full (never NULL after that). */
struct io_uring_sqe *keel_loop_sqe(struct keel_loop *loop);

/* Prepares the SQE's user data for op and counts it in flight on its handle. */
static inline void keel_op_arm(struct io_uring_sqe *sqe, struct keel_op *op)
{
	io_uring_sqe_set_data(sqe, op);
	op->h->inflight++;
}

void keel_handle_init(struct keel_loop *loop, struct keel_handle *h,
		      void (*finish)(struct keel_handle *),
		      void (*force_close)(struct keel_handle *));

/* Marks the handle closing and queues its finish once nothing is in flight. */
void keel_handle_close(struct keel_handle *h);

/* Cancels every request on fd (used by closing handles). */
void keel_loop_cancel_fd(struct keel_loop *loop, int fd);

/* Gives a receive buffer back to the shared ring. */
void keel_loop_buf_return(struct keel_loop *loop, unsigned bid);

/* Buffer id `bid`'s memory. */
static inline char *keel_loop_buf(struct keel_loop *loop, unsigned bid)
{
	return loop->bufs + (size_t)bid * loop->bufsize;
}

/* Called by the loop each turn before it sleeps (stream.c). */
void keel_stream_flush_all(struct keel_loop *loop);

/* Runs due timers (timer.c); returns ms until the next one, or -1 if none. */
int64_t keel_timer_run_due(struct keel_loop *loop);
void keel_timer_free_all(struct keel_loop *loop);

#define KEEL_BGID 0 /* the buffer group id of the shared receive ring */

#endif
