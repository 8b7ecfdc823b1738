/* keel-master in process: registration, retries, re-registration, bad input, pings, unreachable
 * marking and the leader gate, with the registry in memory and on the replicated log. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "loop_util.h"
#include "master/master_int.h"
#include "master/registrar.h"
#include "master_fixture.h"
#include "runtime/pbjson.h"

/* Registers the fake agent with key; returns its ID (owned by the caller). */
static char *register_ok(struct fx *f, struct master *m, const char *key)
{
	struct fx_resp r;
	Keel__Agent__AgentRegistered *ok;
	char *id;

	fx_register(f, m->port, key, &r);
	ok = fx_registered(&r);
	ASSERT_UINT_EQ(ok->epoch, m->epoch);
	ASSERT_STR_EQ(ok->master->id, m->id);
	ASSERT_TRUE(ok->has_ping_timeout_ms);
	ASSERT_UINT_EQ(ok->ping_timeout_ms, m->cfg.ping_timeout_ms);
	id = strdup(ok->agent_id->value);
	keel_pbjson_free(&ok->base);
	return id;
}

static enum registrar_agent_state reg_state(struct master *m, const char *id)
{
	return registrar_agent_state(m->registrar, id, NULL, NULL);
}

static uint64_t reg_ops(struct master *m)
{
	struct registrar_stats st;

	registrar_get_stats(m->registrar, &st);
	return st.operations;
}

/* Watches two agents leave the table: each may go only once the registry says unreachable. */
struct order_check {
	struct master *m;  /* the master */
	const char *id[2]; /* the agents */
	bool ordered;	   /* never announced (gone from the table) before durable */
};

static bool both_unreachable(struct order_check *oc)
{
	bool gone = true;

	for (int i = 0; i < 2; i++) {
		if (master_agent_find(oc->m, oc->id[i]) != NULL) {
			gone = false;
			continue;
		}
		if (reg_state(oc->m, oc->id[i]) != REGISTRAR_AGENT_UNREACHABLE)
			oc->ordered = false;
	}
	return gone;
}

