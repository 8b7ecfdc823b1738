/* Leadership: detecting who leads, contending, recovering the registry when elected, losing it. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "coord/coord.h"
#include "master_int.h"
#include "quota.h"
#include "registrar.h"
#include "runtime/alloc.h"
#include "runtime/buf.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"

void master_leader_clear(struct master_leader *l)
{
	if (l->info)
		keel_pbjson_free(&l->info->base);
	memset(l, 0, sizeof(*l));
}

/* "//<hostname or ip>:<port>" of a MasterInfo (the scheme-relative form Mesos redirects to). */
static void leader_location(const Mesos__V1__MasterInfo *mi, char *out, size_t size)
{
	const char *host = NULL;
	char ip[INET_ADDRSTRLEN] = "";
	uint32_t port = mi->port;

	if (mi->hostname != NULL && mi->hostname[0] != '\0')
		host = mi->hostname;
	else if (mi->address != NULL && mi->address->hostname && mi->address->hostname[0])
		host = mi->address->hostname;
	else if (mi->address != NULL && mi->address->ip && mi->address->ip[0])
		host = mi->address->ip;
	if (host == NULL) {
		struct in_addr a = {.s_addr = mi->ip};
		inet_ntop(AF_INET, &a, ip, sizeof(ip));
		host = ip;
	}
	if (mi->address != NULL && mi->address->port > 0)
		port = (uint32_t)mi->address->port;
	if (strchr(host, ':') != NULL)
		snprintf(out, size, "//[%s]:%" PRIu32, host, port);
	else
		snprintf(out, size, "//%s:%" PRIu32, host, port);
}

static bool leader_is_self(const struct master *m, const Mesos__V1__MasterInfo *mi)
{
	if (mi == NULL)
		return false;
	if (strcmp(mi->id, m->id) == 0)
		return true;
	/* static:// reports a synthesised MasterInfo for the first host: compare addresses. */
	return mi->pid != NULL && m->info != NULL && strcmp(mi->pid, m->info->pid) == 0;
}

static void on_leader(struct coord_detector *d, const struct coord_leader *l, void *arg)
{
	struct master *m = arg;
	struct master_leader *ld = &m->leader;
	Mesos__V1__MasterInfo *mi = NULL;

	(void)d;
	master_leader_clear(ld);
	if (!l->present || l->err != 0) {
		if (l->present)
			KEEL_WARN(MASTER_LOG, "the leader's MasterInfo is unusable: %s",
				  l->message);
		else if (l->err != 0)
			KEEL_INFO(MASTER_LOG, "no leader known: %s", l->message);
		else
			KEEL_INFO(MASTER_LOG, "no leader elected");
		return;
	}
	if (coord_master_info_parse(l->payload, l->len, &mi, NULL) < 0)
		return;
	ld->present = true;
	ld->epoch = l->epoch;
	ld->info = mi;
	ld->self = leader_is_self(m, mi);
	leader_location(mi, ld->location, sizeof(ld->location));
	KEEL_INFO(MASTER_LOG, "leader is %s (%s, epoch %" PRIu64 ")%s", mi->pid ? mi->pid : mi->id,
		  ld->location, l->epoch, ld->self ? ": this master" : "");
}

int master_detect_start(struct master *m, char *errmsg)
{
	return coord_detect(m->coord, COORD_DETECT_MASTER_INFO, on_leader, m, &m->detector, errmsg);
}

static void on_recovered(struct registrar *r, int status, void *arg)
{
	struct master *m = arg;
	char errmsg[KEEL_ERRMSG_SIZE];
	uint64_t now = keel_loop_clock_ns() / 1000000u;

	(void)r;
	if (m->state != MASTER_RECOVERING)
		return;
	if (status < 0) {
		master_fail(m, "registry recovery failed: %s", strerror(-status));
		return;
	}
	m->state = MASTER_LEADING;
	if (!master_leading(m))
		return; /* lost while recovering: failed */
	m->recovered_ms = now - m->elected_mono_ms;
	if (master_liveness_start(m, errmsg) < 0 || master_quota_recover(m, errmsg) < 0) {
		master_fail(m, "%s", errmsg);
		return;
	}
	KEEL_INFO(MASTER_LOG,
		  "leading with epoch %" PRIu64 ": registry recovered in %" PRIu64
		  " ms, %zu admitted agents (%zu unreachable) to re-register",
		  m->epoch, m->recovered_ms, registrar_count_agents(r, REGISTRAR_AGENT_ADMITTED),
		  registrar_count_agents(r, REGISTRAR_AGENT_UNREACHABLE));
}

static void on_contender(struct coord_contender *ct, const struct coord_contender_event *ev,
			 void *arg)
{
	struct master *m = arg;
	int rv;

	(void)ct;
	if (m->state == MASTER_FAILED)
		return;
	if (ev->type == COORD_LOST) {
		master_fail(m, "lost leadership (epoch %" PRIu64 "): %s", ev->epoch, ev->message);
		return;
	}
	if (m->state != MASTER_STANDBY) {
		/* Elected again while still acting on a term: a term ended without COORD_LOST,
		 * which the coord never does; stop rather than mix terms. */
		master_fail(m, "elected with epoch %" PRIu64 " while in term %" PRIu64, ev->epoch,
			    m->epoch);
		return;
	}
	m->state = MASTER_RECOVERING;
	m->epoch = ev->epoch;
	m->elected_time_ns = master_wall_ns();
	m->elected_mono_ms = keel_loop_clock_ns() / 1000000u;
	KEEL_INFO(MASTER_LOG, "elected with epoch %" PRIu64 " (%s): recovering the registry",
		  ev->epoch, ev->name);
	rv = registrar_recover(m->registrar, m->info, on_recovered, m);
	if (rv < 0)
		master_fail(m, "cannot start registry recovery: %s", strerror(-rv));
}

/* static://: only the first host of the list leads; the others stand by without contending. */
static int static_eligible(struct master *m, bool *eligible, char *errmsg)
{
	struct coord_url u;
	struct sockaddr_storage a, b;
	socklen_t alen, blen;
	int rv = coord_url_parse(m->cfg.coord_url, &u, errmsg);

	if (rv < 0)
		return rv;
	*eligible = false;
	if (u.hosts[0].port == m->port) {
		rv = keel_resolve(u.hosts[0].host, u.hosts[0].port, &a, &alen, NULL);
		if (rv == 0 && keel_resolve(m->cfg.ip, m->port, &b, &blen, NULL) == 0)
			*eligible = alen == blen && memcmp(&a, &b, alen) == 0;
	}
	coord_url_free(&u);
	return 0;
}

int master_contend_start(struct master *m, char *errmsg)
{
	struct keel_buf json = KEEL_BUF_INIT;
	bool eligible = true;
	int rv;

	if (coord_backend_of(m->coord) == COORD_BACKEND_STATIC) {
		rv = static_eligible(m, &eligible, errmsg);
		if (rv < 0)
			return rv;
		if (!eligible) {
			KEEL_INFO(MASTER_LOG, "not the first master of %s: standing by",
				  m->cfg.coord_url);
			return 0;
		}
	}
	rv = coord_master_info_json(m->info, &json, errmsg);
	if (rv == 0)
		rv = coord_contend(m->coord, keel_buf_rptr(&json), keel_buf_size(&json),
				   on_contender, m, &m->contender, errmsg);
	keel_buf_free(&json);
	return rv;
}
