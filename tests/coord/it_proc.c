/* Integration helpers: coord-helper child processes, their output parsed into events on the test's
 * loop. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "it.h"
#include "lines.h"
#include "loop_util.h"

extern char **environ;

/* Parses one output line into an event. */
static void parse_line(struct it_proc *p, const char *line)
{
	struct it_ev ev = {0};
	unsigned long long t = 0, a = 0;
	long long b = 0;
	int used = 0, n;

	if (sscanf(line, "%llu %15s %n", &t, ev.kind, &used) < 2)
		return;
	ev.t = t;
	line += used;
	if (strcmp(ev.kind, "lost") == 0 || strcmp(ev.kind, "leader") == 0 ||
	    strcmp(ev.kind, "status") == 0 || strcmp(ev.kind, "leading") == 0) {
		if (sscanf(line, "%llu %lld %n", &a, &b, &n) >= 2)
			line += n;
	} else if (strcmp(ev.kind, "elected") == 0 || strcmp(ev.kind, "ready") == 0) {
		if (sscanf(line, "%llu %n", &a, &n) >= 1)
			line += n;
	} else if (strcmp(ev.kind, "none") == 0) {
		if (sscanf(line, "%lld %n", &b, &n) >= 1)
			line += n;
	} else if (strcmp(ev.kind, "members") == 0) {
		if (sscanf(line, "%lld %llu %n", &b, &a, &n) >= 2)
			line += n;
	}
	ev.a = a;
	ev.b = b;
	ev.text = strdup(line);
	if (ev.text == NULL)
		return;
	if (p->nevs == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct it_ev *ne = realloc(p->evs, cap * sizeof(*ne));
		if (ne == NULL) {
			free(ev.text);
			return;
		}
		p->evs = ne;
		p->cap = cap;
	}
	p->evs[p->nevs++] = ev;
}

static void on_line(void *arg, char *line)
{
	parse_line(arg, line);
}

static void on_out(struct keel_poll *poll, int revents, void *arg)
{
	struct it_proc *p = arg;

	(void)revents;
	if (!lines_read(p->out, p->buf, &p->len, sizeof(p->buf), on_line, p)) {
		p->eof = true;
		keel_poll_stop(poll);
	}
}

int it_proc_start(struct keel_loop *loop, struct it_proc *p, const char *name,
		  const char *const *argv, const char *log)
{
	posix_spawn_file_actions_t fa;
	int in[2], out[2], rv;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->in = p->out = -1;
	if (pipe2(in, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return -errno;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
	if (log != NULL)
		posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, log,
						 O_WRONLY | O_CREAT | O_TRUNC, 0644);
	rv = posix_spawn(&p->pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	if (rv != 0) {
		close(in[1]);
		close(out[0]);
		p->pid = 0;
		return -rv;
	}
	p->in = in[1];
	p->out = out[0];
	fcntl(p->out, F_SETFL, O_NONBLOCK);
	rv = keel_poll_new(loop, p->out, on_out, p, &p->poll);
	if (rv == 0)
		rv = keel_poll_start(p->poll, KEEL_POLL_IN);
	return rv;
}

void it_proc_cmd(struct it_proc *p, const char *cmd)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "%s\n", cmd);

	if (p->in >= 0 && write(p->in, line, (size_t)n) != n) {
		/* It is gone; its events say so. */
	}
}

static void reap(struct it_proc *p)
{
	int st;

	if (p->pid > 0 && waitpid(p->pid, &st, 0) == p->pid)
		p->pid = 0;
}

void it_proc_kill(struct it_proc *p)
{
	if (p->pid <= 0)
		return;
	p->killed_at = keel_loop_clock_ns();
	kill(p->pid, SIGKILL);
	reap(p);
}

void it_proc_finish(struct keel_loop *loop, struct it_proc *p, unsigned timeout_ms)
{
	if (p->pid <= 0)
		return;
	it_proc_cmd(p, "close");
	if (!RUN_UNTIL(loop, p->eof, timeout_ms))
		kill(p->pid, SIGKILL);
	reap(p);
}

void it_proc_free(struct it_proc *p)
{
	size_t i;

	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		reap(p);
	}
	if (p->poll != NULL)
		keel_poll_close(p->poll);
	p->poll = NULL;
	if (p->in >= 0)
		close(p->in);
	if (p->out >= 0)
		close(p->out);
	p->in = p->out = -1;
	for (i = 0; i < p->nevs; i++)
		free(p->evs[i].text);
	free(p->evs);
	p->evs = NULL;
	p->nevs = p->cap = 0;
}

const struct it_ev *it_proc_last(const struct it_proc *p, const char *kind, size_t *idx)
{
	size_t i;

	for (i = p->nevs; i > 0; i--) {
		if (strcmp(p->evs[i - 1].kind, kind) == 0) {
			if (idx != NULL)
				*idx = i - 1;
			return &p->evs[i - 1];
		}
	}
	return NULL;
}

size_t it_proc_count(const struct it_proc *p, const char *kind)
{
	size_t i, n = 0;

	for (i = 0; i < p->nevs; i++)
		n += strcmp(p->evs[i].kind, kind) == 0;
	return n;
}

bool it_proc_leading(const struct it_proc *p, uint64_t *epoch)
{
	size_t ie = 0, il = 0, iw = 0;
	const struct it_ev *e = it_proc_last(p, "elected", &ie);
	const struct it_ev *l = it_proc_last(p, "lost", &il);
	const struct it_ev *w = it_proc_last(p, "withdrawn", &iw);

	if (e == NULL || (l != NULL && il > ie) || (w != NULL && iw > ie) || p->killed_at != 0 ||
	    p->eof)
		return false;
	if (epoch != NULL)
		*epoch = e->a;
	return true;
}
