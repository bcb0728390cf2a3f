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
 * The table: SHARDS mutex-protected open-addressing hash tables (linear
 * probing) of pointers to entries, one entry per token used since the last
 * flush (176 bytes); a use costs one hash, one short lock and two string
 * copies.  Each slot holds the entry's 32-bit hash beside the pointer, so
 * a token not in the table (every new token, which at 1M tokens asked
 * uniformly is most of them) is known absent from the slot array alone:
 * with chained entries, reading each entry's id to compare it missed the
 * CPU cache, and that walk was 70% of the function's time and 7% of a
 * store read's introspection (perf, tests/bench/scale-bench.sh).  A shard
 * doubles its slots when more than half are taken; a freed entry leaves a
 * marker (TOMB) so that neither probes nor a flush walking the slots see
 * entries move.
 *
 * Once a batch is written, its entries that were not used again are
 * freed (and a later flush frees those that were still recent then):
 * their value is the stored one, which readers fall back to.
 * Before, every token used since start stayed in memory (1M tokens used:
 * about 250 MB that never shrank).  An entry used in the last FORGET_AFTER
 * seconds stays: it is likely used again, and a note delayed across the
 * flush could otherwise make a new entry with an older time than the one
 * just written (a use older than the stored one is ignored only while
 * its entry exists).  A replica drains its uses to the master instead of
 * writing them (apitoken_lastuse_drain(), introspect/regions_uses.c).
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
#define SLOTS 64 /* per shard at first; a power of two */
#define FLUSH_BATCH 500
#define FORGET_AFTER 2 /* seconds; see the top of the file */

struct use {
	char id[APITOKEN_ID_LEN + 1];
	bool dirty;
	apitoken_last_use_t u;
};

struct slot {
	uint32_t h;    /* id_hash() of e->id */
	struct use *e; /* NULL: never used since the last rebuild; TOMB */
};

static struct use tomb;
#define TOMB (&tomb) /* a freed entry's slot: probes go on past it */

