/* Unit tests for the replog wire codec (replog/wire.c): round trips, refusals, allocation failures.
 */
#include <errno.h>
#include <stdlib.h>

#include "harness.h"
#include "replog/core.h"
#include "replog/replog.pb-c.h"
#include "replog/wire.h"
#include "runtime/alloc.h"
#include "runtime/err.h"

static const struct replog_action acts[] = {
    {.position = 5,
     .ballot = 0x101,
     .type = REPLOG_ACTION_APPEND,
     .learned = true,
     .value = "five",
     .len = 4},
    {.position = 6, .ballot = 0x101, .type = REPLOG_ACTION_NONE, .learned = true},
    {.position = 7, .ballot = 0x101, .type = REPLOG_ACTION_TRUNCATE, .learned = true, .to = 3},
    {.position = UINT64_MAX - 1, .type = REPLOG_ACTION_NOP, .learned = true, .tombstone = true},
};

/* One message of every type, with every field set to something other than zero. */
static size_t sample_msgs(struct replog_msg *m)
{
	size_t n = 0;
	memset(m, 0, sizeof(*m) * 10);
	m[n].type = REPLOG_MSG_PROMISE_REQ;
	m[n].u.promise_req.explicit_ = true;
	m[n++].u.promise_req.position = 1ull << 32;
	m[n].type = REPLOG_MSG_PROMISE_RESP;
	m[n].u.promise_resp = (struct replog_promise_resp){.reply = REPLOG_ACCEPT,
							   .promised = 9,
							   .begin = 2,
							   .end = 8,
							   .explicit_ = true,
							   .position = 5,
							   .has_action = true,
							   .action = acts[0]};
	n++;
	m[n].type = REPLOG_MSG_WRITE_REQ;
	m[n++].u.write_req.action = acts[2];
	m[n].type = REPLOG_MSG_WRITE_RESP;
	m[n++].u.write_resp = (struct replog_write_resp){
	    .reply = REPLOG_REJECT, .promised = 77, .position = 10000000000ull};
	m[n].type = REPLOG_MSG_LEARNED;
	m[n].u.learned.n = 4;
	m[n++].u.learned.entries = acts;
	m[n++].type = REPLOG_MSG_RECOVER_REQ;
	m[n].type = REPLOG_MSG_RECOVER_RESP;
	m[n++].u.recover_resp = (struct replog_recover_resp){
	    .status = REPLOG_RECOVERING, .promised = 3, .begin = 4, .end = 5};
	m[n].type = REPLOG_MSG_LEARN_REQ;
	m[n++].u.learn_req = (struct replog_learn_req){.from = 1, .to = UINT64_MAX - 1};
	m[n].type = REPLOG_MSG_LEARN_RESP;
	m[n++].u.learn_resp = (struct replog_learn_resp){
	    .begin = 1, .end = 9, .upto = 7, .n = 1, .actions = &acts[0]};
	for (size_t i = 0; i < n; i++) {
		m[i].tag = i % 2 ? REPLOG_TAG_CATCHUP : REPLOG_TAG_WRITER;
		m[i].from = (uint8_t)(i % 3);
		m[i].to = 63;
		m[i].ballot = 0x1234500 + i;
	}
	return n;
}

static void action_eq(const struct replog_action *a, const struct replog_action *b)
{
	ASSERT_UINT_EQ(a->position, b->position);
	ASSERT_UINT_EQ(a->ballot, b->ballot);
	ASSERT_UINT_EQ(a->type, b->type);
	ASSERT_INT_EQ(a->learned, b->learned);
	ASSERT_INT_EQ(a->tombstone, b->tombstone);
	ASSERT_UINT_EQ(a->to, b->to);
	ASSERT_UINT_EQ(a->len, b->len);
	if (a->len)
		ASSERT_MEM_EQ(a->value, b->value, a->len);
}

