/* keel-master's state in one place: configuration, leadership, the agents table and counters. */
#ifndef KEEL_MASTER_MASTER_H
#define KEEL_MASTER_MASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto/mesos/v1/mesos.pb-c.h"
#include "runtime/err.h"
#include "runtime/hmap.h"
#include "runtime/loop.h"

/*
 * One `struct master` is one keel-master: an HTTP server on --ip:--port
 * (every endpoint, the agent protocol and the log replica share it), a coord
 * session (election, leader detection, replica membership), a replog replica
 * (--registry=replicated_log) and the registrar on top of it.
 *
 * Leadership (master/leader.c): the master contends with its MasterInfo; on
 * COORD_ELECTED it recovers the registry (registrar_recover), and only then
 * serves as leader. Everything that can make it unsafe to go on leading
 * (COORD_LOST, the registrar's on_fatal, a failed store, a leadership check
 * that fails) ends in master_fail(): one log line saying why, then the fatal
 * hook, by default _exit(1) (fail-stop: a supervisor restarts the process).
 *
 * Readers. Other files of the master (the HTTP API, /state, metrics) read
 * this struct directly on the loop thread: `state`, `info`, `leader`,
 * `agents` and `counters` are kept current and never point to freed memory
 * between loop turns. They must not change it; they call master_http_gate()
 * first in every handler that only the leader may answer.
 *
 * Threads: the loop's thread only. Memory: a daemon's out-of-memory is fatal
 * (keel_x* allocators abort), as runtime/alloc.h says for daemons.
 */

struct master;
struct coord;
struct coord_contender;
struct coord_detector;
struct coord_member;
struct coord_watch;
struct replog;
struct registrar;
struct keel_http_server;
struct keel_http_req;
struct keel_http_client;
struct keel_timer;
struct master_replicas;
struct master_api;
struct master_sched;
struct master_offers;
struct master_tasks;
struct master_offer;
struct master_opstream;
struct master_drain;
struct master_auth;

/* Called by master_fail with one line saying why; NULL in the config means _exit(1). */
typedef void (*master_fatal_cb)(struct master *m, const char *why, void *arg);

/* The master's configuration: what the flags say (master_config_parse) plus test hooks. */
struct master_config {
	char *ip;		     /* --ip: IPv4 address to listen on and advertise [127.0.0.1] */
	uint16_t port;		     /* --port [5050]; 0 picks a free port (tests) */
	char *hostname;		     /* --hostname advertised in MasterInfo [the ip] */
	char *work_dir;		     /* --work_dir, or NULL (allowed only with in_memory) */
	char *cluster;		     /* --cluster, or NULL */
	unsigned quorum;	     /* --quorum: replicas needed; the log has 2*quorum-1 */
	char *coord_url;	     /* --zk or --coord; NULL: static://ip:port of this master */
	bool coord_static;	     /* the URL is static:// (no external service) */
	uint32_t session_timeout_ms; /* --zk_session_timeout [10secs] */
	bool in_memory;		     /* --registry=in_memory (else replicated_log) */
	uint32_t fetch_timeout_ms;   /* --registry_fetch_timeout [1mins] */
	uint32_t store_timeout_ms;   /* --registry_store_timeout [20secs] */
	uint32_t ping_timeout_ms;    /* --agent_ping_timeout [15secs] */
	uint32_t heartbeat_interval_ms;	 /* --heartbeat_interval: scheduler HEARTBEATs [15secs] */
	uint32_t allocation_interval_ms; /* --allocation_interval: batched cycles [1secs] */
	uint64_t offer_timeout_ms;	 /* --offer_timeout: rescind after this; 0: never [none] */
	uint32_t max_ping_timeouts;	 /* --max_agent_ping_timeouts [5] */
	uint64_t reregister_timeout_ms;	 /* --agent_reregister_timeout [10mins] */
	uint64_t max_agent_age_ms;	 /* --registry_max_agent_age [2weeks] */
	uint32_t max_agent_count;	 /* --registry_max_agent_count [102400] */
	bool log_auto_initialize;	 /* --log_auto_initialize [true] */
	char *weights;			 /* --weights: "role=weight,..." (checked), or NULL */
	char *flags_json;	      /* every flag's value as JSON (Mesos /flags form), or NULL */
	bool authenticate_frameworks; /* --authenticate_frameworks [false] */
	bool authenticate_http_readwrite; /* --authenticate_http_readwrite [false] */
	bool authenticate_http_readonly;  /* --authenticate_http_readonly [false] */
	char *credentials;		  /* --credentials: path or file://path, or NULL */
	char *acls;			  /* --acls: JSON or file://path, or NULL */
	/* Not flags: */
	unsigned replog_tick_ms;  /* replica retry tick (0: replog's default) */
	master_fatal_cb on_fatal; /* fail-stop hook; NULL: _exit(1) */
	void *fatal_arg;	  /* its argument */
	size_t opstream_backlog;  /* operator SUBSCRIBE backlog cap, bytes (0: 8 MiB) */
};

