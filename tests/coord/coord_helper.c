/* coord-helper: one coord session in its own process, driven over stdin, reporting on stdout (for
 * the integration tests and bench/coord). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord/coord.h"
#include "coord/coord_debug.h"
#include "lines.h"
#include "runtime/flags.h"
#include "runtime/log.h"

/*
 * Every line written starts with CLOCK_MONOTONIC nanoseconds (comparable
 * across processes on one machine):
 *
 *   T ready
 *   T status <type> <err> <message>
 *   T elected <epoch> <name>
 *   T lost <epoch> <reason> <message>
 *   T leader <epoch> <err> <name> <payload as one line, or "-">
 *   T none <err> <message or "-">
 *   T members <err> <n> <id:payload>...
 *   T stats <sessions> <sessions_lost> <watch_events> <requests>
 *   T leading <0|1> <epoch>
 *   T session <zk session id hex> <password hex>  |  T session <etcd lease id>
 *
 * and "withdrawing"/"withdrawn", "closing"/"closed" around those calls.
 *
 * Commands on stdin, one per line: withdraw, leave, stats, leading, session, close
 * (coord_close waiting up to 3 s, then exit 0), exit (exit at once without
 * closing). End of input is "close".
 */

/* The process's one top-level state. */
struct helper {
	struct keel_loop *loop;	    /* the loop */
	struct coord *c;	    /* the session */
	struct coord_contender *ct; /* --contend */
	struct coord_detector *det; /* --detect */
	struct coord_member *mem;   /* --join */
	struct coord_watch *watch;  /* --watch */
	struct keel_poll *in;	    /* stdin */
	char line[4096];	    /* partial command */
	size_t len;		    /* its length */
	bool quit;		    /* leave the loop */
};

static void out(const char *fmt, ...) KEEL_PRINTF(1, 2);

static void out(const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	int n;

	n = snprintf(buf, sizeof(buf), "%llu ", (unsigned long long)keel_loop_clock_ns());
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(buf) - 1)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	/* One write per line: the reader may be another process polling the pipe. */
	if (write(STDOUT_FILENO, buf, (size_t)n) < 0)
		_exit(3);
}

/* Copies bytes into a single line, replacing newlines and non-printables with '?'. */
static void oneline(char *dst, size_t size, const void *src, size_t len)
{
	const unsigned char *s = src;
	size_t i, n = len < size - 1 ? len : size - 1;

	for (i = 0; i < n; i++)
		dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
	dst[n] = '\0';
	if (n == 0 && size > 1) {
		dst[0] = '-';
		dst[1] = '\0';
	}
}

static void on_status(struct coord *c, const struct coord_status *st, void *arg)
{
	(void)c;
	(void)arg;
	out("status %d %d %s", st->type, st->err, st->message);
}

static void on_contender(struct coord_contender *ct, const struct coord_contender_event *ev,
			 void *arg)
{
	(void)ct;
	(void)arg;
	if (ev->type == COORD_ELECTED)
		out("elected %llu %s", (unsigned long long)ev->epoch, ev->name);
	else
		out("lost %llu %d %s", (unsigned long long)ev->epoch, ev->reason, ev->message);
}

static void on_leader(struct coord_detector *d, const struct coord_leader *l, void *arg)
{
	char p[4096];

	(void)d;
	(void)arg;
	if (l->present) {
		oneline(p, sizeof(p), l->payload, l->len);
		out("leader %llu %d %s %s", (unsigned long long)l->epoch, l->err, l->name, p);
	} else {
		out("none %d %s", l->err, l->message[0] != '\0' ? l->message : "-");
	}
}

static void on_members(struct coord_watch *w, const struct coord_member_info *m, size_t n, int err,
		       void *arg)
{
	char buf[6000] = "", p[256];
	size_t i, used = 0;

	(void)w;
	(void)arg;
	for (i = 0; i < n && used < sizeof(buf) - 300; i++) {
		oneline(p, sizeof(p), m[i].payload, m[i].len);
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, " %llu:%s",
					 (unsigned long long)m[i].id, p);
	}
	out("members %d %zu%s", err, n, buf);
}

