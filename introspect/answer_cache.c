/*
 * apitokend: active introspection answers kept ready to send.
 *
 * Resource servers ask about the same tokens again and again.  Computing
 * an active answer takes two store reads (the token, then its user's role,
 * Business Units and API-token option), the JSON, and a libmicrohttpd
 * response with three headers: about as much CPU again as libmicrohttpd
 * spends on the whole request.  Here the finished response is kept and
 * queued again, as a static file server does.
 *
 * Never stale, not "stale for at most a TTL": an entry is used only while
 *   - nothing it depends on was retired since it was read.  Every write
 *     that can change an answer (revocation, regeneration, role or
 *     Business-Unit change, API access off, user or client removal)
 *     writes change records in its transaction; the tail (tail.c) reads
 *     them and retires the token's answers (dropped from their set), the
 *     user's (the user's bucket counter moves on; an entry remembers the
 *     value it was put with) or the client's (dropped).  Writes that
 *     change no answer (audit, outbox, the purge of expired tokens, other
 *     users' changes) retire nothing, so answers survive them.  The
 *     caller uses no entry while the tail has not retired every change
 *     visible to this process (introspect.c), so a write that returned
 *     is never answered around;
 *   - the configuration generation is the same (SIGHUP: roles, issuer,
 *     audience);
 *   - the store has reported no failure since (fail closed: once the
 *     store may be broken, every answer comes from it again, or a 503);
 *   - now < exp;
 *   - the same client asks (client_id is part of the answer).
 *
 * A put races with retirements: an answer read before a change may land
 * after the change was retired.  So the table has a retirement
 * generation (rgen) that moves on before every retirement; the caller
 * reads it before its store read, and a put whose rgen is no longer
 * current is dropped.  A put checks rgen under its set's lock after
 * reading the user's bucket counter: a token retirement takes that lock
 * after moving rgen on, and a user retirement moves rgen on before the
 * counter, so either the put sees the new rgen and is dropped, or its
 * entry is there to be dropped (or carries the old counter value).
 * Only active answers are kept: an inactive one is a shared constant
 * already, and keeping them would let anyone fill the table with
 * made-up tokens.
 *
 * Why not a library: Debian's caches for C (liboauth2's shm, file,
 * memcache and redis backends) expire by time, which would let a revoked
 * token live on, and copy values in and out; this needs a lookup keyed by
 * a SHA-256 that is already uniform, so a fixed set-associative array
 * indexed by its first bytes is the whole data structure.  A set has
 * WAYS entries and its own mutex; a full set replaces a stale entry
 * first.  When none is stale, a newcomer must earn its place: it is let
 * in only if it is one of the set's last REFUSED refused newcomers (asked
 * for again before REFUSED others missed in this set), and then it
 * replaces the way with the fewest uses, whose counts are halved at each
 * replacement so that old popularity fades.  On a store much larger than
 * the table (1M tokens, Zipf-distributed questions,
 * tests/bench/scale-bench.sh) this keeps the often-asked answers instead
 * of the last-asked ones.  REFUSED 4 rather than 1: a simulation of the
 * benchmark (8192 sets, 1M tokens, Zipf after a uniform warm-up) kept
 * 72.6% instead of 70.7% after three rounds (16: 71.3%; no filter at
 * all: 65.5%), and a uniform scan lets in few more (6.6% either way).
 * An answer that nobody asked for again while UNASKED_AFTER (16) other
 * answers were put or refused in its set gives way to the next newcomer
 * without that filter: after a burst of one-off questions (a scan, or
 * the benchmark's uniform rounds) the table would otherwise hold them
 * until a popular newcomer happened to be asked twice close together.
 * Simulated as above (tests/bench/admission_sim.py): 75.6% kept after
 * three rounds instead of 72.6%, the uniform scan unchanged.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <apitoken/config.h>
#include <apitoken/store.h>

#include "answer_cache.h"

/*
 * 8 ways and a random victim: the benchmark's cyclic walk over 10000
 * tokens at the default size missed 23% of the time with 4 ways and round
 * robin (a set holding one token too many misses on all of them), 3.6%
 * with these (simulated); tests/bench/run-bench.sh measured 2.5-2.8%.
 */
#define WAYS 8
#define REFUSED 4 /* refused newcomers remembered per set (top of file) */
/* A way never asked for since it was put, UNASKED_AFTER misses of its set
 * ago, gives way to a newcomer without the filter (top of file). */
