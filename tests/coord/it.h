/* Integration test helpers for coord: services from scripts/services, coord-helper processes,
 * and a TCP proxy that can black-hole a client. */
#ifndef KEEL_TESTS_COORD_IT_H
#define KEEL_TESTS_COORD_IT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/loop.h"

/* --- services (it_svc.c) --- */

/* One ZooKeeper or etcd deployment started by its script. */
struct it_svc {
	char script[1024]; /* scripts/services/<zookeeper|etcd>.sh */
	char dir[1024];	   /* its data directory */
	int n;		   /* servers */
	char hosts[1024];  /* "127.0.0.1:p1,127.0.0.1:p2,..." */
	bool started;	   /* stop at exit */
};

/*
 * Wipes dir, starts n servers of kind ("zk" or "etcd") with data there and
 * fills s. Stopped at exit (and by the scripts' watchdog if this process
 * dies). Returns 0, or -1 with the script's output on stderr.
 */
int it_svc_start(struct it_svc *s, const char *scripts, const char *kind, const char *dir, int n);

/* Runs `<script> cmd dir [member]` (member 0: none). 0 when it exited 0. */
int it_svc_run(struct it_svc *s, const char *cmd, int member);

/* --- coord-helper processes (it_proc.c) --- */

/* One parsed output line of coord-helper. */
struct it_ev {
	uint64_t t;    /* CLOCK_MONOTONIC ns when the helper wrote it */
	char kind[16]; /* elected, lost, leader, none, members, status, ... */
	uint64_t a;    /* first number (epoch, n, type, ...) */
	long long b;   /* second number (reason, err, ...) */
	char *text;    /* the rest of the line */
};

/* A running coord-helper. */
struct it_proc {
	char name[32];		/* label */
	pid_t pid;		/* process id, 0 once reaped */
	int in;			/* its stdin (write end), -1 when closed */
	int out;		/* its stdout (read end) */
	struct keel_poll *poll; /* watches out */
	char buf[65536];	/* partial line */
	size_t len;		/* its length */
	struct it_ev *evs;	/* every line so far */
	size_t nevs, cap;	/* count and capacity */
	bool eof;		/* stdout closed */
	uint64_t killed_at;	/* clock ns of SIGKILL, 0 if not killed */
	uint64_t ended_at;	/* clock ns its session was ended from outside, 0 if not */
};

/* Starts helper with argv (argv[0] = the binary, NULL-terminated); stderr goes to log. */
int it_proc_start(struct keel_loop *loop, struct it_proc *p, const char *name,
		  const char *const *argv, const char *log);

/* Writes a command line to its stdin. */
void it_proc_cmd(struct it_proc *p, const char *cmd);

/* SIGKILLs and reaps it (records killed_at). */
void it_proc_kill(struct it_proc *p);

/* Ends it: "close" then waits (turning loop) for exit up to timeout_ms, SIGKILL after. */
void it_proc_finish(struct keel_loop *loop, struct it_proc *p, unsigned timeout_ms);

/* Frees what p holds (after finish or kill). */
void it_proc_free(struct it_proc *p);

/* The last event of kind, or NULL; *idx gets its index when idx is not NULL. */
const struct it_ev *it_proc_last(const struct it_proc *p, const char *kind, size_t *idx);

/* Number of events of kind. */
size_t it_proc_count(const struct it_proc *p, const char *kind);

/* Leading per its own events: an "elected" after the last "lost", not withdrawn, not killed. */
bool it_proc_leading(const struct it_proc *p, uint64_t *epoch);

/* --- a TCP proxy that can black-hole (it_proxy.c) --- */

struct it_proxy;

/* Listens on 127.0.0.1 (a free port) and forwards each connection to 127.0.0.1:to_port. */
int it_proxy_start(uint16_t to_port, struct it_proxy **out);

/* The port it listens on. */
uint16_t it_proxy_port(const struct it_proxy *p);

/* On: stop moving bytes in both directions (connections stay open, new ones are held). */
void it_proxy_blackhole(struct it_proxy *p, bool on);

/* Stops the thread, closes everything, frees p. */
void it_proxy_stop(struct it_proxy *p);

/* --- etcd and ZooKeeper by hand (it_svc.c) --- */

/* POSTs body to http://host/path (blocking) and returns the body (caller frees), or NULL. */
char *it_http_post(const char *hostport, const char *path, const char *body, long *status);

#endif
