/* Unit tests for the replog core: Mesos log_tests behaviours and keel's own, on the fixture. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "harness.h"
#include "runtime/alloc.h"
#include "runtime/err.h"
#include "runtime/util.h"

/*
 * Each case builds a cluster with tests/sim/cluster.h, drives it by hand
 * (which messages arrive, which are dropped, which links are cut, who
 * crashes) and checks completions, reads and the fixture's safety checker
 * (agreement of every learned value, justified truncation) at the end.
 * Unless a case says otherwise, writes are durable at once (auto_sync).
 */

static struct sim_cluster C;

static void setup_cfg(const struct sim_cluster_config *cfg)
{
	int rv = sim_cluster_init(&C, cfg);

	if (rv < 0)
		th_fail(__FILE__, __LINE__, "cluster init: %s", C.errmsg);
	C.auto_sync = true;
}

/* n replicas, VOTING (as after `initialize`) or EMPTY with auto-initialisation. */
static void setup(unsigned nodes, bool voting)
{
	struct sim_cluster_config cfg = {.nodes = nodes, .voting = voting, .auto_init = !voting};

	setup_cfg(&cfg);
}

static void teardown(void)
{
	char v[sizeof(C.violation)];

	sim_check_cores(&C);
	memcpy(v, C.violation, sizeof(v));
	sim_cluster_free(&C);
	if (v[0] != '\0')
		th_fail(__FILE__, __LINE__, "safety checker: %s", v);
}

static long settle(void)
{
	return sim_run(&C, NULL, NULL, 1000000);
}

static void tick_all(void)
{
	unsigned i;

	for (i = 0; i < C.n; i++)
		if (sim_node_up(&C, i))
			sim_node_tick(&C, i);
}

/* Ticks and settles `rounds` times. */
static void spin(unsigned rounds)
{
	while (rounds-- > 0) {
		tick_all();
		settle();
	}
}

static struct replog_core *core(unsigned i)
{
	return C.nodes[i].core;
}

/* The newest completion of `op` at node i since completion index `from`, or NULL. */
static const struct sim_done *done_since(size_t from, unsigned node, uint8_t op)
{
	size_t k;

	for (k = C.done_n; k > from; k--)
		if (C.done[k - 1].node == node && C.done[k - 1].op == op)
			return &C.done[k - 1];
	return NULL;
}

/* Starts a writer on node i and settles; returns the START status (1: still pending). */
static int elect(unsigned i)
{
	size_t mark = C.done_n;
	const struct sim_done *d;
	int rv = sim_node_start(&C, i);

	if (rv < 0)
		return rv;
	settle();
	d = done_since(mark, i, REPLOG_OP_START);
	return d == NULL ? 1 : d->status;
}

/* Appends value `id` on node i and settles; returns the status (1: pending), *pos the position. */
static int append(unsigned i, uint64_t id, uint64_t *pos)
{
	size_t mark = C.done_n;
	const struct sim_done *d;
	int rv = sim_node_append(&C, i, id, 3);

	if (rv < 0)
		return rv;
	settle();
	d = done_since(mark, i, REPLOG_OP_APPEND);
	if (d == NULL)
		return 1;
	if (pos != NULL)
		*pos = d->position;
	return d->status;
}

static int truncate_to(unsigned i, uint64_t to, uint64_t *pos)
{
	size_t mark = C.done_n;
	const struct sim_done *d;
	int rv = sim_node_truncate(&C, i, to);

	if (rv < 0)
		return rv;
	settle();
	d = done_since(mark, i, REPLOG_OP_TRUNCATE);
	if (d == NULL)
		return 1;
	if (pos != NULL)
		*pos = d->position;
	return d->status;
}

/* Reads position pos on node i: the APPEND id there, or a negative errno. */
static int64_t read_id(unsigned i, uint64_t pos)
{
	struct replog_action a;
	int rv = replog_core_read(core(i), pos, &a);

	if (rv < 0)
		return rv;
	if (a.type != REPLOG_ACTION_APPEND)
		return -(int64_t)1000 - a.type;
	return (int64_t)sim_value_id(a.value, a.len);
}

/* Message filters: -1 is a wildcard. */
struct flt {
	int from, to, type;
};

static bool flt_match(const struct sim_cluster *c, const struct replog_msg *m, void *arg)
{
	const struct flt *f = arg;

	(void)c;
	return (f->from < 0 || m->from == f->from) && (f->to < 0 || m->to == f->to) &&
	       (f->type < 0 || m->type == f->type);
}

static bool flt_not(const struct sim_cluster *c, const struct replog_msg *m, void *arg)
{
	return !flt_match(c, m, arg);
}

/* Delivers everything except messages matching f, which are dropped. */
static void settle_dropping(int from, int to, int type)
{
	struct flt f = {from, to, type};
	long n;

	do {
		sim_net_drop_if(&C, flt_match, &f);
		n = sim_run(&C, flt_not, &f, 1000000);
	} while (n > 0 || C.net_n > 0);
}

/* Sends a hand-made message to node `to` (from m->from). */
static int inject(unsigned to, struct replog_msg m)
{
	struct replog_event ev = {.type = REPLOG_EV_RECEIVE, .msg = &m};

	m.to = (uint8_t)to;
	return sim_node_step(&C, to, &ev);
}

/* The index of the newest pooled message from `from` of `type`, or -1. */
static long find_msg(unsigned from, uint8_t type)
{
	size_t k;

	for (k = C.net_n; k > 0; k--)
		if (C.net[k - 1].m.from == from && C.net[k - 1].m.type == type)
			return (long)(k - 1);
	return -1;
}

static void drop_all(void)
{
	while (C.net_n > 0)
		sim_net_drop(&C, 0);
}

/* Wipes node i's disk and restarts it EMPTY (a replacement replica). */
static void wipe(unsigned i)
{
	sim_node_crash(&C, i, 0, true);
	ASSERT_OK(sim_node_restart(&C, i));
	ASSERT_INT_EQ(replog_core_status(core(i)), REPLOG_EMPTY);
}

/* Crashes node i (everything durable survives) and restarts it. */
static void bounce(unsigned i)
{
	sim_node_crash(&C, i, C.nodes[i].pend_n, false);
	ASSERT_OK(sim_node_restart(&C, i));
}

static struct replog_msg promise_req(unsigned from, uint64_t round, bool explicit_, uint64_t pos)
{
	struct replog_msg m;

	memset(&m, 0, sizeof(m));
	m.type = REPLOG_MSG_PROMISE_REQ;
	m.tag = REPLOG_TAG_WRITER;
	m.from = (uint8_t)from;
	m.ballot = replog_ballot_make(round, from);
	m.u.promise_req.explicit_ = explicit_;
	m.u.promise_req.position = pos;
	return m;
}

static struct replog_msg write_req(unsigned from, uint64_t round, uint64_t pos, const void *v,
				   size_t len)
{
	struct replog_msg m;

	memset(&m, 0, sizeof(m));
	m.type = REPLOG_MSG_WRITE_REQ;
	m.tag = REPLOG_TAG_WRITER;
	m.from = (uint8_t)from;
	m.ballot = replog_ballot_make(round, from);
	m.u.write_req.action.position = pos;
	m.u.write_req.action.type = REPLOG_ACTION_APPEND;
	m.u.write_req.action.value = v;
	m.u.write_req.action.len = len;
	return m;
}

/* ---------------------------------------------------------------- Replica */

TEST(replica_implicit_promise_accept_reject)
{
	const struct replog_msg *r;
	long k;

	setup(3, true);
	ASSERT_OK(inject(0, promise_req(1, 2, false, 0)));
	k = find_msg(0, REPLOG_MSG_PROMISE_RESP);
	ASSERT_INT_GE(k, 0);
	r = &C.net[k].m;
	ASSERT_INT_EQ(r->u.promise_resp.reply, REPLOG_ACCEPT);
	ASSERT_UINT_EQ(r->u.promise_resp.promised, replog_ballot_make(2, 1));
	ASSERT_UINT_EQ(r->u.promise_resp.end, 0);
	drop_all();

	/* A lower ballot is rejected with the promise it lost to. */
	ASSERT_OK(inject(0, promise_req(2, 1, false, 0)));
	r = &C.net[find_msg(0, REPLOG_MSG_PROMISE_RESP)].m;
	ASSERT_INT_EQ(r->u.promise_resp.reply, REPLOG_REJECT);
	ASSERT_UINT_EQ(r->u.promise_resp.promised, replog_ballot_make(2, 1));
	drop_all();

	/* The same ballot again (ballots are unique per node): answered again (Mesos rejects). */
	ASSERT_OK(inject(0, promise_req(1, 2, false, 0)));
	ASSERT_INT_EQ(C.net[find_msg(0, REPLOG_MSG_PROMISE_RESP)].m.u.promise_resp.reply,
		      REPLOG_ACCEPT);
	drop_all();

	/* Same round from a higher node index is a higher ballot. */
	ASSERT_OK(inject(0, promise_req(2, 2, false, 0)));
	ASSERT_INT_EQ(C.net[find_msg(0, REPLOG_MSG_PROMISE_RESP)].m.u.promise_resp.reply,
		      REPLOG_ACCEPT);
	ASSERT_UINT_EQ(replog_core_promised(core(0)), replog_ballot_make(2, 2));
	drop_all();
	teardown();
}

