/*
 * apitokend: throttling of failed authentication; see throttle.h.
 *
 * Bucket levels are kept in thousandths of a failure, refilled lazily
 * from the time of the last visit, so an entry costs nothing between
 * visits and there is no timer thread.  The table is a set-associative
 * cache of 8-way sets; each set is guarded by one of LOCKS striped
 * mutexes (sets never span stripes), so two workers contend only when
 * they touch the same stripe.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <apitoken/error.h>
#include <apitoken/log.h>

#include "throttle.h"

#define WAYS 8
#define LOCKS 64
#define UNIT 1000u /* one failure, in thousandths */
#define KEY_LOG_MAX 64

struct entry {
	uint64_t tag;     /* keyed hash of the key; 0: empty */
	int64_t stamp_ms; /* when level was last brought up to date */
	uint32_t level;   /* bucket level, thousandths of a failure */
	uint32_t throttled;
};

struct apitokend_throttle {
	struct apitokend_throttle *next; /* registry */
	char *name;
	EVP_MD *md;
	unsigned char salt[16];
	size_t n_sets; /* power of two */
	uint32_t cap;  /* burst * UNIT */
	unsigned burst;
	double per_ms; /* thousandths forgiven per millisecond */
	int64_t summary_ms;
	struct entry *entries;
	pthread_mutex_t locks[LOCKS];
	atomic_ulong failures, refused, starts;
	atomic_ulong win_refused, win_starts; /* since the last summary */
	atomic_long active;                   /* entries marked throttled */
	atomic_llong next_summary;
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct apitokend_throttle *registry;

int64_t
apitokend_throttle_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct apitokend_throttle *
apitokend_throttle_create(const struct apitokend_throttle_conf *conf)
{
	struct apitokend_throttle *t;
	size_t sets = 1, i;

	if (conf == NULL || conf->name == NULL || conf->burst == 0 ||
	    conf->burst > 1000000 || !(conf->per_second > 0) ||
	    conf->slots == 0 || conf->slots > (1u << 26)) {
		apitoken_error(APITOKEN_ERR_INVALID, "throttle: bad settings");
		return NULL;
	}
	while (sets * WAYS < conf->slots)
		sets *= 2;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		goto nomem;
	t->name = strdup(conf->name);
	t->entries = calloc(sets * WAYS, sizeof(*t->entries));
	t->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (t->name == NULL || t->entries == NULL || t->md == NULL)
		goto nomem;
	if (RAND_bytes(t->salt, sizeof(t->salt)) != 1) {
		apitoken_error(APITOKEN_ERR_IO, "throttle: no random bytes");
		goto fail;
	}
	t->n_sets = sets;
	t->burst = conf->burst;
	t->cap = conf->burst * UNIT;
	t->per_ms = conf->per_second; /* UNIT per second == 1 per ms */
	t->summary_ms =
	    (int64_t)(conf->summary_s != 0 ? conf->summary_s : 60) * 1000;
	atomic_init(&t->next_summary,
	            apitokend_throttle_now_ms() + t->summary_ms);
	for (i = 0; i < LOCKS; i++)
		pthread_mutex_init(&t->locks[i], NULL);
	pthread_mutex_lock(&registry_mu);
	t->next = registry;
	registry = t;
	pthread_mutex_unlock(&registry_mu);
	return t;
nomem:
	apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
fail:
	if (t != NULL) {
		EVP_MD_free(t->md);
		free(t->entries);
		free(t->name);
		free(t);
	}
	return NULL;
}

void
apitokend_throttle_destroy(struct apitokend_throttle *t)
{
	struct apitokend_throttle **pp;
	size_t i;

	if (t == NULL)
		return;
	pthread_mutex_lock(&registry_mu);
	for (pp = &registry; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	pthread_mutex_unlock(&registry_mu);
	for (i = 0; i < LOCKS; i++)
		pthread_mutex_destroy(&t->locks[i]);
	EVP_MD_free(t->md);
	free(t->entries);
	free(t->name);
	free(t);
}

static uint64_t
tag_of(struct apitokend_throttle *t, const void *key, size_t len)
{
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int hlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t tag = 0;

	if (ctx != NULL && EVP_DigestInit_ex2(ctx, t->md, NULL) == 1 &&
	    EVP_DigestUpdate(ctx, t->salt, sizeof(t->salt)) == 1 &&
	    EVP_DigestUpdate(ctx, key, len) == 1 &&
	    EVP_DigestFinal_ex(ctx, h, &hlen) == 1 && hlen >= sizeof(tag))
		memcpy(&tag, h, sizeof(tag));
	EVP_MD_CTX_free(ctx);
	/* 0 marks an empty entry; a failed hash lands on 1 (it only
	 * merges keys, it never lets one through). */
	return tag != 0 ? tag : 1;
}

/* Bring e up to date at now: refill, and lift throttling if one failure
 * is allowed again. */
static void
refill(struct apitokend_throttle *t, struct entry *e, int64_t now)
{
	double add;

	add = now > e->stamp_ms ? (double)(now - e->stamp_ms) * t->per_ms : 0;
	/* Under a thousandth: keep the stamp, or frequent visits at a slow
	 * rate would never add up to anything. */
	if (add >= (double)(t->cap - e->level)) {
		e->level = t->cap;
		e->stamp_ms = now;
	} else if (add >= 1) {
		e->level += (uint32_t)add;
		e->stamp_ms = now;
	}
	if (e->throttled && e->level >= UNIT) {
		e->throttled = 0;
		atomic_fetch_sub_explicit(&t->active, 1, memory_order_relaxed);
	}
}

static unsigned
wait_secs(const struct apitokend_throttle *t, const struct entry *e)
{
	double ms;
	unsigned secs;

	if (e->level >= UNIT)
		return 0;
	ms = (double)(UNIT - e->level) / t->per_ms;
	if (ms > 86400000.0)
		return 86400;
	secs = (unsigned)(ms / 1000);
	/* Rounded up, and at least 1: 0 would mean "go ahead". */
	if ((double)secs * 1000 < ms || secs == 0)
		secs++;
	return secs;
}

static pthread_mutex_t *
lock_of(struct apitokend_throttle *t, uint64_t tag)
{
	return &t->locks[(tag & (t->n_sets - 1)) % LOCKS];
}

/* The entry for tag, or NULL; create: make one (evicting) if missing. */
static struct entry *
find(struct apitokend_throttle *t, uint64_t tag, int64_t now, bool create)
{
	struct entry *set = &t->entries[(tag & (t->n_sets - 1)) * WAYS];
	struct entry *victim = NULL;
	size_t i;

	for (i = 0; i < WAYS; i++)
		if (set[i].tag == tag)
			return &set[i];
	if (!create)
		return NULL;
	for (i = 0; i < WAYS; i++) {
		if (set[i].tag == 0) {
			victim = &set[i];
			break;
		}
		refill(t, &set[i], now);
		if (victim == NULL || set[i].level > victim->level ||
		    (set[i].level == victim->level &&
		     set[i].stamp_ms < victim->stamp_ms))
			victim = &set[i];
	}
	if (victim->tag != 0 && victim->throttled)
		atomic_fetch_sub_explicit(&t->active, 1, memory_order_relaxed);
	victim->tag = tag;
	victim->stamp_ms = now;
	victim->level = t->cap;
	victim->throttled = 0;
	return victim;
}

/* Key as printable text for a log line: at most KEY_LOG_MAX bytes of it,
 * anything but visible ASCII as \xNN. */
static void
key_text(const void *key, size_t len, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *k = key;
	size_t i, o = 0;

	for (i = 0; i < len && i < KEY_LOG_MAX && o + 5 < size; i++) {
		if (k[i] > 0x20 && k[i] < 0x7f && k[i] != '\\') {
			buf[o++] = (char)k[i];
		} else {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[k[i] >> 4];
			buf[o++] = hex[k[i] & 15];
		}
	}
	if (i < len && o + 4 < size) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
}

/* At most one summary per interval, and only when there is news. */
static void
maybe_summary(struct apitokend_throttle *t, int64_t now)
{
	long long due =
	    atomic_load_explicit(&t->next_summary, memory_order_relaxed);
	unsigned long refused, starts;

	if (now < due || !atomic_compare_exchange_strong(
	                     &t->next_summary, &due, now + t->summary_ms))
		return;
	refused = atomic_exchange(&t->win_refused, 0);
	starts = atomic_exchange(&t->win_starts, 0);
	if (refused == 0 && starts == 0)
		return;
	apitoken_log(APITOKEN_LOG_NOTICE,
	             "throttle %s: %lu request(s) refused and %lu key(s) "
	             "newly throttled in the last %lld s; %ld throttled now",
	             t->name, refused, starts,
	             (long long)(now - due + t->summary_ms) / 1000,
	             atomic_load_explicit(&t->active, memory_order_relaxed));
}

unsigned
apitokend_throttle_wait_at(struct apitokend_throttle *t, const void *key,
                           size_t len, int64_t now_ms)
{
	struct entry *e;
	pthread_mutex_t *mu;
	uint64_t tag;
	unsigned secs = 0;

	if (t == NULL)
		return 0;
	if (atomic_load_explicit(&t->active, memory_order_relaxed) <= 0) {
		maybe_summary(t, now_ms);
		return 0;
	}
	tag = tag_of(t, key, len);
	mu = lock_of(t, tag);
	pthread_mutex_lock(mu);
	e = find(t, tag, now_ms, false);
	if (e != NULL) {
		refill(t, e, now_ms);
		secs = wait_secs(t, e);
	}
	pthread_mutex_unlock(mu);
	if (secs > 0) {
		atomic_fetch_add_explicit(&t->refused, 1,
		                          memory_order_relaxed);
		atomic_fetch_add_explicit(&t->win_refused, 1,
		                          memory_order_relaxed);
	}
	maybe_summary(t, now_ms);
	return secs;
}

unsigned
apitokend_throttle_fail_at(struct apitokend_throttle *t, const void *key,
                           size_t len, int64_t now_ms)
{
	struct entry *e;
	pthread_mutex_t *mu;
	uint64_t tag;
	unsigned secs;
	bool started = false;
	char text[KEY_LOG_MAX * 4 + 8];

	if (t == NULL)
		return 0;
	tag = tag_of(t, key, len);
	mu = lock_of(t, tag);
	pthread_mutex_lock(mu);
	e = find(t, tag, now_ms, true);
	refill(t, e, now_ms);
	e->level = e->level >= UNIT ? e->level - UNIT : 0;
	secs = wait_secs(t, e);
	if (secs > 0 && !e->throttled) {
		e->throttled = 1;
		started = true;
		atomic_fetch_add_explicit(&t->active, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(mu);
	atomic_fetch_add_explicit(&t->failures, 1, memory_order_relaxed);
	if (started) {
		atomic_fetch_add_explicit(&t->starts, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&t->win_starts, 1,
		                          memory_order_relaxed);
		key_text(key, len, text, sizeof(text));
		apitoken_log(APITOKEN_LOG_NOTICE,
		             "throttle %s: %s throttled after %u failed "
		             "authentications; next attempt in %u s",
		             t->name, text, t->burst, secs);
	}
	maybe_summary(t, now_ms);
	return secs;
}

bool
apitokend_throttle_idle(struct apitokend_throttle *t)
{
	/* Nothing throttled and no summary owed. */
	return t == NULL ||
	       (atomic_load_explicit(&t->active, memory_order_relaxed) <= 0 &&
	        atomic_load_explicit(&t->win_refused, memory_order_relaxed) ==
	            0 &&
	        atomic_load_explicit(&t->win_starts, memory_order_relaxed) ==
	            0);
}

unsigned
apitokend_throttle_wait(struct apitokend_throttle *t, const void *key,
                        size_t len)
{
	/* No clock, no hash. */
	if (apitokend_throttle_idle(t))
		return 0;
	return apitokend_throttle_wait_at(t, key, len,
	                                  apitokend_throttle_now_ms());
}

unsigned
apitokend_throttle_fail(struct apitokend_throttle *t, const void *key,
                        size_t len)
{
	return apitokend_throttle_fail_at(t, key, len,
	                                  apitokend_throttle_now_ms());
}

void
apitokend_throttle_stats(struct apitokend_throttle *t,
                         struct apitokend_throttle_stats *out)
{
	long active;

	memset(out, 0, sizeof(*out));
	if (t == NULL)
		return;
	active = atomic_load_explicit(&t->active, memory_order_relaxed);
	out->failures = atomic_load(&t->failures);
	out->refused = atomic_load(&t->refused);
	out->starts = atomic_load(&t->starts);
	out->throttled = active > 0 ? (unsigned long)active : 0;
	out->slots = t->n_sets * WAYS;
	out->bytes = sizeof(*t) + strlen(t->name) + 1 +
	             out->slots * sizeof(struct entry);
}

void
apitokend_throttle_metrics_write(FILE *out)
{
	static const struct {
		const char *name, *type, *help;
	} m[] = {
	    {"apitokend_throttle_failures_total", "counter",
	     "Failed authentications counted per throttling table."},
	    {"apitokend_throttle_refused_total", "counter",
	     "Requests refused (429) because their key was throttled."},
	    {"apitokend_throttle_starts_total", "counter",
	     "Times a key became throttled."},
	    {"apitokend_throttle_throttled", "gauge",
	     "Keys throttled now (approximate)."},
	    {"apitokend_throttle_slots", "gauge",
	     "Keys a throttling table can track at once."},
	};
	struct apitokend_throttle_stats s;
	struct apitokend_throttle *t;
	unsigned long v;
	size_t i;

	pthread_mutex_lock(&registry_mu);
	for (i = 0; registry != NULL && i < sizeof(m) / sizeof(m[0]); i++) {
		fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", m[i].name,
		        m[i].help, m[i].name, m[i].type);
		for (t = registry; t != NULL; t = t->next) {
			apitokend_throttle_stats(t, &s);
			v = i == 0   ? s.failures
			    : i == 1 ? s.refused
			    : i == 2 ? s.starts
			    : i == 3 ? s.throttled
			             : (unsigned long)s.slots;
			fprintf(out, "%s{table=\"%s\"} %lu\n", m[i].name,
			        t->name, v);
		}
	}
	pthread_mutex_unlock(&registry_mu);
}
