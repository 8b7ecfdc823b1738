/* Mesos's validation of a decoded scheduler Call (pure: protos only, so the fuzzer links it). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "sched.h"

/* --- Validation (Mesos's validation::scheduler::call::validate) --- */

/* The Call field named after the lower-cased type ("subscribe" for SUBSCRIBE), or NULL. */
static const ProtobufCFieldDescriptor *payload_field(Mesos__V1__Scheduler__Call__Type type,
						     char *name, size_t size)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
	    &mesos__v1__scheduler__call__type__descriptor, (int)type);
	size_t i;

	if (v == NULL)
		return NULL;
	for (i = 0; v->name[i] != '\0' && i + 1 < size; i++)
		name[i] = (char)tolower((unsigned char)v->name[i]);
	name[i] = '\0';
	return protobuf_c_message_descriptor_get_field_by_name(
	    &mesos__v1__scheduler__call__descriptor, name);
}

const char *master_sched_call_invalid(const Mesos__V1__Scheduler__Call *call, char *buf,
				      size_t size)
{
	const ProtobufCFieldDescriptor *f;
	char name[64];

	if (!call->has_type)
		return "Expecting 'type' to be present";
	if (call->type == MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE) {
		if (call->subscribe == NULL)
			return "Expecting 'subscribe' to be present";
		const Mesos__V1__FrameworkID *a = call->framework_id;
		const Mesos__V1__FrameworkID *b = call->subscribe->framework_info->id;
		if ((a != NULL || b != NULL) &&
		    (a == NULL || b == NULL || strcmp(a->value, b->value) != 0))
			return "'framework_id' differs from 'subscribe.framework_info.id'";
		return NULL;
	}
	if (call->framework_id == NULL)
		return "Expecting 'framework_id' to be present";
	/* REVIVE and SUPPRESS carry their message only to name roles. */
	if (call->type == MESOS__V1__SCHEDULER__CALL__TYPE__REVIVE ||
	    call->type == MESOS__V1__SCHEDULER__CALL__TYPE__SUPPRESS)
		return NULL;
	f = payload_field(call->type, name, sizeof(name));
	if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE &&
	    *(const void *const *)((const char *)call + f->offset) == NULL) {
		snprintf(buf, size, "Expecting '%s' to be present", name);
		return buf;
	}
	if (call->type == MESOS__V1__SCHEDULER__CALL__TYPE__UPDATE_FRAMEWORK) {
		const Mesos__V1__FrameworkID *id = call->update_framework->framework_info->id;
		if (id == NULL || strcmp(id->value, call->framework_id->value) != 0)
			return "'framework_id' differs from 'update_framework.framework_info.id'";
	}
	if (call->type == MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE &&
	    call->acknowledge->uuid.len != 16)
		return "Not a valid UUID";
	return NULL;
}
