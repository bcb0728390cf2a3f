/*
 * The notification outbox.  Notices are written in the transaction of the
 * change they announce, so a change is never made without its mail being
 * queued, and removed only once delivered.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apitoken/error.h>

#include "store_int.h"

#define REMINDER_BATCH 500

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
	return notice_put(st, txn, &n);
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

int
apitoken_outbox_queue_reminders(apitoken_store_t *store, int64_t now,
                                const int64_t *leads, size_t n_leads,
                                size_t *queued_out)
{
	struct remind_op op;
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
	op.horizon = now;
	for (i = 0; i < n_leads; i++) {
		if (leads[i] > 0 && leads[i] < INT64_MAX - now &&
		    now + leads[i] > op.horizon)
			op.horizon = now + leads[i];
	}
	if (op.horizon == now)
		return 0;
	for (;;) {
		rc = store_write(store, remind_txn, &op);
		if (rc != 0)
			break;
		total += op.queued;
		if (op.finished)
			break;
		memcpy(op.start, op.last, STORE_EXPIRY_KEY_LEN);
		op.started = true;
	}
	if (queued_out != NULL)
		*queued_out = total;
	return rc;
}
