/* keel-master: parses the flags, runs one master on one loop, stops cleanly on SIGTERM/SIGINT. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master.h"
#include "runtime/flags.h"
#include "runtime/log.h"
#include "runtime/loop.h"

/* How long a clean stop waits for the coordination service to confirm the withdrawal. */
#define MASTER_STOP_WAIT_MS 5000

/* The daemon's one piece of global state: the wake-up the signal handler sends. */
static struct keel_async *stop_async;

static void on_signal(int signo)
{
	(void)signo;
	if (stop_async != NULL)
		keel_async_send(stop_async);
}

static void on_stop(struct keel_async *a, void *arg)
{
	(void)a;
	keel_loop_stop(arg);
}

int main(int argc, char **argv)
{
	struct master_config cfg;
	struct keel_loop *loop = NULL;
	struct master *m = NULL;
	char errmsg[KEEL_ERRMSG_SIZE];
	struct sigaction sa;
	int rv;

	rv = master_config_parse(argc, argv, &cfg, stdout, errmsg);
	if (rv == KEEL_FLAGS_HELP)
		return 0;
	if (rv < 0) {
		fprintf(stderr, "keel-master: %s\n", errmsg);
		return 1;
	}
	if (keel_loop_new(&loop, NULL, errmsg) < 0) {
		fprintf(stderr, "keel-master: %s\n", errmsg);
		master_config_free(&cfg);
		return 1;
	}
	if (keel_async_new(loop, on_stop, loop, &stop_async, errmsg) < 0 ||
	    master_new(loop, &cfg, &m, errmsg) < 0) {
		fprintf(stderr, "keel-master: %s\n", errmsg);
		master_config_free(&cfg);
		keel_loop_free(loop);
		return 1;
	}
	master_config_free(&cfg);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (master_start(m, errmsg) < 0) {
		KEEL_ERROR("master", "cannot start: %s", errmsg);
		fprintf(stderr, "keel-master: %s\n", errmsg);
		master_free(m, 0);
		keel_loop_free(loop);
		return 1;
	}
	rv = keel_loop_run(loop);
	KEEL_INFO("master", "stopping: withdrawing from the election");
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	master_free(m, MASTER_STOP_WAIT_MS);
	keel_async_close(stop_async);
	stop_async = NULL;
	keel_loop_free(loop);
	if (rv < 0) {
		fprintf(stderr, "keel-master: event loop failed: %s\n", strerror(-rv));
		return 1;
	}
	return 0;
}
