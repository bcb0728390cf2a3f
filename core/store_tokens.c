/*
 * Tokens: issue, replace, revoke, check, purge, listing.
 *
 * A token lives in three places that always change together, in one
 * transaction: tokens (hash -> record), user_token (user -> hash) and
 * expiry (exp + hash).  Revocation and expiry delete all three, so nothing
 * of the hash remains; the audit record names the public id.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/policy.h>

#include "store_int.h"

#define TOKEN_REC_BUF 256 /* a token record is about 120 bytes */
#define USER_REC_BUF 8192 /* a user record with 64 units fits */

static void
hash_key(DBT *key, const uint8_t *h)
{
	memset(key, 0, sizeof(*key));
	key->data = (void *)h;
	key->size = APITOKEN_HASH_LEN;
}

static void
info_from(const struct tok_rec *t, apitoken_token_info_t *info)
{
	if (info == NULL)
		return;
	memset(info, 0, sizeof(*info));
	memcpy(info->id, t->id, sizeof(info->id));
	memcpy(info->user, t->user, sizeof(info->user));
	memcpy(info->hint, t->hint, sizeof(info->hint));
	info->iat = t->iat;
	info->exp = t->exp;
}

/* Read and decode the token record with hash h. */
static int
token_read(apitoken_store_t *st, DB_TXN *txn, const uint8_t *h,
           u_int32_t flags, struct tok_rec *t)
{
	uint8_t buf[TOKEN_REC_BUF];
	DBT key, data;
	int ret;

	hash_key(&key, h);
	memset(&data, 0, sizeof(data));
	data.data = buf;
	data.ulen = sizeof(buf);
	data.flags = DB_DBT_USERMEM;
	ret = st->tokens->get(st->tokens, txn, &key, &data, flags);
	if (ret == DB_NOTFOUND)
		return apitoken_error(APITOKEN_ERR_NOT_FOUND, "no such token");
	if (ret == DB_BUFFER_SMALL)
		return apitoken_error(APITOKEN_ERR_CORRUPT,
		                      "store: malformed token record");
	if (ret != 0)
		return store_dberr(ret, "read token");
	return tok_decode(buf, data.size, t);
}

static int
token_write(apitoken_store_t *st, DB_TXN *txn, const uint8_t *h,
            const struct tok_rec *t)
{
	uint8_t ekey[STORE_EXPIRY_KEY_LEN];
	struct wbuf w;
	DBT key, data;
	int rc, ret;

	wbuf_init(&w);
	rc = tok_encode(t, &w);
	if (rc != 0)
		goto out;
	hash_key(&key, h);
	memset(&data, 0, sizeof(data));
	data.data = w.p;
	data.size = (u_int32_t)w.len;
	ret = st->tokens->put(st->tokens, txn, &key, &data, DB_NOOVERWRITE);
	if (ret == DB_KEYEXIST) {
		/* 2^-256: a broken random generator, not bad luck. */
		rc = apitoken_error(APITOKEN_ERR_INTERNAL,
		                    "token collision; random generator?");
		goto out;
	}
	if (ret != 0) {
		rc = store_dberr(ret, "write token");
		goto out;
	}
	w.len = 0;
	rc = hashref_encode(h, &w);
	if (rc != 0)
		goto out;
	memset(&key, 0, sizeof(key));
	key.data = (void *)t->user;
	key.size = (u_int32_t)strlen(t->user);
	data.data = w.p;
	data.size = (u_int32_t)w.len;
	ret = st->user_token->put(st->user_token, txn, &key, &data, 0);
	if (ret != 0) {
		rc = store_dberr(ret, "write user index");
		goto out;
	}
	store_expiry_key(ekey, t->exp, h);
	memset(&key, 0, sizeof(key));
	key.data = ekey;
	key.size = sizeof(ekey);
	data.data = w.p; /* version byte + hash, unused */
	data.size = 1;
	ret = st->expiry->put(st->expiry, txn, &key, &data, 0);
	if (ret != 0) {
		rc = store_dberr(ret, "write expiry index");
		goto out;
	}
	/* No kept answer can exist for a new hash; the record is for
	 * readers that keep "unknown" too. */
	rc = store_count_add(st, txn, STORE_COUNT_TOKENS, 1);
	if (rc == 0)
		rc = store_change_token(st, txn, h);
out:
	wbuf_free(&w);
	return rc;
}

/* The hash of user's current token: 0, NOT_FOUND or an error. */
static int
user_token_read(apitoken_store_t *st, DB_TXN *txn, const char *user,
                u_int32_t flags, uint8_t h[APITOKEN_HASH_LEN])
{
	uint8_t buf[64];
	DBT key, data;
	int ret;

	memset(&key, 0, sizeof(key));
	key.data = (void *)user;
	key.size = (u_int32_t)strlen(user);
	memset(&data, 0, sizeof(data));
	data.data = buf;
	data.ulen = sizeof(buf);
	data.flags = DB_DBT_USERMEM;
	ret = st->user_token->get(st->user_token, txn, &key, &data, flags);
	if (ret == DB_NOTFOUND)
		return apitoken_error(APITOKEN_ERR_NOT_FOUND,
		                      "user %s has no token", user);
	if (ret == DB_BUFFER_SMALL)
		return apitoken_error(APITOKEN_ERR_CORRUPT,
		                      "store: malformed user index record");
	if (ret != 0)
		return store_dberr(ret, "read user index");
	return hashref_decode(buf, data.size, h);
}

static int
del_key(DB *db, DB_TXN *txn, const void *k, size_t len, const char *what)
{
	DBT key;
	int ret;

	memset(&key, 0, sizeof(key));
	key.data = (void *)k;
	key.size = (u_int32_t)len;
	ret = db->del(db, txn, &key, 0);
	if (ret != 0 && ret != DB_NOTFOUND)
		return store_dberr(ret, what);
	return 0;
}

