/*
 * Unit suite of the validator internals shared by validator.so and
 * pam_apitoken.so: option parsing (secret_file rules above all) and the
 * reading of introspection replies, where anything unexpected must end
 * as UNAVAILABLE or INVALID, never VALID.
 */
#include "config.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../plugin/validator_int.h"
#include "../unit/unit.h"

static char *dir;

static void
setup(void)
{
	dir = unit_tmpdir();
	ck_assert_ptr_nonnull(dir);
}

static void
teardown(void)
{
	unit_rmtree(dir);
	free(dir);
	dir = NULL;
}

/* Write a file under dir with the given content and mode; its path. */
static const char *
file(const char *name, const char *content, mode_t mode)
{
	static char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, strlen(content)),
	                 (ssize_t)strlen(content));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static int
parse(struct vconf *c, bool strict, bool pam, const char **err, ...)
{
	const char *argv[16];
	va_list ap;
	int n = 0;

	va_start(ap, err);
	while (n < 15 && (argv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	return vconf_parse(c, n, argv, strict, pam, err);
}

START_TEST(defaults)
{
	struct vconf c;
	const char *err;

	ck_assert_int_eq(parse(&c, false, false, &err, NULL), 0);
	ck_assert_int_eq(c.mode, VMODE_LOCAL);
	ck_assert_str_eq(c.socket, VCONF_DEFAULT_SOCKET);
	ck_assert_int_eq(c.timeout_ms, 2000);
	ck_assert_int_eq(c.cache_ttl, 30);
	ck_assert(!c.insecure);
	ck_assert(!c.debug);
	vconf_free(&c);
}
END_TEST

START_TEST(unknown_keys)
{
	struct vconf c;
	const char *err;

	ck_assert_int_eq(parse(&c, false, false, &err, "colour=red",
	                       "socket=/x/s", "debug", NULL),
	                 0);
	ck_assert_str_eq(c.socket, "/x/s");
	ck_assert(c.debug);
	vconf_free(&c);
	ck_assert_int_eq(parse(&c, true, true, &err, "scpoe=api:read", NULL),
	                 -1);
	ck_assert_str_eq(err, "unknown option scpoe");
	/* scope= is a PAM option only: the ABI takes it per check. */
	ck_assert_int_eq(parse(&c, true, false, &err, "scope=a", NULL), -1);
	ck_assert_int_eq(parse(&c, true, true, &err, "try_first_pass",
	                       "use_first_pass", NULL),
	                 0);
	vconf_free(&c);
}
END_TEST

START_TEST(bad_values)
{
	static const char *const bad[] = {
	    "mode=ldap",  "mode",           "timeout=0",       "timeout=abc",
	    "timeout=-5", "timeout=600001", "cache_ttl=86401", "cache_ttl=1x",
	    "socket=",    "url=",
	};
	struct vconf c;
	const char *err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		ck_assert_msg(parse(&c, false, false, &err, bad[i], NULL) ==
		                  -1,
		              "%s accepted", bad[i]);
		ck_assert_ptr_nonnull(err);
	}
	ck_assert_int_eq(
	    parse(&c, false, false, &err, "timeout=1", "cache_ttl=0", NULL),
	    0);
	ck_assert_int_eq(c.timeout_ms, 1);
	ck_assert_int_eq(c.cache_ttl, 0);
	vconf_free(&c);
}
END_TEST

START_TEST(pam_scope)
{
	struct vconf c;
	const char *err;

	ck_assert_int_eq(
	    parse(&c, true, true, &err, "scope=api:read api:write", NULL), 0);
	ck_assert_str_eq(c.scope, "api:read api:write");
	vconf_free(&c);
	ck_assert_int_eq(parse(&c, true, true, &err, "scope=a\"b", NULL), -1);
	ck_assert_int_eq(parse(&c, true, true, &err, "scope=a  b", NULL), -1);
}
END_TEST

START_TEST(remote_requirements)
{
	struct vconf c;
	const char *err, *secret;
	char opt[600];

	secret = file("s", "apicli_the-secret\n", 0600);
	snprintf(opt, sizeof(opt), "secret_file=%s", secret);
	ck_assert_int_eq(parse(&c, false, false, &err, "mode=remote",
	                       "client_id=c", opt, NULL),
	                 -1);
	ck_assert_str_eq(err, "mode=remote needs url=");
	ck_assert_int_eq(parse(&c, false, false, &err, "mode=remote",
	                       "url=https://h/introspect", opt, NULL),
	                 -1);
	ck_assert_str_eq(err, "mode=remote needs client_id=");
	ck_assert_int_eq(parse(&c, false, false, &err, "mode=remote",
	                       "url=https://h/introspect", "client_id=c",
	                       NULL),
	                 -1);
	ck_assert_str_eq(err, "mode=remote needs secret_file=");
	/* Plain HTTP only when asked for in so many words. */
	ck_assert_int_eq(parse(&c, false, false, &err, "mode=remote",
	                       "url=http://h/introspect", "client_id=c", opt,
	                       NULL),
	                 -1);
	ck_assert_int_eq(parse(&c, false, false, &err, "mode=remote",
	                       "url=http://h/introspect", "client_id=c", opt,
	                       "insecure", NULL),
	                 0);
	vconf_free(&c);
	ck_assert_int_eq(parse(&c, false, false, &err, "mode=remote",
	                       "url=https://h/introspect", "client_id=c", opt,
	                       NULL),
	                 0);
	/* The trailing newline is not part of the secret. */
	ck_assert_str_eq(c.secret, "apicli_the-secret");
	ck_assert(!c.insecure);
	vconf_free(&c);
	ck_assert_ptr_null(c.secret);
}
END_TEST

START_TEST(secret_file_rules)
{
	static const struct {
		const char *content;
		mode_t mode;
		const char *error_part;
	} bad[] = {
	    {"apicli_s3cr3t\n", 0644, "must not be readable"},
	    {"apicli_s3cr3t\n", 0602, "must not be readable"},
	    {"\n", 0600, "one non-empty line"},
	    {"apicli_s3cr3t\nsecond\n", 0600, "one non-empty line"},
	};
	struct vconf c;
	const char *err, *path;
	char opt[600];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		path = file("s", bad[i].content, bad[i].mode);
		snprintf(opt, sizeof(opt), "secret_file=%s", path);
		ck_assert_int_eq(parse(&c, false, false, &err, "mode=remote",
		                       "url=https://h/i", "client_id=c", opt,
		                       NULL),
		                 -1);
		ck_assert_msg(strstr(err, bad[i].error_part) != NULL, "%s",
		              err);
		/* The message names the file, never the secret. */
		ck_assert_ptr_nonnull(strstr(err, path));
		ck_assert_ptr_null(strstr(err, "s3cr3t"));
	}
	snprintf(opt, sizeof(opt), "secret_file=%s/missing", dir);
	ck_assert_int_eq(parse(&c, false, false, &err, "mode=remote",
	                       "url=https://h/i", "client_id=c", opt, NULL),
	                 -1);
	ck_assert_ptr_nonnull(strstr(err, "cannot be opened"));
	snprintf(opt, sizeof(opt), "secret_file=%s", dir);
	ck_assert_int_eq(parse(&c, false, false, &err, "mode=remote",
	                       "url=https://h/i", "client_id=c", opt, NULL),
	                 -1);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
}
END_TEST

