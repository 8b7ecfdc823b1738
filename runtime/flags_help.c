/* Flags output: the generated --help text and the JSON of current values. */
#include "flags_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"

#define HELP_WIDTH 80	 /* wrap column */
#define HELP_COL_MAX 32	 /* help text never starts further right than this */
#define HELP_NAME_GAP 3	 /* spaces between the longest name column and its help */
#define HELP_NAME "help" /* the built-in flag */
#define HELP_TEXT "Print this help and exit."

/* Word-wrapping writer state. */
struct wrap {
	FILE *out;     /* destination */
	size_t col;    /* current column */
	size_t indent; /* column continuation lines start at */
	bool fresh;    /* nothing written on this line after the indent */
};

static void wrap_newline(struct wrap *w)
{
	fprintf(w->out, "\n%*s", (int)w->indent, "");
	w->col = w->indent;
	w->fresh = true;
}

/* Writes the words of s[0, n) (split at spaces; '\n' forces a break). */
static void wrap_words(struct wrap *w, const char *s, size_t n)
{
	size_t i = 0, start, len;

	while (i < n) {
		if (s[i] == ' ') {
			i++;
			continue;
		}
		if (s[i] == '\n') {
			wrap_newline(w);
			i++;
			continue;
		}
		start = i;
		while (i < n && s[i] != ' ' && s[i] != '\n')
			i++;
		len = i - start;
		if (!w->fresh && w->col + 1 + len > HELP_WIDTH)
			wrap_newline(w);
		if (!w->fresh) {
			fputc(' ', w->out);
			w->col++;
		}
		fwrite(s + start, 1, len, w->out);
		w->col += len;
		w->fresh = false;
	}
}

static void wrap_str(struct wrap *w, const char *s)
{
	wrap_words(w, s, strlen(s));
}

/* Writes s as one unbreakable word, such as "(default: 10secs)". */
static void wrap_unit(struct wrap *w, const char *s)
{
	size_t len = strlen(s);

	if (!w->fresh && w->col + 1 + len > HELP_WIDTH)
		wrap_newline(w);
	if (!w->fresh) {
		fputc(' ', w->out);
		w->col++;
	}
	fputs(s, w->out);
	w->col += len;
	w->fresh = false;
}

/* The text before a flag's help: "  --name=VALUE" or "  --[no-]name". */
static int left_column(const char *name, bool boolean, char *buf, size_t size)
{
	return snprintf(buf, size, boolean ? "  --[no-]%s" : "  --%s=VALUE", name);
}

static void help_entry(FILE *out, size_t col, const struct keel_flag *fl)
{
	char left[128], text[KEEL_ERRMSG_SIZE];
	struct wrap w = {out, 0, col, true};
	int n, i;

	n = left_column(fl != NULL ? fl->name : HELP_NAME, fl == NULL || fl->type == KEEL_FLAG_BOOL,
			left, sizeof(left));
	fputs(left, out);
	if (fl != NULL && (fl->help == NULL || fl->help[0] == '\0') && fl->type != KEEL_FLAG_ENUM &&
	    fl->min == NULL && fl->max == NULL && !fl->required && fl->def == NULL) {
		fputc('\n', out);
		return;
	}
	if ((size_t)n + 1 > col) {
		fputc('\n', out);
		n = 0;
	}
	fprintf(out, "%*s", (int)(col - (size_t)n), "");
	w.col = col;
	if (fl == NULL) {
		wrap_str(&w, HELP_TEXT);
		fputc('\n', out);
		return;
	}
	if (fl->help != NULL)
		wrap_str(&w, fl->help);
	if (fl->type == KEEL_FLAG_ENUM) {
		wrap_str(&w, "One of:");
		for (i = 0; fl->choices[i] != NULL; i++) {
			snprintf(text, sizeof(text), "%s%s", fl->choices[i],
				 fl->choices[i + 1] != NULL ? "," : ".");
			wrap_str(&w, text);
		}
	}
	if (fl->min != NULL) {
		snprintf(text, sizeof(text), "(min: %s)", fl->min);
		wrap_unit(&w, text);
	}
	if (fl->max != NULL) {
		snprintf(text, sizeof(text), "(max: %s)", fl->max);
		wrap_unit(&w, text);
	}
	if (fl->required) {
		wrap_unit(&w, "(required)");
	} else if (fl->def != NULL) {
		snprintf(text, sizeof(text), "(default: %s)", fl->def);
		wrap_unit(&w, text);
	}
	fputc('\n', out);
}

