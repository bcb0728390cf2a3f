/*
 * apitokend: signed introspection answers (RFC 9701) and the JWKS that
 * publishes their keys.
 *
 * A client that sends "Accept: application/token-introspection+jwt"
 * gets the answer as a JWS (cjose, ES256) with header typ
 * "token-introspection+jwt" and kid, and claims iss, aud (the client
 * id), iat and token_introspection (the RFC 7662 answer, also for an
 * inactive token).  The keys are apitoken/signing.h's; the JWKS at
 * /.well-known/jwks.json lists the current and the previous key.  After
 * every admin command (key rotate runs in here) and SIGHUP the key files
 * are loaded again if they changed; a replaced key set stays allocated
 * until exit, as a request may still be signing with it (rotations are
 * rare).
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cjose/cjose.h>
#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>

#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/signing.h>

#include "apitokend.h"

#define JWT_MEDIA_TYPE "application/token-introspection+jwt"

struct signer {
	struct signer *older; /* kept until exit */
	size_t n;
	cjose_jwk_t *jwk[2];
	char kid[2][APITOKEN_KID_MAX + 1];
	char *jwks; /* {"keys":[...]} */
	struct stat st[2];
	bool have[2];
};

static _Atomic(struct signer *) current;
static pthread_mutex_t reload_mu = PTHREAD_MUTEX_INITIALIZER;

static void
signer_free(struct signer *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++)
		cjose_jwk_release(s->jwk[i]);
	free(s->jwks);
	free(s);
}

/* A cjose JWK (with the private part) of an OpenSSL P-256 key. */
static cjose_jwk_t *
to_jwk(EVP_PKEY *key, const char *kid)
{
	unsigned char d[32], x[32], y[32];
	BIGNUM *bd = NULL;
	cjose_jwk_ec_keyspec spec;
	cjose_jwk_t *jwk = NULL;
	cjose_err err;

	if (apitoken_signing_xy(key, x, y) != 0 ||
	    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &bd) != 1 ||
	    BN_bn2binpad(bd, d, sizeof(d)) != (int)sizeof(d))
		goto out;
	memset(&spec, 0, sizeof(spec));
	spec.crv = CJOSE_JWK_EC_P_256;
	spec.d = d;
	spec.dlen = sizeof(d);
	spec.x = x;
	spec.xlen = sizeof(x);
	spec.y = y;
	spec.ylen = sizeof(y);
	jwk = cjose_jwk_create_EC_spec(&spec, &err);
	if (jwk != NULL && !cjose_jwk_set_kid(jwk, kid, strlen(kid), &err)) {
		cjose_jwk_release(jwk);
		jwk = NULL;
	}
out:
	OPENSSL_cleanse(d, sizeof(d));
	BN_clear_free(bd);
	return jwk;
}

static char *
make_jwks(const struct signer *s)
{
	cJSON *o = cJSON_CreateObject(), *keys, *k;
	char *text = NULL, *pub;
	cjose_err err;
	size_t i;

	keys = o != NULL ? cJSON_AddArrayToObject(o, "keys") : NULL;
	if (keys == NULL)
		goto out;
	for (i = 0; i < s->n; i++) {
		pub = cjose_jwk_to_json(s->jwk[i], false, &err);
		k = pub != NULL ? cJSON_Parse(pub) : NULL;
		free(pub);
		if (k == NULL)
			goto out;
		cJSON_AddItemToArray(keys, k);
		if (cJSON_AddStringToObject(k, "use", "sig") == NULL ||
		    cJSON_AddStringToObject(k, "alg", "ES256") == NULL)
			goto out;
	}
	text = cJSON_PrintUnformatted(o);
out:
	cJSON_Delete(o);
	return text;
}

