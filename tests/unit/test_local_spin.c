/*
 * Unit tests for introspect/local_spin.c, on a socketpair: a request that
 * is already there is read at once, an end of file is reported, a
 * connection whose request did not come within the spin is not spun for
 * again (its thread goes to poll()) until a request comes quickly after
 * an answer, and a request that came late keeps it that way.
 */
#include "config.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>

#include "../../introspect/local_spin.h"
#include "unit.h"

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

static void
say(const char *line)
{
	ck_assert_int_eq(send(fds[1], line, strlen(line), 0),
	                 (ssize_t)strlen(line));
}

START_TEST(test_waiting_request_read)
{
	struct apitokend_spin sp;
	char buf[64];

	pair();
	apitokend_spin_init(&sp);
	say("{\"op\":\"check\"}\n");
	ck_assert_int_eq(apitokend_spin_recv(&sp, fds[0], buf, sizeof(buf)),
	                 15);
	ck_assert(memcmp(buf, "{\"op\":\"check\"}\n", 15) == 0);
	ck_assert(sp.spin);
	unpair();
}
END_TEST

START_TEST(test_end_of_file)
{
	struct apitokend_spin sp;
	char buf[64];

	pair();
	apitokend_spin_init(&sp);
	close(fds[1]);
	fds[1] = -1;
	ck_assert_int_eq(apitokend_spin_recv(&sp, fds[0], buf, sizeof(buf)),
	                 0);
	unpair();
}
END_TEST

START_TEST(test_quiet_connection_goes_to_poll)
{
	struct apitokend_spin sp;
	char buf[64];

	pair();
	apitokend_spin_init(&sp);
	apitokend_spin_answered(&sp);
	/* Nothing within the spin: -1, and no more spinning. */
	ck_assert_int_eq(apitokend_spin_recv(&sp, fds[0], buf, sizeof(buf)),
	                 -1);
	ck_assert(!sp.spin);
	/* A request now there is left to poll() and the blocking read. */
	say("x\n");
	ck_assert_int_eq(apitokend_spin_recv(&sp, fds[0], buf, sizeof(buf)),
	                 -1);
	ck_assert_int_eq(recv(fds[0], buf, sizeof(buf), 0), 2);
	unpair();
}
END_TEST

START_TEST(test_quick_request_spun_for_again)
{
	struct apitokend_spin sp;
	char buf[64];

	pair();
	apitokend_spin_init(&sp);
	sp.spin = false;
	/* poll() woke the thread right after the answer: spin next time. */
	apitokend_spin_answered(&sp);
	apitokend_spin_woken(&sp);
	ck_assert(sp.spin);
	say("y\n");
	ck_assert_int_eq(apitokend_spin_recv(&sp, fds[0], buf, sizeof(buf)),
	                 2);
	unpair();
}
END_TEST

START_TEST(test_late_request_not_spun_for)
{
	struct apitokend_spin sp;

	apitokend_spin_init(&sp);
	apitokend_spin_answered(&sp);
	/* The request came a second after the answer (a PAM login). */
	sp.answered_ns -= 1000000000;
	apitokend_spin_woken(&sp);
	ck_assert(!sp.spin);
}
END_TEST

static Suite *
local_spin_suite(void)
{
	Suite *s = suite_create("local_spin");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_waiting_request_read);
	tcase_add_test(tc, test_end_of_file);
	tcase_add_test(tc, test_quiet_connection_goes_to_poll);
	tcase_add_test(tc, test_quick_request_spun_for_again);
	tcase_add_test(tc, test_late_request_not_spun_for);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(local_spin_suite());
}
