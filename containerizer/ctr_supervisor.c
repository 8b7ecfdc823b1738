/* The per-container supervisor: starts and reaps the task, forwards kills, records status. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctr_checkpoint.h"
#include "ctr_layer.h"
#include "ctr_notify.h"
#include "ctr_path.h"
#include "ctr_plan.h"
#include "ctr_sys.h"
#include "runtime/alloc.h"
#include "runtime/err.h"
#include "runtime/failpoint.h"

/* How long the supervisor waits for a killed container's processes to leave its cgroups. */
#define SUP_CG_KILL_TIMEOUT_MS 10000

/* Stack of the task between its clone and its exec. */
#define TASK_STACK_SIZE (1 << 20)

/*
 * That stack: this file is part of the supervisor program (one per
 * container, one task each), not of the library, so a static buffer is
 * fine; its pages are only touched as the task uses them.
 */
static char task_stack[TASK_STACK_SIZE] __attribute__((aligned(64)));

/* What the task needs from the supervisor's frame (shared memory until its exec). */
struct task_args {
	struct ctr_plan *p;  /* the plan */
	const int *procs_fd; /* cgroup.procs fds to join */
	int out_fd, err_fd;  /* stdout, stderr */
	int pipe_r, pipe_w;  /* exec error pipe: ours, the task's */
};

static int task_entry(void *arg)
{
	const struct task_args *ta = arg;

	close(ta->pipe_r); /* the task has its own fd table */
	ctr_task_main(ta->p, ta->procs_fd, ta->out_fd, ta->err_fd, ta->pipe_w);
}

/* What the supervisor knows while it runs; lives on its stack. */
struct sup {
	struct ctr_plan *p;		   /* the plan (decoded from the caller's) */
	char boot_id[40];		   /* for the state file */
	pid_t task;			   /* host pid of the task, 0 before clone */
	int exec_fd;			   /* read end of the task's error pipe, -1 once EOF */
	int sig_fd;			   /* signalfd: SIGCHLD, SIGTERM */
	int timer_fd;			   /* grace timer, -1 until a kill with grace */
	int state_fd;			   /* the state log (O_APPEND), -1 until written */
	bool running;			   /* the task exec'd */
	bool exited;			   /* the task was reaped */
	int wstatus;			   /* its wait status */
	bool kill_requested;		   /* someone asked us to stop it */
	bool killed_hard;		   /* SIGKILL already sent */
	char launch_err[KEEL_ERRMSG_SIZE]; /* what the task wrote before dying, if anything */
	size_t launch_err_len;		   /* bytes in launch_err */
	int procs_fd[CTR_CG_NCTRL];	   /* cgroup.procs fds for the task to join */
	unsigned cg_owned;		   /* bit i: cgroup dir i is ours */
	bool cg_ready;			   /* every cgroup dir is ours and set up */
};

/* The first state record, when the supervisor starts; the file stays open for the next. */
static int sup_write_state(struct sup *s)
{
	char buf[CTR_CKPT_MAX];
	struct ctr_ckpt_state st;
	unsigned i;
	int n;

	memset(&st, 0, sizeof(st));
	st.id = s->p->id;
	st.supervisor_pid = getpid();
	st.task_pid = 0;
	st.boot_id = s->boot_id;
	st.launcher = s->p->launcher == KEEL_CTR_LAUNCHER_LINUX ? "linux" : "posix";
	st.cgroup_mode = s->p->cg_mode_name;
	for (i = 0; i < s->p->cg.n; i++) {
		st.cgroups[i] = s->p->cg.dir[i];
		st.cgroup_ctrls[i] = s->p->cg.ctrls[i];
	}
	st.n_cgroups = s->p->cg.n;
	st.sandbox = s->p->sandbox;
	n = ctr_ckpt_state_format(buf, sizeof(buf), &st);
	if (n < 0)
		return n;
	s->state_fd = ctr_ckpt_create(s->p->meta_fd, CTR_CKPT_STATE, buf, (size_t)n);
	return s->state_fd < 0 ? s->state_fd : 0;
}