TEST(wire_every_message_type_round_trips)
{
	struct replog_msg m[10];
	size_t n = sample_msgs(m);
	struct keel_buf buf = {0};
	struct replog_wire_batch b;
	char errmsg[KEEL_ERRMSG_SIZE];

	ASSERT_OK(replog_wire_encode(m, n, &buf, errmsg));
	ASSERT_OK(replog_wire_decode(keel_buf_rptr(&buf), keel_buf_size(&buf), &b, errmsg));
	ASSERT_UINT_EQ(b.n, n);
	for (size_t i = 0; i < n; i++) {
		const struct replog_msg *x = &m[i], *y = &b.msgs[i];
		TH_CONTEXT("message %zu", i);
		ASSERT_UINT_EQ(y->type, x->type);
		ASSERT_UINT_EQ(y->tag, x->tag);
		ASSERT_UINT_EQ(y->from, x->from);
		ASSERT_UINT_EQ(y->to, x->to);
		ASSERT_UINT_EQ(y->ballot, x->ballot);
	}
	TH_CONTEXT(NULL);
	ASSERT_TRUE(b.msgs[0].u.promise_req.explicit_);
	ASSERT_UINT_EQ(b.msgs[0].u.promise_req.position, 1ull << 32);
	ASSERT_UINT_EQ(b.msgs[1].u.promise_resp.reply, REPLOG_ACCEPT);
	ASSERT_UINT_EQ(b.msgs[1].u.promise_resp.end, 8);
	ASSERT_TRUE(b.msgs[1].u.promise_resp.has_action);
	action_eq(&b.msgs[1].u.promise_resp.action, &acts[0]);
	action_eq(&b.msgs[2].u.write_req.action, &acts[2]);
	ASSERT_UINT_EQ(b.msgs[3].u.write_resp.promised, 77);
	ASSERT_UINT_EQ(b.msgs[3].u.write_resp.position, 10000000000ull);
	ASSERT_UINT_EQ(b.msgs[4].u.learned.n, 4);
	for (size_t i = 0; i < 4; i++)
		action_eq(&b.msgs[4].u.learned.entries[i], &acts[i]);
	ASSERT_UINT_EQ(b.msgs[6].u.recover_resp.status, REPLOG_RECOVERING);
	ASSERT_UINT_EQ(b.msgs[6].u.recover_resp.end, 5);
	ASSERT_UINT_EQ(b.msgs[7].u.learn_req.to, UINT64_MAX - 1);
	ASSERT_UINT_EQ(b.msgs[8].u.learn_resp.upto, 7);
	action_eq(&b.msgs[8].u.learn_resp.actions[0], &acts[0]);

	/* What the decoder returns passes the core's own check (nodes = 64). */
	struct replog_config cfg = {.self = 63, .nodes = 64, .quorum = 33};
	for (size_t i = 0; i < n; i++)
		if (b.msgs[i].type != REPLOG_MSG_PROMISE_RESP)
			ASSERT_OK(replog_msg_validate(&b.msgs[i], &cfg));
	replog_wire_batch_free(&b);
	replog_wire_batch_free(&b); /* zeroed: fine */
	keel_buf_free(&buf);
}

TEST(wire_empty_batch)
{
	struct keel_buf buf = {0};
	struct replog_wire_batch b;

	ASSERT_OK(replog_wire_encode(NULL, 0, &buf, NULL));
	ASSERT_UINT_EQ(keel_buf_size(&buf), 0);
	ASSERT_OK(replog_wire_decode("", 0, &b, NULL));
	ASSERT_UINT_EQ(b.n, 0);
	replog_wire_batch_free(&b);
	keel_buf_free(&buf);
}

/* Packs a hand-made batch of one message. */
static void pack_one(Keel__Replog__Message *m, struct keel_buf *buf)
{
	Keel__Replog__Batch b = KEEL__REPLOG__BATCH__INIT;
	b.n_messages = 1;
	b.messages = &m;
	keel_buf_clear(buf);
	ASSERT_OK(keel_buf_reserve(buf, keel__replog__batch__get_packed_size(&b)));
	keel_buf_commit(buf, keel__replog__batch__pack(&b, (uint8_t *)keel_buf_wptr(buf)));
}

static void expect_refused(struct keel_buf *buf, const char *why)
{
	struct replog_wire_batch b;
	char errmsg[KEEL_ERRMSG_SIZE] = "";

	ASSERT_INT_EQ(replog_wire_decode(keel_buf_rptr(buf), keel_buf_size(buf), &b, errmsg),
		      -EINVAL);
	ASSERT_STR_CONTAINS(errmsg, why);
	ASSERT_NULL(b.msgs);
}

