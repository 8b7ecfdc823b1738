/* Encoding and checked decoding of replog message batches with protobuf-c. */
#include "wire.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "replog/replog.pb-c.h"
#include "runtime/alloc.h"
#include "runtime/err.h"
#include "runtime/pbjson.h"

/* --- Encoding. --- */

/* Protobuf structs for one message, all in one allocation slot. */
struct wire_enc {
	Keel__Replog__Message m;	     /* the envelope */
	Keel__Replog__PromiseRequest preq;   /* PROMISE_REQ */
	Keel__Replog__PromiseResponse presp; /* PROMISE_RESP */
	Keel__Replog__WriteRequest wreq;     /* WRITE_REQ */
	Keel__Replog__WriteResponse wresp;   /* WRITE_RESP */
	Keel__Replog__Learned learned;	     /* LEARNED */
	Keel__Replog__RecoverRequest rreq;   /* RECOVER_REQ */
	Keel__Replog__RecoverResponse rresp; /* RECOVER_RESP */
	Keel__Replog__LearnRequest lreq;     /* LEARN_REQ */
	Keel__Replog__LearnResponse lresp;   /* LEARN_RESP */
	Keel__Replog__Action action;	     /* the single action of WRITE_REQ / PROMISE_RESP */
	Keel__Replog__Action *pacts;	     /* entries: action structs (owned) */
	Keel__Replog__Action **acts;	     /* entries: pointers (owned) */
};

static void wire_action_to_pb(const struct replog_action *a, Keel__Replog__Action *p)
{
	keel__replog__action__init(p);
	p->position = a->position;
	p->has_ballot = a->ballot != 0;
	p->ballot = a->ballot;
	p->has_type = true;
	p->type = (Keel__Replog__ActionType)a->type;
	p->has_learned = a->learned;
	p->learned = a->learned;
	p->has_tombstone = a->tombstone;
	p->tombstone = a->tombstone;
	p->has_to = a->type == REPLOG_ACTION_TRUNCATE;
	p->to = a->to;
	p->has_value = a->type == REPLOG_ACTION_APPEND;
	p->value.data = (uint8_t *)a->value;
	p->value.len = a->type == REPLOG_ACTION_APPEND ? a->len : 0;
}

static int wire_actions_to_pb(struct wire_enc *e, const struct replog_action *a, size_t n)
{
	if (n == 0)
		return 0;
	e->pacts = keel_calloc(n, sizeof(*e->pacts));
	e->acts = keel_calloc(n, sizeof(*e->acts));
	if (e->pacts == NULL || e->acts == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		wire_action_to_pb(&a[i], &e->pacts[i]);
		e->acts[i] = &e->pacts[i];
	}
	return 0;
}

