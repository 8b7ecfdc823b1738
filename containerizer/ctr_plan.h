/* The launch plan: everything the supervisor and the task need, prepared by the caller. */
#ifndef KEEL_CTR_PLAN_H
#define KEEL_CTR_PLAN_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "containerizer.h"
#include "ctr_cgroup.h"

/* One bind mount, checked and copied from the spec. */
struct ctr_plan_mount {
	char *source;	 /* absolute host path, or relative to the sandbox */
	bool in_sandbox; /* source is relative to the sandbox */
	char *target;	 /* absolute path in the container */
	bool readonly;	 /* read-only bind */
};

/*
 * Built by the caller (plan_build in ctr_launch.c), handed to the supervisor
 * in its wire form (ctr_plan_encode/decode: the supervisor is a separate
 * program, see ctr_supervisor_main.c), and shared by the task through
 * clone(CLONE_VM): between its clone and its exec the task only reads this
 * and makes system calls. Heap-owned, freed with ctr_plan_free().
 */
struct ctr_plan {
	char id[KEEL_CTR_ID_SIZE];	 /* container ID */
	enum keel_ctr_launcher launcher; /* LINUX or POSIX, never DEFAULT */
	unsigned long ns_flags;		 /* CLONE_NEW* for the task */
	bool privileged;		 /* the caller is root: may set ids, drop bounding caps */

	/* What runs. */
	char **argv;	/* NULL-terminated */
	char **envp;	/* NULL-terminated, MESOS_SANDBOX added */
	char *path_env; /* PATH used to find argv[0] when it has no '/' */
	char *cwd;	/* absolute in the container, or NULL = the sandbox */
	char *rootfs;	/* absolute host dir, or NULL = host fs */
	char *sandbox;	/* absolute host dir */
	char *hostname; /* UTS name */

	/* Image containers: rootfs is <image_root>/merged. */
	char *image_root;   /* <work_dir>/rootfs/<id>, created by the supervisor */
	char *overlay_opts; /* overlayfs mount data (lowerdir=...,upperdir=...), or NULL */
	char **copy_layers; /* without overlayfs: layer dirs to copy, bottom first, or NULL */

	/* Who runs it. */
	bool set_user;		   /* switch ids */
	uid_t uid;		   /* target uid */
	gid_t gid;		   /* target gid */
	gid_t *groups;		   /* supplementary groups */
	size_t ngroups;		   /* entries in groups */
	struct keel_ctr_caps caps; /* final capability sets */
	unsigned cap_last;	   /* highest capability the kernel knows */
	struct sock_fprog
	    seccomp;	    /* filter (len 0 = none); the caller's borrows the context cache */
	bool seccomp_owned; /* seccomp.filter is heap-owned (a decoded plan) */

	/* Extra bind mounts (rootfs only). */
	struct ctr_plan_mount *mounts; /* array */
	size_t n_mounts;	       /* entries */

	/* Cgroups. */
	struct ctr_cg_set cg;	     /* the container's dirs */
	struct ctr_cg_limits limits; /* what to write */
	const char *cg_mode_name;    /* "none", "v1", "v2" (static) */

	uint32_t grace_ms; /* default SIGTERM->SIGKILL grace */

	/* Fds opened by the caller, inherited by the supervisor at the same numbers. */
	int meta_fd;	/* <work_dir>/containers/<id>, O_RDONLY|O_DIRECTORY */
	int lock_fd;	/* another open of meta_fd's directory, flocked for the supervisor's life */
	int notify_fd;	/* write end of the pipe the caller watches */
	int sandbox_fd; /* the sandbox dir, O_RDONLY|O_DIRECTORY */
};

/* Frees a plan and everything it owns. NULL is a no-op. */
void ctr_plan_free(struct ctr_plan *p);

/*
 * The wire form of a plan, from the caller to the supervisor program. Encode
 * returns a heap buffer in *out (free with keel_free) or -ENOMEM. Decode
 * builds a heap plan from `len` bytes, or fails with -EINVAL (malformed,
 * wrong version) or -ENOMEM; fds in the plan are taken as they are.
 */
int ctr_plan_encode(const struct ctr_plan *p, void **out, size_t *len);
int ctr_plan_decode(const void *buf, size_t len, struct ctr_plan **out);

/*
 * The supervisor's body, in the supervisor program (ctr_supervisor_main.c)
 * once it has the plan. Never returns (exits 0 after recording a status, or
 * 1 if even that failed).
 */
_Noreturn void ctr_supervisor_main(struct ctr_plan *p);

/*
 * The task body, called in the child of the supervisor's clone(). Dies with
 * the supervisor from its first instruction on. Joins the cgroups, sets up the filesystem (linux
 * launcher), drops privileges and execs. On failure writes one line to err_fd and exits 127.
 */
_Noreturn void ctr_task_main(const struct ctr_plan *p, const int procs_fd[CTR_CG_NCTRL],
			     int stdout_fd, int stderr_fd, int err_fd);

/* Linux launcher filesystem setup inside the task's mount namespace. */
int ctr_fs_setup(const struct ctr_plan *p, char *errmsg);

/* Switches user, sets capabilities, no_new_privs and seccomp (task side, no heap). */
int ctr_privs_apply(const struct ctr_plan *p, char *errmsg);

#endif