TEST(replica_explicit_promise_returns_action_or_tombstone)
{
	const struct replog_msg *r;
	uint8_t v[16];
	size_t len = sim_value_make(v, sizeof(v), 42, 4);

	setup(3, true);
	ASSERT_OK(inject(0, write_req(1, 1, 3, v, len)));
	drop_all();
	ASSERT_OK(inject(0, promise_req(2, 2, true, 3)));
	r = &C.net[find_msg(0, REPLOG_MSG_PROMISE_RESP)].m;
	ASSERT_INT_EQ(r->u.promise_resp.reply, REPLOG_ACCEPT);
	ASSERT_TRUE(r->u.promise_resp.has_action);
	ASSERT_UINT_EQ(r->u.promise_resp.action.ballot, replog_ballot_make(1, 1));
	ASSERT_UINT_EQ(sim_value_id(r->u.promise_resp.action.value, r->u.promise_resp.action.len),
		       42);
	ASSERT_FALSE(r->u.promise_resp.action.learned);
	drop_all();
	/* An explicit promise raises the replica's promise: the old ballot's writes now fail. */
	ASSERT_OK(inject(0, write_req(1, 1, 4, v, len)));
	ASSERT_INT_EQ(C.net[find_msg(0, REPLOG_MSG_WRITE_RESP)].m.u.write_resp.reply,
		      REPLOG_REJECT);
	drop_all();
	/* A position with nothing: no action. */
	ASSERT_OK(inject(0, promise_req(2, 2, true, 2)));
	ASSERT_FALSE(C.net[find_msg(0, REPLOG_MSG_PROMISE_RESP)].m.u.promise_resp.has_action);
	drop_all();
	teardown();
}

TEST(replica_write_rejects_lower_accepts_equal)
{
	const struct replog_msg *r;
	struct replog_action a;
	uint8_t v[16];
	size_t len = sim_value_make(v, sizeof(v), 7, 0);

	setup(3, true);
	ASSERT_OK(inject(0, promise_req(1, 2, false, 0)));
	drop_all();
	/* proposal < promised: rejected with the promise. */
	ASSERT_OK(inject(0, write_req(2, 1, 1, v, len)));
	r = &C.net[find_msg(0, REPLOG_MSG_WRITE_RESP)].m;
	ASSERT_INT_EQ(r->u.write_resp.reply, REPLOG_REJECT);
	ASSERT_UINT_EQ(r->u.write_resp.promised, replog_ballot_make(2, 1));
	ASSERT_UINT_EQ(r->u.write_resp.position, 1);
	drop_all();
	/* proposal == promised: accepted and stored, not learned. */
	ASSERT_OK(inject(0, write_req(1, 2, 1, v, len)));
	r = &C.net[find_msg(0, REPLOG_MSG_WRITE_RESP)].m;
	ASSERT_INT_EQ(r->u.write_resp.reply, REPLOG_ACCEPT);
	drop_all();
	ASSERT_UINT_EQ(replog_core_end(core(0)), 1);
	ASSERT_FALSE(replog_core_is_learned(core(0), 1));
	ASSERT_INT_EQ(replog_core_read(core(0), 1, &a), -EAGAIN);
	ASSERT_STR_CONTAINS(replog_core_errmsg(core(0)), "not learned");
	/* A higher ballot's write is accepted and promises that ballot. */
	ASSERT_OK(inject(0, write_req(2, 3, 1, v, len)));
	drop_all();
	ASSERT_UINT_EQ(replog_core_promised(core(0)), replog_ballot_make(3, 2));
	ASSERT_OK(inject(0, write_req(1, 2, 2, v, len)));
	ASSERT_INT_EQ(C.net[find_msg(0, REPLOG_MSG_WRITE_RESP)].m.u.write_resp.reply,
		      REPLOG_REJECT);
	drop_all();
	teardown();
}

TEST(replica_state_survives_restart)
{
	struct replog_msg l;
	struct replog_action e, a;
	uint8_t v[16];
	size_t len = sim_value_make(v, sizeof(v), 9, 2);

	setup(3, true);
	ASSERT_OK(inject(0, promise_req(1, 5, false, 0)));
	ASSERT_OK(inject(0, write_req(1, 5, 2, v, len)));
	drop_all();
	bounce(0);
	ASSERT_UINT_EQ(replog_core_promised(core(0)), replog_ballot_make(5, 1));
	ASSERT_UINT_EQ(replog_core_end(core(0)), 2);
	ASSERT_INT_EQ(replog_core_status(core(0)), REPLOG_VOTING);
	/* A compact learned notice for that (position, ballot) makes it readable. */
	memset(&l, 0, sizeof(l));
	memset(&e, 0, sizeof(e));
	e.position = 2;
	e.ballot = replog_ballot_make(5, 1);
	e.type = REPLOG_ACTION_NONE;
	e.learned = true;
	l.type = REPLOG_MSG_LEARNED;
	l.tag = REPLOG_TAG_WRITER;
	l.from = 1;
	l.u.learned.n = 1;
	l.u.learned.entries = &e;
	/* ... but not one for another ballot. */
	e.ballot = replog_ballot_make(4, 1);
	ASSERT_OK(inject(0, l));
	ASSERT_FALSE(replog_core_is_learned(core(0), 2));
	e.ballot = replog_ballot_make(5, 1);
	ASSERT_OK(inject(0, l));
	ASSERT_TRUE(replog_core_is_learned(core(0), 2));
	bounce(0);
	ASSERT_OK(replog_core_read(core(0), 2, &a));
	ASSERT_UINT_EQ(sim_value_id(a.value, a.len), 9);
	ASSERT_TRUE(replog_core_is_learned(core(0), 2));
	ASSERT_FALSE(replog_core_is_learned(core(0), 1)); /* a hole */
	teardown();
}

TEST(replica_non_voting_answers_ignored)
{
	uint8_t v[16];
	size_t len = sim_value_make(v, sizeof(v), 1, 0);
	struct replog_msg q;

	setup(3, true);
	wipe(2);
	ASSERT_OK(inject(2, promise_req(0, 1, false, 0)));
	ASSERT_INT_EQ(C.net[find_msg(2, REPLOG_MSG_PROMISE_RESP)].m.u.promise_resp.reply,
		      REPLOG_IGNORED);
	drop_all();
	ASSERT_OK(inject(2, write_req(0, 1, 0, v, len)));
	ASSERT_INT_EQ(C.net[find_msg(2, REPLOG_MSG_WRITE_RESP)].m.u.write_resp.reply,
		      REPLOG_IGNORED);
	drop_all();
	memset(&q, 0, sizeof(q));
	q.type = REPLOG_MSG_RECOVER_REQ;
	q.tag = REPLOG_TAG_CATCHUP;
	q.from = 0;
	ASSERT_OK(inject(2, q));
	ASSERT_INT_EQ(C.net[find_msg(2, REPLOG_MSG_RECOVER_RESP)].m.u.recover_resp.status,
		      REPLOG_EMPTY);
	drop_all();
	teardown();
}

TEST(replica_learned_notice_before_its_write)
{
	uint64_t pos;

	setup(3, true);
	ASSERT_INT_EQ(elect(0), 0);
	/* Hold node 2's WRITE_REQ back while the append completes with nodes 0 and 1. */
	ASSERT_OK(sim_node_append(&C, 0, 5, 0));
	{
		struct flt f = {0, 2, REPLOG_MSG_WRITE_REQ};
		sim_run(&C, flt_not, &f, 1000000);
	}
	ASSERT_NOT_NULL(done_since(0, 0, REPLOG_OP_APPEND));
	pos = done_since(0, 0, REPLOG_OP_APPEND)->position;
	/* Node 2 got the LEARNED (full, since it did not acknowledge) before the write. */
	ASSERT_TRUE(replog_core_is_learned(core(2), pos));
	ASSERT_INT_EQ(read_id(2, pos), 5);
	/* Now the late write arrives: the learned value stays, the same value is acknowledged. */
	settle();
	ASSERT_INT_EQ(read_id(2, pos), 5);
	teardown();
}

