/* The simulated cluster: replog cores, in-memory stores that crash, a message pool, a checker. */
#include "cluster.h"

#include "runtime/err.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Test code: allocation failure is fatal here (the cores use keel_malloc, which tests may fail). */
static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL) {
		fprintf(stderr, "sim: out of memory\n");
		abort();
	}
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, "sim: out of memory\n");
		abort();
	}
	return p;
}

static void *xmemdup(const void *src, size_t n)
{
	void *p;

	if (n == 0)
		return NULL;
	p = xmalloc(n);
	memcpy(p, src, n);
	return p;
}

#define GROW(arr, n, cap)                                                                          \
	do {                                                                                       \
		if ((n) == (cap)) {                                                                \
			(cap) = (cap) ? (cap)*2 : 16;                                              \
			(arr) = xrealloc((arr), (cap) * sizeof(*(arr)));                           \
		}                                                                                  \
	} while (0)

/* ---- PRNG ---- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void sim_rng_seed(struct sim_rng *r, uint64_t seed)
{
	uint64_t x = seed;
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t sim_rng_next(struct sim_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t sim_rng_below(struct sim_rng *r, uint64_t n)
{
	return sim_rng_next(r) % n;
}

bool sim_rng_chance(struct sim_rng *r, uint64_t num, uint64_t den)
{
	return sim_rng_below(r, den) < num;
}

/* ---- values ---- */

size_t sim_value_make(uint8_t *buf, size_t cap, uint64_t id, size_t pad)
{
	size_t i, n = 8 + pad;

	if (n > cap)
		n = cap;
	for (i = 0; i < 8 && i < n; i++)
		buf[i] = (uint8_t)(id >> (8 * i));
	for (; i < n; i++)
		buf[i] = (uint8_t)(id * 31 + i);
	return n;
}

uint64_t sim_value_id(const void *value, size_t len)
{
	const uint8_t *b = value;
	uint64_t id = 0;
	int i;

	if (len < 8)
		return 0;
	for (i = 0; i < 8; i++)
		id |= (uint64_t)b[i] << (8 * i);
	return id;
}

/* ---- trace ---- */

void sim_trace(struct sim_cluster *c, const char *fmt, ...)
{
	char *line;
	va_list ap;

	if (c->trace_cap == 0)
		return;
	line = c->trace[c->trace_n % c->trace_cap];
	va_start(ap, fmt);
	vsnprintf(line, 200, fmt, ap);
	va_end(ap);
	c->trace_n++;
	if (c->trace_print)
		printf("%s\n", line);
}

void sim_trace_dump(const struct sim_cluster *c, size_t lines)
{
	size_t first = 0, i;

	if (c->trace_cap == 0)
		return;
	if (lines > c->trace_cap)
		lines = c->trace_cap;
	if (c->trace_n > lines)
		first = c->trace_n - lines;
	for (i = first; i < c->trace_n; i++)
		printf("  %s\n", c->trace[i % c->trace_cap]);
}

