/*
 * apitoken: the token store, and the one API through which every change
 * (users, tokens, clients, purge, notifications) is made.
 *
 * A Berkeley DB transactional environment in cfg->store, opened by one
 * process at a time: an exclusive lock on "<store>/LOCK" decides, and a
 * second opener gets APITOKEN_ERR_BUSY with the detail
 *     "store <dir> is in use by process <pid>"
 * (the owner writes its pid into the lock file).  apitokend is that owner
 * while it runs; see DESIGN.md for why no other process may share the
 * environment.
 *
 * Every lifecycle write commits with a synchronous log flush: once a call
 * below returned 0 its effect survives kill -9 and power loss.  Every write
 * either happens whole (with its audit record and notification) or not at
 * all.  Reads never block behind writers.
 *
 * A store handle is safe to use from many threads at once.
 * Times are seconds since the Epoch (int64_t).  "now" arguments let tests
 * and the sweep use a fixed clock; pass apitoken_now() in production.
 */
#ifndef APITOKEN_STORE_H
#define APITOKEN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <apitoken/config.h>
#include <apitoken/token.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct apitoken_store apitoken_store_t;

#define APITOKEN_USER_MAX 64 /* user names: [A-Za-z0-9._@-], 1..64 */
#define APITOKEN_EMAIL_MAX 254
#define APITOKEN_ROLE_MAX 64

/* Open flags. */
#define APITOKEN_STORE_CREATE 0x1 /* create the folder and databases */
/*
 * Never writes data (and still takes the lock).  The open still runs
 * recovery, which after a crash rewrites the log and the regions: reading
 * without it could see half-written pages or wait forever for a lock
 * that the dead writer held.
 */
#define APITOKEN_STORE_RDONLY 0x2

/* Seconds since the Epoch, from the real-time clock. */
int64_t apitoken_now(void);

/*
 * Open the store at cfg->store (running recovery).  cfg must outlive the
 * store: roles, lifetime and the Business-Unit prefix are read from it at
 * every check.  Without APITOKEN_STORE_CREATE a missing store is
 * APITOKEN_ERR_NOT_FOUND ("store <dir> does not exist; run apitokenctl
 * init").  A store of another schema version is APITOKEN_ERR_CORRUPT.
 * Held by another process: APITOKEN_ERR_BUSY.
 */
int apitoken_store_open(const apitoken_config_t *cfg, unsigned flags,
                        apitoken_store_t **store_out);
void apitoken_store_close(apitoken_store_t *store);

/* Swap the configuration (SIGHUP).  newcfg must outlive the store. */
void apitoken_store_set_config(apitoken_store_t *store,
                               const apitoken_config_t *newcfg);
const apitoken_config_t *apitoken_store_config(const apitoken_store_t *st);

/*
 * Pid of the process holding the store at dir, 0 if none (no lock held),
 * negative on error.  Used by apitokenctl to decide between the admin
 * socket and opening the store itself.
 */
long apitoken_store_owner(const char *dir);

/* Checkpoint and remove log files no longer needed for recovery. */
int apitoken_store_checkpoint(apitoken_store_t *store);

/* ---- users ----------------------------------------------------------- */

typedef struct apitoken_user {
	char *name;
	char *email;
	char *role;
	char **bus; /* Business Unit ids */
	size_t n_bus;
	bool api_access; /* the admin's API-token option for this user */
	int64_t created;
	int64_t updated;
} apitoken_user_t;

void apitoken_user_free(apitoken_user_t *user);

/*
 * Add a user.  Validates name, email (one '@', no spaces or control
 * characters), role (must exist in the config) and each unit
 * (apitoken_bu_id_valid).  APITOKEN_ERR_EXISTS if the name is taken,
 * APITOKEN_ERR_INVALID with a detail for bad fields.  api_access is taken
 * from user (new users normally have it on).
 */
int apitoken_user_add(apitoken_store_t *store, const apitoken_user_t *user,
                      const char *origin);

/*
 * Add many users in one transaction per call (bulk import).  results[i]
 * receives 0 or the error of users[i]; a rejected user does not stop the
 * others.  errors_out[i], if errors_out is not NULL, receives a malloc'ed
 * detail for each failure (caller frees).  Returns 0 if the batch
 * committed (whatever the per-user results), else an error and nothing of
 * the batch was written.
 */