TEST(replica_write_for_learned_position_is_ignored)
{
	uint8_t v[16];
	size_t len = sim_value_make(v, sizeof(v), 99, 0);
	uint64_t pos;

	setup(3, true);
	ASSERT_INT_EQ(elect(0), 0);
	ASSERT_INT_EQ(append(0, 5, &pos), 0);
	ASSERT_TRUE(replog_core_is_learned(core(1), pos));
	drop_all();
	/* A different value under a higher ballot: not written, no reply. */
	ASSERT_OK(inject(1, write_req(2, 50, pos, v, len)));
	ASSERT_INT_EQ(find_msg(1, REPLOG_MSG_WRITE_RESP), -1);
	ASSERT_INT_EQ(read_id(1, pos), 5);
	teardown();
}

TEST(replica_malformed_messages_rejected)
{
	struct replog_msg m;
	uint8_t v[8] = {0};

	setup(3, true);
	/* A ballot that is not the sender's. */
	m = promise_req(1, 1, false, 0);
	m.ballot = replog_ballot_make(1, 2);
	ASSERT_INT_EQ(inject(0, m), -EINVAL);
	/* A position past the last one. */
	m = write_req(1, 1, REPLOG_POSITION_MAX + 1, v, 8);
	ASSERT_INT_EQ(inject(0, m), -EINVAL);
	/* A TRUNCATE beyond its own position. */
	m = write_req(1, 1, 3, NULL, 0);
	m.u.write_req.action.type = REPLOG_ACTION_TRUNCATE;
	m.u.write_req.action.to = 4;
	ASSERT_INT_EQ(inject(0, m), -EINVAL);
	/* Unknown type, tag, sender. */
	m = promise_req(1, 1, false, 0);
	m.type = 77;
	ASSERT_INT_EQ(inject(0, m), -EINVAL);
	m = promise_req(1, 1, false, 0);
	m.tag = 9;
	ASSERT_INT_EQ(inject(0, m), -EINVAL);
	m = promise_req(1, 1, false, 0);
	m.from = 7;
	ASSERT_INT_EQ(inject(0, m), -EINVAL);
	ASSERT_STR_CONTAINS(replog_core_errmsg(core(0)), "malformed");
	/* Nothing changed and the core still works. */
	ASSERT_UINT_EQ(replog_core_promised(core(0)), 0);
	ASSERT_INT_EQ(elect(0), 0);
	teardown();
}

/* ---------------------------------------------------------------- Coordinator */

TEST(coordinator_elect_fills_position_zero_with_nop)
{
	struct replog_action a;
	unsigned i;

	setup(3, true);
	ASSERT_INT_EQ(elect(0), 0);
	ASSERT_UINT_EQ(done_since(0, 0, REPLOG_OP_START)->position, 0);
	for (i = 0; i < 3; i++) {
		ASSERT_OK(replog_core_read(core(i), 0, &a));
		ASSERT_INT_EQ(a.type, REPLOG_ACTION_NOP);
	}
	teardown();
}

TEST(coordinator_append_read)
{
	uint64_t pos, id;
	unsigned i;

	setup(3, true);
	ASSERT_INT_EQ(elect(0), 0);
	for (id = 1; id <= 3; id++) {
		ASSERT_INT_EQ(append(0, id, &pos), 0);
		ASSERT_UINT_EQ(pos, id);
	}
	for (i = 0; i < 3; i++)
		for (id = 1; id <= 3; id++)
			ASSERT_INT_EQ(read_id(i, id), (int64_t)id);
	teardown();
}

TEST(coordinator_read_errors_are_clear)
{
	struct replog_action a;
	uint64_t pos;

	setup(3, true);
	ASSERT_INT_EQ(elect(0), 0);
	ASSERT_INT_EQ(append(0, 1, &pos), 0);
	ASSERT_INT_EQ(replog_core_read(core(0), 2, &a), -ERANGE);
	ASSERT_STR_CONTAINS(replog_core_errmsg(core(0)), "past the end");
	ASSERT_INT_EQ(replog_core_read(core(0), UINT64_MAX, &a), -ERANGE);
	teardown();
}

TEST(coordinator_rejected_write_demotes_writer)
{
	size_t mark;
	uint64_t pos;

	setup(3, true);
	ASSERT_INT_EQ(elect(0), 0);
	ASSERT_INT_EQ(append(0, 1, &pos), 0);
	ASSERT_INT_EQ(elect(1), 0);
	mark = C.done_n;
	ASSERT_INT_EQ(append(0, 2, NULL), -ESTALE);
	/* Dead until started again (Mesos would keep it elected). */
	ASSERT_FALSE(replog_core_writer_elected(core(0)));
	ASSERT_INT_EQ(sim_node_append(&C, 0, 3, 0), -ENOTCONN);
	ASSERT_STR_CONTAINS(replog_core_errmsg(core(0)), "not elected");
	(void)mark;
	/* The new writer continues after everything the old one wrote. */
	ASSERT_INT_EQ(append(1, 4, &pos), 0);
	ASSERT_INT_EQ(read_id(1, 1), 1);
	ASSERT_UINT_GT(pos, 1);
	teardown();
}

TEST(coordinator_quorum_ignored_write_demotes_writer)
{
	setup(3, true);
	ASSERT_INT_EQ(elect(0), 0);
	/* Two replicas come back empty (no auto-initialisation): they answer IGNORED. */
	wipe(1);
	wipe(2);
	ASSERT_INT_EQ(append(0, 1, NULL), -EAGAIN);
	ASSERT_FALSE(replog_core_writer_elected(core(0)));
	teardown();
}

TEST(coordinator_elect_without_quorum_stays_pending)
{
	setup(3, true);
	sim_isolate(&C, 1, true);
	sim_isolate(&C, 2, true);
	ASSERT_INT_EQ(elect(0), 1);
	spin(5);
	ASSERT_NULL(done_since(0, 0, REPLOG_OP_START));
	sim_heal(&C);
	spin(1);
	ASSERT_NOT_NULL(done_since(0, 0, REPLOG_OP_START));
	ASSERT_INT_EQ(done_since(0, 0, REPLOG_OP_START)->status, 0);
	teardown();
}

TEST(coordinator_append_without_quorum_stays_pending)
{
	size_t mark;

	setup(3, true);
	ASSERT_INT_EQ(elect(0), 0);
	sim_isolate(&C, 1, true);
	sim_isolate(&C, 2, true);
	mark = C.done_n;
	ASSERT_INT_EQ(append(0, 1, NULL), 1);
	spin(5);
	ASSERT_NULL(done_since(mark, 0, REPLOG_OP_APPEND));
	sim_heal(&C);
	spin(1);
	ASSERT_NOT_NULL(done_since(mark, 0, REPLOG_OP_APPEND));
	ASSERT_INT_EQ(done_since(mark, 0, REPLOG_OP_APPEND)->status, 0);
	teardown();
}

TEST(coordinator_failover_sees_every_append)
{
	uint64_t id, pos;

	setup(3, true);
	ASSERT_INT_EQ(elect(0), 0);
	for (id = 1; id <= 10; id++)
		ASSERT_INT_EQ(append(0, id, &pos), 0);
	ASSERT_INT_EQ(elect(1), 0);
	ASSERT_UINT_EQ(done_since(0, 1, REPLOG_OP_START)->position, 10);
	for (id = 1; id <= 10; id++)
		ASSERT_INT_EQ(read_id(1, id), (int64_t)id);
	ASSERT_INT_EQ(append(1, 11, &pos), 0);
	ASSERT_UINT_EQ(pos, 11);
	teardown();
}

TEST(coordinator_fill_from_replica_that_learned)
{
	uint64_t pos;

	setup(3, true);
	/* Node 2 is away while node 0 appends; node 1 learns the value. */
	sim_isolate(&C, 2, true);
	ASSERT_INT_EQ(elect(0), 0);
	ASSERT_INT_EQ(append(0, 77, &pos), 0);
	ASSERT_UINT_EQ(pos, 1);
	/* Node 0 goes away; node 2 is elected with node 1 and fills position 1 from it. */
	sim_heal(&C);
	sim_isolate(&C, 0, true);
	ASSERT_INT_EQ(elect(2), 0);
	ASSERT_UINT_EQ(done_since(0, 2, REPLOG_OP_START)->position, 1);
	ASSERT_INT_EQ(read_id(2, 1), 77);
	teardown();
}

