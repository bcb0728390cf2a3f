/*
 * bench_populate: fill a store with many users and one token each, fast,
 * for tests/bench/scale-bench.sh.  Test-only: it writes the store's
 * records directly (store_int.h, store_codec.c) in transactions of BATCH
 * tokens committed without a flush (one log flush and a checkpoint at the
 * end), and can make tokens that expire at a given time (in the past or a
 * few seconds ahead), which the product never does.  Every token gets
 * what apitoken_token_issue writes: the user, the token record, the user
 * index, the expiry index, the running counts of users and tokens, and
 * (with --notices) a "created" notice in the outbox, as a store without a
 * mail relay holds.  No audit records.
 *
 * usage: bench_populate --config FILE --count N [--prefix P]
 *                       [--expire-at UNIXTIME] [--notices] --out FILE
 * Run it while no apitokend holds the store.  FILE (mode 0600) gets the
 * tokens, one a line, in random order.
 */
#include "config.h"

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <apitoken/config.h>
#include <apitoken/error.h>
#include <apitoken/store.h>
#include <apitoken/token.h>

#include "../../core/store_int.h"

#define BATCH 2000

static int
put(DB *db, DB_TXN *txn, const void *k, size_t klen, const void *d,
    size_t dlen)
{
	DBT key, data;
	int ret;

	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)k;
	key.size = (u_int32_t)klen;
	data.data = (void *)d;
	data.size = (u_int32_t)dlen;
	ret = db->put(db, txn, &key, &data, 0);
	if (ret != 0)
		fprintf(stderr, "bench_populate: put: %s\n", db_strerror(ret));
	return ret;
}

struct args {
	const char *config, *prefix, *out;
	size_t count;
	int64_t expire_at; /* 0: now + token_lifetime */
	bool notices;
};

static int
one(apitoken_store_t *st, DB_TXN *txn, const struct args *a, size_t i,
    int64_t now, uint64_t seq, FILE *out)
{
	static char unit[] = "sales";
	char *bus[1] = {unit};
	char name[APITOKEN_USER_MAX + 1], email[APITOKEN_USER_MAX + 32];
	char token[APITOKEN_TOKEN_LEN + 1], msgid[96];
	uint8_t h[APITOKEN_HASH_LEN], ekey[8 + APITOKEN_HASH_LEN], kbuf[8];
	apitoken_user_t u;
	apitoken_notice_t n;
	struct tok_rec t;
	struct wbuf w;
	int rc = -1;

	wbuf_init(&w);
	(void)snprintf(name, sizeof(name), "%s%08zu", a->prefix, i + 1);
	(void)snprintf(email, sizeof(email), "%s@example.org", name);
	memset(&u, 0, sizeof(u));
	u.name = name;
	u.email = email;
	u.role = (char *)"viewer";
	u.bus = bus;
	u.n_bus = 1;
	u.api_access = true;
	u.created = u.updated = now;
	if (user_encode(&u, &w) != 0 ||
	    put(st->users, txn, name, strlen(name), w.p, w.len) != 0)
		goto out;
	if (apitoken_token_create(APITOKEN_TOKEN_PREFIX, token) != 0)
		goto out;
	memset(&t, 0, sizeof(t));
	if (apitoken_token_id_create(t.id) != 0)
		goto out;
	apitoken_token_hash(token, APITOKEN_TOKEN_LEN, h);
	memcpy(t.user, name, strlen(name) + 1);
	memcpy(t.hint, token + APITOKEN_TOKEN_LEN - 4, 4);
	t.exp = a->expire_at != 0
	            ? a->expire_at
	            : now + apitoken_store_config(st)->token_lifetime;
	t.iat = t.exp - apitoken_store_config(st)->token_lifetime;
	w.len = 0;
	if (tok_encode(&t, &w) != 0 ||
	    put(st->tokens, txn, h, sizeof(h), w.p, w.len) != 0)
		goto out;
	w.len = 0;
	if (hashref_encode(h, &w) != 0 ||
	    put(st->user_token, txn, name, strlen(name), w.p, w.len) != 0)
		goto out;
	store_be64(ekey, (uint64_t)t.exp ^ (UINT64_C(1) << 63));
	memcpy(ekey + 8, h, sizeof(h));
	if (put(st->expiry, txn, ekey, sizeof(ekey), w.p, 1) != 0)
		goto out;
	if (a->notices) {
		(void)snprintf(msgid, sizeof(msgid),
		               "<%" PRIu64 ".%s@apitoken>", seq, t.id);
		memset(&n, 0, sizeof(n));
		n.seq = seq;
		n.kind = "created";
		n.user = name;
		n.email = email;
		n.token_id = t.id;
		n.hint = t.hint;
		n.origin = "bench_populate";
		n.time = now;
		n.token_exp = t.exp;
		n.next_attempt = now;
		n.last_error = "";
		n.message_id = msgid;
		w.len = 0;
		store_be64(kbuf, seq);
		if (notice_encode(&n, &w) != 0 ||
		    put(st->outbox, txn, kbuf, 8, w.p, w.len) != 0)
			goto out;
	}
	/* The tokens file for wrk (--out, made 0600 above): the only
	 * place a secret goes; nothing is logged or printed. */
	fprintf(out, "%s\n", token);
	rc = 0;
out:
	OPENSSL_cleanse(token, sizeof(token));
	wbuf_free(&w);
	return rc;
}

