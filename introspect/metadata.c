/*
 * apitokend: RFC 8414 authorization server metadata.  We issue no tokens
 * over HTTP (apitokenctl does), so there is no token or authorization
 * endpoint; grant_types_supported and response_types_supported are
 * published empty rather than left to RFC 8414's defaults, which would
 * claim the authorization code and implicit grants.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "apitokend.h"

static cJSON *
string_array(const char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	for (i = 0; a != NULL && i < n; i++) {
		cJSON *s = cJSON_CreateString(v[i]);

		if (s == NULL) {
			cJSON_Delete(a);
			return NULL;
		}
		cJSON_AddItemToArray(a, s);
	}
	return a;
}

static bool
add_endpoint(cJSON *o, const char *name, const char *issuer, const char *path)
{
	size_t n = strlen(issuer);
	char *url;
	bool ok;

	/* An issuer with a trailing slash must not give "//introspect". */
	while (n > 0 && issuer[n - 1] == '/')
		n--;
	url = malloc(n + strlen(path) + 1);
	if (url == NULL)
		return false;
	memcpy(url, issuer, n);
	strcpy(url + n, path);
	ok = cJSON_AddStringToObject(o, name, url) != NULL;
	free(url);
	return ok;
}

struct MHD_Response *
apitokend_metadata_create(const apitoken_config_t *cfg)
{
	static const char *const methods[] = {"client_secret_basic",
	                                      "client_secret_post"};
	cJSON *o = cJSON_CreateObject(), *a;
	struct MHD_Response *resp = NULL;
	char *text = NULL;
	size_t i;

	if (o == NULL)
		return NULL;
	if (cJSON_AddStringToObject(o, "issuer", cfg->issuer) == NULL ||
	    !add_endpoint(o, "introspection_endpoint", cfg->issuer,
	                  "/introspect") ||
	    !add_endpoint(o, "revocation_endpoint", cfg->issuer, "/revoke"))
		goto out;
	for (i = 0; i < 2; i++) {
		a = string_array(methods, 2);
		if (a == NULL)
			goto out;
		cJSON_AddItemToObject(
		    o,
		    i == 0 ? "introspection_endpoint_auth_methods_supported"
		           : "revocation_endpoint_auth_methods_supported",
		    a);
	}
	if (cJSON_AddArrayToObject(o, "grant_types_supported") == NULL ||
	    cJSON_AddArrayToObject(o, "response_types_supported") == NULL)
		goto out;
	/* RFC 9701 section 7: signed answers and their keys. */
	a = string_array((const char *const[]){"ES256"}, 1);
	if (a == NULL)
		goto out;
	cJSON_AddItemToObject(o, "introspection_signing_alg_values_supported",
	                      a);
	if (!add_endpoint(o, "jwks_uri", cfg->issuer,
	                  "/.well-known/jwks.json"))
		goto out;
	text = cJSON_PrintUnformatted(o);
	if (text == NULL)
		goto out;
	resp = MHD_create_response_from_buffer(strlen(text), text,
	                                       MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		goto out;
	}
	if (apitokend_json_headers(resp) != 0) {
		MHD_destroy_response(resp);
		resp = NULL;
	}
out:
	cJSON_Delete(o);
	return resp;
}
