/* Unit tests for flags: every type, command-line forms, environment, file values, help, JSON. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "runtime/alloc.h"
#include "runtime/flags.h"
#include "runtime/util.h"

#define ENVP "KEELTEST_"

static const char *const levels[] = {"debug", "info", "warning", NULL};

/* Storage for the table below, reset by setup(). */
static bool verbose, color;
static int64_t port, offset;
static uint64_t count;
static double ratio;
static char *name, *secret, *path_flag;
static int64_t timeout;
static uint64_t mem;
static int level;

static const struct keel_flag table[] = {
    {.name = "verbose", .type = KEEL_FLAG_BOOL, .value = &verbose, .help = "Talk more."},
    {.name = "color", .type = KEEL_FLAG_BOOL, .value = &color, .def = "true", .help = "Colours."},
    {.name = "port",
     .type = KEEL_FLAG_INT64,
     .value = &port,
     .def = "5050",
     .min = "1",
     .max = "65535",
     .help = "The port to listen on."},
    {.name = "offset", .type = KEEL_FLAG_INT64, .value = &offset, .help = "Signed."},
    {.name = "count", .type = KEEL_FLAG_UINT64, .value = &count, .max = "100", .help = "N."},
    {.name = "ratio",
     .type = KEEL_FLAG_DOUBLE,
     .value = &ratio,
     .def = "0.5",
     .min = "0",
     .max = "1",
     .help = "A fraction."},
    {.name = "name", .type = KEEL_FLAG_STRING, .value = &name, .help = "A name."},
    {.name = "secret", .type = KEEL_FLAG_STRING, .value = &secret, .help = "From a file."},
    {.name = "path-flag",
     .type = KEEL_FLAG_STRING,
     .value = &path_flag,
     .no_fetch = true,
     .help = "A path, never fetched."},
    {.name = "timeout",
     .type = KEEL_FLAG_DURATION,
     .value = &timeout,
     .def = "10secs",
     .min = "1ms",
     .max = "1weeks",
     .help = "How long to wait."},
    {.name = "mem", .type = KEEL_FLAG_BYTES, .value = &mem, .def = "512MB", .help = "Memory."},
    {.name = "level",
     .type = KEEL_FLAG_ENUM,
     .value = &level,
     .def = "info",
     .choices = levels,
     .help = "Log level."},
};

static struct keel_flags F;

static void setup(void)
{
	verbose = color = false;
	port = offset = 0;
	count = 0;
	ratio = 0;
	name = secret = path_flag = NULL;
	timeout = 0;
	mem = 0;
	level = -1;
	unsetenv(ENVP "PORT");
	unsetenv(ENVP "VERBOSE");
	unsetenv(ENVP "PATH_FLAG");
	unsetenv(ENVP "NAME");
	ASSERT_OK(keel_flags_init(&F, table, KEEL_ARRAY_SIZE(table), ENVP));
}

/* Parses a NULL-terminated argument list (program name added). */
static int parse_v(const char *const *args)
{
	static char *argv[64];
	int argc = 0;

	argv[argc++] = (char *)"/usr/bin/keel-test";
	while (*args != NULL)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	static FILE *null_out;

	if (null_out == NULL)
		null_out = fopen("/dev/null", "w");
	return keel_flags_parse(&F, argc, argv, null_out);
}

#define PARSE(...) parse_v((const char *const[]){__VA_ARGS__, NULL})

/* Parses one argument in a fresh parser and returns the result; F keeps the message. */
static int one(const char *arg)
{
	keel_flags_free(&F);
	setup();
	return PARSE(arg);
}

#define ASSERT_BAD(arg, msg)                                                                       \
	do {                                                                                       \
		TH_CONTEXT("%s", arg);                                                             \
		ASSERT_INT_EQ(one(arg), -EINVAL);                                                  \
		ASSERT_STR_EQ(F.errmsg, msg);                                                      \
	} while (0)

TEST(defaults_apply)
{
	setup();
	ASSERT_OK(PARSE("pos"));
	ASSERT_FALSE(verbose);
	ASSERT_TRUE(color);
	ASSERT_INT_EQ(port, 5050);
	ASSERT_TRUE(ratio == 0.5);
	ASSERT_INT_EQ(timeout, 10000000000LL);
	ASSERT_UINT_EQ(mem, 512ULL << 20);
	ASSERT_INT_EQ(level, 1);
	ASSERT_NULL(name);
	ASSERT_INT_EQ(keel_flags_source(&F, "port"), KEEL_FLAG_DEFAULT);
	ASSERT_INT_EQ(keel_flags_source(&F, "name"), KEEL_FLAG_UNSET);
	ASSERT_INT_EQ(keel_flags_source(&F, "nope"), KEEL_FLAG_UNSET);
	ASSERT_STR_EQ(F.program, "keel-test");
	keel_flags_free(&F);
}