/* The whole agent life cycle against one master. */
static void agent_life_cycle(bool in_memory)
{
	struct fx f;
	struct master_config c;
	struct master *m;
	struct fx_resp r;
	Keel__Agent__AgentRegistered *ok;
	char prefix[64], *id, *id2;
	uint64_t ops, pings;

	fx_init(&f);
	fx_config(&f, &c, in_memory, in_memory ? NULL : "m1");
	c.max_ping_timeouts = 3;
	m = fx_master(&f, &c);
	fx_wait_leading(&f, m);
	ASSERT_UINT_EQ(m->epoch, 1);
	f.expect_epoch = m->epoch;

	/* Register: "<master id>-S<n>", durable before the answer. */
	id = register_ok(&f, m, "agent(1)@127.0.0.1");
	snprintf(prefix, sizeof(prefix), "%s-S", m->id);
	ASSERT_TRUE(strncmp(id, prefix, strlen(prefix)) == 0);
	ASSERT_INT_EQ(reg_state(m, id), REGISTRAR_AGENT_ADMITTED);
	ASSERT_NOT_NULL(master_agent_find(m, id));
	ASSERT_INT_EQ(master_agent_find(m, id)->state, MASTER_AGENT_ACTIVE);
	ASSERT_UINT_EQ(m->counters.registrations, 1);
	ops = reg_ops(m);

	/* A retry with the same key: the same ID, nothing written. */
	id2 = register_ok(&f, m, "agent(1)@127.0.0.1");
	ASSERT_STR_EQ(id2, id);
	free(id2);
	ASSERT_UINT_EQ(reg_ops(m), ops);
	ASSERT_UINT_EQ(registrar_count_agents(m->registrar, REGISTRAR_AGENT_ADMITTED), 1);

	/* Another key: another ID. */
	id2 = register_ok(&f, m, "agent(2)@127.0.0.1");
	ASSERT_TRUE(strcmp(id2, id) != 0);
	ASSERT_UINT_EQ(registrar_count_agents(m->registrar, REGISTRAR_AGENT_ADMITTED), 2);
	ops = reg_ops(m);

	/* Re-register: the same ID, accepted without a write. */
	fx_reregister(&f, m->port, id, "agent(1)@127.0.0.1", &r);
	ok = fx_registered(&r);
	ASSERT_STR_EQ(ok->agent_id->value, id);
	ASSERT_UINT_EQ(ok->epoch, m->epoch);
	keel_pbjson_free(&ok->base);
	ASSERT_UINT_EQ(reg_ops(m), ops);
	ASSERT_UINT_EQ(m->counters.reregistrations, 1);

	/* Pings answered: after several rounds both agents are still active. */
	pings = f.pings;
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.pings >= pings + 10, 5000));
	ASSERT_UINT_EQ(f.pings_bad_epoch, 0);
	ASSERT_UINT_EQ(master_agents_count(m, MASTER_AGENT_ACTIVE), 2);
	ASSERT_UINT_GT(m->counters.pongs, 0);
	ASSERT_UINT_EQ(m->counters.unreachable_completed, 0);

	/* Pings unanswered: both become unreachable, persisted before announced. */
	f.ping_mode = FX_FAIL;
	struct order_check oc = {m, {id, id2}, true};
	ASSERT_TRUE(RUN_UNTIL(f.loop, both_unreachable(&oc), 5000));
	ASSERT_TRUE(oc.ordered);
	ASSERT_INT_EQ(reg_state(m, id), REGISTRAR_AGENT_UNREACHABLE);
	ASSERT_INT_EQ(reg_state(m, id2), REGISTRAR_AGENT_UNREACHABLE);
	ASSERT_UINT_EQ(m->counters.unreachable_completed, 2);
	ASSERT_UINT_EQ(master_agents_count(m, MASTER_AGENT_ACTIVE), 0);
	ASSERT_UINT_GE(m->counters.pings_missed, 2 * c.max_ping_timeouts);

	/* The unreachable agent re-registers: reachable again with its ID. */
	f.ping_mode = FX_PONG;
	fx_reregister(&f, m->port, id, "agent(1)@127.0.0.1", &r);
	ok = fx_registered(&r);
	ASSERT_STR_EQ(ok->agent_id->value, id);
	keel_pbjson_free(&ok->base);
	ASSERT_INT_EQ(reg_state(m, id), REGISTRAR_AGENT_ADMITTED);
	ASSERT_INT_EQ(master_agent_find(m, id)->state, MASTER_AGENT_ACTIVE);
	ASSERT_UINT_EQ(m->counters.reachable, 1);

	/* An ID the registry never admitted: 410, and the agent is told to shut down. */
	fx_reregister(&f, m->port, "no-such-agent", "agent(9)@127.0.0.1", &r);
	ASSERT_INT_EQ(r.status, 410);
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.shutdowns == 1, 5000));
	ASSERT_NULL(master_agent_find(m, "no-such-agent"));

	ASSERT_UINT_EQ(f.fatal, 0);
	free(id);
	free(id2);
	master_free(m, 0);
	fx_fini(&f);
}

TEST(agent_life_cycle_in_memory)
{
	agent_life_cycle(true);
}

TEST(agent_life_cycle_replicated_log)
{
	agent_life_cycle(false);
}

