/*
 * Remote back end: RFC 7662 introspection at apitokend's HTTPS endpoint
 * through liboauth2 (its HTTP call context and its cache).
 *
 * liboauth2's ready-made oauth2_token_verify() is not used: it returns the
 * same "false" for an inactive token and for a server that is down, and it
 * takes neither a CA file nor a timeout.  This plugin must tell INVALID
 * from UNAVAILABLE, so it makes the call with liboauth2's lower-level
 * oauth2_http_call() and reads the status and body itself.
 *
 * Nothing here may reach liboauth2's oauth2_url_encode(): it shares one
 * process-wide CURL handle under a plain, unlocked reference count, which
 * leaks and can free the handle under another thread when hosts check
 * from several threads (seen with ASan).  So the form body is built here
 * (a token passed the syntax check and needs no escaping) and client id
 * and secret are form-encoded once, at open, with libcurl itself.
 *
 * Answers for active tokens are cached (liboauth2 "shm" cache, keyed by a
 * SHA-256 of endpoint, client and token; it never stores the token) for
 * cache_ttl seconds: a token revoked meanwhile keeps working that long
 * here, but never past its exp.  Inactive answers and failures are never
 * cached.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include <oauth2/cache.h>
#include <oauth2/cfg.h>
#include <oauth2/http.h>
#include <oauth2/log.h>
#include <oauth2/mem.h>
#include <oauth2/util.h>

#include "validator_int.h"

#define CACHE_NAME "apitoken-validator"

struct vremote {
	char *url;
	char *client_id;
	/* Form-encoded (RFC 6749 2.3.1) for client_secret_basic. */
	char *enc_id;
	char *enc_secret;
	char *ca_file;
	int timeout_s;
	int cache_ttl;
	bool insecure;
	bool debug;
	oauth2_log_t *log;
	oauth2_cache_t *cache;
};

/*
 * liboauth2 writes tokens, form bodies and client secrets into its debug
 * and even some error messages (a failed cache store logs the key).  None
 * of it may reach a log, so its messages are dropped; the plugin logs
 * its own, token-free lines.
 */
static void
drop_log(oauth2_log_sink_t *sink, const char *filename, unsigned long line,
         const char *function, oauth2_log_level_t level, const char *msg)
{
	(void)sink;
	(void)filename;
	(void)line;
	(void)function;
	(void)level;
	(void)msg;
}

/*
 * liboauth2 keeps caches in a process-wide registry with no public way to
 * remove one, so all handles of the process share one cache, made once.
 * The key includes endpoint and client, so handles do not mix answers.
 */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static bool cache_made;

static oauth2_cache_t *
shared_cache(oauth2_log_t *log)
{
	oauth2_cache_t *c = NULL;
	char *err;

	(void)pthread_mutex_lock(&cache_lock);
	if (!cache_made) {
		err =
		    oauth2_cfg_set_cache(log, NULL, "shm",
		                         "name=" CACHE_NAME "&max_entries=1000"
		                         "&max_key_size=128"
		                         "&max_val_size=4096");
		if (err != NULL) {
			oauth2_mem_free(err);
			goto out;
		}
		cache_made = true;
	}
	c = oauth2_cache_obtain(log, CACHE_NAME);
out:
	(void)pthread_mutex_unlock(&cache_lock);
	return c;
}

static char *
dup_or_null(const char *s, bool *ok)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*ok = false;
	return d;
}

/* Percent-encode s with libcurl, into a malloc'd copy we can wipe. */
static char *
form_encode(const char *s, bool *ok)
{
	CURL *c;
	char *e, *d = NULL;

	if (s == NULL)
		return NULL;
	c = curl_easy_init();
	e = c != NULL ? curl_easy_escape(c, s, 0) : NULL;
	if (e != NULL) {
		d = strdup(e);
		OPENSSL_cleanse(e, strlen(e));
		curl_free(e);
	}
	if (c != NULL)
		curl_easy_cleanup(c);
	if (d == NULL)
		*ok = false;
	return d;
}

int
vremote_open(const struct vconf *conf, struct vremote **out,
             const char **errstr)
{
	struct vremote *r;
	oauth2_log_sink_t *sink;
	bool ok = true;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		*errstr = "out of memory";
		return -1;
	}
	r->url = dup_or_null(conf->url, &ok);
	r->client_id = dup_or_null(conf->client_id, &ok);
	r->enc_id = form_encode(conf->client_id, &ok);
	r->enc_secret = form_encode(conf->secret, &ok);
	r->ca_file = dup_or_null(conf->ca_file, &ok);
	/* liboauth2 takes whole seconds (CURLOPT_TIMEOUT): round up. */
	r->timeout_s = (conf->timeout_ms + 999) / 1000;
	r->cache_ttl = conf->cache_ttl;
	r->insecure = conf->insecure;
	r->debug = conf->debug;
	sink = oauth2_log_sink_create(OAUTH2_LOG_ERROR, drop_log, NULL);
	if (!ok || sink == NULL) {
		*errstr = "out of memory";
		goto fail;
	}
	r->log = oauth2_log_init(OAUTH2_LOG_ERROR, sink);
	if (r->log == NULL) {
		*errstr = "out of memory";
		goto fail;
	}
	if (r->cache_ttl > 0) {
		r->cache = shared_cache(r->log);
		if (r->cache == NULL) {
			*errstr = "cannot set up the introspection cache";
			goto fail;
		}
	}
	*out = r;
	return 0;
