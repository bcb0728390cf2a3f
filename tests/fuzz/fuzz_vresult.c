/*
 * libFuzzer target: the validator plugin's reading of an introspection
 * reply (vresult_from_json), which comes from the network in remote mode.
 * Whatever it is, the result is one of the three statuses, its strings
 * are terminated within their buffers, and only a well-formed
 * "active":true reply is VALID.
 */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugin/validator_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TERMINATED(a) (memchr((a), '\0', sizeof(a)) != NULL)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct apitoken_validation r;
	char *json = malloc(size + 1);

	if (json == NULL)
		return 0;
	memcpy(json, data, size);
	json[size] = '\0';
	memset(&r, 0x5a, sizeof(r));
	vresult_from_json(&r, json);
	assert(r.status == APITOKEN_VALIDATION_VALID ||
	       r.status == APITOKEN_VALIDATION_INVALID ||
	       r.status == APITOKEN_VALIDATION_UNAVAILABLE);
	assert(TERMINATED(r.username) && TERMINATED(r.role) &&
	       TERMINATED(r.scope) && TERMINATED(r.business_units) &&
	       TERMINATED(r.jti) && TERMINATED(r.reason));
	if (r.status == APITOKEN_VALIDATION_VALID)
		assert(r.username[0] != '\0');
	else
		assert(r.username[0] == '\0');
	free(json);
	return 0;
}
