/*
 * The admin socket: apitokenctl runs its command inside apitokend while
 * the daemon owns the store.  Protocol (version 1), both directions on a
 * UNIX stream socket, one exchange per connection:
 *
 *   request: 4-byte big-endian length, then that many bytes of JSON
 *     {"v":1, "argv":["token","show","alice"], "json":false,
 *      "stdin":"..."}           stdin only for commands that read it
 *   reply:   4-byte big-endian length, then
 *     {"exit":0, "stdout":"...", "stderr":"..."}
 *
 * Every field of a request is checked before anything runs; a malformed
 * request gets a reply with exit EX_PROTOCOL and a message.  Requests are
 * capped at ADMIN_REQUEST_MAX (an import file travels in "stdin"), replies
 * at ADMIN_REPLY_MAX.  "user import FILE" sends FILE's content: the daemon
 * never opens a path on behalf of a peer.  Buffers that may hold a secret
 * (the token for "token check", the output of "token generate") are wiped.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <apitoken/error.h>

#include "admin_int.h"

#define SERVE_TIMEOUT_MS 30000 /* a peer gets this long to send */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until deadline.  0, or -1 with errno (ETIMEDOUT). */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int64_t left = deadline - now_ms();
		int n;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0)
			return 0;
		if (n == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

static int
write_all(int fd, const void *buf, size_t len, int64_t deadline)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n;

		if (wait_fd(fd, POLLOUT, deadline) < 0)
			return -1;
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* 0, or -1 with errno (0 for an early end of stream). */
static int
read_all(int fd, void *buf, size_t len, int64_t deadline)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n;

		if (wait_fd(fd, POLLIN, deadline) < 0)
			return -1;
		n = recv(fd, p, len, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = 0;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Send one frame: length, then the text. */
static int
send_frame(int fd, const char *text, size_t len, int64_t deadline)
{
	uint8_t hdr[4];

	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	if (write_all(fd, hdr, sizeof(hdr), deadline) < 0 ||
	    write_all(fd, text, len, deadline) < 0)
		return -1;
	return 0;
}

/*
 * Receive one frame of at most max bytes into a malloc'ed, NUL-terminated
 * buffer.  0; -1 with errno for I/O (0: peer closed); -2 if too large
 * (*len_out has the announced length).
 */
int
admin_recv_frame(int fd, size_t max, int64_t deadline, char **buf_out,
                 size_t *len_out)
{
	uint8_t hdr[4];
	size_t len;
	char *buf;

	*buf_out = NULL;
	*len_out = 0;
	if (read_all(fd, hdr, sizeof(hdr), deadline) < 0)
		return -1;
	len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 |
	      (size_t)hdr[2] << 8 | hdr[3];
	*len_out = len;
	if (len > max)
		return -2;
	buf = malloc(len + 1);
	if (buf == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (read_all(fd, buf, len, deadline) < 0) {
		int e = errno;

		admin_freezero(buf, len + 1);
		errno = e;
		return -1;
	}
	buf[len] = '\0';
	*buf_out = buf;
	return 0;
}

static void
json_wipe_string(cJSON *item)
{
	if (item != NULL && cJSON_IsString(item) && item->valuestring != NULL)
		OPENSSL_cleanse(item->valuestring, strlen(item->valuestring));
}

/* ---- server ------------------------------------------------------------ */

/*
 * Where a reply goes: the peer's socket (fd >= 0), or a malloc'ed text
 * (*text) for a request that came from another site (apitokend forwards
 * admin commands from a replica to the master, see regions_forward.c).
 */
struct reply_sink {
	int fd;
	char **text;
	size_t *len;
};

/* Send {"exit":code,"stdout":out,"stderr":err}; wipes its own copies. */
static int
send_reply(const struct reply_sink *sink, int code, const char *out,
           const char *err)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *so = NULL;
	char *text = NULL;
	size_t len = 0;
	int rc = APITOKEN_ERR_NOMEM;

	if (o == NULL || cJSON_AddNumberToObject(o, "exit", code) == NULL ||
	    (so = cJSON_AddStringToObject(o, "stdout", out)) == NULL ||
	    cJSON_AddStringToObject(o, "stderr", err) == NULL)
		goto out;
	text = cJSON_PrintUnformatted(o);
	if (text == NULL)
		goto out;
	len = strlen(text);
	if (len > ADMIN_REPLY_MAX) {
		admin_freezero(text, len);
		text = NULL;
		json_wipe_string(so);
		cJSON_Delete(o);
		return send_reply(sink, EX_SOFTWARE, "",
		                  ADMIN_PROG
		                  ": output too large for the admin "
		                  "socket; run the command while "
		                  "apitokend is stopped\n");
	}
	if (sink->fd < 0) {
		*sink->text = text;
		*sink->len = len;
		text = NULL;
		rc = 0;
	} else if (send_frame(sink->fd, text, len,
	                      now_ms() + SERVE_TIMEOUT_MS) < 0) {
		rc = apitoken_error(APITOKEN_ERR_IO,
		                    "admin socket: cannot "
		                    "send the reply: %s",
		                    strerror(errno));
	} else {
		rc = 0;
	}
out:
	if (text != NULL)
		admin_freezero(text, len);
	json_wipe_string(so);
	cJSON_Delete(o);
	return rc;
}

static int
refuse(const struct reply_sink *sink, const char *why)
{
	char msg[300];

	(void)snprintf(msg, sizeof(msg),
	               ADMIN_PROG ": admin socket: malformed request: %s\n",
	               why);
	(void)send_reply(sink, EX_PROTOCOL, "", msg);
	return apitoken_error(APITOKEN_ERR_INVALID,
	                      "admin socket: malformed request: %s", why);
}

int
apitoken_admin_refuse_busy(int fd, const char *why)
{
	struct reply_sink sink = {.fd = fd};
	char msg[300];

	(void)snprintf(msg, sizeof(msg),
	               ADMIN_PROG ": apitokend is busy (%s on its admin "
	                          "socket); try again later\n",
	               why);
	return send_reply(&sink, EX_TEMPFAIL, "", msg);
}

/*
 * Check a parsed request.  Fills argv (pointers into req), json and
 * stdin; returns NULL or the reason it is refused.
 */
const char *
admin_check_request(cJSON *req, char **argv, int *argc, bool *json,
                    cJSON **stdin_out)
{
	cJSON *item, *v = NULL, *av = NULL, *js = NULL, *in = NULL;

	if (!cJSON_IsObject(req))
		return "not a JSON object";
	cJSON_ArrayForEach(item, req)
	{
		cJSON **slot;

		if (item->string == NULL)
			return "member without a name";
		if (strcmp(item->string, "v") == 0)
			slot = &v;
		else if (strcmp(item->string, "argv") == 0)
			slot = &av;
		else if (strcmp(item->string, "json") == 0)
			slot = &js;
		else if (strcmp(item->string, "stdin") == 0)
			slot = &in;
		else
			return "unknown member";
		if (*slot != NULL)
			return "member given twice";
		*slot = item;
	}
	if (!cJSON_IsNumber(v) || v->valuedouble != 1.0)
		return "\"v\" must be 1";
	if (!cJSON_IsArray(av))
		return "\"argv\" must be an array of strings";
	*argc = 0;
	cJSON_ArrayForEach(item, av)
	{
		if (!cJSON_IsString(item) || item->valuestring == NULL)
			return "\"argv\" must be an array of strings";
		if (*argc >= ADMIN_ARGV_MAX)
			return "too many arguments";
		argv[(*argc)++] = item->valuestring;
	}
	if (*argc == 0)
		return "\"argv\" is empty";
	argv[*argc] = NULL;
	if (js != NULL && !cJSON_IsBool(js))
		return "\"json\" must be true or false";
	*json = js != NULL && cJSON_IsTrue(js);
	if (in != NULL && (!cJSON_IsString(in) || in->valuestring == NULL))
		return "\"stdin\" must be a string";
	*stdin_out = in;
	return NULL;
}

static apitoken_admin_forward_fn forward_fn;
static void *forward_ctx;

void
apitoken_admin_set_forward(apitoken_admin_forward_fn fn, void *ctx)
{
	forward_ctx = ctx;
	forward_fn = fn;
}

/* Commands that only read: always answered from this site's store. */
static bool
reads_only(int argc, char **argv)
{
	static const char *const reads[][2] = {
	    {"user", "show"},   {"user", "list"},   {"token", "show"},
	    {"token", "list"},  {"token", "check"}, {"client", "list"},
	    {"outbox", "list"}, {"audit", NULL},    {"help", NULL},
	    {"--help", NULL},   {"status", NULL}};
	size_t i;

	for (i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
		if (strcmp(argv[0], reads[i][0]) == 0 &&
		    (reads[i][1] == NULL ||
		     (argc >= 2 && strcmp(argv[1], reads[i][1]) == 0)))
			return true;
	return false;
}

/* Run one request (buf, len bytes of JSON) and reply to sink. */
static int
serve_request(apitoken_store_t *store, const struct reply_sink *sink,
              char *buf, size_t len, const char *origin,
              const apitoken_actor_t *actor, bool may_forward)
{
	char *argv[ADMIN_ARGV_MAX + 1];
	char *out_buf = NULL, *err_buf = NULL;
	size_t out_len = 0, err_len = 0, in_len = 0;
	apitoken_admin_io_t io = {.origin = origin, .actor = actor};
	cJSON *req = NULL, *in_item = NULL;
	const char *why;
	unsigned flags = 0;
	int argc = 0, rc, code, mode;

	req = cJSON_ParseWithLength(buf, len);
	if (req == NULL) {
		rc = refuse(sink, "not JSON");
		goto out;
	}
	why = admin_check_request(req, argv, &argc, &io.json, &in_item);
	if (why != NULL) {
		rc = refuse(sink, why);
		goto out;
	}
	if (may_forward && forward_fn != NULL && sink->fd >= 0 &&
	    !reads_only(argc, argv)) {
		char *reply = NULL;
		size_t rlen = 0;

		rc = forward_fn(forward_ctx, buf, len, origin, &reply, &rlen);
		if (rc == 0) {
			if (send_frame(sink->fd, reply, rlen,
			               now_ms() + SERVE_TIMEOUT_MS) < 0)
				rc =
				    apitoken_error(APITOKEN_ERR_IO,
				                   "admin socket: cannot send "
				                   "the reply: %s",
				                   strerror(errno));
			admin_freezero(reply, rlen);
			goto out;
		}
		if (rc < 0) {
			char msg[600];

			(void)snprintf(msg, sizeof(msg), ADMIN_PROG ": %s\n",
			               apitoken_last_error());
			rc = send_reply(sink, EX_UNAVAILABLE, "", msg);
			goto out;
		}
		/* 1: this site writes itself. */
	}
	mode = admin_cmd_input(argc, argv);
	if (mode == 3) {
		if (in_item == NULL) {
			rc = refuse(sink, "\"user import FILE\" needs the "
			                  "file's content in \"stdin\"");
			goto out;
		}
		flags |= ADMIN_RUN_IN_IS_FILE;
	}
	if (in_item != NULL) {
		in_len = strlen(in_item->valuestring);
		io.in = fmemopen(in_item->valuestring, in_len, "r");
		if (io.in == NULL) {
			rc = apitoken_error(APITOKEN_ERR_NOMEM,
			                    "out of memory");
			goto out;
		}
	}
	io.out = open_memstream(&out_buf, &out_len);
	io.err = open_memstream(&err_buf, &err_len);
	if (io.out == NULL || io.err == NULL) {
		rc = apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
		goto out;
	}
	code = admin_run_flags(store, argc, argv, &io, flags);
	fclose(io.out);
	fclose(io.err);
	io.out = io.err = NULL;
	rc = send_reply(sink, code, out_buf != NULL ? out_buf : "",
	                err_buf != NULL ? err_buf : "");
out:
	if (io.in != NULL)
		fclose(io.in);
	if (io.out != NULL)
		fclose(io.out);
	if (io.err != NULL)
		fclose(io.err);
	admin_freezero(out_buf, out_len);
	admin_freezero(err_buf, err_len);
	json_wipe_string(in_item);
	cJSON_Delete(req);
	return rc;
}

static int
serve_fd(apitoken_store_t *store, int fd, const char *origin,
         const apitoken_actor_t *actor)
{
	struct reply_sink sink = {.fd = fd};
	char *buf = NULL;
	size_t len = 0;
	int rc;

	rc = admin_recv_frame(fd, ADMIN_REQUEST_MAX,
	                      now_ms() + SERVE_TIMEOUT_MS, &buf, &len);
	if (rc == -2) {
		char msg[96];

		(void)snprintf(msg, sizeof(msg),
		               "request of %zu bytes is larger than the "
		               "limit of %u",
		               len, ADMIN_REQUEST_MAX);
		return refuse(&sink, msg);
	}
	if (rc < 0)
		return apitoken_error(
		    APITOKEN_ERR_IO, "admin socket: no request: %s",
		    errno == 0 ? "peer closed" : strerror(errno));
	rc = serve_request(store, &sink, buf, len, origin, actor, true);
	admin_freezero(buf, len);
	return rc;
}

int
apitoken_admin_serve(apitoken_store_t *store, int fd, const char *origin)
{
	return serve_fd(store, fd, origin, NULL);
}

int
apitoken_admin_serve_as(apitoken_store_t *store, int fd,
                        const apitoken_actor_t *actor)
{
	char origin[256];

	apitoken_actor_describe(actor, origin, sizeof(origin));
	return serve_fd(store, fd, origin, actor);
}

int
apitoken_admin_handle(apitoken_store_t *store, const char *request, size_t len,
                      const char *origin, char **reply_out, size_t *reply_len)
{
	struct reply_sink sink = {
	    .fd = -1, .text = reply_out, .len = reply_len};
	char *buf;
	int rc;

	*reply_out = NULL;
	*reply_len = 0;
	if (len > ADMIN_REQUEST_MAX)
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "admin request too large");
	buf = malloc(len + 1);
	if (buf == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	memcpy(buf, request, len);
	buf[len] = '\0';
	rc = serve_request(store, &sink, buf, len, origin, NULL, false);
	admin_freezero(buf, len + 1);
	if (*reply_out != NULL)
		return 0;
	return rc != 0 ? rc : APITOKEN_ERR_INTERNAL;
}

/* ---- client ------------------------------------------------------------ */

/* Read all of f (at most max bytes) into a malloc'ed buffer. */
static int
slurp(FILE *f, size_t max, char **buf_out, size_t *len_out)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap + 1);

	if (buf == NULL)
		return APITOKEN_ERR_NOMEM;
	for (;;) {
		size_t n;

		if (len == cap) {
			char *nb;

			if (cap > max) {
				admin_freezero(buf, cap + 1);
				return APITOKEN_ERR_INVALID;
			}
			nb = malloc(cap * 2 + 1);
			if (nb == NULL) {
				admin_freezero(buf, cap + 1);
				return APITOKEN_ERR_NOMEM;
			}
			memcpy(nb, buf, len);
			admin_freezero(buf, cap + 1);
			buf = nb;
			cap *= 2;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		admin_freezero(buf, cap + 1);
		return APITOKEN_ERR_IO;
	}
	if (len > max) {
		admin_freezero(buf, cap + 1);
		return APITOKEN_ERR_INVALID;
	}
	if (memchr(buf, '\0', len) != NULL) {
		/* A JSON string cannot carry it: refuse the file. */
		admin_freezero(buf, cap + 1);
		return APITOKEN_ERR_CORRUPT;
	}
	buf[len] = '\0';
	*buf_out = buf;
	*len_out = cap + 1; /* what to wipe */
	return 0;
}

static int
connect_unix(const char *path, int64_t deadline, int *fd_out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, e;
	socklen_t elen = sizeof(e);

	*fd_out = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "admin socket path %s is too long",
		                      path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return apitoken_error(APITOKEN_ERR_IO, "socket: %s",
		                      strerror(errno));
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			/* Backlog full: the daemon is busy; try again. */
			struct timespec ts = {0, 10 * 1000 * 1000};

			if (now_ms() >= deadline)
				goto timeout;
			nanosleep(&ts, NULL);
			continue;
		}
		if (errno != EINPROGRESS)
			goto fail;
		if (wait_fd(fd, POLLOUT, deadline) < 0)
			goto fail;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
			goto fail;
		if (e != 0) {
			errno = e;
			goto fail;
		}
		break;
	}
	*fd_out = fd;
	return 0;
timeout:
	close(fd);
	return apitoken_error(APITOKEN_ERR_BUSY,
	                      "apitokend is busy: its admin socket %s "
	                      "accepted no connection in time; try again "
	                      "later",
	                      path);
fail:
	e = errno;
	close(fd);
	return apitoken_error(APITOKEN_ERR_UNAVAILABLE,
	                      "cannot reach apitokend on %s: %s", path,
	                      strerror(e));
}

