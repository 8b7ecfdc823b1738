/* What the example frameworks share: their set-up and run, and task state helpers. */
#include "example.h"

#include <stdio.h>
#include <stdlib.h>

int example_run(const char *prog, const char *framework_name, struct keel_sched_config *cfg,
		struct keel_sched **s)
{
	Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
	char msg[KEEL_ERRMSG_SIZE];
	int rv;

	*s = NULL;
	fi.name = (char *)framework_name;
	fi.user = getenv("USER") != NULL ? getenv("USER") : "root";
	cfg->framework = &fi; /* read by keel_sched_new only: copied there */
	rv = keel_sched_new(cfg, s, msg);
	cfg->framework = NULL;
	if (rv == 0)
		rv = keel_sched_start(*s, msg);
	if (rv < 0) {
		fprintf(stderr, "%s: %s\n", prog, msg);
		return 1;
	}
	keel_sched_run(*s);
	return 0;
}

bool example_terminal(Mesos__V1__TaskState st)
{
	return st != MESOS__V1__TASK_STATE__TASK_STAGING &&
	       st != MESOS__V1__TASK_STATE__TASK_STARTING &&
	       st != MESOS__V1__TASK_STATE__TASK_RUNNING &&
	       st != MESOS__V1__TASK_STATE__TASK_KILLING;
}

const char *example_state_name(Mesos__V1__TaskState st)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&mesos__v1__task_state__descriptor, (int)st);

	return v != NULL ? v->name : "UNKNOWN";
}
