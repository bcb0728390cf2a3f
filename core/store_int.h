/*
 * apitoken: private parts of the store (core/store*.c and its tests).
 *
 * Layout of the Berkeley DB environment in cfg->store:
 *   LOCK        owner lock (flock) holding the owner's pid
 *   DB_CONFIG   environment settings, written at creation, honoured after
 *   meta.db     btree  "schema" -> version; "seq.audit", "seq.outbox"
 *   users.db    btree  user name -> user record
 *   tokens.db   hash   SHA-256(token) -> token record
 *   user_token.db btree user name -> SHA-256 of their token (unique)
 *   expiry.db   btree  be64(exp) + SHA-256 -> (version byte); sweep order
 *   clients.db  btree  client id -> client record (SHA-256 of the secret)
 *   audit.db    btree  be64(seq) -> audit record (never a secret or hash)
 *   outbox.db   btree  be64(seq) -> notice record
 *   outbox_due.db btree be64(next_attempt) + be64(seq) -> be64(seq);
 *               secondary index of outbox.db (DB->associate), made and
 *               filled on the first open of an older store
 *   changes.db  btree  be64(seq) -> change record (store_changes.c)
 *   meta.db also holds "seq.changes" and the running counts
 *   "count.tokens", "count.users", "count.clients" (store_counts.c)
 *   lastuse.db  btree  token id -> last use (time, source, client);
 *               written without moving the write epoch
 *   tombstones.db btree HMAC(meta "tombstone.key", SHA-256)[0..16) ->
 *               what an ended token was (never a secret or verifier)
 *
 * Every record starts with a format version byte.  Strings are stored as
 * a big-endian u16 length that counts a trailing NUL, so decoded views
 * point straight into the (copied) record; the decoder checks every length
 * and the NUL, and a malformed record is APITOKEN_ERR_CORRUPT.
 *
 * Isolation: every database is opened with DB_MULTIVERSION and every read
 * (check, get, lists) runs in a DB_TXN_SNAPSHOT transaction.  Snapshot
 * reads take no locks, so check() never waits for a writer (whose page
 * locks would block a read-committed reader) and never deadlocks.  Writes
 * run in ordinary serializable transactions, read what they change with
 * DB_RMW, commit with the environment's default synchronous log flush and
 * are retried on DB_LOCK_DEADLOCK.
 *
 * The price of MVCC in BDB 5.3: a committed transaction stays in the
 * transaction region as long as a cached page version it wrote does, so
 * DB_CONFIG's set_tx_max must exceed the cache's page count (store.c
 * writes 24000 for a 64 MB cache and warns at open when a hand-edited
 * file is far off).  Should the region still fill, reads fall back to
 * running without a transaction (short page locks) instead of failing.
 *
 * All reads copy out of BDB (DB_DBT_USERMEM into caller buffers, or
 * DB_DBT_MALLOC/REALLOC); no pointer into BDB memory is kept.
 */
#ifndef APITOKEN_STORE_INT_H
#define APITOKEN_STORE_INT_H

#include <stdatomic.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <db.h>

#include <apitoken/store.h>

#define STORE_SCHEMA_VERSION 1u
#define STORE_REC_VERSION 1u
#define STORE_AUDIT_REC_VERSION 2u /* 2: with the actor */
#define STORE_BUS_MAX 64           /* Business Units per user */
#define STORE_ORIGIN_MAX 256
#define STORE_CLIENT_NAME_MAX 128
#define STORE_PURGE_BATCH 500 /* tokens deleted per transaction */
/* A reused read snapshot is renewed this old (store_snapshot.c). */
#define STORE_SNAP_MAX_MS 250
#define STORE_DEADLOCK_RETRIES 20
/* Returned by transaction bodies to ask the runner for another attempt. */
#define STORE_RETRY (-1000)
/* Returned by a transaction body that looked and wrote nothing: the
 * runner aborts instead of committing, and store_write() returns 0 without
 * moving the write epoch on (no reader's snapshot or kept answer is
 * dropped for a periodic scan that found nothing to do). */
