/* Unit tests for proto/ (Mesos v1 field numbers), base64 and the protobuf <-> JSON codec. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "proto/keel/test/pbjson_test.pb-c.h"
#include "proto/keel/test/pbjson_test3.pb-c.h"
#include "proto/mesos/v1/mesos.pb-c.h"
#include "proto/mesos/v1/scheduler.pb-c.h"
#include "runtime/alloc.h"
#include "runtime/base64.h"
#include "runtime/buf.h"
#include "runtime/err.h"
#include "runtime/pbjson.h"

/* ---- helpers ---------------------------------------------------------------------------- */

/* Writes m as JSON; the test fails on error. Caller frees. */
static char *to_json(const void *m)
{
	struct keel_buf b = KEEL_BUF_INIT;
	char msg[KEEL_ERRMSG_SIZE] = "";
	int rv = keel_pbjson_write(&b, m, msg);

	if (rv != 0)
		th_fail(__FILE__, __LINE__, "keel_pbjson_write: %d (%s)", rv, msg);
	return keel_buf_steal(&b, NULL);
}

/* Reads json as d; the test fails on error. Free with keel_pbjson_free. */
static void *from_json(const ProtobufCMessageDescriptor *d, const char *json)
{
	char msg[KEEL_ERRMSG_SIZE] = "";
	ProtobufCMessage *m = NULL;
	int rv = keel_pbjson_read(d, json, strlen(json), &m, msg);

	if (rv != 0)
		th_fail(__FILE__, __LINE__, "keel_pbjson_read(%s): %d (%s)", json, rv, msg);
	return m;
}

/* Reading json as d fails with -EINVAL and a message containing `want`. */
#define READ_FAILS(d, json, want)                                                                  \
	do {                                                                                       \
		char rf_msg[KEEL_ERRMSG_SIZE] = "";                                                \
		ProtobufCMessage *rf_m = (ProtobufCMessage *)1;                                    \
		const char *rf_json = (json);                                                      \
		TH_CONTEXT("%s", rf_json);                                                         \
		ASSERT_INT_EQ(keel_pbjson_read((d), rf_json, strlen(rf_json), &rf_m, rf_msg),      \
			      -EINVAL);                                                            \
		ASSERT_NULL(rf_m);                                                                 \
		ASSERT_STR_CONTAINS(rf_msg, (want));                                               \
		TH_CONTEXT(NULL);                                                                  \
	} while (0)

/* Writing m gives exactly `want`. */
#define WRITES(m, want)                                                                            \
	do {                                                                                       \
		char *w_s = to_json(m);                                                            \
		ASSERT_STR_EQ(w_s, (want));                                                        \
		free(w_s);                                                                         \
	} while (0)

/* JSON text -> message -> JSON text is the identity on `json` (which must be canonical). */
#define ROUND_TRIPS(d, json)                                                                       \
	do {                                                                                       \
		ProtobufCMessage *rt_m = from_json((d), (json));                                   \
		char *rt_s = to_json(rt_m);                                                        \
		ASSERT_STR_EQ(rt_s, (json));                                                       \
		free(rt_s);                                                                        \
		keel_pbjson_free(rt_m);                                                            \
	} while (0)

#define CALL_D (&mesos__v1__scheduler__call__descriptor)
#define EVENT_D (&mesos__v1__scheduler__event__descriptor)
#define SCALARS_D (&keel__test__scalars__descriptor)
#define MAPS_D (&keel__test__maps__descriptor)
#define ONEOFS_D (&keel__test__oneofs__descriptor)
#define NEST_D (&keel__test__nest__descriptor)

/* ---- proto/: generated code links and field numbers match Mesos ---------------------------- */

TEST(proto_framework_info_tags)
{
	Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
	Mesos__V1__FrameworkID id = MESOS__V1__FRAMEWORK_ID__INIT;
	char *roles[] = {"r"};
	uint8_t out[64];
	/* field 1 user, 2 name, 3 id{1 value}, 4 failover_timeout (fixed64), 5 checkpoint, 12 roles
	 */
	static const uint8_t want[] = {0x0a, 1,	   'u',	 0x12, 1,    'n', 0x1a, 3, 0x0a,
				       1,    'x',  0x21, 0,    0,    0,	  0,	0, 0,
				       0xf0, 0x3f, 0x28, 1,    0x62, 1,	  'r'};

	fi.user = "u";
	fi.name = "n";
	id.value = "x";
	fi.id = &id;
	fi.has_failover_timeout = 1;
	fi.failover_timeout = 1.0;
	fi.has_checkpoint = 1;
	fi.checkpoint = 1;
	fi.n_roles = 1;
	fi.roles = roles;
	ASSERT_UINT_EQ(protobuf_c_message_get_packed_size(&fi.base), sizeof(want));
	ASSERT_UINT_EQ(protobuf_c_message_pack(&fi.base, out), sizeof(want));
	ASSERT_MEM_EQ(out, want, sizeof(want));
}

TEST(proto_scheduler_tags)
{
	Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Acknowledge ack = MESOS__V1__SCHEDULER__CALL__ACKNOWLEDGE__INIT;
	Mesos__V1__AgentID agent = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__TaskID task = MESOS__V1__TASK_ID__INIT;
	uint8_t out[64];
	/* Call: 2 type = ACKNOWLEDGE (8), 8 acknowledge {1 agent_id, 2 task_id, 3 uuid} */
	static const uint8_t want[] = {0x10, 8, 0x42, 13, 0x0a, 3,    0x0a, 1,	 'a',
				       0x12, 3, 0x0a, 1,  't',	0x1a, 1,    0xee};

	agent.value = "a";
	task.value = "t";
	ack.agent_id = &agent;
	ack.task_id = &task;
	ack.uuid.len = 1;
	ack.uuid.data = (uint8_t[]){0xee};
	call.has_type = 1;
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE;
	call.acknowledge = &ack;
	ASSERT_UINT_EQ(protobuf_c_message_pack(&call.base, out), sizeof(want));
	ASSERT_MEM_EQ(out, want, sizeof(want));

	/* Enum numbers that clients see on the wire. */
	ASSERT_INT_EQ(MESOS__V1__SCHEDULER__CALL__TYPE__UPDATE_FRAMEWORK, 17);
	ASSERT_INT_EQ(MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE_OPERATION_STATUS, 11);
	ASSERT_INT_EQ(MESOS__V1__TASK_STATE__TASK_STAGING, 6);
	ASSERT_INT_EQ(MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_DRAINING, 34);
	ASSERT_INT_EQ(MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH_GROUP, 6);
	/* Field numbers of a few fields that are easy to get wrong. */
	ASSERT_UINT_EQ(protobuf_c_message_descriptor_get_field_by_name(CALL_D, "revive")->id, 15);
	ASSERT_UINT_EQ(
	    protobuf_c_message_descriptor_get_field_by_name(&mesos__v1__offer__descriptor, "url")
		->id,
	    8);
	ASSERT_UINT_EQ(protobuf_c_message_descriptor_get_field_by_name(
			   &mesos__v1__task_status__descriptor, "uuid")
			   ->id,
		       11);
	ASSERT_UINT_EQ(protobuf_c_message_descriptor_get_field_by_name(
			   &mesos__v1__resource__descriptor, "reservations")
			   ->id,
		       13);
}

/* protobuf-c's unpack rejects a missing required field unless it has a default. */
TEST(proto_unpack_required_with_default)
{
	/* MasterInfo: 1 id = "m", 2 ip = 1; port (3, required, default 5050) absent. */
	static const uint8_t no_port[] = {0x0a, 1, 'm', 0x10, 1};
	/* ip and port only: the required id (no default) is absent. */
	static const uint8_t no_id[] = {0x10, 1, 0x18, 0x01};
	ProtobufCAllocator a;
	Mesos__V1__MasterInfo *mi;

	keel_pbjson_allocator_init(&a);
	mi = mesos__v1__master_info__unpack(&a, sizeof(no_port), no_port);
	ASSERT_NOT_NULL(mi);
	ASSERT_UINT_EQ(mi->port, 5050);
	ASSERT_OK(keel_pbjson_check(&mi->base, NULL));
	keel_pbjson_free(&mi->base);
	ASSERT_NULL(mesos__v1__master_info__unpack(&a, sizeof(no_id), no_id));
}

/* ---- base64 --------------------------------------------------------------------------------- */

