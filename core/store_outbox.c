/*
 * The notification outbox.  Notices are written in the transaction of the
 * change they announce, so a change is never made without its mail being
 * queued, and removed only once delivered.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apitoken/error.h>
#include <apitoken/log.h>

#include "store_int.h"

#define REMINDER_BATCH 500
#define DROP_BATCH 500
#define DUE_KEY_LEN 16

/*
 * What the running write transaction did to the outbox, for the hook
 * after its commit.  One transaction per thread at a time (store_write);
 * reset before every attempt, so an aborted attempt leaves nothing.
 */
static _Thread_local struct {
	bool any;
	size_t queued;
	int64_t due;
	int64_t time;
} txn_notices;

static void
txn_note(size_t queued, int64_t due, int64_t time)
{
	if (!txn_notices.any)
		txn_notices.queued = 0;
	txn_notices.queued += queued;
	if (!txn_notices.any || due < txn_notices.due)
		txn_notices.due = due;
	if (!txn_notices.any || time < txn_notices.time)
		txn_notices.time = time;
	txn_notices.any = true;
}

void
store_outbox_attempt(void)
{
	txn_notices.any = false;
}

void
store_outbox_committed(apitoken_store_t *st)
{
	if (!txn_notices.any)
		return;
	txn_notices.any = false;
	if (atomic_load_explicit(&st->outbox_hook_on, memory_order_acquire))
		st->outbox_hook(st->outbox_hook_ctx, txn_notices.queued,
		                txn_notices.due, txn_notices.time);
}

void
apitoken_outbox_set_hook(apitoken_store_t *store, apitoken_outbox_hook_fn fn,
                         void *ctx)
{
	if (store == NULL)
		return;
	atomic_store_explicit(&store->outbox_hook_on, false,
	                      memory_order_release);
	if (fn == NULL)
		return;
	store->outbox_hook = fn;
	store->outbox_hook_ctx = ctx;
	atomic_store_explicit(&store->outbox_hook_on, true,
	                      memory_order_release);
}

/* ---- the due-time index ---------------------------------------------- */

/*
 * outbox_due.db key: be64(next_attempt, sign bit flipped so that byte
 * order is numeric order) + be64(seq).  Berkeley DB keeps it in step with
 * outbox.db on every put and delete (DB->associate), in the same
 * transaction.
 */
static int
due_key(DB *sec, const DBT *pkey, const DBT *pdata, DBT *skey)
{
	apitoken_notice_t n;
	uint8_t *k;

	(void)sec;
	if (pkey->size != 8)
		return DB_DONOTINDEX; /* listed, reported as malformed */
	n.seq = store_get_be64(pkey->data);
	if (notice_decode(pdata->data, pdata->size, &n) != 0)
		return DB_DONOTINDEX;
	k = malloc(DUE_KEY_LEN);
	if (k == NULL)
		return ENOMEM;
	store_be64(k, (uint64_t)n.next_attempt ^ (UINT64_C(1) << 63));
	memcpy(k + 8, pkey->data, 8);
	memset(skey, 0, sizeof(*skey));
	skey->data = k;
	skey->size = DUE_KEY_LEN;
	skey->flags = DB_DBT_APPMALLOC;
	return 0;
}

/* *empty: whether db has no record (read in txn).  0 or a BDB error. */
static int
db_empty(DB_TXN *txn, DB *db, bool *empty)
{
	DBC *cur = NULL;
	DBT key, data;
	int ret;

	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.flags = DB_DBT_MALLOC;
	data.flags = DB_DBT_MALLOC;
	ret = db->cursor(db, txn, &cur, 0);
	if (ret == 0) {
		ret = cur->get(cur, &key, &data, DB_FIRST);
		(void)cur->close(cur);
	}
	if (ret == 0) {
		free(key.data);
		free(data.data);
	}
	*empty = ret == DB_NOTFOUND;
	return ret == DB_NOTFOUND ? 0 : ret;
}

