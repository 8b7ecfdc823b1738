/* Per-position Paxos instances of a proposer: explicit promise, write, chosen, learned. */
#include "core_int.h"

#include <errno.h>
#include <string.h>

#include "runtime/alloc.h"

int prop_init(struct replog_proposer *p, uint8_t tag, unsigned cap)
{
	p->tag = tag;
	p->ballot = 0;
	p->cap = cap;
	p->active = 0;
	p->inst = keel_calloc(cap, sizeof(*p->inst));
	return p->inst == NULL ? -ENOMEM : 0;
}

void prop_free(struct replog_core *c, struct replog_proposer *p)
{
	unsigned i;

	(void)c;
	if (p->inst == NULL)
		return;
	for (i = 0; i < p->cap; i++)
		keel_free(p->inst[i].owned);
	keel_free(p->inst);
	p->inst = NULL;
	p->active = 0;
}

struct replog_inst *prop_find(struct replog_proposer *p, uint64_t position)
{
	struct replog_inst *in = &p->inst[position % p->cap];

	return in->state != INST_FREE && in->position == position ? in : NULL;
}

bool prop_fits(const struct replog_proposer *p, uint64_t position)
{
	return p->inst[position % p->cap].state == INST_FREE;
}

static int prop_send_promise(struct replog_core *c, struct replog_proposer *p,
			     const struct replog_inst *in, uint64_t mask)
{
	struct replog_msg m;
	unsigned i;
	int rv;

	memset(&m, 0, sizeof(m));
	m.type = REPLOG_MSG_PROMISE_REQ;
	m.tag = p->tag;
	m.from = (uint8_t)c->cfg.self;
	m.ballot = p->ballot;
	m.u.promise_req.explicit_ = true;
	m.u.promise_req.position = in->position;
	for (i = 0; i < c->cfg.nodes; i++) {
		if (!(mask & node_bit(i)))
			continue;
		m.to = (uint8_t)i;
		rv = core_push_msg(c, &m);
		if (rv < 0)
			return rv;
	}
	return 0;
}

static int prop_send_write(struct replog_core *c, struct replog_proposer *p,
			   const struct replog_inst *in, uint64_t mask)
{
	struct replog_msg m;
	unsigned i;
	int rv;

	memset(&m, 0, sizeof(m));
	m.type = REPLOG_MSG_WRITE_REQ;
	m.tag = p->tag;
	m.from = (uint8_t)c->cfg.self;
	m.ballot = p->ballot;
	m.u.write_req.action = in->act;
	m.u.write_req.action.ballot = p->ballot;
	m.u.write_req.action.learned = false;
	for (i = 0; i < c->cfg.nodes; i++) {
		if (!(mask & node_bit(i)))
			continue;
		m.to = (uint8_t)i;
		rv = core_push_msg(c, &m);
		if (rv < 0)
			return rv;
	}
	return 0;
}

int prop_start_fill(struct replog_core *c, struct replog_proposer *p, uint64_t position)
{
	struct replog_inst *in = &p->inst[position % p->cap];

	memset(in, 0, sizeof(*in));
	in->position = position;
	in->state = INST_PROMISE;
	in->kind = INST_FILL;
	p->active++;
	return prop_send_promise(c, p, in, all_nodes(c));
}

int prop_start_write(struct replog_core *c, struct replog_proposer *p,
		     const struct replog_action *a, uint8_t kind, void *cookie)
{
	struct replog_inst *in = &p->inst[a->position % p->cap];

	memset(in, 0, sizeof(*in));
	in->position = a->position;
	in->state = INST_WRITE;
	in->kind = kind;
	in->cookie = cookie;
	in->act = *a;
	in->act.ballot = p->ballot;
	in->act.learned = false;
	p->active++;
	return prop_send_write(c, p, in, all_nodes(c));
}

