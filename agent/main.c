/* keel-agent: parses the flags, runs one agent on one loop until SIGTERM/SIGINT or a shutdown. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/agent_flags.h"
#include "runtime/loop.h"

/* The daemon's one piece of global state: the wake-up the signal handler sends. */
static struct keel_async *stop_async;

static void on_signal(int signo)
{
	(void)signo;
	if (stop_async)
		keel_async_send(stop_async);
}

static void on_stop(struct keel_async *as, void *arg)
{
	keel_loop_stop(arg);
}

static void on_done(void *arg)
{
	keel_loop_stop(arg);
}

int main(int argc, char **argv)
{
	struct keel_agent_flags f;
	struct keel_loop *loop = NULL;
	struct keel_agent *agent = NULL;
	char errmsg[KEEL_ERRMSG_SIZE];
	struct sigaction sa;
	int rv;

	rv = keel_agent_flags_parse(&f, argc, argv, stdout, errmsg);
	if (rv != 0) {
		keel_agent_flags_free(&f);
		if (rv == KEEL_FLAGS_HELP)
			return 0;
		fprintf(stderr, "keel-agent: %s\n", errmsg);
		return 1;
	}
	if (keel_loop_new(&loop, NULL, errmsg) < 0 ||
	    keel_async_new(loop, on_stop, loop, &stop_async, errmsg) < 0 ||
	    keel_agent_new(loop, &f.cfg, &agent, errmsg) < 0) {
		fprintf(stderr, "keel-agent: %s\n", errmsg);
		keel_agent_flags_free(&f);
		if (stop_async)
			keel_async_close(stop_async);
		if (loop)
			keel_loop_free(loop);
		return 1;
	}
	keel_agent_flags_free(&f);
	keel_agent_on_done(agent, on_done, loop);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	printf("keel-agent: listening on port %u\n", keel_agent_port(agent));
	fflush(stdout);
	rv = keel_loop_run(loop);
	keel_agent_free(agent);
	keel_async_close(stop_async);
	stop_async = NULL;
	keel_loop_free(loop);
	return rv < 0 ? 1 : 0;
}