int
store_token_delete(apitoken_store_t *st, DB_TXN *txn,
                   const uint8_t h[APITOKEN_HASH_LEN], struct tok_rec *tok)
{
	uint8_t ekey[STORE_EXPIRY_KEY_LEN], cur[APITOKEN_HASH_LEN];
	int rc;

	rc = token_read(st, txn, h, DB_RMW, tok);
	if (rc != 0)
		return rc;
	rc = del_key(st->tokens, txn, h, APITOKEN_HASH_LEN, "delete token");
	if (rc == 0)
		rc = store_count_add(st, txn, STORE_COUNT_TOKENS, -1);
	if (rc != 0)
		return rc;
	store_expiry_key(ekey, tok->exp, h);
	rc = del_key(st->expiry, txn, ekey, sizeof(ekey),
	             "delete expiry index");
	if (rc != 0)
		return rc;
	rc = user_token_read(st, txn, tok->user, DB_RMW, cur);
	if (rc == APITOKEN_ERR_NOT_FOUND)
		return 0;
	if (rc != 0 && rc != APITOKEN_ERR_CORRUPT)
		return rc;
	if (rc == APITOKEN_ERR_CORRUPT || memcmp(cur, h, sizeof(cur)) == 0)
		rc = del_key(st->user_token, txn, tok->user, strlen(tok->user),
		             "delete user index");
	OPENSSL_cleanse(cur, sizeof(cur));
	return rc;
}

/*
 * End the token with hash h of user inside txn: delete it (record, user
 * index, expiry index), a change record, a tombstone, an audit record and
 * the notice (NULL: none).  NOT_FOUND if there is no such record; an
 * unreadable one is dropped, and is NOT_FOUND too.
 */
static int
revoke_hash(apitoken_store_t *st, DB_TXN *txn,
            const uint8_t h[APITOKEN_HASH_LEN], const char *user,
            const char *email, int64_t now, apitoken_audit_event_t event,
            const apitoken_actor_t *actor, const char *detail,
            const char *notice, struct tok_rec *tok_out)
{
	int rc;

	rc = store_token_delete(st, txn, h, tok_out);
	if (rc == APITOKEN_ERR_CORRUPT) {
		/* Unreadable, so unusable: drop it (its expiry entry goes
		 * with the next purge, which finds no record). */
		apitoken_log(APITOKEN_LOG_WARNING,
		             "store: dropping a malformed token record of %s",
		             user);
		rc = del_key(st->tokens, txn, h, APITOKEN_HASH_LEN,
		             "delete token");
		if (rc == 0)
			rc = store_count_add(st, txn, STORE_COUNT_TOKENS, -1);
		if (rc == 0)
			rc = store_change_token(st, txn, h);
		if (rc == 0)
			rc = APITOKEN_ERR_NOT_FOUND;
	} else if (rc == 0) {
		rc = store_change_token(st, txn, h);
	}
	if (rc == 0)
		rc = store_tombstone_put(st, txn, h, tok_out, event, now);
	if (rc != 0)
		return rc;
	rc = store_audit_append(st, txn, now, event, user, tok_out->id, actor,
	                        detail);
	if (rc == 0 && notice != NULL)
		rc = store_notice_queue(st, txn, now, notice, tok_out, email,
		                        actor);
	return rc;
}

/*
 * The hashes of user's token records (*hashes_out malloc'ed, *n_out of
 * them), found by decoding every record of tokens.  Only for a user whose
 * user index entry is unreadable: nothing else says which token is
 * theirs, and that should never happen, so a full scan is fine.  Records
 * that do not decode are skipped: whose they are is unknown.
 *
 * Read committed: the walk holds no read lock on every page of tokens
 * until the commit.  That is enough: a token of user is written only by
 * issue_txn, which holds user's record with DB_RMW, and so does every
 * caller of this, so none can appear behind the cursor.
 */
static int
user_tokens_scan(apitoken_store_t *st, DB_TXN *txn, const char *user,
                 uint8_t (**hashes_out)[APITOKEN_HASH_LEN], size_t *n_out)
{
	uint8_t(*hashes)[APITOKEN_HASH_LEN] = NULL;
	uint8_t(*grown)[APITOKEN_HASH_LEN];
	struct tok_rec t;
	size_t n = 0, cap = 0, skipped = 0;
	DBC *cur = NULL;
	DBT key, data;
	int rc = 0, ret;

	*hashes_out = NULL;
	*n_out = 0;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_REALLOC;
	ret = st->tokens->cursor(st->tokens, txn, &cur, DB_READ_COMMITTED);
	if (ret != 0) {
		rc = store_dberr(ret, "tokens cursor");
		goto out;
	}
	while ((ret = cur->get(cur, &key, &data, DB_NEXT)) == 0) {
		if (key.size != APITOKEN_HASH_LEN ||
		    tok_decode(data.data, data.size, &t) != 0) {
			skipped++;
			continue;
		}
		if (strcmp(t.user, user) != 0)
			continue;
		if (n == cap) {
			cap = cap == 0 ? 2 : cap * 2;
			grown = realloc(hashes, cap * sizeof(*hashes));
			if (grown == NULL) {
				rc = apitoken_error(APITOKEN_ERR_NOMEM,
				                    "out of memory");
				goto out;
			}
			hashes = grown;
		}
		memcpy(hashes[n++], key.data, APITOKEN_HASH_LEN);
	}
	if (ret != DB_NOTFOUND) {
		rc = store_dberr(ret, "read tokens");
		goto out;
	}
	if (skipped > 0) {
		/* tok_decode() set an error; the scan did not fail. */
		apitoken_error_clear();
		apitoken_log(
		    APITOKEN_LOG_WARNING,
		    "store: the scan for the tokens of %s skipped %zu "
		    "malformed token record(s)",
		    user, skipped);
	}
	*hashes_out = hashes;
	*n_out = n;
	hashes = NULL;
out:
	if (cur != NULL)
		(void)cur->close(cur);
	if (hashes != NULL)
		OPENSSL_cleanse(hashes, cap * sizeof(*hashes));
	free(hashes);
	if (key.data != NULL)
		OPENSSL_cleanse(key.data, key.size);
	free(key.data);
	free(data.data);
	return rc;
}

