/* Helpers for the operator endpoint tests: HTTP calls with any headers, agents with resources. */
#include "test_http_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness.h"
#include "loop_util.h"
#include "master/registrar.h"
#include "runtime/pbjson.h"

void hresp_free(struct hresp *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static void copy_header(const struct keel_http_head *h, const char *name, char *out, size_t size)
{
	size_t len;
	const char *v = keel_http_header_get(h, name, &len);

	snprintf(out, size, "%.*s", v ? (int)len : 0, v ? v : "");
}

static void hresp_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct hresp *r = arg;

	r->done = true;
	r->err = err;
	if (err < 0)
		return;
	r->status = resp->status;
	r->len = resp->body_len;
	r->body = malloc(resp->body_len + 1);
	ASSERT_NOT_NULL(r->body);
	if (resp->body_len > 0)
		memcpy(r->body, resp->body, resp->body_len);
	r->body[resp->body_len] = '\0';
	copy_header(resp->head, "Content-Type", r->ctype, sizeof(r->ctype));
	copy_header(resp->head, "Location", r->location, sizeof(r->location));
	copy_header(resp->head, "Allow", r->allow, sizeof(r->allow));
}

struct keel_http_client *hcall_async(struct fx *f, uint16_t port, const char *method,
				     const char *path, const char *ctype, const char *accept,
				     const void *body, size_t len, struct hresp *out)
{
	static const struct keel_http_client_cbs cbs = {.on_done = hresp_done};
	const char *headers[] = {"Accept", accept, NULL};
	struct keel_http_client_config cc = {.request_timeout = 60000, .max_body = 512u << 20};
	struct keel_http_client *c;
	char errmsg[KEEL_ERRMSG_SIZE];

	free(out->body);
	memset(out, 0, sizeof(*out));
	/* Timeouts count from the loop's clock, stale after long work outside the loop. */
	keel_loop_run_once(f->loop, 0);
	ASSERT_OK(keel_http_client_new(f->loop, "127.0.0.1", port, &cc, &c, errmsg));
	ASSERT_OK(keel_http_client_request(c, method, path, accept ? headers : NULL, ctype, body,
					   len, &cbs, out));
	return c;
}

void hcall(struct fx *f, uint16_t port, const char *method, const char *path, const char *ctype,
	   const char *accept, const void *body, size_t len, struct hresp *out)
{
	struct keel_http_client *c =
	    hcall_async(f, port, method, path, ctype, accept, body, len, out);

	ASSERT_TRUE(RUN_UNTIL(f->loop, out->done, 20000));
	keel_http_client_free(c);
	ASSERT_INT_EQ(out->err, 0);
}

json_t *hjson(const struct hresp *r)
{
	json_error_t jerr;
	json_t *j;

	if (r->status != 200)
		th_fail(__FILE__, __LINE__, "status %d: %s", r->status, r->body ? r->body : "");
	ASSERT_STR_EQ(r->ctype, "application/json");
	j = json_loadb(r->body, r->len, 0, &jerr);
	if (j == NULL)
		th_fail(__FILE__, __LINE__, "not JSON (%s): %.200s", jerr.text, r->body);
	return j;
}

json_t *hget_json(struct fx *f, uint16_t port, const char *path)
{
	struct hresp r = {0};
	json_t *j;

	hcall(f, port, "GET", path, NULL, NULL, NULL, 0, &r);
	j = hjson(&r);
	hresp_free(&r);
	return j;
}

void api_json(struct fx *f, uint16_t port, const char *json, struct hresp *out)
{
	hcall(f, port, "POST", "/api/v1", "application/json", "application/json", json,
	      strlen(json), out);
}

void api_pb(struct fx *f, uint16_t port, const Mesos__V1__Master__Call *call, struct hresp *out)
{
	size_t len = mesos__v1__master__call__get_packed_size(call);
	uint8_t *buf = malloc(len + 1);

	ASSERT_NOT_NULL(buf);
	mesos__v1__master__call__pack(call, buf);
	hcall(f, port, "POST", "/api/v1", "application/x-protobuf", "application/x-protobuf", buf,
	      len, out);
	free(buf);
}

