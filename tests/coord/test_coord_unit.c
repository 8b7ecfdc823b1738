/* Unit tests for coord: URL parsing, the static backend, MasterInfo payloads, callback contract
 * and allocation failures. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coord/coord.h"
#include "harness.h"
#include "loop_util.h"
#include "runtime/alloc.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"

/* Coord logs at INFO; keep the test output to assertions. */
__attribute__((constructor)) static void quiet_logs(void)
{
	keel_log_set_level(KEEL_LOG_ERROR);
}

/* --- URLs --- */

TEST(url_zk_full)
{
	struct coord_url u;
	char msg[KEEL_ERRMSG_SIZE] = "";

	ASSERT_OK(
	    coord_url_parse("zk://alice:s3cr:et@10.0.0.1:2181,zk2,[::1]:2182/mesos/x", &u, msg));
	ASSERT_INT_EQ(u.backend, COORD_BACKEND_ZK);
	ASSERT_UINT_EQ(u.num_hosts, 3);
	ASSERT_STR_EQ(u.hosts[0].host, "10.0.0.1");
	ASSERT_UINT_EQ(u.hosts[0].port, 2181);
	ASSERT_STR_EQ(u.hosts[1].host, "zk2");
	ASSERT_UINT_EQ(u.hosts[1].port, 2181); /* default */
	ASSERT_STR_EQ(u.hosts[2].host, "::1");
	ASSERT_UINT_EQ(u.hosts[2].port, 2182);
	ASSERT_STR_EQ(u.path, "/mesos/x");
	ASSERT_STR_EQ(u.user, "alice");
	ASSERT_STR_EQ(u.password, "s3cr:et");
	coord_url_free(&u);
	ASSERT_NULL(u.hosts);
	coord_url_free(&u); /* twice is harmless */
}

TEST(url_etcd_and_static)
{
	struct coord_url u;

	ASSERT_OK(coord_url_parse("etcd://127.0.0.1:2379,127.0.0.1:22379/keel", &u, NULL));
	ASSERT_INT_EQ(u.backend, COORD_BACKEND_ETCD);
	ASSERT_UINT_EQ(u.num_hosts, 2);
	ASSERT_UINT_EQ(u.hosts[1].port, 22379);
	ASSERT_STR_EQ(u.path, "/keel");
	ASSERT_NULL(u.user);
	coord_url_free(&u);

	ASSERT_OK(coord_url_parse("etcd://h/a", &u, NULL));
	ASSERT_UINT_EQ(u.hosts[0].port, 2379);
	coord_url_free(&u);

	ASSERT_OK(coord_url_parse("static://master1:5051", &u, NULL));
	ASSERT_INT_EQ(u.backend, COORD_BACKEND_STATIC);
	ASSERT_NULL(u.path);
	ASSERT_UINT_EQ(u.hosts[0].port, 5051);
	coord_url_free(&u);

	ASSERT_OK(coord_url_parse("static://m1,m2:7000/", &u, NULL));
	ASSERT_UINT_EQ(u.num_hosts, 2);
	ASSERT_UINT_EQ(u.hosts[0].port, 5050);
	coord_url_free(&u);
}

