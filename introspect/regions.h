/*
 * apitokend's part of Regions (issue 9): forwarding writes from a replica
 * to the master, authenticating forwarded requests on the master, role
 * and staleness for /healthz, /metrics and apitokenctl status.
 *
 * Forwarding, for every write path (admin socket, /revoke, and whatever
 * comes later, e.g. the self-service API):
 *
 *     if (apitokend_regions_forwarding(d))
 *             return apitokend_regions_relay(d, r, c, method, path,
 *                                            body, len);
 *
 * at the top of the handler, with the raw request body, before anything
 * is decoded in place.  The request goes to the master's apitokend over
 * HTTPS (verified against replication.ca_file) with the client's
 * Authorization, Content-Type and Cookie headers, signed with the shared
 * key (replication.secret_file); the master's status, body and
 * Content-Type, WWW-Authenticate and Set-Cookie headers come back
 * unchanged.  On the master, apitokend_regions_check() must run first for
 * every write path that can be forwarded: it refuses a request that
 * claims to be forwarded but is not signed right (forged, altered,
 * replayed or too old).  A code path that needs the exchange itself
 * calls apitokend_forward().
 */
#ifndef APITOKEND_REGIONS_H
#define APITOKEND_REGIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "apitokend.h"

/* The largest body of a forwarded request (an admin import). */
#define APITOKEND_REGIONS_BODY_MAX (16u * 1024 * 1024)
#define APITOKEND_REGIONS_PATH "/_regions/admin"
/* A replica's token uses, for the master to note (regions_uses.c). */
#define APITOKEND_REGIONS_USES_PATH "/_regions/uses"
#define APITOKEND_REGIONS_USES_MAX 2000 /* uses per request */

/* Read the shared key, start the staleness clock.  0 without replication. */
int apitokend_regions_start(struct apitokend *d);
void apitokend_regions_stop(struct apitokend *d);

/* The store needs reopening (replication rolled back commits here): the
 * daemon exits with EX_TEMPFAIL so that its supervisor restarts it. */
bool apitokend_regions_restart_wanted(void);

/* Replication on and this site is not the master: writes go elsewhere. */
bool apitokend_regions_forwarding(struct apitokend *d);

/* A replica cut off past staleness_limit with staleness_action refuse:
 * introspection answers 503, the local socket temporarily_unavailable. */
bool apitokend_regions_refuse_reads(struct apitokend *d);
#define APITOKEND_REGIONS_STALE_DESC                                          \
	"this replica has lost contact with the master for longer than "      \
	"replication.staleness_limit"

/* The master's answer to a forwarded request. */
struct apitokend_fwd_reply {
	long status;
	char *body; /* malloc'ed, NUL-terminated */
	size_t len;
	char content_type[128];
	char www_authenticate[512];
	char set_cookie[1024];
};
/*
 * Send method path (body of len bytes, the given "Name: value" headers,
 * NULL-terminated, may be NULL) to the master's apitokend and wait for its
 * answer.  origin (may be NULL) is carried signed for the audit record.
 * 0 with *out filled (free with apitokend_fwd_reply_free), 1 if this site
 * is the master (nothing sent), or a negative error (no master known,
 * master unreachable) with a detail.
 */
int apitokend_forward(struct apitokend *d, const char *method,
                      const char *path, const char *const *headers,
                      const char *origin, const void *body, size_t len,
                      struct apitokend_fwd_reply *out);
void apitokend_fwd_reply_free(struct apitokend_fwd_reply *rep);

/* Forward this HTTP request and queue the master's answer (see above). */
enum MHD_Result apitokend_regions_relay(struct apitokend *d,
                                        struct apitokend_req *r,
                                        struct MHD_Connection *c,
                                        const char *method, const char *path,
                                        const char *body, size_t len);

/*
 * On any site: a request carrying the forwarding headers must be signed
 * right.  0: not forwarded, or forwarded and valid (*site names the
 * sender, may be NULL); -1: refused, an error answer has been queued
 * (*ret holds what to return).
 */
int apitokend_regions_check(struct apitokend *d, struct apitokend_req *r,
                            struct MHD_Connection *c, const char *method,
                            const char *path, const char *body, size_t len,
                            enum MHD_Result *ret);

/* The same for a path only sites may call: 0 if signed right, else -1
 * with a refusal queued (*ret), also for a request not forwarded. */
int apitokend_regions_signed(struct apitokend *d, struct apitokend_req *r,
                             struct MHD_Connection *c, const char *method,
                             const char *path, const char *body, size_t len,
                             enum MHD_Result *ret);

/* regions_uses.c: a replica sends its token uses to the master (0 or an
 * error with a detail), and the master's POST /_regions/uses notes them
 * as its own. */
int apitokend_regions_send_uses(struct apitokend *d,
                                const apitoken_lastuse_item_t *items,
                                size_t n);
/* uses_batch.c: the body of POST /_regions/uses, all checked (site names
 * the sender, for the source).  0 with *items_out (malloc'ed, *n_out of
 * them), or -1 with *why (NULL: out of memory); nothing is kept on
 * failure. */
int apitokend_uses_parse(const char *body, size_t len, const char *site,
                         int64_t now, apitoken_lastuse_item_t **items_out,
                         size_t *n_out, const char **why);
enum MHD_Result apitokend_regions_uses(struct apitokend *d,
                                       struct apitokend_req *r,
                                       struct MHD_Connection *c,
                                       const char *method, const char *body,
                                       size_t len);

/* POST /_regions/admin: an admin command forwarded by a replica. */
enum MHD_Result apitokend_regions_admin(struct apitokend *d,
                                        struct apitokend_req *r,
                                        struct MHD_Connection *c,
                                        const char *method, const char *body,
                                        size_t len);

/*
 * May a kept answer or a remembered client login be used now?  Always
 * true on the master and a single site (their own commits retire at
 * once, tail.h).  On a replica: true while no replication traffic has
 * passed since the change tail's last complete round (two atomic loads,
 * regions_sockets.c says why that is enough); else it wakes the tail and
 * asks the store (one point read of the last change record's seq), so a
 * change applied here is seen by the very next request.
 */
bool apitokend_regions_kept_ok(struct apitokend *d);

/* The count of replication-socket traffic (regions_sockets.c), and
 * whether it can be trusted (libdb's calls reach the counting wrappers
 * and every socket was tracked); without trust readers ask the store. */
uint64_t apitokend_regions_io_count(void);
bool apitokend_regions_io_trusted(void);

/* Members of /healthz ("replication": {...}); nothing without it. */
void apitokend_regions_health(struct apitokend *d, cJSON *obj);
/* Lines of /metrics. */
void apitokend_regions_metrics(struct apitokend *d, FILE *out);

#endif /* APITOKEND_REGIONS_H */
