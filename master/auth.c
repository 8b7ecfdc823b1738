/* keel-master's HTTP Basic authentication (--credentials) and local authorizer (--acls). */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "master.h"
#include "runtime/alloc.h"
#include "runtime/base64.h"
#include "runtime/http_server.h"
#include "runtime/util.h"

/* One principal and its secret. */
struct auth_cred {
	char *principal;   /* the name */
	char *secret;	   /* the secret */
	size_t secret_len; /* its length */
};

/* How an ACL entity matches (Mesos's ACL.Entity type). */
enum auth_entity_type {
	AUTH_SOME = 0, /* the listed values */
	AUTH_ANY = 1,  /* anything */
	AUTH_NONE = 2, /* nothing */
};

/* An ACL entity: ANY, NONE or some values. */
struct auth_entity {
	enum auth_entity_type type; /* see enum */
	char **values;		    /* AUTH_SOME: the values (owned) */
	size_t n_values;	    /* how many */
};

/* One ACL: who (subject) may act on what (object). */
struct auth_acl {
	struct auth_entity subject; /* principals */
	struct auth_entity object;  /* roles, users or framework_principals */
};

/* The loaded configuration. */
struct master_auth {
	bool required[3];			  /* per master_auth_class */
	struct auth_cred *creds;		  /* credentials (owned) */
	size_t n_creds;				  /* how many */
	bool have_acls;				  /* --acls given */
	bool permissive;			  /* no ACL matched: allow [true] */
	struct auth_acl *acls[MASTER_ACL_NKINDS]; /* per kind, in order (owned) */
	size_t n_acls[MASTER_ACL_NKINDS];	  /* how many per kind */
};

static const char *const kind_names[MASTER_ACL_NKINDS] = {"register_frameworks", "run_tasks",
							  "teardown_frameworks"};
static const char *const object_names[MASTER_ACL_NKINDS] = {"roles", "users",
							    "framework_principals"};

static void entity_free(struct auth_entity *e)
{
	for (size_t i = 0; i < e->n_values; i++)
		keel_free(e->values[i]);
	keel_free(e->values);
}

void master_auth_free(struct master_auth *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n_creds; i++) {
		keel_free(a->creds[i].principal);
		explicit_bzero(a->creds[i].secret, a->creds[i].secret_len);
		keel_free(a->creds[i].secret);
	}
	keel_free(a->creds);
	for (int k = 0; k < MASTER_ACL_NKINDS; k++) {
		for (size_t i = 0; i < a->n_acls[k]; i++) {
			entity_free(&a->acls[k][i].subject);
			entity_free(&a->acls[k][i].object);
		}
		keel_free(a->acls[k]);
	}
	keel_free(a);
}

/* Loads JSON from text, or from the file after "file://" (or a plain path when is_path). */
static json_t *load_json(const char *flag, const char *value, bool is_path, char *errmsg)
{
	json_error_t jerr;
	json_t *j;
	const char *path = NULL;

	if (strncmp(value, "file://", 7) == 0)
		path = value + 7;
	else if (is_path)
		path = value;
	if (path != NULL) {
		FILE *fp = fopen(path, "r");
		if (fp == NULL) {
			keel_errf(errmsg, -errno, "--%s: cannot read %s: %s", flag, path,
				  strerror(errno));
			return NULL;
		}
		j = json_loadf(fp, 0, &jerr);
		fclose(fp);
	} else {
		j = json_loads(value, 0, &jerr);
	}
	if (j == NULL)
		keel_errf(errmsg, -EINVAL, "--%s: not JSON: %s (line %d)", flag, jerr.text,
			  jerr.line);
	else if (!json_is_object(j)) {
		keel_errf(errmsg, -EINVAL, "--%s: expected a JSON object", flag);
		json_decref(j);
		j = NULL;
	}
	return j;
}

static int load_credentials(struct master_auth *a, const char *value, char *errmsg)
{
	json_t *j = load_json("credentials", value, true, errmsg), *list, *c;
	size_t i;
	int rv = 0;

	if (j == NULL)
		return errmsg[0] ? -EINVAL : -ENOMEM;
	list = json_object_get(j, "credentials");
	if (!json_is_array(list)) {
		rv = keel_errf(errmsg, -EINVAL, "--credentials: 'credentials' must be an array");
		goto out;
	}
	a->creds = keel_xcalloc(json_array_size(list) + 1, sizeof(*a->creds));
	json_array_foreach(list, i, c)
	{
		json_t *p = json_object_get(c, "principal"), *s = json_object_get(c, "secret");
		if (!json_is_string(p) || json_string_length(p) == 0) {
			rv = keel_errf(errmsg, -EINVAL,
				       "--credentials: credentials[%zu].principal must be a "
				       "non-empty string",
				       i);
			goto out;
		}
		if (!json_is_string(s)) {
			rv =
			    keel_errf(errmsg, -EINVAL,
				      "--credentials: credentials[%zu].secret must be a string", i);
			goto out;
		}
		a->creds[i].principal = keel_xstrdup(json_string_value(p));
		a->creds[i].secret = keel_xstrdup(json_string_value(s));
		a->creds[i].secret_len = strlen(a->creds[i].secret);
		a->n_creds = i + 1;
	}
out:
	json_decref(j);
	return rv;
}

