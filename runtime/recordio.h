/* Mesos RecordIO framing ("<decimal length>\n<bytes>"): encoder and zero-copy stream decoder. */
#ifndef KEEL_RUNTIME_RECORDIO_H
#define KEEL_RUNTIME_RECORDIO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * Wire format (Mesos docs/recordio.md): each record is its length in bytes
 * as ASCII decimal, a LF, then exactly that many bytes. Records may be empty
 * ("0\n"). The decoder accepts leading zeros in the length, as Mesos's own
 * decoder does ("007\n" is a 7-byte record), but a length line longer than
 * KEEL_RECORDIO_MAX_LINE digits, an empty length line, a CR or any other
 * non-digit byte in it is -EBADMSG. The encoder never writes leading zeros.
 */
#define KEEL_RECORDIO_MAX_LINE 20

/*
 * Appends the RecordIO framing of rec[0, len) to out. Returns 0, or -ENOMEM
 * with out unchanged.
 */
int keel_recordio_encode(struct keel_buf *out, const void *rec, size_t len);

/* A streaming decoder; set up with keel_recordio_decoder_init, release with _free. */
struct keel_recordio_decoder {
	size_t max_record;   /* longest record accepted, in bytes */
	size_t consumed;     /* bytes of the last keel_recordio_feed input that were used */
	int err;	     /* sticky error, 0 while healthy */
	int in_record;	     /* 1 while reading a record's bytes, 0 while reading its length */
	uint64_t rec_len;    /* length of the record being read (or parsed so far) */
	size_t line_len;     /* digits of the length line seen so far */
	struct keel_buf buf; /* the part of a record that spans feeds */
};

/* Prepares d for a new stream; records longer than max_record are refused. */
void keel_recordio_decoder_init(struct keel_recordio_decoder *d, size_t max_record);

/* Frees the decoder's buffer; d may be initialised again afterwards. */
void keel_recordio_decoder_free(struct keel_recordio_decoder *d);

/*
 * Feeds p[0, n) and calls cb(arg, rec, len) once per complete record, in
 * order. rec points into p when the record lies wholly inside it (zero copy),
 * else into the decoder's buffer; either way it is valid only during the
 * call, and cb must not feed this decoder.
 *
 * Returns 0 when all of p was used (a partial record is kept for the next
 * feed). A cb that returns non-zero stops decoding right after its record:
 * that value is returned, d->consumed says how many bytes of p were used, and
 * the decoder can go on with p + d->consumed. Errors:
 *   -EMSGSIZE  a length above max_record, found while reading the length line
 *              (nothing of the record is buffered);
 *   -EBADMSG   a bad length line (see above), or a length that overflows;
 *   -ENOMEM    a record that spans feeds could not be buffered.
 * After an error the decoder stays failed: every later feed returns the same
 * error without calling cb.
 */
int keel_recordio_feed(struct keel_recordio_decoder *d, const char *p, size_t n,
		       int (*cb)(void *arg, const char *rec, size_t len), void *arg);

#endif
