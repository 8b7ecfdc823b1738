/* Offers through the scheduler API in process: fields, DECLINE filters, SUPPRESS/REVIVE, RESCIND.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "loop_util.h"
#include "master/master_int.h"
#include "master/offers.h"
#include "master/sched.h"
#include "master_fixture.h"
#include "runtime/pbjson.h"
#include "sched_client.h"
#include "test_http_util.h"

#define FW_STAR "{\"user\":\"alice\",\"name\":\"offers test\"}"

static struct master *start_leader(struct fx *f, uint64_t offer_timeout_ms)
{
	struct master_config c;
	struct master *m;

	fx_config(f, &c, true, NULL);
	c.heartbeat_interval_ms = 60000;
	c.allocation_interval_ms = 20;
	c.offer_timeout_ms = offer_timeout_ms;
	m = fx_master(f, &c);
	fx_wait_leading(f, m);
	return m;
}

/* Offers received so far (in every OFFERS event) for agent (NULL: any). */
static size_t offers_for(const struct sc_stream *s, const char *agent)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++) {
		const Mesos__V1__Scheduler__Event *ev = s->ev[i];
		if (ev->type != MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS)
			continue;
		for (size_t j = 0; j < ev->offers->n_offers; j++)
			n += agent == NULL ||
			     strcmp(ev->offers->offers[j]->agent_id->value, agent) == 0;
	}
	return n;
}

/* The latest offer received for agent; asserts there is one. */
static const Mesos__V1__Offer *last_offer(const struct sc_stream *s, const char *agent)
{
	for (size_t i = s->n; i > 0; i--) {
		const Mesos__V1__Scheduler__Event *ev = s->ev[i - 1];
		if (ev->type != MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS)
			continue;
		for (size_t j = ev->offers->n_offers; j > 0; j--)
			if (strcmp(ev->offers->offers[j - 1]->agent_id->value, agent) == 0)
				return ev->offers->offers[j - 1];
	}
	ASSERT_TRUE(false);
	return NULL;
}

static size_t rescinds_of(const struct sc_stream *s, const char *offer_id)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		if (s->ev[i]->type == MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND)
			n += strcmp(s->ev[i]->rescind->offer_id->value, offer_id) == 0;
	return n;
}

static double scalar(const Mesos__V1__Offer *o, const char *name)
{
	double v = 0;

	for (size_t i = 0; i < o->n_resources; i++)
		if (strcmp(o->resources[i]->name, name) == 0 && o->resources[i]->scalar != NULL)
			v += o->resources[i]->scalar->value;
	return v;
}

static void decline(struct fx *f, struct master *m, struct sc_stream *s, const char *offer_id,
		    const char *filters)
{
	struct hresp r = {0};
	char call[1024];

	snprintf(call, sizeof(call),
		 "{\"type\":\"DECLINE\",\"framework_id\":{\"value\":\"%s\"},\"decline\":{"
		 "\"offer_ids\":[{\"value\":\"%s\"}]%s%s}}",
		 s->framework_id, offer_id, filters ? ",\"filters\":" : "", filters ? filters : "");
	sc_call(f, m->port, s, call, &r);
	ASSERT_INT_EQ(r.status, 202);
	hresp_free(&r);
}

static void simple_call(struct fx *f, struct master *m, struct sc_stream *s, const char *type,
			const char *extra, int status)
{
	struct hresp r = {0};
	char call[1024];

	snprintf(call, sizeof(call), "{\"type\":\"%s\",\"framework_id\":{\"value\":\"%s\"}%s}",
		 type, s->framework_id, extra ? extra : "");
	sc_call(f, m->port, s, call, &r);
	if (r.status != status)
		fprintf(stderr, "%s: %d %s\n", type, r.status, r.body);
	ASSERT_INT_EQ(r.status, status);
	hresp_free(&r);
}

enum { offer_timeout_none = 0 };

/*
 * A master with one agent "host-one" (its ID in *agent, free()) and one framework (JSON) that
 * got its first offer (ID in id).
 */
static struct master *one_offer(struct fx *f, uint64_t offer_timeout_ms, struct sc_stream *s,
				char **agent, char *id, size_t size)
{
	struct master *m;

	fx_init(f);
	m = start_leader(f, offer_timeout_ms);
	*agent = register_rich_agent(f, m, "host-one");
	sc_subscribe(f, m->port, FW_STAR, false, s);
	sc_wait_subscribed(f, s);
	ASSERT_TRUE(RUN_UNTIL(f->loop, offers_for(s, *agent) == 1, 5000));
	snprintf(id, size, "%s", last_offer(s, *agent)->id->value);
	return m;
}

