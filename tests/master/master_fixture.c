/* Test fixture for keel-master in process: a loop, masters, and a fake agent that answers pings.
 */
#include "master_fixture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "loop_util.h"
#include "runtime/pbjson.h"

static void fx_on_fatal(struct master *m, const char *why, void *arg)
{
	struct fx *f = arg;

	(void)m;
	f->fatal++;
	snprintf(f->fatal_why, sizeof(f->fatal_why), "%s", why);
}

static void fx_on_ping(struct keel_http_req *req, void *arg)
{
	struct fx *f = arg;
	Keel__Agent__Ping *p = NULL;
	Keel__Agent__Pong pong = KEEL__AGENT__PONG__INIT;
	uint8_t buf[512];
	size_t len;
	const char *body = keel_http_req_body(req, &len);

	if (keel_pbjson_unpack(&keel__agent__ping__descriptor, body, len, (ProtobufCMessage **)&p,
			       NULL) < 0) {
		keel_http_respond_text(req, 400, "bad ping");
		return;
	}
	f->pings++;
	if (f->expect_epoch != 0 && p->epoch != f->expect_epoch)
		f->pings_bad_epoch++;
	if (f->ping_mode == FX_FAIL) {
		keel_http_respond_text(req, 503, "partitioned");
	} else if (f->ping_mode == FX_STALL && f->n_stalled < KEEL_ARRAY_SIZE(f->stalled)) {
		f->stalled[f->n_stalled++] = req;
	} else if (f->ping_mode == FX_STALL) {
		keel_http_respond_text(req, 503, "partitioned");
	} else {
		pong.agent_id = p->agent_id;
		len = keel__agent__pong__get_packed_size(&pong);
		keel__agent__pong__pack(&pong, buf);
		keel_http_respond(req, 200, "application/x-protobuf", NULL, buf, len);
	}
	keel_pbjson_free(&p->base);
}

static void fx_on_shutdown(struct keel_http_req *req, void *arg)
{
	struct fx *f = arg;

	f->shutdowns++;
	keel_http_respond(req, 204, NULL, NULL, NULL, 0);
}

void fx_init(struct fx *f)
{
	char errmsg[KEEL_ERRMSG_SIZE];
	const char *base = getenv("KEEL_TEST_TMP");

	memset(f, 0, sizeof(*f));
	snprintf(f->tmp, sizeof(f->tmp), "%s/master-test.XXXXXX", base ? base : "/tmp");
	ASSERT_NOT_NULL(mkdtemp(f->tmp));
	if (keel_loop_new(&f->loop, NULL, errmsg) < 0)
		TH_SKIP(errmsg);
	ASSERT_OK(keel_http_server_new(f->loop, "127.0.0.1", 0, NULL, &f->agent, errmsg));
	f->agent_port = keel_http_server_port(f->agent);
	ASSERT_OK(keel_http_server_route(f->agent, KEEL_HTTP_POST, "/internal/master/ping",
					 fx_on_ping, f));
	ASSERT_OK(keel_http_server_route(f->agent, KEEL_HTTP_POST, "/internal/master/shutdown",
					 fx_on_shutdown, f));
}

void fx_fini(struct fx *f)
{
	char cmd[600];

	keel_http_server_free(f->agent);
	keel_loop_free(f->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->tmp);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->tmp);
}

void fx_config(struct fx *f, struct master_config *c, bool in_memory, const char *sub)
{
	static char ip[] = "127.0.0.1";
	static char work[8][600];
	static unsigned next;

	memset(c, 0, sizeof(*c));
	c->ip = ip;
	c->hostname = ip;
	c->quorum = 1;
	c->session_timeout_ms = 10000;
	c->in_memory = in_memory;
	c->fetch_timeout_ms = 20000;
	c->store_timeout_ms = 20000;
	c->ping_timeout_ms = 100;
	c->max_ping_timeouts = 3;
	c->reregister_timeout_ms = 600000;
	c->max_agent_age_ms = 14ull * 24 * 3600 * 1000;
	c->max_agent_count = 102400;
	c->log_auto_initialize = true;
	c->replog_tick_ms = 20;
	c->on_fatal = fx_on_fatal;
	c->fatal_arg = f;
	if (sub != NULL) {
		char *w = work[next++ % KEEL_ARRAY_SIZE(work)];
		snprintf(w, sizeof(work[0]), "%s/%s", f->tmp, sub);
		c->work_dir = w;
	}
}

struct master *fx_master(struct fx *f, const struct master_config *c)
{
	struct master *m = NULL;
	char errmsg[KEEL_ERRMSG_SIZE];
	int rv = master_new(f->loop, c, &m, errmsg);

	if (rv < 0)
		th_fail(__FILE__, __LINE__, "master_new: %s", errmsg);
	rv = master_start(m, errmsg);
	if (rv < 0)
		th_fail(__FILE__, __LINE__, "master_start: %s", errmsg);
	return m;
}

struct master *fx_leader_and_standby(struct fx *f, struct master **standby)
{
	struct master_config c1, c2;
	struct master *a, *b;
	char url[128];
	uint16_t pb = fx_free_port(); /* the second master's port, known before the first starts */

