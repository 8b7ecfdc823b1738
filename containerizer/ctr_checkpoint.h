/* Checkpoint files of one container: supervisor state and final status, as key=value. */
#ifndef KEEL_CTR_CHECKPOINT_H
#define KEEL_CTR_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include "containerizer.h"
#include "ctr_cgroup.h"

/*
 * Two files in <work_dir>/containers/<id>/ (whose directory the supervisor
 * keeps flock()ed for its whole life: recovery tests that lock):
 *
 *   state	who supervises the container: created by the supervisor when it
 *		starts, in one write, then appended to ("task_pid=N") once the
 *		task runs: a log where the last value of a key wins and a torn
 *		last line (a write in progress) is ignored. Never renamed, never
 *		fsynced: it only means something while this boot lasts
 *		(containers die with the host), and each rewrite would cost an
 *		inode.
 *   status	how it ended: written once, atomically ("status.tmp" renamed
 *		over "status"), fsynced (file and directory) before the
 *		supervisor exits, so it survives a crash of anything.
 *
 * Format: "version=1" then one "key=value" per line; values escape '\\' and
 * newline as "\\\\" and "\\n". Unknown keys are ignored (a newer writer).
 */

#define CTR_CKPT_STATE "state"
#define CTR_CKPT_STATUS "status"
/* Largest checkpoint file accepted. */
#define CTR_CKPT_MAX 16384

/* Parsed or to-be-formatted state; strings point into the caller's buffer. */
struct ctr_ckpt_state {
	const char *id;			     /* container ID */
	long supervisor_pid;		     /* host pid of the supervisor */
	long task_pid;			     /* host pid of the task, 0 before it runs */
	const char *boot_id;		     /* /proc/sys/kernel/random/boot_id when written */
	const char *launcher;		     /* "linux" or "posix" */
	const char *cgroup_mode;	     /* "none", "v1" or "v2" */
	const char *cgroups[CTR_CG_NCTRL];   /* absolute cgroup dirs */
	unsigned cgroup_ctrls[CTR_CG_NCTRL]; /* controllers served by each (CTR_CG_BIT mask) */
	unsigned n_cgroups;		     /* entries in cgroups */
	const char *sandbox;		     /* host sandbox dir */
};

/* Parsed or to-be-formatted final status; message points into the caller's buffer. */
struct ctr_ckpt_status {
	const char *id;		     /* container ID (NULL in files of older writers) */
	enum keel_ctr_reason reason; /* never NONE in a valid file */
	int exit_code;		     /* or -1 */
	int signal;		     /* or 0 */
	unsigned limits_hit;	     /* KEEL_CTR_LIMIT_* */
	const char *message;	     /* may be "" */
	bool cgroups_left;	     /* the supervisor could not remove all its cgroups */
	const char *cgroups_pool;    /* the name its cgroups now have as a spare set, or NULL */
	struct keel_ctr_usage usage; /* final usage */
};

/* Formats into buf; returns the length or -ENOSPC. No heap. */
int ctr_ckpt_state_format(char *buf, size_t n, const struct ctr_ckpt_state *s);
int ctr_ckpt_status_format(char *buf, size_t n, const struct ctr_ckpt_status *s);

/*
 * Parses text (len bytes, modified in place; need not be NUL-terminated but
 * buf must have room for len + 1). -EINVAL with a message for a malformed
 * file or a missing required key. The state parser reads a log: a key seen
 * again replaces its value, and an unterminated last line is ignored.
 */
int ctr_ckpt_state_parse(char *buf, size_t len, struct ctr_ckpt_state *s, char *errmsg);
int ctr_ckpt_status_parse(char *buf, size_t len, struct ctr_ckpt_status *s, char *errmsg);

/*
 * Writes a checkpoint file atomically under dirfd; with `durable`, fsyncs
 * the file before the rename and the directory after. No heap.
 */
int ctr_ckpt_write(int dirfd, const char *name, const char *data, size_t len, bool durable);

/*
 * Creates (or truncates) the log file `name` under dirfd with its first
 * record, in one write; returns its fd (O_APPEND, close-on-exec) for
 * ctr_ckpt_append, or -errno. No heap.
 */
int ctr_ckpt_create(int dirfd, const char *name, const char *data, size_t len);

/* Appends one record to a log file in one write; 0 or -errno. No heap. */
int ctr_ckpt_append(int fd, const char *data, size_t len);

/*
 * Spare checkpoint directories. A filesystem without a journal (ext4 with
 * no journal, as on this VM) makes every inode allocation scan past the
 * inodes freed in the last minutes; reusing a finished container's
 * directory and files instead of removing them allocates and frees nothing.
 *
 * ctr_ckpt_recycle empties <containers>/<id> for reuse and renames it to
 * `spare` (a name that is not a container ID): "state" is truncated,
 * "status" renamed to "status.tmp" (the name the next status is written
 * under, so its inode is reused too). A directory holding anything else is
 * left alone: -ENOTEMPTY (remove it instead). A stale file a host crash
 * might bring back under the new name is told apart by the ID both files
 * carry. 0 or -errno. No heap beyond readdir's.
 */
int ctr_ckpt_recycle(int containers_fd, const char *id, const char *spare);

/* Renames spare to <containers>/<id> (never over an existing entry: -EEXIST). 0 or -errno. */
int ctr_ckpt_claim(int containers_fd, const char *spare, const char *id);

/* Reads a checkpoint file into buf (size n); returns its length, -ENOENT, or -EFBIG. */
int ctr_ckpt_read(int dirfd, const char *name, char *buf, size_t n);

/* Enum <-> name. Names are static. Parse returns -EINVAL for unknown names. */
const char *ctr_reason_name(enum keel_ctr_reason r);
int ctr_reason_parse(const char *s, enum keel_ctr_reason *out);

/* Reads the current boot ID (36 chars + NUL) into out; "" if unavailable. */
void ctr_boot_id(char out[40]);

#endif
