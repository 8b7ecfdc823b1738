/* Streams: connected sockets with multishot receive into shared buffers and batched,
 * double-buffered sends. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "loop_int.h"

enum stream_state {
	ST_CONNECTING, /* connect in flight */
	ST_OPEN,       /* usable */
	ST_CLOSING,    /* close requested: sending what is queued */
	ST_LINGER,     /* write side shut down; discarding input until EOF or the linger timer */
	ST_CLOSED,     /* socket being torn down; finish() frees it */
};

/* A connected socket. */
struct keel_stream {
	struct keel_handle h;		   /* accounting; first member */
	struct keel_op recv_op;		   /* the multishot receive */
	struct keel_op send_op;		   /* the send in flight */
	struct keel_op conn_op;		   /* the connect */
	int fd;				   /* the socket */
	enum stream_state state;	   /* lifecycle */
	const struct keel_stream_ops *ops; /* callbacks */
	void *arg;			   /* callback argument */
	keel_connect_cb on_connect;	   /* connect completion */
	struct keel_buf in;		   /* received bytes on_read has not used yet */
	struct keel_buf out;		   /* bytes being sent (frozen while a send is in flight) */
	struct keel_buf queue;		   /* bytes written since, sent after out */
	bool reading;			   /* the user wants on_read */
	bool recv_armed;		   /* a multishot receive is in flight */
	bool redeliver;			   /* present `in` again without waiting for bytes */
	bool sending;			   /* a send is in flight */
	bool ended;			   /* read side finished (EOF or error) */
	bool failed;			   /* the connection failed; writes are refused */
	bool in_flushq, in_rearmq;	   /* on the loop's per-turn lists */
	unsigned linger_ms;		   /* how long to discard input after shutdown */
	struct keel_timer *linger;	   /* linger deadline */
	struct keel_stream *flush_next;	   /* loop flush list link */
	struct keel_stream *rearm_next;	   /* loop re-arm list link */
	struct sockaddr_storage peer;	   /* connect target (must outlive the request) */
	socklen_t peerlen;		   /* its length */
};

static void stream_teardown(struct keel_stream *s);

static void stream_queue_flush(struct keel_stream *s)
{
	if (s->in_flushq)
		return;
	s->in_flushq = true;
	s->flush_next = s->h.loop->flushq;
	s->h.loop->flushq = s;
}

static void stream_queue_rearm(struct keel_stream *s)
{
	if (s->in_rearmq)
		return;
	s->in_rearmq = true;
	s->rearm_next = s->h.loop->rearmq;
	s->h.loop->rearmq = s;
}

static void stream_arm_recv(struct keel_stream *s)
{
	struct io_uring_sqe *sqe = keel_loop_sqe(s->h.loop);

	io_uring_prep_recv_multishot(sqe, s->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = KEEL_BGID;
	keel_op_arm(sqe, &s->recv_op);
	s->recv_armed = true;
}

static void stream_cancel_recv(struct keel_stream *s)
{
	struct io_uring_sqe *sqe = keel_loop_sqe(s->h.loop);

	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&s->recv_op, 0);
	io_uring_sqe_set_data(sqe, NULL);
}

static void stream_send(struct keel_stream *s)
{
	struct io_uring_sqe *sqe = keel_loop_sqe(s->h.loop);

	io_uring_prep_send(sqe, s->fd, keel_buf_rptr(&s->out), keel_buf_size(&s->out),
			   MSG_NOSIGNAL);
	keel_op_arm(sqe, &s->send_op);
	s->sending = true;
}

/* Starts sending the queue if nothing is in flight. */
static void stream_kick(struct keel_stream *s)
{
	struct keel_buf tmp;

	if (s->sending || s->state == ST_CONNECTING || s->state == ST_CLOSED)
		return;
	if (keel_buf_size(&s->out) == 0 && keel_buf_size(&s->queue) > 0) {
		tmp = s->out;
		s->out = s->queue;
		s->queue = tmp;
		keel_buf_clear(&s->queue);
	}
	if (keel_buf_size(&s->out) > 0)
		stream_send(s);
}

