/* keelctl log dump: the registry's replicated log of a stopped master, decoded entry by entry. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "keelctl.h"
#include "proto/keel/internal/registry.pb-c.h"
#include "replog/msg.h"
#include "replog/store.h"
#include "runtime/buf.h"
#include "runtime/flags.h"
#include "runtime/pbjson.h"

/* One run's options and state. */
struct dump {
	bool json;	     /* --json: one JSON object per line */
	struct keel_buf out; /* scratch for JSON encoding */
	uint64_t entries;    /* entries printed */
	int rc;		     /* exit code so far */
};

/* Writes m as compact JSON to stdout, or an error marker. */
static void print_message(struct dump *d, const ProtobufCMessage *m)
{
	char errmsg[KEEL_ERRMSG_SIZE];

	keel_buf_clear(&d->out);
	if (keel_pbjson_write(&d->out, m, errmsg) < 0) {
		printf("{\"error\":\"cannot encode: %s\"}", errmsg);
		d->rc = KEELCTL_FAIL;
		return;
	}
	fwrite(keel_buf_rptr(&d->out), 1, keel_buf_size(&d->out), stdout);
}

/* One operation of a batch: its name and its payload as JSON. */
static void print_operation(struct dump *d, uint64_t pos, const Keel__Registry__Operation *op)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
	    &keel__registry__operation__descriptor, (unsigned)op->op_case);
	const ProtobufCMessage *sub =
	    f ? *(const ProtobufCMessage *const *)((const char *)op + f->offset) : NULL;

	if (d->json)
		printf("{\"position\":%" PRIu64 ",\"operation\":\"%s\",\"%s\":", pos,
		       f ? f->name : "none", f ? f->name : "none");
	else
		printf("%" PRIu64 "\t%s\t", pos, f ? f->name : "(no operation)");
	if (sub != NULL)
		print_message(d, sub);
	else if (d->json)
		printf("null");
	printf(d->json ? "}\n" : "\n");
}

/* A learned APPEND: a registry entry (a batch of operations, or one snapshot chunk). */
static void print_entry(struct dump *d, const struct replog_action *a)
{
	Keel__Registry__Entry *e = NULL;
	char errmsg[KEEL_ERRMSG_SIZE];

	if (keel_pbjson_unpack(&keel__registry__entry__descriptor, a->value, a->len,
			       (ProtobufCMessage **)&e, errmsg) < 0) {
		if (d->json)
			printf("{\"position\":%" PRIu64 ",\"error\":\"not a registry entry\"}\n",
			       a->position);
		else
			printf("%" PRIu64 "\tERROR\tnot a registry entry (%zu bytes): %s\n",
			       a->position, a->len, errmsg);
		d->rc = KEELCTL_FAIL;
		return;
	}
	if (e->kind_case == KEEL__REGISTRY__ENTRY__KIND_BATCH) {
		for (size_t i = 0; i < e->batch->n_operations; i++)
			print_operation(d, a->position, e->batch->operations[i]);
	} else if (e->kind_case == KEEL__REGISTRY__ENTRY__KIND_SNAPSHOT) {
		const Keel__Registry__SnapshotChunk *c = e->snapshot;
		if (d->json)
			printf("{\"position\":%" PRIu64 ",\"snapshot\":{\"id\":%" PRIu64
			       ",\"index\":%u,\"count\":%u,\"bytes\":%zu}}\n",
			       a->position, c->id, c->index, c->count, c->data.len);
		else
			printf("%" PRIu64 "\tsnapshot\tchunk %u of %u of snapshot %" PRIu64
			       " (%zu bytes)\n",
			       a->position, c->index + 1, c->count, c->id, c->data.len);
	} else {
		printf(d->json ? "{\"position\":%" PRIu64 ",\"error\":\"empty entry\"}\n"
			       : "%" PRIu64 "\tERROR\tempty registry entry\n",
		       a->position);
		d->rc = KEELCTL_FAIL;
	}
	keel_pbjson_free(&e->base);
}