#define STORE_UNCHANGED 1000

#define STORE_LOCK_FILE "LOCK"
#define STORE_DB_CONFIG "DB_CONFIG"
#define STORE_DB_META "meta.db"
#define STORE_DB_USERS "users.db"
#define STORE_DB_TOKENS "tokens.db"
#define STORE_DB_USER_TOKEN "user_token.db"
#define STORE_DB_EXPIRY "expiry.db"
#define STORE_DB_CLIENTS "clients.db"
#define STORE_DB_AUDIT "audit.db"
#define STORE_DB_OUTBOX "outbox.db"
#define STORE_DB_OUTBOX_DUE "outbox_due.db"
#define STORE_DB_CHANGES "changes.db"

#define STORE_EXPIRY_KEY_LEN (8 + APITOKEN_HASH_LEN)

struct apitoken_store {
	DB_ENV *env;
	DB *meta;
	DB *users;
	DB *tokens;
	DB *user_token;
	DB *expiry;
	DB *clients;
	DB *audit;
	DB *outbox;
	DB *changes; /* NULL: an old store opened read-only */
	int lock_fd;
	char *dir;
	bool rdonly;
	_Atomic(const apitoken_config_t *) cfg;
	/* store_snapshot.c */
	_Atomic uint64_t write_epoch;
	pthread_mutex_t snap_mu; /* the list */
	struct store_snap *snaps;
	pthread_key_t snap_key;
	bool snap_key_ok, snaps_ready;
	/* store_outbox.c: due-time index and the queued-notice hook */
	DB *outbox_due;  /* NULL: read-only store without it */
	DB *outbox_fill; /* outbox_due.db to fill at open, else NULL */
	apitoken_outbox_hook_fn outbox_hook;
	void *outbox_hook_ctx;
	_Atomic bool outbox_hook_on;
	/* store_rep.c: NULL unless apitokend joined a replication group */
	struct store_rep *rep;
	bool rep_offline; /* a group member opened without replication */
	/* store_changes.c */
	_Atomic uint64_t change_visible;
	uint64_t changes_keep; /* APITOKEN_CHANGES_KEEP; tests lower it */
	apitoken_change_hook_fn change_hook;
	void *change_hook_arg;
	/* store_tombstone.c (created on the first writable open) */
	DB *tombstones;
	uint8_t tomb_key[32];
	bool tomb_key_ok;
	/* store_lastuse.c */
	DB *lastuse;
	struct store_lastuse *lastuse_mem;
};

/* ---- store.c: transactions and errors -------------------------------- */

/* Map a BDB return code: deadlock -> STORE_RETRY, else an apitoken error
 * with detail "store: <what>: <db_strerror>", counted as a store failure
 * (apitoken_store_failures()). */
int store_dberr(int ret, const char *what);
/* Count a store failure (a malformed record, a failed transaction). */
void store_failed(void);
/* Count it if rc says the store failed (not a refusal); returns rc. */
int store_note(int rc);

typedef int (*store_txn_fn)(apitoken_store_t *st, DB_TXN *txn, void *arg);
/* Run fn in a write transaction, retrying on deadlock; commit on 0. */
int store_write(apitoken_store_t *st, store_txn_fn fn, void *arg);

/* ---- store_snapshot.c: snapshot transactions for readers -------------- */

/* Begin a snapshot (read-only) transaction of its own: for reads of
 * anything (lists, audit, outbox).  *txn_out may be NULL (no room for
 * transactions: reads go without).  End it with store_read_end(). */
int store_read_begin(apitoken_store_t *st, DB_TXN **txn_out);
/* The same for reads of what change records cover (tokens, users,
 * clients): this thread's snapshot, reused while no change record newer
 * than its start is visible (see store_snapshot.c). */
