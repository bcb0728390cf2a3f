/*
 * apitokend: one access-log line per HTTP request.  It names the client and
 * the token by their public ids only: never a token, a secret or a hash.
 *
 * On standard error (--foreground, where systemd's journal or a file
 * catches it) lines are buffered per worker thread and written whole,
 * PIPE_BUF bytes at most per write(2), when the buffer is full, when its
 * oldest line is ACCESS_FLUSH_MS old, or when apitokend_access_log_flush()
 * runs (apitokend's main loop calls it every ACCESS_FLUSH_MS and at
 * shutdown).  A write per request, and the stdio lock the worker threads
 * fought over for it, were the largest cost an introspection had on top of
 * libmicrohttpd itself (tests/bench).  Through syslog each line is still
 * its own message.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <apitoken/log.h>

#include "apitokend.h"

/* One write(2) is atomic on a pipe up to PIPE_BUF bytes: lines from the
 * threads and other messages never interleave mid-line. */
#define ACCESS_BUF_SIZE PIPE_BUF
#define ACCESS_LINE_MAX 512

struct access_buf {
	pthread_mutex_t mu; /* against apitokend_access_log_flush() */
	struct access_buf *prev, *next;
	struct timespec oldest; /* CLOCK_MONOTONIC_COARSE of the first line */
	size_t len;
	char data[ACCESS_BUF_SIZE];
};

static int out_fd = -1;     /* -1: every line through apitoken_log() */
static bool enabled = true; /* false below log level info */
static pthread_key_t buf_key;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;
static bool buf_key_ok;
static pthread_mutex_t list_mu = PTHREAD_MUTEX_INITIALIZER;
static struct access_buf *list;

/* Write the whole buffer; on an error the lines are dropped rather than
 * the worker blocked or the buffer grown: a log must not stop the server. */