TEST(bool_forms)
{
	static const struct {
		const char *arg;
		bool want;
	} rows[] = {
	    {"--verbose", true},     {"--verbose=true", true},	 {"--verbose=1", true},
	    {"--verbose=", true},    {"--verbose=false", false}, {"--verbose=0", false},
	    {"--no-verbose", false}, {"--no-verbose=", false},	 {"--VERBOSE", true},
	};
	size_t i;

	for (i = 0; i < KEEL_ARRAY_SIZE(rows); i++) {
		TH_CONTEXT("%s", rows[i].arg);
		ASSERT_OK(one(rows[i].arg));
		ASSERT_INT_EQ(verbose, rows[i].want);
		ASSERT_INT_EQ(keel_flags_source(&F, "verbose"), KEEL_FLAG_CMDLINE);
	}
	ASSERT_OK(one("--no-color"));
	ASSERT_FALSE(color);
	ASSERT_BAD("--verbose=yes", "--verbose=yes: expected true, false, 1 or 0");
	ASSERT_BAD("--no-verbose=true", "--no-verbose=true: a --no- flag takes no value");
	keel_flags_free(&F);
}

TEST(int_values)
{
	ASSERT_OK(one("--port=65535"));
	ASSERT_INT_EQ(port, 65535);
	ASSERT_OK(one("--port=+1"));
	ASSERT_INT_EQ(port, 1);
	ASSERT_OK(one("--offset=-9223372036854775808"));
	ASSERT_INT_EQ(offset, INT64_MIN);
	ASSERT_OK(one("--offset=9223372036854775807"));
	ASSERT_INT_EQ(offset, INT64_MAX);
	ASSERT_BAD("--port=70000", "--port=70000: must be <= 65535");
	ASSERT_BAD("--port=0", "--port=0: must be >= 1");
	ASSERT_BAD("--port=-5", "--port=-5: must be >= 1");
	ASSERT_BAD("--port=80x", "--port=80x: expected an integer");
	ASSERT_BAD("--port=", "--port=: expected an integer");
	ASSERT_BAD("--port= 80", "--port= 80: expected an integer");
	ASSERT_BAD("--port=0x50", "--port=0x50: expected an integer");
	ASSERT_BAD("--offset=9223372036854775808", "--offset=9223372036854775808: out of range");
	ASSERT_BAD("--offset=-9223372036854775809", "--offset=-9223372036854775809: out of range");
	ASSERT_BAD("--offset=99999999999999999999999",
		   "--offset=99999999999999999999999: out of range");
	ASSERT_OK(one("--count=100"));
	ASSERT_UINT_EQ(count, 100);
	ASSERT_BAD("--count=101", "--count=101: must be <= 100");
	ASSERT_BAD("--count=-1", "--count=-1: expected a non-negative integer");
	ASSERT_BAD("--count=18446744073709551616", "--count=18446744073709551616: out of range");
	keel_flags_free(&F);
}

TEST(double_values)
{
	ASSERT_OK(one("--ratio=0.25"));
	ASSERT_TRUE(ratio == 0.25);
	ASSERT_OK(one("--ratio=1e-1"));
	ASSERT_TRUE(ratio == 0.1);
	ASSERT_OK(one("--ratio=1"));
	ASSERT_TRUE(ratio == 1.0);
	ASSERT_BAD("--ratio=1.5", "--ratio=1.5: must be <= 1");
	ASSERT_BAD("--ratio=-0.1", "--ratio=-0.1: must be >= 0");
	ASSERT_BAD("--ratio=nan", "--ratio=nan: expected a number");
	ASSERT_BAD("--ratio=inf", "--ratio=inf: expected a number");
	ASSERT_BAD("--ratio=0x1p-2", "--ratio=0x1p-2: expected a number");
	ASSERT_BAD("--ratio=1e999", "--ratio=1e999: out of range");
	ASSERT_BAD("--ratio=.", "--ratio=.: expected a number");
	ASSERT_BAD("--ratio=", "--ratio=: expected a number");
	keel_flags_free(&F);
}

