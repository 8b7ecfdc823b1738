/* Tests of the pure registry: operations, snapshot load/pack, replay of log entries, sizes, OOM. */
#include <errno.h>
#include <stdlib.h>

#include "harness.h"
#include "master/registrar_int.h"
#include "runtime/alloc.h"
#include "runtime/pbjson.h"
#include "test_registrar_util.h"

/* Packs an Operation and applies an unpacked copy, as the replay does. */
static int apply_msg(struct registry *g, const Keel__Registry__Operation *msg, char *errmsg)
{
	size_t n = protobuf_c_message_get_packed_size(&msg->base);
	uint8_t *buf = malloc(n + 1);
	Keel__Registry__Operation *op = NULL;
	int rv;

	ASSERT_NOT_NULL(buf);
	protobuf_c_message_pack(&msg->base, buf);
	rv = keel_pbjson_unpack(&keel__registry__operation__descriptor, buf, n,
				(ProtobufCMessage **)&op, errmsg);
	free(buf);
	if (rv < 0)
		return rv;
	rv = registry_apply(g, op, errmsg);
	keel_pbjson_free(&op->base);
	return rv;
}

static int op_admit(struct registry *g, unsigned k, char *errmsg)
{
	Keel__Registry__Operation m = KEEL__REGISTRY__OPERATION__INIT;
	Keel__Registry__Operation__AdmitAgent b = KEEL__REGISTRY__OPERATION__ADMIT_AGENT__INIT;
	struct tr_agent a;

	tr_agent_init(&a, k, 0);
	b.info = &a.info;
	m.op_case = KEEL__REGISTRY__OPERATION__OP_ADMIT_AGENT;
	m.admit_agent = &b;
	return apply_msg(g, &m, errmsg);
}

static int op_reachable(struct registry *g, unsigned k, char *errmsg)
{
	Keel__Registry__Operation m = KEEL__REGISTRY__OPERATION__INIT;
	Keel__Registry__Operation__MarkAgentReachable b =
	    KEEL__REGISTRY__OPERATION__MARK_AGENT_REACHABLE__INIT;
	struct tr_agent a;

	tr_agent_init(&a, k, 5);
	b.info = &a.info;
	m.op_case = KEEL__REGISTRY__OPERATION__OP_MARK_REACHABLE;
	m.mark_reachable = &b;
	return apply_msg(g, &m, errmsg);
}

/* MarkAgentUnreachable (kind 0), MarkAgentGone (1), RemoveAgent (2). */
static int op_agent(struct registry *g, int kind, unsigned k, int64_t t, char *errmsg)
{
	Keel__Registry__Operation m = KEEL__REGISTRY__OPERATION__INIT;
	Keel__Registry__Operation__MarkAgentUnreachable u =
	    KEEL__REGISTRY__OPERATION__MARK_AGENT_UNREACHABLE__INIT;
	Keel__Registry__Operation__MarkAgentGone gn =
	    KEEL__REGISTRY__OPERATION__MARK_AGENT_GONE__INIT;
	Keel__Registry__Operation__RemoveAgent rm = KEEL__REGISTRY__OPERATION__REMOVE_AGENT__INIT;
	Mesos__V1__AgentID id = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__TimeInfo ts = MESOS__V1__TIME_INFO__INIT;
	char buf[32];

	snprintf(buf, sizeof(buf), "agent-%u", k);
	id.value = buf;
	ts.nanoseconds = t;
	if (kind == 0) {
		u.id = &id;
		u.timestamp = &ts;
		m.op_case = KEEL__REGISTRY__OPERATION__OP_MARK_UNREACHABLE;
		m.mark_unreachable = &u;
	} else if (kind == 1) {
		gn.id = &id;
		gn.timestamp = &ts;
		m.op_case = KEEL__REGISTRY__OPERATION__OP_MARK_GONE;
		m.mark_gone = &gn;
	} else {
		rm.id = &id;
		m.op_case = KEEL__REGISTRY__OPERATION__OP_REMOVE_AGENT;
		m.remove_agent = &rm;
	}
	return apply_msg(g, &m, errmsg);
}