/*
 * Parses keel-master's command line (and KEEL_MASTER_* environment
 * variables) into *out (zeroed first; free with master_config_free). Returns
 * 0, KEEL_FLAGS_HELP after writing the usage to help_out, or -EINVAL with
 * one line in errmsg that names the flag (-ENOMEM). Checks: --zk and --coord
 * together, --work_dir missing with --registry=replicated_log, --quorum
 * missing with zk:// or etcd://, a bad coordination URL, --ip not IPv4,
 * durations out of range, a static:// list whose length does not match
 * 2*quorum-1, and (master/auth.h) an --authenticate_* flag without
 * --credentials, an unreadable credentials file, bad --credentials or --acls JSON.
 */
int master_config_parse(int argc, char **argv, struct master_config *out, FILE *help_out,
			char *errmsg);

/*
 * Parses a --weights value ("role1=w1,role2=w2"; each weight finite and > 0, roles valid
 * names other than "*") and calls fn (when not NULL) for each pair in order; fn's negative
 * return stops it. Returns 0, -EINVAL with errmsg naming the bad entry, or fn's error.
 */
int master_weights_parse(const char *text, int (*fn)(const char *role, double weight, void *arg),
			 void *arg, char *errmsg);

/* Frees the strings of c and zeroes it. */
void master_config_free(struct master_config *c);

/* Where the master is in its life. */
enum master_state {
	MASTER_INITIALIZING = 0, /* the log replica is not open yet (waiting for the replica set) */
	MASTER_STANDBY = 1,	 /* contending or not eligible; another master (or none) leads */
	MASTER_RECOVERING = 2,	 /* elected, the registry recovers: leader-only calls get 503 */
	MASTER_LEADING = 3,	 /* elected and recovered: serving */
	MASTER_FAILED = 4,	 /* master_fail ran (in-process tests; a daemon has exited) */
};

/* Who leads, as the coord detector reports it. */
struct master_leader {
	bool present;		     /* a leader is known */
	bool self;		     /* it is this master */
	uint64_t epoch;		     /* its epoch */
	Mesos__V1__MasterInfo *info; /* its MasterInfo (owned; keel_pbjson_free), or NULL */
	char location[300];	     /* "//<hostname or ip>:<port>" for redirects, or "" */
};

/* An agent's place in the agents table. */
enum master_agent_state {
	MASTER_AGENT_ADMITTING = 0, /* registering: its admission is not durable yet */
	MASTER_AGENT_ACTIVE = 1,    /* registered or re-registered with this leader, pinged */
	MASTER_AGENT_REACHING = 2,  /* was unreachable, re-registered: marking it reachable */
	MASTER_AGENT_MARKING = 3,   /* missed its pings: marking it unreachable */
	MASTER_AGENT_NSTATES = 4,   /* number of states */
};

/* A connection to one agent address ("host:port"), shared by every agent behind it. */
struct master_origin {
	char *name;			 /* "host:port" (key in master_agents.origins) */
	struct keel_http_client *client; /* one keep-alive, pipelined connection */
	unsigned refs;			 /* agents using it + requests in flight */
	struct master_origin *idle_next; /* in the idle list while refs is 0 */
	bool idle;			 /* in the idle list */
};

/* A parked request: answered when its agent's registry change is durable. */
struct master_parked {
	struct keel_http_req *req;  /* the request (valid until answered or closed) */
	struct master_agent *agent; /* whose change it waits for */
	struct master_parked *next; /* the agent's list */
};