/* Malformed bodies: 400 with one line, nothing changes. */
TEST(malformed_messages_change_nothing)
{
	struct fx f;
	struct master_config c;
	struct master *m;
	struct fx_resp r;
	uint64_t ops, seq;
	static const char garbage[] = "\xff\xff\xff\xff not protobuf";
	uint8_t buf[1024];
	size_t len;

	fx_init(&f);
	fx_config(&f, &c, true, NULL);
	m = fx_master(&f, &c);
	fx_wait_leading(&f, m);
	ops = reg_ops(m);
	seq = m->agents.next_seq;

	const char *paths[] = {"/internal/agent/register", "/internal/agent/reregister"};
	for (size_t i = 0; i < 2; i++) {
		TH_CONTEXT("%s", paths[i]);
		fx_post(&f, m->port, "POST", paths[i], garbage, sizeof(garbage) - 1, &r);
		ASSERT_INT_EQ(r.status, 400);
		ASSERT_STR_CONTAINS(r.body, "malformed");
		ASSERT_TRUE(strchr(r.body, '\n') == NULL || strchr(r.body, '\n')[1] == '\0');
		fx_post(&f, m->port, "POST", paths[i], NULL, 0, &r); /* empty: required fields */
		ASSERT_INT_EQ(r.status, 400);
	}
	TH_CONTEXT(NULL);

	/* Well-formed protobuf that breaks the protocol's rules. */
	{
		Keel__Agent__RegisterAgent reg = KEEL__AGENT__REGISTER_AGENT__INIT;
		Mesos__V1__AgentInfo info = MESOS__V1__AGENT_INFO__INIT;
		Mesos__V1__Address addr = MESOS__V1__ADDRESS__INIT;
		Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;

		info.hostname = "h";
		addr.ip = "127.0.0.1";
		addr.port = f.agent_port;
		reg.info = &info;
		reg.address = &addr;
		reg.key = "";
		len = keel__agent__register_agent__pack(&reg, buf);
		fx_post(&f, m->port, "POST", "/internal/agent/register", buf, len, &r);
		ASSERT_INT_EQ(r.status, 400);
		ASSERT_STR_CONTAINS(r.body, "key");

		reg.key = "k";
		addr.port = 0;
		len = keel__agent__register_agent__pack(&reg, buf);
		fx_post(&f, m->port, "POST", "/internal/agent/register", buf, len, &r);
		ASSERT_INT_EQ(r.status, 400);
		ASSERT_STR_CONTAINS(r.body, "port");

		addr.port = f.agent_port;
		addr.ip = NULL;
		len = keel__agent__register_agent__pack(&reg, buf);
		fx_post(&f, m->port, "POST", "/internal/agent/register", buf, len, &r);
		ASSERT_INT_EQ(r.status, 400);
		ASSERT_STR_CONTAINS(r.body, "address");

		addr.ip = "127.0.0.1";
		aid.value = "chosen-by-agent";
		info.id = &aid;
		len = keel__agent__register_agent__pack(&reg, buf);
		fx_post(&f, m->port, "POST", "/internal/agent/register", buf, len, &r);
		ASSERT_INT_EQ(r.status, 400);
		ASSERT_STR_CONTAINS(r.body, "info.id");
	}
	{
		Keel__Agent__ReregisterAgent rr = KEEL__AGENT__REREGISTER_AGENT__INIT;
		Mesos__V1__AgentInfo info = MESOS__V1__AGENT_INFO__INIT;
		Mesos__V1__Address addr = MESOS__V1__ADDRESS__INIT;

		info.hostname = "h";
		addr.ip = "127.0.0.1";
		addr.port = f.agent_port;
		rr.info = &info;
		rr.address = &addr;
		rr.key = "k";
		len = keel__agent__reregister_agent__pack(&rr, buf);
		fx_post(&f, m->port, "POST", "/internal/agent/reregister", buf, len, &r);
		ASSERT_INT_EQ(r.status, 400);
		ASSERT_STR_CONTAINS(r.body, "info.id");
	}
	ASSERT_UINT_EQ(m->counters.invalid_messages, 9);
	ASSERT_UINT_EQ(reg_ops(m), ops);
	ASSERT_UINT_EQ(m->agents.next_seq, seq);
	ASSERT_UINT_EQ(m->agents.by_id.count, 0);
	ASSERT_UINT_EQ(m->agents.by_key.count, 0);
	ASSERT_UINT_EQ(registrar_count_agents(m->registrar, REGISTRAR_AGENT_ADMITTED), 0);
	master_free(m, 0);
	fx_fini(&f);
}

/* A ping that is never answered counts as missed too (the request stays open). */
TEST(stalled_pings_make_an_agent_unreachable)
{
	struct fx f;
	struct master_config c;
	struct master *m;
	char *id;

	fx_init(&f);
	fx_config(&f, &c, true, NULL);
	c.max_ping_timeouts = 2;
	m = fx_master(&f, &c);
	fx_wait_leading(&f, m);
	f.ping_mode = FX_STALL;
	id = register_ok(&f, m, "stalling");
	ASSERT_TRUE(RUN_UNTIL(f.loop, master_agent_find(m, id) == NULL, 5000));
	ASSERT_INT_EQ(reg_state(m, id), REGISTRAR_AGENT_UNREACHABLE);
	ASSERT_UINT_GE(f.n_stalled, 1);
	free(id);
	master_free(m, 0);
	fx_fini(&f);
}

