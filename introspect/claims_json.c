/*
 * apitokend: the RFC 7662 introspection object.  POST /introspect and the
 * local socket both build their answer here, so the two cannot drift.
 */
#include "config.h"

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

char *
apitokend_claims_json(const apitoken_claims_t *cl,
                      const apitoken_config_t *cfg, const char *client_id)
{
	cJSON *o = NULL, *bus;
	char *text = NULL, num[2][24];
	size_t i;

	if (!cl->active)
		return strdup(APITOKEND_INACTIVE);
	o = cJSON_CreateObject();
	if (o == NULL)
		goto out;
	if (cJSON_AddTrueToObject(o, "active") == NULL ||
	    cJSON_AddStringToObject(
	        o, "scope", cl->scope != NULL ? cl->scope : "") == NULL ||
	    cJSON_AddStringToObject(o, "username", cl->username) == NULL ||
	    cJSON_AddStringToObject(o, "sub", cl->username) == NULL ||
	    cJSON_AddStringToObject(o, "token_type", "Bearer") == NULL ||
	    cJSON_AddRawToObject(o, "exp", int64_text(cl->exp, num[0])) ==
	        NULL ||
	    cJSON_AddRawToObject(o, "iat", int64_text(cl->iat, num[1])) ==
	        NULL ||
	    cJSON_AddStringToObject(o, "iss", cfg->issuer) == NULL ||
	    cJSON_AddStringToObject(o, "aud", cfg->audience) == NULL ||
	    cJSON_AddStringToObject(o, "jti", cl->jti) == NULL)
		goto out;
	if (client_id != NULL &&
	    cJSON_AddStringToObject(o, "client_id", client_id) == NULL)
		goto out;
	if (cJSON_AddStringToObject(o, "role",
	                            cl->role != NULL ? cl->role : "") == NULL)
		goto out;
	bus = cJSON_AddArrayToObject(o, "business_units");
	if (bus == NULL)
		goto out;
	for (i = 0; i < cl->n_bus; i++) {
		cJSON *s = cJSON_CreateString(cl->bus[i]);

		if (s == NULL)
			goto out;
		cJSON_AddItemToArray(bus, s);
	}
	text = cJSON_PrintUnformatted(o);
out:
	cJSON_Delete(o);
	return text;
}
