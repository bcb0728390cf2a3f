/*
 * The admin-socket protocol: apitoken_admin_serve() refuses malformed
 * requests without running anything, apitoken_admin_call() times out on a
 * silent daemon, and a real call runs the command with its input.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include <apitoken/admin.h>
#include <apitoken/error.h>
#include <apitoken/store.h>

#include "unit.h"

static char *dir;
static apitoken_config_t *cfg;
static apitoken_store_t *store;

static void
setup(void)
{
	char *path;
	FILE *f;

	dir = unit_tmpdir();
	ck_assert_ptr_nonnull(dir);
	ck_assert_int_ge(asprintf(&path, "%s/cfg.json", dir), 0);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("{\"roles\": {\"admin\": [\"api:read\"]}}\n", f);
	fclose(f);
	ck_assert_int_eq(apitoken_config_load(path, &cfg), 0);
	free(path);
	ck_assert_int_ge(asprintf(&path, "%s/store", dir), 0);
	ck_assert_int_eq(apitoken_config_set_store(cfg, path), 0);
	free(path);
	ck_assert_int_eq(
	    apitoken_store_open(cfg, APITOKEN_STORE_CREATE, &store), 0);
}

static void
teardown(void)
{
	apitoken_store_close(store);
	apitoken_config_free(cfg);
	unit_rmtree(dir);
	free(dir);
}

static void
send_raw(int fd, const char *json, uint32_t announced)
{
	uint8_t hdr[4] = {(uint8_t)(announced >> 24),
	                  (uint8_t)(announced >> 16),
	                  (uint8_t)(announced >> 8), (uint8_t)announced};

	ck_assert_int_eq(write(fd, hdr, 4), 4);
	if (json != NULL)
		ck_assert_int_eq(write(fd, json, strlen(json)),
		                 (ssize_t)strlen(json));
}

/* Read one reply frame from fd and parse it. */
static cJSON *
read_reply(int fd)
{
	uint8_t hdr[4];
	size_t len, got = 0;
	char *buf;
	cJSON *r;

	ck_assert_int_eq(read(fd, hdr, 4), 4);
	len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 |
	      (size_t)hdr[2] << 8 | hdr[3];
	buf = malloc(len + 1);
	ck_assert_ptr_nonnull(buf);
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
	r = cJSON_ParseWithLength(buf, len);
	free(buf);
	ck_assert_ptr_nonnull(r);
	return r;
}

/* Serve one raw request; return the reply's exit code and stderr. */
static int
serve_raw(const char *json, uint32_t announced, char *err, size_t errlen)
{
	int sv[2], code;
	cJSON *r;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	send_raw(sv[0], json, announced);
	(void)apitoken_admin_serve(store, sv[1], "test");
	r = read_reply(sv[0]);
	code = cJSON_GetObjectItem(r, "exit")->valueint;
	snprintf(err, errlen, "%s",
	         cJSON_GetObjectItem(r, "stderr")->valuestring);
	cJSON_Delete(r);
	close(sv[0]);
	close(sv[1]);
	return code;
}

static bool
user_exists(const char *name)
{
	apitoken_user_t *u = NULL;
	int rc = apitoken_user_get(store, name, &u);

	apitoken_user_free(u);
	return rc == 0;
}

#define ADD_CAROL                                                             \
	"\"argv\":[\"user\",\"add\",\"carol\",\"--email\","                   \
	"\"c@example.com\",\"--role\",\"admin\"]"

START_TEST(test_malformed_requests_run_nothing)
{
	static const char *bad[] = {
	    "not json",
	    "[1,2,3]",
	    "{\"v\":2," ADD_CAROL "}",
	    "{" ADD_CAROL "}",
	    "{\"v\":\"1\"," ADD_CAROL "}",
	    "{\"v\":1,\"argv\":\"user add carol\"}",
	    "{\"v\":1,\"argv\":[\"user\",\"add\",\"carol\",7]}",
	    "{\"v\":1,\"argv\":[]}",
	    "{\"v\":1," ADD_CAROL ",\"json\":\"yes\"}",
	    "{\"v\":1," ADD_CAROL ",\"stdin\":42}",
	    "{\"v\":1," ADD_CAROL ",\"extra\":true}",
	    "{\"v\":1," ADD_CAROL ",\"v\":1}",
	    "{\"v\":1,\"argv\":[\"user\",\"import\",\"/etc/passwd\"]}",
	};
	char err[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int code = serve_raw(bad[i], (uint32_t)strlen(bad[i]), err,
		                     sizeof(err));

		ck_assert_msg(code == EX_PROTOCOL, "request %zu: exit %d", i,
		              code);
		ck_assert_msg(strstr(err, "malformed request") != NULL,
		              "request %zu: %s", i, err);
		ck_assert(!user_exists("carol"));
	}
}
END_TEST