int
store_outbox_index_open(apitoken_store_t *st, DB_TXN *txn)
{
	/* As open_db(): no MVCC with replication (store_rep.c). */
	u_int32_t flags = DB_THREAD | (st->rep == NULL ? DB_MULTIVERSION : 0);
	bool index_empty = false, outbox_empty = true;
	DB *db = NULL;
	int ret;

	ret = db_create(&db, st->env, 0);
	if (ret != 0)
		return store_dberr(ret, "create handle");
	/* Created on the first open of a store made before the index. */
	flags |= st->rdonly ? DB_RDONLY : DB_CREATE;
	ret = db->open(db, txn, STORE_DB_OUTBOX_DUE, NULL, DB_BTREE, flags,
	               0600);
	if (ret == ENOENT && st->rdonly) {
		(void)db->close(db, 0);
		return 0; /* apitoken_outbox_due() walks the outbox */
	}
	if (ret != 0) {
		(void)db->close(db, 0);
		return store_dberr(ret, STORE_DB_OUTBOX_DUE);
	}
	/* Not DB_CREATE: filling an index for a large outbox in this one
	 * transaction would run out of locks; store_outbox_index_fill()
	 * does it in batches. */
	ret = st->outbox->associate(st->outbox, txn, db, due_key, 0);
	if (ret != 0) {
		(void)db->close(db, 0);
		return store_dberr(ret, "index the outbox");
	}
	st->outbox_due = db;
	if (st->rdonly)
		return 0;
	/* An empty index of a non-empty outbox: a store made before it.
	 * A second handle (not associated, so writable) fills it after
	 * the open (store_outbox_index_fill). */
	ret = db_empty(txn, st->outbox_due, &index_empty);
	if (ret == 0 && index_empty)
		ret = db_empty(txn, st->outbox, &outbox_empty);
	if (ret != 0)
		return store_dberr(ret, "read outbox");
	if (!index_empty || outbox_empty)
		return 0;
	ret = db_create(&st->outbox_fill, st->env, 0);
	if (ret == 0)
		ret = st->outbox_fill->open(
		    st->outbox_fill, txn, STORE_DB_OUTBOX_DUE, NULL, DB_BTREE,
		    DB_THREAD | (st->rep == NULL ? DB_MULTIVERSION : 0), 0600);
	if (ret != 0) {
		if (st->outbox_fill != NULL)
			(void)st->outbox_fill->close(st->outbox_fill, 0);
		st->outbox_fill = NULL;
		return store_dberr(ret, STORE_DB_OUTBOX_DUE);
	}
	return 0;
}

static int
notice_put(apitoken_store_t *st, DB_TXN *txn, const apitoken_notice_t *n)
{
	struct wbuf w;
	uint8_t kbuf[8];
	DBT key, data;
	int rc, ret;

	wbuf_init(&w);
	rc = notice_encode(n, &w);
	if (rc != 0)
		goto out;
	store_be64(kbuf, n->seq);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = kbuf;
	key.size = sizeof(kbuf);
	data.data = w.p;
	data.size = (u_int32_t)w.len;
	ret = st->outbox->put(st->outbox, txn, &key, &data, 0);
	if (ret != 0)
		rc = store_dberr(ret, "write notice");
out:
	wbuf_free(&w);
	return rc;
}

int
store_notice_queue(apitoken_store_t *st, DB_TXN *txn, int64_t now,
                   const char *kind, const struct tok_rec *tok,
                   const char *email, const apitoken_actor_t *actor)
{
	apitoken_notice_t n;
	char msgid[96], obuf[STORE_ORIGIN_MAX + 1];
	uint64_t seq;
	int rc;

	rc = store_next_seq(st, txn, "outbox", &seq);
	if (rc != 0)
		return rc;
	/* Stable across retries: the mailer sends the same Message-ID. */
	(void)snprintf(msgid, sizeof(msgid), "<%" PRIu64 ".%s@apitoken>", seq,
	               tok->id);
	memset(&n, 0, sizeof(n));
	n.seq = seq;
	n.kind = kind;
	n.user = tok->user;
	n.email = email != NULL ? email : "";
	n.token_id = tok->id;
	n.hint = tok->hint;
	apitoken_actor_describe(actor, obuf, sizeof(obuf));
	n.origin = obuf;
	n.time = now;
	n.token_exp = tok->exp;
	n.attempts = 0;
	n.next_attempt = now;
	n.last_error = "";
	n.message_id = msgid;
	rc = notice_put(st, txn, &n);
	if (rc == 0)
		txn_note(1, n.next_attempt, n.time);
	return rc;
}

