/*
 * apitokend: a page or portal token write made on a replica, done at the
 * master.  Sessions live in the memory of the site that signed the user
 * in, so the HTTP request itself cannot be relayed (the master does not
 * know the cookie).  The write is sent instead as the admin command it
 * is ("token generate USER [--replace]" or "token revoke USER"), over
 * the same signed channel as forwarded admin commands
 * (regions_forward.c), and the master's answer is turned back into what
 * the local store call would have returned.  The origin names the page's
 * actor and address, so the master's audit record says who asked.
 */
#include "config.h"

#include <string.h>
#include <sysexits.h>

#include <openssl/crypto.h>

#include <apitoken/error.h>

#include "regions.h"
#include "web.h"

/* The error a command's exit code stands for (admin_exit_code()). */
static int
exit_error(int code)
{
	switch (code) {
	case EX_DATAERR:
	case EX_USAGE:
		return APITOKEN_ERR_INVALID;
	case EX_NOUSER:
		return APITOKEN_ERR_NOT_FOUND;
	case EX_CANTCREAT:
		return APITOKEN_ERR_EXISTS;
	case EX_NOPERM:
		return APITOKEN_ERR_DISABLED;
	default:
		return APITOKEN_ERR_UNAVAILABLE;
	}
}

static void
wipe_json_string(cJSON *item)
{
	if (cJSON_IsString(item) && item->valuestring != NULL)
		OPENSSL_cleanse(item->valuestring, strlen(item->valuestring));
}

/* "token generate --json" printed {"id","user","iat","exp","token"}. */
static int
read_issued(const char *out, char secret_out[APITOKEN_TOKEN_LEN + 1],
            apitoken_token_info_t *info)
{
	cJSON *o = cJSON_Parse(out);
	const cJSON *id, *user, *iat, *exp, *tok;
	int rc = APITOKEN_ERR_UNAVAILABLE;

	if (o == NULL)
		goto out;
	id = cJSON_GetObjectItemCaseSensitive(o, "id");
	user = cJSON_GetObjectItemCaseSensitive(o, "user");
	iat = cJSON_GetObjectItemCaseSensitive(o, "iat");
	exp = cJSON_GetObjectItemCaseSensitive(o, "exp");
	tok = cJSON_GetObjectItemCaseSensitive(o, "token");
	if (!cJSON_IsString(id) || !cJSON_IsString(user) ||
	    !cJSON_IsNumber(iat) || !cJSON_IsNumber(exp) ||
	    !cJSON_IsString(tok) ||
	    strlen(id->valuestring) > APITOKEN_ID_LEN ||
	    strlen(user->valuestring) > APITOKEN_USER_MAX ||
	    strlen(tok->valuestring) != APITOKEN_TOKEN_LEN)
		goto out;
	memset(info, 0, sizeof(*info));
	strcpy(info->id, id->valuestring);
	strcpy(info->user, user->valuestring);
	memcpy(info->hint, tok->valuestring + APITOKEN_TOKEN_LEN - 4, 4);
	info->iat = (int64_t)iat->valuedouble;
	info->exp = (int64_t)exp->valuedouble;
	memcpy(secret_out, tok->valuestring, APITOKEN_TOKEN_LEN + 1);
	rc = 0;
out:
	if (o != NULL)
		wipe_json_string(cJSON_GetObjectItemCaseSensitive(o, "token"));
	cJSON_Delete(o);
	if (rc != 0)
		return apitoken_error(rc, "the master's answer could not be "
		                          "read");
	return 0;
}

/* "token revoke" printed "revoked token ID of user USER". */
static int
read_revoked(const char *out, const char *user, apitoken_token_info_t *info)
{
	char id[APITOKEN_ID_LEN + 1];

	if (sscanf(out, "revoked token %16s of user", id) != 1)
		return apitoken_error(APITOKEN_ERR_UNAVAILABLE,
		                      "the master's answer could not be read");
	memset(info, 0, sizeof(*info));
	(void)snprintf(info->id, sizeof(info->id), "%s", id);
	(void)snprintf(info->user, sizeof(info->user), "%s", user);
	return 0;
}

int
web_token_forward(struct apitokend *d, enum web_token_op op, const char *user,
                  const char *origin, char secret_out[APITOKEN_TOKEN_LEN + 1],
                  apitoken_token_info_t *info_out)
{
	struct apitokend_fwd_reply rep = {0};
	cJSON *req = cJSON_CreateObject(), *argv = NULL, *reply = NULL;
	const cJSON *code, *out, *err;
	char *body = NULL;
	int rc = APITOKEN_ERR_NOMEM;

	if (req == NULL || cJSON_AddNumberToObject(req, "v", 1) == NULL ||
	    (argv = cJSON_AddArrayToObject(req, "argv")) == NULL ||
	    cJSON_AddBoolToObject(req, "json", op != WEB_TOKEN_REVOKE) == NULL)
		goto out;
	if (!cJSON_AddItemToArray(argv, cJSON_CreateString("token")) ||
	    !cJSON_AddItemToArray(
	        argv, cJSON_CreateString(
	                  op == WEB_TOKEN_REVOKE ? "revoke" : "generate")) ||
	    !cJSON_AddItemToArray(argv, cJSON_CreateString(user)) ||
	    (op == WEB_TOKEN_REPLACE &&
	     !cJSON_AddItemToArray(argv, cJSON_CreateString("--replace"))))
		goto out;
	body = cJSON_PrintUnformatted(req);
	if (body == NULL)
		goto out;
	rc = apitokend_forward(d, "POST", APITOKEND_REGIONS_PATH, NULL, origin,
	                       body, strlen(body), &rep);
	if (rc != 0)
		goto out; /* 1: this site is the master now */
	if (rep.status != 200 || (reply = cJSON_Parse(rep.body)) == NULL) {
		rc = apitoken_error(APITOKEN_ERR_UNAVAILABLE,
		                    "the master answered %ld; retry",
		                    rep.status);
		goto out;
	}
	code = cJSON_GetObjectItemCaseSensitive(reply, "exit");
	out = cJSON_GetObjectItemCaseSensitive(reply, "stdout");
	err = cJSON_GetObjectItemCaseSensitive(reply, "stderr");
	if (!cJSON_IsNumber(code) || !cJSON_IsString(out) ||
	    !cJSON_IsString(err)) {
		rc = apitoken_error(APITOKEN_ERR_UNAVAILABLE,
		                    "the master's answer could not be read");
		goto out;
	}
	if (code->valueint != EX_OK) {
		/* The master's message without the "apitokenctl: " prefix. */
		const char *msg = strchr(err->valuestring, ':');

		msg = msg != NULL ? msg + 1 : err->valuestring;
		msg += strspn(msg, " ");
		rc = apitoken_error(exit_error(code->valueint), "%.*s",
		                    (int)strcspn(msg, "\n"), msg);
		goto out;
	}
	rc = op == WEB_TOKEN_REVOKE
	         ? read_revoked(out->valuestring, user, info_out)
	         : read_issued(out->valuestring, secret_out, info_out);
out:
	if (reply != NULL)
		wipe_json_string(
		    cJSON_GetObjectItemCaseSensitive(reply, "stdout"));
	cJSON_Delete(reply);
	if (rep.body != NULL)
		OPENSSL_cleanse(rep.body, rep.len);
	apitokend_fwd_reply_free(&rep);
	cJSON_free(body);
	cJSON_Delete(req);
	return rc;
}
