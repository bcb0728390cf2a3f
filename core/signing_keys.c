/*
 * Signing key files: make, load, rotate, retire.  See apitoken/signing.h.
 * Keys are PEM (PKCS#8) ECDSA P-256, written 0600 to a temporary file,
 * synced and renamed into place, so a crash leaves the old key or the
 * new one, never half a file.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <apitoken/error.h>
#include <apitoken/signing.h>

static char *
store_file(const apitoken_config_t *cfg, const char *name)
{
	size_t n = strlen(cfg->store) + strlen(name) + 2;
	char *p = malloc(n);

	if (p != NULL)
		(void)snprintf(p, n, "%s/%s", cfg->store, name);
	return p;
}

static bool
configured(const apitoken_config_t *cfg)
{
	return cfg->signing_key != NULL;
}

static int
generate(EVP_PKEY **out)
{
	*out = EVP_EC_gen("P-256");
	if (*out == NULL)
		return apitoken_error(APITOKEN_ERR_INTERNAL,
		                      "cannot make an EC P-256 key");
	return 0;
}

/* Write key as PEM to path (0600) via path.tmp, synced, renamed. */
static int
write_key(EVP_PKEY *key, const char *path)
{
	size_t n = strlen(path) + 5;
	char *tmp = malloc(n);
	FILE *f = NULL;
	int fd = -1, rc = 0;

	if (tmp == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	(void)snprintf(tmp, n, "%s.tmp", path);
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	          0600);
	if (fd < 0) {
		rc = apitoken_error(APITOKEN_ERR_IO, "cannot create %s: %s",
		                    tmp, strerror(errno));
		goto out;
	}
	f = fdopen(fd, "w");
	if (f == NULL) {
		rc = apitoken_error(APITOKEN_ERR_IO, "%s: %s", tmp,
		                    strerror(errno));
		goto out;
	}
	fd = -1;
	if (PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    fflush(f) != 0 || fsync(fileno(f)) != 0) {
		rc = apitoken_error(APITOKEN_ERR_IO, "cannot write %s", tmp);
		goto out;
	}
	if (fclose(f) != 0) {
		f = NULL;
		rc = apitoken_error(APITOKEN_ERR_IO, "cannot write %s", tmp);
		goto out;
	}
	f = NULL;
	if (rename(tmp, path) != 0)
		rc = apitoken_error(APITOKEN_ERR_IO, "cannot rename %s: %s",
		                    tmp, strerror(errno));
out:
	if (f != NULL)
		(void)fclose(f);
	if (fd >= 0)
		(void)close(fd);
	if (rc != 0)
		(void)unlink(tmp);
	free(tmp);
	return rc;
}

static int
read_key(const char *path, EVP_PKEY **out)
{
	FILE *f = fopen(path, "re");
	EVP_PKEY *k;
	char name[64];
	size_t len = 0;

	*out = NULL;
	if (f == NULL)
		return apitoken_error(
		    errno == ENOENT ? APITOKEN_ERR_NOT_FOUND : APITOKEN_ERR_IO,
		    "cannot open signing key %s: %s", path, strerror(errno));
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	(void)fclose(f);
	if (k == NULL || !EVP_PKEY_is_a(k, "EC") ||
	    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, name,
	                                   sizeof(name), &len) != 1 ||
	    strcmp(name, "prime256v1") != 0) {
		EVP_PKEY_free(k);
		return apitoken_error(APITOKEN_ERR_CONFIG,
		                      "signing key %s: expected an EC P-256 "
		                      "private key in PEM",
		                      path);
	}
	*out = k;
	return 0;
}

int
apitoken_signing_xy(EVP_PKEY *key, unsigned char x[32], unsigned char y[32])
{
	BIGNUM *bx = NULL, *by = NULL;
	int rc = 0;

	if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &bx) != 1 ||
	    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &by) != 1 ||
	    BN_bn2binpad(bx, x, 32) != 32 || BN_bn2binpad(by, y, 32) != 32)
		rc = apitoken_error(APITOKEN_ERR_INTERNAL,
		                    "cannot read the public key");
	BN_free(bx);
	BN_free(by);
	return rc;
}

/* base64url without padding (RFC 7515 section 2), by OpenSSL's encoder. */
static void
b64url(const unsigned char *in, size_t n, char *out)
{
	int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	int i, j;

	for (i = 0, j = 0; i < len; i++) {
		if (out[i] == '=')
			break;
		out[j++] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	}
	out[j] = '\0';
}

int
apitoken_signing_kid(EVP_PKEY *key, char kid_out[APITOKEN_KID_MAX + 1])
{
	unsigned char x[32], y[32], d[SHA256_DIGEST_LENGTH];
	char bx[48], by[48], json[160];
	int rc;

	rc = apitoken_signing_xy(key, x, y);
	if (rc != 0)
		return rc;
	b64url(x, sizeof(x), bx);
	b64url(y, sizeof(y), by);
	/* RFC 7638: the required members, sorted, no whitespace. */
	(void)snprintf(json, sizeof(json),
	               "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\","
	               "\"y\":\"%s\"}",
	               bx, by);
	SHA256((const unsigned char *)json, strlen(json), d);
	b64url(d, sizeof(d), kid_out);
	return 0;
}