/* Makes in->act own a copy of its value (phase-1 results outlive the message). */
static int prop_own_value(struct replog_core *c, struct replog_inst *in)
{
	void *copy = NULL;
	int rv;

	if (in->act.len > 0) {
		copy = keel_malloc(in->act.len);
		if (copy == NULL)
			return keel_errf(c->errmsg, -ENOMEM, "out of memory (fill value)");
		memcpy(copy, in->act.value, in->act.len);
	}
	rv = core_bury(c, in->owned);
	in->owned = copy;
	in->act.value = copy;
	if (rv < 0) {
		keel_free(copy);
		in->owned = NULL;
		in->act.value = NULL;
	}
	return rv;
}

/* The instance is chosen with in->act: learn it locally now, broadcast at the end of the step. */
static int prop_chosen(struct replog_core *c, struct replog_inst *in, uint64_t compact)
{
	in->state = INST_CHOSEN;
	in->act.learned = true;
	in->broadcast = true;
	in->compact = compact & ~node_bit(c->cfg.self);
	return replica_learn(c, &in->act);
}

static bool prop_hopeless(const struct replog_core *c, uint64_t ignored)
{
	return c->cfg.nodes - popcount64(ignored) < c->cfg.quorum;
}

static int prop_on_promise(struct replog_core *c, struct replog_proposer *p, struct replog_inst *in,
			   const struct replog_msg *m, int *outcome)
{
	const struct replog_promise_resp *r = &m->u.promise_resp;
	uint64_t bit = node_bit(m->from);
	int rv;

	if (in->state != INST_PROMISE || (in->acks & bit))
		return 0;
	if (r->reply == REPLOG_REJECT) {
		*outcome = PROP_REJECTED;
		return 0;
	}
	if (r->reply == REPLOG_IGNORED) {
		in->ignored |= bit;
		if (prop_hopeless(c, in->ignored))
			*outcome = PROP_HOPELESS;
		return 0;
	}
	in->acks |= bit;
	in->ignored &= ~bit;
	if (r->has_action && r->action.learned) {
		/* Someone knows the chosen value (or that it is truncated): take it. */
		in->act = r->action;
		rv = prop_own_value(c, in);
		if (rv < 0)
			return rv;
		return prop_chosen(c, in, 0);
	}
	if (r->has_action && (!in->have_best || r->action.ballot > in->act.ballot)) {
		in->act = r->action;
		in->have_best = true;
		rv = prop_own_value(c, in);
		if (rv < 0)
			return rv;
	}
	if (popcount64(in->acks) < c->cfg.quorum)
		return 0;
	/* Phase 2: the highest accepted value of the quorum, or a NOP. */
	if (!in->have_best) {
		memset(&in->act, 0, sizeof(in->act));
		in->act.type = REPLOG_ACTION_NOP;
	}
	in->act.position = in->position;
	in->act.ballot = p->ballot;
	in->act.learned = false;
	in->act.tombstone = false;
	in->state = INST_WRITE;
	in->acks = 0;
	in->ignored = 0;
	return prop_send_write(c, p, in, all_nodes(c));
}

static int prop_on_write(struct replog_core *c, struct replog_inst *in, const struct replog_msg *m,
			 int *outcome)
{
	const struct replog_write_resp *r = &m->u.write_resp;
	uint64_t bit = node_bit(m->from);

	if (in->state != INST_WRITE || (in->acks & bit))
		return 0;
	if (r->reply == REPLOG_REJECT) {
		*outcome = PROP_REJECTED;
		return 0;
	}
	if (r->reply == REPLOG_IGNORED) {
		in->ignored |= bit;
		if (prop_hopeless(c, in->ignored))
			*outcome = PROP_HOPELESS;
		return 0;
	}
	in->acks |= bit;
	in->ignored &= ~bit;
	if (popcount64(in->acks) < c->cfg.quorum)
		return 0;
	return prop_chosen(c, in, in->acks);
}