TEST(wire_malformed_messages_are_refused)
{
	struct keel_buf buf = {0};
	Keel__Replog__Message m = KEEL__REPLOG__MESSAGE__INIT;
	Keel__Replog__WriteRequest w = KEEL__REPLOG__WRITE_REQUEST__INIT;
	Keel__Replog__WriteResponse wr = KEEL__REPLOG__WRITE_RESPONSE__INIT;
	Keel__Replog__Action a = KEEL__REPLOG__ACTION__INIT;
	struct replog_wire_batch b;
	char errmsg[KEEL_ERRMSG_SIZE];

	m.type = 99;
	m.tag = REPLOG_TAG_WRITER;
	pack_one(&m, &buf);
	expect_refused(&buf, "unknown type");

	m.type = REPLOG_MSG_WRITE_REQ; /* no body */
	pack_one(&m, &buf);
	expect_refused(&buf, "without its body");

	m.body_case = KEEL__REPLOG__MESSAGE__BODY_WRITE_REQ;
	m.write_req = &w;
	w.action = &a;
	a.position = 3;
	a.has_type = true;
	a.type = KEEL__REPLOG__ACTION_TYPE__ACTION_NONE; /* compact only in LEARNED */
	pack_one(&m, &buf);
	expect_refused(&buf, "bad action type");

	a.type = KEEL__REPLOG__ACTION_TYPE__ACTION_NOP;
	a.has_value = true;
	a.value.data = (uint8_t *)"x";
	a.value.len = 1;
	pack_one(&m, &buf);
	expect_refused(&buf, "value on a non-APPEND");

	a.has_value = false;
	a.position = UINT64_MAX;
	pack_one(&m, &buf);
	expect_refused(&buf, "position out of range");

	a.position = 1;
	m.tag = 7;
	pack_one(&m, &buf);
	expect_refused(&buf, "unknown tag");

	m.tag = REPLOG_TAG_WRITER;
	m.from = 64;
	pack_one(&m, &buf);
	expect_refused(&buf, "node index");

	m.from = 0;
	m.type = REPLOG_MSG_WRITE_RESP;
	m.body_case = KEEL__REPLOG__MESSAGE__BODY_WRITE_RESP;
	m.write_resp = &wr;
	wr.reply = 9;
	pack_one(&m, &buf);
	expect_refused(&buf, "unknown reply");

	/* Not protobuf at all, and too big. */
	ASSERT_INT_EQ(replog_wire_decode("\xff\xff\xff", 3, &b, errmsg), -EINVAL);
	ASSERT_INT_EQ(replog_wire_decode("", REPLOG_WIRE_BODY_MAX + 1, &b, errmsg), -EMSGSIZE);

	/* Encoding an unknown type fails too. */
	struct replog_msg bad = {.type = 42};
	keel_buf_clear(&buf);
	ASSERT_INT_EQ(replog_wire_encode(&bad, 1, &buf, errmsg), -EINVAL);
	ASSERT_STR_CONTAINS(errmsg, "unknown message type 42");
	ASSERT_UINT_EQ(keel_buf_size(&buf), 0);
	keel_buf_free(&buf);
}

#ifdef KEEL_FAILPOINTS
TEST(wire_every_allocation_failure_is_reported)
{
	struct replog_msg m[10];
	size_t n = sample_msgs(m);
	struct keel_buf buf = {0}, enc = {0};
	struct replog_wire_batch b;
	long count;

	ASSERT_OK(replog_wire_encode(m, n, &enc, NULL));
	keel_alloc_fail_after(0, false);
	for (long i = 1;; i++) {
		keel_buf_clear(&buf);
		keel_alloc_fail_after(i, false);
		int rv = replog_wire_encode(m, n, &buf, NULL);
		count = keel_alloc_fail_after(0, false);
		if (rv == 0)
			break;
		ASSERT_INT_EQ(rv, -ENOMEM);
		ASSERT_TRUE(i < 1000);
	}
	for (long i = 1;; i++) {
		keel_alloc_fail_after(i, false);
		int rv = replog_wire_decode(keel_buf_rptr(&enc), keel_buf_size(&enc), &b, NULL);
		count = keel_alloc_fail_after(0, false);
		if (rv == 0) {
			replog_wire_batch_free(&b);
			break;
		}
		TH_CONTEXT("allocation %ld", i);
		ASSERT_INT_EQ(rv, -ENOMEM);
		ASSERT_NULL(b.msgs);
		ASSERT_TRUE(i < 1000);
	}
	(void)count;
	keel_buf_free(&buf);
	keel_buf_free(&enc);
}
#endif
