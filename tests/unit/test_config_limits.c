/*
 * Unit tests for the front door's configuration keys (core/config.c,
 * issue 12): defaults, values read from a file, and a clear error naming
 * the key and the range for each kind of bad value.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include <apitoken/config.h>
#include <apitoken/error.h>

#include "unit.h"

static char *dir;
static char path[512];

static void
setup(void)
{
	dir = unit_tmpdir();
	snprintf(path, sizeof(path), "%s/apitoken.json", dir);
}

static void
teardown(void)
{
	unit_rmtree(dir);
	free(dir);
}

static int
load(const char *text, apitoken_config_t **cfg)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return apitoken_config_load(path, cfg);
}

START_TEST(test_defaults)
{
	apitoken_config_t *cfg = NULL;

	ck_assert_int_eq(load("{}", &cfg), 0);
	ck_assert_uint_eq(cfg->max_body, 65536);
	ck_assert_uint_eq(cfg->http_max_connections, 1024);
	ck_assert_uint_eq(cfg->http_max_connections_per_address, 64);
	ck_assert_uint_eq(cfg->http_header_timeout, 10);
	ck_assert_uint_eq(cfg->http_min_body_rate, 1024);
	ck_assert_uint_eq(cfg->auth_throttle_burst, 20);
	ck_assert_uint_eq(cfg->auth_throttle_per_minute, 60);
	ck_assert_uint_eq(cfg->auth_throttle_slots, 16384);
	ck_assert_uint_eq(cfg->local_socket_max_connections, 256);
	ck_assert_uint_eq(cfg->admin_socket_max_connections, 16);
	ck_assert_uint_eq(cfg->socket_max_connections_per_uid, 32);
	apitoken_config_free(cfg);
}
END_TEST

START_TEST(test_values)
{
	apitoken_config_t *cfg = NULL;

	ck_assert_int_eq(
	    load(
	        "{\"http_max_connections\": 100,"
	        " \"http_max_connections_per_address\": 8,"
	        " \"http_header_timeout\": 3, \"http_min_body_rate\": 0,"
	        " \"auth_throttle_burst\": 0, \"auth_throttle_per_minute\": 6,"
	        " \"auth_throttle_slots\": 64,"
	        " \"local_socket_max_connections\": 5,"
	        " \"admin_socket_max_connections\": 2,"
	        " \"socket_max_connections_per_uid\": 1}",
	        &cfg),
	    0);
	ck_assert_uint_eq(cfg->http_max_connections, 100);
	ck_assert_uint_eq(cfg->http_max_connections_per_address, 8);
	ck_assert_uint_eq(cfg->http_header_timeout, 3);
	ck_assert_uint_eq(cfg->http_min_body_rate, 0);
	ck_assert_uint_eq(cfg->auth_throttle_burst, 0);
	ck_assert_uint_eq(cfg->auth_throttle_per_minute, 6);
	ck_assert_uint_eq(cfg->auth_throttle_slots, 64);
	ck_assert_uint_eq(cfg->local_socket_max_connections, 5);
	ck_assert_uint_eq(cfg->admin_socket_max_connections, 2);
	ck_assert_uint_eq(cfg->socket_max_connections_per_uid, 1);
	apitoken_config_free(cfg);
}
END_TEST

static void
bad(const char *text, const char *want)
{
	apitoken_config_t *cfg = (apitoken_config_t *)&cfg;
	char expect[1200];

	ck_assert_int_eq(load(text, &cfg), APITOKEN_ERR_CONFIG);
	ck_assert_ptr_null(cfg);
	snprintf(expect, sizeof(expect), "%s: %s", path, want);
	ck_assert_str_eq(apitoken_last_error(), expect);
}

START_TEST(test_errors)
{
	bad("{\"http_max_connections\": 15}",
	    "key 'http_max_connections': expected a whole number of "
	    "connections from 16 to 1000000");
	bad("{\"http_max_connections_per_address\": 0}",
	    "key 'http_max_connections_per_address': expected a whole "
	    "number of connections from 1 to 1000000");
	bad("{\"http_header_timeout\": \"10s\"}",
	    "key 'http_header_timeout': expected a whole number of seconds "
	    "from 1 to 3600");
	bad("{\"http_min_body_rate\": -1}",
	    "key 'http_min_body_rate': expected a whole number of bytes per "
	    "second (0: no minimum)");
	bad("{\"auth_throttle_burst\": 1.5}",
	    "key 'auth_throttle_burst': expected a whole number of failures "
	    "from 0 (off) to 1000000");
	bad("{\"auth_throttle_per_minute\": 0}",
	    "key 'auth_throttle_per_minute': expected a whole number of "
	    "failures from 1 to 6000000");
	bad("{\"auth_throttle_slots\": 63}",
	    "key 'auth_throttle_slots': expected a whole number of entries "
	    "from 64 to 16777216");
	bad("{\"local_socket_max_connections\": 0}",
	    "key 'local_socket_max_connections': expected a whole number of "
	    "connections from 1 to 65536");
	bad("{\"admin_socket_max_connections\": 70000}",
	    "key 'admin_socket_max_connections': expected a whole number of "
	    "connections from 1 to 65536");
	bad("{\"socket_max_connections_per_uid\": true}",
	    "key 'socket_max_connections_per_uid': expected a whole number "
	    "of connections from 1 to 65536");
}
END_TEST

static Suite *
limits_suite(void)
{
	Suite *s = suite_create("config_limits");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(limits_suite());
}