TEST(coordinator_fill_from_replica_that_did_not_learn)
{
	uint64_t pos;

	setup(3, true);
	sim_isolate(&C, 2, true);
	ASSERT_INT_EQ(elect(0), 0);
	/* Node 1 accepts the write but never hears it was chosen. */
	ASSERT_OK(sim_node_append(&C, 0, 77, 0));
	settle_dropping(0, 1, REPLOG_MSG_LEARNED);
	ASSERT_INT_EQ(done_since(0, 0, REPLOG_OP_APPEND)->status, 0);
	pos = done_since(0, 0, REPLOG_OP_APPEND)->position;
	ASSERT_FALSE(replog_core_is_learned(core(1), pos));
	sim_heal(&C);
	sim_isolate(&C, 0, true);
	ASSERT_INT_EQ(elect(2), 0);
	ASSERT_INT_EQ(read_id(2, pos), 77);
	ASSERT_INT_EQ(read_id(1, pos), 77);
	teardown();
}

TEST(coordinator_ten_appends_then_failover_nothing_learned)
{
	uint64_t id;

	setup(3, true);
	sim_isolate(&C, 2, true);
	ASSERT_INT_EQ(elect(0), 0);
	for (id = 1; id <= 10; id++)
		ASSERT_OK(sim_node_append(&C, 0, id, 1));
	settle_dropping(0, 1, REPLOG_MSG_LEARNED);
	for (id = 1; id <= 10; id++)
		ASSERT_FALSE(replog_core_is_learned(core(1), id));
	sim_heal(&C);
	sim_isolate(&C, 0, true);
	ASSERT_INT_EQ(elect(2), 0);
	ASSERT_UINT_EQ(done_since(0, 2, REPLOG_OP_START)->position, 10);
	for (id = 1; id <= 10; id++)
		ASSERT_INT_EQ(read_id(2, id), (int64_t)id);
	teardown();
}

TEST(coordinator_truncate_then_read)
{
	struct replog_action a;
	uint64_t id, pos;
	unsigned i;

	setup(3, true);
	ASSERT_INT_EQ(elect(0), 0);
	for (id = 1; id <= 10; id++)
		ASSERT_INT_EQ(append(0, id, NULL), 0);
	ASSERT_INT_EQ(truncate_to(0, 7, &pos), 0);
	ASSERT_UINT_EQ(pos, 11);
	for (i = 0; i < 3; i++) {
		ASSERT_UINT_EQ(replog_core_begin(core(i)), 7);
		ASSERT_INT_EQ(replog_core_read(core(i), 6, &a), -ENOENT);
		ASSERT_STR_CONTAINS(replog_core_errmsg(core(i)), "truncated");
		ASSERT_INT_EQ(read_id(i, 7), 7);
		ASSERT_OK(replog_core_read(core(i), 11, &a));
		ASSERT_INT_EQ(a.type, REPLOG_ACTION_TRUNCATE);
		ASSERT_UINT_EQ(a.to, 7);
	}
	/* The store dropped what is below begin; a restart keeps begin. */
	bounce(1);
	ASSERT_UINT_EQ(replog_core_begin(core(1)), 7);
	ASSERT_UINT_EQ(C.nodes[1].dur.recs[0].a.position, 7);
	/* Truncating beyond its own position is refused. */
	ASSERT_INT_EQ(sim_node_truncate(&C, 0, 100), -EINVAL);
	ASSERT_STR_CONTAINS(replog_core_errmsg(core(0)), "beyond");
	teardown();
}

TEST(coordinator_truncate_not_learned_then_failover)
{
	struct replog_action a;
	uint64_t id, pos;

	setup(3, true);
	sim_isolate(&C, 2, true);
	ASSERT_INT_EQ(elect(0), 0);
	for (id = 1; id <= 10; id++)
		ASSERT_INT_EQ(append(0, id, NULL), 0);
	ASSERT_OK(sim_node_truncate(&C, 0, 5));
	settle_dropping(0, 1, REPLOG_MSG_LEARNED);
	pos = done_since(0, 0, REPLOG_OP_TRUNCATE)->position;
	ASSERT_UINT_EQ(replog_core_begin(core(1)), 0);
	sim_heal(&C);
	sim_isolate(&C, 0, true);
	ASSERT_INT_EQ(elect(2), 0);
	ASSERT_UINT_EQ(replog_core_begin(core(2)), 5);
	ASSERT_INT_EQ(replog_core_read(core(2), 4, &a), -ENOENT);
	ASSERT_OK(replog_core_read(core(2), pos, &a));
	ASSERT_INT_EQ(a.type, REPLOG_ACTION_TRUNCATE);
	ASSERT_UINT_EQ(replog_core_begin(core(1)), 5);
	teardown();
}

TEST(coordinator_truncate_learned_fill_gets_tombstones)
{
	uint64_t id;

	setup(3, true);
	/* Node 2 misses everything, node 1 learns the truncation. */
	sim_isolate(&C, 2, true);
	ASSERT_INT_EQ(elect(0), 0);
	for (id = 1; id <= 10; id++)
		ASSERT_INT_EQ(append(0, id, NULL), 0);
	ASSERT_INT_EQ(truncate_to(0, 5, NULL), 0);
	ASSERT_UINT_EQ(replog_core_begin(core(1)), 5);
	/* Node 2's election fills 0..11; node 1 answers positions below 5 with learned tombstones.
	 */
	sim_heal(&C);
	sim_isolate(&C, 0, true);
	ASSERT_INT_EQ(elect(2), 0);
	ASSERT_UINT_EQ(replog_core_begin(core(2)), 5);
	for (id = 5; id <= 10; id++)
		ASSERT_INT_EQ(read_id(2, id), (int64_t)id);
	teardown();
}

/* Delivers RECOVER_RESPs and the RECOVER_REQs of replicas that are still EMPTY. */
static bool first_round_only(const struct sim_cluster *c, const struct replog_msg *m, void *arg)
{
	(void)arg;
	if (m->type == REPLOG_MSG_RECOVER_REQ)
		return replog_core_status(c->nodes[m->from].core) == REPLOG_EMPTY;
	return m->type == REPLOG_MSG_RECOVER_RESP;
}

TEST(coordinator_auto_init_race_elect_ignored_then_retries)
{
	unsigned i;

	setup(3, false);
	/* Every replica sees all EMPTY and becomes STARTING (its next round is held back). */
	tick_all();
	sim_run(&C, first_round_only, NULL, 1000000);
	drop_all();
	for (i = 0; i < 3; i++)
		ASSERT_INT_EQ(replog_core_status(core(i)), REPLOG_STARTING);
	/* Only node 0 asks again: it sees all STARTING and becomes VOTING; the others stay. */
	sim_node_tick(&C, 0);
	settle();
	ASSERT_INT_EQ(replog_core_status(core(0)), REPLOG_VOTING);
	ASSERT_INT_EQ(replog_core_status(core(1)), REPLOG_STARTING);
	ASSERT_INT_EQ(replog_core_status(core(2)), REPLOG_STARTING);
	/* Electing gets IGNORED from a quorum: pending, not failed. */
	ASSERT_INT_EQ(elect(0), 1);
	sim_node_tick(&C, 0);
	settle();
	ASSERT_NULL(done_since(0, 0, REPLOG_OP_START));
	/* Node 1 becomes VOTING; the election's retry (a tick) succeeds. */
	sim_node_tick(&C, 1);
	settle();
	ASSERT_INT_EQ(replog_core_status(core(1)), REPLOG_VOTING);
	sim_node_tick(&C, 0);
	settle();
	ASSERT_INT_EQ(done_since(0, 0, REPLOG_OP_START)->status, 0);
	ASSERT_UINT_EQ(done_since(0, 0, REPLOG_OP_START)->position, 0);
	/* Node 2, still STARTING, sees a VOTING quorum: it catches up without fencing the writer.
	 */
	sim_node_tick(&C, 2);
	settle();
	ASSERT_INT_EQ(replog_core_status(core(2)), REPLOG_VOTING);
	ASSERT_INT_EQ(append(0, 1, NULL), 0);
	ASSERT_INT_EQ(read_id(2, 1), 1);
	teardown();
}

/* ---------------------------------------------------------------- Cases Mesos left empty */

TEST(coordinator_racing_elect)
{
	int s0, s1, a0, a1;
	uint64_t p0 = 0, p1 = 0;

	setup(3, true);
	ASSERT_OK(sim_node_start(&C, 0));
	ASSERT_OK(sim_node_start(&C, 1));
	settle();
	/* Each writer that thinks it is elected appends. */
	s0 = done_since(0, 0, REPLOG_OP_START) ? done_since(0, 0, REPLOG_OP_START)->status : 1;
	s1 = done_since(0, 1, REPLOG_OP_START) ? done_since(0, 1, REPLOG_OP_START)->status : 1;
	a0 = s0 == 0 ? append(0, 100, &p0) : -1;
	a1 = s1 == 0 ? append(1, 200, &p1) : -1;
	/* At most one value per position (the checker), and at most one writer survives. */
	ASSERT_FALSE(a0 == 0 && a1 == 0 && p0 == p1);
	ASSERT_FALSE(replog_core_writer_elected(core(0)) && replog_core_writer_elected(core(1)));
	/* The loser was demoted with -ESTALE (at START or at its first append). */
	ASSERT_TRUE(s0 == -ESTALE || s1 == -ESTALE || a0 == -ESTALE || a1 == -ESTALE);
	teardown();
}

