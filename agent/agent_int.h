/* Internals of keel-agent shared by its files (not a public API). */
#ifndef KEEL_AGENT_INT_H
#define KEEL_AGENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"
#include "agent/agent_store.h"
#include "containerizer/containerizer.h"
#include "coord/coord.h"
#include "proto/keel/internal/agent.pb-c.h"
#include "runtime/buf.h"
#include "runtime/hmap.h"
#include "runtime/http_client.h"
#include "runtime/http_server.h"

/* One status update of a task, checkpointed under its store key until acknowledged. */
struct agent_update {
	struct agent_update *next;  /* the task's next (newer) update */
	char key[96];		    /* store key "u/<seq>" (seq: 16 hex digits, global order) */
	uint8_t uuid[16];	    /* TaskStatus.uuid */
	Mesos__V1__TaskState state; /* its state */
	struct keel_buf packed;	    /* the StatusUpdate message, packed */
};

/* A task the agent knows: launched, ended and not yet fully acknowledged, or unknown-killed. */
struct agent_task {
	struct agent *agent;		  /* owner */
	char *key;			  /* "<framework id>/<task id>" (owned; the map key) */
	char *framework_id;		  /* framework ID (owned) */
	char *task_id;			  /* task ID (owned) */
	Keel__Agent__RunTask *run;	  /* what the master sent (owned), NULL for a stub */
	char ctr_id[KEEL_CTR_ID_SIZE];	  /* container, "" before launch or without one */
	Mesos__V1__TaskState state;	  /* newest state */
	bool terminal;			  /* a terminal update was produced */
	bool kill_requested;		  /* KillTask/ShutdownFramework/agent shutdown asked */
	bool reboot_lost;		  /* killed because the host rebooted since it started */
	struct agent_update *head, *tail; /* unacknowledged updates, oldest first */
	bool in_flight;			  /* head was sent and not acknowledged */
	uint64_t backoff_ms;		  /* next resend delay */
	struct keel_timer *resend;	  /* resends head */
	char *group_key; /* "<framework id>/<executor id>" of its task group (owned) */
	struct agent_task *group_prev; /* ring of the group's tasks (self when alone) */
	struct agent_task *group_next; /* ring of the group's tasks (self when alone) */
};

/* The agent. */
struct agent {
	struct keel_loop *loop;		   /* the loop */
	struct keel_http_server *server;   /* our endpoints */
	struct coord *coord;		   /* leader detection session */
	struct coord_detector *detector;   /* who leads */
	struct keel_http_client *client;   /* to the current leader, or NULL */
	struct agent_store *store;	   /* <work_dir>/meta */
	struct keel_ctr *ctr;		   /* containers */
	struct keel_poll *ctr_poll;	   /* readability of keel_ctr_fd */
	struct keel_timer *reg_timer;	   /* (re)registration retry */
	struct keel_timer *ping_timer;	   /* re-registers when the leader's pings stop */
	uint64_t ping_watch_ms;		   /* how long without a ping before that */
	struct keel_timer *flush_timer;	   /* commits the store, then sends updates */
	Mesos__V1__AgentInfo *info;	   /* hostname, port, resources, attributes (owned) */
	char *work_dir;			   /* --work_dir (owned) */
	char *ip;			   /* listen and advertised address (owned) */
	char key[128];			   /* "agent(1)@ip:port" */
	char boot_id[64];		   /* this host boot */
	char *agent_id;			   /* checkpointed ID, or NULL (owned) */
	char leader[300];		   /* "host:port" of the detected leader, "" none */
	uint64_t gen;			   /* bumps with every leader change (voids old answers) */
	uint64_t detected_epoch;	   /* the detector's epoch of the leader */
	uint64_t epoch;			   /* epoch of the leader we are registered with, 0 none */
	bool registering;		   /* a (re)registration is in flight */
	uint64_t reg_backoff_ms;	   /* next retry delay */
	bool done;			   /* shut down */
	void (*on_done)(void *arg);	   /* keel_agent_on_done */
	void *on_done_arg;		   /* its argument */
	struct keel_hmap tasks;		   /* key -> struct agent_task */
	struct keel_hmap groups;	   /* group_key -> one task of that group's ring */
	struct keel_hmap by_ctr;	   /* ctr_id -> struct agent_task */
	uint64_t next_seq;		   /* next update sequence number */
	enum keel_agent_launcher launcher; /* task launcher */
	enum keel_agent_recover recover;   /* --recover */
	bool cgroups;			   /* limit tasks with cgroups */
	bool rebooted;			   /* the host rebooted since the last run */
	char *image_dir;		   /* image store, or NULL for the default (owned) */
	struct keel_timer *gc_timer;	   /* removes sandboxes whose delay passed */
	int64_t grace_ns;		   /* default kill grace */
	int64_t gc_delay_ns;		   /* --gc_delay */
	uint64_t update_backoff_ms, update_backoff_max_ms; /* status update resend delays */
	uint64_t register_backoff_ms;			   /* first registration retry delay */
	uint64_t start_ns;				   /* when the agent started */
	/* counters for /metrics/snapshot */
	uint64_t n_registered, n_reregistered, n_pings, n_stale, n_updates_sent, n_acks,
	    n_tasks_launched, n_tasks_finished, n_tasks_failed, n_tasks_killed, n_tasks_lost,
	    n_tasks_error;
	char errmsg[KEEL_ERRMSG_SIZE]; /* last internal error */
};

