/* OFFERS events from cached pieces (master/offers_wire.c) against the generic encoders. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "master/allocator.h"
#include "master/allocator_proto.h"
#include "master/master_int.h"
#include "master/offers_wire.h"
#include "master/sched.h"
#include "runtime/alloc.h"
#include "runtime/pbjson.h"

/* One agent with attributes and an address, and a framework. */
struct wfx {
	struct allocator *alloc;	 /* resources */
	struct master_origin origin;	 /* the agent's address */
	struct master_agent agent[2];	 /* agents */
	Mesos__V1__AgentInfo info[2];	 /* their AgentInfo */
	Mesos__V1__Attribute attr;	 /* one text attribute */
	Mesos__V1__Attribute *attrs[1];	 /* info.attributes */
	Mesos__V1__Value__Text text;	 /* attr.text */
	struct master_framework fw;	 /* the framework */
	struct allocator_res *res[2];	 /* "cpus:4;mem:8192", "cpus:1" */
	struct master_offer offers[300]; /* offers */
	struct master_offer *list[300];	 /* pointers to them */
};

static void wfx_init(struct wfx *w, const char *fw_id)
{
	memset(w, 0, sizeof(*w));
	ASSERT_OK(allocator_new(NULL, &w->alloc, NULL));
	ASSERT_OK(allocator_res_parse(w->alloc, "cpus:4;mem:8192", &w->res[0]));
	ASSERT_OK(allocator_res_parse(w->alloc, "cpus:1", &w->res[1]));
	w->origin.name = "10.0.0.7:5051";
	mesos__v1__value__text__init(&w->text);
	w->text.value = "ssd";
	mesos__v1__attribute__init(&w->attr);
	w->attr.name = "disk";
	w->attr.type = MESOS__V1__VALUE__TYPE__TEXT;
	w->attr.text = &w->text;
	w->attrs[0] = &w->attr;
	for (int i = 0; i < 2; i++) {
		mesos__v1__agent_info__init(&w->info[i]);
		w->info[i].hostname = i ? "host-\"two\"" : "host-one";
		w->agent[i].id = i ? "S-2" : "S-1";
		w->agent[i].info = &w->info[i];
		w->agent[i].origin = i ? NULL : &w->origin;
	}
	w->info[0].n_attributes = 1;
	w->info[0].attributes = w->attrs;
	w->fw.id = (char *)fw_id;
}

static void wfx_fini(struct wfx *w)
{
	for (int i = 0; i < 2; i++) {
		master_offer_cache_free(&w->agent[i]);
		allocator_res_unref(w->res[i]);
	}
	allocator_free(w->alloc);
}

/* Offer i: agent i % agents, role "*" or "web", resources res[i % 3 == 2]. */
static void wfx_offers(struct wfx *w, size_t n, int agents, bool mixed)
{
	for (size_t i = 0; i < n; i++) {
		struct master_offer *o = &w->offers[i];
		snprintf(o->id, sizeof(o->id), "M-1-O%zu", i);
		o->fw = &w->fw;
		o->agent = &w->agent[i % (size_t)agents];
		o->role = mixed && i % 2 ? "web" : "*";
		o->res = w->res[mixed && i % 3 == 2];
		w->list[i] = o;
	}
}

/* The event as the generic encoders write it (the master's former path). */
static void reference(struct wfx *w, size_t n, bool protobuf, struct keel_buf *out)
{
	Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
	Mesos__V1__Scheduler__Event__Offers offers = MESOS__V1__SCHEDULER__EVENT__OFFERS__INIT;
	Mesos__V1__Offer *msgs = calloc(n, sizeof(*msgs)), **ptrs = calloc(n, sizeof(*ptrs));
	Mesos__V1__OfferID *ids = calloc(n, sizeof(*ids));
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__AgentID aid[2];
	Mesos__V1__Resource__AllocationInfo *ai = calloc(n, sizeof(*ai));
	Mesos__V1__URL url[2];
	Mesos__V1__Address addr[2];

	fid.value = w->fw.id;
	for (int k = 0; k < 2; k++) {
		mesos__v1__agent_id__init(&aid[k]);
		aid[k].value = w->agent[k].id;
		mesos__v1__address__init(&addr[k]);
		addr[k].hostname = w->info[k].hostname;
		addr[k].ip = k ? "" : "10.0.0.7";
		addr[k].port = k ? 0 : 5051;
		mesos__v1__url__init(&url[k]);
		url[k].scheme = "http";
		url[k].address = &addr[k];
		url[k].path = "/slave(1)";
	}
	for (size_t i = 0; i < n; i++) {
		struct master_offer *o = w->list[i];
		int k = o->agent == &w->agent[1];
		mesos__v1__offer__init(&msgs[i]);
		mesos__v1__offer_id__init(&ids[i]);
		mesos__v1__resource__allocation_info__init(&ai[i]);
		ids[i].value = o->id;
		ai[i].role = o->role;
		msgs[i].id = &ids[i];
		msgs[i].framework_id = &fid;
		msgs[i].agent_id = &aid[k];
		msgs[i].hostname = w->info[k].hostname;
		msgs[i].url = &url[k];
		msgs[i].allocation_info = &ai[i];
		msgs[i].n_attributes = w->info[k].n_attributes;
		msgs[i].attributes = w->info[k].attributes;
		ASSERT_OK(allocator_res_to_proto(w->alloc, o->res, o->role, false,
						 &msgs[i].resources, &msgs[i].n_resources));
		ptrs[i] = &msgs[i];
	}
	offers.n_offers = n;
	offers.offers = ptrs;
	ev.has_type = true;
	ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS;
	ev.offers = &offers;
	if (protobuf) {
		size_t len = protobuf_c_message_get_packed_size(&ev.base);
		ASSERT_OK(keel_buf_reserve(out, len));
		protobuf_c_message_pack(&ev.base, (uint8_t *)keel_buf_wptr(out));
		keel_buf_commit(out, len);
	} else {
		ASSERT_OK(keel_pbjson_write(out, &ev.base, NULL));
	}
	for (size_t i = 0; i < n; i++)
		allocator_res_proto_free(msgs[i].resources, msgs[i].n_resources);
	free(msgs);
	free(ptrs);
	free(ids);
	free(ai);
}

