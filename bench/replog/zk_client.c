/* ZooKeeper peer for bench/replog: async creates on libzookeeper_mt, K in flight, p50/p99. */
#include <inttypes.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zookeeper/zookeeper.h>

/* Shared between main and the ZooKeeper completion thread, under mu. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static zhandle_t *zh;	    /* the session */
static uint64_t count;	    /* creates to make */
static uint64_t sent, done; /* progress */
static uint64_t failures;   /* failed creates */
static uint64_t *lat_ns;    /* latency per completed create */
static uint64_t *start_ns;  /* send time per create */
static char *value;	    /* payload */
static int size;	    /* payload bytes */
static bool connected;	    /* session established */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void send_one(uint64_t i);

static void on_created(int rc, const char *name, const void *data)
{
	uint64_t i = (uint64_t)(uintptr_t)data;
	(void)name;
	pthread_mutex_lock(&mu);
	if (rc == ZOK)
		lat_ns[done] = now_ns() - start_ns[i];
	else
		failures++;
	done++;
	if (sent < count)
		send_one(sent++);
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* Called with mu held. */
static void send_one(uint64_t i)
{
	start_ns[i] = now_ns();
	if (zoo_acreate(zh, "/keelbench/n-", value, size, &ZOO_OPEN_ACL_UNSAFE, ZOO_SEQUENCE,
			on_created, (const void *)(uintptr_t)i) != ZOK) {
		failures++;
		done++;
	}
}

static void watcher(zhandle_t *z, int type, int state, const char *path, void *ctx)
{
	(void)z;
	(void)path;
	(void)ctx;
	if (type == ZOO_SESSION_EVENT && state == ZOO_CONNECTED_STATE) {
		pthread_mutex_lock(&mu);
		connected = true;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	uint64_t inflight, t0, t1;

	if (argc != 5) {
		fprintf(stderr, "usage: keel-replog-zk-bench CONNSTR COUNT SIZE INFLIGHT\n");
		return 2;
	}
	count = strtoull(argv[2], NULL, 10);
	size = atoi(argv[3]);
	inflight = strtoull(argv[4], NULL, 10);
	lat_ns = calloc(count + 1, sizeof(*lat_ns));
	start_ns = calloc(count + 1, sizeof(*start_ns));
	value = malloc((size_t)size + 1);
	if (!lat_ns || !start_ns || !value || count == 0 || inflight == 0)
		return 2;
	memset(value, 'x', (size_t)size);
	zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
	zh = zookeeper_init(argv[1], watcher, 30000, NULL, NULL, 0);
	if (zh == NULL) {
		perror("zookeeper_init");
		return 1;
	}
	pthread_mutex_lock(&mu);
	while (!connected)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	int rc = zoo_create(zh, "/keelbench", "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	if (rc != ZOK && rc != ZNODEEXISTS) {
		fprintf(stderr, "create /keelbench: %s\n", zerror(rc));
		return 1;
	}
	t0 = now_ns();
	pthread_mutex_lock(&mu);
	while (sent < inflight && sent < count)
		send_one(sent++);
	while (done < count)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	t1 = now_ns();
	uint64_t ok = done - failures;
	qsort(lat_ns, ok, sizeof(*lat_ns), cmp_u64);
	double secs = (double)(t1 - t0) / 1e9;
	printf("appends=%" PRIu64 " failed=%" PRIu64 " size=%d inflight=%" PRIu64
	       " secs=%.3f appends_per_sec=%.0f p50_us=%.0f p99_us=%.0f\n",
	       ok, failures, size, inflight, secs, (double)ok / secs,
	       ok ? (double)lat_ns[ok / 2] / 1e3 : 0.0,
	       ok ? (double)lat_ns[ok * 99 / 100] / 1e3 : 0.0);
	zookeeper_close(zh);
	free(lat_ns);
	free(start_ns);
	free(value);
	return ok > 0 ? 0 : 1;
}
