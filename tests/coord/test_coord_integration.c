/* Integration tests for coord against real ZooKeeper and etcd servers on loopback: election,
 * failover, withdraw, session loss, backend outage, herd, Mesos layout, auth, bad input. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
/* The synchronous ZooKeeper calls (test code only) are declared for the threaded library. */
#define THREADED
#include <zookeeper/zookeeper.h>

#include "coord/coord.h"
#include "coord/coord_debug.h"
#include "harness.h"
#include "it.h"
#include "loop_util.h"
#include "runtime/failpoint.h"
#include "runtime/log.h"

/*
 * Environment (set by coord/meson.build): COORD_BACKEND zk|etcd,
 * COORD_SERVERS 1|3, COORD_HELPER, KEELCTL, COORD_SCRIPTS, COORD_WORKDIR.
 * One deployment per binary, started on first use; every case works under
 * its own path/prefix. Times are CLOCK_MONOTONIC, shared by all processes.
 */

static const char *bk;	    /* "zk" or "etcd" */
static int nsrv;	    /* servers */
static uint32_t T;	    /* session timeout, ms */
static const char *helper;  /* coord-helper */
static const char *keelctl; /* keelctl */
static const char *workdir; /* under the build dir */
static struct it_svc svc;   /* the deployment */
static unsigned run_id;	    /* keeps paths of runs apart */
static int case_no;	    /* keeps paths of cases apart */

#define MS (1000000ULL)

static uint64_t now_ns(void)
{
	return keel_loop_clock_ns();
}

static void setup(void)
{
	const char *scripts = getenv("COORD_SCRIPTS");

	bk = getenv("COORD_BACKEND");
	helper = getenv("COORD_HELPER");
	keelctl = getenv("KEELCTL");
	workdir = getenv("COORD_WORKDIR");
	if (bk == NULL || helper == NULL || scripts == NULL || workdir == NULL || keelctl == NULL)
		TH_SKIP("run through meson (COORD_* environment missing)");
	nsrv = atoi(getenv("COORD_SERVERS") != NULL ? getenv("COORD_SERVERS") : "1");
	T = strcmp(bk, "zk") == 0 ? 2000 : 3000;
	if (strcmp(bk, "zk") == 0 && access("/usr/share/java/zookeeper.jar", R_OK) != 0)
		TH_SKIP("ZooKeeper is not installed (apt-get install zookeeper)");
	if (strcmp(bk, "etcd") == 0 && access("/usr/bin/etcd", X_OK) != 0)
		TH_SKIP("etcd is not installed (apt-get install etcd-server)");
	keel_log_set_level(KEEL_LOG_WARN);
	signal(SIGPIPE, SIG_IGN); /* a helper that exited closes its stdin under us */
	if (!svc.started) {
		char dir[1024];
		run_id = (unsigned)(now_ns() / 1000000 % 1000000);
		mkdir(workdir, 0755);
		snprintf(dir, sizeof(dir), "%s/svc", workdir);
		if (it_svc_start(&svc, scripts, bk, dir, nsrv) != 0)
			th_fail(__FILE__, __LINE__, "cannot start %d %s server(s)", nsrv, bk);
		printf("  %s x%d at %s\n", bk, nsrv, svc.hosts);
	} else {
		/* A failed case may have left it stopped or paused. */
		uint64_t t0 = now_ns();
		if (it_svc_run(&svc, "start", 0) != 0)
			th_fail(__FILE__, __LINE__, "cannot restart %s", bk);
		if (now_ns() - t0 > 2000 * MS)
			printf("  (%s took %llu ms to serve again)\n", bk,
			       (unsigned long long)((now_ns() - t0) / MS));
	}
	case_no++;
}

/* A URL for this case: <bk>://<hosts>/keel-<run>/<name><case>. */
static void case_url(char *out, size_t n, const char *hosts, const char *name)
{
	if (snprintf(out, n, "%s://%s/keel-%u/%s%d", bk, hosts, run_id, name, case_no) >= (int)n)
		th_fail(__FILE__, __LINE__, "URL too long");
}

static struct keel_loop *new_loop(void)
{
	struct keel_loop *loop;
	char msg[KEEL_ERRMSG_SIZE];

	ASSERT_OK(keel_loop_new(&loop, NULL, msg));
	return loop;
}

/* Starts a helper with extra flags (NULL-terminated) and waits until it is ready. */
static void spawn(struct keel_loop *loop, struct it_proc *p, const char *name, const char *url, ...)
{
	const char *argv[24];
	char u[600], st[64], log[1200];
	int n = 0;
	va_list ap;

	snprintf(u, sizeof(u), "--url=%s", url);
	snprintf(st, sizeof(st), "--session_timeout=%ums", T);
	snprintf(log, sizeof(log), "%s/%s-%d.log", workdir, name, case_no);
	argv[n++] = helper;
	argv[n++] = u;
	argv[n++] = st;
	argv[n++] = "--log_level=info";
	va_start(ap, url);
	for (const char *a; n < 22 && (a = va_arg(ap, const char *)) != NULL;)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	ASSERT_OK(it_proc_start(loop, p, name, argv, log));
	ASSERT_TRUE(RUN_UNTIL(loop, it_proc_count(p, "ready") == 1 || p->eof, 10000));
	ASSERT_FALSE(p->eof);
}

/* A contender helper whose payload is MasterInfo for id <name> on port 5000+i. */
static void spawn_contender(struct keel_loop *loop, struct it_proc *p, const char *name, int i,
			    const char *url)
{
	char mi[128];

	snprintf(mi, sizeof(mi), "--master_info=%s@127.0.0.1:%d", name, 5000 + i);
	spawn(loop, p, name, url, "--contend", mi, (const char *)NULL);
}

/* --- in-process detectors --- */

/* What one detector has said. */
struct det {
	struct coord *c;	  /* its own session */
	struct coord_detector *d; /* the detector */
	int reports;		  /* callbacks so far */
	bool present;		  /* last: a leader */
	int err;		  /* last err */
	uint64_t epoch;		  /* last epoch */
	char name[256];		  /* last node/key */
	char id[64];		  /* last MasterInfo id */
	uint64_t max_epoch;	  /* highest epoch seen */
	bool went_back;		  /* an epoch lower than one seen before was reported */
	uint64_t t;		  /* clock of the last report */
};

