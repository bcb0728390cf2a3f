/*
 * libFuzzer target: one request line of the local socket, as apitokend
 * reads it from a PAM host or validator.so (apitokend_local_parse).
 */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../introspect/apitokend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct apitokend_local_req req;
	const char *why = NULL;
	/* Exact size, not NUL-terminated: ASan sees any overread. */
	char *line = malloc(size ? size : 1);

	if (line == NULL)
		return 0;
	memcpy(line, data, size);
	if (apitokend_local_parse(line, size, &req, &why) == 0) {
		assert(why == NULL);
		assert(req.op == APITOKEND_LOCAL_CHECK ||
		       req.op == APITOKEND_LOCAL_USER);
		assert(cJSON_IsString(req.arg) && req.arg->valuestring);
		apitokend_local_req_free(&req);
	} else {
		assert(why != NULL && req.json == NULL);
	}
	free(line);
	return 0;
}