int apitoken_user_add_batch(apitoken_store_t *store,
                            const apitoken_user_t *users, size_t n,
                            const char *origin, int *results,
                            char **errors_out);

/* Change fields of a user; NULL / -1 keep the current value. */
typedef struct apitoken_user_change {
	const char *email;
	const char *role;
	bool set_bus; /* replace the units with bus/n_bus */
	char *const *bus;
	size_t n_bus;
	int api_access; /* -1 keep, 0 off, 1 on */
} apitoken_user_change_t;

int apitoken_user_update(apitoken_store_t *store, const char *name,
                         const apitoken_user_change_t *change,
                         const char *origin);

/* Remove a user; their token, if any, is revoked (audit + notification). */
int apitoken_user_remove(apitoken_store_t *store, const char *name,
                         const char *origin);

/* Fetch one user.  APITOKEN_ERR_NOT_FOUND if unknown. */
int apitoken_user_get(apitoken_store_t *store, const char *name,
                      apitoken_user_t **user_out);

/*
 * Call fn for every user in name order.  The user is valid only during
 * the call.  fn returning non-zero stops the walk; that value is returned.
 */
typedef int (*apitoken_user_fn)(const apitoken_user_t *user, void *ctx);
int apitoken_user_foreach(apitoken_store_t *store, apitoken_user_fn fn,
                          void *ctx);

/* true if name is an acceptable user name. */
bool apitoken_user_name_valid(const char *name);

/* ---- tokens ---------------------------------------------------------- */

typedef struct apitoken_token_info {
	char id[APITOKEN_ID_LEN + 1]; /* public id, the jti */
	char user[APITOKEN_USER_MAX + 1];
	char hint[5]; /* last 4 characters of the token */
	int64_t iat;
	int64_t exp; /* fixed at creation, never extended */
} apitoken_token_info_t;

#define APITOKEN_ISSUE_REPLACE 0x1 /* revoke the user's current token */

/*
 * Issue a token for user, valid for the configured lifetime from now.
 * Refused: unknown user (APITOKEN_ERR_NOT_FOUND), API-token option off
 * (APITOKEN_ERR_DISABLED), a token already held and no REPLACE
 * (APITOKEN_ERR_EXISTS, "user alice already has a token; use --replace to
 * regenerate").  With REPLACE the old token is revoked and the new one
 * issued in the same transaction (with no old token, one is just issued).
 * origin says who asked ("apitokenctl", "admin socket uid 0", ...) and
 * goes to the audit record and the email.
 * On success token_out holds the secret (wipe it after showing it once) and
 * info_out, if not NULL, the public facts.
 */
int apitoken_token_issue(apitoken_store_t *store, const char *user,
                         unsigned flags, const char *origin,
                         char token_out[APITOKEN_TOKEN_LEN + 1],
                         apitoken_token_info_t *info_out);

/*
 * Revoke user's token.  Final: the record and its hash are deleted; an
 * audit record and a notification remain.  APITOKEN_ERR_NOT_FOUND if the
 * user has no token.  info_out (may be NULL) gets the revoked token.
 */
int apitoken_token_revoke(apitoken_store_t *store, const char *user,
                          const char *origin, apitoken_token_info_t *info_out);

/*
 * Revoke by presenting the token itself (RFC 7009).  A malformed, unknown
 * or already revoked token is APITOKEN_ERR_NOT_FOUND and changes nothing.
 * If only_user is not NULL the token must belong to that user, else
 * APITOKEN_ERR_DENIED and nothing changes.
 */
int apitoken_token_revoke_secret(apitoken_store_t *store, const char *token,
                                 size_t len, const char *only_user,
                                 const char *origin,
                                 apitoken_token_info_t *info_out);

/* The user's current token (even if expired but not yet purged). */
int apitoken_token_get(apitoken_store_t *store, const char *user,
                       apitoken_token_info_t *info_out);

/* Every token, ordered by expiry (soonest first). */
typedef int (*apitoken_token_fn)(const apitoken_token_info_t *tok, void *ctx);
int apitoken_token_foreach(apitoken_store_t *store, apitoken_token_fn fn,
                           void *ctx);

/*
 * The answer every reader (introspection, local socket, CLI) gives.
 * active false: every other field is empty.  Owned strings are freed by
 * apitoken_claims_clear() (the library's own layout: do not free or
 * replace them one by one).
 */
