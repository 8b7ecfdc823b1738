/* The log replica of a master: the replica table (who is node 0..n-1), its discovery through
 * coord membership, and opening the replica on the master's HTTP server. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coord/coord.h"
#include "master_int.h"
#include "replog/replog.h"
#include "runtime/alloc.h"
#include "runtime/buf.h"
#include "runtime/log.h"

/*
 * Why a table. A replog replica is a node index: its ballots are
 * round*256+index, so two replicas of one log must never share an index, and
 * a replica keeps its index for the life of its store. Coord membership gives
 * "ip:port" payloads in join order, which changes with every restart, so the
 * index is not taken from it directly. Instead the table -- every replica's
 * address, in index order -- is fixed once, when the log is created, and
 * stored beside the replica (<work_dir>/replicated_log/replicas):
 *
 *   - nodes == 1: the table is this master alone (no discovery);
 *   - a stored table: used as is; this master's --ip:--port must be in it
 *     and its length must be 2*quorum-1 (else start fails: the log's
 *     membership is fixed at creation);
 *   - no stored table: wait until the `log_replicas` group names exactly
 *     nodes distinct addresses (with static:// the URL's list does at once),
 *     sort them, store the result, and open. Mesos's auto-initialisation
 *     needs every replica anyway, so this waits for nothing more; a replica
 *     that lost its disk and comes back at the same address gets the same
 *     index from the same sorted set.
 *
 * After opening, the membership watch only reports members that are not in
 * the table (another master's address changed, or one master too many):
 * their messages would not count, so an operator must hear about it.
 */

/* Discovery state. */
struct master_replicas {
	struct coord_member *member;	   /* this master in the group */
	struct coord_watch *watch;	   /* the group */
	struct master_replica_table table; /* once known */
	bool open;			   /* the replica is open */
	char path[4096];		   /* <work_dir>/replicated_log */
	char table_path[4200];		   /* <path>/replicas */
	unsigned nodes;			   /* 2*quorum-1 */
	uint64_t last_wait_log_ms;	   /* rate limit of the "waiting for replicas" line */
	struct keel_hmap strangers; /* members not in the table, reported once (owned keys) */
};

void master_replica_table_free(struct master_replica_table *t)
{
	for (size_t i = 0; t->addrs != NULL && i < t->n; i++)
		keel_free(t->addrs[i]);
	keel_free(t->addrs);
	t->addrs = NULL;
	t->n = 0;
}

int master_replica_table_index(const struct master_replica_table *t, const char *addr)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->addrs[i], addr) == 0)
			return (int)i;
	return -1;
}

static char *xstrndup(const char *s, size_t n)
{
	char *p = keel_strndup(s, n);

	if (p == NULL)
		abort(); /* a daemon's out-of-memory is fatal */
	return p;
}

/* "host:port" with a port 1..65535 and a host without spaces or control bytes. */
static bool addr_valid(const char *s, size_t len)
{
	const char *colon = NULL;
	long port = 0;

	if (len == 0 || len > 255)
		return false;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || s[i] == ',')
			return false;
		if (s[i] == ':')
			colon = s + i;
	}
	if (colon == NULL || colon == s || colon == s + len - 1)
		return false;
	for (const char *p = colon + 1; p < s + len; p++) {
		if (*p < '0' || *p > '9' || port > 65535)
			return false;
		port = port * 10 + (*p - '0');
	}
	return port >= 1 && port <= 65535;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int master_replica_table_from_members(const char *const *payloads, const size_t *lens, size_t n,
				      size_t nodes, struct master_replica_table *out, char *errmsg)
{
	char **addrs = keel_xcalloc(n ? n : 1, sizeof(char *));
	size_t k = 0;
	int rv = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		if (!addr_valid(payloads[i], lens[i])) {
			rv = keel_errf(errmsg, -EINVAL, "member payload \"%.*s\" is not host:port",
				       (int)KEEL_MIN(lens[i], 64u), payloads[i]);
			goto out;
		}
		addrs[k++] = xstrndup(payloads[i], lens[i]);
	}
	qsort(addrs, k, sizeof(char *), cmp_str);
	/* Deduplicate (a restarted master's old member lives until its session expires). */
	size_t d = 0;
	for (size_t i = 0; i < k; i++) {
		if (d > 0 && strcmp(addrs[d - 1], addrs[i]) == 0) {
			keel_free(addrs[i]);
			continue;
		}
		addrs[d++] = addrs[i];
	}
	k = d;
	if (k < nodes) {
		rv = keel_errf(errmsg, -EAGAIN, "%zu of %zu replicas known", k, nodes);
		goto out;
	}
	if (k > nodes) {
		rv = keel_errf(errmsg, -E2BIG,
			       "%zu masters in the replica group, the log has %zu replicas "
			       "(--quorum)",
			       k, nodes);
		goto out;
	}
	out->addrs = addrs;
	out->n = k;
	return 0;
