/* Test fixture for keel-master in process: a loop, masters, and a fake agent that answers pings.
 */
#ifndef KEEL_TESTS_MASTER_FIXTURE_H
#define KEEL_TESTS_MASTER_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master/master.h"
#include "proto/keel/internal/agent.pb-c.h"
#include "runtime/http_client.h"
#include "runtime/http_server.h"
#include "runtime/loop.h"

/* How the fake agent answers pings. */
enum fx_ping_mode {
	FX_PONG = 0,  /* 200 with a Pong */
	FX_FAIL = 1,  /* 503 (a partitioned agent) */
	FX_STALL = 2, /* never answers (the request stays open) */
};

/* A response as the test saw it (body and Location copied). */
struct fx_resp {
	int err;	    /* transport error, 0 when a response came */
	int status;	    /* HTTP status */
	char body[4096];    /* body (NUL-terminated, truncated) */
	size_t body_len;    /* full length */
	char location[512]; /* Location header, or "" */
	bool done;	    /* the callback ran */
};

/* The fixture. */
struct fx {
	struct keel_loop *loop;		   /* one loop for everything */
	char tmp[512];			   /* a private temporary directory */
	struct keel_http_server *agent;	   /* the fake agent's server */
	uint16_t agent_port;		   /* its port */
	enum fx_ping_mode ping_mode;	   /* how it answers pings */
	unsigned pings;			   /* pings received */
	unsigned pings_bad_epoch;	   /* pings whose epoch was not the expected one */
	uint64_t expect_epoch;		   /* epoch pings must carry (0: any) */
	unsigned shutdowns;		   /* ShutdownAgent messages received */
	struct keel_http_req *stalled[64]; /* stalled ping requests */
	unsigned n_stalled;		   /* how many */
	unsigned fatal;			   /* master_fail calls seen */
	char fatal_why[256];		   /* the last reason */
};

/* Sets up the loop, the temporary directory and the fake agent. */
void fx_init(struct fx *f);
/* Frees what fx_init made (masters are the caller's). */
void fx_fini(struct fx *f);

/* A config for a master on 127.0.0.1, port 0, static://, small timeouts; the fixture's fatal
 * hook. work_dir under the fixture's temporary directory when sub is not NULL. */
void fx_config(struct fx *f, struct master_config *c, bool in_memory, const char *sub);
/* master_new + master_start; asserts. */
struct master *fx_master(struct fx *f, const struct master_config *c);
/*
 * Two masters on the replicated log under static://<a>,<b>: a (work_dir "a") leads, b (work_dir
 * "b") is a standby that knows the leader. Returns a; *standby is b.
 */
struct master *fx_leader_and_standby(struct fx *f, struct master **standby);
/* Runs the loop until m leads; asserts within 10 s. */
void fx_wait_leading(struct fx *f, struct master *m);

/* POSTs body to 127.0.0.1:port path and runs the loop until the answer. */
void fx_post(struct fx *f, uint16_t port, const char *method, const char *path, const void *body,
	     size_t len, struct fx_resp *out);

/* Sends without waiting; the caller runs the loop and frees the client. */
struct keel_http_client *fx_post_async(struct fx *f, uint16_t port, const char *method,
				       const char *path, const void *body, size_t len,
				       struct fx_resp *out);
/* Packs the fake agent's RegisterAgent with key into buf; returns its length. */
size_t fx_pack_register(struct fx *f, const char *key, uint8_t *buf, size_t size);

/* RegisterAgent / ReregisterAgent for the fake agent (address = its server). */
void fx_register(struct fx *f, uint16_t port, const char *key, struct fx_resp *out);
void fx_reregister(struct fx *f, uint16_t port, const char *id, const char *key,
		   struct fx_resp *out);
/* A port that was free a moment ago (bound to 127.0.0.1:0 and closed). */
uint16_t fx_free_port(void);
/* Decodes an AgentRegistered answer (asserts 200); caller frees with keel_pbjson_free. */
Keel__Agent__AgentRegistered *fx_registered(const struct fx_resp *r);

#endif
