/*
 * Unit tests for introspect/throttle.c: a key is throttled after `burst`
 * failures, told how long to wait, and let in again once that time has
 * passed; other keys are not affected; memory stays fixed however many
 * keys fail (100,000 source addresses); throttling starts are logged
 * with the key escaped.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include <apitoken/log.h>

#include "../../introspect/throttle.h"
#include "unit.h"

static char logged[4096];

static void
capture(int level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level == APITOKEN_LOG_NOTICE)
		snprintf(logged + strlen(logged),
		         sizeof(logged) - strlen(logged), "%s\n", msg);
}

static struct apitokend_throttle *
table(unsigned slots, unsigned burst, double per_second)
{
	struct apitokend_throttle_conf c = {"test", slots, burst, per_second,
	                                    0};
	struct apitokend_throttle *t = apitokend_throttle_create(&c);

	ck_assert_ptr_nonnull(t);
	return t;
}

START_TEST(test_burst_then_wait_then_recover)
{
	struct apitokend_throttle *t = table(1024, 5, 1.0);
	const char *a = "192.0.2.1", *b = "192.0.2.2";
	int64_t now = 1000000;
	int i;

	for (i = 0; i < 4; i++) {
		ck_assert_uint_eq(apitokend_throttle_wait_at(t, a, 9, now), 0);
		ck_assert_uint_eq(apitokend_throttle_fail_at(t, a, 9, now), 0);
	}
	/* The fifth failure empties the bucket: one is forgiven in 1 s. */
	ck_assert_uint_eq(apitokend_throttle_fail_at(t, a, 9, now), 1);
	ck_assert_uint_eq(apitokend_throttle_wait_at(t, a, 9, now), 1);
	ck_assert_uint_eq(apitokend_throttle_wait_at(t, a, 9, now + 999), 1);
	/* Another key is not affected. */
	ck_assert_uint_eq(apitokend_throttle_wait_at(t, b, 9, now + 999), 0);
	/* Retry-After honoured: let in. */
	ck_assert_uint_eq(apitokend_throttle_wait_at(t, a, 9, now + 1000), 0);
	/* A failure now throttles again at once. */
	ck_assert_uint_eq(apitokend_throttle_fail_at(t, a, 9, now + 1000), 1);
	/* Ten quiet seconds refill the whole bucket. */
	for (i = 0; i < 4; i++)
		ck_assert_uint_eq(
		    apitokend_throttle_fail_at(t, a, 9, now + 20000), 0);
	apitokend_throttle_destroy(t);
}
END_TEST

START_TEST(test_slow_rate_adds_up)
{
	/* One failure forgiven per 10 s, visited every millisecond. */
	struct apitokend_throttle *t = table(64, 1, 0.1);
	int64_t now = 5000, i;

	ck_assert_uint_eq(apitokend_throttle_fail_at(t, "k", 1, now), 10);
	for (i = 1; i < 10000; i++)
		ck_assert_uint_ne(
		    apitokend_throttle_wait_at(t, "k", 1, now + i), 0);
	ck_assert_uint_eq(apitokend_throttle_wait_at(t, "k", 1, now + 10000),
	                  0);
	apitokend_throttle_destroy(t);
}
END_TEST

