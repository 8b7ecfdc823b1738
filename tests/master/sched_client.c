/* A test scheduler on the runtime HTTP client: SUBSCRIBE streams decoded into events, calls. */
#include "sched_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "loop_util.h"
#include "runtime/buf.h"
#include "runtime/http_client.h"
#include "runtime/pbjson.h"
#include "test_http_util.h"

static void copy_header(const struct keel_http_head *h, const char *name, char *out, size_t size)
{
	size_t len;
	const char *v = keel_http_header_get(h, name, &len);

	snprintf(out, size, "%.*s", v ? (int)len : 0, v ? v : "");
}

static int on_record(void *arg, const char *rec, size_t len)
{
	struct sc_stream *s = arg;
	ProtobufCMessage *msg = NULL;
	int rv;

	if (s->protobuf)
		rv = keel_pbjson_unpack(&mesos__v1__scheduler__event__descriptor, rec, len, &msg,
					NULL);
	else
		rv = keel_pbjson_read(&mesos__v1__scheduler__event__descriptor, rec, len, &msg,
				      NULL);
	if (rv < 0) {
		s->decode_err = rv;
		return 0;
	}
	if (s->n == s->cap) {
		/* Every event is kept: a test that misses one would wait for it in vain. */
		s->cap = s->cap ? 2 * s->cap : 256;
		s->ev = realloc(s->ev, s->cap * sizeof(*s->ev));
		ASSERT_NOT_NULL(s->ev);
	}
	s->ev[s->n++] = (Mesos__V1__Scheduler__Event *)msg;
	const Mesos__V1__Scheduler__Event *ev = (const Mesos__V1__Scheduler__Event *)msg;
	if (ev->type == MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED && ev->subscribed != NULL)
		snprintf(s->framework_id, sizeof(s->framework_id), "%s",
			 ev->subscribed->framework_id->value);
	return 0;
}

static void on_head(const struct keel_http_response *resp, void *arg)
{
	struct sc_stream *s = arg;

	s->head = true;
	s->status = resp->status;
	copy_header(resp->head, "Mesos-Stream-Id", s->stream_id, sizeof(s->stream_id));
	copy_header(resp->head, "Content-Type", s->ctype, sizeof(s->ctype));
}

static void on_data(const char *data, size_t len, void *arg)
{
	struct sc_stream *s = arg;

	if (s->status == 200) {
		int rv = keel_recordio_feed(&s->dec, data, len, on_record, s);
		if (rv < 0)
			s->decode_err = rv;
	} else {
		size_t have = strlen(s->error_body);
		snprintf(s->error_body + have, sizeof(s->error_body) - have, "%.*s", (int)len,
			 data);
	}
}

static void on_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct sc_stream *s = arg;

	s->done = true;
	s->err = err;
	if (resp != NULL && !s->head) {
		s->head = true;
		s->status = resp->status;
	}
}

/* The body of a call in the right encoding, from its JSON text. */
static void encode(const ProtobufCMessageDescriptor *d, const char *json, bool protobuf,
		   struct keel_buf *out)
{
	ProtobufCMessage *msg = NULL;
	char errmsg[KEEL_ERRMSG_SIZE];

	if (!protobuf) {
		ASSERT_OK(keel_buf_puts(out, json));
		return;
	}
	if (keel_pbjson_read(d, json, strlen(json), &msg, errmsg) < 0) {
		fprintf(stderr, "bad test call %s: %s\n", json, errmsg);
		ASSERT_TRUE(false);
	}
	size_t n = protobuf_c_message_get_packed_size(msg);
	ASSERT_OK(keel_buf_reserve(out, n + 1));
	protobuf_c_message_pack(msg, (uint8_t *)keel_buf_wptr(out));
	keel_buf_commit(out, n);
	keel_pbjson_free(msg);
}

void sc_subscribe(struct fx *f, uint16_t port, const char *info_json, bool protobuf,
		  struct sc_stream *s)
{
	static const struct keel_http_client_cbs cbs = {
	    .on_head = on_head, .on_data = on_data, .on_done = on_done};
	struct keel_http_client_config cc = {.request_timeout = 60000};
	const char *ctype = protobuf ? "application/x-protobuf" : "application/json";
	const char *headers[] = {"Accept", ctype, NULL};
	char errmsg[KEEL_ERRMSG_SIZE];
	struct keel_buf json = KEEL_BUF_INIT, body = KEEL_BUF_INIT;
	const char *id = strstr(info_json, "\"id\"");