const char *sim_msg_describe(const struct replog_msg *m, char *buf, size_t cap)
{
	static const char *const replies[] = {"?", "ACCEPT", "REJECT", "IGNORED"};
	const char *name = replog_msg_type_name(m->type);
	const char *tag = m->tag == REPLOG_TAG_WRITER ? "W" : "C";
	int n;

	if (m->type >= REPLOG_MSG_RECOVER_REQ) /* RECOVER/LEARN carry a request number */
		n = snprintf(buf, cap, "%u->%u %s %s req=%" PRIu64, m->from, m->to, name, tag,
			     m->ballot);
	else
		n = snprintf(buf, cap, "%u->%u %s %s b=%" PRIu64 ".%u", m->from, m->to, name, tag,
			     replog_ballot_round(m->ballot), replog_ballot_node(m->ballot));
	if (n < 0 || (size_t)n >= cap)
		return buf;
	switch (m->type) {
	case REPLOG_MSG_PROMISE_REQ:
		if (m->u.promise_req.explicit_)
			snprintf(buf + n, cap - n, " pos=%" PRIu64, m->u.promise_req.position);
		break;
	case REPLOG_MSG_PROMISE_RESP:
		snprintf(buf + n, cap - n, " %s promised=%" PRIu64 ".%u end=%" PRIu64 "%s%s",
			 replies[m->u.promise_resp.reply & 3],
			 replog_ballot_round(m->u.promise_resp.promised),
			 replog_ballot_node(m->u.promise_resp.promised), m->u.promise_resp.end,
			 m->u.promise_resp.explicit_ ? " explicit" : "",
			 m->u.promise_resp.has_action ? " +action" : "");
		break;
	case REPLOG_MSG_WRITE_REQ:
		snprintf(buf + n, cap - n, " pos=%" PRIu64 " type=%u id=%" PRIu64,
			 m->u.write_req.action.position, m->u.write_req.action.type,
			 sim_value_id(m->u.write_req.action.value, m->u.write_req.action.len));
		break;
	case REPLOG_MSG_WRITE_RESP:
		snprintf(buf + n, cap - n, " %s pos=%" PRIu64, replies[m->u.write_resp.reply & 3],
			 m->u.write_resp.position);
		break;
	case REPLOG_MSG_LEARNED:
		snprintf(buf + n, cap - n, " n=%zu first=%" PRIu64, m->u.learned.n,
			 m->u.learned.n ? m->u.learned.entries[0].position : 0);
		break;
	case REPLOG_MSG_RECOVER_RESP:
		snprintf(buf + n, cap - n, " %s begin=%" PRIu64 " end=%" PRIu64,
			 replog_status_name(m->u.recover_resp.status), m->u.recover_resp.begin,
			 m->u.recover_resp.end);
		break;
	case REPLOG_MSG_LEARN_REQ:
		snprintf(buf + n, cap - n, " [%" PRIu64 ", %" PRIu64 "]", m->u.learn_req.from,
			 m->u.learn_req.to);
		break;
	case REPLOG_MSG_LEARN_RESP:
		snprintf(buf + n, cap - n, " n=%zu upto=%" PRIu64 " begin=%" PRIu64,
			 m->u.learn_resp.n, m->u.learn_resp.upto, m->u.learn_resp.begin);
		break;
	default:
		break;
	}
	return buf;
}

/* ---- checker ---- */

void sim_violation(struct sim_cluster *c, const char *fmt, ...)
{
	va_list ap;

	if (c->violation[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(c->violation, sizeof(c->violation), fmt, ap);
	va_end(ap);
	sim_trace(c, "VIOLATION: %s", c->violation);
}

static size_t chosen_lower(const struct sim_cluster *c, uint64_t position)
{
	size_t lo = 0, hi = c->chosen_n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->chosen[mid].position < position)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct sim_chosen *sim_chosen_at(const struct sim_cluster *c, uint64_t position)
{
	size_t i = chosen_lower(c, position);

	return i < c->chosen_n && c->chosen[i].position == position ? &c->chosen[i] : NULL;
}

static bool chosen_same(const struct sim_chosen *ch, const struct replog_action *a)
{
	if (ch->type != a->type)
		return false;
	if (a->type == REPLOG_ACTION_TRUNCATE)
		return ch->to == a->to;
	if (a->type == REPLOG_ACTION_APPEND)
		return ch->len == a->len &&
		       (a->len == 0 || memcmp(ch->value, a->value, a->len) == 0);
	return true;
}

/* A learned action was written on `node`: it must agree with everything learned before. */
static void check_learned(struct sim_cluster *c, unsigned node, const struct replog_action *a)
{
	size_t i = chosen_lower(c, a->position);
	struct sim_chosen *ch;

	if (i < c->chosen_n && c->chosen[i].position == a->position) {
		ch = &c->chosen[i];
		if (!chosen_same(ch, a))
			sim_violation(c,
				      "agreement: node %u learned type %u id %" PRIu64
				      " at %" PRIu64 ", earlier type %u id %" PRIu64,
				      node, a->type, sim_value_id(a->value, a->len), a->position,
				      ch->type, sim_value_id(ch->value, ch->len));
		return;
	}
	GROW(c->chosen, c->chosen_n, c->chosen_cap);
	memmove(&c->chosen[i + 1], &c->chosen[i], (c->chosen_n - i) * sizeof(c->chosen[0]));
	c->chosen_n++;
	ch = &c->chosen[i];
	ch->position = a->position;
	ch->type = a->type;
	ch->to = a->to;
	ch->len = a->type == REPLOG_ACTION_APPEND ? a->len : 0;
	ch->value = ch->len ? xmemdup(a->value, a->len) : NULL;
	if (a->type == REPLOG_ACTION_TRUNCATE && a->to > c->max_truncate_to)
		c->max_truncate_to = a->to;
}

static void check_write(struct sim_cluster *c, unsigned node, const struct replog_write *w)
{
	if (w->kind == REPLOG_WRITE_ACTION && w->action.learned)
		check_learned(c, node, &w->action);
	if (w->kind == REPLOG_WRITE_DELETE_BELOW && w->below > c->max_truncate_to)
		sim_violation(c,
			      "truncation: node %u deletes below %" PRIu64
			      " but no learned TRUNCATE goes past %" PRIu64,
			      node, w->below, c->max_truncate_to);
	if (w->kind == REPLOG_WRITE_META && w->meta.begin > c->max_truncate_to)
		sim_violation(c, "truncation: node %u begins at %" PRIu64 " past every TRUNCATE",
			      node, w->meta.begin);
}

void sim_check_cores(struct sim_cluster *c)
{
	unsigned i;

	for (i = 0; i < c->n; i++) {
		if (c->nodes[i].core == NULL)
			continue;
		if (replog_core_check(c->nodes[i].core) < 0)
			sim_violation(c, "node %u invariant: %s", i,
				      replog_core_errmsg(c->nodes[i].core));
	}
}

/* ---- store ---- */

static size_t store_lower(const struct sim_store *s, uint64_t position)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->recs[mid].a.position < position)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void store_bury(struct sim_store *s, void *p)
{
	if (p == NULL)
		return;
	GROW(s->dead, s->dead_n, s->dead_cap);
	s->dead[s->dead_n++] = p;
}

static void store_flush_dead(struct sim_store *s)
{
	size_t i;

	for (i = 0; i < s->dead_n; i++)
		free(s->dead[i]);
	s->dead_n = 0;
}

static void store_clear(struct sim_store *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->recs[i].buf);
	s->n = 0;
	s->has_meta = false;
	memset(&s->meta, 0, sizeof(s->meta));
}

