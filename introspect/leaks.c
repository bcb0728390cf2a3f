/*
 * apitokend: POST /leaks, reports of leaked tokens.
 *
 * Two callers:
 *   - a registered client with the report-leaks right (HTTP Basic), body
 *     a JSON array of up to 1000 {"token", "url", "source"}; the answer
 *     is {"results": [{"index": i, "result": r}]}, r one of "revoked"
 *     (ours and active: revoked now), "already" (ours, already revoked or
 *     expired) and "not-ours" (RFC 7009-like: unknown and malformed look
 *     the same).  No token is ever echoed.
 *   - GitHub's secret scanning partner program: no client credentials;
 *     the body is signed (ECDSA P-256, SHA-256) with the key named by
 *     Github-Public-Key-Identifier, signature (base64 DER) in
 *     Github-Public-Key-Signature, checked against the public key files
 *     of "leak_report_keys" (never fetched).  Items are {"token", "type",
 *     "url", "source"}; the answer is GitHub's: [{"token_hash" (SHA-256
 *     hex, as GitHub asks), "token_type", "label": "true_positive" |
 *     "false_positive"}].  A missing or forged signature is 401 and
 *     counts as a failed authentication of the address.
 * Each active token of ours is revoked at once (event leak-reported,
 * actor the client with its address, reason where it was found); its
 * owner is mailed (the notice says where).  Requests are limited per
 * source address (LEAKS_BURST at once, one more every LEAKS_EVERY_S).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/token.h>

#include "apitokend.h"
#include "mail.h"
#include "metrics.h"
#include "throttle.h"

#define LEAKS_MAX_ITEMS 1000
#define LEAKS_TEXT_MAX 1024 /* url and source, each */
#define LEAKS_BURST 30
#define LEAKS_EVERY_S 2.0
#define GH_KEY_HEADER "Github-Public-Key-Identifier"
#define GH_SIG_HEADER "Github-Public-Key-Signature"

static struct apitokend_throttle *limit;

int
apitokend_leaks_start(void)
{
	const struct apitokend_throttle_conf conf = {
	    .name = "leak_reports",
	    .slots = 1024,
	    .burst = LEAKS_BURST,
	    .per_second = 1.0 / LEAKS_EVERY_S,
	};

	limit = apitokend_throttle_create(&conf);
	return limit != NULL ? 0 : APITOKEN_ERR_NOMEM;
}

void
apitokend_leaks_stop(void)
{
	apitokend_throttle_destroy(limit);
	limit = NULL;
}

/* Base64 (standard, padded) into out; the decoded length or -1. */
static int
b64_decode(const char *in, unsigned char *out, int cap)
{
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	int n = 0, m = 0, len = (int)strlen(in);

	if (ctx == NULL || len > cap * 4 / 3 - 4)
		goto fail;
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, out, &n, (const unsigned char *)in, len) <
	        0 ||
	    EVP_DecodeFinal(ctx, out + n, &m) != 1)
		goto fail;
	EVP_ENCODE_CTX_free(ctx);
	return n + m;
fail:
	EVP_ENCODE_CTX_free(ctx);
	return -1;
}

/* Is body signed by the configured key kid?  Logs why not. */
static bool
github_signature_ok(struct apitokend *d, const char *kid, const char *sig64,
                    const char *body, size_t len)
{
	const apitoken_config_t *cfg = apitokend_gen(d)->cfg;
	unsigned char sig[256];
	EVP_MD_CTX *md = NULL;
	EVP_PKEY *key = NULL;
	FILE *f = NULL;
	size_t i;
	int n;
	bool ok = false;

	for (i = 0; i < cfg->n_leak_keys; i++) {
		if (strcmp(cfg->leak_key_ids[i], kid) == 0)
			break;
	}
	if (i == cfg->n_leak_keys) {
		apitoken_log(APITOKEN_LOG_NOTICE,
		             "leak report: unknown signing key identifier");
		return false;
	}
	n = b64_decode(sig64, sig, (int)sizeof(sig));
	if (n <= 0) {
		apitoken_log(APITOKEN_LOG_NOTICE,
		             "leak report: malformed signature header");
		return false;
	}
	f = fopen(cfg->leak_key_files[i], "re");
	if (f != NULL)
		key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	if (f != NULL)
		(void)fclose(f);
	if (key == NULL) {
		apitoken_log(APITOKEN_LOG_ERR,
		             "leak report: cannot read public key %s",
		             cfg->leak_key_files[i]);
		return false;
	}
	md = EVP_MD_CTX_new();
	ok = md != NULL &&
	     EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	     EVP_DigestVerify(md, sig, (size_t)n, (const unsigned char *)body,
	                      len) == 1;
	if (!ok)
		apitoken_log(APITOKEN_LOG_NOTICE,
		             "leak report: signature does not verify");
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	return ok;
}

