/*
 * apitoken: the validator plugin ABI.
 *
 * A host (any daemon that must trust an apitoken API token) dlopen()s
 * validator.so and looks up the one symbol it exports:
 *
 *     const struct apitoken_validator *v =
 *             dlsym(dl, APITOKEN_VALIDATOR_SYMBOL);
 *     if (APITOKEN_VALIDATOR_ABI_MAJOR_OF(v->abi_version) !=
 *         APITOKEN_VALIDATOR_ABI_MAJOR)
 *             refuse;
 *     v->open(APITOKEN_VALIDATOR_ABI_VERSION, options, &h, &errstr);
 *     v->check(h, token, len, "api:read", &result);
 *     ... result.status, result.username ...
 *     v->close(h);
 *
 * Versioning follows the sudo plugin API: abi_version is
 * (major << 16) | minor.  A host refuses a plugin of another major; the
 * plugin refuses (open fails) a host of a major it does not know.  Within a
 * major, members are only ever appended, to struct apitoken_validator and
 * to struct apitoken_validation; the plugin clears and fills only the
 * result members that exist in the minor version the host passed to
 * open() (a host of an older minor owns a shorter struct), and a host
 * uses a member of struct apitoken_validator, or a result member, only if
 * the plugin's minor is high enough.  docs/validator-abi.md lists every
 * version.
 *
 * The plugin never opens the token store: it asks apitokend, either over
 * its local UNIX socket (mode=local) or over HTTPS introspection, RFC 7662
 * (mode=remote).  It never links libapitoken, so loading it does not
 * bring Berkeley DB into the host.
 */
#ifndef APITOKEN_VALIDATOR_H
#define APITOKEN_VALIDATOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define APITOKEN_VALIDATOR_ABI_MAJOR 1
#define APITOKEN_VALIDATOR_ABI_MINOR 0
#define APITOKEN_VALIDATOR_ABI_VERSION                                        \
	((unsigned)((APITOKEN_VALIDATOR_ABI_MAJOR << 16) |                    \
	            APITOKEN_VALIDATOR_ABI_MINOR))
#define APITOKEN_VALIDATOR_ABI_MAJOR_OF(v) ((unsigned)(v) >> 16)
#define APITOKEN_VALIDATOR_ABI_MINOR_OF(v) ((unsigned)(v)&0xffffu)

/* The name of the one exported symbol, for dlsym(). */
#define APITOKEN_VALIDATOR_SYMBOL "apitoken_validator"

/*
 * Outcome of a check.  0 is deliberately not a status, so that a zeroed
 * or never-filled result is never mistaken for a valid one.
 */
enum apitoken_validation_status {
	/* The token is active and carries every required scope. */
	APITOKEN_VALIDATION_VALID = 1,
	/*
	 * Malformed, unknown, expired, revoked, its user disabled or
	 * removed, or lacking a required scope.  Deny (HTTP 401/403).
	 */
	APITOKEN_VALIDATION_INVALID = 2,
	/*
	 * apitokend could not be asked or gave no usable answer (down,
	 * timed out, error reply, TLS failure).  Deny, but as a temporary
	 * failure (HTTP 503, PAM_AUTHINFO_UNAVAIL).  Never treat as valid.
	 */
	APITOKEN_VALIDATION_UNAVAILABLE = 3
};

/* Bits of apitoken_validation.flags. */
/* INVALID only because a required scope is missing; the token itself is
 * active and the identity members are filled (answer 403, not 401). */
#define APITOKEN_VALIDATION_INSUFFICIENT_SCOPE 0x1u
/* The answer came from the remote back end's cache (see cache_ttl). */
#define APITOKEN_VALIDATION_CACHED 0x2u