/* One agent the leader knows this term. */
struct master_agent {
	char *id;			  /* agent ID (key in by_id) */
	char *key;			  /* registration key (key in by_key), or NULL */
	Mesos__V1__AgentInfo *info;	  /* latest AgentInfo, id set (owned; keel_pbjson_free) */
	Mesos__V1__Task **tasks;	  /* tasks it reported when re-registering (owned) */
	size_t n_tasks;			  /* how many */
	char *version;			  /* keel version it reported, or NULL */
	struct master_origin *origin;	  /* where it is pinged */
	enum master_agent_state state;	  /* see enum */
	uint32_t misses;		  /* consecutive pings without a pong */
	bool awaiting;			  /* a ping is out and no pong came since */
	uint64_t registered_ns;		  /* wall clock of its (re-)registration with this leader */
	unsigned slot;			  /* ping wheel slot */
	struct master_agent *prev, *next; /* ping wheel slot list (ACTIVE only) */
	bool in_wheel;			  /* linked in a slot */
	struct master_parked *parked;	  /* requests waiting for its registry change */
	struct master_offer *offers;	  /* outstanding offers of its resources (offers.c) */
	bool allocating;		  /* known to the allocator (ACTIVE, resources taken) */
	struct master_offer_cache *ocache; /* its last offer's encoded pieces (offers_wire.c) */
};

/* The agents table. Lookups by ID and by key are hash lookups; nothing scans all agents per
 * event. */
struct master_agents {
	struct keel_hmap by_id;		     /* agent ID -> struct master_agent */
	struct keel_hmap by_key;	     /* registration key -> struct master_agent */
	struct keel_hmap origins;	     /* "host:port" -> struct master_origin */
	struct master_origin *idle;	     /* origins with no refs, freed by the sweep */
	size_t count[MASTER_AGENT_NSTATES];  /* agents per state */
	uint64_t next_seq;		     /* n of the next ID "<master id>-S<n>" */
	struct keel_hmap awaiting;	     /* IDs admitted by earlier leaders that have not
						re-registered yet -> struct master_awaiting */
	struct keel_timer *reregister_timer; /* marks the awaiting unreachable */
	struct master_agent **slots;	     /* ping wheel: one list per slot */
	unsigned n_slots;		     /* slots; the wheel turns once per ping timeout */
	unsigned cur_slot;		     /* the slot pinged next */
	unsigned next_slot;		     /* where the next agent goes (round robin) */
	uint32_t slot_ms;		     /* time between slots */
	struct keel_timer *wheel_timer;	     /* advances the wheel */
};

/* Counters (Mesos metric names in brackets where Mesos has one). */
struct master_counters {
	uint64_t registrations;		/* agents admitted [master/slave_registrations] */
	uint64_t reregistrations;	/* agents re-registered [master/slave_reregistrations] */
	uint64_t unreachable_scheduled; /* markings started [master/slave_unreachable_scheduled] */
	uint64_t unreachable_completed; /* markings durable [master/slave_unreachable_completed] */
	uint64_t reachable;		/* unreachable agents back */
	uint64_t gone_answers;		/* 410 to (re)registrations of gone or unknown agents */
	uint64_t shutdowns_sent;	/* ShutdownAgent messages sent */
	uint64_t pings_sent;		/* Ping messages sent */
	uint64_t pongs;			/* Pong answers received */
	uint64_t pings_missed;		/* pings without a pong by the next round */
	uint64_t invalid_messages;	/* agent messages answered 400 [master/invalid_...] */
	uint64_t redirects;		/* requests answered 307 */
	uint64_t unavailable;		/* requests answered 503 */
	uint64_t busy; /* (re)registrations answered 503 because a change to that agent
			  was in flight */
};

/* Registry operations waiting for the registrar's callback (freed at master_free). */
struct master_op;

