/* keel-agent's command-line flags (Mesos agent names) into a struct keel_agent_config. */
#ifndef KEEL_AGENT_FLAGS_H
#define KEEL_AGENT_FLAGS_H

#include <stdio.h>

#include "agent/agent.h"
#include "runtime/flags.h"

/* Rows in the flag table. */
#define KEEL_AGENT_NUM_FLAGS 15

/* Parsed flags; cfg's strings point into `flags` and live until keel_agent_flags_free. */
struct keel_agent_flags {
	struct keel_agent_config cfg;		      /* the result */
	struct keel_flags flags;		      /* the parser (owns the strings) */
	struct keel_flag table[KEEL_AGENT_NUM_FLAGS]; /* the table the parser uses */
	char *master, *work_dir, *resources, *attributes, *isolation, *image_providers,
	    *image_store_dir, *ip, *hostname, *logging_level; /* string flags */
	int launcher, recover;				      /* enum indexes */
	uint64_t port;					      /* --port */
	int64_t grace_ns, gc_delay_ns;			      /* durations */
};

/*
 * Parses argv (and KEEL_AGENT_<NAME> environment variables) into f. Returns 0,
 * KEEL_FLAGS_HELP after writing the usage to help_out, or -EINVAL/-ENOMEM with one line in
 * errmsg. Always call keel_agent_flags_free afterwards.
 */
int keel_agent_flags_parse(struct keel_agent_flags *f, int argc, char **argv, FILE *help_out,
			   char *errmsg);
void keel_agent_flags_free(struct keel_agent_flags *f);

#endif