/* What the command sends as "stdin": NULL, or a wiped-on-free buffer. */
static int
gather_input(int argc, char **argv, const apitoken_admin_io_t *io,
             char **buf_out, size_t *wipe_len_out)
{
	const size_t max = ADMIN_REQUEST_MAX - 64 * 1024;
	int mode = admin_cmd_input(argc, argv);
	FILE *f = NULL;
	int rc;

	*buf_out = NULL;
	*wipe_len_out = 0;
	if (mode == 0)
		return 0;
	if (mode == 2) {
		char *line;

		if (argc > 2)
			return 0; /* refused by the command, token unsent */
		line = calloc(1, ADMIN_TOKEN_LINE_MAX + 2);
		if (line == NULL)
			return APITOKEN_ERR_NOMEM;
		/*
		 * Only the first line (the admin may have typed it on a
		 * terminal), sent as the command would read it; no line, or
		 * an over-long one, is sent as nothing and refused there.
		 */
		if (admin_read_line(io->in, line, ADMIN_TOKEN_LINE_MAX) < 0)
			line[0] = '\0';
		else
			line[strlen(line)] = '\n';
		*buf_out = line;
		*wipe_len_out = ADMIN_TOKEN_LINE_MAX + 2;
		return 0;
	}
	if (mode == 3) {
		f = fopen(argv[2], "r");
		if (f == NULL) {
			admin_errorf(io, "user import: cannot open %s: %s",
			             argv[2], strerror(errno));
			return EX_NOINPUT;
		}
	} else if (io->in == NULL) {
		admin_errorf(io, "user import: no standard input");
		return EX_NOINPUT;
	}
	rc = slurp(f != NULL ? f : io->in, max, buf_out, wipe_len_out);
	if (f != NULL)
		fclose(f);
	if (rc == APITOKEN_ERR_CORRUPT) {
		admin_errorf(io,
		             "user import: %s contains a NUL byte (not a "
		             "text file?)",
		             mode == 3 ? argv[2] : "standard input");
		return EX_DATAERR;
	}
	if (rc == APITOKEN_ERR_INVALID) {
		admin_errorf(io,
		             "user import: %s is larger than the admin "
		             "socket's limit of %zu bytes; split it or import "
		             "while apitokend is stopped",
		             mode == 3 ? argv[2] : "standard input", max);
		return EX_DATAERR;
	}
	if (rc < 0) {
		admin_errorf(io, "user import: cannot read %s: %s",
		             mode == 3 ? argv[2] : "standard input",
		             rc == APITOKEN_ERR_NOMEM ? "out of memory"
		                                      : strerror(errno));
		return rc == APITOKEN_ERR_NOMEM ? EX_OSERR : EX_IOERR;
	}
	return 0;
}

