/* OFFERS events written straight to bytes from per-agent cached Offer pieces (protobuf, JSON). */
#include "offers_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"
#include "allocator_proto.h"
#include "runtime/alloc.h"
#include "runtime/pbjson.h"
#include "sched.h"

/*
 * An Offer's fields in number order are id (1), framework_id (2), agent_id
 * (3), hostname (4), resources (5), attributes (7), url (8) and
 * allocation_info (10). Everything from agent_id on depends only on the
 * agent (AgentInfo, address), the offered resources and the role, and is the
 * same every time the same resources are offered to a role: it is encoded
 * once by the generic encoders (protobuf-c, keel_pbjson_write) and kept per
 * agent; each offer writes its own ID and framework ID in front. Both
 * encoders write fields in number order, so the event is byte for byte what
 * they would write for the whole message.
 */

/* What the generic encoders write for id and framework_id holding "". */
static const char PB_EMPTY_IDS[] = "\x0a\x02\x0a\x00\x12\x02\x0a\x00";
#define PB_EMPTY_IDS_LEN 8
static const char JSON_EMPTY_IDS[] = "{\"id\":{\"value\":\"\"},\"framework_id\":{\"value\":\"\"},";

/* The cached encoded tail of an agent's Offer. */
struct master_offer_cache {
	struct allocator_res *res; /* the offered resources it was made for (a reference) */
	char *role;		   /* their allocation role */
	struct keel_buf pb;	   /* fields 3.. as protobuf */
	struct keel_buf json;	   /* fields 3.. as JSON, with the Offer's closing brace */
	bool has_pb, has_json;	   /* which are filled */
};

void master_offer_cache_free(struct master_agent *a)
{
	struct master_offer_cache *c = a->ocache;

	if (c == NULL)
		return;
	allocator_res_unref(c->res);
	keel_free(c->role);
	keel_buf_free(&c->pb);
	keel_buf_free(&c->json);
	keel_free(c);
	a->ocache = NULL;
}

/* Fills the encoding the offer needs (building the Offer message once). */
static void cache_fill(const struct allocator *alloc, struct master_offer *o, bool protobuf)
{
	struct master_agent *a = o->agent;
	struct master_offer_cache *c = a->ocache;
	Mesos__V1__Offer msg = MESOS__V1__OFFER__INIT;
	Mesos__V1__OfferID id = MESOS__V1__OFFER_ID__INIT;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__Resource__AllocationInfo ai = MESOS__V1__RESOURCE__ALLOCATION_INFO__INIT;
	Mesos__V1__URL url = MESOS__V1__URL__INIT;
	Mesos__V1__Address addr = MESOS__V1__ADDRESS__INIT;
	const char *name = a->origin ? a->origin->name : "";
	const char *colon = strrchr(name, ':');
	char ip[64];
	struct keel_buf tmp = {0};
	size_t n;

	if (c != NULL && (strcmp(c->role, o->role) != 0 || !allocator_res_equal(c->res, o->res)))
		master_offer_cache_free(a);
	if (a->ocache == NULL) {
		c = keel_xcalloc(1, sizeof(*c));
		c->res = allocator_res_ref(o->res);
		c->role = keel_xstrdup(o->role);
		a->ocache = c;
	}
	c = a->ocache;
	if (protobuf ? c->has_pb : c->has_json)
		return;
	id.value = (char *)"";
	fid.value = (char *)"";
	aid.value = a->id;
	ai.role = o->role;
	snprintf(ip, sizeof(ip), "%.*s", colon ? (int)(colon - name) : 0, name);
	addr.hostname = a->info->hostname;
	addr.ip = ip;
	addr.port = colon ? atoi(colon + 1) : 0;
	url.scheme = (char *)"http";
	url.address = &addr;
	url.path = (char *)"/slave(1)";
	msg.id = &id;
	msg.framework_id = &fid;
	msg.agent_id = &aid;
	msg.hostname = a->info->hostname;
	msg.url = &url;
	msg.allocation_info = &ai;
	msg.n_attributes = a->info->n_attributes;
	msg.attributes = a->info->attributes;
	if (allocator_res_to_proto(alloc, o->res, o->role, false, &msg.resources,
				   &msg.n_resources) < 0)
		abort(); /* -ENOMEM only */
	if (protobuf) {
		n = protobuf_c_message_get_packed_size(&msg.base);
		if (keel_buf_reserve(&tmp, n) < 0)
			abort();
		protobuf_c_message_pack(&msg.base, (uint8_t *)keel_buf_wptr(&tmp));
		keel_buf_commit(&tmp, n);
		if (n < PB_EMPTY_IDS_LEN || memcmp(keel_buf_rptr(&tmp), PB_EMPTY_IDS, 8) != 0)
			abort(); /* protobuf-c writes fields in number order */
		if (keel_buf_append(&c->pb, keel_buf_rptr(&tmp) + 8, n - 8) < 0)
			abort();
		c->has_pb = true;
	} else {
		if (keel_pbjson_write(&tmp, &msg.base, NULL) < 0)
			abort(); /* a valid message: -ENOMEM only */
		n = strlen(JSON_EMPTY_IDS);
		if (keel_buf_size(&tmp) < n || memcmp(keel_buf_rptr(&tmp), JSON_EMPTY_IDS, n) != 0)
			abort(); /* keel_pbjson_write writes fields in number order */
		if (keel_buf_append(&c->json, keel_buf_rptr(&tmp) + n, keel_buf_size(&tmp) - n) < 0)
			abort();
		c->has_json = true;
	}
	allocator_res_proto_free(msg.resources, msg.n_resources);
	keel_buf_free(&tmp);
}