static void det_cb(struct coord_detector *d, const struct coord_leader *l, void *arg)
{
	struct det *x = arg;

	(void)d;
	x->reports++;
	x->present = l->present;
	x->err = l->err;
	x->t = now_ns();
	x->id[0] = '\0';
	if (l->present) {
		x->epoch = l->epoch;
		snprintf(x->name, sizeof(x->name), "%s", l->name);
		if (l->info != NULL)
			snprintf(x->id, sizeof(x->id), "%s", l->info->id);
		if (l->epoch < x->max_epoch)
			x->went_back = true;
		if (l->epoch > x->max_epoch)
			x->max_epoch = l->epoch;
	}
}

static void det_open(struct keel_loop *loop, struct det *x, const char *url)
{
	struct coord_config cfg = {.session_timeout_ms = T};
	char msg[KEEL_ERRMSG_SIZE];

	memset(x, 0, sizeof(*x));
	ASSERT_OK(coord_open(loop, url, &cfg, &x->c, msg));
	ASSERT_OK(coord_detect(x->c, COORD_DETECT_MASTER_INFO, det_cb, x, &x->d, msg));
}

static void det_close(struct det *x)
{
	coord_close(x->c, 0);
	x->c = NULL;
}

/* Ends the helpers (a clean close), closes the detectors and frees the loop. */
static void teardown(struct keel_loop *loop, struct it_proc *ps, size_t n, struct det *ds,
		     size_t nd)
{
	size_t i;

	for (i = 0; i < n; i++) {
		it_proc_finish(loop, &ps[i], 5000);
		it_proc_free(&ps[i]);
	}
	for (i = 0; i < nd; i++)
		det_close(&ds[i]);
	keel_loop_free(loop);
}

/* Sends command cmd to helper p and waits for its answer line (an event of kind cmd). */
static const struct it_ev *ask(struct keel_loop *loop, struct it_proc *p, const char *cmd)
{
	it_proc_cmd(p, cmd);
	ASSERT_TRUE(RUN_UNTIL(loop, it_proc_last(p, cmd, NULL) != NULL, 5000));
	return it_proc_last(p, cmd, NULL);
}

/* POSTs body to path on the first etcd server and expects 200. */
static void etcd_post_ok(const char *path, const char *body)
{
	char host[64];
	long status;

	ASSERT_INT_EQ(sscanf(svc.hosts, "%63[^,]", host), 1);
	char *resp = it_http_post(host, path, body, &status);
	ASSERT_NOT_NULL(resp);
	free(resp);
	ASSERT_INT_EQ(status, 200);
}

/* Every detector reports exactly this leader (epoch and MasterInfo id). */
static bool dets_agree(const struct det *ds, size_t n, uint64_t epoch, const char *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!ds[i].present || ds[i].err != 0 || ds[i].epoch != epoch ||
		    strcmp(ds[i].id, id) != 0)
			return false;
	return true;
}

static bool dets_none(const struct det *ds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ds[i].reports == 0 || ds[i].present)
			return false;
	return true;
}

/* The one helper that leads, or NULL (none or several). */
static struct it_proc *sole_leader(struct it_proc *ps, size_t n)
{
	struct it_proc *l = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (it_proc_leading(&ps[i], NULL)) {
			if (l != NULL)
				return NULL;
			l = &ps[i];
		}
	}
	return l;
}

/* A stable leader: exactly one helper leads and every detector names it. */
static struct it_proc *stable_leader(struct it_proc *ps, size_t n, const struct det *ds, size_t nd)
{
	struct it_proc *l = sole_leader(ps, n);
	uint64_t epoch;

	if (l == NULL || !it_proc_leading(l, &epoch))
		return NULL;
	return dets_agree(ds, nd, epoch, l->name) ? l : NULL;
}

/*
 * Starts an election on this case's URL `name` (written to url): nd
 * detectors, then n contender helpers m1..mn. Returns the leader once
 * exactly one leads and every detector names it.
 */
static struct it_proc *start_election(struct keel_loop *loop, char *url, size_t urlsize,
				      const char *name, struct it_proc *ps, size_t n,
				      struct det *ds, size_t nd)
{
	char id[16];
	size_t i;

	case_url(url, urlsize, svc.hosts, name);
	for (i = 0; i < nd; i++)
		det_open(loop, &ds[i], url);
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "m%zu", i + 1);
		spawn_contender(loop, &ps[i], id, (int)i + 1, url);
	}
	ASSERT_TRUE(RUN_UNTIL(loop, stable_leader(ps, n, ds, nd) != NULL, 20000));
	return stable_leader(ps, n, ds, nd);
}

/*
 * Checks that no two helpers ever led at once: each term runs from its
 * "elected" to the next "lost", "withdrawing" or "closing" line of the same
 * helper, or its SIGKILL, or `end`.
 */
static void check_no_overlap(struct it_proc *ps, size_t n, uint64_t end)
{
	struct term {
		uint64_t from, to;
		const char *who;
	} terms[64];
	size_t nt = 0, i, j, k;

	for (i = 0; i < n; i++) {
		for (j = 0; j < ps[i].nevs && nt < 64; j++) {
			if (strcmp(ps[i].evs[j].kind, "elected") != 0)
				continue;
			uint64_t to = ps[i].killed_at != 0 ? ps[i].killed_at : end;
			for (k = j + 1; k < ps[i].nevs; k++) {
				const char *kd = ps[i].evs[k].kind;
				if (strcmp(kd, "lost") == 0 || strcmp(kd, "withdrawing") == 0 ||
				    strcmp(kd, "closing") == 0) {
					to = ps[i].evs[k].t;
					break;
				}
			}
			/* A session ended by someone else ends the term then, whenever it hears. */
			if (ps[i].ended_at != 0 && ps[i].ended_at > ps[i].evs[j].t &&
			    ps[i].ended_at < to)
				to = ps[i].ended_at;
			terms[nt].from = ps[i].evs[j].t;
			terms[nt].to = to;
			terms[nt].who = ps[i].name;
			nt++;
		}
	}
	for (i = 0; i < nt; i++) {
		for (j = 0; j < nt; j++) {
			if (i == j)
				continue;
			bool overlap = terms[i].from < terms[j].to && terms[j].from < terms[i].to;
			if (overlap)
				th_fail(
				    __FILE__, __LINE__,
				    "%s led [%llu, %llu] ms and %s led [%llu, %llu] ms: overlap",
				    terms[i].who, (unsigned long long)(terms[i].from / MS),
				    (unsigned long long)(terms[i].to / MS), terms[j].who,
				    (unsigned long long)(terms[j].from / MS),
				    (unsigned long long)(terms[j].to / MS));
		}
	}
}

/* The elected event of p after index `after`, or NULL. */
static const struct it_ev *elected_after(const struct it_proc *p, uint64_t t)
{
	size_t i;

	for (i = 0; i < p->nevs; i++)
		if (strcmp(p->evs[i].kind, "elected") == 0 && p->evs[i].t > t)
			return &p->evs[i];
	return NULL;
}