#define APITOKEN_VALIDATION_USERNAME_MAX 256
#define APITOKEN_VALIDATION_ROLE_MAX 128
#define APITOKEN_VALIDATION_SCOPE_MAX 2048
#define APITOKEN_VALIDATION_BUS_MAX 1024
#define APITOKEN_VALIDATION_JTI_MAX 64
#define APITOKEN_VALIDATION_REASON_MAX 128

/*
 * The result of check(), owned by the host (on its stack, say).  Fixed-size,
 * NUL-terminated buffers: nothing to free.  check() clears the struct
 * first (the members of the minor that host and plugin share); the
 * identity members are filled when status is VALID, or
 * INVALID with APITOKEN_VALIDATION_INSUFFICIENT_SCOPE, and are empty
 * otherwise.  A reply whose members do not fit is UNAVAILABLE, never
 * truncated.
 */
struct apitoken_validation {
	int status;     /* enum apitoken_validation_status */
	unsigned flags; /* APITOKEN_VALIDATION_* bits */
	char username[APITOKEN_VALIDATION_USERNAME_MAX];
	char role[APITOKEN_VALIDATION_ROLE_MAX];
	/* Space-separated scope-tokens, as in RFC 7662 "scope". */
	char scope[APITOKEN_VALIDATION_SCOPE_MAX];
	/* Space-separated Business Unit ids. */
	char business_units[APITOKEN_VALIDATION_BUS_MAX];
	int64_t exp; /* expiry, seconds since the epoch */
	/* Public token id (the "jti" claim); safe to log. */
	char jti[APITOKEN_VALIDATION_JTI_MAX];
	/*
	 * Why the status is not VALID, for the host's log ("malformed
	 * token", "inactive", "timed out", ...).  Never contains the token.
	 */
	char reason[APITOKEN_VALIDATION_REASON_MAX];
	/* ABI 1.0 ends here; later minors append members below. */
};

struct apitoken_validator {
	/* APITOKEN_VALIDATOR_ABI_VERSION of the plugin. */
	unsigned abi_version;

	/*
	 * Make a handle.  host_abi: the host's APITOKEN_VALIDATOR_ABI_VERSION.
	 * options: NULL-terminated "key=value" (or bare "key") strings, read
	 * only during the call; unknown keys are ignored:
	 *   mode=local|remote     back end (default local)
	 *   socket=PATH           apitokend's local socket (local)
	 *   url=https://h/introspect  introspection endpoint (remote)
	 *   client_id=ID          client registered with apitokenctl (remote)
	 *   secret_file=PATH      file holding the client secret; it must not
	 *                         be readable or writable by others (remote)
	 *   timeout=MS            per check, default 2000
	 *   cache_ttl=SECONDS     remote answer cache, default 30, 0 = off;
	 *                         a revoked token may keep working this long
	 *   ca_file=PATH          CA certificates for the HTTPS server
	 *   insecure              do not verify the server certificate
	 *   debug                 log to syslog (never a token or secret)
	 * 0 and *handle set on success; -1 with *errstr (a static message,
	 * valid until the next open() in this thread) on a bad option, an
	 * unknown host major or out of memory.  No connection is made here:
	 * a daemon that is down is reported by check() as UNAVAILABLE.
	 */
	int (*open)(unsigned host_abi, char *const options[], void **handle,
	            const char **errstr);

	/*
	 * Check the len bytes of token (need not be NUL-terminated).
	 * required_scope: NULL or space-separated scope-tokens that must all
	 * be in the token's scope.  Fills *result and returns result->status.
	 * A malformed token (prefix, length, alphabet, checksum) is INVALID
	 * without any I/O.  Waits at most the timeout.  Thread-safe: several
	 * threads may check through one handle.
	 */
	int (*check)(void *handle, const char *token, size_t len,
	             const char *required_scope,
	             struct apitoken_validation *result);

	/* Free the handle (NULL is fine); closes its connection. */
	void (*close)(void *handle);
};

#ifdef __cplusplus
}
#endif
#endif /* APITOKEN_VALIDATOR_H */