TEST(string_values)
{
	ASSERT_OK(one("--name=a=b c"));
	ASSERT_STR_EQ(name, "a=b c");
	ASSERT_OK(one("--name="));
	ASSERT_STR_EQ(name, "");
	ASSERT_BAD("--name", "--name: missing value (use --name=VALUE)");
	keel_flags_free(&F);
	ASSERT_NULL(name);
}

TEST(duration_values)
{
	static const struct {
		const char *v;
		int64_t ns;
	} rows[] = {
	    {"10ns", 10},
	    {"5us", 5000},
	    {"100ms", 100000000},
	    {"10secs", 10000000000LL},
	    {"5mins", 300000000000LL},
	    {"2hrs", 7200000000000LL},
	    {"3days", 259200000000000LL},
	    {"1weeks", 604800000000000LL},
	    {"1.5mins", 90000000000LL},
	    {".5secs", 500000000},
	    {"0.3ms", 300000},
	    {"1.0000000001secs", 1000000000},
	    {"9223372036ns", 9223372036LL},
	};
	char why[KEEL_ERRMSG_SIZE];
	int64_t ns;
	size_t i;

	for (i = 0; i < KEEL_ARRAY_SIZE(rows); i++) {
		TH_CONTEXT("%s", rows[i].v);
		ASSERT_OK(keel_parse_duration(rows[i].v, &ns, why));
		ASSERT_INT_EQ(ns, rows[i].ns);
	}
	ASSERT_OK(keel_parse_duration("9223372036854775807ns", &ns, NULL));
	ASSERT_INT_EQ(ns, INT64_MAX);
	ASSERT_INT_EQ(keel_parse_duration("9223372036854775808ns", &ns, why), -EINVAL);
	ASSERT_STR_EQ(why, "out of range");
	ASSERT_INT_EQ(keel_parse_duration("100000weeks", &ns, why), -EINVAL);
	ASSERT_STR_EQ(why, "out of range");
	ASSERT_INT_EQ(keel_parse_duration("99999999999999999999secs", &ns, why), -EINVAL);
	ASSERT_STR_EQ(why, "out of range");
	ASSERT_INT_EQ(keel_parse_duration("10", &ns, why), -EINVAL);
	ASSERT_STR_CONTAINS(why, "unknown duration unit ''");
	ASSERT_INT_EQ(keel_parse_duration("10sec", &ns, why), -EINVAL);
	ASSERT_STR_CONTAINS(why, "unknown duration unit 'sec'; use ns, us, ms, secs");
	ASSERT_INT_EQ(keel_parse_duration("10SECS", &ns, why), -EINVAL);
	ASSERT_INT_EQ(keel_parse_duration("-1secs", &ns, why), -EINVAL);
	ASSERT_STR_EQ(why, "expected a number and a unit, as in 10secs");
	ASSERT_INT_EQ(keel_parse_duration(".secs", &ns, why), -EINVAL);
	ASSERT_INT_EQ(keel_parse_duration("", &ns, why), -EINVAL);
	ASSERT_INT_EQ(keel_parse_duration("1.2.3secs", &ns, why), -EINVAL);

	ASSERT_OK(one("--timeout=250ms"));
	ASSERT_INT_EQ(timeout, 250000000);
	ASSERT_BAD("--timeout=1us", "--timeout=1us: must be >= 1ms");
	ASSERT_BAD("--timeout=8days", "--timeout=8days: must be <= 1weeks");
	ASSERT_BAD("--timeout=5", "--timeout=5: unknown duration unit ''; use ns, us, ms, secs, "
				  "mins, hrs, days or weeks");
	keel_flags_free(&F);
}

