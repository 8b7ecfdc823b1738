/* A fake keel master for agent tests: speaks the agent protocol on the test's loop. */
#ifndef KEEL_TESTS_AGENT_FAKE_MASTER_H
#define KEEL_TESTS_AGENT_FAKE_MASTER_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/keel/internal/agent.pb-c.h"
#include "runtime/loop.h"

/* One StatusUpdate the fake master received. */
struct fm_update {
	char task_id[128];	    /* status.task_id */
	char executor_id[128];	    /* status.executor_id, or "" */
	char framework_id[128];	    /* framework_id */
	Mesos__V1__TaskState state; /* status.state */
	bool has_reason;	    /* status.reason set */
	int reason;		    /* status.reason */
	char message[256];	    /* status.message */
	uint8_t uuid[16];	    /* status.uuid */
};

/*
 * The fake master: admits agents (same key -> same ID), accepts
 * re-registrations of any ID (as a new leader learning its agents), records
 * every StatusUpdate (in arrival order, duplicates included) and, when
 * auto_ack is set, acknowledges each at once. Tests steer it through its
 * fields and send master -> agent messages with fm_send.
 */
struct fake_master {
	struct keel_loop *loop;		 /* the test's loop */
	struct keel_http_server *server; /* /internal/agent/... */
	struct keel_http_client *agent;	 /* to the last agent that registered, or NULL */
	uint16_t port;			 /* our port */
	int32_t agent_port;		 /* port of `agent` */
	uint64_t epoch;			 /* our leadership epoch */
	char master_id[40];		 /* prefix of the agent IDs we hand out */
	char agent_id[128];		 /* the last ID handed out or accepted */
	unsigned next_agent;		 /* agent ID counter */
	unsigned registers, reregisters; /* answered with 200 */
	unsigned reregister_tasks;	 /* tasks in the last ReregisterAgent */
	unsigned fail_registers;	 /* answer this many (re)registrations 503 first */
	bool gone;			 /* answer (re)registrations and updates 410 */
	bool auto_ack;			 /* acknowledge every update at once */
	uint32_t ping_timeout_ms;	 /* sent in AgentRegistered when not 0 */
	struct fm_update *updates;	 /* received, in order */
	unsigned n_updates, cap_updates; /* count and capacity */
	int last_status;  /* status of the last fm_send answer, 0 pending, <0 error */
	unsigned answers; /* fm_send answers received */
};

/* Starts a fake master on 127.0.0.1:port (0: any) with this epoch. Aborts on failure. */
struct fake_master *fm_new(struct keel_loop *loop, uint16_t port, uint64_t epoch);
void fm_free(struct fake_master *fm);

/* POSTs m to the agent's path; the answer's status lands in last_status (answers counts). */
void fm_send(struct fake_master *fm, const char *path, const ProtobufCMessage *m);
/* Pings / acks / kills with our epoch (or `epoch` for ping). */
void fm_ping(struct fake_master *fm, uint64_t epoch, bool connected);
void fm_ack(struct fake_master *fm, const struct fm_update *u);
/* Runs the loop until cond(arg) or ms passed; returns cond's last value. */
bool fm_run_until(struct keel_loop *loop, bool (*cond)(void *arg), void *arg, unsigned ms);
/* Updates recorded for task_id (count), and the i-th of them. */
unsigned fm_count(const struct fake_master *fm, const char *task_id);
const struct fm_update *fm_nth(const struct fake_master *fm, const char *task_id, unsigned i);

#endif
