/* Coordination: leader election, leader detection and group membership over ZooKeeper, etcd or a
 * static list. */
#ifndef KEEL_COORD_H
#define KEEL_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/mesos/v1/mesos.pb-c.h"
#include "runtime/buf.h"
#include "runtime/err.h"
#include "runtime/loop.h"

/*
 * One interface, three backends, chosen by URL:
 *
 *   zk://[user:password@]host1:2181,host2:2181/path    ZooKeeper (the default for HA)
 *   etcd://host1:2379,host2:2379/prefix                etcd v3 through its JSON gateway
 *   static://host:5050[,host:5050...]                   no service: the first host leads
 *
 * A `struct coord` is one client session with the backend (a ZooKeeper
 * session, an etcd lease). On it you can
 *
 *   - contend: join the election with a payload (a master's MasterInfo JSON)
 *     and be told `COORD_ELECTED` with an epoch, and `COORD_LOST` when
 *     leadership ended or may have ended;
 *   - detect: be told who leads (payload, epoch) whenever that changes, and
 *     that nobody does;
 *   - join a group with a payload, and watch a group's members.
 *
 * ZooKeeper layout (Mesos-compatible): contenders are ephemeral sequential
 * znodes `<path>/json.info_NNNNNNNNNN` holding the payload, the lowest
 * sequence number leads, each contender watches only its predecessor;
 * children of <path> with other names (e.g. `log_replicas`) are ignored by
 * the election. Group members are ephemeral sequential znodes
 * `<path>/<group>/member_NNNNNNNNNN`. With `user:password@` the client
 * authenticates with digest auth and creates everything with an ACL that
 * gives that user all rights and everyone else read.
 *
 * etcd layout: a lease of the session timeout (whole seconds, at least
 * etcd's minimum) kept alive; contenders are keys
 * `<prefix>/election/<lease>-<n>` and members `<prefix>/members/<group>/<lease>-<n>`,
 * each created in a transaction that requires it not to exist, attached to
 * the lease; the key with the lowest create_revision leads. One streaming
 * watch per session mirrors the prefix.
 *
 * Epochs and fencing. An epoch identifies one term of leadership and grows
 * strictly from one leader to the next on the same path/prefix:
 *   - ZooKeeper: the czxid (creation transaction id) of the leader's znode;
 *   - etcd: the create_revision of the leader's key;
 *   - static: always 1.
 * Coordination alone is not mutual exclusion: a deposed leader may still be
 * running for a while (a GC pause, a stopped process, a partition) and not
 * yet know. A leader must therefore stamp what it writes to shared state
 * with its epoch, and that state must refuse writes stamped with an epoch
 * lower than the highest it has seen (keel's registry does this through the
 * replicated log's proposal numbers; a store in etcd can instead make each
 * write a transaction comparing the leader key's create_revision with the
 * epoch, see COORD_ELECTED's `name`).
 *
 * Threads and callbacks. Everything here is called on the thread of the
 * keel loop given to coord_open, and every callback runs on that thread,
 * never from inside the call that registered it (at the earliest on the
 * next loop turn). Event callbacks (contender, detector, members, status)
 * fire any number of times until their handle is closed; no callback of a
 * handle fires after the call that closes it returns. Closing a handle (or
 * the whole coord) from inside any of its callbacks is allowed.
 *
 * Errors: negative errno; a message naming the URL goes to the errmsg buffer
 * passed in (KEEL_ERRMSG_SIZE bytes, may be NULL). Functions that fail
 * synchronously never call back.
 *
 * Caveats:
 * - Threads: the ZooKeeper backend runs libzookeeper_mt's two threads per
 *   session; they only queue events for the loop (keel_async), the loop
 *   never blocks on them. libcurl (etcd) runs on the loop (multi-socket,
 *   its sockets in an epoll set the loop polls) and needs no thread.
 *   Closing a session starts a short-lived thread for the goodbye
 *   (ZooKeeper zookeeper_close, etcd lease revoke).
 * - fork(): a coord must not cross fork(); a child may only exec or exit.
 *   Children do not inherit the session (the sockets are close-on-exec).
 * - Session loss is exact in one direction: a contender that may have lost
 *   leadership is told `COORD_LOST` no later than its session or lease could
 *   have expired as seen by the server. The client counts the timeout from
 *   the moment it sent the last request the server answered (a lower bound
 *   of the server's last contact), not from when it noticed trouble, and
 *   reports a margin (a tenth of the timeout, at least 50 ms) early. A
 *   process that was stopped (SIGSTOP, a debugger) past that point learns it
 *   at once on resume: call coord_contender_leading() before acting as
 *   leader, it reads the clock rather than waiting for a timer.
 * - When somebody else ends the session at once (another handle taking
 *   over and closing the same ZooKeeper session, an operator revoking the
 *   lease or deleting the leader's znode or key), the server tells the
 *   successor (its watch) and the old leader (its connection drops, or its
 *   key's delete arrives on its watch stream) at the same moment. The old
 *   leader gets COORD_LOST within milliseconds, but it may come a few
 *   milliseconds after the successor's COORD_ELECTED: no client can order
 *   these. The epoch is what fences the old leader then (the successor's is
 *   higher); the ordering guarantee above is about expiry by timeout.
 * - After a loss the coord opens a new session by itself; contenders and
 *   members rejoin (a leader of the old session is elected again only with
 *   a new, higher epoch), detectors and watchers resume.
 * - Backend down for longer than the session timeout: every leader gets
 *   COORD_LOST, detectors report "no leader". When it returns, the old
 *   sessions' nodes survive until the server expires them (one timeout
 *   after it restarts, as ZooKeeper and etcd persist sessions and leases),
 *   so a new leader follows within about one session timeout.
 * - ZooKeeper sequence numbers live in the parent znode: do not delete and
 *   recreate <path> while masters run, or epochs compare wrongly across it.
 * - Host names in URLs are resolved by the ZooKeeper client at coord_open
 *   (blocking getaddrinfo on the loop thread); use IP addresses where that
 *   matters. libcurl resolves asynchronously.
 */