TEST(coordinator_fill_without_quorum_stays_pending)
{
	struct flt implicit_only = {-1, -1, REPLOG_MSG_PROMISE_REQ};

	setup(3, true);
	sim_isolate(&C, 2, true);
	ASSERT_INT_EQ(elect(0), 0);
	ASSERT_OK(sim_node_append(&C, 0, 5, 0));
	settle_dropping(0, 1, REPLOG_MSG_LEARNED);
	/* Node 2 wins the election with node 1, then loses node 1 before filling position 1. */
	sim_heal(&C);
	sim_isolate(&C, 0, true);
	ASSERT_OK(sim_node_start(&C, 2));
	(void)implicit_only;
	{
		/* Deliver the implicit round only. */
		size_t k;
		bool again = true;
		while (again) {
			again = false;
			for (k = 0; k < C.net_n; k++) {
				const struct replog_msg *m = &C.net[k].m;
				if ((m->type == REPLOG_MSG_PROMISE_REQ &&
				     !m->u.promise_req.explicit_) ||
				    (m->type == REPLOG_MSG_PROMISE_RESP &&
				     !m->u.promise_resp.explicit_)) {
					sim_net_deliver(&C, k);
					again = true;
					break;
				}
			}
		}
	}
	sim_isolate(&C, 1, true);
	settle();
	spin(4);
	ASSERT_NULL(done_since(0, 2, REPLOG_OP_START));
	ASSERT_FALSE(replog_core_is_learned(core(2), 1));
	sim_isolate(&C, 1, false);
	sim_isolate(&C, 0, true);
	spin(1);
	ASSERT_INT_EQ(done_since(0, 2, REPLOG_OP_START)->status, 0);
	ASSERT_INT_EQ(read_id(2, 1), 5);
	teardown();
}

TEST(coordinator_fill_over_inconsistent_values_takes_highest_ballot)
{
	uint64_t b1, b2;
	unsigned i;
	int rv;

	setup(3, true);
	/* Writer 0 (ballot b1) gets value 10 accepted at position 1 by itself only. */
	ASSERT_INT_EQ(elect(0), 0);
	b1 = replog_core_writer_ballot(core(0));
	ASSERT_OK(sim_node_append(&C, 0, 10, 0));
	settle_dropping(0, -1, REPLOG_MSG_WRITE_REQ);
	{
		/* Deliver only its write to itself. */
		struct replog_msg w = write_req(0, replog_ballot_round(b1), 1, NULL, 0);
		uint8_t v[16];
		size_t len = sim_value_make(v, sizeof(v), 10, 3);
		w.u.write_req.action.value = v;
		w.u.write_req.action.len = len;
		ASSERT_OK(inject(0, w));
		drop_all();
	}
	/* Node 0 restarts: its writer is gone, its replica keeps (b1, 10) at position 1. */
	bounce(0);
	ASSERT_UINT_EQ(replog_core_end(core(0)), 1);
	/* Writer 1 (ballot b2 > b1) is elected without node 0 and gets 20 accepted by node 2 only.
	 */
	sim_isolate(&C, 0, true);
	ASSERT_INT_EQ(elect(1), 0);
	b2 = replog_core_writer_ballot(core(1));
	ASSERT_UINT_GT(b2, b1);
	ASSERT_OK(sim_node_append(&C, 1, 20, 0));
	{
		long k;
		while ((k = find_msg(1, REPLOG_MSG_WRITE_REQ)) >= 0) {
			if (C.net[k].m.to == 2)
				sim_net_deliver(&C, (size_t)k);
			else
				sim_net_drop(&C, (size_t)k);
		}
		drop_all();
	}
	sim_heal(&C);
	/* Writer 0 again: its fill of position 1 hears node 0 (b1, 10) and node 2 (b2, 20). */
	sim_node_crash(&C, 1, C.nodes[1].pend_n, false); /* node 1 stays silent */
	/* Its first ballot may lose to b2 (node 0 never saw it), as in Mesos's Fill test. */
	rv = elect(0);
	if (rv == -ESTALE)
		rv = elect(0);
	ASSERT_INT_EQ(rv, 0);
	for (i = 0; i < 3; i += 2)
		ASSERT_INT_EQ(read_id(i, 1), 20);
	ASSERT_OK(sim_node_restart(&C, 1));
	teardown();
}

TEST(coordinator_learned_on_one_replica_not_another)
{
	uint64_t pos;

	setup(3, true);
	ASSERT_INT_EQ(elect(0), 0);
	ASSERT_OK(sim_node_append(&C, 0, 33, 0));
	settle_dropping(0, 2, REPLOG_MSG_LEARNED);
	pos = done_since(0, 0, REPLOG_OP_APPEND)->position;
	ASSERT_TRUE(replog_core_is_learned(core(1), pos));
	ASSERT_FALSE(replog_core_is_learned(core(2), pos));
	/* Without failure: node 2 catches up from node 1. */
	ASSERT_OK(sim_node_catchup(&C, 2));
	settle();
	ASSERT_INT_EQ(done_since(0, 2, REPLOG_OP_CATCHUP)->status, 0);
	ASSERT_INT_EQ(read_id(2, pos), 33);
	teardown();
}

TEST(coordinator_learned_on_one_replica_then_failure_and_recovery)
{
	struct flt to2 = {0, 2, REPLOG_MSG_LEARNED};
	size_t mark;
	uint64_t pos;
	unsigned i, r;

	setup(3, true);
	ASSERT_INT_EQ(elect(0), 0);
	C.auto_sync = false;
	mark = C.done_n;
	ASSERT_OK(sim_node_append(&C, 0, 44, 0));
	/* fsync everywhere until the append completes; node 2 never hears it was chosen. */
	for (r = 0; r < 10; r++) {
		settle_dropping(0, 2, REPLOG_MSG_LEARNED);
		if (done_since(mark, 0, REPLOG_OP_APPEND) != NULL)
			break;
		for (i = 0; i < 3; i++)
			sim_node_fsync(&C, i);
	}
	(void)to2;
	ASSERT_INT_EQ(done_since(mark, 0, REPLOG_OP_APPEND)->status, 0);
	pos = done_since(mark, 0, REPLOG_OP_APPEND)->position;
	ASSERT_TRUE(replog_core_is_learned(core(1), pos));
	ASSERT_FALSE(replog_core_is_learned(core(2), pos));
	/* Node 1 learned without an fsync (learned notices need none), then crashes: flag lost. */
	ASSERT_UINT_GT(C.nodes[1].pend_n, 0);
	sim_node_crash(&C, 1, 0, false);
	ASSERT_OK(sim_node_restart(&C, 1));
	ASSERT_FALSE(replog_core_is_learned(core(1), pos));
	ASSERT_UINT_EQ(replog_core_end(core(1)), pos);
	/* The writer dies; node 2 is elected and fills the position from the accepted copies. */
	sim_node_crash(&C, 0, C.nodes[0].pend_n, false);
	C.auto_sync = true;
	sim_node_fsync(&C, 2);
	ASSERT_INT_EQ(elect(2), 0);
	ASSERT_INT_EQ(read_id(2, pos), 44);
	ASSERT_INT_EQ(read_id(1, pos), 44);
	ASSERT_OK(sim_node_restart(&C, 0));
	ASSERT_OK(sim_node_catchup(&C, 0));
	settle();
	ASSERT_INT_EQ(read_id(0, pos), 44);
	teardown();
}

/* ---------------------------------------------------------------- Writer details */

