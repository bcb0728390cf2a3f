/* Configuration: defaults, a good file, every kind of error, durations. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apitoken/config.h>
#include <apitoken/error.h>

#include "unit.h"

static char *dir;
static char path[512];

static void
setup(void)
{
	dir = unit_tmpdir();
	ck_assert_ptr_nonnull(dir);
	snprintf(path, sizeof(path), "%s/apitoken.json", dir);
	unsetenv(APITOKEN_CONFIG_ENV);
}

static void
teardown(void)
{
	unit_rmtree(dir);
	free(dir);
	dir = NULL;
}

static void
write_file(const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

static apitoken_config_t *
load_ok(const char *text)
{
	apitoken_config_t *cfg = NULL;

	write_file(text);
	ck_assert_msg(apitoken_config_load(path, &cfg) == 0, "load: %s",
	              apitoken_last_error());
	ck_assert_ptr_nonnull(cfg);
	return cfg;
}

/* Loading text fails with a message "<path>: <want>". */
static void
load_bad(const char *text, const char *want)
{
	apitoken_config_t *cfg = (apitoken_config_t *)&cfg;
	char expect[1024];

	write_file(text);
	ck_assert_int_eq(apitoken_config_load(path, &cfg),
	                 APITOKEN_ERR_CONFIG);
	ck_assert_ptr_null(cfg);
	snprintf(expect, sizeof(expect), "%s: %s", path, want);
	ck_assert_str_eq(apitoken_last_error(), expect);
}

static void
check_defaults(const apitoken_config_t *cfg)
{
	const apitoken_role_t *r;

	ck_assert_str_eq(cfg->store, "./apitoken-store");
	ck_assert_int_eq(cfg->token_lifetime, 15552000);
	ck_assert_str_eq(cfg->bu_scope_prefix, "bu:");
	ck_assert_uint_eq(cfg->n_roles, 3);
	r = apitoken_config_role(cfg, "admin");
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->n_scopes, 3);
	ck_assert_str_eq(r->scopes[0], "api:read");
	ck_assert_str_eq(r->scopes[1], "api:write");
	ck_assert_str_eq(r->scopes[2], "api:admin");
	r = apitoken_config_role(cfg, "developer");
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->n_scopes, 2);
	ck_assert_str_eq(r->scopes[1], "api:write");
	r = apitoken_config_role(cfg, "viewer");
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->n_scopes, 1);
	ck_assert_str_eq(r->scopes[0], "api:read");
	ck_assert_ptr_null(apitoken_config_role(cfg, "root"));
	ck_assert_str_eq(cfg->listen_host, "127.0.0.1");
	ck_assert_uint_eq(cfg->listen_port, 8080);
	ck_assert_str_eq(cfg->issuer, "http://127.0.0.1:8080");
	ck_assert_str_eq(cfg->audience, "apitoken");
	ck_assert_str_eq(cfg->admin_socket, "./apitoken-store/admin.sock");
	ck_assert_str_eq(cfg->local_socket, "./apitoken-store/local.sock");
	ck_assert_ptr_null(cfg->admin_group);
	ck_assert_uint_eq(cfg->local_socket_mode, 0660);
	ck_assert_ptr_null(cfg->tls_cert);
	ck_assert_ptr_null(cfg->tls_key);
	ck_assert_uint_eq(cfg->threads, 0);
	ck_assert_uint_eq(cfg->max_body, 65536);
	ck_assert_uint_eq(cfg->connection_timeout, 10);
	ck_assert_uint_eq(cfg->local_socket_timeout, 30);
	ck_assert_uint_eq(cfg->introspection_cache,
	                  APITOKEN_INTROSPECTION_CACHE_AUTO);
	ck_assert_int_eq(cfg->mail_give_up_after, 5 * 86400);
	ck_assert_int_eq(cfg->sweep_interval, 60);
	ck_assert_ptr_null(cfg->mail_relay);
	ck_assert_str_eq(cfg->mail_from, "apitoken@localhost");
	ck_assert_uint_eq(cfg->n_reminders, 3);
	ck_assert_int_eq(cfg->reminders[0], 30 * 86400);
	ck_assert_int_eq(cfg->reminders[1], 7 * 86400);
	ck_assert_int_eq(cfg->reminders[2], 86400);
	ck_assert_int_eq(cfg->mail_retry_max, 3600);
}

