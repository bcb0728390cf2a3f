/*
 * apitoken: error codes.
 *
 * Every function of libapitoken that can fail returns 0 or one of the
 * negative APITOKEN_ERR_* codes below.  A failing function also leaves a
 * one-line, human-readable explanation (never containing a secret) that
 * apitoken_last_error() returns until the next failure in the same thread.
 * Boundaries (CLI, HTTP, PAM) translate the codes; the core never does.
 */
#ifndef APITOKEN_ERROR_H
#define APITOKEN_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum apitoken_err {
	APITOKEN_OK = 0,
	APITOKEN_ERR_INTERNAL = -1,  /* a bug or an impossible state */
	APITOKEN_ERR_NOMEM = -2,     /* out of memory */
	APITOKEN_ERR_INVALID = -3,   /* bad argument or malformed input */
	APITOKEN_ERR_NOT_FOUND = -4, /* no such user, token or client */
	APITOKEN_ERR_EXISTS = -5,    /* already there (user, client, token) */
	APITOKEN_ERR_BUSY = -6,      /* store held by another process */
	APITOKEN_ERR_STORE = -7,     /* Berkeley DB failed */
	APITOKEN_ERR_CONFIG = -8,    /* configuration file is wrong */
	APITOKEN_ERR_DISABLED = -9,  /* user's API-token option is off */
	APITOKEN_ERR_IO = -10,       /* file, socket or system call failed */
	APITOKEN_ERR_CORRUPT = -11,  /* a stored record is malformed */
	APITOKEN_ERR_DENIED = -12,   /* authentication or permission refused */
	APITOKEN_ERR_UNAVAILABLE = -13 /* a peer did not answer in time */
};

/* Static description of an error code ("no such user or token", ...). */
const char *apitoken_strerror(int err);

/*
 * Detail of the most recent failure in this thread, e.g.
 * "user alice already has a token; use --replace to regenerate".
 * Falls back to apitoken_strerror() of the code when none was set.
 * The string is valid until the next libapitoken call in this thread.
 */
const char *apitoken_last_error(void);

/*
 * Record a failure detail (printf-style) and return err, so callers write
 *     return apitoken_error(APITOKEN_ERR_EXISTS, "user %s ...", name);
 * Never pass a secret.
 */
int apitoken_error(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Forget the last failure detail of this thread. */
void apitoken_error_clear(void);

#ifdef __cplusplus
}
#endif
#endif /* APITOKEN_ERROR_H */
