/* Helpers shared by the registrar tests: agent messages, completion recorders, comparisons. */
#ifndef KEEL_TESTS_MASTER_TEST_REGISTRAR_UTIL_H
#define KEEL_TESTS_MASTER_TEST_REGISTRAR_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master/registrar.h"

/* An AgentInfo with its ID, hostname and three scalar resources, all inside this struct. */
struct tr_agent {
	Mesos__V1__AgentInfo info;	    /* the message */
	Mesos__V1__AgentID id;		    /* info.id */
	Mesos__V1__Resource res[3];	    /* cpus, mem, disk */
	Mesos__V1__Resource *res_ptrs[3];   /* info.resources */
	Mesos__V1__Value__Scalar scalar[3]; /* their values */
	char id_buf[64];		    /* "agent-<k>" */
	char host[512];			    /* "host-<k>" (padded when asked) */
};

/* Fills a with agent number k; `pad` adds that many characters to the hostname. */
void tr_agent_init(struct tr_agent *a, unsigned k, size_t pad);

/* A MasterInfo named id. */
struct tr_master {
	Mesos__V1__MasterInfo info; /* the message */
	char id[64];		    /* info.id */
};
void tr_master_init(struct tr_master *m, const char *id);

/* A FrameworkInfo with ID id. */
struct tr_framework {
	Mesos__V1__FrameworkInfo info; /* the message */
	Mesos__V1__FrameworkID id;     /* info.id */
	char id_buf[64];	       /* the ID */
};
void tr_framework_init(struct tr_framework *f, const char *id);

/* Records one operation's completion (fired counts calls: it must end at 1). */
struct tr_done {
	int fired;    /* callbacks so far */
	int status;   /* the last status */
	unsigned seq; /* global order of the callback */
};
void tr_on_done(struct registrar *r, int status, void *arg);

/* Records on_fatal. */
struct tr_fatal {
	int fired;     /* calls so far (must stay <= 1) */
	int err;       /* its error */
	char msg[256]; /* its message */
	bool close;    /* close the registrar from inside on_fatal */
};
void tr_on_fatal(struct registrar *r, int err, const char *message, void *arg);

/* Wall-clock nanoseconds now. */
int64_t tr_wall_ns(void);

/* The registry in canonical form (packed, every list sorted by ID); free() it. */
uint8_t *tr_canon(const struct registrar *r, size_t *len);

/* True when both registries hold the same content. */
bool tr_same_registry(const struct registrar *a, const struct registrar *b);

#endif
