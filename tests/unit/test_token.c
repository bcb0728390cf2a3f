/* Token format, checksum, hashing and ids. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/provider.h>

#include <apitoken/error.h>
#include <apitoken/token.h>

#include "unit.h"

#define NTOKENS 10000

static const char alphabet[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Tokens computed independently (Python zlib.crc32 + base62). */
static const char known_tok[] =
    "apitok_00000000000000000000000000000000000000000000xNNuO";
static const char known_cli[] =
    "apicli_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz012k6k4";

static int
parse(const char *t)
{
	return apitoken_token_parse(APITOKEN_TOKEN_PREFIX, t, strlen(t));
}

START_TEST(test_create_shape)
{
	char tok[APITOKEN_TOKEN_LEN + 1];
	size_t i;

	ck_assert_int_eq(apitoken_token_create(APITOKEN_TOKEN_PREFIX, tok), 0);
	ck_assert_uint_eq(strlen(tok), 56);
	ck_assert(strncmp(tok, "apitok_", 7) == 0);
	for (i = 7; i < APITOKEN_TOKEN_LEN; i++)
		ck_assert_ptr_nonnull(strchr(alphabet, tok[i]));
	ck_assert_int_eq(parse(tok), 0);

	ck_assert_int_eq(
	    apitoken_token_create(APITOKEN_CLIENT_SECRET_PREFIX, tok), 0);
	ck_assert(strncmp(tok, "apicli_", 7) == 0);
	ck_assert_int_eq(apitoken_token_parse(APITOKEN_CLIENT_SECRET_PREFIX,
	                                      tok, strlen(tok)),
	                 0);
	/* A client secret is not a token and vice versa. */
	ck_assert_int_eq(parse(tok), APITOKEN_ERR_INVALID);
	ck_assert_str_eq(apitoken_last_error(), "wrong prefix");
	OPENSSL_cleanse(tok, sizeof(tok));
}
END_TEST

START_TEST(test_create_bad_prefix)
{
	char tok[APITOKEN_TOKEN_LEN + 1];

	ck_assert_int_eq(apitoken_token_create("api_", tok),
	                 APITOKEN_ERR_INTERNAL);
	ck_assert_int_eq(apitoken_token_create(NULL, tok),
	                 APITOKEN_ERR_INTERNAL);
}
END_TEST

START_TEST(test_known_tokens)
{
	ck_assert_int_eq(parse(known_tok), 0);
	ck_assert_int_eq(apitoken_token_parse(APITOKEN_CLIENT_SECRET_PREFIX,
	                                      known_cli, strlen(known_cli)),
	                 0);
}
END_TEST

/* Every single-character change anywhere after the prefix is caught. */
START_TEST(test_every_corruption)
{
	char tok[APITOKEN_TOKEN_LEN + 1], body[APITOKEN_TOKEN_BODY_LEN + 1];
	size_t pos, a;

	ck_assert_int_eq(apitoken_token_create(APITOKEN_TOKEN_PREFIX, tok), 0);
	memcpy(body, tok + 7, APITOKEN_TOKEN_BODY_LEN);
	body[APITOKEN_TOKEN_BODY_LEN] = '\0';
	for (pos = 0; pos < APITOKEN_TOKEN_LEN; pos++) {
		char orig = tok[pos];

		for (a = 0; a < 256; a++) {
			if ((char)a == orig)
				continue;
			tok[pos] = (char)a;
			ck_assert_msg(
			    apitoken_token_parse(APITOKEN_TOKEN_PREFIX, tok,
			                         APITOKEN_TOKEN_LEN) ==
			        APITOKEN_ERR_INVALID,
			    "byte %zu changed to %zu accepted", pos, a);
			/* The detail names the defect, never the input. */
			ck_assert_ptr_null(
			    strstr(apitoken_last_error(), body));
			ck_assert_ptr_null(
			    strstr(apitoken_last_error(), "apitok"));
		}
		tok[pos] = orig;
	}
	ck_assert_int_eq(parse(tok), 0);
	/* Swapping two adjacent different characters is also caught. */
	for (pos = 7; pos + 1 < APITOKEN_TOKEN_LEN; pos++) {
		char t = tok[pos];

		if (tok[pos + 1] == t)
			continue;
		tok[pos] = tok[pos + 1];
		tok[pos + 1] = t;
		ck_assert_int_eq(parse(tok), APITOKEN_ERR_INVALID);
		tok[pos + 1] = tok[pos];
		tok[pos] = t;
	}
}
END_TEST