static void store_free(struct sim_store *s)
{
	store_clear(s);
	store_flush_dead(s);
	free(s->recs);
	free(s->dead);
	memset(s, 0, sizeof(*s));
}

static void store_apply(struct sim_store *s, const struct replog_write *w)
{
	size_t i, j;

	switch (w->kind) {
	case REPLOG_WRITE_META:
		s->has_meta = true;
		s->meta = w->meta;
		break;
	case REPLOG_WRITE_ACTION: {
		uint8_t *buf = xmemdup(w->action.value, w->action.len);

		i = store_lower(s, w->action.position);
		if (i < s->n && s->recs[i].a.position == w->action.position) {
			store_bury(s, s->recs[i].buf);
		} else {
			GROW(s->recs, s->n, s->cap);
			memmove(&s->recs[i + 1], &s->recs[i], (s->n - i) * sizeof(s->recs[0]));
			s->n++;
		}
		s->recs[i].a = w->action;
		s->recs[i].a.value = buf;
		s->recs[i].buf = buf;
		break;
	}
	case REPLOG_WRITE_DELETE_BELOW:
		j = store_lower(s, w->below);
		if (j == 0)
			break;
		for (i = 0; i < j; i++)
			store_bury(s, s->recs[i].buf);
		memmove(&s->recs[0], &s->recs[j], (s->n - j) * sizeof(s->recs[0]));
		s->n -= j;
		break;
	default:
		break;
	}
}

static void store_copy(struct sim_store *dst, const struct sim_store *src)
{
	size_t i;

	store_clear(dst);
	dst->has_meta = src->has_meta;
	dst->meta = src->meta;
	for (i = 0; i < src->n; i++) {
		GROW(dst->recs, dst->n, dst->cap);
		dst->recs[dst->n] = src->recs[i];
		dst->recs[dst->n].buf = xmemdup(src->recs[i].a.value, src->recs[i].a.len);
		dst->recs[dst->n].a.value = dst->recs[dst->n].buf;
		dst->n++;
	}
}

static int store_read(void *ctx, uint64_t position, struct replog_action *out)
{
	const struct sim_store *s = ctx;
	size_t i = store_lower(s, position);

	if (i == s->n || s->recs[i].a.position != position)
		return -ENOENT;
	*out = s->recs[i].a;
	return 0;
}

/* ---- batches ---- */

static void batch_free(struct sim_batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		free(b->vals[i]);
	free(b->vals);
	free(b->w);
	memset(b, 0, sizeof(*b));
}

