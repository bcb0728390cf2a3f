/*
 * apitokend: SHA-256 for the request path (the token's hash, the hash of
 * a client secret the worker remembers).  EVP_Digest() allocates and frees
 * a digest context and its provider state for every call; a context kept
 * per worker thread and re-initialised costs about a third less, and two
 * digests are made for every introspection.  The library's
 * apitoken_token_hash() cannot do the same: it is loaded into other
 * daemons (PAM), where a thread-specific destructor in a library that
 * may be unloaded is a hazard; apitokend is never unloaded.
 */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <apitoken/error.h>

#include "apitokend.h"

static EVP_MD *md;
static pthread_key_t ctx_key;
static bool ctx_key_ok;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
ctx_free(void *p)
{
	EVP_MD_CTX_free(p);
}

static void
init(void)
{
	md = EVP_MD_fetch(NULL, "SHA256", NULL);
	ctx_key_ok = pthread_key_create(&ctx_key, ctx_free) == 0;
}

/* This thread's context, made on its first digest; NULL without memory. */
static EVP_MD_CTX *
thread_ctx(void)
{
	EVP_MD_CTX *ctx = pthread_getspecific(ctx_key);

	if (ctx != NULL)
		return ctx;
	ctx = EVP_MD_CTX_new();
	if (ctx != NULL && pthread_setspecific(ctx_key, ctx) != 0) {
		EVP_MD_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

int
apitokend_sha256(const void *data, size_t len, uint8_t out[APITOKEN_HASH_LEN])
{
	unsigned int n = 0;
	EVP_MD_CTX *ctx;

	if (pthread_once(&once, init) != 0 || md == NULL || !ctx_key_ok)
		goto fail;
	ctx = thread_ctx();
	if (ctx == NULL || EVP_DigestInit_ex2(ctx, md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, data, len) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != APITOKEN_HASH_LEN)
		goto fail;
	return 0;
fail:
	OPENSSL_cleanse(out, APITOKEN_HASH_LEN);
	return apitoken_error(APITOKEN_ERR_INTERNAL,
	                      "SHA-256 is not available");
}

void
apitokend_sha256_cleanup(void)
{
	EVP_MD_CTX *ctx;

	if (!ctx_key_ok)
		return;
	/* The calling thread's own context: workers' go with their
	 * threads. */
	ctx = pthread_getspecific(ctx_key);
	(void)pthread_setspecific(ctx_key, NULL);
	EVP_MD_CTX_free(ctx);
	EVP_MD_free(md);
	md = NULL;
}