#define UNASKED_AFTER 16
/* Buckets of user names; a user change marks 1/USER_BUCKETS of the
 * users' answers stale (4096: a change retires about 2 of 10k users'). */
#define USER_BUCKETS 4096

struct answer {
	struct MHD_Response *resp; /* NULL: empty */
	const char *body;          /* what resp sends (it owns the buffer) */
	size_t body_len;
	uint8_t hash[APITOKEN_HASH_LEN];
	const void *gen;
	uint64_t ugen; /* users[ub] when put */
	uint32_t ub;
	unsigned long failures;
	int64_t exp;
	int64_t used;      /* the second of the last apitokend_answers_use() */
	uint8_t uses;      /* since put, saturating; halved at replacements */
	uint32_t put_miss; /* the set's miss count when it was put */
	char jti[APITOKEN_ID_LEN + 1];
	char client_id[APITOKEN_CLIENT_ID_MAX + 1];
};

struct answer_set {
	pthread_mutex_t mu;
	uint64_t tag[WAYS]; /* hash bytes 8-15 of each way, scanned first */
	uint64_t refused[REFUSED]; /* tags of the last refused, 0: none */
	unsigned refused_next;     /* where the next refused tag goes */
	uint32_t misses;           /* answers put or refused here */
	struct answer way[WAYS];
};

struct apitokend_answers {
	size_t mask; /* sets - 1, sets a power of two */
	struct answer_set *sets;
	_Atomic uint64_t rgen;
	_Atomic uint64_t users[USER_BUCKETS];
};

struct apitokend_answers *
apitokend_answers_create(size_t entries)
{
	struct apitokend_answers *a;
	size_t sets = 1, i;

	if (entries == 0)
		return NULL;
	while (sets * WAYS < entries)
		sets <<= 1;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	a->sets = calloc(sets, sizeof(*a->sets));
	if (a->sets == NULL) {
		free(a);
		return NULL;
	}
	for (i = 0; i < sets; i++) {
		if (pthread_mutex_init(&a->sets[i].mu, NULL) != 0) {
			while (i-- > 0)
				pthread_mutex_destroy(&a->sets[i].mu);
			free(a->sets);
			free(a);
			return NULL;
		}
	}
	a->mask = sets - 1;
	return a;
}

void
apitokend_answers_destroy(struct apitokend_answers *a)
{
	size_t i;
	int w;

	if (a == NULL)
		return;
	for (i = 0; i <= a->mask; i++) {
		for (w = 0; w < WAYS; w++)
			if (a->sets[i].way[w].resp != NULL)
				MHD_destroy_response(a->sets[i].way[w].resp);
		pthread_mutex_destroy(&a->sets[i].mu);
	}
	OPENSSL_cleanse(a->sets, (a->mask + 1) * sizeof(*a->sets));
	free(a->sets);
	free(a);
}

/*
 * "auto": twice the active tokens, so that the sets of WAYS are half
 * full on average and few tokens find theirs full (with as many places
 * as tokens, 1M tokens asked Zipf-distributed were answered from the
 * table 93% of the time, after a short warm-up; the default of 65536
 * kept 76%), and never fewer than AUTO_MIN.  The table costs its places
 * at start (sizeof(struct answer_set) / WAYS each: every set's mutex is
 * initialised) and a kept answer about KEPT_BYTES more (its
 * libmicrohttpd response, three headers and the JSON: measured as RSS
 * over 1M kept answers).  All that stays within an eighth of the
 * machine's memory; over it, the table is halved until it fits (the
 * answers that no longer fit are computed, as before).
 */
#define AUTO_MIN ((size_t)65536)
#define KEPT_BYTES ((uint64_t)1024)

size_t
apitokend_answers_auto_entries(size_t active, uint64_t ram)
{
	const uint64_t place = sizeof(struct answer_set) / WAYS;
	size_t n = AUTO_MIN;
	uint64_t kept;

	while (n < APITOKEN_INTROSPECTION_CACHE_MAX && n / 2 < active)
		n <<= 1;
	for (;;) {
		kept = active < n ? active : n;
		if (n <= AUTO_MIN || n * place + kept * KEPT_BYTES <= ram / 8)
			break;
		n >>= 1;
	}
	return n;
}

