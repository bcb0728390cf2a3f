/*
 * Last use of each token: noted in memory on every use, written to
 * lastuse.db in batches by apitoken_lastuse_flush().
 *
 * Why this never drops a kept introspection answer: kept answers are
 * retired by change records (store_changes.c), and the flush writes
 * none: nothing a check reads lives in lastuse.db.  Readers of last use
 * take the in-memory value first, which is never older than the stored
 * one, so a snapshot that predates a flush cannot show an out-of-date
 * use.
 *
 * The table: SHARDS mutex-protected hash tables of chained entries,
 * one per token used since the last flush (about 200 bytes each); a use
 * costs one hash, one short lock and two string copies.  A shard doubles
 * its buckets when it holds twice as many entries: with a fixed table, 1M
 * tokens in use made chains of 15 and the walk 6% of a store read's
 * introspection (tests/bench/scale-bench.sh).
 *
 * Once a batch is written, its entries that were not used again are
 * freed (and a later flush frees those that were still recent then):
 * their value is the stored one, which readers fall back to.
 * Before, every token used since start stayed in memory (1M tokens used:
 * about 250 MB that never shrank).  An entry used in the last FORGET_AFTER
 * seconds stays: it is likely used again, and a note delayed across the
 * flush could otherwise make a new entry with an older time than the one
 * just written (a use older than the stored one is ignored only while
 * its entry exists).  A replica never flushes (lastuse.c), so there the
 * table still holds every token used since start.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apitoken/error.h>
#include <apitoken/log.h>

#include "store_int.h"

#define SHARDS 64
#define BUCKETS 64 /* per shard at first; a power of two */
#define FLUSH_BATCH 500
#define FORGET_AFTER 2 /* seconds; see the top of the file */

struct use {
	struct use *next;
	char id[APITOKEN_ID_LEN + 1];
	bool dirty;
	apitoken_last_use_t u;
};

struct shard {
	pthread_mutex_t mu;
	struct use **b;
	size_t nb; /* buckets, a power of two */
	size_t n;  /* entries */
};

struct store_lastuse {
	struct shard s[SHARDS];
};

static uint32_t
id_hash(const char *id)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *id != '\0'; id++)
		h = (h ^ (uint8_t)*id) * 16777619u;
	return h;
}