TEST(bytes_values)
{
	static const struct {
		const char *v;
		uint64_t b;
	} rows[] = {
	    {"0B", 0},
	    {"512B", 512},
	    {"64KB", 64ULL << 10},
	    {"64kb", 64ULL << 10},
	    {"512MB", 512ULL << 20},
	    {"2GB", 2ULL << 30},
	    {"1TB", 1ULL << 40},
	    {"16777215TB", 16777215ULL << 40},
	};
	char why[KEEL_ERRMSG_SIZE];
	uint64_t b;
	size_t i;

	for (i = 0; i < KEEL_ARRAY_SIZE(rows); i++) {
		TH_CONTEXT("%s", rows[i].v);
		ASSERT_OK(keel_parse_bytes(rows[i].v, &b, why));
		ASSERT_UINT_EQ(b, rows[i].b);
	}
	ASSERT_INT_EQ(keel_parse_bytes("16777216TB", &b, why), -EINVAL);
	ASSERT_STR_EQ(why, "out of range");
	ASSERT_INT_EQ(keel_parse_bytes("99999999999999999999B", &b, why), -EINVAL);
	ASSERT_STR_EQ(why, "out of range");
	ASSERT_INT_EQ(keel_parse_bytes("1.5GB", &b, why), -EINVAL);
	ASSERT_STR_EQ(why, "fractional bytes are not allowed");
	ASSERT_INT_EQ(keel_parse_bytes("10", &b, why), -EINVAL);
	ASSERT_STR_CONTAINS(why, "unknown bytes unit ''");
	ASSERT_INT_EQ(keel_parse_bytes("10XB", &b, why), -EINVAL);
	ASSERT_INT_EQ(keel_parse_bytes("MB", &b, why), -EINVAL);
	ASSERT_STR_EQ(why, "expected a number and a unit, as in 512MB");
	ASSERT_INT_EQ(keel_parse_bytes("-1MB", &b, why), -EINVAL);

	ASSERT_OK(one("--mem=1GB"));
	ASSERT_UINT_EQ(mem, 1ULL << 30);
	ASSERT_BAD("--mem=1.5GB", "--mem=1.5GB: fractional bytes are not allowed");
	keel_flags_free(&F);
}

TEST(enum_values)
{
	ASSERT_OK(one("--level=warning"));
	ASSERT_INT_EQ(level, 2);
	ASSERT_BAD("--level=loud", "--level=loud: must be one of: debug, info, warning");
	ASSERT_BAD("--level=INFO", "--level=INFO: must be one of: debug, info, warning");
	keel_flags_free(&F);
}

TEST(format_units)
{
	char buf[32];

	ASSERT_STR_EQ(keel_format_duration(0, buf, sizeof(buf)), "0ns");
	ASSERT_STR_EQ(keel_format_duration(90000000000LL, buf, sizeof(buf)), "90secs");
	ASSERT_STR_EQ(keel_format_duration(7200000000000LL, buf, sizeof(buf)), "2hrs");
	ASSERT_STR_EQ(keel_format_duration(1500000000LL, buf, sizeof(buf)), "1500ms");
	ASSERT_STR_EQ(keel_format_duration(1209600000000000LL, buf, sizeof(buf)), "2weeks");
	ASSERT_STR_EQ(keel_format_duration(-5000, buf, sizeof(buf)), "-5us");
	ASSERT_STR_EQ(keel_format_duration(INT64_MIN, buf, sizeof(buf)), "-9223372036854775808ns");
	ASSERT_STR_EQ(keel_format_bytes(0, buf, sizeof(buf)), "0B");
	ASSERT_STR_EQ(keel_format_bytes(1536, buf, sizeof(buf)), "1536B");
	ASSERT_STR_EQ(keel_format_bytes(512ULL << 20, buf, sizeof(buf)), "512MB");
	ASSERT_STR_EQ(keel_format_bytes(3ULL << 40, buf, sizeof(buf)), "3TB");
}

TEST(unknown_duplicate_and_malformed_flags)
{
	ASSERT_BAD("--bogus=1", "--bogus: unknown flag");
	ASSERT_BAD("--bogus", "--bogus: unknown flag");
	ASSERT_BAD("--no-bogus", "--no-bogus: unknown flag");
	ASSERT_BAD("--=1", "--: unknown flag");
	ASSERT_BAD("--no-port", "--no-port: --port is not a boolean flag and has no --no- form");
	ASSERT_BAD("--port", "--port: missing value (use --port=VALUE)");
	ASSERT_BAD("--help=1", "--help=1: --help takes no value");
	ASSERT_BAD("--no-help=1", "--no-help: unknown flag");
	ASSERT_OK(one("--no-help"));
	ASSERT_INT_EQ(one("--HELP"), KEEL_FLAGS_HELP);
	keel_flags_free(&F);
	setup();
	ASSERT_INT_EQ(PARSE("--port=1", "--port=2"), -EINVAL);
	ASSERT_STR_EQ(F.errmsg, "--port: given more than once (--port=1 and --port=2)");
	keel_flags_free(&F);
	setup();
	ASSERT_INT_EQ(PARSE("--verbose", "--no-verbose"), -EINVAL);
	ASSERT_STR_CONTAINS(F.errmsg, "--verbose: given more than once");
	keel_flags_free(&F);
	setup();
	ASSERT_INT_EQ(PARSE("--port=1", "--PORT=1"), -EINVAL);
	keel_flags_free(&F);
}