typedef struct apitoken_claims {
	bool active;
	char jti[APITOKEN_ID_LEN + 1];
	char *username;
	char *role;
	char **bus;
	size_t n_bus;
	char *scope; /* space-separated */
	int64_t iat;
	int64_t exp;
} apitoken_claims_t;

void apitoken_claims_clear(apitoken_claims_t *claims);

/*
 * Is this token active, for whom, with which scope?  Inactive when
 * malformed (no store access), unknown, now >= exp, the user is removed or
 * their API-token option is off.  Returns 0 with claims_out->active set
 * either way; an error only when the store itself fails (then the caller
 * must answer "unavailable", never "active").  Never writes.
 */
int apitoken_token_check(apitoken_store_t *store, const char *token,
                         size_t len, int64_t now,
                         apitoken_claims_t *claims_out);

/*
 * The same for a token already parsed (apitoken_token_parse) and hashed
 * (apitoken_token_hash): for a caller that needs the hash itself, as a
 * key.
 */
int apitoken_token_check_hash(apitoken_store_t *store,
                              const uint8_t hash[APITOKEN_HASH_LEN],
                              int64_t now, apitoken_claims_t *claims_out);

/*
 * The store's write epoch: it grows after every committed write, before
 * the write returns.  Anything derived from reads that began after the
 * epoch was E is still what a read would give while the epoch is E (in
 * this process, which holds the store's lock and so makes every write).
 */
uint64_t apitoken_store_epoch(apitoken_store_t *store);

/*
 * Delete every token with exp <= now, each with an audit record ("expired")
 * and a notification, in batches.  progress (may be NULL) is called after
 * each batch with the running count.  *deleted_out gets the total.
 */
typedef void (*apitoken_progress_fn)(size_t done, void *ctx);
int apitoken_store_purge(apitoken_store_t *store, int64_t now,
                         apitoken_progress_fn progress, void *ctx,
                         size_t *deleted_out);

/* Number of tokens with exp > now (for /metrics): the running count of
 * tokens less those with exp <= now (a walk over the expired but not yet
 * purged ones only). */
int apitoken_token_count_active(apitoken_store_t *store, int64_t now,
                                size_t *count_out);

/* ---- clients (resource servers calling introspection) --------------- */

#define APITOKEN_CLIENT_ID_MAX 64 /* [A-Za-z0-9._-], 1..64 */
#define APITOKEN_CLIENT_CAN_REVOKE 0x1
#define APITOKEN_CLIENT_CAN_REPORT_LEAKS 0x2 /* POST /leaks */
/* May read, issue and revoke any user's token through /api/v1/users/ (a
 * portal acting for its signed-in users). */
#define APITOKEN_CLIENT_CAN_MANAGE 0x4

typedef struct apitoken_client {
	char *id;
	char *name;
	unsigned flags;
	int64_t created;
} apitoken_client_t;

void apitoken_client_free(apitoken_client_t *client);

/*
 * Register a client; secret_out receives its secret (apicli_ format) to
 * show once; only its SHA-256 is stored.
 */
int apitoken_client_add(apitoken_store_t *store, const char *id,
                        const char *name, unsigned flags, const char *origin,
                        char secret_out[APITOKEN_TOKEN_LEN + 1]);
int apitoken_client_remove(apitoken_store_t *store, const char *id,
                           const char *origin);
typedef int (*apitoken_client_fn)(const apitoken_client_t *c, void *ctx);
int apitoken_client_foreach(apitoken_store_t *store, apitoken_client_fn fn,
                            void *ctx);

/*
 * Authenticate a client.  Unknown id and wrong secret give the same
 * APITOKEN_ERR_DENIED after the same work (a hash and a constant-time
 * compare against a dummy for unknown ids).  client_out (may be NULL) gets
 * the client on success; free with apitoken_client_free().
 */
int apitoken_client_authenticate(apitoken_store_t *store, const char *id,
                                 const char *secret, size_t secret_len,
                                 apitoken_client_t **client_out);

/* ---- audit log ------------------------------------------------------- */

/*
 * Lifecycle events.  Stored by name (apitoken_audit_event_name), so the
 * numbers may change; a name this version does not know reads as
 * APITOKEN_AUDIT_OTHER with the name kept in apitoken_audit_t.event.
 */