static void batch_copy(struct sim_batch *b, const struct replog_write *w, size_t n)
{
	size_t i;

	b->n = n;
	b->w = xmalloc(n * sizeof(*w));
	b->vals = xmalloc(n * sizeof(*b->vals));
	memcpy(b->w, w, n * sizeof(*w));
	for (i = 0; i < n; i++) {
		b->vals[i] = NULL;
		if (w[i].kind == REPLOG_WRITE_ACTION && w[i].action.len > 0) {
			b->vals[i] = xmemdup(w[i].action.value, w[i].action.len);
			b->w[i].action.value = b->vals[i];
		}
	}
}

/* ---- messages ---- */

static void msg_free(struct sim_msg *m)
{
	free(m->blob);
	m->blob = NULL;
}

/* Deep-copies a message: entries arrays and value bytes go into one blob. */
static void msg_copy(struct sim_msg *dst, const struct replog_msg *src)
{
	const struct replog_action *ents = NULL;
	struct replog_action *nents;
	size_t n = 0, bytes = 0, i;
	uint8_t *p;

	memset(dst, 0, sizeof(*dst));
	dst->m = *src;
	if (src->type == REPLOG_MSG_LEARNED) {
		ents = src->u.learned.entries;
		n = src->u.learned.n;
	} else if (src->type == REPLOG_MSG_LEARN_RESP) {
		ents = src->u.learn_resp.actions;
		n = src->u.learn_resp.n;
	} else if (src->type == REPLOG_MSG_WRITE_REQ) {
		dst->m.u.write_req.action.value =
		    xmemdup(src->u.write_req.action.value, src->u.write_req.action.len);
		dst->blob = (void *)dst->m.u.write_req.action.value;
		return;
	} else if (src->type == REPLOG_MSG_PROMISE_RESP && src->u.promise_resp.has_action) {
		dst->m.u.promise_resp.action.value =
		    xmemdup(src->u.promise_resp.action.value, src->u.promise_resp.action.len);
		dst->blob = (void *)dst->m.u.promise_resp.action.value;
		return;
	} else {
		return;
	}
	for (i = 0; i < n; i++)
		bytes += ents[i].len;
	dst->blob = xmalloc(n * sizeof(*ents) + bytes);
	nents = dst->blob;
	p = (uint8_t *)(nents + n);
	for (i = 0; i < n; i++) {
		nents[i] = ents[i];
		if (ents[i].len > 0) {
			memcpy(p, ents[i].value, ents[i].len);
			nents[i].value = p;
			p += ents[i].len;
		} else {
			nents[i].value = NULL;
		}
	}
	if (src->type == REPLOG_MSG_LEARNED)
		dst->m.u.learned.entries = n ? nents : NULL;
	else
		dst->m.u.learn_resp.actions = n ? nents : NULL;
}

/* Puts a copied message into the network pool (default: now, once). */
static void net_put(struct sim_cluster *c, struct sim_msg *sm)
{
	GROW(c->net, c->net_n, c->net_cap);
	sm->id = c->msg_seq++;
	if (sm->at < c->now)
		sm->at = c->now;
	c->net[c->net_n++] = *sm;
}

static void net_send(struct sim_cluster *c, struct sim_msg *sm)
{
	unsigned copies = 1, k;
	uint64_t delay = 0;
	struct sim_msg dup;

	if (c->policy != NULL)
		delay = c->policy(c, &sm->m, c->policy_arg, &copies);
	if (sm->m.from == sm->m.to && copies == 0)
		copies = 1; /* the contract: self messages are never lost */
	if (copies == 0) {
		msg_free(sm);
		return;
	}
	for (k = 1; k < copies; k++) {
		msg_copy(&dup, &sm->m);
		dup.at = c->now + delay + k;
		net_put(c, &dup);
	}
	sm->at = c->now + delay;
	net_put(c, sm);
}

long sim_net_earliest(const struct sim_cluster *c)
{
	long best = -1;
	size_t i;

	for (i = 0; i < c->net_n; i++) {
		const struct sim_msg *m = &c->net[i];
		if (best < 0 || m->at < c->net[best].at ||
		    (m->at == c->net[best].at && m->id < c->net[best].id))
			best = (long)i;
	}
	return best;
}

static void net_remove(struct sim_cluster *c, size_t k, struct sim_msg *out)
{
	*out = c->net[k];
	c->net[k] = c->net[c->net_n - 1];
	c->net_n--;
}

void sim_net_drop(struct sim_cluster *c, size_t k)
{
	struct sim_msg m;
	char d[160];

	net_remove(c, k, &m);
	sim_trace(c, "t=%" PRIu64 " drop %s", c->now, sim_msg_describe(&m.m, d, sizeof(d)));
	msg_free(&m);
}

