/*
 * Clients: the resource servers allowed to call introspection.  Only the
 * SHA-256 of a client secret is stored; authentication does the same work
 * for an unknown id as for a wrong secret.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <apitoken/error.h>
#include <apitoken/log.h>

#include "store_int.h"

static bool
client_id_valid(const char *id)
{
	size_t i;

	if (id == NULL || id[0] == '\0')
		return false;
	for (i = 0; id[i] != '\0'; i++) {
		char c = id[i];

		if (i >= APITOKEN_CLIENT_ID_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

static void
id_key(DBT *key, const char *id)
{
	memset(key, 0, sizeof(*key));
	key->data = (void *)id;
	key->size = (u_int32_t)strlen(id);
}

void
apitoken_client_free(apitoken_client_t *client)
{
	if (client == NULL)
		return;
	free(client->id);
	free(client->name);
	free(client);
}

struct client_op {
	const char *id;
	const char *name;
	unsigned flags;
	const apitoken_actor_t *actor;
	int64_t now;
	uint8_t hash[APITOKEN_HASH_LEN];
};

static int
client_add_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	struct client_op *op = arg;
	struct wbuf w;
	char detail[96];
	DBT key, data;
	int rc, ret;

	wbuf_init(&w);
	rc = client_encode(op->hash, op->name, op->flags, op->now, &w);
	if (rc != 0)
		goto out;
	id_key(&key, op->id);
	memset(&data, 0, sizeof(data));
	data.data = w.p;
	data.size = (u_int32_t)w.len;
	ret = st->clients->put(st->clients, txn, &key, &data, DB_NOOVERWRITE);
	if (ret == DB_KEYEXIST) {
		rc = apitoken_error(APITOKEN_ERR_EXISTS,
		                    "client %s already exists", op->id);
		goto out;
	}
	if (ret != 0) {
		rc = store_dberr(ret, "write client");
		goto out;
	}
	(void)snprintf(detail, sizeof(detail), "client %s", op->id);
	rc = store_audit_append(st, txn, op->now, APITOKEN_AUDIT_CLIENT_ADDED,
	                        "", "", op->actor, detail);
	if (rc == 0)
		rc = store_count_add(st, txn, STORE_COUNT_CLIENTS, 1);
	if (rc == 0)
		rc =
		    store_change_name(st, txn, APITOKEN_CHANGE_CLIENT, op->id);
out:
	if (w.p != NULL)
		OPENSSL_cleanse(w.p, w.len);
	wbuf_free(&w);
	return rc;
}

int
apitoken_client_add_as(apitoken_store_t *store, const char *id,
                       const char *name, unsigned flags,
                       const apitoken_actor_t *actor,
                       char secret_out[APITOKEN_TOKEN_LEN + 1])
{
	struct client_op op;
	char secret[APITOKEN_TOKEN_LEN + 1];
	int rc;

	if (store == NULL || secret_out == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	secret_out[0] = '\0';
	if (!client_id_valid(id))
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "invalid client id: use 1 to %d of "
		                      "A-Z a-z 0-9 . _ -",
		                      APITOKEN_CLIENT_ID_MAX);
	if (name == NULL || name[0] == '\0')
		name = id;
	if (!store_text_valid(name, STORE_CLIENT_NAME_MAX))
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "client %s: invalid name (1 to %d "
		                      "printable characters)",
		                      id, STORE_CLIENT_NAME_MAX);
	if (flags & ~(unsigned)(APITOKEN_CLIENT_CAN_REVOKE |
	                        APITOKEN_CLIENT_CAN_REPORT_LEAKS))
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "client %s: unknown flags", id);
	memset(&op, 0, sizeof(op));
	op.id = id;
	op.name = name;
	op.flags = flags;
	op.actor = actor;
	op.now = apitoken_now();
	rc = apitoken_token_create(APITOKEN_CLIENT_SECRET_PREFIX, secret);
	if (rc != 0)
		goto out;
	apitoken_token_hash(secret, APITOKEN_TOKEN_LEN, op.hash);
	rc = store_write(store, client_add_txn, &op);
	if (rc == 0)
		memcpy(secret_out, secret, sizeof(secret));
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(op.hash, sizeof(op.hash));
	return rc;
}

static int
client_remove_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	struct client_op *op = arg;
	char detail[96];
	DBT key;
	int rc, ret;

	id_key(&key, op->id);
	ret = st->clients->del(st->clients, txn, &key, 0);
	if (ret == DB_NOTFOUND)
		return apitoken_error(APITOKEN_ERR_NOT_FOUND,
		                      "no such client %s", op->id);
	if (ret != 0)
		return store_dberr(ret, "delete client");
	(void)snprintf(detail, sizeof(detail), "client %s", op->id);
	rc =
	    store_audit_append(st, txn, op->now, APITOKEN_AUDIT_CLIENT_REMOVED,
	                       "", "", op->actor, detail);
	if (rc == 0)
		rc = store_count_add(st, txn, STORE_COUNT_CLIENTS, -1);
	if (rc == 0)
		rc =
		    store_change_name(st, txn, APITOKEN_CHANGE_CLIENT, op->id);
	return rc;
}

int
apitoken_client_remove_as(apitoken_store_t *store, const char *id,
                          const apitoken_actor_t *actor)
{
	struct client_op op;

	if (store == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	if (!client_id_valid(id))
		return apitoken_error(APITOKEN_ERR_NOT_FOUND,
		                      "no such client (invalid id)");
	memset(&op, 0, sizeof(op));
	op.id = id;
	op.actor = actor;
	op.now = apitoken_now();
	return store_write(store, client_remove_txn, &op);
}

struct client_walk {
	apitoken_client_fn fn;
	void *ctx;
};

static int
client_visit(apitoken_store_t *st, DB_TXN *txn, const DBT *key,
             const DBT *data, void *arg)
{
	struct client_walk *w = arg;
	char id[APITOKEN_CLIENT_ID_MAX + 1];
	struct client_view v;
	apitoken_client_t c;
	int rc;

	(void)st;
	(void)txn;
	if (key->size == 0 || key->size > APITOKEN_CLIENT_ID_MAX)
		return apitoken_error(APITOKEN_ERR_CORRUPT,
		                      "store: malformed client key");
	memcpy(id, key->data, key->size);
	id[key->size] = '\0';
	rc = client_decode(data->data, data->size, &v);
	if (rc != 0)
		return rc;
	c.id = id;
	c.name = (char *)v.name;
	c.flags = v.flags;
	c.created = v.created;
	return w->fn(&c, w->ctx);
}

int
apitoken_client_foreach(apitoken_store_t *store, apitoken_client_fn fn,
                        void *ctx)
{
	struct client_walk w = {fn, ctx};

	if (store == NULL || fn == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	return store_walk(store, store->clients, "clients", client_visit, &w);
}

/*
 * Hash the presented secret, then compare in constant time against the
 * stored hash, or against a dummy for an unknown or malformed id, so the
 * answer and the work are the same.
 */