static int
build_request(int argc, char **argv, const apitoken_admin_io_t *io,
              const char *input, char **text_out, size_t *len_out)
{
	cJSON *o = cJSON_CreateObject(), *av, *in = NULL;
	bool hide = argc > 2 && strcmp(argv[0], "token") == 0 &&
	            (strcmp(argv[1], "check") == 0 ||
	             strcmp(argv[1], "identify") == 0);
	int rc = APITOKEN_ERR_NOMEM;

	*text_out = NULL;
	if (o == NULL || cJSON_AddNumberToObject(o, "v", 1) == NULL)
		goto out;
	av = cJSON_AddArrayToObject(o, "argv");
	if (av == NULL)
		goto out;
	for (int i = 0; i < argc; i++) {
		/* A token given as an argument never leaves this process. */
		cJSON *s = cJSON_CreateString(hide && i >= 2 ? "-" : argv[i]);

		if (s == NULL)
			goto out;
		if (!cJSON_AddItemToArray(av, s)) {
			cJSON_Delete(s);
			goto out;
		}
	}
	if (cJSON_AddBoolToObject(o, "json", io->json) == NULL)
		goto out;
	if (input != NULL) {
		in = cJSON_AddStringToObject(o, "stdin", input);
		if (in == NULL)
			goto out;
	}
	*text_out = cJSON_PrintUnformatted(o);
	if (*text_out == NULL)
		goto out;
	*len_out = strlen(*text_out);
	rc = 0;
out:
	json_wipe_string(in);
	cJSON_Delete(o);
	if (rc < 0)
		return apitoken_error(rc, "out of memory");
	return rc;
}

