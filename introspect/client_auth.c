/*
 * apitokend: client authentication for /introspect and /revoke (RFC 6749
 * section 2.3.1): client_secret_basic, whose id and secret are each
 * form-urlencoded before base64, or client_secret_post.  Unknown client and
 * wrong secret look the same from outside: apitoken_client_authenticate()
 * does the same work for both and we answer both alike.
 *
 * Successful authentications are remembered per thread (no lock on the
 * hot path) as (id, SHA-256 of the secret, flags), which saves a store
 * transaction per request.  Every client write (add, remove) writes a
 * change record; the tail (tail.c) moves the clients epoch on for each, which
 * invalidates all entries at once, and no entry is used while a visible change
 * awaits the tail (apitokend_tail_current) or after a store failure: a removed
 * client stops working as soon as "apitokenctl client remove" returns, whoever
 * made the write.  The epoch is read before the store read, so an entry can
 * only look older than its data.  A miss (unknown client, wrong secret, first
 * use) always goes to the store, so failures take the same path and the same
 * time as before.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/store.h>

#include "apitokend.h"
#include "regions.h"
#include "metrics.h"
#include "tail.h"

#define CACHE_SLOTS 8
#define CACHE_TTL 60 /* seconds; a safety net, the epoch does the work */

struct cache_entry {
	uint64_t epoch;         /* 0: empty */
	unsigned long failures; /* apitoken_store_failures() */
	time_t expires;
	unsigned flags;
	uint8_t hash[APITOKEN_HASH_LEN];
	char id[APITOKEN_CLIENT_ID_MAX + 1];
};

static atomic_uint_fast64_t auth_epoch = 1;
static _Thread_local struct cache_entry cache[CACHE_SLOTS];
static _Thread_local unsigned cache_next;

void
apitokend_client_cache_invalidate(void)
{
	atomic_fetch_add_explicit(&auth_epoch, 1, memory_order_release);
}

static void
copy_id(struct apitokend_client *out, const char *id, unsigned flags)
{
	size_t n = strnlen(id, APITOKEN_CLIENT_ID_MAX);

	memcpy(out->id, id, n);
	out->id[n] = '\0';
	out->flags = flags;
}

static time_t
now_coarse(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ts.tv_sec;
}

static const char *
authorization(struct MHD_Connection *c)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	                                   MHD_HTTP_HEADER_AUTHORIZATION);
}

const char *
apitokend_bearer(struct MHD_Connection *c, size_t *len_out)
{
	const char *h = authorization(c);

	*len_out = 0;
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	*len_out = strlen(h);
	while (*len_out > 0 && h[*len_out - 1] == ' ')
		(*len_out)--;
	return h;
}

static enum apitokend_auth
authenticate(struct apitokend *d, struct MHD_Connection *c, const char *id,
             const char *secret, size_t secret_len,
             struct apitokend_client *client_out)
{
	uint64_t epoch =
	    atomic_load_explicit(&auth_epoch, memory_order_acquire);
	unsigned long failures = apitoken_store_failures(d->store);
	bool current =
	    apitokend_tail_current(d) && apitokend_regions_kept_ok(d);
	uint8_t hash[APITOKEN_HASH_LEN];
	unsigned int secs;
	bool hashed;
	apitoken_client_t *client = NULL;
	struct cache_entry *e;
	time_t now = now_coarse();
	size_t i;
	int rc;