struct notice_walk {
	apitoken_notice_fn fn;
	void *ctx;
};

static int
notice_visit(apitoken_store_t *st, DB_TXN *txn, const DBT *key,
             const DBT *data, void *arg)
{
	struct notice_walk *w = arg;
	apitoken_notice_t n;
	int rc;

	(void)st;
	(void)txn;
	if (key->size != 8)
		return apitoken_error(APITOKEN_ERR_CORRUPT,
		                      "store: malformed outbox key");
	n.seq = store_get_be64(key->data);
	rc = notice_decode(data->data, data->size, &n);
	if (rc != 0)
		return rc;
	return w->fn(&n, w->ctx);
}

int
apitoken_outbox_foreach(apitoken_store_t *store, apitoken_notice_fn fn,
                        void *ctx)
{
	struct notice_walk w = {fn, ctx};

	if (store == NULL || fn == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	return store_walk(store, store->outbox, "outbox", notice_visit, &w);
}

struct outbox_op {
	uint64_t seq;
	int64_t next_attempt; /* give_up: now */
	const char *error;
	size_t count;
};

static int
done_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	struct outbox_op *op = arg;
	uint8_t kbuf[8];
	DBT key;
	int ret;

	store_be64(kbuf, op->seq);
	memset(&key, 0, sizeof(key));
	key.data = kbuf;
	key.size = sizeof(kbuf);
	ret = st->outbox->del(st->outbox, txn, &key, 0);
	if (ret == DB_NOTFOUND)
		return apitoken_error(APITOKEN_ERR_NOT_FOUND,
		                      "no queued notice %" PRIu64, op->seq);
	if (ret != 0)
		return store_dberr(ret, "delete notice");
	return 0;
}

int
apitoken_outbox_done(apitoken_store_t *store, uint64_t seq)
{
	struct outbox_op op = {.seq = seq};

	if (store == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	return store_write(store, done_txn, &op);
}

/* Read notice seq for update; *raw (free it) holds its strings. */
static int
notice_read(apitoken_store_t *st, DB_TXN *txn, uint64_t seq,
            apitoken_notice_t *n, void **raw)
{
	uint8_t kbuf[8];
	DBT key, data;
	int rc, ret;

	*raw = NULL;
	store_be64(kbuf, seq);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = kbuf;
	key.size = sizeof(kbuf);
	data.flags = DB_DBT_MALLOC;
	ret = st->outbox->get(st->outbox, txn, &key, &data, DB_RMW);
	if (ret == DB_NOTFOUND)
		return apitoken_error(APITOKEN_ERR_NOT_FOUND,
		                      "no queued notice %" PRIu64, seq);
	if (ret != 0)
		return store_dberr(ret, "read notice");
	*raw = data.data;
	n->seq = seq;
	rc = notice_decode(data.data, data.size, n);
	return rc;
}

static int
defer_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	struct outbox_op *op = arg;
	apitoken_notice_t n;
	char errbuf[512];
	void *raw;
	int rc;

	rc = notice_read(st, txn, op->seq, &n, &raw);
	if (rc == 0) {
		(void)snprintf(errbuf, sizeof(errbuf), "%s",
		               op->error != NULL ? op->error : "");
		n.attempts++;
		n.next_attempt = op->next_attempt;
		n.last_error = errbuf;
		rc = notice_put(st, txn, &n);
	}
	free(raw);
	return rc;
}

static const apitoken_actor_t reminder_actor = {.kind = APITOKEN_ACTOR_SYSTEM,
                                                .id = "reminder"};
static const apitoken_actor_t mail_actor = {.kind = APITOKEN_ACTOR_SYSTEM,
                                            .id = "mail"};

static int
give_up_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	struct outbox_op *op = arg;
	apitoken_notice_t n;
	char detail[600];
	void *raw;
	int rc;

	rc = notice_read(st, txn, op->seq, &n, &raw);
	if (rc == 0) {
		(void)snprintf(detail, sizeof(detail),
		               "%s notice, %u attempts: %s", n.kind,
		               n.attempts + 1,
		               op->error != NULL ? op->error : "");
		rc = store_audit_append(st, txn, op->next_attempt,
		                        APITOKEN_AUDIT_NOTICE_UNDELIVERABLE,
		                        n.user, n.token_id, &mail_actor,
		                        detail);
	}
	free(raw);
	/* done_txn deletes it, in this same transaction. */
	return rc == 0 ? done_txn(st, txn, op) : rc;
}

