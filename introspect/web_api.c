/*
 * apitokend: GET, POST and DELETE on one user's token, for the signed-in
 * user (/api/v1/me/token) and for a portal client holding the manage right
 * (/api/v1/users/USER/token).  The same rules as apitokenctl, because the
 * same store calls: one token per user, API access off refused, revocation
 * final, email notices through the outbox.  The secret is in one answer
 * only and every copy made on the way is wiped.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include <apitoken/error.h>
#include <apitoken/log.h>

#include "metrics.h"
#include "regions.h"
#include "web.h"

#define DAY 86400

/* The audit record's actor (kind, id, source address, and how), which
 * also names who acted in the email. */
static void
to_actor(const struct web_actor *a, const char *user, char *reason, size_t len,
         apitoken_actor_t *out)
{
	memset(out, 0, sizeof(*out));
	out->id = a->id;
	out->source = a->source;
	if (a->kind == WEB_ACTOR_USER) {
		out->kind = APITOKEN_ACTOR_USER;
		snprintf(reason, len, "web session");
	} else {
		out->kind = APITOKEN_ACTOR_CLIENT;
		snprintf(reason, len, "portal, for user %s", user);
	}
	out->reason = reason;
}

/*
 * The one place the page and the portal API change a token (a replica
 * forwards these to the master: wrap this function, nothing else).
 */
int
web_token_write(struct apitokend *d, enum web_token_op op, const char *user,
                const struct web_actor *actor,
                char secret_out[APITOKEN_TOKEN_LEN + 1],
                apitoken_token_info_t *info_out)
{
	char reason[APITOKEN_USER_MAX + 32], origin[256];
	apitoken_actor_t a;
	int rc;

	to_actor(actor, user, reason, sizeof(reason), &a);
	apitoken_actor_describe(&a, origin, sizeof(origin));
	/* Regions: a replica has the master write it (web_forward.c);
	 * 1 means this site is the master after all. */
	rc = apitokend_regions_forwarding(d)
	         ? web_token_forward(d, op, user, origin, secret_out, info_out)
	         : 1;
	if (rc == 1 && op == WEB_TOKEN_REVOKE)
		rc = apitoken_token_revoke_as(d->store, user, &a, info_out);
	else if (rc == 1)
		rc = apitoken_token_issue_as(
		    d->store, user,
		    op == WEB_TOKEN_REPLACE ? APITOKEN_ISSUE_REPLACE : 0, &a,
		    secret_out, info_out);
	if (rc != 0)
		return rc;
	apitoken_log(APITOKEN_LOG_NOTICE, "token %s of user %s %s (%s)",
	             info_out->id, user,
	             op == WEB_TOKEN_REVOKE    ? "revoked"
	             : op == WEB_TOKEN_REPLACE ? "regenerated"
	                                       : "issued",
	             origin);
	if (d->mail != NULL)
		apitokend_mail_kick(d->mail);
	return 0;
}

static bool
add_num(cJSON *o, const char *k, int64_t v)
{
	return cJSON_AddNumberToObject(o, k, (double)v) != NULL;
}

static bool
add_token(cJSON *o, const char *k, const apitoken_token_info_t *t, int64_t now)
{
	cJSON *t_o = cJSON_AddObjectToObject(o, k);
	int64_t left = t->exp > now ? (t->exp - now + DAY - 1) / DAY : 0;

	return t_o != NULL && cJSON_AddStringToObject(t_o, "id", t->id) &&
	       cJSON_AddStringToObject(t_o, "hint", t->hint) &&
	       add_num(t_o, "created", t->iat) &&
	       add_num(t_o, "expires", t->exp) &&
	       add_num(t_o, "days_left", left);
}

/*
 * "last_used": {"time", "source", "client"} of the token, or null if it
 * was never used (or last use is off).  From apitokend's memory first,
 * so a use shows at once; a failed read shows as unknown, not as an
 * error of the whole page.
 */
static bool
add_last_use(struct apitokend *d, cJSON *t_o, const char *token_id)
{
	apitoken_last_use_t lu;
	cJSON *o;

	if (t_o == NULL)
		return false;
	if (apitokend_gen(d)->cfg->last_used == 0 ||
	    apitoken_lastuse_get(d->store, token_id, &lu) != 0 || lu.time == 0)
		return cJSON_AddNullToObject(t_o, "last_used") != NULL;
	o = cJSON_AddObjectToObject(t_o, "last_used");
	return o != NULL && add_num(o, "time", lu.time) &&
	       cJSON_AddStringToObject(o, "source", lu.source) != NULL &&
	       cJSON_AddStringToObject(o, "client", lu.client) != NULL;
}