typedef enum apitoken_audit_event {
	APITOKEN_AUDIT_OTHER = 0,
	APITOKEN_AUDIT_USER_ADDED,           /* "user-added" */
	APITOKEN_AUDIT_USER_CHANGED,         /* "user-changed": email, role,
	                                        units (detail says which) */
	APITOKEN_AUDIT_USER_DISABLED,        /* "user-disabled": API access
	                                        off (with any other change) */
	APITOKEN_AUDIT_USER_ENABLED,         /* "user-enabled" */
	APITOKEN_AUDIT_USER_REMOVED,         /* "user-removed" */
	APITOKEN_AUDIT_ISSUED,               /* "issued" */
	APITOKEN_AUDIT_REPLACED,             /* "replaced" (regenerated) */
	APITOKEN_AUDIT_REVOKED,              /* "revoked" */
	APITOKEN_AUDIT_EXPIRED,              /* "expired" (purged) */
	APITOKEN_AUDIT_CLIENT_ADDED,         /* "client-added" */
	APITOKEN_AUDIT_CLIENT_REMOVED,       /* "client-removed" */
	APITOKEN_AUDIT_NOTICE_UNDELIVERABLE, /* "notice-undeliverable" */
	APITOKEN_AUDIT_LEAK_REPORTED,        /* "leak-reported": revoked
	                                        because it was found leaked */
	APITOKEN_AUDIT_NOTICE_DROPPED,       /* "notice-dropped": no relay
	                                        for mail.outbox_max_age */
	APITOKEN_AUDIT_EVENT_COUNT
} apitoken_audit_event_t;

/* "issued", ...; NULL for OTHER or out of range. */
const char *apitoken_audit_event_name(apitoken_audit_event_t ev);
/* The event of a name, APITOKEN_AUDIT_OTHER if unknown. */
apitoken_audit_event_t apitoken_audit_event_parse(const char *name);

/*
 * Who made a change, and from where.  Every write below has an "_as"
 * form taking an actor; the older forms taking an origin string record
 * APITOKEN_ACTOR_OTHER with the string as id.
 */
typedef enum apitoken_actor_kind {
	APITOKEN_ACTOR_OTHER = 0, /* unknown (records older than actors) */
	APITOKEN_ACTOR_SYSTEM,    /* the daemon itself: id "sweep", "mail" */
	APITOKEN_ACTOR_ADMIN,     /* a local administrator: id = the uid */
	APITOKEN_ACTOR_USER,      /* a user on their own token: id = name
	                             (web session, self-revocation) */
	APITOKEN_ACTOR_CLIENT     /* a registered client: id = client id */
} apitoken_actor_kind_t;

typedef struct apitoken_actor {
	apitoken_actor_kind_t kind;
	const char *id;     /* see the kind; may be NULL */
	const char *source; /* "127.0.0.1:43122", "unix pid 42", may be NULL */
	const char *reason; /* why, free text (a leak's URL), may be NULL */
} apitoken_actor_t;

/* "system", "admin", "user", "client", "other". */
const char *apitoken_actor_kind_name(apitoken_actor_kind_t kind);
/* Parse such a name; -1 if unknown. */
int apitoken_actor_kind_parse(const char *name);
/*
 * One line for people (email "By:", the audit's origin column):
 * "admin uid 0 (unix pid 42)", "client rs1 (127.0.0.1:5000)".
 * Always NUL-terminated; cut to size.
 */
void apitoken_actor_describe(const apitoken_actor_t *actor, char *buf,
                             size_t size);

typedef struct apitoken_audit {
	uint64_t seq;
	int64_t time;
	const char *event;    /* its name, also for events this version does
	                         not know */
	const char *user;     /* may be "" */
	const char *token_id; /* may be "" */
	const char *origin;   /* the actor described, for people */
	const char *detail;   /* what changed; may be "" */
	/* Appended: "" / OTHER in records written before actors. */
	apitoken_audit_event_t kind;
	apitoken_actor_kind_t actor_kind;
	const char *actor_id;
	const char *source;
	const char *reason;
} apitoken_audit_t;

typedef int (*apitoken_audit_fn)(const apitoken_audit_t *rec, void *ctx);
/* Records in time order, only user's when user is not NULL. */
int apitoken_audit_foreach(apitoken_store_t *store, const char *user,
                           apitoken_audit_fn fn, void *ctx);

