/* The allocator's edge: resource vectors to and from mesos.v1.Resource messages. */
#ifndef KEEL_MASTER_ALLOCATOR_PROTO_H
#define KEEL_MASTER_ALLOCATOR_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include "master/allocator.h"
#include "proto/mesos/v1/mesos.pb-c.h"

/*
 * Builds a vector from n Resource messages (an agent's resources, an offer's resources
 * coming back in ACCEPT or DECLINE, a quota). The reservation role is the last entry of
 * `reservations`, else the deprecated `role` when it is not "*"; `allocation_info` is
 * ignored. Scalars keep three decimal digits (rounded as Mesos does). Returns 0 and a new
 * reference in *out, -EINVAL (a malformed resource), -ENOTSUP (resource providers, disk
 * sources or persistent volumes, revocable or shared resources: not modelled yet), -ENOSPC
 * (too many names) or -ENOMEM; the message is in allocator_errmsg(a).
 */
int allocator_res_from_proto(struct allocator *a, Mesos__V1__Resource *const *rs, size_t n,
			     struct allocator_res **out);

/*
 * Builds Resource messages for r, one per entry, each with `allocation_info.role` set
 * when allocation_role is not NULL. Reserved entries carry a STATIC `reservations` entry
 * (refinement true, frameworks with RESERVATION_REFINEMENT) or the old `role` field.
 * Returns 0 with *out an array of *n messages (free with allocator_res_proto_free), or
 * -ENOMEM.
 */
int allocator_res_to_proto(const struct allocator *a, const struct allocator_res *r,
			   const char *allocation_role, bool refinement, Mesos__V1__Resource ***out,
			   size_t *n);

/* Frees what allocator_res_to_proto built (every message, then the array). */
void allocator_res_proto_free(Mesos__V1__Resource **rs, size_t n);

#endif