struct coord;
struct coord_contender;
struct coord_detector;
struct coord_member;
struct coord_watch;

/* --- URLs --- */

enum coord_backend {
	COORD_BACKEND_ZK = 1,	  /* zk:// */
	COORD_BACKEND_ETCD = 2,	  /* etcd:// */
	COORD_BACKEND_STATIC = 3, /* static:// */
};

/* One host of a URL. */
struct coord_host {
	char *host;    /* name or address; IPv6 without brackets */
	uint16_t port; /* from the URL, or 2181 (zk), 2379 (etcd), 5050 (static) when absent */
};

/* A parsed coordination URL; every string is owned by it. */
struct coord_url {
	enum coord_backend backend; /* which backend */
	struct coord_host *hosts;   /* at least one */
	size_t num_hosts;	    /* how many */
	char *path;	/* zk path or etcd prefix: "/a/b", no trailing '/'; NULL for static */
	char *user;	/* zk digest user, or NULL */
	char *password; /* zk digest password, or NULL */
};

/*
 * Parses url into *out. Rules: the scheme is zk, etcd or static; hosts are
 * comma-separated `host[:port]` with IPv6 in brackets; zk and etcd need an
 * absolute path other than "/" with no empty, "." or ".." components and no
 * trailing '/' (characters: letters, digits and -_.:@); static takes no path;
 * only zk takes `user:password@` (both non-empty). Returns 0, -EINVAL with
 * `invalid coordination URL "<url>": <why>`, or -ENOMEM. On error *out is
 * zeroed and owns nothing.
 */
int coord_url_parse(const char *url, struct coord_url *out, char *errmsg);

/* Frees what u owns and zeroes it; safe on a zeroed struct. */
void coord_url_free(struct coord_url *u);

/* --- The session --- */

enum coord_status_type {
	COORD_STATUS_CONNECTED = 1,    /* a session is established (first time or again) */
	COORD_STATUS_DISCONNECTED = 2, /* contact lost; the session may still be alive, leaders
					  keep leading until their deadline */
	COORD_STATUS_SESSION_LOST = 3, /* the session ended or may have: every leader has got
					  COORD_LOST; a new session is being set up */
	COORD_STATUS_UNREACHABLE = 4,  /* no server answered within connect_timeout_ms (once per
					  outage; the coord keeps trying) */
	COORD_STATUS_ERROR = 5,	       /* an operation failed (e.g. no permission on the path);
					  it is retried with backoff */
};

/* A status event; pointers are valid during the callback only. */
struct coord_status {
	enum coord_status_type type; /* what happened */
	int err;	     /* negative errno for SESSION_LOST, UNREACHABLE, ERROR; else 0 */
	const char *message; /* one line naming the URL */
};

typedef void (*coord_status_cb)(struct coord *c, const struct coord_status *st, void *arg);

/* Options for coord_open; zero fields take the defaults in brackets. */
struct coord_config {
	uint32_t session_timeout_ms; /* ZooKeeper session timeout (the server may clamp it) or
					etcd lease TTL (rounded up to seconds) [10000] */
	uint32_t connect_timeout_ms; /* report COORD_STATUS_UNREACHABLE after this long without
					contact [the session timeout] */
	coord_status_cb on_status;   /* session events, may be NULL */
	void *status_arg;	     /* its argument */
};

