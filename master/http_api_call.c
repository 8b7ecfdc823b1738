/* The operator API's pure parts: Mesos's Call validation and Accept negotiation (the fuzzer
 * links this file alone). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_api_call.h"
#include "runtime/alloc.h"

/* --- Content negotiation (Mesos's Request::acceptsMediaType) --- */

/* The q parameter of one media range: absent or malformed means accepted; else q > 0. */
static bool range_q_accepts(char *params)
{
	char *save = NULL, *tok, *q = NULL;
	unsigned nq = 0;

	for (tok = strtok_r(params, ";", &save); tok != NULL; tok = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(tok, '=');
		if (eq == NULL || eq == tok || eq[1] == '\0' || strchr(eq + 1, '=') != NULL)
			continue; /* not a key=value pair */
		*eq = '\0';
		if (strcmp(tok, "q") == 0) {
			q = eq + 1;
			nq++;
		}
	}
	if (nq != 1)
		return true;
	char *end;
	double v = strtod(q, &end);
	return end != q && *end == '\0' && v > 0;
}

/*
 * Whether the Accept header (NULL: absent) allows media ("type/subtype"): the
 * first media range naming the exact type decides by its q; failing that the
 * first "type/" wildcard range, then the first full wildcard. Whitespace is
 * ignored, as Mesos ignores it.
 */
bool master_api_accepts(const char *accept, size_t len, const char *media)
{
	char candidates[3][64];
	const char *slash = strchr(media, '/');
	char *copy, *p;
	size_t n = 0;
	bool result = false;

	if (accept == NULL)
		return true;
	/* Without whitespace, each media range NUL-terminated in place of its comma. */
	copy = keel_xmalloc(len + 2);
	for (size_t i = 0; i < len; i++) {
		char c = accept[i];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			copy[n++] = c == ',' ? '\0' : c;
	}
	copy[n] = '\0';
	copy[n + 1] = '\0';
	snprintf(candidates[0], sizeof(candidates[0]), "%s", media);
	snprintf(candidates[1], sizeof(candidates[1]), "%.*s/*", (int)(slash - media), media);
	snprintf(candidates[2], sizeof(candidates[2]), "*/*");
	for (size_t c = 0; c < 3; c++) {
		size_t clen = strlen(candidates[c]);
		for (p = copy; p < copy + n + 1; p += strlen(p) + 1) {
			size_t tlen = strcspn(p, ";");
			if (tlen == clen && strncasecmp(p, candidates[c], tlen) == 0) {
				result = range_q_accepts(p);
				goto out;
			}
		}
	}
out:
	keel_free(copy);
	return result;
}

/* Mesos's validation of a decoded Call (validation::master::call::validate). */
const char *master_api_call_invalid(const Mesos__V1__Master__Call *call)
{
	if (!call->has_type ||
	    protobuf_c_enum_descriptor_get_value(&mesos__v1__master__call__type__descriptor,
						 (int)call->type) == NULL)
		return "Expecting 'type' to be present";
	if (call->type == MESOS__V1__MASTER__CALL__TYPE__GET_METRICS && call->get_metrics == NULL)
		return "Expecting 'get_metrics' to be present";
	if (call->type == MESOS__V1__MASTER__CALL__TYPE__MARK_AGENT_GONE &&
	    call->mark_agent_gone == NULL)
		return "Expecting 'mark_agent_gone' to be present";
	if (call->type == MESOS__V1__MASTER__CALL__TYPE__DRAIN_AGENT && call->drain_agent == NULL)
		return "Expecting 'drain_agent' to be present";
	if (call->type == MESOS__V1__MASTER__CALL__TYPE__DEACTIVATE_AGENT &&
	    call->deactivate_agent == NULL)
		return "Expecting 'deactivate_agent' to be present";
	if (call->type == MESOS__V1__MASTER__CALL__TYPE__REACTIVATE_AGENT &&
	    call->reactivate_agent == NULL)
		return "Expecting 'reactivate_agent' to be present";
	if (call->type == MESOS__V1__MASTER__CALL__TYPE__UPDATE_WEIGHTS && !call->update_weights)
		return "Expecting 'update_weights' to be present";
	if (call->type == MESOS__V1__MASTER__CALL__TYPE__UPDATE_QUOTA && !call->update_quota)
		return "Expecting 'update_quota' to be present";
	if (call->type == MESOS__V1__MASTER__CALL__TYPE__SET_QUOTA && !call->set_quota)
		return "Expecting 'set_quota' to be present";
	if (call->type == MESOS__V1__MASTER__CALL__TYPE__REMOVE_QUOTA && !call->remove_quota)
		return "Expecting 'remove_quota' to be present";
	return NULL;
}