int
apitoken_client_authenticate(apitoken_store_t *store, const char *id,
                             const char *secret, size_t secret_len,
                             apitoken_client_t **client_out)
{
	static const uint8_t dummy[APITOKEN_HASH_LEN] = {0xa5};
	uint8_t h[APITOKEN_HASH_LEN], stored[APITOKEN_HASH_LEN];
	uint8_t buf[512];
	struct client_view v;
	apitoken_client_t *c = NULL;
	DB_TXN *txn = NULL;
	DBT key, data;
	bool found = false, equal;
	int rc = 0, ret;

	if (client_out != NULL)
		*client_out = NULL;
	if (store == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	apitoken_token_hash(secret != NULL ? secret : "",
	                    secret != NULL ? secret_len : 0, h);
	memcpy(stored, dummy, sizeof(stored));
	memset(&v, 0, sizeof(v));
	if (client_id_valid(id)) {
		rc = store_read_begin_answer(store, &txn);
		if (rc != 0)
			goto out;
		id_key(&key, id);
		memset(&data, 0, sizeof(data));
		data.data = buf;
		data.ulen = sizeof(buf);
		data.flags = DB_DBT_USERMEM;
		ret = store->clients->get(store->clients, txn, &key, &data, 0);
		if (ret == 0 && client_decode(buf, data.size, &v) == 0) {
			memcpy(stored, v.hash, sizeof(stored));
			found = true;
		} else if (ret != 0 && ret != DB_NOTFOUND &&
		           ret != DB_BUFFER_SMALL) {
			rc = store_dberr(ret, "read client");
			if (rc == STORE_RETRY)
				rc = apitoken_error(APITOKEN_ERR_STORE,
				                    "store: busy");
			goto out;
		}
	}
	equal = apitoken_secret_equal(h, stored, sizeof(h));
	if (!(equal && found) || secret == NULL) {
		rc = apitoken_error(APITOKEN_ERR_DENIED,
		                    "client authentication failed");
		goto out;
	}
	if (client_out != NULL) {
		c = calloc(1, sizeof(*c));
		if (c == NULL || (c->id = strdup(id)) == NULL ||
		    (c->name = strdup(v.name)) == NULL) {
			apitoken_client_free(c);
			rc = apitoken_error(APITOKEN_ERR_NOMEM,
			                    "out of memory");
			goto out;
		}
		c->flags = v.flags;
		c->created = v.created;
		*client_out = c;
	}
out:
	store_read_end(store, txn);
	OPENSSL_cleanse(h, sizeof(h));
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}
