/*
 * The audit log: one record per change, appended in the transaction of the
 * change.  Records name tokens by their public id; never a secret or hash.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apitoken/error.h>

#include "store_int.h"

int
store_audit_append(apitoken_store_t *st, DB_TXN *txn, int64_t now,
                   const char *event, const char *user, const char *token_id,
                   const char *origin, const char *detail)
{
	apitoken_audit_t a;
	struct wbuf w;
	char obuf[STORE_ORIGIN_MAX + 1];
	uint8_t kbuf[8];
	DBT key, data;
	uint64_t seq;
	int rc, ret;

	rc = store_next_seq(st, txn, "audit", &seq);
	if (rc != 0)
		return rc;
	memset(&a, 0, sizeof(a));
	a.time = now;
	a.event = event;
	a.user = user != NULL ? user : "";
	a.token_id = token_id != NULL ? token_id : "";
	/* origin comes from callers (peer credentials, CLI): bound it. */
	(void)snprintf(obuf, sizeof(obuf), "%s", origin != NULL ? origin : "");
	a.origin = obuf;
	a.detail = detail != NULL ? detail : "";
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
	const char *user;
	apitoken_audit_fn fn;
	void *ctx;
};

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
	if (w->user != NULL && strcmp(w->user, a.user) != 0)
		return 0;
	return w->fn(&a, w->ctx);
}

int
apitoken_audit_foreach(apitoken_store_t *store, const char *user,
                       apitoken_audit_fn fn, void *ctx)
{
	struct audit_walk w = {user, fn, ctx};

	if (store == NULL || fn == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	return store_walk(store, store->audit, "audit log", audit_visit, &w);
}
