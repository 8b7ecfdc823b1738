/* The master's leader gate for HTTP calls, and the /health and /redirect endpoints. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "master_int.h"
#include "runtime/http_server.h"

void master_http_unavailable(struct master *m, struct keel_http_req *req, const char *text)
{
	m->counters.unavailable++;
	keel_http_respond_text(req, 503, text);
}

/* 307 to location + path (+ query); location "" means no leader known: 503. */
static void redirect(struct master *m, struct keel_http_req *req, const char *path, size_t path_len,
		     const char *query, size_t query_len)
{
	char loc[2048];
	const char *headers[] = {"Location", loc, NULL};
	int n;

	if (!m->leader.present || m->leader.self || m->leader.location[0] == '\0') {
		master_http_unavailable(m, req, "No leader elected");
		return;
	}
	n = snprintf(loc, sizeof(loc), "%s%.*s%s%.*s", m->leader.location, (int)path_len, path,
		     query ? "?" : "", query ? (int)query_len : 0, query ? query : "");
	if (n < 0 || (size_t)n >= sizeof(loc)) {
		keel_http_respond_text(req, 414, "URI too long to redirect");
		return;
	}
	m->counters.redirects++;
	keel_http_respond(req, 307, NULL, headers, NULL, 0);
}

bool master_http_gate(struct master *m, struct keel_http_req *req)
{
	const struct keel_http_head *h;

	switch (m->state) {
	case MASTER_LEADING:
		if (master_leading(m))
			return true;
		master_http_unavailable(m, req, "No leader elected");
		return false;
	case MASTER_RECOVERING:
		master_http_unavailable(m, req, "Leader is recovering the registry");
		return false;
	case MASTER_FAILED:
		master_http_unavailable(m, req, "Master is stopping");
		return false;
	case MASTER_INITIALIZING:
	case MASTER_STANDBY:
		break;
	}
	h = keel_http_req_head(req);
	redirect(m, req, h->path, h->path_len, h->query, h->query_len);
	return false;
}

static void on_health(struct keel_http_req *req, void *arg)
{
	(void)arg;
	keel_http_respond(req, 200, NULL, NULL, NULL, 0);
}

/* Mesos's /redirect: 307 to the leader's root (the leader sends the client to itself). */
static void on_redirect(struct keel_http_req *req, void *arg)
{
	struct master *m = arg;
	char loc[320];
	const char *headers[] = {"Location", loc, NULL};

	if (m->state == MASTER_LEADING && master_leading(m)) {
		snprintf(loc, sizeof(loc), "//%s:%u", m->cfg.hostname, m->port);
		m->counters.redirects++;
		keel_http_respond(req, 307, NULL, headers, NULL, 0);
		return;
	}
	if (m->state == MASTER_LEADING || m->state == MASTER_RECOVERING ||
	    m->state == MASTER_FAILED) {
		master_http_unavailable(m, req, "No leader elected");
		return;
	}
	redirect(m, req, "", 0, NULL, 0);
}

int master_http_routes(struct master *m, char *errmsg)
{
	static const struct {
		const char *path;
		keel_http_handler fn;
	} routes[] = {
	    {"/health", on_health},
	    {"/master/health", on_health},
	    {"/redirect", on_redirect},
	    {"/master/redirect", on_redirect},
	};

	for (size_t i = 0; i < KEEL_ARRAY_SIZE(routes); i++) {
		int rv = keel_http_server_route(m->server, KEEL_HTTP_GET, routes[i].path,
						routes[i].fn, m);
		if (rv < 0)
			return keel_errf(errmsg, rv, "cannot route %s", routes[i].path);
	}
	return 0;
}
