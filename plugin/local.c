/*
 * Local back end: apitokend's UNIX socket, docs/local-socket.md.
 *
 * One connection per handle, kept open between checks (a connect costs
 * about as much as a check) and guarded by a mutex, so that a reply can
 * never be read by the wrong thread.  A connection that the daemon closed
 * (idle timeout, restart) shows up as EPIPE or EOF on the next request;
 * the request is then retried once on a fresh connection.  Every wait is
 * a poll() bounded by the one deadline of the call.
 *
 * Before trusting an answer the back end checks who listens: the server's
 * uid (SO_PEERCRED) must be the owner of the socket's folder (or root), so
 * that another local user cannot answer "active" from a socket planted
 * where a misconfigured socket= points.  A fork() while another thread
 * holds a handle's lock would leave that lock held forever in the child:
 * a pthread_atfork() handler makes every handle's lock fresh there.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "../core/spin_wait.h"
#include "validator_int.h"

struct vlocal {
	struct vlocal *prev, *next; /* every handle, for the fork handler */
	pthread_mutex_t lock;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int timeout_ms;
	int fd;
	pid_t fd_pid; /* process that made fd (see vlocal_call) */
	char buf[VLOCAL_LINE_MAX + 2];
};

static void reasonf(char *reason, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
reasonf(char *reason, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (reason == NULL || len == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(reason, len, fmt, ap);
	va_end(ap);
}

static long long
now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline, at least 0. */
static int
left_ms(long long deadline)
{
	long long d = deadline - now_ms();

	return d > 0 ? (int)d : 0;
}

/* Wait for events on fd; 1 ready, 0 timed out, -1 error. */
static int
wait_fd(int fd, short events, long long deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	int n;

	for (;;) {
		n = poll(&p, 1, left_ms(deadline));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		return n;
	}
}

/* How long to look for the reply before sleeping (core/spin_wait.c): a
 * check takes apitokend 5-25 us. */
#define REPLY_SPIN_NS 50000

/* Every handle of the process, for atfork_child(). */
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vlocal *all_head;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static int atfork_rc;

static void
atfork_prepare(void)
{
	(void)pthread_mutex_lock(&all_lock);
}

static void
atfork_parent(void)
{
	(void)pthread_mutex_unlock(&all_lock);
}

static void
atfork_child(void)
{
	struct vlocal *l;

	/*
	 * Only the forking thread lives on: a lock another thread held is
	 * held forever here.  Nothing uses the handles yet, so make each
	 * lock fresh; the inherited connection is dropped on first use
	 * (fd_pid).
	 */
	for (l = all_head; l != NULL; l = l->next)
		(void)pthread_mutex_init(&l->lock, NULL);
	(void)pthread_mutex_unlock(&all_lock);
}

static void
atfork_init(void)
{
	atfork_rc =
	    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/*
 * The server must run as the owner of the socket's folder (or as root):
 * apitokend owns its store folder, where the socket lives.
 */
static int
check_peer(int fd, const char *path, char *reason, size_t reason_len)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	struct stat st;
	char *slash;

	(void)snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		(void)snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) != 0 ||
	    stat(dir, &st) != 0) {
		reasonf(reason, reason_len, "cannot tell who listens at %s",
		        path);
		return -1;
	}
	if (cr.uid != 0 && cr.uid != st.st_uid) {
		reasonf(reason, reason_len,
		        "the server at %s runs as uid %u, not as the owner of "
		        "%s (uid %u): not apitokend",
		        path, (unsigned)cr.uid, dir, (unsigned)st.st_uid);
		return -1;
	}
	return 0;
}

static void
drop(struct vlocal *l)
{
	if (l->fd >= 0)
		(void)close(l->fd);
	l->fd = -1;
}

static int
connect_sock(struct vlocal *l, long long deadline, char *reason,
             size_t reason_len)
{
	struct sockaddr_un sa;
	int fd, e;
	socklen_t elen = sizeof(e);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		reasonf(reason, reason_len, "socket: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, l->path, strlen(l->path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (errno != EINPROGRESS) {
			reasonf(reason, reason_len, "cannot connect to %s: %s",
			        l->path, strerror(errno));
			goto fail;
		}
		if (wait_fd(fd, POLLOUT, deadline) != 1) {
			reasonf(reason, reason_len, "connect to %s timed out",
			        l->path);
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) != 0 ||
		    e != 0) {
			reasonf(reason, reason_len, "cannot connect to %s",
			        l->path);
			goto fail;
		}
	}
	if (check_peer(fd, l->path, reason, reason_len) != 0)
		goto fail;
	l->fd = fd;
	l->fd_pid = getpid();
	return 0;
fail:
	(void)close(fd);
	return -1;
}

enum { IO_OK = 0, IO_FAIL = -1, IO_CLOSED = -2 };

static int
send_all(struct vlocal *l, const char *data, size_t len, long long deadline)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		/* MSG_NOSIGNAL: a closed peer must not kill the host with
		 * SIGPIPE. */
		n = send(l->fd, data + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(l->fd, POLLOUT, deadline) != 1)
				return IO_FAIL;
			continue;
		}
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET) &&
		    off == 0)
			return IO_CLOSED;
		return IO_FAIL;
	}
	return IO_OK;
}