/*
 * Revoke, inside txn, the tokens of user found by a scan of tokens, for a
 * user whose index entry is unreadable or points at no token record
 * (user_tokens_scan), and drop that entry.  The audit records say how they
 * were found.  0 if any was revoked (tok_out gets the last), NOT_FOUND if user
 * had none.
 */
static int
revoke_user_scan(apitoken_store_t *st, DB_TXN *txn, const char *user,
                 const char *email, int64_t now, apitoken_audit_event_t event,
                 const apitoken_actor_t *actor, const char *detail,
                 const char *notice, struct tok_rec *tok_out)
{
	uint8_t(*hashes)[APITOKEN_HASH_LEN] = NULL;
	struct tok_rec t;
	char why[128];
	size_t i, n = 0, revoked = 0;
	int rc;

	apitoken_log(APITOKEN_LOG_WARNING,
	             "store: the token index entry of %s is malformed or "
	             "points at no token; looking for their tokens by a scan",
	             user);
	rc = user_tokens_scan(st, txn, user, &hashes, &n);
	if (rc != 0)
		goto out;
	(void)snprintf(why, sizeof(why), "user index was corrupt%s%s",
	               detail[0] != '\0' ? "; " : "", detail);
	for (i = 0; i < n; i++) {
		/* NOT_FOUND: ended meanwhile (a purge we waited for). */
		rc = revoke_hash(st, txn, hashes[i], user, email, now, event,
		                 actor, why, notice, &t);
		if (rc == APITOKEN_ERR_NOT_FOUND)
			continue;
		if (rc != 0)
			goto out;
		*tok_out = t;
		revoked++;
	}
	/* store_token_delete() dropped the entry if it found a token;
	 * without one it is still there. */
	rc = del_key(st->user_token, txn, user, strlen(user),
	             "delete user index");
	if (rc != 0)
		goto out;
	if (revoked > 0)
		apitoken_log(
		    APITOKEN_LOG_WARNING,
		    "store: revoked %zu token(s) of %s found by a scan",
		    revoked, user);
	else
		rc = apitoken_error(APITOKEN_ERR_NOT_FOUND,
		                    "user %s has no token", user);
out:
	if (hashes != NULL)
		OPENSSL_cleanse(hashes, n * sizeof(*hashes));
	free(hashes);
	return rc;
}

/*
 * Does user have a token?  0 if so, NOT_FOUND if not.  The index entry
 * answers, unless it is unreadable or points at no token record of
 * user's: then a scan does (user_tokens_scan), and without a token the
 * entry is dropped.  A damaged entry of a user with a token stays for a
 * regeneration to mend (revoke_user_token()).
 */
static int
user_token_live(apitoken_store_t *st, DB_TXN *txn, const char *user)
{
	uint8_t h[APITOKEN_HASH_LEN];
	uint8_t(*hashes)[APITOKEN_HASH_LEN] = NULL;
	struct tok_rec t;
	size_t n = 0;
	int rc;

	rc = user_token_read(st, txn, user, DB_RMW, h);
	if (rc == 0) {
		rc = token_read(st, txn, h, DB_RMW, &t);
		if (rc == 0 && strcmp(t.user, user) == 0)
			goto out;
		if (rc != 0 && rc != APITOKEN_ERR_NOT_FOUND &&
		    rc != APITOKEN_ERR_CORRUPT)
			goto out;
	} else if (rc != APITOKEN_ERR_CORRUPT) {
		goto out;
	}
	apitoken_log(APITOKEN_LOG_WARNING,
	             "store: the token index entry of %s is malformed or "
	             "points at no token; looking for their token by a scan",
	             user);
	rc = user_tokens_scan(st, txn, user, &hashes, &n);
	if (rc != 0 || n > 0)
		goto out;
	rc = del_key(st->user_token, txn, user, strlen(user),
	             "delete user index");
	if (rc == 0)
		rc = apitoken_error(APITOKEN_ERR_NOT_FOUND,
		                    "user %s has no token", user);
out:
	OPENSSL_cleanse(h, sizeof(h));
	if (hashes != NULL)
		OPENSSL_cleanse(hashes, n * sizeof(*hashes));
	free(hashes);
	return rc;
}

/*
 * Revoke user's token inside txn: NOT_FOUND if none.  A user index entry
 * that is unreadable, or points at no token record, says nothing of the
 * user's token, which would stay active (a token is checked by its record
 * alone): the token is found by a scan instead, and the entry dropped.
 * store_token_delete() drops an entry with its token, so neither happens
 * in a store that is not damaged.
 */
static int
revoke_user_token(apitoken_store_t *st, DB_TXN *txn, const char *user,
                  const char *email, int64_t now, apitoken_audit_event_t event,
                  const apitoken_actor_t *actor, const char *detail,
                  const char *notice, struct tok_rec *tok_out)
{
	uint8_t h[APITOKEN_HASH_LEN];
	int rc;

	rc = user_token_read(st, txn, user, DB_RMW, h);
	if (rc == APITOKEN_ERR_CORRUPT)
		return revoke_user_scan(st, txn, user, email, now, event,
		                        actor, detail, notice, tok_out);
	if (rc != 0)
		return rc;
	rc = revoke_hash(st, txn, h, user, email, now, event, actor, detail,
	                 notice, tok_out);
	OPENSSL_cleanse(h, sizeof(h));
	if (rc == APITOKEN_ERR_NOT_FOUND)
		return revoke_user_scan(st, txn, user, email, now, event,
		                        actor, detail, notice, tok_out);
	return rc;
}