static void command(struct helper *h, const char *cmd)
{
	if (strcmp(cmd, "withdraw") == 0) {
		out("withdrawing");
		coord_contender_withdraw(h->ct);
		h->ct = NULL;
		out("withdrawn");
	} else if (strcmp(cmd, "leave") == 0) {
		coord_member_leave(h->mem);
		h->mem = NULL;
		out("left");
	} else if (strcmp(cmd, "stats") == 0) {
		struct coord_stats s;
		coord_get_stats(h->c, &s);
		out("stats %llu %llu %llu %llu", (unsigned long long)s.sessions,
		    (unsigned long long)s.sessions_lost, (unsigned long long)s.watch_events,
		    (unsigned long long)s.requests);
	} else if (strcmp(cmd, "leading") == 0) {
		uint64_t epoch = 0;
		bool l = h->ct != NULL && coord_contender_leading(h->ct, &epoch);
		out("leading %d %llu", l ? 1 : 0, (unsigned long long)epoch);
	} else if (strcmp(cmd, "session") == 0) {
		int64_t id = 0;
		char pw[16], hex[33];
		if (coord_debug_zk_session(h->c, &id, pw) == 0) {
			for (int i = 0; i < 16; i++)
				snprintf(hex + 2 * i, 3, "%02x", (unsigned char)pw[i]);
			out("session %llx %s", (unsigned long long)id, hex);
		} else if (coord_debug_etcd_lease(h->c, &id) == 0) {
			out("session %lld", (long long)id);
		} else {
			out("session none");
		}
	} else if (strcmp(cmd, "close") == 0) {
		h->quit = true;
	} else if (strcmp(cmd, "exit") == 0) {
		_exit(0);
	} else {
		out("error unknown command %s", cmd);
	}
}

static void on_line(void *arg, char *line)
{
	command(arg, line);
}

static void on_stdin(struct keel_poll *p, int revents, void *arg)
{
	struct helper *h = arg;

	(void)revents;
	if (!lines_read(STDIN_FILENO, h->line, &h->len, sizeof(h->line), on_line, h)) {
		keel_poll_stop(p);
		h->quit = true;
	}
}