TEST(url_errors_name_the_url)
{
	static const struct {
		const char *url;   /* input */
		const char *why;   /* expected part of the message */
		const char *shown; /* how the message shows the URL (NULL: as given) */
	} cases[] = {
	    {"http://h:1/x", "the scheme must be"},
	    {"zk://", "no hosts"},
	    {"zk:///mesos", "no hosts"},
	    {"zk://h:1", "a znode path is required"},
	    {"etcd://h:1", "a key prefix is required"},
	    {"zk://h:1/", "a path other than \"/\" is required"},
	    {"zk://h:1/a/", "trailing '/'"},
	    {"zk://h:1/a//b", "empty component"},
	    {"zk://h:1/a/../b", "\".\" or \"..\""},
	    {"zk://h:1/a/./b", "\".\" or \"..\""},
	    {"zk://h:1/a b", "bad character in path"},
	    {"zk://h:1/a?x=1", "bad character in path"},
	    {"zk://h:0/a", "port must be"},
	    {"zk://h:65536/a", "port must be"},
	    {"zk://h:12x/a", "port must be"},
	    {"zk://h:/a", "port must be"},
	    {"zk://h1,,h2/a", "empty host"},
	    {"zk://h$/a", "bad character in host"},
	    {"zk://[::1/a", "unterminated"},
	    {"zk://[]:1/a", "empty host"},
	    {"zk://[::1]x/a", "expected ':'"},
	    {"zk://[zz]:1/a", "bad character in IPv6"},
	    {"zk://user@h/a", "credentials must be user:password@"},
	    {"zk://:pw@h/a", "credentials must be user:password@", "zk://:***@h/a"},
	    {"zk://u:@h/a", "credentials must be user:password@", "zk://u:***@h/a"},
	    {"etcd://u:p@h/a", "only zk:// takes user:password@", "etcd://u:***@h/a"},
	    {"static://h:1/x", "static:// takes no path"},
	    {"static://", "no hosts"},
	};
	struct coord_url u;
	char msg[KEEL_ERRMSG_SIZE];
	size_t i;

	for (i = 0; i < KEEL_ARRAY_SIZE(cases); i++) {
		TH_CONTEXT("%s", cases[i].url);
		msg[0] = '\0';
		ASSERT_INT_EQ(coord_url_parse(cases[i].url, &u, msg), -EINVAL);
		ASSERT_NULL(u.hosts);
		ASSERT_STR_CONTAINS(msg, cases[i].shown != NULL ? cases[i].shown : cases[i].url);
		ASSERT_STR_CONTAINS(msg, cases[i].why);
	}
	ASSERT_INT_EQ(coord_url_parse(NULL, &u, msg), -EINVAL);
}