size_t
apitokend_answers_places(const struct apitokend_answers *a)
{
	return a == NULL ? 0 : (a->mask + 1) * WAYS;
}

static struct answer_set *
set_of(struct apitokend_answers *a, const uint8_t *hash)
{
	uint64_t v;

	memcpy(&v, hash, sizeof(v));
	return &a->sets[v & a->mask];
}

static uint64_t
tag_of(const uint8_t *hash)
{
	uint64_t v;

	memcpy(&v, hash + 8, sizeof(v));
	return v;
}

static bool
same_question(const struct answer_set *s, int w,
              const struct apitokend_answer_key *k, uint64_t tag)
{
	const struct answer *e = &s->way[w];

	return s->tag[w] == tag && e->resp != NULL &&
	       memcmp(e->hash, k->hash, APITOKEN_HASH_LEN) == 0 &&
	       strcmp(e->client_id, k->client_id) == 0;
}

bool
apitokend_answers_use(struct apitokend_answers *a,
                      const struct apitokend_answer_key *k, int64_t now,
                      apitokend_answer_fn fn, void *arg)
{
	struct answer_set *s;
	bool found = false;
	uint64_t tag;
	int w;

	if (a == NULL)
		return false;
	s = set_of(a, k->hash);
	tag = tag_of(k->hash);
	pthread_mutex_lock(&s->mu);
	for (w = 0; w < WAYS; w++) {
		struct answer *e = &s->way[w];

		if (same_question(s, w, k, tag) &&
		    e->failures == k->failures && e->gen == k->gen &&
		    now < e->exp &&
		    atomic_load_explicit(&a->users[e->ub],
		                         memory_order_acquire) == e->ugen) {
			bool first = e->used != now;

			e->used = now;
			if (e->uses < UINT8_MAX)
				e->uses++;
			fn(e->resp, e->jti, first, e->body, e->body_len, arg);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return found;
}

/* The way to (re)use for k: its own, an empty or stale one, else, for a
 * newcomer that earned it (top of the file), the least used; -1: keep
 * what is there. */
static int
victim(struct apitokend_answers *a, struct answer_set *s,
       const struct apitokend_answer_key *k, uint64_t tag)
{
	struct answer *e;
	int w, least = 0;

	for (w = 0; w < WAYS; w++)
		if (same_question(s, w, k, tag))
			return w;
	for (w = 0; w < WAYS; w++) {
		e = &s->way[w];
		if (e->resp == NULL || e->failures != k->failures ||
		    e->gen != k->gen ||
		    atomic_load_explicit(&a->users[e->ub],
		                         memory_order_relaxed) != e->ugen)
			return w;
	}
	s->misses++;
	for (w = 0; w < WAYS; w++) {
		e = &s->way[w];
		if (e->used == 0 && s->misses - e->put_miss > UNASKED_AFTER)
			return w;
	}
	for (w = 0; w < REFUSED && s->refused[w] != tag; w++)
		;
	if (w == REFUSED) {
		s->refused[s->refused_next++ % REFUSED] = tag;
		return -1;
	}
	s->refused[w] = 0;
	for (w = 0; w < WAYS; w++) {
		e = &s->way[w];
		if (e->uses < s->way[least].uses)
			least = w;
	}
	for (w = 0; w < WAYS; w++)
		s->way[w].uses /= 2;
	return least;
}

static uint32_t
user_bucket(const char *user, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (uint8_t)user[i];
		h *= 16777619u;
	}
	return h % USER_BUCKETS;
}

uint64_t
apitokend_answers_rgen(struct apitokend_answers *a)
{
	if (a == NULL)
		return 0;
	return atomic_load_explicit(&a->rgen, memory_order_acquire);
}

void
apitokend_answers_put(struct apitokend_answers *a,
                      const struct apitokend_answer_key *k, int64_t exp,
                      const char *jti, const char *user,
                      struct MHD_Response *resp, const char *body,
                      size_t body_len)
{
	struct MHD_Response *old = resp;
	struct answer_set *s;
	struct answer *e;
	uint64_t tag, ugen;
	uint32_t ub;
	int w;

	if (a == NULL || strlen(k->client_id) > APITOKEN_CLIENT_ID_MAX ||
	    strlen(jti) > APITOKEN_ID_LEN)
		goto out;
	ub = user_bucket(user, strlen(user));
	/* Before rgen: see the top of the file. */
	ugen = atomic_load_explicit(&a->users[ub], memory_order_acquire);
	s = set_of(a, k->hash);
	tag = tag_of(k->hash);
	pthread_mutex_lock(&s->mu);
	/* Something was retired since the read: this may predate it (and
	 * an answer read later, already here, stays). */
	if (atomic_load_explicit(&a->rgen, memory_order_acquire) != k->rgen) {
		pthread_mutex_unlock(&s->mu);
		goto out;
	}
	w = victim(a, s, k, tag);
	if (w < 0) {
		pthread_mutex_unlock(&s->mu);
		goto out; /* old == resp: dropped below */
	}
	e = &s->way[w];
	old = e->resp;
	s->tag[w] = tag;
	e->resp = resp;
	e->body = body;
	e->body_len = body_len;
	memcpy(e->hash, k->hash, APITOKEN_HASH_LEN);
	e->gen = k->gen;
	e->ub = ub;
	e->ugen = ugen;
	e->failures = k->failures;
	e->exp = exp;
	e->used = 0;
	e->uses = 0;
	e->put_miss = s->misses;
	strcpy(e->jti, jti);
	strcpy(e->client_id, k->client_id);
	pthread_mutex_unlock(&s->mu);
out:
	/* Outside the lock: a connection may still hold it, then MHD frees
	 * it when that one is done. */
	if (old != NULL)
		MHD_destroy_response(old);
}

/* ---- retirement (tail.c) --------------------------------------------- */

static void
next_rgen(struct apitokend_answers *a)
{
	atomic_fetch_add_explicit(&a->rgen, 1, memory_order_acq_rel);
}

/* Empty way w of s (s->mu held); its response goes to *drop. */
static void
clear_way(struct answer_set *s, int w, struct MHD_Response **drop)
{
	*drop = s->way[w].resp;
	s->way[w].resp = NULL;
	s->tag[w] = 0;
}

void
apitokend_answers_retire_token(struct apitokend_answers *a,
                               const uint8_t *hash)
{
	struct MHD_Response *drop[WAYS];
	struct answer_set *s;
	uint64_t tag;
	int w, n = 0;

	if (a == NULL)
		return;
	next_rgen(a);
	s = set_of(a, hash);
	tag = tag_of(hash);
	pthread_mutex_lock(&s->mu);
	for (w = 0; w < WAYS; w++)
		if (s->tag[w] == tag && s->way[w].resp != NULL &&
		    memcmp(s->way[w].hash, hash, APITOKEN_HASH_LEN) == 0)
			clear_way(s, w, &drop[n++]);
	pthread_mutex_unlock(&s->mu);
	while (n > 0)
		MHD_destroy_response(drop[--n]);
}

void
apitokend_answers_retire_user(struct apitokend_answers *a, const char *user,
                              size_t len)
{
	if (a == NULL)
		return;
	next_rgen(a);
	atomic_fetch_add_explicit(&a->users[user_bucket(user, len)], 1,
	                          memory_order_acq_rel);
}

/* Drop every entry given to client_id (NULL: every entry). */
static void
retire_where(struct apitokend_answers *a, const char *client_id, size_t len)
{
	struct MHD_Response *drop[WAYS];
	struct answer_set *s;
	size_t i;
	int w, n;

	next_rgen(a);
	for (i = 0; i <= a->mask; i++) {
		s = &a->sets[i];
		n = 0;
		pthread_mutex_lock(&s->mu);
		for (w = 0; w < WAYS; w++) {
			const struct answer *e = &s->way[w];

			if (e->resp == NULL)
				continue;
			if (client_id == NULL ||
			    (strlen(e->client_id) == len &&
			     memcmp(e->client_id, client_id, len) == 0))
				clear_way(s, w, &drop[n++]);
		}
		pthread_mutex_unlock(&s->mu);
		while (n > 0)
			MHD_destroy_response(drop[--n]);
	}
}

void
apitokend_answers_retire_client(struct apitokend_answers *a,
                                const char *client_id, size_t len)
{
	if (a != NULL)
		retire_where(a, client_id, len);
}

void
apitokend_answers_retire_all(struct apitokend_answers *a)
{
	if (a != NULL)
		retire_where(a, NULL, 0);
}