START_TEST(test_defaults)
{
	apitoken_config_t *cfg = NULL;

	ck_assert_int_eq(apitoken_config_defaults(&cfg), 0);
	check_defaults(cfg);
	ck_assert_ptr_null(cfg->path);
	apitoken_config_free(cfg);
}
END_TEST

START_TEST(test_empty_file_is_defaults)
{
	apitoken_config_t *cfg = load_ok("{}\n");

	check_defaults(cfg);
	ck_assert_str_eq(cfg->path, path);
	apitoken_config_free(cfg);
}
END_TEST

START_TEST(test_env_and_missing)
{
	apitoken_config_t *cfg = NULL;
	char missing[600];

	write_file("{\"store\": \"/srv/env\"}");
	setenv(APITOKEN_CONFIG_ENV, path, 1);
	ck_assert_int_eq(apitoken_config_load(NULL, &cfg), 0);
	ck_assert_str_eq(cfg->store, "/srv/env");
	apitoken_config_free(cfg);
	unsetenv(APITOKEN_CONFIG_ENV);

	snprintf(missing, sizeof(missing), "%s/nope.json", dir);
	cfg = NULL;
	ck_assert_int_eq(apitoken_config_load(missing, &cfg),
	                 APITOKEN_ERR_CONFIG);
	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(strstr(apitoken_last_error(), missing));
	ck_assert_ptr_nonnull(strstr(apitoken_last_error(), "No such file"));
}
END_TEST

START_TEST(test_good_file)
{
	apitoken_config_t *cfg = load_ok(
	    "{\n"
	    "  \"store\": \"/var/lib/apitoken\",\n"
	    "  \"token_lifetime\": \"90d\",\n"
	    "  \"business_unit_scope_prefix\": \"unit:\",\n"
	    "  \"roles\": { \"ops\": [\"ops:all\", \"api:read\"],\n"
	    "             \"guest\": [] },\n"
	    "  \"listen\": \"[::1]:8443\",\n"
	    "  \"audience\": \"payments\",\n"
	    "  \"admin_socket\": \"/run/apitoken/admin.sock\",\n"
	    "  \"admin_group\": \"apitoken\",\n"
	    "  \"local_socket_mode\": \"0600\",\n"
	    "  \"tls_cert\": \"/etc/ssl/c.pem\", \"tls_key\": \"/k.pem\",\n"
	    "  \"threads\": 4, \"max_body\": 8192,\n"
	    "  \"connection_timeout\": 30, \"sweep_interval\": \"5m\",\n"
	    "  \"local_socket_timeout\": 5, \"introspection_cache\": 0,\n"
	    "  \"mail\": { \"relay\": \"smtp://mail:25\",\n"
	    "            \"from\": \"tokens@example.com\",\n"
	    "            \"reminders\": [\"1d\", \"14d\", 3600, \"1d\"],\n"
	    "            \"retry_max\": \"2h\", \"give_up_after\": \"2d\" }\n"
	    "}\n");
	const apitoken_role_t *r;

	ck_assert_str_eq(cfg->store, "/var/lib/apitoken");
	ck_assert_int_eq(cfg->token_lifetime, 90 * 86400);
	ck_assert_str_eq(cfg->bu_scope_prefix, "unit:");
	/* Roles in the file replace the built-in ones. */
	ck_assert_uint_eq(cfg->n_roles, 2);
	ck_assert_ptr_null(apitoken_config_role(cfg, "admin"));
	r = apitoken_config_role(cfg, "ops");
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->n_scopes, 2);
	ck_assert_str_eq(r->scopes[0], "ops:all");
	r = apitoken_config_role(cfg, "guest");
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->n_scopes, 0);
	ck_assert_str_eq(cfg->listen_host, "::1");
	ck_assert_uint_eq(cfg->listen_port, 8443);
	ck_assert_str_eq(cfg->issuer, "https://[::1]:8443");
	ck_assert_str_eq(cfg->audience, "payments");
	ck_assert_str_eq(cfg->admin_socket, "/run/apitoken/admin.sock");
	ck_assert_str_eq(cfg->local_socket, "/var/lib/apitoken/local.sock");
	ck_assert_str_eq(cfg->admin_group, "apitoken");
	ck_assert_uint_eq(cfg->local_socket_mode, 0600);
	ck_assert_str_eq(cfg->tls_cert, "/etc/ssl/c.pem");
	ck_assert_uint_eq(cfg->threads, 4);
	ck_assert_uint_eq(cfg->max_body, 8192);
	ck_assert_uint_eq(cfg->connection_timeout, 30);
	ck_assert_uint_eq(cfg->local_socket_timeout, 5);
	ck_assert_uint_eq(cfg->introspection_cache, 0);
	ck_assert_int_eq(cfg->sweep_interval, 300);
	ck_assert_str_eq(cfg->mail_relay, "smtp://mail:25");
	ck_assert_str_eq(cfg->mail_from, "tokens@example.com");
	/* Sorted descending, duplicates dropped. */
	ck_assert_uint_eq(cfg->n_reminders, 3);
	ck_assert_int_eq(cfg->reminders[0], 14 * 86400);
	ck_assert_int_eq(cfg->reminders[1], 86400);
	ck_assert_int_eq(cfg->reminders[2], 3600);
	ck_assert_int_eq(cfg->mail_retry_max, 7200);
	ck_assert_int_eq(cfg->mail_give_up_after, 2 * 86400);

	/* --store moves only the socket the file did not set. */
	ck_assert_int_eq(apitoken_config_set_store(cfg, "/tmp/other"), 0);
	ck_assert_str_eq(cfg->store, "/tmp/other");
	ck_assert_str_eq(cfg->admin_socket, "/run/apitoken/admin.sock");
	ck_assert_str_eq(cfg->local_socket, "/tmp/other/local.sock");
	apitoken_config_free(cfg);
}
END_TEST