TEST(url_error_hides_password)
{
	struct coord_url u;
	char msg[KEEL_ERRMSG_SIZE];

	ASSERT_INT_EQ(coord_url_parse("zk://bob:hunter2@h:1/", &u, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg, "zk://bob:***@h:1/");
	ASSERT_TRUE(strstr(msg, "hunter2") == NULL);
}

#ifdef KEEL_FAILPOINTS
TEST(url_parse_every_allocation_fails)
{
	const char *url = "zk://u:p@h1:1,h2:2,[::1]:3/a/b";
	struct coord_url u;
	long n, total;

	keel_alloc_fail_after(0, false);
	ASSERT_OK(coord_url_parse(url, &u, NULL));
	coord_url_free(&u);
	total = keel_alloc_fail_after(0, false);
	ASSERT_INT_GT(total, 3);
	for (n = 1; n <= total; n++) {
		char msg[KEEL_ERRMSG_SIZE] = "";
		TH_CONTEXT("allocation %ld of %ld", n, total);
		keel_alloc_fail_after(n, false);
		int rv = coord_url_parse(url, &u, msg);
		keel_alloc_fail_after(0, false);
		ASSERT_INT_EQ(rv, -ENOMEM);
		ASSERT_STR_CONTAINS(msg, "out of memory");
		ASSERT_NULL(u.hosts);
	}
}
#endif

/* --- MasterInfo --- */

static void master_info_sample(Mesos__V1__MasterInfo *mi, Mesos__V1__Address *addr)
{
	static char id[] = "20261126-master-1", ip[] = "127.0.0.1", pid[] = "master@127.0.0.1:5050",
		    ver[] = "1.11.0";

	mesos__v1__master_info__init(mi);
	mesos__v1__address__init(addr);
	mi->id = id;
	mi->ip = 16777343; /* 127.0.0.1 in network byte order, as Mesos stores it on x86 */
	mi->port = 5050;
	mi->pid = pid;
	mi->hostname = ip;
	mi->version = ver;
	addr->hostname = ip;
	addr->ip = ip;
	addr->port = 5050;
	mi->address = addr;
}

TEST(master_info_json_round_trip)
{
	Mesos__V1__MasterInfo mi, *back = NULL;
	Mesos__V1__Address addr;
	struct keel_buf b = KEEL_BUF_INIT;
	char msg[KEEL_ERRMSG_SIZE];

	master_info_sample(&mi, &addr);
	ASSERT_OK(coord_master_info_json(&mi, &b, msg));
	ASSERT_OK(keel_buf_putc(&b, '\0'));
	/* Compact, with the fields a Mesos detector reads. */
	ASSERT_STR_CONTAINS(keel_buf_rptr(&b), "\"id\":\"20261126-master-1\"");
	ASSERT_STR_CONTAINS(keel_buf_rptr(&b), "\"ip\":16777343");
	ASSERT_STR_CONTAINS(keel_buf_rptr(&b), "\"port\":5050");
	ASSERT_STR_CONTAINS(keel_buf_rptr(&b), "\"pid\":\"master@127.0.0.1:5050\"");
	ASSERT_STR_CONTAINS(keel_buf_rptr(&b),
			    "\"address\":{\"hostname\":\"127.0.0.1\",\"ip\":\"127.0.0.1\","
			    "\"port\":5050}");
	ASSERT_TRUE(strchr(keel_buf_rptr(&b), ' ') == NULL);
	ASSERT_OK(coord_master_info_parse(keel_buf_rptr(&b), keel_buf_size(&b) - 1, &back, msg));
	ASSERT_STR_EQ(back->id, mi.id);
	ASSERT_UINT_EQ(back->ip, mi.ip);
	ASSERT_STR_EQ(back->address->ip, "127.0.0.1");
	keel_pbjson_free(&back->base);
	keel_buf_free(&b);

	mi.id = NULL;
	ASSERT_INT_EQ(coord_master_info_json(&mi, &b, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg, "id");
	keel_buf_free(&b);
}

TEST(master_info_parse_rejects_garbage)
{
	static const struct {
		const char *json; /* payload */
		const char *why;  /* part of the message */
	} cases[] = {
	    {"", "empty payload"},
	    {"garbage\x01\xff", "not MasterInfo JSON"},
	    {"[1,2]", "not MasterInfo JSON"},
	    {"{\"ip\":1,\"port\":5050}", "id"},
	    {"{\"id\":\"x\",\"port\":5050}", "ip"},
	    {"{\"id\":\"\",\"ip\":1,\"port\":5050}", "empty id"},
	    {"{\"id\":\"x\",\"ip\":1,\"port\":0}", "port out of range"},
	    {"{\"id\":\"x\",\"ip\":1,\"port\":70000}", "port out of range"},
	    {"{\"id\":\"x\",\"ip\":1,\"port\":1,\"pid\":\"nohost\"}", "pid"},
	    {"{\"id\":\"x\",\"ip\":1,\"port\":1,\"pid\":\"m@h:\"}", "pid"},
	    {"{\"id\":\"x\",\"ip\":1,\"port\":1,\"pid\":\"m@h:99999\"}", "pid"},
	    {"{\"id\":\"x\",\"ip\":1,\"port\":1,\"address\":{\"port\":0}}", "address.port"},
	    {"{\"id\":\"x\",\"ip\":\"notanumber\",\"port\":1}", "ip"},
	};
	Mesos__V1__MasterInfo *mi;
	char msg[KEEL_ERRMSG_SIZE];
	size_t i;

	for (i = 0; i < KEEL_ARRAY_SIZE(cases); i++) {
		TH_CONTEXT("%s", cases[i].json);
		msg[0] = '\0';
		ASSERT_INT_EQ(
		    coord_master_info_parse(cases[i].json, strlen(cases[i].json), &mi, msg),
		    -EBADMSG);
		ASSERT_NULL(mi);
		ASSERT_STR_CONTAINS(msg, cases[i].why);
	}
	/* Mesos's own output (alphabetical keys, extra fields) parses. */
	const char *mesos = "{\"address\":{\"hostname\":\"m1\",\"ip\":\"10.0.0.1\",\"port\":5050},"
			    "\"capabilities\":[{\"type\":\"AGENT_UPDATE\"}],\"hostname\":\"m1\","
			    "\"id\":\"abc\",\"ip\":16777226,\"pid\":\"master@10.0.0.1:5050\","
			    "\"port\":5050,\"version\":\"1.11.0\",\"future_field\":1}";
	ASSERT_OK(coord_master_info_parse(mesos, strlen(mesos), &mi, msg));
	ASSERT_STR_EQ(mi->pid, "master@10.0.0.1:5050");
	keel_pbjson_free(&mi->base);
}

/* --- the static backend and the callback contract --- */

/* What the callbacks saw. */
struct seen {
	int elected, lost, leaders, nones, member_reports, statuses;
	uint64_t epoch;
	char leader_name[64];
	char payload[512];
	size_t members;
	char member0[64];
	bool info_ok;
	struct coord *close_in_cb;		/* close this coord from the next callback */
	struct coord_contender *withdraw_in_cb; /* withdraw this from the next callback */
};

static void st_status(struct coord *c, const struct coord_status *st, void *arg)
{
	struct seen *s = arg;

	(void)c;
	(void)st;
	s->statuses++;
}

static void st_contender(struct coord_contender *ct, const struct coord_contender_event *ev,
			 void *arg)
{
	struct seen *s = arg;

	if (ev->type == COORD_ELECTED) {
		s->elected++;
		s->epoch = ev->epoch;
	} else {
		s->lost++;
	}
	if (s->withdraw_in_cb == ct) {
		s->withdraw_in_cb = NULL;
		coord_contender_withdraw(ct);
	}
	if (s->close_in_cb != NULL) {
		struct coord *c = s->close_in_cb;
		s->close_in_cb = NULL;
		coord_close(c, 0);
	}
}

static void st_leader(struct coord_detector *d, const struct coord_leader *l, void *arg)
{
	struct seen *s = arg;

	(void)d;
	if (l->present) {
		s->leaders++;
		snprintf(s->leader_name, sizeof(s->leader_name), "%s", l->name);
		snprintf(s->payload, sizeof(s->payload), "%.*s", (int)l->len,
			 (const char *)l->payload);
		s->info_ok = l->err == 0 && l->info != NULL;
	} else {
		s->nones++;
	}
}

static void st_members(struct coord_watch *w, const struct coord_member_info *m, size_t n, int err,
		       void *arg)
{
	struct seen *s = arg;

	(void)w;
	(void)err;
	s->member_reports++;
	s->members = n;
	if (n > 0)
		snprintf(s->member0, sizeof(s->member0), "%.*s", (int)m[0].len,
			 (const char *)m[0].payload);
}

static struct keel_loop *new_loop(void)
{
	struct keel_loop *loop;
	char msg[KEEL_ERRMSG_SIZE];
	int rv = keel_loop_new(&loop, NULL, msg);

	if (rv == -ENOSYS || rv == -EPERM)
		TH_SKIP("io_uring unavailable");
	ASSERT_OK(rv);
	return loop;
}

TEST(static_backend_elects_detects_lists)
{
	struct keel_loop *loop = new_loop();
	struct seen s = {0};
	struct coord_config cfg = {.on_status = st_status, .status_arg = &s};
	struct coord *c;
	struct coord_contender *ct;
	struct coord_detector *d;
	struct coord_watch *w;
	struct coord_member *m;
	char msg[KEEL_ERRMSG_SIZE];
	struct coord_stats stats;

	ASSERT_OK(coord_open(loop, "static://127.0.0.1:5050,10.0.0.2:6060", &cfg, &c, msg));
	ASSERT_INT_EQ(coord_backend_of(c), COORD_BACKEND_STATIC);
	ASSERT_STR_EQ(coord_url(c), "static://127.0.0.1:5050,10.0.0.2:6060");
	ASSERT_UINT_EQ(coord_session_timeout_ms(c), 0);
	ASSERT_OK(coord_contend(c, "me", 2, st_contender, &s, &ct, msg));
	ASSERT_OK(coord_detect(c, COORD_DETECT_MASTER_INFO, st_leader, &s, &d, msg));
	ASSERT_OK(coord_watch_members(c, "log_replicas", st_members, &s, &w, msg));
	ASSERT_OK(coord_member_join(c, "log_replicas", "x", 1, &m, msg));
	/* Never from inside the call. */
	ASSERT_INT_EQ(s.elected + s.leaders + s.member_reports + s.statuses, 0);
	ASSERT_FALSE(coord_contender_leading(ct, NULL));
	ASSERT_TRUE(
	    RUN_UNTIL(loop, s.elected == 1 && s.leaders == 1 && s.member_reports == 1, 2000));
	ASSERT_UINT_EQ(s.epoch, 1);
	uint64_t epoch = 0;
	ASSERT_TRUE(coord_contender_leading(ct, &epoch));
	ASSERT_UINT_EQ(epoch, 1);
	ASSERT_STR_EQ(s.leader_name, "static");
	ASSERT_TRUE(s.info_ok);
	ASSERT_STR_CONTAINS(s.payload, "\"pid\":\"master@127.0.0.1:5050\"");
	ASSERT_STR_CONTAINS(s.payload, "\"ip\":16777343");
	ASSERT_UINT_EQ(s.members, 2);
	ASSERT_STR_EQ(s.member0, "127.0.0.1:5050");
	ASSERT_INT_EQ(s.statuses, 1);
	coord_get_stats(c, &stats);
	ASSERT_UINT_EQ(stats.sessions, 1);
	/* Nothing repeats. */
	keel_loop_run_once(loop, 20);
	ASSERT_INT_EQ(s.elected + s.leaders + s.member_reports, 3);
	coord_member_leave(m);
	coord_contender_withdraw(ct);
	coord_detector_close(d);
	coord_watch_close(w);
	coord_close(c, 0);
	coord_close(NULL, 0);
	coord_contender_withdraw(NULL);
	keel_loop_free(loop);
}

TEST(static_close_and_withdraw_inside_callbacks)
{
	struct keel_loop *loop = new_loop();
	struct seen s = {0};
	struct coord *c;
	struct coord_contender *ct, *ct2;
	char msg[KEEL_ERRMSG_SIZE];

	/* Withdraw a contender from its own ELECTED callback. */
	ASSERT_OK(coord_open(loop, "static://h:1", NULL, &c, msg));
	ASSERT_OK(coord_contend(c, NULL, 0, st_contender, &s, &ct, msg));
	s.withdraw_in_cb = ct;
	ASSERT_TRUE(RUN_UNTIL(loop, s.elected == 1, 2000));
	ASSERT_NULL(s.withdraw_in_cb);
	/* Close the coord from a callback: the second contender's event is the last one. */
	ASSERT_OK(coord_contend(c, "a", 1, st_contender, &s, &ct, msg));
	ASSERT_OK(coord_contend(c, "b", 1, st_contender, &s, &ct2, msg));
	s.close_in_cb = c;
	ASSERT_TRUE(RUN_UNTIL(loop, s.elected == 2, 2000));
	keel_loop_run_once(loop, 20);
	ASSERT_INT_EQ(s.elected, 2); /* the other contender was freed with the coord, silently */
	keel_loop_free(loop);
}

TEST(api_rejects_bad_arguments)
{
	struct keel_loop *loop = new_loop();
	struct seen s = {0};
	struct coord *c;
	struct coord_contender *ct;
	struct coord_detector *d;
	struct coord_member *m;
	struct coord_watch *w;
	char msg[KEEL_ERRMSG_SIZE];

	ASSERT_INT_EQ(coord_open(loop, "zk://h:1", NULL, &c, msg), -EINVAL);
	ASSERT_NULL(c);
	ASSERT_STR_CONTAINS(msg, "zk://h:1");
	ASSERT_OK(coord_open(loop, "static://h:1", NULL, &c, msg));
	ASSERT_INT_EQ(coord_contend(c, "x", 1, NULL, &s, &ct, msg), -EINVAL);
	ASSERT_INT_EQ(coord_contend(c, NULL, 5, st_contender, &s, &ct, msg), -EINVAL);
	ASSERT_INT_EQ(coord_contend(c, "x", 2 * 1024 * 1024, st_contender, &s, &ct, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg, "payload");
	ASSERT_INT_EQ(coord_detect(c, 0x80, st_leader, &s, &d, msg), -EINVAL);
	ASSERT_INT_EQ(coord_detect(c, 0, NULL, &s, &d, msg), -EINVAL);
	ASSERT_INT_EQ(coord_member_join(c, "a/b", "x", 1, &m, msg), -EINVAL);
	ASSERT_STR_CONTAINS(msg, "static://h:1");
	ASSERT_INT_EQ(coord_member_join(c, "..", "x", 1, &m, msg), -EINVAL);
	ASSERT_INT_EQ(coord_member_join(c, "", "x", 1, &m, msg), -EINVAL);
	ASSERT_INT_EQ(coord_member_join(c, NULL, "x", 1, &m, msg), -EINVAL);
	ASSERT_INT_EQ(coord_watch_members(c, "g", NULL, &s, &w, msg), -EINVAL);
	ASSERT_INT_EQ(coord_watch_members(c, "g h", st_members, &s, &w, msg), -EINVAL);
	ASSERT_NULL(w);
	keel_loop_run_once(loop, 10);
	ASSERT_INT_EQ(s.elected + s.leaders + s.member_reports, 0);
	coord_close(c, 0);
	keel_loop_free(loop);
}

#ifdef KEEL_FAILPOINTS
/* Opens a static coord and makes one of everything; returns the first failure. */
static int static_everything(struct keel_loop *loop, struct seen *s, struct coord **out)
{
	struct coord *c;
	struct coord_contender *ct;
	struct coord_detector *d;
	struct coord_member *m;
	struct coord_watch *w;
	char msg[KEEL_ERRMSG_SIZE];
	int rv;

	*out = NULL;
	rv = coord_open(loop, "static://10.1.1.1:5050,h2", NULL, &c, msg);
	if (rv < 0)
		return rv;
	*out = c;
	rv = coord_contend(c, "p", 1, st_contender, s, &ct, msg);
	if (rv == 0)
		rv = coord_detect(c, COORD_DETECT_MASTER_INFO, st_leader, s, &d, msg);
	if (rv == 0)
		rv = coord_watch_members(c, "g", st_members, s, &w, msg);
	if (rv == 0)
		rv = coord_member_join(c, "g", "p", 1, &m, msg);
	return rv;
}

TEST(static_every_allocation_fails)
{
	struct keel_loop *loop = new_loop();
	struct seen s = {0};
	struct coord *c;
	long n, total;

	/* Count the allocations of a full run (setup and the first turn). */
	keel_alloc_fail_after(0, false);
	ASSERT_OK(static_everything(loop, &s, &c));
	ASSERT_TRUE(
	    RUN_UNTIL(loop, s.elected == 1 && s.leaders == 1 && s.member_reports == 1, 2000));
	coord_close(c, 0);
	total = keel_alloc_fail_after(0, false);
	for (n = 1; n <= total; n++) {
		TH_CONTEXT("allocation %ld of %ld", n, total);
		memset(&s, 0, sizeof(s));
		keel_alloc_fail_after(n, false);
		int rv = static_everything(loop, &s, &c);
		if (rv == 0)
			(void)RUN_UNTIL(loop, s.elected == 1 && s.leaders == 1, 200);
		keel_alloc_fail_after(0, false);
		ASSERT_TRUE(rv == 0 || rv == -ENOMEM);
		/* A failure is either returned or survived: the coord keeps working. */
		if (c != NULL) {
			ASSERT_TRUE(RUN_UNTIL(loop, s.elected == 1 || rv < 0, 2000));
			coord_close(c, 0);
		}
	}
	keel_loop_free(loop);
}
#endif
