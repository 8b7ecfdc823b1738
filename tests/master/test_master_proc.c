/* The keel-master process: flag errors, /health and /redirect, SIGTERM, restart on the same
 * work_dir with the registry intact. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "loop_util.h"
#include "master_fixture.h"
#include "runtime/pbjson.h"

/* A keel-master child with its stderr in a file. */
struct proc {
	pid_t pid;     /* the child, 0 once reaped */
	char log[600]; /* its stderr */
	uint16_t port; /* its port, once it said */
};

static const char *master_bin(void)
{
	const char *b = getenv("KEEL_MASTER");

	if (b == NULL)
		TH_SKIP("KEEL_MASTER not set (run through meson test)");
	return b;
}

/* Starts keel-master with args (NULL-terminated), stderr (and stdout) to log. */
static void proc_start(struct proc *p, const char *log, const char *const *args)
{
	char *argv[32];
	int n = 0;

	memset(p, 0, sizeof(*p));
	snprintf(p->log, sizeof(p->log), "%s", log);
	argv[n++] = (char *)master_bin();
	for (; *args != NULL && n < 31; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	p->pid = fork();
	ASSERT_INT_GE(p->pid, 0);
	if (p->pid == 0) {
		/* A failed assertion leaves the case early: the child must not outlive the test. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
}

/* Waits for the child's exit; returns its status as the shell reports it. */
static int proc_wait(struct proc *p)
{
	int st = 0;

	ASSERT_INT_EQ(waitpid(p->pid, &st, 0), p->pid);
	p->pid = 0;
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

static void proc_kill(struct proc *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		proc_wait(p);
	}
}

static char *read_file(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* The port from the "listening on 127.0.0.1:<port>" line, or 0. */
static bool proc_port(struct proc *p)
{
	const char *s = strstr(read_file(p->log), "listening on 127.0.0.1:");

	if (s != NULL)
		p->port = (uint16_t)strtoul(s + strlen("listening on 127.0.0.1:"), NULL, 10);
	return p->port != 0;
}

/* Runs keel-master with args to its exit; returns the status, the output in *out. */
static int run_to_exit(struct fx *f, const char *const *args, char **out)
{
	struct proc p;
	char log[600];
	int st;

	snprintf(log, sizeof(log), "%s/flags.log", f->tmp);
	unlink(log);
	proc_start(&p, log, args);
	st = proc_wait(&p);
	*out = read_file(log);
	return st;
}

TEST(flag_errors_exit_1_naming_the_flag)
{
	struct fx f;
	char *out;

	fx_init(&f);
	{
		const char *a[] = {"--port=70000", "--registry=in_memory", NULL};
		ASSERT_INT_EQ(run_to_exit(&f, a, &out), 1);
		ASSERT_STR_CONTAINS(out, "--port");
	}
	{
		const char *a[] = {"--port=0", NULL};
		ASSERT_INT_EQ(run_to_exit(&f, a, &out), 1);
		ASSERT_STR_CONTAINS(out, "--work_dir");
	}
	{
		const char *a[] = {"--registry=in_memory", "--zk=zk://127.0.0.1:1/k",
				   "--coord=zk://127.0.0.1:1/k", "--quorum=1", NULL};
		ASSERT_INT_EQ(run_to_exit(&f, a, &out), 1);
		ASSERT_STR_CONTAINS(out, "--zk and --coord");
	}
	{
		const char *a[] = {"--help", NULL};
		ASSERT_INT_EQ(run_to_exit(&f, a, &out), 0);
		ASSERT_STR_CONTAINS(out, "--agent_reregister_timeout");
	}
	fx_fini(&f);
}

/* Serves /health, leads (its /redirect points at itself), stops on SIGTERM with 0, and after
 * a restart on the same work_dir still has the agent it admitted. */
TEST(serve_stop_restart_keeps_the_registry)
{
	struct fx f;
	struct proc p;
	struct fx_resp r;
	Keel__Agent__AgentRegistered *ok;
	char work[600], flag_work[700], log[600], loc[128], *id;
	const char *args[] = {"--ip=127.0.0.1",
			      "--port=0",
			      flag_work,
			      "--registry=replicated_log",
			      "--agent_ping_timeout=200ms",
			      "--zk_session_timeout=2secs",
			      NULL};

	fx_init(&f);
	snprintf(work, sizeof(work), "%s/work", f.tmp);
	snprintf(flag_work, sizeof(flag_work), "--work_dir=%s", work);
	snprintf(log, sizeof(log), "%s/master.log", f.tmp);

	proc_start(&p, log, args);
	ASSERT_TRUE(RUN_UNTIL(f.loop, proc_port(&p), 10000));
	fx_post(&f, p.port, "GET", "/health", NULL, 0, &r);
	ASSERT_INT_EQ(r.status, 200);
	/* /redirect answers 307 to itself once it leads (503 before). */
	snprintf(loc, sizeof(loc), "//127.0.0.1:%u", p.port);
	ASSERT_TRUE(RUN_UNTIL(
	    f.loop, (fx_post(&f, p.port, "GET", "/redirect", NULL, 0, &r), r.status == 307),
	    10000));
	ASSERT_STR_EQ(r.location, loc);

	fx_register(&f, p.port, "proc-agent", &r);
	ok = fx_registered(&r);
	id = strdup(ok->agent_id->value);
	keel_pbjson_free(&ok->base);
	ASSERT_TRUE(RUN_UNTIL(f.loop, f.pings > 0, 5000)); /* the leader pings it */

	ASSERT_OK(kill(p.pid, SIGTERM));
	ASSERT_INT_EQ(proc_wait(&p), 0);
	ASSERT_STR_CONTAINS(read_file(log), "stopping");

	/* Restart on the same work_dir: the agent is still admitted. */
	unlink(log);
	proc_start(&p, log, args);
	ASSERT_TRUE(RUN_UNTIL(f.loop, proc_port(&p), 10000));
	ASSERT_TRUE(RUN_UNTIL(
	    f.loop, (fx_reregister(&f, p.port, id, "proc-agent", &r), r.status != 503), 10000));
	ok = fx_registered(&r);
	ASSERT_STR_EQ(ok->agent_id->value, id);
	keel_pbjson_free(&ok->base);

	/* An agent the registry never had: 410. */
	fx_reregister(&f, p.port, "unknown-agent", "other", &r);
	ASSERT_INT_EQ(r.status, 410);

	ASSERT_OK(kill(p.pid, SIGINT));
	ASSERT_INT_EQ(proc_wait(&p), 0);
	free(id);
	proc_kill(&p);
	fx_fini(&f);
}
