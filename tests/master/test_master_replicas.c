/* The replica table (who is node 0..n-1 of the log) and three masters sharing one log. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "loop_util.h"
#include "master/master_int.h"
#include "master/registrar.h"
#include "master_fixture.h"
#include "replog/replog.h"
#include "runtime/pbjson.h"

static int from(const char *const *p, size_t n, size_t nodes, struct master_replica_table *t,
		char *err)
{
	size_t lens[16];

	for (size_t i = 0; i < n; i++)
		lens[i] = strlen(p[i]);
	return master_replica_table_from_members(p, lens, n, nodes, t, err);
}

TEST(table_from_members_sorts_and_dedupes)
{
	struct master_replica_table t;
	char err[KEEL_ERRMSG_SIZE];
	const char *p[] = {"127.0.0.1:5052", "127.0.0.1:5050", "127.0.0.1:5051", "127.0.0.1:5050"};

	ASSERT_OK(from(p, 4, 3, &t, err));
	ASSERT_UINT_EQ(t.n, 3);
	ASSERT_STR_EQ(t.addrs[0], "127.0.0.1:5050");
	ASSERT_STR_EQ(t.addrs[1], "127.0.0.1:5051");
	ASSERT_STR_EQ(t.addrs[2], "127.0.0.1:5052");
	ASSERT_INT_EQ(master_replica_table_index(&t, "127.0.0.1:5051"), 1);
	ASSERT_INT_EQ(master_replica_table_index(&t, "127.0.0.1:5053"), -1);
	master_replica_table_free(&t);

	/* The same set in another join order gives the same table. */
	const char *q[] = {"127.0.0.1:5051", "127.0.0.1:5052", "127.0.0.1:5050"};
	ASSERT_OK(from(q, 3, 3, &t, err));
	ASSERT_STR_EQ(t.addrs[0], "127.0.0.1:5050");
	ASSERT_STR_EQ(t.addrs[2], "127.0.0.1:5052");
	master_replica_table_free(&t);
}

TEST(table_from_members_waits_and_refuses)
{
	struct master_replica_table t;
	char err[KEEL_ERRMSG_SIZE];
	const char *two[] = {"a:1", "b:2", "a:1"};
	const char *four[] = {"a:1", "b:2", "c:3", "d:4"};
	const char *bad[][1] = {{"no-port"}, {"h:0"}, {"h:65536"}, {"h:12x"},
				{":5050"},   {"h:"},  {"a b:1"},   {"a,b:1"}};

	ASSERT_INT_EQ(from(two, 3, 3, &t, err), -EAGAIN);
	ASSERT_STR_CONTAINS(err, "2 of 3");
	ASSERT_NULL(t.addrs);
	ASSERT_INT_EQ(from(four, 4, 3, &t, err), -E2BIG);
	ASSERT_STR_CONTAINS(err, "4 masters");
	ASSERT_INT_EQ(from(NULL, 0, 1, &t, err), -EAGAIN);
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(bad); i++) {
		TH_CONTEXT("%s", bad[i][0]);
		ASSERT_INT_EQ(from(bad[i], 1, 1, &t, err), -EINVAL);
		ASSERT_STR_CONTAINS(err, "host:port");
	}
}

TEST(table_file_round_trip_and_damage)
{
	struct fx f;
	struct master_replica_table t, u;
	char err[KEEL_ERRMSG_SIZE], path[700];
	const char *p[] = {"10.0.0.2:5050", "10.0.0.1:5050", "10.0.0.3:5050"};
	FILE *fp;

	fx_init(&f);
	snprintf(path, sizeof(path), "%s/replicas", f.tmp);
	ASSERT_INT_EQ(master_replica_table_read(path, &u, err), -ENOENT);
	ASSERT_OK(from(p, 3, 3, &t, err));
	ASSERT_OK(master_replica_table_write(path, &t, err));
	ASSERT_OK(master_replica_table_read(path, &u, err));
	ASSERT_UINT_EQ(u.n, 3);
	for (size_t i = 0; i < 3; i++)
		ASSERT_STR_EQ(u.addrs[i], t.addrs[i]);
	master_replica_table_free(&u);

	const char *damaged[] = {"", "keel replica table 1\n", "other format\n10.0.0.1:1\n",
				 "keel replica table 1\n10.0.0.1:1\nnot an address\n",
				 "keel replica table 1\n10.0.0.1:1"};
	for (size_t i = 0; i < KEEL_ARRAY_SIZE(damaged); i++) {
		TH_CONTEXT("damaged %zu", i);
		fp = fopen(path, "w");
		ASSERT_NOT_NULL(fp);
		fputs(damaged[i], fp);
		fclose(fp);
		ASSERT_INT_EQ(master_replica_table_read(path, &u, err), -EBADMSG);
		ASSERT_STR_CONTAINS(err, path);
		ASSERT_NULL(u.addrs);
	}
	/* Unwritable place: the error names it. */
	snprintf(path, sizeof(path), "%s/no/such/dir/replicas", f.tmp);
	ASSERT_INT_EQ(master_replica_table_write(path, &t, err), -ENOENT);
	ASSERT_STR_CONTAINS(err, "no/such/dir");
	master_replica_table_free(&t);
	fx_fini(&f);
}

