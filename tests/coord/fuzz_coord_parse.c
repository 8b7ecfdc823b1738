/* libFuzzer target: coordination URLs and leader payloads (MasterInfo JSON) from untrusted input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord.h"
#include "runtime/pbjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[KEEL_ERRMSG_SIZE];
	struct coord_url u;
	Mesos__V1__MasterInfo *mi;
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (coord_url_parse(s, &u, msg) == 0) {
		/* What parses is well formed. */
		if (u.num_hosts == 0 || u.hosts[0].port == 0)
			abort();
		if (u.backend != COORD_BACKEND_STATIC && (u.path == NULL || u.path[0] != '/'))
			abort();
		coord_url_free(&u);
	}
	if (coord_master_info_parse(data, size, &mi, msg) == 0) {
		if (mi->id == NULL || mi->id[0] == '\0' || mi->port == 0 || mi->port > 65535)
			abort();
		keel_pbjson_free(&mi->base);
	}
	free(s);
	return 0;
}
