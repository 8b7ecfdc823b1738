/* Fixture for the container suite: root checks, busybox rootfs, a context on a work dir. */
#ifndef KEEL_TESTS_CTR_FIXTURE_H
#define KEEL_TESTS_CTR_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "containerizer/containerizer.h"
#include "runtime/err.h"

/* One delivered event, as the fixture's callback recorded it. */
struct fx_event {
	char id[KEEL_CTR_ID_SIZE];     /* container */
	struct keel_ctr_status status; /* status at delivery */
};

#define FX_MAX_EVENTS 256

/* The state of the current test case; reset by fx_open(), cleaned by fx_cleanup(). */
struct fx {
	char work_dir[256];		       /* private work dir under /tmp */
	char cg_parent[64];		       /* "keel/t<pid>x<n>" */
	struct keel_ctr *ctx;		       /* open context or NULL */
	struct fx_event events[FX_MAX_EVENTS]; /* delivered events in order */
	size_t n_events;		       /* entries in events */
	bool destroy_on_exit;		       /* the callback destroys exited containers */
};

extern struct fx fx;

/* Skips the case (exit 77 when all skip) unless running as root. */
void fx_require_root(void);
/* Skips unless cgroup v1 memory, cpu and pids controllers are mounted at /sys/fs/cgroup. */
void fx_require_cgroup_v1(void);

/* Path of the probe binary (from $KEEL_CTR_PROBE), built beside the tests. */
const char *fx_probe(void);
/* Path of the CLI (from $KEEL_CTR_CLI). */
const char *fx_cli(void);

/*
 * A busybox rootfs built once per test process from the host's static
 * busybox (Debian busybox-static): /bin/busybox and applet links, /etc
 * passwd and group, empty /proc /dev /sys /tmp. Skips when busybox is not
 * installed. Removed at exit.
 */
const char *fx_rootfs(void);

/* Cleans up the previous case, then opens a context (cgroup mode as given). */
struct keel_ctr *fx_open_mode(enum keel_ctr_cgroup_mode mode, const char *cgroup_root);
struct keel_ctr *fx_open(void);
/* fx_open with the image store in copy mode (never overlayfs) when `copy`. */
struct keel_ctr *fx_open_image_mode(bool copy);

/*
 * Kills and destroys every container of the context, closes it, removes the
 * work dir and the case's cgroup parents. Runs at the start of the next case
 * and at exit too, so a failed assertion leaves nothing behind.
 */
void fx_cleanup(void);

/* Launches and asserts success; returns a static copy of the ID (valid until the next call). */
const char *fx_launch(const struct keel_ctr_spec *spec);

/* Waits (asserting no timeout) and returns the final status. */
struct keel_ctr_status fx_wait(const char *id, int timeout_ms);

/* Reads a whole small file into buf (NUL-terminated); returns length or -errno. */
int fx_read_file(const char *path, char *buf, size_t n);
/* Reads <sandbox of id>/<name>. */
int fx_read_sandbox(const char *id, const char *name, char *buf, size_t n);

/* Number of delivered events for id with the given state. */
size_t fx_count_events(const char *id, enum keel_ctr_state state);

/* Processes events until pred(arg) is true or timeout_ms passes; returns pred's last value. */
bool fx_until(bool (*pred)(void *), void *arg, int timeout_ms);

/* The value of "Key:" in a /proc/PID/status dump, parsed as hex; -1 if absent. */
long long fx_status_hex(const char *dump, const char *key);
/* The value of "Key:" parsed as decimal (first number); -1 if absent. */
long long fx_status_dec(const char *dump, const char *key);

/* True when a path exists (lstat). */
bool fx_exists(const char *path);

#endif
