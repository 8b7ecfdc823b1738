/* static:// backend: no service; the first listed master always leads with epoch 1 and the group
 * is the host list. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coord_int.h"
#include "runtime/alloc.h"
#include "runtime/log.h"

/* Backend state. */
struct st {
	bool connected_told;	/* COORD_STATUS_CONNECTED delivered */
	struct keel_buf leader; /* MasterInfo JSON of the first host */
	char **member_payloads; /* "host:port" per host */
};

enum { ST_NEW = 0, ST_DONE = 1 };

/* Builds the leader's MasterInfo from the first host. */
static int st_build_leader(struct coord *c, struct st *s, char *errmsg)
{
	const struct coord_host *h = &c->url.hosts[0];
	Mesos__V1__MasterInfo mi = MESOS__V1__MASTER_INFO__INIT;
	Mesos__V1__Address addr = MESOS__V1__ADDRESS__INIT;
	char id[320], pid[320], hp[300];
	struct in_addr a4;
	bool v4 = inet_pton(AF_INET, h->host, &a4) == 1;

	coord_host_format(h, hp, sizeof(hp));
	snprintf(id, sizeof(id), "static-%s", hp);
	snprintf(pid, sizeof(pid), "master@%s", hp);
	mi.id = id;
	mi.ip = v4 ? a4.s_addr : 0; /* network byte order, as Mesos stores it */
	mi.port = h->port;
	mi.pid = pid;
	mi.hostname = h->host;
	addr.hostname = h->host;
	addr.ip = v4 ? h->host : NULL;
	addr.port = h->port;
	mi.address = &addr;
	return coord_master_info_json(&mi, &s->leader, errmsg);
}

static void st_run(struct coord *c)
{
	struct st *s = c->be;
	struct coord_contender *ct;
	struct coord_detector *d;
	struct coord_watch *w;
	struct coord_member_info *mi;
	size_t i, n = c->url.num_hosts;

	if (!s->connected_told) {
		s->connected_told = true;
		c->stats.sessions++;
		coord_status(c, COORD_STATUS_CONNECTED, 0, "static leader %s:%u",
			     c->url.hosts[0].host, c->url.hosts[0].port);
	}
	for (ct = c->cts; ct != NULL && !c->closing; ct = ct->next) {
		if (ct->dead || ct->state != ST_NEW)
			continue;
		ct->state = ST_DONE;
		if (ct->name == NULL)
			ct->name = keel_strdup("static");
		coord_contender_elected(ct, 1);
	}
	for (d = c->dets; d != NULL && !c->closing; d = d->next) {
		if (d->dead || d->state != ST_NEW)
			continue;
		d->state = ST_DONE;
		coord_detector_leader(d, "static", 1, keel_buf_rptr(&s->leader),
				      keel_buf_size(&s->leader));
	}
	mi = keel_calloc(n, sizeof(*mi));
	for (w = c->watches; w != NULL && !c->closing; w = w->next) {
		if (w->dead || w->state != ST_NEW)
			continue;
		if (mi == NULL) {
			coord_kick(c, 100); /* out of memory: try again */
			continue;
		}
		w->state = ST_DONE;
		for (i = 0; i < n; i++) {
			mi[i].name = s->member_payloads[i];
			mi[i].id = i + 1;
			mi[i].payload = s->member_payloads[i];
			mi[i].len = strlen(s->member_payloads[i]);
		}
		coord_watch_report(w, mi, n, 0);
	}
	keel_free(mi);
}

static void st_free(struct st *s, size_t n)
{
	size_t i;

	keel_buf_free(&s->leader);
	for (i = 0; s->member_payloads != NULL && i < n; i++)
		keel_free(s->member_payloads[i]);
	keel_free(s->member_payloads);
	keel_free(s);
}

static int st_open(struct coord *c, char *errmsg)
{
	struct st *s = keel_calloc(1, sizeof(*s));
	size_t i;
	int rv = -ENOMEM;

	if (s == NULL)
		return keel_errf(errmsg, -ENOMEM, "%s: out of memory", c->url_text);
	s->member_payloads = keel_calloc(c->url.num_hosts, sizeof(char *));
	if (s->member_payloads == NULL)
		goto fail;
	for (i = 0; i < c->url.num_hosts; i++) {
		char hp[300];
		coord_host_format(&c->url.hosts[i], hp, sizeof(hp));
		s->member_payloads[i] = keel_strdup(hp);
		if (s->member_payloads[i] == NULL)
			goto fail;
	}
	rv = st_build_leader(c, s, errmsg);
	if (rv < 0)
		goto fail;
	rv = coord_kick(c, 0); /* reports CONNECTED on the next turn */
	if (rv < 0)
		goto fail;
	c->be = s;
	c->deadline_ms = UINT64_MAX; /* nothing can expire */
	return 0;
fail:
	st_free(s, c->url.num_hosts);
	if (rv == -ENOMEM)
		keel_errf(errmsg, rv, "%s: out of memory", c->url_text);
	return rv;
}

static void st_close(struct coord *c, unsigned wait_ms)
{
	(void)wait_ms;
	st_free(c->be, c->url.num_hosts);
}

/* Nothing to delete and no session that could end: the optional hooks stay NULL. */
const struct coord_ops coord_static_ops = {
    .open = st_open,
    .close = st_close,
    .kick = st_run,
};
