/* --resources and --attributes (Mesos text syntax) into the agent's AgentInfo. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent_int.h"
#include "runtime/pbjson.h"

/* Appends one name:value item as a JSON Resource (is_attr: an Attribute) to out. */
static int info_item(struct keel_buf *out, const char *item, size_t len, bool is_attr, char *errmsg)
{
	const char *colon = memchr(item, ':', len);
	char name[64], value[256], *end;
	size_t nlen, vlen;
	double d;

	if (!colon)
		return keel_errf(errmsg, -EINVAL, "'%.*s': expected name:value", (int)len, item);
	nlen = (size_t)(colon - item);
	vlen = len - nlen - 1;
	if (nlen == 0 || nlen >= sizeof(name) || vlen == 0 || vlen >= sizeof(value))
		return keel_errf(errmsg, -EINVAL, "'%.*s': empty or too long name or value",
				 (int)len, item);
	memcpy(name, item, nlen);
	name[nlen] = '\0';
	memcpy(value, colon + 1, vlen);
	value[vlen] = '\0';
	for (size_t i = 0; i < nlen; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-' &&
		    name[i] != '.')
			return keel_errf(errmsg, -EINVAL, "'%s': bad name", name);
	if (keel_buf_size(out) > 1 && keel_buf_putc(out, ',') < 0)
		return -ENOMEM;
	if (value[0] == '[') {
		/* ranges: [a-b,c-d] */
		char *p = value + 1;

		if (value[vlen - 1] != ']')
			return keel_errf(errmsg, -EINVAL, "%s: '%s': expected [begin-end,...]",
					 name, value);
		value[vlen - 1] = '\0';
		if (keel_buf_printf(out,
				    "{\"name\":\"%s\",\"type\":\"RANGES\",\"ranges\":{\"range\":[",
				    name) < 0)
			return -ENOMEM;
		for (int n = 0; *p; n++) {
			unsigned long long b, e;

			errno = 0;
			b = strtoull(p, &end, 10);
			if (end == p || *end != '-' || errno)
				return keel_errf(errmsg, -EINVAL, "%s: bad range at '%s'", name, p);
			p = end + 1;
			e = strtoull(p, &end, 10);
			if (end == p || errno || e < b || (*end != ',' && *end != '\0'))
				return keel_errf(errmsg, -EINVAL, "%s: bad range end at '%s'", name,
						 p);
			if (keel_buf_printf(out, "%s{\"begin\":%llu,\"end\":%llu}", n ? "," : "", b,
					    e) < 0)
				return -ENOMEM;
			p = *end ? end + 1 : end;
		}
		return keel_buf_puts(out, "]}}") < 0 ? -ENOMEM : 0;
	}
	errno = 0;
	d = strtod(value, &end);
	if (*end == '\0' && end != value && errno == 0 && d >= 0 && d < 1e15) {
		return keel_buf_printf(
			   out, "{\"name\":\"%s\",\"type\":\"SCALAR\",\"scalar\":{\"value\":%.6f}}",
			   name, d) < 0
			   ? -ENOMEM
			   : 0;
	}
	if (!is_attr)
		return keel_errf(errmsg, -EINVAL, "%s: '%s' is not a number or ranges", name,
				 value);
	for (size_t i = 0; i < vlen; i++)
		if (value[i] == '"' || value[i] == '\\' || (unsigned char)value[i] < 0x20)
			return keel_errf(errmsg, -EINVAL, "%s: bad character in value", name);
	return keel_buf_printf(out,
			       "{\"name\":\"%s\",\"type\":\"TEXT\",\"text\":{\"value\":\"%s\"}}",
			       name, value) < 0
		   ? -ENOMEM
		   : 0;
}

/* Appends a JSON array of the ';'-separated items of text to out. */
static int info_list(struct keel_buf *out, const char *text, bool is_attr, char *errmsg)
{
	struct keel_buf items = KEEL_BUF_INIT;
	int rv = 0;

	if (keel_buf_putc(&items, '[') < 0) {
		keel_buf_free(&items);
		return -ENOMEM;
	}
	while (text && *text) {
		const char *semi = strchr(text, ';');
		size_t len = semi ? (size_t)(semi - text) : strlen(text);

		if (len > 0 && (rv = info_item(&items, text, len, is_attr, errmsg)) < 0)
			break;
		text = semi ? semi + 1 : NULL;
	}
	if (rv == 0 && (keel_buf_putc(&items, ']') < 0 ||
			keel_buf_append(out, keel_buf_rptr(&items), keel_buf_size(&items)) < 0))
		rv = -ENOMEM;
	keel_buf_free(&items);
	return rv;
}

/* The host's resources when --resources is absent. */
static void info_detect(char *out, size_t size)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	uint64_t mem_mb = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize >> 20 : 1024;

	/* Leave the host 1 GB (or half of a small host), as Mesos does. */
	mem_mb = mem_mb > 2048 ? mem_mb - 1024 : mem_mb / 2;
	snprintf(out, size, "cpus:%ld;mem:%" PRIu64 ";disk:10240;ports:[31000-32000]",
		 cpus > 0 ? cpus : 1, mem_mb);
}

int agent_info_build(const char *hostname, uint16_t port, const char *resources,
		     const char *attributes, Mesos__V1__AgentInfo **out, char *errmsg)
{
	struct keel_buf js = KEEL_BUF_INIT;
	char detected[128], why[KEEL_ERRMSG_SIZE];
	int rv;

	*out = NULL;
	if (!resources) {
		info_detect(detected, sizeof(detected));
		resources = detected;
	}
	for (const char *p = hostname; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			return keel_errf(errmsg, -EINVAL, "--hostname: bad character");
	if (keel_buf_printf(&js, "{\"hostname\":\"%s\",\"port\":%u,\"resources\":", hostname,
			    port) < 0) {
		rv = -ENOMEM;
		goto out;
	}
	if ((rv = info_list(&js, resources, false, why)) < 0) {
		keel_errf(errmsg, rv, "--resources: %s", why);
		goto out;
	}
	if (keel_buf_puts(&js, ",\"attributes\":") < 0) {
		rv = -ENOMEM;
		goto out;
	}
	if ((rv = info_list(&js, attributes, true, why)) < 0) {
		keel_errf(errmsg, rv, "--attributes: %s", why);
		goto out;
	}
	if (keel_buf_putc(&js, '}') < 0) {
		rv = -ENOMEM;
		goto out;
	}
	rv = keel_pbjson_read(&mesos__v1__agent_info__descriptor, keel_buf_rptr(&js),
			      keel_buf_size(&js), (ProtobufCMessage **)out, why);
	if (rv < 0)
		keel_errf(errmsg, rv, "agent info: %s", why);
out:
	if (rv == -ENOMEM)
		keel_errf(errmsg, rv, "out of memory");
	keel_buf_free(&js);
	return rv;
}
