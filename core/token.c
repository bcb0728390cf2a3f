/* Token format, hashing and public ids; see apitoken/token.h. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <zlib.h>

#include <apitoken/error.h>
#include <apitoken/token.h>

#define SECRET_BYTES 32
/* Inputs up to this size (secrets, checksums) are divided on the stack. */
#define BASE62_STACK 64

static const char alphabet[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static bool
is_base62(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	       (c >= 'a' && c <= 'z');
}

int
apitoken_base62_encode(const uint8_t *in, size_t in_len, char *out,
                       size_t width)
{
	uint8_t stack[BASE62_STACK];
	uint8_t *num = stack;
	size_t i, start = 0;
	int rc = APITOKEN_ERR_INVALID;

	if ((in == NULL && in_len > 0) || out == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "base62: missing buffer");
	/* Every token parse encodes a checksum: no heap for that. */
	if (in_len > sizeof(stack)) {
		num = malloc(in_len);
		if (num == NULL)
			return apitoken_error(APITOKEN_ERR_NOMEM,
			                      "base62: out of memory");
	}
	if (in_len > 0)
		memcpy(num, in, in_len);
	/*
	 * Schoolbook long division by 62, least significant digit first, so
	 * the output is right-aligned and naturally zero-padded.
	 */
	for (i = width; i > 0; i--) {
		unsigned rem = 0;
		size_t j;

		while (start < in_len && num[start] == 0)
			start++;
		for (j = start; j < in_len; j++) {
			unsigned cur = (rem << 8) | num[j];

			num[j] = (uint8_t)(cur / 62);
			rem = cur % 62;
		}
		out[i - 1] = alphabet[rem];
	}
	while (start < in_len && num[start] == 0)
		start++;
	if (start < in_len) {
		rc = apitoken_error(APITOKEN_ERR_INVALID,
		                    "base62: value does not fit in %zu digits",
		                    width);
		goto out;
	}
	rc = 0;
out:
	/* The input may be a secret. */
	if (in_len > 0)
		OPENSSL_cleanse(num, in_len);
	if (num != stack)
		free(num);
	return rc;
}

/* The 6-character checksum of the len characters at s into out. */
static int
checksum(const char *s, size_t len, char out[APITOKEN_TOKEN_CRC_LEN])
{
	uLong crc = crc32(0L, Z_NULL, 0);
	uint8_t be[4];

	crc = crc32(crc, (const Bytef *)s, (uInt)len);
	be[0] = (uint8_t)(crc >> 24);
	be[1] = (uint8_t)(crc >> 16);
	be[2] = (uint8_t)(crc >> 8);
	be[3] = (uint8_t)crc;
	return apitoken_base62_encode(be, sizeof(be), out,
	                              APITOKEN_TOKEN_CRC_LEN);
}

static bool
prefix_ok(const char *prefix)
{
	size_t i;

	if (prefix == NULL || strnlen(prefix, APITOKEN_TOKEN_PREFIX_LEN + 1) !=
	                          APITOKEN_TOKEN_PREFIX_LEN)
		return false;
	for (i = 0; i < APITOKEN_TOKEN_PREFIX_LEN; i++)
		if (prefix[i] < 0x21 || prefix[i] > 0x7e)
			return false;
	return true;
}

int
apitoken_token_create(const char *prefix,
                      char token_out[APITOKEN_TOKEN_LEN + 1])
{
	uint8_t secret[SECRET_BYTES];
	char *body, *crc;
	int rc;

	if (token_out == NULL)
		return apitoken_error(APITOKEN_ERR_INTERNAL,
		                      "token: no output buffer");
	body = token_out + APITOKEN_TOKEN_PREFIX_LEN;
	crc = body + APITOKEN_TOKEN_BODY_LEN;
	token_out[0] = '\0';
	if (!prefix_ok(prefix))
		return apitoken_error(APITOKEN_ERR_INTERNAL,
		                      "token: prefix must be %d characters",
		                      APITOKEN_TOKEN_PREFIX_LEN);
	if (RAND_bytes(secret, sizeof(secret)) != 1)
		return apitoken_error(APITOKEN_ERR_INTERNAL,
		                      "token: random generator failed");
	memcpy(token_out, prefix, APITOKEN_TOKEN_PREFIX_LEN);
	rc = apitoken_base62_encode(secret, sizeof(secret), body,
	                            APITOKEN_TOKEN_BODY_LEN);
	if (rc != 0)
		goto out;
	rc =
	    checksum(token_out,
	             APITOKEN_TOKEN_PREFIX_LEN + APITOKEN_TOKEN_BODY_LEN, crc);
	if (rc != 0)
		goto out;
	token_out[APITOKEN_TOKEN_LEN] = '\0';
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	if (rc != 0) {
		OPENSSL_cleanse(token_out, APITOKEN_TOKEN_LEN + 1);
		rc = APITOKEN_ERR_INTERNAL;
	}
	return rc;
}

int
apitoken_token_parse(const char *prefix, const char *token, size_t len)
{
	char want[APITOKEN_TOKEN_CRC_LEN];
	size_t i, plen;

	if (prefix == NULL || token == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no token");
	plen = strlen(prefix);
	/* Details name the defect only: the input may be a real secret. */
	if (memchr(token, '\0', len) != NULL)
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "bad character (embedded NUL)");
	if (len < plen || memcmp(token, prefix, plen) != 0)
		return apitoken_error(APITOKEN_ERR_INVALID, "wrong prefix");
	if (len != APITOKEN_TOKEN_LEN || plen != APITOKEN_TOKEN_PREFIX_LEN)
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "wrong length (expected %d characters)",
		                      APITOKEN_TOKEN_LEN);
	for (i = plen; i < len; i++)
		if (!is_base62(token[i]))
			return apitoken_error(APITOKEN_ERR_INVALID,
			                      "bad character");
	if (checksum(token, APITOKEN_TOKEN_LEN - APITOKEN_TOKEN_CRC_LEN,
	             want) != 0)
		return apitoken_error(APITOKEN_ERR_INTERNAL,
		                      "token: checksum encoding failed");
	if (memcmp(want, token + APITOKEN_TOKEN_LEN - APITOKEN_TOKEN_CRC_LEN,
	           APITOKEN_TOKEN_CRC_LEN) != 0)
		return apitoken_error(APITOKEN_ERR_INVALID, "bad checksum");
	return 0;
}

