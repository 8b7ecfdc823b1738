/* Flags: table checks, the command line, the environment, file:// values and defaults. */
#include "flags_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "err.h"
#include "util.h"

#define NAME_MAX_LEN 64		/* longest flag name */
#define PREFIX_MAX_LEN 32	/* longest environment prefix */
#define FETCH_MAX (1024 * 1024) /* largest file a file:// value may name */

/* What the command line said about one flag. */
struct cmd_hit {
	const char *arg;   /* the argument as given, NULL when absent */
	const char *value; /* text after '=', or NULL when there was none */
	bool negated;	   /* given as --no-name */
};

static bool name_valid(const char *n)
{
	size_t i, len = strlen(n);

	if (len == 0 || len > NAME_MAX_LEN || n[0] < 'a' || n[0] > 'z')
		return false;
	for (i = 0; i < len; i++) {
		char c = n[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return strncmp(n, "no-", 3) != 0 && strcmp(n, "help") != 0;
}

static bool is_numeric(enum keel_flag_type t)
{
	return t == KEEL_FLAG_INT64 || t == KEEL_FLAG_UINT64 || t == KEEL_FLAG_DOUBLE ||
	       t == KEEL_FLAG_DURATION || t == KEEL_FLAG_BYTES;
}

/* Parses a table bound (min or max) into *v. */
static int check_bound(struct keel_flags *f, const struct keel_flag *fl, const char *what,
		       const char *text, union keel_flag_val *v, bool *has)
{
	char why[KEEL_ERRMSG_SIZE];

	if (text == NULL)
		return 0;
	if (!is_numeric(fl->type))
		return keel_errf(f->errmsg, -EINVAL, "flag table: --%s: %s on a non-numeric flag",
				 fl->name, what);
	if (keel_flag_value_parse(fl, text, v, why) < 0)
		return keel_errf(f->errmsg, -EINVAL, "flag table: --%s: bad %s '%s': %s", fl->name,
				 what, text, why);
	*has = true;
	return 0;
}

/* Validates one table row and fills its state. */
static int check_row(struct keel_flags *f, size_t i)
{
	const struct keel_flag *fl = &f->table[i];
	struct keel_flag_state *st = &f->state[i];
	union keel_flag_val v;
	char why[KEEL_ERRMSG_SIZE];
	size_t j;
	int rv;

	if (fl->name == NULL || !name_valid(fl->name))
		return keel_errf(f->errmsg, -EINVAL, "flag table: row %zu: bad name '%s'", i,
				 fl->name ? fl->name : "(null)");
	for (j = 0; j < i; j++)
		if (strcasecmp(f->table[j].name, fl->name) == 0)
			return keel_errf(f->errmsg, -EINVAL, "flag table: --%s: listed twice",
					 fl->name);
	if ((unsigned)fl->type > KEEL_FLAG_ENUM || fl->value == NULL)
		return keel_errf(f->errmsg, -EINVAL, "flag table: --%s: bad type or no storage",
				 fl->name);
	if (fl->type == KEEL_FLAG_ENUM && (fl->choices == NULL || fl->choices[0] == NULL))
		return keel_errf(f->errmsg, -EINVAL, "flag table: --%s: enum without choices",
				 fl->name);
	rv = check_bound(f, fl, "min", fl->min, &st->min, &st->has_min);
	if (rv == 0)
		rv = check_bound(f, fl, "max", fl->max, &st->max, &st->has_max);
	if (rv < 0)
		return rv;
	if (st->has_min && st->has_max && keel_flag_value_cmp(fl, &st->min, &st->max) > 0)
		return keel_errf(f->errmsg, -EINVAL, "flag table: --%s: min above max", fl->name);
	if (fl->def != NULL) {
		if (keel_flag_value_parse(fl, fl->def, &v, why) < 0 ||
		    keel_flag_value_check(fl, st, &v, why) < 0)
			return keel_errf(f->errmsg, -EINVAL,
					 "flag table: --%s: bad default '%s': %s", fl->name,
					 fl->def, why);
	}
	return 0;
}

int keel_flags_init(struct keel_flags *f, const struct keel_flag *table, size_t num_flags,
		    const char *env_prefix)
{
	size_t i;
	int rv;

	memset(f, 0, sizeof(*f));
	f->table = table;
	f->num_flags = num_flags;
	f->env_prefix = env_prefix;
	f->program = "program";
	if (env_prefix != NULL && strlen(env_prefix) > PREFIX_MAX_LEN)
		return keel_errf(f->errmsg, -EINVAL, "flag table: environment prefix too long");
	f->state = keel_calloc(num_flags ? num_flags : 1, sizeof(*f->state));
	if (f->state == NULL)
		return keel_errf(f->errmsg, -ENOMEM, "flag table: out of memory");
	for (i = 0; i < num_flags; i++) {
		rv = check_row(f, i);
		if (rv < 0) {
			keel_free(keel_steal_ptr(&f->state));
			return rv;
		}
	}
	return 0;
}

void keel_flags_free(struct keel_flags *f)
{
	size_t i;

	if (f->state != NULL) {
		for (i = 0; i < f->num_flags; i++) {
			if (f->state[i].owned == NULL)
				continue;
			if (*(char **)f->table[i].value == f->state[i].owned)
				*(char **)f->table[i].value = NULL;
			keel_free(f->state[i].owned);
		}
	}
	keel_free(keel_steal_ptr(&f->state));
	keel_free(keel_steal_ptr(&f->args));
	f->num_args = 0;
}

/* Index of the flag called n[0, len) (any case), or -1. */
static long lookup(const struct keel_flags *f, const char *n, size_t len)
{
	size_t i;

	for (i = 0; i < f->num_flags; i++)
		if (strlen(f->table[i].name) == len && strncasecmp(f->table[i].name, n, len) == 0)
			return (long)i;
	return -1;
}

enum keel_flag_source keel_flags_source(const struct keel_flags *f, const char *name)
{
	long i = f->state != NULL ? lookup(f, name, strlen(name)) : -1;

	return i < 0 ? KEEL_FLAG_UNSET : f->state[i].source;
}

/* Reads the whole of path (at most FETCH_MAX bytes) into a NUL-terminated heap string. */
static int read_file(const char *path, char **out, size_t *len, char *why)
{
	struct keel_buf b = KEEL_BUF_INIT;
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	int rv;

	if (fd < 0)
		return keel_errno_f(why, -errno, "cannot read %s", path);
	for (;;) {
		rv = keel_buf_reserve(&b, 4096);
		if (rv < 0) {
			keel_buf_free(&b);
			return keel_errf(why, rv, "out of memory");
		}
		n = read(fd, keel_buf_wptr(&b), 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = -errno;
			keel_buf_free(&b);
			return keel_errno_f(why, rv, "cannot read %s", path);
		}
		if (n == 0)
			break;
		keel_buf_commit(&b, (size_t)n);
		if (keel_buf_size(&b) > FETCH_MAX) {
			keel_buf_free(&b);
			return keel_errf(why, -EINVAL, "%s is larger than %d bytes", path,
					 FETCH_MAX);
		}
	}
	*out = keel_buf_steal(&b, len);
	if (*out == NULL) {
		keel_buf_free(&b);
		return keel_errf(why, -ENOMEM, "out of memory");
	}
	return 0;
}

/* How an error message names where a value came from. */
struct origin {
	const char *text;    /* the value as given (before any file:// fetch) */
	const char *env_var; /* the variable it came from, or NULL */
};

static int value_error(struct keel_flags *f, const struct keel_flag *fl, const struct origin *o,
		       int rv, const char *why)
{
	if (o->env_var != NULL)
		return keel_errf(f->errmsg, rv, "--%s=%.80s (from %s): %s", fl->name, o->text,
				 o->env_var, why);
	return keel_errf(f->errmsg, rv, "--%s=%.80s: %s", fl->name, o->text, why);
}

/* Parses, checks and stores one value for flag i. */
static int load(struct keel_flags *f, size_t i, const char *text, enum keel_flag_source src,
		const char *env_var)
{
	const struct keel_flag *fl = &f->table[i];
	struct keel_flag_state *st = &f->state[i];
	struct origin o = {text, env_var};
	cleanup_free char *fetched = NULL;
	char why[KEEL_ERRMSG_SIZE];
	union keel_flag_val v;
	size_t n;
	int rv;

	if (src != KEEL_FLAG_DEFAULT && !fl->no_fetch && strncmp(text, "file://", 7) == 0) {
		rv = read_file(text + 7, &fetched, &n, why);
		if (rv < 0)
			return value_error(f, fl, &o, rv == -ENOMEM ? rv : -EINVAL, why);
		if (fl->type == KEEL_FLAG_STRING) {
			if (memchr(fetched, '\0', n) != NULL)
				return value_error(f, fl, &o, -EINVAL, "file holds a NUL byte");
		} else {
			if (n > 0 && fetched[n - 1] == '\n')
				fetched[--n] = '\0';
			if (n > 0 && fetched[n - 1] == '\r')
				fetched[--n] = '\0';
		}
		text = fetched;
	}
	rv = keel_flag_value_parse(fl, text, &v, why);
	if (rv == 0)
		rv = keel_flag_value_check(fl, st, &v, why);
	if (rv < 0)
		return value_error(f, fl, &o, rv, why);
	if (fl->type == KEEL_FLAG_STRING) {
		char *copy = fetched != NULL ? keel_steal_ptr(&fetched) : keel_strdup(text);

		if (copy == NULL)
			return keel_errf(f->errmsg, -ENOMEM, "--%s: out of memory", fl->name);
		keel_free(st->owned);
		st->owned = copy;
		v.s = copy;
	}
	keel_flag_value_store(fl, &v);
	st->source = src;
	return 0;
}

/* Builds <prefix><NAME> for flag fl into buf (NAME upper-cased, '-' -> '_'). */
static void env_name(const struct keel_flags *f, const struct keel_flag *fl, char *buf, size_t size)
{
	size_t i, n = (size_t)snprintf(buf, size, "%s%s", f->env_prefix, fl->name);

	for (i = strlen(f->env_prefix); i < n && i < size; i++) {
		if (buf[i] >= 'a' && buf[i] <= 'z')
			buf[i] = (char)(buf[i] - 'a' + 'A');
		else if (buf[i] == '-')
			buf[i] = '_';
	}
}

/* Applies the command line, environment or default to flag i, in that order of precedence. */
static int apply(struct keel_flags *f, size_t i, const struct cmd_hit *hit)
{
	const struct keel_flag *fl = &f->table[i];
	char var[NAME_MAX_LEN + PREFIX_MAX_LEN + 1];
	const char *v;

	if (hit->arg != NULL) {
		if (fl->type == KEEL_FLAG_BOOL && hit->negated) {
			if (hit->value != NULL && hit->value[0] != '\0')
				return keel_errf(f->errmsg, -EINVAL,
						 "%s: a --no- flag takes no value", hit->arg);
			return load(f, i, "false", KEEL_FLAG_CMDLINE, NULL);
		}
		if (fl->type == KEEL_FLAG_BOOL)
			v = (hit->value == NULL || hit->value[0] == '\0') ? "true" : hit->value;
		else if (hit->value == NULL)
			return keel_errf(f->errmsg, -EINVAL, "--%s: missing value (use --%s=VALUE)",
					 fl->name, fl->name);
		else
			v = hit->value;
		return load(f, i, v, KEEL_FLAG_CMDLINE, NULL);
	}
	if (f->env_prefix != NULL) {
		env_name(f, fl, var, sizeof(var));
		v = getenv(var);
		if (v != NULL) {
			if (fl->type == KEEL_FLAG_BOOL && v[0] == '\0')
				v = "true";
			return load(f, i, v, KEEL_FLAG_ENV, var);
		}
	}
	if (fl->def != NULL)
		return load(f, i, fl->def, KEEL_FLAG_DEFAULT, NULL);
	if (fl->required)
		return keel_errf(f->errmsg, -EINVAL, "--%s: required flag missing", fl->name);
	return 0;
}

/* Records one "--..." argument in hits[]. */
static int note_arg(struct keel_flags *f, struct cmd_hit *hits, const char *a)
{
	const char *body = a + 2, *eq = strchr(body, '=');
	size_t len = eq != NULL ? (size_t)(eq - body) : strlen(body);
	bool negated = false;
	long i;

	/* A bare --help never gets here: keel_flags_parse answers it first. */
	if (len == 4 && strncasecmp(body, "help", 4) == 0)
		return keel_errf(f->errmsg, -EINVAL, "%.80s: --help takes no value", a);
	if (len == 7 && strncasecmp(body, "no-help", 7) == 0 && eq == NULL)
		return 0; /* help stays off, as in stout */
	i = lookup(f, body, len);
	if (i < 0 && len > 3 && strncasecmp(body, "no-", 3) == 0) {
		i = lookup(f, body + 3, len - 3);
		negated = true;
		if (i >= 0 && f->table[i].type != KEEL_FLAG_BOOL)
			return keel_errf(f->errmsg, -EINVAL,
					 "%.80s: --%s is not a boolean flag and has no --no- form",
					 a, f->table[i].name);
	}
	if (i < 0)
		return keel_errf(f->errmsg, -EINVAL, "--%.*s: unknown flag", (int)KEEL_MIN(len, 80),
				 body);
	if (hits[i].arg != NULL)
		return keel_errf(f->errmsg, -EINVAL, "--%s: given more than once (%.60s and %.60s)",
				 f->table[i].name, hits[i].arg, a);
	hits[i].arg = a;
	hits[i].value = eq != NULL ? eq + 1 : NULL;
	hits[i].negated = negated;
	return 0;
}

int keel_flags_parse(struct keel_flags *f, int argc, char **argv, FILE *help_out)
{
	cleanup_free struct cmd_hit *hits = NULL;
	const char *slash;
	bool rest = false;
	size_t i;
	int a, rv;

	if (f->state == NULL)
		return keel_errf(f->errmsg, -EINVAL, "flags not initialised");
	if (argc > 0 && argv[0] != NULL) {
		slash = strrchr(argv[0], '/');
		f->program = slash != NULL ? slash + 1 : argv[0];
	}
	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--") == 0)
			break;
		if (strcasecmp(argv[a], "--help") == 0) {
			keel_flags_help(f, help_out != NULL ? help_out : stdout);
			return KEEL_FLAGS_HELP;
		}
	}
	hits = keel_calloc(f->num_flags ? f->num_flags : 1, sizeof(*hits));
	keel_free(f->args);
	f->num_args = 0;
	f->args = keel_calloc(argc > 0 ? (size_t)argc : 1, sizeof(*f->args));
	if (hits == NULL || f->args == NULL)
		return keel_errf(f->errmsg, -ENOMEM, "flags: out of memory");
	for (a = 1; a < argc; a++) {
		if (!rest && strcmp(argv[a], "--") == 0) {
			rest = true;
		} else if (rest || strncmp(argv[a], "--", 2) != 0) {
			f->args[f->num_args++] = argv[a];
		} else {
			rv = note_arg(f, hits, argv[a]);
			if (rv < 0)
				return rv;
		}
	}
	for (i = 0; i < f->num_flags; i++) {
		rv = apply(f, i, &hits[i]);
		if (rv < 0)
			return rv;
	}
	return 0;
}