TEST(positional_arguments)
{
	setup();
	ASSERT_OK(PARSE("a", "--port=80", "-x", "-", "b", "--", "--port=9", "--", "c"));
	ASSERT_INT_EQ(port, 80);
	ASSERT_UINT_EQ(F.num_args, 7);
	ASSERT_STR_EQ(F.args[0], "a");
	ASSERT_STR_EQ(F.args[1], "-x");
	ASSERT_STR_EQ(F.args[2], "-");
	ASSERT_STR_EQ(F.args[3], "b");
	ASSERT_STR_EQ(F.args[4], "--port=9");
	ASSERT_STR_EQ(F.args[5], "--");
	ASSERT_STR_EQ(F.args[6], "c");
	ASSERT_NULL(F.args[7]);
	keel_flags_free(&F);
	ASSERT_NULL(F.args);
	ASSERT_UINT_EQ(F.num_args, 0);
	/* --help after "--" is an argument, not a request for help. */
	setup();
	ASSERT_OK(PARSE("--", "--help"));
	ASSERT_UINT_EQ(F.num_args, 1);
	keel_flags_free(&F);
}

TEST(environment_fallback)
{
	setup();
	setenv(ENVP "PORT", "6000", 1);
	setenv(ENVP "VERBOSE", "", 1);
	setenv(ENVP "PATH_FLAG", "/p", 1);
	ASSERT_OK(PARSE("x"));
	ASSERT_INT_EQ(port, 6000);
	ASSERT_TRUE(verbose);
	ASSERT_STR_EQ(path_flag, "/p");
	ASSERT_INT_EQ(keel_flags_source(&F, "port"), KEEL_FLAG_ENV);
	keel_flags_free(&F);

	/* The command line wins over the environment. */
	setup();
	setenv(ENVP "PORT", "6000", 1);
	ASSERT_OK(PARSE("--port=7000"));
	ASSERT_INT_EQ(port, 7000);
	ASSERT_INT_EQ(keel_flags_source(&F, "port"), KEEL_FLAG_CMDLINE);
	keel_flags_free(&F);

	setup();
	setenv(ENVP "PORT", "99999", 1);
	ASSERT_INT_EQ(PARSE("x"), -EINVAL);
	ASSERT_STR_EQ(F.errmsg, "--port=99999 (from KEELTEST_PORT): must be <= 65535");
	keel_flags_free(&F);
	unsetenv(ENVP "PORT");

	/* Without a prefix the environment is not read. */
	setenv("PORT", "1234", 1);
	ASSERT_OK(keel_flags_init(&F, table, KEEL_ARRAY_SIZE(table), NULL));
	ASSERT_OK(PARSE("x"));
	ASSERT_INT_EQ(port, 5050);
	keel_flags_free(&F);
	unsetenv("PORT");
}

/* Writes content to a fresh temporary file named in path (at least 32 bytes). */
static void temp_file(const char *content, size_t n, char *path)
{
	int fd;

	strcpy(path, "/tmp/keel-flags-XXXXXX");
	fd = mkstemp(path);
	ASSERT_INT_GE(fd, 0);
	ASSERT_INT_EQ(write(fd, content, n), (int64_t)n);
	close(fd);
}

