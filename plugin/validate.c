/*
 * The validation common to both back ends: syntax first (no I/O for
 * garbage), then the back end, then the reply read into the result and
 * the required scope checked.  Anything unexpected is UNAVAILABLE: the
 * only way to VALID is a well-formed "active":true reply.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include <apitoken/policy.h>
#include <apitoken/token.h>

#include "validator_int.h"

struct vhandle {
	struct vconf conf;
	struct vlocal *local;
	struct vremote *remote;
};

void
vresult_reason(struct apitoken_validation *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
}

/* Clear the identity members and set an outcome that is not VALID. */
static void
fail(struct apitoken_validation *r, int status, const char *reason)
{
	memset(r, 0, sizeof(*r));
	r->status = status;
	vresult_reason(r, "%s", reason);
}

/* Copy a JSON string member into dst; false if absent, not a string or
 * too long. */
static bool
copy_str(const cJSON *obj, const char *name, char *dst, size_t size,
         bool required)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
	size_t n;

	if (it == NULL)
		return !required;
	if (!cJSON_IsString(it) || it->valuestring == NULL)
		return false;
	n = strlen(it->valuestring);
	if (n >= size)
		return false;
	memcpy(dst, it->valuestring, n + 1);
	return true;
}

/* business_units: an array of strings (or one string), joined by spaces. */
static bool
copy_bus(const cJSON *obj, char *dst, size_t size)
{
	const cJSON *it =
	    cJSON_GetObjectItemCaseSensitive(obj, "business_units");
	const cJSON *e;
	size_t len = 0, n;

	dst[0] = '\0';
	if (it == NULL || cJSON_IsNull(it))
		return true;
	if (cJSON_IsString(it))
		return copy_str(obj, "business_units", dst, size, true);
	if (!cJSON_IsArray(it))
		return false;
	cJSON_ArrayForEach(e, it)
	{
		if (!cJSON_IsString(e) || e->valuestring == NULL)
			return false;
		n = strlen(e->valuestring);
		if (len + n + 2 > size)
			return false;
		if (len > 0)
			dst[len++] = ' ';
		memcpy(dst + len, e->valuestring, n + 1);
		len += n;
	}
	return true;
}

/*
 * "exp" (RFC 7662: seconds since the epoch): a whole number from 0 to
 * below 2^63, tested as a double before it is converted: the conversion
 * of an out-of-range double is undefined behaviour.
 */
static bool
exp_ok(const cJSON *exp)
{
	double v;

	if (!cJSON_IsNumber(exp))
		return false;
	v = exp->valuedouble;
	/* In range first: only then is the conversion defined. */
	return v >= 0.0 && v < 9223372036854775808.0 &&
	       (double)(int64_t)v == v;
}

void
vresult_from_json(struct apitoken_validation *r, const char *json)
{
	cJSON *obj = cJSON_Parse(json);
	const cJSON *active, *exp;

	memset(r, 0, sizeof(*r));
	if (obj == NULL || !cJSON_IsObject(obj)) {
		fail(r, APITOKEN_VALIDATION_UNAVAILABLE, "reply is not JSON");
		goto out;
	}
	if (cJSON_GetObjectItemCaseSensitive(obj, "error") != NULL) {
		const cJSON *e =
		    cJSON_GetObjectItemCaseSensitive(obj, "error");

		fail(r, APITOKEN_VALIDATION_UNAVAILABLE, "apitokend error");
		if (cJSON_IsString(e))
			vresult_reason(r, "apitokend error: %.64s",
			               e->valuestring);
		goto out;
	}
	active = cJSON_GetObjectItemCaseSensitive(obj, "active");
	if (!cJSON_IsBool(active)) {
		fail(r, APITOKEN_VALIDATION_UNAVAILABLE,
		     "reply has no boolean \"active\"");
		goto out;
	}
	if (cJSON_IsFalse(active)) {
		fail(r, APITOKEN_VALIDATION_INVALID, "inactive token");
		goto out;
	}
	exp = cJSON_GetObjectItemCaseSensitive(obj, "exp");
	if (!copy_str(obj, "username", r->username, sizeof(r->username),
	              true) ||
	    r->username[0] == '\0' ||
	    !copy_str(obj, "scope", r->scope, sizeof(r->scope), false) ||
	    !copy_str(obj, "role", r->role, sizeof(r->role), false) ||
	    !copy_str(obj, "jti", r->jti, sizeof(r->jti), false) ||
	    !copy_bus(obj, r->business_units, sizeof(r->business_units)) ||
	    (exp != NULL && !exp_ok(exp))) {
		fail(r, APITOKEN_VALIDATION_UNAVAILABLE,
		     "malformed active reply");
		goto out;
	}
	if (exp != NULL)
		r->exp = (int64_t)exp->valuedouble;
	r->status = APITOKEN_VALIDATION_VALID;
out:
	cJSON_Delete(obj);
}

int
vhandle_open(struct vconf *conf, struct vhandle **out, const char **errstr)
{
	struct vhandle *h;

	*out = NULL;
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		*errstr = "out of memory";
		return -1;
	}
	h->conf = *conf;
	memset(conf, 0, sizeof(*conf));
	if (h->conf.mode == VMODE_LOCAL) {
		if (vlocal_open(&h->conf, &h->local) != 0) {
			*errstr = "out of memory";
			goto fail;
		}
	} else if (vremote_open(&h->conf, &h->remote, errstr) != 0) {
		goto fail;
	}
	*out = h;
	return 0;
