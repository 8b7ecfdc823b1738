/* The agent's side of register/reregister: leader detection, retries with backoff, epochs. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent_int.h"
#include "runtime/alloc.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"
#include "runtime/util.h"

#define AGENT_REG_BACKOFF_MAX_MS 10000 /* registration retries back off up to this */
#define AGENT_PING_TIMEOUT_MS 15000    /* the master's ping interval when it does not say */
#define AGENT_PING_MISSES 2	       /* pings missed in a row before re-registering */

/* One (re)registration in flight; void when gen is no longer the agent's. */
struct master_req {
	struct agent *agent; /* owner */
	uint64_t gen;	     /* leader generation it was sent under */
	bool reregister;     /* ReregisterAgent (else RegisterAgent) */
};

static void master_send(struct agent *a);

static void master_retry(struct agent *a)
{
	uint64_t ms = a->reg_backoff_ms;

	a->reg_backoff_ms = KEEL_MIN(a->reg_backoff_ms * 2, AGENT_REG_BACKOFF_MAX_MS);
	keel_timer_start(a->reg_timer, ms, 0);
}

static void master_on_retry(struct keel_timer *t, void *arg)
{
	master_send(arg);
}

/* Adopts the agent ID from an answer: checkpointed before anything relies on it. */
static int master_adopt_id(struct agent *a, const char *id)
{
	char *copy;

	if (a->agent_id && strcmp(a->agent_id, id) == 0)
		return 0;
	if (!(copy = keel_strdup(id)))
		return -ENOMEM;
	if (agent_store_put(a->store, "agent/id", id, strlen(id), a->errmsg) < 0 ||
	    agent_store_commit(a->store, a->errmsg) < 0) {
		keel_free(copy);
		return -EIO;
	}
	keel_free(a->agent_id);
	a->agent_id = copy;
	return 0;
}

static void master_on_done(int err, const struct keel_http_response *resp, void *arg)
{
	struct master_req *rq = arg;
	struct agent *a = rq->agent;
	Keel__Agent__AgentRegistered *ok = NULL;

	if (rq->gen != a->gen || a->done) {
		keel_free(rq);
		return;
	}
	a->registering = false;
	if (err == 0 && resp->status == 200 &&
	    keel_pbjson_unpack(&keel__agent__agent_registered__descriptor, resp->body,
			       resp->body_len, (ProtobufCMessage **)&ok, NULL) == 0) {
		if (master_adopt_id(a, ok->agent_id->value) < 0) {
			KEEL_ERROR("agent", "cannot checkpoint the agent ID: %s", a->errmsg);
			master_retry(a);
		} else {
			a->epoch = ok->epoch;
			a->reg_backoff_ms = a->register_backoff_ms;
			if (rq->reregister)
				a->n_reregistered++;
			else
				a->n_registered++;
			KEEL_INFO("agent", "%s with %s as %s (epoch %" PRIu64 ")",
				  rq->reregister ? "reregistered" : "registered", a->leader,
				  a->agent_id, a->epoch);
			a->ping_watch_ms = (ok->has_ping_timeout_ms && ok->ping_timeout_ms > 0
						? ok->ping_timeout_ms
						: AGENT_PING_TIMEOUT_MS) *
					   (uint64_t)AGENT_PING_MISSES;
			agent_master_pinged(a);
			agent_updates_resume(a);
		}
		keel_pbjson_free(&ok->base);
	} else if (err == 0 && resp->status == 410) {
		agent_shutdown(a, "the master says this agent is gone (410)");
	} else {
		KEEL_WARN("agent", "%s with %s failed: %s %d; retrying in %" PRIu64 " ms",
			  rq->reregister ? "reregistration" : "registration", a->leader,
			  err ? strerror(-err) : "status", err ? err : resp->status,
			  a->reg_backoff_ms);
		master_retry(a);
	}
	keel_free(rq);
}

/* Sends a RegisterAgent (no ID yet) or ReregisterAgent to the current leader. */
static void master_send(struct agent *a)
{
	static const struct keel_http_client_cbs cbs = {.on_done = master_on_done};
	Mesos__V1__Address addr = MESOS__V1__ADDRESS__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	struct keel_buf body = KEEL_BUF_INIT;
	struct master_req *rq;
	size_t len;
	int rv;

	if (!a->client || a->registering || a->done)
		return;
	addr.hostname = a->info->hostname;
	addr.ip = a->ip;
	addr.port = a->info->port;
	if (!(rq = keel_malloc(sizeof(*rq))))
		goto fail;
	*rq = (struct master_req){.agent = a, .gen = a->gen, .reregister = a->agent_id != NULL};
	if (rq->reregister) {
		Keel__Agent__ReregisterAgent m = KEEL__AGENT__REREGISTER_AGENT__INIT;

		aid.value = a->agent_id;
		a->info->id = &aid;
		m.info = a->info;
		m.address = &addr;
		m.key = a->key;
		m.version = "keel-agent";
		if (agent_tasks_fill(a, &m) < 0) {
			a->info->id = NULL;
			keel_free(rq);
			goto fail;
		}
		len = keel__agent__reregister_agent__get_packed_size(&m);
		if ((rv = keel_buf_reserve(&body, len)) == 0) {
			keel__agent__reregister_agent__pack(&m, (uint8_t *)keel_buf_wptr(&body));
			keel_buf_commit(&body, len);
		}
		agent_tasks_fill_free(&m);
		a->info->id = NULL;
	} else {
		Keel__Agent__RegisterAgent m = KEEL__AGENT__REGISTER_AGENT__INIT;

		m.info = a->info;
		m.address = &addr;
		m.key = a->key;
		m.version = "keel-agent";
		len = keel__agent__register_agent__get_packed_size(&m);
		if ((rv = keel_buf_reserve(&body, len)) == 0) {
			keel__agent__register_agent__pack(&m, (uint8_t *)keel_buf_wptr(&body));
			keel_buf_commit(&body, len);
		}
	}
	if (rv < 0 || keel_http_client_request(a->client, "POST",
					       rq->reregister ? "/internal/agent/reregister"
							      : "/internal/agent/register",
					       NULL, "application/x-protobuf", keel_buf_rptr(&body),
					       keel_buf_size(&body), &cbs, rq) < 0) {
		keel_free(rq);
		keel_buf_free(&body);
		goto fail;
	}
	keel_buf_free(&body);
	a->registering = true;
	return;
fail:
	KEEL_ERROR("agent", "cannot send a registration (out of memory); retrying");
	master_retry(a);
}