static void stream_end(struct keel_stream *s, int err)
{
	if (s->ended)
		return;
	s->ended = true;
	s->reading = false;
	if (s->state == ST_OPEN && s->ops->on_end != NULL)
		s->ops->on_end(s, err, s->arg);
}

/* Write side done: shut it down, then linger for the peer's EOF or close at once. */
static void linger_expired(struct keel_timer *t, void *arg)
{
	(void)t;
	stream_teardown(arg);
}

static void stream_shutdown(struct keel_stream *s)
{
	shutdown(s->fd, SHUT_WR);
	if (s->ended || s->failed || s->linger_ms == 0 ||
	    keel_timer_new(s->h.loop, linger_expired, s, &s->linger) < 0 ||
	    keel_timer_start(s->linger, s->linger_ms, 0) < 0) {
		stream_teardown(s);
		return;
	}
	s->state = ST_LINGER;
	if (!s->recv_armed)
		stream_arm_recv(s);
}

static void stream_teardown(struct keel_stream *s)
{
	if (s->state == ST_CLOSED)
		return;
	s->state = ST_CLOSED;
	s->reading = false;
	if (s->linger != NULL)
		keel_timer_stop(s->linger);
	if (s->h.inflight > 0)
		keel_loop_cancel_fd(s->h.loop, s->fd);
	keel_handle_close(&s->h);
}

static void recv_deliver(struct keel_stream *s, const char *data, size_t len)
{
	size_t used;

	if (keel_buf_size(&s->in) == 0) {
		used = s->ops->on_read(s, data, len, s->arg);
		if (used < len && s->state == ST_OPEN &&
		    keel_buf_append(&s->in, data + used, len - used) < 0) {
			s->failed = true;
			stream_end(s, -ENOMEM);
		}
		return;
	}
	if (keel_buf_append(&s->in, data, len) < 0) {
		s->failed = true;
		stream_end(s, -ENOMEM);
		return;
	}
	used = s->ops->on_read(s, keel_buf_rptr(&s->in), keel_buf_size(&s->in), s->arg);
	if (s->state == ST_OPEN)
		keel_buf_consume(&s->in, used);
}

static void recv_done(struct keel_op *op, int res, unsigned flags)
{
	struct keel_stream *s = keel_container_of(op, struct keel_stream, recv_op);

	if (!(flags & IORING_CQE_F_MORE))
		s->recv_armed = false;
	if (flags & IORING_CQE_F_BUFFER) {
		unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
		s->h.loop->bufs_out++;
		if (res > 0 && s->state == ST_OPEN && !s->ended) {
			if (s->reading)
				recv_deliver(s, keel_loop_buf(s->h.loop, bid), (size_t)res);
			else if (keel_buf_append(&s->in, keel_loop_buf(s->h.loop, bid),
						 (size_t)res) < 0)
				stream_end(s, -ENOMEM);
		}
		keel_loop_buf_return(s->h.loop, bid);
	}
	if (s->state == ST_CLOSED)
		return;
	if (s->state == ST_LINGER) {
		if (res <= 0 && res != -ENOBUFS)
			stream_teardown(s);
		else if (!s->recv_armed)
			stream_queue_rearm(s);
		return;
	}
	if (res == 0 && !(flags & IORING_CQE_F_BUFFER)) {
		stream_end(s, 0);
		return;
	}
	if (res < 0 && res != -ENOBUFS && res != -ECANCELED) {
		s->failed = true;
		stream_end(s, res);
		return;
	}
	if (!s->recv_armed && s->reading && !s->ended)
		stream_queue_rearm(s);
}

static void send_done(struct keel_op *op, int res, unsigned flags)
{
	struct keel_stream *s = keel_container_of(op, struct keel_stream, send_op);

	(void)flags;
	s->sending = false;
	if (s->state == ST_CLOSED)
		return;
	if (res < 0) {
		s->failed = true;
		keel_buf_clear(&s->out);
		keel_buf_clear(&s->queue);
		if (s->state == ST_OPEN)
			stream_end(s, res);
		else
			stream_teardown(s);
		return;
	}
	keel_buf_consume(&s->out, (size_t)res);
	stream_kick(s);
	if (s->sending)
		return;
	if (s->state == ST_CLOSING)
		stream_shutdown(s);
	else if (s->state == ST_OPEN && s->ops->on_drain != NULL)
		s->ops->on_drain(s, s->arg);
}

