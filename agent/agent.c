/* keel-agent's lifecycle: create (store, containerizer, server, detector), shut down, free. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent_int.h"
#include "runtime/alloc.h"
#include "runtime/log.h"
#include "runtime/pbjson.h"

/* Reads the host's boot id (changes at every boot). */
static void agent_read_boot_id(char *out, size_t size)
{
	char buf[64] = "";
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	snprintf(out, size, "%s", buf[0] ? buf : "unknown");
}

/* Reads the agent ID checkpoint (absent: a new agent). */
static int agent_load_id(struct agent *a, char *errmsg)
{
	struct keel_buf b = KEEL_BUF_INIT;
	int rv = agent_store_get(a->store, "agent/id", &b, errmsg);

	if (rv == -ENOENT)
		return 0;
	if (rv == 0 && keel_buf_putc(&b, '\0') == 0 && !(a->agent_id = keel_strdup(b.data)))
		rv = -ENOMEM;
	keel_buf_free(&b);
	return rv;
}

int keel_agent_new(struct keel_loop *loop, const struct keel_agent_config *cfg,
		   struct keel_agent **out, char *errmsg)
{
	struct agent *a;
	char path[4096];
	const char *ip = cfg->ip ? cfg->ip : "127.0.0.1";
	int rv;

	*out = NULL;
	if (!cfg->master || !*cfg->master)
		return keel_errf(errmsg, -EINVAL, "--master is required");
	if (!cfg->work_dir || !*cfg->work_dir)
		return keel_errf(errmsg, -EINVAL, "--work_dir is required");
	if (!(a = keel_calloc(1, sizeof(*a))))
		return keel_errf(errmsg, -ENOMEM, "out of memory");
	a->loop = loop;
	a->launcher = cfg->launcher;
	a->recover = cfg->recover;
	a->cgroups = cfg->cgroups;
	a->grace_ns =
	    cfg->executor_shutdown_grace_ns ? cfg->executor_shutdown_grace_ns : 5000000000LL;
	a->gc_delay_ns = cfg->gc_delay_ns ? cfg->gc_delay_ns : 7LL * 24 * 3600 * 1000000000LL;
	a->update_backoff_ms = cfg->update_backoff_ms ? cfg->update_backoff_ms : 10000;
	a->update_backoff_max_ms = cfg->update_backoff_max_ms ? cfg->update_backoff_max_ms : 600000;
	a->register_backoff_ms = cfg->register_backoff_ms ? cfg->register_backoff_ms : 100;
	a->reg_backoff_ms = a->register_backoff_ms;
	a->start_ns = keel_loop_clock_ns();
	if (cfg->boot_id)
		snprintf(a->boot_id, sizeof(a->boot_id), "%s", cfg->boot_id);
	else
		agent_read_boot_id(a->boot_id, sizeof(a->boot_id));
	if (!(a->work_dir = keel_strdup(cfg->work_dir)) || !(a->ip = keel_strdup(ip)) ||
	    (cfg->image_dir && !(a->image_dir = keel_strdup(cfg->image_dir)))) {
		rv = keel_errf(errmsg, -ENOMEM, "out of memory");
		goto fail;
	}
	if (mkdir(a->work_dir, 0755) < 0 && errno != EEXIST) {
		rv = keel_errwrap(errmsg, -errno, "--work_dir=%s", a->work_dir);
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/meta", a->work_dir);
	if ((rv = agent_store_open(path, &a->store, errmsg)) < 0 ||
	    (rv = agent_load_id(a, errmsg)) < 0)
		goto fail;
	if ((rv = keel_http_server_new(loop, ip, cfg->port, NULL, &a->server, errmsg)) < 0) {
		keel_errwrap(errmsg, rv, "listen on %s:%u", ip, cfg->port);
		goto fail;
	}
	if ((rv = agent_info_build(cfg->hostname ? cfg->hostname : ip,
				   keel_http_server_port(a->server), cfg->resources,
				   cfg->attributes, &a->info, errmsg)) < 0)
		goto fail;
	snprintf(a->key, sizeof(a->key), "agent(1)@%s:%u", ip, keel_http_server_port(a->server));
	if ((rv = agent_routes_add(a)) < 0 || (rv = agent_http_add(a)) < 0) {
		keel_errf(errmsg, rv, "cannot add routes");
		goto fail;
	}
	if ((rv = agent_gc_open(a, errmsg)) < 0 || (rv = agent_tasks_open(a, errmsg)) < 0)
		goto fail;
	if ((rv = agent_master_start(a, cfg->master, errmsg)) < 0)
		goto fail;
	KEEL_INFO("agent", "listening on %s:%u, work dir %s%s%s", ip,
		  keel_http_server_port(a->server), a->work_dir, a->agent_id ? ", agent ID " : "",
		  a->agent_id ? a->agent_id : "");
	*out = (struct keel_agent *)a;
	return 0;
fail:
	keel_agent_free((struct keel_agent *)a);
	return rv;
}

void keel_agent_free(struct keel_agent *ka)
{
	struct agent *a = (struct agent *)ka;

	if (!a)
		return;
	if (a->reg_timer)
		agent_master_stop(a);
	else
		coord_close(a->coord, 0);
	agent_gc_close(a);
	agent_tasks_close(a);
	keel_http_server_free(a->server);
	agent_store_close(a->store);
	if (a->info)
		keel_pbjson_free(&a->info->base);
	keel_free(a->agent_id);
	keel_free(a->work_dir);
	keel_free(a->image_dir);
	keel_free(a->ip);
	keel_free(a);
}

uint16_t keel_agent_port(const struct keel_agent *ka)
{
	return keel_http_server_port(((const struct agent *)ka)->server);
}

const char *keel_agent_id(const struct keel_agent *ka)
{
	return ((const struct agent *)ka)->agent_id;
}

uint64_t keel_agent_epoch(const struct keel_agent *ka)
{
	return ((const struct agent *)ka)->epoch;
}

bool keel_agent_done(const struct keel_agent *ka)
{
	return ((const struct agent *)ka)->done;
}

void keel_agent_on_done(struct keel_agent *ka, void (*cb)(void *arg), void *arg)
{
	struct agent *a = (struct agent *)ka;

	a->on_done = cb;
	a->on_done_arg = arg;
}

void agent_shutdown(struct agent *a, const char *why)
{
	if (a->done)
		return;
	KEEL_WARN("agent", "shutting down: %s", why);
	a->done = true;
	agent_tasks_kill_all(a);
	/* A later start registers anew. */
	agent_store_del(a->store, "agent/id", NULL);
	agent_store_commit(a->store, NULL);
	if (a->on_done)
		a->on_done(a->on_done_arg);
}
