/* The event loop every daemon runs: one thread, io_uring underneath, typed callbacks on top. */
#ifndef KEEL_RUNTIME_LOOP_H
#define KEEL_RUNTIME_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"
#include "err.h"

/*
 * One loop per thread. A loop owns timers, cross-thread wake-ups (async),
 * fd readiness watches (poll), listeners and streams (TCP connections). All
 * of them are created, used and closed on the loop's thread; the only
 * function that may be called from another thread is keel_async_send().
 *
 * Callbacks. Every handle delivers events through callbacks with the
 * handle and the user's `arg`. A handle may be closed from inside any of its
 * own callbacks; its memory is freed only after the callback returns (on the
 * loop's next turn), and no callback of a closed handle fires after the close
 * call except its close callback, if it has one.
 *
 * Errors: negative errno, details in the errmsg buffer passed in (may be NULL).
 *
 * Caveats:
 * - The loop must be created on the thread that runs it (the kernel ties the
 *   ring to its creator for speed), and must not cross fork(): a child calls
 *   nothing on it (it may close its fd by exiting or exec).
 * - The kernel must allow io_uring (Linux 5.19 or later, the
 *   kernel.io_uring_disabled sysctl 0, and not blocked by a container's
 *   seccomp profile); keel_loop_new says so plainly when it is not.
 * - Nothing here blocks except keel_resolve(), which may query DNS: call it at
 *   start-up or from a worker thread.
 */

struct keel_loop;
struct keel_timer;
struct keel_async;
struct keel_poll;
struct keel_listener;
struct keel_stream;

/* Loop sizing; zero fields take the defaults in brackets. */
struct keel_loop_config {
	unsigned entries;	   /* submission queue entries [1024] */
	unsigned recv_buffers;	   /* shared receive buffers, a power of two [2048] */
	unsigned recv_buffer_size; /* bytes per receive buffer [16384] */
};

/* Creates a loop. -ENOSYS / -EPERM when io_uring is unavailable (message says how to allow it). */
int keel_loop_new(struct keel_loop **out, const struct keel_loop_config *cfg, char *errmsg);

/* Runs until keel_loop_stop(). Returns 0, or a negative errno if the ring failed. */
int keel_loop_run(struct keel_loop *loop);

/*
 * Runs one turn: waits up to timeout_ms (-1 = until something happens, 0 =
 * not at all) for events, then dispatches every ready event and due timer.
 * Returns 0 or a negative errno. Tests use it to wait on a condition.
 */
int keel_loop_run_once(struct keel_loop *loop, int timeout_ms);

/*
 * Starts now, in one io_uring_enter, the sends that streams would otherwise
 * start when the turn ends: for a caller that is about to do slower work in
 * this turn and wants its messages on the wire first. Writes made after it
 * leave at the end of the turn as usual. Loop thread only.
 */
void keel_loop_send_now(struct keel_loop *loop);

/* Makes keel_loop_run return after the current turn. Loop thread only. */
void keel_loop_stop(struct keel_loop *loop);

/*
 * Frees the loop. Every handle still open (streams, listeners, async, poll)
 * is closed first (close callbacks fire) and freed; pointers to them are
 * invalid afterwards. Timers are the caller's to free, before or after. Not
 * from a callback.
 */
void keel_loop_free(struct keel_loop *loop);

/* Monotonic time in milliseconds, read once per loop turn (cheap, stable within a turn). */
uint64_t keel_loop_now(const struct keel_loop *loop);

/* Monotonic time in nanoseconds read from the clock now. */
uint64_t keel_loop_clock_ns(void);

/* --- Timers: a min-heap of deadlines; the loop sleeps until the earliest. --- */

typedef void (*keel_timer_cb)(struct keel_timer *t, void *arg);

/* Creates a stopped timer. -ENOMEM. */
int keel_timer_new(struct keel_loop *loop, keel_timer_cb cb, void *arg, struct keel_timer **out);

/* (Re)starts: fires after `after_ms`, then every `repeat_ms` if that is non-zero. -ENOMEM. */
int keel_timer_start(struct keel_timer *t, uint64_t after_ms, uint64_t repeat_ms);

/* Stops; a stopped timer does not fire. Safe on a stopped timer and inside its callback. */
void keel_timer_stop(struct keel_timer *t);

bool keel_timer_active(const struct keel_timer *t);

/* Stops and frees; safe inside its own callback. */
void keel_timer_free(struct keel_timer *t);

/* --- Async: wakes the loop from another thread; the callback runs on the loop. --- */

typedef void (*keel_async_cb)(struct keel_async *a, void *arg);

int keel_async_new(struct keel_loop *loop, keel_async_cb cb, void *arg, struct keel_async **out,
		   char *errmsg);

/* Thread-safe and async-signal-safe. Several sends before the callback runs make one call. */
void keel_async_send(struct keel_async *a);

/* Closes; no callback after this returns. Loop thread only. */
void keel_async_close(struct keel_async *a);

/* --- Poll: readiness of an fd the loop does not own (libcurl sockets, pipes, pidfds). --- */

#define KEEL_POLL_IN 0x001  /* same values as POLLIN */
#define KEEL_POLL_OUT 0x004 /* POLLOUT */
#define KEEL_POLL_ERR 0x008 /* POLLERR */
#define KEEL_POLL_HUP 0x010 /* POLLHUP */

/* `revents` is a mask of KEEL_POLL_*; a negative errno if the watch itself failed (then stopped).
 */
