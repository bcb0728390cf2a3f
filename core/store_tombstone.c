/*
 * Tombstones: what became of a token after its record and hash were
 * deleted, so that "apitokenctl token identify" can say "revoked on ..."
 * for a token found in a log, instead of "unknown".
 *
 * The key must be computable from the token, yet the store promises to
 * keep no secret and no hash of one once a token ended.  The token's
 * public id is random, not derived from the secret, so it cannot be the
 * key.  The key is therefore HMAC-SHA-256 of the token's SHA-256 under a
 * 256-bit random key made once per store (meta "tombstone.key"), cut to
 * 128 bits:
 *   - it is no verifier: nothing accepts a token by it, and it differs
 *     from the SHA-256 that tokens.db held, so a tombstone can neither be
 *     copied back to revive a token nor be matched against SHA-256 values
 *     kept elsewhere (a resource server's cache, a log) without the key;
 *   - it can be computed from the SHA-256 alone, which is what the purge
 *     has of an expired token;
 *   - tokens carry 256 random bits, so no one learns a token from its
 *     fingerprint, with or without the key.
 * Tombstones live as long as audit records (audit_retention).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <apitoken/error.h>

#include "store_int.h"

#define TOMB_META_KEY "tombstone.key"

static int
load_key(apitoken_store_t *st, DB_TXN *txn)
{
	uint8_t buf[1 + sizeof(st->tomb_key)];
	DBT key, data;
	int ret;

	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)TOMB_META_KEY;
	key.size = sizeof(TOMB_META_KEY) - 1;
	data.data = buf;
	data.ulen = sizeof(buf);
	data.flags = DB_DBT_USERMEM;
	ret = st->meta->get(st->meta, txn, &key, &data, 0);
	if (ret == 0) {
		if (data.size != sizeof(buf) || buf[0] != STORE_REC_VERSION)
			return apitoken_error(APITOKEN_ERR_CORRUPT,
			                      "store %s: malformed %s",
			                      st->dir, TOMB_META_KEY);
		memcpy(st->tomb_key, buf + 1, sizeof(st->tomb_key));
		OPENSSL_cleanse(buf, sizeof(buf));
		st->tomb_key_ok = true;
		return 0;
	}
	if (ret != DB_NOTFOUND && ret != DB_BUFFER_SMALL)
		return store_dberr(ret, "read tombstone key");
	if (ret == DB_BUFFER_SMALL)
		return apitoken_error(APITOKEN_ERR_CORRUPT,
		                      "store %s: malformed %s", st->dir,
		                      TOMB_META_KEY);
	if (st->rdonly)
		return 0; /* an older store, read-only: no tombstones */
	buf[0] = STORE_REC_VERSION;
	if (RAND_bytes(buf + 1, (int)sizeof(st->tomb_key)) != 1)
		return apitoken_error(APITOKEN_ERR_INTERNAL,
		                      "random generator failed");
	memset(&data, 0, sizeof(data));
	data.data = buf;
	data.size = sizeof(buf);
	ret = st->meta->put(st->meta, txn, &key, &data, DB_NOOVERWRITE);
	if (ret != 0) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return store_dberr(ret, "write tombstone key");
	}
	memcpy(st->tomb_key, buf + 1, sizeof(st->tomb_key));
	OPENSSL_cleanse(buf, sizeof(buf));
	st->tomb_key_ok = true;
	return 0;
}

int
store_tombstones_open(apitoken_store_t *st, DB_TXN *txn)
{
	/* As open_db(): no MVCC with replication (store_rep.c). */
	u_int32_t flags = DB_THREAD | (st->rep == NULL ? DB_MULTIVERSION : 0);
	DB *db = NULL;
	int ret, rc;

	rc = load_key(st, txn);
	if (rc != 0)
		return rc == STORE_RETRY ? APITOKEN_ERR_STORE : rc;
	/* Added after schema 1 stores existed: created on the first
	 * writable open, absent (no tombstones) in an older read-only one. */
	flags |= st->rdonly ? DB_RDONLY : DB_CREATE;
	ret = db_create(&db, st->env, 0);
	if (ret != 0)
		return store_dberr(ret, "create handle");
	ret = db->open(db, txn, STORE_DB_TOMBSTONES, NULL, DB_BTREE, flags,
	               0600);
	if (ret != 0) {
		(void)db->close(db, 0);
		if (ret == ENOENT && st->rdonly)
			return 0;
		rc = store_dberr(ret, STORE_DB_TOMBSTONES);
		return rc == STORE_RETRY ? APITOKEN_ERR_STORE : rc;
	}
	st->tombstones = db;
	return 0;
}