static int wire_msg_to_pb(const struct replog_msg *m, struct wire_enc *e, char *errmsg)
{
	Keel__Replog__Message *p = &e->m;

	keel__replog__message__init(p);
	p->type = m->type;
	p->tag = m->tag;
	p->from = m->from;
	p->to = m->to;
	p->has_ballot = true;
	p->ballot = m->ballot;
	switch (m->type) {
	case REPLOG_MSG_PROMISE_REQ:
		keel__replog__promise_request__init(&e->preq);
		e->preq.has_explicit_ = m->u.promise_req.explicit_;
		e->preq.explicit_ = m->u.promise_req.explicit_;
		e->preq.has_position = true;
		e->preq.position = m->u.promise_req.position;
		p->body_case = KEEL__REPLOG__MESSAGE__BODY_PROMISE_REQ;
		p->promise_req = &e->preq;
		return 0;
	case REPLOG_MSG_PROMISE_RESP: {
		const struct replog_promise_resp *r = &m->u.promise_resp;
		keel__replog__promise_response__init(&e->presp);
		e->presp.reply = (Keel__Replog__Reply)r->reply;
		e->presp.has_promised = e->presp.has_begin = e->presp.has_end = true;
		e->presp.promised = r->promised;
		e->presp.begin = r->begin;
		e->presp.end = r->end;
		e->presp.has_explicit_ = r->explicit_;
		e->presp.explicit_ = r->explicit_;
		e->presp.has_position = true;
		e->presp.position = r->position;
		if (r->has_action) {
			wire_action_to_pb(&r->action, &e->action);
			e->presp.action = &e->action;
		}
		p->body_case = KEEL__REPLOG__MESSAGE__BODY_PROMISE_RESP;
		p->promise_resp = &e->presp;
		return 0;
	}
	case REPLOG_MSG_WRITE_REQ:
		keel__replog__write_request__init(&e->wreq);
		wire_action_to_pb(&m->u.write_req.action, &e->action);
		e->wreq.action = &e->action;
		p->body_case = KEEL__REPLOG__MESSAGE__BODY_WRITE_REQ;
		p->write_req = &e->wreq;
		return 0;
	case REPLOG_MSG_WRITE_RESP:
		keel__replog__write_response__init(&e->wresp);
		e->wresp.reply = (Keel__Replog__Reply)m->u.write_resp.reply;
		e->wresp.has_promised = e->wresp.has_position = true;
		e->wresp.promised = m->u.write_resp.promised;
		e->wresp.position = m->u.write_resp.position;
		p->body_case = KEEL__REPLOG__MESSAGE__BODY_WRITE_RESP;
		p->write_resp = &e->wresp;
		return 0;
	case REPLOG_MSG_LEARNED:
		keel__replog__learned__init(&e->learned);
		if (wire_actions_to_pb(e, m->u.learned.entries, m->u.learned.n) < 0)
			return keel_errf(errmsg, -ENOMEM, "encode: out of memory");
		e->learned.n_entries = m->u.learned.n;
		e->learned.entries = e->acts;
		p->body_case = KEEL__REPLOG__MESSAGE__BODY_LEARNED;
		p->learned = &e->learned;
		return 0;
	case REPLOG_MSG_RECOVER_REQ:
		keel__replog__recover_request__init(&e->rreq);
		p->body_case = KEEL__REPLOG__MESSAGE__BODY_RECOVER_REQ;
		p->recover_req = &e->rreq;
		return 0;
	case REPLOG_MSG_RECOVER_RESP:
		keel__replog__recover_response__init(&e->rresp);
		e->rresp.status = (Keel__Replog__Status)m->u.recover_resp.status;
		e->rresp.has_promised = e->rresp.has_begin = e->rresp.has_end = true;
		e->rresp.promised = m->u.recover_resp.promised;
		e->rresp.begin = m->u.recover_resp.begin;
		e->rresp.end = m->u.recover_resp.end;
		p->body_case = KEEL__REPLOG__MESSAGE__BODY_RECOVER_RESP;
		p->recover_resp = &e->rresp;
		return 0;
	case REPLOG_MSG_LEARN_REQ:
		keel__replog__learn_request__init(&e->lreq);
		e->lreq.from = m->u.learn_req.from;
		e->lreq.to = m->u.learn_req.to;
		p->body_case = KEEL__REPLOG__MESSAGE__BODY_LEARN_REQ;
		p->learn_req = &e->lreq;
		return 0;
	case REPLOG_MSG_LEARN_RESP:
		keel__replog__learn_response__init(&e->lresp);
		if (wire_actions_to_pb(e, m->u.learn_resp.actions, m->u.learn_resp.n) < 0)
			return keel_errf(errmsg, -ENOMEM, "encode: out of memory");
		e->lresp.has_begin = e->lresp.has_end = e->lresp.has_upto = true;
		e->lresp.begin = m->u.learn_resp.begin;
		e->lresp.end = m->u.learn_resp.end;
		e->lresp.upto = m->u.learn_resp.upto;
		e->lresp.n_actions = m->u.learn_resp.n;
		e->lresp.actions = e->acts;
		p->body_case = KEEL__REPLOG__MESSAGE__BODY_LEARN_RESP;
		p->learn_resp = &e->lresp;
		return 0;
	default:
		return keel_errf(errmsg, -EINVAL, "encode: unknown message type %u", m->type);
	}
}