/* Every field Mesos always sets, in both encodings. */
static void offer_fields_case(bool protobuf)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	char *a1, *a2, id[128];
	const Mesos__V1__Offer *o;

	fx_init(&f);
	m = start_leader(&f, 0);
	a1 = register_rich_agent(&f, m, "host-one");
	a2 = register_rich_agent(&f, m, "host-two");
	sc_subscribe(&f, m->port, FW_STAR, protobuf, &s);
	sc_wait_subscribed(&f, &s);
	ASSERT_TRUE(RUN_UNTIL(f.loop, offers_for(&s, a1) == 1 && offers_for(&s, a2) == 1, 5000));
	o = last_offer(&s, a1);
	ASSERT_TRUE(strncmp(o->id->value, m->id, strlen(m->id)) == 0);
	ASSERT_STR_EQ(o->framework_id->value, s.framework_id);
	ASSERT_STR_EQ(o->hostname, "host-one");
	ASSERT_NOT_NULL(o->allocation_info);
	ASSERT_STR_EQ(o->allocation_info->role, "*");
	ASSERT_NOT_NULL(o->url);
	ASSERT_STR_EQ(o->url->scheme, "http");
	ASSERT_STR_EQ(o->url->address->ip, "127.0.0.1");
	ASSERT_INT_EQ(o->url->address->port, f.agent_port);
	ASSERT_STR_EQ(o->url->path, "/slave(1)");
	/* Unreserved resources only ("*"); revocable ones are not offered yet. */
	ASSERT_TRUE(fabs(scalar(o, "cpus") - 4) < 1e-9);
	ASSERT_TRUE(fabs(scalar(o, "mem") - 1024) < 1e-9);
	for (size_t i = 0; i < o->n_resources; i++) {
		ASSERT_NOT_NULL(o->resources[i]->allocation_info);
		ASSERT_STR_EQ(o->resources[i]->allocation_info->role, "*");
	}
	ASSERT_TRUE(o->n_attributes >= 1);
	ASSERT_NOT_NULL(master_offer_find(m, o->id->value));
	snprintf(id, sizeof(id), "%s", o->id->value);
	sc_close(&s);
	/* Disconnected: its offers go back. */
	ASSERT_TRUE(RUN_UNTIL(f.loop, master_offer_find(m, id) == NULL, 5000));
	free(a1);
	free(a2);
	master_free(m, 0);
	fx_fini(&f);
}

TEST(offers_carry_every_field_json)
{
	offer_fields_case(false);
}

TEST(offers_carry_every_field_protobuf)
{
	offer_fields_case(true);
}

/* Declined resources come back after refuse_seconds, not before; 0 means at once. */
TEST(decline_filters_for_refuse_seconds)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	char *a1, id[128];
	uint64_t t0;
	double waited;

	m = one_offer(&f, offer_timeout_none, &s, &a1, id, sizeof(id));
	t0 = keel_loop_clock_ns();
	decline(&f, m, &s, id, "{\"refuse_seconds\":0.4}");
	ASSERT_NULL(master_offer_find(m, id));
	ASSERT_TRUE(RUN_UNTIL(f.loop, offers_for(&s, a1) == 2, 5000));
	waited = (double)(keel_loop_clock_ns() - t0) / 1e9;
	ASSERT_TRUE(waited >= 0.39);
	/* refuse_seconds 0: offered again in the next cycle. */
	snprintf(id, sizeof(id), "%s", last_offer(&s, a1)->id->value);
	t0 = keel_loop_clock_ns();
	decline(&f, m, &s, id, "{\"refuse_seconds\":0}");
	ASSERT_TRUE(RUN_UNTIL(f.loop, offers_for(&s, a1) == 3, 5000));
	ASSERT_TRUE((double)(keel_loop_clock_ns() - t0) / 1e9 < 0.39);
	/* An unknown offer ID is ignored, as in Mesos. */
	decline(&f, m, &s, "no-such-offer", NULL);
	sc_close(&s);
	free(a1);
	master_free(m, 0);
	fx_fini(&f);
}