void
store_tombstones_close(apitoken_store_t *st)
{
	if (st->tombstones != NULL) {
		(void)st->tombstones->close(st->tombstones, 0);
		st->tombstones = NULL;
	}
	OPENSSL_cleanse(st->tomb_key, sizeof(st->tomb_key));
	st->tomb_key_ok = false;
}

static int
fingerprint(const apitoken_store_t *st, const uint8_t h[APITOKEN_HASH_LEN],
            uint8_t out[STORE_TOMB_KEY_LEN])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (HMAC(EVP_sha256(), st->tomb_key, (int)sizeof(st->tomb_key), h,
	         APITOKEN_HASH_LEN, mac, &len) == NULL ||
	    len < STORE_TOMB_KEY_LEN)
		return apitoken_error(APITOKEN_ERR_INTERNAL, "HMAC failed");
	memcpy(out, mac, STORE_TOMB_KEY_LEN);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

/* Record: version, id (16), user, hint (4), iat, exp, ended, why. */
static int
tomb_encode(const struct tok_rec *t, const char *why, int64_t ended,
            struct wbuf *w)
{
	wbuf_u8(w, STORE_REC_VERSION);
	wbuf_bytes(w, t->id, APITOKEN_ID_LEN);
	wbuf_str(w, t->user);
	wbuf_bytes(w, t->hint, 4);
	wbuf_i64(w, t->iat);
	wbuf_i64(w, t->exp);
	wbuf_i64(w, ended);
	wbuf_str(w, why);
	return w->oom ? apitoken_error(APITOKEN_ERR_NOMEM, "out of memory")
	              : 0;
}

static int
tomb_decode(const void *p, size_t len, apitoken_identity_t *out)
{
	const uint8_t *id, *hint;
	const char *user, *why;
	struct rbuf r;
	int rc;

	rbuf_init(&r, p, len);
	if (rbuf_u8(&r) != STORE_REC_VERSION)
		r.bad = true;
	id = rbuf_bytes(&r, APITOKEN_ID_LEN);
	user = rbuf_str(&r, APITOKEN_USER_MAX);
	hint = rbuf_bytes(&r, 4);
	out->info.iat = rbuf_i64(&r);
	out->info.exp = rbuf_i64(&r);
	out->ended = rbuf_i64(&r);
	why = rbuf_str(&r, sizeof(out->why) - 1);
	rc = rbuf_end(&r, "tombstone");
	if (rc != 0)
		return rc;
	memcpy(out->info.id, id, APITOKEN_ID_LEN);
	out->info.id[APITOKEN_ID_LEN] = '\0';
	memcpy(out->info.user, user, strlen(user) + 1);
	memcpy(out->info.hint, hint, 4);
	out->info.hint[4] = '\0';
	memcpy(out->why, why, strlen(why) + 1);
	return 0;
}

int
store_tombstone_put(apitoken_store_t *st, DB_TXN *txn,
                    const uint8_t h[APITOKEN_HASH_LEN],
                    const struct tok_rec *t, apitoken_audit_event_t why,
                    int64_t now)
{
	uint8_t k[STORE_TOMB_KEY_LEN];
	const char *name = apitoken_audit_event_name(why);
	struct wbuf w;
	DBT key, data;
	int rc, ret;

	if (st->tombstones == NULL || !st->tomb_key_ok)
		return 0;
	rc = fingerprint(st, h, k);
	if (rc != 0)
		return rc;
	wbuf_init(&w);
	rc = tomb_encode(t, name != NULL ? name : "revoked", now, &w);
	if (rc != 0)
		goto out;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = k;
	key.size = sizeof(k);
	data.data = w.p;
	data.size = (u_int32_t)w.len;
	ret = st->tombstones->put(st->tombstones, txn, &key, &data, 0);
	if (ret != 0)
		rc = store_dberr(ret, "write tombstone");
out:
	wbuf_free(&w);
	OPENSSL_cleanse(k, sizeof(k));
	return rc;
}