/* The task runs: one more record in the state log (recovery reads the task's pid there). */
static void sup_record_running(struct sup *s)
{
	char rec[32];
	int n = snprintf(rec, sizeof(rec), "task_pid=%d\n", (int)s->task);

	/* Best effort: the caller hears RUNNING from the notify pipe; recovery falls back to 0. */
	if (s->state_fd >= 0 && ctr_ckpt_append(s->state_fd, rec, (size_t)n) < 0) {
		/* Nothing more to do: the status at the end is what must not be lost. */
	}
}

/*
 * True while the context that launched us still listens on the notify pipe.
 * Spare cgroup sets are only left for a context that is there to reuse or
 * remove them: once it has closed (or died), ours are removed as without a
 * pool.
 */
static bool sup_caller_listens(const struct sup *s)
{
	struct pollfd pfd = {s->p->notify_fd, POLLOUT, 0};

	return s->p->notify_fd >= 0 && poll(&pfd, 1, 0) >= 0 && !(pfd.revents & POLLERR);
}

/* Writes the final status (durably) and exits: the one way out of the supervisor. */
_Noreturn static void sup_finish(struct sup *s, enum keel_ctr_reason reason, const char *message)
{
	char buf[CTR_CKPT_MAX];
	struct ctr_ckpt_status st;
	int n, rv;

	memset(&st, 0, sizeof(st));
	st.id = s->p->id;
	st.reason = reason;
	st.exit_code = -1;
	st.message = message ? message : "";
	if (s->exited) {
		if (WIFEXITED(s->wstatus))
			st.exit_code = WEXITSTATUS(s->wstatus);
		else if (WIFSIGNALED(s->wstatus))
			st.signal = WTERMSIG(s->wstatus);
	}
	if (s->p->launcher == KEEL_CTR_LAUNCHER_POSIX && s->task > 0)
		kill(-s->task, SIGKILL); /* the task's process group (cgroups catch the rest) */
	if (s->p->cg.n > 0 && !s->cg_ready) {
		/* Set-up failed: remove what we made, never a cgroup someone else uses. */
		ctr_cg_remove_owned(&s->p->cg, s->cg_owned);
	} else if (s->p->cg.n > 0) {
		/* Whatever outlived the task goes now; the counters are read before removal. */
		bool empty = ctr_cg_kill(&s->p->cg, SUP_CG_KILL_TIMEOUT_MS) == 0;

		ctr_cg_usage(&s->p->cg, &st.usage, &st.limits_hit);
		st.usage.mem_bytes = 0;
		st.usage.pids = 0;
		if (reason == KEEL_CTR_REASON_SIGNALED && st.usage.oom_kills > 0 &&
		    st.signal == SIGKILL)
			st.reason = KEEL_CTR_REASON_OOM;
		else if (reason == KEEL_CTR_REASON_KILLED && st.usage.oom_kills > 0 &&
			 st.signal == SIGKILL && !s->killed_hard)
			st.reason = KEEL_CTR_REASON_OOM;
		if (!sup_caller_listens(s)) {
			keel_free(s->p->cg.pool_as);
			s->p->cg.pool_as = NULL;
		}
		rv = ctr_cg_release(&s->p->cg, &st.usage, empty);
		st.cgroups_left = rv < 0;
		st.cgroups_pool = rv == 1 ? s->p->cg.pool_as : NULL;
	}
	/* Reap anything that was reparented to us (we are a subreaper). */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	if (KEEL_FAILPOINT("ctr_sup_before_status") < 0)
		_exit(1);
	n = ctr_ckpt_status_format(buf, sizeof(buf), &st);
	rv = n < 0 ? n : ctr_ckpt_write(s->p->meta_fd, CTR_CKPT_STATUS, buf, (size_t)n, true);
	_exit(rv < 0 ? 1 : 0);
}