int sim_net_duplicate(struct sim_cluster *c, size_t k)
{
	struct sim_msg dup;

	msg_copy(&dup, &c->net[k].m);
	dup.at = c->net[k].at;
	net_put(c, &dup);
	return 0;
}

/* ---- nodes ---- */

static void node_fail_ops(struct sim_node *nd)
{
	struct sim_op *op, *next;

	for (op = nd->ops; op != NULL; op = next) {
		next = op->next;
		free(op->value);
		free(op);
	}
	nd->ops = NULL;
}

static void node_release_held(struct sim_cluster *c, struct sim_node *nd)
{
	size_t i, k = 0;

	for (i = 0; i < nd->held_n; i++) {
		if (nd->held[i].barrier <= nd->dseq)
			net_send(c, &nd->held[i]);
		else
			nd->held[k++] = nd->held[i];
	}
	nd->held_n = k;
}

static void node_persist(struct sim_node *nd, size_t count)
{
	size_t i, j;

	for (i = 0; i < count && i < nd->pend_n; i++) {
		for (j = 0; j < nd->pend[i].n; j++)
			store_apply(&nd->dur, &nd->pend[i].w[j]);
		batch_free(&nd->pend[i]);
		nd->dseq++;
	}
	store_flush_dead(&nd->dur);
	if (i == 0)
		return;
	memmove(&nd->pend[0], &nd->pend[i], (nd->pend_n - i) * sizeof(nd->pend[0]));
	nd->pend_n -= i;
}

int sim_node_fsync(struct sim_cluster *c, unsigned i)
{
	struct sim_node *nd = &c->nodes[i];

	if (nd->core == NULL)
		return 0;
	node_persist(nd, nd->pend_n);
	node_release_held(c, nd);
	return 0;
}

static struct sim_op *node_take_op(struct sim_node *nd, void *cookie)
{
	struct sim_op **pp;

	for (pp = &nd->ops; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == cookie) {
			struct sim_op *op = *pp;
			*pp = op->next;
			return op;
		}
	}
	return NULL;
}

static void node_apply_update(struct sim_cluster *c, unsigned i, const struct replog_update *u)
{
	struct sim_node *nd = &c->nodes[i];
	uint64_t barrier = nd->wseq + (u->n_writes > 0 ? 1 : 0);
	struct sim_msg sm;
	struct sim_done d;
	struct sim_op *op;
	size_t k;

	/* 1. messages first: their bodies may point into the store we are about to change. */
	for (k = 0; k < u->n_msgs; k++) {
		msg_copy(&sm, &u->msgs[k]);
		if (u->sync && barrier > nd->dseq && !c->auto_sync) {
			sm.barrier = barrier;
			GROW(nd->held, nd->held_n, nd->held_cap);
			nd->held[nd->held_n++] = sm;
		} else {
			net_send(c, &sm);
		}
	}
	/* 2. writes: volatile store now, durable later (or now with auto_sync). */
	if (u->n_writes > 0) {
		for (k = 0; k < u->n_writes; k++) {
			check_write(c, i, &u->writes[k]);
			store_apply(&nd->vol, &u->writes[k]);
		}
		GROW(nd->pend, nd->pend_n, nd->pend_cap);
		batch_copy(&nd->pend[nd->pend_n++], u->writes, u->n_writes);
		nd->wseq++;
		if (c->auto_sync)
			node_persist(nd, nd->pend_n);
	}
	/* 3. completions last: they release APPEND bytes. */
	for (k = 0; k < u->n_done; k++) {
		const struct replog_completion *cp = &u->done[k];

		memset(&d, 0, sizeof(d));
		d.node = i;
		d.op = cp->op;
		d.status = cp->status;
		d.position = cp->position;
		op = node_take_op(nd, cp->cookie);
		if (op == NULL) {
			sim_violation(c, "node %u: completion for an unknown operation", i);
			continue;
		}
		if (op->op != cp->op)
			sim_violation(c, "node %u: completion op %u for a %u", i, cp->op, op->op);
		d.value_id = op->value_id;
		d.writer = op->writer;
		if (cp->op == REPLOG_OP_APPEND && cp->status == 0) {
			const struct sim_chosen *ch = sim_chosen_at(c, cp->position);
			if (ch != NULL && (ch->type != REPLOG_ACTION_APPEND ||
					   sim_value_id(ch->value, ch->len) != op->value_id))
				sim_violation(c,
					      "node %u: append id %" PRIu64
					      " acknowledged at %" PRIu64 " where id %" PRIu64
					      " was learned",
					      i, op->value_id, cp->position,
					      sim_value_id(ch->value, ch->len));
		}
		sim_trace(c, "t=%" PRIu64 " n%u done op=%u status=%d pos=%" PRIu64 " id=%" PRIu64,
			  c->now, i, cp->op, cp->status, cp->position, op->value_id);
		GROW(c->done, c->done_n, c->done_cap);
		c->done[c->done_n++] = d;
		free(op->value);
		free(op);
		if (c->on_done != NULL)
			c->on_done(c, &d, c->on_done_arg);
	}
	store_flush_dead(&nd->vol);
}

