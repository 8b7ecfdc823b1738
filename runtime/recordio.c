/* Mesos RecordIO encoder and streaming decoder. */
#include "recordio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int keel_recordio_encode(struct keel_buf *out, const void *rec, size_t len)
{
	char line[KEEL_RECORDIO_MAX_LINE + 2];
	int n = snprintf(line, sizeof(line), "%zu\n", len);
	int rv;

	if (len > SIZE_MAX - (size_t)n)
		return -ENOMEM;
	rv = keel_buf_reserve(out, (size_t)n + len);
	if (rv < 0)
		return rv;
	memcpy(keel_buf_wptr(out), line, (size_t)n);
	keel_buf_commit(out, (size_t)n);
	if (len > 0) {
		memcpy(keel_buf_wptr(out), rec, len);
		keel_buf_commit(out, len);
	}
	return 0;
}

void keel_recordio_decoder_init(struct keel_recordio_decoder *d, size_t max_record)
{
	struct keel_buf empty = KEEL_BUF_INIT;

	d->max_record = max_record;
	d->consumed = 0;
	d->err = 0;
	d->in_record = 0;
	d->rec_len = 0;
	d->line_len = 0;
	d->buf = empty;
}

void keel_recordio_decoder_free(struct keel_recordio_decoder *d)
{
	keel_buf_free(&d->buf);
}

static int fail(struct keel_recordio_decoder *d, int err)
{
	d->err = err;
	keel_buf_free(&d->buf);
	return err;
}

/* Takes one byte of a length line; returns 1 when the line is complete. */
static int length_byte(struct keel_recordio_decoder *d, char c)
{
	unsigned digit;

	if (c == '\n') {
		if (d->line_len == 0)
			return -EBADMSG;
		return 1;
	}
	if (c < '0' || c > '9' || d->line_len == KEEL_RECORDIO_MAX_LINE)
		return -EBADMSG;
	digit = (unsigned)(c - '0');
	if (d->rec_len > (UINT64_MAX - digit) / 10)
		return -EBADMSG;
	d->rec_len = d->rec_len * 10 + digit;
	d->line_len++;
	if (d->rec_len > d->max_record)
		return -EMSGSIZE;
	return 0;
}

/* Ends the current record: the decoder waits for the next length line. */
static void record_done(struct keel_recordio_decoder *d)
{
	d->in_record = 0;
	d->rec_len = 0;
	d->line_len = 0;
	keel_buf_clear(&d->buf);
}

int keel_recordio_feed(struct keel_recordio_decoder *d, const char *p, size_t n,
		       int (*cb)(void *arg, const char *rec, size_t len), void *arg)
{
	size_t i = 0, have, take;
	int rv;

	d->consumed = 0;
	if (d->err != 0)
		return d->err;
	while (i < n) {
		if (!d->in_record) {
			rv = length_byte(d, p[i++]);
			if (rv < 0) {
				d->consumed = i;
				return fail(d, rv);
			}
			if (rv == 0)
				continue;
			d->in_record = 1;
			if (d->rec_len > 0)
				continue;
			/* An empty record is complete as soon as its length line is. */
			record_done(d);
			rv = cb(arg, p + i, 0);
		} else {
			have = keel_buf_size(&d->buf);
			if (have == 0 && n - i >= d->rec_len) {
				take = (size_t)d->rec_len;
				i += take;
				record_done(d);
				rv = cb(arg, p + i - take, take);
			} else {
				take = (size_t)KEEL_MIN((uint64_t)(n - i), d->rec_len - have);
				rv = keel_buf_append(&d->buf, p + i, take);
				if (rv < 0) {
					d->consumed = i;
					return fail(d, rv);
				}
				i += take;
				if (keel_buf_size(&d->buf) < d->rec_len)
					continue;
				/* The record stays in the buffer during cb; cleared at the next
				 * one. */
				d->in_record = 0;
				d->rec_len = 0;
				d->line_len = 0;
				rv = cb(arg, keel_buf_rptr(&d->buf), keel_buf_size(&d->buf));
				keel_buf_clear(&d->buf);
			}
		}
		if (rv != 0) {
			d->consumed = i;
			return rv;
		}
	}
	d->consumed = i;
	return 0;
}
