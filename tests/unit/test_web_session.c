/* The self-service page's session table: ids, CSRF tokens, expiry, the
 * limit (introspect/web_session.c, no daemon). */
#include "config.h"

#include <string.h>
#include <time.h>

#include <apitoken/error.h>

#include "../../introspect/web.h"
#include "unit.h"

static struct web_sessions *s;

static void
setup(void)
{
	s = web_sessions_create();
	ck_assert_ptr_nonnull(s);
}

static void
teardown(void)
{
	web_sessions_free(s);
	s = NULL;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

START_TEST(test_create_find_remove)
{
	char a[WEB_ID_HEX + 1], b[WEB_ID_HEX + 1];
	struct web_session_info ia, ib, got;

	ck_assert_int_eq(web_session_create(s, "alice", 10, a, &ia), 0);
	ck_assert_int_eq(web_session_create(s, "bob", 10, b, &ib), 0);
	ck_assert_uint_eq(strlen(a), WEB_ID_HEX);
	ck_assert_uint_eq(strspn(a, "0123456789abcdef"), WEB_ID_HEX);
	ck_assert_str_ne(a, b);
	ck_assert_str_ne(ia.csrf, ib.csrf);
	ck_assert_str_ne(a, ia.csrf);
	ck_assert_int_eq(web_session_find(s, a, 60, 600, &got), 0);
	ck_assert_str_eq(got.user, "alice");
	ck_assert_str_eq(got.csrf, ia.csrf);
	ck_assert_int_eq(web_session_find(s, b, 60, 600, &got), 0);
	ck_assert_str_eq(got.user, "bob");
	ck_assert_uint_eq(web_session_count(s), 2);

	/* Unknown, malformed, cut or upper-case ids find nothing. */
	ck_assert_int_eq(web_session_find(s, NULL, 60, 600, &got),
	                 APITOKEN_ERR_NOT_FOUND);
	ck_assert_int_eq(web_session_find(s, "", 60, 600, &got),
	                 APITOKEN_ERR_NOT_FOUND);
	a[WEB_ID_HEX - 1] = a[WEB_ID_HEX - 1] == '0' ? '1' : '0';
	ck_assert_int_eq(web_session_find(s, a, 60, 600, &got),
	                 APITOKEN_ERR_NOT_FOUND);
	a[10] = '\0';
	ck_assert_int_eq(web_session_find(s, a, 60, 600, &got),
	                 APITOKEN_ERR_NOT_FOUND);

	web_session_remove(s, b);
	ck_assert_int_eq(web_session_find(s, b, 60, 600, &got),
	                 APITOKEN_ERR_NOT_FOUND);
	ck_assert_uint_eq(web_session_count(s), 1);
}
END_TEST

START_TEST(test_idle_and_absolute_expiry)
{
	char a[WEB_ID_HEX + 1], b[WEB_ID_HEX + 1];
	struct web_session_info info;
	int i;

	ck_assert_int_eq(web_session_create(s, "alice", 10, a, &info), 0);
	ck_assert_int_eq(web_session_create(s, "bob", 10, b, &info), 0);
	/* a is used every 400 ms: idle 1 s never ends it, max 2 s does. */
	for (i = 0; i < 3; i++) {
		sleep_ms(400);
		ck_assert_int_eq(web_session_find(s, a, 1, 2, &info), 0);
	}
	/* b was not used for 1.2 s: over its idle time, and forgotten. */
	ck_assert_int_eq(web_session_find(s, b, 1, 2, &info),
	                 APITOKEN_ERR_NOT_FOUND);
	ck_assert_uint_eq(web_session_count(s), 1);
	sleep_ms(400);
	ck_assert_int_eq(web_session_find(s, a, 1, 2, &info), 0);
	sleep_ms(500);
	ck_assert_int_eq(web_session_find(s, a, 1, 2, &info),
	                 APITOKEN_ERR_NOT_FOUND);
	ck_assert_uint_eq(web_session_count(s), 0);
}
END_TEST

START_TEST(test_limit_drops_least_recently_used)
{
	char id[4][WEB_ID_HEX + 1];
	struct web_session_info info;
	int i;

	for (i = 0; i < 3; i++)
		ck_assert_int_eq(web_session_create(s, "u", 3, id[i], &info),
		                 0);
	/* Use the oldest: the second becomes the least recently used. */
	ck_assert_int_eq(web_session_find(s, id[0], 60, 600, &info), 0);
	ck_assert_int_eq(web_session_create(s, "u", 3, id[3], &info), 0);
	ck_assert_uint_eq(web_session_count(s), 3);
	ck_assert_int_eq(web_session_find(s, id[1], 60, 600, &info),
	                 APITOKEN_ERR_NOT_FOUND);
	ck_assert_int_eq(web_session_find(s, id[0], 60, 600, &info), 0);
	ck_assert_int_eq(web_session_find(s, id[2], 60, 600, &info), 0);
	ck_assert_int_eq(web_session_find(s, id[3], 60, 600, &info), 0);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("web_session");
	TCase *tc = tcase_create("web_session");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_create_find_remove);
	tcase_add_test(tc, test_idle_and_absolute_expiry);
	tcase_add_test(tc, test_limit_drops_least_recently_used);
	suite_add_tcase(su, tc);
	return unit_run(su);
}