/* Whether p reported a status of type at or after t. */
static bool status_after(const struct it_proc *p, enum coord_status_type type, uint64_t t)
{
	size_t i;

	for (i = 0; i < p->nevs; i++)
		if (strcmp(p->evs[i].kind, "status") == 0 && p->evs[i].t >= t &&
		    p->evs[i].a == type)
			return true;
	return false;
}

/* --- election, kill, withdraw, close --- */

TEST(election_failover_withdraw_close)
{
	setup();
	struct keel_loop *loop = new_loop();
	struct it_proc ps[3];
	struct det ds[3];
	struct it_proc *l1, *l2, *l3;
	uint64_t e1, e2, e3;
	char url[700];
	size_t i;

	/* Exactly one leader, and every detector names it. */
	l1 = start_election(loop, url, sizeof(url), "elect", ps, 3, ds, 3);
	ASSERT_TRUE(it_proc_leading(l1, &e1));

	/* SIGKILL the leader: another is elected after its session expires. */
	it_proc_kill(l1);
	ASSERT_TRUE(RUN_UNTIL(loop, stable_leader(ps, 3, ds, 3) != NULL, 6 * T + 10000));
	l2 = stable_leader(ps, 3, ds, 3);
	ASSERT_TRUE(l2 != l1);
	ASSERT_TRUE(it_proc_leading(l2, &e2));
	ASSERT_UINT_GT(e2, e1);
	const struct it_ev *el2 = elected_after(l2, 0);
	ASSERT_UINT_GT(el2->t, l1->killed_at);
	printf("  kill -> new leader: %llu ms (session timeout %u ms)\n",
	       (unsigned long long)((el2->t - l1->killed_at) / MS),
	       coord_session_timeout_ms(ds[0].c));

	/* Withdraw: the third takes over without waiting for a timeout. */
	it_proc_cmd(l2, "withdraw");
	ASSERT_TRUE(RUN_UNTIL(
	    loop, stable_leader(ps, 3, ds, 3) != NULL && stable_leader(ps, 3, ds, 3) != l2,
	    T + 5000));
	l3 = stable_leader(ps, 3, ds, 3);
	ASSERT_TRUE(it_proc_leading(l3, &e3));
	ASSERT_UINT_GT(e3, e2);
	const struct it_ev *w = it_proc_last(l2, "withdrawing", NULL);
	const struct it_ev *el3 = elected_after(l3, w->t);
	ASSERT_NOT_NULL(el3);
	printf("  withdraw -> new leader: %llu ms\n", (unsigned long long)((el3->t - w->t) / MS));
	ASSERT_UINT_LT(el3->t - w->t, (uint64_t)T * MS / 2);

	/* Close the last one: detectors say "no leader" quickly (session closed, not expired). */
	it_proc_cmd(l3, "close");
	ASSERT_TRUE(RUN_UNTIL(loop, dets_none(ds, 3), T + 5000));
	const struct it_ev *cl = it_proc_last(l3, "closing", NULL);
	ASSERT_NOT_NULL(cl);
	for (i = 0; i < 3; i++) {
		ASSERT_INT_EQ(ds[i].err, 0);
		ASSERT_UINT_LT(ds[i].t - cl->t, (uint64_t)T * MS / 2);
		ASSERT_FALSE(ds[i].went_back);
	}
	check_no_overlap(ps, 3, now_ns());
	teardown(loop, ps, 3, ds, 3);
}

/* --- forced session end: another handle closes the ZooKeeper session / the lease is revoked --- */

static void zk_noop_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	(void)zh;
	(void)type;
	(void)state;
	(void)path;
	(void)ctx;
}

static void zk_quiet_log(const char *m)
{
	(void)m;
}

/* Second-handle watcher: notes that the takeover connected (the old client may take it back). */
static void zk_takeover_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	(void)zh;
	(void)path;
	if (type == ZOO_SESSION_EVENT && state == ZOO_CONNECTED_STATE)
		atomic_store((atomic_bool *)ctx, true);
}

/* Takes over session id/passwd with a second handle and closes it: the session ends now. */
static void zk_kill_session(struct keel_loop *loop, const char *hosts, const char *sess)
{
	atomic_bool connected = false;
	clientid_t cid;
	unsigned long long id;
	char hex[40];
	int i;

	ASSERT_INT_EQ(sscanf(sess, "%llx %32s", &id, hex), 2);
	cid.client_id = (int64_t)id;
	for (i = 0; i < 16; i++) {
		unsigned v;
		ASSERT_INT_EQ(sscanf(hex + 2 * i, "%2x", &v), 1);
		cid.passwd[i] = (char)v;
	}
	zhandle_t *zh =
	    zookeeper_init2(hosts, zk_takeover_watcher, (int)T, &cid, &connected, 0, zk_quiet_log);
	ASSERT_NOT_NULL(zh);
	/* Not asserted: the old client may win the session back first; the caller retries. */
	(void)RUN_UNTIL(loop, atomic_load(&connected), 3000);
	zookeeper_close(zh);
}

