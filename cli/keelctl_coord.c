/* keelctl coord: shows the leader or a group's members for any coordination URL. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coord/coord.h"
#include "keelctl.h"
#include "runtime/flags.h"
#include "runtime/log.h"

/* What one run waits for. */
struct kc {
	struct keel_loop *loop;			  /* the loop */
	bool done;				  /* an answer (or a failure) arrived */
	int rc;					  /* exit code */
	bool json;				  /* --json: print the raw payload only */
	char unreachable[KEEL_ERRMSG_SIZE + 600]; /* UNREACHABLE / ERROR message, if any */
};

/* Prints payload bytes as text, escaping what is not printable ASCII. */
static void print_payload(FILE *f, const void *p, size_t len)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f)
			fputc(s[i], f);
		else
			fprintf(f, "\\x%02x", s[i]);
	}
	fputc('\n', f);
}

static void on_status(struct coord *c, const struct coord_status *st, void *arg)
{
	struct kc *k = arg;

	(void)c;
	if (st->type == COORD_STATUS_UNREACHABLE) {
		snprintf(k->unreachable, sizeof(k->unreachable), "%s", st->message);
		k->rc = KEELCTL_FAIL;
		k->done = true;
	} else if (st->type == COORD_STATUS_ERROR) {
		snprintf(k->unreachable, sizeof(k->unreachable), "%s", st->message);
	}
}

static void on_leader(struct coord_detector *d, const struct coord_leader *l, void *arg)
{
	struct kc *k = arg;

	(void)d;
	if (k->done)
		return;
	if (!l->present && l->err == -ETIMEDOUT)
		return; /* a session came and went: wait for the next */
	k->done = true;
	if (!l->present) {
		if (l->err != 0)
			printf("no leader (%s)\n", l->message);
		else
			printf("no leader\n");
		k->rc = KEELCTL_NONE;
		return;
	}
	if (k->json) {
		print_payload(stdout, l->payload, l->len);
	} else {
		if (l->info != NULL) {
			printf("leader: %s\n", l->info->pid != NULL ? l->info->pid : l->info->id);
			printf("id: %s\n", l->info->id);
			if (l->info->hostname != NULL)
				printf("hostname: %s\n", l->info->hostname);
			printf("port: %u\n", l->info->port);
			if (l->info->version != NULL)
				printf("version: %s\n", l->info->version);
		}
		printf("epoch: %llu\n", (unsigned long long)l->epoch);
		printf("node: %s\n", l->name);
		if (l->info == NULL) {
			printf("payload: ");
			print_payload(stdout, l->payload, l->len);
		}
	}
	if (l->err != 0) {
		fprintf(stderr, "keelctl: %s\n", l->message);
		k->rc = KEELCTL_FAIL;
	} else {
		k->rc = KEELCTL_OK;
	}
}

static void on_members(struct coord_watch *w, const struct coord_member_info *m, size_t n, int err,
		       void *arg)
{
	struct kc *k = arg;
	size_t i;

	(void)w;
	if (k->done || err == -ETIMEDOUT)
		return;
	k->done = true;
	if (err != 0) {
		fprintf(stderr, "keelctl: members unknown: %s\n", strerror(-err));
		k->rc = KEELCTL_FAIL;
		return;
	}
	printf("%zu member%s\n", n, n == 1 ? "" : "s");
	for (i = 0; i < n; i++) {
		printf("%llu %s ", (unsigned long long)m[i].id, m[i].name);
		print_payload(stdout, m[i].payload, m[i].len);
	}
	k->rc = n > 0 ? KEELCTL_OK : KEELCTL_NONE;
}

