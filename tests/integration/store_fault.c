/*
 * Test double for store failures: preloaded into apitokend, it makes
 * apitoken_token_check(), apitoken_token_check_hash(),
 * apitoken_token_revoke_secret(), apitoken_token_revoke_secret_as() and
 * apitoken_user_get() fail with APITOKEN_ERR_STORE while the file named by
 * $APITOKEN_STORE_FAULT exists, and passes every call through otherwise.
 * As a failing store does, it counts each injected failure in
 * apitoken_store_failures() (on top of the real count), which is what
 * kept answers and reused snapshots key on.
 * A real Berkeley DB failure cannot be produced on demand; what matters
 * here is what the daemon answers when the store fails.
 *
 * Not linked with libapitoken: the real functions are found with
 * dlsym(RTLD_NEXT) at the first call, so the library can be preloaded
 * into any process (the libtool wrapper shell included).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <apitoken/error.h>
#include <apitoken/store.h>

/* The preloaded definitions need prototypes of their own for
 * -Wmissing-prototypes; store.h declares them. */

typedef int (*error_fn)(int, const char *, ...);

static atomic_ulong injected;

/* Record the detail through the daemon's libapitoken, found at run time. */
static int
fail(void)
{
	atomic_fetch_add(&injected, 1);
	error_fn err = (error_fn)dlsym(RTLD_DEFAULT, "apitoken_error");

	if (err != NULL)
		return err(APITOKEN_ERR_STORE, "injected store failure");
	return APITOKEN_ERR_STORE;
}

static int
faulty(void)
{
	const char *path = getenv("APITOKEN_STORE_FAULT");
	struct stat st;

	return path != NULL && stat(path, &st) == 0;
}

typedef int (*check_fn)(apitoken_store_t *, const char *, size_t, int64_t,
                        apitoken_claims_t *);
typedef int (*revoke_fn)(apitoken_store_t *, const char *, size_t,
                         const char *, const char *, apitoken_token_info_t *);
typedef int (*user_get_fn)(apitoken_store_t *, const char *,
                           apitoken_user_t **);

int
apitoken_token_check(apitoken_store_t *store, const char *token, size_t len,
                     int64_t now, apitoken_claims_t *claims_out)
{
	check_fn real = (check_fn)dlsym(RTLD_NEXT, "apitoken_token_check");

	if (faulty() || real == NULL)
		return fail();
	return real(store, token, len, now, claims_out);
}

typedef int (*check_hash_fn)(apitoken_store_t *, const uint8_t *, int64_t,
                             apitoken_claims_t *);

int
apitoken_token_check_hash(apitoken_store_t *store,
                          const uint8_t hash[APITOKEN_HASH_LEN], int64_t now,
                          apitoken_claims_t *claims_out)
{
	check_hash_fn real =
	    (check_hash_fn)dlsym(RTLD_NEXT, "apitoken_token_check_hash");

	if (faulty() || real == NULL)
		return fail();
	return real(store, hash, now, claims_out);
}

int
apitoken_token_revoke_secret(apitoken_store_t *store, const char *token,
                             size_t len, const char *only_user,
                             const char *origin,
                             apitoken_token_info_t *info_out)
{
	revoke_fn real =
	    (revoke_fn)dlsym(RTLD_NEXT, "apitoken_token_revoke_secret");

	if (faulty() || real == NULL)
		return fail();
	return real(store, token, len, only_user, origin, info_out);
}

/* The form with an actor, which /revoke and /leaks call. */
typedef int (*revoke_as_fn)(apitoken_store_t *, const char *, size_t,
                            const char *, apitoken_audit_event_t,
                            const apitoken_actor_t *, apitoken_token_info_t *);

int
apitoken_token_revoke_secret_as(apitoken_store_t *store, const char *token,
                                size_t len, const char *only_user,
                                apitoken_audit_event_t event,
                                const apitoken_actor_t *actor,
                                apitoken_token_info_t *info_out)
{
	revoke_as_fn real =
	    (revoke_as_fn)dlsym(RTLD_NEXT, "apitoken_token_revoke_secret_as");

	if (faulty() || real == NULL)
		return fail();
	return real(store, token, len, only_user, event, actor, info_out);
}

int
apitoken_user_get(apitoken_store_t *store, const char *name,
                  apitoken_user_t **user_out)
{
	user_get_fn real = (user_get_fn)dlsym(RTLD_NEXT, "apitoken_user_get");

	if (faulty() || real == NULL)
		return fail();
	return real(store, name, user_out);
}

typedef unsigned long (*failures_fn)(apitoken_store_t *);

unsigned long
apitoken_store_failures(apitoken_store_t *store)
{
	failures_fn real =
	    (failures_fn)dlsym(RTLD_NEXT, "apitoken_store_failures");

	return (real != NULL ? real(store) : 0) + atomic_load(&injected);
}