/* What apitoken_audit_query returns; NULL / 0 / -1 fields match all. */
typedef struct apitoken_audit_filter {
	const char *user;
	int event;              /* an apitoken_audit_event_t, or -1 */
	const char *event_name; /* for events this version does not know */
	int64_t since;          /* time >= since, 0: no bound */
	int64_t until;          /* time < until, 0: no bound */
	int actor_kind;         /* an apitoken_actor_kind_t, or -1 */
	const char *actor_id;
} apitoken_audit_filter_t;

/* Records matching filter in time order. */
int apitoken_audit_query(apitoken_store_t *store,
                         const apitoken_audit_filter_t *filter,
                         apitoken_audit_fn fn, void *ctx);

/*
 * Delete records older than now - retention, oldest first, at most batch
 * per transaction (each commits on its own, so a long backlog never holds
 * locks long) and at most max in all (0: no limit; the rest waits for the
 * next call).  *deleted_out (may be NULL) gets the count.  retention <= 0
 * keeps everything.
 */
int apitoken_audit_prune(apitoken_store_t *store, int64_t now,
                         int64_t retention, size_t batch, size_t max,
                         size_t *deleted_out);

/* ---- identify: whose token is this string? ------------------------- */

typedef enum apitoken_token_state {
	APITOKEN_STATE_UNKNOWN = 0, /* never ours, malformed, or its end is
	                               older than audit_retention */
	APITOKEN_STATE_ACTIVE,      /* valid now */
	APITOKEN_STATE_DISABLED,    /* valid, but its owner's API access is
	                               off (or the owner was removed) */
	APITOKEN_STATE_EXPIRED,     /* past exp (purged or not yet) */
	APITOKEN_STATE_REVOKED      /* revoked, replaced or reported leaked */
} apitoken_token_state_t;

/* "unknown", "active", "disabled", "expired", "revoked". */
const char *apitoken_token_state_name(apitoken_token_state_t state);

/* The last use of a token, as apitokend saw it. */
typedef struct apitoken_last_use {
	int64_t time;    /* 0: never seen */
	char source[64]; /* "127.0.0.1", "local uid 1000 pid 42" */
	char client[APITOKEN_CLIENT_ID_MAX + 1]; /* client id, "local" */
} apitoken_last_use_t;

typedef struct apitoken_identity {
	apitoken_token_state_t state;
	apitoken_token_info_t info; /* empty when unknown */
	int64_t ended;              /* revoked/purged at, 0 if live */
	char why[24];               /* the ending event: "revoked",
	                               "replaced", "leak-reported", "expired" */
	apitoken_last_use_t last_use;
} apitoken_identity_t;

/*
 * Whose is this token, and what became of it?  Live tokens are found by
 * their hash; ended ones (revoked, replaced, expired and purged) by a
 * tombstone kept for audit_retention, keyed by a keyed fingerprint of the
 * token (HMAC-SHA-256 under a random key of this store, cut to 128 bits;
 * see docs/visibility.md): no secret, no verifier hash is kept.  Never
 * writes, never logs the token.
 */
int apitoken_token_identify(apitoken_store_t *store, const char *token,
                            size_t len, int64_t now, apitoken_identity_t *out);

/* Delete tombstones that ended before now - retention (as the audit). */
int apitoken_tombstone_prune(apitoken_store_t *store, int64_t now,
                             int64_t retention, size_t batch, size_t max,
                             size_t *deleted_out);

/* ---- last use ------------------------------------------------------- */

/*
 * Note a use of the token with public id token_id (an active
 * introspection, local-socket check or PAM success): in memory only,
 * cheap, thread-safe.  source and client are cut to the sizes of
 * apitoken_last_use_t.
 */
void apitoken_lastuse_note(apitoken_store_t *store, const char *token_id,
                           int64_t when, const char *source,
                           const char *client);

/*
 * The same with the source formatted only when needed: a use in the same
 * second by the same client as the one noted changes nothing, and then
 * source_fn (writing at most len bytes into buf) is not called.  Under
 * a lock: source_fn must be quick and must not call back.
 */
typedef void (*apitoken_lastuse_source_fn)(char *buf, size_t len, void *ctx);
void apitoken_lastuse_note_lazy(apitoken_store_t *store, const char *token_id,
                                int64_t when,
                                apitoken_lastuse_source_fn source_fn,
                                void *ctx, const char *client);

