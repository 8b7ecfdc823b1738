/* The master's operator endpoints: POST /api/v1, GET /state, /flags, /version, /metrics/snapshot.
 */
#ifndef KEEL_MASTER_HTTP_API_H
#define KEEL_MASTER_HTTP_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "master.h"
#include "proto/mesos/v1/master.pb-c.h"
#include "runtime/buf.h"

/*
 * Endpoints (each also under /master/..., as Mesos serves them; docs/master-api.md):
 *
 *   POST /api/v1            the v1 operator API, leader only (master_http_gate: 307 or 503
 *                           elsewhere). GET_HEALTH, GET_FLAGS, GET_VERSION, GET_METRICS,
 *                           GET_MASTER, GET_AGENTS, GET_FRAMEWORKS, GET_EXECUTORS, GET_TASKS,
 *                           GET_STATE, GET_ROLES, GET_WEIGHTS, MARK_AGENT_GONE, and the
 *                           quota and weight calls (master/quota.h); every other
 *                           type 501.
 *   GET  /state, /state.json  Mesos's /state JSON, on every master (its own view).
 *   GET  /flags, /version   Mesos's /flags and /version JSON, on every master.
 *   GET  /metrics/snapshot  flat JSON of metrics (Mesos names where Mesos has one), on every
 *                           master.
 *
 * Every answer is rendered from the master's tables when asked: O(agents)
 * per request, nothing per event. All of it runs on the loop thread and reads
 * struct master without changing it, except MARK_AGENT_GONE, which queues a
 * registry operation and, once it is durable, tells the agent to shut down
 * (master_send_shutdown) and drops it from the agents table.
 *
 * Memory: out-of-memory is fatal in the master (runtime/alloc.h).
 */

/* The operator API's state, owned by struct master (m->api). */
struct master_api;

/*
 * Creates m->api and routes the endpoints above on m->server. Call once from
 * master_start, after the server exists. -ENOMEM, -EEXIST (a route is taken;
 * errmsg names it).
 */
int master_api_start(struct master *m, char *errmsg);

/*
 * Frees m->api (NULL is fine). Requests still waiting for a MARK_AGENT_GONE
 * are left to the server, which closes them; call after the registrar is
 * closed (no more callbacks) and before the server is freed.
 */
void master_api_free(struct master *m);

/* MARK_AGENT_GONE requests waiting for their registry operation (tests). */
size_t master_api_inflight(const struct master *m);

/* Agents this master marked gone through the API since it started [master/slave_removals]. */
uint64_t master_api_marked_gone(const struct master *m);

/*
 * A cleared buffer owned by m->api for rendering one answer, kept between
 * requests so that a large /state reuses warm memory. Valid until
 * master_api_scratch_done, which the renderer calls once the answer is sent
 * (keel_http_respond copies the body); it frees the buffer when it is far
 * larger than the last answer.
 */
struct keel_buf *master_api_scratch(struct master *m);
void master_api_scratch_done(struct master *m);

/*
 * Decodes req's body as a message of type d by its Content-Type (exactly
 * application/json or application/x-protobuf). On error it has answered
 * (400 "Expecting 'Content-Type' to be present", 400 "Failed to parse body
 * into <Name> protobuf: ..." / "Failed to convert JSON into <Name> protobuf:
 * ...", 415) and returns NULL. Free the message with keel_pbjson_free.
 */
ProtobufCMessage *master_api_decode(struct keel_http_req *req, const ProtobufCMessageDescriptor *d);

/*
 * Content negotiation by the Accept header (absent: JSON): sets *protobuf and
 * returns true, or answers 406 and returns false.
 */
bool master_api_negotiate(struct keel_http_req *req, bool *protobuf);

/* Answers req with status and a one-line text/plain body made from fmt. */
void master_api_answer_text(struct keel_http_req *req, int status, const char *fmt, ...)
    KEEL_PRINTF(3, 4);

/* Answers req 200 with msg in JSON or protobuf; 500 when it cannot be written. */
void master_api_answer_message(struct keel_http_req *req, bool protobuf,
			       const ProtobufCMessage *msg);

/*
 * GET_ROLES and GET_WEIGHTS (http_api_roles.c), answered at once. GET_ROLES lists every role
 * that has a weight (--weights or the registry's), a quota, a framework subscribed to it, or
 * resources allocated to it (tasks and outstanding offers), sorted by name, each with its
 * weight (the registry's, else --weights', else 1), its frameworks and those resources;
 * O(frameworks + offers + tasks). GET_WEIGHTS lists the --weights in their order (the
 * registry's value where it has one), then the registry's other weights by role.
 */
