/*
 * The "web" section of the configuration: the self-service page and its
 * sign-in.  Off unless present; when present every value is checked here,
 * so apitokend never starts with a half-usable page.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apitoken/error.h>

#include "config_int.h"

#define EXPECT_DURATION "a duration such as 30m, 12h or 90s"
#define TEXT_MAX 200

static int
key_error(const char *path, const char *key, const char *expected)
{
	return apitoken_error(APITOKEN_ERR_CONFIG,
	                      "%s: key 'web.%s': expected %s", path, key,
	                      expected);
}

static int
nomem(void)
{
	return apitoken_error(APITOKEN_ERR_NOMEM, "config: out of memory");
}

/* Printable ASCII or UTF-8, no control characters, 1..max bytes. */
static bool
text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* An HTTP header field name (RFC 9110 token). */
static bool
header_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz"
	                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n;
}

static int
get_text(const char *path, const cJSON *it, const char *key, size_t max,
         char **dst)
{
	char *copy;

	if (!cJSON_IsString(it) || it->valuestring == NULL ||
	    !text_ok(it->valuestring, max))
		return key_error(path, key,
		                 "a non-empty string without control "
		                 "characters");
	copy = strdup(it->valuestring);
	if (copy == NULL)
		return nomem();
	free(*dst);
	*dst = copy;
	return 0;
}

static int
get_duration(const char *path, const cJSON *it, const char *key, int64_t *out)
{
	if (cJSON_IsNumber(it) && it->valuedouble >= 1 &&
	    it->valuedouble <= 9007199254740992.0 &&
	    it->valuedouble == (double)(long long)it->valuedouble) {
		*out = (int64_t)it->valuedouble;
		return 0;
	}
	if (!cJSON_IsString(it) ||
	    apitoken_duration_parse(it->valuestring, out) != 0)
		return key_error(path, key, EXPECT_DURATION);
	return 0;
}

static int
get_count(const char *path, const cJSON *it, const char *key, double min,
          double max, const char *expected, double *out)
{
	if (!cJSON_IsNumber(it) || !(it->valuedouble >= min) ||
	    !(it->valuedouble <= max) ||
	    it->valuedouble != (double)(long long)it->valuedouble)
		return key_error(path, key, expected);
	*out = it->valuedouble;
	return 0;
}

static int
parse_proxies(const char *path, const cJSON *arr, apitoken_web_config_t *w)
{
	static const char expected[] =
	    "an array of 1 to 64 numeric IP addresses such as "
	    "[\"127.0.0.1\", \"::1\"]";
	unsigned char buf[sizeof(struct in6_addr)];
	const cJSON *it;
	size_t n;

	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 ||
	    cJSON_GetArraySize(arr) > APITOKEN_WEB_PROXIES_MAX)
		return key_error(path, "trusted_proxies", expected);
	n = (size_t)cJSON_GetArraySize(arr);
	w->trusted_proxies = calloc(n, sizeof(*w->trusted_proxies));
	if (w->trusted_proxies == NULL)
		return nomem();
	cJSON_ArrayForEach(it, arr)
	{
		const char *s = cJSON_IsString(it) ? it->valuestring : NULL;

		if (s == NULL || (inet_pton(AF_INET, s, buf) != 1 &&
		                  inet_pton(AF_INET6, s, buf) != 1))
			return key_error(path, "trusted_proxies", expected);
		w->trusted_proxies[w->n_trusted_proxies] = strdup(s);
		if (w->trusted_proxies[w->n_trusted_proxies] == NULL)
			return nomem();
		w->n_trusted_proxies++;
	}
	return 0;
}

static int
parse_auth(const char *path, const cJSON *it, apitoken_web_config_t *w)
{
	const char *s = cJSON_IsString(it) ? it->valuestring : NULL;

	if (s != NULL && strcmp(s, "pam") == 0)
		w->auth = APITOKEN_WEB_AUTH_PAM;
	else if (s != NULL && strcmp(s, "header") == 0)
		w->auth = APITOKEN_WEB_AUTH_HEADER;
	else
		return key_error(path, "auth", "\"pam\" or \"header\"");
	return 0;
}