int store_read_begin_answer(apitoken_store_t *st, DB_TXN **txn_out);
void store_read_end(apitoken_store_t *st, DB_TXN *txn);
/* At open (before any read) and close (before the databases close). */
int store_snaps_init(apitoken_store_t *st);
void store_snaps_destroy(apitoken_store_t *st);
/* After every commit, before it is reported.  changed: it wrote change
 * records or the store failed, so idle snapshots are ended at once. */
void store_snaps_written(apitoken_store_t *st, bool changed);

/*
 * Visit every record of db in key order inside one snapshot transaction.
 * visit returns 0 to go on, anything else to stop (that value is
 * returned).  key and data are valid only during the call.  what names
 * the database in error details ("users", "outbox", ...).
 */
typedef int (*store_visit_fn)(apitoken_store_t *st, DB_TXN *txn,
                              const DBT *key, const DBT *data, void *arg);
int store_walk(apitoken_store_t *st, DB *db, const char *what,
               store_visit_fn visit, void *arg);

const apitoken_config_t *store_cfg(apitoken_store_t *st);

/* Next value of the counter "seq.<name>" in meta (inside txn). */
int store_next_seq(apitoken_store_t *st, DB_TXN *txn, const char *name,
                   uint64_t *seq_out);

void store_be64(uint8_t out[8], uint64_t v);
uint64_t store_get_be64(const uint8_t in[8]);
void store_expiry_key(uint8_t out[STORE_EXPIRY_KEY_LEN], int64_t exp,
                      const uint8_t hash[APITOKEN_HASH_LEN]);

/* ---- store_codec.c -------------------------------------------------- */

struct wbuf {
	uint8_t *p;
	size_t len;
	size_t cap;
	bool oom;
};

void wbuf_init(struct wbuf *w);
void wbuf_free(struct wbuf *w);
void wbuf_u8(struct wbuf *w, uint8_t v);
void wbuf_u32(struct wbuf *w, uint32_t v);
void wbuf_i64(struct wbuf *w, int64_t v);
void wbuf_bytes(struct wbuf *w, const void *p, size_t n);
void wbuf_str(struct wbuf *w, const char *s);

struct rbuf {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool bad;
};

void rbuf_init(struct rbuf *r, const void *p, size_t len);
uint8_t rbuf_u8(struct rbuf *r);
uint32_t rbuf_u32(struct rbuf *r);
int64_t rbuf_i64(struct rbuf *r);
const uint8_t *rbuf_bytes(struct rbuf *r, size_t n);
const char *rbuf_str(struct rbuf *r, size_t max);
/* 0 if nothing was malformed and every byte was consumed. */
int rbuf_end(const struct rbuf *r, const char *what);

struct tok_rec {
	char id[APITOKEN_ID_LEN + 1];
	char user[APITOKEN_USER_MAX + 1];
	char hint[5];
	int64_t iat;
	int64_t exp;
	int64_t reminded; /* smallest reminder lead sent, 0 none */
};

int tok_encode(const struct tok_rec *t, struct wbuf *w);
int tok_decode(const void *p, size_t len, struct tok_rec *t);

/* A user record decoded in place: strings point into the record bytes. */
struct user_view {
	const char *email;
	const char *role;
	const char *bus[STORE_BUS_MAX];
	size_t n_bus;
	bool api_access;
	int64_t created;
	int64_t updated;
};

int user_encode(const apitoken_user_t *u, struct wbuf *w);
int user_decode(const void *p, size_t len, struct user_view *v);

struct client_view {
	const uint8_t *hash;
	const char *name;
	unsigned flags;
	int64_t created;
};

int client_encode(const uint8_t hash[APITOKEN_HASH_LEN], const char *name,
                  unsigned flags, int64_t created, struct wbuf *w);
int client_decode(const void *p, size_t len, struct client_view *v);