fail:
	vhandle_close(h);
	return -1;
}

void
vhandle_close(struct vhandle *h)
{
	if (h == NULL)
		return;
	vlocal_close(h->local);
	vremote_close(h->remote);
	vconf_free(&h->conf);
	free(h);
}

bool
vhandle_debug(const struct vhandle *h)
{
	return h != NULL && h->conf.debug;
}

const char *
vhandle_scope(const struct vhandle *h)
{
	return h != NULL ? h->conf.scope : NULL;
}

/* {"op":"check","token":"..."}; the caller wipes and frees it. */
static char *
check_request(const char *token, size_t len)
{
	static const char head[] = "{\"op\":\"check\",\"token\":\"";
	static const char tail[] = "\"}";
	char *s = malloc(sizeof(head) - 1 + len + sizeof(tail));

	/* The token passed apitoken_token_parse(): base62 and '_' only,
	 * nothing that JSON would need escaped. */
	if (s == NULL)
		return NULL;
	memcpy(s, head, sizeof(head) - 1);
	memcpy(s + sizeof(head) - 1, token, len);
	memcpy(s + sizeof(head) - 1 + len, tail, sizeof(tail));
	return s;
}

static void
check_local(struct vhandle *h, const char *token, size_t len,
            struct apitoken_validation *r)
{
	char reason[APITOKEN_VALIDATION_REASON_MAX];
	char *req, *reply = NULL;

	req = check_request(token, len);
	if (req == NULL) {
		fail(r, APITOKEN_VALIDATION_UNAVAILABLE, "out of memory");
		return;
	}
	if (vlocal_call(h->local, req, &reply, reason, sizeof(reason)) != 0)
		fail(r, APITOKEN_VALIDATION_UNAVAILABLE, reason);
	else
		vresult_from_json(r, reply);
	OPENSSL_cleanse(req, strlen(req));
	free(req);
	free(reply);
}

int
vhandle_check(struct vhandle *h, const char *token, size_t len,
              const char *required_scope, struct apitoken_validation *r)
{
	if (r == NULL)
		return APITOKEN_VALIDATION_UNAVAILABLE;
	memset(r, 0, sizeof(*r));
	if (h == NULL) {
		fail(r, APITOKEN_VALIDATION_UNAVAILABLE, "no handle");
		return r->status;
	}
	if (token == NULL ||
	    apitoken_token_parse(APITOKEN_TOKEN_PREFIX, token, len) != 0) {
		fail(r, APITOKEN_VALIDATION_INVALID, "malformed token");
		goto out;
	}
	if (h->local != NULL)
		check_local(h, token, len, r);
	else
		vremote_check(h->remote, token, len, r);
	if (r->status == APITOKEN_VALIDATION_VALID && required_scope != NULL &&
	    !apitoken_scope_satisfies(r->scope, required_scope)) {
		r->status = APITOKEN_VALIDATION_INVALID;
		r->flags |= APITOKEN_VALIDATION_INSUFFICIENT_SCOPE;
		vresult_reason(r, "insufficient scope");
	}
out:
	if (h->conf.debug) {
		/* The public id names the token; the token never appears. */
		syslog(LOG_DEBUG,
		       "apitoken validator: status=%d user=%s jti=%s%s%s",
		       r->status, r->username[0] ? r->username : "-",
		       r->jti[0] ? r->jti : "-",
		       r->reason[0] ? " reason=" : "", r->reason);
	}
	return r->status;
}

int
vhandle_user_active(struct vhandle *h, const char *user, char *reason,
                    size_t reason_len)
{
	cJSON *req = NULL, *obj = NULL;
	const cJSON *active, *name;
	char *line = NULL, *reply = NULL;
	int rc = -1;

	if (h == NULL || h->local == NULL) {
		(void)snprintf(reason, reason_len, "not in local mode");
		return -1;
	}
	req = cJSON_CreateObject();
	if (req == NULL ||
	    cJSON_AddStringToObject(req, "op", "user") == NULL ||
	    cJSON_AddStringToObject(req, "user", user) == NULL) {
		(void)snprintf(reason, reason_len, "out of memory");
		goto out;
	}
	line = cJSON_PrintUnformatted(req);
	if (line == NULL) {
		(void)snprintf(reason, reason_len, "out of memory");
		goto out;
	}
	if (vlocal_call(h->local, line, &reply, reason, reason_len) != 0)
		goto out;
	obj = cJSON_Parse(reply);
	active = cJSON_GetObjectItemCaseSensitive(obj, "active");
	name = cJSON_GetObjectItemCaseSensitive(obj, "user");
	if (obj == NULL || !cJSON_IsBool(active) || !cJSON_IsString(name) ||
	    strcmp(name->valuestring, user) != 0) {
		(void)snprintf(reason, reason_len, "unexpected reply");
		goto out;
	}
	rc = cJSON_IsTrue(active) ? 1 : 0;
out:
	cJSON_Delete(req);
	cJSON_Delete(obj);
	cJSON_free(line);
	free(reply);
	return rc;
}