int prop_receive(struct replog_core *c, struct replog_proposer *p, const struct replog_msg *m,
		 int *outcome)
{
	struct replog_inst *in;

	*outcome = PROP_NOTHING;
	if (p->ballot == 0 || m->ballot != p->ballot)
		return 0; /* an answer to an older ballot */
	if (m->type == REPLOG_MSG_PROMISE_RESP) {
		if (!m->u.promise_resp.explicit_)
			return 0;
		in = prop_find(p, m->u.promise_resp.position);
		return in == NULL ? 0 : prop_on_promise(c, p, in, m, outcome);
	}
	if (m->type == REPLOG_MSG_WRITE_RESP) {
		in = prop_find(p, m->u.write_resp.position);
		return in == NULL ? 0 : prop_on_write(c, in, m, outcome);
	}
	return 0;
}

int prop_retransmit(struct replog_core *c, struct replog_proposer *p)
{
	unsigned i;
	int rv = 0;

	for (i = 0; i < p->cap && rv == 0; i++) {
		struct replog_inst *in = &p->inst[i];
		uint64_t mask = all_nodes(c) & ~in->acks;

		in->ignored = 0;
		if (in->state == INST_PROMISE)
			rv = prop_send_promise(c, p, in, mask);
		else if (in->state == INST_WRITE)
			rv = prop_send_write(c, p, in, mask);
	}
	return rv;
}

int prop_flush_learned(struct replog_core *c, struct replog_proposer *p)
{
	struct replog_action *ents;
	struct replog_msg m;
	unsigned i, node;
	size_t n = 0, k, off;
	int rv;

	for (i = 0; i < p->cap; i++)
		if (p->inst[i].state == INST_CHOSEN && p->inst[i].broadcast)
			n++;
	if (n == 0)
		return 0;
	for (node = 0; node < c->cfg.nodes; node++) {
		if (node == c->cfg.self)
			continue;
		ents = core_alloc_entries(c, n, &off);
		if (ents == NULL)
			return -ENOMEM;
		for (i = 0, k = 0; i < p->cap; i++) {
			const struct replog_inst *in = &p->inst[i];

			if (in->state != INST_CHOSEN || !in->broadcast)
				continue;
			if (in->compact & node_bit(node)) {
				memset(&ents[k], 0, sizeof(ents[k]));
				ents[k].position = in->position;
				ents[k].ballot = in->act.ballot;
				ents[k].type = REPLOG_ACTION_NONE;
				ents[k].learned = true;
			} else {
				ents[k] = in->act;
			}
			k++;
		}
		memset(&m, 0, sizeof(m));
		m.type = REPLOG_MSG_LEARNED;
		m.tag = p->tag;
		m.from = (uint8_t)c->cfg.self;
		m.to = (uint8_t)node;
		m.ballot = p->ballot;
		m.u.learned.n = n;
		m.u.learned.entries = (const struct replog_action *)(uintptr_t)off;
		rv = core_push_msg(c, &m);
		if (rv < 0)
			return rv;
	}
	for (i = 0; i < p->cap; i++)
		p->inst[i].broadcast = false;
	return 0;
}

int prop_release_learned_fills(struct replog_core *c, struct replog_proposer *p)
{
	unsigned i;
	int rv;

	for (i = 0; i < p->cap; i++) {
		struct replog_inst *in = &p->inst[i];

		if (in->kind != INST_FILL || in->state == INST_FREE)
			continue;
		/* Chosen and broadcast, or learned here meanwhile (someone else chose it). */
		if ((in->state == INST_CHOSEN && !in->broadcast) ||
		    (in->state != INST_CHOSEN && replica_is_learned(c, in->position)) ||
		    (in->state != INST_CHOSEN && in->position < c->r.begin)) {
			rv = prop_release(c, p, in);
			if (rv < 0)
				return rv;
		}
	}
	return 0;
}

int prop_release(struct replog_core *c, struct replog_proposer *p, struct replog_inst *in)
{
	int rv = core_bury(c, in->owned);

	memset(in, 0, sizeof(*in));
	p->active--;
	return rv;
}

int prop_reset(struct replog_core *c, struct replog_proposer *p)
{
	unsigned i;
	int rv = 0, r;

	for (i = 0; i < p->cap; i++) {
		if (p->inst[i].state == INST_FREE)
			continue;
		r = prop_release(c, p, &p->inst[i]);
		if (r < 0 && rv == 0)
			rv = r;
	}
	return rv;
}
