/* Coordination URL parsing: zk://[user:pass@]hosts/path, etcd://hosts/prefix, static://hosts. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coord.h"
#include "coord_url.h"
#include "runtime/alloc.h"

/* Copies url into out (size bytes) with a zk password replaced by "***". */
void coord_url_redact(const char *url, char *out, size_t size)
{
	const char *sep = strstr(url, "://");
	const char *at, *slash, *colon;

	snprintf(out, size, "%s", url);
	if (sep == NULL)
		return;
	slash = strchr(sep + 3, '/');
	at = strchr(sep + 3, '@');
	if (at == NULL || (slash != NULL && at > slash))
		return;
	colon = memchr(sep + 3, ':', (size_t)(at - (sep + 3)));
	if (colon == NULL)
		return;
	snprintf(out, size, "%.*s***%s", (int)(colon + 1 - url), url, at);
}

static int url_err(char *errmsg, const char *url, const char *why)
{
	char shown[512];

	coord_url_redact(url, shown, sizeof(shown));
	return keel_errf(errmsg, -EINVAL, "invalid coordination URL \"%s\": %s", shown, why);
}

static bool is_host_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '-' || ch == '_';
}

static bool is_path_char(char ch)
{
	return is_host_char(ch) || ch == ':' || ch == '@';
}

/* Parses a decimal port of n bytes into *port; false if not 1..65535. */
static bool parse_port(const char *s, size_t n, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 5)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* Parses one "host[:port]" or "[v6][:port]" of n bytes into h; a reason on failure. */
static const char *parse_host(const char *s, size_t n, uint16_t defport, struct coord_host *h)
{
	const char *host, *port = NULL;
	size_t hlen, plen = 0, i;

	if (n == 0)
		return "empty host";
	if (s[0] == '[') {
		const char *end = memchr(s, ']', n);
		if (end == NULL)
			return "unterminated '[' in host";
		host = s + 1;
		hlen = (size_t)(end - host);
		if (hlen == 0)
			return "empty host";
		for (i = 0; i < hlen; i++) {
			char ch = host[i];
			if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
			      (ch >= 'A' && ch <= 'F') || ch == ':' || ch == '.'))
				return "bad character in IPv6 address";
		}
		if ((size_t)(end + 1 - s) < n) {
			if (end[1] != ':')
				return "expected ':' after ']'";
			port = end + 2;
			plen = n - (size_t)(port - s);
		}
	} else {
		const char *colon = memchr(s, ':', n);
		host = s;
		hlen = colon != NULL ? (size_t)(colon - s) : n;
		if (hlen == 0)
			return "empty host";
		for (i = 0; i < hlen; i++)
			if (!is_host_char(host[i]))
				return "bad character in host";
		if (colon != NULL) {
			port = colon + 1;
			plen = n - hlen - 1;
		}
	}
	h->port = defport;
	if (port != NULL && !parse_port(port, plen, &h->port))
		return "port must be a number from 1 to 65535";
	h->host = keel_strndup(host, hlen);
	if (h->host == NULL)
		return NULL;
	return "";
}

/* Checks an absolute path with no empty, "." or ".." components and no trailing '/'. */
static const char *check_path(const char *p)
{
	const char *comp;

	if (p[0] != '/')
		return "the path must start with '/'";
	if (p[1] == '\0')
		return "a path other than \"/\" is required";
	comp = p + 1;
	for (;;) {
		const char *end = strchr(comp, '/');
		size_t n = end != NULL ? (size_t)(end - comp) : strlen(comp);
		size_t i;
		if (n == 0)
			return end == NULL ? "trailing '/' in path" : "empty component in path";
		if ((n == 1 && comp[0] == '.') || (n == 2 && comp[0] == '.' && comp[1] == '.'))
			return "\".\" or \"..\" in path";
		for (i = 0; i < n; i++)
			if (!is_path_char(comp[i]))
				return "bad character in path (allowed: letters, digits, -_.:@)";
		if (end == NULL)
			return NULL;
		comp = end + 1;
	}
}