static void
buf_write(struct access_buf *b)
{
	size_t off = 0;
	ssize_t n;

	while (off < b->len) {
		n = write(out_fd, b->data + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	b->len = 0;
}

static void
buf_unlink(struct access_buf *b)
{
	pthread_mutex_lock(&list_mu);
	if (b->prev != NULL)
		b->prev->next = b->next;
	else
		list = b->next;
	if (b->next != NULL)
		b->next->prev = b->prev;
	pthread_mutex_unlock(&list_mu);
}

/* A worker thread ends (libmicrohttpd stopping): its lines go out. */
static void
buf_destroy(void *p)
{
	struct access_buf *b = p;

	buf_unlink(b);
	pthread_mutex_lock(&b->mu);
	buf_write(b);
	pthread_mutex_unlock(&b->mu);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

static void
buf_key_init(void)
{
	buf_key_ok = pthread_key_create(&buf_key, buf_destroy) == 0;
}

static struct access_buf *
buf_get(void)
{
	struct access_buf *b;

	if (!buf_key_ok)
		return NULL;
	b = pthread_getspecific(buf_key);
	if (b != NULL)
		return b;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	if (pthread_mutex_init(&b->mu, NULL) != 0) {
		free(b);
		return NULL;
	}
	if (pthread_setspecific(buf_key, b) != 0) {
		pthread_mutex_destroy(&b->mu);
		free(b);
		return NULL;
	}
	pthread_mutex_lock(&list_mu);
	b->next = list;
	if (list != NULL)
		list->prev = b;
	list = b;
	pthread_mutex_unlock(&list_mu);
	return b;
}

void
apitokend_access_log_init(int fd, bool on)
{
	out_fd = fd;
	enabled = on;
	if (fd >= 0)
		pthread_once(&buf_once, buf_key_init);
}

void
apitokend_access_log_flush(void)
{
	struct access_buf *b;

	if (out_fd < 0)
		return;
	pthread_mutex_lock(&list_mu);
	for (b = list; b != NULL; b = b->next) {
		pthread_mutex_lock(&b->mu);
		buf_write(b);
		pthread_mutex_unlock(&b->mu);
	}
	pthread_mutex_unlock(&list_mu);
}

static long
ms_between(const struct timespec *a, const struct timespec *b)
{
	return (long)(b->tv_sec - a->tv_sec) * 1000 +
	       (b->tv_nsec - a->tv_nsec) / 1000000;
}

/* Append one line; it goes out at once when buffering is impossible. */
static void
buffered(const char *line, size_t n)
{
	struct access_buf *b = buf_get();
	struct timespec now;

	if (b == NULL) {
		(void)!write(out_fd, line, n);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	pthread_mutex_lock(&b->mu);
	if (b->len + n > sizeof(b->data))
		buf_write(b);
	if (b->len == 0)
		b->oldest = now;
	memcpy(b->data + b->len, line, n);
	b->len += n;
	if (ms_between(&b->oldest, &now) >= ACCESS_FLUSH_MS)
		buf_write(b);
	pthread_mutex_unlock(&b->mu);
}

/* Append s to line at n, cut to leave room for a newline. */
static size_t
put(char *line, size_t n, const char *s)
{
	size_t k = strnlen(s, ACCESS_LINE_MAX - 1 - n);

	memcpy(line + n, s, k);
	return n + k;
}

/*
 * Copy src, every byte outside visible ASCII (and the backslash) written
 * as \xNN: the method, the path and the client id come from outside, and
 * a raw ESC, CR or BEL would reach a terminal or forge a log line.
 */
static const char *
escape(char *dst, size_t size, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)src;
	size_t o = 0;

	for (; *p != '\0' && o + 5 < size; p++) {
		if (*p > 0x20 && *p < 0x7f && *p != '\\') {
			dst[o++] = (char)*p;
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[*p >> 4];
			dst[o++] = hex[*p & 15];
		}
	}
	dst[o] = '\0';
	return dst;
}

/* Append v in decimal, zero-padded to width digits. */
static size_t
put_uint(char *line, size_t n, uint64_t v, int width)
{
	char d[24];
	int k = 0;

	do {
		d[k++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 || k < width);
	while (k > 0 && n < ACCESS_LINE_MAX - 1)
		line[n++] = d[--k];
	return n;
}

void
apitokend_access_log(const char *method, const char *path, unsigned status,
                     double seconds, const char *client_id, const char *jti)
{
	char line[ACCESS_LINE_MAX];
	char m_esc[64], p_esc[260], c_esc[260];
	uint64_t us;
	size_t n;

	if (!enabled)
		return;
	/*
	 * Microseconds as two integers: "%.6f" goes through glibc's
	 * multi-precision float printer, a quarter of this line's cost on
	 * every request.  Same text, rounded to the microsecond.
	 */
	if (!(seconds >= 0) || seconds > 1e9)
		seconds = 0;
	us = (uint64_t)(seconds * 1e6 + 0.5);
	method = method != NULL ? escape(m_esc, sizeof(m_esc), method) : "-";
	path = path != NULL ? escape(p_esc, sizeof(p_esc), path) : "-";
	client_id = client_id != NULL && *client_id
	                ? escape(c_esc, sizeof(c_esc), client_id)
	                : "-";
	jti = jti != NULL && *jti ? jti : "-";
	if (out_fd < 0) {
		apitoken_log(APITOKEN_LOG_INFO,
		             "access: %s %s %u %" PRIu64 ".%06u"
		             "s client=%s jti=%s",
		             method, path, status, us / 1000000,
		             (unsigned)(us % 1000000), client_id, jti);
		return;
	}
	/* The stderr sink's "apitokend: " prefix, so every line looks
	 * alike.  Put together without printf: this runs per request. */
	n = 0;
	n = put(line, n, "apitokend: access: ");
	n = put(line, n, method);
	n = put(line, n, " ");
	n = put(line, n, path);
	n = put(line, n, " ");
	n = put_uint(line, n, status, 0);
	n = put(line, n, " ");
	n = put_uint(line, n, us / 1000000, 0);
	n = put(line, n, ".");
	n = put_uint(line, n, us % 1000000, 6);
	n = put(line, n, "s client=");
	n = put(line, n, client_id);
	n = put(line, n, " jti=");
	n = put(line, n, jti);
	line[n++] = '\n'; /* put() leaves room for it */
	buffered(line, n);
}
