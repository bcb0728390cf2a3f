/*
 * libFuzzer target: the body of POST /_regions/uses, a replica's token
 * uses as the master reads them (apitokend_uses_parse).
 */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../introspect/regions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	apitoken_lastuse_item_t *items = NULL;
	const char *why = NULL;
	size_t n = 0, i;
	/* Exact size, not NUL-terminated: ASan sees any overread. */
	char *body = malloc(size ? size : 1);

	if (body == NULL)
		return 0;
	memcpy(body, data, size);
	if (apitokend_uses_parse(body, size, "b", 2000000000, &items, &n,
	                         &why) == 0) {
		assert(why == NULL && items != NULL);
		assert(n <= APITOKEND_REGIONS_USES_MAX);
		for (i = 0; i < n; i++) {
			assert(strlen(items[i].id) == APITOKEN_ID_LEN);
			assert(items[i].u.time >= 1 &&
			       items[i].u.time <= 2000000000 + 300);
			assert(strlen(items[i].u.source) <
			       sizeof(items[i].u.source));
			assert(strlen(items[i].u.client) <
			       sizeof(items[i].u.client));
		}
		free(items);
	} else {
		assert(items == NULL && n == 0);
	}
	free(body);
	return 0;
}
