/* Shared set-up for agent tests: a loop, a fake master and an in-process agent on a temp dir. */
#ifndef KEEL_TESTS_AGENT_FIXTURE_H
#define KEEL_TESTS_AGENT_FIXTURE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "runtime/http_client.h"
#include "fake_master.h"
#include "harness.h"

/* One test's world. */
struct fx {
	struct keel_loop *loop;	      /* the loop everything runs on */
	struct fake_master *fm;	      /* the master */
	struct keel_agent *agent;     /* the agent, or NULL while stopped */
	struct keel_agent_config cfg; /* how the agent is started */
	char work_dir[512];	      /* its work dir (removed at the end) */
	char master[64];	      /* "127.0.0.1:<fake master port>" */
};

/* Creates the loop, the master (epoch 1) and the work dir; the agent is not started. */
static inline void fx_init(struct fx *f)
{
	const char *tmp = getenv("KEEL_TEST_TMP");
	char errmsg[KEEL_ERRMSG_SIZE];

	memset(f, 0, sizeof(*f));
	snprintf(f->work_dir, sizeof(f->work_dir), "%s/agent-test-XXXXXX", tmp ? tmp : "/tmp");
	ASSERT_NOT_NULL(mkdtemp(f->work_dir));
	ASSERT_OK(keel_loop_new(&f->loop, NULL, errmsg));
	f->fm = fm_new(f->loop, 0, 1);
	snprintf(f->master, sizeof(f->master), "127.0.0.1:%u", f->fm->port);
	f->cfg.master = f->master;
	f->cfg.work_dir = f->work_dir;
	f->cfg.resources = "cpus:2;mem:1024;ports:[31000-31010]";
	f->cfg.port = 0;
	f->cfg.launcher = KEEL_AGENT_LAUNCHER_POSIX;
	f->cfg.update_backoff_ms = 100;
	f->cfg.update_backoff_max_ms = 400;
	f->cfg.register_backoff_ms = 10;
	f->cfg.boot_id = "boot-1";
}

static inline void fx_start(struct fx *f)
{
	char errmsg[KEEL_ERRMSG_SIZE];
	int rv = keel_agent_new(f->loop, &f->cfg, &f->agent, errmsg);

	if (rv < 0)
		fprintf(stderr, "agent: %s\n", errmsg);
	ASSERT_OK(rv);
}

static inline void fx_stop_agent(struct fx *f)
{
	keel_agent_free(f->agent);
	f->agent = NULL;
}

static inline void fx_free(struct fx *f)
{
	char cmd[600];

	fx_stop_agent(f);
	fm_free(f->fm);
	/* Let the closes settle before the loop goes. */
	for (int i = 0; i < 5; i++)
		keel_loop_run_once(f->loop, 1);
	keel_loop_free(f->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->work_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->work_dir);
}

static inline bool fx_registered(void *arg)
{
	struct fx *f = arg;

	return f->agent && keel_agent_epoch(f->agent) == f->fm->epoch && f->fm->agent;
}

static inline bool fx_answered(void *arg)
{
	struct fx *f = arg;

	return f->fm->last_status != 0;
}

#endif
