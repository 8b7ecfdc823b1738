/* End to end: a master in process, keel-emu-agents as a child, a test scheduler launching 100
 * tasks over the v1 API and following each to TASK_FINISHED with acknowledgements. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "loop_util.h"
#include "master/master_int.h"
#include "master/registrar.h"
#include "master/tasks.h"
#include "master_fixture.h"
#include "runtime/pbjson.h"
#include "sched_client.h"
#include "test_http_util.h"

#define AGENTS 10
#define TASKS_PER_AGENT 10
#define NTASKS (AGENTS * TASKS_PER_AGENT)
/* One more task, which the emulator keeps running (its ID starts with "emu-never"): the one the
 * test reconciles and kills. Its counts are at index NTASKS. */
#define NEVER_ID "emu-never-1"

/* A task's index in the counts: tN -> N, NEVER_ID -> NTASKS. */
static unsigned task_index(const char *id)
{
	if (strcmp(id, NEVER_ID) == 0)
		return NTASKS;
	ASSERT_TRUE(id[0] == 't');
	return (unsigned)strtoul(id + 1, NULL, 10);
}

/* Starts keel-emu-agents against the master; output to log. Returns its pid. */
static pid_t emu_start(const char *log, uint16_t master_port, const char *end)
{
	const char *bin = getenv("KEEL_EMU_AGENTS");
	char url[64], agents[32], endflag[32];
	pid_t pid;

	if (bin == NULL)
		TH_SKIP("KEEL_EMU_AGENTS not set (run through meson test)");
	snprintf(url, sizeof(url), "--master=static://127.0.0.1:%u", master_port);
	snprintf(agents, sizeof(agents), "--agents=%d", AGENTS);
	snprintf(endflag, sizeof(endflag), "--task_end=%s", end);
	pid = fork();
	ASSERT_INT_GE(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		execl(bin, bin, url, agents, "--task_ms=100ms", "--status_retry=300ms", endflag,
		      (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* The emulator's port from its "emu: listening on 127.0.0.1:<port>" line, or 0. */
static uint16_t emu_port(const char *log)
{
	char buf[4096];
	FILE *fp = fopen(log, "r");
	size_t n = 0;
	const char *p;

	if (fp != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, fp);
		fclose(fp);
	}
	buf[n] = '\0';
	p = strstr(buf, "listening on 127.0.0.1:");
	return p ? (uint16_t)strtoul(p + strlen("listening on 127.0.0.1:"), NULL, 10) : 0;
}

static void emu_stop(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	ASSERT_INT_EQ(waitpid(pid, &st, 0), pid);
	/* A clean exit: no sanitizer report, no leak. */
	ASSERT_TRUE(WIFEXITED(st));
	ASSERT_INT_EQ(WEXITSTATUS(st), 0);
}

/* Acknowledges every update with a uuid from event *next on; counts states per task. */
static void ack_new(struct fx *f, struct master *m, struct sc_stream *s, size_t *next,
		    unsigned counts[][4], unsigned *acks)
{
	char json[1024], uuid[32];
	struct hresp r = {0};

	while (*next < s->n) {
		const Mesos__V1__Scheduler__Event *ev = s->ev[(*next)++];
		const Mesos__V1__TaskStatus *st;
		unsigned idx;
		if (ev->type != MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE)
			continue;
		st = ev->update->status;
		idx = task_index(st->task_id->value);
		ASSERT_UINT_LE(idx, NTASKS);
		if (st->state == MESOS__V1__TASK_STATE__TASK_STARTING)
			counts[idx][0]++;
		else if (st->state == MESOS__V1__TASK_STATE__TASK_RUNNING)
			counts[idx][1]++;
		else if (st->state == MESOS__V1__TASK_STATE__TASK_FINISHED)
			counts[idx][2]++;
		else if (st->state == MESOS__V1__TASK_STATE__TASK_KILLED)
			counts[idx][3]++;
		if (!st->has_uuid)
			continue;
		ASSERT_UINT_EQ(st->uuid.len, 16);
		/* base64 of 16 bytes */
		{
			static const char tbl[] =
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
			const uint8_t *d = st->uuid.data;
			size_t o = 0;
			for (size_t i = 0; i < 15; i += 3) {
				uint32_t v =
				    (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
				uuid[o++] = tbl[v >> 18 & 63];
				uuid[o++] = tbl[v >> 12 & 63];
				uuid[o++] = tbl[v >> 6 & 63];
				uuid[o++] = tbl[v & 63];
			}
			uuid[o++] = tbl[d[15] >> 2];
			uuid[o++] = tbl[(d[15] & 3) << 4];
			uuid[o++] = '=';
			uuid[o++] = '=';
			uuid[o] = '\0';
		}
		snprintf(json, sizeof(json),
			 "{\"type\":\"ACKNOWLEDGE\",\"framework_id\":{\"value\":\"%s\"},"
			 "\"acknowledge\":{\"agent_id\":{\"value\":\"%s\"},\"task_id\":{\"value\":"
			 "\"%s\"},\"uuid\":\"%s\"}}",
			 s->framework_id, st->agent_id->value, st->task_id->value, uuid);
		/* Every other acknowledgement with a chunked body. */
		if (++*acks % 2)
			sc_call_chunked(f, m->port, s, json, &r);
		else
			sc_call(f, m->port, s, json, &r);
		ASSERT_INT_EQ(r.status, 202);
	}
	hresp_free(&r);
}

static unsigned finished(unsigned counts[][4])
{
	unsigned n = 0;

	for (unsigned i = 0; i < AGENTS * TASKS_PER_AGENT; i++)
		n += counts[i][2] > 0;
	return n;
}

/* The reconciliation updates (no uuid, REASON_RECONCILIATION) received so far, all of NEVER_ID. */
static size_t reconciled(const struct sc_stream *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++) {
		const Mesos__V1__TaskStatus *st;
		if (s->ev[i]->type != MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE)
			continue;
		st = s->ev[i]->update->status;
		if (st->reason != MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION)
			continue;
		ASSERT_STR_EQ(st->task_id->value, NEVER_ID);
		ASSERT_INT_EQ(st->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
		ASSERT_FALSE(st->has_uuid);
		n++;
	}
	return n;
}

/*
 * With the 100 tasks done and NEVER_ID running: explicit and implicit reconciliation (both
 * answer NEVER_ID only: the finished tasks are acknowledged and gone), KILL (TASK_KILLED,
 * acknowledged), TEARDOWN (the stream ends, the registry forgets the framework). Calls go
 * chunked and with Content-Length.
 */
static void reconcile_kill_teardown(struct fx *f, struct master *m, struct sc_stream *s,
				    size_t *next, unsigned counts[][4], unsigned *acks)
{
	const Mesos__V1__Scheduler__Event *up =
	    sc_last(s, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE);
	struct hresp r = {0};
	char call[1024], agent[128];

	/* The agent of NEVER_ID, from its RUNNING update. */
	agent[0] = '\0';
	for (size_t i = 0; i < s->n; i++) {
		up = s->ev[i];
		if (up->type == MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE &&
		    strcmp(up->update->status->task_id->value, NEVER_ID) == 0)
			snprintf(agent, sizeof(agent), "%s", up->update->status->agent_id->value);
	}
	ASSERT_TRUE(agent[0] != '\0');
	snprintf(call, sizeof(call),
		 "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"%s\"},\"reconcile\":{"
		 "\"tasks\":[{\"task_id\":{\"value\":\"" NEVER_ID "\"},\"agent_id\":{\"value\":"
		 "\"%s\"}}]}}",
		 s->framework_id, agent);
	sc_call_chunked(f, m->port, s, call, &r);
	ASSERT_INT_EQ(r.status, 202);
	ASSERT_TRUE(RUN_UNTIL(f->loop, reconciled(s) == 1, 10000));
	snprintf(call, sizeof(call),
		 "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"%s\"},\"reconcile\":{}}",
		 s->framework_id);
	sc_call(f, m->port, s, call, &r);
	ASSERT_INT_EQ(r.status, 202);
	ASSERT_TRUE(RUN_UNTIL(f->loop, reconciled(s) == 2, 10000));

	snprintf(call, sizeof(call),
		 "{\"type\":\"KILL\",\"framework_id\":{\"value\":\"%s\"},\"kill\":{"
		 "\"task_id\":{\"value\":\"" NEVER_ID "\"},\"agent_id\":{\"value\":\"%s\"}}}",
		 s->framework_id, agent);
	sc_call_chunked(f, m->port, s, call, &r);
	ASSERT_INT_EQ(r.status, 202);
	for (int round = 0; round < 200 && counts[NTASKS][3] == 0; round++) {
		RUN_UNTIL(f->loop, s->n > *next, 100);
		ack_new(f, m, s, next, counts, acks);
	}
	ASSERT_UINT_EQ(counts[NTASKS][3], 1);
	ASSERT_UINT_EQ(reconciled(s), 2); /* nothing else answered the implicit one */

	snprintf(call, sizeof(call), "{\"type\":\"TEARDOWN\",\"framework_id\":{\"value\":\"%s\"}}",
		 s->framework_id);
	sc_call_chunked(f, m->port, s, call, &r);
	ASSERT_INT_EQ(r.status, 202);
	ASSERT_TRUE(RUN_UNTIL(f->loop, s->done, 10000));
	ASSERT_TRUE(
	    RUN_UNTIL(f->loop, registrar_framework(m->registrar, s->framework_id) == NULL, 10000));
	hresp_free(&r);
}

static void launch_case(bool protobuf)
{
	struct fx f;
	struct master_config c;
	struct master *m;
	struct sc_stream s;
	static unsigned counts[NTASKS + 1][4];
	char log[600], *json;
	size_t next = 0, offers_seen = 0;
	unsigned launched = 0, acks = 0;
	bool never_sent = false;
	pid_t emu;
	json_t *st;

	memset(counts, 0, sizeof(counts));
	fx_init(&f);
	fx_config(&f, &c, true, NULL);
	c.allocation_interval_ms = 50;
	c.heartbeat_interval_ms = 60000;
	m = fx_master(&f, &c);
	fx_wait_leading(&f, m);
	snprintf(log, sizeof(log), "%s/emu.log", f.tmp);
	emu = emu_start(log, m->port, "finished");
	ASSERT_TRUE(
	    RUN_UNTIL(f.loop, master_agents_count(m, MASTER_AGENT_ACTIVE) == AGENTS, 20000));
	sc_subscribe(&f, m->port, "{\"user\":\"alice\",\"name\":\"e2e\"}", protobuf, &s);
	sc_wait_subscribed(&f, &s);

	json = malloc(1 << 16);
	ASSERT_NOT_NULL(json);
	while (launched < AGENTS * TASKS_PER_AGENT) {
		ASSERT_TRUE(RUN_UNTIL(
		    f.loop, sc_count(&s, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS) > offers_seen,
		    10000));
		for (size_t i = 0; i < s.n; i++) {
			const Mesos__V1__Scheduler__Event *ev = s.ev[i];
			if (ev->type != MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS)
				continue;
			if (offers_seen-- > 0)
				continue;
			for (size_t j = 0; j < ev->offers->n_offers; j++) {
				const Mesos__V1__Offer *o = ev->offers->offers[j];
				struct hresp r = {0};
				size_t n = 0;
				n += (size_t)snprintf(
				    json + n, (1 << 16) - n,
				    "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},"
				    "\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":"
				    "[{"
				    "\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[",
				    s.framework_id, o->id->value);
				for (int k = 0;
				     k < TASKS_PER_AGENT && launched < AGENTS * TASKS_PER_AGENT;
				     k++, launched++)
					n += (size_t)snprintf(
					    json + n, (1 << 16) - n,
					    "%s{\"name\":\"t\",\"task_id\":{\"value\":\"t%u\"},"
					    "\"agent_id\":{\"value\":\"%s\"},\"command\":{"
					    "\"value\":"
					    "\"true\"},\"resources\":[{\"name\":\"cpus\",\"type\":"
					    "\"SCALAR\",\"scalar\":{\"value\":0.1}},{\"name\":"
					    "\"mem\","
					    "\"type\":\"SCALAR\",\"scalar\":{\"value\":32}}]}",
					    k ? "," : "", launched, o->agent_id->value);
				if (!never_sent) {
					never_sent = true;
					n += (size_t)snprintf(
					    json + n, (1 << 16) - n,
					    ",{\"name\":\"n\",\"task_id\":{\"value\":\"" NEVER_ID
					    "\"},\"agent_id\":{\"value\":\"%s\"},\"command\":{"
					    "\"value\":\"sleep 1000\"},\"resources\":[{\"name\":"
					    "\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0."
					    "1}}]}",
					    o->agent_id->value);
				}
				snprintf(json + n, (1 << 16) - n, "]}}]}}");
				sc_call(&f, m->port, &s, json, &r);
				ASSERT_INT_EQ(r.status, 202);
				hresp_free(&r);
			}
		}
		offers_seen = sc_count(&s, MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS);
	}
	free(json);
	/* Every task: STARTING, RUNNING, FINISHED, each acknowledged. */
	for (int round = 0; round < 2000 && finished(counts) < AGENTS * TASKS_PER_AGENT; round++) {
		RUN_UNTIL(f.loop, s.n > next, 100);
		ack_new(&f, m, &s, &next, counts, &acks);
	}
	ASSERT_UINT_EQ(finished(counts), AGENTS * TASKS_PER_AGENT);
	for (unsigned i = 0; i < AGENTS * TASKS_PER_AGENT; i++) {
		ASSERT_UINT_GE(counts[i][0], 1);
		ASSERT_UINT_GE(counts[i][1], 1);
	}
	ASSERT_UINT_GE(counts[NTASKS][1], 1); /* the task that never ends is RUNNING */
	ASSERT_UINT_EQ(counts[NTASKS][2], 0);
	ASSERT_TRUE(RUN_UNTIL(f.loop, master_tasks_count(m) == 1, 10000));
	reconcile_kill_teardown(&f, m, &s, &next, counts, &acks);
	ASSERT_UINT_GT(acks, 0);
	ASSERT_TRUE(RUN_UNTIL(f.loop, master_tasks_count(m) == 0, 10000));
	/* The emulator agrees: 100 finished, one killed, every update acknowledged. */
	{
		uint16_t eport = emu_port(log);
		json_t *tasks = NULL;
		bool done = false;
		ASSERT_UINT_GT(eport, 0);
		for (int i = 0; i < 200 && !done; i++) {
			st = hget_json(&f, eport, "/emu/status");
			tasks = json_object_get(st, "tasks");
			done = json_integer_value(json_object_get(tasks, "live")) == 0;
			if (done) {
				ASSERT_INT_EQ(
				    json_integer_value(json_object_get(tasks, "TASK_FINISHED")),
				    AGENTS * TASKS_PER_AGENT);
				ASSERT_INT_EQ(json_integer_value(json_object_get(tasks, "bad")), 0);
				ASSERT_INT_EQ(
				    json_integer_value(json_object_get(tasks, "TASK_KILLED")), 1);
			}
			json_decref(st);
			if (!done)
				RUN_UNTIL(f.loop, false, 50);
		}
		ASSERT_TRUE(done);
	}
	emu_stop(emu);
	sc_close(&s);
	master_free(m, 0);
	fx_fini(&f);
}

TEST(hundred_tasks_on_emulated_agents_json)
{
	launch_case(false);
}

TEST(hundred_tasks_on_emulated_agents_protobuf)
{
	launch_case(true);
}