void master_api_get_roles(struct master *m, struct keel_http_req *req, bool protobuf);
void master_api_get_weights(struct master *m, struct keel_http_req *req, bool protobuf);

/* --- Renderers (http_state.c, http_metrics.c); also used by tests and benchmarks --- */

/* Appends the /state JSON of m to out. */
void master_state_render(struct master *m, struct keel_buf *out);

/* Appends the /flags JSON ({"flags":{...}}) and the /version JSON of m to out. */
void master_flags_render(const struct master *m, struct keel_buf *out);
void master_version_render(struct keel_buf *out);

/* One metric. */
struct master_metric {
	const char *name; /* static string, e.g. "master/elected" */
	double value;	  /* its value now */
};

/* Most metrics master_metrics_collect returns. */
#define MASTER_METRICS_MAX 96

/*
 * Fills out (MASTER_METRICS_MAX entries) with every metric of m, sorted by
 * name; returns how many. O(agents): resource totals are summed when asked.
 */
size_t master_metrics_collect(struct master *m, struct master_metric *out);

/* Appends the /metrics/snapshot JSON object of m to out. */
void master_metrics_render(struct master *m, struct keel_buf *out);

/* Build information (http_state.c): keel's version, and when this binary was built. */
const char *master_build_version(void);
char *master_build_date(char *out, size_t size); /* "YYYY-MM-DD HH:MM:SS" into out (32 B) */
double master_build_time(void);			 /* the same as seconds since the epoch */

/* --- Between http_api.c and http_api_get.c --- */

/*
 * A Response to one of the GET_* calls and everything it points to. The
 * agents' AgentInfo, resources and tasks are borrowed from the master's
 * tables: write it (keel_pbjson_write or pack) in the same loop turn, then
 * free it with master_api_reply_free.
 */
struct master_api_reply {
	Mesos__V1__Master__Response resp;		       /* the answer */
	Mesos__V1__Master__Response__GetHealth health;	       /* GET_HEALTH */
	Mesos__V1__Master__Response__GetFlags flags;	       /* GET_FLAGS */
	Mesos__V1__Master__Response__GetVersion version;       /* GET_VERSION */
	Mesos__V1__VersionInfo version_info;		       /* its payload */
	char build_date[32];				       /* its build date */
	Mesos__V1__Master__Response__GetMetrics metrics;       /* GET_METRICS */
	Mesos__V1__Master__Response__GetMaster master;	       /* GET_MASTER */
	Mesos__V1__Master__Response__GetState state;	       /* GET_STATE */
	Mesos__V1__Master__Response__GetAgents agents;	       /* GET_AGENTS, GET_STATE */
	Mesos__V1__Master__Response__GetFrameworks frameworks; /* GET_FRAMEWORKS, GET_STATE */
	Mesos__V1__Master__Response__GetExecutors executors;   /* GET_EXECUTORS, GET_STATE */
	Mesos__V1__Master__Response__GetTasks tasks;	       /* GET_TASKS, GET_STATE */
	json_t *flags_json;				       /* parsed flags (GET_FLAGS) */
	void *allocs[16];				       /* arrays to free */
	size_t n_allocs;				       /* how many */
};

/*
 * Builds the answer to call (a GET_* type master_api_reply_supported says
 * yes to) into *r. Returns 0, or -EINVAL with errmsg when the master's own
 * data cannot be answered (its flags are not a JSON object).
 */
int master_api_reply_build(struct master *m, const Mesos__V1__Master__Call *call,
			   struct master_api_reply *r, char *errmsg);
void master_api_reply_free(struct master_api_reply *r);
/*
 * One registered agent as GET_AGENTS shows it (pid left NULL): g is initialised and points into
 * a's tables (valid until the loop turns); registered and drain are storage for its
 * registered_time and drain_info.
 */
struct master_framework;
void master_api_agent_fill(struct master *m, const struct master_agent *a,
			   Mesos__V1__Master__Response__GetAgents__Agent *g,
			   Mesos__V1__TimeInfo *registered, Mesos__V1__DrainInfo *drain);
/* One framework as GET_FRAMEWORKS shows it (points into fw). */
void master_api_framework_fill(const struct master_framework *fw,
			       Mesos__V1__Master__Response__GetFrameworks__Framework *f);
/* True for the call types master_api_reply_build answers. */
bool master_api_reply_supported(Mesos__V1__Master__Call__Type type);

/* Routes of http_state.c, http_metrics.c and http_api_roles.c (GET /roles: Mesos's roles JSON
 * with each role's quota, leader only) (called by master_api_start). */
int master_state_routes(struct master *m, char *errmsg);
int master_roles_routes(struct master *m, char *errmsg);
int master_metrics_routes(struct master *m, char *errmsg);

#endif