int sim_node_step(struct sim_cluster *c, unsigned i, const struct replog_event *ev)
{
	struct sim_node *nd = &c->nodes[i];
	const struct replog_update *u;
	int rv;

	if (nd->core == NULL)
		return -ENOTCONN;
	c->steps++;
	rv = replog_core_step(nd->core, ev, &u);
	if (rv < 0) {
		if (rv != -EINVAL && rv != -ENOTCONN && rv != -EBUSY && rv != -EALREADY &&
		    rv != -EAGAIN && rv != -ERANGE && rv != -EOVERFLOW) {
			c->core_failures++;
			if (!c->tolerate_failures)
				sim_violation(c, "node %u core failed: %d %s", i, rv,
					      replog_core_errmsg(nd->core));
		}
		return rv;
	}
	node_apply_update(c, i, u);
	return 0;
}

int sim_node_tick(struct sim_cluster *c, unsigned i)
{
	struct replog_event ev = {.type = REPLOG_EV_TICK};

	return sim_node_step(c, i, &ev);
}

/* Registers a client operation and submits it; on synchronous failure it is forgotten. */
static int node_submit(struct sim_cluster *c, unsigned i, struct sim_op *op,
		       struct replog_event *ev)
{
	struct sim_node *nd = &c->nodes[i];
	int rv;

	if (nd->core == NULL) {
		free(op->value);
		free(op);
		return -ENOTCONN;
	}
	op->node = i;
	op->next = nd->ops;
	nd->ops = op;
	ev->cookie = op;
	rv = sim_node_step(c, i, ev);
	if (rv < 0) {
		node_take_op(nd, op);
		free(op->value);
		free(op);
	}
	return rv;
}

static struct sim_op *op_new(uint8_t kind)
{
	struct sim_op *op = xmalloc(sizeof(*op));

	memset(op, 0, sizeof(*op));
	op->op = kind;
	return op;
}

int sim_node_start(struct sim_cluster *c, unsigned i)
{
	struct replog_event ev = {.type = REPLOG_EV_START};
	struct sim_op *op = op_new(REPLOG_OP_START);
	int rv;

	if (i < c->n)
		op->writer = c->nodes[i].writer + 1;
	rv = node_submit(c, i, op, &ev);
	if (rv == 0)
		c->nodes[i].writer++;
	sim_trace(c, "t=%" PRIu64 " n%u start -> %d", c->now, i, rv);
	return rv;
}

int sim_node_append(struct sim_cluster *c, unsigned i, uint64_t value_id, size_t pad)
{
	struct replog_event ev = {.type = REPLOG_EV_APPEND};
	struct sim_op *op = op_new(REPLOG_OP_APPEND);
	int rv;

	op->value = xmalloc(8 + pad);
	op->len = sim_value_make(op->value, 8 + pad, value_id, pad);
	op->value_id = value_id;
	op->writer = c->nodes[i].writer;
	ev.value = op->value;
	ev.len = op->len;
	rv = node_submit(c, i, op, &ev);
	sim_trace(c, "t=%" PRIu64 " n%u append id=%" PRIu64 " -> %d", c->now, i, value_id, rv);
	return rv;
}

int sim_node_truncate(struct sim_cluster *c, unsigned i, uint64_t to)
{
	struct replog_event ev = {.type = REPLOG_EV_TRUNCATE};
	struct sim_op *op = op_new(REPLOG_OP_TRUNCATE);
	int rv;

	op->to = to;
	op->writer = c->nodes[i].writer;
	ev.to = to;
	rv = node_submit(c, i, op, &ev);
	sim_trace(c, "t=%" PRIu64 " n%u truncate to=%" PRIu64 " -> %d", c->now, i, to, rv);
	return rv;
}

