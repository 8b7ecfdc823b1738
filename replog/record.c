/* Encoding and checked decoding of the replog storage records described in record.h. */
#include "record.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "crc32c.h"
#include "runtime/err.h"

#define RECORD_FLAG_LEARNED 0x01u
#define RECORD_FLAG_TOMBSTONE 0x02u

static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void replog_record_key(uint64_t position, void *key)
{
	unsigned char *k = key;
	for (int i = 0; i < 8; i++)
		k[i] = (unsigned char)(position >> (56 - 8 * i));
}

int replog_record_key_decode(const void *key, size_t len, uint64_t *position)
{
	const unsigned char *k = key;
	uint64_t v = 0;

	if (len != REPLOG_RECORD_KEY_SIZE)
		return -EBADMSG;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | k[i];
	*position = v;
	return 0;
}

size_t replog_record_action_size(const struct replog_action *a)
{
	size_t len = a->type == REPLOG_ACTION_APPEND ? a->len : 0;
	return REPLOG_RECORD_ACTION_HEADER + len + 4;
}

static uint32_t record_action_crc(uint64_t position, const unsigned char *p, size_t n)
{
	unsigned char key[REPLOG_RECORD_KEY_SIZE];

	replog_record_key(position, key);
	return replog_crc32c(replog_crc32c(0, key, sizeof(key)), p, n);
}

void replog_record_action_encode(const struct replog_action *a, void *buf)
{
	unsigned char *p = buf;
	uint32_t len = a->type == REPLOG_ACTION_APPEND ? (uint32_t)a->len : 0;

	p[0] = REPLOG_RECORD_VERSION;
	p[1] = a->type;
	p[2] = (unsigned char)((a->learned ? RECORD_FLAG_LEARNED : 0) |
			       (a->tombstone ? RECORD_FLAG_TOMBSTONE : 0));
	p[3] = 0;
	put_le64(p + 4, a->ballot);
	put_le64(p + 12, a->type == REPLOG_ACTION_TRUNCATE ? a->to : 0);
	put_le32(p + 20, len);
	if (len > 0)
		memcpy(p + REPLOG_RECORD_ACTION_HEADER, a->value, len);
	put_le32(p + REPLOG_RECORD_ACTION_HEADER + len,
		 record_action_crc(a->position, p, REPLOG_RECORD_ACTION_HEADER + len));
}

int replog_record_action_decode(uint64_t position, const void *buf, size_t len,
				struct replog_action *out, char *errmsg)
{
	const unsigned char *p = buf;
	uint32_t vlen;

	if (len < REPLOG_RECORD_ACTION_HEADER + 4)
		return keel_errf(errmsg, -EBADMSG,
				 "action %" PRIu64 ": record of %zu bytes is short", position, len);
	if (p[0] != REPLOG_RECORD_VERSION)
		return keel_errf(errmsg, -EBADMSG, "action %" PRIu64 ": unknown record version %u",
				 position, p[0]);
	vlen = get_le32(p + 20);
	if ((size_t)vlen != len - REPLOG_RECORD_ACTION_HEADER - 4)
		return keel_errf(errmsg, -EBADMSG,
				 "action %" PRIu64 ": value length %" PRIu32
				 " does not match a record of %zu bytes",
				 position, vlen, len);
	if (get_le32(p + REPLOG_RECORD_ACTION_HEADER + vlen) !=
	    record_action_crc(position, p, REPLOG_RECORD_ACTION_HEADER + vlen))
		return keel_errf(errmsg, -EBADMSG,
				 "action %" PRIu64 ": checksum mismatch (record damaged)",
				 position);
	if (p[1] < REPLOG_ACTION_NOP || p[1] > REPLOG_ACTION_TRUNCATE)
		return keel_errf(errmsg, -EBADMSG, "action %" PRIu64 ": unknown type %u", position,
				 p[1]);
	if ((p[2] & ~(RECORD_FLAG_LEARNED | RECORD_FLAG_TOMBSTONE)) != 0 || p[3] != 0)
		return keel_errf(errmsg, -EBADMSG, "action %" PRIu64 ": unknown flags", position);
	if ((p[2] & RECORD_FLAG_TOMBSTONE) && p[1] != REPLOG_ACTION_NOP)
		return keel_errf(errmsg, -EBADMSG,
				 "action %" PRIu64 ": tombstone that is not a NOP", position);
	if (vlen > 0 && p[1] != REPLOG_ACTION_APPEND)
		return keel_errf(errmsg, -EBADMSG, "action %" PRIu64 ": value on a non-APPEND",
				 position);
	if (p[1] != REPLOG_ACTION_TRUNCATE && get_le64(p + 12) != 0)
		return keel_errf(errmsg, -EBADMSG, "action %" PRIu64 ": `to` on a non-TRUNCATE",
				 position);
	memset(out, 0, sizeof(*out));
	out->position = position;
	out->type = p[1];
	out->learned = (p[2] & RECORD_FLAG_LEARNED) != 0;
	out->tombstone = (p[2] & RECORD_FLAG_TOMBSTONE) != 0;
	out->ballot = get_le64(p + 4);
	out->to = get_le64(p + 12);
	out->len = vlen;
	out->value = vlen > 0 ? p + REPLOG_RECORD_ACTION_HEADER : NULL;
	return 0;
}

void replog_record_meta_encode(const struct replog_meta *m, void *buf)
{
	unsigned char *p = buf;

	p[0] = REPLOG_RECORD_VERSION;
	p[1] = m->status;
	p[2] = 0;
	p[3] = 0;
	put_le64(p + 4, m->promised);
	put_le64(p + 12, m->begin);
	put_le32(p + 20, replog_crc32c(0, p, 20));
}

int replog_record_meta_decode(const void *buf, size_t len, struct replog_meta *out, char *errmsg)
{
	const unsigned char *p = buf;

	if (len != REPLOG_RECORD_META_SIZE)
		return keel_errf(errmsg, -EBADMSG, "metadata: record of %zu bytes, want %d", len,
				 REPLOG_RECORD_META_SIZE);
	if (p[0] != REPLOG_RECORD_VERSION)
		return keel_errf(errmsg, -EBADMSG, "metadata: unknown record version %u", p[0]);
	if (get_le32(p + 20) != replog_crc32c(0, p, 20))
		return keel_errf(errmsg, -EBADMSG, "metadata: checksum mismatch (record damaged)");
	if (p[1] < REPLOG_VOTING || p[1] > REPLOG_EMPTY)
		return keel_errf(errmsg, -EBADMSG, "metadata: unknown status %u", p[1]);
	if (p[2] != 0 || p[3] != 0)
		return keel_errf(errmsg, -EBADMSG, "metadata: reserved bytes set");
	out->status = p[1];
	out->promised = get_le64(p + 4);
	out->begin = get_le64(p + 12);
	return 0;
}
