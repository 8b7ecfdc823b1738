/* Integration helper: a loopback TCP proxy on its own thread that can black-hole its clients (a
 * partition that leaves connections open, as a cut network does). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "it.h"

#define PX_MAX 64

/* One proxied connection. */
struct px_conn {
	int a, b; /* client side, server side; -1 when unused */
};

/* The proxy. */
struct it_proxy {
	int lfd;		      /* listening socket */
	uint16_t port;		      /* its port */
	uint16_t to;		      /* target port on 127.0.0.1 */
	int wake[2];		      /* pipe to wake the thread */
	atomic_bool hole;	      /* black-holing */
	atomic_bool stop;	      /* thread should end */
	pthread_t th;		      /* the thread */
	struct px_conn conns[PX_MAX]; /* connections */
};

static int px_connect(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void px_close(struct px_conn *c)
{
	if (c->a >= 0)
		close(c->a);
	if (c->b >= 0)
		close(c->b);
	c->a = c->b = -1;
}

/* Moves what is readable from `from` to `to`; false when the connection should end. */
static bool px_pump(int from, int to)
{
	char buf[65536];
	ssize_t n = read(from, buf, sizeof(buf));
	ssize_t off = 0;

	if (n <= 0)
		return n < 0 && (errno == EAGAIN || errno == EINTR);
	while (off < n) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		off += w;
	}
	return true;
}

static void *px_main(void *arg)
{
	struct it_proxy *p = arg;
	struct pollfd fds[2 + 2 * PX_MAX];
	int map[2 + 2 * PX_MAX];
	int i;

	while (!atomic_load(&p->stop)) {
		bool hole = atomic_load(&p->hole);
		int n = 0;
		fds[n].fd = p->wake[0];
		fds[n].events = POLLIN;
		map[n++] = -1;
		fds[n].fd = p->lfd;
		fds[n].events = POLLIN;
		map[n++] = -2;
		for (i = 0; i < PX_MAX && !hole; i++) {
			if (p->conns[i].a < 0)
				continue;
			fds[n].fd = p->conns[i].a;
			fds[n].events = POLLIN;
			map[n++] = 2 * i;
			fds[n].fd = p->conns[i].b;
			fds[n].events = POLLIN;
			map[n++] = 2 * i + 1;
		}
		if (poll(fds, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < n; i++) {
			if (fds[i].revents == 0)
				continue;
			if (map[i] == -1) {
				char junk[64];
				(void)!read(p->wake[0], junk, sizeof(junk));
			} else if (map[i] == -2) {
				int fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
				int k;
				if (fd < 0)
					continue;
				for (k = 0; k < PX_MAX && p->conns[k].a >= 0; k++)
					;
				int up = k < PX_MAX ? px_connect(p->to) : -1;
				if (up < 0) {
					close(fd);
					continue;
				}
				p->conns[k].a = fd;
				p->conns[k].b = up;
			} else {
				struct px_conn *c = &p->conns[map[i] / 2];
				if (c->a < 0)
					continue;
				bool ok = (map[i] & 1) ? px_pump(c->b, c->a) : px_pump(c->a, c->b);
				if (!ok)
					px_close(c);
			}
		}
	}
	return NULL;
}

int it_proxy_start(uint16_t to_port, struct it_proxy **out)
{
	struct it_proxy *p = calloc(1, sizeof(*p));
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int i;

	if (p == NULL)
		return -ENOMEM;
	for (i = 0; i < PX_MAX; i++)
		p->conns[i].a = p->conns[i].b = -1;
	p->to = to_port;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(p->lfd, 64) < 0 || getsockname(p->lfd, (struct sockaddr *)&sa, &len) < 0 ||
	    pipe2(p->wake, O_CLOEXEC) < 0) {
		int rv = -errno;
		if (p->lfd >= 0)
			close(p->lfd);
		free(p);
		return rv;
	}
	p->port = ntohs(sa.sin_port);
	if (pthread_create(&p->th, NULL, px_main, p) != 0) {
		close(p->lfd);
		close(p->wake[0]);
		close(p->wake[1]);
		free(p);
		return -EAGAIN;
	}
	*out = p;
	return 0;
}

uint16_t it_proxy_port(const struct it_proxy *p)
{
	return p->port;
}

void it_proxy_blackhole(struct it_proxy *p, bool on)
{
	atomic_store(&p->hole, on);
	(void)!write(p->wake[1], "x", 1);
}

void it_proxy_stop(struct it_proxy *p)
{
	int i;

	if (p == NULL)
		return;
	atomic_store(&p->stop, true);
	(void)!write(p->wake[1], "x", 1);
	pthread_join(p->th, NULL);
	for (i = 0; i < PX_MAX; i++)
		px_close(&p->conns[i]);
	close(p->lfd);
	close(p->wake[0]);
	close(p->wake[1]);
	free(p);
}
