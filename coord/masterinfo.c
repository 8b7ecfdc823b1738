/* MasterInfo payloads: written as Mesos writes them into ZooKeeper, and checked the way Mesos
 * detectors read them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coord.h"
#include "runtime/pbjson.h"

int coord_master_info_json(const Mesos__V1__MasterInfo *mi, struct keel_buf *out, char *errmsg)
{
	int rv = keel_pbjson_check(&mi->base, errmsg);

	if (rv < 0)
		return keel_errwrap(errmsg, rv, "MasterInfo");
	rv = keel_pbjson_write(out, &mi->base, errmsg);
	if (rv < 0)
		return keel_errwrap(errmsg, rv, "MasterInfo");
	return 0;
}

/* True for "name@host:port" with a non-empty name and host and a port 1..65535. */
static bool pid_valid(const char *pid)
{
	const char *at = strchr(pid, '@');
	const char *colon;
	unsigned long port = 0;

	if (at == NULL || at == pid)
		return false;
	colon = strrchr(at, ':');
	if (colon == NULL || colon == at + 1 || colon[1] == '\0')
		return false;
	for (const char *p = colon + 1; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || port > 65535)
			return false;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	return port >= 1 && port <= 65535;
}

int coord_master_info_parse(const void *payload, size_t len, Mesos__V1__MasterInfo **out,
			    char *errmsg)
{
	ProtobufCMessage *m = NULL;
	Mesos__V1__MasterInfo *mi;
	const char *why = NULL;
	int rv;

	*out = NULL;
	if (len == 0)
		return keel_errf(errmsg, -EBADMSG, "empty payload");
	rv = keel_pbjson_read(&mesos__v1__master_info__descriptor, payload, len, &m, errmsg);
	if (rv == -ENOMEM)
		return rv;
	if (rv < 0)
		return keel_errwrap(errmsg, -EBADMSG, "not MasterInfo JSON");
	mi = (Mesos__V1__MasterInfo *)m;
	if (mi->id == NULL || mi->id[0] == '\0')
		why = "empty id";
	else if (mi->port == 0 || mi->port > 65535)
		why = "port out of range";
	else if (mi->pid != NULL && !pid_valid(mi->pid))
		why = "pid is not name@host:port";
	else if (mi->address != NULL && (mi->address->port <= 0 || mi->address->port > 65535))
		why = "address.port out of range";
	if (why != NULL) {
		keel_pbjson_free(m);
		return keel_errf(errmsg, -EBADMSG, "MasterInfo: %s", why);
	}
	*out = mi;
	return 0;
}
