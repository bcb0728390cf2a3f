/*
 * apitokend: active introspection answers kept ready to send (internal).
 *
 * An entry is used only while it is exactly what the store would answer
 * now: same token (by SHA-256), same asking client, same configuration
 * generation, same store write epoch, no store failure since, and
 * now < exp.  See answer_cache.c.
 */
#ifndef APITOKEND_ANSWER_CACHE_H
#define APITOKEND_ANSWER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include <apitoken/token.h>

struct apitokend_answers;

struct apitokend_answer_key {
	const uint8_t *hash;    /* SHA-256 of the token, APITOKEN_HASH_LEN */
	const char *client_id;  /* the authenticated client */
	const void *gen;        /* configuration generation in use */
	uint64_t epoch;         /* apitoken_store_epoch() before the read */
	unsigned long failures; /* store failures seen so far, ditto */
};

/* A table for about entries answers; NULL when entries is 0 or on ENOMEM
 * (then every answer is computed). */
struct apitokend_answers *apitokend_answers_create(size_t entries);
void apitokend_answers_destroy(struct apitokend_answers *a);

/*
 * If a current answer for k is kept, call fn with its response and token
 * id, under the entry's lock (so the response outlives the call: queue it
 * there), and return true.  a may be NULL.
 */
typedef void (*apitokend_answer_fn)(struct MHD_Response *resp, const char *jti,
                                    void *arg);
bool apitokend_answers_use(struct apitokend_answers *a,
                           const struct apitokend_answer_key *k, int64_t now,
                           apitokend_answer_fn fn, void *arg);

/*
 * Keep resp as the answer for k until exp (or until the epoch or the
 * generation moves on).  Takes over the caller's reference to resp in
 * every case (destroys it when a is NULL).
 */
void apitokend_answers_put(struct apitokend_answers *a,
                           const struct apitokend_answer_key *k, int64_t exp,
                           const char *jti, struct MHD_Response *resp);

#endif /* APITOKEND_ANSWER_CACHE_H */
