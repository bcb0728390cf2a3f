/*
 * Wait a few microseconds for a socket without sleeping.
 *
 * apitokend and the plugin talk over the local socket in turns: request,
 * answer, request.  A side that sleeps in poll() while the other works
 * must be woken for the next message, by an inter-processor interrupt
 * when the two run on different CPUs; on a virtual machine that costs
 * tens of microseconds, more than the check itself (a single client
 * measured 74 µs a check, 8 µs when neither side slept; docs/design.md,
 * "Local socket wake-ups").  So each side first looks for the message it
 * expects for a few microseconds, and only then sleeps.
 *
 * Between looks it yields the CPU, so that a looking thread never keeps a
 * runnable one (the peer it waits for, another client) off the CPU; with
 * more clients than CPUs everyone looks, and the yields share the CPUs
 * out.  Looking only after a quick message, or backing off after looks
 * that found nothing, was tried and was worse: the threads that slept
 * then waited behind those that looked (8 clients on 2 CPUs, p99 1.4 ms
 * against 0.07 ms).  A look costs its budget in CPU time when nothing
 * comes, once per message, and only after activity: an idle connection
 * costs nothing.
 */
#include "config.h"

#include <poll.h>
#include <sched.h>
#include <time.h>

#include "spin_wait.h"

int64_t
spin_wait_now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool
spin_wait_readable(int fd, int64_t until_ns)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	for (;;) {
		if (poll(&p, 1, 0) == 1)
			return true;
		if (spin_wait_now_ns() >= until_ns)
			return false;
		(void)sched_yield();
	}
}
