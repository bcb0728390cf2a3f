/*
 * apitokend: after an answer on the local socket, wait a few microseconds
 * for the next request without sleeping, on connections whose requests
 * come quickly (local_spin.c).
 */
#ifndef APITOKEND_LOCAL_SPIN_H
#define APITOKEND_LOCAL_SPIN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* How long to look for the next request after an answer: several times
 * the gap between an answer and a tight-looping client's next request
 * (2-3 us here). */
#define APITOKEND_SPIN_NS 20000

struct apitokend_spin {
	bool spin;           /* the last request came within the spin */
	int64_t answered_ns; /* CLOCK_MONOTONIC of the last answer */
};

/* A new connection: spun for until a request comes late. */
void apitokend_spin_init(struct apitokend_spin *sp);
void apitokend_spin_answered(struct apitokend_spin *sp);
/*
 * Look for the next request until APITOKEND_SPIN_NS after the last
 * answer: bytes read (>0), 0 at end of file, or -1 when nothing came (or
 * the connection is not spun for): then poll().
 */
ssize_t apitokend_spin_recv(struct apitokend_spin *sp, int fd, char *buf,
                            size_t len);
/* poll() said readable: spin for the next request if this one came
 * within APITOKEND_SPIN_NS of the answer. */
void apitokend_spin_woken(struct apitokend_spin *sp);

#endif /* APITOKEND_LOCAL_SPIN_H */