out:
	for (size_t i = 0; i < k; i++)
		keel_free(addrs[i]);
	keel_free(addrs);
	return rv;
}

#define TABLE_MAGIC "keel replica table 1"

int master_replica_table_read(const char *path, struct master_replica_table *out, char *errmsg)
{
	FILE *f = fopen(path, "re");
	char line[512];
	size_t cap = 0;
	int rv = 0;

	memset(out, 0, sizeof(*out));
	if (f == NULL)
		return keel_errno_f(errmsg, -errno, "open %s", path);
	if (fgets(line, sizeof(line), f) == NULL || strcmp(line, TABLE_MAGIC "\n") != 0) {
		rv = keel_errf(errmsg, -EBADMSG, "%s: not a replica table", path);
		goto out;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t len = strlen(line);
		if (len == 0 || line[len - 1] != '\n' || !addr_valid(line, len - 1)) {
			rv = keel_errf(errmsg, -EBADMSG, "%s: line %zu is not host:port", path,
				       out->n + 2);
			goto out;
		}
		line[len - 1] = '\0';
		if (out->n == cap) {
			cap = cap ? cap * 2 : 4;
			out->addrs = keel_xrealloc(out->addrs, cap * sizeof(char *));
		}
		out->addrs[out->n++] = keel_xstrdup(line);
	}
	if (ferror(f) || out->n == 0)
		rv = keel_errf(errmsg, -EBADMSG, "%s: %s", path,
			       ferror(f) ? "read error" : "no replicas listed");
out:
	fclose(f);
	if (rv < 0)
		master_replica_table_free(out);
	return rv;
}

int master_replica_table_write(const char *path, const struct master_replica_table *t, char *errmsg)
{
	struct keel_buf b = KEEL_BUF_INIT;
	char tmp[4300], dir[4300];
	char *slash;
	int fd, rv = 0;
	size_t off = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	keel_buf_puts(&b, TABLE_MAGIC "\n");
	for (size_t i = 0; i < t->n; i++)
		keel_buf_printf(&b, "%s\n", t->addrs[i]);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rv = keel_errno_f(errmsg, -errno, "create %s", tmp);
		goto out;
	}
	while (off < keel_buf_size(&b)) {
		ssize_t n = write(fd, keel_buf_rptr(&b) + off, keel_buf_size(&b) - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = keel_errno_f(errmsg, -errno, "write %s", tmp);
			break;
		}
		off += (size_t)n;
	}
	if (rv == 0 && fsync(fd) < 0)
		rv = keel_errno_f(errmsg, -errno, "fsync %s", tmp);
	close(fd);
	if (rv == 0 && rename(tmp, path) < 0)
		rv = keel_errno_f(errmsg, -errno, "rename %s", tmp);
	if (rv < 0) {
		unlink(tmp);
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash != NULL) {
		*slash = '\0';
		fd = open(slash == dir ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			if (fsync(fd) < 0)
				rv = keel_errno_f(errmsg, -errno, "fsync %s", dir);
			close(fd);
		}
	}
out:
	keel_buf_free(&b);
	return rv;
}

/* mkdir -p for the work dir. */
static int mkdirs(const char *path, char *errmsg)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return keel_errf(errmsg, -ENAMETOOLONG, "--work_dir: path too long");
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return keel_errno_f(errmsg, -errno, "mkdir %s", buf);
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return keel_errno_f(errmsg, -errno, "mkdir %s", buf);
	return 0;
}