/* Parses an ACL entity at acls.<kind>[i].<name>. */
static int parse_entity(json_t *e, const char *kind, size_t i, const char *name,
			struct auth_entity *out, char *errmsg)
{
	json_t *type, *values, *v;
	size_t k;

	if (!json_is_object(e))
		return keel_errf(errmsg, -EINVAL, "--acls: %s[%zu].%s must be an object", kind, i,
				 name);
	type = json_object_get(e, "type");
	values = json_object_get(e, "values");
	if (type != NULL) {
		const char *t = json_is_string(type) ? json_string_value(type) : "";
		if (strcmp(t, "ANY") == 0)
			out->type = AUTH_ANY;
		else if (strcmp(t, "NONE") == 0)
			out->type = AUTH_NONE;
		else if (strcmp(t, "SOME") != 0)
			return keel_errf(errmsg, -EINVAL,
					 "--acls: %s[%zu].%s.type must be SOME, ANY or NONE", kind,
					 i, name);
	}
	if (out->type != AUTH_SOME)
		return 0;
	if (!json_is_array(values))
		return keel_errf(errmsg, -EINVAL, "--acls: %s[%zu].%s.values must be an array",
				 kind, i, name);
	out->values = keel_xcalloc(json_array_size(values) + 1, sizeof(char *));
	json_array_foreach(values, k, v)
	{
		if (!json_is_string(v))
			return keel_errf(errmsg, -EINVAL,
					 "--acls: %s[%zu].%s.values[%zu] must be a string", kind, i,
					 name, k);
		out->values[k] = keel_xstrdup(json_string_value(v));
		out->n_values = k + 1;
	}
	return 0;
}

static int load_acls(struct master_auth *a, const char *value, char *errmsg)
{
	json_t *j = load_json("acls", value, false, errmsg), *perm, *list, *acl;
	const char *key;
	json_t *member;
	size_t i;
	int rv = 0;

	if (j == NULL)
		return errmsg[0] ? -EINVAL : -ENOMEM;
	a->have_acls = true;
	a->permissive = true;
	json_object_foreach(j, key, member)
	{
		bool known = strcmp(key, "permissive") == 0;
		for (int k = 0; k < MASTER_ACL_NKINDS; k++)
			known |= strcmp(key, kind_names[k]) == 0;
		if (!known) {
			rv = keel_errf(errmsg, -EINVAL,
				       "--acls: unknown field '%s' (keel knows permissive, "
				       "register_frameworks, run_tasks, teardown_frameworks)",
				       key);
			goto out;
		}
	}
	perm = json_object_get(j, "permissive");
	if (perm != NULL) {
		if (!json_is_boolean(perm)) {
			rv = keel_errf(errmsg, -EINVAL, "--acls: permissive must be true or false");
			goto out;
		}
		a->permissive = json_is_true(perm);
	}
	for (int k = 0; k < MASTER_ACL_NKINDS; k++) {
		list = json_object_get(j, kind_names[k]);
		if (list == NULL)
			continue;
		if (!json_is_array(list)) {
			rv = keel_errf(errmsg, -EINVAL, "--acls: %s must be an array",
				       kind_names[k]);
			goto out;
		}
		a->acls[k] = keel_xcalloc(json_array_size(list) + 1, sizeof(struct auth_acl));
		json_array_foreach(list, i, acl)
		{
			a->n_acls[k] = i + 1;
			if ((rv = parse_entity(json_object_get(acl, "principals"), kind_names[k], i,
					       "principals", &a->acls[k][i].subject, errmsg)) < 0 ||
			    (rv = parse_entity(json_object_get(acl, object_names[k]), kind_names[k],
					       i, object_names[k], &a->acls[k][i].object, errmsg)) <
				0)
				goto out;
		}
	}
out:
	json_decref(j);
	return rv;
}

