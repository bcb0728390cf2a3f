/*
 * libFuzzer target: the token parser (apitoken_token_parse), as every
 * front door calls it on what a client sent.  A token the parser accepts
 * must be the prefix, the body and a checksum that the parser recomputes
 * the same way twice; the hash of any input must succeed.
 */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apitoken/token.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, not NUL-terminated: ASan sees any overread. */
	char *tok = malloc(size ? size : 1);
	uint8_t hash[APITOKEN_HASH_LEN];
	int rc;

	if (tok == NULL)
		return 0;
	memcpy(tok, data, size);
	rc = apitoken_token_parse(APITOKEN_TOKEN_PREFIX, tok, size);
	if (rc == 0) {
		assert(size == APITOKEN_TOKEN_LEN);
		assert(memcmp(tok, APITOKEN_TOKEN_PREFIX,
		              strlen(APITOKEN_TOKEN_PREFIX)) == 0);
	}
	assert(apitoken_token_parse(APITOKEN_TOKEN_PREFIX, tok, size) == rc);
	assert(apitoken_token_hash(tok, size, hash) == 0);
	free(tok);
	return 0;
}