int
apitoken_outbox_give_up(apitoken_store_t *store, uint64_t seq, int64_t now,
                        const char *error)
{
	struct outbox_op op = {
	    .seq = seq, .next_attempt = now, .error = error};

	if (store == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	return store_write(store, give_up_txn, &op);
}

int
apitoken_outbox_defer(apitoken_store_t *store, uint64_t seq,
                      int64_t next_attempt, const char *error)
{
	struct outbox_op op = {
	    .seq = seq, .next_attempt = next_attempt, .error = error};

	if (store == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	return store_write(store, defer_txn, &op);
}

static int
retry_all_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	struct outbox_op *op = arg;
	apitoken_notice_t n;
	struct wbuf w;
	DBC *cur = NULL;
	DBT key, data, nd;
	int rc = 0, ret;

	op->count = 0;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_REALLOC;
	wbuf_init(&w);
	ret = st->outbox->cursor(st->outbox, txn, &cur, 0);
	if (ret != 0) {
		rc = store_dberr(ret, "outbox cursor");
		goto out;
	}
	while ((ret = cur->get(cur, &key, &data, DB_NEXT | DB_RMW)) == 0) {
		if (key.size != 8) {
			rc = apitoken_error(APITOKEN_ERR_CORRUPT,
			                    "store: malformed outbox key");
			goto out;
		}
		n.seq = store_get_be64(key.data);
		rc = notice_decode(data.data, data.size, &n);
		if (rc != 0)
			goto out;
		n.next_attempt = 0;
		w.len = 0;
		rc = notice_encode(&n, &w);
		if (rc != 0)
			goto out;
		memset(&nd, 0, sizeof(nd));
		nd.data = w.p;
		nd.size = (u_int32_t)w.len;
		ret = cur->put(cur, &key, &nd, DB_CURRENT);
		if (ret != 0) {
			rc = store_dberr(ret, "update notice");
			goto out;
		}
		op->count++;
		txn_note(0, 0, n.time);
	}
	if (ret != DB_NOTFOUND)
		rc = store_dberr(ret, "read outbox");
out:
	if (cur != NULL)
		(void)cur->close(cur);
	wbuf_free(&w);
	free(key.data);
	free(data.data);
	return rc;
}

int
apitoken_outbox_retry_all(apitoken_store_t *store, size_t *count_out)
{
	struct outbox_op op = {0};
	int rc;

	if (count_out != NULL)
		*count_out = 0;
	if (store == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	rc = store_write(store, retry_all_txn, &op);
	if (rc == 0 && count_out != NULL)
		*count_out = op.count;
	return rc;
}

/* ---- reminders ------------------------------------------------------- */

struct remind_op {
	int64_t now;
	const int64_t *leads;
	size_t n_leads;
	int64_t horizon; /* now + the longest lead */
	uint8_t start[STORE_EXPIRY_KEY_LEN];
	bool started;
	/* results of one batch, applied after its commit */
	uint8_t last[STORE_EXPIRY_KEY_LEN];
	size_t queued;
	bool finished;
};

/* The most urgent lead that is due and not yet reminded, or 0. */
static int64_t
due_lead(const struct remind_op *op, const struct tok_rec *t)
{
	int64_t left = t->exp - op->now, best = 0;
	size_t i;

	if (left <= 0)
		return 0; /* expired: the purge announces it */
	for (i = 0; i < op->n_leads; i++) {
		int64_t lead = op->leads[i];

		if (lead <= 0 || left > lead)
			continue;
		if (t->reminded != 0 && lead >= t->reminded)
			continue;
		if (best == 0 || lead < best)
			best = lead;
	}
	return best;
}

static int
remind_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	struct remind_op *op = arg;
	struct tok_rec t;
	struct user_view uv;
	struct wbuf w;
	void *uraw = NULL;
	DBC *cur = NULL;
	DBT key, data, tk, td;
	uint8_t tbuf[512];
	size_t seen = 0;
	int64_t lead;
	int rc = 0, ret;

	op->queued = 0;
	op->finished = false;
	wbuf_init(&w);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_REALLOC;
	ret = st->expiry->cursor(st->expiry, txn, &cur, 0);
	if (ret != 0) {
		rc = store_dberr(ret, "expiry cursor");
		goto out;
	}
	if (op->started) {
		key.data = malloc(STORE_EXPIRY_KEY_LEN);
		if (key.data == NULL) {
			rc = apitoken_error(APITOKEN_ERR_NOMEM,
			                    "out of memory");
			goto out;
		}
		memcpy(key.data, op->start, STORE_EXPIRY_KEY_LEN);
		key.size = STORE_EXPIRY_KEY_LEN;
		ret = cur->get(cur, &key, &data, DB_SET_RANGE);
		/* Skip the key we stopped after. */
		if (ret == 0 && key.size == STORE_EXPIRY_KEY_LEN &&
		    memcmp(key.data, op->start, STORE_EXPIRY_KEY_LEN) == 0)
			ret = cur->get(cur, &key, &data, DB_NEXT);
	} else {
		ret = cur->get(cur, &key, &data, DB_FIRST);
	}
	for (; ret == 0; ret = cur->get(cur, &key, &data, DB_NEXT)) {
		const uint8_t *h;

		if (key.size != STORE_EXPIRY_KEY_LEN) {
			rc = apitoken_error(APITOKEN_ERR_CORRUPT,
			                    "store: malformed expiry key");
			goto out;
		}
		if ((int64_t)(store_get_be64(key.data) ^ (UINT64_C(1) << 63)) >
		    op->horizon)
			break;
		if (seen >= REMINDER_BATCH)
			goto batch_full;
		seen++;
		memcpy(op->last, key.data, STORE_EXPIRY_KEY_LEN);
		h = (const uint8_t *)key.data + 8;
		memset(&tk, 0, sizeof(tk));
		memset(&td, 0, sizeof(td));
		tk.data = (void *)h;
		tk.size = APITOKEN_HASH_LEN;
		td.data = tbuf;
		td.ulen = sizeof(tbuf);
		td.flags = DB_DBT_USERMEM;
		ret = st->tokens->get(st->tokens, txn, &tk, &td, DB_RMW);
		if (ret == DB_NOTFOUND || ret == DB_BUFFER_SMALL)
			continue; /* stale index entry: purge's job */
		if (ret != 0) {
			rc = store_dberr(ret, "read token");
			goto out;
		}
		if (tok_decode(tbuf, td.size, &t) != 0)
			continue;
		lead = due_lead(op, &t);
		if (lead == 0)
			continue;
		free(uraw);
		uraw = NULL;
		rc = store_user_read(st, txn, t.user, 0, &uraw, &uv);
		if (rc == APITOKEN_ERR_NOT_FOUND || rc == APITOKEN_ERR_CORRUPT)
			continue;
		if (rc != 0)
			goto out;
		if (!uv.api_access)
			continue; /* an inactive token needs no renewal */
		rc = store_notice_queue(st, txn, op->now, "reminder", &t,
		                        uv.email, &reminder_actor);
		if (rc != 0)
			goto out;
		t.reminded = lead;
		w.len = 0;
		rc = tok_encode(&t, &w);
		if (rc != 0)
			goto out;
		td.data = w.p;
		td.size = (u_int32_t)w.len;
		td.flags = 0;
		ret = st->tokens->put(st->tokens, txn, &tk, &td, 0);
		if (ret != 0) {
			rc = store_dberr(ret, "update token");
			goto out;
		}
		op->queued++;
	}
	if (ret != 0 && ret != DB_NOTFOUND) {
		rc = store_dberr(ret, "read expiry index");
		goto out;
	}
	op->finished = true;
batch_full:
	rc = op->queued == 0 ? STORE_UNCHANGED : 0;
out:
	if (cur != NULL)
		(void)cur->close(cur);
	wbuf_free(&w);
	free(uraw);
	free(key.data);
	free(data.data);
	return rc;
}

/* Queue the reminders due for tokens expiring in (lo, hi]. */
static int
remind_range(apitoken_store_t *store, struct remind_op *op, int64_t lo,
             int64_t hi, size_t *total)
{
	uint8_t ff[APITOKEN_HASH_LEN];
	int rc;

	/* Resume "after" (lo, ff..ff): the first key of a later second. */
	memset(ff, 0xff, sizeof(ff));
	store_expiry_key(op->start, lo, ff);
	op->started = true;
	op->horizon = hi;
	for (;;) {
		rc = store_write(store, remind_txn, op);
		if (rc != 0)
			return rc;
		*total += op->queued;
		if (op->finished)
			return 0;
		memcpy(op->start, op->last, STORE_EXPIRY_KEY_LEN);
	}
}

int
apitoken_outbox_queue_reminders_since(apitoken_store_t *store, int64_t since,
                                      int64_t now, const int64_t *leads,
                                      size_t n_leads, size_t *queued_out)
{
	struct remind_op op;
	int64_t horizon = now;
	size_t total = 0, i;
	int rc = 0;

	if (queued_out != NULL)
		*queued_out = 0;
	if (store == NULL || (leads == NULL && n_leads > 0))
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	memset(&op, 0, sizeof(op));
	op.now = now;
	op.leads = leads;
	op.n_leads = n_leads;
	for (i = 0; i < n_leads; i++) {
		if (leads[i] > 0 && leads[i] < INT64_MAX - now &&
		    now + leads[i] > horizon)
			horizon = now + leads[i];
	}
	if (horizon == now)
		return 0;
	/*
	 * A token issued since the last scan may already be within a lead
	 * (a lifetime shorter than the lead): then every scan is a full
	 * one.  Expired tokens need no reminder (the purge announces them):
	 * a full scan starts after now.
	 */
	if (since <= 0 || since >= now ||
	    store_cfg(store)->token_lifetime <= horizon - now)
		rc = remind_range(store, &op, now, horizon, &total);
	else
		for (i = 0; i < n_leads && rc == 0; i++)
			if (leads[i] > 0 && leads[i] < INT64_MAX - now)
				rc = remind_range(store, &op, since + leads[i],
				                  now + leads[i], &total);
	if (queued_out != NULL)
		*queued_out = total;
	return rc;
}

int
apitoken_outbox_queue_reminders(apitoken_store_t *store, int64_t now,
                                const int64_t *leads, size_t n_leads,
                                size_t *queued_out)
{
	return apitoken_outbox_queue_reminders_since(store, 0, now, leads,
	                                             n_leads, queued_out);
}

/* ---- filling the index of an older store ------------------------------- */

#define FILL_BATCH 1000

struct fill_op {
	DB *plain; /* outbox_due.db, not associated: writable */
	uint8_t next[8];
	bool started, finished;
	size_t done;
};

static int
fill_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	struct fill_op *op = arg;
	DBC *cur = NULL;
	DBT key, data, skey;
	size_t n = 0;
	int rc = 0, ret;

	op->finished = false;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_REALLOC;
	ret = st->outbox->cursor(st->outbox, txn, &cur, 0);
	if (ret != 0) {
		rc = store_dberr(ret, "outbox cursor");
		goto out;
	}
	if (op->started) {
		key.data = malloc(8);
		if (key.data == NULL) {
			rc = apitoken_error(APITOKEN_ERR_NOMEM,
			                    "out of memory");
			goto out;
		}
		memcpy(key.data, op->next, 8);
		key.size = 8;
		ret = cur->get(cur, &key, &data, DB_SET_RANGE);
	} else {
		ret = cur->get(cur, &key, &data, DB_FIRST);
	}
	for (; ret == 0; ret = cur->get(cur, &key, &data, DB_NEXT)) {
		if (n == FILL_BATCH) {
			memcpy(op->next, key.data, 8);
			op->started = true;
			goto out; /* commit, go on in the next one */
		}
		memset(&skey, 0, sizeof(skey));
		ret = due_key(NULL, &key, &data, &skey);
		if (ret == DB_DONOTINDEX)
			continue;
		if (ret != 0) {
			rc = store_dberr(ret, "index notice");
			goto out;
		}
		ret = op->plain->put(op->plain, txn, &skey, &key, 0);
		free(skey.data);
		if (ret != 0) {
			rc = store_dberr(ret, "index notice");
			goto out;
		}
		n++;
	}
	if (ret != DB_NOTFOUND) {
		rc = store_dberr(ret, "read outbox");
		goto out;
	}
	op->finished = true;
out:
	if (rc == 0)
		op->done += n;
	if (cur != NULL)
		(void)cur->close(cur);
	free(key.data);
	free(data.data);
	return rc;
}