int
store_tombstone_get(apitoken_store_t *st, DB_TXN *txn,
                    const uint8_t h[APITOKEN_HASH_LEN],
                    apitoken_identity_t *out)
{
	uint8_t k[STORE_TOMB_KEY_LEN], buf[256];
	DBT key, data;
	int rc, ret;

	if (st->tombstones == NULL || !st->tomb_key_ok)
		return APITOKEN_ERR_NOT_FOUND;
	rc = fingerprint(st, h, k);
	if (rc != 0)
		return rc;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = k;
	key.size = sizeof(k);
	data.data = buf;
	data.ulen = sizeof(buf);
	data.flags = DB_DBT_USERMEM;
	ret = st->tombstones->get(st->tombstones, txn, &key, &data, 0);
	OPENSSL_cleanse(k, sizeof(k));
	if (ret == DB_NOTFOUND)
		return APITOKEN_ERR_NOT_FOUND;
	if (ret == DB_BUFFER_SMALL)
		return apitoken_error(APITOKEN_ERR_CORRUPT,
		                      "store: malformed tombstone");
	if (ret != 0)
		return store_dberr(ret, "read tombstone");
	return tomb_decode(buf, data.size, out);
}

/* ---- retention -------------------------------------------------------- */

struct tomb_prune_op {
	int64_t cutoff;
	size_t batch;
	size_t deleted;
	bool finished;
	uint8_t resume[STORE_TOMB_KEY_LEN]; /* first key not yet looked at */
	bool started;
};

/*
 * Tombstones are keyed by fingerprint, not time: walk them all, batch by
 * batch, resuming after the last key seen.  Run once per sweep.
 */
static int
tomb_prune_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	struct tomb_prune_op *op = arg;
	apitoken_identity_t id;
	DBC *cur = NULL;
	DBT key, data;
	size_t seen = 0;
	int rc = 0, ret;
	u_int32_t how;

	op->deleted = 0;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_REALLOC;
	ret = st->tombstones->cursor(st->tombstones, txn, &cur, 0);
	if (ret != 0) {
		rc = store_dberr(ret, "tombstone cursor");
		goto out;
	}
	if (op->started) {
		key.data = malloc(sizeof(op->resume));
		if (key.data == NULL) {
			rc = apitoken_error(APITOKEN_ERR_NOMEM,
			                    "out of memory");
			goto out;
		}
		memcpy(key.data, op->resume, sizeof(op->resume));
		key.size = sizeof(op->resume);
		how = DB_SET_RANGE;
	} else {
		how = DB_FIRST;
	}
	op->started = true;
	for (;; how = DB_NEXT) {
		ret = cur->get(cur, &key, &data, how | DB_RMW);
		if (ret == DB_NOTFOUND) {
			op->finished = true;
			break;
		}
		if (ret != 0) {
			rc = store_dberr(ret, "read tombstones");
			goto out;
		}
		/* Stop at a batch's worth of looks, so a huge table is
		 * walked in many short transactions. */
		if (seen++ >= op->batch * 4 || op->deleted >= op->batch) {
			if (key.size == sizeof(op->resume))
				memcpy(op->resume, key.data, key.size);
			else
				op->finished = true;
			break;
		}
		memset(&id, 0, sizeof(id));
		if (tomb_decode(data.data, data.size, &id) == 0 &&
		    id.ended >= op->cutoff)
			continue;
		ret = cur->del(cur, 0);
		if (ret != 0) {
			rc = store_dberr(ret, "delete tombstone");
			goto out;
		}
		op->deleted++;
	}
	if (op->deleted == 0)
		rc = STORE_UNCHANGED;
out:
	if (cur != NULL)
		(void)cur->close(cur);
	free(key.data);
	free(data.data);
	return rc;
}

int
apitoken_tombstone_prune(apitoken_store_t *store, int64_t now,
                         int64_t retention, size_t batch, size_t max,
                         size_t *deleted_out)
{
	struct tomb_prune_op op;
	size_t total = 0;
	int rc = 0;

	if (deleted_out != NULL)
		*deleted_out = 0;
	if (store == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	if (retention <= 0 || store->tombstones == NULL || store->rdonly)
		return 0;
	memset(&op, 0, sizeof(op));
	op.cutoff = now > INT64_MIN + retention ? now - retention : INT64_MIN;
	op.batch = batch > 0 ? batch : 1000;
	do {
		rc = store_write(store, tomb_prune_txn, &op);
		if (rc != 0)
			break;
		total += op.deleted;
	} while (!op.finished && (max == 0 || total < max));
	if (deleted_out != NULL)
		*deleted_out = total;
	return rc;
}