TEST(forced_session_end_tells_the_leader)
{
	setup();
	struct keel_loop *loop = new_loop();
	struct it_proc ps[2];
	struct det ds[1];
	char url[700];
	uint64_t e1;

	case_url(url, sizeof(url), svc.hosts, "expire");
	det_open(loop, &ds[0], url);
	spawn_contender(loop, &ps[0], "m1", 1, url);
	ASSERT_TRUE(RUN_UNTIL(loop, stable_leader(ps, 1, ds, 1) != NULL, 20000));
	spawn_contender(loop, &ps[1], "m2", 2, url);
	ASSERT_TRUE(it_proc_leading(&ps[0], &e1));
	const char *sess = ask(loop, &ps[0], "session")->text;
	/* The follower must have joined before the leader goes, or it could lead first anyway. */
	ask(loop, &ps[1], "stats");

	uint64_t t0 = now_ns();
	if (strcmp(bk, "zk") == 0) {
		/*
		 * The old client reconnects within a few ms of losing its connection to the
		 * takeover and may take the session back before the second handle closes it:
		 * try again until the session is really gone (the classic test technique).
		 */
		for (int tries = 0; tries < 10 && it_proc_last(&ps[0], "lost", NULL) == NULL;
		     tries++) {
			t0 = now_ns();
			zk_kill_session(loop, svc.hosts, sess);
			(void)RUN_UNTIL(loop, it_proc_last(&ps[0], "lost", NULL) != NULL, 500);
		}
	} else {
		char body[128];
		snprintf(body, sizeof(body), "{\"ID\":\"%s\"}", sess);
		etcd_post_ok("/v3/lease/revoke", body);
	}
	ASSERT_TRUE(RUN_UNTIL(loop,
			      it_proc_last(&ps[0], "lost", NULL) != NULL &&
				  stable_leader(ps, 2, ds, 1) == &ps[1],
			      3 * T + 10000));
	const struct it_ev *lost = it_proc_last(&ps[0], "lost", NULL);
	const struct it_ev *el = elected_after(&ps[1], t0);
	ASSERT_UINT_EQ(lost->a, e1);
	ASSERT_TRUE(lost->b == -ECONNRESET || lost->b == -EIDRM);
	printf("  forced end -> old leader told %lld ms, new leader elected %lld ms (%s)\n",
	       (long long)(lost->t - t0) / (long long)MS, (long long)(el->t - t0) / (long long)MS,
	       lost->t < el->t ? "told first" : "elected first");
	/*
	 * The session was ended by someone else, at once, and the server told the successor
	 * (its watch) and the old leader (its connection dropped when the session moved, then
	 * "expired"; or its key's delete on the watch stream) at the same moment: either may
	 * hear first, nothing can order them. What must hold: the old leader is told promptly
	 * (well within the timeout), and epochs fence it (the successor's is higher).
	 */
	ASSERT_UINT_LT(lost->t - t0, (uint64_t)T * MS);
	ASSERT_UINT_GT(el->t, t0);
	ps[0].ended_at = t0;
	/* The old leader rejoins with a new session and follows. */
	ASSERT_TRUE(
	    RUN_UNTIL(loop, status_after(&ps[0], COORD_STATUS_CONNECTED, lost->t), 3 * T + 10000));
	ASSERT_FALSE(it_proc_leading(&ps[0], NULL));
	check_no_overlap(ps, 2, now_ns());
	teardown(loop, ps, 2, ds, 1);
}

/* --- a partitioned leader is told before anyone else can be elected --- */

TEST(partitioned_leader_told_before_successor)
{
	setup();
	struct keel_loop *loop = new_loop();
	struct it_proxy *px[3] = {NULL, NULL, NULL};
	struct it_proc ps[2];
	char url[700], purl[700], phosts[512] = "";
	const char *h = svc.hosts;
	int i = 0;

	/* One proxy per server; the leader reaches the servers only through them. */
	while (h != NULL && *h != '\0' && i < 3) {
		unsigned port;
		ASSERT_INT_EQ(sscanf(h, "127.0.0.1:%u", &port), 1);
		ASSERT_OK(it_proxy_start((uint16_t)port, &px[i]));
		snprintf(phosts + strlen(phosts), sizeof(phosts) - strlen(phosts), "%s127.0.0.1:%u",
			 i > 0 ? "," : "", it_proxy_port(px[i]));
		i++;
		h = strchr(h, ',');
		h = h != NULL ? h + 1 : NULL;
	}
	case_url(url, sizeof(url), svc.hosts, "part");
	case_url(purl, sizeof(purl), phosts, "part");
	spawn_contender(loop, &ps[0], "m1", 1, purl);
	ASSERT_TRUE(RUN_UNTIL(loop, it_proc_leading(&ps[0], NULL), 20000));
	spawn_contender(loop, &ps[1], "m2", 2, url);
	ask(loop, &ps[1], "stats");

	uint64_t cut = now_ns();
	for (int k = 0; k < i; k++)
		it_proxy_blackhole(px[k], true);
	ASSERT_TRUE(RUN_UNTIL(
	    loop, it_proc_leading(&ps[1], NULL) && it_proc_last(&ps[0], "lost", NULL) != NULL,
	    4 * T + 10000));
	const struct it_ev *lost = it_proc_last(&ps[0], "lost", NULL);
	const struct it_ev *el = elected_after(&ps[1], cut);
	printf(
	    "  partition -> old leader told %llu ms, successor elected %llu ms (timeout %u ms)\n",
	    (unsigned long long)((lost->t - cut) / MS), (unsigned long long)((el->t - cut) / MS),
	    T);
	/* The heart of it: the old leader knows before the successor can act... */
	ASSERT_UINT_LT(lost->t, el->t);
	/* ...no later than its session could have expired (the last contact was before the cut)...
	 */
	ASSERT_UINT_LE(lost->t, cut + (uint64_t)T * MS);
	/* ...and not merely because the connection went quiet. */
	ASSERT_UINT_GE(lost->t, cut + (uint64_t)T * MS / 2);
	ASSERT_INT_EQ(lost->b, -ETIMEDOUT);

	/* Heal: the old leader gets a new session and follows. */
	for (int k = 0; k < i; k++)
		it_proxy_blackhole(px[k], false);
	ASSERT_TRUE(
	    RUN_UNTIL(loop, status_after(&ps[0], COORD_STATUS_CONNECTED, lost->t), 4 * T + 10000));
	ASSERT_FALSE(it_proc_leading(&ps[0], NULL));
	ASSERT_TRUE(it_proc_leading(&ps[1], NULL));
	check_no_overlap(ps, 2, now_ns());
	teardown(loop, ps, 2, NULL, 0);
	for (int k = 0; k < i; k++)
		it_proxy_stop(px[k]);
}

/* --- the backend goes away for longer than the session timeout --- */

TEST(backend_down_then_back)
{
	setup();
	struct keel_loop *loop = new_loop();
	struct it_proc ps[3];
	struct det ds[2];
	char url[700];
	size_t i;

	struct it_proc *l = start_election(loop, url, sizeof(url), "down", ps, 3, ds, 2);

	ASSERT_OK(it_svc_run(&svc, "stop", 0));
	/* Every server is dead by now: the leader's last contact was before this. */
	uint64_t stop = now_ns();
	ASSERT_TRUE(RUN_UNTIL(loop, it_proc_last(l, "lost", NULL) != NULL && dets_none(ds, 2),
			      2 * T + 5000));
	const struct it_ev *lost = it_proc_last(l, "lost", NULL);
	printf("  backend stopped -> leader told after %llu ms (timeout %u ms)\n",
	       (unsigned long long)((lost->t - stop) / MS), T);
	ASSERT_INT_EQ(lost->b, -ETIMEDOUT);
	ASSERT_UINT_LE(lost->t, stop + (uint64_t)T * MS);
	/* Nobody leads: ask each helper (it reads the clock, not a timer). */
	for (i = 0; i < 3; i++)
		it_proc_cmd(&ps[i], "leading");
	ASSERT_TRUE(RUN_UNTIL(loop,
			      it_proc_count(&ps[0], "leading") == 1 &&
				  it_proc_count(&ps[1], "leading") == 1 &&
				  it_proc_count(&ps[2], "leading") == 1,
			      5000));
	for (i = 0; i < 3; i++)
		ASSERT_UINT_EQ(it_proc_last(&ps[i], "leading", NULL)->a, 0);
	/* Stay down a while longer than the timeout, then come back: exactly one leader. */
	(void)RUN_UNTIL(loop, false, T / 2);
	uint64_t back = now_ns();
	ASSERT_OK(it_svc_run(&svc, "start", 0));
	ASSERT_TRUE(RUN_UNTIL(loop, stable_leader(ps, 3, ds, 2) != NULL, 6 * T + 20000));
	struct it_proc *l2 = stable_leader(ps, 3, ds, 2);
	printf("  backend back -> leader after %llu ms\n",
	       (unsigned long long)((elected_after(l2, back)->t - back) / MS));
	check_no_overlap(ps, 3, now_ns());
	teardown(loop, ps, 3, ds, 2);
}