int
store_outbox_index_fill(apitoken_store_t *st)
{
	struct fill_op op;
	int rc;

	if (st->outbox_fill == NULL)
		return 0;
	memset(&op, 0, sizeof(op));
	op.plain = st->outbox_fill;
	apitoken_log(APITOKEN_LOG_NOTICE,
	             "store %s: indexing the outbox by due time (once)",
	             st->dir);
	do
		rc = store_write(st, fill_txn, &op);
	while (rc == 0 && !op.finished);
	(void)st->outbox_fill->close(st->outbox_fill, 0);
	st->outbox_fill = NULL;
	if (rc == 0)
		apitoken_log(APITOKEN_LOG_NOTICE,
		             "store %s: %zu queued notice(s) indexed", st->dir,
		             op.done);
	return rc;
}

/* ---- due notices, the bound, the count --------------------------------- */

struct due_walk {
	int64_t now;
	size_t max, n;
	apitoken_notice_fn fn;
	void *ctx;
	int64_t next;
};

/* The read-only store opened without the index: walk the outbox. */
static int
due_visit_walk(const apitoken_notice_t *n, void *arg)
{
	struct due_walk *w = arg;

	if (n->next_attempt <= w->now && w->n < w->max) {
		w->n++;
		return w->fn(n, w->ctx);
	}
	if (n->next_attempt <= w->now)
		w->next = w->now;
	else if (n->next_attempt < w->next)
		w->next = n->next_attempt;
	return 0;
}

