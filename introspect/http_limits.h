/*
 * apitokend: connection budgets and read deadlines for the HTTP server
 * (internal; see http_limits.c).  Not for the UNIX sockets.
 */
#ifndef APITOKEND_HTTP_LIMITS_H
#define APITOKEND_HTTP_LIMITS_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>

#include <microhttpd.h>

struct apitokend;

/*
 * Before MHD_start_daemon: raise RLIMIT_NOFILE (soft to hard), size the
 * connection table and start the reaper.  *mhd_limit_out is the value
 * for MHD_OPTION_CONNECTION_LIMIT (above http_max_connections, see the
 * .c file).  0 or an APITOKEN_ERR_* code.
 */
int apitokend_limits_start(struct apitokend *d, unsigned threads,
                           unsigned *mhd_limit_out);
/* After MHD_stop_daemon. */
void apitokend_limits_stop(void);

/* For MHD_start_daemon's accept policy and MHD_OPTION_NOTIFY_CONNECTION. */
enum MHD_Result apitokend_limits_accept(void *cls, const struct sockaddr *addr,
                                        socklen_t addrlen);
void apitokend_limits_notify(void *cls, struct MHD_Connection *c,
                             void **socket_context,
                             enum MHD_ConnectionNotificationCode code);

/* A request's life, from the access handler: head complete (the body's
 * rate is watched from now), n body bytes read, body complete (nothing
 * watched while answering), request done (the next head's deadline
 * starts). */
void apitokend_limits_head_done(struct MHD_Connection *c);
void apitokend_limits_body(struct MHD_Connection *c, size_t n);
void apitokend_limits_answering(struct MHD_Connection *c);
void apitokend_limits_request_done(struct MHD_Connection *c);

/* true: msg (from libmicrohttpd's logger) is a refusal over a connection
 * limit, counted and logged here at most once a second; do not log it. */
bool apitokend_limits_mhd_message(const char *msg);

void apitokend_limits_metrics_write(FILE *out);

#endif /* APITOKEND_HTTP_LIMITS_H */
