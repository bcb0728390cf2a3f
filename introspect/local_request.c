/*
 * apitokend: one request line of the local socket (docs/local-socket.md),
 * parsed apart from the connection so that it can be fuzzed on its own.
 */
#include "config.h"

#include <string.h>

#include <openssl/crypto.h>

#include "apitokend.h"

int
apitokend_local_parse(const char *line, size_t len,
                      struct apitokend_local_req *req, const char **why)
{
	const cJSON *op;
	const char *member;

	memset(req, 0, sizeof(*req));
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