START_TEST(test_oversized_request_refused)
{
	char err[512];
	int code;

	code = serve_raw(NULL, 17u * 1024 * 1024, err, sizeof(err));
	ck_assert_int_eq(code, EX_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(err, "larger than the limit"));
}
END_TEST

START_TEST(test_peer_gone_runs_nothing)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	send_raw(sv[0], "{\"v\":1,", 200); /* announces more than it sends */
	close(sv[0]);
	ck_assert_int_lt(apitoken_admin_serve(store, sv[1], "test"), 0);
	close(sv[1]);
	ck_assert(!user_exists("carol"));
}
END_TEST

START_TEST(test_valid_request_runs)
{
	const char *req = "{\"v\":1," ADD_CAROL ",\"json\":false}";
	char err[512];

	ck_assert_int_eq(
	    serve_raw(req, (uint32_t)strlen(req), err, sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	ck_assert(user_exists("carol"));
	/* The same again: the command's own refusal and exit code. */
	ck_assert_int_eq(
	    serve_raw(req, (uint32_t)strlen(req), err, sizeof(err)),
	    EX_CANTCREAT);
	ck_assert_ptr_nonnull(strstr(err, "apitokenctl: "));
}
END_TEST

struct server {
	int lfd;
	int serve; /* 0: accept and stay silent */
	pthread_t th;
	char path[108];
};

static void *
server_main(void *arg)
{
	struct server *s = arg;
	int fd = accept(s->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	if (s->serve) {
		(void)apitoken_admin_serve(store, fd, "test");
	} else {
		char buf[256];

		while (read(fd, buf, sizeof(buf)) > 0)
			; /* until the client gives up */
	}
	close(fd);
	return NULL;
}

static void
server_start(struct server *s, int serve)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(s->path, sizeof(s->path), "%s/admin.sock", dir);
	memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
	s->serve = serve;
	s->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(s->lfd, 0);
	ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(s->lfd, 4), 0);
	ck_assert_int_eq(pthread_create(&s->th, NULL, server_main, s), 0);
}

static void
server_stop(struct server *s)
{
	pthread_join(s->th, NULL);
	close(s->lfd);
	unlink(s->path);
}

static double
seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(test_call_times_out)
{
	struct server s;
	char *argv[] = {"user", "list", NULL};
	apitoken_admin_io_t io = {.in = stdin, .out = stdout, .err = stderr};
	double t0;
	int rc;

	server_start(&s, 0);
	t0 = seconds();
	rc = apitoken_admin_call(s.path, 2, argv, &io, 300);
	ck_assert_int_eq(rc, APITOKEN_ERR_UNAVAILABLE);
	ck_assert_double_lt(seconds() - t0, 5.0);
	ck_assert_ptr_nonnull(strstr(apitoken_last_error(), "did not answer"));
	server_stop(&s);
}
END_TEST

START_TEST(test_call_no_daemon)
{
	char *argv[] = {"user", "list", NULL};
	apitoken_admin_io_t io = {.in = stdin, .out = stdout, .err = stderr};
	char path[200];

	snprintf(path, sizeof(path), "%s/none.sock", dir);
	ck_assert_int_eq(apitoken_admin_call(path, 2, argv, &io, 300),
	                 APITOKEN_ERR_UNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(apitoken_last_error(), "cannot reach"));
}
END_TEST

/* A call carries stdin ("token check") and brings back out/err/exit. */
START_TEST(test_call_roundtrip)
{
	apitoken_user_t u = {.name = "dave",
	                     .email = "d@example.com",
	                     .role = "admin",
	                     .api_access = true};
	char tok[APITOKEN_TOKEN_LEN + 1], line[80];
	char *argv[] = {"token", "check", NULL};
	char *out_buf = NULL, *err_buf = NULL;
	size_t out_len = 0, err_len = 0;
	apitoken_admin_io_t io = {.origin = "test"};
	struct server s;
	int rc;

	ck_assert_int_eq(apitoken_user_add(store, &u, "test"), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(store, "dave", 0, "test", tok, NULL), 0);
	snprintf(line, sizeof(line), "%s\nignored second line\n", tok);
	io.in = fmemopen(line, strlen(line), "r");
	io.out = open_memstream(&out_buf, &out_len);
	io.err = open_memstream(&err_buf, &err_len);
	io.json = true;
	server_start(&s, 1);
	rc = apitoken_admin_call(s.path, 2, argv, &io, 5000);
	server_stop(&s);
	fclose(io.in);
	fclose(io.out);
	fclose(io.err);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out_buf, "\"active\":\ttrue"));
	ck_assert_ptr_nonnull(strstr(out_buf, "\"username\":\t\"dave\""));
	ck_assert_ptr_null(strstr(out_buf, tok));
	ck_assert_str_eq(err_buf, "");
	free(out_buf);
	free(err_buf);
}
END_TEST

