/* UPDATE_FRAMEWORK: Mesos's validation, the registry first, then offers and the allocator. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http_api.h"
#include "master_int.h"
#include "operator_stream.h"
#include "offers.h"
#include "registrar.h"
#include "runtime/alloc.h"
#include "runtime/http_server.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"
#include "sched.h"

/* An update waiting for the registry. */
struct fw_update {
	char *fid;			/* the framework */
	struct keel_http_req *req;	/* the call, or NULL once its client left */
	Mesos__V1__FrameworkInfo *info; /* the new FrameworkInfo (owned until applied) */
	char **suppressed;		/* its suppressed roles (owned) */
	size_t n_suppressed;		/* how many */
};

/* Whether info subscribes to role (roles with MULTI_ROLE, else role, "*" by default). */
static bool has_role(const Mesos__V1__FrameworkInfo *info, const char *role)
{
	if (!master_framework_multi_role(info))
		return strcmp(info->role ? info->role : "*", role) == 0;
	for (size_t i = 0; i < info->n_roles; i++)
		if (strcmp(info->roles[i], role) == 0)
			return true;
	return false;
}

static bool same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Mesos's framework::validateUpdate plus the suppressed roles check: NULL or the reason. */
static const char *update_invalid(const Mesos__V1__FrameworkInfo *old,
				  const Mesos__V1__FrameworkInfo *new,
				  const Mesos__V1__Scheduler__Call__UpdateFramework *uf, char *buf,
				  size_t size)
{
	bool old_cp = old->has_checkpoint && old->checkpoint;
	bool new_cp = new->has_checkpoint &&new->checkpoint;
	size_t n = 0, bad = 0;

	if (!same_str(old->principal, new->principal))
		return "Changing framework's principal is not allowed.";
	if (strcmp(old->user, new->user) != 0) {
		snprintf(buf, size,
			 "Updating 'FrameworkInfo.user' is unsupported; attempted to update from "
			 "'%s' to '%s'",
			 old->user, new->user);
		return buf;
	}
	if (old_cp != new_cp) {
		snprintf(buf, size,
			 "Updating 'FrameworkInfo.checkpoint' is unsupported; attempted to update "
			 "from '%s' to '%s'",
			 old_cp ? "true" : "false", new_cp ? "true" : "false");
		return buf;
	}
	n = (size_t)snprintf(buf, size, "Suppressed roles { ");
	for (size_t i = 0; i < uf->n_suppressed_roles && n < size; i++) {
		if (has_role(new, uf->suppressed_roles[i]))
			continue;
		n += (size_t)snprintf(buf + n, size - n, "%s%s", bad ? ", " : "",
				      uf->suppressed_roles[i]);
		bad++;
	}
	if (bad == 0)
		return NULL;
	if (n < size)
		snprintf(buf + n, size - n, " } are not contained in the set of roles");
	return buf;
}

static void update_free(struct fw_update *u)
{
	if (u->req != NULL)
		keel_http_req_on_events(u->req, NULL, NULL, NULL);
	for (size_t i = 0; i < u->n_suppressed; i++)
		keel_free(u->suppressed[i]);
	keel_free(u->suppressed);
	if (u->info != NULL)
		keel_pbjson_free(&u->info->base);
	keel_free(u->fid);
	keel_free(u);
}

/* The client left before the update was durable: it is applied all the same. */
static void update_req_closed(struct keel_http_req *req, void *arg)
{
	struct fw_update *u = arg;

	(void)req;
	u->req = NULL;
}

/* The new FrameworkInfo takes effect: offers of roles it left go, the allocator follows. */
static void apply(struct master *m, struct master_framework *fw, struct fw_update *u)
{
	struct master_offer *o = fw->offers, *next;

	for (; o != NULL; o = next) {
		next = o->fnext;
		if (!has_role(u->info, o->role))
			master_offer_rescind(m, o);
	}
	master_framework_set_info(fw, u->info);
	u->info = NULL;
	master_framework_set_suppressed(fw, u->suppressed, u->n_suppressed);
	/* A disconnected framework gets all of it when it subscribes again. */
	if (fw->stream != NULL)
		master_offers_framework_up(m, fw, fw->suppressed, fw->n_suppressed);
	KEEL_INFO(MASTER_LOG, "framework %s updated (%s)", fw->id,
		  fw->info->name ? fw->info->name : "");
}

static void updated(struct master *m, int status, struct master_agent *unused, void *data)
{
	struct fw_update *u = data;
	struct master_framework *fw = master_framework_find(m, u->fid);

	(void)unused;
	if (status < 0) {
		/* The registrar reports failures through on_fatal as well. */
		if (u->req != NULL)
			master_api_answer_text(u->req, 503,
					       "Failed to update framework %s in the registry: %s",
					       u->fid, strerror(-status));
	} else {
		if (fw != NULL) {
			apply(m, fw, u);
			master_opstream_framework(
			    m, fw, MESOS__V1__MASTER__EVENT__TYPE__FRAMEWORK_UPDATED);
		}
		if (u->req != NULL)
			keel_http_respond(u->req, 200, NULL, NULL, NULL, 0);
	}
	update_free(u);
}

void master_sched_update_framework(struct master *m, struct master_framework *fw,
				   const Mesos__V1__Scheduler__Call__UpdateFramework *uf,
				   struct keel_http_req *req)
{
	const Mesos__V1__FrameworkInfo *given = uf->framework_info;
	const char *invalid;
	char buf[512];
	struct fw_update *u;
	struct master_op *op;
	int rv;

	if ((invalid = update_invalid(fw->info, given, uf, buf, sizeof(buf))) != NULL) {
		master_api_answer_text(req, 400, "%s", invalid);
		return;
	}
	u = keel_xcalloc(1, sizeof(*u));
	u->fid = keel_xstrdup(fw->id);
	u->info = (Mesos__V1__FrameworkInfo *)master_pb_copy(&given->base);
	if (uf->n_suppressed_roles > 0) {
		u->suppressed = keel_xcalloc(uf->n_suppressed_roles, sizeof(*u->suppressed));
		for (size_t i = 0; i < uf->n_suppressed_roles; i++)
			u->suppressed[i] = keel_xstrdup(uf->suppressed_roles[i]);
		u->n_suppressed = uf->n_suppressed_roles;
	}
	op = master_op_new(m, updated, NULL, u);
	rv = registrar_update_framework(m->registrar, u->info, master_op_done, op);
	if (rv < 0) {
		master_op_cancel(op);
		if (rv == -EBUSY)
			master_api_answer_text(
			    req, 503, "Framework %s has a registry change in flight", u->fid);
		else if (rv == -EAGAIN || rv == -ESHUTDOWN)
			master_api_answer_text(req, 503, "The registry is not available: %s",
					       strerror(-rv));
		else
			master_api_answer_text(req, 500, "Failed to update framework %s: %s",
					       u->fid, strerror(-rv));
		update_free(u);
		return;
	}
	u->req = req;
	keel_http_req_on_events(req, NULL, update_req_closed, u);
}
