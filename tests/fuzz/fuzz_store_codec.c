/*
 * libFuzzer target: the record decoders of the store (store_codec.c), as
 * they read what is on disk.  The first byte picks the record kind, the
 * rest is the record.  A record that decodes is re-encoded where the
 * codec can, and must decode again the same.
 */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apitoken/error.h>
#include <apitoken/store.h>

#include "../../core/store_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
token_roundtrip(const struct tok_rec *t)
{
	struct wbuf w;
	struct tok_rec again;

	wbuf_init(&w);
	assert(tok_encode(t, &w) == 0);
	assert(tok_decode(w.p, w.len, &again) == 0);
	assert(strcmp(t->id, again.id) == 0);
	assert(strcmp(t->user, again.user) == 0);
	assert(t->iat == again.iat && t->exp == again.exp);
	wbuf_free(&w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tok_rec t;
	struct user_view uv;
	struct client_view cv;
	apitoken_audit_t a;
	apitoken_notice_t n;
	uint8_t h[APITOKEN_HASH_LEN];
	uint8_t *rec;
	size_t len;
	int rc = 0;

	if (size < 1)
		return 0;
	len = size - 1;
	/* Exact size: ASan sees any overread. */
	rec = malloc(len ? len : 1);
	if (rec == NULL)
		return 0;
	memcpy(rec, data + 1, len);
	memset(&a, 0, sizeof(a));
	memset(&n, 0, sizeof(n));
	switch (data[0] % 6) {
	case 0:
		rc = tok_decode(rec, len, &t);
		if (rc == 0)
			token_roundtrip(&t);
		break;
	case 1:
		rc = user_decode(rec, len, &uv);
		break;
	case 2:
		rc = client_decode(rec, len, &cv);
		break;
	case 3:
		rc = audit_decode(rec, len, &a);
		break;
	case 4:
		rc = notice_decode(rec, len, &n);
		break;
	default:
		rc = hashref_decode(rec, len, h);
		break;
	}
	assert(rc == 0 || rc == APITOKEN_ERR_CORRUPT);
	free(rec);
	return 0;
}