int
store_token_revoke_user(apitoken_store_t *st, DB_TXN *txn, const char *user,
                        const char *email, int64_t now,
                        apitoken_audit_event_t event,
                        const apitoken_actor_t *actor, const char *detail)
{
	struct tok_rec t;
	int rc;

	rc = revoke_user_token(st, txn, user, email, now, event, actor, detail,
	                       "revoked", &t);
	return rc == APITOKEN_ERR_NOT_FOUND ? 0 : rc;
}

/* ---- issue ----------------------------------------------------------- */

struct issue_op {
	const char *user;
	unsigned flags;
	const apitoken_actor_t *actor;
	int64_t now;
	uint8_t hash[APITOKEN_HASH_LEN];
	struct tok_rec tok;
	struct tok_rec old;
	bool replaced;
};

static int
issue_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	struct issue_op *op = arg;
	struct user_view v;
	void *raw = NULL;
	char detail[64];
	int rc;

	op->replaced = false;
	rc = store_user_read(st, txn, op->user, DB_RMW, &raw, &v);
	if (rc != 0)
		return rc;
	if (!v.api_access) {
		rc = apitoken_error(APITOKEN_ERR_DISABLED,
		                    "API-token access is disabled for user %s",
		                    op->user);
		goto out;
	}
	/*
	 * Without replace, a user with a token is refused, also when their
	 * index entry is damaged (user_token_live() scans): a token they
	 * have stays active until revoked (a check reads the record alone),
	 * and a new one would be a second.  With replace,
	 * revoke_user_token() finds it the same way.
	 */
	if (!(op->flags & APITOKEN_ISSUE_REPLACE)) {
		rc = user_token_live(st, txn, op->user);
		if (rc == 0) {
			rc = apitoken_error(APITOKEN_ERR_EXISTS,
			                    "user %s already has a token; use "
			                    "--replace to regenerate",
			                    op->user);
			goto out;
		}
		if (rc != APITOKEN_ERR_NOT_FOUND)
			goto out;
	} else {
		(void)snprintf(detail, sizeof(detail), "replaced by %s",
		               op->tok.id);
		/* One mail for a regeneration: the "regenerated" notice
		 * below, naming the new token. */
		rc = revoke_user_token(st, txn, op->user, v.email, op->now,
		                       APITOKEN_AUDIT_REPLACED, op->actor,
		                       detail, NULL, &op->old);
		if (rc == 0)
			op->replaced = true;
		else if (rc != APITOKEN_ERR_NOT_FOUND)
			goto out;
	}
	rc = token_write(st, txn, op->hash, &op->tok);
	if (rc != 0)
		goto out;
	if (op->replaced)
		(void)snprintf(detail, sizeof(detail), "replaces %s",
		               op->old.id);
	else
		detail[0] = '\0';
	rc = store_audit_append(st, txn, op->now, APITOKEN_AUDIT_ISSUED,
	                        op->user, op->tok.id, op->actor, detail);
	if (rc != 0)
		goto out;
	rc = store_notice_queue(st, txn, op->now,
	                        op->replaced ? "regenerated" : "created",
	                        &op->tok, v.email, op->actor);
out:
	free(raw);
	return rc;
}

int
apitoken_token_issue_as(apitoken_store_t *store, const char *user,
                        unsigned flags, const apitoken_actor_t *actor,
                        char token_out[APITOKEN_TOKEN_LEN + 1],
                        apitoken_token_info_t *info_out)
{
	struct issue_op op;
	char token[APITOKEN_TOKEN_LEN + 1];
	int rc;

	if (info_out != NULL)
		memset(info_out, 0, sizeof(*info_out));
	if (store == NULL || token_out == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	token_out[0] = '\0';
	if (!apitoken_user_name_valid(user))
		return apitoken_error(APITOKEN_ERR_NOT_FOUND,
		                      "no such user (invalid name)");
	memset(&op, 0, sizeof(op));
	op.user = user;
	op.flags = flags;
	op.actor = actor;
	op.now = apitoken_now();
	rc = apitoken_token_create(APITOKEN_TOKEN_PREFIX, token);
	if (rc == 0)
		rc = apitoken_token_id_create(op.tok.id);
	if (rc != 0)
		goto out;
	rc = apitoken_token_hash(token, APITOKEN_TOKEN_LEN, op.hash);
	if (rc != 0)
		goto out;
	memcpy(op.tok.user, user, strlen(user) + 1);
	memcpy(op.tok.hint, token + APITOKEN_TOKEN_LEN - 4, 4);
	op.tok.iat = op.now;
	op.tok.exp = op.now + store_cfg(store)->token_lifetime;
	op.tok.reminded = 0;
	rc = store_write(store, issue_txn, &op);
	if (rc != 0)
		goto out;
	memcpy(token_out, token, sizeof(token));
	info_from(&op.tok, info_out);
	if (op.replaced)
		apitoken_log(APITOKEN_LOG_INFO,
		             "token %s of %s replaced by %s", op.old.id, user,
		             op.tok.id);
	else
		apitoken_log(APITOKEN_LOG_INFO, "token %s issued to %s",
		             op.tok.id, user);
out:
	OPENSSL_cleanse(token, sizeof(token));
	OPENSSL_cleanse(op.hash, sizeof(op.hash));
	return rc;
}

/* ---- revoke ---------------------------------------------------------- */

struct revoke_op {
	const char *user;    /* revoke by user, or */
	const uint8_t *hash; /* by secret */
	const char *only_user;
	apitoken_audit_event_t event;
	const apitoken_actor_t *actor;
	apitoken_actor_t by; /* the notice's, for a leak */
	int64_t now;
	struct tok_rec tok;
};

static int
revoke_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	struct revoke_op *op = arg;
	struct user_view v;
	void *raw = NULL;
	int rc;

	rc = store_user_read(st, txn, op->user, DB_RMW, &raw, &v);
	if (rc != 0)
		return rc;
	rc = revoke_user_token(st, txn, op->user, v.email, op->now,
	                       APITOKEN_AUDIT_REVOKED, op->actor, "",
	                       "revoked", &op->tok);
	free(raw);
	return rc;
}