TEST(file_values)
{
	char path[64], arg[160], want[KEEL_ERRMSG_SIZE];

	temp_file("6001\n", 5, path);
	snprintf(arg, sizeof(arg), "--port=file://%s", path);
	ASSERT_OK(one(arg));
	ASSERT_INT_EQ(port, 6001);
	unlink(path);

	/* Non-strings lose one trailing newline (LF or CR LF), no more. */
	temp_file("2hrs\r\n", 6, path);
	snprintf(arg, sizeof(arg), "--timeout=file://%s", path);
	ASSERT_OK(one(arg));
	ASSERT_INT_EQ(timeout, 7200000000000LL);
	unlink(path);
	temp_file("80\n\n", 4, path);
	snprintf(arg, sizeof(arg), "--port=file://%s", path);
	snprintf(want, sizeof(want), "--port=file://%s: expected an integer", path);
	ASSERT_BAD(arg, want);
	unlink(path);

	/* Strings keep the file's bytes verbatim. */
	temp_file("s3cr=t\n", 7, path);
	snprintf(arg, sizeof(arg), "--secret=file://%s", path);
	ASSERT_OK(one(arg));
	ASSERT_STR_EQ(secret, "s3cr=t\n");
	/* Also through the environment. */
	keel_flags_free(&F);
	setup();
	snprintf(arg, sizeof(arg), "file://%s", path);
	setenv(ENVP "NAME", arg, 1);
	ASSERT_OK(PARSE("x"));
	ASSERT_STR_EQ(name, "s3cr=t\n");
	keel_flags_free(&F);
	unsetenv(ENVP "NAME");
	/* no_fetch keeps the text. */
	snprintf(arg, sizeof(arg), "--path-flag=file://%s", path);
	ASSERT_OK(one(arg));
	ASSERT_STR_EQ(path_flag, arg + strlen("--path-flag="));
	unlink(path);

	temp_file("a\0b", 3, path);
	snprintf(arg, sizeof(arg), "--secret=file://%s", path);
	snprintf(want, sizeof(want), "--secret=file://%s: file holds a NUL byte", path);
	ASSERT_BAD(arg, want);
	unlink(path);

	ASSERT_BAD("--port=file:///", "--port=file:///: cannot read /: Is a directory");
	ASSERT_BAD(
	    "--port=file:///nonexistent/keel",
	    "--port=file:///nonexistent/keel: cannot read /nonexistent/keel: No such file or "
	    "directory");

	/* Over 1 MiB is refused. */
	size_t big = 1024 * 1024 + 1;
	char *blob = malloc(big);
	memset(blob, 'x', big);
	temp_file(blob, big, path);
	free(blob);
	snprintf(arg, sizeof(arg), "--secret=file://%s", path);
	ASSERT_INT_EQ(one(arg), -EINVAL);
	ASSERT_STR_CONTAINS(F.errmsg, "is larger than 1048576 bytes");
	unlink(path);
	keel_flags_free(&F);
}

TEST(required_flags)
{
	static char *req_s;
	static const struct keel_flag t[] = {
	    {.name = "master", .type = KEEL_FLAG_STRING, .value = &req_s, .required = true},
	};

	ASSERT_OK(keel_flags_init(&F, t, 1, NULL));
	ASSERT_INT_EQ(PARSE("x"), -EINVAL);
	ASSERT_STR_EQ(F.errmsg, "--master: required flag missing");
	keel_flags_free(&F);
	ASSERT_OK(keel_flags_init(&F, t, 1, NULL));
	ASSERT_OK(PARSE("--master=zk://h/keel"));
	ASSERT_STR_EQ(req_s, "zk://h/keel");
	keel_flags_free(&F);
	ASSERT_NULL(req_s);
}

/* Runs keel_flags_init on a one-row table and returns the message. */
static const char *init_error(struct keel_flag row)
{
	ASSERT_INT_EQ(keel_flags_init(&F, &row, 1, NULL), -EINVAL);
	keel_flags_free(&F);
	return F.errmsg;
}