/*
 * Opens a session for url on loop (the loop's thread only). Returns at once;
 * the session is established in the background and announced through
 * on_status. Fails synchronously with -EINVAL for a bad URL (message names
 * it), -ENOMEM, or another negative errno when the client library cannot be
 * set up. The caller owns *out and closes it with coord_close before freeing
 * the loop.
 */
int coord_open(struct keel_loop *loop, const char *url, const struct coord_config *cfg,
	       struct coord **out, char *errmsg);

/*
 * Withdraws every candidacy and membership, ends the session (ZooKeeper
 * closeSession, etcd lease revoke) so that the others need not wait for a
 * timeout, and frees c with every contender, detector, member and watch
 * made on it (their pointers become invalid). No callback fires after this
 * returns. The goodbye to the server runs on a short-lived thread; with
 * wait_ms > 0 this call blocks the loop thread up to wait_ms until the
 * server has acknowledged it (use at shutdown, before exiting the process);
 * with 0 it returns at once and a process that exits right away may leave
 * its nodes to expire by timeout. Allowed inside any coord callback (the
 * goodbye is then started after the callback returns). NULL is ignored.
 */
void coord_close(struct coord *c, unsigned wait_ms);

/* The URL the coord was opened with (its copy, valid until coord_close). */
const char *coord_url(const struct coord *c);

/* Which backend c uses. */
enum coord_backend coord_backend_of(const struct coord *c);

/* The negotiated session timeout (ZooKeeper) or granted lease TTL (etcd) in ms; the configured
 * one until the first session is established; 0 for static. */
uint32_t coord_session_timeout_ms(const struct coord *c);

/* Counters, for tests and metrics. */
struct coord_stats {
	uint64_t sessions;	/* sessions established */
	uint64_t sessions_lost; /* sessions that ended or may have (SESSION_LOST events) */
	uint64_t watch_events;	/* watch notifications received from the backend (ZooKeeper: node
				   watches fired on this session; etcd: watch responses carrying
				   events) */
	uint64_t requests;	/* requests sent to the backend */
};

void coord_get_stats(const struct coord *c, struct coord_stats *out);

/* --- Election --- */

enum coord_event_type {
	COORD_ELECTED = 1, /* this contender leads, with `epoch` */
	COORD_LOST = 2,	   /* this contender no longer leads, or may not: stop acting as leader */
};

/* A contender event; pointers are valid during the callback only. */
struct coord_contender_event {
	enum coord_event_type type; /* what happened */
	uint64_t epoch;		    /* ELECTED: the new epoch; LOST: the epoch that ended */
	const char *name;	    /* the contender's znode name or etcd key */
	int reason;		    /* LOST: -ETIMEDOUT (no contact for the session timeout: it
				       may have expired), -ECONNRESET (the server said the session
				       expired or the lease is gone), -EIDRM (its node/key was
				       deleted by someone else); 0 for ELECTED */
	const char *message;	    /* LOST: one line saying why; "" for ELECTED */
};

typedef void (*coord_contender_cb)(struct coord_contender *ct,
				   const struct coord_contender_event *ev, void *arg);

/*
 * Joins the election with payload[0, len) (copied; for masters the
 * MasterInfo JSON, see coord_master_info_json). Events come through cb:
 * COORD_ELECTED, then COORD_LOST, possibly again ELECTED with a higher
 * epoch, and so on: the contender stays in the race (rejoining after a
 * session loss) until withdrawn. Returns 0, -ENOMEM, or -EINVAL (len over
 * 1 MiB, or cb NULL). The contender belongs to c.
 */
int coord_contend(struct coord *c, const void *payload, size_t len, coord_contender_cb cb,
		  void *arg, struct coord_contender **out, char *errmsg);

/*
 * Whether ct leads right now: elected, not lost, and the session's deadline
 * (see Caveats) not passed by the clock now (read afresh, not the loop's
 * cached time). Stores the epoch in *epoch when leading and epoch is not
 * NULL. Call it before every act that only a leader may do.
 */
bool coord_contender_leading(const struct coord_contender *ct, uint64_t *epoch);

/*
 * Leaves the election: deletes its node/key (so a successor is elected at
 * once, without a session timeout) and frees ct. No callback after this
 * returns, not even COORD_LOST: the caller knows it stopped leading. NULL is
 * ignored.
 */
void coord_contender_withdraw(struct coord_contender *ct);

/* --- Detection --- */

