/*
 * apitokend: the self-service page at /account/ and its JSON API under
 * /api/v1/ (internal).  Off unless the configuration has "web".
 *
 * web.c       routing, security headers, the page's files, cross-site
 *             checks, sign-in (suspending the connection while PAM runs)
 * web_session.c  the server-side session table
 * web_auth_pam.c Linux-PAM authentication
 * web_api.c   /api/v1/me/token and /api/v1/users/USER/token
 */
#ifndef APITOKEND_WEB_H
#define APITOKEND_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include <apitoken/store.h>

#include "apitokend.h"

/* http.c calls these. */
bool apitokend_web_path(const char *url);
/* Load the page's files and create the tables (only when configured). */
int apitokend_web_start(struct apitokend *d);
/* Wait for sign-ins in flight; free everything.  Before MHD stops. */
void apitokend_web_stop(struct apitokend *d);
/* After MHD stopped: free the files and tables. */
void apitokend_web_free(struct apitokend *d);
/* Answer a request whose whole body (too_large: cut) was read. */
enum MHD_Result apitokend_web(struct apitokend *d, struct apitokend_req *r,
                              struct MHD_Connection *c, const char *url,
                              const char *method, char *body, size_t len,
                              bool too_large);
/* The request is over: free what apitokend_web() left in its slot. */
void apitokend_web_req_done(void *state);

/* ---- web_session.c ---- */
#define WEB_ID_HEX 64 /* 32 random bytes as hex */
struct web_sessions;
struct web_session_info {
	char user[APITOKEN_USER_MAX + 1];
	char csrf[WEB_ID_HEX + 1];
};
struct web_sessions *web_sessions_create(void);
void web_sessions_free(struct web_sessions *s);
/*
 * A new session for user; id_out gets its cookie value, info_out its
 * CSRF token.  When max sessions are held, expired ones go first, then the
 * least recently used.  0 or an APITOKEN_ERR_*.
 */
int web_session_create(struct web_sessions *s, const char *user, size_t max,
                       char id_out[WEB_ID_HEX + 1],
                       struct web_session_info *info_out);
/* Look up and touch; idle / absolute expiry in seconds.  0 or NOT_FOUND
 * (unknown, malformed or expired: then forgotten). */
int web_session_find(struct web_sessions *s, const char *id, int64_t idle,
                     int64_t max, struct web_session_info *info_out);
void web_session_remove(struct web_sessions *s, const char *id);
size_t web_session_count(struct web_sessions *s);

/* ---- web_auth_pam.c ---- */
/* 0: user and password accepted (auth and account); APITOKEN_ERR_DENIED:
 * not (whatever the reason); another error when PAM itself failed. */
int web_pam_authenticate(const char *service, const char *user,
                         const char *password);

/* ---- web_api.c ---- */
enum web_actor_kind { WEB_ACTOR_USER, WEB_ACTOR_CLIENT };
struct web_actor {
	enum web_actor_kind kind;
	const char *id;     /* the user (session) or the client id */
	const char *source; /* the peer address */
};
enum web_token_op { WEB_TOKEN_ISSUE, WEB_TOKEN_REPLACE, WEB_TOKEN_REVOKE };
/*
 * Every token change the page and the portal API make goes through here
 * (the same store calls as apitokenctl, an audit record naming the actor
 * and source, the mail thread woken).  secret_out is used (and must be
 * wiped) for ISSUE and REPLACE only.  0 or an APITOKEN_ERR_*.
 */
int web_token_write(struct apitokend *d, enum web_token_op op,
                    const char *user, const struct web_actor *actor,
                    char secret_out[APITOKEN_TOKEN_LEN + 1],
                    apitoken_token_info_t *info_out);

/*
 * web_forward.c: on a replica, do that write at the master (as the admin
 * command it is, over the signed channel); origin names the actor for
 * the master's audit record.  0, 1 if this site is the master (nothing
 * was sent), or a negative error with a detail.
 */
int web_token_forward(struct apitokend *d, enum web_token_op op,
                      const char *user, const char *origin,
                      char secret_out[APITOKEN_TOKEN_LEN + 1],
                      apitoken_token_info_t *info_out);
/* GET/POST/DELETE on user's token, acting as actor. */
enum MHD_Result web_api_token(struct apitokend *d, struct apitokend_req *r,
                              struct MHD_Connection *c, const char *method,
                              const char *user, const struct web_actor *actor,
                              const char *body, size_t len);

/* web.c helpers shared with web_api.c */
/* Queue resp (not taken) with the security headers and content_type. */
enum MHD_Result web_queue(struct apitokend_req *r, struct MHD_Connection *c,
                          unsigned status, struct MHD_Response *resp,
                          const char *content_type);
/* Queue JSON text (malloc'ed, taken; NULL: out of memory). */
enum MHD_Result web_reply_json(struct apitokend_req *r,
                               struct MHD_Connection *c, unsigned status,
                               char *body);
enum MHD_Result web_reply_error(struct apitokend_req *r,
                                struct MHD_Connection *c, unsigned status,
                                const char *code, const char *desc);

#endif /* APITOKEND_WEB_H */
