/*
 * apitokend: state shared by the daemon's modules (internal).
 *
 * One struct apitokend lives for the whole run.  The configuration can be
 * swapped by SIGHUP: readers take apitokend_gen() once per request and use
 * that generation to the end of it; old generations are freed only at
 * shutdown, so no reader ever sees a freed configuration.
 */
#ifndef APITOKEND_H
#define APITOKEND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include <apitoken/config.h>
#include <apitoken/store.h>

#include "mail.h"

/* One configuration and what is derived from it. */
struct apitokend_gen {
	apitoken_config_t *cfg;
	struct MHD_Response *metadata; /* RFC 8414 document */
	struct apitokend_gen *prev;    /* older generations, freed at exit */
};

struct apitokend_sockets;
struct apitokend_sweep;
struct apitokend_tail;
struct apitokend_web;

struct apitokend {
	_Atomic(struct apitokend_gen *) gen;
	apitoken_store_t *store;
	apitokend_mail_t *mail;
	struct MHD_Daemon *mhd;
	struct apitokend_sockets *sockets;
	struct apitokend_sweep *sweep;
	/* The self-service page (web.h); NULL: off. */
	struct apitokend_web *web;
	/* Kept active answers (answer_cache.h); NULL: none.  Published once
	 * the issuer is final, so no answer with a provisional one is kept. */
	_Atomic(struct apitokend_answers *) answers;
	struct apitokend_tail *tail; /* tail.h: retires by change records */
	char *tls_key;               /* PEM, wiped at exit */
	char *tls_cert;
	uint16_t port;         /* bound port */
	int listen_fd;         /* bound before any thread; -1: let MHD bind */
	char health_token[96]; /* well-formed, never issued */
};

static inline struct apitokend_gen *
apitokend_gen(struct apitokend *d)
{
	return atomic_load_explicit(&d->gen, memory_order_acquire);
}

/* listen.c: bind (and listen) the HTTP address; *port_out the real port. */
int apitokend_listen_bind(const apitoken_config_t *cfg, int *fd_out,
                          uint16_t *port_out);

/* http.c.  Serves on d->listen_fd if it is >= 0 (and then owns it). */
int apitokend_http_start(struct apitokend *d);
void apitokend_http_stop(struct apitokend *d);

/* Request state and response helpers for the endpoint handlers. */
struct apitokend_form {
	const char *token;
	size_t token_len;
	unsigned n_token;
	const char *client_id;
	unsigned n_client_id;
	const char *client_secret;
	size_t client_secret_len;
	unsigned n_client_secret;
	size_t client_id_len; /* decoded length (may hide a NUL) */
};

struct apitokend_req;

/* Queue a JSON answer (status, body copied) with the no-store headers. */
enum MHD_Result apitokend_reply_json(struct apitokend_req *r,
                                     struct MHD_Connection *c, unsigned status,
                                     const char *body, size_t len);
/* The same, taking over body (malloc'ed; freed in every case). */
enum MHD_Result apitokend_reply_json_take(struct apitokend_req *r,
                                          struct MHD_Connection *c,
                                          unsigned status, char *body);
/* {"error":code,"error_description":desc}, plus WWW-Authenticate if set. */
enum MHD_Result apitokend_reply_error(struct apitokend_req *r,
                                      struct MHD_Connection *c,
                                      unsigned status, const char *code,
                                      const char *desc,
                                      const char *www_authenticate);
/* Queue a persistent response. */
enum MHD_Result apitokend_reply(struct apitokend_req *r,
                                struct MHD_Connection *c, unsigned status,
                                struct MHD_Response *resp);
/* The constant answers: {"active":false} and 401 invalid_client. */
enum MHD_Result apitokend_reply_inactive(struct apitokend_req *r,
                                         struct MHD_Connection *c);
enum MHD_Result apitokend_reply_invalid_client(struct apitokend_req *r,
                                               struct MHD_Connection *c);
/* 429 with Retry-After: retry_after seconds (auth_throttle.c). */
enum MHD_Result apitokend_reply_throttled(struct apitokend_req *r,
                                          struct MHD_Connection *c,
                                          unsigned retry_after);
/* Remember the authenticated client and the token id for the access log. */
void apitokend_req_note(struct apitokend_req *r, const char *client_id,
                        const char *jti);
