/* keel-master's HTTP Basic authentication and local ACL authorization, off by default as in Mesos.
 */
#ifndef KEEL_MASTER_AUTH_H
#define KEEL_MASTER_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/mesos/v1/mesos.pb-c.h"
#include "proto/mesos/v1/master.pb-c.h"

#include "runtime/err.h"

struct keel_http_req;
struct master_auth;

/* What the master's auth flags say (strings borrowed for the call only). */
struct master_auth_config {
	bool frameworks;	 /* --authenticate_frameworks: scheduler calls need credentials */
	bool readwrite;		 /* --authenticate_http_readwrite: state-changing operator calls */
	bool readonly;		 /* --authenticate_http_readonly: GET_* calls, /state, ... */
	const char *credentials; /* --credentials: a path or file://path, or NULL */
	const char *acls;	 /* --acls: JSON text or file://path, or NULL */
};

/* Which kind of request is authenticated (which flag governs it). */
enum master_auth_class {
	MASTER_AUTH_FRAMEWORK = 0, /* the scheduler API */
	MASTER_AUTH_READWRITE = 1, /* operator calls that change state */
	MASTER_AUTH_READONLY = 2,  /* operator calls and endpoints that only read */
};

/* The ACL kinds keel knows (Mesos's names). */
enum master_acl_kind {
	MASTER_ACL_REGISTER_FRAMEWORKS = 0, /* principals -> roles */
	MASTER_ACL_RUN_TASKS = 1,	    /* principals -> users */
	MASTER_ACL_TEARDOWN_FRAMEWORKS = 2, /* principals -> framework_principals */
	MASTER_ACL_NKINDS = 3,		    /* number of kinds */
};

/*
 * Loads the credentials file and the ACLs named by cfg. Returns 0 with *out
 * (free with master_auth_free), or -EINVAL with errmsg naming the flag and
 * the bad field (a file that cannot be read: its errno), -ENOMEM. An
 * authenticate flag without --credentials is -EINVAL (nobody could log in).
 */
int master_auth_new(const struct master_auth_config *cfg, struct master_auth **out, char *errmsg);

/* Frees a; NULL is ignored. */
void master_auth_free(struct master_auth *a);

/* True when requests of class cls must carry credentials. a may be NULL (never). */
bool master_auth_required(const struct master_auth *a, enum master_auth_class cls);

/*
 * Authenticates req for class cls. Returns true when the request may go on:
 * *principal is the authenticated principal (owned by a, lives as long as a)
 * or NULL when this class needs no authentication and the request sent no
 * valid credentials. Otherwise it has answered 401 with
 * `WWW-Authenticate: Basic realm="mesos"` and returns false. Secrets are
 * compared in constant time. a may be NULL (everything passes, NULL principal).
 */
bool master_auth_authenticate(const struct master_auth *a, enum master_auth_class cls,
			      struct keel_http_req *req, const char **principal);

/*
 * Mesos's local authorizer: the first ACL of `kind` whose principals and
 * object match decides (NONE entities deny); no match: the `permissive`
 * setting (default true). principal NULL is Mesos's "ANY" subject (no
 * authenticated principal). a NULL or without --acls: always true.
 */
bool master_auth_authorize(const struct master_auth *a, enum master_acl_kind kind,
			   const char *principal, const char *object);

/*
 * Flag hooks of master/flags.c and master.c. master_auth_flags stores the
 * auth flags in c (strings copied) after checking that they load (errors as
 * master_auth_new). master_auth_start loads cfg's auth settings into m->auth.
 */
struct master;
struct master_config;
int master_auth_flags(struct master_config *c, bool frameworks, bool readwrite, bool readonly,
		      const char *credentials, const char *acls, char *errmsg);
int master_auth_start(struct master *m, const struct master_config *cfg, char *errmsg);

/*
 * Scheduler API hooks (master/sched.c). master_auth_subscribe checks a
 * SUBSCRIBE from principal (NULL: none authenticated): a FrameworkInfo.principal
 * other than the authenticated one is 400 (Mesos's validation text), a role
 * register_frameworks does not allow is 403 "Not authorized to use roles ...".
 * master_auth_call checks any other call of the framework whose FrameworkInfo
 * is fi (400 on a principal mismatch). Both return true, or answer and return false.
 */
bool master_auth_subscribe(const struct master_auth *a, struct keel_http_req *req,
			   const Mesos__V1__FrameworkInfo *fi, const char *principal);
bool master_auth_call(struct keel_http_req *req, const Mesos__V1__FrameworkInfo *fi,
		      const char *principal);

/*
 * The run_tasks check of a LAUNCH (master/tasks.c): the user is the task's
 * command user, else its executor's (or the group's executor's), else the
 * framework's; the subject is FrameworkInfo.principal. Returns NULL when
 * allowed, else Mesos's message written to buf.
 */
const char *master_auth_task_denied(const struct master_auth *a, const Mesos__V1__FrameworkInfo *fi,
				    const Mesos__V1__TaskInfo *ti,
				    const Mesos__V1__ExecutorInfo *group_executor, char *buf,
				    size_t size);

/*
 * The readonly gate of an operator endpoint (/state, /flags, /roles,
 * /metrics/snapshot): master_auth_authenticate of m->auth with
 * MASTER_AUTH_READONLY. True: go on; false: answered 401.
 */
bool master_auth_readonly(struct master *m, struct keel_http_req *req);

/* The class of an operator API call type (mesos.v1.master.Call.Type): GET_* and SUBSCRIBE read. */
enum master_auth_class master_auth_operator_class(int call_type);

#endif
