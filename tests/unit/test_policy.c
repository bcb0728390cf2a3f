/* Scope policy: scope-token syntax, BU ids, scope computation, matching. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <apitoken/config.h>
#include <apitoken/error.h>
#include <apitoken/policy.h>

#include "unit.h"

static apitoken_config_t *cfg;

static void
setup(void)
{
	ck_assert_int_eq(apitoken_config_defaults(&cfg), 0);
}

static void
teardown(void)
{
	apitoken_config_free(cfg);
	cfg = NULL;
}

static void
check_scope(const char *role, char *const *bus, size_t n, const char *want)
{
	char *scope = NULL;

	ck_assert_int_eq(apitoken_policy_scope(cfg, role, bus, n, &scope), 0);
	ck_assert_ptr_nonnull(scope);
	ck_assert_str_eq(scope, want);
	free(scope);
}

START_TEST(test_scope_role_and_units)
{
	char *bus[] = {"sales", "eu-west"};

	check_scope("admin", bus, 2,
	            "api:read api:write api:admin bu:sales bu:eu-west");
	check_scope("developer", bus, 1, "api:read api:write bu:sales");
	check_scope("viewer", NULL, 0, "api:read");
}
END_TEST

START_TEST(test_scope_prefix_from_config)
{
	char *bus[] = {"sales"};

	free(cfg->bu_scope_prefix);
	cfg->bu_scope_prefix = strdup("unit/");
	ck_assert_ptr_nonnull(cfg->bu_scope_prefix);
	check_scope("viewer", bus, 1, "api:read unit/sales");
}
END_TEST

START_TEST(test_scope_unknown_role)
{
	char *bus[] = {"sales"};

	check_scope("root", bus, 1, "bu:sales");
	check_scope("nobody", NULL, 0, "");
	check_scope(NULL, bus, 1, "bu:sales");
}
END_TEST

START_TEST(test_scope_duplicates)
{
	char *bus[] = {"sales", "hr", "sales", "hr"};

	check_scope("viewer", bus, 4, "api:read bu:sales bu:hr");
}
END_TEST

START_TEST(test_scope_bad_units_dropped)
{
	char *bus[] = {"ok",          "has space", "quo\"te",
	               "back\\slash", "",          "caf\xc3\xa9"};

	check_scope("viewer", bus, 6, "api:read bu:ok");
}
END_TEST

START_TEST(test_bu_id_valid)
{
	char long_id[80];

	ck_assert(apitoken_bu_id_valid("sales"));
	ck_assert(apitoken_bu_id_valid("EU-west_1.2:x"));
	ck_assert(!apitoken_bu_id_valid(NULL));
	ck_assert(!apitoken_bu_id_valid(""));
	ck_assert(!apitoken_bu_id_valid("has space"));
	ck_assert(!apitoken_bu_id_valid("quo\"te"));
	ck_assert(!apitoken_bu_id_valid("back\\slash"));
	ck_assert(!apitoken_bu_id_valid("tab\there"));
	ck_assert(!apitoken_bu_id_valid("caf\xc3\xa9"));
	ck_assert(!apitoken_bu_id_valid("del\x7f"));
	memset(long_id, 'x', 64);
	long_id[64] = '\0';
	ck_assert(apitoken_bu_id_valid(long_id));
	long_id[64] = 'x';
	long_id[65] = '\0';
	ck_assert(!apitoken_bu_id_valid(long_id));
}
END_TEST

START_TEST(test_scope_token_valid)
{
	char buf[200];

	ck_assert(apitoken_scope_token_valid("api:read"));
	ck_assert(apitoken_scope_token_valid("!#$%&'()*+,-./[]^_`{|}~"));
	ck_assert(!apitoken_scope_token_valid(""));
	ck_assert(!apitoken_scope_token_valid(NULL));
	ck_assert(!apitoken_scope_token_valid("a b"));
	ck_assert(!apitoken_scope_token_valid("a\"b"));
	ck_assert(!apitoken_scope_token_valid("a\\b"));
	ck_assert(!apitoken_scope_token_valid("a\nb"));
	memset(buf, 'a', 128);
	buf[128] = '\0';
	ck_assert(apitoken_scope_token_valid(buf));
	buf[128] = 'a';
	buf[129] = '\0';
	ck_assert(!apitoken_scope_token_valid(buf));
}
END_TEST

START_TEST(test_satisfies)
{
	const char *have = "api:read api:write bu:sales";

	ck_assert(apitoken_scope_satisfies(have, "api:read"));
	ck_assert(apitoken_scope_satisfies(have, "bu:sales api:read"));
	ck_assert(apitoken_scope_satisfies(have, "  api:write  "));
	ck_assert(apitoken_scope_satisfies(have, NULL));
	ck_assert(apitoken_scope_satisfies(have, ""));
	ck_assert(apitoken_scope_satisfies("", ""));
	ck_assert(apitoken_scope_satisfies(NULL, NULL));
	ck_assert(!apitoken_scope_satisfies(have, "api:admin"));
	ck_assert(!apitoken_scope_satisfies(have, "api:read api:admin"));
	/* Whole words only: no prefix or suffix matches. */
	ck_assert(!apitoken_scope_satisfies(have, "api"));
	ck_assert(!apitoken_scope_satisfies(have, "api:rea"));
	ck_assert(!apitoken_scope_satisfies(have, "api:reader"));
	ck_assert(!apitoken_scope_satisfies(have, "bu:sales2"));
	ck_assert(!apitoken_scope_satisfies("", "api:read"));
	ck_assert(!apitoken_scope_satisfies(NULL, "api:read"));
	/* Case matters. */
	ck_assert(!apitoken_scope_satisfies(have, "API:READ"));
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("policy");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_scope_role_and_units);
	tcase_add_test(tc, test_scope_prefix_from_config);
	tcase_add_test(tc, test_scope_unknown_role);
	tcase_add_test(tc, test_scope_duplicates);
	tcase_add_test(tc, test_scope_bad_units_dropped);
	tcase_add_test(tc, test_bu_id_valid);
	tcase_add_test(tc, test_scope_token_valid);
	tcase_add_test(tc, test_satisfies);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(suite());
}