int
apitoken_token_revoke_as(apitoken_store_t *store, const char *user,
                         const apitoken_actor_t *actor,
                         apitoken_token_info_t *info_out)
{
	struct revoke_op op;
	int rc;

	if (info_out != NULL)
		memset(info_out, 0, sizeof(*info_out));
	if (store == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	if (!apitoken_user_name_valid(user))
		return apitoken_error(APITOKEN_ERR_NOT_FOUND,
		                      "no such user (invalid name)");
	memset(&op, 0, sizeof(op));
	op.user = user;
	op.actor = actor;
	op.now = apitoken_now();
	rc = store_write(store, revoke_txn, &op);
	if (rc == 0) {
		info_from(&op.tok, info_out);
		apitoken_log(APITOKEN_LOG_INFO, "token %s of %s revoked",
		             op.tok.id, user);
	}
	return rc;
}

/*
 * The mail's "By:" line: for a leaked token also where it was found (the
 * actor's reason), so that its owner knows what to clean up.
 */
static const apitoken_actor_t *
notice_actor(struct revoke_op *op, char *buf, size_t size)
{
	size_t n;

	if (op->event != APITOKEN_AUDIT_LEAK_REPORTED || op->actor == NULL ||
	    op->actor->reason == NULL)
		return op->actor;
	apitoken_actor_describe(op->actor, buf, size);
	n = strlen(buf);
	(void)snprintf(buf + n, size - n, ", %s", op->actor->reason);
	op->by.kind = APITOKEN_ACTOR_OTHER;
	op->by.id = buf;
	return &op->by;
}

static int
revoke_secret_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	struct revoke_op *op = arg;
	char by[STORE_ORIGIN_MAX + 1];
	struct user_view v;
	void *raw = NULL;
	int rc;

	rc = token_read(st, txn, op->hash, DB_RMW, &op->tok);
	if (rc == APITOKEN_ERR_CORRUPT)
		return apitoken_error(APITOKEN_ERR_NOT_FOUND, "no such token");
	if (rc != 0)
		return rc;
	if (op->only_user != NULL && strcmp(op->only_user, op->tok.user) != 0)
		return apitoken_error(
		    APITOKEN_ERR_DENIED, "the token does not belong to %s",
		    apitoken_user_name_valid(op->only_user) ? op->only_user
		                                            : "that user");
	rc = store_token_delete(st, txn, op->hash, &op->tok);
	if (rc == 0)
		rc = store_change_token(st, txn, op->hash);
	if (rc == 0)
		rc = store_tombstone_put(st, txn, op->hash, &op->tok,
		                         op->event, op->now);
	if (rc != 0)
		return rc;
	rc = store_user_read(st, txn, op->tok.user, DB_RMW, &raw, &v);
	if (rc == APITOKEN_ERR_NOT_FOUND || rc == APITOKEN_ERR_CORRUPT) {
		v.email = "";
		rc = 0;
	}
	if (rc == 0)
		rc = store_audit_append(st, txn, op->now, op->event,
		                        op->tok.user, op->tok.id, op->actor,
		                        "revoked with the token itself");
	if (rc == 0)
		rc = store_notice_queue(st, txn, op->now, "revoked", &op->tok,
		                        v.email,
		                        notice_actor(op, by, sizeof(by)));
	free(raw);
	return rc;
}

