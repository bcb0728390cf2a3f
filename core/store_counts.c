/*
 * Running counts of tokens, users and clients, kept in meta as
 * "count.<name>" -> version byte + be64, changed in the transaction of
 * each write that adds or deletes a record, so /metrics and the sweep
 * read a number instead of walking a database that grows with the store.
 *
 * A store made before the counters has none: the first open for writing
 * counts once (one walk of each database) and writes them in one
 * transaction.  A counter that would go below zero stays at zero and is
 * logged (it can only mean the counts were wrong already).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apitoken/error.h>
#include <apitoken/log.h>

#include "store_int.h"

static void
count_key(DBT *key, char *buf, size_t len, const char *name)
{
	int n = snprintf(buf, len, "count.%s", name);

	memset(key, 0, sizeof(*key));
	key->data = buf;
	key->size = (u_int32_t)n;
}

/* Read the counter; *found_out false if there is none. */
static int
count_get(apitoken_store_t *st, DB_TXN *txn, const char *name, u_int32_t flags,
          uint64_t *v_out, bool *found_out)
{
	char kbuf[32];
	uint8_t buf[16];
	DBT key, data;
	int ret;

	*v_out = 0;
	*found_out = false;
	count_key(&key, kbuf, sizeof(kbuf), name);
	memset(&data, 0, sizeof(data));
	data.data = buf;
	data.ulen = sizeof(buf);
	data.flags = DB_DBT_USERMEM;
	ret = st->meta->get(st->meta, txn, &key, &data, flags);
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret == DB_BUFFER_SMALL ||
	    (ret == 0 && (data.size != 9 || buf[0] != STORE_REC_VERSION)))
		return store_note(apitoken_error(APITOKEN_ERR_CORRUPT,
		                                 "store: malformed counter %s",
		                                 kbuf));
	if (ret != 0)
		return store_dberr(ret, "read counter");
	*v_out = store_get_be64(buf + 1);
	*found_out = true;
	return 0;
}

static int
count_put(apitoken_store_t *st, DB_TXN *txn, const char *name, uint64_t v)
{
	char kbuf[32];
	uint8_t val[9];
	DBT key, data;
	int ret;

	count_key(&key, kbuf, sizeof(kbuf), name);
	val[0] = STORE_REC_VERSION;
	store_be64(val + 1, v);
	memset(&data, 0, sizeof(data));
	data.data = val;
	data.size = sizeof(val);
	ret = st->meta->put(st->meta, txn, &key, &data, 0);
	if (ret != 0)
		return store_dberr(ret, "write counter");
	return 0;
}

int
store_count_get(apitoken_store_t *st, DB_TXN *txn, const char *name,
                uint64_t *v_out)
{
	bool found;

	return count_get(st, txn, name, 0, v_out, &found);
}

int
store_count_add(apitoken_store_t *st, DB_TXN *txn, const char *name,
                int64_t delta)
{
	uint64_t v;
	bool found;
	int rc;

	rc = count_get(st, txn, name, DB_RMW, &v, &found);
	if (rc != 0)
		return rc;
	if (delta < 0 && v < (uint64_t)-delta) {
		apitoken_log(APITOKEN_LOG_WARNING,
		             "store: count of %s would go below zero", name);
		v = 0;
	} else {
		v += (uint64_t)delta;
	}
	return count_put(st, txn, name, v);
}

/* ---- first open of an older store --------------------------------------- */

static int
count_records(DB_TXN *txn, DB *db, uint64_t *n_out)
{
	DB_BTREE_STAT *bs = NULL;
	DB_HASH_STAT *hs = NULL;
	DBTYPE type;
	int ret;

	*n_out = 0;
	ret = db->get_type(db, &type);
	if (ret != 0)
		return store_dberr(ret, "database type");
	/* Without DB_FAST_STAT the statistics walk and count every key. */
	if (type == DB_HASH) {
		ret = db->stat(db, txn, &hs, 0);
		if (ret == 0)
			*n_out = hs->hash_nkeys;
		free(hs);
	} else {
		ret = db->stat(db, txn, &bs, 0);
		if (ret == 0)
			*n_out = bs->bt_nkeys;
		free(bs);
	}
	if (ret != 0)
		return store_dberr(ret, "count records");
	return 0;
}

static int
init_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	static const char *const names[] = {
	    STORE_COUNT_TOKENS, STORE_COUNT_USERS, STORE_COUNT_CLIENTS};
	DB *dbs[] = {st->tokens, st->users, st->clients};
	uint64_t v;
	bool found, any = false;
	size_t i;
	int rc;

	(void)arg;
	for (i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		rc = count_get(st, txn, names[i], DB_RMW, &v, &found);
		if (rc != 0)
			return rc;
		if (found)
			continue;
		rc = count_records(txn, dbs[i], &v);
		if (rc == 0)
			rc = count_put(st, txn, names[i], v);
		if (rc != 0)
			return rc;
		any = true;
	}
	return any ? 0 : STORE_UNCHANGED;
}

int
store_counts_init(apitoken_store_t *st)
{
	if (st->rdonly)
		return 0;
	return store_write(st, init_txn, NULL);
}

int
apitoken_store_counts(apitoken_store_t *store,
                      apitoken_store_counts_t *counts_out)
{
	DB_TXN *txn = NULL;
	bool found;
	int rc;

	if (counts_out != NULL)
		memset(counts_out, 0, sizeof(*counts_out));
	if (store == NULL || counts_out == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	rc = store_read_begin(store, &txn);
	if (rc == 0)
		rc = count_get(store, txn, STORE_COUNT_TOKENS, 0,
		               &counts_out->tokens, &found);
	if (rc == 0)
		rc = count_get(store, txn, STORE_COUNT_USERS, 0,
		               &counts_out->users, &found);
	if (rc == 0)
		rc = count_get(store, txn, STORE_COUNT_CLIENTS, 0,
		               &counts_out->clients, &found);
	store_read_end(store, txn);
	if (rc == STORE_RETRY)
		rc = apitoken_error(APITOKEN_ERR_STORE, "store: busy");
	if (rc != 0)
		memset(counts_out, 0, sizeof(*counts_out));
	return rc;
}
