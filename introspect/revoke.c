/*
 * apitokend: POST /revoke (RFC 7009).  Two ways in: a client holding the
 * revoke right may revoke any token; a user may revoke their own token by
 * presenting it both as the bearer credential and as the token parameter.
 * Unknown, malformed and already revoked tokens get 200 like a success
 * (RFC 7009 section 2.2), so the endpoint is no oracle.  A client without
 * the right gets unauthorized_client with 400: RFC 6749 section 5.2 gives
 * every error code but invalid_client that status.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/token.h>

#include "apitokend.h"
#include "metrics.h"

static const char done_body[] = "{}";

static enum MHD_Result
unavailable(struct apitokend_req *r, struct MHD_Connection *c)
{
	return apitokend_reply_error(r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
	                             "temporarily_unavailable",
	                             "the token store failed", NULL);
}

static enum MHD_Result
bad_token_param(struct apitokend_req *r, struct MHD_Connection *c,
                const struct apitokend_form *f)
{
	return apitokend_reply_error(
	    r, c, MHD_HTTP_BAD_REQUEST, "invalid_request",
	    f->n_token == 0  ? "missing token parameter"
	    : f->n_token > 1 ? "repeated token parameter"
	                     : "empty token parameter",
	    NULL);
}

static enum MHD_Result
do_revoke(struct apitokend *d, struct apitokend_req *r,
          struct MHD_Connection *c, const struct apitokend_form *f,
          const char *only_user, const apitoken_actor_t *actor)
{
	apitoken_token_info_t info;
	char origin[256];
	int rc;

	memset(&info, 0, sizeof(info));
	rc = apitoken_token_revoke_secret_as(d->store, f->token, f->token_len,
	                                     only_user, APITOKEN_AUDIT_REVOKED,
	                                     actor, &info);
	if (rc == 0) {
		apitokend_req_note(r, NULL, info.id);
		apitoken_actor_describe(actor, origin, sizeof(origin));
		apitoken_log(APITOKEN_LOG_NOTICE,
		             "token %s of user %s revoked via /revoke by %s",
		             info.id, info.user, origin);
	} else if (rc == APITOKEN_ERR_DENIED) {
		return apitokend_reply_error(r, c, MHD_HTTP_BAD_REQUEST,
		                             "unauthorized_client",
		                             "this token belongs to another "
		                             "user",
		                             NULL);
	} else if (rc != APITOKEN_ERR_NOT_FOUND &&
	           rc != APITOKEN_ERR_INVALID) {
		apitokend_metrics_store_error();
		apitoken_log(APITOKEN_LOG_ERR, "revocation: store failed: %s",
		             apitoken_last_error());
		return unavailable(r, c);
	}
	return apitokend_reply_json(r, c, MHD_HTTP_OK, done_body,
	                            sizeof(done_body) - 1);
}

static enum MHD_Result
self_revoke(struct apitokend *d, struct apitokend_req *r,
            struct MHD_Connection *c, const struct apitokend_form *f,
            const char *bearer, size_t blen)
{
	apitoken_claims_t cl;
	char peer[64];
	apitoken_actor_t actor;
	enum MHD_Result ret;
	unsigned secs;
	int rc;

	memset(&cl, 0, sizeof(cl));
	if (f->n_client_id > 0 || f->n_client_secret > 0)
		return apitokend_reply_error(r, c, MHD_HTTP_BAD_REQUEST,
		                             "invalid_request",
		                             "use either a bearer token or "
		                             "client credentials",
		                             NULL);
	/* A wrong bearer is a failed authentication like a wrong secret. */
	secs = apitokend_auth_throttle_wait(c, NULL);
	if (secs > 0)
		return apitokend_reply_throttled(r, c, secs);
	rc = apitoken_token_check(d->store, bearer, blen, apitoken_now(), &cl);
	if (rc != 0) {
		apitokend_metrics_store_error();
		apitoken_log(APITOKEN_LOG_ERR, "revocation: store failed: %s",
		             apitoken_last_error());
		return unavailable(r, c);
	}
	if (!cl.active) {
		apitokend_auth_throttle_failed(c, NULL);
		ret = apitokend_reply_error(r, c, MHD_HTTP_UNAUTHORIZED,
		                            "invalid_token",
		                            "the bearer token is not active",
		                            "Bearer error=\"invalid_token\"");
		goto out;
	}
	if (f->n_token != 1 || f->token_len == 0) {
		ret = bad_token_param(r, c, f);
		goto out;
	}
	if (f->token_len != blen ||
	    !apitoken_secret_equal(f->token, bearer, blen)) {
		ret = apitokend_reply_error(r, c, MHD_HTTP_BAD_REQUEST,
		                            "invalid_request",
		                            "a bearer may revoke only the "
		                            "token it presents",
		                            NULL);
		goto out;
	}
	apitokend_req_peer(c, peer, sizeof(peer));
	memset(&actor, 0, sizeof(actor));
	actor.kind = APITOKEN_ACTOR_USER;
	actor.id = cl.username;
	actor.source = peer;
	actor.reason = "self-revocation via /revoke";
	ret = do_revoke(d, r, c, f, cl.username, &actor);
out:
	apitoken_claims_clear(&cl);
	return ret;
}

enum MHD_Result
apitokend_revoke(struct apitokend *d, struct apitokend_req *r,
                 struct MHD_Connection *c, const struct apitokend_form *f)
{
	struct apitokend_client client;
	apitoken_actor_t actor;
	char peer[64];
	const char *bearer;
	size_t blen;
	enum MHD_Result ret;

	bearer = apitokend_bearer(c, &blen);
	if (bearer != NULL)
		return self_revoke(d, r, c, f, bearer, blen);
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
		return unavailable(r, c);
	default:
		return apitokend_reply_invalid_client(r, c);
	}
	apitokend_req_note(r, client.id, NULL);
	if (!(client.flags & APITOKEN_CLIENT_CAN_REVOKE)) {
		ret = apitokend_reply_error(r, c, MHD_HTTP_BAD_REQUEST,
		                            "unauthorized_client",
		                            "this client may not revoke "
		                            "tokens",
		                            NULL);
		goto out;
	}
	if (f->n_token != 1 || f->token_len == 0) {
		ret = bad_token_param(r, c, f);
		goto out;
	}
	apitokend_req_peer(c, peer, sizeof(peer));
	memset(&actor, 0, sizeof(actor));
	actor.kind = APITOKEN_ACTOR_CLIENT;
	actor.id = client.id;
	actor.source = peer;
	actor.reason = "via /revoke";
	ret = do_revoke(d, r, c, f, NULL, &actor);
out:
	return ret;
}