static void sup_notify_running(struct sup *s)
{
	struct ctr_notify_msg m = {CTR_NOTIFY_RUNNING, (int32_t)s->task};

	/* A closed pipe (the caller is gone) is fine: the state file says the same. */
	if (s->p->notify_fd >= 0 && write(s->p->notify_fd, &m, sizeof(m)) < 0 && errno == EPIPE) {
		close(s->p->notify_fd);
		s->p->notify_fd = -1;
	}
}

static void sup_kill_hard(struct sup *s)
{
	s->killed_hard = true;
	if (s->task > 0 && !s->exited) {
		kill(s->task, SIGKILL);
		if (s->p->launcher == KEEL_CTR_LAUNCHER_POSIX)
			kill(-s->task, SIGKILL);
	}
	if (s->p->cg.n > 0 && s->cg_ready)
		ctr_cg_kill(&s->p->cg, 0);
}

static void sup_on_term(struct sup *s, const struct signalfd_siginfo *si)
{
	uint32_t grace = s->p->grace_ms;
	struct itimerspec its;

	if (si->ssi_code == SI_QUEUE)
		grace = (uint32_t)si->ssi_int;
	s->kill_requested = true;
	if (s->exited || s->killed_hard)
		return;
	if (grace == 0 || !s->running) {
		sup_kill_hard(s);
		return;
	}
	kill(s->task, SIGTERM);
	if (s->p->launcher == KEEL_CTR_LAUNCHER_POSIX)
		kill(-s->task, SIGTERM);
	if (s->timer_fd < 0)
		s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (s->timer_fd < 0) {
		sup_kill_hard(s);
		return;
	}
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = grace / 1000;
	its.it_value.tv_nsec = (long)(grace % 1000) * 1000000L;
	/* A second, shorter request shortens the wait; a longer one never extends it. */
	struct itimerspec cur;
	if (timerfd_gettime(s->timer_fd, &cur) == 0 &&
	    (cur.it_value.tv_sec != 0 || cur.it_value.tv_nsec != 0) &&
	    (cur.it_value.tv_sec < its.it_value.tv_sec ||
	     (cur.it_value.tv_sec == its.it_value.tv_sec &&
	      cur.it_value.tv_nsec <= its.it_value.tv_nsec)))
		return;
	timerfd_settime(s->timer_fd, 0, &its, NULL);
}

/* Reads every pending signal; SIGTERM is a kill request (SIGCHLD is handled by sup_reap). */
static void sup_drain_signals(struct sup *s)
{
	struct signalfd_siginfo si;

	while (read(s->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGTERM)
			sup_on_term(s, &si);
	}
}

static void sup_reap(struct sup *s)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid == s->task) {
			s->exited = true;
			s->wstatus = st;
		}
	}
}

static void sup_read_exec_pipe(struct sup *s)
{
	for (;;) {
		ssize_t n = read(s->exec_fd, s->launch_err + s->launch_err_len,
				 sizeof(s->launch_err) - 1 - s->launch_err_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n > 0) {
			s->launch_err_len += (size_t)n;
			s->launch_err[s->launch_err_len] = '\0';
			if (s->launch_err_len + 1 < sizeof(s->launch_err))
				continue;
		}
		/* EOF (or a full buffer): the task exec'd, or failed with the message we have. */
		close(s->exec_fd);
		s->exec_fd = -1;
		if (s->launch_err_len == 0) {
			s->running = true;
			sup_record_running(s);
			sup_notify_running(s);
		}
		return;
	}
}

static enum keel_ctr_reason sup_reason(const struct sup *s)
{
	if (s->launch_err_len > 0)
		return KEEL_CTR_REASON_LAUNCH_FAILED;
	if (s->kill_requested)
		return KEEL_CTR_REASON_KILLED;
	if (WIFSIGNALED(s->wstatus))
		return KEEL_CTR_REASON_SIGNALED;
	return KEEL_CTR_REASON_EXITED;
}

