/* bench/http server: a keel runtime HTTP server answering GET / with a fixed 200-byte body. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/flags.h"
#include "runtime/http_server.h"
#include "runtime/log.h"
#include "runtime/loop.h"

/* The body both servers send: 200 bytes. */
static char body[201];

static void on_root(struct keel_http_req *req, void *arg)
{
	(void)arg;
	keel_http_respond(req, 200, "text/plain", NULL, body, 200);
}

static struct keel_loop *the_loop;

static void on_stop(struct keel_async *a, void *arg)
{
	(void)a;
	(void)arg;
	keel_loop_stop(the_loop);
}

static struct keel_async *stop_async;

static void on_signal(int sig)
{
	(void)sig;
	keel_async_send(stop_async); /* async-signal-safe */
}

int main(int argc, char **argv)
{
	char *ip = NULL;
	int64_t port = 0;
	const struct keel_flag table[] = {
	    {"ip", KEEL_FLAG_STRING, &ip, "127.0.0.1", "Address to listen on."},
	    {"port", KEEL_FLAG_INT64, &port, "8080", "Port to listen on.", .min = "0",
	     .max = "65535"},
	};
	struct keel_flags flags;
	struct keel_http_server *srv;
	char err[KEEL_ERRMSG_SIZE];
	int rv;

	memset(body, 'k', 199);
	body[199] = '\n';
	if (keel_flags_init(&flags, table, KEEL_ARRAY_SIZE(table), "KEEL_BENCH_") < 0) {
		fprintf(stderr, "%s\n", flags.errmsg);
		return 2;
	}
	rv = keel_flags_parse(&flags, argc, argv, NULL);
	if (rv == KEEL_FLAGS_HELP)
		return 0;
	if (rv < 0) {
		fprintf(stderr, "keel-http-bench: %s\n", flags.errmsg);
		return 2;
	}
	if (keel_loop_new(&the_loop, NULL, err) < 0 ||
	    keel_async_new(the_loop, on_stop, NULL, &stop_async, err) < 0 ||
	    keel_http_server_new(the_loop, ip, (uint16_t)port, NULL, &srv, err) < 0 ||
	    keel_http_server_route(srv, KEEL_HTTP_GET, "/", on_root, NULL) < 0) {
		fprintf(stderr, "keel-http-bench: %s\n", err);
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	fprintf(stderr, "keel-http-bench: listening on %s:%u\n", ip, keel_http_server_port(srv));
	rv = keel_loop_run(the_loop);
	keel_http_server_free(srv);
	keel_async_close(stop_async);
	keel_loop_free(the_loop);
	keel_flags_free(&flags);
	return rv < 0 ? 1 : 0;
}