/* Splits "host:port" (the last colon). */
static void split_addr(const char *addr, char *host, size_t size, uint16_t *port)
{
	const char *colon = strrchr(addr, ':');
	size_t len = (size_t)(colon - addr);

	if (len >= size)
		len = size - 1;
	memcpy(host, addr, len);
	host[len] = '\0';
	*port = (uint16_t)strtoul(colon + 1, NULL, 10);
}

/* Opens the replica with the table; 0 or a negative errno with errmsg. */
static int replicas_open(struct master *m, char *errmsg)
{
	struct master_replicas *rs = m->replicas;
	struct replog_peer *peers;
	char(*hosts)[256];
	uint64_t seed;
	int self = master_replica_table_index(&rs->table, m->self_addr);
	int rv;

	if (self < 0)
		return keel_errf(errmsg, -EINVAL,
				 "this master (%s) is not in the log's replica table %s: the "
				 "replicas are fixed when the log is created; run it at its "
				 "recorded address or give it a new --work_dir",
				 m->self_addr, rs->table_path);
	peers = keel_xcalloc(rs->table.n, sizeof(*peers));
	hosts = keel_xcalloc(rs->table.n, sizeof(*hosts));
	for (size_t i = 0; i < rs->table.n; i++) {
		split_addr(rs->table.addrs[i], hosts[i], sizeof(hosts[i]), &peers[i].port);
		peers[i].host = hosts[i];
	}
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = keel_loop_clock_ns();
	struct replog_options o = {
	    .path = rs->path,
	    .self = (unsigned)self,
	    .nodes = (unsigned)rs->table.n,
	    .quorum = m->cfg.quorum,
	    .peers = peers,
	    .server = m->server,
	    .prefix = MASTER_REPLOG_PREFIX,
	    .auto_init = m->cfg.log_auto_initialize,
	    .tick_ms = m->cfg.replog_tick_ms,
	    .seed = seed,
	    .map_size = 64u << 20,
	    .map_max = (size_t)16 << 30,
	};
	rv = replog_open(m->loop, &o, &m->log, errmsg);
	keel_free(peers);
	keel_free(hosts);
	if (rv < 0)
		return keel_errwrap(errmsg, rv, "replica %s", rs->path);
	rs->open = true;
	KEEL_INFO(MASTER_LOG, "log replica %d of %zu (quorum %u) open at %s", self, rs->table.n,
		  m->cfg.quorum, rs->path);
	return 0;
}

/* The table became known after start: store it, open, go on with start-up. */
static void replicas_table_known(struct master *m)
{
	struct master_replicas *rs = m->replicas;
	char errmsg[KEEL_ERRMSG_SIZE];

	if (rs->nodes > 1 && master_replica_table_write(rs->table_path, &rs->table, errmsg) < 0) {
		master_fail(m, "cannot store the replica table: %s", errmsg);
		return;
	}
	if (replicas_open(m, errmsg) < 0) {
		master_fail(m, "%s", errmsg);
		return;
	}
	master_log_ready(m);
}

static void on_members(struct coord_watch *w, const struct coord_member_info *members, size_t n,
		       int err, void *arg)
{
	struct master *m = arg;
	struct master_replicas *rs = m->replicas;
	char errmsg[KEEL_ERRMSG_SIZE];
	const char **payloads;
	size_t *lens;
	int rv;

	(void)w;
	if (err != 0 || m->state == MASTER_FAILED)
		return;
	if (rs->open || rs->table.n > 0) {
		/* Report members outside the table, once each. */
		for (size_t i = 0; i < n; i++) {
			char *p = xstrndup(members[i].payload, members[i].len);
			if (master_replica_table_index(&rs->table, p) >= 0 ||
			    keel_hmap_get(&rs->strangers, p) != NULL) {
				keel_free(p);
				continue;
			}
			KEEL_WARN(MASTER_LOG,
				  "%s in group %s is not a replica of this log (%s): its votes "
				  "do not count",
				  p, MASTER_REPLICA_GROUP, rs->table_path);
			if (keel_hmap_put(&rs->strangers, p, p, NULL) < 0)
				abort();
		}
		return;
	}
	payloads = keel_xcalloc(n ? n : 1, sizeof(*payloads));
	lens = keel_xcalloc(n ? n : 1, sizeof(*lens));
	for (size_t i = 0; i < n; i++) {
		payloads[i] = members[i].payload;
		lens[i] = members[i].len;
	}
	rv = master_replica_table_from_members(payloads, lens, n, rs->nodes, &rs->table, errmsg);
	keel_free(payloads);
	keel_free(lens);
	if (rv == 0 && master_replica_table_index(&rs->table, m->self_addr) < 0) {
		/* Our own member is not visible yet (or we are one master too many): wait. */
		rv =
		    keel_errf(errmsg, -EAGAIN, "%zu replicas known, not including this master (%s)",
			      rs->table.n, m->self_addr);
		master_replica_table_free(&rs->table);
	}
	if (rv == 0) {
		KEEL_INFO(MASTER_LOG, "replica set complete (%zu masters): creating the table %s",
			  rs->table.n, rs->table_path);
		replicas_table_known(m);
		return;
	}
	uint64_t now = keel_loop_now(m->loop);
	if (rv != -EAGAIN || now - rs->last_wait_log_ms >= 10000 || rs->last_wait_log_ms == 0) {
		rs->last_wait_log_ms = now;
		KEEL_INFO(MASTER_LOG, "waiting for the log's replicas in group %s: %s",
			  MASTER_REPLICA_GROUP, errmsg);
	}
}

