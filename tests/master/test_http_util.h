/* Helpers for the operator endpoint tests: HTTP calls with any headers, agents with resources. */
#ifndef KEEL_TESTS_MASTER_TEST_HTTP_UTIL_H
#define KEEL_TESTS_MASTER_TEST_HTTP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "master_fixture.h"
#include "proto/mesos/v1/master.pb-c.h"

/* A response as the test saw it (body on the heap, any size). */
struct hresp {
	int err;	    /* transport error, 0 when a response came */
	int status;	    /* HTTP status */
	char *body;	    /* body, NUL-terminated (malloc; hresp_free) */
	size_t len;	    /* its length */
	char ctype[128];    /* Content-Type, or "" */
	char location[512]; /* Location, or "" */
	char allow[64];	    /* Allow, or "" */
	bool done;	    /* the callback ran */
};

void hresp_free(struct hresp *r);

/*
 * Sends method path to 127.0.0.1:port with Content-Type ctype and Accept
 * accept (each NULL: no such header) and body; runs the loop until the
 * answer (asserts within 20 s and no transport error). out is freed first.
 */
void hcall(struct fx *f, uint16_t port, const char *method, const char *path, const char *ctype,
	   const char *accept, const void *body, size_t len, struct hresp *out);

/* The same without waiting: the caller runs the loop and frees the client. */
struct keel_http_client *hcall_async(struct fx *f, uint16_t port, const char *method,
				     const char *path, const char *ctype, const char *accept,
				     const void *body, size_t len, struct hresp *out);

/* GET path; asserts 200 and parses the JSON body (json_decref it). */
json_t *hget_json(struct fx *f, uint16_t port, const char *path);

/* POSTs a JSON text to /api/v1 (Accept: application/json). */
void api_json(struct fx *f, uint16_t port, const char *json, struct hresp *out);

/* POSTs call packed to /api/v1 with Accept: application/x-protobuf. */
void api_pb(struct fx *f, uint16_t port, const Mesos__V1__Master__Call *call, struct hresp *out);

/* Asserts 200 and a JSON body; parses it. */
json_t *hjson(const struct hresp *r);

/* Asserts 200 and a protobuf Response body; decodes it (keel_pbjson_free). */
Mesos__V1__Master__Response *hpb(const struct hresp *r);

/*
 * Registers an agent named host with the fixture agent's address, key host,
 * resources cpus:4; mem:1024; disk:100; ports:[31000-32000]; cpus(revocable):2;
 * mem(reserved for role "web"):512 and attributes rack:r1 (text), zone:3
 * (scalar), ids:{a,b} (set). Returns its ID (free()).
 */
char *register_rich_agent(struct fx *f, struct master *m, const char *host);

/* The same with the AgentInfo given (no ID; borrowed). */
char *register_agent_info(struct fx *f, struct master *m, const char *host,
			  const Mesos__V1__AgentInfo *info);

/* Packs that agent's AgentInfo (no ID) into a new heap message (keel_pbjson_free). */
Mesos__V1__AgentInfo *rich_agent_info(const char *host);

/*
 * The member at a dotted path ("get_quota.status.configs.0.role": numbers index arrays);
 * fails the test when missing. hjson_str and hjson_num also fail on another type.
 */
json_t *hjson_at(json_t *j, const char *path);
const char *hjson_str(json_t *j, const char *path);
double hjson_num(json_t *j, const char *path);

/* The registrar's counters: operations made durable, or queued now (queued true). */
uint64_t hreg_stat(struct master *m, bool queued);

/* The value of a metric in a /metrics/snapshot object; asserts it is there. */
double metric(json_t *snap, const char *name);

#endif