int keelctl_coord(int argc, char **argv)
{
	static char *group;
	static int64_t timeout_ns, session_ns;
	static bool json;
	static const struct keel_flag table[] = {
	    {.name = "group",
	     .type = KEEL_FLAG_STRING,
	     .value = &group,
	     .def = "log_replicas",
	     .help = "The group `members` lists."},
	    {.name = "timeout",
	     .type = KEEL_FLAG_DURATION,
	     .value = &timeout_ns,
	     .def = "5secs",
	     .help = "How long to wait for an answer before giving up."},
	    {.name = "session_timeout",
	     .type = KEEL_FLAG_DURATION,
	     .value = &session_ns,
	     .def = "10secs",
	     .help = "Session timeout (ZooKeeper) or lease TTL (etcd)."},
	    {.name = "json",
	     .type = KEEL_FLAG_BOOL,
	     .value = &json,
	     .help = "`leader`: print only the leader's payload."},
	};
	struct keel_flags flags;
	struct kc k = {.rc = KEELCTL_FAIL};
	struct coord *c = NULL;
	struct coord_detector *d = NULL;
	struct coord_watch *w = NULL;
	char errmsg[KEEL_ERRMSG_SIZE];
	int rv;

	keel_log_set_level(KEEL_LOG_OFF);
	if (keel_flags_init(&flags, table, KEEL_ARRAY_SIZE(table), "KEELCTL_") < 0) {
		fprintf(stderr, "keelctl coord: %s\n", flags.errmsg);
		return KEELCTL_FAIL;
	}
	rv = keel_flags_parse(&flags, argc, argv, NULL);
	if (rv == KEEL_FLAGS_HELP) {
		printf("\n  keelctl coord leader URL     the current leader\n"
		       "  keelctl coord members URL    the members of --group\n");
		keel_flags_free(&flags);
		return KEELCTL_OK;
	}
	if (rv < 0 || flags.num_args != 2 ||
	    (strcmp(flags.args[0], "leader") != 0 && strcmp(flags.args[0], "members") != 0)) {
		fprintf(stderr,
			"keelctl coord: %s\nusage: keelctl coord leader|members URL [flags]\n",
			rv < 0 ? flags.errmsg : "expected leader|members and a URL");
		keel_flags_free(&flags);
		return KEELCTL_USAGE;
	}
	k.json = json;
	uint32_t timeout_ms = (uint32_t)(timeout_ns / 1000000);
	if (keel_loop_new(&k.loop, NULL, errmsg) < 0) {
		fprintf(stderr, "keelctl: %s\n", errmsg);
		keel_flags_free(&flags);
		return KEELCTL_FAIL;
	}
	struct coord_config cfg = {
	    .session_timeout_ms = (uint32_t)(session_ns / 1000000),
	    .connect_timeout_ms = timeout_ms,
	    .on_status = on_status,
	    .status_arg = &k,
	};
	rv = coord_open(k.loop, flags.args[1], &cfg, &c, errmsg);
	if (rv == 0) {
		if (strcmp(flags.args[0], "leader") == 0)
			rv = coord_detect(c, COORD_DETECT_MASTER_INFO, on_leader, &k, &d, errmsg);
		else
			rv = coord_watch_members(c, group, on_members, &k, &w, errmsg);
	}
	if (rv < 0) {
		fprintf(stderr, "keelctl: %s\n", errmsg);
		k.rc = KEELCTL_FAIL;
	} else {
		uint64_t deadline = keel_loop_clock_ns() / 1000000 + timeout_ms;
		while (!k.done && keel_loop_clock_ns() / 1000000 < deadline)
			keel_loop_run_once(k.loop, 100);
		if (!k.done) {
			fprintf(stderr, "keelctl: %s: no answer within %u ms%s%s\n", coord_url(c),
				timeout_ms, k.unreachable[0] != '\0' ? ": " : "", k.unreachable);
			k.rc = KEELCTL_FAIL;
		} else if (k.unreachable[0] != '\0' && k.rc == KEELCTL_FAIL) {
			fprintf(stderr, "keelctl: %s\n", k.unreachable);
		}
	}
	coord_close(c, 2000);
	keel_loop_free(k.loop);
	keel_flags_free(&flags);
	return k.rc;
}