/* The gate: 503 while recovering, 307 from a standby master, /redirect and /health. */
TEST(standby_master_redirects_to_the_leader)
{
	struct fx f;
	struct master *a, *b;
	struct fx_resp r;
	char loc[256];

	fx_init(&f);
	a = fx_leader_and_standby(&f, &b);
	ASSERT_INT_EQ(b->state, MASTER_STANDBY);
	ASSERT_NULL(b->contender);

	fx_register(&f, b->port, "k", &r);
	ASSERT_INT_EQ(r.status, 307);
	snprintf(loc, sizeof(loc), "//127.0.0.1:%u/internal/agent/register", a->port);
	ASSERT_STR_EQ(r.location, loc);
	ASSERT_UINT_EQ(b->counters.redirects, 1);

	fx_post(&f, b->port, "GET", "/redirect", NULL, 0, &r);
	ASSERT_INT_EQ(r.status, 307);
	snprintf(loc, sizeof(loc), "//127.0.0.1:%u", a->port);
	ASSERT_STR_EQ(r.location, loc);
	fx_post(&f, a->port, "GET", "/master/redirect", NULL, 0, &r);
	ASSERT_INT_EQ(r.status, 307);
	ASSERT_STR_EQ(r.location, loc);

	fx_post(&f, b->port, "GET", "/health", NULL, 0, &r);
	ASSERT_INT_EQ(r.status, 200);
	fx_post(&f, a->port, "GET", "/master/health", NULL, 0, &r);
	ASSERT_INT_EQ(r.status, 200);

	/* The gate of a leader that has not recovered yet: 503, not a redirect. */
	a->state = MASTER_RECOVERING;
	fx_register(&f, a->port, "k", &r);
	ASSERT_INT_EQ(r.status, 503);
	ASSERT_STR_CONTAINS(r.body, "recovering");
	a->state = MASTER_LEADING;

	/* The standby with no usable leader: 503. */
	master_leader_clear(&b->leader);
	fx_register(&f, b->port, "k", &r);
	ASSERT_INT_EQ(r.status, 503);
	ASSERT_STR_CONTAINS(r.body, "No leader");

	ASSERT_UINT_EQ(f.fatal, 0);
	master_free(b, 0);
	master_free(a, 0);
	fx_fini(&f);
}

/* A registry that cannot be persisted stops the leader: fail-stop through the hook. */
TEST(leadership_check_fails_stop)
{
	struct fx f;
	struct master_config c;
	struct master *m;
	struct fx_resp r;

	fx_init(&f);
	fx_config(&f, &c, true, NULL);
	m = fx_master(&f, &c);
	fx_wait_leading(&f, m);
	/* Pretend the term changed under us: the next leader-only act must fail-stop. */
	m->epoch++;
	fx_register(&f, m->port, "k", &r);
	ASSERT_INT_EQ(r.status, 503);
	ASSERT_UINT_EQ(f.fatal, 1);
	ASSERT_INT_EQ(m->state, MASTER_FAILED);
	ASSERT_STR_CONTAINS(f.fatal_why, "epoch");
	ASSERT_UINT_EQ(registrar_count_agents(m->registrar, REGISTRAR_AGENT_ADMITTED), 0);
	/* Nothing more happens: no pings, no answers but 503. */
	fx_register(&f, m->port, "k", &r);
	ASSERT_INT_EQ(r.status, 503);
	ASSERT_UINT_EQ(f.fatal, 1);
	master_free(m, 0);
	fx_fini(&f);
}

/* After a restart on the same work_dir: admitted agents re-register without a write; those
 * that do not are marked unreachable after agent_reregister_timeout. */
TEST(failover_reregistration_and_deadline)
{
	struct fx f;
	struct master_config c;
	struct master *m;
	struct fx_resp r;
	Keel__Agent__AgentRegistered *ok;
	char *id1, *id2;
	uint64_t ops;

	fx_init(&f);
	fx_config(&f, &c, false, "m");
	m = fx_master(&f, &c);
	fx_wait_leading(&f, m);
	id1 = register_ok(&f, m, "one");
	id2 = register_ok(&f, m, "two");
	master_free(m, 0);

	fx_config(&f, &c, false, "m");
	c.reregister_timeout_ms = 300;
	m = fx_master(&f, &c);
	fx_wait_leading(&f, m);
	ASSERT_INT_EQ(reg_state(m, id1), REGISTRAR_AGENT_ADMITTED);
	ASSERT_INT_EQ(reg_state(m, id2), REGISTRAR_AGENT_ADMITTED);
	ASSERT_UINT_EQ(m->agents.awaiting.count, 2);
	ops = reg_ops(m);
	fx_reregister(&f, m->port, id1, "one", &r);
	ok = fx_registered(&r);
	ASSERT_STR_EQ(ok->agent_id->value, id1);
	keel_pbjson_free(&ok->base);
	ASSERT_UINT_EQ(reg_ops(m), ops);
	ASSERT_UINT_EQ(m->agents.awaiting.count, 1);
	ASSERT_TRUE(RUN_UNTIL(f.loop, reg_state(m, id2) == REGISTRAR_AGENT_UNREACHABLE, 5000));
	ASSERT_TRUE(RUN_UNTIL(f.loop, m->agents.awaiting.count == 0, 5000));
	ASSERT_INT_EQ(reg_state(m, id1), REGISTRAR_AGENT_ADMITTED);
	ASSERT_UINT_EQ(m->counters.unreachable_completed, 1);
	/* It comes back later: reachable again. */
	fx_reregister(&f, m->port, id2, "two", &r);
	ok = fx_registered(&r);
	ASSERT_STR_EQ(ok->agent_id->value, id2);
	keel_pbjson_free(&ok->base);
	ASSERT_INT_EQ(reg_state(m, id2), REGISTRAR_AGENT_ADMITTED);
	ASSERT_UINT_EQ(f.fatal, 0);
	free(id1);
	free(id2);
	master_free(m, 0);
	fx_fini(&f);
}