int main(int argc, char **argv)
{
	static char *url, *payload, *master_info, *join, *watch, *log_level;
	static bool contend, detect, master_check;
	static int64_t session_ns, connect_ns;
	static const struct keel_flag table[] = {
	    {.name = "url",
	     .type = KEEL_FLAG_STRING,
	     .value = &url,
	     .required = true,
	     .no_fetch = true,
	     .help = "Coordination URL."},
	    {.name = "payload",
	     .type = KEEL_FLAG_STRING,
	     .value = &payload,
	     .help = "Payload (contend and join)."},
	    {.name = "master_info",
	     .type = KEEL_FLAG_STRING,
	     .value = &master_info,
	     .help = "Use MasterInfo JSON for ID@IP:PORT as the payload."},
	    {.name = "contend", .type = KEEL_FLAG_BOOL, .value = &contend, .help = "Contend."},
	    {.name = "detect", .type = KEEL_FLAG_BOOL, .value = &detect, .help = "Detect."},
	    {.name = "master_check",
	     .type = KEEL_FLAG_BOOL,
	     .value = &master_check,
	     .help = "Detect with COORD_DETECT_MASTER_INFO."},
	    {.name = "join", .type = KEEL_FLAG_STRING, .value = &join, .help = "Join GROUP."},
	    {.name = "watch", .type = KEEL_FLAG_STRING, .value = &watch, .help = "Watch GROUP."},
	    {.name = "session_timeout",
	     .type = KEEL_FLAG_DURATION,
	     .value = &session_ns,
	     .def = "10secs",
	     .help = "Session timeout."},
	    {.name = "connect_timeout",
	     .type = KEEL_FLAG_DURATION,
	     .value = &connect_ns,
	     .def = "0ns",
	     .help = "UNREACHABLE after this (0: the session timeout)."},
	    {.name = "log_level",
	     .type = KEEL_FLAG_STRING,
	     .value = &log_level,
	     .def = "warning",
	     .help = "Log level."},
	};
	struct keel_flags flags;
	struct helper h = {0};
	struct keel_buf mi_json = KEEL_BUF_INIT;
	char errmsg[KEEL_ERRMSG_SIZE];
	enum keel_log_level lvl;
	int rv;

	if (keel_flags_init(&flags, table, KEEL_ARRAY_SIZE(table), NULL) < 0 ||
	    (rv = keel_flags_parse(&flags, argc, argv, NULL)) < 0) {
		fprintf(stderr, "coord-helper: %s\n", flags.errmsg);
		return 2;
	}
	if (rv == KEEL_FLAGS_HELP)
		return 0;
	if (keel_log_level_parse(log_level, &lvl) == 0)
		keel_log_set_level(lvl);
	if (master_info != NULL) {
		/* ID@IP:PORT */
		char id[256], ip[64], pid[400], ver[] = "keel-test";
		unsigned port = 0;
		Mesos__V1__MasterInfo mi = MESOS__V1__MASTER_INFO__INIT;
		Mesos__V1__Address addr = MESOS__V1__ADDRESS__INIT;
		if (sscanf(master_info, "%255[^@]@%63[^:]:%u", id, ip, &port) != 3) {
			fprintf(stderr, "coord-helper: --master_info=ID@IP:PORT\n");
			return 2;
		}
		unsigned a, b, c, d;
		if (sscanf(ip, "%u.%u.%u.%u", &a, &b, &c, &d) == 4)
			mi.ip =
			    (uint32_t)(a | b << 8 | c << 16 | d << 24); /* network order on LE */
		snprintf(pid, sizeof(pid), "master@%s:%u", ip, port);
		mi.id = id;
		mi.port = port;
		mi.pid = pid;
		mi.hostname = ip;
		mi.version = ver;
		addr.hostname = ip;
		addr.ip = ip;
		addr.port = (int32_t)port;
		mi.address = &addr;
		if (coord_master_info_json(&mi, &mi_json, errmsg) < 0) {
			fprintf(stderr, "coord-helper: %s\n", errmsg);
			return 2;
		}
	}
	if (keel_loop_new(&h.loop, NULL, errmsg) < 0) {
		fprintf(stderr, "coord-helper: %s\n", errmsg);
		return 1;
	}
	struct coord_config cfg = {
	    .session_timeout_ms = (uint32_t)(session_ns / 1000000),
	    .connect_timeout_ms = (uint32_t)(connect_ns / 1000000),
	    .on_status = on_status,
	};
	if (coord_open(h.loop, url, &cfg, &h.c, errmsg) < 0) {
		out("openfail %s", errmsg);
		return 1;
	}
	const char *pl = master_info != NULL ? keel_buf_rptr(&mi_json) : payload ? payload : "";
	size_t plen = master_info != NULL ? keel_buf_size(&mi_json) : strlen(pl);
	if ((contend && coord_contend(h.c, pl, plen, on_contender, &h, &h.ct, errmsg) < 0) ||
	    ((detect || master_check) &&
	     coord_detect(h.c, master_check ? COORD_DETECT_MASTER_INFO : 0, on_leader, &h, &h.det,
			  errmsg) < 0) ||
	    (join != NULL && coord_member_join(h.c, join, pl, plen, &h.mem, errmsg) < 0) ||
	    (watch != NULL &&
	     coord_watch_members(h.c, watch, on_members, &h, &h.watch, errmsg) < 0)) {
		out("error %s", errmsg);
		return 1;
	}
	if (keel_poll_new(h.loop, STDIN_FILENO, on_stdin, &h, &h.in) < 0 ||
	    keel_poll_start(h.in, KEEL_POLL_IN) < 0) {
		out("error cannot watch stdin");
		return 1;
	}
	out("ready %d", (int)getpid());
	while (!h.quit)
		if (keel_loop_run_once(h.loop, -1) < 0)
			break;
	out("closing");
	coord_close(h.c, 3000);
	out("closed");
	keel_poll_close(h.in);
	keel_loop_free(h.loop);
	keel_buf_free(&mi_json);
	keel_flags_free(&flags);
	return 0;
}
