/*
 * Change records: what each answer-changing write touched, in commit
 * order, for readers that keep answers (apitokend's kept introspection
 * answers, client logins, reused snapshots) and for replicas, which apply
 * transactions they did not make and so can learn of them only here.
 *
 * Record: key be64(seq); value version byte, kind byte, be64(time), then
 * the subject bytes (a token hash, a user name or a client id; no NUL).
 * seq comes from the meta counter "seq.changes", read and written with
 * DB_RMW inside the writing transaction: the counter's write lock is held
 * to the commit, so numbers are handed out in commit order and an
 * aborted transaction gives its numbers back.  That is the whole ordering
 * argument for readers (store.h): a reader that saw every record up to N
 * in one snapshot will find every later commit's records above N.
 *
 * Trimming: appending seq S deletes S - APITOKEN_CHANGES_KEEP in the same
 * transaction, so the database holds the last KEEP records and costs one
 * small delete per record, with no sweep and no scan.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <apitoken/error.h>

#include "store_int.h"

#define CHANGE_HDR 10 /* version, kind, time */
#define CHANGE_SUBJECT_MAX 256

/* The records the current attempt of this thread's transaction wrote. */
static _Thread_local uint64_t txn_last;

void
store_changes_txn_begin(void)
{
	txn_last = 0;
}

uint64_t
store_changes_txn_last(void)
{
	return txn_last;
}

static void
raise_visible(apitoken_store_t *st, uint64_t seq)
{
	uint64_t cur =
	    atomic_load_explicit(&st->change_visible, memory_order_acquire);

	while (cur < seq && !atomic_compare_exchange_weak_explicit(
	                        &st->change_visible, &cur, seq,
	                        memory_order_acq_rel, memory_order_acquire))
		;
}

int
store_change_add(apitoken_store_t *st, DB_TXN *txn,
                 apitoken_change_kind_t kind, const void *subject, size_t len)
{
	uint8_t kbuf[8], val[CHANGE_HDR + CHANGE_SUBJECT_MAX];
	DBT key, data;
	uint64_t seq;
	int rc, ret;

	if (st->changes == NULL)
		return apitoken_error(APITOKEN_ERR_INTERNAL,
		                      "store: no change database");
	if (len > CHANGE_SUBJECT_MAX)
		return apitoken_error(APITOKEN_ERR_INTERNAL,
		                      "store: change subject too long");
	rc = store_next_seq(st, txn, "changes", &seq);
	if (rc != 0)
		return rc;
	val[0] = STORE_REC_VERSION;
	val[1] = (uint8_t)kind;
	store_be64(val + 2, (uint64_t)apitoken_now());
	if (len > 0)
		memcpy(val + CHANGE_HDR, subject, len);
	store_be64(kbuf, seq);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = kbuf;
	key.size = sizeof(kbuf);
	data.data = val;
	data.size = (u_int32_t)(CHANGE_HDR + len);
	ret = st->changes->put(st->changes, txn, &key, &data, DB_NOOVERWRITE);
	if (ret != 0)
		return store_dberr(ret, "append change record");
	if (seq > APITOKEN_CHANGES_KEEP) {
		store_be64(kbuf, seq - APITOKEN_CHANGES_KEEP);
		ret = st->changes->del(st->changes, txn, &key, 0);
		if (ret != 0 && ret != DB_NOTFOUND)
			return store_dberr(ret, "trim change records");
	}
	txn_last = seq;
	return 0;
}

int
store_change_token(apitoken_store_t *st, DB_TXN *txn,
                   const uint8_t h[APITOKEN_HASH_LEN])
{
	return store_change_add(st, txn, APITOKEN_CHANGE_TOKEN, h,
	                        APITOKEN_HASH_LEN);
}

int
store_change_name(apitoken_store_t *st, DB_TXN *txn,
                  apitoken_change_kind_t kind, const char *name)
{
	return store_change_add(st, txn, kind, name, strlen(name));
}

void
store_changes_committed(apitoken_store_t *st, uint64_t last)
{
	apitoken_change_hook_fn fn = st->change_hook;

	raise_visible(st, last);
	if (fn != NULL)
		fn(last, st->change_hook_arg);
}

/* The counter "seq.changes" as of txn (0 if none). */
static int
read_last(apitoken_store_t *st, DB_TXN *txn, uint64_t *seq_out)
{
	static const char name[] = "seq.changes";
	uint8_t buf[16];
	DBT key, data;
	int ret;

	*seq_out = 0;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)name;
	key.size = sizeof(name) - 1;
	data.data = buf;
	data.ulen = sizeof(buf);
	data.flags = DB_DBT_USERMEM;
	ret = st->meta->get(st->meta, txn, &key, &data, 0);
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret == DB_BUFFER_SMALL ||
	    (ret == 0 && (data.size != 9 || buf[0] != STORE_REC_VERSION)))
		return store_note(apitoken_error(APITOKEN_ERR_CORRUPT,
		                                 "store: malformed counter %s",
		                                 name));
	if (ret != 0)
		return store_dberr(ret, "read change counter");
	*seq_out = store_get_be64(buf + 1);
	return 0;
}

int
store_changes_init(apitoken_store_t *st)
{
	uint64_t last = 0;
	DB_TXN *txn = NULL;
	int rc;

	atomic_init(&st->change_visible, 0);
	rc = store_read_begin(st, &txn);
	if (rc == 0)
		rc = read_last(st, txn, &last);
	store_read_end(st, txn);
	if (rc == STORE_RETRY)
		rc = apitoken_error(APITOKEN_ERR_STORE, "store: busy");
	if (rc == 0)
		atomic_store(&st->change_visible, last);
	return rc;
}