typedef void (*keel_poll_cb)(struct keel_poll *p, int revents, void *arg);

/* Watches fd (not owned, never closed by the loop) for `events`, level-triggered, until stopped. */
int keel_poll_new(struct keel_loop *loop, int fd, keel_poll_cb cb, void *arg,
		  struct keel_poll **out);
/* (Re)starts with a new interest (KEEL_POLL_IN/OUT; other bits are ignored). -EBADF once closed. */
int keel_poll_start(struct keel_poll *p, int events);
/* Stops; no callback until started again. */
void keel_poll_stop(struct keel_poll *p);
/*
 * Stops and closes; no callback after this returns. The fd may be closed as
 * soon as this returns, also from inside the callback and while a wake-up is
 * pending: the loop cancels its kernel request and frees the watch once the
 * kernel has completed both the request and the cancel (until then the
 * kernel keeps the fd's file open). The fd must stay open up to this call.
 */
void keel_poll_close(struct keel_poll *p);

/* --- Streams (connected sockets) and listeners. --- */

/* Resolves host (name or numeric) and port to a socket address. Blocking: see Caveats. */
int keel_resolve(const char *host, uint16_t port, struct sockaddr_storage *out, socklen_t *len,
		 char *errmsg);

/* Formats an address as "1.2.3.4:80" or "[::1]:80". */
void keel_addr_format(const struct sockaddr *sa, char *out, size_t outlen);

/* The callbacks of a stream; any may be NULL except on_read when reading is started. */
struct keel_stream_ops {
	/*
	 * Bytes arrived. Returns how many of them it used; the rest is kept
	 * and presented again, in front of the next bytes, on the next call
	 * (so a parser that needs a whole message just returns 0 until it has
	 * one). `data` is valid only during the call.
	 */
	size_t (*on_read)(struct keel_stream *s, const char *data, size_t len, void *arg);
	/* The peer closed (err 0) or the connection failed (negative errno). Reading has stopped.
	 */
	void (*on_end)(struct keel_stream *s, int err, void *arg);
	/* Everything written so far has been handed to the kernel. */
	void (*on_drain)(struct keel_stream *s, void *arg);
	/* The stream is closed; its memory is freed when this returns. */
	void (*on_close)(struct keel_stream *s, void *arg);
};

/* Called with each accepted connection's fd (the callee owns it), or a negative errno. */
typedef void (*keel_accept_cb)(struct keel_listener *l, int fd, void *arg);

/*
 * Listens on host:port (port 0 = any free port; see keel_listener_port) and
 * accepts continuously. Accepted sockets are non-blocking, close-on-exec and
 * have TCP_NODELAY.
 */
int keel_listener_new(struct keel_loop *loop, const char *host, uint16_t port, int backlog,
		      keel_accept_cb cb, void *arg, struct keel_listener **out, char *errmsg);
uint16_t keel_listener_port(const struct keel_listener *l);
void keel_listener_close(struct keel_listener *l);

/* Wraps a connected socket; the stream owns fd from now on, also on error. */
int keel_stream_new(struct keel_loop *loop, int fd, const struct keel_stream_ops *ops, void *arg,
		    struct keel_stream **out);

/*
 * Connects to addr. Returns 0 and calls on_connect exactly once: with 0 and
 * the stream ready, or with a negative errno (the stream is then closed and
 * freed after the callback) -- unless the caller closes or aborts the stream
 * first, which cancels the connect without a callback. On a synchronous
 * error nothing is called. Bytes written before the connect completes are
 * sent once it does.
 */
typedef void (*keel_connect_cb)(struct keel_stream *s, int status, void *arg);
int keel_stream_connect(struct keel_loop *loop, const struct sockaddr *addr, socklen_t addrlen,
			const struct keel_stream_ops *ops, keel_connect_cb on_connect, void *arg,
			struct keel_stream **out);

/* Starts/stops delivering on_read. Stopping keeps the connection; bytes wait in the kernel. */
int keel_stream_read_start(struct keel_stream *s);
void keel_stream_read_stop(struct keel_stream *s);

/* Presents the kept (unused) bytes to on_read again at the end of this turn, without new bytes. */
void keel_stream_redeliver(struct keel_stream *s);

/*
 * Queues bytes to send; they go out at the end of this loop turn, batched
 * with everything else queued in the turn. -EPIPE after the stream ended or
 * began closing, -ENOMEM. keel_stream_wbuf() gives the queue itself for
 * formatting in place (append to it, then call keel_stream_flush()).
 */
int keel_stream_write(struct keel_stream *s, const void *p, size_t n);
struct keel_buf *keel_stream_wbuf(struct keel_stream *s);
void keel_stream_flush(struct keel_stream *s);

/* Bytes queued or in flight, not yet handed to the kernel (for back-pressure). */
size_t keel_stream_pending(const struct keel_stream *s);

/*
 * Graceful close: stops reading, sends what is queued, shuts down the write
 * side, discards what the peer still sends for up to linger_ms, then closes
 * the socket and calls on_close. No other callback fires after this call.
 */
void keel_stream_close(struct keel_stream *s, unsigned linger_ms);

/* Closes now, dropping what is queued (on_close still fires, on a later turn). */
void keel_stream_abort(struct keel_stream *s);

void keel_stream_set_arg(struct keel_stream *s, void *arg);
void keel_stream_set_ops(struct keel_stream *s, const struct keel_stream_ops *ops);
struct keel_loop *keel_stream_loop(const struct keel_stream *s);
int keel_stream_fd(const struct keel_stream *s);

#endif