static struct apitoken_validation r;

START_TEST(reply_active)
{
	vresult_from_json(&r, "{\"active\":true,\"username\":\"alice\","
	                      "\"scope\":\"api:read bu:7\",\"role\":\"user\","
	                      "\"business_units\":[\"7\",\"9\"],"
	                      "\"exp\":2000000000,\"jti\":\"abc\"}");
	ck_assert_int_eq(r.status, APITOKEN_VALIDATION_VALID);
	ck_assert_str_eq(r.username, "alice");
	ck_assert_str_eq(r.scope, "api:read bu:7");
	ck_assert_str_eq(r.role, "user");
	ck_assert_str_eq(r.business_units, "7 9");
	ck_assert_str_eq(r.jti, "abc");
	ck_assert(r.exp == 2000000000);
	ck_assert_str_eq(r.reason, "");
}
END_TEST

START_TEST(reply_inactive)
{
	vresult_from_json(&r, "{\"active\":false}");
	ck_assert_int_eq(r.status, APITOKEN_VALIDATION_INVALID);
	ck_assert_str_eq(r.username, "");
	/* Even with identity members present, inactive is inactive. */
	vresult_from_json(&r, "{\"active\":false,\"username\":\"alice\"}");
	ck_assert_int_eq(r.status, APITOKEN_VALIDATION_INVALID);
	ck_assert_str_eq(r.username, "");
}
END_TEST

