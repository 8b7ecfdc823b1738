/* libkeel-sched: builders for resources and tasks, and reading a task's exit status. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/err.h"
#include "runtime/pbjson.h"
#include "sched/sched_int.h"

void keel_sched_msg_free(void *msg)
{
	keel_pbjson_free(msg);
}

void keel_sched_resources_free(Mesos__V1__Resource **r, size_t n)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		keel_pbjson_free(r[i] != NULL ? &r[i]->base : NULL);
	keel_free(r);
}

/* Parses "[a-b,c-d]" into r->ranges. */
static int parse_ranges(Mesos__V1__Resource *r, const char *v, char *errmsg)
{
	Mesos__V1__Value__Ranges *rs;
	const char *p = v + 1;
	char *end;

	rs = keel_calloc(1, sizeof(*rs));
	if (rs == NULL)
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	mesos__v1__value__ranges__init(rs);
	r->ranges = rs;
	r->type = MESOS__V1__VALUE__TYPE__RANGES;
	while (*p != ']') {
		Mesos__V1__Value__Range *one, **grown;
		unsigned long long b, e;
		errno = 0;
		b = strtoull(p, &end, 10);
		if (end == p || *end != '-' || errno != 0)
			return keel_errf(errmsg, -EINVAL, "bad range in \"%s\"", v);
		p = end + 1;
		e = strtoull(p, &end, 10);
		if (end == p || (*end != ',' && *end != ']') || errno != 0 || e < b)
			return keel_errf(errmsg, -EINVAL, "bad range in \"%s\"", v);
		p = *end == ',' ? end + 1 : end;
		one = keel_calloc(1, sizeof(*one));
		grown = one != NULL ? keel_realloc(rs->range, (rs->n_range + 1) * sizeof(*grown))
				    : NULL;
		if (grown == NULL) {
			keel_free(one);
			return keel_errf(errmsg, -ENOMEM, "out of memory");
		}
		mesos__v1__value__range__init(one);
		one->begin = b;
		one->end = e;
		rs->range = grown;
		rs->range[rs->n_range++] = one;
	}
	if (p[1] != '\0' || rs->n_range == 0)
		return keel_errf(errmsg, -EINVAL, "bad ranges \"%s\"", v);
	return 0;
}

/* Parses one "name:value" item into a new Resource. */
static int parse_one(const char *item, Mesos__V1__Resource **out, char *errmsg)
{
	const char *colon = strchr(item, ':');
	Mesos__V1__Resource *r;
	char *end;
	double d;
	int rv = 0;

	if (colon == NULL || colon == item || colon[1] == '\0')
		return keel_errf(errmsg, -EINVAL, "resource \"%s\" is not name:value", item);
	r = keel_calloc(1, sizeof(*r));
	if (r == NULL)
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	mesos__v1__resource__init(r);
	*out = r;
	r->name = keel_strndup(item, (size_t)(colon - item));
	if (r->name == NULL)
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	if (colon[1] == '[') {
		if (item[strlen(item) - 1] != ']')
			return keel_errf(errmsg, -EINVAL, "bad ranges in \"%s\"", item);
		return parse_ranges(r, colon + 1, errmsg);
	}
	errno = 0;
	d = strtod(colon + 1, &end);
	if (*end != '\0' || errno != 0 || !(d >= 0) || d > 1e15)
		return keel_errf(errmsg, -EINVAL, "bad scalar in resource \"%s\"", item);
	r->scalar = keel_calloc(1, sizeof(*r->scalar));
	if (r->scalar == NULL)
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	mesos__v1__value__scalar__init(r->scalar);
	r->scalar->value = d;
	r->type = MESOS__V1__VALUE__TYPE__SCALAR;
	return rv;
}

int keel_sched_resources_parse(const char *spec, Mesos__V1__Resource ***out, size_t *n,
			       char *errmsg)
{
	Mesos__V1__Resource **arr = NULL;
	size_t cnt = 0;
	const char *p = spec;
	int rv = 0;

	*out = NULL;
	*n = 0;
	if (spec == NULL || spec[0] == '\0')
		return keel_errf(errmsg, -EINVAL, "empty resource spec");
	while (*p != '\0') {
		const char *semi = strchr(p, ';');
		size_t len = semi != NULL ? (size_t)(semi - p) : strlen(p);
		Mesos__V1__Resource **grown;
		char *item = keel_strndup(p, len);
		if (item == NULL) {
			rv = keel_errf(errmsg, -ENOMEM, "out of memory");
			break;
		}
		grown = keel_realloc(arr, (cnt + 1) * sizeof(*grown));
		if (grown == NULL) {
			keel_free(item);
			rv = keel_errf(errmsg, -ENOMEM, "out of memory");
			break;
		}
		arr = grown;
		arr[cnt] = NULL;
		rv = parse_one(item, &arr[cnt], errmsg);
		cnt++;
		keel_free(item);
		if (rv < 0)
			break;
		p += len;
		if (*p == ';')
			p++;
	}
	if (rv < 0) {
		keel_sched_resources_free(arr, cnt);
		return rv;
	}
	*out = arr;
	*n = cnt;
	return 0;
}