int
store_lastuse_open(apitoken_store_t *st, DB_TXN *txn)
{
	/* As open_db(): no MVCC with replication (store_rep.c). */
	u_int32_t flags = DB_THREAD | (st->rep == NULL ? DB_MULTIVERSION : 0);
	DB *db = NULL;
	size_t i;
	int ret, rc;

	st->lastuse_mem = calloc(1, sizeof(*st->lastuse_mem));
	if (st->lastuse_mem == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	for (i = 0; i < SHARDS; i++) {
		struct shard *sh = &st->lastuse_mem->s[i];

		pthread_mutex_init(&sh->mu, NULL);
		sh->b = calloc(BUCKETS, sizeof(*sh->b));
		if (sh->b == NULL)
			return apitoken_error(APITOKEN_ERR_NOMEM,
			                      "out of memory");
		sh->nb = BUCKETS;
	}
	/* Added after schema 1 stores existed, as tombstones.db. */
	flags |= st->rdonly ? DB_RDONLY : DB_CREATE;
	ret = db_create(&db, st->env, 0);
	if (ret != 0)
		return store_dberr(ret, "create handle");
	ret = db->open(db, txn, STORE_DB_LASTUSE, NULL, DB_BTREE, flags, 0600);
	if (ret != 0) {
		(void)db->close(db, 0);
		if (ret == ENOENT && st->rdonly)
			return 0;
		rc = store_dberr(ret, STORE_DB_LASTUSE);
		return rc == STORE_RETRY ? APITOKEN_ERR_STORE : rc;
	}
	st->lastuse = db;
	return 0;
}

void
store_lastuse_close(apitoken_store_t *st)
{
	struct use *e, *next;
	size_t i, j;

	if (st->lastuse != NULL) {
		(void)st->lastuse->close(st->lastuse, 0);
		st->lastuse = NULL;
	}
	if (st->lastuse_mem == NULL)
		return;
	for (i = 0; i < SHARDS; i++) {
		struct shard *sh = &st->lastuse_mem->s[i];

		for (j = 0; sh->b != NULL && j < sh->nb; j++) {
			for (e = sh->b[j]; e != NULL; e = next) {
				next = e->next;
				free(e);
			}
		}
		free(sh->b);
		pthread_mutex_destroy(&sh->mu);
	}
	free(st->lastuse_mem);
	st->lastuse_mem = NULL;
}

static void
copy_source(char *buf, size_t len, void *ctx)
{
	(void)snprintf(buf, len, "%s", ctx != NULL ? (const char *)ctx : "");
}

void
apitoken_lastuse_note(apitoken_store_t *store, const char *token_id,
                      int64_t when, const char *source, const char *client)
{
	apitoken_lastuse_note_lazy(store, token_id, when, copy_source,
	                           (void *)source, client);
}

/* Under sh->mu: twice the buckets, or as it was without memory. */
static void
grow(struct shard *sh)
{
	size_t nb = sh->nb * 2, j;
	struct use **b = calloc(nb, sizeof(*b)), *e, *next;

	if (b == NULL)
		return; /* longer chains, still correct */
	for (j = 0; j < sh->nb; j++) {
		for (e = sh->b[j]; e != NULL; e = next) {
			uint32_t h = id_hash(e->id);

			next = e->next;
			e->next = b[(h / SHARDS) & (nb - 1)];
			b[(h / SHARDS) & (nb - 1)] = e;
		}
	}
	free(sh->b);
	sh->b = b;
	sh->nb = nb;
}

void
apitoken_lastuse_note_lazy(apitoken_store_t *store, const char *token_id,
                           int64_t when, apitoken_lastuse_source_fn source_fn,
                           void *ctx, const char *client)
{
	struct shard *sh;
	struct use **slot, *e;
	uint32_t h;

	if (store == NULL || store->lastuse_mem == NULL || token_id == NULL ||
	    strlen(token_id) != APITOKEN_ID_LEN)
		return;
	h = id_hash(token_id);
	sh = &store->lastuse_mem->s[h % SHARDS];
	pthread_mutex_lock(&sh->mu);
	slot = &sh->b[(h / SHARDS) & (sh->nb - 1)];
	for (e = *slot; e != NULL; e = e->next) {
		if (memcmp(e->id, token_id, APITOKEN_ID_LEN) == 0)
			break;
	}
	if (e == NULL) {
		e = calloc(1, sizeof(*e));
		if (e == NULL) {
			pthread_mutex_unlock(&sh->mu);
			return; /* a use not noted: no harm */
		}
		memcpy(e->id, token_id, APITOKEN_ID_LEN + 1);
		e->next = *slot;
		*slot = e;
		if (++sh->n > 2 * sh->nb)
			grow(sh);
	}
	if (client == NULL)
		client = "";
	/* The hot case: this client used it already this second. */
	if (when == e->u.time && strcmp(e->u.client, client) == 0) {
		pthread_mutex_unlock(&sh->mu);
		return;
	}
	if (when >= e->u.time) {
		e->u.time = when;
		source_fn(e->u.source, sizeof(e->u.source), ctx);
		(void)snprintf(e->u.client, sizeof(e->u.client), "%s", client);
		e->dirty = true;
	}
	pthread_mutex_unlock(&sh->mu);
}

static bool
mem_get(apitoken_store_t *st, const char *id, apitoken_last_use_t *out)
{
	struct shard *sh;
	struct use *e;
	uint32_t h;
	bool found = false;

	if (st->lastuse_mem == NULL)
		return false;
	h = id_hash(id);
	sh = &st->lastuse_mem->s[h % SHARDS];
	pthread_mutex_lock(&sh->mu);
	for (e = sh->b[(h / SHARDS) & (sh->nb - 1)]; e != NULL; e = e->next) {
		if (strcmp(e->id, id) == 0) {
			*out = e->u;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&sh->mu);
	return found;
}

/* ---- on disk ------------------------------------------------------- */

struct flush_item {
	char id[APITOKEN_ID_LEN + 1];
	apitoken_last_use_t u;
};

struct flush_op {
	const struct flush_item *items;
	size_t n;
};

static int
flush_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	struct flush_op *op = arg;
	struct wbuf w;
	DBT key, data;
	size_t i;
	int rc = 0, ret;

	wbuf_init(&w);
	for (i = 0; i < op->n && rc == 0; i++) {
		w.len = 0;
		wbuf_u8(&w, STORE_REC_VERSION);
		wbuf_i64(&w, op->items[i].u.time);
		wbuf_str(&w, op->items[i].u.source);
		wbuf_str(&w, op->items[i].u.client);
		if (w.oom) {
			rc = apitoken_error(APITOKEN_ERR_NOMEM,
			                    "out of memory");
			break;
		}
		memset(&key, 0, sizeof(key));
		memset(&data, 0, sizeof(data));
		key.data = (void *)op->items[i].id;
		key.size = APITOKEN_ID_LEN;
		data.data = w.p;
		data.size = (u_int32_t)w.len;
		ret = st->lastuse->put(st->lastuse, txn, &key, &data, 0);
		if (ret != 0)
			rc = store_dberr(ret, "write last use");
	}
	wbuf_free(&w);
	return rc;
}

/* Take up to max dirty entries (clearing their flag) from shard i; free
 * the clean ones not used in the last FORGET_AFTER seconds (written by an
 * earlier flush while they were recent). */
static size_t
take_dirty(struct shard *sh, struct flush_item *items, size_t max,
           size_t *bucket, int64_t now)
{
	struct use **p, *e;
	size_t n = 0;

	pthread_mutex_lock(&sh->mu);
	for (; *bucket < sh->nb && n < max; (*bucket)++) {
		for (p = &sh->b[*bucket]; (e = *p) != NULL;) {
			if (!e->dirty) {
				if (e->u.time + FORGET_AFTER <= now) {
					*p = e->next;
					free(e);
					sh->n--;
				} else {
					p = &e->next;
				}
				continue;
			}
			if (n == max)
				goto full; /* this bucket again next time */
			memcpy(items[n].id, e->id, sizeof(e->id));
			items[n].u = e->u;
			e->dirty = false;
			n++;
			p = &e->next;
		}
	}
full:
	pthread_mutex_unlock(&sh->mu);
	return n;
}

/* A batch was written: free its entries not used since, and not used in
 * the last FORGET_AFTER seconds (top of file). */
static void
forget_written(struct store_lastuse *mem, const struct flush_item *items,
               size_t n, int64_t now)
{
	struct shard *sh;
	struct use **p, *e;
	uint32_t h;
	size_t i;

	for (i = 0; i < n; i++) {
		if (items[i].u.time + FORGET_AFTER > now)
			continue;
		h = id_hash(items[i].id);
		sh = &mem->s[h % SHARDS];
		pthread_mutex_lock(&sh->mu);
		for (p = &sh->b[(h / SHARDS) & (sh->nb - 1)]; (e = *p) != NULL;
		     p = &e->next) {
			if (strcmp(e->id, items[i].id) != 0)
				continue;
			if (!e->dirty && e->u.time == items[i].u.time) {
				*p = e->next;
				free(e);
				sh->n--;
			}
			break;
		}
		pthread_mutex_unlock(&sh->mu);
	}
}

size_t
apitoken_lastuse_held(apitoken_store_t *st)
{
	size_t i, n = 0;

	if (st == NULL || st->lastuse_mem == NULL)
		return 0;
	for (i = 0; i < SHARDS; i++) {
		pthread_mutex_lock(&st->lastuse_mem->s[i].mu);
		n += st->lastuse_mem->s[i].n;
		pthread_mutex_unlock(&st->lastuse_mem->s[i].mu);
	}
	return n;
}

/* A batch that could not be written: dirty again, unless used since.
 * (Noting the same use again would not do: a use in the same second by
 * the same client is no news, and would leave the entry clean.) */
static void
redirty(apitoken_store_t *st, const struct flush_item *items, size_t n)
{
	struct shard *sh;
	struct use *e;
	uint32_t h;
	size_t i;

	for (i = 0; i < n; i++) {
		h = id_hash(items[i].id);
		sh = &st->lastuse_mem->s[h % SHARDS];
		pthread_mutex_lock(&sh->mu);
		for (e = sh->b[(h / SHARDS) & (sh->nb - 1)]; e != NULL;
		     e = e->next) {
			if (strcmp(e->id, items[i].id) == 0)
				break;
		}
		if (e != NULL && e->u.time == items[i].u.time)
			e->dirty = true;
		pthread_mutex_unlock(&sh->mu);
		if (e == NULL)
			apitoken_lastuse_note(st, items[i].id, items[i].u.time,
			                      items[i].u.source,
			                      items[i].u.client);
	}
}

int
apitoken_lastuse_flush(apitoken_store_t *store, size_t *written_out)
{
	struct flush_item *items;
	struct flush_op op;
	size_t i, bucket, n, total = 0;
	int rc = 0;

	if (written_out != NULL)
		*written_out = 0;
	if (store == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	if (store->lastuse == NULL || store->rdonly ||
	    store->lastuse_mem == NULL)
		return 0;
	items = malloc(FLUSH_BATCH * sizeof(*items));
	if (items == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	for (i = 0; i < SHARDS && rc == 0; i++) {
		/* A shard that grows meanwhile moves entries between
		 * buckets: one passed over stays dirty for the next flush. */
		bucket = 0;
		while (rc == 0) {
			n = take_dirty(&store->lastuse_mem->s[i], items,
			               FLUSH_BATCH, &bucket, apitoken_now());
			if (n == 0)
				break; /* the shard's last bucket was taken */
			op.items = items;
			op.n = n;
			rc = store_write(store, flush_txn, &op);
			if (rc != 0) {
				redirty(store, items, n);
			} else {
				forget_written(store->lastuse_mem, items, n,
				               apitoken_now());
				total += n;
			}
		}
	}
	free(items);
	if (written_out != NULL)
		*written_out = total;
	return rc;
}

int
apitoken_lastuse_get(apitoken_store_t *store, const char *token_id,
                     apitoken_last_use_t *out)
{
	uint8_t buf[256];
	const char *src, *cli;
	struct rbuf r;
	DB_TXN *txn = NULL;
	DBT key, data;
	int64_t t;
	int rc, ret;

	if (out == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no result");
	memset(out, 0, sizeof(*out));
	if (store == NULL || token_id == NULL ||
	    strlen(token_id) != APITOKEN_ID_LEN)
		return apitoken_error(APITOKEN_ERR_INVALID, "no token id");
	if (mem_get(store, token_id, out))
		return 0;
	if (store->lastuse == NULL)
		return 0;
	rc = store_read_begin(store, &txn);
	if (rc != 0)
		return rc;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)token_id;
	key.size = APITOKEN_ID_LEN;
	data.data = buf;
	data.ulen = sizeof(buf);
	data.flags = DB_DBT_USERMEM;
	ret = store->lastuse->get(store->lastuse, txn, &key, &data, 0);
	store_read_end(store, txn);
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret == DB_BUFFER_SMALL)
		return apitoken_error(APITOKEN_ERR_CORRUPT,
		                      "store: malformed last-use record");
	if (ret != 0) {
		rc = store_dberr(ret, "read last use");
		return rc == STORE_RETRY
		           ? apitoken_error(APITOKEN_ERR_STORE, "store: busy")
		           : rc;
	}
	rbuf_init(&r, buf, data.size);
	if (rbuf_u8(&r) != STORE_REC_VERSION)
		r.bad = true;
	t = rbuf_i64(&r);
	src = rbuf_str(&r, sizeof(out->source) - 1);
	cli = rbuf_str(&r, sizeof(out->client) - 1);
	rc = rbuf_end(&r, "last use");
	if (rc != 0)
		return rc;
	out->time = t;
	memcpy(out->source, src, strlen(src) + 1);
	memcpy(out->client, cli, strlen(cli) + 1);
	return 0;
}