START_TEST(reply_unusable)
{
	static const char *const bad[] = {
	    "",
	    "not json",
	    "[true]",
	    "{\"error\":\"temporarily_unavailable\"}",
	    "{\"active\":true,\"error\":\"x\",\"username\":\"a\"}",
	    "{\"active\":\"true\",\"username\":\"alice\"}",
	    "{\"active\":1,\"username\":\"alice\"}",
	    "{\"username\":\"alice\"}",
	    "{\"active\":true}",
	    "{\"active\":true,\"username\":\"\"}",
	    "{\"active\":true,\"username\":7}",
	    "{\"active\":true,\"username\":\"a\",\"scope\":[\"x\"]}",
	    "{\"active\":true,\"username\":\"a\",\"exp\":\"soon\"}",
	    "{\"active\":true,\"username\":\"a\",\"business_units\":[1]}",
	    "{\"active\":true,\"username\":\"a\",\"business_units\":{}}",
	    /* exp out of int64_t's range or not whole: converting it
	     * would be undefined behaviour. */
	    "{\"active\":true,\"username\":\"a\",\"exp\":1e300}",
	    "{\"active\":true,\"username\":\"a\",\"exp\":-1e300}",
	    "{\"active\":true,\"username\":\"a\",\"exp\":9223372036854775808}",
	    "{\"active\":true,\"username\":\"a\",\"exp\":-1}",
	    "{\"active\":true,\"username\":\"a\",\"exp\":1.5}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vresult_from_json(&r, bad[i]);
		ck_assert_msg(r.status == APITOKEN_VALIDATION_UNAVAILABLE,
		              "%s gave status %d", bad[i], r.status);
		ck_assert_str_eq(r.username, "");
		ck_assert_str_ne(r.reason, "");
	}
}
END_TEST

START_TEST(reply_too_long)
{
	char json[4096], name[APITOKEN_VALIDATION_USERNAME_MAX + 1];

	/* A member that does not fit is refused, not cut short: a
	 * truncated user name could name another user. */
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(json, sizeof(json), "{\"active\":true,\"username\":\"%s\"}",
	         name);
	vresult_from_json(&r, json);
	ck_assert_int_eq(r.status, APITOKEN_VALIDATION_UNAVAILABLE);
	name[sizeof(name) - 2] = '\0'; /* 255 characters: fits */
	snprintf(json, sizeof(json), "{\"active\":true,\"username\":\"%s\"}",
	         name);
	vresult_from_json(&r, json);
	ck_assert_int_eq(r.status, APITOKEN_VALIDATION_VALID);
	ck_assert_uint_eq(strlen(r.username), 255);
}
END_TEST

START_TEST(malformed_token_no_io)
{
	struct vconf c;
	struct vhandle *h;
	const char *err, *tok = "apitok_0000000000000000000000000000000000"
	                        "000000000abcdef";
	char opt[600];

	/* The socket does not exist: any I/O would be UNAVAILABLE. */
	snprintf(opt, sizeof(opt), "socket=%s/none.sock", dir);
	ck_assert_int_eq(parse(&c, false, false, &err, opt, NULL), 0);
	ck_assert_int_eq(vhandle_open(&c, &h, &err), 0);
	ck_assert_int_eq(vhandle_check(h, tok, strlen(tok), NULL, &r),
	                 APITOKEN_VALIDATION_INVALID);
	ck_assert_str_eq(r.reason, "malformed token");
	ck_assert_int_eq(vhandle_check(h, "", 0, NULL, &r),
	                 APITOKEN_VALIDATION_INVALID);
	ck_assert_int_eq(vhandle_check(h, NULL, 0, NULL, &r),
	                 APITOKEN_VALIDATION_INVALID);
	/* An embedded NUL does not pass for the end of the token. */
	ck_assert_int_eq(vhandle_check(h, "apitok_\0xyz", 11, NULL, &r),
	                 APITOKEN_VALIDATION_INVALID);
	ck_assert_int_eq(vhandle_check(NULL, tok, strlen(tok), NULL, &r),
	                 APITOKEN_VALIDATION_UNAVAILABLE);
	vhandle_close(h);
}
END_TEST

static Suite *
validator_suite(void)
{
	Suite *s = suite_create("validator");
	TCase *tc = tcase_create("options");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, unknown_keys);
	tcase_add_test(tc, bad_values);
	tcase_add_test(tc, pam_scope);
	tcase_add_test(tc, remote_requirements);
	tcase_add_test(tc, secret_file_rules);
	suite_add_tcase(s, tc);

	tc = tcase_create("replies");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, reply_active);
	tcase_add_test(tc, reply_inactive);
	tcase_add_test(tc, reply_unusable);
	tcase_add_test(tc, reply_too_long);
	tcase_add_test(tc, malformed_token_no_io);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(validator_suite());
}