/* Allocates an ID-like message {value} of descriptor d into *out. */
static int new_id(const ProtobufCMessageDescriptor *d, const char *value, void **out)
{
	/* TaskID, AgentID, ... all have the layout {base; char *value}. */
	struct idmsg {
		ProtobufCMessage base;
		char *value;
	} *m = keel_calloc(1, sizeof(*m));

	*out = m;
	if (m == NULL)
		return -ENOMEM;
	protobuf_c_message_init(d, m);
	m->value = keel_strdup(value);
	return m->value != NULL ? 0 : -ENOMEM;
}

int keel_sched_task_command(const char *name, const char *task_id, const char *agent_id,
			    const char *command, const char *resources, Mesos__V1__TaskInfo **out,
			    char *errmsg)
{
	Mesos__V1__TaskInfo *t;
	int rv;

	*out = NULL;
	if (name == NULL || task_id == NULL || task_id[0] == '\0' || agent_id == NULL ||
	    agent_id[0] == '\0' || command == NULL)
		return keel_errf(errmsg, -EINVAL, "a task needs name, task_id, agent_id, command");
	t = keel_calloc(1, sizeof(*t));
	if (t == NULL)
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	mesos__v1__task_info__init(t);
	t->name = keel_strdup(name);
	rv = t->name != NULL ? 0 : -ENOMEM;
	if (rv == 0)
		rv = new_id(&mesos__v1__task_id__descriptor, task_id, (void **)&t->task_id);
	if (rv == 0)
		rv = new_id(&mesos__v1__agent_id__descriptor, agent_id, (void **)&t->agent_id);
	if (rv == 0) {
		t->command = keel_calloc(1, sizeof(*t->command));
		rv = t->command != NULL ? 0 : -ENOMEM;
	}
	if (rv == 0) {
		mesos__v1__command_info__init(t->command);
		t->command->shell = true;
		t->command->has_shell = true;
		t->command->value = keel_strdup(command);
		rv = t->command->value != NULL ? 0 : -ENOMEM;
	}
	if (rv < 0) {
		keel_errf(errmsg, rv, "out of memory");
	} else if (resources != NULL) {
		rv = keel_sched_resources_parse(resources, &t->resources, &t->n_resources, errmsg);
	}
	if (rv < 0) {
		keel_pbjson_free(&t->base);
		return rv;
	}
	*out = t;
	return 0;
}

int keel_sched_task_container(const char *name, const char *task_id, const char *agent_id,
			      const char *command, const char *image, const char *resources,
			      Mesos__V1__TaskInfo **out, char *errmsg)
{
	Mesos__V1__ContainerInfo *ci;
	Mesos__V1__ContainerInfo__MesosInfo *mi;
	Mesos__V1__Image *im;
	Mesos__V1__Image__Docker *dk;
	Mesos__V1__TaskInfo *t;
	int rv;

	*out = NULL;
	if (image == NULL || image[0] == '\0')
		return keel_errf(errmsg, -EINVAL, "a container task needs an image");
	rv = keel_sched_task_command(name, task_id, agent_id, command, resources, &t, errmsg);
	if (rv < 0)
		return rv;
	/* Each part hangs on the task as soon as it exists, so one free releases everything. */
	ci = t->container = keel_calloc(1, sizeof(*ci));
	if (ci == NULL)
		goto oom;
	mesos__v1__container_info__init(ci);
	ci->type = MESOS__V1__CONTAINER_INFO__TYPE__MESOS;
	mi = ci->mesos = keel_calloc(1, sizeof(*mi));
	if (mi == NULL)
		goto oom;
	mesos__v1__container_info__mesos_info__init(mi);
	im = mi->image = keel_calloc(1, sizeof(*im));
	if (im == NULL)
		goto oom;
	mesos__v1__image__init(im);
	im->type = MESOS__V1__IMAGE__TYPE__DOCKER;
	dk = im->docker = keel_calloc(1, sizeof(*dk));
	if (dk == NULL)
		goto oom;
	mesos__v1__image__docker__init(dk);
	dk->name = keel_strdup(image);
	if (dk->name == NULL)
		goto oom;
	*out = t;
	return 0;
oom:
	keel_pbjson_free(&t->base);
	return keel_errf(errmsg, -ENOMEM, "out of memory");
}

int keel_sched_exit_status(const Mesos__V1__TaskStatus *st)
{
	static const char key[] = "Command exited with status ";
	const char *p;
	char *end;
	long v;

	if (st == NULL || st->message == NULL)
		return -1;
	p = strstr(st->message, key);
	if (p == NULL)
		return -1;
	v = strtol(p + sizeof(key) - 1, &end, 10);
	if (end == p + sizeof(key) - 1 || v < 0 || v > 255)
		return -1;
	return (int)v;
}