int sim_node_catchup(struct sim_cluster *c, unsigned i)
{
	struct replog_event ev = {.type = REPLOG_EV_CATCHUP};
	struct sim_op *op = op_new(REPLOG_OP_CATCHUP);
	int rv = node_submit(c, i, op, &ev);

	sim_trace(c, "t=%" PRIu64 " n%u catchup -> %d", c->now, i, rv);
	return rv;
}

int sim_node_stop(struct sim_cluster *c, unsigned i)
{
	struct replog_event ev = {.type = REPLOG_EV_STOP};
	int rv = sim_node_step(c, i, &ev);

	sim_trace(c, "t=%" PRIu64 " n%u stop -> %d", c->now, i, rv);
	return rv;
}

void sim_node_crash(struct sim_cluster *c, unsigned i, size_t keep, bool lose_disk)
{
	struct sim_node *nd = &c->nodes[i];
	size_t k;

	if (nd->core == NULL)
		return;
	sim_trace(c, "t=%" PRIu64 " n%u CRASH keep %zu of %zu pending%s", c->now, i, keep,
		  nd->pend_n, lose_disk ? ", DISK LOST" : "");
	if (!lose_disk)
		node_persist(nd, keep);
	for (k = 0; k < nd->pend_n; k++)
		batch_free(&nd->pend[k]);
	nd->pend_n = 0;
	nd->dseq = nd->wseq = 0;
	for (k = 0; k < nd->held_n; k++)
		msg_free(&nd->held[k]);
	nd->held_n = 0;
	replog_core_free(nd->core);
	nd->core = NULL;
	node_fail_ops(nd);
	store_clear(&nd->vol);
	store_flush_dead(&nd->vol);
	if (lose_disk)
		store_clear(&nd->dur);
	nd->crashes++;
}

int sim_node_restart(struct sim_cluster *c, unsigned i)
{
	struct sim_node *nd = &c->nodes[i];
	struct replog_store_ops ops = {.read = store_read, .ctx = &nd->vol};
	char err[KEEL_ERRMSG_SIZE] = "";
	size_t k;
	int rv;

	if (nd->core != NULL)
		return 0;
	store_copy(&nd->vol, &nd->dur);
	nd->cfg.incarnation = nd->crashes;
	rv = replog_core_new(&nd->cfg, &ops, nd->vol.has_meta ? &nd->vol.meta : NULL, &nd->core,
			     err);
	if (rv < 0) {
		snprintf(c->errmsg, sizeof(c->errmsg), "node %u: %s", i, err);
		return rv;
	}
	for (k = 0; k < nd->vol.n && rv == 0; k++)
		rv = replog_core_restore_action(nd->core, nd->vol.recs[k].a.position,
						nd->vol.recs[k].a.learned);
	if (rv == 0)
		rv = replog_core_restore_done(nd->core);
	if (rv < 0) {
		snprintf(c->errmsg, sizeof(c->errmsg), "node %u: %s", i,
			 replog_core_errmsg(nd->core));
		replog_core_free(nd->core);
		nd->core = NULL;
		return rv;
	}
	sim_trace(c, "t=%" PRIu64 " n%u restart %s begin=%" PRIu64 " end=%" PRIu64, c->now, i,
		  replog_status_name(replog_core_status(nd->core)), replog_core_begin(nd->core),
		  replog_core_end(nd->core));
	return 0;
}

int sim_net_deliver(struct sim_cluster *c, size_t k)
{
	struct replog_event ev = {.type = REPLOG_EV_RECEIVE};
	struct sim_msg m;
	char d[160];
	int rv;

	net_remove(c, k, &m);
	if (c->now < m.at)
		c->now = m.at;
	if (c->cut[m.m.from][m.m.to] || c->nodes[m.m.to].core == NULL) {
		if (c->trace_print)
			sim_trace(c, "t=%" PRIu64 " lost %s", c->now,
				  sim_msg_describe(&m.m, d, sizeof(d)));
		msg_free(&m);
		return 0;
	}
	if (c->trace_print || c->trace_cap > 0)
		sim_trace(c, "t=%" PRIu64 " %s", c->now, sim_msg_describe(&m.m, d, sizeof(d)));
	ev.msg = &m.m;
	rv = sim_node_step(c, m.m.to, &ev);
	msg_free(&m);
	return rv;
}