START_TEST(test_error_details)
{
	char tok[APITOKEN_TOKEN_LEN + 1];

	strcpy(tok, known_tok);
	tok[20] = '-';
	ck_assert_int_eq(parse(tok), APITOKEN_ERR_INVALID);
	ck_assert_str_eq(apitoken_last_error(), "bad character");

	strcpy(tok, known_tok);
	tok[20] = '1';
	ck_assert_int_eq(parse(tok), APITOKEN_ERR_INVALID);
	ck_assert_str_eq(apitoken_last_error(), "bad checksum");

	strcpy(tok, known_tok);
	tok[0] = 'A';
	ck_assert_int_eq(parse(tok), APITOKEN_ERR_INVALID);
	ck_assert_str_eq(apitoken_last_error(), "wrong prefix");

	ck_assert_int_eq(parse("ghp_abcdefghijklmnop"), APITOKEN_ERR_INVALID);
	ck_assert_str_eq(apitoken_last_error(), "wrong prefix");

	ck_assert_int_eq(apitoken_token_parse(APITOKEN_TOKEN_PREFIX, known_tok,
	                                      APITOKEN_TOKEN_LEN - 1),
	                 APITOKEN_ERR_INVALID);
	ck_assert(strncmp(apitoken_last_error(), "wrong length", 12) == 0);

	/* Embedded NUL: right length, but a NUL in the middle. */
	memcpy(tok, known_tok, sizeof(tok));
	tok[30] = '\0';
	ck_assert_int_eq(apitoken_token_parse(APITOKEN_TOKEN_PREFIX, tok,
	                                      APITOKEN_TOKEN_LEN),
	                 APITOKEN_ERR_INVALID);
	ck_assert(strncmp(apitoken_last_error(), "bad character", 13) == 0);
	ck_assert_int_eq(apitoken_token_parse(APITOKEN_TOKEN_PREFIX, NULL, 0),
	                 APITOKEN_ERR_INVALID);
}
END_TEST

/* Only exactly 56 characters can be a token; len need not match strlen. */
START_TEST(test_lengths)
{
	char buf[128];
	size_t len;

	memset(buf, 'a', sizeof(buf));
	memcpy(buf, known_tok, APITOKEN_TOKEN_LEN);
	for (len = 0; len <= 100; len++) {
		int rc = apitoken_token_parse(APITOKEN_TOKEN_PREFIX, buf, len);

		if (len == APITOKEN_TOKEN_LEN)
			ck_assert_int_eq(rc, 0);
		else
			ck_assert_msg(rc == APITOKEN_ERR_INVALID,
			              "length %zu accepted", len);
	}
}
END_TEST

static int
cmp_tok(const void *a, const void *b)
{
	return memcmp(a, b, APITOKEN_TOKEN_LEN + 1);
}

START_TEST(test_many_distinct)
{
	char(*toks)[APITOKEN_TOKEN_LEN + 1];
	size_t i;

	toks = calloc(NTOKENS, sizeof(*toks));
	ck_assert_ptr_nonnull(toks);
	for (i = 0; i < NTOKENS; i++) {
		ck_assert_int_eq(
		    apitoken_token_create(APITOKEN_TOKEN_PREFIX, toks[i]), 0);
		ck_assert_int_eq(parse(toks[i]), 0);
	}
	qsort(toks, NTOKENS, sizeof(*toks), cmp_tok);
	for (i = 1; i < NTOKENS; i++)
		ck_assert_msg(strcmp(toks[i - 1], toks[i]) != 0,
		              "duplicate token");
	/* 32 random bytes: the body's first character should vary. */
	ck_assert(toks[0][7] != toks[NTOKENS - 1][7]);
	OPENSSL_cleanse(toks, NTOKENS * sizeof(*toks));
	free(toks);
}
END_TEST

START_TEST(test_hash_known_answer)
{
	/* FIPS 180-2 appendix B.1: SHA-256("abc"). */
	static const uint8_t want[APITOKEN_HASH_LEN] = {
	    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
	    0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
	    0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};
	uint8_t h[APITOKEN_HASH_LEN], h2[APITOKEN_HASH_LEN];

	ck_assert_int_eq(apitoken_token_hash("abc", 3, h), 0);
	ck_assert_mem_eq(h, want, sizeof(want));
	/* Only len bytes count. */
	ck_assert_int_eq(apitoken_token_hash("abcdef", 3, h2), 0);
	ck_assert_mem_eq(h2, want, sizeof(want));
	ck_assert_int_eq(apitoken_token_hash("abd", 3, h2), 0);
	ck_assert(memcmp(h, h2, sizeof(h)) != 0);
}
END_TEST

/*
 * An OpenSSL with no SHA-256 (here: only the "null" provider, as a
 * restricted or broken configuration would leave it) is an error the
 * caller handles, never abort() inside a PAM host.  Needs a fresh process
 * (Check forks one per test); without fork it cannot be undone, so skip.
 */
