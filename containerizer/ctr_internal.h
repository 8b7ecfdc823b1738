/* The context and container records shared by containerizer.c, ctr_launch.c and ctr_recover.c. */
#ifndef KEEL_CTR_INTERNAL_H
#define KEEL_CTR_INTERNAL_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stdint.h>

#include "containerizer.h"
#include "ctr_cgpool.h"
#include "ctr_cgroup.h"
#include "runtime/err.h"

struct ctr_container;

/* What an epoll event points at: one container's pidfd or notify pipe. */
struct ctr_watch {
	struct ctr_container *c; /* owner */
	int kind;		 /* CTR_WATCH_* */
};

#define CTR_WATCH_PIDFD 1   /* supervisor exit */
#define CTR_WATCH_NOTIFY 2  /* RUNNING records */
#define CTR_WATCH_INOTIFY 3 /* state checkpoints of recovered, still starting containers */

/* One container the context knows. */
struct ctr_container {
	struct ctr_container *next;	   /* list in launch/recover order */
	char id[KEEL_CTR_ID_SIZE];	   /* container ID */
	char *meta_dir;			   /* <work_dir>/containers/<id> */
	char *sandbox;			   /* host sandbox dir */
	struct ctr_cg_set cg;		   /* its cgroup dirs (for usage, destroy) */
	struct keel_ctr_status status;	   /* what callers see */
	struct keel_ctr_usage final_usage; /* recorded by the supervisor at exit */
	bool cg_settled;		   /* a status says its supervisor dealt with its cgroups */
	int pidfd;			   /* supervisor pidfd, -1 once exited */
	int notify_fd;			   /* read end of the notify pipe, -1 when none */
	int state_wd;		   /* inotify watch on meta_dir while STARTING after recovery */
	pid_t running_pid;	   /* task pid once known to have exec'd, else 0 */
	bool our_child;		   /* started by this process: reap it */
	bool running_sent;	   /* RUNNING event delivered */
	bool exit_queued;	   /* EXITED known, event not yet delivered */
	bool exit_sent;		   /* EXITED event delivered */
	bool destroy_pending;	   /* destroy once the EXITED event is out */
	bool dead;		   /* unlinked; freed when keel_ctr_process returns */
	struct ctr_watch w_pid;	   /* epoll cookie for pidfd */
	struct ctr_watch w_notify; /* epoll cookie for notify_fd */
};

/* Compiled seccomp programs, one per capability profile. */
struct ctr_seccomp_slot {
	uint64_t key;		/* relevant capabilities */
	struct sock_fprog prog; /* heap-owned program */
};

#define CTR_SECCOMP_SLOTS 8

/* Spare checkpoint directories a context keeps for reuse (see ctr_ckpt_recycle). */
#define CTR_CKPT_SPARES 32
#define CTR_CKPT_SPARE_PREFIX ".spare-"

struct keel_ctr {
	char *work_dir;		    /* absolute work dir */
	char *containers_dir;	    /* <work_dir>/containers */
	char *sandboxes_dir;	    /* <work_dir>/sandboxes */
	char *rootfs_dir;	    /* <work_dir>/rootfs: per-container image roots */
	char *image_dir;	    /* the image store */
	bool image_copy;	    /* never overlayfs: copy layers */
	bool overlay_ok;	    /* the kernel has overlayfs */
	int containers_fd;	    /* O_DIRECTORY fd of containers_dir */
	struct ctr_cg_sys cg;	    /* detected cgroup layout */
	struct ctr_cg_pool cg_pool; /* spare cgroup sets (v1) */
	char ckpt_spare[CTR_CKPT_SPARES][KEEL_CTR_ID_SIZE + 8]; /* spare checkpoint dir names */
	size_t n_ckpt_spare;					/* entries in ckpt_spare */
	keel_ctr_event_fn on_event;				/* event callback, may be NULL */
	void *event_data;					/* its argument */
	int epfd;		    /* keel_ctr_fd(): pidfds, notify pipes, evfd */
	int evfd;		    /* eventfd: queued events to deliver */
	int infd;		    /* inotify for state checkpoints, -1 until needed */
	struct ctr_watch w_inotify; /* epoll cookie for infd */
	int sup_prog_fd;	    /* memfd of the supervisor program, -1 until the 1st launch */
	void *spawn_stack; /* stack of the vfork child that execs it (CTR_SPAWN_STACK_SIZE) */
	struct ctr_container *head;	 /* known containers */
	struct ctr_container *tail;	 /* last of the list */
	size_t count;			 /* entries in the list */
	struct ctr_container *graveyard; /* unlinked during processing, freed after */
	int in_process;			 /* depth of keel_ctr_process() */
	bool is_root;			 /* euid 0 */
	unsigned cap_last;		 /* highest capability the kernel knows */
	struct ctr_seccomp_slot seccomp[CTR_SECCOMP_SLOTS]; /* cache */
	size_t n_seccomp;				    /* slots used */
	const char *wait_id;				    /* keel_ctr_wait's container, or NULL */
	bool wait_done;					    /* its EXITED event went out */
	struct keel_ctr_status wait_status;		    /* ...with this status */
	char errmsg[KEEL_ERRMSG_SIZE];			    /* last error */
};

struct ctr_container *ctr_find(const struct keel_ctr *ctx, const char *id);

/* Allocates a container record (not linked). -ENOMEM. */
int ctr_container_new(const struct keel_ctr *ctx, const char *id, struct ctr_container **out);
void ctr_container_free(struct ctr_container *c);

/* Appends to the list and registers pidfd / notify_fd (if >= 0) with epoll. */
int ctr_container_attach(struct keel_ctr *ctx, struct ctr_container *c);

/* Makes keel_ctr_fd() readable so that pending events go out on the next keel_ctr_process(). */
void ctr_wake(struct keel_ctr *ctx);

/* Marks the EXITED status as known and wakes keel_ctr_fd() so the event goes out. */
void ctr_container_queue_exit(struct keel_ctr *ctx, struct ctr_container *c);

/*
 * For a container recovered before its task exec'd: watches its state
 * checkpoint, so RUNNING is noticed when the supervisor rewrites it.
 */
int ctr_container_watch_state(struct keel_ctr *ctx, struct ctr_container *c);

/*
 * Reads <meta_dir>/status into c->status / c->final_usage (and keeps the
 * spare cgroup set it names in the pool); -ENOENT when absent.
 */
int ctr_container_read_status(struct keel_ctr *ctx, struct ctr_container *c, char *errmsg);

/*
 * Spare checkpoint dirs: keep `name` (a dir in containers/ with the spare
 * prefix) for reuse, or remove it when there is no room; true when kept.
 * Take one (renamed to id) for a launch: 0, or -errno (then mkdir).
 */
bool ctr_ckpt_spare_keep(struct keel_ctr *ctx, const char *name);
int ctr_ckpt_spare_take(struct keel_ctr *ctx, const char *id);

/* The seccomp program for a task whose capabilities can reach `caps` (cached). */
int ctr_seccomp_get(struct keel_ctr *ctx, uint64_t caps, const struct sock_fprog **out);

#endif
