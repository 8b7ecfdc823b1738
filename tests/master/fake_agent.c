/* A fake agent for the scheduler API tests: one table of master-to-agent routes. */
#include "fake_agent.h"

#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "master/master.h"
#include "test_http_util.h"
#include "runtime/http_server.h"
#include "runtime/pbjson.h"

static void record_run(struct fake_agent *a, const ProtobufCMessage *msg)
{
	const Keel__Agent__RunTask *rt = (const Keel__Agent__RunTask *)msg;

	a->run++;
	snprintf(a->last_run_task, sizeof(a->last_run_task), "%s",
		 rt->task != NULL ? rt->task->task_id->value : "");
	a->last_group_n = rt->task_group != NULL ? rt->task_group->n_tasks : 0;
	snprintf(a->last_executor, sizeof(a->last_executor), "%s",
		 rt->executor != NULL ? rt->executor->executor_id->value : "");
}

static void record_kill(struct fake_agent *a, const ProtobufCMessage *msg)
{
	const Keel__Agent__KillTask *kt = (const Keel__Agent__KillTask *)msg;

	a->kill++;
	snprintf(a->last_kill, sizeof(a->last_kill), "%s", kt->task_id->value);
	a->last_kill_grace = kt->kill_policy && kt->kill_policy->grace_period
				 ? kt->kill_policy->grace_period->nanoseconds
				 : -1;
}

static void record_ack(struct fake_agent *a, const ProtobufCMessage *msg)
{
	const Keel__Agent__StatusAck *sa = (const Keel__Agent__StatusAck *)msg;

	a->ack++;
	a->last_ack_len = sa->uuid.len < sizeof(a->last_ack) ? sa->uuid.len : sizeof(a->last_ack);
	memcpy(a->last_ack, sa->uuid.data, a->last_ack_len);
}

static void record_shutdown_fw(struct fake_agent *a, const ProtobufCMessage *msg)
{
	(void)msg;
	a->shutdown_fw++;
}

static void record_message(struct fake_agent *a, const ProtobufCMessage *msg)
{
	const Keel__Agent__FrameworkMessage *fm = (const Keel__Agent__FrameworkMessage *)msg;

	a->messages++;
	snprintf(a->msg_executor, sizeof(a->msg_executor), "%s", fm->executor_id->value);
	snprintf(a->msg_data, sizeof(a->msg_data), "%.*s", (int)fm->data.len,
		 (const char *)fm->data.data);
	snprintf(a->msg_framework, sizeof(a->msg_framework), "%s", fm->framework_id->value);
}

/* The routes: path, message type, what to record. */
static const struct fake_route {
	const char *path;			/* POSTed by the master */
	const ProtobufCMessageDescriptor *desc; /* its body */
	void (*record)(struct fake_agent *a, const ProtobufCMessage *msg); /* on a decoded body */
} routes[FAKE_AGENT_ROUTES] = {
    {"/internal/master/run_task", &keel__agent__run_task__descriptor, record_run},
    {"/internal/master/kill_task", &keel__agent__kill_task__descriptor, record_kill},
    {"/internal/master/ack", &keel__agent__status_ack__descriptor, record_ack},
    {"/internal/master/shutdown_framework", &keel__agent__shutdown_framework__descriptor,
     record_shutdown_fw},
    {"/internal/master/framework_message", &keel__agent__framework_message__descriptor,
     record_message},
};

static void on_message(struct keel_http_req *req, void *arg)
{
	struct fake_agent_binding *b = arg;
	struct fake_agent *a = b->agent;
	const struct fake_route *r = &routes[b->route];
	ProtobufCMessage *msg = NULL;
	const char *body;
	size_t len;

	if (r->record == record_run && a->fail_run > 0) {
		a->fail_run--;
		a->refused_run++;
		keel_http_respond_text(req, 503, "not now");
		return;
	}
	body = keel_http_req_body(req, &len);
	if (keel_pbjson_unpack(r->desc, body, len, &msg, NULL) < 0) {
		a->bad++;
	} else {
		r->record(a, msg);
		keel_pbjson_free(msg);
	}
	keel_http_respond(req, 202, NULL, NULL, NULL, 0);
}