/* The wire event equals the reference and decodes to n offers. */
static void check(struct wfx *w, size_t n, bool protobuf)
{
	struct keel_buf got = {0}, want = {0};
	Mesos__V1__Scheduler__Event *ev = NULL;

	TH_CONTEXT("n=%zu protobuf=%d fw=%s", n, protobuf, w->fw.id);
	master_offers_wire_event(w->alloc, &got, protobuf, w->list, n);
	reference(w, n, protobuf, &want);
	ASSERT_UINT_EQ(keel_buf_size(&got), keel_buf_size(&want));
	ASSERT_MEM_EQ(keel_buf_rptr(&got), keel_buf_rptr(&want), keel_buf_size(&want));
	if (protobuf)
		ev = mesos__v1__scheduler__event__unpack(NULL, keel_buf_size(&got),
							 (const uint8_t *)keel_buf_rptr(&got));
	else
		ASSERT_OK(keel_pbjson_read(&mesos__v1__scheduler__event__descriptor,
					   keel_buf_rptr(&got), keel_buf_size(&got),
					   (ProtobufCMessage **)&ev, NULL));
	ASSERT_NOT_NULL(ev);
	ASSERT_NOT_NULL(ev->offers);
	ASSERT_UINT_EQ(ev->offers->n_offers, n);
	ASSERT_STR_EQ(ev->offers->offers[n - 1]->id->value, w->list[n - 1]->id);
	ASSERT_STR_EQ(ev->offers->offers[n - 1]->framework_id->value, w->fw.id);
	if (protobuf)
		mesos__v1__scheduler__event__free_unpacked(ev, NULL);
	else
		keel_pbjson_free(&ev->base);
	keel_buf_free(&got);
	keel_buf_free(&want);
	TH_CONTEXT(NULL);
}

TEST(wire_one_offer_equals_generic_encoders)
{
	struct wfx w;

	wfx_init(&w, "M-1-0000");
	wfx_offers(&w, 1, 1, false);
	check(&w, 1, true);
	check(&w, 1, false);
	/* Again from the cache. */
	check(&w, 1, true);
	check(&w, 1, false);
	wfx_fini(&w);
}

TEST(wire_many_offers_two_agents_roles_and_resources_change)
{
	struct wfx w;

	/* 300 offers: the body's length takes 3 varint bytes; the cache is replaced as roles and
	 * resources alternate on the same agent within one event. */
	wfx_init(&w, "M-1-0001");
	wfx_offers(&w, 300, 2, true);
	check(&w, 300, true);
	check(&w, 300, false);
	wfx_offers(&w, 300, 2, false);
	check(&w, 300, true);
	check(&w, 300, false);
	wfx_fini(&w);
}

TEST(wire_escapes_ids_like_the_codec)
{
	struct wfx w;

	wfx_init(&w, "fw \"quoted\" \\ \x01 caf\xc3\xa9");
	wfx_offers(&w, 3, 2, false);
	check(&w, 3, false);
	check(&w, 3, true);
	wfx_fini(&w);
}

TEST(wire_cache_forgotten_when_info_changes)
{
	struct wfx w;
	struct keel_buf got = {0};

	wfx_init(&w, "M-1-0002");
	wfx_offers(&w, 1, 1, false);
	check(&w, 1, false);
	ASSERT_NOT_NULL(w.agent[0].ocache);
	/* What master_agent_set_info and master_agent_set_address do on a change. */
	master_offer_cache_free(&w.agent[0]);
	ASSERT_NULL(w.agent[0].ocache);
	w.info[0].hostname = "renamed";
	check(&w, 1, false);
	master_offers_wire_event(w.alloc, &got, false, w.list, 1);
	ASSERT_NOT_NULL(memmem(keel_buf_rptr(&got), keel_buf_size(&got), "\"hostname\":\"renamed\"",
			       strlen("\"hostname\":\"renamed\"")));
	keel_buf_free(&got);
	wfx_fini(&w);
}