/* Fills a registry with one of everything. */
static void fill(struct registry *g)
{
	Keel__Registry__Operation m = KEEL__REGISTRY__OPERATION__INIT;
	Keel__Registry__Operation__UpdateMaster um = KEEL__REGISTRY__OPERATION__UPDATE_MASTER__INIT;
	Keel__Registry__Operation__AddFramework af = KEEL__REGISTRY__OPERATION__ADD_FRAMEWORK__INIT;
	Keel__Registry__Operation__UpdateWeights uw =
	    KEEL__REGISTRY__OPERATION__UPDATE_WEIGHTS__INIT;
	Keel__Registry__Operation__UpdateQuota uq = KEEL__REGISTRY__OPERATION__UPDATE_QUOTA__INIT;
	Keel__Registry__Operation__UpdateMaintenance mt =
	    KEEL__REGISTRY__OPERATION__UPDATE_MAINTENANCE__INIT;
	Keel__Registry__Weight w1 = KEEL__REGISTRY__WEIGHT__INIT, w2 = KEEL__REGISTRY__WEIGHT__INIT;
	Keel__Registry__Weight *ws[2] = {&w1, &w2};
	Keel__Registry__Quota q = KEEL__REGISTRY__QUOTA__INIT;
	Keel__Registry__MachineWindow win = KEEL__REGISTRY__MACHINE_WINDOW__INIT;
	Keel__Registry__MachineWindow *wins[1] = {&win};
	Mesos__V1__Unavailability un = MESOS__V1__UNAVAILABILITY__INIT;
	Mesos__V1__TimeInfo start = MESOS__V1__TIME_INFO__INIT;
	char *hosts[1] = {"maint-host"};
	struct tr_master master;
	struct tr_framework fw;

	for (unsigned k = 0; k < 20; k++)
		ASSERT_OK(op_admit(g, k, NULL));
	/* Out of time order on purpose. */
	ASSERT_OK(op_agent(g, 0, 3, 300, NULL));
	ASSERT_OK(op_agent(g, 0, 4, 100, NULL));
	ASSERT_OK(op_agent(g, 0, 5, 200, NULL));
	ASSERT_OK(op_agent(g, 1, 6, 50, NULL));
	ASSERT_OK(op_agent(g, 1, 5, 60, NULL));
	ASSERT_OK(op_agent(g, 2, 7, 0, NULL));
	tr_master_init(&master, "m-1");
	um.info = &master.info;
	m.op_case = KEEL__REGISTRY__OPERATION__OP_UPDATE_MASTER;
	m.update_master = &um;
	ASSERT_OK(apply_msg(g, &m, NULL));
	tr_framework_init(&fw, "fw-1");
	af.info = &fw.info;
	m.op_case = KEEL__REGISTRY__OPERATION__OP_ADD_FRAMEWORK;
	m.add_framework = &af;
	ASSERT_OK(apply_msg(g, &m, NULL));
	w1.role = "a";
	w1.weight = 2;
	w2.role = "b";
	w2.weight = 3;
	uw.n_weights = 2;
	uw.weights = ws;
	m.op_case = KEEL__REGISTRY__OPERATION__OP_UPDATE_WEIGHTS;
	m.update_weights = &uw;
	ASSERT_OK(apply_msg(g, &m, NULL));
	q.role = "a";
	uq.quota = &q;
	m.op_case = KEEL__REGISTRY__OPERATION__OP_UPDATE_QUOTA;
	m.update_quota = &uq;
	ASSERT_OK(apply_msg(g, &m, NULL));
	start.nanoseconds = 42;
	un.start = &start;
	win.n_hostnames = 1;
	win.hostnames = hosts;
	win.unavailability = &un;
	mt.n_windows = 1;
	mt.windows = wins;
	m.op_case = KEEL__REGISTRY__OPERATION__OP_UPDATE_MAINTENANCE;
	m.update_maintenance = &mt;
	ASSERT_OK(apply_msg(g, &m, NULL));
}