TEST(writer_synchronous_errors)
{
	unsigned k;

	setup(3, true);
	ASSERT_INT_EQ(sim_node_append(&C, 0, 1, 0), -ENOTCONN);
	ASSERT_INT_EQ(sim_node_truncate(&C, 0, 0), -ENOTCONN);
	ASSERT_OK(sim_node_start(&C, 0));
	ASSERT_INT_EQ(sim_node_start(&C, 0), -EBUSY);
	ASSERT_STR_CONTAINS(replog_core_errmsg(core(0)), "running");
	settle();
	ASSERT_INT_EQ(sim_node_start(&C, 0), -EALREADY);
	/* The window is max_inflight (64 by default): the next one is -EBUSY. */
	sim_isolate(&C, 1, true);
	sim_isolate(&C, 2, true);
	for (k = 0; k < 64; k++)
		ASSERT_OK(sim_node_append(&C, 0, 100 + k, 0));
	ASSERT_INT_EQ(sim_node_append(&C, 0, 999, 0), -EBUSY);
	sim_heal(&C);
	spin(1);
	ASSERT_OK(sim_node_append(&C, 0, 999, 0));
	settle();
	/* A replica that is not VOTING cannot start a writer or catch up. */
	wipe(2);
	ASSERT_INT_EQ(sim_node_start(&C, 2), -EAGAIN);
	ASSERT_INT_EQ(sim_node_catchup(&C, 2), -EAGAIN);
	teardown();
}

TEST(writer_stop_cancels_pending_writes)
{
	size_t mark;
	uint64_t pos;

	setup(3, true);
	ASSERT_INT_EQ(sim_node_stop(&C, 0), -ENOTCONN);
	ASSERT_INT_EQ(elect(0), 0);
	ASSERT_INT_EQ(append(0, 1, &pos), 0);
	sim_isolate(&C, 1, true);
	sim_isolate(&C, 2, true);
	mark = C.done_n;
	ASSERT_INT_EQ(append(0, 2, NULL), 1);
	ASSERT_OK(sim_node_stop(&C, 0));
	ASSERT_INT_EQ(done_since(mark, 0, REPLOG_OP_APPEND)->status, -ECANCELED);
	ASSERT_FALSE(replog_core_writer_elected(core(0)));
	ASSERT_INT_EQ(sim_node_append(&C, 0, 3, 0), -ENOTCONN);
	ASSERT_INT_EQ(sim_node_stop(&C, 0), -ENOTCONN);
	/* The cancelled append's outcome was unknown: node 0 had accepted it, the next fill keeps
	 * it. */
	sim_heal(&C);
	ASSERT_INT_EQ(elect(0), 0);
	ASSERT_INT_EQ(read_id(0, pos + 1), 2);
	/* A catch-up on the elected writer's node completes at once at its last write. */
	mark = C.done_n;
	ASSERT_OK(sim_node_catchup(&C, 0));
	ASSERT_UINT_EQ(done_since(mark, 0, REPLOG_OP_CATCHUP)->position, pos + 1);
	/* A stop during the election cancels the START. */
	ASSERT_OK(sim_node_stop(&C, 0));
	mark = C.done_n;
	ASSERT_OK(sim_node_start(&C, 0));
	ASSERT_OK(sim_node_stop(&C, 0));
	ASSERT_INT_EQ(done_since(mark, 0, REPLOG_OP_START)->status, -ECANCELED);
	settle();
	teardown();
}

/* A ballot is promised locally and durable before any message carrying it leaves. */
TEST(writer_ballot_durable_before_use)
{
	uint64_t b1, b2;

	setup(3, true);
	C.auto_sync = false;
	ASSERT_OK(sim_node_start(&C, 0));
	b1 = replog_core_writer_ballot(core(0));
	ASSERT_UINT_EQ(replog_core_promised(core(0)), b1);
	/* Nothing left node 0: its PROMISE_REQs wait for the fsync of its promise. */
	ASSERT_UINT_EQ(C.net_n, 0);
	ASSERT_UINT_GT(C.nodes[0].held_n, 0);
	/* A crash before that fsync: the ballot was never seen by anyone. */
	sim_node_crash(&C, 0, 0, false);
	ASSERT_OK(sim_node_restart(&C, 0));
	ASSERT_OK(sim_node_start(&C, 0));
	b2 = replog_core_writer_ballot(core(0));
	sim_node_fsync(&C, 0);
	ASSERT_UINT_EQ(C.net_n, 3);
	ASSERT_UINT_EQ(C.net[0].m.ballot, b2);
	/* Once durable, a restart never picks a ballot at or below it again. */
	bounce(0);
	C.auto_sync = true;
	drop_all();
	ASSERT_INT_EQ(elect(0), 0);
	ASSERT_UINT_GT(replog_core_writer_ballot(core(0)), b2);
	(void)b1;
	teardown();
}

TEST(writer_pipelined_appends_complete_in_order)
{
	uint64_t id, last = 0;
	size_t k;

	setup(3, true);
	ASSERT_INT_EQ(elect(0), 0);
	for (id = 1; id <= 20; id++)
		ASSERT_OK(sim_node_append(&C, 0, id, (size_t)id));
	/* Deliver in reverse order of sending to shuffle the acknowledgements. */
	while (C.net_n > 0)
		sim_net_deliver(&C, C.net_n - 1);
	for (k = 0; k < C.done_n; k++) {
		if (C.done[k].op != REPLOG_OP_APPEND)
			continue;
		ASSERT_INT_EQ(C.done[k].status, 0);
		ASSERT_UINT_GT(C.done[k].position, last);
		ASSERT_UINT_EQ(C.done[k].value_id, C.done[k].position);
		last = C.done[k].position;
	}
	ASSERT_UINT_EQ(last, 20);
	teardown();
}

/* Positions around 2^31, 2^32, 10^10 and 2^64-2 keep their order. */
TEST(positions_near_integer_limits)
{
	static const uint64_t bases[] = {(1ull << 31) - 2, (1ull << 32) - 2, 10000000000ull,
					 UINT64_MAX - 5};
	size_t b;
	uint64_t id, pos, prev;

	for (b = 0; b < KEEL_ARRAY_SIZE(bases); b++) {
		struct sim_cluster_config cfg = {.nodes = 3, .voting = true, .base = bases[b]};

		TH_CONTEXT("base %llu", (unsigned long long)bases[b]);
		setup_cfg(&cfg);
		ASSERT_INT_EQ(elect(0), 0);
		ASSERT_UINT_EQ(done_since(0, 0, REPLOG_OP_START)->position, bases[b] - 1);
		prev = bases[b] - 1;
		for (id = 1; id <= 4; id++) {
			int rv = append(0, id, &pos);
			if (prev == REPLOG_POSITION_MAX) {
				/* The log is full: refused at once, nothing wraps to 0. */
				ASSERT_INT_EQ(rv, -ERANGE);
				ASSERT_STR_CONTAINS(replog_core_errmsg(core(0)), "full");
				continue;
			}
			ASSERT_INT_EQ(rv, 0);
			ASSERT_UINT_EQ(pos, prev + 1);
			prev = pos;
		}
		/* Failover and a restart see the same positions. */
		bounce(1);
		ASSERT_INT_EQ(elect(1), 0);
		for (pos = bases[b]; pos <= prev; pos++)
			ASSERT_INT_EQ(read_id(1, pos), (int64_t)(pos - bases[b] + 1));
		teardown();
	}
}

/* ---------------------------------------------------------------- Recovery */

static void spin_until_voting(unsigned rounds)
{
	unsigned i, k;
	bool all;

	for (k = 0; k < rounds; k++) {
		all = true;
		for (i = 0; i < C.n; i++)
			if (replog_core_status(core(i)) != REPLOG_VOTING)
				all = false;
		if (all)
			return;
		spin(1);
	}
}

TEST(recover_two_empty_replicas_catch_up_concurrently)
{
	struct sim_cluster_config cfg = {.nodes = 5, .voting = true};
	uint64_t id, pos;
	unsigned i;

	setup_cfg(&cfg);
	wipe(3);
	wipe(4);
	ASSERT_INT_EQ(elect(0), 0);
	for (id = 1; id <= 10; id++)
		ASSERT_INT_EQ(append(0, id, NULL), 0);
	spin_until_voting(20);
	for (i = 3; i < 5; i++) {
		ASSERT_INT_EQ(replog_core_status(core(i)), REPLOG_VOTING);
		for (id = 1; id <= 10; id++)
			ASSERT_INT_EQ(read_id(i, id), (int64_t)id);
	}
	/* Recovery fenced the old writer; a new start works with all five. */
	ASSERT_INT_EQ(append(0, 11, NULL), -ESTALE);
	ASSERT_INT_EQ(elect(0), 0);
	ASSERT_INT_EQ(append(0, 12, &pos), 0);
	for (i = 0; i < 5; i++)
		ASSERT_INT_EQ(read_id(i, pos), 12);
	teardown();
}

