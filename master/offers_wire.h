/* OFFERS events written straight to bytes, from Offer pieces cached per agent. */
#ifndef KEEL_MASTER_OFFERS_WIRE_H
#define KEEL_MASTER_OFFERS_WIRE_H

#include <stdbool.h>
#include <stddef.h>

#include "offers.h"
#include "runtime/buf.h"

struct allocator;

/*
 * Appends to out (which must be empty) one scheduler Event of type OFFERS
 * carrying list[0, n), as protobuf or as JSON: exactly the bytes protobuf-c
 * or keel_pbjson_write would produce for the Event built field by field
 * (id, framework_id, agent_id, hostname, resources, attributes, url with the
 * agent's address, allocation_info). Each agent keeps the encoded pieces of
 * its last offer (a->ocache) and reuses them while the same resources are
 * offered in the same role. Out-of-memory is fatal (abort), as in the daemon.
 */
void master_offers_wire_event(const struct allocator *alloc, struct keel_buf *out, bool protobuf,
			      struct master_offer *const *list, size_t n);

/* Forgets a->ocache (NULL is fine); called when its AgentInfo or address changes, and on free. */
void master_offer_cache_free(struct master_agent *a);

#endif
