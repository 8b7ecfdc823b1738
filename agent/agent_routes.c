/* The master -> agent routes: ping, shutdown, run_task, kill_task, ack, shutdown_framework,
 * framework_message. */
#include <errno.h>
#include <string.h>

#include "agent/agent_int.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"

/* Unpacks the body of req as d; answers 400 and returns NULL when it is malformed. */
static ProtobufCMessage *routes_unpack(struct keel_http_req *req,
				       const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = NULL;
	char errmsg[KEEL_ERRMSG_SIZE];
	size_t len;
	const char *body = keel_http_req_body(req, &len);

	if (keel_pbjson_unpack(d, body, len, &m, errmsg) < 0) {
		keel_http_respond_text(req, 400, errmsg);
		return NULL;
	}
	return m;
}

/* 0 when the message is for this agent under the current leader; else answered. */
static int routes_check(struct agent *a, struct keel_http_req *req, const char *agent_id,
			uint64_t epoch)
{
	if (agent_master_check_epoch(a, req, epoch) < 0)
		return -1;
	if (!a->agent_id || strcmp(agent_id, a->agent_id) != 0) {
		keel_http_respond_text(req, 404, "no such agent here");
		return -1;
	}
	return 0;
}

static void routes_ping(struct keel_http_req *req, void *arg)
{
	struct agent *a = arg;
	Keel__Agent__Ping *p =
	    (Keel__Agent__Ping *)routes_unpack(req, &keel__agent__ping__descriptor);
	Keel__Agent__Pong pong = KEEL__AGENT__PONG__INIT;
	uint8_t buf[256];
	size_t n;

	if (!p)
		return;
	if (routes_check(a, req, p->agent_id->value, p->epoch) == 0) {
		a->n_pings++;
		agent_master_pinged(a);
		pong.agent_id = p->agent_id;
		n = keel__agent__pong__get_packed_size(&pong);
		if (n <= sizeof(buf)) {
			keel__agent__pong__pack(&pong, buf);
			keel_http_respond(req, 200, "application/x-protobuf", NULL, buf, n);
		} else {
			keel_http_respond_text(req, 400, "agent ID too long");
		}
		/* The master thinks we are not registered: register again (as Mesos does). */
		if (!p->connected)
			agent_master_reregister(a);
	}
	keel_pbjson_free(&p->base);
}

static void routes_shutdown(struct keel_http_req *req, void *arg)
{
	struct agent *a = arg;
	Keel__Agent__ShutdownAgent *m = (Keel__Agent__ShutdownAgent *)routes_unpack(
	    req, &keel__agent__shutdown_agent__descriptor);

	if (!m)
		return;
	if (routes_check(a, req, m->agent_id->value, m->epoch) == 0) {
		keel_http_respond(req, 204, NULL, NULL, NULL, 0);
		agent_shutdown(a, m->message ? m->message : "the master asked");
	}
	keel_pbjson_free(&m->base);
}

static void routes_run_task(struct keel_http_req *req, void *arg)
{
	struct agent *a = arg;
	Keel__Agent__RunTask *m =
	    (Keel__Agent__RunTask *)routes_unpack(req, &keel__agent__run_task__descriptor);
	char errmsg[KEEL_ERRMSG_SIZE];

	if (!m)
		return;
	if (routes_check(a, req, m->agent_id->value, m->epoch) < 0) {
		keel_pbjson_free(&m->base);
		return;
	}
	if (!m->framework->id) {
		keel_http_respond_text(req, 400, "framework.id missing");
		keel_pbjson_free(&m->base);
		return;
	}
	/* agent_task_run owns m from here, whatever it returns. */
	if (agent_task_run(a, m, errmsg) < 0)
		keel_http_respond_text(req, 500, errmsg);
	else
		keel_http_respond(req, 202, NULL, NULL, NULL, 0);
}

static void routes_kill_task(struct keel_http_req *req, void *arg)
{
	struct agent *a = arg;
	Keel__Agent__KillTask *m =
	    (Keel__Agent__KillTask *)routes_unpack(req, &keel__agent__kill_task__descriptor);

	if (!m)
		return;
	if (routes_check(a, req, m->agent_id->value, m->epoch) == 0) {
		agent_task_kill(a, m->framework_id->value, m->task_id->value, m->kill_policy);
		keel_http_respond(req, 202, NULL, NULL, NULL, 0);
	}
	keel_pbjson_free(&m->base);
}

static void routes_ack(struct keel_http_req *req, void *arg)
{
	struct agent *a = arg;
	Keel__Agent__StatusAck *m =
	    (Keel__Agent__StatusAck *)routes_unpack(req, &keel__agent__status_ack__descriptor);

	if (!m)
		return;
	if (routes_check(a, req, m->agent_id->value, m->epoch) == 0) {
		agent_update_ack(a, m->framework_id->value, m->task_id->value, m->uuid.data,
				 m->uuid.len);
		keel_http_respond(req, 202, NULL, NULL, NULL, 0);
	}
	keel_pbjson_free(&m->base);
}

static void routes_shutdown_framework(struct keel_http_req *req, void *arg)
{
	struct agent *a = arg;
	Keel__Agent__ShutdownFramework *m = (Keel__Agent__ShutdownFramework *)routes_unpack(
	    req, &keel__agent__shutdown_framework__descriptor);

	if (!m)
		return;
	if (routes_check(a, req, m->agent_id->value, m->epoch) == 0) {
		agent_framework_shutdown(a, m->framework_id->value);
		keel_http_respond(req, 202, NULL, NULL, NULL, 0);
	}
	keel_pbjson_free(&m->base);
}

/* keel runs command tasks only, which take no framework messages: logged and dropped, as
 * Mesos drops a message for an executor that is not there. */
static void routes_framework_message(struct keel_http_req *req, void *arg)
{
	struct agent *a = arg;
	Keel__Agent__FrameworkMessage *m = (Keel__Agent__FrameworkMessage *)routes_unpack(
	    req, &keel__agent__framework_message__descriptor);

	if (!m)
		return;
	if (routes_check(a, req, m->agent_id->value, m->epoch) == 0) {
		KEEL_WARN("agent",
			  "dropping a framework message (%zu bytes) of framework %s for executor "
			  "'%s': command tasks take no messages",
			  m->data.len, m->framework_id->value, m->executor_id->value);
		keel_http_respond(req, 202, NULL, NULL, NULL, 0);
	}
	keel_pbjson_free(&m->base);
}

int agent_routes_add(struct agent *a)
{
	static const struct {
		const char *path;	   /* route */
		keel_http_handler handler; /* its handler */
	} routes[] = {
	    {"/internal/master/ping", routes_ping},
	    {"/internal/master/shutdown", routes_shutdown},
	    {"/internal/master/run_task", routes_run_task},
	    {"/internal/master/kill_task", routes_kill_task},
	    {"/internal/master/ack", routes_ack},
	    {"/internal/master/shutdown_framework", routes_shutdown_framework},
	    {"/internal/master/framework_message", routes_framework_message},
	};
	int rv;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if ((rv = keel_http_server_route(a->server, KEEL_HTTP_POST, routes[i].path,
						 routes[i].handler, a)) < 0)
			return rv;
	return 0;
}
