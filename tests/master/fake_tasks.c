/* The task side of the fixture's fake agent: RunTask/KillTask logged, status updates sent. */
#include "fake_tasks.h"

#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "proto/keel/internal/agent.pb-c.h"
#include "runtime/http_server.h"
#include "runtime/pbjson.h"

static void on_run(struct keel_http_req *req, void *arg)
{
	struct ft_log *l = arg;

	l->run++;
	keel_http_respond(req, 202, NULL, NULL, NULL, 0);
}

static void on_kill(struct keel_http_req *req, void *arg)
{
	struct ft_log *l = arg;
	size_t len;
	const char *b = keel_http_req_body(req, &len);
	Keel__Agent__KillTask *kt = NULL;

	if (keel_pbjson_unpack(&keel__agent__kill_task__descriptor, b, len,
			       (ProtobufCMessage **)&kt, NULL) < 0) {
		l->bad++;
	} else {
		l->kill++;
		snprintf(l->last_kill, sizeof(l->last_kill), "%s", kt->task_id->value);
		l->last_kill_grace = kt->kill_policy && kt->kill_policy->grace_period
					 ? kt->kill_policy->grace_period->nanoseconds
					 : -1;
		keel_pbjson_free(&kt->base);
	}
	keel_http_respond(req, 202, NULL, NULL, NULL, 0);
}

static void on_other(struct keel_http_req *req, void *arg)
{
	struct ft_log *l = arg;

	l->other++;
	keel_http_respond(req, 202, NULL, NULL, NULL, 0);
}

void ft_routes(struct fx *f, struct ft_log *l)
{
	memset(l, 0, sizeof(*l));
	ASSERT_OK(keel_http_server_route(f->agent, KEEL_HTTP_POST, "/internal/master/run_task",
					 on_run, l));
	ASSERT_OK(keel_http_server_route(f->agent, KEEL_HTTP_POST, "/internal/master/kill_task",
					 on_kill, l));
	ASSERT_OK(
	    keel_http_server_route(f->agent, KEEL_HTTP_POST, "/internal/master/ack", on_other, l));
	ASSERT_OK(keel_http_server_route(f->agent, KEEL_HTTP_POST,
					 "/internal/master/shutdown_framework", on_other, l));
}

void ft_update(struct fx *f, struct master *m, const char *agent, const char *fid, const char *task,
	       Mesos__V1__TaskState state, uint8_t b)
{
	Keel__Agent__StatusUpdate su = KEEL__AGENT__STATUS_UPDATE__INIT;
	Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	Mesos__V1__FrameworkID fw = MESOS__V1__FRAMEWORK_ID__INIT;
	uint8_t uuid[16], buf[1024];
	struct fx_resp r;

	memset(uuid, b, sizeof(uuid));
	tid.value = (char *)task;
	aid.value = (char *)agent;
	fw.value = (char *)fid;
	st.task_id = &tid;
	st.state = state;
	st.agent_id = &aid;
	st.has_source = true;
	st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
	st.has_uuid = true;
	st.uuid.data = uuid;
	st.uuid.len = sizeof(uuid);
	su.agent_id = &aid;
	su.framework_id = &fw;
	su.status = &st;
	fx_post(f, m->port, "POST", "/internal/agent/status", buf,
		keel__agent__status_update__pack(&su, buf), &r);
	ASSERT_INT_EQ(r.status, 202);
}

void ft_reregister_task(struct fx *f, struct master *m, const char *id, const char *host,
			const char *fid, const char *task)
{
	char json[2048], res4[128], res1[128], errmsg[KEEL_ERRMSG_SIZE];
	ProtobufCMessage *msg = NULL;
	uint8_t buf[4096];
	struct fx_resp r;
	size_t len;

#define CPUS_JSON "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":%d}}"
	snprintf(res4, sizeof(res4), CPUS_JSON, 4);
	snprintf(res1, sizeof(res1), CPUS_JSON, 1);
#undef CPUS_JSON
	snprintf(
	    json, sizeof(json),
	    "{\"info\":{\"id\":{\"value\":\"%s\"},\"hostname\":\"%s\",\"resources\":[%s]},"
	    "\"address\":{\"hostname\":\"%s\",\"ip\":\"127.0.0.1\",\"port\":%u},\"key\":\"%s\","
	    "\"tasks\":[{\"name\":\"%s\",\"task_id\":{\"value\":\"%s\"},\"framework_id\":{"
	    "\"value\":\"%s\"},\"agent_id\":{\"value\":\"%s\"},\"state\":\"TASK_RUNNING\","
	    "\"resources\":[%s]}]}",
	    id, host, res4, host, (unsigned)f->agent_port, host, task, task, fid, id, res1);
	if (keel_pbjson_read(&keel__agent__reregister_agent__descriptor, json, strlen(json), &msg,
			     errmsg) < 0) {
		fprintf(stderr, "bad ReregisterAgent %s: %s\n", json, errmsg);
		ASSERT_TRUE(false);
	}
	len = protobuf_c_message_get_packed_size(msg);
	ASSERT_UINT_LE(len, sizeof(buf));
	protobuf_c_message_pack(msg, buf);
	keel_pbjson_free(msg);
	fx_post(f, m->port, "POST", "/internal/agent/reregister", buf, len, &r);
	ASSERT_INT_EQ(r.status, 200);
}
