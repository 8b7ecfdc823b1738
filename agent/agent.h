/* keel-agent: the agent process as a library (register with the leading master, run tasks). */
#ifndef KEEL_AGENT_H
#define KEEL_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/err.h"
#include "runtime/loop.h"

/*
 * An agent lives on one keel loop. keel_agent_new() opens its checkpoint
 * store (<work_dir>/meta, LMDB), its containerizer context
 * (<work_dir>/containers, <work_dir>/sandboxes), starts its HTTP server on
 * ip:port and starts detecting the leading master through `master` (a coord
 * URL, or host:port meaning static://host:port). From then on everything
 * happens in loop callbacks: (re)registration with every new leader, pings,
 * tasks and their status updates. See docs/agent.md.
 *
 * Threads: one loop thread; nothing here is thread-safe.
 */

struct keel_agent;

/* How the agent recovers what an earlier run of it left (--recover). */
enum keel_agent_recover {
	KEEL_AGENT_RECOVER_RECONNECT = 0, /* reattach to running tasks */
	KEEL_AGENT_RECOVER_CLEANUP,	  /* kill what is found, report it terminal */
};

/* How tasks are started (--launcher). */
enum keel_agent_launcher {
	KEEL_AGENT_LAUNCHER_DEFAULT = 0, /* linux as root, posix otherwise */
	KEEL_AGENT_LAUNCHER_LINUX,	 /* namespaces */
	KEEL_AGENT_LAUNCHER_POSIX,	 /* plain processes */
};

/* Configuration; strings are borrowed for the duration of keel_agent_new() only. */
struct keel_agent_config {
	const char *master;		   /* coord URL or host:port (required) */
	const char *work_dir;		   /* checkpoints and sandboxes (required) */
	const char *resources;		   /* "cpus:4;mem:8192;ports:[31000-32000]"; NULL: detect */
	const char *attributes;		   /* "rack:a;zone:b"; NULL: none */
	const char *ip;			   /* listen address [127.0.0.1] */
	uint16_t port;			   /* listen port; 0 picks a free one */
	const char *hostname;		   /* advertised hostname; NULL: the ip */
	const char *image_dir;		   /* image store; NULL: <work_dir>/images */
	enum keel_agent_launcher launcher; /* task launcher */
	bool cgroups;			   /* limit tasks with cgroups (--isolation has cgroups/) */
	enum keel_agent_recover recover;   /* what to do with a previous run's tasks */
	int64_t executor_shutdown_grace_ns; /* kill grace when a task has no kill policy [5s] */
	int64_t gc_delay_ns;		    /* sandbox removal delay after a task ended [1 week] */
	uint64_t update_backoff_ms;	    /* first status update resend delay [10000], doubling */
	uint64_t update_backoff_max_ms;	    /* resend delay cap [600000] */
	uint64_t register_backoff_ms;	    /* first (re)registration retry delay [100], doubling */
	const char *boot_id;		    /* test hook: the host boot id; NULL reads /proc's */
};

/*
 * Creates and starts an agent on loop. Returns 0 and *out, or a negative
 * errno with a message in errmsg (bad resources or attributes, the store or
 * the containerizer cannot be opened, the port is taken, a bad master URL);
 * nothing is left behind on error.
 */
int keel_agent_new(struct keel_loop *loop, const struct keel_agent_config *cfg,
		   struct keel_agent **out, char *errmsg);

/* Stops serving and frees the agent; running tasks keep running (a later agent recovers them).
 */
void keel_agent_free(struct keel_agent *a);

/* The port the agent's HTTP server listens on. */
uint16_t keel_agent_port(const struct keel_agent *a);

/* The agent ID, or NULL before the first registration; lives until the next (re)registration.
 */
const char *keel_agent_id(const struct keel_agent *a);

/* The epoch of the leader the agent is registered with, 0 while it is not registered. */
uint64_t keel_agent_epoch(const struct keel_agent *a);

/* True once a ShutdownAgent or a 410 told the agent to stop (main exits then). */
bool keel_agent_done(const struct keel_agent *a);

/*
 * Called when the agent is done (may be NULL): main stops its loop there. Fires at most once,
 * from a loop callback.
 */
void keel_agent_on_done(struct keel_agent *a, void (*cb)(void *arg), void *arg);

#endif