	fx_config(f, &c1, false, "a");
	a = fx_master(f, &c1); /* static://127.0.0.1:<its port>: leads */
	fx_wait_leading(f, a);
	snprintf(url, sizeof(url), "static://127.0.0.1:%u,127.0.0.1:%u", a->port, pb);
	fx_config(f, &c2, false, "b");
	c2.port = pb;
	c2.coord_url = url; /* copied by master_new */
	c2.coord_static = true;
	b = fx_master(f, &c2);
	ASSERT_TRUE(RUN_UNTIL(f->loop, b->leader.present, 5000));
	*standby = b;
	return a;
}

void fx_wait_leading(struct fx *f, struct master *m)
{
	ASSERT_TRUE(RUN_UNTIL(f->loop, m->state == MASTER_LEADING || f->fatal > 0, 10000));
	ASSERT_UINT_EQ(f->fatal, 0);
}

static void fx_on_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct fx_resp *r = arg;

	r->done = true;
	r->err = err;
	if (err < 0)
		return;
	r->status = resp->status;
	r->body_len = resp->body_len;
	memcpy(r->body, resp->body, KEEL_MIN(resp->body_len, sizeof(r->body) - 1));
	r->body[KEEL_MIN(resp->body_len, sizeof(r->body) - 1)] = '\0';
	for (size_t i = 0; i < resp->head->num_headers; i++) {
		const struct keel_http_header *h = &resp->head->headers[i];
		if (h->name_len == 8 && strncasecmp(h->name, "location", 8) == 0)
			snprintf(r->location, sizeof(r->location), "%.*s", (int)h->value_len,
				 h->value);
	}
}

struct keel_http_client *fx_post_async(struct fx *f, uint16_t port, const char *method,
				       const char *path, const void *body, size_t len,
				       struct fx_resp *out)
{
	static const struct keel_http_client_cbs cbs = {.on_done = fx_on_done};
	struct keel_http_client *c;
	char errmsg[KEEL_ERRMSG_SIZE];

	memset(out, 0, sizeof(*out));
	ASSERT_OK(keel_http_client_new(f->loop, "127.0.0.1", port, NULL, &c, errmsg));
	ASSERT_OK(keel_http_client_request(
	    c, method, path, NULL, body ? "application/x-protobuf" : NULL, body, len, &cbs, out));
	return c;
}

void fx_post(struct fx *f, uint16_t port, const char *method, const char *path, const void *body,
	     size_t len, struct fx_resp *out)
{
	struct keel_http_client *c = fx_post_async(f, port, method, path, body, len, out);

	ASSERT_TRUE(RUN_UNTIL(f->loop, out->done, 10000));
	keel_http_client_free(c);
	ASSERT_INT_EQ(out->err, 0);
}

/* Fills the parts of a (re)registration the fake agent always sends. */
static void fx_agent_parts(struct fx *f, Mesos__V1__AgentInfo *info, Mesos__V1__Address *addr)
{
	static char host[] = "fake-agent", ip[] = "127.0.0.1";

	mesos__v1__agent_info__init(info);
	mesos__v1__address__init(addr);
	info->hostname = host;
	addr->hostname = host;
	addr->ip = ip;
	addr->port = f->agent_port;
}

size_t fx_pack_register(struct fx *f, const char *key, uint8_t *buf, size_t size)
{
	Keel__Agent__RegisterAgent m = KEEL__AGENT__REGISTER_AGENT__INIT;
	Mesos__V1__AgentInfo info;
	Mesos__V1__Address addr;
	size_t len;

	fx_agent_parts(f, &info, &addr);
	m.info = &info;
	m.address = &addr;
	m.key = (char *)key;
	len = keel__agent__register_agent__get_packed_size(&m);
	ASSERT_UINT_LE(len, size);
	keel__agent__register_agent__pack(&m, buf);
	return len;
}

void fx_register(struct fx *f, uint16_t port, const char *key, struct fx_resp *out)
{
	uint8_t buf[1024];
	size_t len = fx_pack_register(f, key, buf, sizeof(buf));

	fx_post(f, port, "POST", "/internal/agent/register", buf, len, out);
}

void fx_reregister(struct fx *f, uint16_t port, const char *id, const char *key,
		   struct fx_resp *out)
{
	Keel__Agent__ReregisterAgent m = KEEL__AGENT__REREGISTER_AGENT__INIT;
	Mesos__V1__AgentInfo info;
	Mesos__V1__Address addr;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	uint8_t buf[1024];
	size_t len;

	fx_agent_parts(f, &info, &addr);
	aid.value = (char *)id;
	info.id = &aid;
	m.info = &info;
	m.address = &addr;
	m.key = (char *)key;
	len = keel__agent__reregister_agent__get_packed_size(&m);
	ASSERT_UINT_LE(len, sizeof(buf));
	keel__agent__reregister_agent__pack(&m, buf);
	fx_post(f, port, "POST", "/internal/agent/reregister", buf, len, out);
}

Keel__Agent__AgentRegistered *fx_registered(const struct fx_resp *r)
{
	Keel__Agent__AgentRegistered *ok = NULL;

	ASSERT_INT_EQ(r->status, 200);
	ASSERT_UINT_LT(r->body_len, sizeof(r->body));
	ASSERT_OK(keel_pbjson_unpack(&keel__agent__agent_registered__descriptor, r->body,
				     r->body_len, (ProtobufCMessage **)&ok, NULL));
	return ok;
}

uint16_t fx_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ASSERT_INT_GE(fd, 0);
	ASSERT_OK(bind(fd, (struct sockaddr *)&a, sizeof(a)));
	ASSERT_OK(getsockname(fd, (struct sockaddr *)&a, &len));
	close(fd);
	return ntohs(a.sin_port);
}
