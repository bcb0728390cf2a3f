/*
 * apitokend: the self-service page's sessions, in memory only (a restart
 * signs everybody out, which is the safe side).  A session id is 32 bytes
 * from the CSPRNG, sent as hex in a cookie; its CSRF token is another 32.
 * Ids are compared in constant time; the table is small and guarded by
 * one mutex (a sign-in or a page load is rare next to introspection).
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <apitoken/error.h>

#include "web.h"

#define BUCKETS 1024

struct session {
	struct session *next;
	char id[WEB_ID_HEX + 1];
	struct web_session_info info;
	int64_t created; /* CLOCK_MONOTONIC, milliseconds */
	int64_t used;
	uint64_t use_seq; /* orders uses within one millisecond */
};

struct web_sessions {
	pthread_mutex_t lock;
	struct session *bucket[BUCKETS];
	size_t n;
	uint64_t seq;
};

/* Milliseconds: whole seconds would make a 2 s idle limit anything
 * between 1 and 2 s. */
static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool
hex_ok(const char *s)
{
	size_t n = strnlen(s, WEB_ID_HEX + 1);

	return n == WEB_ID_HEX && strspn(s, "0123456789abcdef") == n;
}

static unsigned
bucket_of(const char *id)
{
	unsigned v = 0;
	int i;

	/* The id is random: its first hex digits spread well enough. */
	for (i = 0; i < 3; i++)
		v = v * 16 +
		    (unsigned)(id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
	return v % BUCKETS;
}

static int
random_hex(char out[WEB_ID_HEX + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char raw[WEB_ID_HEX / 2];
	size_t i;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return apitoken_error(APITOKEN_ERR_INTERNAL,
		                      "no random bytes for a session");
	for (i = 0; i < sizeof(raw); i++) {
		out[2 * i] = digits[raw[i] >> 4];
		out[2 * i + 1] = digits[raw[i] & 15];
	}
	out[WEB_ID_HEX] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

static void
session_free(struct session *s)
{
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

struct web_sessions *
web_sessions_create(void)
{
	struct web_sessions *s = calloc(1, sizeof(*s));

	if (s != NULL && pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		s = NULL;
	}
	return s;
}

void
web_sessions_free(struct web_sessions *s)
{
	struct session *e;
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < BUCKETS; i++)
		while ((e = s->bucket[i]) != NULL) {
			s->bucket[i] = e->next;
			session_free(e);
		}
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static bool
expired(const struct session *e, int64_t now, int64_t idle, int64_t max)
{
	return now - e->used >= idle * 1000 || now - e->created >= max * 1000;
}

/* Unlink *pp (caller holds the lock). */
static void
unlink_at(struct web_sessions *s, struct session **pp)
{
	struct session *e = *pp;

	*pp = e->next;
	session_free(e);
	s->n--;
}

/* Room for one more: drop sessions unused for longest (lock held). */
static void
make_room(struct web_sessions *s, size_t max)
{
	struct session **pp, **oldest;
	size_t i;

	while (s->n >= max) {
		oldest = NULL;
		for (i = 0; i < BUCKETS; i++)
			for (pp = &s->bucket[i]; *pp != NULL;
			     pp = &(*pp)->next)
				if (oldest == NULL ||
				    (*pp)->use_seq < (*oldest)->use_seq)
					oldest = pp;
		if (oldest == NULL)
			return;
		unlink_at(s, oldest);
	}
}

int
web_session_create(struct web_sessions *s, const char *user, size_t max,
                   char id_out[WEB_ID_HEX + 1],
                   struct web_session_info *info_out)
{
	struct session *e = calloc(1, sizeof(*e));
	unsigned b;

	if (e == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	if (random_hex(e->id) != 0 || random_hex(e->info.csrf) != 0) {
		session_free(e);
		return APITOKEN_ERR_INTERNAL;
	}
	snprintf(e->info.user, sizeof(e->info.user), "%s", user);
	e->created = e->used = now_ms();
	b = bucket_of(e->id);
	pthread_mutex_lock(&s->lock);
	make_room(s, max > 0 ? max : 1);
	e->use_seq = ++s->seq;
	e->next = s->bucket[b];
	s->bucket[b] = e;
	s->n++;
	memcpy(id_out, e->id, sizeof(e->id));
	*info_out = e->info;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static struct session **
find_at(struct web_sessions *s, const char *id)
{
	struct session **pp;

	for (pp = &s->bucket[bucket_of(id)]; *pp != NULL; pp = &(*pp)->next)
		if (CRYPTO_memcmp((*pp)->id, id, WEB_ID_HEX) == 0)
			return pp;
	return NULL;
}

int
web_session_find(struct web_sessions *s, const char *id, int64_t idle,
                 int64_t max, struct web_session_info *info_out)
{
	struct session **pp;
	int64_t now = now_ms();
	int rc = APITOKEN_ERR_NOT_FOUND;

	if (id == NULL || !hex_ok(id))
		return rc;
	pthread_mutex_lock(&s->lock);
	pp = find_at(s, id);
	if (pp != NULL && expired(*pp, now, idle, max)) {
		unlink_at(s, pp);
	} else if (pp != NULL) {
		(*pp)->used = now;
		(*pp)->use_seq = ++s->seq;
		*info_out = (*pp)->info;
		rc = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void
web_session_remove(struct web_sessions *s, const char *id)
{
	struct session **pp;

	if (id == NULL || !hex_ok(id))
		return;
	pthread_mutex_lock(&s->lock);
	pp = find_at(s, id);
	if (pp != NULL)
		unlink_at(s, pp);
	pthread_mutex_unlock(&s->lock);
}

size_t
web_session_count(struct web_sessions *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->n;
	pthread_mutex_unlock(&s->lock);
	return n;
}