/* agent_master.c: leader detection and (re)registration. */
int agent_master_start(struct agent *a, const char *master, char *errmsg);
void agent_master_stop(struct agent *a);
void agent_master_reregister(struct agent *a);
/* A ping from the current leader arrived: re-arms the missed-ping watchdog. */
void agent_master_pinged(struct agent *a);
/* Every message from a master: 0 when its epoch is the current one, else answers 409. */
int agent_master_check_epoch(struct agent *a, struct keel_http_req *req, uint64_t epoch);
/* Stops the agent for good (ShutdownAgent, 410): kills tasks, forgets its ID, fires on_done. */
void agent_shutdown(struct agent *a, const char *why);

/* agent_routes.c: the master -> agent routes. */
int agent_routes_add(struct agent *a);

/* agent_task.c: tasks on the containerizer. */
int agent_tasks_open(struct agent *a, char *errmsg);
void agent_tasks_close(struct agent *a);
/* RunTask: checkpoints, launches (or reports why not). 0, or -errno with errmsg (answer 500). */
int agent_task_run(struct agent *a, Keel__Agent__RunTask *run, char *errmsg);
void agent_task_kill(struct agent *a, const char *framework_id, const char *task_id,
		     const Mesos__V1__KillPolicy *policy);
void agent_framework_shutdown(struct agent *a, const char *framework_id);
void agent_tasks_kill_all(struct agent *a);
/* Fills repeated Task and FrameworkInfo for a ReregisterAgent; frees with _free. */
int agent_tasks_fill(struct agent *a, Keel__Agent__ReregisterAgent *m);
void agent_tasks_fill_free(Keel__Agent__ReregisterAgent *m);
/* Drops a finished, fully acknowledged task from memory and the store. */
void agent_task_forget(struct agent_task *t);

/* agent_update.c: the status update stream. */
/* Produces an update (checkpointed at the next flush, sent after it). */
void agent_update_add(struct agent_task *t, Mesos__V1__TaskState state,
		      Mesos__V1__TaskStatus__Reason reason, bool has_reason, const char *message);
void agent_update_ack(struct agent *a, const char *framework_id, const char *task_id,
		      const uint8_t *uuid, size_t uuid_len);
/* Sends the head update of every task that has one not in flight (after a new registration). */
void agent_updates_resume(struct agent *a);
void agent_update_task_free(struct agent_task *t);
/* Schedules a store commit + send at the end of this loop turn. */
void agent_flush_soon(struct agent *a);
/* Loads checkpointed updates into their tasks (at start). */
int agent_updates_load(struct agent *a, char *errmsg);
bool agent_state_terminal(Mesos__V1__TaskState s);

/* agent_gc.c: sandbox removal --gc_delay after a task is forgotten (checkpointed deadlines). */
int agent_gc_open(struct agent *a, char *errmsg);
void agent_gc_close(struct agent *a);
/* Schedules removal of ctr_id's sandbox; until then `s/<task key>` names it for the /files
 * endpoints. */
void agent_gc_schedule(struct agent *a, const char *ctr_id, const char *task_key);
/* The container ID of a forgotten task whose sandbox still exists, into out; false if none. */
bool agent_gc_sandbox_of(struct agent *a, const char *task_key, char *out, size_t n);

/* agent_http.c: /health, /state, /metrics/snapshot, /files/... */
int agent_http_add(struct agent *a);

/* agent_resources.c: --resources / --attributes into the AgentInfo. */
int agent_info_build(const char *hostname, uint16_t port, const char *resources,
		     const char *attributes, Mesos__V1__AgentInfo **out, char *errmsg);

#endif