/* Audit and notice records: the public structs with seq from the key. */
int audit_encode(const apitoken_audit_t *a, struct wbuf *w);
int audit_decode(const void *p, size_t len, apitoken_audit_t *a);
int notice_encode(const apitoken_notice_t *n, struct wbuf *w);
int notice_decode(const void *p, size_t len, apitoken_notice_t *n);

/* user_token value and expiry value */
int hashref_encode(const uint8_t hash[APITOKEN_HASH_LEN], struct wbuf *w);
int hashref_decode(const void *p, size_t len,
                   uint8_t hash_out[APITOKEN_HASH_LEN]);

/* ---- validation (store_users.c) -------------------------------------- */

bool store_text_valid(const char *s, size_t max);
int store_user_validate(const apitoken_config_t *cfg,
                        const apitoken_user_t *u);

/* Read a user inside a write transaction (DB_RMW); *raw_out is malloc'ed
 * and holds the record the view points into. */
int store_user_read(apitoken_store_t *st, DB_TXN *txn, const char *name,
                    u_int32_t flags, void **raw_out, struct user_view *v);

/* ---- store_audit.c / store_outbox.c --------------------------------- */

/* Append an audit record; actor NULL is "system". */
int store_audit_append(apitoken_store_t *st, DB_TXN *txn, int64_t now,
                       apitoken_audit_event_t event, const char *user,
                       const char *token_id, const apitoken_actor_t *actor,
                       const char *detail);

/* Queue a notice for tok (kind "created", ...) with the user's email. */
int store_notice_queue(apitoken_store_t *st, DB_TXN *txn, int64_t now,
                       const char *kind, const struct tok_rec *tok,
                       const char *email, const apitoken_actor_t *actor);

/* Open outbox_due.db and associate it with outbox.db (inside txn). */
int store_outbox_index_open(apitoken_store_t *st, DB_TXN *txn);
/* After the open: fill an empty index of a non-empty outbox (a store
 * made before the index), in batches. */
int store_outbox_index_fill(apitoken_store_t *st);
/* store_write(): before each attempt, and after a successful commit
 * (calls the hook when the transaction queued or re-timed notices). */
void store_outbox_attempt(void);
void store_outbox_committed(apitoken_store_t *st);

/* ---- store_cache.c: cache size and page priorities ------------------- */

/* Before DB_ENV->open: the cache size from cfg->store_cache or the
 * store's size (see store_cache.c). */
int store_cache_size(apitoken_store_t *st, const apitoken_config_t *cfg);
/* After the databases are open: audit and outbox pages go first. */
void store_cache_priorities(apitoken_store_t *st);
/* ---- store_changes.c: change records (see store.h) ------------------ */

/*
 * Append a change record inside txn.  A transaction body calls it once
 * per token, user or client it changes in a way a reader could notice;
 * a write that touches nothing a reader keeps (audit, outbox, last-use
 * bookkeeping) simply does not call it, and then retires nothing and ends
 * no reader's snapshot.
 */
int store_change_add(apitoken_store_t *st, DB_TXN *txn,
                     apitoken_change_kind_t kind, const void *subject,
                     size_t len);
int store_change_token(apitoken_store_t *st, DB_TXN *txn,
                       const uint8_t h[APITOKEN_HASH_LEN]);
int store_change_name(apitoken_store_t *st, DB_TXN *txn,
                      apitoken_change_kind_t kind, const char *name);
/* store_write(): reset before each attempt; after a commit, the seq of
 * the last record this attempt wrote (0 if none). */
void store_changes_reset(void);
uint64_t store_changes_written(void);
/* After a commit with records: raise the visible seq, call the hook. */
void store_changes_committed(apitoken_store_t *st, uint64_t last);
/* At open: the visible seq starts at the last committed record. */
int store_changes_init(apitoken_store_t *st);

/* ---- store_counts.c: running counts ------------------------------------ */