TEST(recover_catchup_retries_after_dropped_promise)
{
	uint64_t id;

	setup(3, true);
	ASSERT_INT_EQ(elect(0), 0);
	for (id = 1; id <= 3; id++)
		ASSERT_INT_EQ(append(0, id, NULL), 0);
	wipe(2);
	/* Its first fence round is lost. */
	sim_node_tick(&C, 2);
	settle_dropping(2, -1, REPLOG_MSG_PROMISE_REQ);
	ASSERT_INT_EQ(replog_core_status(core(2)), REPLOG_RECOVERING);
	spin_until_voting(10);
	ASSERT_INT_EQ(replog_core_status(core(2)), REPLOG_VOTING);
	for (id = 1; id <= 3; id++)
		ASSERT_INT_EQ(read_id(2, id), (int64_t)id);
	teardown();
}

TEST(recover_protocol_retries_until_quorum_voting)
{
	setup(3, true);
	wipe(1);
	wipe(2);
	spin(5);
	/* One VOTING replica is not a quorum: nobody moves (no auto-initialisation). */
	ASSERT_INT_EQ(replog_core_status(core(1)), REPLOG_EMPTY);
	ASSERT_INT_EQ(replog_core_status(core(2)), REPLOG_EMPTY);
	/* Node 1 is initialised by hand (`initialize`): now node 2 recovers. */
	sim_node_crash(&C, 1, 0, true);
	C.nodes[1].dur.has_meta = true;
	C.nodes[1].dur.meta.status = REPLOG_VOTING;
	ASSERT_OK(sim_node_restart(&C, 1));
	spin_until_voting(10);
	ASSERT_INT_EQ(replog_core_status(core(2)), REPLOG_VOTING);
	ASSERT_INT_EQ(elect(2), 0);
	teardown();
}

TEST(recover_auto_init_needs_every_replica)
{
	unsigned i;

	setup(3, false);
	sim_node_crash(&C, 2, 0, false);
	spin(10);
	for (i = 0; i < 2; i++)
		ASSERT_INT_EQ(replog_core_status(core(i)), REPLOG_EMPTY);
	ASSERT_OK(sim_node_restart(&C, 2));
	spin_until_voting(10);
	for (i = 0; i < 3; i++)
		ASSERT_INT_EQ(replog_core_status(core(i)), REPLOG_VOTING);
	ASSERT_INT_EQ(elect(1), 0);
	teardown();
}

TEST(recover_auto_init_retries_when_requests_drop)
{
	unsigned i, r;

	setup(3, false);
	for (r = 0; r < 3; r++) {
		tick_all();
		settle_dropping(-1, -1, REPLOG_MSG_RECOVER_RESP);
	}
	for (i = 0; i < 3; i++)
		ASSERT_INT_EQ(replog_core_status(core(i)), REPLOG_EMPTY);
	spin_until_voting(10);
	for (i = 0; i < 3; i++)
		ASSERT_INT_EQ(replog_core_status(core(i)), REPLOG_VOTING);
	teardown();
}

TEST(recover_catchup_of_truncated_range_persists_begin)
{
	uint64_t id;

	setup(3, true);
	wipe(2);
	sim_isolate(&C, 2, true);
	ASSERT_INT_EQ(elect(0), 0);
	for (id = 1; id <= 10; id++)
		ASSERT_INT_EQ(append(0, id, NULL), 0);
	ASSERT_INT_EQ(truncate_to(0, 5, NULL), 0);
	sim_heal(&C);
	spin_until_voting(10);
	ASSERT_INT_EQ(replog_core_status(core(2)), REPLOG_VOTING);
	ASSERT_UINT_EQ(replog_core_begin(core(2)), 5);
	ASSERT_UINT_EQ(replog_core_end(core(2)), 11);
	bounce(2);
	ASSERT_UINT_EQ(replog_core_begin(core(2)), 5);
	ASSERT_UINT_EQ(replog_core_end(core(2)), 11);
	for (id = 5; id <= 10; id++)
		ASSERT_INT_EQ(read_id(2, id), (int64_t)id);
	teardown();
}

TEST(recover_catchup_of_voting_replica_with_gap)
{
	uint64_t id;

	setup(3, true);
	sim_isolate(&C, 2, true);
	ASSERT_INT_EQ(elect(0), 0);
	for (id = 1; id <= 10; id++)
		ASSERT_INT_EQ(append(0, id, NULL), 0);
	ASSERT_INT_EQ(truncate_to(0, 5, NULL), 0);
	sim_heal(&C);
	ASSERT_UINT_EQ(replog_core_end(core(2)), 0);
	ASSERT_OK(sim_node_catchup(&C, 2));
	settle();
	ASSERT_INT_EQ(done_since(0, 2, REPLOG_OP_CATCHUP)->status, 0);
	ASSERT_UINT_EQ(done_since(0, 2, REPLOG_OP_CATCHUP)->position, 11);
	ASSERT_UINT_EQ(replog_core_begin(core(2)), 5);
	ASSERT_UINT_EQ(replog_core_end(core(2)), 11);
	for (id = 5; id <= 10; id++)
		ASSERT_INT_EQ(read_id(2, id), (int64_t)id);
	/* A second catch-up with nothing new completes at once. */
	ASSERT_OK(sim_node_catchup(&C, 2));
	settle();
	ASSERT_INT_EQ(done_since(0, 2, REPLOG_OP_CATCHUP)->status, 0);
	ASSERT_INT_EQ(sim_node_catchup(&C, 2), 0);
	ASSERT_INT_EQ(sim_node_catchup(&C, 2), -EBUSY);
	settle();
	teardown();
}

/*
 * Why recovery fences (Mesos does not): node 2 promised writer 0 and then lost
 * its disk. Without a fence it would come back VOTING with no promise, and a
 * stale writer (node 1, lower ballot) plus the current one could each get a
 * different value chosen at one position, both through node 2.
 */
TEST(recover_fence_deposes_stale_writers)
{
	size_t mark;

	setup(3, true);
	ASSERT_INT_EQ(elect(1), 0); /* stale writer, promised by all three */
	sim_isolate(&C, 1, true);
	ASSERT_INT_EQ(elect(0), 0); /* current writer, promised by 0 and 2 */
	sim_heal(&C);
	wipe(2);
	/* Node 2 recovers with nodes 0 and 1. */
	spin_until_voting(10);
	ASSERT_INT_EQ(replog_core_status(core(2)), REPLOG_VOTING);
	/* The stale writer cannot reach node 0; the current one cannot reach node 1. */
	C.cut[1][0] = C.cut[0][1] = true;
	mark = C.done_n;
	ASSERT_OK(sim_node_append(&C, 1, 111, 0));
	ASSERT_OK(sim_node_append(&C, 0, 222, 0));
	settle();
	spin(2);
	ASSERT_INT_EQ(done_since(mark, 1, REPLOG_OP_APPEND)->status, -ESTALE);
	ASSERT_INT_EQ(done_since(mark, 0, REPLOG_OP_APPEND)->status, -ESTALE);
	sim_heal(&C);
	ASSERT_INT_EQ(elect(2), 0);
	ASSERT_INT_EQ(append(2, 333, NULL), 0);
	teardown();
}

/* ---------------------------------------------------------------- Crashes and durability */

TEST(crash_before_fsync_loses_nothing_acknowledged)
{
	unsigned i;
	size_t mark;
	uint64_t pos;

	setup(3, true);
	ASSERT_INT_EQ(elect(0), 0);
	C.auto_sync = false;
	mark = C.done_n;
	ASSERT_OK(sim_node_append(&C, 0, 8, 0));
	settle();
	/* Every replica wrote but none fsynced: no acknowledgement left any of them. */
	ASSERT_NULL(done_since(mark, 0, REPLOG_OP_APPEND));
	for (i = 1; i < 3; i++) {
		ASSERT_UINT_GT(C.nodes[i].held_n, 0);
		sim_node_crash(&C, i, 0, false);
		ASSERT_OK(sim_node_restart(&C, i));
	}
	/* The writer retries; now the replicas fsync and it completes. */
	for (i = 0; i < 6 && done_since(mark, 0, REPLOG_OP_APPEND) == NULL; i++) {
		sim_node_tick(&C, 0);
		settle();
		sim_node_fsync(&C, 0);
		sim_node_fsync(&C, 1);
		sim_node_fsync(&C, 2);
		settle();
	}
	ASSERT_INT_EQ(done_since(mark, 0, REPLOG_OP_APPEND)->status, 0);
	pos = done_since(mark, 0, REPLOG_OP_APPEND)->position;
	/* Crash after fsync but before the reply left: the retry is acknowledged again. */
	C.auto_sync = true;
	for (i = 0; i < 3; i++)
		sim_node_fsync(&C, i);
	settle();
	mark = C.done_n;
	ASSERT_OK(sim_node_append(&C, 0, 9, 0));
	settle_dropping(1, 0, REPLOG_MSG_WRITE_RESP);
	bounce(1);
	settle();
	ASSERT_INT_EQ(done_since(mark, 0, REPLOG_OP_APPEND)->status, 0);
	bounce(0);
	bounce(1);
	bounce(2);
	ASSERT_INT_EQ(elect(1), 0);
	ASSERT_INT_EQ(read_id(1, pos), 8);
	ASSERT_INT_EQ(read_id(1, pos + 1), 9);
	teardown();
}