int replog_wire_encode(const struct replog_msg *msgs, size_t n, struct keel_buf *out, char *errmsg)
{
	Keel__Replog__Batch batch = KEEL__REPLOG__BATCH__INIT;
	struct wire_enc *enc = NULL;
	Keel__Replog__Message **pm = NULL;
	size_t size;
	int rv = 0;

	if (n > 0) {
		enc = keel_calloc(n, sizeof(*enc));
		pm = keel_calloc(n, sizeof(*pm));
		if (enc == NULL || pm == NULL) {
			rv = keel_errf(errmsg, -ENOMEM, "encode: out of memory");
			goto out;
		}
	}
	for (size_t i = 0; i < n && rv == 0; i++) {
		rv = wire_msg_to_pb(&msgs[i], &enc[i], errmsg);
		pm[i] = &enc[i].m;
	}
	if (rv < 0)
		goto out;
	batch.n_messages = n;
	batch.messages = pm;
	size = keel__replog__batch__get_packed_size(&batch);
	if (size == 0)
		goto out; /* an empty batch is zero bytes */
	rv = keel_buf_reserve(out, size);
	if (rv < 0) {
		rv = keel_errf(errmsg, rv, "encode: out of memory");
		goto out;
	}
	keel_buf_commit(out, keel__replog__batch__pack(&batch, (uint8_t *)keel_buf_wptr(out)));
out:
	for (size_t i = 0; enc && i < n; i++) {
		keel_free(enc[i].pacts);
		keel_free(enc[i].acts);
	}
	keel_free(enc);
	keel_free(pm);
	return rv;
}

/* --- Decoding. --- */

static int wire_action_from_pb(const Keel__Replog__Action *p, bool compact_ok,
			       struct replog_action *a, size_t idx, char *errmsg)
{
	memset(a, 0, sizeof(*a));
	if (p->position > REPLOG_POSITION_MAX)
		return keel_errf(errmsg, -EINVAL, "message %zu: action position out of range", idx);
	if (!p->has_type || p->type > KEEL__REPLOG__ACTION_TYPE__ACTION_TRUNCATE ||
	    (p->type == KEEL__REPLOG__ACTION_TYPE__ACTION_NONE && !compact_ok))
		return keel_errf(errmsg, -EINVAL, "message %zu: bad action type", idx);
	if (p->has_value && p->type != KEEL__REPLOG__ACTION_TYPE__ACTION_APPEND)
		return keel_errf(errmsg, -EINVAL, "message %zu: value on a non-APPEND action", idx);
	if (p->value.len > REPLOG_VALUE_MAX)
		return keel_errf(errmsg, -EINVAL, "message %zu: value of %zu bytes too large", idx,
				 p->value.len);
	if (p->tombstone && p->type != KEEL__REPLOG__ACTION_TYPE__ACTION_NOP)
		return keel_errf(errmsg, -EINVAL, "message %zu: tombstone that is not a NOP", idx);
	a->position = p->position;
	a->ballot = p->ballot;
	a->type = (uint8_t)p->type;
	a->learned = p->learned;
	a->tombstone = p->tombstone;
	a->to = p->type == KEEL__REPLOG__ACTION_TYPE__ACTION_TRUNCATE ? p->to : 0;
	if (p->type == KEEL__REPLOG__ACTION_TYPE__ACTION_APPEND) {
		a->value = p->value.len ? p->value.data : NULL;
		a->len = p->value.len;
	}
	return 0;
}

static bool wire_reply_ok(Keel__Replog__Reply r)
{
	return r >= KEEL__REPLOG__REPLY__ACCEPT && r <= KEEL__REPLOG__REPLY__IGNORED;
}