TEST(table_errors)
{
	static int64_t i64;
	static char *str;
	static int e;
	static const char *const none[] = {NULL};

	ASSERT_STR_EQ(init_error((struct keel_flag){.name = "Port", .value = &i64}),
		      "flag table: row 0: bad name 'Port'");
	ASSERT_STR_EQ(init_error((struct keel_flag){.name = "no-x", .value = &i64}),
		      "flag table: row 0: bad name 'no-x'");
	ASSERT_STR_EQ(init_error((struct keel_flag){.name = "help", .value = &i64}),
		      "flag table: row 0: bad name 'help'");
	ASSERT_STR_EQ(init_error((struct keel_flag){.name = "", .value = &i64}),
		      "flag table: row 0: bad name ''");
	ASSERT_STR_EQ(init_error((struct keel_flag){.name = "a b", .value = &i64}),
		      "flag table: row 0: bad name 'a b'");
	ASSERT_STR_EQ(init_error((struct keel_flag){.name = NULL, .value = &i64}),
		      "flag table: row 0: bad name '(null)'");
	ASSERT_STR_EQ(init_error((struct keel_flag){
			  .name = "x", .type = (enum keel_flag_type)99, .value = &i64}),
		      "flag table: --x: bad type or no storage");
	ASSERT_STR_EQ(init_error((struct keel_flag){.name = "x", .type = KEEL_FLAG_INT64}),
		      "flag table: --x: bad type or no storage");
	ASSERT_STR_EQ(init_error((struct keel_flag){
			  .name = "x", .type = KEEL_FLAG_INT64, .value = &i64, .def = "abc"}),
		      "flag table: --x: bad default 'abc': expected an integer");
	ASSERT_STR_EQ(
	    init_error((struct keel_flag){
		.name = "x", .type = KEEL_FLAG_INT64, .value = &i64, .def = "5", .max = "4"}),
	    "flag table: --x: bad default '5': must be <= 4");
	ASSERT_STR_EQ(init_error((struct keel_flag){
			  .name = "x", .type = KEEL_FLAG_INT64, .value = &i64, .min = "z"}),
		      "flag table: --x: bad min 'z': expected an integer");
	ASSERT_STR_EQ(
	    init_error((struct keel_flag){
		.name = "x", .type = KEEL_FLAG_INT64, .value = &i64, .min = "5", .max = "4"}),
	    "flag table: --x: min above max");
	ASSERT_STR_EQ(init_error((struct keel_flag){
			  .name = "x", .type = KEEL_FLAG_STRING, .value = &str, .max = "4"}),
		      "flag table: --x: max on a non-numeric flag");
	ASSERT_STR_EQ(
	    init_error((struct keel_flag){.name = "x", .type = KEEL_FLAG_ENUM, .value = &e}),
	    "flag table: --x: enum without choices");
	ASSERT_STR_EQ(init_error((struct keel_flag){
			  .name = "x", .type = KEEL_FLAG_ENUM, .value = &e, .choices = none}),
		      "flag table: --x: enum without choices");

	static const struct keel_flag dup[] = {
	    {.name = "a", .type = KEEL_FLAG_INT64, .value = &i64},
	    {.name = "a", .type = KEEL_FLAG_INT64, .value = &i64},
	};
	ASSERT_INT_EQ(keel_flags_init(&F, dup, 2, NULL), -EINVAL);
	ASSERT_STR_EQ(F.errmsg, "flag table: --a: listed twice");
	ASSERT_INT_EQ(keel_flags_init(&F, table, KEEL_ARRAY_SIZE(table),
				      "A_PREFIX_LONGER_THAN_THIRTY_TWO_CHARS_"),
		      -EINVAL);
	ASSERT_STR_EQ(F.errmsg, "flag table: environment prefix too long");
	keel_flags_free(&F);

	/* Parsing without init fails cleanly. */
	memset(&F, 0, sizeof(F));
	ASSERT_INT_EQ(PARSE("x"), -EINVAL);
}

/* Runs --help and returns what it wrote (heap, caller frees). */
static char *help_text(void)
{
	static char *text; /* static: open_memstream keeps the address until fclose */
	static size_t n;
	FILE *out;

	text = NULL;
	out = open_memstream(&text, &n);
	char *argv[] = {(char *)"keel-test", (char *)"--bogus", (char *)"--help", NULL};

	ASSERT_NOT_NULL(out);
	setup();
	ASSERT_INT_EQ(keel_flags_parse(&F, 3, argv, out), KEEL_FLAGS_HELP);
	fclose(out);
	keel_flags_free(&F);
	return text;
}

TEST(help_output)
{
	static const char *const order[] = {
	    "--[no-]color",  "--count=VALUE", "--[no-]help",	"--level=VALUE",
	    "--mem=VALUE",   "--name=VALUE",  "--offset=VALUE", "--path-flag=VALUE",
	    "--port=VALUE",  "--ratio=VALUE", "--secret=VALUE", "--timeout=VALUE",
	    "--[no-]verbose"};
	char *text = help_text();
	const char *prev = text, *p, *line;
	size_t i;

	ASSERT_STR_CONTAINS(text, "Usage: keel-test [options]\n\n");
	for (i = 0; i < KEEL_ARRAY_SIZE(order); i++) {
		TH_CONTEXT("%s", order[i]);
		p = strstr(text, order[i]);
		ASSERT_NOT_NULL(p);
		ASSERT_TRUE(p > prev); /* sorted by name */
		prev = p;
	}
	/* The port's entry wraps before its last word, indented to the help column. */
	p = strstr(text, "The port to listen on. (min: 1) (max: 65535)\n ");
	ASSERT_NOT_NULL(p);
	size_t help_col = (size_t)(p - (strstr(text, "  --port=VALUE")));
	const char *cont = strchr(p, '\n') + 1;
	ASSERT_UINT_EQ(strspn(cont, " "), help_col);
	ASSERT_TRUE(strncmp(cont + help_col, "(default: 5050)\n", 16) == 0);
	ASSERT_STR_CONTAINS(text, "Log level. One of: debug, info, warning. (default: info)");
	ASSERT_STR_CONTAINS(text, "(default: 10secs)");
	ASSERT_STR_CONTAINS(text, "Print this help and exit.");
	/* Every line fits in 80 columns. */
	for (line = text; *line != '\0';) {
		const char *nl = strchr(line, '\n');

		ASSERT_NOT_NULL(nl);
		ASSERT_INT_LE(nl - line, 80);
		line = nl + 1;
	}
	free(text);
}

