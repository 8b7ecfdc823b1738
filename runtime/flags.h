/* Mesos-style command-line flags: typed flag tables, environment fallback, generated --help. */
#ifndef KEEL_RUNTIME_FLAGS_H
#define KEEL_RUNTIME_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "err.h"

/*
 * Behaviour, following Mesos's stout flags (3rdparty/stout/include/stout/
 * flags/flags.hpp) except where noted:
 *
 *  - `--name=value`. A boolean also takes `--name` (true), `--no-name`
 *    (false) and `--name=` (true); its values are true, false, 1 and 0.
 *    `--name value` is NOT accepted (stout does not either): a non-boolean
 *    `--name` without '=' is an error. Names match case-insensitively.
 *  - An argument that does not start with "--" is positional, and so is
 *    everything after a lone "--"; keel_flags_parse reports them in order.
 *  - An unknown flag is an error naming it; a flag given twice (also as
 *    `--x` and `--no-x`) is an error.
 *  - `--help` anywhere before "--" writes the usage to the FILE* given and
 *    makes parsing return KEEL_FLAGS_HELP (1) without checking anything else.
 *  - Environment: when a flag is not on the command line, the variable
 *    <env_prefix><NAME> is used (NAME upper-cased, '-' -> '_'; e.g.
 *    KEEL_WORK_DIR for work_dir). An empty value sets a boolean to true.
 *    stout also reads <prefix><name> in lower case; keel does not.
 *  - Precedence: command line, then environment, then the table default.
 *    A flag with none of these is left as the caller initialised it, or is
 *    an error when it is `required`.
 *  - `file:///path` as a value (command line or environment, not defaults)
 *    reads the value from that file, as stout's flags::fetch does for every
 *    type but Path. Set `no_fetch` for a flag whose value is itself a path or
 *    URL. Strings get the file's bytes verbatim (a NUL byte is an error);
 *    other types have one trailing "\n" or "\r\n" removed before parsing.
 *    Files over 1 MiB are refused.
 *  - Types and syntax:
 *      bool      true|false|1|0
 *      int64     optional '-' or '+', decimal digits
 *      uint64    decimal digits
 *      double    a finite decimal number (strtod syntax, no hex, nan or inf)
 *      string    anything
 *      duration  a decimal number (fraction allowed) and one of stout's
 *                units: ns us ms secs mins hrs days weeks ("10secs",
 *                "1.5mins"); stored as int64 nanoseconds (a fraction of a
 *                nanosecond is dropped); negative durations are not
 *                accepted (as in stout)
 *      bytes     decimal digits and a unit B KB MB GB TB, any case, 1024
 *                based ("512MB"); stored as uint64 bytes
 *      enum      one of the flag's `choices`, exact; stored as an int index
 *    Out of range values (overflow, or outside the flag's min/max) are errors.
 *  - Errors are one line naming the flag and the problem, e.g.
 *    "--port=70000: must be <= 65535", or for the environment
 *    "--port=70000 (from KEEL_PORT): must be <= 65535"; parsing returns
 *    -EINVAL (or -ENOMEM) and leaves storage partly updated.
 */

enum keel_flag_type {
	KEEL_FLAG_BOOL,	    /* value: bool * */
	KEEL_FLAG_INT64,    /* value: int64_t * */
	KEEL_FLAG_UINT64,   /* value: uint64_t * */
	KEEL_FLAG_DOUBLE,   /* value: double * */
	KEEL_FLAG_STRING,   /* value: char ** (owned by struct keel_flags, see there) */
	KEEL_FLAG_DURATION, /* value: int64_t * nanoseconds */
	KEEL_FLAG_BYTES,    /* value: uint64_t * bytes */
	KEEL_FLAG_ENUM,	    /* value: int * index into choices */
};

/* One row of a flag table; the table and every string it points to must outlive the parser. */
struct keel_flag {
	const char *name;	  /* without "--": [a-z0-9_-], starts with a letter, not "no-..." */
	enum keel_flag_type type; /* how the value is parsed and stored */
	void *value;		  /* storage, typed as listed in enum keel_flag_type */
	const char *def;	  /* default as text, parsed like a value; NULL = none */
	const char *help;	  /* one or more sentences for --help */
	bool required;		  /* an error when neither given nor defaulted */
	bool no_fetch;		  /* take "file://..." literally instead of reading the file */
	const char *min;	  /* numeric types: lowest allowed value as text, NULL = none */
	const char *max;	  /* numeric types: highest allowed value as text, NULL = none */
	const char *const *choices; /* enum: the allowed values, NULL-terminated */
};