Mesos__V1__Master__Response *hpb(const struct hresp *r)
{
	ProtobufCMessage *m = NULL;
	char errmsg[KEEL_ERRMSG_SIZE];

	if (r->status != 200)
		th_fail(__FILE__, __LINE__, "status %d: %s", r->status, r->body ? r->body : "");
	ASSERT_STR_EQ(r->ctype, "application/x-protobuf");
	if (keel_pbjson_unpack(&mesos__v1__master__response__descriptor, r->body, r->len, &m,
			       errmsg) < 0)
		th_fail(__FILE__, __LINE__, "not a Response: %s", errmsg);
	return (Mesos__V1__Master__Response *)m;
}

/* A scalar, ranges or reserved resource. */
static void scalar(Mesos__V1__Resource *r, Mesos__V1__Value__Scalar *s, const char *name, double v)
{
	mesos__v1__resource__init(r);
	mesos__v1__value__scalar__init(s);
	r->name = (char *)name;
	r->type = MESOS__V1__VALUE__TYPE__SCALAR;
	s->value = v;
	r->scalar = s;
}

Mesos__V1__AgentInfo *rich_agent_info(const char *host)
{
	Mesos__V1__AgentInfo info = MESOS__V1__AGENT_INFO__INIT;
	Mesos__V1__Resource res[6], *resp[6];
	Mesos__V1__Value__Scalar sc[5];
	Mesos__V1__Value__Range range = MESOS__V1__VALUE__RANGE__INIT;
	Mesos__V1__Value__Range *rangep = &range;
	Mesos__V1__Value__Ranges ranges = MESOS__V1__VALUE__RANGES__INIT;
	Mesos__V1__Resource__RevocableInfo rev = MESOS__V1__RESOURCE__REVOCABLE_INFO__INIT;
	Mesos__V1__Resource__ReservationInfo resv = MESOS__V1__RESOURCE__RESERVATION_INFO__INIT;
	Mesos__V1__Resource__ReservationInfo *resvp = &resv;
	Mesos__V1__Attribute attrs[3], *attrp[3];
	Mesos__V1__Value__Text text = MESOS__V1__VALUE__TEXT__INIT;
	Mesos__V1__Value__Scalar zone = MESOS__V1__VALUE__SCALAR__INIT;
	Mesos__V1__Value__Set set = MESOS__V1__VALUE__SET__INIT;
	char *items[] = {"a", "b"};
	ProtobufCMessage *out = NULL;
	uint8_t buf[2048];
	size_t len;

	info.hostname = (char *)host;
	info.has_port = 1;
	info.port = 5051;
	scalar(&res[0], &sc[0], "cpus", 4);
	scalar(&res[1], &sc[1], "mem", 1024);
	scalar(&res[2], &sc[2], "disk", 100);
	mesos__v1__resource__init(&res[3]);
	res[3].name = "ports";
	res[3].type = MESOS__V1__VALUE__TYPE__RANGES;
	range.begin = 31000;
	range.end = 32000;
	ranges.n_range = 1;
	ranges.range = &rangep;
	res[3].ranges = &ranges;
	scalar(&res[4], &sc[3], "cpus", 2);
	res[4].revocable = &rev;
	scalar(&res[5], &sc[4], "mem", 512);
	resv.has_type = 1;
	resv.type = MESOS__V1__RESOURCE__RESERVATION_INFO__TYPE__STATIC;
	resv.role = "web";
	res[5].n_reservations = 1;
	res[5].reservations = &resvp;
	for (int i = 0; i < 6; i++)
		resp[i] = &res[i];
	info.n_resources = 6;
	info.resources = resp;

	for (int i = 0; i < 3; i++) {
		mesos__v1__attribute__init(&attrs[i]);
		attrp[i] = &attrs[i];
	}
	attrs[0].name = "rack";
	attrs[0].type = MESOS__V1__VALUE__TYPE__TEXT;
	text.value = "r1";
	attrs[0].text = &text;
	attrs[1].name = "zone";
	attrs[1].type = MESOS__V1__VALUE__TYPE__SCALAR;
	zone.value = 3;
	attrs[1].scalar = &zone;
	attrs[2].name = "ids";
	attrs[2].type = MESOS__V1__VALUE__TYPE__SET;
	set.n_item = 2;
	set.item = items;
	attrs[2].set = &set;
	info.n_attributes = 3;
	info.attributes = attrp;

	len = mesos__v1__agent_info__get_packed_size(&info);
	ASSERT_UINT_LE(len, sizeof(buf));
	mesos__v1__agent_info__pack(&info, buf);
	ASSERT_OK(keel_pbjson_unpack(&mesos__v1__agent_info__descriptor, buf, len, &out, NULL));
	return (Mesos__V1__AgentInfo *)out;
}