TEST(base64_rfc4648_vectors)
{
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const coded[] = {"",		"Zg==",	    "Zm8=",    "Zm9v",
					    "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	char enc[16], dec[16];
	size_t i, n;

	for (i = 0; i < KEEL_ARRAY_SIZE(plain); i++) {
		TH_CONTEXT("%s", plain[i]);
		n = keel_base64_encode(enc, plain[i], strlen(plain[i]));
		ASSERT_UINT_EQ(n, strlen(coded[i]));
		ASSERT_UINT_EQ(keel_base64_encoded_len(strlen(plain[i])), n);
		ASSERT_MEM_EQ(enc, coded[i], n);
		ASSERT_OK(keel_base64_decode(dec, &n, coded[i], strlen(coded[i]), NULL));
		ASSERT_UINT_EQ(n, strlen(plain[i]));
		ASSERT_MEM_EQ(dec, plain[i], n);
	}
	ASSERT_UINT_EQ(keel_base64_encoded_len(SIZE_MAX), SIZE_MAX);
}

TEST(base64_rejects_non_canonical)
{
	static const struct {
		const char *in;
		const char *why;
	} bad[] = {
	    {"Zg=", "multiple of 4"},	{"Zg", "multiple of 4"},   {"Z===", "bad character"},
	    {"====", "bad character"},	{"Zg=a", "bad character"}, {"Z$==", "bad character"},
	    {"Zm9v\nYg==", "multiple"}, {"Zm9 ", "bad character"}, {"Zh==", "non-zero bits"},
	    {"Zm9=", "non-zero bits"},	{"Zm-_", "bad character"}, {"Zg==Zg==", "bad character"},
	};
	char msg[KEEL_ERRMSG_SIZE], dec[16];
	size_t i, n;

	for (i = 0; i < KEEL_ARRAY_SIZE(bad); i++) {
		TH_CONTEXT("%s", bad[i].in);
		msg[0] = '\0';
		ASSERT_INT_EQ(keel_base64_decode(dec, &n, bad[i].in, strlen(bad[i].in), msg),
			      -EINVAL);
		ASSERT_STR_CONTAINS(msg, bad[i].why);
	}
}

TEST(base64_random_round_trip)
{
	uint64_t seed = th_seed();
	unsigned char in[200], dec[200];
	char enc[272];
	size_t len, n, m;
	int iter;

	srandom((unsigned)seed);
	for (iter = 0; iter < 2000; iter++) {
		len = (size_t)random() % sizeof(in);
		for (n = 0; n < len; n++)
			in[n] = (unsigned char)random();
		n = keel_base64_encode(enc, in, len);
		ASSERT_OK(keel_base64_decode(dec, &m, enc, n, NULL));
		ASSERT_UINT_EQ(m, len);
		ASSERT_MEM_EQ(dec, in, len);
	}
}

/* ---- writer: exact output --------------------------------------------------------------- */

TEST(write_subscribe_call)
{
	Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Subscribe sub = MESOS__V1__SCHEDULER__CALL__SUBSCRIBE__INIT;
	Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
	Mesos__V1__FrameworkInfo__Capability cap = MESOS__V1__FRAMEWORK_INFO__CAPABILITY__INIT;
	Mesos__V1__FrameworkInfo__Capability *caps[] = {&cap};
	char *roles[] = {"*"};
	static const char want[] =
	    "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"root\","
	    "\"name\":\"keel-test\",\"failover_timeout\":0.0,\"checkpoint\":false,"
	    "\"capabilities\":[{\"type\":\"MULTI_ROLE\"}],\"roles\":[\"*\"]}}}";

	fi.user = "root";
	fi.name = "keel-test";
	cap.has_type = 1;
	cap.type = MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__MULTI_ROLE;
	fi.n_capabilities = 1;
	fi.capabilities = caps;
	fi.n_roles = 1;
	fi.roles = roles;
	sub.framework_info = &fi;
	call.has_type = 1;
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE;
	call.subscribe = &sub;
	WRITES(&call, want);
	ROUND_TRIPS(CALL_D, want);

	/* Read back field by field. */
	Mesos__V1__Scheduler__Call *c = from_json(CALL_D, want);
	ASSERT_INT_EQ(c->type, MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE);
	ASSERT_STR_EQ(c->subscribe->framework_info->name, "keel-test");
	ASSERT_UINT_EQ(c->subscribe->framework_info->n_capabilities, 1);
	ASSERT_INT_EQ(c->subscribe->framework_info->capabilities[0]->type,
		      MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__MULTI_ROLE);
	ASSERT_TRUE(c->subscribe->framework_info->has_checkpoint);
	keel_pbjson_free(&c->base);
}

/* A typical OFFERS event, as a Mesos master would send it (fields in field-number order). */
static const char offers_json[] =
    "{\"type\":\"OFFERS\",\"offers\":{\"offers\":[{\"id\":{\"value\":\"o-1\"},"
    "\"framework_id\":{\"value\":\"fw-1\"},\"agent_id\":{\"value\":\"ag-1\"},"
    "\"hostname\":\"agent1\",\"resources\":["
    "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4.0},"
    "\"allocation_info\":{\"role\":\"*\"}},"
    "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1024.5},"
    "\"allocation_info\":{\"role\":\"*\"}},"
    "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":31000,"
    "\"end\":32000}]},\"allocation_info\":{\"role\":\"*\"}}],"
    "\"url\":{\"scheme\":\"http\",\"address\":{\"hostname\":\"agent1\",\"ip\":\"127.0.0.1\","
    "\"port\":5051},\"path\":\"/slave(1)\"},\"allocation_info\":{\"role\":\"*\"}}]}}";

TEST(write_offers_event)
{
	Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
	Mesos__V1__Scheduler__Event__Offers offers = MESOS__V1__SCHEDULER__EVENT__OFFERS__INIT;
	Mesos__V1__Offer offer = MESOS__V1__OFFER__INIT, *offerp = &offer;
	Mesos__V1__OfferID oid = MESOS__V1__OFFER_ID__INIT;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__URL url = MESOS__V1__URL__INIT;
	Mesos__V1__Address addr = MESOS__V1__ADDRESS__INIT;
	Mesos__V1__Resource__AllocationInfo alloc = MESOS__V1__RESOURCE__ALLOCATION_INFO__INIT;
	Mesos__V1__Resource res[3] = {MESOS__V1__RESOURCE__INIT, MESOS__V1__RESOURCE__INIT,
				      MESOS__V1__RESOURCE__INIT};
	Mesos__V1__Resource *resp[3] = {&res[0], &res[1], &res[2]};
	Mesos__V1__Value__Scalar cpus = MESOS__V1__VALUE__SCALAR__INIT;
	Mesos__V1__Value__Scalar mem = MESOS__V1__VALUE__SCALAR__INIT;
	Mesos__V1__Value__Ranges ranges = MESOS__V1__VALUE__RANGES__INIT;
	Mesos__V1__Value__Range range = MESOS__V1__VALUE__RANGE__INIT, *rangep = &range;

	oid.value = "o-1";
	fid.value = "fw-1";
	aid.value = "ag-1";
	alloc.role = "*";
	addr.hostname = "agent1";
	addr.ip = "127.0.0.1";
	addr.port = 5051;
	url.scheme = "http";
	url.address = &addr;
	url.path = "/slave(1)";
	cpus.value = 4;
	mem.value = 1024.5;
	range.begin = 31000;
	range.end = 32000;
	ranges.n_range = 1;
	ranges.range = &rangep;
	res[0].name = "cpus";
	res[0].type = MESOS__V1__VALUE__TYPE__SCALAR;
	res[0].scalar = &cpus;
	res[1].name = "mem";
	res[1].type = MESOS__V1__VALUE__TYPE__SCALAR;
	res[1].scalar = &mem;
	res[2].name = "ports";
	res[2].type = MESOS__V1__VALUE__TYPE__RANGES;
	res[2].ranges = &ranges;
	for (int i = 0; i < 3; i++)
		res[i].allocation_info = &alloc;
	offer.id = &oid;
	offer.framework_id = &fid;
	offer.agent_id = &aid;
	offer.hostname = "agent1";
	offer.n_resources = 3;
	offer.resources = resp;
	offer.url = &url;
	offer.allocation_info = &alloc;
	offers.n_offers = 1;
	offers.offers = &offerp;
	ev.has_type = 1;
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS;
	ev.offers = &offers;
	WRITES(&ev, offers_json);
	ROUND_TRIPS(EVENT_D, offers_json);

	Mesos__V1__Scheduler__Event *e = from_json(EVENT_D, offers_json);
	ASSERT_STR_EQ(e->offers->offers[0]->url->address->ip, "127.0.0.1");
	ASSERT_UINT_EQ(e->offers->offers[0]->resources[2]->ranges->range[0]->end, 32000);
	ASSERT_TRUE(e->offers->offers[0]->resources[1]->scalar->value == 1024.5);
	keel_pbjson_free(&e->base);
}

TEST(write_update_with_uuid)
{
	Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
	Mesos__V1__Scheduler__Event__Update up = MESOS__V1__SCHEDULER__EVENT__UPDATE__INIT;
	Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	uint8_t uuid[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
			    0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
	static const char want[] =
	    "{\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":\"t1\"},"
	    "\"state\":\"TASK_RUNNING\",\"agent_id\":{\"value\":\"a1\"},"
	    "\"timestamp\":1700000000.25,\"source\":\"SOURCE_EXECUTOR\","
	    "\"uuid\":\"ABEiM0RVZneImaq7zN3u/w==\"}}}";

	tid.value = "t1";
	aid.value = "a1";
	st.task_id = &tid;
	st.state = MESOS__V1__TASK_STATE__TASK_RUNNING;
	st.agent_id = &aid;
	st.has_timestamp = 1;
	st.timestamp = 1700000000.25;
	st.has_source = 1;
	st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
	st.has_uuid = 1;
	st.uuid.len = sizeof(uuid);
	st.uuid.data = uuid;
	up.status = &st;
	ev.has_type = 1;
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE;
	ev.update = &up;
	WRITES(&ev, want);
	ROUND_TRIPS(EVENT_D, want);

	Mesos__V1__Scheduler__Event *e = from_json(EVENT_D, want);
	ASSERT_TRUE(e->update->status->has_uuid);
	ASSERT_UINT_EQ(e->update->status->uuid.len, 16);
	ASSERT_MEM_EQ(e->update->status->uuid.data, uuid, 16);
	keel_pbjson_free(&e->base);
}

TEST(write_error_event_and_heartbeat)
{
	Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
	Mesos__V1__Scheduler__Event__Error err = MESOS__V1__SCHEDULER__EVENT__ERROR__INIT;

	ev.has_type = 1;
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT;
	WRITES(&ev, "{\"type\":\"HEARTBEAT\"}");
	err.message = "Framework has been removed";
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR;
	ev.error = &err;
	WRITES(&ev, "{\"type\":\"ERROR\",\"error\":{\"message\":\"Framework has been removed\"}}");
}

TEST(write_defaults)
{
	Mesos__V1__Filters filters = MESOS__V1__FILTERS__INIT;
	Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
	Mesos__V1__CommandInfo__URI uri = MESOS__V1__COMMAND_INFO__URI__INIT, *urip = &uri;
	Mesos__V1__Resource res = MESOS__V1__RESOURCE__INIT;
	Keel__Test__Defaults d = KEEL__TEST__DEFAULTS__INIT;

	WRITES(&filters, "{\"refuse_seconds\":5.0}");
	filters.has_refuse_seconds = 1;
	filters.refuse_seconds = 0.5;
	WRITES(&filters, "{\"refuse_seconds\":0.5}");
	WRITES(&cmd, "{\"shell\":true}");
	uri.value = "http://x/y.tgz";
	cmd.n_uris = 1;
	cmd.uris = &urip;
	cmd.value = "echo hi";
	WRITES(&cmd, "{\"uris\":[{\"value\":\"http://x/y.tgz\",\"extract\":true}],"
		     "\"value\":\"echo hi\",\"shell\":true}");
	/* Resource.role has default "*" but is deprecated: not written. */
	res.name = "cpus";
	WRITES(&res, "{\"name\":\"cpus\",\"type\":\"SCALAR\"}");
	/* Every kind of default; `old` is deprecated; `req` is required (always written). */
	WRITES(&d, "{\"i32\":-7,\"s\":\"d\\u00E9f\",\"by\":\"YWI=\",\"color\":\"BLUE\","
		   "\"fl\":1.5,\"db\":-2.5,\"b\":true,\"u64\":18446744073709551615,\"req\":3}");
	d.has_i32 = 1;
	d.i32 = 0;
	d.has_b = 1;
	d.b = 0;
	d.s = "set";
	WRITES(&d, "{\"i32\":0,\"s\":\"set\",\"by\":\"YWI=\",\"color\":\"BLUE\","
		   "\"fl\":1.5,\"db\":-2.5,\"b\":false,\"u64\":18446744073709551615,\"req\":3}");
}

TEST(write_repeated_only_when_non_empty)
{
	Mesos__V1__Labels labels = MESOS__V1__LABELS__INIT;
	Keel__Test__Scalars s = KEEL__TEST__SCALARS__INIT;
	int32_t nums[] = {1, -2};

	WRITES(&labels, "{}");
	WRITES(&s, "{}");
	s.n_r_i32 = 2;
	s.r_i32 = nums;
	WRITES(&s, "{\"r_i32\":[1,-2]}");
}

TEST(write_string_escaping)
{
	Mesos__V1__Label l = MESOS__V1__LABEL__INIT;
	static const struct {
		const char *in;
		const char *out;
	} rows[] = {
	    {"plain", "\"plain\""},
	    {"q\"b\\s/", "\"q\\\"b\\\\s/\""},
	    {"\n\r\t\b\f", "\"\\n\\r\\t\\b\\f\""},
	    {"\x01\x1f\x7f", "\"\\u0001\\u001F\x7f\""},
	    {"caf\xc3\xa9", "\"caf\\u00E9\""},
	    {"\xe2\x82\xac", "\"\\u20AC\""},
	    {"\xf0\x9f\x98\x80!", "\"\\uD83D\\uDE00!\""},
	    {"\xf4\x8f\xbf\xbf", "\"\\uDBFF\\uDFFF\""},
	    /* Invalid UTF-8: each offending byte becomes U+FFFD. */
	    {"a\xff"
	     "b",
	     "\"a\\uFFFDb\""},
	    {"\xc3", "\"\\uFFFD\""},
	    {"\xc0\xaf", "\"\\uFFFD\\uFFFD\""},
	    {"\xed\xa0\x80", "\"\\uFFFD\\uFFFD\\uFFFD\""},
	    {"\xf4\x90\x80\x80", "\"\\uFFFD\\uFFFD\\uFFFD\\uFFFD\""},
	    {"\xe2\x82"
	     "A",
	     "\"\\uFFFD\\uFFFDA\""},
	    {"\x80", "\"\\uFFFD\""},
	    {"\xf8\x88\x80\x80\x80", "\"\\uFFFD\\uFFFD\\uFFFD\\uFFFD\\uFFFD\""},
	};
	char want[128];
	size_t i;

	for (i = 0; i < KEEL_ARRAY_SIZE(rows); i++) {
		TH_CONTEXT("row %zu", i);
		l.key = (char *)rows[i].in;
		snprintf(want, sizeof(want), "{\"key\":%s}", rows[i].out);
		WRITES(&l, want);
	}
	/* The reader gives back the UTF-8 (escaped input included). */
	Mesos__V1__Label *r = from_json(&mesos__v1__label__descriptor,
					"{\"key\":\"\\uD83D\\uDE00 caf\\u00e9 \xe2\x82\xac\"}");
	ASSERT_STR_EQ(r->key, "\xf0\x9f\x98\x80 caf\xc3\xa9 \xe2\x82\xac");
	keel_pbjson_free(&r->base);
}

TEST(write_numbers)
{
	Keel__Test__Scalars s = KEEL__TEST__SCALARS__INIT;
	static const struct {
		double d;
		const char *out;
	} dbl[] = {
	    {0.1, "0.1"},
	    {5.0, "5.0"},
	    {-0.0, "-0.0"},
	    {1e300, "1e+300"},
	    {1e-7, "1e-07"},
	    {123456789012.5, "123456789012.5"},
	    {1.0 / 3, "0.3333333333333333"},
	    {DBL_MAX, "1.7976931348623157e+308"},
	    {4.9e-324, "4.94065645841247e-324"},
	    {NAN, "\"NaN\""},
	    {INFINITY, "\"Infinity\""},
	    {-INFINITY, "\"-Infinity\""},
	};
	char want[128];
	size_t i;

	s.has_i32 = s.has_i64 = s.has_u32 = s.has_u64 = 1;
	s.i32 = INT32_MIN;
	s.i64 = INT64_MIN;
	s.u32 = UINT32_MAX;
	s.u64 = UINT64_MAX;
	s.has_s32 = s.has_s64 = s.has_f32 = s.has_f64 = s.has_sf32 = s.has_sf64 = 1;
	s.s32 = INT32_MAX;
	s.s64 = INT64_MAX;
	s.f32 = 7;
	s.f64 = 8;
	s.sf32 = -9;
	s.sf64 = -10;
	WRITES(&s, "{\"i32\":-2147483648,\"i64\":-9223372036854775808,\"u32\":4294967295,"
		   "\"u64\":18446744073709551615,\"s32\":2147483647,\"s64\":9223372036854775807,"
		   "\"f32\":7,\"f64\":8,\"sf32\":-9,\"sf64\":-10}");

	memset(&s, 0, sizeof(s));
	keel__test__scalars__init(&s);
	s.has_db = 1;
	for (i = 0; i < KEEL_ARRAY_SIZE(dbl); i++) {
		TH_CONTEXT("%s", dbl[i].out);
		s.db = dbl[i].d;
		snprintf(want, sizeof(want), "{\"db\":%s}", dbl[i].out);
		WRITES(&s, want);
		/* And back: the same double (bit for bit, NaN aside). */
		Keel__Test__Scalars *r = from_json(SCALARS_D, want);
		if (isnan(dbl[i].d))
			ASSERT_TRUE(isnan(r->db));
		else
			ASSERT_MEM_EQ(&r->db, &dbl[i].d, sizeof(double));
		keel_pbjson_free(&r->base);
	}
	TH_CONTEXT(NULL);
	s.has_db = 0;
	s.has_fl = 1;
	s.fl = 0.1f;
	WRITES(&s, "{\"fl\":0.1}");
	s.fl = FLT_MAX;
	WRITES(&s, "{\"fl\":3.4028235e+38}");
	Keel__Test__Scalars *r = from_json(SCALARS_D, "{\"fl\":3.4028235e+38}");
	ASSERT_TRUE(r->fl == FLT_MAX);
	keel_pbjson_free(&r->base);
	s.fl = 16777216.0f;
	WRITES(&s, "{\"fl\":16777216.0}");
}

TEST(write_unknown_enum_values)
{
	Keel__Test__Scalars s = KEEL__TEST__SCALARS__INIT;
	Keel__Test__Color colors[] = {99, KEEL__TEST__COLOR__GREEN, -1};
	Keel__Test__Nest n = KEEL__TEST__NEST__INIT;
	struct keel_buf b = KEEL_BUF_INIT;
	char msg[KEEL_ERRMSG_SIZE] = "";

	s.has_color = 1;
	s.color = 99;
	WRITES(&s, "{}");
	s.n_r_color = 3;
	s.r_color = colors;
	WRITES(&s, "{\"r_color\":[\"GREEN\"]}");
	s.n_r_color = 1;
	WRITES(&s, "{}");
	/* An unknown value in an optional field with a default reads as the default. */
	Keel__Test__Defaults d = KEEL__TEST__DEFAULTS__INIT;
	d.has_color = 1;
	d.color = 42;
	char *out = to_json(&d);
	ASSERT_STR_CONTAINS(out, "\"color\":\"BLUE\"");
	free(out);
	/* A required enum must hold a known value; the buffer is left as it was. */
	n.name = "n";
	n.color = 7;
	ASSERT_OK(keel_buf_puts(&b, "prefix"));
	ASSERT_INT_EQ(keel_pbjson_write(&b, &n.base, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg, "keel.test.Nest.color");
	ASSERT_UINT_EQ(keel_buf_size(&b), 6);
	ASSERT_MEM_EQ(keel_buf_rptr(&b), "prefix", 6);
	keel_buf_free(&b);
}

TEST(write_rejects_invalid_messages)
{
	Keel__Test__Nest n = KEEL__TEST__NEST__INIT, kid = KEEL__TEST__NEST__INIT;
	Keel__Test__Nest *kids[] = {NULL};
	Keel__Test__Scalars s = KEEL__TEST__SCALARS__INIT;
	char *strs[] = {NULL};
	struct keel_buf b = KEEL_BUF_INIT;
	char msg[KEEL_ERRMSG_SIZE];

	/* Required string not set. */
	ASSERT_INT_EQ(keel_pbjson_write(&b, &n.base, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg, "keel.test.Nest.name: required field is not set");
	/* ... also inside a sub-message; nothing of the partial output stays. */
	n.name = "top";
	n.child = &kid;
	ASSERT_INT_EQ(keel_pbjson_write(&b, &n.base, msg), -EINVAL);
	ASSERT_UINT_EQ(keel_buf_size(&b), 0);
	/* NULL elements and arrays. */
	kid.name = "kid";
	n.n_kids = 1;
	n.kids = kids;
	ASSERT_INT_EQ(keel_pbjson_write(&b, &n.base, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg, "kids: message is NULL");
	n.kids = NULL;
	ASSERT_INT_EQ(keel_pbjson_write(&b, &n.base, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg, "1 elements but no array");
	s.n_r_s = 1;
	s.r_s = strs;
	ASSERT_INT_EQ(keel_pbjson_write(&b, &s.base, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg, "r_s: string is NULL");
	ASSERT_UINT_EQ(keel_buf_size(&b), 0);
	Keel__Test__Maps maps = KEEL__TEST__MAPS__INIT;
	Keel__Test__Maps__ByIntEntry *entries[] = {NULL};
	maps.n_by_int = 1;
	maps.by_int = entries;
	ASSERT_INT_EQ(keel_pbjson_write(&b, &maps.base, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg, "by_int: map entry is NULL");
	ASSERT_INT_EQ(keel_pbjson_check(&maps.base, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg, "by_int[0]: NULL message");
	ASSERT_UINT_EQ(keel_buf_size(&b), 0);
	keel_buf_free(&b);
}

TEST(write_maps)
{
	Keel__Test__Maps m = KEEL__TEST__MAPS__INIT;
	Keel__Test__Maps__ByNameEntry e1 = KEEL__TEST__MAPS__BY_NAME_ENTRY__INIT, *p1[] = {&e1};
	Keel__Test__Maps__ByIntEntry e2 = KEEL__TEST__MAPS__BY_INT_ENTRY__INIT, *p2[] = {&e2};
	Keel__Test__Maps__ByBoolEntry e3 = KEEL__TEST__MAPS__BY_BOOL_ENTRY__INIT, *p3[] = {&e3};
	Keel__Test__Maps__ByU64Entry e4 = KEEL__TEST__MAPS__BY_U64_ENTRY__INIT,
				     e5 = KEEL__TEST__MAPS__BY_U64_ENTRY__INIT, *p4[] = {&e4, &e5};
	Keel__Test__Scalars sc = KEEL__TEST__SCALARS__INIT;
	static const char want[] =
	    "{\"by_name\":{\"a\\\"b\":{\"i32\":1}},\"by_int\":{\"-7\":\"seven\"},"
	    "\"by_bool\":{\"true\":5},\"by_u64\":{\"18446744073709551615\":\"BLUE\"}}";

	sc.has_i32 = 1;
	sc.i32 = 1;
	e1.key = "a\"b";
	e1.value = &sc;
	e2.has_key = 1;
	e2.key = -7;
	e2.value = "seven";
	e3.has_key = e3.has_value = 1;
	e3.key = 1;
	e3.value = 5;
	e4.has_key = e4.has_value = 1;
	e4.key = UINT64_MAX;
	e4.value = KEEL__TEST__COLOR__BLUE;
	/* An entry whose enum value is unknown is skipped. */
	e5.has_value = 1;
	e5.value = 77;
	m.n_by_name = 1;
	m.by_name = p1;
	m.n_by_int = 1;
	m.by_int = p2;
	m.n_by_bool = 1;
	m.by_bool = p3;
	m.n_by_u64 = 2;
	m.by_u64 = p4;
	WRITES(&m, want);
	ROUND_TRIPS(MAPS_D, want);
	/* An entry without a message value stands for the empty message. */
	e1.value = NULL;
	m.n_by_int = m.n_by_bool = m.n_by_u64 = 0;
	WRITES(&m, "{\"by_name\":{\"a\\\"b\":{}}}");
	/* A map whose only entry is skipped is not written at all. */
	m.n_by_name = 0;
	m.n_by_u64 = 1;
	m.by_u64 = &p4[1];
	WRITES(&m, "{}");

	/* A repeated "ThingsEntry" with a bytes key is not a map: written as a list. */
	ROUND_TRIPS(&keel__test__lookalike__descriptor,
		    "{\"things\":[{\"key\":\"YQ==\",\"value\":1}]}");

	/* Mesos's own map field: FrameworkInfo.offer_filters. */
	static const char fi[] =
	    "{\"user\":\"u\",\"name\":\"n\",\"failover_timeout\":0.0,\"checkpoint\":false,"
	    "\"offer_filters\":{\"web\":{\"min_allocatable_resources\":{\"quantities\":[{"
	    "\"quantities\":{\"cpus\":{\"value\":0.5},\"mem\":{\"value\":64.0}}}]}}}}";
	ROUND_TRIPS(&mesos__v1__framework_info__descriptor, fi);
}

TEST(write_oneof)
{
	Keel__Test__Oneofs o = KEEL__TEST__ONEOFS__INIT;
	Keel__Test__Scalars sc = KEEL__TEST__SCALARS__INIT;

	WRITES(&o, "{}");
	o.pick_case = KEEL__TEST__ONEOFS__PICK_TEXT;
	o.text = "hi";
	WRITES(&o, "{\"text\":\"hi\"}");
	o.pick_case = KEEL__TEST__ONEOFS__PICK_MSG;
	o.msg = &sc;
	o.has_other = 1;
	o.other = 3;
	WRITES(&o, "{\"msg\":{},\"other\":3}");
	o.pick_case = KEEL__TEST__ONEOFS__PICK_COLOR;
	o.color = 55;
	WRITES(&o, "{\"other\":3}");
	o.pick_case = KEEL__TEST__ONEOFS__PICK_NUM;
	o.num = 0;
	WRITES(&o, "{\"num\":0,\"other\":3}");
}

TEST(write_proto3_implicit_presence)
{
	Keel__Test__Plain3 p = KEEL__TEST__PLAIN3__INIT, sub = KEEL__TEST__PLAIN3__INIT;

	WRITES(&p, "{}");
	p.n = -1;
	p.s = "x";
	p.by.len = 1;
	p.by.data = (uint8_t *)"\x01";
	p.sub = &sub;
	p.d = 0.5;
	WRITES(&p, "{\"n\":-1,\"s\":\"x\",\"by\":\"AQ==\",\"sub\":{},\"d\":0.5}");
	ROUND_TRIPS(&keel__test__plain3__descriptor,
		    "{\"n\":-1,\"s\":\"x\",\"by\":\"AQ==\",\"sub\":{},\"d\":0.5}");
}

/* A chain of `depth` Nest messages, built on the heap. */
static Keel__Test__Nest *nest_chain(unsigned depth)
{
	Keel__Test__Nest *top = NULL, *n;
	unsigned i;

	for (i = 0; i < depth; i++) {
		n = calloc(1, sizeof(*n));
		keel__test__nest__init(n);
		n->name = "n";
		n->child = top;
		top = n;
	}
	return top;
}

static void nest_chain_free(Keel__Test__Nest *n)
{
	while (n != NULL) {
		Keel__Test__Nest *c = n->child;
		free(n);
		n = c;
	}
}

TEST(write_and_check_depth_limit)
{
	Keel__Test__Nest *ok = nest_chain(KEEL_PBJSON_MAX_DEPTH);
	Keel__Test__Nest *deep = nest_chain(KEEL_PBJSON_MAX_DEPTH + 1);
	struct keel_buf b = KEEL_BUF_INIT;
	char msg[KEEL_ERRMSG_SIZE];

	ASSERT_OK(keel_pbjson_write(&b, &ok->base, msg));
	ASSERT_OK(keel_pbjson_check(&ok->base, msg));
	/* What was written reads back (the reader has the same limit). */
	ASSERT_OK(keel_buf_putc(&b, '\0'));
	keel_pbjson_free(from_json(NEST_D, keel_buf_rptr(&b)));
	keel_buf_clear(&b);
	ASSERT_INT_EQ(keel_pbjson_write(&b, &deep->base, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg, "nested deeper than 64");
	ASSERT_UINT_EQ(keel_buf_size(&b), 0);
	ASSERT_INT_EQ(keel_pbjson_check(&deep->base, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg, "nested deeper than 64");
	keel_buf_free(&b);
	nest_chain_free(ok);
	nest_chain_free(deep);
}

TEST(write_out_of_memory_at_every_step)
{
#ifndef KEEL_FAILPOINTS
	TH_SKIP("needs -Dfailpoints=true");
#else
	ProtobufCMessage *ev = from_json(EVENT_D, offers_json);
	struct keel_buf b = KEEL_BUF_INIT;
	char msg[KEEL_ERRMSG_SIZE];
	long n, i;

	ASSERT_OK(keel_buf_puts(&b, "xyzw"));
	keel_buf_consume(&b, 2);
	keel_alloc_fail_after(0, false);
	ASSERT_OK(keel_pbjson_write(&b, ev, msg));
	n = keel_alloc_fail_after(0, false);
	ASSERT_INT_GT(n, 1);
	keel_buf_free(&b);
	for (i = 1; i <= n; i++) {
		TH_CONTEXT("allocation %ld of %ld", i, n);
		ASSERT_OK(keel_buf_puts(&b, "xyzw"));
		keel_buf_consume(&b, 2);
		keel_alloc_fail_after(i, false);
		int rv = keel_pbjson_write(&b, ev, msg);
		keel_alloc_fail_after(0, false);
		ASSERT_INT_EQ(rv, -ENOMEM);
		ASSERT_STR_CONTAINS(msg, "out of memory");
		/* On failure the buffer holds exactly what it held before. */
		ASSERT_UINT_EQ(keel_buf_size(&b), 2);
		ASSERT_MEM_EQ(keel_buf_rptr(&b), "zw", 2);
		keel_buf_free(&b);
	}
	TH_CONTEXT(NULL);
	keel_pbjson_free(ev);
#endif
}

/* ---- reader: Mesos's rules ------------------------------------------------------------------ */

TEST(read_subscribe_from_mesos_docs)
{
	Mesos__V1__Scheduler__Call *c = from_json(
	    CALL_D, "{\n  \"type\"      : \"SUBSCRIBE\",\n  \"subscribe\" : {\n"
		    "    \"framework_info\" : {\n      \"user\" : \"foo\",\n"
		    "      \"name\" : \"Example HTTP Framework\",\n      \"roles\": [\"test\"],\n"
		    "      \"capabilities\" : [{\"type\": \"MULTI_ROLE\"}]\n    }\n  }\n}");

	ASSERT_TRUE(c->has_type);
	ASSERT_INT_EQ(c->type, MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE);
	ASSERT_NULL(c->framework_id);
	ASSERT_STR_EQ(c->subscribe->framework_info->user, "foo");
	ASSERT_UINT_EQ(c->subscribe->framework_info->n_roles, 1);
	ASSERT_STR_EQ(c->subscribe->framework_info->roles[0], "test");
	/* Unset optional fields keep their defaults. */
	ASSERT_FALSE(c->subscribe->framework_info->has_failover_timeout);
	keel_pbjson_free(&c->base);
}

TEST(read_unknown_keys_and_null)
{
	Mesos__V1__Scheduler__Call *c = from_json(
	    CALL_D,
	    "{\"bogus\":{\"x\":[1,{\"y\":null}]},\"framework_id\":null,\"type\":\"TEARDOWN\","
	    "\"kill\":null,\"revive\":{\"roles\":[null,\"a\",null]}}");

	ASSERT_NULL(c->framework_id);
	ASSERT_NULL(c->kill);
	ASSERT_INT_EQ(c->type, MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN);
	ASSERT_UINT_EQ(c->revive->n_roles, 1);
	ASSERT_STR_EQ(c->revive->roles[0], "a");
	keel_pbjson_free(&c->base);
	c = from_json(CALL_D, "{\"type\":null}");
	ASSERT_FALSE(c->has_type);
	keel_pbjson_free(&c->base);
	/* null for a required field is "not set", hence missing. */
	READ_FAILS(&mesos__v1__framework_id__descriptor, "{\"value\":null}",
		   "missing required field: value");
}

TEST(read_rejects_bad_json)
{
	READ_FAILS(CALL_D, "", "invalid JSON at line 1");
	READ_FAILS(CALL_D, "{\"type\":", "invalid JSON");
	READ_FAILS(CALL_D, "{} {}", "invalid JSON");
	READ_FAILS(CALL_D, "{\"type\":\"SUBSCRIBE\",\"type\":\"TEARDOWN\"}",
		   "duplicate object key");
	READ_FAILS(CALL_D, "[]", "expected an object, got array");
	READ_FAILS(CALL_D, "\"x\"", "invalid JSON");
	READ_FAILS(CALL_D, "{\"type\":\"\\u0000\"}", "invalid JSON");
	READ_FAILS(CALL_D, "{\"bogus\":\"\xff\"}", "invalid JSON");
	/* jansson cannot hold an integer above INT64_MAX: such numbers must come as strings. */
	READ_FAILS(SCALARS_D, "{\"u64\":18446744073709551615}", "too big integer");
	READ_FAILS(SCALARS_D, "{\"db\":1e400}", "invalid JSON");
}

/* Runs keel_pbjson_read over json[0, len) (NULs inside) and checks the error. */
static void read_fails_n(const char *json, size_t len, const char *want)
{
	char msg[KEEL_ERRMSG_SIZE] = "";
	ProtobufCMessage *m = (ProtobufCMessage *)1;

	ASSERT_INT_EQ(keel_pbjson_read(SCALARS_D, json, len, &m, msg), -EINVAL);
	ASSERT_NULL(m);
	ASSERT_STR_CONTAINS(msg, want);
}

TEST(read_rejects_bad_json_every_rule)
{
	char *deep;
	size_t i;

	READ_FAILS(SCALARS_D, " \t\r\n", "'[' or '{' expected");
	READ_FAILS(SCALARS_D, "{\"s\":\"a\tb\"}", "control character 0x9");
	READ_FAILS(SCALARS_D, "{\"s\":\"a\\x\"}", "invalid escape");
	READ_FAILS(SCALARS_D, "{\"s\":\"\\u12G4\"}", "invalid \\uXXXX escape");
	READ_FAILS(SCALARS_D, "{\"s\":\"\\u12\"}", "invalid \\uXXXX escape");
	READ_FAILS(SCALARS_D, "{\"s\":\"\\ud800\"}", "lone surrogate");
	READ_FAILS(SCALARS_D, "{\"s\":\"\\ud800\\u0041\"}", "lone surrogate");
	READ_FAILS(SCALARS_D, "{\"s\":\"\\udc00\"}", "lone surrogate");
	READ_FAILS(SCALARS_D, "{\"s\":\"\xc3\x28\"}", "unable to decode byte 0xc3");
	READ_FAILS(SCALARS_D, "{\"s\":\"\xe0\x80\x80\"}", "unable to decode byte 0xe0");
	READ_FAILS(SCALARS_D, "{\"s\":\"\xed\xa0\x80\"}", "unable to decode byte 0xed");
	READ_FAILS(SCALARS_D, "{\"s\":\"\xf4\x90\x80\x80\"}", "unable to decode byte 0xf4");
	READ_FAILS(SCALARS_D, "{\"s\":\"\xe2\x82\"}", "unable to decode byte 0xe2");
	READ_FAILS(SCALARS_D, "{\"s\":\"abc", "premature end of input");
	READ_FAILS(SCALARS_D, "{\"s\":\"abc\\", "premature end of input");
	READ_FAILS(SCALARS_D, "{\"s\"", "':' expected");
	READ_FAILS(SCALARS_D, "{\"s\":", "premature end of input");
	READ_FAILS(SCALARS_D, "{\"s\":\"a\" \"b\"}", "'}' expected");
	READ_FAILS(SCALARS_D, "{\"r_i32\":[1 2]}", "']' expected");
	READ_FAILS(SCALARS_D, "{7:1}", "string or '}' expected");
	READ_FAILS(SCALARS_D, "{", "premature end of input");
	READ_FAILS(SCALARS_D, "{\"b\":tru}", "invalid token");
	READ_FAILS(SCALARS_D, "{\"b\":nul}", "invalid token");
	READ_FAILS(SCALARS_D, "{\"b\":x}", "invalid token");
	READ_FAILS(SCALARS_D, "{\"i32\":01}", "invalid token");
	READ_FAILS(SCALARS_D, "{\"i32\":-}", "invalid token");
	READ_FAILS(SCALARS_D, "{\"db\":1.}", "invalid token");
	READ_FAILS(SCALARS_D, "{\"db\":1e+}", "invalid token");
	READ_FAILS(SCALARS_D, "{\"i64\":-9223372036854775809}", "too big negative integer");
	READ_FAILS(SCALARS_D, "{\"i64\":99999999999999999999999}", "too big integer");
	READ_FAILS(SCALARS_D, "{\"db\":-1e309}", "real number overflow");
	/* A NUL byte is no JSON whitespace (jansson skipped one right after a number). */
	read_fails_n("{\"i32\":1\0}", 10, "invalid JSON at line 1 column 9: '}' expected");
	read_fails_n("{}\0", 3, "end of file expected");
	READ_FAILS(SCALARS_D, "{\n\"s\":\n\"\x01\"}", "invalid JSON at line 3 column 2");
	/* jansson's depth limit: 2048 arrays, even in a key no message has. */
	deep = keel_xmalloc(2 * 2049 + 16);
	strcpy(deep, "{\"x\":");
	for (i = 0; i < 2048; i++)
		strcat(deep, "[");
	READ_FAILS(SCALARS_D, deep, "maximum parsing depth reached");
	strcpy(deep, "{\"x\":");
	for (i = 0; i < 2047; i++)
		strcat(deep, "[");
	for (i = 0; i < 2047; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	keel_pbjson_free(from_json(SCALARS_D, deep));
	keel_free(deep);
}

TEST(read_rejects_duplicate_keys_however_spelt)
{
	struct keel_buf b = KEEL_BUF_INIT;
	unsigned i;

	READ_FAILS(SCALARS_D, "{\"s\":\"a\",\"\\u0073\":\"b\"}", "duplicate object key");
	READ_FAILS(SCALARS_D, "{\"x\\/\":1,\"x/\":2}", "duplicate object key");
	READ_FAILS(SCALARS_D, "{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}",
		   "duplicate object key");
	/* Unknown keys too, and in objects past the pairwise check (sorted at the end). */
	for (i = 0; i < 40; i++)
		ASSERT_INT_EQ(keel_buf_printf(&b, "%s\"k%u\":%u", i ? "," : "{", i, i), 0);
	ASSERT_INT_EQ(keel_buf_printf(&b, ",\"\\u006b7\":1}"), 0);
	ASSERT_INT_EQ(keel_buf_putc(&b, '\0'), 0);
	READ_FAILS(SCALARS_D, keel_buf_rptr(&b), "duplicate object key");
	keel_buf_clear(&b);
	for (i = 0; i < 40; i++)
		ASSERT_INT_EQ(keel_buf_printf(&b, "%s\"k%u\":{\"k%u\":%u}", i ? "," : "{", i, i, i),
			      0);
	ASSERT_INT_EQ(keel_buf_printf(&b, ",\"s\":\"ok\"}"), 0);
	ASSERT_INT_EQ(keel_buf_putc(&b, '\0'), 0);
	{
		Keel__Test__Scalars *sc = from_json(SCALARS_D, keel_buf_rptr(&b));

		ASSERT_STR_EQ(sc->s, "ok");
		keel_pbjson_free(&sc->base);
	}
	keel_buf_free(&b);
}

TEST(read_decodes_escapes_everywhere)
{
	Keel__Test__Scalars *sc = from_json(
	    SCALARS_D,
	    "{\"\\u0073\":\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20ac\\ud83d\\ude00\","
	    "\"color\":\"\\u0042LUE\",\"b\":\"tr\\u0075e\",\"i32\":\"-\\u0034\","
	    "\"db\":\"\\u0049nfinity\",\"by\":\"AQ\\u003d\\u003d\",\"r_s\":[\"x\",null,\"\\/\"]}");

	ASSERT_STR_EQ(sc->s, "a\"\\/\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	ASSERT_INT_EQ(sc->color, KEEL__TEST__COLOR__BLUE);
	ASSERT_TRUE(sc->b);
	ASSERT_INT_EQ(sc->i32, -4);
	ASSERT_TRUE(isinf(sc->db));
	ASSERT_UINT_EQ(sc->by.len, 1);
	ASSERT_UINT_EQ(sc->by.data[0], 1);
	ASSERT_UINT_EQ(sc->n_r_s, 2);
	ASSERT_STR_EQ(sc->r_s[1], "/");
	keel_pbjson_free(&sc->base);
	READ_FAILS(SCALARS_D, "{\"b\":\"yes\"}", "b: expected a boolean, got string");
	READ_FAILS(SCALARS_D, "{\"i32\":1.5}", "i32: expected an integer (int32), got 1.5");
	READ_FAILS(SCALARS_D, "{\"i32\":1e0}", "i32: expected an integer (int32), got 1");
	READ_FAILS(&mesos__v1__value__descriptor, "{\"type\":\"NOPE\\u0021\"}",
		   "type: 'NOPE!' is not a value of mesos.v1.Value.Type");
}

TEST(read_wrong_types_name_the_field)
{
	READ_FAILS(CALL_D, "{\"subscribe\":\"x\"}", "subscribe: expected an object, got string");
	READ_FAILS(CALL_D, "{\"subscribe\":{\"framework_info\":{\"user\":7}}}",
		   "subscribe.framework_info.user: expected a string, got number");
	READ_FAILS(CALL_D, "{\"subscribe\":{\"framework_info\":{\"user\":[\"a\"]}}}",
		   "subscribe.framework_info.user: expected a single string, got array");
	READ_FAILS(CALL_D, "{\"framework_id\":{\"value\":{}}}",
		   "framework_id.value: expected a string, got object");
	READ_FAILS(CALL_D, "{\"accept\":{\"offer_ids\":[{\"value\":\"a\"},\"b\"]}}",
		   "accept.offer_ids[1]: expected an object, got string");
	READ_FAILS(CALL_D, "{\"accept\":{\"offer_ids\":[[{\"value\":\"a\"}]]}}",
		   "accept.offer_ids[0]: nested arrays are not supported");
	READ_FAILS(CALL_D,
		   "{\"subscribe\":{\"framework_info\":{\"user\":\"u\",\"name\":\"n\","
		   "\"checkpoint\":1}}}",
		   "subscribe.framework_info.checkpoint: expected a boolean, got number");
	READ_FAILS(SCALARS_D, "{\"r_msg\":[{\"r_msg\":{\"i32\":true}}]}",
		   "r_msg[0].r_msg.i32: expected a number, got boolean");
}

TEST(read_enums_by_name_only)
{
	Mesos__V1__Scheduler__Call *c;
	Keel__Test__Scalars *s;

	c = from_json(CALL_D, "{\"type\":\"DECLINE\"}");
	ASSERT_INT_EQ(c->type, MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE);
	keel_pbjson_free(&c->base);
	READ_FAILS(CALL_D, "{\"type\":4}", "type: expected an enum name (string), got number");
	/* An unknown name in an optional enum is dropped ... */
	c = from_json(CALL_D, "{\"type\":\"NO_SUCH_CALL\"}");
	ASSERT_FALSE(c->has_type);
	keel_pbjson_free(&c->base);
	/* ... in a repeated one, just that element ... */
	s = from_json(SCALARS_D, "{\"r_color\":[\"RED\",\"PINK\",\"BLUE\"],\"color\":\"PINK\"}");
	ASSERT_UINT_EQ(s->n_r_color, 2);
	ASSERT_INT_EQ(s->r_color[1], KEEL__TEST__COLOR__BLUE);
	ASSERT_FALSE(s->has_color);
	keel_pbjson_free(&s->base);
	s = from_json(SCALARS_D, "{\"r_color\":[\"PINK\"]}");
	ASSERT_UINT_EQ(s->n_r_color, 0);
	ASSERT_NULL(s->r_color);
	keel_pbjson_free(&s->base);
	/* ... and in a required one it is an error. */
	READ_FAILS(EVENT_D,
		   "{\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":\"t\"},"
		   "\"state\":\"TASK_BOGUS\"}}}",
		   "update.status.state: 'TASK_BOGUS' is not a value of mesos.v1.TaskState");
}

/* Names match exactly: a lower-case name is an unknown one (dropped, or an error if required). */
TEST(read_enum_names_are_case_sensitive)
{
	Mesos__V1__Scheduler__Call *c = from_json(CALL_D, "{\"type\":\"decline\"}");

	ASSERT_FALSE(c->has_type);
	keel_pbjson_free(&c->base);
	READ_FAILS(&mesos__v1__value__descriptor, "{\"type\":\"scalar\"}",
		   "type: 'scalar' is not a value of mesos.v1.Value.Type");
}

TEST(read_bytes_base64)
{
	Mesos__V1__Scheduler__Call *c = from_json(
	    CALL_D,
	    "{\"acknowledge\":{\"agent_id\":{\"value\":\"a\"},\"task_id\":{\"value\":\"t\"},"
	    "\"uuid\":\"AAECAwQFBgcICQoLDA0ODw==\"}}");
	Keel__Test__Scalars *s;

	ASSERT_UINT_EQ(c->acknowledge->uuid.len, 16);
	ASSERT_INT_EQ(c->acknowledge->uuid.data[15], 15);
	keel_pbjson_free(&c->base);
	s = from_json(SCALARS_D, "{\"by\":\"\",\"r_by\":[\"\",\"YQ==\"]}");
	ASSERT_TRUE(s->has_by);
	ASSERT_UINT_EQ(s->by.len, 0);
	ASSERT_UINT_EQ(s->n_r_by, 2);
	ASSERT_UINT_EQ(s->r_by[1].len, 1);
	keel_pbjson_free(&s->base);
	READ_FAILS(CALL_D,
		   "{\"acknowledge\":{\"agent_id\":{\"value\":\"a\"},\"task_id\":{\"value\":\"t\"},"
		   "\"uuid\":\"AAECAwQFBgcICQoLDA0ODw\"}}",
		   "acknowledge.uuid: invalid base64: length 22 is not a multiple of 4");
	READ_FAILS(SCALARS_D, "{\"by\":\"YQ=\\u003d \"}", "by: invalid base64");
	READ_FAILS(SCALARS_D, "{\"r_by\":[\"YQ==\",\"Y*==\"]}",
		   "r_by[1]: invalid base64: bad character at offset 1");
	READ_FAILS(SCALARS_D, "{\"by\":12}", "by: expected a base64 string, got number");
}

TEST(read_integers)
{
	static const struct {
		const char *json;
		int64_t i32, i64;
		uint64_t u32, u64;
	} ok[] = {
	    {"{\"i32\":-2147483648,\"i64\":-9223372036854775808,\"u32\":4294967295,"
	     "\"u64\":9223372036854775807}",
	     INT32_MIN, INT64_MIN, UINT32_MAX, INT64_MAX},
	    {"{\"i32\":\"2147483647\",\"i64\":\"9223372036854775807\",\"u32\":\"0\","
	     "\"u64\":\"18446744073709551615\"}",
	     INT32_MAX, INT64_MAX, 0, UINT64_MAX},
	    {"{\"i32\":\"-0\",\"i64\":-0,\"u32\":\"-0\",\"u64\":0}", 0, 0, 0, 0},
	};
	size_t i;

	for (i = 0; i < KEEL_ARRAY_SIZE(ok); i++) {
		Keel__Test__Scalars *s = from_json(SCALARS_D, ok[i].json);
		TH_CONTEXT("%s", ok[i].json);
		ASSERT_TRUE(s->has_i32 && s->has_i64 && s->has_u32 && s->has_u64);
		ASSERT_INT_EQ(s->i32, ok[i].i32);
		ASSERT_INT_EQ(s->i64, ok[i].i64);
		ASSERT_UINT_EQ(s->u32, ok[i].u32);
		ASSERT_UINT_EQ(s->u64, ok[i].u64);
		keel_pbjson_free(&s->base);
	}
	Keel__Test__Scalars *s =
	    from_json(SCALARS_D, "{\"s32\":-5,\"s64\":\"-6\",\"f32\":7,\"f64\":\"8\","
				 "\"sf32\":-9,\"sf64\":-10,\"r_u64\":[\"18446744073709551615\",1],"
				 "\"r_i64\":-3,\"r_s64\":[1,-1]}");
	ASSERT_INT_EQ(s->s32, -5);
	ASSERT_INT_EQ(s->s64, -6);
	ASSERT_UINT_EQ(s->f32, 7);
	ASSERT_UINT_EQ(s->f64, 8);
	ASSERT_INT_EQ(s->sf32, -9);
	ASSERT_INT_EQ(s->sf64, -10);
	ASSERT_UINT_EQ(s->n_r_u64, 2);
	ASSERT_UINT_EQ(s->r_u64[0], UINT64_MAX);
	ASSERT_UINT_EQ(s->n_r_i64, 1);
	ASSERT_INT_EQ(s->r_i64[0], -3);
	ASSERT_INT_EQ(s->r_s64[1], -1);
	keel_pbjson_free(&s->base);

	READ_FAILS(SCALARS_D, "{\"i32\":2147483648}", "i32: 2147483648 is out of range for int32");
	READ_FAILS(SCALARS_D, "{\"i32\":\"-2147483649\"}", "i32: -2147483649 is out of range");
	READ_FAILS(SCALARS_D, "{\"s32\":4294967296}", "s32: 4294967296 is out of range for sint32");
	READ_FAILS(SCALARS_D, "{\"u32\":-1}", "u32: -1 is out of range for uint32");
	READ_FAILS(SCALARS_D, "{\"u32\":4294967296}", "out of range for uint32");
	READ_FAILS(SCALARS_D, "{\"u64\":-1}", "u64: -1 is out of range for uint64");
	READ_FAILS(SCALARS_D, "{\"u64\":\"18446744073709551616\"}",
		   "u64: 18446744073709551616 is out");
	READ_FAILS(SCALARS_D, "{\"i64\":\"9223372036854775808\"}", "out of range for int64");
	READ_FAILS(SCALARS_D, "{\"i64\":\"-9223372036854775809\"}", "out of range for int64");
	READ_FAILS(SCALARS_D, "{\"i32\":1.5}", "i32: expected an integer (int32), got 1.5");
	READ_FAILS(SCALARS_D, "{\"i32\":1.0}", "expected an integer (int32), got 1");
	READ_FAILS(SCALARS_D, "{\"i32\":1e2}", "expected an integer");
	READ_FAILS(SCALARS_D, "{\"i32\":\"1.5\"}", "i32: '1.5' is not an integer");
	/* Input quoted in messages is cut at 40 bytes and shown as printable ASCII only. */
	READ_FAILS(SCALARS_D, "{\"i32\":\"\\u00e9\\n0123456789012345678901234567890123456789\"}",
		   "i32: '??\?0123456789012345678901234567890123456...' is not an integer");
	static const char *const bad_strings[] = {"\"\"",   "\" 1\"",  "\"1 \"", "\"+1\"",
						  "\"01\"", "\"0x1\"", "\"-\"",	 "\"1e3\""};
	char json[64];
	for (i = 0; i < KEEL_ARRAY_SIZE(bad_strings); i++) {
		snprintf(json, sizeof(json), "{\"i64\":%s}", bad_strings[i]);
		READ_FAILS(SCALARS_D, json, "is not an integer (int64)");
	}
	READ_FAILS(SCALARS_D, "{\"i32\":true}", "i32: expected a number, got boolean");
	READ_FAILS(SCALARS_D, "{\"r_i32\":[1,{}]}", "r_i32[1]: expected a number, got object");
}

TEST(read_reals)
{
	Keel__Test__Scalars *s;

	s = from_json(SCALARS_D, "{\"db\":1,\"fl\":\"2.5\",\"r_db\":[\"Infinity\",\"-Infinity\","
				 "\"NaN\",\"-1.5e-3\",-7],\"r_fl\":\"Infinity\"}");
	ASSERT_TRUE(s->db == 1.0);
	ASSERT_TRUE(s->fl == 2.5f);
	ASSERT_UINT_EQ(s->n_r_db, 5);
	ASSERT_TRUE(isinf(s->r_db[0]) && s->r_db[0] > 0);
	ASSERT_TRUE(isinf(s->r_db[1]) && s->r_db[1] < 0);
	ASSERT_TRUE(isnan(s->r_db[2]));
	ASSERT_TRUE(s->r_db[3] == -1.5e-3);
	ASSERT_TRUE(s->r_db[4] == -7.0);
	ASSERT_UINT_EQ(s->n_r_fl, 1);
	ASSERT_TRUE(isinf(s->r_fl[0]));
	keel_pbjson_free(&s->base);
	/* A double that rounds to FLT_MAX is a float; one that would round to infinity is not. */
	s = from_json(SCALARS_D, "{\"fl\":3.4028235677973362e+38}");
	ASSERT_TRUE(s->fl == FLT_MAX);
	keel_pbjson_free(&s->base);
	READ_FAILS(SCALARS_D, "{\"fl\":3.4028235677973366e+38}", "fl: 3.40282e+38 is out of range");
	READ_FAILS(SCALARS_D, "{\"fl\":-1e39}", "is out of range for float");
	READ_FAILS(SCALARS_D, "{\"db\":\"inf\"}", "db: 'inf' is not a number");
	READ_FAILS(SCALARS_D, "{\"db\":\"infinity\"}", "is not a number");
	READ_FAILS(SCALARS_D, "{\"db\":\"0x10\"}", "is not a number");
	READ_FAILS(SCALARS_D, "{\"db\":\".5\"}", "is not a number");
	READ_FAILS(SCALARS_D, "{\"db\":\"1.\"}", "is not a number");
	READ_FAILS(SCALARS_D, "{\"db\":\"1e\"}", "is not a number");
	READ_FAILS(SCALARS_D, "{\"db\":\"1e400\"}", "db: 1e400 is out of range for double");
	READ_FAILS(SCALARS_D, "{\"db\":null,\"fl\":{}}", "fl: expected a number, got object");
}

TEST(read_bools_and_strings)
{
	Keel__Test__Scalars *s;

	s = from_json(SCALARS_D, "{\"b\":\"true\",\"r_b\":[true,false,\"false\"],\"s\":\"x\","
				 "\"r_s\":\"solo\"}");
	ASSERT_TRUE(s->has_b && s->b);
	ASSERT_UINT_EQ(s->n_r_b, 3);
	ASSERT_TRUE(s->r_b[0] && !s->r_b[1] && !s->r_b[2]);
	ASSERT_STR_EQ(s->s, "x");
	/* A bare scalar where a repeated one is expected is a one-element list (as in Mesos). */
	ASSERT_UINT_EQ(s->n_r_s, 1);
	ASSERT_STR_EQ(s->r_s[0], "solo");
	keel_pbjson_free(&s->base);
	READ_FAILS(SCALARS_D, "{\"b\":1}", "b: expected a boolean, got number");
	READ_FAILS(SCALARS_D, "{\"b\":\"yes\"}", "b: expected a boolean, got string");
	READ_FAILS(SCALARS_D, "{\"s\":true}", "s: expected a string, got boolean");
	READ_FAILS(SCALARS_D, "{\"r_s\":[\"a\",5]}", "r_s[1]: expected a string, got number");
}

TEST(read_repeated_message_forms)
{
	Mesos__V1__Scheduler__Call *c;

	/* An object where a repeated message is expected is a one-element list. */
	c = from_json(CALL_D, "{\"decline\":{\"offer_ids\":{\"value\":\"o1\"}}}");
	ASSERT_UINT_EQ(c->decline->n_offer_ids, 1);
	ASSERT_STR_EQ(c->decline->offer_ids[0]->value, "o1");
	ASSERT_NULL(c->decline->filters);
	keel_pbjson_free(&c->base);
	c = from_json(CALL_D, "{\"decline\":{\"offer_ids\":[],\"filters\":{}}}");
	ASSERT_UINT_EQ(c->decline->n_offer_ids, 0);
	ASSERT_NULL(c->decline->offer_ids);
	ASSERT_FALSE(c->decline->filters->has_refuse_seconds);
	keel_pbjson_free(&c->base);
	c = from_json(CALL_D, "{\"decline\":{\"offer_ids\":[null,{\"value\":\"a\"},null]}}");
	ASSERT_UINT_EQ(c->decline->n_offer_ids, 1);
	keel_pbjson_free(&c->base);
}

TEST(read_missing_required_fields_by_path)
{
	READ_FAILS(CALL_D, "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{}}}",
		   "missing required fields: subscribe.framework_info.user, "
		   "subscribe.framework_info.name");
	READ_FAILS(CALL_D, "{\"subscribe\":{}}",
		   "missing required field: subscribe.framework_info");
	READ_FAILS(
	    CALL_D,
	    "{\"accept\":{\"offer_ids\":[{\"value\":\"o\"}],\"operations\":[{\"type\":\"LAUNCH\","
	    "\"launch\":{\"task_infos\":[{\"name\":\"t\",\"task_id\":{\"value\":\"t\"},"
	    "\"agent_id\":{\"value\":\"a\"}},{\"name\":\"t2\",\"task_id\":{},"
	    "\"agent_id\":{\"value\":\"a\"},\"resources\":[{\"name\":\"cpus\","
	    "\"scalar\":{\"value\":1}}]}]}}]}}",
	    "missing required fields: accept.operations[0].launch.task_infos[1].task_id.value, "
	    "accept.operations[0].launch.task_infos[1].resources[0].type");
	READ_FAILS(&mesos__v1__framework_id__descriptor, "{}", "missing required field: value");
	/* Maps: the path shows the key. */
	READ_FAILS(&mesos__v1__task_info__descriptor,
		   "{\"name\":\"t\",\"task_id\":{\"value\":\"t\"},\"agent_id\":{\"value\":\"a\"},"
		   "\"limits\":{\"cpus\":{}}}",
		   "missing required field: limits[cpus].value");

	/* Many missing fields: the list is cut with "..." but still names the first ones. */
	char json[4096];
	char msg[KEEL_ERRMSG_SIZE];
	ProtobufCMessage *m;
	/* Nest.kids carries required name and color at every level. */
	strcpy(json, "{\"name\":\"top\",\"color\":\"RED\",\"kids\":[");
	for (int i = 0; i < 100; i++)
		strcat(json, i ? ",{}" : "{}");
	strcat(json, "]}");
	ASSERT_INT_EQ(keel_pbjson_read(NEST_D, json, strlen(json), &m, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg,
			    "missing required fields: kids[0].name, kids[0].color, kids[1].name");
	ASSERT_STR_CONTAINS(msg, ", ...");
	ASSERT_UINT_LT(strlen(msg), KEEL_ERRMSG_SIZE);
}

TEST(read_maps)
{
	Keel__Test__Maps *m;

	m = from_json(MAPS_D,
		      "{\"by_int\":{\"-7\":\"a\",\"8\":\"b\"},\"by_bool\":{\"false\":\"9\"},"
		      "\"by_u64\":{\"1\":\"GREEN\",\"2\":\"PINK\",\"3\":null},"
		      "\"by_name\":{}}");
	ASSERT_UINT_EQ(m->n_by_int, 2);
	ASSERT_INT_EQ(m->by_int[0]->key, -7);
	ASSERT_STR_EQ(m->by_int[0]->value, "a");
	ASSERT_UINT_EQ(m->n_by_bool, 1);
	ASSERT_FALSE(m->by_bool[0]->key);
	ASSERT_INT_EQ(m->by_bool[0]->value, 9);
	/* The PINK entry is dropped like an unknown repeated enum; null values are skipped. */
	ASSERT_UINT_EQ(m->n_by_u64, 1);
	ASSERT_UINT_EQ(m->by_u64[0]->key, 1);
	ASSERT_UINT_EQ(m->n_by_name, 0);
	keel_pbjson_free(&m->base);
	READ_FAILS(MAPS_D, "{\"by_int\":{\"x\":\"a\"}}",
		   "by_int[x]: 'x' is not an integer (int32)");
	READ_FAILS(MAPS_D, "{\"by_int\":{\"3000000000\":\"a\"}}",
		   "by_int[3000000000]: 3000000000 is");
	READ_FAILS(MAPS_D, "{\"by_bool\":{\"yes\":1}}", "by_bool[yes]: map key is not a boolean");
	READ_FAILS(MAPS_D, "{\"by_int\":[{\"1\":\"a\"}]}",
		   "by_int: expected an object (map), got array");
	READ_FAILS(MAPS_D, "{\"by_name\":{\"k\":{\"i32\":\"z\"}}}",
		   "by_name[k].i32: 'z' is not an integer");
	READ_FAILS(MAPS_D, "{\"by_name\":{\"k\\n\":5}}",
		   "by_name[k?]: expected an object, got number");
}

TEST(read_oneof)
{
	Keel__Test__Oneofs *o;

	o = from_json(ONEOFS_D, "{\"num\":null,\"text\":\"x\"}");
	ASSERT_INT_EQ(o->pick_case, KEEL__TEST__ONEOFS__PICK_TEXT);
	ASSERT_STR_EQ(o->text, "x");
	keel_pbjson_free(&o->base);
	o = from_json(ONEOFS_D, "{\"color\":\"PINK\",\"msg\":{\"s\":\"y\"}}");
	ASSERT_INT_EQ(o->pick_case, KEEL__TEST__ONEOFS__PICK_MSG);
	ASSERT_STR_EQ(o->msg->s, "y");
	keel_pbjson_free(&o->base);
	o = from_json(ONEOFS_D, "{\"color\":\"PINK\"}");
	ASSERT_INT_EQ(o->pick_case, KEEL__TEST__ONEOFS__PICK__NOT_SET);
	keel_pbjson_free(&o->base);
	READ_FAILS(ONEOFS_D, "{\"num\":1,\"text\":\"x\"}",
		   "text: conflicts with 'num' (same oneof)");
	/* A failure inside the selected member frees it (checked by ASan). */
	READ_FAILS(ONEOFS_D, "{\"msg\":{\"s\":\"y\",\"i32\":\"q\"}}", "msg.i32: 'q' is not");
	READ_FAILS(ONEOFS_D, "{\"text\":1}", "text: expected a string, got number");
}

TEST(read_depth_limit)
{
	char json[2048] = "";
	size_t i;

	for (i = 0; i < KEEL_PBJSON_MAX_DEPTH - 1; i++)
		strcat(json, "{\"value\":\"c\",\"parent\":");
	strcat(json, "{\"value\":\"c\"}");
	for (i = 0; i < KEEL_PBJSON_MAX_DEPTH - 1; i++)
		strcat(json, "}");
	keel_pbjson_free(from_json(&mesos__v1__container_id__descriptor, json));

	strcpy(json, "");
	for (i = 0; i < KEEL_PBJSON_MAX_DEPTH; i++)
		strcat(json, "{\"value\":\"c\",\"parent\":");
	strcat(json, "{\"value\":\"c\"}");
	for (i = 0; i < KEEL_PBJSON_MAX_DEPTH; i++)
		strcat(json, "}");
	READ_FAILS(&mesos__v1__container_id__descriptor, json, "nested deeper than 64 objects");
}

TEST(read_proto3)
{
	Keel__Test__Plain3 *p = from_json(&keel__test__plain3__descriptor,
					  "{\"n\":0,\"s\":\"\",\"items\":[\"a\"],\"sub\":{}}");

	ASSERT_INT_EQ(p->n, 0);
	ASSERT_STR_EQ(p->s, "");
	ASSERT_NOT_NULL(p->sub);
	WRITES(p, "{\"sub\":{},\"items\":[\"a\"]}");
	keel_pbjson_free(&p->base);
}

#ifdef KEEL_FAILPOINTS
/* Counts the allocations reading json takes, then fails each one in turn. */
static void read_fails_cleanly_at_every_allocation(const ProtobufCMessageDescriptor *d,
						   const char *json)
{
	char msg[KEEL_ERRMSG_SIZE];
	ProtobufCMessage *m;
	long n, i;
	int rv;

	keel_alloc_fail_after(0, false);
	ASSERT_OK(keel_pbjson_read(d, json, strlen(json), &m, msg));
	n = keel_alloc_fail_after(0, false);
	ASSERT_INT_GT(n, 2);
	keel_pbjson_free(m);
	for (i = 1; i <= n; i++) {
		TH_CONTEXT("%s: allocation %ld of %ld", d->name, i, n);
		m = (ProtobufCMessage *)1;
		keel_alloc_fail_after(i, false);
		rv = keel_pbjson_read(d, json, strlen(json), &m, msg);
		keel_alloc_fail_after(0, false);
		ASSERT_INT_EQ(rv, -ENOMEM);
		ASSERT_NULL(m);
		ASSERT_STR_CONTAINS(msg, "out of memory");
	}
	/* Sticky failure too: everything after the first failure fails. */
	keel_alloc_fail_after(n / 2, true);
	rv = keel_pbjson_read(d, json, strlen(json), &m, msg);
	keel_alloc_fail_after(0, false);
	ASSERT_INT_EQ(rv, -ENOMEM);
	TH_CONTEXT(NULL);
}
#endif

TEST(read_out_of_memory_at_every_step)
{
#ifndef KEEL_FAILPOINTS
	TH_SKIP("needs -Dfailpoints=true");
#else
	read_fails_cleanly_at_every_allocation(
	    CALL_D,
	    "{\"framework_id\":{\"value\":\"f\"},\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":["
	    "{\"value\":\"o1\"},{\"value\":\"o2\"}],\"operations\":[{\"type\":\"LAUNCH\","
	    "\"launch\":{\"task_infos\":[{\"name\":\"t\",\"task_id\":{\"value\":\"t\"},"
	    "\"agent_id\":{\"value\":\"a\"},\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
	    "\"scalar\":{\"value\":1}}],\"command\":{\"value\":\"sleep 1\",\"uris\":[{\"value\":"
	    "\"u\"}],\"arguments\":[\"a\",\"b\"]},\"data\":\"AAEC\",\"limits\":{\"cpus\":{"
	    "\"value\":"
	    "2}}}]}}],\"filters\":{\"refuse_seconds\":1}}}");
	read_fails_cleanly_at_every_allocation(EVENT_D, offers_json);
	read_fails_cleanly_at_every_allocation(
	    MAPS_D, "{\"by_name\":{\"a\":{\"r_s\":[\"x\",\"y\"],\"by\":\"YWJj\"},\"b\":{}},"
		    "\"by_int\":{\"1\":\"one\",\"2\":\"two\"},\"by_u64\":{\"5\":\"RED\"}}");
	read_fails_cleanly_at_every_allocation(
	    SCALARS_D, "{\"r_msg\":[{\"s\":\"a\"},{\"r_by\":[\"YQ==\",\"Yg==\"]}],\"r_i64\":[1,2],"
		       "\"s\":\"q\",\"color\":null}");
	read_fails_cleanly_at_every_allocation(
	    ONEOFS_D, "{\"msg\":{\"s\":\"abc\",\"r_s\":[\"d\"]},\"other\":1}");
#endif
}

/* ---- keel_pbjson_check ------------------------------------------------------------------- */

TEST(check_required_fields)
{
	Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Subscribe sub = MESOS__V1__SCHEDULER__CALL__SUBSCRIBE__INIT;
	Mesos__V1__Scheduler__Call__Decline dec = MESOS__V1__SCHEDULER__CALL__DECLINE__INIT;
	Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
	Mesos__V1__OfferID oid = MESOS__V1__OFFER_ID__INIT, *oids[2] = {&oid, NULL};
	Keel__Test__Scalars s = KEEL__TEST__SCALARS__INIT;
	char *strs[] = {"a", NULL};
	char msg[KEEL_ERRMSG_SIZE];

	ASSERT_OK(keel_pbjson_check(&call.base, msg));
	call.subscribe = &sub;
	ASSERT_INT_EQ(keel_pbjson_check(&call.base, msg), -EINVAL);
	ASSERT_STR_EQ(msg, "missing required field: subscribe.framework_info");
	sub.framework_info = &fi;
	ASSERT_INT_EQ(keel_pbjson_check(&call.base, msg), -EINVAL);
	ASSERT_STR_EQ(msg, "missing required fields: subscribe.framework_info.user, "
			   "subscribe.framework_info.name");
	fi.user = "u";
	fi.name = "n";
	ASSERT_OK(keel_pbjson_check(&call.base, msg));
	call.decline = &dec;
	dec.n_offer_ids = 1;
	dec.offer_ids = oids;
	ASSERT_INT_EQ(keel_pbjson_check(&call.base, msg), -EINVAL);
	ASSERT_STR_EQ(msg, "missing required field: decline.offer_ids[0].value");
	oid.value = "o";
	ASSERT_OK(keel_pbjson_check(&call.base, msg));
	dec.n_offer_ids = 2;
	ASSERT_INT_EQ(keel_pbjson_check(&call.base, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg, "decline.offer_ids[1]: NULL message");
	dec.offer_ids = NULL;
	ASSERT_INT_EQ(keel_pbjson_check(&call.base, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg, "decline.offer_ids: 2 elements but no array");
	s.n_r_s = 2;
	s.r_s = strs;
	ASSERT_INT_EQ(keel_pbjson_check(&s.base, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg, "r_s[1]: NULL string");
	s.n_r_s = 1;
	ASSERT_OK(keel_pbjson_check(&s.base, NULL));
}

/* ---- keel_pbjson_unpack ----------------------------------------------------------------- */

/* ContainerID{value:"", parent:{...}} nested `depth` levels below the top, as protobuf bytes. */
static uint8_t *deep_container_id(unsigned depth, size_t *len)
{
	size_t cap = (size_t)depth * 8 + 16, n;
	uint8_t *buf = malloc(cap), *tmp = malloc(cap), *t;
	unsigned i;

	buf[0] = 0x0a; /* value = "" */
	buf[1] = 0;
	*len = 2;
	for (i = 0; i < depth; i++) {
		size_t l = *len;

		n = 0;
		tmp[n++] = 0x0a;
		tmp[n++] = 0;
		tmp[n++] = 0x12; /* parent */
		do {
			tmp[n++] = (uint8_t)((l & 0x7f) | (l >> 7 ? 0x80 : 0));
			l >>= 7;
		} while (l != 0);
		memcpy(tmp + n, buf, *len);
		n += *len;
		t = buf;
		buf = tmp;
		tmp = t;
		*len = n;
	}
	free(tmp);
	return buf;
}

TEST(unpack_limits_nesting)
{
	const ProtobufCMessageDescriptor *d = &mesos__v1__container_id__descriptor;
	char msg[KEEL_ERRMSG_SIZE];
	ProtobufCMessage *m;
	size_t len;
	uint8_t *buf;

	buf = deep_container_id(KEEL_PBJSON_MAX_DEPTH - 1, &len);
	ASSERT_OK(keel_pbjson_unpack(d, buf, len, &m, msg));
	keel_pbjson_free(m);
	free(buf);
	buf = deep_container_id(KEEL_PBJSON_MAX_DEPTH, &len);
	ASSERT_INT_EQ(keel_pbjson_unpack(d, buf, len, &m, msg), -EINVAL);
	ASSERT_NULL(m);
	ASSERT_STR_CONTAINS(msg, "nested deeper than 64");
	free(buf);
	/* Deep enough to overflow the stack in protobuf_c_message_unpack itself. */
	buf = deep_container_id(200000, &len);
	ASSERT_INT_EQ(keel_pbjson_unpack(d, buf, len, &m, msg), -EINVAL);
	free(buf);
}

TEST(unpack_rejects_malformed)
{
	static const struct {
		const char *bytes;
		size_t len;
		const char *why;
	} bad[] = {
	    {"\x0a\x05"
	     "ab",
	     4, "truncated"},		      /* length past the end */
	    {"\x08\x80", 2, "bad varint"},    /* unterminated varint */
	    {"\x09\x01\x02", 3, "truncated"}, /* 64-bit field cut short */
	    {"\x0d\x01", 2, "truncated"},     /* 32-bit field cut short */
	    {"\x0b", 1, "wire type 3"},	      /* group start */
	    {"\x00\x01", 2, "bad field key"}, /* field number 0 */
	    {"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80", 10, "bad field key"},
	    {"\x12\x00", 2, "malformed protobuf or missing required"}, /* parent without value */
	    {"", 0, "missing required"},
	};
	const ProtobufCMessageDescriptor *d = &mesos__v1__container_id__descriptor;
	char msg[KEEL_ERRMSG_SIZE];
	ProtobufCMessage *m;
	size_t i;

	for (i = 0; i < KEEL_ARRAY_SIZE(bad); i++) {
		TH_CONTEXT("row %zu", i);
		m = (ProtobufCMessage *)1;
		msg[0] = '\0';
		ASSERT_INT_EQ(keel_pbjson_unpack(d, bad[i].bytes, bad[i].len, &m, msg), -EINVAL);
		ASSERT_NULL(m);
		ASSERT_STR_CONTAINS(msg, bad[i].why);
	}
	TH_CONTEXT(NULL);
	/* Unknown fields of every wire type are skipped by the scan and kept by unpack. */
	static const uint8_t ok[] = {0x0a, 1, 'v', 0x78, 0x05, 0x81, 0x01, 1,	 2,
				     3,	   4, 5,   6,	 7,    8,    0x85, 0x01, 1,
				     2,	   3, 4,   0x8a, 0x01, 2,    'x',  'y'};
	ASSERT_OK(keel_pbjson_unpack(d, ok, sizeof(ok), &m, msg));
	ASSERT_STR_EQ(((Mesos__V1__ContainerID *)m)->value, "v");
	ASSERT_UINT_EQ(m->n_unknown_fields, 4);
	keel_pbjson_free(m);
}

TEST(unpack_out_of_memory_at_every_step)
{
#ifndef KEEL_FAILPOINTS
	TH_SKIP("needs -Dfailpoints=true");
#else
	ProtobufCMessage *ev = from_json(EVENT_D, offers_json), *m;
	size_t n = protobuf_c_message_get_packed_size(ev);
	uint8_t *buf = malloc(n);
	char msg[KEEL_ERRMSG_SIZE];
	long count, i;

	ASSERT_UINT_EQ(protobuf_c_message_pack(ev, buf), n);
	keel_alloc_fail_after(0, false);
	ASSERT_OK(keel_pbjson_unpack(EVENT_D, buf, n, &m, msg));
	count = keel_alloc_fail_after(0, false);
	ASSERT_INT_GT(count, 5);
	char *a = to_json(ev), *b = to_json(m);
	ASSERT_STR_EQ(b, a);
	free(a);
	free(b);
	keel_pbjson_free(m);
	for (i = 1; i <= count; i++) {
		TH_CONTEXT("allocation %ld of %ld", i, count);
		keel_alloc_fail_after(i, false);
		int rv = keel_pbjson_unpack(EVENT_D, buf, n, &m, msg);
		keel_alloc_fail_after(0, false);
		ASSERT_INT_EQ(rv, -ENOMEM);
		ASSERT_NULL(m);
		ASSERT_STR_CONTAINS(msg, "out of memory");
	}
	TH_CONTEXT(NULL);
	free(buf);
	keel_pbjson_free(ev);
#endif
}

/* ---- randomized round trips ------------------------------------------------------------------ */

static uint64_t rnd_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rnd_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Random valid UTF-8 (ASCII, controls, 2-, 3- and 4-byte characters). */
static char *rnd_utf8(void)
{
	size_t n = rnd() % 12, i, len = 0;
	char *s = malloc(n * 4 + 1);
	uint32_t cp;

	for (i = 0; i < n; i++) {
		switch (rnd() % 4) {
		case 0:
			cp = (uint32_t)(rnd() % 0x80);
			break;
		case 1:
			cp = 0x80 + (uint32_t)(rnd() % (0x800 - 0x80));
			break;
		case 2:
			cp = 0x800 + (uint32_t)(rnd() % (0x10000 - 0x800));
			if (cp >= 0xd800 && cp <= 0xdfff)
				cp = 0xfffd;
			break;
		default:
			cp = 0x10000 + (uint32_t)(rnd() % (0x110000 - 0x10000));
			break;
		}
		if (cp == 0)
			cp = ' ';
		if (cp < 0x80) {
			s[len++] = (char)cp;
		} else if (cp < 0x800) {
			s[len++] = (char)(0xc0 | cp >> 6);
			s[len++] = (char)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			s[len++] = (char)(0xe0 | cp >> 12);
			s[len++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			s[len++] = (char)(0x80 | (cp & 0x3f));
		} else {
			s[len++] = (char)(0xf0 | cp >> 18);
			s[len++] = (char)(0x80 | ((cp >> 12) & 0x3f));
			s[len++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			s[len++] = (char)(0x80 | (cp & 0x3f));
		}
	}
	s[len] = '\0';
	return s;
}

static double rnd_double(void)
{
	uint64_t bits = rnd();
	double d;

	switch (rnd() % 4) {
	case 0:
		return (double)(int64_t)rnd() / (double)(1 + rnd() % 1000);
	case 1:
		return (double)(int32_t)rnd();
	default:
		memcpy(&d, &bits, sizeof(d));
		return d; /* any bit pattern: NaNs, infinities, subnormals */
	}
}

TEST(random_round_trips)
{
	uint64_t seed = th_seed();
	int iter;

	rnd_state = seed;
	for (iter = 0; iter < 500; iter++) {
		Keel__Test__Scalars s = KEEL__TEST__SCALARS__INIT;
		uint8_t bytes[20];
		double dbl[3];
		float fl[2];
		uint64_t u64s[2];
		size_t i;

		TH_CONTEXT("seed %llu iteration %d", (unsigned long long)seed, iter);
		s.has_i32 = s.has_i64 = s.has_u32 = s.has_u64 = s.has_s64 = s.has_db = 1;
		s.has_fl = s.has_b = s.has_by = s.has_color = rnd() % 2;
		s.i32 = (int32_t)rnd();
		s.i64 = (int64_t)rnd();
		s.u32 = (uint32_t)rnd();
		s.u64 = rnd() >> 1; /* above INT64_MAX, jansson needs a string: see read_rejects */
		s.s64 = (int64_t)rnd();
		s.db = rnd_double();
		s.fl = (float)rnd_double();
		s.b = (protobuf_c_boolean)(rnd() % 2);
		s.color = (Keel__Test__Color)(rnd() % 3);
		s.s = rnd_utf8();
		s.by.len = rnd() % sizeof(bytes);
		for (i = 0; i < sizeof(bytes); i++)
			bytes[i] = (uint8_t)rnd();
		s.by.data = s.by.len ? bytes : NULL;
		for (i = 0; i < 3; i++)
			dbl[i] = rnd_double();
		s.n_r_db = rnd() % 4;
		s.r_db = dbl;
		fl[0] = (float)rnd_double();
		fl[1] = -fl[0];
		s.n_r_fl = rnd() % 3;
		s.r_fl = fl;
		u64s[0] = rnd() >> 1;
		u64s[1] = 0;
		s.n_r_u64 = rnd() % 3;
		s.r_u64 = u64s;

		char *j1 = to_json(&s);
		Keel__Test__Scalars *r = from_json(SCALARS_D, j1);
		char *j2 = to_json(r);
		ASSERT_STR_EQ(j2, j1);
		/* Field by field, the values came back (doubles bit for bit unless NaN). */
		ASSERT_INT_EQ(r->i64, s.i64);
		ASSERT_UINT_EQ(r->u64, s.u64);
		ASSERT_STR_EQ(r->s, s.s);
		ASSERT_UINT_EQ(r->by.len, s.has_by ? s.by.len : 0);
		if (s.has_by && s.by.len)
			ASSERT_MEM_EQ(r->by.data, s.by.data, s.by.len);
		ASSERT_TRUE(isnan(s.db) ? isnan(r->db) : memcmp(&r->db, &s.db, 8) == 0);
		if (s.has_fl)
			ASSERT_TRUE(isnan(s.fl) ? isnan(r->fl) : memcmp(&r->fl, &s.fl, 4) == 0);
		/* JSON and protobuf agree: binary pack of both is the same (NaN payloads aside). */
		free(j1);
		free(j2);
		keel_pbjson_free(&r->base);
		free(s.s);
	}
	TH_CONTEXT(NULL);
}

TEST(allocator_works_with_unpack)
{
	Mesos__V1__Scheduler__Event *e = from_json(EVENT_D, offers_json);
	size_t n = protobuf_c_message_get_packed_size(&e->base);
	uint8_t *buf = malloc(n);
	ProtobufCAllocator a;
	ProtobufCMessage *u;

	ASSERT_UINT_EQ(protobuf_c_message_pack(&e->base, buf), n);
	keel_pbjson_allocator_init(&a);
	u = protobuf_c_message_unpack(EVENT_D, &a, n, buf);
	ASSERT_NOT_NULL(u);
	ASSERT_OK(keel_pbjson_check(u, NULL));
	char *j = to_json(u);
	ASSERT_STR_EQ(j, offers_json);
	free(j);
	keel_pbjson_free(u);
	keel_pbjson_free(&e->base);
	keel_pbjson_free(NULL);
	free(buf);
}
