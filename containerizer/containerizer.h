/* The containerizer's only public door: launch, watch, kill, destroy and recover containers. */
#ifndef KEEL_CONTAINERIZER_H
#define KEEL_CONTAINERIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * A containerizer context (`struct keel_ctr`) owns the containers launched or
 * recovered under one work directory:
 *
 *	<work_dir>/containers/<id>/	checkpoint of one container (state, status, lock)
 *	<work_dir>/sandboxes/<id>/	its default sandbox (stdout, stderr, task files)
 *
 * Each container is a task run by a small **supervisor** process that the
 * context starts at launch. The supervisor outlives the caller: it creates the
 * container's cgroups, starts the task in its namespaces, reaps it, records
 * the outcome in the checkpoint and exits. A caller that restarts finds its
 * running containers again with keel_ctr_recover().
 *
 * Event model. Nothing in this API waits, except keel_ctr_wait(),
 * keel_ctr_recover() and keel_ctr_image_import() (see each). keel_ctr_fd()
 * is one fd the caller polls for readability (from an event loop, io_uring's
 * POLL_ADD, poll(2)...); when it is readable the caller calls
 * keel_ctr_process(), which runs the event callback for each container that
 * started running or exited. Launching, killing and reading usage do bounded
 * filesystem work (mkdir, small reads and writes in cgroupfs and the work
 * dir) and one vfork + exec; everything slow (fsync, mounts, waiting for
 * processes) happens in the supervisor. The exceptions are abnormal: the
 * processes of a container whose supervisor vanished are killed and waited
 * for (up to 5 s) in keel_ctr_process() and keel_ctr_destroy().
 *
 * Errors: functions return 0 or a negative errno; a one-line message is left
 * in the context (keel_ctr_errmsg()). -EINVAL: a bad argument or spec;
 * -ENOENT: no such container (or a missing file the spec names); -ENOMEM;
 * -EEXIST: the ID is in use; -ENOTSUP: the host lacks a feature the spec
 * needs (a cgroup controller, namespaces); other values come from the
 * failing system call.
 *
 * Caveats.
 * - Threads: a context is not thread-safe; use it from one thread (the
 *   agent's loop thread). Different contexts on different work dirs are
 *   independent.
 * - Processes: keel_ctr_launch() starts the supervisor as a program of its
 *   own (keel-ctr-supervisor, built into this library and exec'd from a
 *   sealed memfd) with clone(CLONE_VM | CLONE_VFORK) + execveat: the calling
 *   thread sleeps until the exec, no page table of the caller is copied and
 *   no memory is shared afterwards, whatever the caller's size; other threads
 *   of a multi-threaded caller run on. The supervisor gets its plan through a
 *   memfd, only its own fds (the caller's others are close-on-exec, and it
 *   closes any leftover at its start) and none of the caller's environment,
 *   so sockets and database handles of the caller do not leak into it or the
 *   task. A context keeps that memfd and a 64 KiB stack from its first
 *   launch on.
 * - Signals: the caller receives SIGCHLD when a supervisor it launched
 *   exits. It must not reap children it does not know with waitpid(-1, ...)
 *   (that would steal the supervisor's exit; the status is still read from
 *   the checkpoint, so no status is lost, but the pid could be reused). A
 *   SIGCHLD disposition of SIG_IGN is fine.
 * - Privileges: the linux launcher, cgroups and switching users need root
 *   (CAP_SYS_ADMIN and friends in the initial user namespace). The posix
 *   launcher without cgroups runs unprivileged.
 * - Exec from a memfd: the supervisor program runs from a memfd made with
 *   MFD_EXEC, which the vm.memfd_noexec sysctl refuses at 2 (launches then
 *   fail with -EACCES and say so).
 * - Host reboot: running containers do not survive it; after a reboot
 *   keel_ctr_recover() reports them as KEEL_CTR_REASON_LOST.
 */

/* Longest container ID plus its NUL. IDs are [A-Za-z0-9_.-], not starting with '.'. */
#define KEEL_CTR_ID_SIZE 64

/* Size of an image ID: "sha256:" + 64 hex digits + NUL. */
#define KEEL_CTR_IMAGE_ID_SIZE 72

/* Where the linux launcher bind-mounts the sandbox inside a container with a rootfs. */
#define KEEL_CTR_SANDBOX_PATH "/mnt/mesos/sandbox"

struct keel_ctr;

/* How the task is started. */
enum keel_ctr_launcher {
	KEEL_CTR_LAUNCHER_DEFAULT = 0, /* linux when running as root, else posix */
	KEEL_CTR_LAUNCHER_LINUX,       /* pid, mount, uts, ipc (and optionally net) namespaces */
	KEEL_CTR_LAUNCHER_POSIX,       /* no isolation: a plain child process */
};

/* Which cgroup hierarchy a context uses, or detected. */
enum keel_ctr_cgroup_mode {
	KEEL_CTR_CGROUP_AUTO = 0, /* detect at keel_ctr_open() */
	KEEL_CTR_CGROUP_NONE,	  /* no cgroups: no limits, no usage */
	KEEL_CTR_CGROUP_V1,	  /* one hierarchy per controller */
	KEEL_CTR_CGROUP_V2,	  /* the unified hierarchy */
};

/* Lifecycle of a container as the context sees it. */
enum keel_ctr_state {
	KEEL_CTR_STARTING = 1, /* supervisor started, task not yet exec'd */
	KEEL_CTR_RUNNING,      /* task exec'd (or recovered while its supervisor lives) */
	KEEL_CTR_EXITED,       /* final; the status is known */
};

/* Why a container ended (valid in state KEEL_CTR_EXITED). */
enum keel_ctr_reason {
	KEEL_CTR_REASON_NONE = 0,      /* not exited yet */
	KEEL_CTR_REASON_EXITED,	       /* the task exited by itself: see exit_code */
	KEEL_CTR_REASON_SIGNALED,      /* the task died of a signal nobody here sent: see signal */
	KEEL_CTR_REASON_OOM,	       /* the kernel's OOM killer killed a process over the limit */
	KEEL_CTR_REASON_KILLED,	       /* keel_ctr_kill()/destroy() asked it to stop */
	KEEL_CTR_REASON_LAUNCH_FAILED, /* the task never ran: see message */
	KEEL_CTR_REASON_LOST,	       /* the supervisor vanished without a status (or reboot) */
};

/* Limits a container ran into (bits of keel_ctr_status.limits_hit). */
#define KEEL_CTR_LIMIT_MEMORY 0x1u /* memory limit reached (OOM kill or failed charge) */
#define KEEL_CTR_LIMIT_PIDS 0x2u   /* a fork failed at pids.max */

/* What the caller learns about a container. Plain data; copy freely. */
struct keel_ctr_status {
	enum keel_ctr_state state;   /* lifecycle */
	enum keel_ctr_reason reason; /* why it ended (EXITED only) */
	int exit_code;		     /* exit(2) status when the task exited, else -1 */
	int signal;		     /* the signal that killed the task, else 0 */
	unsigned limits_hit;	     /* KEEL_CTR_LIMIT_* seen during the run */
	pid_t supervisor_pid;	     /* host pid of the supervisor (0 once exited) */
	pid_t task_pid;		     /* host pid of the task while RUNNING, else 0 */
	char message[256];	     /* human-readable detail (launch failure cause...) */
};

/* Resource usage, from the container's cgroups (or the final figures once exited). */
struct keel_ctr_usage {
	uint64_t cpu_usec;	  /* CPU time consumed, user + system */
	uint64_t mem_bytes;	  /* memory charged now (0 once exited) */
	uint64_t mem_peak_bytes;  /* highest memory charge, where the kernel reports it */
	uint64_t pids;		  /* processes and threads now (0 once exited) */
	uint64_t oom_kills;	  /* processes the OOM killer killed */
	uint64_t pids_max_events; /* forks refused at pids.max */
};

/* One bind mount into a container with a rootfs. */
struct keel_ctr_mount {
	/*
	 * Host path when absolute (trusted: the operator's choice), else a path
	 * inside the sandbox, resolved without leaving it (a symlink that points
	 * out of the sandbox makes the launch fail).
	 */
	const char *source;
	/* Absolute path inside the container, resolved inside the rootfs. */
	const char *target;
	bool readonly; /* mount read-only */
};

/* Capability sets (bit n = capability n of <linux/capability.h>). */
struct keel_ctr_caps {
	uint64_t bounding;    /* bounding set */
	uint64_t effective;   /* effective set (subset of permitted) */
	uint64_t permitted;   /* permitted set */
	uint64_t inheritable; /* inheritable set */
	uint64_t ambient;     /* ambient set (subset of permitted and inheritable) */
};

/* Seccomp profile for the task. */
enum keel_ctr_seccomp {
	KEEL_CTR_SECCOMP_DEFAULT = 0, /* the default deny list (docs/containerizer.md) */
	KEEL_CTR_SECCOMP_UNCONFINED,  /* no filter */
};

/*
 * What to run and how. Every pointer is borrowed for the duration of
 * keel_ctr_launch() only. Zero means "default" for every field.
 */
struct keel_ctr_spec {
	const char *id;		 /* container ID; NULL = generate one */
	const char *const *argv; /* program and arguments, NULL-terminated (NULL: image's Cmd) */
	const char *const *env;	 /* "NAME=value" list, NULL-terminated; NULL = PATH only */
	const char *cwd; /* working dir in the container; default: image WorkingDir, else sandbox */
	const char *rootfs; /* absolute host dir to pivot_root into; NULL = host fs */
	/* Image reference ("name[:tag]" or "sha256:<id>") to run instead of a rootfs: its
	 * Entrypoint, Cmd (replaced by argv if given), Env (extended by env), WorkingDir
	 * and User apply as in Docker. */
	const char *image;
	const char *sandbox;  /* absolute host dir; NULL = <work_dir>/sandboxes/<id> */
	const char *user;     /* "name", "uid", "name:group" or "uid:gid"; looked up on the host,
				 or in the image's /etc/passwd; NULL = the image's, else the caller's */
	const char *hostname; /* UTS name (linux launcher); default: the ID, cut */
	enum keel_ctr_launcher launcher;     /* how to start the task */
	double cpus;			     /* CPU shares and CFS quota in cores; 0 = unlimited */
	int64_t mem_bytes;		     /* memory limit; 0 = unlimited */
	int64_t pids_max;		     /* process limit; 0 = unlimited */
	bool network_ns;		     /* a private network namespace (loopback only) */
	bool caps_set;			     /* use `caps` instead of the defaults */
	struct keel_ctr_caps caps;	     /* capability sets when caps_set */
	enum keel_ctr_seccomp seccomp;	     /* seccomp profile */
	const struct keel_ctr_mount *mounts; /* extra bind mounts (rootfs or image only) */
	size_t n_mounts;		     /* entries in mounts */
	uint32_t kill_grace_ms; /* SIGTERM->SIGKILL grace if the supervisor is signalled
				   without one; 0 = 3000 */
};

/*
 * Called from keel_ctr_process() (and keel_ctr_wait()) for each container
 * that started running (KEEL_CTR_RUNNING, at most once) or exited
 * (KEEL_CTR_EXITED, exactly once per launched or recovered container).
 * `id` and `st` live until the callback returns. The callback may call any
 * function of this API, including keel_ctr_destroy() on this very ID.
 */
typedef void (*keel_ctr_event_fn)(void *data, const char *id, const struct keel_ctr_status *st);

/* How a context is set up. Zero means "default" for every field. */
struct keel_ctr_config {
	const char *work_dir;		       /* required; created if missing */
	enum keel_ctr_cgroup_mode cgroup_mode; /* default: detect */
	const char *cgroup_root;	       /* cgroupfs mount point; default /sys/fs/cgroup */
	const char *cgroup_parent; /* relative parent of container cgroups; default "keel" */
	const char *image_dir;	   /* image store; default <work_dir>/images */
	bool image_copy;	   /* copy image layers into each rootfs, never overlayfs */
	int cgroup_pool; /* spare cgroup sets kept for reuse (v1): 0 = default (16), < 0 = none */
	keel_ctr_event_fn on_event; /* may be NULL */
	void *event_data;	    /* passed to on_event */
};

/*
 * Opens a context on cfg->work_dir (copied) and detects the cgroup layout.
 * Recovers nothing by itself: call keel_ctr_recover() next. On failure
 * returns a negative errno, fills `errmsg` (may be NULL) and *out is NULL.
 */
int keel_ctr_open(const struct keel_ctr_config *cfg, struct keel_ctr **out, char errmsg[256]);

/*
 * Frees the context. Running containers keep running (their supervisors
 * live on); a later context recovers them. Supervisors this process started
 * and that exit afterwards stay zombies until the process exits or reaps
 * them. NULL is a no-op.
 */
void keel_ctr_close(struct keel_ctr *ctx);

/* The last error message of this context ("" if none). Lives as long as ctx. */
const char *keel_ctr_errmsg(const struct keel_ctr *ctx);

/* Detected cgroup mode (never AUTO after open). */
enum keel_ctr_cgroup_mode keel_ctr_cgroup_mode(const struct keel_ctr *ctx);

/*
 * Launches a container. Validates the whole spec first (limits, user,
 * rootfs or image, paths without "..", cgroup controllers present): an
 * invalid spec or an image not in the store fails with -EINVAL/-ENOENT/
 * -ENOTSUP (-EEXIST for an ID in use, -EPERM for what needs root) and
 * creates nothing. On success writes
 * the ID to `id_out` (KEEL_CTR_ID_SIZE bytes) and returns 0; from then on the
 * event callback fires exactly once with KEEL_CTR_EXITED for it (a failure
 * after the start, such as a missing program inside the rootfs, arrives that
 * way with KEEL_CTR_REASON_LAUNCH_FAILED and a message). On error nothing is
 * left behind and no callback fires.
 */
int keel_ctr_launch(struct keel_ctr *ctx, const struct keel_ctr_spec *spec,
		    char id_out[KEEL_CTR_ID_SIZE]);

/*
 * Asks a container to stop: the supervisor sends SIGTERM to the task, then
 * SIGKILL to every process of the container after grace_ms (0 = at once).
 * Returns 0 at once; the exit arrives as an event with reason KILLED (its
 * exit_code or signal tell how the task ended; OOM if the kernel's OOM killer
 * came first). A container that already exited: 0.
 * -ENOENT for an unknown ID.
 * A container whose task has not exec'd yet gets no grace: a kill that
 * reaches the supervisor before it starts the task means the program never
 * runs (reason KILLED, exit_code -1, message "killed before the task
 * started"); one that arrives during the task's own set-up (mounts and
 * privilege drop: system calls, no waits) SIGKILLs the program right after
 * its exec.
 */
int keel_ctr_kill(struct keel_ctr *ctx, const char *id, uint32_t grace_ms);

/*
 * Removes a container: once it has exited, deletes its cgroups (if any
 * remain), its image rootfs (upper dir or copy) and its checkpoint, and
 * forgets the ID; the sandbox directory is
 * left for the caller (its logs outlive the container). On a container that
 * has not exited, kills it at once (as keel_ctr_kill(ctx, id, 0)) and does
 * the removal right after its EXITED event has been delivered. Returns 0,
 * or -ENOENT for an unknown ID, or an error from removing files (the ID is
 * then kept so the caller can retry).
 */
int keel_ctr_destroy(struct keel_ctr *ctx, const char *id);

/*
 * Scans the work dir for containers this context does not know yet and
 * attaches to them: a live supervisor is watched as if just launched; one
 * that exited while nobody watched has its recorded status delivered as an
 * EXITED event on the next keel_ctr_process(); one that vanished without a
 * status (killed, or a host reboot) is cleaned up and reported as LOST.
 * Blocks at most ~1 s for a container caught in the microseconds between its
 * start and its first checkpoint, and up to 5 s killing what a vanished
 * supervisor left. Sets *n_recovered (may be NULL). A directory it cannot
 * make sense of is reported (the first error is returned) and skipped; the
 * others are still recovered.
 */
int keel_ctr_recover(struct keel_ctr *ctx, size_t *n_recovered);

/* The fd to poll for readability; owned by ctx, valid until keel_ctr_close(). */
int keel_ctr_fd(const struct keel_ctr *ctx);

/*
 * Handles whatever is ready without blocking and runs the event callback
 * for each event. Returns the number of events delivered (>= 0), or a
 * negative errno if polling itself failed.
 */
int keel_ctr_process(struct keel_ctr *ctx);

/*
 * Blocking convenience (CLIs, tests): processes events until container `id`
 * has exited or `timeout_ms` passed (-1 = forever), then copies its status.
 * Callbacks for every container fire meanwhile. -ETIMEDOUT on timeout,
 * -ENOENT for an unknown ID.
 */
int keel_ctr_wait(struct keel_ctr *ctx, const char *id, int timeout_ms,
		  struct keel_ctr_status *out);

/* Copies the current status of `id`. -ENOENT for an unknown ID. */
int keel_ctr_status(const struct keel_ctr *ctx, const char *id, struct keel_ctr_status *out);

/*
 * Reads usage from the container's cgroups (small cgroupfs reads); for an
 * exited container, the final figures its supervisor recorded. -ENOENT for
 * an unknown ID, -ENOTSUP without cgroups.
 */
int keel_ctr_usage(struct keel_ctr *ctx, const char *id, struct keel_ctr_usage *out);

/*
 * Copies up to `cap` known IDs (launch/recover order) into ids and returns
 * how many containers there are in total (may exceed cap).
 */
size_t keel_ctr_list(const struct keel_ctr *ctx, char (*ids)[KEEL_CTR_ID_SIZE], size_t cap);

/* The sandbox directory of `id` (host path), or NULL. Lives until the ID is destroyed. */
const char *keel_ctr_sandbox(const struct keel_ctr *ctx, const char *id);

/*
 * Images. The store (config.image_dir) holds unpacked layers, shared by
 * digest between images and containers; a container's rootfs is an overlayfs
 * of its image's layers with a private upper dir under
 * <work_dir>/rootfs/<id>/ (or a copy of the layers where overlayfs cannot be
 * mounted), removed by keel_ctr_destroy().
 */

/* The image store of a context (absolute path; lives as long as ctx). */
const char *keel_ctr_image_dir(const struct keel_ctr *ctx);

/* Default limits of one import (struct keel_ctr_import_limits). */
#define KEEL_CTR_IMPORT_MAX_BYTES (32ULL << 30) /* 32 GiB */
#define KEEL_CTR_IMPORT_MAX_ENTRIES (1ULL << 20)

/*
 * What one import may write in all, so that a decompression bomb (a small
 * archive that unpacks to a huge tree) fails instead of filling the disk.
 * Counted over the archive's own extraction and every layer it unpacks:
 * regular files by their recorded size (sparse holes included), every tar
 * entry as one entry. Layers already in the store cost nothing. 0 = default.
 */
struct keel_ctr_import_limits {
	uint64_t max_bytes; /* file bytes; default KEEL_CTR_IMPORT_MAX_BYTES */
	uint64_t
	    max_entries; /* files, directories, links...; default KEEL_CTR_IMPORT_MAX_ENTRIES */
};

/*
 * Imports an image into the store at image_dir: an OCI image layout
 * (directory, or tar archive of one) or a `docker save` archive. Verifies
 * every digest, unpacks layers not yet in the store (refusing absolute paths,
 * "..", and links or hard links that escape the rootfs), records the image
 * and the references it carries (OCI ref.name annotations, docker RepoTags),
 * plus `ref` (may be NULL) for the first image. Writes the first image's ID.
 * `limits` may be NULL (the defaults). Blocks for as long as that takes
 * (seconds for big images) and needs root: call it from a worker thread or
 * the CLI, not an event loop. Independent of any context, so it may run
 * beside one. Returns 0 or a negative errno with a message in errmsg
 * (-ENOENT: no such file; -EINVAL: not an image, corrupt, digest mismatch,
 * or a refused layer entry; -EFBIG: over a limit). A failed import leaves
 * nothing in the store.
 */
int keel_ctr_image_import(const char *image_dir, const char *path, const char *ref,
			  const struct keel_ctr_import_limits *limits,
			  char id_out[KEEL_CTR_IMAGE_ID_SIZE], char errmsg[256]);

/*
 * Calls fn(arg, ref, id) for each reference in the store; `ref` and `id`
 * live until fn returns. Returns the number of references or -errno.
 */
int keel_ctr_image_list(const char *image_dir,
			void (*fn)(void *arg, const char *ref, const char *id), void *arg);

/* Static names for enum values ("running", "oom", ...). */
const char *keel_ctr_state_name(enum keel_ctr_state s);
const char *keel_ctr_reason_name(enum keel_ctr_reason r);

/*
 * Capability names: "CAP_NET_ADMIN" or "net_admin" -> 12. Returns the
 * number, or -EINVAL for an unknown name.
 */
int keel_ctr_cap_from_name(const char *name);

/* The capabilities a root task keeps by default (Docker's set without CAP_MKNOD). */
uint64_t keel_ctr_caps_root_default(void);

#endif