int master_auth_new(const struct master_auth_config *cfg, struct master_auth **out, char *errmsg)
{
	struct master_auth *a = keel_xcalloc(1, sizeof(*a));
	int rv = 0;

	errmsg[0] = '\0';
	a->required[MASTER_AUTH_FRAMEWORK] = cfg->frameworks;
	a->required[MASTER_AUTH_READWRITE] = cfg->readwrite;
	a->required[MASTER_AUTH_READONLY] = cfg->readonly;
	a->permissive = true;
	if (cfg->credentials != NULL && cfg->credentials[0] != '\0')
		rv = load_credentials(a, cfg->credentials, errmsg);
	else if (cfg->frameworks || cfg->readwrite || cfg->readonly)
		rv = keel_errf(errmsg, -EINVAL,
			       "--authenticate_%s needs --credentials (nobody could log in)",
			       cfg->frameworks	? "frameworks"
			       : cfg->readwrite ? "http_readwrite"
						: "http_readonly");
	if (rv == 0 && cfg->acls != NULL && cfg->acls[0] != '\0')
		rv = load_acls(a, cfg->acls, errmsg);
	if (rv < 0) {
		master_auth_free(a);
		return rv;
	}
	*out = a;
	return 0;
}

bool master_auth_required(const struct master_auth *a, enum master_auth_class cls)
{
	return a != NULL && a->required[cls];
}

/* Equal in time that depends on the lengths only, not on where the bytes differ. */
static bool secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	volatile unsigned char diff = (unsigned char)(alen != blen);
	size_t n = alen > blen ? alen : blen;

	for (size_t i = 0; i < n; i++) {
		unsigned char x = i < alen ? (unsigned char)a[i] : 0;
		unsigned char y = i < blen ? (unsigned char)b[i] : 0;
		diff |= x ^ y;
	}
	return diff == 0;
}

/* The principal whose credentials the Authorization header carries, or NULL. */
static const char *check_basic(const struct master_auth *a, struct keel_http_req *req)
{
	size_t len = 0, dlen = 0;
	const char *h = keel_http_header_get(keel_http_req_head(req), "Authorization", &len);
	char buf[768], *colon;
	const char *found = NULL;

	if (h == NULL || len < 6 || strncasecmp(h, "Basic ", 6) != 0)
		return NULL;
	h += 6;
	len -= 6;
	while (len > 0 && *h == ' ') {
		h++;
		len--;
	}
	if (keel_base64_decoded_max(len) >= sizeof(buf) ||
	    keel_base64_decode(buf, &dlen, h, len, NULL) < 0)
		return NULL;
	buf[dlen] = '\0';
	colon = memchr(buf, ':', dlen);
	if (colon == NULL || strlen(buf) != dlen)
		goto out;
	*colon = '\0';
	for (size_t i = 0; i < a->n_creds; i++) {
		const struct auth_cred *c = &a->creds[i];
		if (strcmp(c->principal, buf) == 0 &&
		    secret_equal(colon + 1, dlen - (size_t)(colon + 1 - buf), c->secret,
				 c->secret_len)) {
			found = c->principal;
			break;
		}
	}
out:
	explicit_bzero(buf, sizeof(buf));
	return found;
}

bool master_auth_authenticate(const struct master_auth *a, enum master_auth_class cls,
			      struct keel_http_req *req, const char **principal)
{
	static const char *const headers[] = {"WWW-Authenticate", "Basic realm=\"mesos\"", NULL};

	*principal = NULL;
	if (a == NULL)
		return true;
	*principal = check_basic(a, req);
	if (*principal != NULL || !a->required[cls])
		return true;
	keel_http_respond(req, 401, NULL, headers, NULL, 0);
	return false;
}

/* Mesos's matches(): does the ACL entity cover the request (value NULL: ANY)? */
static bool entity_matches(const struct auth_entity *e, const char *value)
{
	if (e->type != AUTH_SOME)
		return true;
	if (value == NULL)
		return false;
	for (size_t i = 0; i < e->n_values; i++)
		if (strcmp(e->values[i], value) == 0)
			return true;
	return false;
}

bool master_auth_authorize(const struct master_auth *a, enum master_acl_kind kind,
			   const char *principal, const char *object)
{
	if (a == NULL || !a->have_acls)
		return true;
	for (size_t i = 0; i < a->n_acls[kind]; i++) {
		const struct auth_acl *acl = &a->acls[kind][i];
		if (entity_matches(&acl->subject, principal) &&
		    entity_matches(&acl->object, object))
			return acl->subject.type != AUTH_NONE && acl->object.type != AUTH_NONE &&
			       (principal != NULL || acl->subject.type == AUTH_ANY) &&
			       (object != NULL || acl->object.type == AUTH_ANY);
	}
	return a->permissive;
}

static void auth_config_of(const struct master_config *c, struct master_auth_config *ac)
{
	ac->frameworks = c->authenticate_frameworks;
	ac->readwrite = c->authenticate_http_readwrite;
	ac->readonly = c->authenticate_http_readonly;
	ac->credentials = c->credentials;
	ac->acls = c->acls;
}