int master_replicas_start(struct master *m, char *errmsg)
{
	struct master_replicas *rs = keel_xcalloc(1, sizeof(*rs));
	int rv;

	m->replicas = rs;
	rs->nodes = 2 * m->cfg.quorum - 1;
	if ((rv = mkdirs(m->cfg.work_dir, errmsg)) < 0)
		return rv;
	if ((size_t)snprintf(rs->path, sizeof(rs->path), "%s/replicated_log", m->cfg.work_dir) >=
	    sizeof(rs->path))
		return keel_errf(errmsg, -ENAMETOOLONG, "--work_dir: path too long");
	snprintf(rs->table_path, sizeof(rs->table_path), "%s/replicas", rs->path);
	if (mkdir(rs->path, 0700) < 0 && errno != EEXIST)
		return keel_errno_f(errmsg, -errno, "mkdir %s", rs->path);
	rv = master_replica_table_read(rs->table_path, &rs->table, errmsg);
	if (rv == 0 && rs->table.n != rs->nodes)
		return keel_errf(errmsg, -EINVAL,
				 "--quorum=%u means %u replicas, but the log in %s has %zu: the "
				 "quorum is fixed when the log is created",
				 m->cfg.quorum, rs->nodes, rs->path, rs->table.n);
	if (rv < 0 && rv != -ENOENT)
		return rv;
	if (rv == -ENOENT && rs->nodes == 1) {
		rs->table.addrs = keel_xcalloc(1, sizeof(char *));
		rs->table.addrs[0] = keel_xstrdup(m->self_addr);
		rs->table.n = 1;
	}
	/* Join and watch in every case: others discover us, and we report strangers. */
	rv = coord_member_join(m->coord, MASTER_REPLICA_GROUP, m->self_addr, strlen(m->self_addr),
			       &rs->member, errmsg);
	if (rv == 0)
		rv = coord_watch_members(m->coord, MASTER_REPLICA_GROUP, on_members, m, &rs->watch,
					 errmsg);
	if (rv < 0)
		return rv;
	if (rs->table.n > 0) {
		if ((rv = replicas_open(m, errmsg)) < 0)
			return rv;
		master_log_ready(m);
		if (m->state == MASTER_FAILED)
			return keel_errf(errmsg, -EIO, "%s", m->fail_reason);
	}
	return 0;
}

void master_replicas_free(struct master *m)
{
	struct master_replicas *rs = m->replicas;
	size_t pos = 0;
	const char *key;
	void *value;

	replog_close(m->log);
	m->log = NULL;
	if (rs == NULL)
		return;
	/* member and watch belong to the coord, closed before this. */
	master_replica_table_free(&rs->table);
	while (keel_hmap_next(&rs->strangers, &pos, &key, &value)) {
		keel_hmap_del(&rs->strangers, key);
		keel_free(value);
	}
	keel_hmap_free(&rs->strangers);
	keel_free(rs);
	m->replicas = NULL;
}
