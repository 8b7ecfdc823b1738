/* libcurl multi-socket driven by the keel loop: libcurl's sockets in an epoll set that one
 * keel_poll watches, libcurl's timeout on a keel timer. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <curl/curl.h>

#include "etcd_http.h"
#include "runtime/alloc.h"
#include "runtime/buf.h"
#include "runtime/failpoint.h"

/* Largest response body kept (watch lines are consumed as they come). */
#define EH_MAX_BODY (64u * 1024 * 1024)

/*
 * How sockets reach the loop. libcurl adds, changes and drops interest in its
 * sockets at a high rate and closes sockets on its own schedule; the socket
 * callback mirrors that into an epoll set with epoll_ctl (a closed socket
 * simply leaves the set). One keel_poll watches the epoll fd: when it is
 * readable, the loop collects the ready sockets (epoll_wait with no timeout)
 * and runs curl_multi_socket_action for each. Everything, libcurl included,
 * runs on the loop thread. The loop never polls libcurl's sockets itself, so
 * libcurl closing one needs nothing from the loop.
 *
 * If the readiness watch itself fails (the kernel refused the poll request),
 * the transfers in flight cannot make progress: each ends with -EIO, and the
 * watch is started again with the next request (the caller's retries pace it).
 */

/* The multi handle and what it needs. */
struct eh {
	struct keel_loop *loop;	    /* the loop */
	CURLM *multi;		    /* libcurl multi handle */
	int epfd;		    /* epoll set of libcurl's sockets */
	struct keel_poll *poll;	    /* readiness of epfd */
	bool rearm;		    /* the watch failed: start it again with the next request */
	struct keel_timer *timer;   /* libcurl's timeout */
	struct curl_slist *headers; /* Content-Type, no Expect */
	struct eh_req *reqs;	    /* live and dead requests */
	int depth;		    /* nesting of our loop callbacks */
	bool freeing;		    /* eh_free was called inside a callback */
	bool has_dead;		    /* some requests wait to be freed */
};

/* One request. */
struct eh_req {
	struct eh *h;		      /* owner */
	struct eh_req *next;	      /* h->reqs list */
	CURL *easy;		      /* libcurl easy handle (NULL once removed) */
	struct keel_buf in;	      /* received, not yet delivered */
	eh_line_cb line;	      /* streaming: per-line callback */
	eh_done_cb done;	      /* completion callback */
	void *arg;		      /* their argument */
	bool dead;		      /* cancelled or finished; freed at depth 0 */
	bool lines;		      /* a '\n' arrived since the last delivery */
	bool too_big;		      /* the body went over EH_MAX_BODY */
	char errbuf[CURL_ERROR_SIZE]; /* libcurl's message */
};

static void eh_req_release(struct eh_req *r)
{
	if (r->easy != NULL) {
		curl_multi_remove_handle(r->h->multi, r->easy);
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
	}
}

/* Frees what eh_new set up (any part may be missing). libcurl's sockets are closed by now. */
static void eh_destroy(struct eh *h)
{
	keel_poll_close(h->poll); /* closing its fd right after is safe */
	if (h->epfd >= 0)
		close(h->epfd);
	keel_timer_free(h->timer);
	curl_slist_free_all(h->headers);
	keel_free(h);
}

/* Frees dead requests (and h itself when it is being freed). Only at depth 0. */
static void eh_reap(struct eh *h)
{
	struct eh_req **pp = &h->reqs;

	while (*pp != NULL) {
		struct eh_req *r = *pp;
		if (r->dead || h->freeing) {
			*pp = r->next;
			eh_req_release(r);
			keel_buf_free(&r->in);
			keel_free(r);
		} else {
			pp = &r->next;
		}
	}
	h->has_dead = false;
	if (h->freeing) {
		curl_multi_cleanup(h->multi);
		eh_destroy(h);
	}
}

static void eh_leave(struct eh *h)
{
	if (--h->depth == 0 && (h->has_dead || h->freeing))
		eh_reap(h);
}