int master_auth_flags(struct master_config *c, bool frameworks, bool readwrite, bool readonly,
		      const char *credentials, const char *acls, char *errmsg)
{
	struct master_auth_config ac;
	struct master_auth *a;
	int rv;

	c->authenticate_frameworks = frameworks;
	c->authenticate_http_readwrite = readwrite;
	c->authenticate_http_readonly = readonly;
	c->credentials = credentials ? keel_xstrdup(credentials) : NULL;
	c->acls = acls ? keel_xstrdup(acls) : NULL;
	auth_config_of(c, &ac);
	if ((rv = master_auth_new(&ac, &a, errmsg)) < 0)
		return rv;
	master_auth_free(a);
	return 0;
}

int master_auth_start(struct master *m, const struct master_config *cfg, char *errmsg)
{
	struct master_auth_config ac;

	auth_config_of(cfg, &ac);
	return master_auth_new(&ac, &m->auth, errmsg);
}

/* Mesos's text for a principal that differs from FrameworkInfo.principal. */
static void mismatch(struct keel_http_req *req, const char *prefix, const char *principal,
		     const char *fp)
{
	char text[KEEL_ERRMSG_SIZE];

	snprintf(text, sizeof(text),
		 "%sAuthenticated principal '%s' does not match principal '%s' set in "
		 "`FrameworkInfo`",
		 prefix, principal, fp);
	keel_http_respond_text(req, 400, text);
}

bool master_auth_subscribe(const struct master_auth *a, struct keel_http_req *req,
			   const Mesos__V1__FrameworkInfo *fi, const char *principal)
{
	const char *fp = fi->principal;
	char *const default_role[] = {fi->role ? fi->role : (char *)"*"};
	char *const *roles = fi->n_roles > 0 ? fi->roles : default_role;
	size_t n = fi->n_roles > 0 ? fi->n_roles : 1;
	char text[KEEL_ERRMSG_SIZE];
	bool ok = true;
	size_t off;

	if (principal != NULL && fp != NULL && strcmp(principal, fp) != 0) {
		mismatch(req, "Failed to validate scheduler::Call: ", principal, fp);
		return false;
	}
	/* Mesos authorizes the FrameworkInfo's principal (the authenticated one, when set). */
	if (fp == NULL)
		fp = principal;
	for (size_t i = 0; i < n; i++)
		ok &= master_auth_authorize(a, MASTER_ACL_REGISTER_FRAMEWORKS, fp, roles[i]);
	if (ok)
		return true;
	off = (size_t)snprintf(text, sizeof(text), "Not authorized to use roles '{ ");
	for (size_t i = 0; i < n && off < sizeof(text); i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s%s", i ? ", " : "",
					roles[i]);
	if (off < sizeof(text))
		snprintf(text + off, sizeof(text) - off, " }'");
	keel_http_respond_text(req, 403, text);
	return false;
}

bool master_auth_call(struct keel_http_req *req, const Mesos__V1__FrameworkInfo *fi,
		      const char *principal)
{
	const char *fp = fi->principal ? fi->principal : "";

	if (principal == NULL || strcmp(principal, fp) == 0)
		return true;
	mismatch(req, "", principal, fp);
	return false;
}

const char *master_auth_task_denied(const struct master_auth *a, const Mesos__V1__FrameworkInfo *fi,
				    const Mesos__V1__TaskInfo *ti,
				    const Mesos__V1__ExecutorInfo *group_executor, char *buf,
				    size_t size)
{
	const Mesos__V1__ExecutorInfo *ex = ti->executor ? ti->executor : group_executor;
	const char *user = fi->user;

	if (a == NULL || !a->have_acls)
		return NULL;
	if (ti->command != NULL && ti->command->user != NULL)
		user = ti->command->user;
	else if (ex != NULL && ex->command != NULL && ex->command->user != NULL)
		user = ex->command->user;
	if (master_auth_authorize(a, MASTER_ACL_RUN_TASKS, fi->principal, user))
		return NULL;
	snprintf(buf, size, "Task is not authorized to launch as user '%s'", user ? user : "");
	return buf;
}

enum master_auth_class master_auth_operator_class(int call_type)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
	    &mesos__v1__master__call__type__descriptor, call_type);

	if (call_type == MESOS__V1__MASTER__CALL__TYPE__SUBSCRIBE ||
	    (v != NULL && strncmp(v->name, "GET_", 4) == 0))
		return MASTER_AUTH_READONLY;
	return MASTER_AUTH_READWRITE;
}

bool master_auth_readonly(struct master *m, struct keel_http_req *req)
{
	const char *principal;

	return master_auth_authenticate(m->auth, MASTER_AUTH_READONLY, req, &principal);
}