static int
parse_member(const char *path, const cJSON *it, apitoken_web_config_t *w)
{
	const char *k = it->string;
	double v = 0;
	int rc;

	if (strcmp(k, "auth") == 0)
		return parse_auth(path, it, w);
	if (strcmp(k, "pam_service") == 0) {
		rc = get_text(path, it, k, 64, &w->pam_service);
		if (rc == 0 && strchr(w->pam_service, '/') != NULL)
			rc = key_error(path, k, "a PAM service name (no '/')");
		return rc;
	}
	if (strcmp(k, "session_idle") == 0)
		return get_duration(path, it, k, &w->session_idle);
	if (strcmp(k, "session_max") == 0)
		return get_duration(path, it, k, &w->session_max);
	if (strcmp(k, "max_sessions") == 0) {
		rc = get_count(path, it, k, 1, 1000000,
		               "a whole number from 1 to 1000000", &v);
		if (rc == 0)
			w->max_sessions = (size_t)v;
		return rc;
	}
	if (strcmp(k, "support_contact") == 0)
		return get_text(path, it, k, TEXT_MAX, &w->support_contact);
	if (strcmp(k, "user_header") == 0) {
		if (!cJSON_IsString(it) || !header_name_ok(it->valuestring))
			return key_error(path, k,
			                 "an HTTP header name such as "
			                 "X-Remote-User");
		return get_text(path, it, k, 64, &w->user_header);
	}
	if (strcmp(k, "trusted_proxies") == 0)
		return parse_proxies(path, it, w);
	if (strcmp(k, "secure_cookies") == 0) {
		if (!cJSON_IsBool(it))
			return key_error(path, k, "true or false");
		w->secure_cookies = cJSON_IsTrue(it) ? 1 : 0;
		return 0;
	}
	if (strcmp(k, "signin_failures") == 0) {
		rc = get_count(path, it, k, 1, 1000,
		               "a whole number from 1 to 1000", &v);
		if (rc == 0)
			w->signin_failures = (unsigned)v;
		return rc;
	}
	if (strcmp(k, "signin_lockout") == 0)
		return get_duration(path, it, k, &w->signin_lockout);
	if (strcmp(k, "assets") == 0)
		return get_text(path, it, k, 4096, &w->assets);
	return apitoken_error(APITOKEN_ERR_CONFIG,
	                      "%s: unknown key 'web.%.64s'", path, k);
}

void
config_web_free(apitoken_web_config_t *w)
{
	size_t i;

	if (w == NULL)
		return;
	free(w->pam_service);
	free(w->support_contact);
	free(w->user_header);
	for (i = 0; i < w->n_trusted_proxies; i++)
		free(w->trusted_proxies[i]);
	free(w->trusted_proxies);
	free(w->assets);
	free(w);
}

int
config_web_parse(const char *path, const cJSON *obj,
                 apitoken_web_config_t **web_out)
{
	apitoken_web_config_t *w;
	bool seen_header = false, seen_proxies = false;
	const cJSON *it, *a;
	int rc = 0;

	*web_out = NULL;
	if (!cJSON_IsObject(obj))
		return key_error(path, "auth",
		                 "an object such as {\"auth\": \"pam\"}");
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return nomem();
	w->session_idle = 30 * 60;
	w->session_max = 12 * 3600;
	w->max_sessions = 10000;
	w->secure_cookies = -1;
	w->signin_failures = 5;
	w->signin_lockout = 300;
	cJSON_ArrayForEach(it, obj)
	{
		for (a = obj->child; a != it; a = a->next)
			if (strcmp(a->string, it->string) == 0) {
				rc = apitoken_error(APITOKEN_ERR_CONFIG,
				                    "%s: key 'web.%.64s': "
				                    "appears more than once",
				                    path, it->string);
				goto out;
			}
		rc = parse_member(path, it, w);
		if (rc != 0)
			goto out;
		if (strcmp(it->string, "user_header") == 0)
			seen_header = true;
		if (strcmp(it->string, "trusted_proxies") == 0)
			seen_proxies = true;
	}
	if (w->auth == 0) {
		rc = key_error(path, "auth", "\"pam\" or \"header\"");
		goto out;
	}
	if (w->auth == APITOKEN_WEB_AUTH_HEADER && !seen_proxies) {
		rc = key_error(path, "trusted_proxies",
		               "the addresses of the authenticating proxies "
		               "(required with \"auth\": \"header\")");
		goto out;
	}
	if (w->auth == APITOKEN_WEB_AUTH_PAM &&
	    (seen_header || seen_proxies)) {
		rc = key_error(path,
		               seen_header ? "user_header" : "trusted_proxies",
		               "it only with \"auth\": \"header\"");
		goto out;
	}
	if (w->session_idle > w->session_max) {
		rc = key_error(path, "session_idle",
		               "a duration no longer than session_max");
		goto out;
	}
	if (w->auth == APITOKEN_WEB_AUTH_PAM && w->pam_service == NULL &&
	    (w->pam_service = strdup("apitoken-web")) == NULL) {
		rc = nomem();
		goto out;
	}
	if (w->auth == APITOKEN_WEB_AUTH_HEADER && w->user_header == NULL &&
	    (w->user_header = strdup("X-Remote-User")) == NULL) {
		rc = nomem();
		goto out;
	}
	*web_out = w;
	w = NULL;
out:
	config_web_free(w);
	return rc;
}
