/* Integration helpers: ZooKeeper/etcd through scripts/services (stopped at exit), and plain HTTP
 * POSTs to etcd. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "it.h"
#include "runtime/buf.h"

#define IT_MAX_SVC 8

/* Services to stop at exit (test-process state). */
static struct it_svc *it_started[IT_MAX_SVC];

static void it_stop_all(void)
{
	int i;

	for (i = 0; i < IT_MAX_SVC; i++)
		if (it_started[i] != NULL && it_started[i]->started)
			it_svc_run(it_started[i], "stop", 0);
}

/* Runs a shell command line; its stdout (last line kept in out) and exit status. */
static int run_capture(const char *cmdline, char *out, size_t outlen)
{
	FILE *f = popen(cmdline, "r");
	char line[2048];
	int st;

	if (out != NULL && outlen > 0)
		out[0] = '\0';
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strlen(line);
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (out != NULL && n > 0)
			snprintf(out, outlen, "%s", line);
	}
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int it_svc_start(struct it_svc *s, const char *scripts, const char *kind, const char *dir, int n)
{
	static bool registered;
	char cmd[4096];
	int i, rv;

	memset(s, 0, sizeof(*s));
	snprintf(s->script, sizeof(s->script), "%s/%s.sh", scripts,
		 strcmp(kind, "zk") == 0 ? "zookeeper" : "etcd");
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	s->n = n;
	if (!registered) {
		registered = true;
		atexit(it_stop_all);
		char pid[32];
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		setenv("KEEL_SERVICE_OWNER", pid, 1);
	}
	/* A previous run's servers and data go first. */
	snprintf(cmd, sizeof(cmd), "bash '%s' stop '%s' >/dev/null 2>&1; rm -rf '%s'", s->script,
		 s->dir, s->dir);
	run_capture(cmd, NULL, 0);
	snprintf(cmd, sizeof(cmd), "bash '%s' start '%s' %d 2>&1", s->script, s->dir, n);
	rv = run_capture(cmd, s->hosts, sizeof(s->hosts));
	if (rv != 0) {
		fprintf(stderr, "it_svc: %s failed (%d): %s\n", cmd, rv, s->hosts);
		return -1;
	}
	s->started = true;
	for (i = 0; i < IT_MAX_SVC; i++) {
		if (it_started[i] == NULL || it_started[i] == s) {
			it_started[i] = s;
			break;
		}
	}
	return 0;
}

int it_svc_run(struct it_svc *s, const char *cmd, int member)
{
	char line[4096], out[2048];
	int rv;

	if (member > 0)
		snprintf(line, sizeof(line), "bash '%s' %s '%s' %d 2>&1", s->script, cmd, s->dir,
			 member);
	else
		snprintf(line, sizeof(line), "bash '%s' %s '%s' 2>&1", s->script, cmd, s->dir);
	rv = run_capture(line, out, sizeof(out));
	if (rv != 0)
		fprintf(stderr, "it_svc: %s failed (%d): %s\n", line, rv, out);
	return rv == 0 ? 0 : -1;
}

static size_t it_sink(char *p, size_t size, size_t n, void *arg)
{
	struct keel_buf *b = arg;

	return keel_buf_append(b, p, size * n) == 0 ? size * n : 0;
}

char *it_http_post(const char *hostport, const char *path, const char *body, long *status)
{
	struct keel_buf b = KEEL_BUF_INIT;
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	CURL *e = curl_easy_init();
	char url[1024];
	CURLcode rc;

	*status = 0;
	if (e == NULL) {
		curl_slist_free_all(h);
		return NULL;
	}
	snprintf(url, sizeof(url), "http://%s%s", hostport, path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, it_sink);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(e);
	if (rc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	if (rc != CURLE_OK) {
		keel_buf_free(&b);
		return NULL;
	}
	if (keel_buf_putc(&b, '\0') < 0) {
		keel_buf_free(&b);
		return NULL;
	}
	return keel_buf_steal(&b, NULL);
}
