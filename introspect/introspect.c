/*
 * apitokend: POST /introspect (RFC 7662).  Only an authenticated client
 * learns anything; an inactive token of any kind (unknown, malformed,
 * expired, revoked, disabled, removed user) gets exactly {"active":false}.
 * A store failure is 503, never "active".
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <apitoken/error.h>
#include <apitoken/log.h>

#include "apitokend.h"
#include "metrics.h"

enum MHD_Result
apitokend_introspect(struct apitokend *d, struct apitokend_req *r,
                     struct MHD_Connection *c, const struct apitokend_form *f)
{
	struct apitokend_client client;
	apitoken_claims_t cl;
	enum MHD_Result ret;
	char *body;
	int rc;

	memset(&cl, 0, sizeof(cl));
	switch (apitokend_client_auth(d, c, f, &client)) {
	case APITOKEND_AUTH_OK:
		break;
	case APITOKEND_AUTH_TWICE:
		return apitokend_reply_error(r, c, MHD_HTTP_BAD_REQUEST,
		                             "invalid_request",
		                             "use one client authentication "
		                             "method, once",
		                             NULL);
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
	rc = apitoken_token_check(d->store, f->token, f->token_len,
	                          apitoken_now(), &cl);
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
	body = apitokend_claims_json(&cl, apitokend_gen(d)->cfg, client.id);
	if (body == NULL) {
		ret = MHD_NO;
		goto out;
	}
	ret = apitokend_reply_json_take(r, c, MHD_HTTP_OK, body);
out:
	apitoken_claims_clear(&cl);
	return ret;
}
