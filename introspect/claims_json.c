/*
 * apitokend: the RFC 7662 introspection object.  POST /introspect and the
 * local socket both build their answer here, so the two cannot drift.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "apitokend.h"

/*
 * Integers as raw JSON: cJSON's number printer goes through a double,
 * sprintf("%1.15g") and a sscanf round-trip check, a measurable share of
 * an introspection; a decimal integer needs none of that.
 */
static char *
int64_text(int64_t v, char buf[24])
{
	char *p = buf + 23;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	*p = '\0';
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	return p;
}

/*
 * Members and values by reference: every string here (literal keys, the
 * claims, the configuration) outlives the object, so cJSON need not copy
 * each one into a malloc'ed duplicate and free it again.
 */
static bool
add_ref(cJSON *o, const char *key, const char *value)
{
	cJSON *v;

	/* As cJSON_AddStringToObject(): no value, no object. */
	if (value == NULL)
		return false;
	v = cJSON_CreateStringReference(value);
	if (v == NULL)
		return false;
	if (!cJSON_AddItemToObjectCS(o, key, v)) {
		cJSON_Delete(v);
		return false;
	}
	return true;
}

static bool
add_raw(cJSON *o, const char *key, const char *raw)
{
	cJSON *v = cJSON_CreateRaw(raw);

	if (v == NULL)
		return false;
	if (!cJSON_AddItemToObjectCS(o, key, v)) {
		cJSON_Delete(v);
		return false;
	}
	return true;
}

char *
apitokend_claims_json(const apitoken_claims_t *cl,
                      const apitoken_config_t *cfg, const char *client_id)
{
	cJSON *o = NULL, *bus, *t;
	char *text = NULL, num[2][24];
	/*
	 * Printed on the stack first: cJSON_PrintUnformatted() starts at 256
	 * bytes and grows by realloc, then shrinks to fit; an active answer
	 * is about 300 bytes.  A bigger one (many business units) still
	 * gets printed, the slow way.
	 */
	char buf[1024];
	size_t i, len;

	if (!cl->active)
		return strdup(APITOKEND_INACTIVE);
	o = cJSON_CreateObject();
	if (o == NULL)
		goto out;
	t = cJSON_CreateTrue();
	if (t == NULL || !cJSON_AddItemToObjectCS(o, "active", t)) {
		cJSON_Delete(t);
		goto out;
	}
	if (!add_ref(o, "scope", cl->scope != NULL ? cl->scope : "") ||
	    !add_ref(o, "username", cl->username) ||
	    !add_ref(o, "sub", cl->username) ||
	    !add_ref(o, "token_type", "Bearer") ||
	    !add_raw(o, "exp", int64_text(cl->exp, num[0])) ||
	    !add_raw(o, "iat", int64_text(cl->iat, num[1])) ||
	    !add_ref(o, "iss", cfg->issuer) ||
	    !add_ref(o, "aud", cfg->audience) || !add_ref(o, "jti", cl->jti))
		goto out;
	if (client_id != NULL && !add_ref(o, "client_id", client_id))
		goto out;
	if (!add_ref(o, "role", cl->role != NULL ? cl->role : ""))
		goto out;
	bus = cJSON_CreateArray();
	if (bus == NULL || !cJSON_AddItemToObjectCS(o, "business_units", bus)) {
		cJSON_Delete(bus);
		goto out;
	}
	for (i = 0; i < cl->n_bus; i++) {
		cJSON *s;

		if (cl->bus[i] == NULL)
			goto out;
		s = cJSON_CreateStringReference(cl->bus[i]);
		if (s == NULL || !cJSON_AddItemToArray(bus, s)) {
			cJSON_Delete(s);
			goto out;
		}
	}
	if (cJSON_PrintPreallocated(o, buf, (int)sizeof(buf), 0)) {
		len = strlen(buf);
		text = malloc(len + 1);
		if (text != NULL)
			memcpy(text, buf, len + 1);
	} else {
		text = cJSON_PrintUnformatted(o);
	}
out:
	cJSON_Delete(o);
	return text;
}