/* The last token event of a user: was the token removed by expiry? */
struct last_event {
	char event[16];
	char token_id[APITOKEN_ID_LEN + 1];
	int64_t time;
};

static int
last_token_event(const apitoken_audit_t *rec, void *vctx)
{
	struct last_event *le = vctx;

	if (strcmp(rec->event, "issued") == 0 ||
	    strcmp(rec->event, "replaced") == 0 ||
	    strcmp(rec->event, "revoked") == 0 ||
	    strcmp(rec->event, "expired") == 0) {
		snprintf(le->event, sizeof(le->event), "%s", rec->event);
		snprintf(le->token_id, sizeof(le->token_id), "%s",
		         rec->token_id != NULL ? rec->token_id : "");
		le->time = rec->time;
	}
	return 0;
}

static enum MHD_Result
store_failed(struct apitokend_req *r, struct MHD_Connection *c)
{
	apitokend_metrics_store_error();
	apitoken_log(APITOKEN_LOG_ERR, "web: store failed: %s",
	             apitoken_last_error());
	return web_reply_error(r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
	                       "temporarily_unavailable",
	                       "the token store failed; try again later");
}

static enum MHD_Result
status(struct apitokend *d, struct apitokend_req *r, struct MHD_Connection *c,
       const char *user)
{
	const apitoken_config_t *cfg = apitokend_gen(d)->cfg;
	const apitoken_web_config_t *w = cfg->web;
	apitoken_user_t *u = NULL;
	apitoken_token_info_t t;
	struct last_event le;
	int64_t now = apitoken_now();
	const char *state;
	char *text;
	cJSON *o = cJSON_CreateObject();
	bool has_token = false, fine;
	int rc;

	if (o == NULL)
		return MHD_NO;
	rc = apitoken_user_get(d->store, user, &u);
	if (rc != 0 && rc != APITOKEN_ERR_NOT_FOUND) {
		cJSON_Delete(o);
		return store_failed(r, c);
	}
	if (u != NULL) {
		rc = apitoken_token_get(d->store, user, &t);
		if (rc != 0 && rc != APITOKEN_ERR_NOT_FOUND)
			goto fail;
		has_token = rc == 0;
	}
	memset(&le, 0, sizeof(le));
	if (u != NULL && !has_token &&
	    apitoken_audit_foreach(d->store, user, last_token_event, &le) != 0)
		goto fail;
	if (u == NULL)
		state = "unknown";
	else if (!u->api_access)
		state = "disabled";
	else if (has_token)
		state = now >= t.exp ? "expired" : "active";
	else if (strcmp(le.event, "expired") == 0)
		state = "expired";
	else
		state = "none";
	fine = cJSON_AddStringToObject(o, "user", user) != NULL &&
	       cJSON_AddStringToObject(o, "state", state) != NULL &&
	       cJSON_AddBoolToObject(o, "known", u != NULL) != NULL &&
	       cJSON_AddBoolToObject(o, "api_access",
	                             u != NULL && u->api_access) != NULL &&
	       add_num(o, "lifetime_days", cfg->token_lifetime / DAY);
	if (fine && has_token)
		fine = add_token(o, "token", &t, now) &&
		       add_last_use(d, cJSON_GetObjectItem(o, "token"), t.id);
	if (fine && !has_token && strcmp(le.event, "expired") == 0) {
		cJSON *e = cJSON_AddObjectToObject(o, "expired_token");

		fine = e != NULL &&
		       cJSON_AddStringToObject(e, "id", le.token_id) &&
		       add_num(e, "deleted", le.time);
	}
	if (fine && w != NULL && w->support_contact != NULL)
		fine = cJSON_AddStringToObject(o, "support_contact",
		                               w->support_contact) != NULL;
	apitoken_user_free(u);
	text = fine ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return web_reply_json(r, c, MHD_HTTP_OK, text);
fail:
	apitoken_user_free(u);
	cJSON_Delete(o);
	return store_failed(r, c);
}

/* Body of POST: empty, or {"replace": true|false}. */
static int
parse_replace(const char *body, size_t len, bool *replace)
{
	cJSON *o, *it;
	int rc = 0;

	*replace = false;
	if (len == 0)
		return 0;
	o = cJSON_ParseWithLength(body, len);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return -1;
	}
	cJSON_ArrayForEach(it, o)
	{
		if (strcmp(it->string, "replace") == 0 && cJSON_IsBool(it))
			*replace = cJSON_IsTrue(it);
		else
			rc = -1;
	}
	cJSON_Delete(o);
	return rc;
}

static void
wipe_free(void *p)
{
	if (p != NULL)
		OPENSSL_cleanse(p, strlen(p));
	free(p);
}