static int eh_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* Delivers complete lines of a streaming request. */
static void eh_deliver_lines(struct eh_req *r)
{
	r->lines = false;
	while (!r->dead && !r->h->freeing) {
		const char *p = keel_buf_rptr(&r->in);
		const char *nl = memchr(p, '\n', keel_buf_size(&r->in));
		if (nl == NULL)
			break;
		size_t n = (size_t)(nl - p);
		/* Deliver from a stable copy position: the callback may cancel r. */
		r->line(r, p, n, r->arg);
		if (r->dead)
			break;
		keel_buf_consume(&r->in, n + 1);
	}
}

/* After libcurl ran: lines, then finished transfers. */
static void eh_process(struct eh *h)
{
	struct eh_req *r;
	CURLMsg *msg;
	int left;

	for (r = h->reqs; r != NULL && !h->freeing; r = r->next)
		if (!r->dead && r->line != NULL && r->lines)
			eh_deliver_lines(r);
	while (!h->freeing && (msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *easy = msg->easy_handle;
		CURLcode rc = msg->data.result;
		long status = 0;
		char *priv = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
		r = (struct eh_req *)(void *)priv;
		eh_req_release(r);
		if (r->dead)
			continue;
		if (r->line != NULL && keel_buf_size(&r->in) > 0 && rc == CURLE_OK)
			eh_deliver_lines(r);
		if (r->dead)
			continue;
		r->dead = true;
		h->has_dead = true;
		if (r->too_big) {
			r->done(r, -EMSGSIZE, status, NULL, 0, "response too large", r->arg);
		} else if (rc != CURLE_OK) {
			r->done(r, eh_errno(rc), status, NULL, 0,
				r->errbuf[0] != '\0' ? r->errbuf : curl_easy_strerror(rc), r->arg);
		} else {
			if (keel_buf_reserve(&r->in, 1) == 0)
				keel_buf_wptr(&r->in)[0] = '\0';
			r->done(r, 0, status,
				keel_buf_size(&r->in) > 0 ? keel_buf_rptr(&r->in) : "",
				keel_buf_size(&r->in), "", r->arg);
		}
	}
}

/* Runs libcurl for every socket the epoll set says is ready. */
static void eh_run_ready(struct eh *h)
{
	struct epoll_event evs[32];
	int n, i, running;

	n = epoll_wait(h->epfd, evs, (int)KEEL_ARRAY_SIZE(evs), 0);
	for (i = 0; i < n && !h->freeing; i++) {
		int flags = 0;
		if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
			flags |= CURL_CSELECT_IN;
		if (evs[i].events & EPOLLOUT)
			flags |= CURL_CSELECT_OUT;
		if (evs[i].events & EPOLLERR)
			flags |= CURL_CSELECT_ERR;
		curl_multi_socket_action(h->multi, (curl_socket_t)evs[i].data.fd, flags, &running);
	}
}

/* The readiness watch failed (and stopped): every transfer in flight ends with -EIO. */
static void eh_watch_failed(struct eh *h, int err)
{
	char why[CURL_ERROR_SIZE];
	struct eh_req *r;

	h->rearm = true;
	snprintf(why, sizeof(why), "socket readiness watch failed: %s", strerror(-err));
	/* Requests made by the callbacks go to the head of the list: they are not visited. */
	for (r = h->reqs; r != NULL && !h->freeing; r = r->next) {
		if (r->dead)
			continue;
		r->dead = true;
		h->has_dead = true;
		r->done(r, -EIO, 0, NULL, 0, why, r->arg);
	}
}

/* Loop: the epoll set is readable (or the watch failed). */
static void eh_poll_cb(struct keel_poll *p, int revents, void *arg)
{
	struct eh *h = arg;
	int fp = KEEL_FAILPOINT("coord_eh_poll");

	(void)p;
	h->depth++;
	if (fp < 0) {
		keel_poll_stop(h->poll); /* as the loop does when a watch fails */
		revents = fp;
	}
	if (revents < 0) {
		eh_watch_failed(h, revents);
	} else {
		eh_run_ready(h);
		if (!h->freeing)
			eh_process(h);
	}
	eh_leave(h);
}

static void eh_timer_fire(struct keel_timer *t, void *arg)
{
	struct eh *h = arg;
	int running;

	(void)t;
	h->depth++;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	eh_process(h);
	eh_leave(h);
}

/* libcurl says what it wants of socket s: the epoll set follows. */
static int eh_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct eh *h = userp;
	struct epoll_event ev = {.data.fd = s};

	(void)easy;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		/* ENOENT/EBADF: never added, or already closed (which removed it). */
		(void)epoll_ctl(h->epfd, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev.events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev.events |= EPOLLOUT;
	if (epoll_ctl(h->epfd, EPOLL_CTL_MOD, s, &ev) == 0)
		return 0;
	if (errno == ENOENT && epoll_ctl(h->epfd, EPOLL_CTL_ADD, s, &ev) == 0)
		return 0;
	return -1;
}

static int eh_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct eh *h = userp;

	(void)multi;
	if (timeout_ms < 0) {
		keel_timer_stop(h->timer);
		return 0;
	}
	return keel_timer_start(h->timer, (uint64_t)timeout_ms, 0) == 0 ? 0 : -1;
}