/*
 * Write every use noted since the last flush to the store's own
 * last-use database, in batched transactions.  This write changes
 * nothing a check reads and writes no change record: no kept
 * introspection answer of any token is dropped.  Called by apitokend
 * every last_used_interval, so each token is written at most once per
 * interval (and a crash loses at most one interval).  Uses written and
 * not repeated in the last seconds are then dropped from memory.
 */
int apitoken_lastuse_flush(apitoken_store_t *store, size_t *written_out);

/*
 * The same as apitoken_lastuse_flush() with the uses handed to sink, in
 * batches of at most 500, instead of written to this store: a replica
 * sends them to the master.  The sink returns 0 once it took a batch
 * (its uses then leave memory as after a write); any other value leaves
 * them for the next drain, and stops this one with that value.
 */
typedef struct apitoken_lastuse_item {
	char id[APITOKEN_ID_LEN + 1];
	apitoken_last_use_t u;
} apitoken_lastuse_item_t;
typedef int (*apitoken_lastuse_sink_fn)(const apitoken_lastuse_item_t *items,
                                        size_t n, void *ctx);
int apitoken_lastuse_drain(apitoken_store_t *store,
                           apitoken_lastuse_sink_fn sink, void *ctx,
                           size_t *sent_out);

/* Token uses held in memory: noted and not yet written, or used in the
 * last seconds. */
size_t apitoken_lastuse_held(apitoken_store_t *store);

/* The last use of token_id: memory first, else the store; time 0 if
 * never seen. */
int apitoken_lastuse_get(apitoken_store_t *store, const char *token_id,
                         apitoken_last_use_t *out);

/* ---- the same writes, with an actor --------------------------------- */

int apitoken_user_add_as(apitoken_store_t *store, const apitoken_user_t *user,
                         const apitoken_actor_t *actor);
int apitoken_user_add_batch_as(apitoken_store_t *store,
                               const apitoken_user_t *users, size_t n,
                               const apitoken_actor_t *actor, int *results,
                               char **errors_out);
int apitoken_user_update_as(apitoken_store_t *store, const char *name,
                            const apitoken_user_change_t *change,
                            const apitoken_actor_t *actor);
int apitoken_user_remove_as(apitoken_store_t *store, const char *name,
                            const apitoken_actor_t *actor);
int apitoken_token_issue_as(apitoken_store_t *store, const char *user,
                            unsigned flags, const apitoken_actor_t *actor,
                            char token_out[APITOKEN_TOKEN_LEN + 1],
                            apitoken_token_info_t *info_out);
int apitoken_token_revoke_as(apitoken_store_t *store, const char *user,
                             const apitoken_actor_t *actor,
                             apitoken_token_info_t *info_out);
/*
 * event: APITOKEN_AUDIT_REVOKED, or APITOKEN_AUDIT_LEAK_REPORTED for a
 * token revoked because it was found (the actor's reason says where).
 */
int apitoken_token_revoke_secret_as(apitoken_store_t *store, const char *token,
                                    size_t len, const char *only_user,
                                    apitoken_audit_event_t event,
                                    const apitoken_actor_t *actor,
                                    apitoken_token_info_t *info_out);
int apitoken_client_add_as(apitoken_store_t *store, const char *id,
                           const char *name, unsigned flags,
                           const apitoken_actor_t *actor,
                           char secret_out[APITOKEN_TOKEN_LEN + 1]);
int apitoken_client_remove_as(apitoken_store_t *store, const char *id,
                              const apitoken_actor_t *actor);

/* ---- notification outbox --------------------------------------------- */

/*
 * Written in the same transaction as the change it announces.  Removed
 * only when delivered (apitoken_outbox_done).
 */
typedef struct apitoken_notice {
	uint64_t seq;
	const char *kind; /* "created", "regenerated", "revoked",
	                     "expired", "reminder" */
	const char *user;
	const char *email;
	const char *token_id;
	const char *hint; /* last 4 characters of the token */
	const char *origin;
	int64_t time; /* when the change happened */
	int64_t token_exp;
	unsigned attempts;
	int64_t next_attempt;   /* not before this time */
	const char *last_error; /* "" if none */
	const char *message_id; /* stable across retries */
} apitoken_notice_t;

typedef int (*apitoken_notice_fn)(const apitoken_notice_t *n, void *ctx);
/* Every queued notice in seq order. */
int apitoken_outbox_foreach(apitoken_store_t *store, apitoken_notice_fn fn,
                            void *ctx);