static void connect_done(struct keel_op *op, int res, unsigned flags)
{
	struct keel_stream *s = keel_container_of(op, struct keel_stream, conn_op);
	int one = 1;

	(void)flags;
	if (s->state != ST_CONNECTING)
		return;
	if (res < 0) {
		s->failed = true;
		s->state = ST_OPEN; /* lets the callback see a normal stream; then it is closed */
		s->on_connect(s, res, s->arg);
		stream_teardown(s);
		return;
	}
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->state = ST_OPEN;
	s->on_connect(s, 0, s->arg);
	if (s->state == ST_OPEN) {
		if (s->reading && !s->recv_armed)
			stream_arm_recv(s);
		stream_queue_flush(s);
	}
}

static void stream_finish(struct keel_handle *h)
{
	struct keel_stream *s = (struct keel_stream *)h;

	close(s->fd);
	if (s->ops->on_close != NULL)
		s->ops->on_close(s, s->arg);
	keel_timer_free(s->linger);
	keel_buf_free(&s->in);
	keel_buf_free(&s->out);
	keel_buf_free(&s->queue);
	keel_free(s);
}

static void stream_force_close(struct keel_handle *h)
{
	keel_stream_abort((struct keel_stream *)h);
}

static const struct keel_stream_ops no_ops = {0};

static struct keel_stream *stream_alloc(struct keel_loop *loop, int fd,
					const struct keel_stream_ops *ops, void *arg)
{
	struct keel_stream *s = keel_calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	keel_handle_init(loop, &s->h, stream_finish, stream_force_close);
	s->recv_op.done = recv_done;
	s->recv_op.h = &s->h;
	s->send_op.done = send_done;
	s->send_op.h = &s->h;
	s->conn_op.done = connect_done;
	s->conn_op.h = &s->h;
	s->fd = fd;
	s->ops = ops ? ops : &no_ops;
	s->arg = arg;
	s->state = ST_OPEN;
	return s;
}

int keel_stream_new(struct keel_loop *loop, int fd, const struct keel_stream_ops *ops, void *arg,
		    struct keel_stream **out)
{
	struct keel_stream *s = stream_alloc(loop, fd, ops, arg);