/* The name that sorts first after prev (NULL = the very first), among the flags and "help". */
static const char *next_name(const struct keel_flags *f, const char *prev, bool with_help,
			     const struct keel_flag **row)
{
	const char *best = NULL;
	size_t i;

	*row = NULL;
	if (with_help && (prev == NULL || strcmp(HELP_NAME, prev) > 0))
		best = HELP_NAME;
	for (i = 0; i < f->num_flags; i++) {
		const char *n = f->table[i].name;

		if ((prev == NULL || strcmp(n, prev) > 0) &&
		    (best == NULL || strcmp(n, best) < 0)) {
			best = n;
			*row = &f->table[i];
		}
	}
	return best;
}

int keel_flags_help(const struct keel_flags *f, FILE *out)
{
	const struct keel_flag *row;
	const char *name = NULL;
	char left[128];
	size_t i, col = (size_t)left_column(HELP_NAME, true, left, sizeof(left));

	for (i = 0; i < f->num_flags; i++) {
		size_t n = (size_t)left_column(f->table[i].name, f->table[i].type == KEEL_FLAG_BOOL,
					       left, sizeof(left));

		col = KEEL_MAX(col, n);
	}
	col = KEEL_MIN(col + HELP_NAME_GAP, (size_t)HELP_COL_MAX);
	fprintf(out, "Usage: %s [options]\n\n", f->program != NULL ? f->program : "program");
	while ((name = next_name(f, name, true, &row)) != NULL)
		help_entry(out, col, row);
	fflush(out);
	return ferror(out) ? -EIO : 0;
}

/* Appends s as a JSON string, escaping controls, quotes and all non-ASCII as \uXXXX. */
static int json_string(struct keel_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int rv = keel_buf_putc(b, '"');

	while (rv == 0 && *p != '\0') {
		uint32_t cp;
		size_t n = 1, k;

		if (*p >= 0x80) {
			/* Decode one UTF-8 sequence, rejecting overlongs, surrogates and >
			 * U+10FFFF. */
			unsigned char lo = 0x80, hi = 0xbf;

			if (*p >= 0xc2 && *p <= 0xdf) {
				n = 2, cp = *p & 0x1f;
			} else if (*p >= 0xe0 && *p <= 0xef) {
				n = 3, cp = *p & 0x0f;
				lo = *p == 0xe0 ? 0xa0 : 0x80;
				hi = *p == 0xed ? 0x9f : 0xbf;
			} else if (*p >= 0xf0 && *p <= 0xf4) {
				n = 4, cp = *p & 0x07;
				lo = *p == 0xf0 ? 0x90 : 0x80;
				hi = *p == 0xf4 ? 0x8f : 0xbf;
			} else {
				n = 0, cp = 0xfffd;
			}
			for (k = 1; k < n; k++) {
				unsigned char c = p[k];

				if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xbf)) {
					n = 0, cp = 0xfffd;
					break;
				}
				cp = (cp << 6) | (c & 0x3f);
			}
			if (n == 0)
				n = 1; /* one bad byte becomes U+FFFD; resync at the next */
			if (cp > 0xffff)
				rv = keel_buf_printf(b, "\\u%04x\\u%04x",
						     0xd800 + ((cp - 0x10000) >> 10),
						     0xdc00 + ((cp - 0x10000) & 0x3ff));
			else
				rv = keel_buf_printf(b, "\\u%04x", cp);
		} else if (*p == '"' || *p == '\\') {
			rv = keel_buf_printf(b, "\\%c", *p);
		} else if (*p == '\n') {
			rv = keel_buf_puts(b, "\\n");
		} else if (*p == '\t') {
			rv = keel_buf_puts(b, "\\t");
		} else if (*p == '\r') {
			rv = keel_buf_puts(b, "\\r");
		} else if (*p < 0x20 || *p == 0x7f) {
			rv = keel_buf_printf(b, "\\u%04x", *p);
		} else {
			rv = keel_buf_putc(b, (char)*p);
		}
		p += n;
	}
	return rv == 0 ? keel_buf_putc(b, '"') : rv;
}

int keel_flags_json(const struct keel_flags *f, struct keel_buf *out)
{
	const struct keel_flag *row;
	const char *name = NULL, *v;
	char buf[64];
	bool first = true;
	int rv = keel_buf_putc(out, '{');

	while (rv == 0 && (name = next_name(f, name, false, &row)) != NULL) {
		v = keel_flag_value_format(row, buf, sizeof(buf));
		if (v == NULL)
			continue;
		if (!first)
			rv = keel_buf_putc(out, ',');
		if (rv == 0)
			rv = json_string(out, name);
		if (rv == 0)
			rv = keel_buf_putc(out, ':');
		if (rv == 0)
			rv = json_string(out, v);
		first = false;
	}
	return rv == 0 ? keel_buf_putc(out, '}') : rv;
}