/* --- ensemble: one server dies, leadership stays exclusive and recovers --- */

TEST(ensemble_member_killed)
{
	setup();
	if (nsrv < 3)
		TH_SKIP("needs an ensemble");
	struct keel_loop *loop = new_loop();
	struct it_proc ps[3];
	struct det ds[2];
	char url[700];

	start_election(loop, url, sizeof(url), "member", ps, 3, ds, 2);
	ASSERT_OK(it_svc_run(&svc, "kill", 1));
	/* Clients move to the other servers; a leader is stable again (maybe a new one). */
	uint64_t t0 = now_ns();
	ASSERT_TRUE(
	    RUN_UNTIL(loop, now_ns() > t0 + (uint64_t)T * MS && stable_leader(ps, 3, ds, 2) != NULL,
		      6 * T + 20000));
	ASSERT_OK(it_svc_run(&svc, "start", 0));
	check_no_overlap(ps, 3, now_ns());
	teardown(loop, ps, 3, ds, 2);
}

/* --- membership --- */

/* What a group watch has said. */
struct mw {
	int reports;	    /* callbacks */
	size_t n;	    /* last count */
	int err;	    /* last err */
	char payloads[256]; /* last payloads, joined by ',' */
	bool ordered;	    /* ids were increasing */
};

static void mw_cb(struct coord_watch *w, const struct coord_member_info *m, size_t n, int err,
		  void *arg)
{
	struct mw *x = arg;
	size_t i, used = 0;

	(void)w;
	x->reports++;
	x->n = n;
	x->err = err;
	x->ordered = true;
	x->payloads[0] = '\0';
	for (i = 0; i < n; i++) {
		used +=
		    (size_t)snprintf(x->payloads + used, sizeof(x->payloads) - used, "%s%.*s",
				     i > 0 ? "," : "", (int)m[i].len, (const char *)m[i].payload);
		if (i > 0 && m[i].id <= m[i - 1].id)
			x->ordered = false;
		if (used >= sizeof(x->payloads))
			break;
	}
}

TEST(members_join_leave_die)
{
	setup();
	struct keel_loop *loop = new_loop();
	struct it_proc ps[3];
	struct mw seen = {0};
	struct coord *c;
	struct coord_watch *w;
	struct coord_config cfg = {.session_timeout_ms = T};
	char url[700], msg[KEEL_ERRMSG_SIZE];

	case_url(url, sizeof(url), svc.hosts, "group");
	ASSERT_OK(coord_open(loop, url, &cfg, &c, msg));
	ASSERT_OK(coord_watch_members(c, "log_replicas", mw_cb, &seen, &w, msg));
	ASSERT_TRUE(RUN_UNTIL(loop, seen.reports > 0 && seen.n == 0, 10000));
	spawn(loop, &ps[0], "r1", url, "--join=log_replicas", "--payload=r1", (const char *)NULL);
	ASSERT_TRUE(RUN_UNTIL(loop, seen.n == 1, 10000));
	spawn(loop, &ps[1], "r2", url, "--join=log_replicas", "--payload=r2", (const char *)NULL);
	ASSERT_TRUE(RUN_UNTIL(loop, seen.n == 2, 10000));
	spawn(loop, &ps[2], "r3", url, "--join=log_replicas", "--payload=r3", (const char *)NULL);
	ASSERT_TRUE(RUN_UNTIL(loop, seen.n == 3, 10000));
	ASSERT_STR_EQ(seen.payloads, "r1,r2,r3");
	ASSERT_TRUE(seen.ordered);
	it_proc_cmd(&ps[1], "leave");
	ASSERT_TRUE(RUN_UNTIL(loop, seen.n == 2, T));
	ASSERT_STR_EQ(seen.payloads, "r1,r3");
	it_proc_kill(&ps[0]);
	ASSERT_TRUE(RUN_UNTIL(loop, seen.n == 1, 4 * T + 5000));
	ASSERT_STR_EQ(seen.payloads, "r3");
	ASSERT_INT_EQ(seen.err, 0);
	coord_close(c, 0);
	teardown(loop, ps, 3, NULL, 0);
}

/* --- garbage in the leader's slot is reported, not crashed on --- */