/* A store read that must not happen. */
static int no_read(void *ctx, uint64_t position, struct replog_action *out)
{
	(void)ctx;
	(void)position;
	(void)out;
	return -ENOTSUP;
}

TEST(restore_refuses_corrupt_store)
{
	struct replog_store_ops ops = {.read = NULL};
	struct replog_config rc = {.self = 0, .nodes = 3, .quorum = 2};
	struct replog_meta meta = {.status = REPLOG_VOTING, .begin = 10};
	char err[KEEL_ERRMSG_SIZE];
	struct replog_core *cr;

	ASSERT_INT_EQ(replog_core_new(&rc, &ops, NULL, &cr, err), -EINVAL);
	ASSERT_STR_CONTAINS(err, "missing");
	ops.read = no_read;

	/* Actions out of order or below begin are a corrupt store: refuse to open. */
	ASSERT_OK(replog_core_new(&rc, &ops, &meta, &cr, err));
	ASSERT_INT_EQ(replog_core_restore_action(cr, 9, true), -EINVAL);
	ASSERT_STR_CONTAINS(replog_core_errmsg(cr), "out of order");
	ASSERT_OK(replog_core_restore_action(cr, 12, true));
	ASSERT_INT_EQ(replog_core_restore_action(cr, 12, true), -EINVAL);
	ASSERT_INT_EQ(replog_core_restore_action(cr, REPLOG_POSITION_MAX + 1, true), -EINVAL);
	ASSERT_OK(replog_core_restore_done(cr));
	ASSERT_INT_EQ(replog_core_restore_done(cr), -EINVAL);
	ASSERT_INT_EQ(replog_core_restore_action(cr, 13, true), -EINVAL);
	ASSERT_UINT_EQ(replog_core_begin(cr), 10);
	ASSERT_UINT_EQ(replog_core_end(cr), 12);
	ASSERT_FALSE(replog_core_is_learned(cr, 11));
	ASSERT_TRUE(replog_core_is_learned(cr, 12));
	replog_core_free(cr);

	/* A bad status record. */
	meta.status = 9;
	ASSERT_INT_EQ(replog_core_new(&rc, &ops, &meta, &cr, err), -EINVAL);
	ASSERT_STR_CONTAINS(err, "status");
}

TEST(core_new_rejects_bad_config)
{
	struct replog_store_ops ops = {.read = no_read};
	struct replog_config rc = {.self = 0, .nodes = 3, .quorum = 1};
	char err[KEEL_ERRMSG_SIZE];
	struct replog_core *cr;
	struct replog_event ev = {.type = REPLOG_EV_TICK};

	ASSERT_INT_EQ(replog_core_new(&rc, &ops, NULL, &cr, err), -EINVAL);
	ASSERT_STR_CONTAINS(err, "majority");
	rc.quorum = 4;
	ASSERT_INT_EQ(replog_core_new(&rc, &ops, NULL, &cr, err), -EINVAL);
	rc.quorum = 2;
	rc.self = 3;
	ASSERT_INT_EQ(replog_core_new(&rc, &ops, NULL, &cr, err), -EINVAL);
	rc.self = 0;
	rc.nodes = 0;
	ASSERT_INT_EQ(replog_core_new(&rc, &ops, NULL, &cr, err), -EINVAL);
	rc.nodes = 65;
	rc.quorum = 33;
	ASSERT_INT_EQ(replog_core_new(&rc, &ops, NULL, &cr, err), -EINVAL);
	rc.nodes = 3;
	rc.quorum = 2;
	rc.max_inflight = 1u << 20;
	ASSERT_INT_EQ(replog_core_new(&rc, &ops, NULL, &cr, err), -EINVAL);
	rc.max_inflight = 0;
	ASSERT_OK(replog_core_new(&rc, &ops, NULL, &cr, err));
	/* Steps before restore_done, a NULL event, an unknown event, RECEIVE without a message. */
	ASSERT_INT_EQ(replog_core_step(cr, &ev, NULL), -EINVAL);
	ASSERT_OK(replog_core_restore_done(cr));
	ASSERT_INT_EQ(replog_core_step(cr, NULL, NULL), -EINVAL);
	ev.type = 42;
	ASSERT_INT_EQ(replog_core_step(cr, &ev, NULL), -EINVAL);
	ev.type = REPLOG_EV_RECEIVE;
	ASSERT_INT_EQ(replog_core_step(cr, &ev, NULL), -EINVAL);
	replog_core_free(cr);
	replog_core_free(NULL);
}

/* A store that fails every read: the core fails and refuses further steps. */
static int failing_read(void *ctx, uint64_t position, struct replog_action *out)
{
	(void)ctx;
	(void)position;
	(void)out;
	return -EIO;
}

TEST(store_read_error_fails_the_core)
{
	struct replog_store_ops ops = {.read = failing_read};
	struct replog_config rc = {.self = 0, .nodes = 3, .quorum = 2};
	struct replog_meta meta = {.status = REPLOG_VOTING};
	char err[KEEL_ERRMSG_SIZE];
	struct replog_core *cr;
	struct replog_msg m = promise_req(1, 1, true, 0);
	struct replog_event ev = {.type = REPLOG_EV_RECEIVE, .msg = &m};
	struct replog_action a;

	ASSERT_OK(replog_core_new(&rc, &ops, &meta, &cr, err));
	ASSERT_OK(replog_core_restore_action(cr, 0, true));
	ASSERT_OK(replog_core_restore_done(cr));
	ASSERT_INT_EQ(replog_core_read(cr, 0, &a), -EIO);
	ASSERT_STR_CONTAINS(replog_core_errmsg(cr), "store read");
	m.to = 0;
	ASSERT_INT_EQ(replog_core_step(cr, &ev, NULL), -EIO);
	ev.type = REPLOG_EV_TICK;
	ASSERT_INT_EQ(replog_core_step(cr, &ev, NULL), -EIO);
	replog_core_free(cr);
}

/*
 * Out of memory at every allocation of a scenario: the step fails with
 * -ENOMEM, the core refuses further steps, and a restart from the store
 * finishes the job with nothing lost or contradicted.
 */
TEST(alloc_failure_at_each_allocation)
{
	struct sim_cluster_config cfg = {.nodes = 3, .voting = true};
	long total, k;
	uint64_t id;

	/* Count the core's allocations in the scenario, creation included. */
	keel_alloc_fail_after(0, false);
	setup(3, true);
	ASSERT_INT_EQ(elect(0), 0);
	for (id = 1; id <= 3; id++)
		ASSERT_INT_EQ(append(0, id, NULL), 0);
	total = keel_alloc_fail_after(0, false);
	teardown();
	if (total == 0)
		TH_SKIP("allocation hooks need -Dfailpoints=true");
	printf("  failing each of %ld allocations in turn\n", total);

	for (k = 1; k <= total; k++) {
		unsigned i, round;
		bool done = false;
		int rv;

		TH_CONTEXT("failing allocation %ld of %ld", k, total);
		keel_alloc_fail_after(k, false);
		rv = sim_cluster_init(&C, &cfg);
		if (rv < 0) {
			/* Opening a replica failed: a clear error, nothing half-made survives. */
			keel_alloc_fail_after(0, false);
			ASSERT_INT_EQ(rv, -ENOMEM);
			ASSERT_STR_CONTAINS(C.errmsg, "out of memory");
			sim_cluster_free(&C);
			continue;
		}
		C.auto_sync = true;
		C.tolerate_failures = true;
		sim_node_start(&C, 0);
		settle();
		for (id = 1; id <= 3; id++) {
			sim_node_append(&C, 0, id, 0);
			settle();
		}
		keel_alloc_fail_after(0, false);
		/* Restart whatever failed; then a (new) writer finishes the appends. */
		for (i = 0; i < 3; i++) {
			struct replog_event ev = {.type = REPLOG_EV_TICK};
			if (replog_core_step(core(i), &ev, NULL) == -EIO)
				bounce(i);
		}
		for (round = 0; round < 10 && !done; round++) {
			spin(1);
			if (!replog_core_writer_elected(core(0)) &&
			    replog_core_writer_ballot(core(0)) == 0)
				sim_node_start(&C, 0);
			settle();
			done = replog_core_writer_elected(core(0));
		}
		ASSERT_TRUE(done);
		ASSERT_INT_EQ(append(0, 50, NULL), 0);
		teardown();
	}
}
