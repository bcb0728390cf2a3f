/*
 * apitoken: the key pairs that sign introspection answers (RFC 9701).
 *
 * Unless "signing_key" is configured, apitokend signs with
 * <store>/signing-key.pem, an ECDSA P-256 key made by "apitokenctl init"
 * or apitokend's first start (like an SSH host key), and publishes it
 * with <store>/signing-key.previous.pem (if any) as a JWKS.
 * "apitokenctl key rotate" makes a new current key and keeps the old one
 * as previous, so both are published while resource servers refresh
 * their copy; "apitokenctl key retire" drops the previous one.  With
 * "signing_key" (and optionally "signing_key_previous") configured, the
 * files are the administrator's and are never written: rotate by
 * editing the configuration and reloading (SIGHUP).
 */
#ifndef APITOKEN_SIGNING_H
#define APITOKEN_SIGNING_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#include <apitoken/config.h>

#ifdef __cplusplus
extern "C" {
#endif

#define APITOKEN_SIGNING_KEY_FILE "signing-key.pem"
#define APITOKEN_SIGNING_PREVIOUS_FILE "signing-key.previous.pem"
#define APITOKEN_KID_MAX 48

typedef struct apitoken_signing_keys {
	size_t n;                          /* 1, or 2 with a previous key */
	EVP_PKEY *key[2];                  /* [0] signs, [1] only published */
	char kid[2][APITOKEN_KID_MAX + 1]; /* RFC 7638 thumbprints */
	char *path[2];
} apitoken_signing_keys_t;

/*
 * Make <store>/signing-key.pem if no key is configured and it does not
 * exist (*created_out, may be NULL, says whether it did).  The store
 * folder must exist.
 */
int apitoken_signing_ensure(const apitoken_config_t *cfg, bool *created_out);

/* Load the current (and previous) key.  APITOKEN_ERR_NOT_FOUND if none. */
int apitoken_signing_load(const apitoken_config_t *cfg,
                          apitoken_signing_keys_t **keys_out);
void apitoken_signing_free(apitoken_signing_keys_t *keys);

/*
 * Rotate the store's keys: the current key becomes the previous one
 * (replacing any older previous one) and a new current key is made.
 * kid_out (may be NULL) gets the new key's id.  APITOKEN_ERR_DENIED
 * when keys are configured as files.
 */
int apitoken_signing_rotate(const apitoken_config_t *cfg,
                            char kid_out[APITOKEN_KID_MAX + 1]);
/* Delete the store's previous key (end of the overlap). */
int apitoken_signing_retire(const apitoken_config_t *cfg);

/* RFC 7638 JWK thumbprint (SHA-256, base64url) of an EC P-256 key. */
int apitoken_signing_kid(EVP_PKEY *key, char kid_out[APITOKEN_KID_MAX + 1]);

/* The affine coordinates x and y (32 bytes each) of a P-256 key. */
int apitoken_signing_xy(EVP_PKEY *key, unsigned char x[32],
                        unsigned char y[32]);

#ifdef __cplusplus
}
#endif
#endif /* APITOKEN_SIGNING_H */
