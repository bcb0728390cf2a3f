/* The "replication" key: absent, a full group, defaults, every error. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apitoken/config.h>
#include <apitoken/error.h>
#include <apitoken/replication.h>

#include "unit.h"

static char *dir;
static char path[512];

static void
setup(void)
{
	dir = unit_tmpdir();
	ck_assert_ptr_nonnull(dir);
	snprintf(path, sizeof(path), "%s/apitoken.json", dir);
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

#define SITES                                                                 \
	"\"sites\": [{\"name\": \"us-east\", \"address\": "                   \
	"\"10.0.0.2:7001\", \"url\": \"https://10.0.0.2:8443\"}, "            \
	"{\"name\": \"ap-south\", \"address\": \"10.0.0.3:7001\", "           \
	"\"url\": \"https://10.0.0.3:8443\"}]"

static void
load_bad(const char *rep, const char *want)
{
	apitoken_config_t *cfg = NULL;
	char text[2048], expect[1024];

	snprintf(text, sizeof(text), "{\"replication\": %s}", rep);
	write_file(text);
	ck_assert_int_eq(apitoken_config_load(path, &cfg),
	                 APITOKEN_ERR_CONFIG);
	ck_assert_ptr_null(cfg);
	snprintf(expect, sizeof(expect), "%s: %s", path, want);
	ck_assert_str_eq(apitoken_last_error(), expect);
}

START_TEST(test_absent)
{
	apitoken_config_t *cfg = NULL;

	write_file("{\"store\": \"/tmp/x\"}");
	ck_assert_int_eq(apitoken_config_load(path, &cfg), 0);
	ck_assert_ptr_null(cfg->replication);
	apitoken_config_free(cfg);
}
END_TEST

START_TEST(test_issue_shape)
{
	apitoken_config_t *cfg = NULL;
	const apitoken_replication_t *r;

	write_file("{\"replication\": {\"name\": \"eu-west\", \"listen\": "
	           "\"10.0.0.1:7001\", " SITES ", \"priority\": 100, "
	           "\"create_group\": false, \"secret_file\": "
	           "\"/etc/apitoken/replication.key\", \"ca_file\": "
	           "\"/etc/apitoken/sites-ca.pem\", \"staleness_limit\": "
	           "\"10s\", \"staleness_action\": \"refuse\"}}");
	ck_assert_msg(apitoken_config_load(path, &cfg) == 0, "%s",
	              apitoken_last_error());
	r = cfg->replication;
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->name, "eu-west");
	ck_assert_str_eq(r->host, "10.0.0.1");
	ck_assert_uint_eq(r->port, 7001);
	ck_assert_uint_eq(r->n_sites, 2);
	ck_assert_str_eq(r->sites[1].name, "ap-south");
	ck_assert_str_eq(r->sites[1].host, "10.0.0.3");
	ck_assert_str_eq(r->sites[1].url, "https://10.0.0.3:8443");
	ck_assert_uint_eq(r->priority, 100);
	ck_assert(!r->create_group);
	ck_assert_str_eq(r->secret_file, "/etc/apitoken/replication.key");
	ck_assert_str_eq(r->ca_file, "/etc/apitoken/sites-ca.pem");
	ck_assert_int_eq(r->staleness_limit, 10);
	ck_assert_int_eq(r->staleness_action, APITOKEN_STALE_REFUSE);
	/* Defaults of the optional keys. */
	ck_assert_uint_eq(r->election_timeout_ms, 200);
	ck_assert_uint_eq(r->ack_timeout_ms, 2000);
	ck_assert_int_eq(apitoken_replication_site_index(r, "10.0.0.2", 7001),
	                 0);
	ck_assert_int_eq(apitoken_replication_site_index(r, "10.0.0.2", 7002),
	                 -1);
	apitoken_config_free(cfg);
}
END_TEST