char *register_rich_agent(struct fx *f, struct master *m, const char *host)
{
	Mesos__V1__AgentInfo *info = rich_agent_info(host);
	char *id = register_agent_info(f, m, host, info);

	keel_pbjson_free(&info->base);
	return id;
}

char *register_agent_info(struct fx *f, struct master *m, const char *host,
			  const Mesos__V1__AgentInfo *info)
{
	Keel__Agent__RegisterAgent msg = KEEL__AGENT__REGISTER_AGENT__INIT;
	Mesos__V1__Address addr = MESOS__V1__ADDRESS__INIT;
	Keel__Agent__AgentRegistered *ok = NULL;
	struct hresp r = {0};
	uint8_t buf[4096];
	size_t len;
	char *id;

	addr.hostname = (char *)host;
	addr.ip = "127.0.0.1";
	addr.port = f->agent_port;
	msg.info = (Mesos__V1__AgentInfo *)info;
	msg.address = &addr;
	msg.key = (char *)host;
	msg.version = "9.9.9";
	len = keel__agent__register_agent__get_packed_size(&msg);
	ASSERT_UINT_LE(len, sizeof(buf));
	keel__agent__register_agent__pack(&msg, buf);
	hcall(f, m->port, "POST", "/internal/agent/register", "application/x-protobuf", NULL, buf,
	      len, &r);
	ASSERT_INT_EQ(r.status, 200);
	ASSERT_OK(keel_pbjson_unpack(&keel__agent__agent_registered__descriptor, r.body, r.len,
				     (ProtobufCMessage **)&ok, NULL));
	id = strdup(ok->agent_id->value);
	ASSERT_NOT_NULL(id);
	keel_pbjson_free(&ok->base);
	hresp_free(&r);
	return id;
}

double metric(json_t *snap, const char *name)
{
	json_t *v = json_object_get(snap, name);

	if (v == NULL || !json_is_number(v))
		th_fail(__FILE__, __LINE__, "metric %s missing", name);
	return json_number_value(v);
}

json_t *hjson_at(json_t *j, const char *path)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k != NULL && j != NULL;
	     k = strtok_r(NULL, ".", &save))
		j = json_is_array(j) ? json_array_get(j, (size_t)atoi(k)) : json_object_get(j, k);
	if (j == NULL)
		th_fail(__FILE__, __LINE__, "%s: missing", path);
	return j;
}

const char *hjson_str(json_t *j, const char *path)
{
	json_t *v = hjson_at(j, path);

	if (!json_is_string(v))
		th_fail(__FILE__, __LINE__, "%s: not a string", path);
	return json_string_value(v);
}

double hjson_num(json_t *j, const char *path)
{
	json_t *v = hjson_at(j, path);

	if (!json_is_number(v))
		th_fail(__FILE__, __LINE__, "%s: not a number", path);
	return json_number_value(v);
}

uint64_t hreg_stat(struct master *m, bool queued)
{
	struct registrar_stats st;

	registrar_get_stats(m->registrar, &st);
	return queued ? st.queued : st.operations;
}