void coord_url_free(struct coord_url *u)
{
	size_t i;

	if (u == NULL)
		return;
	for (i = 0; i < u->num_hosts; i++)
		keel_free(u->hosts[i].host);
	keel_free(u->hosts);
	keel_free(u->path);
	keel_free(u->user);
	keel_free(u->password);
	memset(u, 0, sizeof(*u));
}

int coord_url_parse(const char *url, struct coord_url *out, char *errmsg)
{
	const char *rest, *hosts, *hosts_end, *path;
	uint16_t defport;
	size_t n, i;
	int rv = -ENOMEM;

	memset(out, 0, sizeof(*out));
	if (url == NULL)
		return keel_errf(errmsg, -EINVAL, "invalid coordination URL: none given");
	if (strncmp(url, "zk://", 5) == 0) {
		out->backend = COORD_BACKEND_ZK;
		rest = url + 5;
		defport = 2181;
	} else if (strncmp(url, "etcd://", 7) == 0) {
		out->backend = COORD_BACKEND_ETCD;
		rest = url + 7;
		defport = 2379;
	} else if (strncmp(url, "static://", 9) == 0) {
		out->backend = COORD_BACKEND_STATIC;
		rest = url + 9;
		defport = 5050;
	} else {
		return url_err(errmsg, url, "the scheme must be zk://, etcd:// or static://");
	}

	path = strchr(rest, '/');
	hosts = rest;
	hosts_end = path != NULL ? path : rest + strlen(rest);
	const char *at = memchr(rest, '@', (size_t)(hosts_end - rest));
	if (at != NULL) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));
		if (out->backend != COORD_BACKEND_ZK) {
			rv = url_err(errmsg, url, "only zk:// takes user:password@");
			goto fail;
		}
		if (colon == NULL || colon == rest || colon + 1 == at) {
			rv = url_err(errmsg, url, "credentials must be user:password@");
			goto fail;
		}
		for (const char *p = rest; p < at; p++) {
			if ((unsigned char)*p <= ' ' || *p == '/' || *p == ',') {
				rv = url_err(errmsg, url, "bad character in credentials");
				goto fail;
			}
		}
		out->user = keel_strndup(rest, (size_t)(colon - rest));
		out->password = keel_strndup(colon + 1, (size_t)(at - colon - 1));
		if (out->user == NULL || out->password == NULL)
			goto fail;
		hosts = at + 1;
	}

	/* Hosts: comma-separated, at least one. */
	n = 1;
	for (const char *p = hosts; p < hosts_end; p++)
		n += *p == ',';
	out->hosts = keel_calloc(n, sizeof(*out->hosts));
	if (out->hosts == NULL)
		goto fail;
	const char *h = hosts;
	for (i = 0; i < n; i++) {
		const char *comma = memchr(h, ',', (size_t)(hosts_end - h));
		const char *end = comma != NULL ? comma : hosts_end;
		const char *why = parse_host(h, (size_t)(end - h), defport, &out->hosts[i]);
		if (why == NULL)
			goto fail;
		out->num_hosts = i + (out->hosts[i].host != NULL ? 1 : 0);
		if (why[0] != '\0') {
			if (hosts == hosts_end)
				why = "no hosts";
			rv = url_err(errmsg, url, why);
			goto fail;
		}
		h = end + 1;
	}

	if (out->backend == COORD_BACKEND_STATIC) {
		if (path != NULL && strcmp(path, "/") != 0) {
			rv = url_err(errmsg, url, "static:// takes no path");
			goto fail;
		}
		return 0;
	}
	if (path == NULL) {
		rv = url_err(errmsg, url,
			     out->backend == COORD_BACKEND_ZK ? "a znode path is required"
							      : "a key prefix is required");
		goto fail;
	}
	const char *why = check_path(path);
	if (why != NULL) {
		rv = url_err(errmsg, url, why);
		goto fail;
	}
	out->path = keel_strdup(path);
	if (out->path == NULL)
		goto fail;
	return 0;

fail:
	if (rv == -ENOMEM)
		keel_errf(errmsg, -ENOMEM, "parsing coordination URL: out of memory");
	coord_url_free(out);
	return rv;
}
