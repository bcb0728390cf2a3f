/*
 * apitokend: throttling of failed authentication (internal, reusable).
 *
 * One table counts failures per key (a source address, a client id, a
 * user name: any bytes) with a token bucket: a key may fail `burst` times
 * at once, and one failure is forgiven every 1/`per_second` seconds.  Once
 * its bucket is empty the key is throttled: apitokend_throttle_wait()
 * returns the seconds to wait (for a 429 answer's Retry-After) until one
 * failure has been forgiven.  Successes cost nothing and are never
 * counted, so a client that authenticates correctly after waiting gets in.
 *
 * Memory is fixed at creation (`slots` entries, about 24 bytes each,
 * whatever the number of keys): a key is kept as a 64-bit keyed hash
 * (random key per table, so nobody can aim collisions at a victim), in a
 * set of 8 ways; a new key takes the place of the entry closest to a full
 * bucket, so throttled keys are the last to be forgotten.
 *
 * Logging (NOTICE, the key escaped and cut to 64 bytes, never a secret):
 * one line when a key becomes throttled, and a summary at most every
 * `summary_s` seconds while anything was refused.  Every table appears in
 * /metrics (apitokend_throttle_metrics_write).
 *
 * All functions are thread-safe (striped locks) and accept t == NULL as
 * "throttling off" (wait/fail return 0).  While no key of a table is
 * throttled, apitokend_throttle_wait() is one atomic load.
 */
#ifndef APITOKEND_THROTTLE_H
#define APITOKEND_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct apitokend_throttle_conf {
	const char *name;   /* metrics label and log word: "address", ... */
	unsigned slots;     /* keys tracked at once; rounded up to 8 * 2^n */
	unsigned burst;     /* failures in a row before throttling, >= 1 */
	double per_second;  /* failures forgiven per second, > 0 */
	unsigned summary_s; /* shortest time between summaries; 0: 60 */
};

struct apitokend_throttle_stats {
	unsigned long failures;  /* failures counted */
	unsigned long refused;   /* wait() calls that returned > 0 */
	unsigned long starts;    /* times a key became throttled */
	unsigned long throttled; /* keys throttled now (approximate) */
	size_t slots;            /* entries in the table */
	size_t bytes;            /* memory the table holds */
};

struct apitokend_throttle;

/* A new table (registered for /metrics), or NULL (out of memory or a bad
 * conf, with apitoken_error set).  The name is copied. */
struct apitokend_throttle *
apitokend_throttle_create(const struct apitokend_throttle_conf *conf);
/* Unregister and free; NULL is fine.  No call on t may be running. */
void apitokend_throttle_destroy(struct apitokend_throttle *t);

/* Nothing throttled and no summary owed (then wait() returns 0 for every
 * key): lets a caller skip making the key.  True for t == NULL. */
bool apitokend_throttle_idle(struct apitokend_throttle *t);

/*
 * Is key throttled?  0: it may try now.  Otherwise the whole seconds
 * (>= 1) until it may, and the refusal is counted.
 */
unsigned apitokend_throttle_wait(struct apitokend_throttle *t, const void *key,
                                 size_t len);
/*
 * Count one failed authentication of key.  0 if key may still try,
 * otherwise the seconds until it may (the key is throttled from now on).
 */
unsigned apitokend_throttle_fail(struct apitokend_throttle *t, const void *key,
                                 size_t len);

/* The same with the caller's monotonic clock in milliseconds (tests,
 * callers that already read the clock). */
unsigned apitokend_throttle_wait_at(struct apitokend_throttle *t,
                                    const void *key, size_t len,
                                    int64_t now_ms);
unsigned apitokend_throttle_fail_at(struct apitokend_throttle *t,
                                    const void *key, size_t len,
                                    int64_t now_ms);
/* CLOCK_MONOTONIC in milliseconds. */
int64_t apitokend_throttle_now_ms(void);

void apitokend_throttle_stats(struct apitokend_throttle *t,
                              struct apitokend_throttle_stats *out);
/* Every live table's counters in Prometheus text format 0.0.4. */
void apitokend_throttle_metrics_write(FILE *out);

#endif /* APITOKEND_THROTTLE_H */