	hashed = apitokend_sha256(secret, secret_len, hash) == 0;
	if (!hashed)
		apitoken_error_clear(); /* the store's check decides */
	for (i = 0; hashed && current && i < CACHE_SLOTS; i++) {
		e = &cache[i];
		if (e->epoch != epoch || e->failures != failures ||
		    e->expires <= now || strcmp(e->id, id) != 0)
			continue;
		if (!CRYPTO_memcmp(e->hash, hash, sizeof(hash))) {
			copy_id(client_out, e->id, e->flags);
			OPENSSL_cleanse(hash, sizeof(hash));
			return APITOKEND_AUTH_OK;
		}
		break;
	}
	/* Only a secret this worker has not seen succeed is a guess. */
	secs = apitokend_auth_throttle_wait(c, id);
	if (secs > 0) {
		OPENSSL_cleanse(hash, sizeof(hash));
		client_out->retry_after = secs;
		return APITOKEND_AUTH_THROTTLED;
	}
	rc = apitoken_client_authenticate(d->store, id, secret, secret_len,
	                                  &client);
	if (rc == 0) {
		copy_id(client_out, client->id, client->flags);
		if (hashed) {
			e = &cache[cache_next++ % CACHE_SLOTS];
			e->epoch = epoch;
			e->failures = failures;
			e->expires = now + CACHE_TTL;
			e->flags = client->flags;
			memcpy(e->hash, hash, sizeof(hash));
			memcpy(e->id, client_out->id, sizeof(e->id));
		}
		apitoken_client_free(client);
		OPENSSL_cleanse(hash, sizeof(hash));
		return APITOKEND_AUTH_OK;
	}
	OPENSSL_cleanse(hash, sizeof(hash));
	if (rc == APITOKEN_ERR_DENIED || rc == APITOKEN_ERR_INVALID ||
	    rc == APITOKEN_ERR_NOT_FOUND) {
		apitokend_auth_throttle_failed(c, id);
		return APITOKEND_AUTH_BAD;
	}
	apitokend_metrics_store_error();
	apitoken_log(APITOKEN_LOG_ERR, "client authentication failed: %s",
	             apitoken_last_error());
	return APITOKEND_AUTH_ERROR;
}

/* body: the form when it also names a client_id (it must be this one). */
static enum apitokend_auth
basic(struct apitokend *d, struct MHD_Connection *c, const char *b64,
      const struct apitokend_form *body, struct apitokend_client *client_out)
{
	unsigned char buf[APITOKEND_BASIC_MAX];
	const char *id = NULL, *secret = NULL;
	size_t secret_len = 0, wipe = 0;
	enum apitokend_auth res = APITOKEND_AUTH_BAD;

	if (apitokend_basic_decode(b64, buf, &wipe, &id, &secret,
	                           &secret_len) != 0) {
		apitokend_auth_throttle_failed(c, NULL);
		goto out;
	}
	/* RFC 6749 2.3.1 forbids two authentication methods; a client_id
	 * that names the Basic user is not a second one (some resource
	 * servers send it).  Another id is a contradiction. */
	if (body != NULL && (body->client_id_len != strlen(id) ||
	                     memcmp(body->client_id, id, strlen(id)) != 0)) {
		res = APITOKEND_AUTH_MISMATCH;
		goto out;
	}
	res = authenticate(d, c, id, secret, secret_len, client_out);
out:
	OPENSSL_cleanse(buf, wipe);
	return res;
}

enum apitokend_auth
apitokend_client_auth(struct apitokend *d, struct MHD_Connection *c,
                      const struct apitokend_form *f,
                      struct apitokend_client *client_out)
{
	const char *h = authorization(c);
	bool has_basic = h != NULL && strncasecmp(h, "Basic ", 6) == 0;

	unsigned secs;

	client_out->id[0] = '\0';
	client_out->flags = 0;
	client_out->retry_after = 0;
	if (f->n_client_id > 1 || f->n_client_secret > 1)
		return APITOKEND_AUTH_TWICE;
	if (has_basic && f->n_client_secret > 0)
		return APITOKEND_AUTH_TWICE;
	if (!has_basic && f->n_client_id == 0 && f->n_client_secret == 0)
		return APITOKEND_AUTH_NONE;
	/* A throttled source gets no further, right secret or not. */
	secs = apitokend_auth_throttle_wait(c, NULL);
	if (secs > 0) {
		client_out->retry_after = secs;
		return APITOKEND_AUTH_THROTTLED;
	}
	if (has_basic) {
		h += 6;
		while (*h == ' ')
			h++;
		return basic(d, c, h, f->n_client_id > 0 ? f : NULL,
		             client_out);
	}
	if (f->n_client_id == 0 || f->n_client_secret == 0 ||
	    f->client_id_len == 0 ||
	    strlen(f->client_id) != f->client_id_len) {
		apitokend_auth_throttle_failed(c, NULL);
		return APITOKEND_AUTH_BAD;
	}
	return authenticate(d, c, f->client_id, f->client_secret,
	                    f->client_secret_len, client_out);
}
