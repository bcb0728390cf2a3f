/*
 * apitokend: active introspection answers kept ready to send (internal).
 *
 * An entry is used only while it is exactly what the store would answer
 * now: same token (by SHA-256), same asking client, same configuration
 * generation, no store failure since, now < exp, and no change to its
 * token, user or client retired since it was read (the caller also checks
 * that every visible change has been retired: tail.c).  See
 * answer_cache.c.
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
	uint64_t rgen;          /* apitokend_answers_rgen() before the read */
	unsigned long failures; /* apitoken_store_failures(), ditto */
};

/* A table for about entries answers; NULL when entries is 0 or on ENOMEM
 * (then every answer is computed). */
struct apitokend_answers *apitokend_answers_create(size_t entries);
void apitokend_answers_destroy(struct apitokend_answers *a);

/*
 * introspection_cache "auto": how many answers to make room for, given
 * the active tokens and the machine's memory in bytes (answer_cache.c).
 */
size_t apitokend_answers_auto_entries(size_t active, uint64_t ram);

/* Places in the table (a power of two, at least the entries asked for);
 * 0 when a is NULL. */
size_t apitokend_answers_places(const struct apitokend_answers *a);

/*
 * If a current answer for k is kept, call fn with its response and token
 * id, under the entry's lock (so the response outlives the call: queue it
 * there), and return true.  a may be NULL.  body: the answer's JSON, as
 * given to apitokend_answers_put.  first_use: this entry was not
 * used before in the second now (so last use, which keeps seconds, has
 * something new to note; the entry remembers the second, which spares the
 * last-use table a lookup on most hits).
 */
typedef void (*apitokend_answer_fn)(struct MHD_Response *resp, const char *jti,
                                    bool first_use, const char *body,
                                    size_t body_len, void *arg);
bool apitokend_answers_use(struct apitokend_answers *a,
                           const struct apitokend_answer_key *k, int64_t now,
                           apitokend_answer_fn fn, void *arg);

/*
 * Keep resp, the answer for k about a token of user, until exp or until
 * its token, user or client is retired or the generation moves on.
 * Dropped if anything was retired since k->rgen was read (the answer may
 * predate it).  Takes over the caller's reference to resp in every case
 * (destroys it when a is NULL).  body (body_len bytes) is the buffer resp
 * sends, which lives as long as resp: the local socket, which has no
 * HTTP response to send, uses it (key client_id "": no client has that
 * id, so no client's retirement touches it; token and user retirements
 * do).
 */
void apitokend_answers_put(struct apitokend_answers *a,
                           const struct apitokend_answer_key *k, int64_t exp,
                           const char *jti, const char *user,
                           struct MHD_Response *resp, const char *body,
                           size_t body_len);

/*
 * The retirement generation: moves on before every retirement below.
 * Read it into k->rgen before the store read an answer comes from.
 * 0 when a is NULL.
 */
uint64_t apitokend_answers_rgen(struct apitokend_answers *a);

/*
 * Retire what a change touched (tail.c calls these for each change
 * record): every answer about the token with this hash, every answer
 * about a token of this user, every answer given to this client, or all.
 * The token's answers are dropped at once; a user's are marked stale in
 * O(1) (a counter per bucket of user names that each entry remembers);
 * a client's and all are a walk of the table (rare).  a may be NULL.
 */
void apitokend_answers_retire_token(struct apitokend_answers *a,
                                    const uint8_t *hash);
void apitokend_answers_retire_user(struct apitokend_answers *a,
                                   const char *user, size_t len);
void apitokend_answers_retire_client(struct apitokend_answers *a,
                                     const char *client_id, size_t len);
void apitokend_answers_retire_all(struct apitokend_answers *a);

#endif /* APITOKEND_ANSWER_CACHE_H */