START_TEST(test_listen_forms)
{
	apitoken_config_t *cfg;

	cfg = load_ok("{\"listen\": \"0.0.0.0:0\"}");
	ck_assert_str_eq(cfg->listen_host, "0.0.0.0");
	ck_assert_uint_eq(cfg->listen_port, 0);
	ck_assert_str_eq(cfg->issuer, "http://0.0.0.0:0");
	apitoken_config_free(cfg);
	cfg = load_ok("{\"listen\": \"api.example.com:65535\","
	              " \"issuer\": \"https://id.example.com/\"}");
	ck_assert_str_eq(cfg->listen_host, "api.example.com");
	ck_assert_uint_eq(cfg->listen_port, 65535);
	ck_assert_str_eq(cfg->issuer, "https://id.example.com/");
	apitoken_config_free(cfg);
}
END_TEST

/* "auto" (the default, sized by apitokend) or a number up to 4M. */
START_TEST(test_introspection_cache_forms)
{
	apitoken_config_t *cfg;

	cfg = load_ok("{\"introspection_cache\": 4194304}");
	ck_assert_uint_eq(cfg->introspection_cache, 4194304);
	apitoken_config_free(cfg);
	cfg = load_ok("{\"introspection_cache\": \"auto\"}");
	ck_assert_uint_eq(cfg->introspection_cache,
	                  APITOKEN_INTROSPECTION_CACHE_AUTO);
	apitoken_config_free(cfg);
}
END_TEST

START_TEST(test_set_store_defaults)
{
	apitoken_config_t *cfg = NULL;

	ck_assert_int_eq(apitoken_config_defaults(&cfg), 0);
	ck_assert_int_eq(apitoken_config_set_store(cfg, "/srv/s"), 0);
	ck_assert_str_eq(cfg->store, "/srv/s");
	ck_assert_str_eq(cfg->admin_socket, "/srv/s/admin.sock");
	ck_assert_str_eq(cfg->local_socket, "/srv/s/local.sock");
	ck_assert_int_eq(apitoken_config_set_store(cfg, ""),
	                 APITOKEN_ERR_INVALID);
	ck_assert_str_eq(cfg->store, "/srv/s");
	apitoken_config_free(cfg);
}
END_TEST

#define DUR                                                                   \
	"expected a duration such as 180d, 12h or 30s, of at most 100 years " \
	"(36500d)"
#define LISTEN                                                                \
	"expected host:port such as 127.0.0.1:8080, [::1]:8080 or "           \
	"localhost:8080 (port 0-65535)"