/* A number in meta (the outbox sequence, the running counts): a version
 * byte and 8 bytes big-endian, as the store keeps them; 0 if absent. */
static uint64_t
meta_get(apitoken_store_t *st, DB_TXN *txn, const char *k)
{
	uint8_t buf[16];
	DBT key, data;
	uint64_t v = 0;

	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)k;
	key.size = (u_int32_t)strlen(k);
	data.data = buf;
	data.ulen = sizeof(buf);
	data.flags = DB_DBT_USERMEM;
	if (st->meta->get(st->meta, txn, &key, &data, 0) == 0 &&
	    data.size == 9)
		v = store_get_be64(buf + 1);
	return v;
}

static int
meta_put(apitoken_store_t *st, DB_TXN *txn, const char *k, uint64_t v)
{
	uint8_t val[9];

	val[0] = STORE_REC_VERSION;
	store_be64(val + 1, v);
	return put(st->meta, txn, k, strlen(k), val, sizeof(val));
}

/* The running counts, as apitoken_token_issue keeps them (apitokend
 * sizes its answer table from them). */
static int
count_add(apitoken_store_t *st, DB_TXN *txn, size_t n)
{
	static const char *const names[] = {"count." STORE_COUNT_USERS,
	                                    "count." STORE_COUNT_TOKENS};

	for (size_t i = 0; i < 2; i++)
		if (meta_put(st, txn, names[i],
		             meta_get(st, txn, names[i]) + n) != 0)
			return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"count", required_argument, NULL, 'n'},
	    {"prefix", required_argument, NULL, 'p'},
	    {"expire-at", required_argument, NULL, 'e'},
	    {"notices", no_argument, NULL, 'N'},
	    {"out", required_argument, NULL, 'o'},
	    {NULL, 0, NULL, 0}};
	struct args a = {.prefix = "u"};
	apitoken_config_t *cfg = NULL;
	apitoken_store_t *st = NULL;
	FILE *out = NULL;
	DB_TXN *txn = NULL;
	uint64_t seq;
	int64_t now;
	size_t i, batch;
	int c, fd, ret, code = 1;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a.config = optarg;
			break;
		case 'n':
			a.count = strtoul(optarg, NULL, 10);
			break;
		case 'p':
			a.prefix = optarg;
			break;
		case 'e':
			a.expire_at = strtoll(optarg, NULL, 10);
			break;
		case 'N':
			a.notices = true;
			break;
		case 'o':
			a.out = optarg;
			break;
		default:
			return 64;
		}
	}
	if (a.config == NULL || a.out == NULL || a.count == 0) {
		fprintf(stderr,
		        "usage: bench_populate --config FILE --count N "
		        "[--prefix P] [--expire-at T] [--notices] "
		        "--out FILE\n");
		return 64;
	}
	if (apitoken_config_load(a.config, &cfg) != 0 ||
	    apitoken_store_open(cfg, APITOKEN_STORE_CREATE, &st) != 0) {
		fprintf(stderr, "bench_populate: %s\n", apitoken_last_error());
		goto out;
	}
	fd = open(a.out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	out = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (out == NULL) {
		perror(a.out);
		goto out;
	}
	now = apitoken_now();
	seq = meta_get(st, NULL, "seq.outbox");
	for (i = 0; i < a.count;) {
		size_t end = i + BATCH < a.count ? i + BATCH : a.count;

		ret = st->env->txn_begin(st->env, NULL, &txn, 0);
		if (ret != 0)
			goto dberr;
		batch = end - i;
		for (; i < end; i++)
			if (one(st, txn, &a, i, now, ++seq, out) != 0)
				goto out;
		if (count_add(st, txn, batch) != 0)
			goto out;
		if (a.notices && meta_put(st, txn, "seq.outbox", seq) != 0)
			goto out;
		ret = txn->commit(txn, DB_TXN_NOSYNC);
		txn = NULL;
		if (ret != 0)
			goto dberr;
		if (i % 100000 == 0)
			fprintf(stderr, "bench_populate: %zu\n", i);
	}
	ret = st->env->log_flush(st->env, NULL);
	if (ret != 0)
		goto dberr;
	if (apitoken_store_checkpoint(st) != 0) {
		fprintf(stderr, "bench_populate: %s\n", apitoken_last_error());
		goto out;
	}
	code = 0;
	goto out;
dberr:
	fprintf(stderr, "bench_populate: %s\n", db_strerror(ret));
out:
	if (txn != NULL)
		(void)txn->abort(txn);
	if (out != NULL && fclose(out) != 0)
		code = 1;
	apitoken_store_close(st);
	apitoken_config_free(cfg);
	return code;
}