/* web.c's per-request slot (freed by apitokend_web_req_done). */
void **apitokend_req_web_slot(struct apitokend_req *r);
/* Remote address as text, for origins. */
void apitokend_req_peer(struct MHD_Connection *c, char *buf, size_t len);

/* Add Content-Type: application/json, Cache-Control, Pragma. */
int apitokend_json_headers(struct MHD_Response *resp);

/* client_auth.c */
enum apitokend_auth {
	APITOKEND_AUTH_OK,        /* *client_out set */
	APITOKEND_AUTH_NONE,      /* no credentials at all */
	APITOKEND_AUTH_BAD,       /* unknown client, wrong secret, garbage */
	APITOKEND_AUTH_TWICE,     /* two methods at once, repeated field */
	APITOKEND_AUTH_ERROR,     /* the store failed */
	APITOKEND_AUTH_THROTTLED, /* too many failures: retry_after set */
	APITOKEND_AUTH_MISMATCH   /* body client_id is not the Basic user */
};
struct apitokend_client {
	char id[APITOKEN_CLIENT_ID_MAX + 1];
	unsigned flags;       /* APITOKEN_CLIENT_* */
	unsigned retry_after; /* seconds, with APITOKEND_AUTH_THROTTLED */
};
enum apitokend_auth apitokend_client_auth(struct apitokend *d,
                                          struct MHD_Connection *c,
                                          const struct apitokend_form *f,
                                          struct apitokend_client *client_out);
/* Forget every remembered authentication (clients may have changed):
 * the tail calls it for each client change record. */
void apitokend_client_cache_invalidate(void);
/* Lower the calling thread's priority: it does work no client waits on
 * (background.c). */
void apitokend_background_thread(const char *what);
/* Tell the service manager (systemd, sd_notify) that apitokend answers,
 * reloads or stops (notify.c); nothing when not started by one. */
void apitokend_notify_ready(const char *status);
void apitokend_notify_reloading(void);
void apitokend_notify_stopping(void);
/* SHA-256 on the request path, with a context kept per thread (sha256.c);
 * 0 or an APITOKEN_ERR_* code with the error set and out wiped. */
int apitokend_sha256(const void *data, size_t len,
                     uint8_t out[APITOKEN_HASH_LEN]);
/* After every thread that hashes has stopped. */
void apitokend_sha256_cleanup(void);
/* "Bearer <token>" from the Authorization header, or NULL. */
const char *apitokend_bearer(struct MHD_Connection *c, size_t *len_out);
/*
 * Decode application/x-www-form-urlencoded text of len bytes in place;
 * s[len] must be writable (it becomes the terminating NUL).  New length.
 */
size_t apitokend_form_decode(char *s, size_t len);

/* form.c: the pure request parsers (fuzzed in tests/fuzz/). */
/*
 * Split a form body of len bytes (body[len] must be writable) into *f,
 * decoding in place; f's pointers point into body.
 */
void apitokend_form_parse(char *body, size_t len, struct apitokend_form *f);
/* Longest base64 credential we decode: id (64) and a secret, encoded. */
#define APITOKEND_BASIC_MAX 1024
/*
 * Decode the base64 "id:secret" of "Authorization: Basic" into buf; id and
 * secret point into buf.  0, or -1 if it is not well-formed.  In every
 * case the caller wipes the first *wipe_out bytes of buf.
 */
int apitokend_basic_decode(const char *b64,
                           unsigned char buf[APITOKEND_BASIC_MAX],
                           size_t *wipe_out, const char **id_out,
                           const char **secret_out, size_t *secret_len_out);

/* local_request.c: one line of the local socket (fuzzed in tests/fuzz/). */
enum apitokend_local_op { APITOKEND_LOCAL_CHECK, APITOKEND_LOCAL_USER };
struct apitokend_local_req {
	cJSON *json;
	enum apitokend_local_op op;
	cJSON *arg; /* the string member "token" (check) or "user" (user) */
};
/*
 * Parse one request line (len bytes, no '\n').  0 with *req filled (free
 * it with apitokend_local_req_free, which wipes a token), or -1 with *why,
 * the message for the client.
 */
int apitokend_local_parse(const char *line, size_t len,
                          struct apitokend_local_req *req, const char **why);
void apitokend_local_req_free(struct apitokend_local_req *req);
/*
 * auth_throttle.c: failed authentication per source address (IPv6 by
 * its /64) and per client id, on throttle.h tables sized from the
 * configuration at start.  wait: 0 or the seconds a 429 asks for;
 * client_id may be NULL (address only).
 */