/* Delivered: remove it. */
int apitoken_outbox_done(apitoken_store_t *store, uint64_t seq);
/* Failed: count the attempt, keep it until next_attempt. */
int apitoken_outbox_defer(apitoken_store_t *store, uint64_t seq,
                          int64_t next_attempt, const char *error);
/*
 * Undeliverable: remove the notice and append an audit record
 * ("notice-undeliverable", its user and token, origin "mail", detail: the
 * kind, attempts and error) in one transaction.
 */
int apitoken_outbox_give_up(apitoken_store_t *store, uint64_t seq, int64_t now,
                            const char *error);
/* Make every queued notice due now (apitokenctl outbox retry). */
int apitoken_outbox_retry_all(apitoken_store_t *store, size_t *count_out);

/*
 * Queue a "reminder" notice for every token whose expiry is within one of
 * the lead times and that has not had that reminder yet (remembered in
 * the token record, so each is sent once, also across restarts).
 */
int apitoken_outbox_queue_reminders(apitoken_store_t *store, int64_t now,
                                    const int64_t *leads, size_t n_leads,
                                    size_t *queued_out);
/*
 * The same, looking only at the tokens that came within a lead since the
 * scan at since (expiry in (since + lead, now + lead] for each lead), so
 * a periodic scan reads what became due, not every token within the
 * longest lead.  since 0 (the first scan, or after the leads changed):
 * every token that has not expired.
 */
int apitoken_outbox_queue_reminders_since(apitoken_store_t *store,
                                          int64_t since, int64_t now,
                                          const int64_t *leads, size_t n_leads,
                                          size_t *queued_out);

/*
 * The notices due at now (next_attempt <= now), earliest first, at most
 * max of them, found through the due-time index (no walk of the outbox).
 * *next_out (may be NULL) gets the earliest next_attempt of those left:
 * now when max stopped the visit, INT64_MAX when none are left.
 */
int apitoken_outbox_due(apitoken_store_t *store, int64_t now, size_t max,
                        apitoken_notice_fn fn, void *ctx, int64_t *next_out);
/*
 * Bound an outbox that nothing delivers: remove the notices queued
 * before cutoff (oldest first, in transactions of a few hundred), each
 * with an audit record ("notice-dropped", its user and token, origin
 * "mail", detail: the kind and why).  *dropped_out gets how many,
 * *oldest_out (may be NULL) the time of the oldest notice left, or
 * INT64_MAX when the outbox is empty.
 */
int apitoken_outbox_drop_older(apitoken_store_t *store, int64_t cutoff,
                               int64_t now, const char *why,
                               size_t *dropped_out, int64_t *oldest_out);
/* How many notices are queued (counts the due-time index once). */
int apitoken_outbox_count(apitoken_store_t *store, size_t *count_out);
/*
 * fn(ctx, queued, due, time) is called in the writing thread right after
 * a commit that queued notices (queued of them) or made notices due
 * sooner (apitoken_outbox_retry_all): due is the earliest next_attempt
 * among them, time the earliest change they announce.  It must be quick
 * and must not write to the store.  fn NULL removes it.  Lets the mailer
 * sleep until there is mail instead of polling.
 */
typedef void (*apitoken_outbox_hook_fn)(void *ctx, size_t queued, int64_t due,
                                        int64_t time);
void apitoken_outbox_set_hook(apitoken_store_t *store,
                              apitoken_outbox_hook_fn fn, void *ctx);
/* ---- change records (targeted invalidation, replicas) ---------------- */

/*
 * Every write that can change an answer (an introspection, a local or PAM
 * check, a client login) appends, in its own transaction, one small change
 * record per thing it touched: a token (by the SHA-256 of its secret), a
 * user (by name), a client (by id), or everything.  Each record has a
 * sequence number, allocated inside the writing transaction (so under its
 * write locks: two transactions never share or swap numbers, and an
 * aborted one leaves neither a record nor a gap).  A record becomes
 * visible only when its transaction commits, and a transaction that
 * commits later has the larger numbers, so a reader that asks for the
 * records after the last number it saw never misses one: whatever it did
 * not see yet has a larger number than it has seen.
 *
 * Writes that cannot change an answer add none: audit appends, outbox
 * changes, reminder bookkeeping, and the purge of tokens that have
 * already expired (an expired token is inactive whether or not its record
 * is still there).  A purge with a "now" ahead of the clock deletes
 * unexpired tokens: those do get records.
 *
 * The store keeps the last APITOKEN_CHANGES_KEEP records: each write
 * deletes, in its own transaction, the record that many numbers older
 * than the one it appends.  A reader that fell further behind is told so
 * (an APITOKEN_CHANGE_ALL record): it must then drop everything it kept.
 */