/* A suppressed framework gets nothing until REVIVE. */
TEST(suppress_until_revive)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	struct master_offer_stats st;
	char *a1, id[128];
	uint64_t cycles;

	m = one_offer(&f, offer_timeout_none, &s, &a1, id, sizeof(id));
	simple_call(&f, m, &s, "SUPPRESS", NULL, 202);
	decline(&f, m, &s, id, "{\"refuse_seconds\":0}");
	/* Cycles run (the declined resources are free) and offer nothing. */
	master_offers_stats(m, &st);
	cycles = st.cycles;
	ASSERT_TRUE(
	    RUN_UNTIL(f.loop, (master_offers_stats(m, &st), st.cycles >= cycles + 1), 5000));
	ASSERT_UINT_EQ(offers_for(&s, a1), 1);
	/* A role it does not have: 400. */
	simple_call(&f, m, &s, "REVIVE", ",\"revive\":{\"roles\":[\"nope\"]}", 400);
	simple_call(&f, m, &s, "REVIVE", NULL, 202);
	ASSERT_TRUE(RUN_UNTIL(f.loop, offers_for(&s, a1) == 2, 5000));
	sc_close(&s);
	free(a1);
	master_free(m, 0);
	fx_fini(&f);
}

/* An agent marked gone: its offer is rescinded. */
TEST(rescind_when_the_agent_goes)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	struct hresp r = {0};
	char *a1, *a2, id[128], call[512];

	fx_init(&f);
	m = start_leader(&f, 0);
	a1 = register_rich_agent(&f, m, "host-one");
	a2 = register_rich_agent(&f, m, "host-two");
	sc_subscribe(&f, m->port, FW_STAR, true, &s);
	sc_wait_subscribed(&f, &s);
	ASSERT_TRUE(RUN_UNTIL(f.loop, offers_for(&s, a1) == 1 && offers_for(&s, a2) == 1, 5000));
	snprintf(id, sizeof(id), "%s", last_offer(&s, a1)->id->value);
	snprintf(
	    call, sizeof(call),
	    "{\"type\":\"MARK_AGENT_GONE\",\"mark_agent_gone\":{\"agent_id\":{\"value\":\"%s\"}}}",
	    a1);
	api_json(&f, m->port, call, &r);
	ASSERT_INT_EQ(r.status, 200);
	ASSERT_TRUE(RUN_UNTIL(f.loop, rescinds_of(&s, id) == 1, 5000));
	ASSERT_NULL(master_offer_find(m, id));
	ASSERT_NOT_NULL(master_offer_find(m, last_offer(&s, a2)->id->value));
	hresp_free(&r);
	sc_close(&s);
	free(a1);
	free(a2);
	master_free(m, 0);
	fx_fini(&f);
}

/* --offer_timeout: rescinded, and offered again without a filter. */
TEST(offer_timeout_rescinds)
{
	struct fx f;
	struct master *m;
	struct sc_stream s;
	char *a1, id[128];

	m = one_offer(&f, 150, &s, &a1, id, sizeof(id));
	ASSERT_TRUE(RUN_UNTIL(f.loop, rescinds_of(&s, id) == 1, 5000));
	ASSERT_TRUE(RUN_UNTIL(f.loop, offers_for(&s, a1) == 2, 5000));
	sc_close(&s);
	free(a1);
	master_free(m, 0);
	fx_fini(&f);
}

/* Two frameworks share agents; one leaving gives its offers to the other. */
TEST(disconnect_returns_offers_to_others)
{
	struct fx f;
	struct master *m;
	struct sc_stream a, b;
	char *ag[4];

	fx_init(&f);
	m = start_leader(&f, 0);
	for (int i = 0; i < 4; i++) {
		char host[16];
		snprintf(host, sizeof(host), "host-%d", i);
		ag[i] = register_rich_agent(&f, m, host);
	}
	sc_subscribe(&f, m->port, FW_STAR, false, &a);
	sc_wait_subscribed(&f, &a);
	ASSERT_TRUE(RUN_UNTIL(f.loop, offers_for(&a, NULL) == 4, 5000));
	sc_subscribe(&f, m->port, "{\"user\":\"bob\",\"name\":\"second\"}", false, &b);
	sc_wait_subscribed(&f, &b);
	sc_close(&a);
	ASSERT_TRUE(RUN_UNTIL(f.loop, offers_for(&b, NULL) == 4, 5000));
	sc_close(&b);
	for (int i = 0; i < 4; i++)
		free(ag[i]);
	master_free(m, 0);
	fx_fini(&f);
}