	memset(s, 0, sizeof(*s));
	s->protobuf = protobuf;
	keel_recordio_decoder_init(&s->dec, 16u << 20);
	if (id != NULL) {
		/* framework_id must equal framework_info.id: copy the {"value": ...} object. */
		const char *obj = strchr(id, '{'), *end = obj ? strchr(obj, '}') : NULL;
		ASSERT_NOT_NULL(end);
		ASSERT_OK(keel_buf_printf(&json,
					  "{\"type\":\"SUBSCRIBE\",\"framework_id\":%.*s,"
					  "\"subscribe\":{\"framework_info\":%s}}",
					  (int)(end - obj + 1), obj, info_json));
	} else {
		ASSERT_OK(keel_buf_printf(
		    &json, "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":%s}}",
		    info_json));
	}
	ASSERT_OK(keel_buf_putc(&json, '\0'));
	encode(&mesos__v1__scheduler__call__descriptor, keel_buf_rptr(&json), protobuf, &body);
	keel_loop_run_once(f->loop, 0);
	ASSERT_OK(keel_http_client_new(f->loop, "127.0.0.1", port, &cc, &s->client, errmsg));
	ASSERT_OK(keel_http_client_request(s->client, "POST", "/api/v1/scheduler", headers, ctype,
					   keel_buf_rptr(&body), keel_buf_size(&body), &cbs, s));
	keel_buf_free(&json);
	keel_buf_free(&body);
}

void sc_wait_subscribed(struct fx *f, struct sc_stream *s)
{
	ASSERT_TRUE(RUN_UNTIL(f->loop, s->framework_id[0] != '\0' || s->done, 10000));
	if (s->status != 200)
		fprintf(stderr, "SUBSCRIBE answered %d: %s\n", s->status, s->error_body);
	ASSERT_INT_EQ(s->status, 200);
	ASSERT_TRUE(s->framework_id[0] != '\0');
}

size_t sc_count(const struct sc_stream *s, Mesos__V1__Scheduler__Event__Type type)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		n += s->ev[i]->type == type;
	return n;
}

const Mesos__V1__Scheduler__Event *sc_last(const struct sc_stream *s,
					   Mesos__V1__Scheduler__Event__Type type)
{
	for (size_t i = s->n; i > 0; i--)
		if (s->ev[i - 1]->type == type)
			return s->ev[i - 1];
	return NULL;
}

const Mesos__V1__TaskStatus *sc_update_of(const struct sc_stream *s, const char *task_id)
{
	for (size_t i = s->n; i > 0; i--) {
		const Mesos__V1__Scheduler__Event *ev = s->ev[i - 1];
		if (ev->type == MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE &&
		    strcmp(ev->update->status->task_id->value, task_id) == 0)
			return ev->update->status;
	}
	return NULL;
}

void sc_call_expect(struct fx *f, uint16_t port, struct sc_stream *s, const char *call_json,
		    int expect)
{
	struct hresp r = {0};

	sc_call(f, port, s, call_json, &r);
	if (r.status != expect)
		fprintf(stderr, "call %s: %d %s\n", call_json, r.status, r.body);
	ASSERT_INT_EQ(r.status, expect);
	hresp_free(&r);
}

const Mesos__V1__Offer *sc_newest_offer(const struct sc_stream *s)
{
	const Mesos__V1__Scheduler__Event *ev =
	    sc_last(s, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS);

	ASSERT_NOT_NULL(ev);
	return ev->offers->offers[ev->offers->n_offers - 1];
}

void sc_close(struct sc_stream *s)
{
	keel_http_client_free(s->client);
	s->client = NULL;
	for (size_t i = 0; i < s->n; i++)
		keel_pbjson_free(&s->ev[i]->base);
	free(s->ev);
	s->ev = NULL;
	s->n = s->cap = 0;
	keel_recordio_decoder_free(&s->dec);
}

static void call_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct hresp *r = arg;

	r->done = true;
	r->err = err;
	if (err != 0)
		return;
	r->status = resp->status;
	r->len = resp->body_len;
	r->body = malloc(resp->body_len + 1);
	ASSERT_NOT_NULL(r->body);
	if (resp->body_len)
		memcpy(r->body, resp->body, resp->body_len);
	r->body[resp->body_len] = '\0';
	copy_header(resp->head, "Content-Type", r->ctype, sizeof(r->ctype));
	copy_header(resp->head, "Location", r->location, sizeof(r->location));
}

void sc_raw(struct fx *f, uint16_t port, const char *method, const char *path, const char *ctype,
	    const char *accept, const char *stream_id, const void *body, size_t len,
	    struct hresp *out)
{
	static const struct keel_http_client_cbs cbs = {.on_done = call_done};
	struct keel_http_client_config cc = {.request_timeout = 60000};
	const char *headers[5];
	struct keel_http_client *c;
	char errmsg[KEEL_ERRMSG_SIZE];
	size_t n = 0;

	if (accept != NULL) {
		headers[n++] = "Accept";
		headers[n++] = accept;
	}
	if (stream_id != NULL) {
		headers[n++] = "Mesos-Stream-Id";
		headers[n++] = stream_id;
	}
	headers[n] = NULL;
	free(out->body);
	memset(out, 0, sizeof(*out));
	keel_loop_run_once(f->loop, 0);
	ASSERT_OK(keel_http_client_new(f->loop, "127.0.0.1", port, &cc, &c, errmsg));
	ASSERT_OK(keel_http_client_request(c, method, path, n ? headers : NULL, ctype, body, len,
					   &cbs, out));
	ASSERT_TRUE(RUN_UNTIL(f->loop, out->done, 20000));
	keel_http_client_free(c);
	ASSERT_INT_EQ(out->err, 0);
}