void fake_agent_routes(struct fx *f, struct fake_agent *a)
{
	memset(a, 0, sizeof(*a));
	for (unsigned i = 0; i < FAKE_AGENT_ROUTES; i++) {
		a->bind[i].agent = a;
		a->bind[i].route = i;
		ASSERT_OK(keel_http_server_route(f->agent, KEEL_HTTP_POST, routes[i].path,
						 on_message, &a->bind[i]));
	}
}

void fake_agent_update(struct fx *f, struct master *m, const char *agent, const char *fid,
		       const char *task, Mesos__V1__TaskState state, uint8_t b, int expect)
{
	Keel__Agent__StatusUpdate su = KEEL__AGENT__STATUS_UPDATE__INIT;
	Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__FrameworkID fw = MESOS__V1__FRAMEWORK_ID__INIT;
	uint8_t uuid[16], buf[1024];
	struct fx_resp r;
	size_t len;

	memset(uuid, b, sizeof(uuid));
	tid.value = (char *)task;
	aid.value = (char *)agent;
	fw.value = (char *)fid;
	st.task_id = &tid;
	st.state = state;
	st.agent_id = &aid;
	st.has_source = true;
	st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_AGENT;
	st.has_uuid = true;
	st.uuid.data = uuid;
	st.uuid.len = 16;
	st.has_timestamp = true;
	st.timestamp = 1.5;
	su.agent_id = &aid;
	su.framework_id = &fw;
	su.status = &st;
	len = keel__agent__status_update__pack(&su, buf);
	fx_post(f, m->port, "POST", "/internal/agent/status", buf, len, &r);
	ASSERT_INT_EQ(r.status, expect);
}

void fake_agent_reregister(struct fx *f, struct master *m, const char *id, const char *host,
			   const char *fid, const char *task)
{
	Keel__Agent__ReregisterAgent msg = KEEL__AGENT__REREGISTER_AGENT__INIT;
	Mesos__V1__Address addr = MESOS__V1__ADDRESS__INIT;
	Mesos__V1__AgentInfo *info = rich_agent_info(host);
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__Task t = MESOS__V1__TASK__INIT, *tp = &t;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__FrameworkID fw = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__Resource r = MESOS__V1__RESOURCE__INIT, *rp = &r;
	Mesos__V1__Value__Scalar sc = MESOS__V1__VALUE__SCALAR__INIT;
	struct hresp out = {0};
	uint8_t buf[8192];
	size_t len;

	aid.value = (char *)id;
	info->id = &aid;
	addr.hostname = (char *)host;
	addr.ip = "127.0.0.1";
	addr.port = f->agent_port;
	tid.value = (char *)task;
	fw.value = (char *)fid;
	sc.value = 1;
	r.name = "cpus";
	r.type = MESOS__V1__VALUE__TYPE__SCALAR;
	r.scalar = &sc;
	t.name = (char *)task;
	t.task_id = &tid;
	t.framework_id = &fw;
	t.agent_id = &aid;
	t.state = MESOS__V1__TASK_STATE__TASK_RUNNING;
	t.n_resources = 1;
	t.resources = &rp;
	msg.info = info;
	msg.address = &addr;
	msg.key = (char *)host;
	msg.n_tasks = 1;
	msg.tasks = &tp;
	len = keel__agent__reregister_agent__get_packed_size(&msg);
	ASSERT_UINT_LE(len, sizeof(buf));
	keel__agent__reregister_agent__pack(&msg, buf);
	hcall(f, m->port, "POST", "/internal/agent/reregister", "application/x-protobuf", NULL, buf,
	      len, &out);
	ASSERT_INT_EQ(out.status, 200);
	info->id = NULL;
	keel_pbjson_free(&info->base);
	hresp_free(&out);
}