START_TEST(test_errors)
{
	load_bad("{\"token_lifetime\": \"180x\"}",
	         "key 'token_lifetime': " DUR);
	load_bad("{\"token_lifetime\": \"0\"}", "key 'token_lifetime': " DUR);
	load_bad("{\"token_lifetime\": -5}", "key 'token_lifetime': " DUR);
	load_bad("{\"token_lifetime\": true}", "key 'token_lifetime': " DUR);
	load_bad("{\"sweep_interval\": \"\"}", "key 'sweep_interval': " DUR);
	/* Durations are capped at 100 years: each is added to "now". */
	load_bad("{\"token_lifetime\": \"106751991167300d\"}",
	         "key 'token_lifetime': " DUR);
	load_bad("{\"token_lifetime\": \"36501d\"}",
	         "key 'token_lifetime': " DUR);
	load_bad("{\"token_lifetime\": 3153600001}",
	         "key 'token_lifetime': " DUR);
	load_bad("{\"sweep_interval\": \"5215w\"}",
	         "key 'sweep_interval': " DUR);
	load_bad("{\"mail\": {\"retry_max\": \"9223372036854775807\"}}",
	         "key 'mail.retry_max': " DUR);
	load_bad("{\"mail\": {\"give_up_after\": \"36501d\"}}",
	         "key 'mail.give_up_after': " DUR);
	load_bad("{\"mail\": {\"reminders\": [\"1d\", \"876001h\"]}}",
	         "key 'mail.reminders': " DUR);
	load_bad("{\"colour\": \"blue\"}", "unknown key 'colour'");
	load_bad("{\"mail\": {\"relai\": \"smtp://x\"}}",
	         "unknown key 'mail.relai'");
	load_bad("{\"store\": 5}", "key 'store': expected a non-empty string");
	load_bad("{\"store\": \"\"}",
	         "key 'store': expected a non-empty string");
	load_bad("{\"store\": \"/a\", \"store\": \"/b\"}",
	         "key 'store': appears more than once");
	load_bad("{\"threads\": \"4\"}",
	         "key 'threads': expected a whole number from 0 (one per CPU) "
	         "to 1024");
	load_bad("{\"threads\": 1.5}",
	         "key 'threads': expected a whole number from 0 (one per CPU) "
	         "to 1024");
	load_bad("{\"max_body\": 10}",
	         "key 'max_body': expected a whole number of bytes from 256 "
	         "to 1048576");
	load_bad("{\"introspection_cache\": 5000000}",
	         "key 'introspection_cache': expected \"auto\" or a whole "
	         "number of answers from 0 to 4194304");
	load_bad("{\"introspection_cache\": -1}",
	         "key 'introspection_cache': expected \"auto\" or a whole "
	         "number of answers from 0 to 4194304");
	load_bad("{\"introspection_cache\": \"big\"}",
	         "key 'introspection_cache': expected \"auto\" or a whole "
	         "number of answers from 0 to 4194304");
	load_bad("{\"local_socket_timeout\": 0}",
	         "key 'local_socket_timeout': expected a whole number of "
	         "seconds from 1 to 3600");
	load_bad("{\"roles\": []}",
	         "key 'roles': expected an object of role name to scope list");
	load_bad("{\"roles\": {\"dev\": \"api:read\"}}",
	         "key 'roles.dev': expected an array of scope strings");
	load_bad("{\"roles\": {\"dev\": [\"api read\"]}}",
	         "key 'roles.dev': expected an array of RFC 6749 scope-tokens "
	         "(1-128 printable characters, no space, '\"' or '\\')");
	load_bad("{\"roles\": {\"dev\": [\"a\\\"b\"]}}",
	         "key 'roles.dev': expected an array of RFC 6749 scope-tokens "
	         "(1-128 printable characters, no space, '\"' or '\\')");
	load_bad("{\"roles\": {\"dev\": [7]}}",
	         "key 'roles.dev': expected an array of RFC 6749 scope-tokens "
	         "(1-128 printable characters, no space, '\"' or '\\')");
	load_bad("{\"business_unit_scope_prefix\": \"b u\"}",
	         "key 'business_unit_scope_prefix': expected at most 64 "
	         "scope-token characters (no space, '\"' or '\\')");
	load_bad("{\"listen\": \"127.0.0.1\"}", "key 'listen': " LISTEN);
	load_bad("{\"listen\": \"127.0.0.1:65536\"}", "key 'listen': " LISTEN);
	load_bad("{\"listen\": \"127.0.0.1:-1\"}", "key 'listen': " LISTEN);
	load_bad("{\"listen\": \"::1:80\"}", "key 'listen': " LISTEN);
	load_bad("{\"listen\": \"[::1]80\"}", "key 'listen': " LISTEN);
	load_bad("{\"listen\": \"[nope]:80\"}", "key 'listen': " LISTEN);
	load_bad("{\"listen\": \"300.1.1.1:80\"}", "key 'listen': " LISTEN);
	load_bad("{\"listen\": \"bad host:80\"}", "key 'listen': " LISTEN);
	load_bad("{\"listen\": \":80\"}", "key 'listen': " LISTEN);
	load_bad("{\"local_socket_mode\": 660}",
	         "key 'local_socket_mode': expected an octal mode string such "
	         "as \"0660\"");
	load_bad("{\"local_socket_mode\": \"0980\"}",
	         "key 'local_socket_mode': expected an octal mode string such "
	         "as \"0660\"");
	load_bad("{\"issuer\": \"ftp://x\"}",
	         "key 'issuer': expected an http:// or https:// URL without "
	         "query or fragment");
	load_bad("{\"tls_cert\": \"/c.pem\"}",
	         "key 'tls_key': expected tls_cert and tls_key to be set "
	         "together");
	load_bad("{\"mail\": {\"from\": \"a@b\\r\\nBcc: x@y\"}}",
	         "key 'mail.from': expected an email address such as "
	         "apitoken@example.com");
	load_bad("{\"mail\": {\"relay\": \"http://x\"}}",
	         "key 'mail.relay': expected an smtp:// or smtps:// URL");
	load_bad("{\"mail\": {\"reminders\": [\"1d\", \"soon\"]}}",
	         "key 'mail.reminders': " DUR);
	load_bad("{\"mail\": 3}", "key 'mail': expected an object");
	load_bad("{\"mail\": {\"from\": \"a@b\", \"from\": \"c@d\"}}",
	         "key 'mail.from': appears more than once");
	load_bad("{\"roles\": {\"a b\": []}}",
	         "key 'roles.a b': expected a role name of 1-64 printable "
	         "characters without spaces or quotes");
	load_bad("{\"roles\": {\"x\": [], \"x\": []}}",
	         "key 'roles.x': expected each role once");
}
END_TEST