/* Returned by keel_flags_parse after --help was written. */
#define KEEL_FLAGS_HELP 1

/*
 * A parser over one table. String storage: keel_flags_parse points each
 * string flag's `char *` at a heap copy that this struct owns; it stays valid
 * until keel_flags_free, which sets the storage back to NULL.
 */
struct keel_flags {
	const struct keel_flag *table; /* the flags (caller-owned) */
	size_t num_flags;	       /* rows in table */
	const char *env_prefix;	       /* e.g. "KEEL_"; NULL = no environment fallback */
	const char *program;	       /* basename of argv[0] once parsed, for the usage line */
	char **args;		       /* positional arguments (pointing into argv), NULL-ended */
	size_t num_args;	       /* how many */
	struct keel_flag_state *state; /* per-flag bookkeeping (private) */
	char errmsg[KEEL_ERRMSG_SIZE]; /* the last error */
};

/* Where a flag's current value came from. */
enum keel_flag_source {
	KEEL_FLAG_UNSET = 0, /* nowhere: storage is as the caller initialised it */
	KEEL_FLAG_DEFAULT,   /* the table default */
	KEEL_FLAG_ENV,	     /* the environment */
	KEEL_FLAG_CMDLINE,   /* the command line */
};

/*
 * Checks the table (valid and unique names, "help" is reserved, defaults and
 * min/max parse and agree, enums have choices) and prepares f. env_prefix may
 * be NULL. Returns 0, -EINVAL with a message in f->errmsg naming the bad row,
 * or -ENOMEM. On error nothing needs freeing (keel_flags_free is harmless).
 */
int keel_flags_init(struct keel_flags *f, const struct keel_flag *table, size_t num_flags,
		    const char *env_prefix);

/*
 * Parses argv[1, argc) (argv[0] names the program) and the environment into
 * the table's storage. Returns 0; KEEL_FLAGS_HELP after writing the usage to
 * help_out (stdout when NULL); -EINVAL with one line in f->errmsg; or
 * -ENOMEM. Call at most once per keel_flags_init. f->args keeps pointers
 * into argv, which must outlive f.
 */
int keel_flags_parse(struct keel_flags *f, int argc, char **argv, FILE *help_out);

/* Frees what f owns (string values, positional list) and NULLs the string storage. */
void keel_flags_free(struct keel_flags *f);

/* Where the flag called name got its value; KEEL_FLAG_UNSET also for an unknown name. */
enum keel_flag_source keel_flags_source(const struct keel_flags *f, const char *name);

/*
 * Writes the usage: "Usage: PROGRAM [options]", then one entry per flag and
 * --help, sorted by name: "--name=VALUE" ("--[no-]name" for booleans), then
 * the help text, allowed values, "(required)" or "(default: ...)", word-
 * wrapped to 80 columns. Returns 0 or -EIO when writing failed.
 */
int keel_flags_help(const struct keel_flags *f, FILE *out);

/*
 * Appends the current values as one JSON object, sorted by name, every value
 * a string formatted as a flag value would be written ({"port":"5050",
 * "timeout":"10secs"}), the form Mesos's /flags endpoint uses. String flags
 * that are NULL are left out. Non-ASCII is written as \uXXXX escapes (bytes
 * that are not UTF-8 as \ufffd). Returns 0 or -ENOMEM (out may then hold a
 * partial object).
 */
int keel_flags_json(const struct keel_flags *f, struct keel_buf *out);

/*
 * Value parsers used by the flags, for other callers (config files, API
 * fields). Each returns 0 or -EINVAL, and on -EINVAL writes why into why
 * (KEEL_ERRMSG_SIZE bytes, may be NULL).
 */
int keel_parse_duration(const char *s, int64_t *ns, char *why);
int keel_parse_bytes(const char *s, uint64_t *bytes, char *why);

/*
 * Formats a duration or a byte count in the largest unit that divides it
 * exactly ("90secs", "2hrs", "512MB"); buf needs at least 32 bytes. Returns buf.
 */
char *keel_format_duration(int64_t ns, char *buf, size_t size);
char *keel_format_bytes(uint64_t bytes, char *buf, size_t size);

#endif
