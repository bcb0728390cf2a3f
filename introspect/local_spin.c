/*
 * apitokend: wait briefly for a local client's next request without sleeping.
 *
 * A client that checks token after token (a batch job, a busy service
 * using the plugin) sends its next request a few microseconds after our
 * answer.  A thread that sleeps in poll() in between must be woken for
 * it: an inter-processor interrupt when the client runs on another CPU,
 * which on a virtual machine costs tens of microseconds, more than the
 * check itself (a single client measured 74 µs a check, 8.5 µs without
 * the two wake-ups; docs/design.md, "Local socket wake-ups").  So after an
 * answer the connection's thread keeps asking the socket for a short
 * while, yielding the CPU between tries so that a spinning thread never
 * keeps a runnable one (the client, another connection) waiting, and only
 * then sleeps.
 *
 * The spin pays only when the next request comes soon.  A connection
 * whose last request came later than the spin (a PAM login, a service that
 * checks now and then) is not spun for until one comes quickly again, so
 * sporadic clients cost nothing.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>

#include "local_spin.h"

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
apitokend_spin_init(struct apitokend_spin *sp)
{
	sp->spin = true;
	sp->answered_ns = mono_ns();
}

void
apitokend_spin_answered(struct apitokend_spin *sp)
{
	sp->answered_ns = mono_ns();
}

ssize_t
apitokend_spin_recv(struct apitokend_spin *sp, int fd, char *buf, size_t len)
{
	int64_t end;
	ssize_t n;

	if (!sp->spin)
		return -1;
	end = sp->answered_ns + APITOKEND_SPIN_NS;
	do {
		n = recv(fd, buf, len, MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1; /* the blocking recv() reports it */
		(void)sched_yield();
	} while (mono_ns() < end);
	sp->spin = false;
	return -1;
}

void
apitokend_spin_woken(struct apitokend_spin *sp)
{
	sp->spin = mono_ns() - sp->answered_ns < APITOKEND_SPIN_NS;
}
