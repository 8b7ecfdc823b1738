/* The operator API's quota and weight calls: UPDATE_QUOTA, SET_QUOTA, REMOVE_QUOTA, GET_QUOTA,
 * UPDATE_WEIGHTS; durable in the registry before they are answered and applied. */
#ifndef KEEL_MASTER_QUOTA_H
#define KEEL_MASTER_QUOTA_H

#include <stdbool.h>
#include <stddef.h>

#include "master.h"
#include "proto/mesos/v1/master.pb-c.h"

/*
 * Quota and weights as Mesos 1.9+ keeps them (docs/master-api.md, "Quota and weights"):
 *
 *   UPDATE_QUOTA   QuotaConfig list (role, guarantees, limits: scalar quantities by name);
 *                  all or nothing: every config is validated (400 with the reason) and, unless
 *                  `force`, the sum of every role's guarantees must fit the cluster's capacity
 *                  (400). A config with neither guarantees nor limits removes the role's
 *                  quota. Recorded in the registry (one operation per role, one batch), then
 *                  applied to the allocator, then 200.
 *   SET_QUOTA      deprecated: a guarantee for a role without quota (400 when it has one);
 *                  as in Mesos 1.9+, the guarantee is also the limit.
 *   REMOVE_QUOTA   deprecated: removes a role's quota (400 when it has none).
 *   GET_QUOTA      status.infos (guarantees as Resources, roles with a guarantee) and
 *                  status.configs (guarantees and limits), sorted by role.
 *   UPDATE_WEIGHTS weight_infos: each role valid (not "*"), each weight > 0; durable, then
 *                  applied, then 200. A registry weight overrides --weights for its role.
 *
 * A change waits for the registry (the request is held, no timer: the registrar fails stop);
 * a client that leaves first is not answered, the change still applies. 503 when the
 * registrar is not ready (-EAGAIN) or failed.
 *
 * Threads: the loop's. Memory: out-of-memory is fatal.
 */

/* The calls' state (requests waiting for the registry), owned by the operator API. */
struct master_quota;

/* Creates and frees it (free answers nothing: the server closes the held requests). */
struct master_quota *master_quota_new(struct master *m);
void master_quota_free(struct master_quota *q);

/* True for the call types master_quota_call answers. */
bool master_quota_handles(Mesos__V1__Master__Call__Type type);

/* Answers (now, or once durable) a call master_quota_handles says yes to; call is valid
 * (master_api_call_invalid) and borrowed for this call only. */
void master_quota_call(struct master_quota *q, struct keel_http_req *req,
		       const Mesos__V1__Master__Call *call, bool protobuf);

/*
 * Gives the allocator the registry's weights (over --weights) and quotas. Call once the
 * registry is recovered, before offers are made. 0, or -EINVAL with errmsg when a recorded
 * quota does not parse (the registry holds only validated ones).
 */
int master_quota_recover(struct master *m, char *errmsg);

/*
 * A role's weight: the registry's, else --weights', else 1; *set (may be NULL) says whether
 * either has one.
 */
double master_role_weight(const struct master *m, const char *role, bool *set);

#endif