static uint8_t *pack(const struct registry *g, bool sorted, size_t *len)
{
	struct keel_buf b = KEEL_BUF_INIT;

	ASSERT_OK(registry_pack(g, sorted, &b, NULL));
	return (uint8_t *)keel_buf_steal(&b, len);
}

TEST(registry_operations_are_strict_and_change_nothing_on_error)
{
	struct registry g;
	char errmsg[KEEL_ERRMSG_SIZE];
	uint8_t *before, *after;
	size_t lb, la;

	registry_init(&g);
	ASSERT_OK(op_admit(&g, 1, errmsg));
	ASSERT_OK(op_admit(&g, 2, errmsg));
	before = pack(&g, true, &lb);
	ASSERT_INT_EQ(op_admit(&g, 1, errmsg), -EINVAL);
	ASSERT_STR_CONTAINS(errmsg, "agent-1 is admitted");
	ASSERT_INT_EQ(op_reachable(&g, 1, errmsg), -EINVAL);
	ASSERT_INT_EQ(op_agent(&g, 0, 9, 1, errmsg), -EINVAL);
	ASSERT_STR_CONTAINS(errmsg, "agent-9 is unknown");
	ASSERT_INT_EQ(op_agent(&g, 1, 9, 1, errmsg), -EINVAL);
	ASSERT_INT_EQ(op_agent(&g, 2, 9, 1, errmsg), -EINVAL);
	after = pack(&g, true, &la);
	ASSERT_UINT_EQ(la, lb);
	ASSERT_MEM_EQ(after, before, la);
	free(after);
	ASSERT_OK(op_agent(&g, 0, 1, 10, errmsg));
	ASSERT_INT_EQ(op_agent(&g, 2, 1, 0, errmsg), -EINVAL); /* remove needs admitted */
	ASSERT_OK(op_reachable(&g, 1, errmsg));
	ASSERT_OK(op_agent(&g, 1, 1, 10, errmsg));
	ASSERT_INT_EQ(op_agent(&g, 1, 1, 10, errmsg), -EINVAL); /* gone twice */
	ASSERT_INT_EQ(op_admit(&g, 1, errmsg), -EINVAL);	/* gone is forever */
	ASSERT_UINT_EQ(g.admitted.count, 1);
	ASSERT_UINT_EQ(g.gone.count, 1);
	free(before);
	registry_free(&g);
}

TEST(registry_size_is_the_packed_size)
{
	struct registry g;
	size_t len;
	uint8_t *p;

	registry_init(&g);
	ASSERT_UINT_EQ(g.size, 0);
	fill(&g);
	p = pack(&g, false, &len);
	ASSERT_UINT_EQ(g.size, len);
	free(p);
	ASSERT_OK(op_agent(&g, 2, 8, 0, NULL));
	ASSERT_OK(op_reachable(&g, 3, NULL));
	p = pack(&g, false, &len);
	ASSERT_UINT_EQ(g.size, len);
	free(p);
	registry_free(&g);
}

TEST(registry_unreachable_list_is_in_time_order)
{
	struct registry g;
	int64_t last = INT64_MIN;
	unsigned n = 0;

	registry_init(&g);
	for (unsigned k = 0; k < 50; k++)
		ASSERT_OK(op_admit(&g, k, NULL));
	/* Times arrive out of order. */
	for (unsigned k = 0; k < 50; k++)
		ASSERT_OK(op_agent(&g, 0, k, (int64_t)((k * 37) % 50), NULL));
	for (const struct registry_agent *a = g.unreachable_age.oldest; a; a = a->newer) {
		ASSERT_INT_GE(a->time_ns, last);
		last = a->time_ns;
		n++;
	}
	ASSERT_UINT_EQ(n, 50);
	registry_free(&g);
}