/* Runs keelctl with args; its exit code, stdout and stderr (merged) in out. */
static int run_keelctl(char *out, size_t n, const char *args)
{
	char cmd[2048];
	FILE *f;
	size_t used = 0;
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", keelctl, args);
	uint64_t t0 = now_ns();
	f = popen(cmd, "r");
	if (f == NULL)
		return -1;
	while (used < n - 1) {
		size_t r = fread(out + used, 1, n - 1 - used, f);
		if (r == 0)
			break;
		used += r;
	}
	out[used] = '\0';
	st = pclose(f);
	if (now_ns() - t0 > 3000 * MS)
		printf("  (keelctl %s took %llu ms)\n", args,
		       (unsigned long long)((now_ns() - t0) / MS));
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static zhandle_t *zk_raw(struct keel_loop *loop)
{
	zhandle_t *zh =
	    zookeeper_init2(svc.hosts, zk_noop_watcher, 10000, NULL, NULL, 0, zk_quiet_log);

	ASSERT_NOT_NULL(zh);
	ASSERT_TRUE(RUN_UNTIL(loop, zoo_state(zh) == ZOO_CONNECTED_STATE, 10000));
	return zh;
}

/* Creates path and its parents (persistent, open ACL). */
static void zk_mkdirs_sync(zhandle_t *zh, const char *path)
{
	char p[512];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
		if (s != NULL)
			*s = '\0';
		int rc = zoo_create(zh, p, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
		ASSERT_TRUE(rc == ZOK || rc == ZNODEEXISTS);
		if (s == NULL)
			break;
		*s = '/';
	}
}

TEST(garbage_payload_reported)
{
	setup();
	struct keel_loop *loop = new_loop();
	struct det ds[1];
	struct it_proc ps[1];
	char url[700], path[512], node[600], out[4096], args[1000];
	const char *garbage = "{not json \x01\xff";
	zhandle_t *zh = NULL;

	case_url(url, sizeof(url), svc.hosts, "garbage");
	snprintf(path, sizeof(path), "/keel-%u/garbage%d", run_id, case_no);
	if (strcmp(bk, "zk") == 0) {
		zh = zk_raw(loop);
		zk_mkdirs_sync(zh, path);
		/* Names that are not json.info_ sequence nodes are not candidates. */
		char other[600];
		snprintf(other, sizeof(other), "%s/json.info_abc", path);
		ASSERT_OK(zoo_create(zh, other, "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0));
		snprintf(other, sizeof(other), "%s/log_replicas", path);
		ASSERT_OK(zoo_create(zh, other, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0));
		snprintf(other, sizeof(other), "%s/json.info_", path);
		ASSERT_OK(zoo_create(zh, other, garbage, (int)strlen(garbage), &ZOO_OPEN_ACL_UNSAFE,
				     ZOO_SEQUENCE, node, sizeof(node)));
	} else {
		char body[512], k64[400], v64[200];
		snprintf(node, sizeof(node), "%s/election/0-garbage", path);
		FILE *f;
		/* base64 by the shell tool keeps this independent of our encoder. */
		ASSERT_INT_LT(snprintf(body, sizeof(body), "printf '%%s' '%s' | base64 -w0", node),
			      (int)sizeof(body));
		f = popen(body, "r");
		ASSERT_NOT_NULL(f);
		ASSERT_NOT_NULL(fgets(k64, sizeof(k64), f));
		pclose(f);
		snprintf(body, sizeof(body), "printf '{not json \\001\\377' | base64 -w0");
		f = popen(body, "r");
		ASSERT_NOT_NULL(f);
		ASSERT_NOT_NULL(fgets(v64, sizeof(v64), f));
		pclose(f);
		ASSERT_INT_LT(
		    snprintf(body, sizeof(body), "{\"key\":\"%s\",\"value\":\"%s\"}", k64, v64),
		    (int)sizeof(body));
		etcd_post_ok("/v3/kv/put", body);
		snprintf(node, sizeof(node), "{\"key\":\"%s\"}", k64); /* the delete body, later */
	}
	det_open(loop, &ds[0], url);
	ASSERT_TRUE(RUN_UNTIL(loop, ds[0].reports > 0 && ds[0].present, 10000));
	ASSERT_INT_EQ(ds[0].err, -EBADMSG);
	ASSERT_STR_CONTAINS(ds[0].name, strcmp(bk, "zk") == 0 ? "json.info_0000000" : "0-garbage");

	snprintf(args, sizeof(args), "coord leader '%s' --timeout=5secs", url);
	ASSERT_INT_EQ(run_keelctl(out, sizeof(out), args), 1);
	ASSERT_STR_CONTAINS(out, "no valid MasterInfo");
	ASSERT_STR_CONTAINS(out, url);

	/* A contender waits behind the garbage, and leads once it is gone. */
	spawn_contender(loop, &ps[0], "m1", 1, url);
	ask(loop, &ps[0], "stats");
	uint64_t gone = now_ns();
	if (zh != NULL) {
		char full[700];
		snprintf(full, sizeof(full), "%s", node);
		ASSERT_OK(zoo_delete(zh, full, -1));
		zookeeper_close(zh);
	} else {
		etcd_post_ok("/v3/kv/deleterange", node);
	}
	ASSERT_TRUE(RUN_UNTIL(loop, stable_leader(ps, 1, ds, 1) != NULL, 10000));
	ASSERT_UINT_GT(elected_after(&ps[0], 0)->t, gone);
	ASSERT_FALSE(ds[0].went_back);
	teardown(loop, ps, 1, ds, 1);
}

/* --- unreachable backends and bad URLs give errors that name the URL --- */

/* Counts status events of one type, keeps the last message. */
struct status_seen {
	enum coord_status_type type; /* the type counted */
	int count;		     /* events of that type */
	char msg[900];		     /* the last one's message */
};

static void status_cb(struct coord *c, const struct coord_status *st, void *arg)
{
	struct status_seen *s = arg;

	(void)c;
	if (st->type == s->type) {
		s->count++;
		snprintf(s->msg, sizeof(s->msg), "%s", st->message);
	}
}

static uint16_t closed_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_TRUE(fd >= 0);
	ASSERT_OK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	ASSERT_OK(getsockname(fd, (struct sockaddr *)&sa, &len));
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

TEST(unreachable_and_bad_urls_named)
{
	setup();
	struct keel_loop *loop = new_loop();
	struct status_seen s = {.type = COORD_STATUS_UNREACHABLE};
	struct det d0 = {0};
	struct coord *c;
	char url[200], msg[KEEL_ERRMSG_SIZE], out[4096], args[600];

	snprintf(url, sizeof(url), "%s://127.0.0.1:%u/keel/nowhere", bk, closed_port());
	struct coord_config cfg = {.session_timeout_ms = T,
				   .connect_timeout_ms = 1000,
				   .on_status = status_cb,
				   .status_arg = &s};
	ASSERT_OK(coord_open(loop, url, &cfg, &c, msg));
	ASSERT_OK(coord_detect(c, 0, det_cb, &d0, &d0.d, msg));
	ASSERT_TRUE(RUN_UNTIL(loop, s.count == 1, 10000));
	ASSERT_STR_CONTAINS(s.msg, url);
	ASSERT_INT_EQ(d0.reports, 0); /* no leader invented */
	coord_close(c, 0);

	snprintf(args, sizeof(args), "coord leader '%s' --timeout=1secs", url);
	ASSERT_INT_EQ(run_keelctl(out, sizeof(out), args), 1);
	ASSERT_STR_CONTAINS(out, url);
	ASSERT_INT_EQ(run_keelctl(out, sizeof(out), "coord leader 'zk://h:1/'"), 1);
	ASSERT_STR_CONTAINS(out, "invalid coordination URL \"zk://h:1/\"");
	ASSERT_INT_EQ(run_keelctl(out, sizeof(out), "coord leader"), 2);
	ASSERT_INT_EQ(run_keelctl(out, sizeof(out), "nosuch"), 2);
	keel_loop_free(loop);
}

/* --- keelctl --- */

TEST(keelctl_shows_leader_and_members)
{
	setup();
	struct keel_loop *loop = new_loop();
	struct it_proc ps[2];
	struct det ds[1];
	char url[700], out[4096], args[1000];

	case_url(url, sizeof(url), svc.hosts, "ctl");
	snprintf(args, sizeof(args), "coord leader '%s' --timeout=5secs", url);
	ASSERT_INT_EQ(run_keelctl(out, sizeof(out), args), 3);
	ASSERT_STR_CONTAINS(out, "no leader");
	det_open(loop, &ds[0], url);
	spawn(loop, &ps[0], "m1", url, "--contend", "--master_info=m1@127.0.0.1:5051",
	      "--join=log_replicas", (const char *)NULL);
	spawn(loop, &ps[1], "r2", url, "--join=log_replicas", "--payload=replica-2",
	      (const char *)NULL);
	ASSERT_TRUE(RUN_UNTIL(loop, stable_leader(ps, 1, ds, 1) != NULL, 10000));
	ASSERT_INT_EQ(run_keelctl(out, sizeof(out), args), 0);
	ASSERT_STR_CONTAINS(out, "leader: master@127.0.0.1:5051");
	ASSERT_STR_CONTAINS(out, "id: m1");
	ASSERT_STR_CONTAINS(out, "epoch: ");
	snprintf(args, sizeof(args), "coord members '%s' --group=log_replicas", url);
	ASSERT_TRUE(RUN_UNTIL(
	    loop, run_keelctl(out, sizeof(out), args) == 0 && strstr(out, "2 members") != NULL,
	    10000));
	ASSERT_STR_CONTAINS(out, "replica-2");
	teardown(loop, ps, 2, ds, 1);
}

/* --- ZooKeeper only: herd, Mesos layout, digest auth --- */

/* setup() for a case that needs ZooKeeper (skipped on etcd); returns a new loop. */
static struct keel_loop *setup_zk_only(void)
{
	setup();
	if (strcmp(bk, "zk") != 0)
		TH_SKIP("ZooKeeper only");
	return new_loop();
}

/* One in-process contender of the herd. */
struct herd {
	struct coord *c;	    /* its session */
	struct coord_contender *ct; /* its candidacy */
	int elected;		    /* ELECTED events */
};

static void herd_cb(struct coord_contender *ct, const struct coord_contender_event *ev, void *arg)
{
	struct herd *h = arg;

	(void)ct;
	if (ev->type == COORD_ELECTED)
		h->elected++;
}

#define HERD 50

static bool herd_settled(struct herd *hs, int *leader)
{
	int i, n = 0;

	for (i = 0; i < HERD; i++) {
		if (hs[i].c == NULL)
			continue;
		if (coord_debug_pending(hs[i].c) != 0)
			return false;
		struct coord_stats st;
		coord_get_stats(hs[i].c, &st);
		if (st.requests < 3)
			return false;
		if (hs[i].ct != NULL && coord_contender_leading(hs[i].ct, NULL)) {
			*leader = i;
			n++;
		}
	}
	return n == 1;
}

TEST(zk_herd_of_50_watches_one_each)
{
	struct keel_loop *loop = setup_zk_only();
	struct herd hs[HERD];
	struct coord_config cfg = {.session_timeout_ms = 10000};
	char url[700], msg[KEEL_ERRMSG_SIZE];
	int i, round, leader = -1;

	memset(hs, 0, sizeof(hs));
	case_url(url, sizeof(url), svc.hosts, "herd");
	for (i = 0; i < HERD; i++) {
		char p[16];
		snprintf(p, sizeof(p), "c%d", i);
		ASSERT_OK(coord_open(loop, url, &cfg, &hs[i].c, msg));
		ASSERT_OK(coord_contend(hs[i].c, p, strlen(p), herd_cb, &hs[i], &hs[i].ct, msg));
	}
	for (round = 0; round < 3; round++) {
		uint64_t before[HERD], total = 0;
		int old;
		ASSERT_TRUE(RUN_UNTIL(loop, herd_settled(hs, &leader), 30000));
		for (i = 0; i < HERD; i++) {
			struct coord_stats st = {0};
			if (hs[i].c != NULL)
				coord_get_stats(hs[i].c, &st);
			before[i] = st.watch_events;
		}
		old = leader;
		/* The leader's session ends (a clean close): one successor must hear of it. */
		coord_close(hs[old].c, 0);
		hs[old].c = NULL;
		hs[old].ct = NULL;
		ASSERT_TRUE(RUN_UNTIL(loop, herd_settled(hs, &leader) && leader != old, 30000));
		for (i = 0; i < HERD; i++) {
			struct coord_stats st;
			if (hs[i].c == NULL)
				continue;
			coord_get_stats(hs[i].c, &st);
			total += st.watch_events - before[i];
		}
		printf("  leader change %d: %llu watch notifications among %d contenders\n",
		       round + 1, (unsigned long long)total, HERD - round - 1);
		ASSERT_UINT_LE(total, 2);
		ASSERT_UINT_GE(total, 1);
	}
	for (i = 0; i < HERD; i++)
		coord_close(hs[i].c, 0);
	keel_loop_free(loop);
}

TEST(zk_znode_is_what_mesos_reads)
{
	struct keel_loop *loop = setup_zk_only();
	struct it_proc ps[1];
	struct det ds[1];
	struct String_vector kids;
	char url[700], path[512], node[700], data[4096];
	int len = sizeof(data), i, found = 0, replicas = 0;
	struct Stat st;

	case_url(url, sizeof(url), svc.hosts, "mesos");
	snprintf(path, sizeof(path), "/keel-%u/mesos%d", run_id, case_no);
	det_open(loop, &ds[0], url);
	spawn(loop, &ps[0], "master1", url, "--contend", "--master_info=master1@127.0.0.1:5050",
	      "--join=log_replicas", (const char *)NULL);
	ASSERT_TRUE(RUN_UNTIL(loop, stable_leader(ps, 1, ds, 1) != NULL, 10000));

	/* Read it the way a Mesos detector does: list, lowest json.info_, get, parse JSON. */
	zhandle_t *zh = zk_raw(loop);
	ASSERT_OK(zoo_get_children(zh, path, 0, &kids));
	for (i = 0; i < kids.count; i++) {
		const char *k = kids.data[i];
		if (strncmp(k, "json.info_", 10) == 0) {
			ASSERT_UINT_EQ(strlen(k), 20);
			ASSERT_UINT_EQ(strspn(k + 10, "0123456789"), 10);
			snprintf(node, sizeof(node), "%s/%s", path, k);
			found++;
		} else if (strcmp(k, "log_replicas") == 0) {
			replicas++;
		}
	}
	deallocate_String_vector(&kids);
	ASSERT_INT_EQ(found, 1);
	ASSERT_INT_EQ(replicas, 1);
	ASSERT_OK(zoo_get(zh, node, 0, data, &len, &st));
	ASSERT_UINT_NE(st.ephemeralOwner, 0);
	json_error_t jerr;
	json_t *j = json_loadb(data, (size_t)len, 0, &jerr);
	ASSERT_NOT_NULL(j);
	ASSERT_STR_EQ(json_string_value(json_object_get(j, "id")), "master1");
	ASSERT_TRUE(json_is_integer(json_object_get(j, "ip")));
	ASSERT_UINT_EQ(json_integer_value(json_object_get(j, "ip")), 16777343);
	ASSERT_UINT_EQ(json_integer_value(json_object_get(j, "port")), 5050);
	ASSERT_STR_EQ(json_string_value(json_object_get(j, "pid")), "master@127.0.0.1:5050");
	ASSERT_STR_EQ(json_string_value(json_object_get(j, "hostname")), "127.0.0.1");
	ASSERT_TRUE(json_is_string(json_object_get(j, "version")));
	json_t *addr = json_object_get(j, "address");
	ASSERT_TRUE(json_is_object(addr));
	ASSERT_STR_EQ(json_string_value(json_object_get(addr, "ip")), "127.0.0.1");
	ASSERT_STR_EQ(json_string_value(json_object_get(addr, "hostname")), "127.0.0.1");
	ASSERT_UINT_EQ(json_integer_value(json_object_get(addr, "port")), 5050);
	json_decref(j);
	/* Compact, as Mesos writes it. */
	ASSERT_TRUE(memchr(data, ' ', (size_t)len) == NULL &&
		    memchr(data, '\n', (size_t)len) == NULL);

	/* The replica group sits beside it, as Mesos's log_replicas does. */
	snprintf(node, sizeof(node), "%s/log_replicas", path);
	ASSERT_OK(zoo_get_children(zh, node, 0, &kids));
	ASSERT_INT_EQ(kids.count, 1);
	ASSERT_UINT_EQ(strncmp(kids.data[0], "member_", 7), 0);
	deallocate_String_vector(&kids);
	zookeeper_close(zh);
	teardown(loop, ps, 1, ds, 1);
}

static void count_elected(struct coord_contender *ct, const struct coord_contender_event *ev,
			  void *arg)
{
	(void)ct;
	if (ev->type == COORD_ELECTED)
		(*(int *)arg)++;
}

TEST(zk_digest_auth_everyone_reads)
{
	struct keel_loop *loop = setup_zk_only();
	struct it_proc ps[1];
	struct det ds[1];
	struct status_seen es = {.type = COORD_STATUS_ERROR};
	struct coord *intruder;
	struct coord_contender *ict;
	int intruder_elected = 0;
	char url[700], aurl[800], hosts[600], path[512], node[700];
	struct ACL_vector acl;
	struct Stat st;

	ASSERT_INT_LT(snprintf(hosts, sizeof(hosts), "keel:s3cret@%s", svc.hosts),
		      (int)sizeof(hosts));
	case_url(aurl, sizeof(aurl), hosts, "auth");
	case_url(url, sizeof(url), svc.hosts, "auth");
	snprintf(path, sizeof(path), "/keel-%u/auth%d", run_id, case_no);
	spawn_contender(loop, &ps[0], "m1", 1, aurl);
	/* An anonymous detector reads the leader. */
	det_open(loop, &ds[0], url);
	ASSERT_TRUE(RUN_UNTIL(loop, stable_leader(ps, 1, ds, 1) != NULL, 10000));
	/* Everything we made: the user may do anything, everyone may read. */
	zhandle_t *zh = zk_raw(loop);
	ASSERT_OK(zoo_get_acl(zh, path, &acl, &st));
	ASSERT_INT_EQ(acl.count, 2);
	for (int i = 0; i < acl.count; i++) {
		if (strcmp(acl.data[i].id.scheme, "digest") == 0) {
			ASSERT_STR_CONTAINS(acl.data[i].id.id, "keel:");
			ASSERT_INT_EQ(acl.data[i].perms, ZOO_PERM_ALL);
		} else {
			ASSERT_STR_EQ(acl.data[i].id.scheme, "world");
			ASSERT_INT_EQ(acl.data[i].perms, ZOO_PERM_READ);
		}
	}
	deallocate_ACL_vector(&acl);
	/* Anonymous clients can neither join the election nor delete the leader. */
	ASSERT_INT_LT(snprintf(node, sizeof(node), "%s/%s", path, ds[0].name), (int)sizeof(node));
	ASSERT_INT_EQ(zoo_delete(zh, node, -1), ZNOAUTH);
	zookeeper_close(zh);
	struct coord_config cfg = {
	    .session_timeout_ms = T, .on_status = status_cb, .status_arg = &es};
	char msg[KEEL_ERRMSG_SIZE];
	ASSERT_OK(coord_open(loop, url, &cfg, &intruder, msg));
	ASSERT_OK(coord_contend(intruder, "x", 1, count_elected, &intruder_elected, &ict, msg));
	ASSERT_TRUE(RUN_UNTIL(loop, es.count > 0, 10000));
	ASSERT_STR_CONTAINS(es.msg, "not authenticated");
	ASSERT_STR_CONTAINS(es.msg, path);
	ASSERT_INT_EQ(intruder_elected, 0);
	coord_close(intruder, 0);
	teardown(loop, ps, 1, ds, 1);
}

/* A contender whose first children listing cannot be sent (out of memory) lists again on the
 * retry timer and is elected, instead of waiting for its session to reset. */
TEST(zk_contender_list_not_sent_is_retried)
{
	struct keel_loop *loop = setup_zk_only();
	struct coord_config cfg = {.session_timeout_ms = T};
	struct coord *c;
	struct coord_contender *ct;
	int elected = 0;
	char url[700], msg[KEEL_ERRMSG_SIZE];

	if (keel_failpoint_set("coord_zk_ct_list", 1, -ENOMEM, 0) == -ENOSYS)
		TH_SKIP("built without failpoints");
	case_url(url, sizeof(url), svc.hosts, "listfail");
	ASSERT_OK(coord_open(loop, url, &cfg, &c, msg));
	ASSERT_OK(coord_contend(c, "x", 1, count_elected, &elected, &ct, msg));
	ASSERT_TRUE(RUN_UNTIL(loop, elected == 1, 10000));
	ASSERT_TRUE(coord_contender_leading(ct, NULL));
	keel_failpoint_clear();
	coord_close(c, 1000);
	keel_loop_free(loop);
}
