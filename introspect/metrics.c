/*
 * apitokend: Prometheus metrics; see metrics.h.
 *
 * The per-request counters live in one shard per thread: two workers
 * adding to the same counters made their cache lines bounce between CPUs
 * three times per request.  A shard has one writer, its thread, so it
 * needs no atomic read-modify-write either; /metrics adds the shards up
 * (and the totals of threads that have ended).
 */
#include "config.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* Status codes we count separately; anything else goes to "other". */
static const unsigned codes[] = {200, 400, 401, 403, 404,
                                 405, 413, 429, 500, 503};
#define N_CODES (sizeof(codes) / sizeof(codes[0]))

/* Histogram bucket upper bounds in seconds (Prometheus "le"). */
static const double bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                0.01,   0.025,   0.05,   0.1,   0.25,   1.0};
#define N_BOUNDS (sizeof(bounds) / sizeof(bounds[0]))

struct shard {
	alignas(64) atomic_ulong requests[EP_COUNT][N_CODES + 1];
	/* Non-cumulative buckets; the last one is above every bound. */
	atomic_ulong buckets[EP_COUNT][N_BOUNDS + 1];
	atomic_ullong duration_ns[EP_COUNT];
	atomic_ulong answers[2]; /* [0] computed, [1] from the cache */
	struct shard *next;
};

/* Threads' shards, and the sums of ended threads (also the fallback when
 * a thread cannot have a shard: then updated with atomic adds). */
static pthread_mutex_t shards_mu = PTHREAD_MUTEX_INITIALIZER;
static struct shard *shards;
static struct shard retired;
static pthread_key_t shard_key;
static pthread_once_t shard_once = PTHREAD_ONCE_INIT;
static bool shard_key_ok;
static atomic_ulong store_errors;
static atomic_size_t tokens_active;
static atomic_size_t cache_places;

static const char *const ep_names[EP_COUNT] = {
    "introspect", "revoke", "metadata", "healthz", "metrics",
    "jwks",       "leaks",  "web",      "regions", "other"};

const char *
apitokend_endpoint_name(enum apitokend_endpoint ep)
{
	return ep < EP_COUNT ? ep_names[ep] : "other";
}

/* Add the counters of shard from into to (to may be shared: atomic). */
static void
shard_add(struct shard *to, struct shard *from)
{
	size_t ep, i;

	for (ep = 0; ep < EP_COUNT; ep++) {
		for (i = 0; i <= N_CODES; i++)
			atomic_fetch_add_explicit(
			    &to->requests[ep][i],
			    atomic_load_explicit(&from->requests[ep][i],
			                         memory_order_relaxed),
			    memory_order_relaxed);
		for (i = 0; i <= N_BOUNDS; i++)
			atomic_fetch_add_explicit(
			    &to->buckets[ep][i],
			    atomic_load_explicit(&from->buckets[ep][i],
			                         memory_order_relaxed),
			    memory_order_relaxed);
		atomic_fetch_add_explicit(
		    &to->duration_ns[ep],
		    atomic_load_explicit(&from->duration_ns[ep],
		                         memory_order_relaxed),
		    memory_order_relaxed);
	}
	for (i = 0; i < 2; i++)
		atomic_fetch_add_explicit(
		    &to->answers[i],
		    atomic_load_explicit(&from->answers[i],
		                         memory_order_relaxed),
		    memory_order_relaxed);
}

/* A thread ends: its counts move to the retired sums. */
static void
shard_retire(void *p)
{
	struct shard *sh = p, **pp;

	pthread_mutex_lock(&shards_mu);
	for (pp = &shards; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == sh) {
			*pp = sh->next;
			break;
		}
	}
	shard_add(&retired, sh);
	pthread_mutex_unlock(&shards_mu);
	free(sh);
}

static void
shard_key_init(void)
{
	shard_key_ok = pthread_key_create(&shard_key, shard_retire) == 0;
}

/* This thread's shard; NULL: use the shared one. */
static struct shard *
shard_mine(void)
{
	struct shard *sh;

	(void)pthread_once(&shard_once, shard_key_init);
	if (!shard_key_ok)
		return NULL;
	sh = pthread_getspecific(shard_key);
	if (sh != NULL)
		return sh;
	sh = aligned_alloc(64, sizeof(*sh));
	if (sh == NULL)
		return NULL;
	memset(sh, 0, sizeof(*sh));
	if (pthread_setspecific(shard_key, sh) != 0) {
		free(sh);
		return NULL;
	}
	pthread_mutex_lock(&shards_mu);
	sh->next = shards;
	shards = sh;
	pthread_mutex_unlock(&shards_mu);
	return sh;
}

/* Add v to a counter: a plain load and store in the owner's shard. */
static void
bump(struct shard *mine, atomic_ulong *a, unsigned long v)
{
	if (mine != NULL)
		atomic_store_explicit(
		    a, atomic_load_explicit(a, memory_order_relaxed) + v,
		    memory_order_relaxed);
	else
		atomic_fetch_add_explicit(a, v, memory_order_relaxed);
}

void
apitokend_metrics_request(enum apitokend_endpoint ep, unsigned status,
                          double seconds)
{
	struct shard *mine = shard_mine(), *sh = mine ? mine : &retired;
	size_t i, ci = N_CODES;
	unsigned long long ns;

	if (ep >= EP_COUNT)
		ep = EP_OTHER;
	for (i = 0; i < N_CODES; i++) {
		if (codes[i] == status) {
			ci = i;
			break;
		}
	}
	bump(mine, &sh->requests[ep][ci], 1);
	for (i = 0; i < N_BOUNDS; i++)
		if (seconds <= bounds[i])
			break;
	bump(mine, &sh->buckets[ep][i], 1);
	if (seconds < 0)
		seconds = 0;
	ns = (unsigned long long)(seconds * 1e9);
	if (mine != NULL)
		atomic_store_explicit(
		    &sh->duration_ns[ep],
		    atomic_load_explicit(&sh->duration_ns[ep],
		                         memory_order_relaxed) +
		        ns,
		    memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&sh->duration_ns[ep], ns,
		                          memory_order_relaxed);
}