	if (s == NULL) {
		close(fd);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

int keel_stream_connect(struct keel_loop *loop, const struct sockaddr *addr, socklen_t addrlen,
			const struct keel_stream_ops *ops, keel_connect_cb on_connect, void *arg,
			struct keel_stream **out)
{
	struct keel_stream *s;
	struct io_uring_sqe *sqe;
	int fd;

	if (addrlen > sizeof(struct sockaddr_storage))
		return -EINVAL;
	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	s = stream_alloc(loop, fd, ops, arg);
	if (s == NULL) {
		close(fd);
		return -ENOMEM;
	}
	memcpy(&s->peer, addr, addrlen);
	s->peerlen = addrlen;
	s->on_connect = on_connect;
	s->state = ST_CONNECTING;
	sqe = keel_loop_sqe(loop);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&s->peer, s->peerlen);
	keel_op_arm(sqe, &s->conn_op);
	if (out != NULL)
		*out = s;
	return 0;
}

int keel_stream_read_start(struct keel_stream *s)
{
	if (s->state != ST_OPEN && s->state != ST_CONNECTING)
		return -EBADF;
	if (s->ended)
		return s->failed ? -ECONNRESET : 0;
	if (s->reading)
		return 0;
	s->reading = true;
	if (keel_buf_size(&s->in) > 0)
		s->redeliver = true;
	if (s->state == ST_OPEN)
		stream_queue_rearm(s);
	return 0;
}

void keel_stream_redeliver(struct keel_stream *s)
{
	if (s->state != ST_OPEN || !s->reading || keel_buf_size(&s->in) == 0)
		return;
	s->redeliver = true;
	stream_queue_rearm(s);
}

void keel_stream_read_stop(struct keel_stream *s)
{
	if (!s->reading)
		return;
	s->reading = false;
	s->redeliver = false;
	if (s->recv_armed)
		stream_cancel_recv(s);
}

int keel_stream_write(struct keel_stream *s, const void *p, size_t n)
{
	int rv;

	if ((s->state != ST_OPEN && s->state != ST_CONNECTING) || s->failed)
		return -EPIPE;
	rv = keel_buf_append(&s->queue, p, n);
	if (rv < 0)
		return rv;
	stream_queue_flush(s);
	return 0;
}

struct keel_buf *keel_stream_wbuf(struct keel_stream *s)
{
	return &s->queue;
}

void keel_stream_flush(struct keel_stream *s)
{
	if (s->state == ST_OPEN || s->state == ST_CONNECTING || s->state == ST_CLOSING)
		stream_queue_flush(s);
}

size_t keel_stream_pending(const struct keel_stream *s)
{
	return keel_buf_size(&s->out) + keel_buf_size(&s->queue);
}

void keel_stream_close(struct keel_stream *s, unsigned linger_ms)
{
	if (s->state == ST_CLOSING || s->state == ST_LINGER || s->state == ST_CLOSED)
		return;
	if (s->state == ST_CONNECTING || s->failed) {
		stream_teardown(s);
		return;
	}
	s->state = ST_CLOSING;
	s->linger_ms = linger_ms;
	s->reading = false;
	stream_kick(s);
	if (!s->sending)
		stream_shutdown(s);
}

void keel_stream_abort(struct keel_stream *s)
{
	stream_teardown(s);
}

/* Starts a send on every stream written to since its last send. */
static void stream_kick_all(struct keel_loop *loop)
{
	while (loop->flushq != NULL) {
		struct keel_stream *s = loop->flushq;
		loop->flushq = s->flush_next;
		s->in_flushq = false;
		stream_kick(s);
	}
}

void keel_stream_flush_all(struct keel_loop *loop)
{
	while (loop->rearmq != NULL) {
		struct keel_stream *s = loop->rearmq;
		loop->rearmq = s->rearm_next;
		s->in_rearmq = false;
		if (s->state == ST_LINGER) {
			if (!s->recv_armed)
				stream_arm_recv(s);
			continue;
		}
		if (s->state != ST_OPEN || !s->reading || s->ended)
			continue;
		if (s->redeliver) {
			s->redeliver = false;
			size_t used = s->ops->on_read(s, keel_buf_rptr(&s->in),
						      keel_buf_size(&s->in), s->arg);
			if (s->state != ST_OPEN)
				continue;
			keel_buf_consume(&s->in, used);
			if (!s->reading)
				continue;
		}
		if (!s->recv_armed)
			stream_arm_recv(s);
	}
	stream_kick_all(loop);
}

void keel_loop_send_now(struct keel_loop *loop)
{
	if (loop->flushq == NULL)
		return;
	stream_kick_all(loop);
	io_uring_submit(&loop->ring);
}

void keel_stream_set_arg(struct keel_stream *s, void *arg)
{
	s->arg = arg;
}

void keel_stream_set_ops(struct keel_stream *s, const struct keel_stream_ops *ops)
{
	s->ops = ops ? ops : &no_ops;
}

struct keel_loop *keel_stream_loop(const struct keel_stream *s)
{
	return s->h.loop;
}

int keel_stream_fd(const struct keel_stream *s)
{
	return s->fd;
}

/* --- Listener --- */

/* A listening socket with a multishot accept. */
struct keel_listener {
	struct keel_handle h;	  /* accounting; first member */
	struct keel_op op;	  /* the multishot accept */
	int fd;			  /* listening socket */
	uint16_t port;		  /* bound port */
	bool armed;		  /* accept in flight */
	struct keel_timer *retry; /* re-arm delay after resource exhaustion */
	keel_accept_cb cb;	  /* callback */
	void *arg;		  /* callback argument */
};

static void listener_arm(struct keel_listener *l)
{
	struct io_uring_sqe *sqe = keel_loop_sqe(l->h.loop);

	io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	keel_op_arm(sqe, &l->op);
	l->armed = true;
}

static void listener_retry(struct keel_timer *t, void *arg)
{
	struct keel_listener *l = arg;

	(void)t;
	if (!l->h.closing && !l->armed)
		listener_arm(l);
}

static void accept_done(struct keel_op *op, int res, unsigned flags)
{
	struct keel_listener *l = keel_container_of(op, struct keel_listener, op);
	int one = 1;

	if (!(flags & IORING_CQE_F_MORE))
		l->armed = false;
	if (l->h.closing) {
		if (res >= 0)
			close(res);
		return;
	}
	if (res >= 0) {
		setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		l->cb(l, res, l->arg);
	} else if (res != -ECANCELED) {
		l->cb(l, res, l->arg);
	}
	if (l->armed || l->h.closing)
		return;
	if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM)
		keel_timer_start(l->retry, 100, 0); /* out of fds or memory: back off, then retry */
	else
		listener_arm(l);
}