#define STORE_COUNT_TOKENS "tokens"
#define STORE_COUNT_USERS "users"
#define STORE_COUNT_CLIENTS "clients"
/* Read the counter (0 if none) inside txn. */
int store_count_get(apitoken_store_t *st, DB_TXN *txn, const char *name,
                    uint64_t *v_out);
/* Add delta to the counter "count.<name>" in meta inside txn. */
int store_count_add(apitoken_store_t *st, DB_TXN *txn, const char *name,
                    int64_t delta);
/* At open for writing: count a store made before the counters. */
int store_counts_init(apitoken_store_t *st);

/* ---- store_tokens.c ------------------------------------------------- */

/* Delete the token with hash h (record, user index, expiry index) inside
 * txn; tok gets the deleted record. */
int store_token_delete(apitoken_store_t *st, DB_TXN *txn,
                       const uint8_t h[APITOKEN_HASH_LEN],
                       struct tok_rec *tok);
/* Revoke the token of user (if any) as part of a user removal.  0 if the
 * user had none. */
int store_token_revoke_user(apitoken_store_t *st, DB_TXN *txn,
                            const char *user, const char *email, int64_t now,
                            apitoken_audit_event_t event,
                            const apitoken_actor_t *actor, const char *detail);

/* ---- store_tombstone.c ---------------------------------------------- */

#define STORE_DB_TOMBSTONES "tombstones.db"
#define STORE_TOMB_KEY_LEN 16

/* Open (creating it and the key unless read-only) inside open_dbs. */
int store_tombstones_open(apitoken_store_t *st, DB_TXN *txn);
void store_tombstones_close(apitoken_store_t *st);
/* Remember that the token with hash h ended (why: its audit event). */
int store_tombstone_put(apitoken_store_t *st, DB_TXN *txn,
                        const uint8_t h[APITOKEN_HASH_LEN],
                        const struct tok_rec *t, apitoken_audit_event_t why,
                        int64_t now);
/* The tombstone of hash h: 0, APITOKEN_ERR_NOT_FOUND or an error. */
int store_tombstone_get(apitoken_store_t *st, DB_TXN *txn,
                        const uint8_t h[APITOKEN_HASH_LEN],
                        apitoken_identity_t *out);

/* ---- store_lastuse.c ------------------------------------------------ */

#define STORE_DB_LASTUSE "lastuse.db"

/* Open (creating unless read-only) inside open_dbs; free at close. */
int store_lastuse_open(apitoken_store_t *st, DB_TXN *txn);
void store_lastuse_close(apitoken_store_t *st);

/* ---- store_rep.c: replication (apitoken/store_rep.h) ----------------- */

/* Before the environment opens: configure repmgr (adds DB_INIT_REP to
 * *env_flags) or note an offline open of a group member. */
int store_rep_prepare(apitoken_store_t *st, const apitoken_config_t *cfg,
                      unsigned flags, u_int32_t *env_flags);
/* After it opened, before any database: start repmgr and wait until this
 * site is master or synced; clears *create on a replica. */
int store_rep_start(apitoken_store_t *st, bool *create);
void store_rep_destroy(apitoken_store_t *st);
/* Around every write transaction: refuse where writes may not happen;
 * after a commit returned 0, an error if a quorum did not confirm it. */
int store_rep_write_begin(apitoken_store_t *st);
int store_rep_write_done(apitoken_store_t *st);
/* store_write(): just before txn->commit(), when a confirmed commit
 * renews a master's lease from (every replica that acknowledges it heard
 * from the master after this). */
void store_rep_commit_begins(apitoken_store_t *st);
/* Replication rolled back commits this site had: its database handles
 * are dead until the store is reopened (apitoken_store_rep_dead()). */
void store_rep_handle_dead(void);
/* A replica: replicated commits do not move the write epoch. */
bool store_rep_is_replica(apitoken_store_t *st);

#endif /* APITOKEN_STORE_INT_H */