START_TEST(test_json_syntax)
{
	load_bad("{\n  \"store\": \"/a\",\n  oops\n}\n",
	         "invalid JSON at line 3, column 4");
	load_bad("", "invalid JSON at line 1, column 1");
	load_bad("{} trailing", "invalid JSON at line 1, column 4");
	load_bad("[1, 2]", "expected a JSON object at top level");
}
END_TEST

START_TEST(test_not_regular_or_huge)
{
	apitoken_config_t *cfg = NULL;
	char expect[1024];
	FILE *f;
	long i;

	/* A folder is not a configuration file. */
	ck_assert_int_eq(apitoken_config_load(dir, &cfg), APITOKEN_ERR_CONFIG);
	ck_assert_ptr_null(cfg);
	snprintf(expect, sizeof(expect), "%s: not a regular file", dir);
	ck_assert_str_eq(apitoken_last_error(), expect);

	/* Nor is a FIFO, which must not hang the loader either. */
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(apitoken_config_load(path, &cfg),
	                 APITOKEN_ERR_CONFIG);
	snprintf(expect, sizeof(expect), "%s: not a regular file", path);
	ck_assert_str_eq(apitoken_last_error(), expect);
	ck_assert_int_eq(unlink(path), 0);

	/* Just over 1 MiB of valid-looking JSON is refused unread. */
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("{\"store\": \"", f);
	for (i = 0; i < 1024 * 1024; i++)
		fputc('a', f);
	fputs("\"}", f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(apitoken_config_load(path, &cfg),
	                 APITOKEN_ERR_CONFIG);
	snprintf(expect, sizeof(expect), "%s: larger than 1048576 bytes",
	         path);
	ck_assert_str_eq(apitoken_last_error(), expect);
}
END_TEST

/*
 * Deterministic mutations of a good file: each load either succeeds or
 * fails with APITOKEN_ERR_CONFIG and a message that starts with the file
 * name; never a crash, leak or other code (the sanitizer build checks the
 * first two).
 */
START_TEST(test_mutations)
{
	static const char good[] =
	    "{\"store\": \"/s\", \"token_lifetime\": \"90d\", "
	    "\"roles\": {\"ops\": [\"a:b\"]}, \"listen\": \"[::1]:80\", "
	    "\"local_socket_mode\": \"0600\", \"threads\": 2, "
	    "\"mail\": {\"reminders\": [\"1d\"], \"from\": \"a@b\"}}";
	char buf[sizeof(good)];
	unsigned seed = 12345;
	int i, ok = 0, bad = 0;

	for (i = 0; i < 2000; i++) {
		apitoken_config_t *cfg = NULL;
		size_t len = sizeof(good) - 1, n;
		FILE *f;
		int rc, k;

		memcpy(buf, good, sizeof(good));
		for (k = 0; k < 1 + i % 3; k++)
			buf[(size_t)rand_r(&seed) % len] =
			    (char)(rand_r(&seed) % 256);
		if (i % 7 == 0)
			len = (size_t)rand_r(&seed) % len;
		f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		n = fwrite(buf, 1, len, f);
		ck_assert_uint_eq(n, len);
		ck_assert_int_eq(fclose(f), 0);
		rc = apitoken_config_load(path, &cfg);
		if (rc == 0) {
			ck_assert_ptr_nonnull(cfg);
			apitoken_config_free(cfg);
			ok++;
			continue;
		}
		ck_assert_int_eq(rc, APITOKEN_ERR_CONFIG);
		ck_assert_ptr_null(cfg);
		ck_assert(strncmp(apitoken_last_error(), path, strlen(path)) ==
		          0);
		bad++;
	}
	/* Both outcomes occur, so the loop exercised something. */
	ck_assert_int_gt(ok, 0);
	ck_assert_int_gt(bad, 1000);
}
END_TEST

static void
dur_ok(const char *text, int64_t want)
{
	int64_t v = -1;

	ck_assert_msg(apitoken_duration_parse(text, &v) == 0, "%s rejected",
	              text);
	ck_assert_int_eq(v, want);
}

static void
dur_bad(const char *text)
{
	int64_t v = -1;

	ck_assert_msg(apitoken_duration_parse(text, &v) ==
	                  APITOKEN_ERR_INVALID,
	              "'%s' accepted", text != NULL ? text : "(null)");
}

START_TEST(test_durations)
{
	char buf[32];

	dur_ok("180d", 15552000);
	dur_ok("2s", 2);
	dur_ok("2", 2);
	dur_ok("12h", 43200);
	dur_ok("90m", 5400);
	dur_ok("1w", 604800);
	/* The cap: 100 years, whatever the unit. */
	dur_ok("36500d", APITOKEN_DURATION_MAX);
	dur_ok("3153600000", APITOKEN_DURATION_MAX);
	dur_ok("3153600000s", APITOKEN_DURATION_MAX);
	dur_ok("52560000m", APITOKEN_DURATION_MAX);
	dur_ok("876000h", APITOKEN_DURATION_MAX);
	dur_ok("5214w", 5214LL * 604800);
	dur_bad("36501d");
	dur_bad("3153600001");
	dur_bad("52560001m");
	dur_bad("876001h");
	dur_bad("5215w");
	dur_bad("9223372036854775807");
	dur_bad("0");
	dur_bad("0d");
	dur_bad("-1");
	dur_bad("+1");
	dur_bad("1x");
	dur_bad("1dd");
	dur_bad("d");
	dur_bad(" 1d");
	dur_bad("1 d");
	dur_bad("1d ");
	dur_bad("99999999999999999999d");
	dur_bad("9223372036854775808");
	dur_bad("15250284452471w");
	dur_bad("");
	dur_bad(NULL);

	apitoken_duration_format(15552000, buf, sizeof(buf));
	ck_assert_str_eq(buf, "180d");
	apitoken_duration_format(5400, buf, sizeof(buf));
	ck_assert_str_eq(buf, "90m");
	apitoken_duration_format(7, buf, sizeof(buf));
	ck_assert_str_eq(buf, "7s");
	apitoken_duration_format(1209600, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2w");
	apitoken_duration_format(7200, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2h");
	apitoken_duration_format(3601, buf, sizeof(buf));
	ck_assert_str_eq(buf, "3601s");
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_empty_file_is_defaults);
	tcase_add_test(tc, test_env_and_missing);
	tcase_add_test(tc, test_good_file);
	tcase_add_test(tc, test_listen_forms);
	tcase_add_test(tc, test_introspection_cache_forms);
	tcase_add_test(tc, test_set_store_defaults);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_json_syntax);
	tcase_add_test(tc, test_not_regular_or_huge);
	tcase_add_test(tc, test_mutations);
	tcase_add_test(tc, test_durations);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(suite());
}