int
admin_parse_reply(const char *buf, size_t len, const apitoken_admin_io_t *io)
{
	cJSON *r = cJSON_ParseWithLength(buf, len);
	cJSON *ex, *so, *se;
	int rc;

	ex = cJSON_GetObjectItemCaseSensitive(r, "exit");
	so = cJSON_GetObjectItemCaseSensitive(r, "stdout");
	se = cJSON_GetObjectItemCaseSensitive(r, "stderr");
	if (!cJSON_IsObject(r) || !cJSON_IsNumber(ex) || ex->valuedouble < 0 ||
	    ex->valuedouble > 255 ||
	    ex->valuedouble != (double)(int)ex->valuedouble ||
	    !cJSON_IsString(so) || !cJSON_IsString(se)) {
		rc = apitoken_error(APITOKEN_ERR_IO,
		                    "apitokend sent a malformed reply on the "
		                    "admin socket");
		goto out;
	}
	fputs(so->valuestring, io->out);
	fputs(se->valuestring, io->err);
	fflush(io->out);
	fflush(io->err);
	rc = (int)ex->valuedouble;
out:
	json_wipe_string(so);
	cJSON_Delete(r);
	return rc;
}

int
apitoken_admin_call(const char *socket_path, int argc, char **argv,
                    const apitoken_admin_io_t *io, int timeout_ms)
{
	char *input = NULL, *req = NULL, *reply = NULL;
	size_t input_wipe = 0, req_len = 0, reply_len = 0;
	int64_t deadline;
	int fd = -1, rc;

	apitoken_error_clear();
	if (argc < 1 || argv == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "missing command");
	if (timeout_ms <= 0)
		timeout_ms = 1;
	rc = gather_input(argc, argv, io, &input, &input_wipe);
	if (rc != 0)
		goto out; /* a sysexits code, already reported */
	rc = build_request(argc, argv, io, input, &req, &req_len);
	if (rc < 0)
		goto out;
	if (req_len > ADMIN_REQUEST_MAX) {
		rc = apitoken_error(APITOKEN_ERR_INVALID,
		                    "request too large for the admin socket "
		                    "(%zu bytes, at most %u)",
		                    req_len, ADMIN_REQUEST_MAX);
		goto out;
	}
	deadline = now_ms() + timeout_ms;
	rc = connect_unix(socket_path, deadline, &fd);
	if (rc < 0)
		goto out;
	if (send_frame(fd, req, req_len, deadline) < 0) {
		int e = errno;

		/* A daemon over its budget answers "busy" without reading
		 * the request and hangs up: that answer may be waiting. */
		if ((e == EPIPE || e == ECONNRESET) &&
		    admin_recv_frame(fd, ADMIN_REPLY_MAX, now_ms() + 1000,
		                     &reply, &reply_len) == 0) {
			rc = admin_parse_reply(reply, reply_len, io);
			goto out;
		}
		rc = apitoken_error(APITOKEN_ERR_UNAVAILABLE,
		                    "apitokend did not take the request on "
		                    "%s: %s",
		                    socket_path, strerror(e));
		goto out;
	}
	/* The command may take a while: the timeout restarts here. */
	rc = admin_recv_frame(fd, ADMIN_REPLY_MAX, now_ms() + timeout_ms,
	                      &reply, &reply_len);
	if (rc == -2) {
		rc = apitoken_error(APITOKEN_ERR_IO,
		                    "apitokend's reply is too large (%zu "
		                    "bytes)",
		                    reply_len);
		goto out;
	}
	if (rc < 0 && errno == 0) {
		/* apitokend hangs up on peers it does not admit. */
		rc = apitoken_error(APITOKEN_ERR_UNAVAILABLE,
		                    "apitokend closed %s without answering "
		                    "(only root, its own user and "
		                    "admin_group may use it; see its log)",
		                    socket_path);
		goto out;
	}
	if (rc < 0) {
		rc = apitoken_error(APITOKEN_ERR_UNAVAILABLE,
		                    "apitokend did not answer on %s: %s",
		                    socket_path, strerror(errno));
		goto out;
	}
	rc = admin_parse_reply(reply, reply_len, io);
out:
	if (fd >= 0)
		close(fd);
	admin_freezero(input, input_wipe);
	admin_freezero(req, req_len);
	admin_freezero(reply, reply_len);
	return rc;
}
