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

int replog_record_action_peek(const void *buf, size_t len, uint64_t *ballot, uint8_t *type,
			      bool *learned)
{
	const unsigned char *p = buf;

	if (len < REPLOG_RECORD_ACTION_HEADER + 4 || p[0] != REPLOG_RECORD_VERSION)
		return -EBADMSG;
	*type = p[1];
	*learned = (p[2] & RECORD_FLAG_LEARNED) != 0;
	*ballot = get_le64(p + 4);
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

void replog_record_mark_encode(uint64_t position, uint64_t ballot, void *buf)
{
	unsigned char *p = buf;

	p[0] = REPLOG_RECORD_VERSION;
	p[1] = p[2] = p[3] = 0;
	put_le64(p + 4, ballot);
	put_le32(p + 12, record_action_crc(position, p, 12));
}

int replog_record_mark_decode(uint64_t position, const void *buf, size_t len, uint64_t *ballot,
			      char *errmsg)
{
	const unsigned char *p = buf;

	if (len != REPLOG_RECORD_MARK_SIZE)
		return keel_errf(errmsg, -EBADMSG,
				 "learned mark %" PRIu64 ": record of %zu bytes, want %d", position,
				 len, REPLOG_RECORD_MARK_SIZE);
	if (p[0] != REPLOG_RECORD_VERSION)
		return keel_errf(errmsg, -EBADMSG,
				 "learned mark %" PRIu64 ": unknown record version %u", position,
				 p[0]);
	if (get_le32(p + 12) != record_action_crc(position, p, 12))
		return keel_errf(errmsg, -EBADMSG,
				 "learned mark %" PRIu64 ": checksum mismatch (record damaged)",
				 position);
	if (p[1] != 0 || p[2] != 0 || p[3] != 0)
		return keel_errf(errmsg, -EBADMSG, "learned mark %" PRIu64 ": reserved bytes set",
				 position);
	*ballot = get_le64(p + 4);
	return 0;
}

/* --- Write-ahead log records. --- */

static size_t wal_write_size(const struct replog_write *w)
{
	switch (w->kind) {
	case REPLOG_WRITE_META:
		return 1 + REPLOG_RECORD_META_SIZE;
	case REPLOG_WRITE_ACTION:
		return 1 + 8 + 4 + replog_record_action_size(&w->action);
	case REPLOG_WRITE_DELETE_BELOW:
		return 1 + 8;
	default: /* REPLOG_RECORD_WRITE_MARK */
		return 1 + 8 + 8;
	}
}

size_t replog_record_wal_size(const struct replog_write *w, size_t n)
{
	size_t bytes = REPLOG_RECORD_WAL_HEADER + 4;

	for (size_t i = 0; i < n; i++)
		bytes += wal_write_size(&w[i]);
	return bytes;
}

size_t replog_record_wal_put(const struct replog_write *w, size_t n, void *buf, size_t off)
{
	unsigned char *p = buf;

	for (size_t i = 0; i < n; i++) {
		p[off++] = w[i].kind;
		switch (w[i].kind) {
		case REPLOG_WRITE_META:
			replog_record_meta_encode(&w[i].meta, p + off);
			off += REPLOG_RECORD_META_SIZE;
			break;
		case REPLOG_WRITE_ACTION: {
			size_t len = replog_record_action_size(&w[i].action);
			put_le64(p + off, w[i].action.position);
			put_le32(p + off + 8, (uint32_t)len);
			replog_record_action_encode(&w[i].action, p + off + 12);
			off += 12 + len;
			break;
		}
		case REPLOG_WRITE_DELETE_BELOW:
			put_le64(p + off, w[i].below);
			off += 8;
			break;
		default:
			put_le64(p + off, w[i].action.position);
			put_le64(p + off + 8, w[i].action.ballot);
			off += 16;
			break;
		}
	}
	return off;
}

void replog_record_wal_seal(const struct replog_wal_head *h, void *buf)
{
	unsigned char *p = buf;

	put_le32(p, REPLOG_RECORD_WAL_MAGIC);
	put_le32(p + 4, h->len);
	put_le64(p + 8, h->epoch);
	put_le64(p + 16, h->first);
	put_le64(p + 24, h->last);
	put_le32(p + 32, h->n);
	put_le32(p + 36, 0);
	put_le32(p + h->len - 4, replog_crc32c(0, p, h->len - 4));
}

int replog_record_wal_head(const void *buf, size_t avail, struct replog_wal_head *h)
{
	const unsigned char *p = buf;

	if (avail < REPLOG_RECORD_WAL_HEADER + 4 || get_le32(p) != REPLOG_RECORD_WAL_MAGIC)
		return -EBADMSG;
	h->len = get_le32(p + 4);
	h->epoch = get_le64(p + 8);
	h->first = get_le64(p + 16);
	h->last = get_le64(p + 24);
	h->n = get_le32(p + 32);
	if (h->len < REPLOG_RECORD_WAL_HEADER + 4 || h->len > avail || get_le32(p + 36) != 0 ||
	    h->first > h->last || h->first == 0)
		return -EBADMSG;
	return 0;
}

int replog_record_wal_check(const void *buf, const struct replog_wal_head *h)
{
	const unsigned char *p = buf;

	return get_le32(p + h->len - 4) == replog_crc32c(0, p, h->len - 4) ? 0 : -EBADMSG;
}

int replog_record_wal_next(const void *buf, const struct replog_wal_head *h, size_t *off,
			   struct replog_write *out, char *errmsg)
{
	const unsigned char *p = buf;
	size_t end = h->len - 4, o = *off;
	int rv;

	memset(out, 0, sizeof(*out));
	if (o >= end)
		return keel_errf(errmsg, -EBADMSG,
				 "wal record %" PRIu64 ": writes run past its end", h->first);
	out->kind = p[o++];
	switch (out->kind) {
	case REPLOG_WRITE_META:
		if (end - o < REPLOG_RECORD_META_SIZE)
			break;
		rv = replog_record_meta_decode(p + o, REPLOG_RECORD_META_SIZE, &out->meta, errmsg);
		if (rv < 0)
			return rv;
		*off = o + REPLOG_RECORD_META_SIZE;
		return 0;
	case REPLOG_WRITE_ACTION: {
		uint64_t pos;
		uint32_t len;
		if (end - o < 12)
			break;
		pos = get_le64(p + o);
		len = get_le32(p + o + 8);
		if (end - o - 12 < len)
			break;
		rv = replog_record_action_decode(pos, p + o + 12, len, &out->action, errmsg);
		if (rv < 0)
			return rv;
		*off = o + 12 + len;
		return 0;
	}
	case REPLOG_WRITE_DELETE_BELOW:
		if (end - o < 8)
			break;
		out->below = get_le64(p + o);
		*off = o + 8;
		return 0;
	case REPLOG_RECORD_WRITE_MARK:
		if (end - o < 16)
			break;
		out->action.position = get_le64(p + o);
		out->action.ballot = get_le64(p + o + 8);
		out->action.learned = true;
		*off = o + 16;
		return 0;
	default:
		return keel_errf(errmsg, -EBADMSG, "wal record %" PRIu64 ": unknown write kind %u",
				 h->first, out->kind);
	}
	return keel_errf(errmsg, -EBADMSG, "wal record %" PRIu64 ": a write runs past its end",
			 h->first);
}

void replog_record_wal_state_encode(uint64_t epoch, uint64_t applied, void *buf)
{
	unsigned char *p = buf;

	p[0] = REPLOG_RECORD_VERSION;
	p[1] = p[2] = p[3] = 0;
	put_le64(p + 4, epoch);
	put_le64(p + 12, applied);
	put_le32(p + 20, replog_crc32c(0, p, 20));
}

int replog_record_wal_state_decode(const void *buf, size_t len, uint64_t *epoch, uint64_t *applied,
				   char *errmsg)
{
	const unsigned char *p = buf;

	if (len != REPLOG_RECORD_WAL_STATE_SIZE)
		return keel_errf(errmsg, -EBADMSG, "wal state: record of %zu bytes, want %d", len,
				 REPLOG_RECORD_WAL_STATE_SIZE);
	if (p[0] != REPLOG_RECORD_VERSION)
		return keel_errf(errmsg, -EBADMSG, "wal state: unknown record version %u", p[0]);
	if (get_le32(p + 20) != replog_crc32c(0, p, 20))
		return keel_errf(errmsg, -EBADMSG, "wal state: checksum mismatch (record damaged)");
	if (p[1] != 0 || p[2] != 0 || p[3] != 0)
		return keel_errf(errmsg, -EBADMSG, "wal state: reserved bytes set");
	*epoch = get_le64(p + 4);
	*applied = get_le64(p + 12);
	return 0;
}