START_TEST(test_hash_without_sha256)
{
	const char *fork_mode = getenv("CK_FORK");
	uint8_t h[APITOKEN_HASH_LEN], zero[APITOKEN_HASH_LEN] = {0};
	OSSL_PROVIDER *null;

	if (fork_mode != NULL && strcmp(fork_mode, "no") == 0)
		return;
	null = OSSL_PROVIDER_load(NULL, "null");
	ck_assert_ptr_nonnull(null);
	memset(h, 0xab, sizeof(h));
	ck_assert_int_eq(apitoken_token_hash("abc", 3, h),
	                 APITOKEN_ERR_INTERNAL);
	ck_assert_mem_eq(h, zero, sizeof(zero));
	ck_assert_ptr_nonnull(strstr(apitoken_last_error(), "SHA-256"));
	OSSL_PROVIDER_unload(null);
}
END_TEST

START_TEST(test_base62_known)
{
	static const uint8_t ff32[32] = {
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	static const uint8_t zero32[32];
	uint8_t b;
	char out[64];

	memset(out, 0, sizeof(out));
	b = 0;
	ck_assert_int_eq(apitoken_base62_encode(&b, 1, out, 1), 0);
	ck_assert_str_eq(out, "0");
	b = 61;
	ck_assert_int_eq(apitoken_base62_encode(&b, 1, out, 1), 0);
	ck_assert_str_eq(out, "z");
	b = 62;
	ck_assert_int_eq(apitoken_base62_encode(&b, 1, out, 1),
	                 APITOKEN_ERR_INVALID);
	ck_assert_int_eq(apitoken_base62_encode(&b, 1, out, 2), 0);
	ck_assert_str_eq(out, "10");
	b = 255;
	ck_assert_int_eq(apitoken_base62_encode(&b, 1, out, 3), 0);
	ck_assert_str_eq(out, "047");
	memset(out, 0, sizeof(out));
	ck_assert_int_eq(
	    apitoken_base62_encode((const uint8_t *)"\1\2\3\4", 4, out, 6), 0);
	ck_assert_str_eq(out, "018wom");
	memset(out, 0, sizeof(out));
	ck_assert_int_eq(apitoken_base62_encode(ff32, 32, out, 43), 0);
	ck_assert_str_eq(out, "yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp1");
	ck_assert_int_eq(apitoken_base62_encode(ff32, 32, out, 42),
	                 APITOKEN_ERR_INVALID);
	memset(out, 0, sizeof(out));
	ck_assert_int_eq(apitoken_base62_encode(zero32, 32, out, 43), 0);
	ck_assert_str_eq(out, "0000000000000000000000000000000000000000000");
	/* Leading zero bytes do not count against the width. */
	memset(out, 0, sizeof(out));
	ck_assert_int_eq(apitoken_base62_encode(zero32, 32, out, 1), 0);
	ck_assert_str_eq(out, "0");
}
END_TEST

START_TEST(test_ids)
{
	char id[APITOKEN_ID_LEN + 1], id2[APITOKEN_ID_LEN + 1];
	int i;

	ck_assert_int_eq(apitoken_token_id_create(id), 0);
	ck_assert_uint_eq(strlen(id), APITOKEN_ID_LEN);
	ck_assert(apitoken_token_id_valid(id));
	for (i = 0; i < 100; i++) {
		ck_assert_int_eq(apitoken_token_id_create(id2), 0);
		ck_assert(apitoken_token_id_valid(id2));
		ck_assert_str_ne(id, id2);
	}
	ck_assert(apitoken_token_id_valid("0123456789abcdXZ"));
	ck_assert(!apitoken_token_id_valid(NULL));
	ck_assert(!apitoken_token_id_valid(""));
	ck_assert(!apitoken_token_id_valid("0123456789abcdX"));
	ck_assert(!apitoken_token_id_valid("0123456789abcdXZa"));
	ck_assert(!apitoken_token_id_valid("0123456789abcd-Z"));
	ck_assert(!apitoken_token_id_valid("0123456789abcd Z"));
	ck_assert(!apitoken_token_id_valid("0123456789abcd\xc3\xa9"));
}
END_TEST

START_TEST(test_secret_equal)
{
	ck_assert(apitoken_secret_equal("abcdef", "abcdef", 6));
	ck_assert(!apitoken_secret_equal("abcdef", "abcdeg", 6));
	ck_assert(!apitoken_secret_equal("xbcdef", "abcdef", 6));
	ck_assert(apitoken_secret_equal("abcdef", "abcxyz", 3));
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("token");
	TCase *tc = tcase_create("token");

	tcase_add_test(tc, test_create_shape);
	tcase_add_test(tc, test_create_bad_prefix);
	tcase_add_test(tc, test_known_tokens);
	tcase_add_test(tc, test_every_corruption);
	tcase_add_test(tc, test_error_details);
	tcase_add_test(tc, test_lengths);
	tcase_add_test(tc, test_many_distinct);
	tcase_add_test(tc, test_hash_known_answer);
	tcase_add_test(tc, test_hash_without_sha256);
	tcase_add_test(tc, test_base62_known);
	tcase_add_test(tc, test_ids);
	tcase_add_test(tc, test_secret_equal);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(suite());
}