/* What a detector reports; pointers are valid during the callback only. */
struct coord_leader {
	bool present;	     /* a leader exists (false: "no leader") */
	int err;	     /* !present: 0 when nobody leads, or why the detector cannot say:
				-ENOENT (zk: no such path), the session loss reason (-ETIMEDOUT,
				-ECONNRESET, -EACCES...), or a read error; present: 0, or
				-EBADMSG when COORD_DETECT_MASTER_INFO is set and the payload is
				not a valid MasterInfo */
	const char *message; /* err != 0: one line saying why; else "" */
	uint64_t epoch;	     /* present: the leader's epoch */
	const char *name;    /* present: its znode name or etcd key */
	const void *payload; /* present: its payload bytes */
	size_t len;	     /* payload length */
	const Mesos__V1__MasterInfo *info; /* present, err 0 and COORD_DETECT_MASTER_INFO: the
					      parsed payload; else NULL */
};

typedef void (*coord_detector_cb)(struct coord_detector *d, const struct coord_leader *l,
				  void *arg);

/* Detector flags. */
#define COORD_DETECT_MASTER_INFO 0x1 /* parse payloads as MasterInfo JSON (err -EBADMSG if not) */

/*
 * Watches who leads. cb fires once the detector first knows (a leader, or
 * none), then whenever that changes: another leader (name/epoch), none, or
 * the session lost (present false, err the loss reason). There is no polling: it
 * rests on a ZooKeeper children watch or the etcd watch stream. Returns 0,
 * -ENOMEM or -EINVAL (cb NULL, unknown flags). The detector belongs to c.
 */
int coord_detect(struct coord *c, unsigned flags, coord_detector_cb cb, void *arg,
		 struct coord_detector **out, char *errmsg);

/* Stops and frees d; no callback after this returns. NULL is ignored. */
void coord_detector_close(struct coord_detector *d);

/* --- Membership --- */

/*
 * Joins `group` (one path component: letters, digits, '-', '_', '.', not "."
 * or "..", at most 64 bytes) with payload[0, len) (copied, at most 1 MiB).
 * The membership lives as long as the session and is recreated on a new one.
 * Returns 0, -EINVAL, -ENOMEM. On static:// joining is accepted and changes
 * nothing (the group is the URL's host list).
 */
int coord_member_join(struct coord *c, const char *group, const void *payload, size_t len,
		      struct coord_member **out, char *errmsg);

/* Leaves the group (deletes the node/key) and frees m. NULL is ignored. */
void coord_member_leave(struct coord_member *m);

/* One member as a watch reports it; pointers are valid during the callback only. */
struct coord_member_info {
	const char *name;    /* znode name or etcd key (static: "host:port") */
	uint64_t id;	     /* ordering id: znode czxid, etcd create_revision, static index+1 */
	const void *payload; /* payload bytes (static: "host:port") */
	size_t len;	     /* payload length */
};

/*
 * The members of a group, ordered by id (join order). `err` is 0, or a
 * negative errno when the set is unknown (the session loss reason, e.g.
 * -ETIMEDOUT; n is then 0).
 */
typedef void (*coord_watch_cb)(struct coord_watch *w, const struct coord_member_info *members,
			       size_t n, int err, void *arg);

/*
 * Watches `group`: cb fires with the full set once known and on every change.
 * Returns 0, -EINVAL (bad group name, cb NULL), -ENOMEM.
 */
int coord_watch_members(struct coord *c, const char *group, coord_watch_cb cb, void *arg,
			struct coord_watch **out, char *errmsg);

/* Stops and frees w; no callback after this returns. NULL is ignored. */
void coord_watch_close(struct coord_watch *w);

/* --- MasterInfo payloads --- */

/*
 * Appends mi as compact JSON, the way Mesos writes it into ZooKeeper (so that
 * Mesos-compatible detectors parse it). Checks the required fields first.
 * Returns 0, -EINVAL (message names the missing field), -ENOMEM.
 */
int coord_master_info_json(const Mesos__V1__MasterInfo *mi, struct keel_buf *out, char *errmsg);

/*
 * Parses payload[0, len) as MasterInfo JSON and checks what Mesos detectors
 * rely on: id non-empty, port 1..65535, and when present: pid of the form
 * "name@host:port", address.port 1..65535. Returns 0 and a message the caller
 * frees with keel_pbjson_free, -EBADMSG with a message saying what is wrong
 * (not JSON, a missing or wrong field), or -ENOMEM.
 */
int coord_master_info_parse(const void *payload, size_t len, Mesos__V1__MasterInfo **out,
			    char *errmsg);

#endif