/* Three masters on static://a,b,c with --quorum=2: one log of three replicas (table fixed at
 * creation and stored by each), the first leads; with one replica down the leader still
 * writes; a master whose address is not in a stored table refuses to start. */
TEST(three_masters_share_one_log)
{
	struct fx f;
	struct master_config c[3];
	struct master *m[3];
	struct master_replica_table t;
	struct fx_resp r;
	Keel__Agent__AgentRegistered *ok;
	char url[256], err[KEEL_ERRMSG_SIZE], path[700];
	uint16_t port[3];
	int idx[3];
	char sub[3][8];

	fx_init(&f);
	for (int i = 0; i < 3; i++)
		port[i] = fx_free_port();
	snprintf(url, sizeof(url), "static://127.0.0.1:%u,127.0.0.1:%u,127.0.0.1:%u", port[0],
		 port[1], port[2]);
	for (int i = 0; i < 3; i++) {
		snprintf(sub[i], sizeof(sub[i]), "m%d", i);
		fx_config(&f, &c[i], false, sub[i]);
		c[i].port = port[i];
		c[i].quorum = 2;
		c[i].coord_url = url;
		c[i].coord_static = true;
		c[i].store_timeout_ms = 1000;
		m[i] = fx_master(&f, &c[i]);
	}
	fx_wait_leading(&f, m[0]);
	ASSERT_INT_EQ(m[1]->state, MASTER_STANDBY);
	ASSERT_INT_EQ(m[2]->state, MASTER_STANDBY);
	for (int i = 0; i < 3; i++) {
		TH_CONTEXT("master %d", i);
		ASSERT_NOT_NULL(m[i]->log);
		snprintf(path, sizeof(path), "%s/replicated_log/replicas", c[i].work_dir);
		ASSERT_OK(master_replica_table_read(path, &t, err));
		ASSERT_UINT_EQ(t.n, 3);
		idx[i] = master_replica_table_index(&t, m[i]->self_addr);
		ASSERT_INT_GE(idx[i], 0);
		for (int j = 0; j < i; j++)
			ASSERT_INT_NE(idx[i], idx[j]); /* one index per replica */
		master_replica_table_free(&t);
	}
	TH_CONTEXT(NULL);

	/* Registration goes through the 3-replica log. */
	fx_register(&f, m[0]->port, "k1", &r);
	ok = fx_registered(&r);
	keel_pbjson_free(&ok->base);
	/* One replica down: a quorum of two remains. */
	master_free(m[2], 0);
	m[2] = NULL;
	fx_register(&f, m[0]->port, "k2", &r);
	ok = fx_registered(&r);
	keel_pbjson_free(&ok->base);
	ASSERT_UINT_EQ(registrar_count_agents(m[0]->registrar, REGISTRAR_AGENT_ADMITTED), 2);

	/* Master 2's work dir, but at another address: not in its stored table. */
	{
		struct master_config bad;
		struct master *x = NULL;
		char url2[256];

		snprintf(url2, sizeof(url2), "static://127.0.0.1:%u,127.0.0.1:%u,127.0.0.1:1",
			 port[0], port[1]);
		fx_config(&f, &bad, false, "m2");
		bad.quorum = 2;
		bad.coord_url = url2;
		bad.coord_static = true;
		ASSERT_OK(master_new(f.loop, &bad, &x, err));
		ASSERT_INT_EQ(master_start(x, err), -EINVAL);
		ASSERT_STR_CONTAINS(err, "not in the log's replica table");
		master_free(x, 0);
	}
	/* A quorum changed after creation is refused too. */
	{
		struct master_config bad;
		struct master *x = NULL;

		fx_config(&f, &bad, false, "m2");
		bad.port = port[2];
		ASSERT_OK(master_new(f.loop, &bad, &x, err));
		ASSERT_INT_EQ(master_start(x, err), -EINVAL);
		ASSERT_STR_CONTAINS(err, "--quorum");
		master_free(x, 0);
	}
	ASSERT_UINT_EQ(f.fatal, 0);

	/* Two replicas down: no quorum. A registration is never acknowledged, and when the store
	 * times out the leader fail-stops. */
	{
		struct keel_http_client *cl;
		uint8_t buf[1024];
		size_t len = fx_pack_register(&f, "k3", buf, sizeof(buf));

		master_free(m[1], 0);
		m[1] = NULL;
		cl =
		    fx_post_async(&f, m[0]->port, "POST", "/internal/agent/register", buf, len, &r);
		ASSERT_TRUE(RUN_UNTIL(f.loop, f.fatal > 0, 10000));
		ASSERT_INT_EQ(m[0]->state, MASTER_FAILED);
		ASSERT_STR_CONTAINS(f.fatal_why, "registry");
		ASSERT_FALSE(r.done && r.status == 200);
		ASSERT_UINT_EQ(registrar_count_agents(m[0]->registrar, REGISTRAR_AGENT_ADMITTED),
			       2);
		master_free(m[0], 0);
		ASSERT_TRUE(RUN_UNTIL(f.loop, r.done, 5000));
		ASSERT_FALSE(r.err == 0 && r.status == 200);
		keel_http_client_free(cl);
	}
	fx_fini(&f);
}