TEST(registry_pack_load_round_trip)
{
	struct registry g, h;
	Keel__Registry__Registry *msg = NULL;
	size_t la, lb;
	uint8_t *a, *b;

	registry_init(&g);
	registry_init(&h);
	fill(&g);
	a = pack(&g, false, &la);
	ASSERT_OK(keel_pbjson_unpack(&keel__registry__registry__descriptor, a, la,
				     (ProtobufCMessage **)&msg, NULL));
	ASSERT_OK(registry_load(&h, msg, NULL));
	keel_pbjson_free(&msg->base);
	free(a);
	a = pack(&g, true, &la);
	b = pack(&h, true, &lb);
	ASSERT_UINT_EQ(la, lb);
	ASSERT_MEM_EQ(a, b, la);
	ASSERT_UINT_EQ(h.size, g.size);
	ASSERT_UINT_EQ(h.weights.count, 2);
	ASSERT_UINT_EQ(h.quotas.count, 1);
	ASSERT_NOT_NULL(h.maintenance);
	ASSERT_STR_EQ(h.master->id, "m-1");
	free(a);
	free(b);
	registry_free(&g);
	registry_free(&h);
}

TEST(registry_load_refuses_duplicates_and_keeps_the_old_state)
{
	struct registry g;
	Keel__Registry__Registry reg = KEEL__REGISTRY__REGISTRY__INIT;
	Keel__Registry__Registry *msg = NULL;
	Keel__Registry__Agent ag = KEEL__REGISTRY__AGENT__INIT;
	Keel__Registry__Agent *ags[2] = {&ag, &ag};
	struct tr_agent a;
	char errmsg[KEEL_ERRMSG_SIZE];
	size_t n;
	uint8_t *buf;

	registry_init(&g);
	ASSERT_OK(op_admit(&g, 77, NULL));
	tr_agent_init(&a, 1, 0);
	ag.info = &a.info;
	reg.n_agents = 2;
	reg.agents = ags;
	n = protobuf_c_message_get_packed_size(&reg.base);
	buf = malloc(n);
	protobuf_c_message_pack(&reg.base, buf);
	ASSERT_OK(keel_pbjson_unpack(&keel__registry__registry__descriptor, buf, n,
				     (ProtobufCMessage **)&msg, NULL));
	ASSERT_INT_EQ(registry_load(&g, msg, errmsg), -EINVAL);
	ASSERT_STR_CONTAINS(errmsg, "appears twice");
	keel_pbjson_free(&msg->base);
	free(buf);
	ASSERT_UINT_EQ(g.admitted.count, 1);
	ASSERT_NOT_NULL(registry_agent_find(&g, "agent-77"));
	registry_free(&g);
}

/* ---- Replay ---- */

/* Packs an Entry holding a batch of the given operations. */
static uint8_t *entry_batch(Keel__Registry__Operation **ops, size_t n, size_t *len)
{
	Keel__Registry__Entry e = KEEL__REGISTRY__ENTRY__INIT;
	Keel__Registry__Batch b = KEEL__REGISTRY__BATCH__INIT;
	uint8_t *buf;

	b.n_operations = n;
	b.operations = ops;
	e.kind_case = KEEL__REGISTRY__ENTRY__KIND_BATCH;
	e.batch = &b;
	*len = protobuf_c_message_get_packed_size(&e.base);
	buf = malloc(*len + 1);
	protobuf_c_message_pack(&e.base, buf);
	return buf;
}

static uint8_t *entry_admit(unsigned k, size_t *len)
{
	Keel__Registry__Operation m = KEEL__REGISTRY__OPERATION__INIT;
	Keel__Registry__Operation__AdmitAgent b = KEEL__REGISTRY__OPERATION__ADMIT_AGENT__INIT;
	Keel__Registry__Operation *ops[1] = {&m};
	struct tr_agent a;

	tr_agent_init(&a, k, 0);
	b.info = &a.info;
	m.op_case = KEEL__REGISTRY__OPERATION__OP_ADMIT_AGENT;
	m.admit_agent = &b;
	return entry_batch(ops, 1, len);
}