void sc_call(struct fx *f, uint16_t port, struct sc_stream *s, const char *call_json,
	     struct hresp *out)
{
	bool protobuf = s != NULL && s->protobuf;
	struct keel_buf body = KEEL_BUF_INIT;

	encode(&mesos__v1__scheduler__call__descriptor, call_json, protobuf, &body);
	sc_raw(f, port, "POST", "/api/v1/scheduler",
	       protobuf ? "application/x-protobuf" : "application/json", NULL,
	       s && s->stream_id[0] ? s->stream_id : NULL, keel_buf_rptr(&body),
	       keel_buf_size(&body), out);
	keel_buf_free(&body);
}

/* Reads what the socket has into b; true once the peer closed or an error came. */
static bool drain(int fd, struct keel_buf *b)
{
	char tmp[4096];

	for (;;) {
		ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (n > 0) {
			ASSERT_OK(keel_buf_append(b, tmp, (size_t)n));
			continue;
		}
		return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
	}
}

/* Whether b holds a whole response (head, and Content-Length bytes of body). */
static bool response_whole(const struct keel_buf *b, size_t *head_len, size_t *body_len)
{
	const char *d, *end, *cl;
	size_t n = keel_buf_size(b);

	if (n == 0)
		return false;
	d = keel_buf_rptr(b);
	end = memmem(d, n, "\r\n\r\n", 4);
	if (end == NULL)
		return false;
	*head_len = (size_t)(end - d) + 4;
	cl = memmem(d, *head_len, "Content-Length:", 15);
	if (cl == NULL)
		cl = memmem(d, *head_len, "content-length:", 15);
	*body_len = cl ? strtoul(cl + 15, NULL, 10) : 0;
	return n >= *head_len + *body_len;
}

void sc_call_chunked(struct fx *f, uint16_t port, struct sc_stream *s, const char *call_json,
		     struct hresp *out)
{
	bool protobuf = s != NULL && s->protobuf;
	struct keel_buf body = KEEL_BUF_INIT, req = KEEL_BUF_INIT, in = KEEL_BUF_INIT;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	size_t half, head_len = 0, body_len = 0, off = 0;
	char line[256];
	int fd;

	encode(&mesos__v1__scheduler__call__descriptor, call_json, protobuf, &body);
	half = keel_buf_size(&body) / 2;
	snprintf(line, sizeof(line),
		 "POST /api/v1/scheduler HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\n"
		 "Transfer-Encoding: chunked\r\n",
		 protobuf ? "application/x-protobuf" : "application/json");
	ASSERT_OK(keel_buf_append(&req, line, strlen(line)));
	if (s != NULL && s->stream_id[0] != '\0') {
		snprintf(line, sizeof(line), "Mesos-Stream-Id: %s\r\n", s->stream_id);
		ASSERT_OK(keel_buf_append(&req, line, strlen(line)));
	}
	/* The body in two chunks, then the last (empty) chunk. */
	snprintf(line, sizeof(line), "\r\n%zx\r\n", half);
	ASSERT_OK(keel_buf_append(&req, line, strlen(line)));
	ASSERT_OK(keel_buf_append(&req, keel_buf_rptr(&body), half));
	snprintf(line, sizeof(line), "\r\n%zx\r\n", keel_buf_size(&body) - half);
	ASSERT_OK(keel_buf_append(&req, line, strlen(line)));
	ASSERT_OK(keel_buf_append(&req, keel_buf_rptr(&body) + half, keel_buf_size(&body) - half));
	ASSERT_OK(keel_buf_append(&req, "\r\n0\r\n\r\n", 7));

	free(out->body);
	memset(out, 0, sizeof(*out));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ASSERT_INT_GE(fd, 0);
	ASSERT_TRUE(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
	/* Send as the socket takes it while the master's loop runs. */
	ASSERT_TRUE(RUN_UNTIL(f->loop, ({
				      ssize_t w = send(fd, keel_buf_rptr(&req) + off,
						       keel_buf_size(&req) - off,
						       MSG_NOSIGNAL | MSG_DONTWAIT);
				      if (w > 0)
					      off += (size_t)w;
				      off == keel_buf_size(&req);
			      }),
			      20000));
	ASSERT_TRUE(
	    RUN_UNTIL(f->loop, drain(fd, &in) || response_whole(&in, &head_len, &body_len), 20000));
	ASSERT_TRUE(response_whole(&in, &head_len, &body_len));
	close(fd);
	{
		char first[16] = "";
		memcpy(first, keel_buf_rptr(&in), head_len < 15 ? head_len : 15);
		ASSERT_INT_EQ(sscanf(first, "HTTP/1.1 %d", &out->status), 1);
	}
	out->body = malloc(body_len + 1);
	ASSERT_NOT_NULL(out->body);
	memcpy(out->body, keel_buf_rptr(&in) + head_len, body_len);
	out->body[body_len] = '\0';
	out->len = body_len;
	out->done = true;
	keel_buf_free(&in);
	keel_buf_free(&req);
	keel_buf_free(&body);
}