int
apitoken_store_changes_last(apitoken_store_t *store, uint64_t *seq_out)
{
	DB_TXN *txn = NULL;
	uint64_t last = 0;
	int rc;

	if (seq_out != NULL)
		*seq_out = 0;
	if (store == NULL || seq_out == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	rc = store_read_begin(store, &txn);
	if (rc == 0)
		rc = read_last(store, txn, &last);
	store_read_end(store, txn);
	if (rc == STORE_RETRY)
		rc = apitoken_error(APITOKEN_ERR_STORE, "store: busy");
	if (rc == 0)
		*seq_out = last;
	return rc;
}

uint64_t
apitoken_store_changes_visible(apitoken_store_t *store)
{
	return atomic_load_explicit(&store->change_visible,
	                            memory_order_acquire);
}

bool
apitoken_store_changes_external(apitoken_store_t *store)
{
	u_int32_t flags = 0;

	if (store == NULL || store->env == NULL ||
	    store->env->get_open_flags(store->env, &flags) != 0)
		return true; /* cannot tell: poll */
	return (flags & DB_INIT_REP) != 0;
}

void
apitoken_store_set_change_hook(apitoken_store_t *store,
                               apitoken_change_hook_fn fn, void *arg)
{
	if (store == NULL)
		return;
	store->change_hook_arg = arg;
	store->change_hook = fn;
}

/* Hand one record to fn, raising the visible seq first. */
static int
deliver(apitoken_store_t *st, apitoken_change_t *c, apitoken_change_fn fn,
        void *ctx, uint64_t *last)
{
	int rc;

	raise_visible(st, c->seq);
	rc = fn(c, ctx);
	if (rc == 0)
		*last = c->seq;
	return rc;
}

int
apitoken_store_changes_read(apitoken_store_t *store, uint64_t after,
                            apitoken_change_fn fn, void *ctx,
                            uint64_t *last_out)
{
	uint8_t kbuf[8];
	apitoken_change_t c;
	DB_TXN *txn = NULL;
	DBC *cur = NULL;
	DBT key, data;
	uint64_t last = after, newest = 0, seq;
	const uint8_t *v;
	int rc, ret;

	if (last_out != NULL)
		*last_out = after;
	if (store == NULL || fn == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	if (store->changes == NULL)
		return 0;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_REALLOC;
	rc = store_read_begin(store, &txn);
	if (rc != 0)
		goto out;
	rc = read_last(store, txn, &newest);
	if (rc != 0 || newest <= after)
		goto out;
	ret = store->changes->cursor(store->changes, txn, &cur, 0);
	if (ret != 0) {
		rc = store_dberr(ret, "change cursor");
		goto out;
	}
	store_be64(kbuf, after + 1);
	key.data = malloc(sizeof(kbuf));
	if (key.data == NULL) {
		rc = apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(key.data, kbuf, sizeof(kbuf));
	key.size = sizeof(kbuf);
	ret = cur->get(cur, &key, &data, DB_SET_RANGE);
	while (ret == 0) {
		if (key.size != 8 || data.size < CHANGE_HDR ||
		    ((const uint8_t *)data.data)[0] != STORE_REC_VERSION) {
			rc = store_note(
			    apitoken_error(APITOKEN_ERR_CORRUPT,
			                   "store: malformed change record"));
			goto out;
		}
		seq = store_get_be64(key.data);
		if (seq > newest)
			break; /* cannot be, in one snapshot; be safe */
		if (seq != last + 1) {
			/* Trimmed before this reader got to them. */
			memset(&c, 0, sizeof(c));
			c.seq = seq - 1;
			c.kind = APITOKEN_CHANGE_ALL;
			rc = deliver(store, &c, fn, ctx, &last);
			if (rc != 0)
				goto out;
		}
		v = data.data;
		memset(&c, 0, sizeof(c));
		c.seq = seq;
		c.kind = (apitoken_change_kind_t)v[1];
		c.time = (int64_t)store_get_be64(v + 2);
		c.subject = v + CHANGE_HDR;
		c.subject_len = data.size - CHANGE_HDR;
		if (c.kind < APITOKEN_CHANGE_TOKEN ||
		    c.kind > APITOKEN_CHANGE_ALL) {
			c.kind = APITOKEN_CHANGE_ALL;
			c.subject_len = 0;
		}
		rc = deliver(store, &c, fn, ctx, &last);
		if (rc != 0)
			goto out;
		ret = cur->get(cur, &key, &data, DB_NEXT);
	}
	if (ret != 0 && ret != DB_NOTFOUND) {
		rc = store_dberr(ret, "read change records");
		goto out;
	}
	if (last < newest) {
		/* Everything after `last' was trimmed. */
		memset(&c, 0, sizeof(c));
		c.seq = newest;
		c.kind = APITOKEN_CHANGE_ALL;
		rc = deliver(store, &c, fn, ctx, &last);
	}
out:
	if (rc == STORE_RETRY)
		rc = apitoken_error(APITOKEN_ERR_STORE, "store: busy");
	if (cur != NULL)
		(void)cur->close(cur);
	store_read_end(store, txn);
	free(key.data);
	free(data.data);
	if (last_out != NULL)
		*last_out = last;
	return rc;
}