static uint8_t *entry_chunk(uint64_t id, uint32_t index, uint32_t count, const uint8_t *data,
			    size_t n, size_t *len)
{
	Keel__Registry__Entry e = KEEL__REGISTRY__ENTRY__INIT;
	Keel__Registry__SnapshotChunk c = KEEL__REGISTRY__SNAPSHOT_CHUNK__INIT;
	uint8_t *buf;

	c.id = id;
	c.index = index;
	c.count = count;
	c.data.data = (uint8_t *)data;
	c.data.len = n;
	e.kind_case = KEEL__REGISTRY__ENTRY__KIND_SNAPSHOT;
	e.snapshot = &c;
	*len = protobuf_c_message_get_packed_size(&e.base);
	buf = malloc(*len + 1);
	protobuf_c_message_pack(&e.base, buf);
	return buf;
}

/* Feeds buf (freed) of *len bytes: a pointer, since buf and *len come from one call in the
 * argument list and C leaves the order of argument evaluation open. */
static void feed(struct registry_replay *rp, uint64_t pos, uint8_t *buf, const size_t *len)
{
	char errmsg[KEEL_ERRMSG_SIZE];
	int rv = registry_replay_entry(rp, pos, buf, *len, errmsg);

	free(buf);
	if (rv < 0)
		th_fail(__FILE__, __LINE__, "replay at %" PRIu64 ": %s", pos, errmsg);
}

/* Feeds the snapshot of `src` as chunks of `chunk` bytes from position pos, all of them or all
 * but the last. Returns the next position. */
static uint64_t feed_snapshot(struct registry_replay *rp, const struct registry *src, uint64_t pos,
			      size_t chunk, bool all)
{
	size_t n, len;
	uint8_t *snap = pack(src, false, &n);
	uint32_t count = (uint32_t)((n + chunk - 1) / chunk);
	uint32_t stop = all ? count : count - 1;

	ASSERT_UINT_GE(count, 2);

	for (uint32_t i = 0; i < count && i < stop; i++) {
		size_t off = (size_t)i * chunk;
		feed(rp, pos + i,
		     entry_chunk(pos, i, count, snap + off, KEEL_MIN(chunk, n - off), &len), &len);
	}
	free(snap);
	return pos + KEEL_MIN(count, stop);
}

TEST(replay_applies_batches_and_complete_snapshots_only)
{
	struct registry src, g;
	struct registry_replay rp;
	uint64_t pos = 1;
	size_t len;

	registry_init(&src);
	registry_init(&g);
	fill(&src);
	registry_replay_init(&rp, &g);
	/* Some batches, then a complete snapshot of `src` replaces everything. */
	feed(&rp, pos++, entry_admit(100, &len), &len);
	feed(&rp, pos++, entry_admit(101, &len), &len);
	ASSERT_UINT_EQ(g.admitted.count, 2);
	pos = feed_snapshot(&rp, &src, pos, 100, true);
	ASSERT_UINT_EQ(rp.snapshots, 1);
	ASSERT_UINT_EQ(rp.batch_bytes, 0);
	ASSERT_TRUE(registry_agent_find(&g, "agent-100") == NULL);
	ASSERT_UINT_EQ(g.admitted.count, src.admitted.count);
	/* A batch after it applies on top. */
	feed(&rp, pos++, entry_admit(102, &len), &len);
	ASSERT_UINT_GT(rp.batch_bytes, 0);
	ASSERT_NOT_NULL(registry_agent_find(&g, "agent-102"));

	/* An incomplete snapshot (last chunk missing) then a batch: ignored. */
	struct registry other;
	registry_init(&other);
	ASSERT_OK(op_admit(&other, 500, NULL));
	pos = feed_snapshot(&rp, &other, pos, 20, false);
	feed(&rp, pos++, entry_admit(103, &len), &len);
	ASSERT_UINT_EQ(rp.snapshots, 1);
	ASSERT_NOT_NULL(registry_agent_find(&g, "agent-103"));
	ASSERT_TRUE(registry_agent_find(&g, "agent-500") == NULL);
	/* Chunks not at consecutive positions: ignored. */
	{
		size_t n;
		uint8_t *snap = pack(&other, false, &n);
		feed(&rp, pos, entry_chunk(pos, 0, 2, snap, n / 2, &len), &len);
		feed(&rp, pos + 2, entry_chunk(pos, 1, 2, snap + n / 2, n - n / 2, &len), &len);
		pos += 3;
		/* A first chunk whose id is not its position: ignored. */
		feed(&rp, pos, entry_chunk(pos - 1, 0, 1, snap, n, &len), &len);
		pos++;
		free(snap);
	}
	ASSERT_UINT_EQ(rp.snapshots, 1);
	ASSERT_TRUE(registry_agent_find(&g, "agent-500") == NULL);
	/* A complete one of `other` counts. */
	pos = feed_snapshot(&rp, &other, pos, 20, true);
	ASSERT_UINT_EQ(rp.snapshots, 2);
	ASSERT_NOT_NULL(registry_agent_find(&g, "agent-500"));
	ASSERT_UINT_EQ(g.admitted.count, 1);
	registry_replay_free(&rp);
	registry_free(&src);
	registry_free(&other);
	registry_free(&g);
}

