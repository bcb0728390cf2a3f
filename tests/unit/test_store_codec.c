/*
 * Record codec: every record read back from disk is checked.  Truncated,
 * extended, bit-flipped and random records decode cleanly or are
 * APITOKEN_ERR_CORRUPT; never an out-of-bounds read (run under ASan and
 * valgrind by the build).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include <apitoken/error.h>
#include <apitoken/store.h>

#include "../../core/store_int.h"
#include "unit.h"

enum kind { K_TOKEN, K_USER, K_CLIENT, K_AUDIT, K_NOTICE, K_HASHREF, K_N };

static void
encode(enum kind k, struct wbuf *w)
{
	static const uint8_t hash[APITOKEN_HASH_LEN] = {1, 2, 3};
	char *bus[] = {"north", "south", "east"};
	struct tok_rec t = {.id = "0123456789abcdef",
	                    .user = "alice",
	                    .hint = "wxyz",
	                    .iat = 100,
	                    .exp = 200,
	                    .reminded = 86400};
	apitoken_user_t u = {.name = "alice",
	                     .email = "a@example.org",
	                     .role = "viewer",
	                     .bus = bus,
	                     .n_bus = 3,
	                     .api_access = true,
	                     .created = 1,
	                     .updated = 2};
	apitoken_audit_t a = {.time = 5,
	                      .event = "issued",
	                      .user = "alice",
	                      .token_id = "0123456789abcdef",
	                      .origin = "test",
	                      .detail = "d"};
	apitoken_notice_t n = {.kind = "created",
	                       .user = "alice",
	                       .email = "a@example.org",
	                       .token_id = "0123456789abcdef",
	                       .hint = "wxyz",
	                       .origin = "o",
	                       .time = 1,
	                       .token_exp = 2,
	                       .attempts = 3,
	                       .next_attempt = 4,
	                       .last_error = "",
	                       .message_id = "<1.x@apitoken>"};
	int rc = -1;

	switch (k) {
	case K_TOKEN:
		rc = tok_encode(&t, w);
		break;
	case K_USER:
		rc = user_encode(&u, w);
		break;
	case K_CLIENT:
		rc = client_encode(hash, "Resource", 1, 7, w);
		break;
	case K_AUDIT:
		rc = audit_encode(&a, w);
		break;
	case K_NOTICE:
		rc = notice_encode(&n, w);
		break;
	case K_HASHREF:
		rc = hashref_encode(hash, w);
		break;
	default:
		break;
	}
	ck_assert_int_eq(rc, 0);
}

static int
decode(enum kind k, const uint8_t *p, size_t len)
{
	struct tok_rec t;
	struct user_view uv;
	struct client_view cv;
	apitoken_audit_t a = {0};
	apitoken_notice_t n = {0};
	uint8_t h[APITOKEN_HASH_LEN];

	switch (k) {
	case K_TOKEN:
		return tok_decode(p, len, &t);
	case K_USER:
		return user_decode(p, len, &uv);
	case K_CLIENT:
		return client_decode(p, len, &cv);
	case K_AUDIT:
		return audit_decode(p, len, &a);
	case K_NOTICE:
		return notice_decode(p, len, &n);
	case K_HASHREF:
		return hashref_decode(p, len, h);
	default:
		return -1;
	}
}

/* Decode from an exact-size heap copy so ASan sees any overread. */
static int
decode_copy(enum kind k, const uint8_t *p, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	ck_assert_ptr_nonnull(copy);
	if (len)
		memcpy(copy, p, len);
	rc = decode(k, copy, len);
	free(copy);
	return rc;
}

START_TEST(test_round_trip)
{
	struct wbuf w;
	struct tok_rec t;
	struct user_view uv;
	apitoken_notice_t n = {.seq = 9};

	wbuf_init(&w);
	encode(K_TOKEN, &w);
	ck_assert_int_eq(tok_decode(w.p, w.len, &t), 0);
	ck_assert_str_eq(t.user, "alice");
	ck_assert_str_eq(t.hint, "wxyz");
	ck_assert_int_eq(t.exp, 200);
	ck_assert_int_eq(t.reminded, 86400);
	wbuf_free(&w);
	encode(K_USER, &w);
	ck_assert_int_eq(user_decode(w.p, w.len, &uv), 0);
	ck_assert_uint_eq(uv.n_bus, 3);
	ck_assert_str_eq(uv.bus[2], "east");
	ck_assert(uv.api_access);
	wbuf_free(&w);
	encode(K_NOTICE, &w);
	ck_assert_int_eq(notice_decode(w.p, w.len, &n), 0);
	ck_assert_uint_eq(n.seq, 9);
	ck_assert_str_eq(n.message_id, "<1.x@apitoken>");
	ck_assert_uint_eq(n.attempts, 3);
	wbuf_free(&w);
}
END_TEST

START_TEST(test_truncated_and_extended)
{
	struct wbuf w;
	uint8_t *longer;
	size_t len;
	int k;

	for (k = 0; k < K_N; k++) {
		wbuf_init(&w);
		encode((enum kind)k, &w);
		ck_assert_int_eq(decode_copy((enum kind)k, w.p, w.len), 0);
		for (len = 0; len < w.len; len++)
			ck_assert_int_eq(decode_copy((enum kind)k, w.p, len),
			                 APITOKEN_ERR_CORRUPT);
		longer = calloc(w.len + 1, 1);
		memcpy(longer, w.p, w.len);
		ck_assert_int_eq(decode_copy((enum kind)k, longer, w.len + 1),
		                 APITOKEN_ERR_CORRUPT);
		/* Another format version is refused. */
		longer[0] = 0x7f;
		ck_assert_int_eq(decode_copy((enum kind)k, longer, w.len),
		                 APITOKEN_ERR_CORRUPT);
		free(longer);
		wbuf_free(&w);
	}
}
END_TEST

START_TEST(test_mutations)
{
	struct wbuf w;
	uint8_t *m;
	size_t i;
	int k, bit, rc;
	unsigned seed = 12345;

	for (k = 0; k < K_N; k++) {
		wbuf_init(&w);
		encode((enum kind)k, &w);
		m = malloc(w.len);
		/* Every single-bit flip. */
		for (i = 0; i < w.len; i++) {
			for (bit = 0; bit < 8; bit++) {
				memcpy(m, w.p, w.len);
				m[i] ^= (uint8_t)(1u << bit);
				rc = decode_copy((enum kind)k, m, w.len);
				ck_assert(rc == 0 ||
				          rc == APITOKEN_ERR_CORRUPT);
			}
		}
		/* Random bytes behind a valid version byte. */
		for (i = 0; i < 20000; i++) {
			size_t len = (size_t)rand_r(&seed) % (w.len + 8), j;

			for (j = 0; j < len && j < w.len; j++)
				m[j] = (uint8_t)rand_r(&seed);
			if (len > 0)
				m[0] = STORE_REC_VERSION;
			rc = decode_copy((enum kind)k, m,
			                 len < w.len ? len : w.len);
			ck_assert(rc == 0 || rc == APITOKEN_ERR_CORRUPT);
		}
		free(m);
		wbuf_free(&w);
	}
}
END_TEST

static Suite *
codec_suite(void)
{
	Suite *s = suite_create("store_codec");
	TCase *tc = tcase_create("codec");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_truncated_and_extended);
	tcase_add_test(tc, test_mutations);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(codec_suite());
}
