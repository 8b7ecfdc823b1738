/* Helpers shared by the registrar tests: agent messages, completion recorders, comparisons. */
#include "test_registrar_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "master/registrar_int.h"

void tr_agent_init(struct tr_agent *a, unsigned k, size_t pad)
{
	static const char *names[3] = {"cpus", "mem", "disk"};
	size_t n;

	memset(a, 0, sizeof(*a));
	mesos__v1__agent_info__init(&a->info);
	mesos__v1__agent_id__init(&a->id);
	snprintf(a->id_buf, sizeof(a->id_buf), "agent-%u", k);
	n = (size_t)snprintf(a->host, sizeof(a->host), "host-%u", k);
	if (pad > sizeof(a->host) - n - 1)
		pad = sizeof(a->host) - n - 1;
	memset(a->host + n, 'x', pad);
	a->host[n + pad] = '\0';
	a->id.value = a->id_buf;
	a->info.id = &a->id;
	a->info.hostname = a->host;
	a->info.has_port = true;
	a->info.port = 5051;
	for (unsigned i = 0; i < 3; i++) {
		mesos__v1__resource__init(&a->res[i]);
		mesos__v1__value__scalar__init(&a->scalar[i]);
		a->scalar[i].value = (double)(k % 64 + 1) * (i + 1);
		a->res[i].name = (char *)names[i];
		a->res[i].type = MESOS__V1__VALUE__TYPE__SCALAR;
		a->res[i].scalar = &a->scalar[i];
		a->res_ptrs[i] = &a->res[i];
	}
	a->info.n_resources = 3;
	a->info.resources = a->res_ptrs;
}

void tr_master_init(struct tr_master *m, const char *id)
{
	mesos__v1__master_info__init(&m->info);
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->info.id = m->id;
	m->info.ip = 0x0100007f;
	m->info.port = 5050;
}

void tr_framework_init(struct tr_framework *f, const char *id)
{
	mesos__v1__framework_info__init(&f->info);
	mesos__v1__framework_id__init(&f->id);
	snprintf(f->id_buf, sizeof(f->id_buf), "%s", id);
	f->id.value = f->id_buf;
	f->info.id = &f->id;
	f->info.user = "root";
	f->info.name = "test-framework";
}

static unsigned tr_seq;

void tr_on_done(struct registrar *r, int status, void *arg)
{
	struct tr_done *d = arg;

	(void)r;
	d->fired++;
	d->status = status;
	d->seq = ++tr_seq;
}

void tr_on_fatal(struct registrar *r, int err, const char *message, void *arg)
{
	struct tr_fatal *f = arg;

	f->fired++;
	f->err = err;
	snprintf(f->msg, sizeof(f->msg), "%s", message);
	if (f->close)
		registrar_close(r);
}

int64_t tr_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint8_t *tr_canon(const struct registrar *r, size_t *len)
{
	struct keel_buf b = KEEL_BUF_INIT;

	ASSERT_OK(registry_pack(&r->reg, true, &b, NULL));
	return (uint8_t *)keel_buf_steal(&b, len);
}

bool tr_same_registry(const struct registrar *a, const struct registrar *b)
{
	size_t la, lb;
	uint8_t *pa = tr_canon(a, &la), *pb = tr_canon(b, &lb);
	bool same = la == lb && memcmp(pa, pb, la) == 0;

	free(pa);
	free(pb);
	return same;
}