TEST(replay_rejects_garbage_and_operations_that_do_not_fit)
{
	struct registry g;
	struct registry_replay rp;
	char errmsg[KEEL_ERRMSG_SIZE];
	uint8_t junk[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint8_t empty[1];
	uint8_t *e;
	size_t len;

	registry_init(&g);
	registry_replay_init(&rp, &g);
	ASSERT_INT_EQ(registry_replay_entry(&rp, 5, junk, sizeof(junk), errmsg), -EINVAL);
	ASSERT_STR_CONTAINS(errmsg, "log position 5");
	ASSERT_INT_EQ(registry_replay_entry(&rp, 6, empty, 0, errmsg), -EINVAL);
	ASSERT_STR_CONTAINS(errmsg, "empty registry entry");
	e = entry_admit(1, &len);
	ASSERT_OK(registry_replay_entry(&rp, 7, e, len, errmsg));
	ASSERT_INT_EQ(registry_replay_entry(&rp, 8, e, len, errmsg), -EINVAL);
	ASSERT_STR_CONTAINS(errmsg, "log position 8 operation 0");
	free(e);
	registry_replay_free(&rp);
	registry_free(&g);
}

/* Runs apply/pack/load/replay with the nth allocation failing; returns allocations made. */
static long oom_state(long n)
{
	struct registry g, h;
	struct registry_replay rp;
	struct keel_buf b = KEEL_BUF_INIT;
	Keel__Registry__Registry *msg = NULL;
	size_t len;
	uint8_t *e = entry_admit(999, &len);
	long made;

	registry_init(&g);
	registry_init(&h);
	keel_alloc_fail_after(n, false);
	for (unsigned k = 0; k < 4; k++)
		(void)op_admit(&g, k, NULL);
	(void)op_agent(&g, 0, 1, 5, NULL);
	(void)op_agent(&g, 1, 2, 5, NULL);
	(void)op_reachable(&g, 1, NULL);
	if (registry_pack(&g, true, &b, NULL) == 0 &&
	    keel_pbjson_unpack(&keel__registry__registry__descriptor, keel_buf_rptr(&b),
			       keel_buf_size(&b), (ProtobufCMessage **)&msg, NULL) == 0) {
		(void)registry_load(&h, msg, NULL);
		keel_pbjson_free(&msg->base);
	}
	registry_replay_init(&rp, &h);
	(void)registry_replay_entry(&rp, 1, e, len, NULL);
	registry_replay_free(&rp);
	made = keel_alloc_fail_after(0, false);
	free(e);
	keel_buf_free(&b);
	/* Whatever failed, each registry is consistent: its size is its packed size. */
	for (int i = 0; i < 2; i++) {
		struct registry *x = i ? &h : &g;
		size_t plen;
		uint8_t *p = pack(x, false, &plen);
		ASSERT_UINT_EQ(x->size, plen);
		free(p);
	}
	registry_free(&g);
	registry_free(&h);
	return made;
}

TEST(registry_out_of_memory_at_every_allocation)
{
	long total = oom_state(0);

	if (total == 0)
		TH_SKIP("allocation failures need -Dfailpoints=true");
	for (long n = 1; n <= total + 1; n++) {
		TH_CONTEXT("failing allocation %ld of %ld", n, total);
		oom_state(n);
	}
	TH_CONTEXT(NULL);
}