START_TEST(test_stats_and_log)
{
	struct apitokend_throttle *t = table(64, 2, 1.0);
	struct apitokend_throttle_stats s;
	const char key[] = "evil\x1b[31m\n";

	logged[0] = '\0';
	apitoken_log_set_sink(capture, NULL, APITOKEN_LOG_DEBUG);
	ck_assert_uint_eq(apitokend_throttle_fail_at(t, key, 10, 0), 0);
	ck_assert_uint_eq(apitokend_throttle_fail_at(t, key, 10, 0), 1);
	ck_assert_uint_eq(apitokend_throttle_wait_at(t, key, 10, 10), 1);
	apitokend_throttle_stats(t, &s);
	ck_assert_uint_eq(s.failures, 2);
	ck_assert_uint_eq(s.refused, 1);
	ck_assert_uint_eq(s.starts, 1);
	ck_assert_uint_eq(s.throttled, 1);
	ck_assert_uint_eq(s.slots, 64);
	/* The start is logged once, with the key's bytes escaped. */
	ck_assert_ptr_nonnull(strstr(logged, "throttle test: evil\\x1b[31m"
	                                     "\\x0a throttled after 2"));
	ck_assert_ptr_null(strchr(logged, '\x1b'));
	/* A summary follows once the interval has passed. */
	ck_assert_uint_eq(apitokend_throttle_wait_at(t, key, 10, 1000), 0);
	ck_assert_uint_eq(apitokend_throttle_wait_at(
	                      t, key, 10, apitokend_throttle_now_ms() + 61000),
	                  0);
	ck_assert_ptr_nonnull(strstr(logged, "1 request(s) refused"));
	apitoken_log_set_sink(NULL, NULL, APITOKEN_LOG_ERR);
	apitokend_throttle_destroy(t);
}
END_TEST

START_TEST(test_null_and_bad_conf)
{
	struct apitokend_throttle_conf c = {"x", 0, 1, 1.0, 0};

	ck_assert_uint_eq(apitokend_throttle_fail(NULL, "k", 1), 0);
	ck_assert_uint_eq(apitokend_throttle_wait(NULL, "k", 1), 0);
	ck_assert_ptr_null(apitokend_throttle_create(&c)); /* no slots */
	c.slots = 8;
	c.burst = 0;
	ck_assert_ptr_null(apitokend_throttle_create(&c));
	c.burst = 1;
	c.per_second = 0;
	ck_assert_ptr_null(apitokend_throttle_create(&c));
}
END_TEST

/*
 * 100,000 source addresses fail 30 times each against a 16,384-entry
 * table: memory does not move, and a throttled attacker who keeps
 * failing is still throttled while the spray goes on (full buckets are
 * evicted first).
 */
START_TEST(test_100k_sources_bounded)
{
	struct apitokend_throttle *t = table(16384, 20, 1.0);
	struct apitokend_throttle_stats before, after;
	struct timespec t0, t1;
	char addr[32];
	unsigned i, j, n_fail = 0;
	int64_t now = 0;
	double secs;

	apitokend_throttle_stats(t, &before);
	for (j = 0; j < 21; j++)
		apitokend_throttle_fail_at(t, "203.0.113.7", 11, now);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 100000; i++) {
		snprintf(addr, sizeof(addr), "10.%u.%u.%u", i >> 16,
		         (i >> 8) & 255, i & 255);
		apitokend_throttle_fail_at(t, addr, strlen(addr), now);
		n_fail++;
		if (i % 1000 == 0) {
			now += 10; /* the spray lasts 1 s */
			apitokend_throttle_fail_at(t, "203.0.113.7", 11, now);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	apitokend_throttle_stats(t, &after);
	ck_assert_uint_eq(before.bytes, after.bytes);
	ck_assert_uint_eq(after.failures, n_fail + 21 + 100);
	ck_assert_uint_ne(
	    apitokend_throttle_wait_at(t, "203.0.113.7", 11, now), 0);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("# throttle: 100000 sources, %zu slots, %zu bytes fixed; "
	       "%.0f failures/s recorded on one thread\n",
	       after.slots, after.bytes, (double)n_fail / secs);
	apitokend_throttle_destroy(t);
}
END_TEST

static Suite *
throttle_suite(void)
{
	Suite *s = suite_create("throttle");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_burst_then_wait_then_recover);
	tcase_add_test(tc, test_slow_rate_adds_up);
	tcase_add_test(tc, test_stats_and_log);
	tcase_add_test(tc, test_null_and_bad_conf);
	tcase_add_test(tc, test_100k_sources_bounded);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(throttle_suite());
}