struct shard {
	pthread_mutex_t mu;
	struct slot *s;
	size_t cap;   /* slots, a power of two */
	size_t n;     /* entries */
	size_t tombs; /* TOMB slots */
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

static struct shard *
shard_of(struct store_lastuse *mem, uint32_t h)
{
	return &mem->s[h % SHARDS];
}

/*
 * Under sh->mu: the slot holding id (hash h), or NULL with *free_out the
 * slot a new entry for it goes to (the first TOMB on the way, else the
 * empty slot that ended the probe).  At most half the slots are taken or
 * TOMB, so a probe always ends.
 */
static struct slot *
slot_find(struct shard *sh, uint32_t h, const char *id, struct slot **free_out)
{
	size_t mask = sh->cap - 1, i = (h / SHARDS) & mask;
	struct slot *first_tomb = NULL, *sl;

	for (;; i = (i + 1) & mask) {
		sl = &sh->s[i];
		if (sl->e == NULL)
			break;
		if (sl->e == TOMB) {
			if (first_tomb == NULL)
				first_tomb = sl;
		} else if (sl->h == h &&
		           memcmp(sl->e->id, id, APITOKEN_ID_LEN) == 0) {
			return sl;
		}
	}
	if (free_out != NULL)
		*free_out = first_tomb != NULL ? first_tomb : sl;
	return NULL;
}

/* Under sh->mu: free the entry in sl, leaving a TOMB. */
static void
slot_free(struct shard *sh, struct slot *sl)
{
	free(sl->e);
	sl->e = TOMB;
	sh->n--;
	sh->tombs++;
}

/* Under sh->mu, before an insert: keep at most half the slots taken or
 * TOMB, doubling when the entries alone fill half, else rebuilding at the
 * same size to clear TOMBs.  Without memory it leaves the table as it is
 * and returns false (the insert must then not fill the last empty slot). */
static bool
slots_room(struct shard *sh)
{
	struct slot *s, *sl;
	size_t cap, i;

	if ((sh->n + sh->tombs + 1) * 2 <= sh->cap)
		return true;
	cap = (sh->n + 1) * 2 > sh->cap / 2 ? sh->cap * 2 : sh->cap;
	s = calloc(cap, sizeof(*s));
	if (s == NULL)
		return sh->n + sh->tombs + 2 < sh->cap;
	for (i = 0; i < sh->cap; i++) {
		size_t j;

		if (sh->s[i].e == NULL || sh->s[i].e == TOMB)
			continue;
		for (j = (sh->s[i].h / SHARDS) & (cap - 1); s[j].e != NULL;
		     j = (j + 1) & (cap - 1))
			;
		sl = &s[j];
		*sl = sh->s[i];
	}
	free(sh->s);
	sh->s = s;
	sh->cap = cap;
	sh->tombs = 0;
	return true;
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
		sh->s = calloc(SLOTS, sizeof(*sh->s));
		if (sh->s == NULL)
			return apitoken_error(APITOKEN_ERR_NOMEM,
			                      "out of memory");
		sh->cap = SLOTS;
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
	size_t i, j;

	if (st->lastuse != NULL) {
		(void)st->lastuse->close(st->lastuse, 0);
		st->lastuse = NULL;
	}
	if (st->lastuse_mem == NULL)
		return;
	for (i = 0; i < SHARDS; i++) {
		struct shard *sh = &st->lastuse_mem->s[i];

		for (j = 0; sh->s != NULL && j < sh->cap; j++) {
			if (sh->s[j].e != TOMB)
				free(sh->s[j].e);
		}
		free(sh->s);
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

void
apitoken_lastuse_note_lazy(apitoken_store_t *store, const char *token_id,
                           int64_t when, apitoken_lastuse_source_fn source_fn,
                           void *ctx, const char *client)
{
	struct shard *sh;
	struct slot *sl, *free_sl;
	struct use *e;
	uint32_t h;

	if (store == NULL || store->lastuse_mem == NULL || token_id == NULL ||
	    strlen(token_id) != APITOKEN_ID_LEN)
		return;
	h = id_hash(token_id);
	sh = shard_of(store->lastuse_mem, h);
	pthread_mutex_lock(&sh->mu);
	sl = slot_find(sh, h, token_id, &free_sl);
	if (sl != NULL) {
		e = sl->e;
	} else {
		struct slot *before = sh->s;

		/* A use not noted, without memory: no harm. */
		if (!slots_room(sh) || (e = calloc(1, sizeof(*e))) == NULL) {
			pthread_mutex_unlock(&sh->mu);
			return;
		}
		/* A rebuild moved every slot. */
		if (sh->s != before)
			(void)slot_find(sh, h, token_id, &free_sl);
		memcpy(e->id, token_id, APITOKEN_ID_LEN + 1);
		if (free_sl->e == TOMB)
			sh->tombs--;
		free_sl->h = h;
		free_sl->e = e;
		sh->n++;
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
	struct slot *sl;
	uint32_t h;

	if (st->lastuse_mem == NULL)
		return false;
	h = id_hash(id);
	sh = shard_of(st->lastuse_mem, h);
	pthread_mutex_lock(&sh->mu);
	sl = slot_find(sh, h, id, NULL);
	if (sl != NULL)
		*out = sl->e->u;
	pthread_mutex_unlock(&sh->mu);
	return sl != NULL;
}

/* ---- on disk ------------------------------------------------------- */

struct flush_op {
	const apitoken_lastuse_item_t *items;
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
take_dirty(struct shard *sh, apitoken_lastuse_item_t *items, size_t max,
           size_t *slot, int64_t now)
{
	struct use *e;
	size_t n = 0;

	pthread_mutex_lock(&sh->mu);
	for (; *slot < sh->cap && n < max; (*slot)++) {
		e = sh->s[*slot].e;
		if (e == NULL || e == TOMB)
			continue;
		if (!e->dirty) {
			if (e->u.time + FORGET_AFTER <= now)
				slot_free(sh, &sh->s[*slot]);
			continue;
		}
		memcpy(items[n].id, e->id, sizeof(e->id));
		items[n].u = e->u;
		e->dirty = false;
		n++;
	}
	pthread_mutex_unlock(&sh->mu);
	return n;
}

/* A batch was written: free its entries not used since, and not used in
 * the last FORGET_AFTER seconds (top of file). */
static void
forget_written(struct store_lastuse *mem, const apitoken_lastuse_item_t *items,
               size_t n, int64_t now)
{
	struct shard *sh;
	struct slot *sl;
	uint32_t h;
	size_t i;

	for (i = 0; i < n; i++) {
		if (items[i].u.time + FORGET_AFTER > now)
			continue;
		h = id_hash(items[i].id);
		sh = shard_of(mem, h);
		pthread_mutex_lock(&sh->mu);
		sl = slot_find(sh, h, items[i].id, NULL);
		if (sl != NULL && !sl->e->dirty &&
		    sl->e->u.time == items[i].u.time)
			slot_free(sh, sl);
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
redirty(apitoken_store_t *st, const apitoken_lastuse_item_t *items, size_t n)
{
	struct shard *sh;
	struct slot *sl;
	uint32_t h;
	size_t i;

	for (i = 0; i < n; i++) {
		h = id_hash(items[i].id);
		sh = shard_of(st->lastuse_mem, h);
		pthread_mutex_lock(&sh->mu);
		sl = slot_find(sh, h, items[i].id, NULL);
		if (sl != NULL && sl->e->u.time == items[i].u.time)
			sl->e->dirty = true;
		pthread_mutex_unlock(&sh->mu);
		if (sl == NULL)
			apitoken_lastuse_note(st, items[i].id, items[i].u.time,
			                      items[i].u.source,
			                      items[i].u.client);
	}
}

int
apitoken_lastuse_drain(apitoken_store_t *store, apitoken_lastuse_sink_fn sink,
                       void *ctx, size_t *sent_out)
{
	apitoken_lastuse_item_t *items;
	size_t i, slot, n, total = 0;
	int rc = 0;

	if (sent_out != NULL)
		*sent_out = 0;
	if (store == NULL || sink == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "no store or sink");
	if (store->lastuse_mem == NULL)
		return 0;
	items = malloc(FLUSH_BATCH * sizeof(*items));
	if (items == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	for (i = 0; i < SHARDS && rc == 0; i++) {
		/* A shard that grows meanwhile moves entries between
		 * slots: one passed over stays dirty for the next flush. */
		slot = 0;
		while (rc == 0) {
			n = take_dirty(&store->lastuse_mem->s[i], items,
			               FLUSH_BATCH, &slot, apitoken_now());
			if (n == 0)
				break; /* the shard's last slot was passed */
			rc = sink(items, n, ctx);
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
	if (sent_out != NULL)
		*sent_out = total;
	return rc;
}

static int
store_sink(const apitoken_lastuse_item_t *items, size_t n, void *ctx)
{
	struct flush_op op = {items, n};

	return store_write(ctx, flush_txn, &op);
}

int
apitoken_lastuse_flush(apitoken_store_t *store, size_t *written_out)
{
	if (written_out != NULL)
		*written_out = 0;
	if (store == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	if (store->lastuse == NULL || store->rdonly)
		return 0;
	return apitoken_lastuse_drain(store, store_sink, store, written_out);
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