static struct signer *
signer_load(const apitoken_config_t *cfg)
{
	apitoken_signing_keys_t *keys = NULL;
	struct signer *s;
	size_t i;

	if (apitoken_signing_load(cfg, &keys) != 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto fail;
	for (i = 0; i < keys->n; i++) {
		s->jwk[i] = to_jwk(keys->key[i], keys->kid[i]);
		if (s->jwk[i] == NULL) {
			apitoken_error(APITOKEN_ERR_INTERNAL,
			               "signing key %s: cannot use it",
			               keys->path[i]);
			goto fail;
		}
		memcpy(s->kid[i], keys->kid[i], sizeof(s->kid[i]));
		s->n = i + 1;
		s->have[i] = stat(keys->path[i], &s->st[i]) == 0;
	}
	s->jwks = make_jwks(s);
	if (s->jwks == NULL) {
		apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
		goto fail;
	}
	apitoken_signing_free(keys);
	return s;
fail:
	apitoken_signing_free(keys);
	signer_free(s);
	return NULL;
}

static bool
same_file(const struct stat *a, bool have, const char *path)
{
	struct stat b;
	bool now = path != NULL && stat(path, &b) == 0;

	if (now != have)
		return false;
	return !now || (a->st_ino == b.st_ino && a->st_dev == b.st_dev &&
	                a->st_mtim.tv_sec == b.st_mtim.tv_sec &&
	                a->st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
	                a->st_size == b.st_size);
}

/* Do the key files still hold what s was loaded from? */
static bool
unchanged(const struct signer *s, const apitoken_config_t *cfg)
{
	char cur[4096], prev[4096];

	if (cfg->signing_key != NULL) {
		(void)snprintf(cur, sizeof(cur), "%s", cfg->signing_key);
		(void)snprintf(prev, sizeof(prev), "%s",
		               cfg->signing_key_previous != NULL
		                   ? cfg->signing_key_previous
		                   : "");
	} else {
		(void)snprintf(cur, sizeof(cur), "%s/%s", cfg->store,
		               APITOKEN_SIGNING_KEY_FILE);
		(void)snprintf(prev, sizeof(prev), "%s/%s", cfg->store,
		               APITOKEN_SIGNING_PREVIOUS_FILE);
	}
	return same_file(&s->st[0], s->have[0], cur) &&
	       same_file(&s->st[1], s->have[1], prev[0] != '\0' ? prev : NULL);
}

int
apitokend_jwt_start(struct apitokend *d)
{
	const apitoken_config_t *cfg = apitokend_gen(d)->cfg;
	bool created = false;
	struct signer *s;
	int rc;

	rc = apitoken_signing_ensure(cfg, &created);
	if (rc != 0)
		return rc;
	if (created)
		apitoken_log(APITOKEN_LOG_NOTICE, "made the signing key %s/%s",
		             cfg->store, APITOKEN_SIGNING_KEY_FILE);
	/* The made key lives in this site's store folder, which
	 * replication does not copy: each region would sign with its own. */
	if (cfg->replication != NULL && cfg->signing_key == NULL)
		apitoken_log(
		    APITOKEN_LOG_WARNING,
		    "replication: signed introspection answers use "
		    "this site's own key (%s/%s); set signing_key to "
		    "the same key file on every site so that one JWKS "
		    "verifies answers from every region",
		    cfg->store, APITOKEN_SIGNING_KEY_FILE);
	s = signer_load(cfg);
	if (s == NULL)
		return APITOKEN_ERR_CONFIG;
	atomic_store_explicit(&current, s, memory_order_release);
	return 0;
}

void
apitokend_jwt_reload(struct apitokend *d)
{
	const apitoken_config_t *cfg = apitokend_gen(d)->cfg;
	struct signer *old, *s;

	pthread_mutex_lock(&reload_mu);
	old = atomic_load_explicit(&current, memory_order_acquire);
	if (old != NULL && unchanged(old, cfg))
		goto out;
	(void)apitoken_signing_ensure(cfg, NULL);
	s = signer_load(cfg);
	if (s == NULL) {
		apitoken_log(APITOKEN_LOG_ERR,
		             "signing keys: keeping the loaded ones: %s",
		             apitoken_last_error());
		goto out;
	}
	s->older = old;
	atomic_store_explicit(&current, s, memory_order_release);
	apitoken_log(APITOKEN_LOG_NOTICE, "signing keys loaded: %s%s%s",
	             s->kid[0], s->n > 1 ? ", previous " : "",
	             s->n > 1 ? s->kid[1] : "");
out:
	pthread_mutex_unlock(&reload_mu);
}

void
apitokend_jwt_stop(void)
{
	struct signer *s = atomic_exchange(&current, NULL), *older;

	for (; s != NULL; s = older) {
		older = s->older;
		signer_free(s);
	}
}

bool
apitokend_jwt_wanted(struct MHD_Connection *c)
{
	const char *acc = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	                                              MHD_HTTP_HEADER_ACCEPT);
	const char *p;
	size_t n = sizeof(JWT_MEDIA_TYPE) - 1;

	/* A media range list; parameters (;q=) do not matter here. */
	for (p = acc; p != NULL && (p = strcasestr(p, JWT_MEDIA_TYPE)) != NULL;
	     p += n) {
		if ((p == acc || p[-1] == ' ' || p[-1] == ',') &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ';' ||
		     p[n] == ' '))
			return true;
	}
	return false;
}