enum leak_result { LEAK_REVOKED, LEAK_ALREADY, LEAK_NOT_OURS };

static const char *const result_names[] = {"revoked", "already", "not-ours"};

/* Revoke one reported token if it is ours and active. */
static int
handle_item(struct apitokend *d, const char *token, const char *url,
            const char *source, const char *reporter, const char *peer,
            enum leak_result *out)
{
	apitoken_token_info_t info;
	apitoken_identity_t id;
	apitoken_actor_t actor;
	char reason[2 * LEAKS_TEXT_MAX + 64];
	size_t len = strlen(token);
	int rc;

	*out = LEAK_NOT_OURS;
	if (apitoken_token_parse(APITOKEN_TOKEN_PREFIX, token, len) != 0) {
		apitoken_error_clear();
		return 0;
	}
	(void)snprintf(reason, sizeof(reason), "found leaked at %s%s%s%s",
	               url[0] != '\0' ? url : "(no URL given)",
	               source[0] != '\0' ? " (" : "", source,
	               source[0] != '\0' ? ")" : "");
	memset(&actor, 0, sizeof(actor));
	actor.kind = APITOKEN_ACTOR_CLIENT;
	actor.id = reporter;
	actor.source = peer;
	actor.reason = reason;
	rc = apitoken_token_revoke_secret_as(d->store, token, len, NULL,
	                                     APITOKEN_AUDIT_LEAK_REPORTED,
	                                     &actor, &info);
	if (rc == 0) {
		*out = LEAK_REVOKED;
		apitoken_log(APITOKEN_LOG_WARNING,
		             "leak report by %s: token %s of %s revoked",
		             reporter, info.id, info.user);
		return 0;
	}
	if (rc != APITOKEN_ERR_NOT_FOUND)
		return rc;
	rc =
	    apitoken_token_identify(d->store, token, len, apitoken_now(), &id);
	if (rc != 0)
		return rc;
	if (id.state != APITOKEN_STATE_UNKNOWN)
		*out = LEAK_ALREADY;
	return 0;
}

static const char *
item_str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) && v->valuestring != NULL ? v->valuestring
	                                                   : NULL;
}

static bool
text_ok(const char *s)
{
	if (s == NULL)
		return true;
	if (strlen(s) > LEAKS_TEXT_MAX)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* Wipe every "token" string of the parsed request. */
static void
wipe_tokens(cJSON *arr)
{
	cJSON *it;

	cJSON_ArrayForEach(it, arr)
	{
		cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "token");

		if (cJSON_IsString(t) && t->valuestring != NULL)
			OPENSSL_cleanse(t->valuestring,
			                strlen(t->valuestring));
	}
}

static bool
github_item(cJSON *out, const char *token, const char *type,
            enum leak_result res)
{
	unsigned char h[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1];
	cJSON *o = cJSON_CreateObject();
	size_t i;

	if (o == NULL)
		return false;
	cJSON_AddItemToArray(out, o);
	SHA256((const unsigned char *)token, strlen(token), h);
	for (i = 0; i < sizeof(h); i++)
		(void)snprintf(hex + 2 * i, 3, "%02x", h[i]);
	return cJSON_AddStringToObject(o, "token_hash", hex) != NULL &&
	       cJSON_AddStringToObject(o, "token_type",
	                               type != NULL ? type : "") != NULL &&
	       cJSON_AddStringToObject(o, "label",
	                               res == LEAK_NOT_OURS
	                                   ? "false_positive"
	                                   : "true_positive") != NULL;
}

static enum MHD_Result
process(struct apitokend *d, struct apitokend_req *r, struct MHD_Connection *c,
        cJSON *arr, const char *reporter, bool github)
{
	char peer[64];
	cJSON *out, *results = NULL, *it, *o;
	size_t i = 0, revoked = 0;
	enum leak_result res;
	char *text;
	int rc = 0;

	apitokend_req_peer(c, peer, sizeof(peer));
	out = github ? cJSON_CreateArray() : cJSON_CreateObject();
	if (out == NULL)
		return MHD_NO;
	if (!github) {
		results = cJSON_AddArrayToObject(out, "results");
		if (results == NULL)
			goto nomem;
	}
	cJSON_ArrayForEach(it, arr)
	{
		const char *token = item_str(it, "token");
		const char *url = item_str(it, "url");
		const char *source = item_str(it, "source");

		if (token == NULL || !text_ok(url) || !text_ok(source)) {
			res = LEAK_NOT_OURS;
		} else {
			rc = handle_item(d, token, url != NULL ? url : "",
			                 source != NULL ? source : "",
			                 reporter, peer, &res);
			if (rc != 0)
				break;
		}
		if (res == LEAK_REVOKED)
			revoked++;
		if (github) {
			if (!github_item(out, token != NULL ? token : "",
			                 item_str(it, "type"), res))
				goto nomem;
		} else {
			o = cJSON_CreateObject();
			if (o == NULL)
				goto nomem;
			cJSON_AddItemToArray(results, o);
			if (cJSON_AddNumberToObject(o, "index", (double)i) ==
			        NULL ||
			    cJSON_AddStringToObject(o, "result",
			                            result_names[res]) == NULL)
				goto nomem;
		}
		i++;
	}
	if (revoked > 0 && d->mail != NULL)
		apitokend_mail_kick(d->mail);
	if (rc != 0) {
		/* What was revoked stays revoked; the reporter retries and
		 * gets "already" for those. */
		cJSON_Delete(out);
		apitokend_metrics_store_error();
		apitoken_log(APITOKEN_LOG_ERR, "leak report: store failed: %s",
		             apitoken_last_error());
		return apitokend_reply_error(
		    r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "temporarily_unavailable", "the token store failed", NULL);
	}
	apitoken_log(APITOKEN_LOG_NOTICE,
	             "leak report by %s from %s: %zu item(s), %zu revoked",
	             reporter, peer, i, revoked);
	text = cJSON_PrintUnformatted(out);
	cJSON_Delete(out);
	if (text == NULL)
		return MHD_NO;
	return apitokend_reply_json_take(r, c, MHD_HTTP_OK, text);
nomem:
	cJSON_Delete(out);
	return MHD_NO;
}