int apitokend_auth_throttle_start(const apitoken_config_t *cfg);
void apitokend_auth_throttle_stop(void);
unsigned apitokend_auth_throttle_wait(struct MHD_Connection *c,
                                      const char *client_id);
void apitokend_auth_throttle_failed(struct MHD_Connection *c,
                                    const char *client_id);

/* introspect.c, revoke.c, metadata.c */
enum MHD_Result apitokend_introspect(struct apitokend *d,
                                     struct apitokend_req *r,
                                     struct MHD_Connection *c,
                                     const struct apitokend_form *f);
enum MHD_Result apitokend_revoke(struct apitokend *d, struct apitokend_req *r,
                                 struct MHD_Connection *c,
                                 const struct apitokend_form *f);
struct MHD_Response *apitokend_metadata_create(const apitoken_config_t *cfg);

/* claims_json.c: the RFC 7662 object, shared by HTTP and local socket. */
#define APITOKEND_INACTIVE "{\"active\":false}"
/* malloc'ed JSON text; client_id NULL leaves it out.  NULL on no memory. */
char *apitokend_claims_json(const apitoken_claims_t *cl,
                            const apitoken_config_t *cfg,
                            const char *client_id);

/* unix_sockets.c */
int apitokend_sockets_start(struct apitokend *d);
void apitokend_sockets_stop(struct apitokend *d);
/* Remove stale socket files (only while we hold the store). */
void apitokend_sockets_unlink_stale(const apitoken_config_t *cfg);

/* sweep.c */
int apitokend_sweep_start(struct apitokend *d);
void apitokend_sweep_stop(struct apitokend *d);

/* access_log.c: fd >= 0 buffers lines for that descriptor (standard
 * error), fd < 0 sends each through apitoken_log(); on false logs nothing.
 * Call before the HTTP server starts. */
#define ACCESS_FLUSH_MS 1000 /* the longest a line waits in a buffer */
void apitokend_access_log_init(int fd, bool on);
/* Write out every thread's buffered lines. */
void apitokend_access_log_flush(void);
void apitokend_access_log(const char *method, const char *path,
                          unsigned status, double seconds,
                          const char *client_id, const char *jti);

/* tls.c: read a PEM file whole (caller wipes and frees). */
int apitokend_read_pem(const char *path, char **pem_out);
void apitokend_free_pem(char *pem);

/* sweep_audit.c: prune audit records older than audit_retention. */
void apitokend_sweep_audit(struct apitokend *d, int64_t now);

/* lastuse.c: note uses in memory, write them every last_used_interval
 * (the thread is started and stopped with the sweep). */
void apitokend_lastuse_http(struct apitokend *d, struct MHD_Connection *c,
                            const char *client_id, const char *jti);
void apitokend_lastuse_local(struct apitokend *d, long uid, long pid,
                             const char *jti);
int apitokend_lastuse_start(struct apitokend *d);
/* /metrics: the uses held in memory (apitoken_lastuse_held()). */
void apitokend_lastuse_metrics(struct apitokend *d, FILE *out);
/* jwt.c: signed introspection answers (RFC 9701) and the JWKS. */
int apitokend_jwt_start(struct apitokend *d);
void apitokend_jwt_reload(struct apitokend *d);
void apitokend_jwt_stop(void);
bool apitokend_jwt_wanted(struct MHD_Connection *c);
char *apitokend_jwt_sign(struct apitokend *d, const char *client_id,
                         const char *answer_json);
enum MHD_Result apitokend_jwt_reply(struct apitokend *d,
                                    struct apitokend_req *r,
                                    struct MHD_Connection *c,
                                    const char *client_id,
                                    const char *answer_json);
enum MHD_Result apitokend_jwks(struct apitokend *d, struct apitokend_req *r,
                               struct MHD_Connection *c);
/* Up to 1000 items of a token, an URL and a source. */
#define APITOKEND_LEAKS_MAX_BODY (1024 * 1024)
int apitokend_leaks_start(void);
void apitokend_leaks_stop(void);
/* leaks.c: POST /leaks (the body as read; too_large past its limit). */
enum MHD_Result apitokend_leaks(struct apitokend *d, struct apitokend_req *r,
                                struct MHD_Connection *c, const char *method,
                                const char *body, size_t len, bool too_large);
void apitokend_lastuse_stop(struct apitokend *d);

#endif /* APITOKEND_H */