static const int wire_body_of_type[] = {
    [REPLOG_MSG_PROMISE_REQ] = KEEL__REPLOG__MESSAGE__BODY_PROMISE_REQ,
    [REPLOG_MSG_PROMISE_RESP] = KEEL__REPLOG__MESSAGE__BODY_PROMISE_RESP,
    [REPLOG_MSG_WRITE_REQ] = KEEL__REPLOG__MESSAGE__BODY_WRITE_REQ,
    [REPLOG_MSG_WRITE_RESP] = KEEL__REPLOG__MESSAGE__BODY_WRITE_RESP,
    [REPLOG_MSG_LEARNED] = KEEL__REPLOG__MESSAGE__BODY_LEARNED,
    [REPLOG_MSG_RECOVER_REQ] = KEEL__REPLOG__MESSAGE__BODY_RECOVER_REQ,
    [REPLOG_MSG_RECOVER_RESP] = KEEL__REPLOG__MESSAGE__BODY_RECOVER_RESP,
    [REPLOG_MSG_LEARN_REQ] = KEEL__REPLOG__MESSAGE__BODY_LEARN_REQ,
    [REPLOG_MSG_LEARN_RESP] = KEEL__REPLOG__MESSAGE__BODY_LEARN_RESP,
};

static int wire_msg_from_pb(const Keel__Replog__Message *p, struct replog_msg *m,
			    struct replog_action **next_action, size_t idx, char *errmsg)
{
	int rv;

	memset(m, 0, sizeof(*m));
	if (p->type < 1 || p->type > REPLOG_MSG_TYPE_MAX)
		return keel_errf(errmsg, -EINVAL, "message %zu: unknown type %" PRIu32, idx,
				 p->type);
	if ((int)p->body_case != wire_body_of_type[p->type])
		return keel_errf(errmsg, -EINVAL, "message %zu: type %" PRIu32 " without its body",
				 idx, p->type);
	if (p->tag != REPLOG_TAG_WRITER && p->tag != REPLOG_TAG_CATCHUP)
		return keel_errf(errmsg, -EINVAL, "message %zu: unknown tag %" PRIu32, idx, p->tag);
	if (p->from >= REPLOG_NODES_MAX || p->to >= REPLOG_NODES_MAX)
		return keel_errf(errmsg, -EINVAL, "message %zu: node index out of range", idx);
	m->type = (uint8_t)p->type;
	m->tag = (uint8_t)p->tag;
	m->from = (uint8_t)p->from;
	m->to = (uint8_t)p->to;
	m->ballot = p->ballot;
	switch (p->type) {
	case REPLOG_MSG_PROMISE_REQ:
		m->u.promise_req.explicit_ = p->promise_req->explicit_;
		m->u.promise_req.position = p->promise_req->position;
		if (m->u.promise_req.position > REPLOG_POSITION_MAX)
			return keel_errf(errmsg, -EINVAL, "message %zu: position out of range",
					 idx);
		return 0;
	case REPLOG_MSG_PROMISE_RESP: {
		const Keel__Replog__PromiseResponse *r = p->promise_resp;
		if (!wire_reply_ok(r->reply))
			return keel_errf(errmsg, -EINVAL, "message %zu: unknown reply", idx);
		m->u.promise_resp.reply = (uint8_t)r->reply;
		m->u.promise_resp.promised = r->promised;
		m->u.promise_resp.begin = r->begin;
		m->u.promise_resp.end = r->end;
		m->u.promise_resp.explicit_ = r->explicit_;
		m->u.promise_resp.position = r->position;
		if (r->action) {
			m->u.promise_resp.has_action = true;
			return wire_action_from_pb(r->action, false, &m->u.promise_resp.action, idx,
						   errmsg);
		}
		return 0;
	}
	case REPLOG_MSG_WRITE_REQ:
		return wire_action_from_pb(p->write_req->action, false, &m->u.write_req.action, idx,
					   errmsg);
	case REPLOG_MSG_WRITE_RESP:
		if (!wire_reply_ok(p->write_resp->reply))
			return keel_errf(errmsg, -EINVAL, "message %zu: unknown reply", idx);
		m->u.write_resp.reply = (uint8_t)p->write_resp->reply;
		m->u.write_resp.promised = p->write_resp->promised;
		m->u.write_resp.position = p->write_resp->position;
		return 0;
	case REPLOG_MSG_LEARNED:
		m->u.learned.n = p->learned->n_entries;
		m->u.learned.entries = *next_action;
		for (size_t i = 0; i < p->learned->n_entries; i++) {
			rv = wire_action_from_pb(p->learned->entries[i], true, (*next_action)++,
						 idx, errmsg);
			if (rv < 0)
				return rv;
		}
		return 0;
	case REPLOG_MSG_RECOVER_REQ:
		return 0;
	case REPLOG_MSG_RECOVER_RESP: {
		const Keel__Replog__RecoverResponse *r = p->recover_resp;
		if (r->status < KEEL__REPLOG__STATUS__VOTING ||
		    r->status > KEEL__REPLOG__STATUS__EMPTY)
			return keel_errf(errmsg, -EINVAL, "message %zu: unknown status", idx);
		m->u.recover_resp.status = (uint8_t)r->status;
		m->u.recover_resp.promised = r->promised;
		m->u.recover_resp.begin = r->begin;
		m->u.recover_resp.end = r->end;
		return 0;
	}
	case REPLOG_MSG_LEARN_REQ:
		m->u.learn_req.from = p->learn_req->from;
		m->u.learn_req.to = p->learn_req->to;
		return 0;
	case REPLOG_MSG_LEARN_RESP:
		m->u.learn_resp.begin = p->learn_resp->begin;
		m->u.learn_resp.end = p->learn_resp->end;
		m->u.learn_resp.upto = p->learn_resp->upto;
		m->u.learn_resp.n = p->learn_resp->n_actions;
		m->u.learn_resp.actions = *next_action;
		for (size_t i = 0; i < p->learn_resp->n_actions; i++) {
			rv = wire_action_from_pb(p->learn_resp->actions[i], false, (*next_action)++,
						 idx, errmsg);
			if (rv < 0)
				return rv;
		}
		return 0;
	}
	return keel_errf(errmsg, -EINVAL, "message %zu: unknown type", idx);
}