static enum MHD_Result
refused(struct apitokend_req *r, struct MHD_Connection *c, int rc,
        const char *user)
{
	char desc[200];

	switch (rc) {
	case APITOKEN_ERR_NOT_FOUND:
		return web_reply_error(r, c, MHD_HTTP_NOT_FOUND, "not_found",
		                       apitoken_last_error());
	case APITOKEN_ERR_DISABLED:
		snprintf(desc, sizeof(desc),
		         "API tokens are switched off for %s by an "
		         "administrator",
		         user);
		return web_reply_error(r, c, MHD_HTTP_FORBIDDEN,
		                       "api_access_off", desc);
	case APITOKEN_ERR_EXISTS:
		snprintf(desc, sizeof(desc),
		         "%s already has a token; regenerate it instead "
		         "(\"replace\": true)",
		         user);
		return web_reply_error(r, c, MHD_HTTP_CONFLICT, "token_exists",
		                       desc);
	case APITOKEN_ERR_INVALID:
		return web_reply_error(r, c, MHD_HTTP_BAD_REQUEST,
		                       "invalid_request",
		                       apitoken_last_error());
	default:
		return store_failed(r, c);
	}
}

static enum MHD_Result
issue_token(struct apitokend *d, struct apitokend_req *r,
            struct MHD_Connection *c, const char *user,
            const struct web_actor *actor, const char *body, size_t len)
{
	char secret[APITOKEN_TOKEN_LEN + 1];
	apitoken_token_info_t info;
	struct MHD_Response *resp;
	cJSON *o, *item = NULL;
	char *text = NULL;
	bool replace;
	enum MHD_Result ret = MHD_NO;
	int rc;

	if (parse_replace(body, len, &replace) != 0)
		return web_reply_error(r, c, MHD_HTTP_BAD_REQUEST,
		                       "invalid_request",
		                       "the body must be empty or "
		                       "{\"replace\": true}");
	rc = web_token_write(d, replace ? WEB_TOKEN_REPLACE : WEB_TOKEN_ISSUE,
	                     user, actor, secret, &info);
	if (rc != 0)
		return refused(r, c, rc, user);
	apitokend_req_note(
	    r, actor->kind == WEB_ACTOR_CLIENT ? actor->id : NULL, info.id);
	o = cJSON_CreateObject();
	if (o != NULL && add_token(o, "info", &info, apitoken_now()))
		item = cJSON_AddStringToObject(o, "token", secret);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (item != NULL)
		text = cJSON_PrintUnformatted(o);
	if (item != NULL)
		OPENSSL_cleanse(item->valuestring, strlen(item->valuestring));
	cJSON_Delete(o);
	if (text == NULL)
		return MHD_NO;
	resp = MHD_create_response_from_buffer_with_free_callback(
	    strlen(text), text, wipe_free);
	if (resp == NULL) {
		wipe_free(text);
		return MHD_NO;
	}
	ret = web_queue(r, c, MHD_HTTP_CREATED, resp, "application/json");
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
revoke_token(struct apitokend *d, struct apitokend_req *r,
             struct MHD_Connection *c, const char *user,
             const struct web_actor *actor)
{
	apitoken_token_info_t info;
	cJSON *o;
	char *text = NULL;
	int rc;

	rc = web_token_write(d, WEB_TOKEN_REVOKE, user, actor, NULL, &info);
	if (rc == APITOKEN_ERR_NOT_FOUND)
		return web_reply_error(r, c, MHD_HTTP_NOT_FOUND, "not_found",
		                       "there is no token to revoke");
	if (rc != 0)
		return refused(r, c, rc, user);
	apitokend_req_note(
	    r, actor->kind == WEB_ACTOR_CLIENT ? actor->id : NULL, info.id);
	o = cJSON_CreateObject();
	if (o != NULL && cJSON_AddStringToObject(o, "revoked", info.id))
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return web_reply_json(r, c, MHD_HTTP_OK, text);
}

enum MHD_Result
web_api_token(struct apitokend *d, struct apitokend_req *r,
              struct MHD_Connection *c, const char *method, const char *user,
              const struct web_actor *actor, const char *body, size_t len)
{
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		return status(d, r, c, user);
	if (strcmp(method, "POST") == 0)
		return issue_token(d, r, c, user, actor, body, len);
	if (strcmp(method, "DELETE") == 0)
		return revoke_token(d, r, c, user, actor);
	return web_reply_error(r, c, MHD_HTTP_METHOD_NOT_ALLOWED,
	                       "invalid_request",
	                       "use GET, POST or DELETE on a token");
}