static int dump_cb(void *arg, const struct replog_action *a)
{
	struct dump *d = arg;

	d->entries++;
	if (a->learned && a->type == REPLOG_ACTION_APPEND) {
		print_entry(d, a);
		return 0;
	}
	/* NOPs, truncations, and what this replica accepted but never learned. */
	if (d->json) {
		printf("{\"position\":%" PRIu64 ",\"action\":\"%s\",\"learned\":%s", a->position,
		       replog_action_type_name(a->type), a->learned ? "true" : "false");
		if (a->type == REPLOG_ACTION_TRUNCATE)
			printf(",\"to\":%" PRIu64, a->to);
		printf("}\n");
	} else {
		printf("%" PRIu64 "\t%s%s", a->position, replog_action_type_name(a->type),
		       a->learned ? "" : " (not learned here)");
		if (a->type == REPLOG_ACTION_TRUNCATE)
			printf("\tto=%" PRIu64, a->to);
		printf(a->tombstone ? "\ttruncated\n" : "\n");
	}
	return 0;
}

static int log_dump(int argc, char **argv)
{
	char *work_dir = NULL, path[4096 + 32], errmsg[KEEL_ERRMSG_SIZE];
	uint64_t from = 0;
	struct dump d = {.out = KEEL_BUF_INIT, .rc = KEELCTL_OK};
	const struct keel_flag table[] = {
	    {"work_dir", KEEL_FLAG_STRING, &work_dir, NULL,
	     "The master's --work_dir (its replica is <work_dir>/replicated_log). The master must "
	     "be stopped: a running one holds the store.",
	     .required = true},
	    {"json", KEEL_FLAG_BOOL, &d.json, "false", "One JSON object per line."},
	    {"from", KEEL_FLAG_UINT64, &from, "0", "First log position to print."},
	};
	struct keel_flags f;
	struct replog_store_config cfg = {0};
	struct replog_store *s;
	struct replog_meta m;
	int rv;

	if (keel_flags_init(&f, table, KEEL_ARRAY_SIZE(table), NULL) < 0 ||
	    (rv = keel_flags_parse(&f, argc, argv, NULL)) < 0) {
		fprintf(stderr, "keelctl log dump: %s\n", f.errmsg);
		keel_flags_free(&f);
		return KEELCTL_USAGE;
	}
	if (rv == KEEL_FLAGS_HELP || f.num_args > 0) {
		if (f.num_args > 0)
			fprintf(stderr, "keelctl log dump: unexpected argument \"%s\"\n",
				f.args[0]);
		keel_flags_free(&f);
		return rv == KEEL_FLAGS_HELP ? KEELCTL_OK : KEELCTL_USAGE;
	}
	snprintf(path, sizeof(path), "%s/replicated_log", work_dir);
	cfg.path = path;
	keel_flags_free(&f);
	{
		FILE *probe = fopen(path, "r");
		if (probe == NULL) {
			fprintf(stderr, "keelctl log dump: %s: %s (is --work_dir a master's?)\n",
				path, strerror(errno));
			return KEELCTL_FAIL;
		}
		fclose(probe);
	}
	if (replog_store_open(&cfg, &s, errmsg) < 0) {
		fprintf(stderr, "keelctl log dump: %s\n", errmsg);
		return KEELCTL_FAIL;
	}
	rv = replog_store_meta(s, &m);
	if (rv == 0 && !d.json)
		printf("replica\tstatus=%s\tpromised=%" PRIu64 "\tbegin=%" PRIu64 "\n",
		       replog_status_name(m.status), m.promised, m.begin);
	else if (rv == 0)
		printf("{\"replica\":{\"status\":\"%s\",\"promised\":%" PRIu64 ",\"begin\":%" PRIu64
		       "}}\n",
		       replog_status_name(m.status), m.promised, m.begin);
	rv = replog_store_scan(s, from, dump_cb, &d);
	if (rv < 0) {
		fprintf(stderr, "keelctl log dump: %s\n", replog_store_errmsg(s));
		d.rc = KEELCTL_FAIL;
	}
	replog_store_close(s);
	keel_buf_free(&d.out);
	return d.rc;
}

int keelctl_log(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "dump") == 0)
		return log_dump(argc - 1, argv + 1);
	fprintf(stderr, "Usage: keelctl log dump --work_dir=DIR [--json] [--from=N]\n");
	return argc >= 2 && strcmp(argv[1], "--help") == 0 ? KEELCTL_OK : KEELCTL_USAGE;
}