char *
apitokend_jwt_sign(struct apitokend *d, const char *client_id,
                   const char *answer_json)
{
	struct signer *s =
	    atomic_load_explicit(&current, memory_order_acquire);
	cJSON *claims = NULL, *answer;
	cjose_header_t *hdr = NULL;
	cjose_jws_t *jws = NULL;
	const char *compact = NULL;
	char *payload = NULL, *out = NULL;
	cjose_err err;

	if (s == NULL)
		return NULL;
	answer = cJSON_Parse(answer_json);
	claims = cJSON_CreateObject();
	if (answer == NULL || claims == NULL) {
		cJSON_Delete(answer);
		goto out;
	}
	cJSON_AddItemToObject(claims, "token_introspection", answer);
	if (cJSON_AddStringToObject(claims, "iss",
	                            apitokend_gen(d)->cfg->issuer) == NULL ||
	    cJSON_AddStringToObject(claims, "aud", client_id) == NULL ||
	    cJSON_AddNumberToObject(claims, "iat", (double)apitoken_now()) ==
	        NULL)
		goto out;
	payload = cJSON_PrintUnformatted(claims);
	hdr = cjose_header_new(&err);
	if (payload == NULL || hdr == NULL ||
	    !cjose_header_set(hdr, CJOSE_HDR_ALG, CJOSE_HDR_ALG_ES256, &err) ||
	    !cjose_header_set(hdr, CJOSE_HDR_KID, s->kid[0], &err) ||
	    !cjose_header_set(hdr, "typ", "token-introspection+jwt", &err))
		goto out;
	jws = cjose_jws_sign(s->jwk[0], hdr, (const uint8_t *)payload,
	                     strlen(payload), &err);
	if (jws == NULL || !cjose_jws_export(jws, &compact, &err))
		goto out;
	out = strdup(compact);
out:
	if (out == NULL)
		apitoken_log(APITOKEN_LOG_ERR, "cannot sign an answer");
	cjose_jws_release(jws);
	cjose_header_release(hdr);
	if (payload != NULL)
		OPENSSL_cleanse(payload, strlen(payload));
	free(payload);
	cJSON_Delete(claims);
	return out;
}

enum MHD_Result
apitokend_jwt_reply(struct apitokend *d, struct apitokend_req *r,
                    struct MHD_Connection *c, const char *client_id,
                    const char *answer_json)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *jws = apitokend_jwt_sign(d, client_id, answer_json);

	if (jws == NULL)
		return apitokend_reply_error(
		    r, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "server_error",
		    "the answer could not be signed", NULL);
	resp = MHD_create_response_from_buffer(strlen(jws), jws,
	                                       MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(jws);
		return MHD_NO;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                            JWT_MEDIA_TYPE) != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	                            "no-store") != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = apitokend_reply(r, c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result
apitokend_jwks(struct apitokend *d, struct apitokend_req *r,
               struct MHD_Connection *c)
{
	struct signer *s =
	    atomic_load_explicit(&current, memory_order_acquire);

	(void)d;
	if (s == NULL)
		return apitokend_reply_error(
		    r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "temporarily_unavailable", "no signing key loaded", NULL);
	return apitokend_reply_json(r, c, MHD_HTTP_OK, s->jwks,
	                            strlen(s->jwks));
}
