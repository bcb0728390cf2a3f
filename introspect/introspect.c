/*
 * apitokend: POST /introspect (RFC 7662).  Only an authenticated client
 * learns anything; an inactive token of any kind (unknown, malformed,
 * expired, revoked, disabled, removed user) gets exactly {"active":false}.
 * A store failure is 503, never "active".
 */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/token.h>

#include "answer_cache.h"
#include "apitokend.h"
#include "metrics.h"
#include "regions.h"
#include "tail.h"

struct cached_reply {
	struct apitokend_req *r;
	struct MHD_Connection *c;
	enum MHD_Result ret;
	char jti[APITOKEN_ID_LEN + 1]; /* of the answer used, for last use */
	bool first_use;                /* ... and whether it is news */
};

/* Under the entry's lock: queueing takes libmicrohttpd's reference. */
static void
queue_cached(struct MHD_Response *resp, const char *jti, bool first_use,
             const char *body, size_t body_len, void *arg)
{
	struct cached_reply *cr = arg;

	(void)body;
	(void)body_len;
	cr->first_use = first_use;
	apitokend_req_note(cr->r, NULL, jti);
	if (jti != NULL) {
		size_t n = strnlen(jti, sizeof(cr->jti) - 1);

		memcpy(cr->jti, jti, n);
		cr->jti[n] = '\0';
	}
	cr->ret = apitokend_reply(cr->r, cr->c, MHD_HTTP_OK, resp);
}

/* Build, queue and keep (in d->answers) the answer for an active token. */
static enum MHD_Result
reply_active(struct apitokend_answers *answers, struct apitokend_req *r,
             struct MHD_Connection *c, const struct apitokend_answer_key *k,
             const apitoken_claims_t *cl, const struct apitokend_gen *g)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *body;

	body = apitokend_claims_json(cl, g->cfg, k->client_id);
	if (body == NULL)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(body), body,
	                                       MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	if (apitokend_json_headers(resp) != 0) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = apitokend_reply(r, c, MHD_HTTP_OK, resp);
	if (ret == MHD_YES)
		apitokend_answers_put(answers, k, cl->exp, cl->jti,
		                      cl->username, resp, body, strlen(body));
	else
		MHD_destroy_response(resp);
	return ret;
}

/*
 * RFC 9701: the same answer as a signed JWT.  Computed every time (kept
 * answers are plain JSON responses); also for an inactive token.
 */
static enum MHD_Result
signed_answer(struct apitokend *d, struct apitokend_req *r,
              struct MHD_Connection *c, const struct apitokend_form *f,
              const char *client_id)
{
	apitoken_claims_t cl;
	enum MHD_Result ret;
	char *body;
	int rc;

	memset(&cl, 0, sizeof(cl));
	rc = apitoken_token_check(d->store, f->token, f->token_len,
	                          apitoken_now(), &cl);
	if (rc != 0) {
		apitokend_metrics_store_error();
		apitoken_log(APITOKEN_LOG_ERR,
		             "introspection: store failed: %s",
		             apitoken_last_error());
		return apitokend_reply_error(
		    r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "temporarily_unavailable", "the token store failed", NULL);
	}
	if (!cl.active)
		return apitokend_jwt_reply(d, r, c, client_id,
		                           "{\"active\":false}");
	apitokend_req_note(r, NULL, cl.jti);
	body = apitokend_claims_json(&cl, apitokend_gen(d)->cfg, client_id);
	if (body == NULL) {
		apitoken_claims_clear(&cl);
		return MHD_NO;
	}
	ret = apitokend_jwt_reply(d, r, c, client_id, body);
	apitokend_lastuse_http(d, c, client_id, cl.jti);
	free(body);
	apitoken_claims_clear(&cl);
	return ret;
}

enum MHD_Result
apitokend_introspect(struct apitokend *d, struct apitokend_req *r,
                     struct MHD_Connection *c, const struct apitokend_form *f)
{
	uint8_t hash[APITOKEN_HASH_LEN];
	struct apitokend_answers *answers;
	struct apitokend_answer_key k;
	struct cached_reply cr = {r, c, MHD_NO, "", false};
	struct apitokend_client client;
	const struct apitokend_gen *g;
	apitoken_claims_t cl;
	enum MHD_Result ret;
	int64_t now;
	int rc;

