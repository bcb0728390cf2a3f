/*
 * Unit tests for core/spin_wait.c, on a socketpair: a message that is
 * there, or a peer that hung up, is seen at once; one that comes while
 * it looks is seen when it comes; with nothing it looks for its whole
 * budget, then says "sleep".
 */
#include "config.h"

#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "../../core/spin_wait.h"
#include "unit.h"

#define MS 1000000LL

static int fds[2];

static void
pair(void)
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
}

static void
unpair(void)
{
	close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
}

START_TEST(test_message_there)
{
	int64_t t0 = spin_wait_now_ns();

	pair();
	ck_assert_int_eq(send(fds[1], "x\n", 2, 0), 2);
	ck_assert(spin_wait_readable(fds[0], t0 + 10000 * MS));
	ck_assert_int_lt(spin_wait_now_ns() - t0, 5000 * MS);
	/* A budget already over still looks once. */
	ck_assert(spin_wait_readable(fds[0], 0));
	unpair();
}
END_TEST

START_TEST(test_hang_up_seen)
{
	pair();
	close(fds[1]);
	fds[1] = -1;
	ck_assert(spin_wait_readable(fds[0], 0));
	unpair();
}
END_TEST

static void *
send_later(void *arg)
{
	struct timespec ts = {0, 20 * MS};

	(void)arg;
	nanosleep(&ts, NULL);
	if (send(fds[1], "y\n", 2, 0) != 2)
		return (void *)1;
	return NULL;
}

START_TEST(test_message_while_looking)
{
	int64_t t0 = spin_wait_now_ns();
	pthread_t t;
	void *ret;

	pair();
	ck_assert_int_eq(pthread_create(&t, NULL, send_later, NULL), 0);
	ck_assert(spin_wait_readable(fds[0], t0 + 10000 * MS));
	/* Seen when it came (after 20 ms), not at the end of the budget. */
	ck_assert_int_ge(spin_wait_now_ns() - t0, 20 * MS);
	ck_assert_int_lt(spin_wait_now_ns() - t0, 5000 * MS);
	ck_assert_int_eq(pthread_join(t, &ret), 0);
	ck_assert_ptr_null(ret);
	unpair();
}
END_TEST

START_TEST(test_nothing_looks_whole_budget)
{
	int64_t t0 = spin_wait_now_ns();

	pair();
	ck_assert(!spin_wait_readable(fds[0], t0 + 2 * MS));
	ck_assert_int_ge(spin_wait_now_ns() - t0, 2 * MS);
	unpair();
}
END_TEST

static Suite *
spin_wait_suite(void)
{
	Suite *s = suite_create("spin_wait");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_message_there);
	tcase_add_test(tc, test_hang_up_seen);
	tcase_add_test(tc, test_message_while_looking);
	tcase_add_test(tc, test_nothing_looks_whole_budget);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(spin_wait_suite());
}