int
apitoken_outbox_due(apitoken_store_t *store, int64_t now, size_t max,
                    apitoken_notice_fn fn, void *ctx, int64_t *next_out)
{
	struct due_walk w = {now, max, 0, fn, ctx, INT64_MAX};
	apitoken_notice_t n;
	DB_TXN *txn = NULL;
	DBC *cur = NULL;
	DBT skey, pkey, data;
	int rc, ret;

	if (next_out != NULL)
		*next_out = INT64_MAX;
	if (store == NULL || fn == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	if (store->outbox_due == NULL) {
		rc = apitoken_outbox_foreach(store, due_visit_walk, &w);
		if (rc == 0 && next_out != NULL)
			*next_out = w.next;
		return rc;
	}
	rc = store_read_begin(store, &txn);
	if (rc != 0)
		return rc;
	memset(&skey, 0, sizeof(skey));
	memset(&pkey, 0, sizeof(pkey));
	memset(&data, 0, sizeof(data));
	skey.flags = DB_DBT_REALLOC;
	pkey.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_REALLOC;
	ret = store->outbox_due->cursor(store->outbox_due, txn, &cur, 0);
	if (ret != 0) {
		rc = store_dberr(ret, "outbox index cursor");
		goto out;
	}
	while ((ret = cur->pget(cur, &skey, &pkey, &data, DB_NEXT)) == 0) {
		int64_t due;

		if (skey.size != DUE_KEY_LEN || pkey.size != 8) {
			rc = apitoken_error(
			    APITOKEN_ERR_CORRUPT,
			    "store: malformed outbox index key");
			goto out;
		}
		due =
		    (int64_t)(store_get_be64(skey.data) ^ (UINT64_C(1) << 63));
		if (due > now) {
			w.next = due;
			break;
		}
		if (w.n >= max) {
			w.next = now;
			break;
		}
		n.seq = store_get_be64(pkey.data);
		rc = notice_decode(data.data, data.size, &n);
		if (rc != 0)
			goto out;
		w.n++;
		rc = fn(&n, ctx);
		if (rc != 0)
			goto out;
	}
	if (ret != 0 && ret != DB_NOTFOUND)
		rc = store_dberr(ret, "read outbox index");
out:
	if (rc == STORE_RETRY)
		rc = apitoken_error(APITOKEN_ERR_STORE, "store: busy");
	if (cur != NULL)
		(void)cur->close(cur);
	store_read_end(store, txn);
	free(skey.data);
	free(pkey.data);
	free(data.data);
	if (rc == 0 && next_out != NULL)
		*next_out = w.next;
	return rc;
}

struct drop_op {
	int64_t cutoff, now;
	const char *why;
	size_t dropped; /* in this batch */
	int64_t oldest; /* of those left; INT64_MAX: none */
	bool finished;
};

/*
 * Up to DROP_BATCH notices from the front of the outbox.  Seq order is
 * queueing order, so the first notice not older than cutoff ends the
 * walk: the cost is the notices dropped, not the size of the outbox.
 * (Seq and time can disagree by the length of one transaction; such a
 * notice waits for the next pass.)
 */
static int
drop_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	struct drop_op *op = arg;
	apitoken_notice_t n;
	char detail[160];
	DBC *cur = NULL;
	DBT key, data;
	int rc = 0, ret;

	op->dropped = 0;
	op->oldest = INT64_MAX;
	op->finished = false;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_REALLOC;
	ret = st->outbox->cursor(st->outbox, txn, &cur, 0);
	if (ret != 0) {
		rc = store_dberr(ret, "outbox cursor");
		goto out;
	}
	while ((ret = cur->get(cur, &key, &data, DB_NEXT | DB_RMW)) == 0) {
		if (key.size != 8) {
			rc = apitoken_error(APITOKEN_ERR_CORRUPT,
			                    "store: malformed outbox key");
			goto out;
		}
		n.seq = store_get_be64(key.data);
		rc = notice_decode(data.data, data.size, &n);
		if (rc != 0)
			goto out;
		if (n.time >= op->cutoff) {
			op->oldest = n.time;
			break;
		}
		if (op->dropped >= DROP_BATCH)
			goto out; /* not finished: another transaction */
		(void)snprintf(detail, sizeof(detail), "%s notice, %s", n.kind,
		               op->why != NULL ? op->why : "not sent");
		rc = store_audit_append(st, txn, op->now,
		                        APITOKEN_AUDIT_NOTICE_DROPPED, n.user,
		                        n.token_id, &mail_actor, detail);
		if (rc != 0)
			goto out;
		ret = cur->del(cur, 0);
		if (ret != 0) {
			rc = store_dberr(ret, "delete notice");
			goto out;
		}
		op->dropped++;
	}
	if (ret != 0 && ret != DB_NOTFOUND) {
		rc = store_dberr(ret, "read outbox");
		goto out;
	}
	op->finished = true;
	if (op->dropped == 0)
		rc = STORE_UNCHANGED;
out:
	if (cur != NULL)
		(void)cur->close(cur);
	free(key.data);
	free(data.data);
	return rc;
}