TEST(help_write_error)
{
	FILE *full = fopen("/dev/full", "w");

	if (full == NULL)
		TH_SKIP("no /dev/full");
	setvbuf(full, NULL, _IONBF, 0);
	setup();
	ASSERT_INT_EQ(keel_flags_help(&F, full), -EIO);
	fclose(full);
	keel_flags_free(&F);
}

TEST(help_wraps_long_text)
{
	static bool b;
	static const struct keel_flag t[] = {
	    {.name = "a_really_long_flag_name_that_overflows",
	     .type = KEEL_FLAG_BOOL,
	     .value = &b,
	     .help = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod "
		     "tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, "
		     "quis nostrud exercitation ullamco laboris.\nA second paragraph."},
	};
	static char *text; /* static: open_memstream keeps the address until fclose */
	static size_t n;
	FILE *out = open_memstream(&text, &n);
	const char *line;
	int lines = 0;

	ASSERT_OK(keel_flags_init(&F, t, 1, NULL));
	ASSERT_OK(keel_flags_help(&F, out));
	fclose(out);
	keel_flags_free(&F);
	/* The long name gets a line of its own; the text is indented to the help column. */
	ASSERT_STR_CONTAINS(text, "  --[no-]a_really_long_flag_name_that_overflows\n");
	ASSERT_STR_CONTAINS(text, "\n                                A second paragraph.\n");
	for (line = text; *line != '\0'; lines++) {
		const char *nl = strchr(line, '\n');

		ASSERT_NOT_NULL(nl);
		ASSERT_INT_LE(nl - line, 80);
		line = nl + 1;
	}
	ASSERT_INT_GE(lines, 7);
	free(text);
}

TEST(json_values)
{
	struct keel_buf b = KEEL_BUF_INIT;

	setup();
	ASSERT_OK(PARSE("--name=q\"b\\s\n\t\x01 caf\xc3\xa9 \xf0\x9f\x90\xb3 bad\xff\xc3(",
			"--offset=-3", "--ratio=0.1", "--timeout=90secs"));
	ASSERT_OK(keel_flags_json(&F, &b));
	ASSERT_OK(keel_buf_putc(&b, '\0'));
	ASSERT_STR_EQ(keel_buf_rptr(&b),
		      "{\"color\":\"true\",\"count\":\"0\",\"level\":\"info\",\"mem\":\"512MB\","
		      "\"name\":\"q\\\"b\\\\s\\n\\t\\u0001 caf\\u00e9 \\ud83d\\udc33 "
		      "bad\\ufffd\\ufffd(\",\"offset\":\"-3\",\"port\":\"5050\","
		      "\"ratio\":\"0.1\",\"timeout\":\"90secs\",\"verbose\":\"false\"}");
	keel_buf_free(&b);
	keel_flags_free(&F);
}

#ifdef KEEL_FAILPOINTS
TEST(out_of_memory_at_every_allocation)
{
	char path[64], arg[160];
	long n, i;
	int rv;

	temp_file("from-file", 9, path);
	snprintf(arg, sizeof(arg), "--secret=file://%s", path);
	/* Count the allocations of a full init + parse + json, then fail each in turn. */
	keel_alloc_fail_after(0, false);
	setup();
	ASSERT_OK(PARSE("--name=n", arg, "pos"));
	struct keel_buf b = KEEL_BUF_INIT;
	ASSERT_OK(keel_flags_json(&F, &b));
	keel_buf_free(&b);
	keel_flags_free(&F);
	n = keel_alloc_fail_after(0, false);
	ASSERT_INT_GT(n, 3);
	for (i = 1; i <= n; i++) {
		TH_CONTEXT("allocation %ld of %ld", i, n);
		keel_alloc_fail_after(i, false);
		rv = keel_flags_init(&F, table, KEEL_ARRAY_SIZE(table), ENVP);
		if (rv == 0)
			rv = PARSE("--name=n", arg, "pos");
		if (rv == 0)
			rv = keel_flags_json(&F, &b);
		keel_alloc_fail_after(0, false);
		ASSERT_INT_EQ(rv, -ENOMEM);
		keel_buf_free(&b);
		keel_flags_free(&F);
	}
	unlink(path);
}
#endif