static void listener_finish(struct keel_handle *h)
{
	struct keel_listener *l = (struct keel_listener *)h;

	close(l->fd);
	keel_timer_free(l->retry);
	keel_free(l);
}

static void listener_force_close(struct keel_handle *h)
{
	keel_listener_close((struct keel_listener *)h);
}

int keel_resolve(const char *host, uint16_t port, struct sockaddr_storage *out, socklen_t *len,
		 char *errmsg)
{
	struct addrinfo hints, *res = NULL;
	char portstr[8];
	int rv;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	rv = getaddrinfo(host, portstr, &hints, &res);
	if (rv != 0)
		return keel_errf(errmsg, -EHOSTUNREACH, "cannot resolve '%s': %s", host,
				 gai_strerror(rv));
	memcpy(out, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

void keel_addr_format(const struct sockaddr *sa, char *out, size_t outlen)
{
	char ip[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(out, outlen, "%s:%u", ip, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(out, outlen, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else {
		snprintf(out, outlen, "(family %d)", sa->sa_family);
	}
}

int keel_listener_new(struct keel_loop *loop, const char *host, uint16_t port, int backlog,
		      keel_accept_cb cb, void *arg, struct keel_listener **out, char *errmsg)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct keel_listener *l;
	cleanup_close int fd = -1;
	int one = 1, rv;

	rv = keel_resolve(host, port, &ss, &sslen, errmsg);
	if (rv < 0)
		return rv;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return keel_errno_f(errmsg, -errno, "socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0)
		return keel_errno_f(errmsg, -errno, "bind %s:%u", host, port);
	if (listen(fd, backlog > 0 ? backlog : 4096) < 0)
		return keel_errno_f(errmsg, -errno, "listen %s:%u", host, port);
	sslen = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0)
		return keel_errno_f(errmsg, -errno, "getsockname");
	l = keel_calloc(1, sizeof(*l));
	if (l == NULL)
		return keel_errf(errmsg, -ENOMEM, "allocating a listener");
	if (keel_timer_new(loop, listener_retry, l, &l->retry) < 0) {
		keel_free(l);
		return keel_errf(errmsg, -ENOMEM, "allocating a listener");
	}
	keel_handle_init(loop, &l->h, listener_finish, listener_force_close);
	l->op.done = accept_done;
	l->op.h = &l->h;
	l->fd = keel_steal_fd(&fd);
	l->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
					   : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	l->cb = cb;
	l->arg = arg;
	listener_arm(l);
	*out = l;
	return 0;
}

uint16_t keel_listener_port(const struct keel_listener *l)
{
	return l->port;
}

void keel_listener_close(struct keel_listener *l)
{
	if (l == NULL || l->h.closing)
		return;
	keel_timer_stop(l->retry);
	if (l->armed)
		keel_loop_cancel_fd(l->h.loop, l->fd);
	keel_handle_close(&l->h);
}
