/*
 * apitokend: one request line of the local socket (docs/local-socket.md),
 * parsed apart from the connection so that it can be fuzzed on its own.
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>

#include "apitokend.h"

/*
 * Inputs are taken whole or refused: a raw control byte or an escaped NUL
 * (cJSON would end the string there, so "VALID\u0000junk" would be read as
 * VALID) refuses the line before it is parsed.
 */
static bool
line_clean(const char *line, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
			return false;
		if (line[i] == '\\' && i + 5 < len && line[i + 1] == 'u' &&
		    memcmp(line + i + 2, "0000", 4) == 0)
			return false;
		if (line[i] == '\\')
			i++; /* an escaped backslash is not an escape */
	}
	return true;
}

static bool
has_control(const char *v)
{
	for (; *v != '\0'; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return true;
	return false;
}

int
apitokend_local_parse(const char *line, size_t len,
                      struct apitokend_local_req *req, const char **why)
{
	const cJSON *op;
	const char *member;

	memset(req, 0, sizeof(*req));
	if (!line_clean(line, len)) {
		*why = "control character or NUL in the line";
		return -1;
	}
	req->json = cJSON_ParseWithLength(line, len);
	if (req->json == NULL || !cJSON_IsObject(req->json)) {
		*why = "expected one JSON object per line";
		goto fail;
	}
	op = cJSON_GetObjectItemCaseSensitive(req->json, "op");
	if (!cJSON_IsString(op)) {
		*why = "missing member \"op\"";
		goto fail;
	}
	if (strcmp(op->valuestring, "check") == 0) {
		req->op = APITOKEND_LOCAL_CHECK;
		member = "token";
		*why = "missing member \"token\"";
	} else if (strcmp(op->valuestring, "user") == 0) {
		req->op = APITOKEND_LOCAL_USER;
		member = "user";
		*why = "missing member \"user\"";
	} else {
		*why = "unknown op";
		goto fail;
	}
	req->arg = cJSON_GetObjectItemCaseSensitive(req->json, member);
	if (!cJSON_IsString(req->arg))
		goto fail;
	if (has_control(req->arg->valuestring)) {
		*why = req->op == APITOKEND_LOCAL_CHECK
		           ? "control character in \"token\""
		           : "control character in \"user\"";
		goto fail;
	}
	*why = NULL;
	return 0;
fail:
	apitokend_local_req_free(req);
	return -1;
}

void
apitokend_local_req_free(struct apitokend_local_req *req)
{
	/* A token (op "check") is a secret. */
	if (req->arg != NULL && req->op == APITOKEND_LOCAL_CHECK &&
	    req->arg->valuestring != NULL)
		OPENSSL_cleanse(req->arg->valuestring,
		                strlen(req->arg->valuestring));
	cJSON_Delete(req->json);
	memset(req, 0, sizeof(*req));
}