fail:
	vremote_close(r);
	return -1;
}

void
vremote_close(struct vremote *r)
{
	if (r == NULL)
		return;
	free(r->url);
	free(r->client_id);
	free(r->enc_id);
	if (r->enc_secret != NULL) {
		OPENSSL_cleanse(r->enc_secret, strlen(r->enc_secret));
		free(r->enc_secret);
	}
	free(r->ca_file);
	/* The shared cache stays: see shared_cache(). */
	if (r->log != NULL)
		oauth2_log_free(r->log);
	free(r);
}

/* "<url> <client_id> <token>": liboauth2 hashes it before use. */
static char *
cache_key(const struct vremote *r, const char *token, size_t len)
{
	size_t ul = strlen(r->url), cl = strlen(r->client_id);
	char *k = malloc(ul + cl + len + 3);

	if (k == NULL)
		return NULL;
	memcpy(k, r->url, ul);
	k[ul] = ' ';
	memcpy(k + ul + 1, r->client_id, cl);
	k[ul + 1 + cl] = ' ';
	memcpy(k + ul + cl + 2, token, len);
	k[ul + cl + len + 2] = '\0';
	return k;
}

static void
wipe_free(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

void
vremote_check(struct vremote *r, const char *token, size_t len,
              struct apitoken_validation *res)
{
	static const char head[] = "token=";
	static const char tail[] = "&token_type_hint=access_token";
	oauth2_http_call_ctx_t *ctx = NULL;
	oauth2_http_status_code_t status = 0;
	char *key = NULL, *form = NULL, *cached = NULL, *body = NULL;
	size_t form_len = 0;

	memset(res, 0, sizeof(*res));
	res->status = APITOKEN_VALIDATION_UNAVAILABLE;
	key = cache_key(r, token, len);
	/* The token passed apitoken_token_parse(): [A-Za-z0-9_] only,
	 * nothing to escape in a form body. */
	form_len = sizeof(head) - 1 + len + sizeof(tail);
	form = malloc(form_len);
	if (key == NULL || form == NULL) {
		vresult_reason(res, "out of memory");
		goto out;
	}
	memcpy(form, head, sizeof(head) - 1);
	memcpy(form + sizeof(head) - 1, token, len);
	memcpy(form + sizeof(head) - 1 + len, tail, sizeof(tail));

	if (r->cache != NULL &&
	    oauth2_cache_get(r->log, r->cache, key, &cached) &&
	    cached != NULL) {
		vresult_from_json(res, cached);
		/* A kept answer outlives neither the cache_ttl nor the token:
		 * past its exp, ask the server again. */
		if (res->status == APITOKEN_VALIDATION_VALID &&
		    (res->exp == 0 || res->exp > (int64_t)time(NULL))) {
			res->flags |= APITOKEN_VALIDATION_CACHED;
			goto out;
		}
		memset(res, 0, sizeof(*res));
		res->status = APITOKEN_VALIDATION_UNAVAILABLE;
	}

	ctx = oauth2_http_call_ctx_init(r->log);
	if (ctx == NULL) {
		vresult_reason(res, "out of memory");
		goto out;
	}
	(void)oauth2_http_call_ctx_timeout_set(r->log, ctx, r->timeout_s);
	(void)oauth2_http_call_ctx_ssl_verify_set(r->log, ctx, !r->insecure);
	if (r->ca_file != NULL)
		(void)oauth2_http_call_ctx_ca_info_set(r->log, ctx,
		                                       r->ca_file);
	/* client_secret_basic with the id and secret encoded at open;
	 * false: liboauth2 must not encode them again (see above). */
	if (!oauth2_http_call_ctx_basic_auth_set(r->log, ctx, r->enc_id,
	                                         r->enc_secret, false) ||
	    !oauth2_http_call_ctx_content_type_set(
	        r->log, ctx, OAUTH2_CONTENT_TYPE_FORM_ENCODED)) {
		vresult_reason(res, "out of memory");
		goto out;
	}
	if (!oauth2_http_call(r->log, r->url, form, ctx, &body, &status)) {
		vresult_reason(res, "introspection request failed "
		                    "(connection, TLS or timeout)");
		goto out;
	}
	if (status == 401) {
		vresult_reason(res, "introspection refused our client "
		                    "credentials (HTTP 401)");
		goto out;
	}
	if (status != 200 || body == NULL) {
		vresult_reason(res, "introspection answered HTTP %u", status);
		goto out;
	}
	vresult_from_json(res, body);
	if (res->status == APITOKEN_VALIDATION_VALID && r->cache != NULL)
		(void)oauth2_cache_set(r->log, r->cache, key, body,
		                       (oauth2_time_t)r->cache_ttl);
out:
	if (r->debug && res->status == APITOKEN_VALIDATION_UNAVAILABLE)
		syslog(LOG_DEBUG, "apitoken validator: %s: %s", r->url,
		       res->reason);
	if (cached != NULL)
		oauth2_mem_free(cached);
	if (body != NULL)
		oauth2_mem_free(body);
	if (ctx != NULL)
		oauth2_http_call_ctx_free(r->log, ctx);
	wipe_free(key);
	if (form != NULL) {
		OPENSSL_cleanse(form, form_len);
		free(form);
	}
}