	memset(&cl, 0, sizeof(cl));
	memset(hash, 0, sizeof(hash));
	if (apitokend_regions_refuse_reads(d))
		return apitokend_reply_error(
		    r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "temporarily_unavailable", APITOKEND_REGIONS_STALE_DESC,
		    NULL);
	switch (apitokend_client_auth(d, c, f, &client)) {
	case APITOKEND_AUTH_OK:
		break;
	case APITOKEND_AUTH_TWICE:
		return apitokend_reply_error(r, c, MHD_HTTP_BAD_REQUEST,
		                             "invalid_request",
		                             "use one client authentication "
		                             "method, once",
		                             NULL);
	case APITOKEND_AUTH_MISMATCH:
		return apitokend_reply_error(r, c, MHD_HTTP_BAD_REQUEST,
		                             "invalid_request",
		                             "client_id is not the client "
		                             "authenticated by Basic",
		                             NULL);
	case APITOKEND_AUTH_THROTTLED:
		return apitokend_reply_throttled(r, c, client.retry_after);
	case APITOKEND_AUTH_ERROR:
		return apitokend_reply_error(
		    r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "temporarily_unavailable", "the token store failed", NULL);
	default:
		return apitokend_reply_invalid_client(r, c);
	}
	apitokend_req_note(r, client.id, NULL);
	if (f->n_token != 1 || f->token_len == 0) {
		ret = apitokend_reply_error(
		    r, c, MHD_HTTP_BAD_REQUEST, "invalid_request",
		    f->n_token == 0  ? "missing token parameter"
		    : f->n_token > 1 ? "repeated token parameter"
		                     : "empty token parameter",
		    NULL);
		goto out;
	}
	if (apitokend_jwt_wanted(c)) {
		ret = apitoken_token_parse(APITOKEN_TOKEN_PREFIX, f->token,
		                           f->token_len) == 0
		          ? signed_answer(d, r, c, f, client.id)
		          : apitokend_jwt_reply(d, r, c, client.id,
		                                "{\"active\":false}");
		apitoken_error_clear();
		goto out;
	}
	/* Hashed before it is parsed: only a token that parsed has a kept
	 * answer, so a hit stands for the parse, and the parse (checksum
	 * and all) is paid only on the way to the store. */
	if (apitokend_sha256(f->token, f->token_len, hash) != 0) {
		apitoken_log(APITOKEN_LOG_ERR, "introspection: %s",
		             apitoken_last_error());
		ret = apitokend_reply_error(r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
		                            "temporarily_unavailable",
		                            "the token store failed", NULL);
		goto out;
	}
	/* The generation, rgen and failures before the read: see
	 * answer_cache.c. */
	g = apitokend_gen(d);
	answers = atomic_load_explicit(&d->answers, memory_order_acquire);
	k.hash = hash;
	k.client_id = client.id;
	k.gen = g;
	k.rgen = apitokend_answers_rgen(answers);
	k.failures = apitoken_store_failures(d->store);
	now = apitoken_now();
	/* Nothing kept is used while a visible change awaits retiring. */
	if (answers != NULL && apitokend_tail_current(d) &&
	    apitokend_regions_kept_ok(d) &&
	    apitokend_answers_use(answers, &k, now, queue_cached, &cr)) {
		apitokend_metrics_answer_cache(true);
		ret = cr.ret;
		/* Outside the entry's lock; once a second per kept answer
		 * (the last-use table keeps seconds: more is no news). */
		if (cr.jti[0] != '\0' && cr.first_use)
			apitokend_lastuse_http(d, c, client.id, cr.jti);
		goto out;
	}
	if (apitoken_token_parse(APITOKEN_TOKEN_PREFIX, f->token,
	                         f->token_len) != 0) {
		/* Garbage never reaches the store. */
		apitoken_error_clear();
		ret = apitokend_reply_inactive(r, c);
		goto out;
	}
	if (answers != NULL)
		apitokend_metrics_answer_cache(false);
	rc = apitoken_token_check_hash(d->store, hash, now, &cl);
	if (rc != 0) {
		apitokend_metrics_store_error();
		apitoken_log(APITOKEN_LOG_ERR,
		             "introspection: store failed: %s",
		             apitoken_last_error());
		ret = apitokend_reply_error(r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
		                            "temporarily_unavailable",
		                            "the token store failed", NULL);
		goto out;
	}
	if (!cl.active) {
		ret = apitokend_reply_inactive(r, c);
		goto out;
	}
	apitokend_req_note(r, NULL, cl.jti);
	ret = reply_active(answers, r, c, &k, &cl, g);
	apitokend_lastuse_http(d, c, client.id, cl.jti);
out:
	apitoken_claims_clear(&cl);
	OPENSSL_cleanse(hash, sizeof(hash));
	return ret;
}