static int sup_open_output(const struct ctr_plan *p, const char *name)
{
	int fd = openat(p->sandbox_fd, name,
			O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);

	if (fd >= 0 && p->set_user && fchown(fd, p->uid, p->gid) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The rootfs of an image container: upper and work dirs for the overlayfs the
 * task mounts on "merged", or, without overlayfs, a copy of the layers there.
 */
static int sup_prepare_image_root(const struct ctr_plan *p, char *msg)
{
	static const struct {
		const char *name; /* under image_root */
		mode_t mode;	  /* permissions */
	} dirs[] = {{"upper", 0755}, {"work", 0700}, {"merged", 0755}};
	int rootfd, rv = 0;
	size_t i;

	/* A leftover of a crashed container with the same ID must not leak its files in. */
	if (mkdir(p->image_root, 0700) < 0) {
		if (errno != EEXIST)
			return keel_errno_f(msg, -errno, "mkdir %s", p->image_root);
		rv = ctr_remove_tree_at(AT_FDCWD, p->image_root);
		if (rv < 0 || mkdir(p->image_root, 0700) < 0)
			return keel_errno_f(msg, rv < 0 ? rv : -errno, "replace stale %s",
					    p->image_root);
	}
	rootfd = open(p->image_root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0)
		return keel_errno_f(msg, -errno, "open %s", p->image_root);
	for (i = 0; i < KEEL_ARRAY_SIZE(dirs); i++) {
		if (mkdirat(rootfd, dirs[i].name, dirs[i].mode) < 0 && errno != EEXIST) {
			rv = keel_errno_f(msg, -errno, "mkdir %s/%s", p->image_root, dirs[i].name);
			break;
		}
	}
	if (rv == 0 && p->copy_layers != NULL) {
		size_t n = 0;
		int mfd = openat(rootfd, "merged", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		while (p->copy_layers[n] != NULL)
			n++;
		rv = mfd < 0 ? keel_errno_f(msg, -errno, "open merged")
			     : ctr_layers_copy((const char *const *)p->copy_layers, n, mfd, msg);
		if (mfd >= 0)
			close(mfd);
	}
	close(rootfd);
	return rv;
}

_Noreturn void ctr_supervisor_main(struct ctr_plan *p)
{
	struct sup s;
	char msg[KEEL_ERRMSG_SIZE] = "";
	int keep[4] = {p->meta_fd, p->lock_fd, p->notify_fd, p->sandbox_fd};
	int pipefd[2], out_fd, err_fd, nullfd, rv;
	sigset_t mask;

	memset(&s, 0, sizeof(s));
	s.p = p;
	s.exec_fd = -1;
	s.timer_fd = -1;
	s.state_fd = -1;
	/* Detach from the caller: own session, no inherited fds, stdio on /dev/null. */
	setsid();
	ctr_close_fds_except(keep, KEEL_ARRAY_SIZE(keep));
	nullfd = open("/dev/null", O_RDWR);
	if (nullfd >= 0) {
		dup2(nullfd, 0);
		dup2(nullfd, 1);
		dup2(nullfd, 2);
		if (nullfd > 2)
			close(nullfd);
	}
	prctl(PR_SET_NAME, "keel-supervisor", 0, 0, 0);
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	/* The caller's handlers are not ours, and what it ignores the task must not inherit. */
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	/*
	 * We start with every signal blocked (ctr_spawn.c), so a SIGTERM sent since
	 * the launch is pending, not lost: keep SIGTERM and SIGCHLD blocked for the
	 * signalfd, unblock the rest.
	 */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	s.sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	ctr_boot_id(s.boot_id);
	if (s.sig_fd < 0)
		sup_finish(&s, KEEL_CTR_REASON_LAUNCH_FAILED, "supervisor: signalfd failed");
	rv = sup_write_state(&s);
	if (rv < 0) {
		keel_errno_f(msg, rv, "supervisor: write the state checkpoint");
		sup_finish(&s, KEEL_CTR_REASON_LAUNCH_FAILED, msg);
	}
	if (KEEL_FAILPOINT("ctr_sup_start") < 0)
		sup_finish(&s, KEEL_CTR_REASON_LAUNCH_FAILED, "failpoint ctr_sup_start");
	rv = ctr_cg_create(&p->cg, &p->limits, s.procs_fd, &s.cg_owned, msg);
	s.cg_ready = rv == 0;
	if (rv < 0) {
		keel_errwrap(msg, rv, "cgroups");
		sup_finish(&s, KEEL_CTR_REASON_LAUNCH_FAILED, msg);
	}
	if (p->image_root != NULL) {
		rv = sup_prepare_image_root(p, msg);
		if (rv < 0)
			sup_finish(&s, KEEL_CTR_REASON_LAUNCH_FAILED, msg);
	}
	out_fd = sup_open_output(p, "stdout");
	err_fd = sup_open_output(p, "stderr");
	if (out_fd < 0 || err_fd < 0) {
		keel_errno_f(msg, -errno, "open stdout/stderr in the sandbox");
		sup_finish(&s, KEEL_CTR_REASON_LAUNCH_FAILED, msg);
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		keel_errno_f(msg, -errno, "pipe");
		sup_finish(&s, KEEL_CTR_REASON_LAUNCH_FAILED, msg);
	}
	/*
	 * A kill that came during the set-up above (cgroups, an image copy) stops
	 * the container here: its program never starts.
	 */
	if (KEEL_FAILPOINT("ctr_sup_kill_before_task") < 0)
		raise(SIGTERM); /* test hook: a kill arrives now */
	sup_drain_signals(&s);
	if (s.kill_requested)
		sup_finish(&s, KEEL_CTR_REASON_KILLED, "killed before the task started");
	/*
	 * The task shares our memory until its exec (no page tables copied); we
	 * sleep meanwhile, so a kill that arrives during the task's own set-up (a
	 * few system calls, no waits) is read right after its exec and handled
	 * as a kill of the running program (SIGTERM, then SIGKILL after grace).
	 */
	struct task_args ta = {p, s.procs_fd, out_fd, err_fd, pipefd[0], pipefd[1]};
	s.task = ctr_clone_vfork(p->ns_flags, task_entry, &ta, task_stack, TASK_STACK_SIZE);
	if (s.task < 0) {
		keel_errno_f(msg, -errno, "clone the task");
		sup_finish(&s, KEEL_CTR_REASON_LAUNCH_FAILED, msg);
	}
	close(pipefd[1]);
	close(out_fd);
	close(err_fd);
	for (unsigned i = 0; i < p->cg.n; i++)
		close(s.procs_fd[i]); /* only the task joins */
	s.exec_fd = pipefd[0];
	fcntl(s.exec_fd, F_SETFL, O_NONBLOCK);

	while (!s.exited) {
		struct pollfd pfd[3] = {
		    {s.sig_fd, POLLIN, 0}, {s.exec_fd, POLLIN, 0}, {s.timer_fd, POLLIN, 0}};

		if (poll(pfd, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			sup_kill_hard(&s);
		}
		/*
		 * The exec record first: clone(CLONE_VFORK) returned only after the
		 * task's exec, so a kill read now came after the program started (or
		 * raced with it) and gets its grace like any other.
		 */
		if (pfd[1].revents != 0)
			sup_read_exec_pipe(&s);
		if (pfd[0].revents != 0) {
			sup_drain_signals(&s);
			sup_reap(&s);
		}
		if (pfd[2].revents != 0) {
			uint64_t ticks;
			if (read(s.timer_fd, &ticks, sizeof(ticks)) > 0 && !s.exited)
				sup_kill_hard(&s);
		}
	}
	/* The task is gone; collect any message it wrote before dying. */
	if (s.exec_fd >= 0) {
		fcntl(s.exec_fd, F_SETFL, 0);
		sup_read_exec_pipe(&s);
	}
	if (s.launch_err_len > 0)
		sup_finish(&s, KEEL_CTR_REASON_LAUNCH_FAILED, s.launch_err);
	sup_finish(&s, sup_reason(&s), NULL);
}