enum MHD_Result
apitokend_leaks(struct apitokend *d, struct apitokend_req *r,
                struct MHD_Connection *c, const char *method, const char *body,
                size_t len, bool too_large)
{
	struct apitokend_client client;
	struct apitokend_form none;
	const char *kid, *sig;
	char peer[64], reporter[APITOKEN_CLIENT_ID_MAX + 16];
	enum MHD_Result ret;
	unsigned wait;
	cJSON *arr;
	bool github;

	if (strcmp(method, "POST") != 0)
		return apitokend_reply_error(
		    r, c, MHD_HTTP_METHOD_NOT_ALLOWED, "invalid_request",
		    "this endpoint accepts only POST", NULL);
	apitokend_req_peer(c, peer, sizeof(peer));
	/* Every report counts against its address's bucket. */
	wait = apitokend_throttle_wait(limit, peer, strlen(peer));
	if (wait > 0)
		return apitokend_reply_throttled(r, c, wait);
	(void)apitokend_throttle_fail(limit, peer, strlen(peer));
	kid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, GH_KEY_HEADER);
	sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, GH_SIG_HEADER);
	github = kid != NULL || sig != NULL;
	if (github) {
		wait = apitokend_auth_throttle_wait(c, NULL);
		if (wait > 0)
			return apitokend_reply_throttled(r, c, wait);
		if (kid == NULL || sig == NULL || too_large ||
		    !github_signature_ok(d, kid, sig, body != NULL ? body : "",
		                         len)) {
			apitokend_auth_throttle_failed(c, NULL);
			return apitokend_reply_error(
			    r, c, MHD_HTTP_UNAUTHORIZED, "invalid_request",
			    "the report's signature does not verify", NULL);
		}
		(void)snprintf(reporter, sizeof(reporter), "github");
	} else {
		memset(&none, 0, sizeof(none));
		switch (apitokend_client_auth(d, c, &none, &client)) {
		case APITOKEND_AUTH_OK:
			break;
		case APITOKEND_AUTH_THROTTLED:
			return apitokend_reply_throttled(r, c,
			                                 client.retry_after);
		case APITOKEND_AUTH_ERROR:
			return apitokend_reply_error(
			    r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "temporarily_unavailable",
			    "the token store failed", NULL);
		default:
			return apitokend_reply_invalid_client(r, c);
		}
		apitokend_req_note(r, client.id, NULL);
		if (!(client.flags & APITOKEN_CLIENT_CAN_REPORT_LEAKS))
			return apitokend_reply_error(
			    r, c, MHD_HTTP_FORBIDDEN, "unauthorized_client",
			    "this client may not report leaked tokens", NULL);
		(void)snprintf(reporter, sizeof(reporter), "%s", client.id);
	}
	if (too_large)
		return apitokend_reply_error(r, c, MHD_HTTP_CONTENT_TOO_LARGE,
		                             "invalid_request",
		                             "report larger than 1 MiB", NULL);
	arr = body != NULL ? cJSON_ParseWithLength(body, len) : NULL;
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > LEAKS_MAX_ITEMS) {
		if (arr != NULL)
			wipe_tokens(arr);
		cJSON_Delete(arr);
		return apitokend_reply_error(
		    r, c, MHD_HTTP_BAD_REQUEST, "invalid_request",
		    "expected a JSON array of at most 1000 "
		    "{\"token\",\"url\",\"source\"} objects",
		    NULL);
	}
	ret = process(d, r, c, arr, reporter, github);
	wipe_tokens(arr);
	cJSON_Delete(arr);
	return ret;
}