int
apitoken_outbox_drop_older(apitoken_store_t *store, int64_t cutoff,
                           int64_t now, const char *why, size_t *dropped_out,
                           int64_t *oldest_out)
{
	struct drop_op op = {.cutoff = cutoff, .now = now, .why = why};
	size_t total = 0;
	int rc;

	if (dropped_out != NULL)
		*dropped_out = 0;
	if (oldest_out != NULL)
		*oldest_out = INT64_MAX;
	if (store == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	for (;;) {
		rc = store_write(store, drop_txn, &op);
		if (rc != 0)
			break;
		total += op.dropped;
		if (op.finished)
			break;
	}
	if (dropped_out != NULL)
		*dropped_out = total;
	if (rc == 0 && oldest_out != NULL)
		*oldest_out = op.oldest;
	return rc;
}

int
apitoken_outbox_count(apitoken_store_t *store, size_t *count_out)
{
	DB_BTREE_STAT *sp = NULL;
	DB *db;
	int ret;

	if (count_out != NULL)
		*count_out = 0;
	if (store == NULL || count_out == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	/* The index's keys are small: fewer pages to count than the
	 * outbox's. */
	db = store->outbox_due != NULL ? store->outbox_due : store->outbox;
	ret = db->stat(db, NULL, &sp, 0);
	if (ret != 0) {
		ret = store_dberr(ret, "count the outbox");
		return ret == STORE_RETRY ? APITOKEN_ERR_STORE : ret;
	}
	*count_out = sp->bt_nkeys;
	free(sp);
	return 0;
}
