/* keel-locality against a fake master offering from 20 agents with a rack attribute. */
#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness.h"
#include "tests/loop_util.h"
#include "tests/sched/fake_master.h"

extern char **environ;

#define AGENTS 20

/* The fake cluster: round-robin offers, every launched task finishes at once. */
struct cluster {
	struct fake_master fm; /* the master */
	unsigned next;	       /* next agent to offer from */
	unsigned offers;       /* offers sent */
	unsigned launched;     /* tasks launched */
};

/* Agents 0-3 are in rack r1 (a fifth of the cluster), the others in r2..r5. */
static void offer_one(struct cluster *c)
{
	char oid[32], aid[32], rack[8];
	unsigned a = c->next++ % AGENTS;

	snprintf(oid, sizeof(oid), "o-%u", c->offers++);
	snprintf(aid, sizeof(aid), "agent-%u", a);
	snprintf(rack, sizeof(rack), "r%u", a / 4 + 1);
	fm_offer_attr(&c->fm, oid, aid, aid, "rack", rack);
}

static void on_call(struct fake_master *fm, const Mesos__V1__Scheduler__Call *call, void *arg)
{
	struct cluster *c = arg;

	if (call->type != MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT)
		return;
	for (size_t i = 0; i < call->accept->n_operations; i++) {
		const Mesos__V1__Offer__Operation__Launch *l = call->accept->operations[i]->launch;
		for (size_t t = 0; l != NULL && t < l->n_task_infos; t++) {
			c->launched++;
			fm_update(fm, l->task_infos[t]->task_id->value,
				  l->task_infos[t]->agent_id->value,
				  MESOS__V1__TASK_STATE__TASK_FINISHED, NULL);
		}
	}
}

static void tick(struct keel_timer *t, void *arg)
{
	struct cluster *c = arg;

	if (c->fm.stream != NULL)
		offer_one(c);
}

TEST(delay_scheduling_places_over_95_percent_local)
{
	const char *bin = getenv("KEEL_LOCALITY");
	struct keel_loop *loop;
	struct keel_timer *t;
	struct cluster c;
	char master[64], outf[] = "/tmp/keel-loc-XXXXXX", out[1024];
	posix_spawn_file_actions_t fa;
	unsigned without = 0, with = 0, n1 = 0, n2 = 0;
	const char *p;
	pid_t pid;
	int st = 0, fd;
	ssize_t n;

	if (bin == NULL)
		TH_SKIP("KEEL_LOCALITY not set");
	memset(&c, 0, sizeof(c));
	ASSERT_OK(keel_loop_new(&loop, NULL, NULL));
	ASSERT_OK(fm_start(&c.fm, loop));
	c.fm.on_call = on_call;
	c.fm.on_call_arg = &c;
	c.fm.heartbeat_interval = 5;
	ASSERT_OK(keel_timer_new(loop, tick, &c, &t));
	ASSERT_OK(keel_timer_start(t, 2, 2));
	snprintf(master, sizeof(master), "--master=%s", c.fm.addr);
	fd = mkstemp(outf);
	ASSERT_TRUE(fd >= 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	char *argv[] = {(char *)bin, master, "--tasks=40", "--delay=3", NULL};
	ASSERT_OK(posix_spawn(&pid, bin, &fa, NULL, argv, environ));
	posix_spawn_file_actions_destroy(&fa);
	if (!RUN_UNTIL(loop, waitpid(pid, &st, WNOHANG) == pid, 60000)) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		ASSERT_TRUE(!"keel-locality did not finish within 60 s");
	}
	n = pread(fd, out, sizeof(out) - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(outf);
	keel_timer_free(t);
	fm_stop(&c.fm);
	keel_loop_free(loop);
	printf("%s", out);
	ASSERT_TRUE(WIFEXITED(st));
	ASSERT_INT_EQ(WEXITSTATUS(st), 0);
	ASSERT_UINT_EQ(c.launched, 80);
	p = strstr(out, "without delay scheduling: ");
	ASSERT_NOT_NULL(p);
	ASSERT_INT_EQ(sscanf(p, "without delay scheduling: %u of %u", &without, &n1), 2);
	p = strstr(out, "with delay scheduling");
	ASSERT_NOT_NULL(p);
	ASSERT_INT_EQ(sscanf(strchr(p, ':'), ": %u of %u", &with, &n2), 2);
	ASSERT_UINT_EQ(n1, 40);
	ASSERT_UINT_EQ(n2, 40);
	ASSERT_UINT_GT(with * 100, 95 * 40);
	/* Round-robin offers: a fifth are local when every offer is taken. */
	ASSERT_UINT_LT(without, 20);
}