int
apitoken_signing_ensure(const apitoken_config_t *cfg, bool *created_out)
{
	struct stat sb;
	EVP_PKEY *k = NULL;
	char *path;
	int rc;

	if (created_out != NULL)
		*created_out = false;
	if (configured(cfg))
		return 0;
	path = store_file(cfg, APITOKEN_SIGNING_KEY_FILE);
	if (path == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	if (stat(path, &sb) == 0) {
		free(path);
		return 0;
	}
	rc = generate(&k);
	if (rc == 0)
		rc = write_key(k, path);
	if (rc == 0 && created_out != NULL)
		*created_out = true;
	EVP_PKEY_free(k);
	free(path);
	return rc;
}

void
apitoken_signing_free(apitoken_signing_keys_t *keys)
{
	size_t i;

	if (keys == NULL)
		return;
	for (i = 0; i < 2; i++) {
		EVP_PKEY_free(keys->key[i]);
		free(keys->path[i]);
	}
	free(keys);
}

int
apitoken_signing_load(const apitoken_config_t *cfg,
                      apitoken_signing_keys_t **keys_out)
{
	apitoken_signing_keys_t *k = calloc(1, sizeof(*k));
	int rc;

	*keys_out = NULL;
	if (k == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	if (configured(cfg)) {
		k->path[0] = strdup(cfg->signing_key);
		k->path[1] = cfg->signing_key_previous != NULL
		                 ? strdup(cfg->signing_key_previous)
		                 : NULL;
	} else {
		k->path[0] = store_file(cfg, APITOKEN_SIGNING_KEY_FILE);
		k->path[1] = store_file(cfg, APITOKEN_SIGNING_PREVIOUS_FILE);
	}
	if (k->path[0] == NULL) {
		rc = apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
		goto fail;
	}
	rc = read_key(k->path[0], &k->key[0]);
	if (rc == 0)
		rc = apitoken_signing_kid(k->key[0], k->kid[0]);
	if (rc != 0)
		goto fail;
	k->n = 1;
	if (k->path[1] != NULL) {
		rc = read_key(k->path[1], &k->key[1]);
		/* The store's previous key is optional; a configured one
		 * must be there. */
		if (rc == APITOKEN_ERR_NOT_FOUND && !configured(cfg)) {
			apitoken_error_clear();
			rc = 0;
		} else if (rc == 0) {
			rc = apitoken_signing_kid(k->key[1], k->kid[1]);
			k->n = 2;
		}
		if (rc != 0)
			goto fail;
	}
	*keys_out = k;
	return 0;
fail:
	apitoken_signing_free(k);
	return rc;
}

int
apitoken_signing_rotate(const apitoken_config_t *cfg,
                        char kid_out[APITOKEN_KID_MAX + 1])
{
	char *cur = NULL, *prev = NULL;
	EVP_PKEY *k = NULL;
	int rc;

	if (configured(cfg))
		return apitoken_error(APITOKEN_ERR_DENIED,
		                      "signing keys are configured as files "
		                      "(signing_key); rotate by changing the "
		                      "configuration and reloading apitokend");
	cur = store_file(cfg, APITOKEN_SIGNING_KEY_FILE);
	prev = store_file(cfg, APITOKEN_SIGNING_PREVIOUS_FILE);
	if (cur == NULL || prev == NULL) {
		rc = apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = generate(&k);
	if (rc != 0)
		goto out;
	/* The new key first, under a temporary name, so that a failure
	 * leaves the current key in place. */
	if (rename(cur, prev) != 0 && errno != ENOENT) {
		rc = apitoken_error(APITOKEN_ERR_IO, "cannot rename %s: %s",
		                    cur, strerror(errno));
		goto out;
	}
	rc = write_key(k, cur);
	if (rc == 0 && kid_out != NULL)
		rc = apitoken_signing_kid(k, kid_out);
out:
	EVP_PKEY_free(k);
	free(cur);
	free(prev);
	return rc;
}

int
apitoken_signing_retire(const apitoken_config_t *cfg)
{
	char *prev;
	int rc = 0;

	if (configured(cfg))
		return apitoken_error(
		    APITOKEN_ERR_DENIED,
		    "signing keys are configured as files "
		    "(signing_key_previous); remove it from "
		    "the configuration and reload apitokend");
	prev = store_file(cfg, APITOKEN_SIGNING_PREVIOUS_FILE);
	if (prev == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	if (unlink(prev) != 0)
		rc = apitoken_error(
		    errno == ENOENT ? APITOKEN_ERR_NOT_FOUND : APITOKEN_ERR_IO,
		    "no previous signing key (%s): %s", prev, strerror(errno));
	free(prev);
	return rc;
}