static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

/*
 * Fetched once for the life of the process: EVP_sha256() makes every
 * EVP_Digest() fetch the implementation again (a lock and a lookup), a
 * measurable share of a token check.  Never freed: any thread may still
 * hash, and OpenSSL releases its providers at exit.
 */
static void
sha256_init(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int
apitoken_token_hash(const char *token, size_t len,
                    uint8_t hash_out[APITOKEN_HASH_LEN])
{
	unsigned int n = 0;

	/*
	 * SHA-256 fails only with a broken or restricted OpenSSL (no
	 * provider offers it).  A library loaded into PAM hosts must not
	 * abort them: report it, and leave no half-made hash behind, which
	 * could match nothing or, worse, something.
	 */
	if (pthread_once(&sha256_once, sha256_init) != 0 || sha256 == NULL ||
	    EVP_Digest(token, len, hash_out, &n, sha256, NULL) != 1 ||
	    n != APITOKEN_HASH_LEN) {
		OPENSSL_cleanse(hash_out, APITOKEN_HASH_LEN);
		return apitoken_error(APITOKEN_ERR_INTERNAL,
		                      "token: SHA-256 is not available");
	}
	return 0;
}

int
apitoken_token_id_create(char id_out[APITOKEN_ID_LEN + 1])
{
	uint8_t rnd[32];
	size_t filled = 0;
	int rounds;

	if (id_out == NULL)
		return apitoken_error(APITOKEN_ERR_INTERNAL,
		                      "token id: no output buffer");
	/*
	 * Rejection sampling keeps every character uniform: bytes of 248
	 * and above would favour the first eight symbols.  Each round keeps
	 * about 31 of 32 bytes, so a handful of rounds is plenty.
	 */
	for (rounds = 0; rounds < 16 && filled < APITOKEN_ID_LEN; rounds++) {
		size_t i;

		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			return apitoken_error(APITOKEN_ERR_INTERNAL,
			                      "token id: random generator "
			                      "failed");
		for (i = 0; i < sizeof(rnd) && filled < APITOKEN_ID_LEN; i++)
			if (rnd[i] < 248)
				id_out[filled++] = alphabet[rnd[i] % 62];
	}
	if (filled < APITOKEN_ID_LEN)
		return apitoken_error(APITOKEN_ERR_INTERNAL,
		                      "token id: random generator stuck");
	id_out[APITOKEN_ID_LEN] = '\0';
	return 0;
}

bool
apitoken_token_id_valid(const char *s)
{
	size_t i;

	if (s == NULL || strnlen(s, APITOKEN_ID_LEN + 1) != APITOKEN_ID_LEN)
		return false;
	for (i = 0; i < APITOKEN_ID_LEN; i++)
		if (!is_base62(s[i]))
			return false;
	return true;
}

bool
apitoken_secret_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