void
apitokend_metrics_answer_cache(bool hit)
{
	struct shard *mine = shard_mine(), *sh = mine ? mine : &retired;

	bump(mine, &sh->answers[hit], 1);
}

void
apitokend_metrics_store_error(void)
{
	atomic_fetch_add_explicit(&store_errors, 1, memory_order_acq_rel);
}

unsigned long
apitokend_metrics_store_errors(void)
{
	return atomic_load_explicit(&store_errors, memory_order_acquire);
}

void
apitokend_metrics_set_active(size_t n)
{
	atomic_store_explicit(&tokens_active, n, memory_order_relaxed);
}

void
apitokend_metrics_set_cache_places(size_t n)
{
	atomic_store_explicit(&cache_places, n, memory_order_relaxed);
}

static unsigned long
load(atomic_ulong *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

void
apitokend_metrics_write(FILE *out, apitokend_mail_t *mail)
{
	static struct shard sum; /* only under shards_mu */
	struct shard *sh;
	atomic_ulong(*requests)[N_CODES + 1] = sum.requests;
	atomic_ulong(*buckets)[N_BOUNDS + 1] = sum.buckets;
	atomic_ullong *duration_ns = sum.duration_ns;
	size_t ep, i;

	pthread_mutex_lock(&shards_mu);
	memset(&sum, 0, sizeof(sum));
	shard_add(&sum, &retired);
	for (sh = shards; sh != NULL; sh = sh->next)
		shard_add(&sum, sh);

	fputs("# HELP apitokend_requests_total HTTP requests by endpoint and"
	      " status code.\n"
	      "# TYPE apitokend_requests_total counter\n",
	      out);
	for (ep = 0; ep < EP_COUNT; ep++) {
		for (i = 0; i <= N_CODES; i++) {
			unsigned long v = load(&requests[ep][i]);

			if (v == 0)
				continue;
			if (i < N_CODES)
				fprintf(out,
				        "apitokend_requests_total{endpoint="
				        "\"%s\",code=\"%u\"} %lu\n",
				        ep_names[ep], codes[i], v);
			else
				fprintf(out,
				        "apitokend_requests_total{endpoint="
				        "\"%s\",code=\"other\"} %lu\n",
				        ep_names[ep], v);
		}
	}
	fputs("# HELP apitokend_request_duration_seconds Time to answer an"
	      " HTTP request.\n"
	      "# TYPE apitokend_request_duration_seconds histogram\n",
	      out);
	for (ep = 0; ep < EP_COUNT; ep++) {
		unsigned long cum = 0;

		for (i = 0; i < N_BOUNDS; i++) {
			cum += load(&buckets[ep][i]);
			fprintf(out,
			        "apitokend_request_duration_seconds_bucket"
			        "{endpoint=\"%s\",le=\"%g\"} %lu\n",
			        ep_names[ep], bounds[i], cum);
		}
		cum += load(&buckets[ep][N_BOUNDS]);
		fprintf(out,
		        "apitokend_request_duration_seconds_bucket"
		        "{endpoint=\"%s\",le=\"+Inf\"} %lu\n",
		        ep_names[ep], cum);
		fprintf(out,
		        "apitokend_request_duration_seconds_sum"
		        "{endpoint=\"%s\"} %.9f\n",
		        ep_names[ep],
		        (double)atomic_load_explicit(&duration_ns[ep],
		                                     memory_order_relaxed) /
		            1e9);
		fprintf(out,
		        "apitokend_request_duration_seconds_count"
		        "{endpoint=\"%s\"} %lu\n",
		        ep_names[ep], cum);
	}
	fprintf(out,
	        "# HELP apitokend_tokens_active Tokens not yet expired,"
	        " as of the last sweep.\n"
	        "# TYPE apitokend_tokens_active gauge\n"
	        "apitokend_tokens_active %zu\n",
	        atomic_load_explicit(&tokens_active, memory_order_relaxed));
	fprintf(out,
	        "# HELP apitokend_introspection_cache_total Introspections"
	        " and local-socket checks of well-formed tokens by where the"
	        " answer came from:"
	        " computed from the store (miss) or kept (hit).\n"
	        "# TYPE apitokend_introspection_cache_total counter\n"
	        "apitokend_introspection_cache_total{result=\"miss\"} %lu\n"
	        "apitokend_introspection_cache_total{result=\"hit\"} %lu\n",
	        load(&sum.answers[0]), load(&sum.answers[1]));
	fprintf(out,
	        "# HELP apitokend_introspection_cache_places Places for"
	        " kept answers (introspection_cache as sized at start;"
	        " 0: none kept).\n"
	        "# TYPE apitokend_introspection_cache_places gauge\n"
	        "apitokend_introspection_cache_places %zu\n",
	        atomic_load_explicit(&cache_places, memory_order_relaxed));
	fprintf(out,
	        "# HELP apitokend_store_errors_total Failed store"
	        " operations.\n"
	        "# TYPE apitokend_store_errors_total counter\n"
	        "apitokend_store_errors_total %lu\n",
	        load(&store_errors));
	pthread_mutex_unlock(&shards_mu);
	if (mail != NULL)
		apitokend_mail_write_metrics(mail, out);
}
