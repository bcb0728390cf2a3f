/*
 * The audit log: one record per change, appended in the transaction of the
 * change.  Records name tokens by their public id; never a secret or hash.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apitoken/error.h>

#include "store_int.h"

int
store_audit_append(apitoken_store_t *st, DB_TXN *txn, int64_t now,
                   apitoken_audit_event_t event, const char *user,
                   const char *token_id, const apitoken_actor_t *actor,
                   const char *detail)
{
	apitoken_audit_t a;
	struct wbuf w;
	static const apitoken_actor_t system = {.kind = APITOKEN_ACTOR_SYSTEM};
	char obuf[STORE_ORIGIN_MAX + 1];
	char idbuf[STORE_ORIGIN_MAX + 1], srcbuf[STORE_ORIGIN_MAX + 1];
	char whybuf[STORE_ORIGIN_MAX + 1];
	uint8_t kbuf[8];
	DBT key, data;
	uint64_t seq;
	int rc, ret;

	rc = store_next_seq(st, txn, "audit", &seq);
	if (rc != 0)
		return rc;
	if (actor == NULL)
		actor = &system;
	memset(&a, 0, sizeof(a));
	a.time = now;
	a.kind = event;
	a.event = apitoken_audit_event_name(event);
	if (a.event == NULL)
		return apitoken_error(APITOKEN_ERR_INTERNAL,
		                      "store: unknown audit event %d",
		                      (int)event);
	a.user = user != NULL ? user : "";
	a.token_id = token_id != NULL ? token_id : "";
	/* The actor comes from callers (peer addresses, a leak report's
	 * URL): bound every part. */
	apitoken_actor_describe(actor, obuf, sizeof(obuf));
	a.origin = obuf;
	a.detail = detail != NULL ? detail : "";
	a.actor_kind = actor->kind;
	(void)snprintf(idbuf, sizeof(idbuf), "%s",
	               actor->id != NULL ? actor->id : "");
	(void)snprintf(srcbuf, sizeof(srcbuf), "%s",
	               actor->source != NULL ? actor->source : "");
	(void)snprintf(whybuf, sizeof(whybuf), "%s",
	               actor->reason != NULL ? actor->reason : "");
	a.actor_id = idbuf;
	a.source = srcbuf;
	a.reason = whybuf;
	wbuf_init(&w);
	rc = audit_encode(&a, &w);
	if (rc != 0)
		goto out;
	store_be64(kbuf, seq);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = kbuf;
	key.size = sizeof(kbuf);
	data.data = w.p;
	data.size = (u_int32_t)w.len;
	ret = st->audit->put(st->audit, txn, &key, &data, DB_NOOVERWRITE);
	if (ret != 0)
		rc = store_dberr(ret, "append audit record");
out:
	wbuf_free(&w);
	return rc;
}

struct audit_walk {
	const apitoken_audit_filter_t *f;
	apitoken_audit_fn fn;
	void *ctx;
};

static bool
audit_match(const apitoken_audit_filter_t *f, const apitoken_audit_t *a)
{
	if (f->user != NULL && strcmp(f->user, a->user) != 0)
		return false;
	if (f->event >= 0 && (int)a->kind != f->event)
		return false;
	if (f->event_name != NULL && strcmp(f->event_name, a->event) != 0)
		return false;
	if (f->since != 0 && a->time < f->since)
		return false;
	if (f->until != 0 && a->time >= f->until)
		return false;
	if (f->actor_kind >= 0 && (int)a->actor_kind != f->actor_kind)
		return false;
	if (f->actor_id != NULL && strcmp(f->actor_id, a->actor_id) != 0)
		return false;
	return true;
}

static int
audit_visit(apitoken_store_t *st, DB_TXN *txn, const DBT *key, const DBT *data,
            void *arg)
{
	struct audit_walk *w = arg;
	apitoken_audit_t a;
	int rc;

	(void)st;
	(void)txn;
	if (key->size != 8)
		return apitoken_error(APITOKEN_ERR_CORRUPT,
		                      "store: malformed audit key");
	a.seq = store_get_be64(key->data);
	rc = audit_decode(data->data, data->size, &a);
	if (rc != 0)
		return rc;
	if (!audit_match(w->f, &a))
		return 0;
	return w->fn(&a, w->ctx);
}

int
apitoken_audit_query(apitoken_store_t *store,
                     const apitoken_audit_filter_t *filter,
                     apitoken_audit_fn fn, void *ctx)
{
	static const apitoken_audit_filter_t all = {.event = -1,
	                                            .actor_kind = -1};
	struct audit_walk w = {filter != NULL ? filter : &all, fn, ctx};

	if (store == NULL || fn == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	return store_walk(store, store->audit, "audit log", audit_visit, &w);
}

int
apitoken_audit_foreach(apitoken_store_t *store, const char *user,
                       apitoken_audit_fn fn, void *ctx)
{
	apitoken_audit_filter_t f = {
	    .user = user, .event = -1, .actor_kind = -1};

	return apitoken_audit_query(store, &f, fn, ctx);
}

/* ---- retention -------------------------------------------------------- */

struct prune_op {
	int64_t cutoff;
	size_t batch;
	size_t deleted; /* in the last committed transaction */
	bool finished;
};

/*
 * Delete up to op->batch records older than the cutoff, oldest first.
 * Records are keyed by sequence, which follows time closely enough (a
 * record's time is its transaction's clock): the first record at or
 * after the cutoff ends the walk, so a clock step back keeps at most a
 * few records a little longer, never deletes a young one.
 */
static int
prune_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	struct prune_op *op = arg;
	apitoken_audit_t a;
	DBC *cur = NULL;
	DBT key, data;
	int rc = 0, ret;

	op->deleted = 0;
	op->finished = false;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_REALLOC;
	ret = st->audit->cursor(st->audit, txn, &cur, 0);
	if (ret != 0) {
		rc = store_dberr(ret, "audit cursor");
		goto out;
	}
	while (op->deleted < op->batch) {
		ret = cur->get(cur, &key, &data, DB_FIRST | DB_RMW);
		if (ret == DB_NOTFOUND) {
			op->finished = true;
			break;
		}
		if (ret != 0) {
			rc = store_dberr(ret, "read audit log");
			goto out;
		}
		/* A malformed record is old enough to go by its neighbours:
		 * it can never be shown anyway.  Unreadable times stop. */
		if (key.size == 8) {
			a.seq = store_get_be64(key.data);
			if (audit_decode(data.data, data.size, &a) == 0 &&
			    a.time >= op->cutoff) {
				op->finished = true;
				break;
			}
		}
		ret = cur->del(cur, 0);
		if (ret != 0) {
			rc = store_dberr(ret, "delete audit record");
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
apitoken_audit_prune(apitoken_store_t *store, int64_t now, int64_t retention,
                     size_t batch, size_t max, size_t *deleted_out)
{
	struct prune_op op;
	size_t total = 0;
	int rc = 0;

	if (deleted_out != NULL)
		*deleted_out = 0;
	if (store == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	if (retention <= 0)
		return 0;
	memset(&op, 0, sizeof(op));
	op.cutoff = now > INT64_MIN + retention ? now - retention : INT64_MIN;
	op.batch = batch > 0 ? batch : 1000;
	do {
		if (max != 0 && max - total < op.batch)
			op.batch = max - total;
		rc = store_write(store, prune_txn, &op);
		if (rc != 0)
			break;
		total += op.deleted;
	} while (!op.finished && op.deleted > 0 && (max == 0 || total < max));
	if (deleted_out != NULL)
		*deleted_out = total;
	return rc;
}