long sim_run(struct sim_cluster *c, sim_filter_fn filter, void *arg, long max_steps)
{
	long steps = 0;
	size_t i;
	long best;
	int rv;

	while (steps < max_steps) {
		best = -1;
		for (i = 0; i < c->net_n; i++) {
			const struct sim_msg *m = &c->net[i];
			if (filter != NULL && !filter(c, &m->m, arg))
				continue;
			if (best < 0 || m->at < c->net[best].at ||
			    (m->at == c->net[best].at && m->id < c->net[best].id))
				best = (long)i;
		}
		if (best < 0)
			break;
		rv = sim_net_deliver(c, (size_t)best);
		if (rv < 0 && rv != -EINVAL && c->violation[0] != '\0')
			return rv;
		steps++;
	}
	return steps;
}

void sim_net_drop_if(struct sim_cluster *c, sim_filter_fn filter, void *arg)
{
	size_t i = 0;

	while (i < c->net_n) {
		if (filter(c, &c->net[i].m, arg))
			sim_net_drop(c, i);
		else
			i++;
	}
}

void sim_isolate(struct sim_cluster *c, unsigned i, bool cut)
{
	unsigned j;

	for (j = 0; j < c->n; j++) {
		if (j == i)
			continue;
		c->cut[i][j] = cut;
		c->cut[j][i] = cut;
	}
}

void sim_heal(struct sim_cluster *c)
{
	memset(c->cut, 0, sizeof(c->cut));
}

int sim_cluster_init(struct sim_cluster *c, const struct sim_cluster_config *cfg)
{
	unsigned i;
	size_t k;
	int rv;

	memset(c, 0, sizeof(*c));
	if (cfg->nodes == 0 || cfg->nodes > REPLOG_NODES_MAX) {
		snprintf(c->errmsg, sizeof(c->errmsg), "bad node count %u", cfg->nodes);
		return -EINVAL;
	}
	c->n = cfg->nodes;
	c->trace_cap = cfg->trace_lines ? cfg->trace_lines : 200;
	c->trace = xmalloc(c->trace_cap * sizeof(*c->trace));
	for (k = 0; k < c->trace_cap; k++) {
		c->trace[k] = xmalloc(200);
		c->trace[k][0] = '\0';
	}
	c->nodes = xmalloc(c->n * sizeof(*c->nodes));
	memset(c->nodes, 0, c->n * sizeof(*c->nodes));
	/* A base above 0 stands for a log whose positions below were truncated long ago. */
	c->max_truncate_to = cfg->voting ? cfg->base : 0;
	for (i = 0; i < c->n; i++) {
		struct sim_node *nd = &c->nodes[i];

		nd->cfg.self = i;
		nd->cfg.nodes = cfg->nodes;
		nd->cfg.quorum = cfg->quorum ? cfg->quorum : cfg->nodes / 2 + 1;
		nd->cfg.auto_init = cfg->auto_init;
		nd->cfg.max_inflight = cfg->max_inflight;
		nd->cfg.learn_batch = cfg->learn_batch;
		nd->cfg.catchup_patience = cfg->catchup_patience;
		if (cfg->voting) {
			nd->dur.has_meta = true;
			nd->dur.meta.status = REPLOG_VOTING;
			nd->dur.meta.begin = cfg->base;
		}
		rv = sim_node_restart(c, i);
		if (rv < 0)
			return rv;
	}
	return 0;
}

void sim_cluster_free(struct sim_cluster *c)
{
	unsigned i;
	size_t k;

	for (i = 0; c->nodes != NULL && i < c->n; i++) {
		struct sim_node *nd = &c->nodes[i];

		replog_core_free(nd->core);
		node_fail_ops(nd);
		for (k = 0; k < nd->pend_n; k++)
			batch_free(&nd->pend[k]);
		free(nd->pend);
		for (k = 0; k < nd->held_n; k++)
			msg_free(&nd->held[k]);
		free(nd->held);
		store_free(&nd->vol);
		store_free(&nd->dur);
	}
	free(c->nodes);
	for (k = 0; k < c->net_n; k++)
		msg_free(&c->net[k]);
	free(c->net);
	free(c->done);
	for (k = 0; k < c->chosen_n; k++)
		free(c->chosen[k].value);
	free(c->chosen);
	for (k = 0; c->trace != NULL && k < c->trace_cap; k++)
		free(c->trace[k]);
	free(c->trace);
	memset(c, 0, sizeof(*c));
}