/* Forgets the current leader: its answers are void from now on. */
static void master_drop(struct agent *a)
{
	struct keel_http_client *c = a->client;

	a->gen++;
	a->client = NULL;
	a->epoch = 0;
	a->registering = false;
	keel_timer_stop(a->reg_timer);
	if (a->ping_timer) /* NULL when its allocation failed at start */
		keel_timer_stop(a->ping_timer);
	keel_http_client_free(c); /* callbacks see a stale generation */
}

void agent_master_reregister(struct agent *a)
{
	if (!a->client || a->done)
		return;
	/* A fresh generation so that an answer in flight from before does not count. */
	a->gen++;
	a->epoch = 0;
	a->registering = false;
	keel_timer_stop(a->reg_timer);
	master_send(a);
}

void agent_master_pinged(struct agent *a)
{
	if (a->ping_watch_ms > 0 && a->ping_timer)
		keel_timer_start(a->ping_timer, a->ping_watch_ms, 0);
}

/*
 * No ping from the leader we registered with for AGENT_PING_MISSES of its ping
 * intervals: it may have marked us unreachable (a partition) and stopped pinging,
 * so register again (as a Mesos agent does after its master ping timeout). Retries
 * back off until the leader answers; its answer re-arms this watchdog.
 */
static void master_on_ping_timeout(struct keel_timer *t, void *arg)
{
	struct agent *a = arg;

	(void)t;
	if (a->done || !a->client || a->registering)
		return;
	KEEL_WARN("agent", "no ping from %s in %" PRIu64 " ms: re-registering", a->leader,
		  a->ping_watch_ms);
	agent_master_reregister(a);
}

static void master_on_leader(struct coord_detector *d, const struct coord_leader *l, void *arg)
{
	struct agent *a = arg;
	const Mesos__V1__MasterInfo *mi = l->info;
	char errmsg[KEEL_ERRMSG_SIZE];
	const char *host;
	uint16_t port;

	if (a->done)
		return;
	if (l->present && mi && l->epoch == a->detected_epoch && a->client)
		return;
	master_drop(a);
	a->leader[0] = '\0';
	a->detected_epoch = 0;
	if (!l->present || !mi) {
		KEEL_WARN("agent", "no leading master (%s)",
			  l->message && *l->message ? l->message : "none");
		return;
	}
	host = mi->address && mi->address->ip ? mi->address->ip : mi->hostname;
	port = (uint16_t)(mi->address ? mi->address->port : (int32_t)mi->port);
	if (!host || keel_http_client_new(a->loop, host, port, NULL, &a->client, errmsg) < 0) {
		KEEL_ERROR("agent", "cannot reach the leading master: %s",
			   host ? errmsg : "no address in its MasterInfo");
		return;
	}
	snprintf(a->leader, sizeof(a->leader), "%s:%u", host, port);
	a->detected_epoch = l->epoch;
	a->reg_backoff_ms = a->register_backoff_ms;
	KEEL_INFO("agent", "leading master %s (epoch %" PRIu64 ")", a->leader, l->epoch);
	master_send(a);
}

int agent_master_start(struct agent *a, const char *master, char *errmsg)
{
	char url[512];
	int rv;

	if (strstr(master, "://"))
		snprintf(url, sizeof(url), "%s", master);
	else
		snprintf(url, sizeof(url), "static://%s", master);
	if ((rv = keel_timer_new(a->loop, master_on_retry, a, &a->reg_timer)) < 0 ||
	    (rv = keel_timer_new(a->loop, master_on_ping_timeout, a, &a->ping_timer)) < 0)
		return keel_errf(errmsg, rv, "out of memory");
	if ((rv = coord_open(a->loop, url, NULL, &a->coord, errmsg)) < 0)
		return keel_errwrap(errmsg, rv, "--master=%s", master);
	if ((rv = coord_detect(a->coord, COORD_DETECT_MASTER_INFO, master_on_leader, a,
			       &a->detector, errmsg)) < 0)
		return keel_errwrap(errmsg, rv, "cannot detect the master");
	return 0;
}

void agent_master_stop(struct agent *a)
{
	master_drop(a);
	coord_close(a->coord, 0);
	a->coord = NULL;
	a->detector = NULL;
	keel_timer_free(a->reg_timer);
	a->reg_timer = NULL;
	keel_timer_free(a->ping_timer);
	a->ping_timer = NULL;
}

int agent_master_check_epoch(struct agent *a, struct keel_http_req *req, uint64_t epoch)
{
	if (a->epoch != 0 && epoch == a->epoch)
		return 0;
	a->n_stale++;
	keel_http_respond_text(req, 409, "epoch is not the current leader's");
	/*
	 * A higher epoch than ours: a new leader we have not detected yet (a static
	 * detector never sees one). Reregister with the leader we detect: its answer
	 * carries its epoch. Lower epochs come from deposed masters: ignored.
	 */
	if (epoch > a->epoch && a->client && !a->registering)
		agent_master_reregister(a);
	return -1;
}
