/*
 * libFuzzer target: what /introspect and /revoke read from a client
 * before any store lookup: the form body (apitokend_form_parse, which
 * counts and decodes the parameters in place) and the credentials of
 * "Authorization: Basic" (apitokend_basic_decode).  The input is split at
 * the first '\n': Authorization value, then body.
 */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../introspect/apitokend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_param(const char *body, size_t len, const char *p, size_t plen)
{
	/* A key without '=' has the empty value "" (not in the body). */
	if (plen == 0 && p[0] == '\0')
		return;
	/* Every parameter points into the body and ends with a NUL. */
	assert(p >= body && p + plen <= body + len);
	assert(p[plen] == '\0');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t alen = nl != NULL ? (size_t)(nl - data) : size;
	size_t blen = nl != NULL ? size - alen - 1 : 0;
	unsigned char buf[APITOKEND_BASIC_MAX];
	struct apitokend_form f;
	const char *id = NULL, *secret = NULL;
	size_t secret_len = 0, wipe = 0;
	char *auth = malloc(alen + 1), *body = malloc(blen + 1);

	if (auth == NULL || body == NULL)
		goto out;
	/* MHD hands header values over NUL-terminated. */
	memcpy(auth, data, alen);
	auth[alen] = '\0';
	if (apitokend_basic_decode(auth, buf, &wipe, &id, &secret,
	                           &secret_len) == 0) {
		assert(wipe <= sizeof(buf));
		assert(id[0] != '\0' && strlen(id) < wipe);
		check_param((const char *)buf, wipe, secret, secret_len);
	}
	assert(wipe <= sizeof(buf));

	/* The body buffer has one byte more, as http.c's does. */
	memcpy(body, nl != NULL ? nl + 1 : data, blen);
	apitokend_form_parse(body, blen, &f);
	if (f.n_token > 0)
		check_param(body, blen, f.token, f.token_len);
	if (f.n_client_secret > 0)
		check_param(body, blen, f.client_secret, f.client_secret_len);
	if (f.n_client_id > 0)
		check_param(body, blen, f.client_id, strlen(f.client_id));
out:
	free(auth);
	free(body);
	return 0;
}
