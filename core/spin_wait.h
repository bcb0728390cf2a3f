/*
 * Wait a few microseconds for a socket without sleeping (spin_wait.c).
 * Internal: compiled into apitokend and into the plugin, not exported by
 * libapitoken.
 */
#ifndef APITOKEN_SPIN_WAIT_H
#define APITOKEN_SPIN_WAIT_H

#include <stdbool.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t spin_wait_now_ns(void);
/*
 * Look at fd until until_ns (CLOCK_MONOTONIC), at least once, yielding
 * the CPU between looks: true when it is readable (data, end of file or
 * an error, which the caller's recv() then reports), false when it was
 * not by then: the caller then sleeps in poll() as before.
 */
bool spin_wait_readable(int fd, int64_t until_ns);

#endif /* APITOKEN_SPIN_WAIT_H */