/* The master. */
struct master {
	struct keel_loop *loop;		    /* the loop (not owned) */
	struct master_config cfg;	    /* configuration (owned copy) */
	struct keel_http_server *server;    /* the one HTTP server */
	uint16_t port;			    /* the port it listens on */
	char self_addr[64];		    /* "ip:port" of this master */
	char id[40];			    /* this run's ID: a fresh UUID */
	Mesos__V1__MasterInfo *info;	    /* own MasterInfo (owned) */
	struct coord *coord;		    /* coord session */
	struct coord_contender *contender;  /* in the election, or NULL (not eligible yet) */
	struct coord_detector *detector;    /* who leads */
	struct master_replicas *replicas;   /* replica set discovery (replicated_log) */
	struct replog *log;		    /* the log replica, or NULL */
	struct registrar *registrar;	    /* the registry, or NULL before it opens */
	enum master_state state;	    /* see enum */
	uint64_t epoch;			    /* epoch of the current term (RECOVERING, LEADING) */
	struct master_leader leader;	    /* who leads as detected */
	struct master_agents agents;	    /* the agents table */
	struct master_counters counters;    /* counters */
	struct master_op *ops;		    /* registry operations in flight */
	struct master_api *api;		    /* operator API state (master/http_api.h), or NULL */
	struct master_sched *sched;	    /* scheduler API state (master/sched.h), or NULL */
	struct master_offers *offers;	    /* allocator and offers (master/offers.h), or NULL */
	struct master_tasks *tasks;	    /* tasks (master/tasks.h), or NULL */
	struct master_opstream *opstream;   /* operator SUBSCRIBE (operator_stream.h), or NULL */
	struct master_drain *drain;	    /* agents draining (agents_drain.h), or NULL */
	struct master_auth *auth;	    /* credentials and ACLs (master/auth.h), or NULL */
	uint64_t start_time_ns;		    /* wall clock at master_new */
	uint64_t elected_time_ns;	    /* wall clock of the election, or 0 */
	uint64_t recovered_ms;		    /* registry recovery time of this term, ms */
	uint64_t elected_mono_ms;	    /* monotonic ms of the election */
	bool stopping;			    /* master_free runs: failures are no longer news */
	char fail_reason[KEEL_ERRMSG_SIZE]; /* why master_fail ran */
};

/*
 * Creates a master on loop with a copy of cfg (strings copied). Nothing runs
 * until master_start. -EINVAL (bad config: message says which), -ENOMEM.
 */
int master_new(struct keel_loop *loop, const struct master_config *cfg, struct master **out,
	       char *errmsg);

/*
 * Starts: listens, opens the coord session and the detector, the replica
 * (once the replica set is known, see docs/master.md) and the registrar, and
 * contends. Errors at start (address in use, bad URL, damaged store, a
 * replica table that does not match this master) return a negative errno
 * with a message; later ones go through master_fail.
 */
int master_start(struct master *m, char *errmsg);

/*
 * Stops cleanly: withdraws from the election (coord_close waiting up to
 * wait_ms for the server), closes the registrar and the replica, frees
 * everything. Parked requests are dropped with their connections. NULL is
 * ignored.
 */
void master_free(struct master *m, unsigned wait_ms);

/*
 * Fail-stop: logs "fail-stop: <why>" at error level, sets MASTER_FAILED,
 * stops the timers, and calls the fatal hook (default _exit(1)). Safe to
 * call more than once (only the first one counts).
 */
void master_fail(struct master *m, const char *fmt, ...) KEEL_PRINTF(2, 3);

/*
 * True when this master leads right now: MASTER_LEADING and
 * coord_contender_leading() with this term's epoch (reads the clock). When
 * the state says leading but the coord does not, it fails (master_fail) and
 * returns false. Call before every act only a leader may do.
 */
bool master_leading(struct master *m);

/*
 * The gate of every leader-only endpoint: returns true when the caller may
 * serve the request (master_leading). Otherwise it has answered: 307 with
 * Location "<leader location><path>[?query]" when another master leads,
 * 503 "No leader elected" when none does (or this one is not recovered
 * yet: "Leader is recovering the registry").
 */
bool master_http_gate(struct master *m, struct keel_http_req *req);

/* Agents in a state. */
static inline size_t master_agents_count(const struct master *m, enum master_agent_state s)
{
	return m->agents.count[s];
}

/* The agent with this ID in the table, or NULL. */
struct master_agent *master_agent_find(const struct master *m, const char *id);

/* Wall-clock nanoseconds (CLOCK_REALTIME). */
uint64_t master_wall_ns(void);

#endif