static size_t eh_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct eh_req *r = arg;
	size_t n = size * nmemb;

	if (keel_buf_size(&r->in) + n > EH_MAX_BODY) {
		r->too_big = true;
		return 0;
	}
	if (keel_buf_append(&r->in, data, n) < 0)
		return 0;
	if (r->line != NULL && memchr(data, '\n', n) != NULL)
		r->lines = true;
	return n;
}

int eh_new(struct keel_loop *loop, struct eh **out)
{
	struct eh *h = keel_calloc(1, sizeof(*h));
	struct curl_slist *l;
	int rv = -ENOMEM;

	*out = NULL;
	if (h == NULL)
		return -ENOMEM;
	h->loop = loop;
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->epfd < 0) {
		rv = -errno;
		goto fail;
	}
	l = curl_slist_append(NULL, "Content-Type: application/json");
	h->headers = l != NULL ? curl_slist_append(l, "Expect:") : NULL;
	if (h->headers == NULL) {
		curl_slist_free_all(l);
		goto fail;
	}
	rv = keel_timer_new(loop, eh_timer_fire, h, &h->timer);
	if (rv == 0)
		rv = keel_poll_new(loop, h->epfd, eh_poll_cb, h, &h->poll);
	if (rv == 0)
		rv = keel_poll_start(h->poll, KEEL_POLL_IN);
	if (rv < 0)
		goto fail;
	h->multi = curl_multi_init();
	if (h->multi == NULL) {
		rv = -ENOMEM;
		goto fail;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, eh_socket_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, eh_timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	*out = h;
	return 0;

fail:
	eh_destroy(h);
	return rv;
}

void eh_free(struct eh *h)
{
	struct eh_req *r;

	if (h == NULL || h->freeing)
		return;
	h->freeing = true;
	for (r = h->reqs; r != NULL; r = r->next)
		r->dead = true;
	if (h->depth == 0)
		eh_reap(h);
}

int eh_post(struct eh *h, const char *url, const char *body, size_t len, long timeout_ms,
	    long connect_timeout_ms, eh_line_cb line, eh_done_cb done, void *arg,
	    struct eh_req **out)
{
	struct eh_req *r = keel_calloc(1, sizeof(*r));
	CURL *e;

	if (out != NULL)
		*out = NULL;
	if (r == NULL)
		return -ENOMEM;
	e = curl_easy_init();
	if (e == NULL) {
		keel_free(r);
		return -ENOMEM;
	}
	if (h->rearm && keel_poll_start(h->poll, KEEL_POLL_IN) == 0)
		h->rearm = false;
	r->h = h;
	r->easy = e;
	r->line = line;
	r->done = done;
	r->arg = arg;
	if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)len) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, eh_write_cb) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)(void *)r) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms) != CURLE_OK ||
	    curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		keel_free(r);
		return -ENOMEM;
	}
	r->next = h->reqs;
	h->reqs = r;
	if (out != NULL)
		*out = r;
	return 0;
}

void eh_cancel(struct eh_req *r)
{
	struct eh *h;

	if (r == NULL || r->dead)
		return;
	h = r->h;
	r->dead = true;
	h->has_dead = true;
	if (h->depth == 0)
		eh_reap(h);
}