/* A deterministic pseudo-random generator: the same inputs every run. */
static uint32_t
next_rand(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 8;
}

/*
 * Mutated requests (bytes flipped, cut, lengths wrong): the server either
 * answers with a well-formed reply or gives up; it never crashes or hangs.
 */
START_TEST(test_mutated_requests)
{
	const char *base = "{\"v\":1,\"argv\":[\"user\",\"show\","
	                   "\"carol\"],\"json\":true,\"stdin\":\"x\\n\"}";
	uint32_t seed = 42;
	size_t blen = strlen(base);
	int answered = 0;

	for (int round = 0; round < 1500; round++) {
		char req[256];
		size_t len = blen;
		uint32_t announced;
		int sv[2], rc;
		uint8_t hdr[4];

		memcpy(req, base, blen);
		for (int k = (int)(next_rand(&seed) % 4); k >= 0; k--) {
			size_t at = next_rand(&seed) % blen;

			req[at] = (char)(next_rand(&seed) & 0xff);
		}
		if (next_rand(&seed) % 5 == 0)
			len = next_rand(&seed) % blen;
		announced = (uint32_t)len;
		if (next_rand(&seed) % 7 == 0)
			announced = next_rand(&seed) % (blen * 2);
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		send_raw(sv[0], NULL, announced);
		ck_assert_int_eq(write(sv[0], req, len), (ssize_t)len);
		shutdown(sv[0], SHUT_WR); /* a short request meets EOF */
		rc = apitoken_admin_serve(store, sv[1], "fuzz");
		close(sv[1]); /* no reply: the read below meets EOF */
		if (read(sv[0], hdr, 4) == 4) {
			uint32_t rlen = (uint32_t)hdr[0] << 24 |
			                (uint32_t)hdr[1] << 16 |
			                (uint32_t)hdr[2] << 8 | hdr[3];

			ck_assert_uint_lt(rlen, 65536);
			answered++;
		} else {
			ck_assert_int_lt(rc, 0);
		}
		close(sv[0]);
	}
	ck_assert_int_gt(answered, 100);
	ck_assert(!user_exists("carol"));
}
END_TEST

/* Random bytes as an import file: every line is judged, nothing crashes. */
START_TEST(test_import_garbage)
{
	static const char alphabet[] = "ab@.,;\"{}[]: \n\r\t\x01\xff"
	                               "1";
	uint32_t seed = 7;

	for (int round = 0; round < 300; round++) {
		char in_buf[600], *out_buf = NULL, *err_buf = NULL;
		size_t n = next_rand(&seed) % sizeof(in_buf), out_len = 0;
		size_t err_len = 0;
		char *argv[] = {"user", "import", "-", NULL};
		apitoken_admin_io_t io = {.origin = "fuzz"};
		int code;

		for (size_t i = 0; i < n; i++)
			in_buf[i] = alphabet[next_rand(&seed) %
			                     (sizeof(alphabet) - 1)];
		if (round % 2 == 0 && n > 0)
			in_buf[0] = '{'; /* half of them as JSON lines */
		io.in = fmemopen(in_buf, n, "r");
		io.out = open_memstream(&out_buf, &out_len);
		io.err = open_memstream(&err_buf, &err_len);
		ck_assert_ptr_nonnull(io.in);
		code = apitoken_admin_run(store, 3, argv, &io);
		fclose(io.in);
		fclose(io.out);
		fclose(io.err);
		ck_assert_msg(code == 0 || code == EX_DATAERR, "exit %d",
		              code);
		ck_assert_ptr_nonnull(strstr(out_buf, "imported "));
		ck_assert_int_eq(code == EX_DATAERR,
		                 strstr(err_buf, "stdin:") != NULL);
		free(out_buf);
		free(err_buf);
	}
}
END_TEST

static Suite *
admin_suite(void)
{
	Suite *s = suite_create("admin");
	TCase *tc = tcase_create("socket");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_malformed_requests_run_nothing);
	tcase_add_test(tc, test_oversized_request_refused);
	tcase_add_test(tc, test_peer_gone_runs_nothing);
	tcase_add_test(tc, test_valid_request_runs);
	tcase_add_test(tc, test_call_times_out);
	tcase_add_test(tc, test_call_no_daemon);
	tcase_add_test(tc, test_call_roundtrip);
	tcase_add_test(tc, test_mutated_requests);
	tcase_add_test(tc, test_import_garbage);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(admin_suite());
}
