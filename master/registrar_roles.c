/* The registrar's role operations: weights and quotas set by operators, and their lookups. */
#include <errno.h>
#include <string.h>

#include "master/registrar_int.h"
#include "runtime/hmap.h"

static bool role_ok(const char *role)
{
	return role != NULL && role[0] != '\0';
}

int registrar_update_weights(struct registrar *r, Keel__Registry__Weight *const *weights, size_t n,
			     registrar_done_cb cb, void *arg)
{
	Keel__Registry__Operation msg = KEEL__REGISTRY__OPERATION__INIT;
	Keel__Registry__Operation__UpdateWeights body =
	    KEEL__REGISTRY__OPERATION__UPDATE_WEIGHTS__INIT;

	if (n == 0 || weights == NULL)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (weights[i] == NULL || !role_ok(weights[i]->role) || !(weights[i]->weight > 0))
			return -EINVAL;
	body.weights = (Keel__Registry__Weight **)weights;
	body.n_weights = n;
	msg.op_case = KEEL__REGISTRY__OPERATION__OP_UPDATE_WEIGHTS;
	msg.update_weights = &body;
	return registrar_queue(r, &msg, cb, arg);
}

int registrar_update_quota(struct registrar *r, const Keel__Registry__Quota *quota,
			   registrar_done_cb cb, void *arg)
{
	Keel__Registry__Operation msg = KEEL__REGISTRY__OPERATION__INIT;
	Keel__Registry__Operation__UpdateQuota body = KEEL__REGISTRY__OPERATION__UPDATE_QUOTA__INIT;

	if (quota == NULL || !role_ok(quota->role))
		return -EINVAL;
	body.quota = (Keel__Registry__Quota *)quota;
	msg.op_case = KEEL__REGISTRY__OPERATION__OP_UPDATE_QUOTA;
	msg.update_quota = &body;
	return registrar_queue(r, &msg, cb, arg);
}

int registrar_remove_quota(struct registrar *r, const char *role, registrar_done_cb cb, void *arg)
{
	Keel__Registry__Operation msg = KEEL__REGISTRY__OPERATION__INIT;
	Keel__Registry__Operation__RemoveQuota body = KEEL__REGISTRY__OPERATION__REMOVE_QUOTA__INIT;

	if (!role_ok(role))
		return -EINVAL;
	body.role = (char *)role;
	msg.op_case = KEEL__REGISTRY__OPERATION__OP_REMOVE_QUOTA;
	msg.remove_quota = &body;
	return registrar_queue(r, &msg, cb, arg);
}

const Keel__Registry__Weight *registrar_weight(const struct registrar *r, const char *role)
{
	return keel_hmap_get(&r->reg.weights, role);
}

const Keel__Registry__Quota *registrar_quota(const struct registrar *r, const char *role)
{
	return keel_hmap_get(&r->reg.quotas, role);
}

void registrar_foreach_weight(const struct registrar *r,
			      bool (*fn)(const Keel__Registry__Weight *w, void *arg), void *arg)
{
	const char *key;
	void *value;
	size_t pos = 0;

	while (keel_hmap_next(&r->reg.weights, &pos, &key, &value) && fn(value, arg))
		;
}

void registrar_foreach_quota(const struct registrar *r,
			     bool (*fn)(const Keel__Registry__Quota *q, void *arg), void *arg)
{
	const char *key;
	void *value;
	size_t pos = 0;

	while (keel_hmap_next(&r->reg.quotas, &pos, &key, &value) && fn(value, arg))
		;
}