#define APITOKEN_CHANGES_KEEP 65536

typedef enum apitoken_change_kind {
	APITOKEN_CHANGE_TOKEN = 1,  /* subject: SHA-256 of the token secret */
	APITOKEN_CHANGE_USER = 2,   /* subject: user name */
	APITOKEN_CHANGE_CLIENT = 3, /* subject: client id */
	APITOKEN_CHANGE_ALL = 4     /* subject empty: anything may differ */
} apitoken_change_kind_t;

typedef struct apitoken_change {
	uint64_t seq;
	int64_t time; /* when it was written; 0 for a synthesized ALL */
	apitoken_change_kind_t kind;
	const uint8_t *subject; /* valid only during the call; not NUL-ended */
	size_t subject_len;
} apitoken_change_t;

/* Return 0 to go on, anything else to stop (that value is returned). */
typedef int (*apitoken_change_fn)(const apitoken_change_t *c, void *ctx);

/*
 * Call fn for every change record with seq > after, in seq order, from
 * one snapshot of the store.  If records after `after' were already
 * trimmed, fn first gets one APITOKEN_CHANGE_ALL record (its seq the last
 * number trimmed, or the last one written when nothing newer is left).
 * Before fn sees a record, apitoken_store_changes_visible() is raised to
 * its seq.  *last_out (may be NULL) gets the seq of the last record fn
 * accepted (after, if none).  A record of unknown kind is passed as
 * APITOKEN_CHANGE_ALL.  Never writes.
 */
int apitoken_store_changes_read(apitoken_store_t *store, uint64_t after,
                                apitoken_change_fn fn, void *ctx,
                                uint64_t *last_out);

/* The seq of the last change record committed (0: none yet), read from
 * one snapshot: a single point read, cheap enough to poll. */
int apitoken_store_changes_last(apitoken_store_t *store, uint64_t *seq_out);

/*
 * The highest change seq this process knows to be committed and visible
 * to its reads: raised by this process's own commits (after the commit,
 * before the write returns) and by apitoken_store_changes_read().  A
 * plain atomic load.  A reader that keeps answers may use one only while
 * it has retired every change up to this number.
 */
uint64_t apitoken_store_changes_visible(apitoken_store_t *store);

/*
 * true if commits this process did not make can appear in the store: the
 * environment was opened for replication (DB_INIT_REP), so a replica's
 * applied transactions announce themselves only through the records.  A
 * tail must then poll apitoken_store_changes_last() often; otherwise the
 * change hook below sees every commit.
 */
bool apitoken_store_changes_external(apitoken_store_t *store);

/*
 * Called after each commit that wrote change records, with the seq of the
 * last one, in the writing thread, before the write returns (to wake a
 * tail).  Must not block or call the store.  Set before other threads
 * use the store; NULL removes it.
 */
typedef void (*apitoken_change_hook_fn)(uint64_t seq, void *arg);
void apitoken_store_set_change_hook(apitoken_store_t *store,
                                    apitoken_change_hook_fn fn, void *arg);

/*
 * Store failures this process has seen: every Berkeley DB error (read or
 * write, except a deadlock that is retried) and every malformed record a
 * read or write hit.  Kept answers and reused snapshots are valid only
 * while this number is unchanged (fail closed).  A plain atomic load.
 */
unsigned long apitoken_store_failures(apitoken_store_t *store);

/* ---- running counts -------------------------------------------------- */

/*
 * Records in the store, kept as counters updated in the same transaction
 * as each write (no scan): tokens (issued and not yet revoked or purged,
 * expired or not), users, clients.  Stores made before the counters
 * existed get them counted once, at the first open for writing.
 */
typedef struct apitoken_store_counts {
	uint64_t tokens;
	uint64_t users;
	uint64_t clients;
} apitoken_store_counts_t;

int apitoken_store_counts(apitoken_store_t *store,
                          apitoken_store_counts_t *counts_out);

#ifdef __cplusplus
}
#endif
#endif /* APITOKEN_STORE_H */