static size_t varint_len(size_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static char *put_varint(char *p, size_t v)
{
	while (v >= 0x80) {
		*p++ = (char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (char)v;
	return p;
}

/* Size of a message field holding one string field 1 (OfferID, FrameworkID), tag included. */
static size_t pb_id_len(size_t len)
{
	size_t inner = 1 + varint_len(len) + len;
	return 1 + varint_len(inner) + inner;
}

static char *pb_put_id(char *p, char tag, const char *s, size_t len)
{
	*p++ = tag;
	p = put_varint(p, 1 + varint_len(len) + len);
	*p++ = 0x0a;
	p = put_varint(p, len);
	memcpy(p, s, len);
	return p + len;
}

/* The size of one Offer's body as protobuf. */
static size_t pb_offer_len(const struct master_offer *o)
{
	return pb_id_len(strlen(o->id)) + pb_id_len(strlen(o->fw->id)) +
	       keel_buf_size(&o->agent->ocache->pb);
}

/* Room left in front of the offers for the event's header: 3 bytes and the body's varint. */
#define PB_HEAD_ROOM 13

static void send_pb(const struct allocator *alloc, struct keel_buf *out,
		    struct master_offer *const *list, size_t n)
{
	size_t body, head;
	char *p;

	if (keel_buf_reserve(out, PB_HEAD_ROOM) < 0)
		abort();
	keel_buf_commit(out, PB_HEAD_ROOM);
	for (size_t i = 0; i < n; i++) {
		const struct master_offer *o = list[i];
		const struct keel_buf *tail;
		size_t len;

		/* Filled per offer: a second offer on the same agent may replace the cache. */
		cache_fill(alloc, list[i], true);
		tail = &o->agent->ocache->pb;
		len = pb_offer_len(o);
		if (keel_buf_reserve(out, 1 + varint_len(len) + len) < 0)
			abort();
		p = keel_buf_wptr(out);
		*p++ = 0x0a; /* Offers.offers (1) */
		p = put_varint(p, len);
		p = pb_put_id(p, 0x0a, o->id, strlen(o->id));
		p = pb_put_id(p, 0x12, o->fw->id, strlen(o->fw->id));
		memcpy(p, keel_buf_rptr(tail), keel_buf_size(tail));
		keel_buf_commit(out, 1 + varint_len(len) + len);
	}
	body = keel_buf_size(out) - PB_HEAD_ROOM;
	head = 3 + varint_len(body);
	p = (char *)keel_buf_rptr(out) + PB_HEAD_ROOM - head;
	*p++ = 0x08; /* type = OFFERS */
	*p++ = (char)MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS;
	*p++ = 0x1a; /* offers (3) */
	put_varint(p, body);
	keel_buf_consume(out, PB_HEAD_ROOM - head);
}

/* Appends {"value":"s"} as keel_pbjson_write would write an OfferID holding s. */
static void json_put_id(struct keel_buf *out, const char *s)
{
	Mesos__V1__OfferID id = MESOS__V1__OFFER_ID__INIT;
	const char *q;

	for (q = s; *q; q++)
		if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f || *q == '"' ||
		    *q == '\\')
			break;
	if (*q == '\0') {
		if (keel_buf_puts(out, "{\"value\":\"") < 0 || keel_buf_puts(out, s) < 0 ||
		    keel_buf_puts(out, "\"}") < 0)
			abort();
		return;
	}
	id.value = (char *)s; /* a character to escape: the codec knows how */
	if (keel_pbjson_write(out, &id.base, NULL) < 0)
		abort();
}

static void send_json(const struct allocator *alloc, struct keel_buf *out,
		      struct master_offer *const *list, size_t n)
{
	if (keel_buf_puts(out, "{\"type\":\"OFFERS\",\"offers\":{\"offers\":[") < 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		const struct keel_buf *tail;

		cache_fill(alloc, list[i], false);
		tail = &list[i]->agent->ocache->json;
		if (keel_buf_puts(out, i ? ",{\"id\":" : "{\"id\":") < 0)
			abort();
		json_put_id(out, list[i]->id);
		if (keel_buf_puts(out, ",\"framework_id\":") < 0)
			abort();
		json_put_id(out, list[i]->fw->id);
		if (keel_buf_putc(out, ',') < 0 ||
		    keel_buf_append(out, keel_buf_rptr(tail), keel_buf_size(tail)) < 0)
			abort();
	}
	if (keel_buf_puts(out, "]}}") < 0)
		abort();
}

void master_offers_wire_event(const struct allocator *alloc, struct keel_buf *out, bool protobuf,
			      struct master_offer *const *list, size_t n)
{
	if (protobuf)
		send_pb(alloc, out, list, n);
	else
		send_json(alloc, out, list, n);
}