START_TEST(test_errors)
{
	load_bad(
	    "[]",
	    "key 'replication': expected an object (see apitoken.json(5))");
	load_bad("{\"listen\": \"10.0.0.1:7001\", " SITES
	         ", \"secret_file\": \"/k\"}",
	         "key 'replication.name': expected this site's name");
	load_bad("{\"name\": \"a b\"}",
	         "key 'replication.name': expected a non-empty string without "
	         "spaces");
	load_bad("{\"name\": \"eu\", \"listen\": \"10.0.0.1\"}",
	         "key 'replication.listen': expected host:port such as "
	         "10.0.0.1:7001 or [fd00::1]:7001 (port 1-65535)");
	load_bad("{\"name\": \"eu\", \"listen\": \"10.0.0.1:0\"}",
	         "key 'replication.listen': expected host:port such as "
	         "10.0.0.1:7001 or [fd00::1]:7001 (port 1-65535)");
	load_bad("{\"name\": \"eu\", \"sites\": []}",
	         "key 'replication.sites': expected 1 to 32 other sites (a "
	         "group of three or more survives the loss of one)");
	load_bad("{\"sites\": [{\"name\": \"x\", \"address\": \"h:1\", "
	         "\"url\": \"http://h:2\"}]}",
	         "key 'replication.sites[0].url': expected an https:// URL "
	         "(forwarded writes are encrypted)");
	load_bad("{\"sites\": [{\"name\": \"x\", \"address\": \"h:1\"}]}",
	         "key 'replication.sites[0]': expected \"name\", \"address\" "
	         "and \"url\" in every site");
	load_bad("{\"sites\": [{\"name\": \"x\", \"port\": 1}]}",
	         "unknown key 'replication.sites[0].port'");
	load_bad("{\"staleness_action\": \"ignore\"}",
	         "key 'replication.staleness_action': expected \"refuse\" or "
	         "\"serve\"");
	load_bad("{\"staleness_limit\": \"soon\"}",
	         "key 'replication.staleness_limit': expected a duration such "
	         "as 10s, 1m or 1h");
	load_bad("{\"priority\": -1}",
	         "key 'replication.priority': expected a whole number from 0 "
	         "(never master) to 1000000");
	load_bad("{\"create_group\": 1}",
	         "key 'replication.create_group': expected true or false");
	load_bad("{\"election_timeout_ms\": 5}",
	         "key 'replication.election_timeout_ms': expected a whole "
	         "number of milliseconds from 50 to 60000");
	/* A master's lease is three quarters of it, renewed on a 200 ms
	 * tick: shorter would leave an idle master refusing. */
	load_bad("{\"heartbeat_timeout_ms\": 500}",
	         "key 'replication.heartbeat_timeout_ms': expected a whole "
	         "number of milliseconds from 800 to 600000");
	load_bad("{\"name\": \"a\", \"name\": \"b\"}",
	         "key 'replication.name': appears more than once");
	load_bad("{\"colour\": 1}", "unknown key 'replication.colour'");
	load_bad("{\"name\": \"eu\", \"listen\": \"10.0.0.1:7001\", " SITES
	         "}",
	         "key 'replication.secret_file': expected the file holding "
	         "the key all sites share");
	load_bad(
	    "{\"name\": \"us-east\", \"listen\": \"10.0.0.1:7001\", " SITES
	    ", \"secret_file\": \"/k\"}",
	    "key 'replication.sites': expected the other sites only (one "
	    "has this site's name or address)");
	load_bad(
	    "{\"name\": \"eu\", \"listen\": \"10.0.0.1:7001\", "
	    "\"sites\": [{\"name\": \"a\", \"address\": \"h:1\", \"url\": "
	    "\"https://h\"}, {\"name\": \"b\", \"address\": \"h:1\", "
	    "\"url\": \"https://h\"}], \"secret_file\": \"/k\"}",
	    "key 'replication.sites': expected sites with distinct names "
	    "and addresses");
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("config_replication");
	TCase *tc = tcase_create("config_replication");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_absent);
	tcase_add_test(tc, test_issue_shape);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(suite());
}