/* Read one line into l->buf.  *len_out excludes the '\n'. */
static int
recv_line(struct vlocal *l, size_t *len_out, long long deadline, char *reason,
          size_t reason_len)
{
	size_t len = 0;
	ssize_t n;
	char *nl;
	int w;

	/* The reply takes apitokend some microseconds: look for it a while,
	 * then sleep, rather than a recv() that nearly always finds
	 * nothing yet. */
	w = spin_wait_readable(l->fd, spin_wait_now_ns() + REPLY_SPIN_NS)
	        ? 1
	        : wait_fd(l->fd, POLLIN, deadline);
	if (w != 1) {
		reasonf(reason, reason_len,
		        w == 0 ? "apitokend did not answer in time"
		               : "poll failed");
		return IO_FAIL;
	}
	for (;;) {
		n = recv(l->fd, l->buf + len, sizeof(l->buf) - 1 - len, 0);
		if (n > 0) {
			len += (size_t)n;
			nl = memchr(l->buf, '\n', len);
			if (nl != NULL) {
				/* One request, one reply: more is a
				 * protocol error, not the next answer. */
				if ((size_t)(nl - l->buf) + 1 != len) {
					reasonf(reason, reason_len,
					        "unexpected data after reply");
					return IO_FAIL;
				}
				*nl = '\0';
				*len_out = len - 1;
				return IO_OK;
			}
			if (len >= sizeof(l->buf) - 1) {
				reasonf(reason, reason_len, "reply too long");
				return IO_FAIL;
			}
			continue;
		}
		if (n == 0) {
			if (len == 0)
				return IO_CLOSED;
			reasonf(reason, reason_len, "truncated reply");
			return IO_FAIL;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			w = wait_fd(l->fd, POLLIN, deadline);
			if (w == 1)
				continue;
			reasonf(reason, reason_len,
			        w == 0 ? "apitokend did not answer in time"
			               : "poll failed");
			return IO_FAIL;
		}
		if (errno == ECONNRESET && len == 0)
			return IO_CLOSED;
		reasonf(reason, reason_len, "recv: %s", strerror(errno));
		return IO_FAIL;
	}
}

int
vlocal_open(const struct vconf *conf, struct vlocal **out)
{
	struct vlocal *l;

	*out = NULL;
	if (pthread_once(&atfork_once, atfork_init) != 0 || atfork_rc != 0)
		return -1;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -1;
	if (pthread_mutex_init(&l->lock, NULL) != 0) {
		free(l);
		return -1;
	}
	(void)snprintf(l->path, sizeof(l->path), "%s", conf->socket);
	l->timeout_ms = conf->timeout_ms;
	l->fd = -1;
	(void)pthread_mutex_lock(&all_lock);
	l->next = all_head;
	if (all_head != NULL)
		all_head->prev = l;
	all_head = l;
	(void)pthread_mutex_unlock(&all_lock);
	*out = l;
	return 0;
}

void
vlocal_close(struct vlocal *l)
{
	if (l == NULL)
		return;
	(void)pthread_mutex_lock(&all_lock);
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		all_head = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	(void)pthread_mutex_unlock(&all_lock);
	drop(l);
	(void)pthread_mutex_destroy(&l->lock);
	free(l);
}

int
vlocal_call(struct vlocal *l, const char *request, char **reply_out,
            char *reason, size_t reason_len)
{
	long long deadline = now_ms() + l->timeout_ms;
	size_t rlen = strlen(request), len = 0;
	char *line = NULL;
	int attempt, rc = -1, io;

	*reply_out = NULL;
	if (reason != NULL && reason_len > 0)
		reason[0] = '\0';
	if (rlen + 1 > VLOCAL_LINE_MAX) {
		reasonf(reason, reason_len, "request too long");
		return -1;
	}
	line = malloc(rlen + 2);
	if (line == NULL) {
		reasonf(reason, reason_len, "out of memory");
		return -1;
	}
	memcpy(line, request, rlen);
	line[rlen] = '\n';
	line[rlen + 1] = '\0';

	(void)pthread_mutex_lock(&l->lock);
	/*
	 * A forked child (sshd, a PAM host) inherits the parent's
	 * connection; both using it would mix up their replies.  The child
	 * closes its copy, which leaves the parent's intact, and dials anew.
	 */
	if (l->fd >= 0 && l->fd_pid != getpid())
		drop(l);
	for (attempt = 0; attempt < 2; attempt++) {
		bool fresh = l->fd < 0;

		if (fresh &&
		    connect_sock(l, deadline, reason, reason_len) != 0)
			goto unlock;
		io = send_all(l, line, rlen + 1, deadline);
		if (io == IO_OK)
			io = recv_line(l, &len, deadline, reason, reason_len);
		if (io == IO_OK)
			break;
		drop(l);
		if (io == IO_CLOSED && !fresh)
			continue; /* stale kept connection: retry once */
		if (io == IO_CLOSED)
			reasonf(reason, reason_len,
			        "apitokend closed the connection");
		else if (reason != NULL && reason[0] == '\0')
			reasonf(reason, reason_len, "cannot talk to %s",
			        l->path);
		goto unlock;
	}
	if (attempt == 2) {
		reasonf(reason, reason_len, "apitokend closed the connection");
		goto unlock;
	}
	*reply_out = malloc(len + 1);
	if (*reply_out == NULL) {
		reasonf(reason, reason_len, "out of memory");
		goto unlock;
	}
	memcpy(*reply_out, l->buf, len + 1);
	rc = 0;
unlock:
	(void)pthread_mutex_unlock(&l->lock);
	OPENSSL_cleanse(line, rlen + 2);
	free(line);
	return rc;
}