int replog_wire_decode(const void *buf, size_t len, struct replog_wire_batch *out, char *errmsg)
{
	ProtobufCMessage *pm = NULL;
	Keel__Replog__Batch *b;
	size_t n_actions = 0;
	struct replog_action *next;
	int rv;

	memset(out, 0, sizeof(*out));
	if (len > REPLOG_WIRE_BODY_MAX)
		return keel_errf(errmsg, -EMSGSIZE, "batch of %zu bytes over the limit", len);
	rv = keel_pbjson_unpack(&keel__replog__batch__descriptor, buf, len, &pm, errmsg);
	if (rv < 0)
		return rv;
	b = (Keel__Replog__Batch *)pm;
	out->pb = pm;
	for (size_t i = 0; i < b->n_messages; i++) {
		const Keel__Replog__Message *m = b->messages[i];
		if (m->body_case == KEEL__REPLOG__MESSAGE__BODY_LEARNED)
			n_actions += m->learned->n_entries;
		else if (m->body_case == KEEL__REPLOG__MESSAGE__BODY_LEARN_RESP)
			n_actions += m->learn_resp->n_actions;
	}
	out->msgs = keel_calloc(b->n_messages ? b->n_messages : 1, sizeof(*out->msgs));
	out->actions = keel_calloc(n_actions ? n_actions : 1, sizeof(*out->actions));
	if (out->msgs == NULL || out->actions == NULL) {
		rv = keel_errf(errmsg, -ENOMEM, "decode: out of memory");
		goto fail;
	}
	next = out->actions;
	for (size_t i = 0; i < b->n_messages; i++) {
		rv = wire_msg_from_pb(b->messages[i], &out->msgs[i], &next, i, errmsg);
		if (rv < 0)
			goto fail;
	}
	out->n = b->n_messages;
	return 0;
fail:
	replog_wire_batch_free(out);
	return rv;
}

void replog_wire_batch_free(struct replog_wire_batch *b)
{
	if (b->pb)
		keel_pbjson_free(b->pb);
	keel_free(b->msgs);
	keel_free(b->actions);
	memset(b, 0, sizeof(*b));
}
