/* DRAIN_AGENT, DEACTIVATE_AGENT, REACTIVATE_AGENT: agents out of service, durably. */
#ifndef KEEL_MASTER_AGENTS_DRAIN_H
#define KEEL_MASTER_AGENTS_DRAIN_H

#include <stdbool.h>

#include "master.h"
#include "proto/keel/internal/agent.pb-c.h"
#include "proto/mesos/v1/master.pb-c.h"

struct keel_http_req;

/*
 * Mesos 1.9's agent draining (docs/master-api.md, docs/operations.md):
 *
 *   DEACTIVATE_AGENT  no new offers for the agent's resources; its outstanding offers are
 *                     rescinded; its tasks keep running.
 *   DRAIN_AGENT       deactivate, then kill every live task of it (KillTask with a grace
 *                     period capped by max_grace_period); DRAINING until every task is
 *                     terminal, then DRAINED; with mark_gone the agent is then marked gone.
 *                     Updates of its tasks carry REASON_AGENT_DRAINING (TASK_KILLED becomes
 *                     TASK_GONE_BY_OPERATOR with mark_gone), set by the master.
 *   REACTIVATE_AGENT  offers again; the drain info is cleared.
 *
 * The deactivated flag and the drain info are in the registry (keel.registry.Agent), made
 * durable before the 200; a new leader reads them and applies them when the agent
 * re-registers (killing what still runs on a DRAINING agent). Admitted agents only: an
 * unreachable agent is refused (400) in this version.
 *
 * Threads: the loop's only. Memory: out-of-memory is fatal.
 */

/* Serves one of the three calls (validated by master_api_call_invalid); answers req. */
void master_drain_call(struct master *m, struct keel_http_req *req,
		       const Mesos__V1__Master__Call *call);

/* Sets g's deactivated and drain_info (pointing into the registry) for agent_id. */
void master_drain_agent_fill(struct master *m, const char *agent_id,
			     Mesos__V1__Master__Response__GetAgents__Agent *g,
			     Mesos__V1__DrainInfo *storage);
/* Whether agent_id is deactivated, and its drain info or NULL (valid until the loop turns). */
bool master_drain_state(const struct master *m, const char *agent_id,
			const Mesos__V1__DrainInfo **drain);

/* /state: the agent's "deactivated" and, when draining or drained, "drain_info" (txt: scratch). */
struct master_json;
struct keel_buf;
void master_drain_render(const struct master *m, struct master_json *w, const char *agent_id,
			 struct keel_buf *txt);

/* Hooks. The agent became ACTIVE (after its tasks are known): no offers when deactivated;
 * a DRAINING agent's live tasks are killed (again). */
void master_drain_agent_up(struct master *m, struct master_agent *a);
/* A status update from a draining agent, before it is applied and forwarded. */
void master_drain_status(struct master *m, Keel__Agent__StatusUpdate *su);
/* A task's state changed from `was`: the drain may be complete. */
void master_drain_task_changed(struct master *m, const Mesos__V1__Task *task,
			       Mesos__V1__TaskState was);

void master_drain_free(struct master *m);

#endif