int
apitoken_token_revoke_secret_as(apitoken_store_t *store, const char *token,
                                size_t len, const char *only_user,
                                apitoken_audit_event_t event,
                                const apitoken_actor_t *actor,
                                apitoken_token_info_t *info_out)
{
	struct revoke_op op;
	uint8_t h[APITOKEN_HASH_LEN];
	int rc;

	if (info_out != NULL)
		memset(info_out, 0, sizeof(*info_out));
	if (store == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	if (token == NULL ||
	    apitoken_token_parse(APITOKEN_TOKEN_PREFIX, token, len) != 0)
		return apitoken_error(APITOKEN_ERR_NOT_FOUND, "no such token");
	rc = apitoken_token_hash(token, len, h);
	if (rc != 0)
		return rc;
	memset(&op, 0, sizeof(op));
	op.hash = h;
	op.only_user = only_user;
	op.event = event == APITOKEN_AUDIT_LEAK_REPORTED
	               ? event
	               : APITOKEN_AUDIT_REVOKED;
	op.actor = actor;
	op.now = apitoken_now();
	rc = store_write(store, revoke_secret_txn, &op);
	OPENSSL_cleanse(h, sizeof(h));
	if (rc == 0) {
		info_from(&op.tok, info_out);
		apitoken_log(APITOKEN_LOG_INFO, "token %s of %s revoked",
		             op.tok.id, op.tok.user);
	}
	return rc;
}

/* ---- reads ----------------------------------------------------------- */

int
apitoken_token_get(apitoken_store_t *store, const char *user,
                   apitoken_token_info_t *info_out)
{
	uint8_t h[APITOKEN_HASH_LEN];
	struct tok_rec t;
	DB_TXN *txn = NULL;
	int rc;

	if (info_out != NULL)
		memset(info_out, 0, sizeof(*info_out));
	if (store == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	if (!apitoken_user_name_valid(user))
		return apitoken_error(APITOKEN_ERR_NOT_FOUND,
		                      "no such user (invalid name)");
	rc = store_read_begin(store, &txn);
	if (rc != 0)
		return rc;
	rc = user_token_read(store, txn, user, 0, h);
	if (rc == 0)
		rc = token_read(store, txn, h, 0, &t);
	if (rc == APITOKEN_ERR_NOT_FOUND)
		rc = apitoken_error(APITOKEN_ERR_NOT_FOUND,
		                    "user %s has no token", user);
	if (rc == 0)
		info_from(&t, info_out);
	store_read_end(store, txn);
	if (rc == STORE_RETRY)
		rc = apitoken_error(APITOKEN_ERR_STORE, "store: busy");
	return rc;
}

struct token_walk {
	apitoken_token_fn fn;
	void *ctx;
};

static int
token_visit(apitoken_store_t *st, DB_TXN *txn, const DBT *key, const DBT *data,
            void *arg)
{
	struct token_walk *w = arg;
	apitoken_token_info_t info;
	struct tok_rec t;
	int rc;

	(void)data;
	if (key->size != STORE_EXPIRY_KEY_LEN)
		return apitoken_error(APITOKEN_ERR_CORRUPT,
		                      "store: malformed expiry key");
	rc = token_read(st, txn, (uint8_t *)key->data + 8, 0, &t);
	if (rc == APITOKEN_ERR_NOT_FOUND)
		return 0;
	if (rc != 0)
		return rc;
	info_from(&t, &info);
	return w->fn(&info, w->ctx);
}

int
apitoken_token_foreach(apitoken_store_t *store, apitoken_token_fn fn,
                       void *ctx)
{
	struct token_walk w = {fn, ctx};

	if (store == NULL || fn == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	/* The expiry index gives soonest-first order. */
	return store_walk(store, store->expiry, "expiry index", token_visit,
	                  &w);
}

void
apitoken_claims_clear(apitoken_claims_t *claims)
{
	if (claims == NULL)
		return;
	/* username heads the one block that also holds role and the
	 * units (claims_fill). */
	free(claims->username);
	free(claims->scope);
	memset(claims, 0, sizeof(*claims));
}

/*
 * Fill the claims of an active token.  Username, role and the units are
 * copied into one allocation (username first, so claims_clear() frees it
 * through username; the units' pointer array last, aligned): a check
 * allocates twice, this block and the scope, not once per string.
 */
static int
claims_fill(const apitoken_config_t *cfg, const struct tok_rec *t,
            const struct user_view *v, apitoken_claims_t *c)
{
	const char *src[2 + STORE_BUS_MAX];
	size_t len[2 + STORE_BUS_MAX];
	size_t i, n = 2 + v->n_bus, strings = 0, array;
	char *block, *p;
	int rc;

	if (v->n_bus > STORE_BUS_MAX)
		return apitoken_error(APITOKEN_ERR_CORRUPT,
		                      "store: too many business units");
	src[0] = t->user;
	src[1] = v->role;
	for (i = 0; i < v->n_bus; i++)
		src[2 + i] = v->bus[i];
	for (i = 0; i < n; i++) {
		len[i] = strlen(src[i]) + 1;
		strings += len[i];
	}
	array =
	    (strings + sizeof(char *) - 1) / sizeof(char *) * sizeof(char *);
	block = malloc(array + v->n_bus * sizeof(char *));
	if (block == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	c->bus = v->n_bus > 0 ? (char **)(void *)(block + array) : NULL;
	for (i = 0, p = block; i < n; p += len[i], i++) {
		memcpy(p, src[i], len[i]);
		if (i >= 2)
			c->bus[i - 2] = p;
	}
	c->username = block;
	c->role = block + len[0];
	c->n_bus = v->n_bus;
	rc = apitoken_policy_scope(cfg, c->role, c->bus, c->n_bus, &c->scope);
	if (rc != 0)
		return rc;
	memcpy(c->jti, t->id, sizeof(c->jti));
	c->iat = t->iat;
	c->exp = t->exp;
	c->active = true;
	return 0;
}

/*
 * The hot path: two point reads in one snapshot transaction into stack
 * buffers: no locks, no allocation but the claims handed back.
 */
int
apitoken_token_check_hash(apitoken_store_t *store,
                          const uint8_t h[APITOKEN_HASH_LEN], int64_t now,
                          apitoken_claims_t *claims_out)
{
	uint8_t ubuf[USER_REC_BUF];
	struct tok_rec t;
	struct user_view v;
	DB_TXN *txn = NULL;
	DBT key, data;
	int rc, ret;

	if (claims_out == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no claims");
	memset(claims_out, 0, sizeof(*claims_out));
	if (store == NULL || h == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "no store or hash");
	rc = store_read_begin_answer(store, &txn);
	if (rc != 0)
		goto out;
	rc = token_read(store, txn, h, 0, &t);
	if (rc == APITOKEN_ERR_NOT_FOUND) {
		rc = 0;
		goto out;
	}
	if (rc != 0)
		goto out;
	if (now >= t.exp)
		goto out;
	memset(&key, 0, sizeof(key));
	key.data = t.user;
	key.size = (u_int32_t)strlen(t.user);
	memset(&data, 0, sizeof(data));
	data.data = ubuf;
	data.ulen = sizeof(ubuf);
	data.flags = DB_DBT_USERMEM;
	ret = store->users->get(store->users, txn, &key, &data, 0);
	if (ret == DB_NOTFOUND)
		goto out;
	if (ret == DB_BUFFER_SMALL) {
		rc = apitoken_error(APITOKEN_ERR_CORRUPT,
		                    "store: malformed user record");
		goto out;
	}
	if (ret != 0) {
		rc = store_dberr(ret, "read user");
		goto out;
	}
	rc = user_decode(ubuf, data.size, &v);
	if (rc != 0 || !v.api_access)
		goto out;
	rc = claims_fill(store_cfg(store), &t, &v, claims_out);
out:
	store_read_end(store, txn);
	if (rc == STORE_RETRY)
		rc = apitoken_error(APITOKEN_ERR_STORE, "store: busy");
	if (rc != 0) {
		(void)store_note(rc);
		apitoken_claims_clear(claims_out);
		apitoken_log(APITOKEN_LOG_ERR, "token check failed: %s",
		             apitoken_last_error());
	}
	return rc;
}

/* Syntax first: garbage never reaches the store. */
int
apitoken_token_check(apitoken_store_t *store, const char *token, size_t len,
                     int64_t now, apitoken_claims_t *claims_out)
{
	uint8_t h[APITOKEN_HASH_LEN];
	int rc;

	if (claims_out == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no claims");
	memset(claims_out, 0, sizeof(*claims_out));
	if (store == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	if (token == NULL ||
	    apitoken_token_parse(APITOKEN_TOKEN_PREFIX, token, len) != 0) {
		apitoken_error_clear();
		return 0;
	}
	rc = apitoken_token_hash(token, len, h);
	if (rc == 0)
		rc = apitoken_token_check_hash(store, h, now, claims_out);
	OPENSSL_cleanse(h, sizeof(h));
	return rc;
}

/* ---- purge ------------------------------------------------------------ */

struct purge_op {
	int64_t now;
	int64_t clock; /* the real time when the purge began */
	size_t batch;  /* deleted in the last committed batch */
	bool finished;
};

static const apitoken_actor_t purge_actor = {.kind = APITOKEN_ACTOR_SYSTEM,
                                             .id = "purge"};

static int
purge_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	struct purge_op *op = arg;
	struct tok_rec t;
	struct user_view v;
	void *raw = NULL;
	DBC *cur = NULL;
	DBT key, data;
	uint8_t h[APITOKEN_HASH_LEN];
	bool corrupt;
	int rc = 0, ret;

	op->batch = 0;
	op->finished = false;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_REALLOC;
	ret = st->expiry->cursor(st->expiry, txn, &cur, 0);
	if (ret != 0) {
		rc = store_dberr(ret, "expiry cursor");
		goto out;
	}
	for (;;) {
		if (op->batch >= STORE_PURGE_BATCH)
			goto out;
		ret = cur->get(cur, &key, &data, DB_FIRST | DB_RMW);
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0) {
			rc = store_dberr(ret, "read expiry index");
			goto out;
		}
		if (key.size != STORE_EXPIRY_KEY_LEN) {
			apitoken_log(APITOKEN_LOG_WARNING,
			             "store: removing malformed expiry key");
			ret = cur->del(cur, 0);
			if (ret != 0) {
				rc = store_dberr(ret, "delete expiry key");
				goto out;
			}
			continue;
		}
		if ((int64_t)(store_get_be64(key.data) ^ (UINT64_C(1) << 63)) >
		    op->now)
			break;
		memcpy(h, (uint8_t *)key.data + 8, sizeof(h));
		rc = store_token_delete(st, txn, h, &t);
		corrupt = rc == APITOKEN_ERR_CORRUPT;
		if (rc == APITOKEN_ERR_NOT_FOUND ||
		    rc == APITOKEN_ERR_CORRUPT) {
			/* A stale index entry or a damaged record: drop
			 * both; there is nothing to announce. */
			if (rc == APITOKEN_ERR_CORRUPT)
				apitoken_log(APITOKEN_LOG_WARNING,
				             "store: removing a malformed "
				             "expired token record");
			rc = del_key(st->tokens, txn, h, sizeof(h),
			             "delete token");
			if (rc == 0 && corrupt)
				rc = store_count_add(st, txn,
				                     STORE_COUNT_TOKENS, -1);
			if (rc == 0)
				rc = del_key(st->expiry, txn, key.data,
				             key.size, "delete expiry key");
			if (rc != 0)
				goto out;
			op->batch++;
			continue;
		}
		if (rc != 0)
			goto out;
		/*
		 * An expired token is inactive to every reader already: its
		 * deletion changes no answer.  Only a purge ahead of the
		 * clock (apitokenctl purge --now) deletes live ones.
		 */
		if (t.exp > op->clock) {
			rc = store_change_token(st, txn, h);
			if (rc != 0)
				goto out;
		}
		free(raw);
		raw = NULL;
		rc = store_user_read(st, txn, t.user, 0, &raw, &v);
		if (rc == APITOKEN_ERR_NOT_FOUND ||
		    rc == APITOKEN_ERR_CORRUPT) {
			v.email = "";
			rc = 0;
		}
		if (rc == 0)
			rc = store_tombstone_put(
			    st, txn, h, &t, APITOKEN_AUDIT_EXPIRED, op->now);
		if (rc == 0)
			rc = store_audit_append(st, txn, op->now,
			                        APITOKEN_AUDIT_EXPIRED, t.user,
			                        t.id, &purge_actor, "");
		if (rc == 0)
			rc = store_notice_queue(st, txn, op->now, "expired",
			                        &t, v.email, &purge_actor);
		if (rc != 0)
			goto out;
		op->batch++;
	}
	op->finished = true;
	if (op->batch == 0)
		rc = STORE_UNCHANGED;
out:
	OPENSSL_cleanse(h, sizeof(h));
	if (cur != NULL)
		(void)cur->close(cur);
	free(raw);
	free(key.data);
	free(data.data);
	return rc;
}

int
apitoken_store_purge(apitoken_store_t *store, int64_t now,
                     apitoken_progress_fn progress, void *ctx,
                     size_t *deleted_out)
{
	struct purge_op op;
	size_t total = 0;
	int rc;

	if (deleted_out != NULL)
		*deleted_out = 0;
	if (store == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	memset(&op, 0, sizeof(op));
	op.now = now;
	op.clock = apitoken_now();
	for (;;) {
		rc = store_write(store, purge_txn, &op);
		if (rc != 0)
			break;
		total += op.batch;
		if (progress != NULL && op.batch > 0)
			progress(total, ctx);
		if (op.finished)
			break;
	}
	if (total > 0)
		apitoken_log(APITOKEN_LOG_INFO, "purged %zu expired tokens",
		             total);
	if (deleted_out != NULL)
		*deleted_out = total;
	return rc;
}

int
apitoken_token_count_active(apitoken_store_t *store, int64_t now,
                            size_t *count_out)
{
	uint8_t zero[1];
	DB_TXN *txn = NULL;
	DBC *cur = NULL;
	DBT key, data;
	uint64_t total = 0, expired = 0;
	int rc, ret;

	if (count_out != NULL)
		*count_out = 0;
	if (store == NULL || count_out == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	rc = store_read_begin(store, &txn);
	if (rc != 0)
		return rc;
	rc = store_count_get(store, txn, STORE_COUNT_TOKENS, &total);
	if (rc != 0)
		goto out;
	/*
	 * The running count less the expired tokens not yet purged: the
	 * walk stops at the first one still valid, so after a sweep it
	 * reads a key or two instead of the whole index.
	 */
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM; /* keys only */
	data.data = zero;
	data.ulen = 0;
	data.dlen = 0;
	ret = store->expiry->cursor(store->expiry, txn, &cur, 0);
	if (ret != 0) {
		rc = store_dberr(ret, "expiry cursor");
		goto out;
	}
	while ((ret = cur->get(cur, &key, &data, DB_NEXT)) == 0) {
		if (key.size != STORE_EXPIRY_KEY_LEN)
			continue; /* the purge drops it */
		if ((int64_t)(store_get_be64(key.data) ^ (UINT64_C(1) << 63)) >
		    now)
			break;
		expired++;
	}
	if (ret != 0 && ret != DB_NOTFOUND) {
		rc = store_dberr(ret, "read expiry index");
		goto out;
	}
	*count_out = total > expired ? (size_t)(total - expired) : 0;
out:
	if (rc == STORE_RETRY)
		rc = apitoken_error(APITOKEN_ERR_STORE, "store: busy");
	if (cur != NULL)
		(void)cur->close(cur);
	free(key.data);
	store_read_end(store, txn);
	return rc;
}

/* ---- identify -------------------------------------------------------- */

const char *
apitoken_token_state_name(apitoken_token_state_t state)
{
	switch (state) {
	case APITOKEN_STATE_ACTIVE:
		return "active";
	case APITOKEN_STATE_DISABLED:
		return "disabled";
	case APITOKEN_STATE_EXPIRED:
		return "expired";
	case APITOKEN_STATE_REVOKED:
		return "revoked";
	default:
		return "unknown";
	}
}

static int
identify_live(apitoken_store_t *st, DB_TXN *txn, const struct tok_rec *t,
              int64_t now, apitoken_identity_t *out)
{
	struct user_view v;
	void *raw = NULL;
	int rc;

	info_from(t, &out->info);
	if (now >= t->exp) {
		out->state = APITOKEN_STATE_EXPIRED;
		return 0;
	}
	rc = store_user_read(st, txn, t->user, 0, &raw, &v);
	if (rc == APITOKEN_ERR_NOT_FOUND || rc == APITOKEN_ERR_CORRUPT) {
		out->state = APITOKEN_STATE_DISABLED;
		return 0;
	}
	if (rc != 0)
		return rc;
	out->state =
	    v.api_access ? APITOKEN_STATE_ACTIVE : APITOKEN_STATE_DISABLED;
	free(raw);
	return 0;
}

int
apitoken_token_identify(apitoken_store_t *store, const char *token, size_t len,
                        int64_t now, apitoken_identity_t *out)
{
	uint8_t h[APITOKEN_HASH_LEN];
	struct tok_rec t;
	DB_TXN *txn = NULL;
	int rc;

	if (out == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no result");
	memset(out, 0, sizeof(*out));
	if (store == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	if (token == NULL ||
	    apitoken_token_parse(APITOKEN_TOKEN_PREFIX, token, len) != 0) {
		apitoken_error_clear();
		return 0; /* unknown: not one of ours */
	}
	apitoken_token_hash(token, len, h);
	rc = store_read_begin(store, &txn);
	if (rc != 0)
		goto out;
	rc = token_read(store, txn, h, 0, &t);
	if (rc == 0) {
		rc = identify_live(store, txn, &t, now, out);
		goto out;
	}
	if (rc != APITOKEN_ERR_NOT_FOUND)
		goto out;
	rc = store_tombstone_get(store, txn, h, out);
	if (rc == 0)
		out->state = strcmp(out->why, "expired") == 0
		                 ? APITOKEN_STATE_EXPIRED
		                 : APITOKEN_STATE_REVOKED;
	else if (rc == APITOKEN_ERR_NOT_FOUND)
		rc = 0;
out:
	store_read_end(store, txn);
	OPENSSL_cleanse(h, sizeof(h));
	if (rc == STORE_RETRY)
		rc = apitoken_error(APITOKEN_ERR_STORE, "store: busy");
	/* After the snapshot ended: the last-use read takes its own. */
	if (rc == 0 && out->info.id[0] != '\0')
		rc = apitoken_lastuse_get(store, out->info.id, &out->last_use);
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}