/* Two registrations with one key in flight at once: one admission, both get its ID. */
TEST(concurrent_retries_share_one_admission)
{
	struct fx f;
	struct master_config c;
	struct master *m;
	struct fx_resp r1, r2;
	struct keel_http_client *c1, *c2;
	Keel__Agent__AgentRegistered *a, *b;
	uint8_t buf[1024];
	size_t len;

	fx_init(&f);
	fx_config(&f, &c, false, "m");
	m = fx_master(&f, &c);
	fx_wait_leading(&f, m);
	len = fx_pack_register(&f, "twice", buf, sizeof(buf));
	c1 = fx_post_async(&f, m->port, "POST", "/internal/agent/register", buf, len, &r1);
	c2 = fx_post_async(&f, m->port, "POST", "/internal/agent/register", buf, len, &r2);
	ASSERT_TRUE(RUN_UNTIL(f.loop, r1.done && r2.done, 10000));
	a = fx_registered(&r1);
	b = fx_registered(&r2);
	ASSERT_STR_EQ(a->agent_id->value, b->agent_id->value);
	keel_pbjson_free(&a->base);
	keel_pbjson_free(&b->base);
	ASSERT_UINT_EQ(registrar_count_agents(m->registrar, REGISTRAR_AGENT_ADMITTED), 1);
	ASSERT_UINT_EQ(m->counters.registrations, 1);
	keel_http_client_free(c1);
	keel_http_client_free(c2);
	master_free(m, 0);
	fx_fini(&f);
}

/* Start-up errors come back from master_start with a message (the daemon exits 1). */
TEST(start_errors_are_reported)
{
	struct fx f;
	struct master_config c;
	struct master *m, *x;
	char err[KEEL_ERRMSG_SIZE], path[1400];
	FILE *fp;

	fx_init(&f);
	fx_config(&f, &c, true, NULL);
	m = fx_master(&f, &c);

	/* The port is taken. */
	fx_config(&f, &c, true, NULL);
	c.port = m->port;
	ASSERT_OK(master_new(f.loop, &c, &x, err));
	ASSERT_INT_EQ(master_start(x, err), -EADDRINUSE);
	ASSERT_STR_CONTAINS(err, "listen on");
	master_free(x, 0);

	/* The work dir is a file. */
	snprintf(path, sizeof(path), "%s/afile", f.tmp);
	fp = fopen(path, "w");
	ASSERT_NOT_NULL(fp);
	fclose(fp);
	fx_config(&f, &c, false, "afile");
	ASSERT_OK(master_new(f.loop, &c, &x, err));
	ASSERT_INT_LT(master_start(x, err), 0);
	ASSERT_STR_CONTAINS(err, "afile");
	master_free(x, 0);

	/* A damaged replica table. */
	snprintf(path, sizeof(path),
		 "mkdir -p '%s/dmg/replicated_log' && echo junk > "
		 "'%s/dmg/replicated_log/replicas'",
		 f.tmp, f.tmp);
	ASSERT_OK(system(path));
	fx_config(&f, &c, false, "dmg");
	ASSERT_OK(master_new(f.loop, &c, &x, err));
	ASSERT_INT_EQ(master_start(x, err), -EBADMSG);
	ASSERT_STR_CONTAINS(err, "not a replica table");
	master_free(x, 0);

	/* master_new refuses what the flags would have refused. */
	fx_config(&f, &c, false, NULL);
	ASSERT_INT_EQ(master_new(f.loop, &c, &x, err), -EINVAL);
	ASSERT_STR_CONTAINS(err, "--work_dir");
	fx_config(&f, &c, true, NULL);
	c.ip = "localhost";
	ASSERT_INT_EQ(master_new(f.loop, &c, &x, err), -EINVAL);
	ASSERT_STR_CONTAINS(err, "--ip");
	fx_config(&f, &c, true, NULL);
	c.ping_timeout_ms = 0;
	ASSERT_INT_EQ(master_new(f.loop, &c, &x, err), -EINVAL);

	ASSERT_UINT_EQ(f.fatal, 0);
	master_free(m, 0);
	fx_fini(&f);
}
