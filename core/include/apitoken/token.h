/*
 * apitoken: token format, hashing and public ids.
 *
 * A token is  "apitok_" + base62(32 random bytes, 43 chars, fixed width)
 *             + base62(CRC32 of everything before it, 6 chars, fixed width)
 * 56 characters in all: short enough for OpenSSH and psql password fields.
 * The prefix lets secret scanners find leaked tokens; the checksum rejects
 * typos and garbage before the store is touched.  The store keeps only
 * SHA-256 of the whole token.
 *
 * A public token id (APITOKEN_ID_LEN base62 characters from RAND_bytes, not
 * derived from the secret) names a token in listings, logs, audit records
 * and the "jti" claim.
 *
 * All functions are thread-safe.
 */
#ifndef APITOKEN_TOKEN_H
#define APITOKEN_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define APITOKEN_TOKEN_PREFIX "apitok_"
#define APITOKEN_TOKEN_PREFIX_LEN 7
#define APITOKEN_TOKEN_BODY_LEN 43
#define APITOKEN_TOKEN_CRC_LEN 6
#define APITOKEN_TOKEN_LEN                                                    \
	(APITOKEN_TOKEN_PREFIX_LEN + APITOKEN_TOKEN_BODY_LEN +                \
	 APITOKEN_TOKEN_CRC_LEN)
#define APITOKEN_HASH_LEN 32 /* SHA-256 */
#define APITOKEN_ID_LEN 16
/* Client secrets share the format under another prefix. */
#define APITOKEN_CLIENT_SECRET_PREFIX "apicli_"

/*
 * Make a new random token (NUL-terminated, APITOKEN_TOKEN_LEN chars) with
 * the given 7-character prefix (APITOKEN_TOKEN_PREFIX or
 * APITOKEN_CLIENT_SECRET_PREFIX).  The caller wipes it with
 * OPENSSL_cleanse() when done.  0, or APITOKEN_ERR_INTERNAL if the random
 * generator fails.
 */
int apitoken_token_create(const char *prefix,
                          char token_out[APITOKEN_TOKEN_LEN + 1]);

/*
 * Check the syntax of a candidate token of len bytes (need not be
 * NUL-terminated): prefix, length, alphabet and checksum.  Touches no store.
 * 0 if well formed, else APITOKEN_ERR_INVALID with a detail that names the
 * defect ("wrong prefix", "wrong length", "bad character", "bad checksum")
 * but never echoes the input.
 */
int apitoken_token_parse(const char *prefix, const char *token, size_t len);

/*
 * SHA-256 of the len bytes of token.  0, or APITOKEN_ERR_INTERNAL (hash_out
 * zeroed) if OpenSSL offers no SHA-256: never aborts the process.
 */
int apitoken_token_hash(const char *token, size_t len,
                        uint8_t hash_out[APITOKEN_HASH_LEN]);

/* A new random public id, NUL-terminated. 0 or APITOKEN_ERR_INTERNAL. */
int apitoken_token_id_create(char id_out[APITOKEN_ID_LEN + 1]);

/* true if s is a well-formed public id (length and alphabet). */
bool apitoken_token_id_valid(const char *s);

/* Constant-time comparison of two len-byte buffers (CRYPTO_memcmp). */
bool apitoken_secret_equal(const void *a, const void *b, size_t len);

/*
 * Base62 (0-9A-Za-z) of a big-endian byte string into exactly width
 * characters, left-padded with '0'.  APITOKEN_ERR_INVALID if it does not
 * fit.  Exposed for tests.
 */
int apitoken_base62_encode(const uint8_t *in, size_t in_len, char *out,
                           size_t width);

#ifdef __cplusplus
}
#endif
#endif /* APITOKEN_TOKEN_H */
