/*
 * The store environment: owner lock, open with recovery, close,
 * checkpoint, and the transaction helpers the other store files share.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/store.h>
#include <apitoken/store_rep.h>

#include "store_int.h"

/*
 * Settings written at creation.  The cache holds the hot part of the
 * token and user databases.  tx_max must exceed the number of pages the
 * cache holds: with DB_MULTIVERSION every cached page version keeps the
 * transaction that wrote it in the transaction region (measured with
 * 5.3.28: a 64 MB cache and tx_max 2048 ran out of "transaction detail"
 * after 300k writes; with 16384 it ran 5M).  The lock table is sized for
 * a purge batch.  Edit the file and restart to change.  Cache size and
 * tx_max come from the store_cache key (store_cache.c) unless a
 * set_cachesize / set_tx_max line is added here.
 */
static const char db_config_text[] =
    "# apitoken store: Berkeley DB settings, read at every open.\n"
    "set_lg_bsize 1048576\n"
    "set_lg_max 16777216\n"
    "set_lk_detect DB_LOCK_DEFAULT\n"
    "set_lk_max_locks 20000\n"
    "set_lk_max_objects 20000\n"
    "set_lk_max_lockers 4096\n";

int64_t
apitoken_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return (int64_t)time(NULL);
	return (int64_t)ts.tv_sec;
}

/*
 * Store failures of this process (all stores: store_dberr() has no
 * handle, and counting more than needed only drops more kept answers).
 */
static atomic_ulong failures;

void
store_failed(void)
{
	atomic_fetch_add_explicit(&failures, 1, memory_order_acq_rel);
}

int
store_note(int rc)
{
	if (rc == APITOKEN_ERR_STORE || rc == APITOKEN_ERR_CORRUPT ||
	    rc == APITOKEN_ERR_INTERNAL || rc == APITOKEN_ERR_IO ||
	    rc == APITOKEN_ERR_NOMEM)
		store_failed();
	return rc;
}

unsigned long
apitoken_store_failures(apitoken_store_t *store)
{
	(void)store;
	return atomic_load_explicit(&failures, memory_order_acquire);
}

int
store_dberr(int ret, const char *what)
{
	if (ret == DB_LOCK_DEADLOCK || ret == DB_LOCK_NOTGRANTED)
		return STORE_RETRY;
	if (ret == DB_REP_HANDLE_DEAD)
		store_rep_handle_dead();
	store_failed();
	if (ret == ENOMEM)
		return apitoken_error(APITOKEN_ERR_NOMEM, "store: %s: %s",
		                      what, db_strerror(ret));
	apitoken_log(APITOKEN_LOG_ERR, "store: %s: %s", what,
	             db_strerror(ret));
	return apitoken_error(APITOKEN_ERR_STORE, "store: %s: %s", what,
	                      db_strerror(ret));
}

const apitoken_config_t *
store_cfg(apitoken_store_t *st)
{
	return atomic_load_explicit(&st->cfg, memory_order_acquire);
}

int
store_write(apitoken_store_t *st, store_txn_fn fn, void *arg)
{
	DB_TXN *txn;
	uint64_t last;
	int attempt, ret, rc;

	if (st->rdonly)
		return apitoken_error(APITOKEN_ERR_DENIED,
		                      "store %s is open read-only", st->dir);
	rc = store_rep_write_begin(st);
	if (rc != 0)
		return rc;
	for (attempt = 0;; attempt++) {
		txn = NULL;
		store_outbox_attempt();
		store_changes_reset();
		ret = st->env->txn_begin(st->env, NULL, &txn, 0);
		if (ret != 0) {
			rc = store_dberr(ret, "begin transaction");
		} else {
			rc = fn(st, txn, arg);
			if (rc == STORE_UNCHANGED) {
				(void)txn->abort(txn);
				return 0;
			}
			if (rc == 0) {
				/* Flags 0: the environment's synchronous
				 * flush (only a bench DB_CONFIG relaxes
				 * it). */
				store_rep_commit_begins(st);
				ret = txn->commit(txn, 0);
				last = store_changes_written();
				if (ret == 0 && last != 0)
					store_changes_committed(st, last);
				else if (ret != 0)
					store_failed();
				store_snaps_written(st, last != 0 || ret != 0);
				if (ret == 0) {
					store_outbox_committed(st);
					return store_rep_write_done(st);
				}
				return store_dberr(ret, "commit");
			}
			(void)txn->abort(txn);
		}
		/*
		 * Nothing was written, but when the store itself failed that
		 * is counted (apitoken_store_failures()): what readers
		 * derived from it before is not to be trusted now.  (A
		 * refusal such as "no such user" leaves it alone.)
		 */
		if (rc == APITOKEN_ERR_STORE || rc == APITOKEN_ERR_CORRUPT ||
		    rc == APITOKEN_ERR_INTERNAL || rc == APITOKEN_ERR_IO ||
		    rc == APITOKEN_ERR_NOMEM) {
			store_failed();
			store_snaps_written(st, true);
		}
		if (rc != STORE_RETRY)
			return rc;
		if (attempt >= STORE_DEADLOCK_RETRIES)
			return apitoken_error(APITOKEN_ERR_STORE,
			                      "store: gave up after %d "
			                      "deadlocks",
			                      attempt + 1);
		/* Back off a little so the winner can finish. */
		(void)usleep((useconds_t)(1000 + (attempt * 997) % 5000));
	}
}

int
store_walk(apitoken_store_t *st, DB *db, const char *what,
           store_visit_fn visit, void *arg)
{
	char where[64];
	DB_TXN *txn = NULL;
	DBC *cur = NULL;
	DBT key, data;
	int rc, ret;

	rc = store_read_begin(st, &txn);
	if (rc != 0)
		return rc;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.flags = DB_DBT_REALLOC;
	data.flags = DB_DBT_REALLOC;
	ret = db->cursor(db, txn, &cur, 0);
	if (ret != 0) {
		(void)snprintf(where, sizeof(where), "%s cursor", what);
		rc = store_dberr(ret, where);
		goto out;
	}
	while ((ret = cur->get(cur, &key, &data, DB_NEXT)) == 0) {
		rc = visit(st, txn, &key, &data, arg);
		if (rc != 0)
			goto out;
	}
	if (ret != DB_NOTFOUND) {
		(void)snprintf(where, sizeof(where), "read %s", what);
		rc = store_dberr(ret, where);
	}
out:
	if (rc == STORE_RETRY)
		rc = apitoken_error(APITOKEN_ERR_STORE, "store: busy");
	if (cur != NULL)
		(void)cur->close(cur);
	store_read_end(st, txn);
	/* Client records hold secret hashes: leave none in freed memory. */
	if (data.data != NULL)
		OPENSSL_cleanse(data.data, data.size);
	free(key.data);
	free(data.data);
	return rc;
}

void
store_expiry_key(uint8_t out[STORE_EXPIRY_KEY_LEN], int64_t exp,
                 const uint8_t hash[APITOKEN_HASH_LEN])
{
	/* Flip the sign bit so that byte order is numeric order. */
	store_be64(out, (uint64_t)exp ^ (UINT64_C(1) << 63));
	memcpy(out + 8, hash, APITOKEN_HASH_LEN);
}

int
store_next_seq(apitoken_store_t *st, DB_TXN *txn, const char *name,
               uint64_t *seq_out)
{
	char keybuf[32];
	uint8_t val[9], cur[16];
	DBT key, data;
	uint64_t seq = 0;
	int ret;

	(void)snprintf(keybuf, sizeof(keybuf), "seq.%s", name);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = keybuf;
	key.size = (u_int32_t)strlen(keybuf);
	data.data = cur;
	data.ulen = sizeof(cur);
	data.flags = DB_DBT_USERMEM;
	ret = st->meta->get(st->meta, txn, &key, &data, DB_RMW);
	if (ret == 0) {
		if (data.size != 9 || cur[0] != STORE_REC_VERSION)
			return apitoken_error(APITOKEN_ERR_CORRUPT,
			                      "store: malformed counter %s",
			                      keybuf);
		seq = store_get_be64(cur + 1);
	} else if (ret != DB_NOTFOUND) {
		return store_dberr(ret, "read counter");
	}
	seq++;
	val[0] = STORE_REC_VERSION;
	store_be64(val + 1, seq);
	memset(&data, 0, sizeof(data));
	data.data = val;
	data.size = sizeof(val);
	ret = st->meta->put(st->meta, txn, &key, &data, 0);
	if (ret != 0)
		return store_dberr(ret, "write counter");
	*seq_out = seq;
	return 0;
}

/* ---- owner lock ------------------------------------------------------ */

static long
read_pid(int fd)
{
	char buf[32];
	ssize_t n;
	long pid;
	char *end;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || pid <= 0)
		return 0;
	return pid;
}

/*
 * The owner lock is an open-file-description lock (F_OFD_SETLK): like
 * flock() it belongs to this open of LOCK, conflicts with any other open
 * (also in this process) and goes away with the process, even on kill -9;
 * unlike flock() it can be queried (F_OFD_GETLK) without being taken.
 */
static void
whole_file(struct flock *fl, short type)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = type;
	fl->l_whence = SEEK_SET;
	fl->l_start = 0;
	fl->l_len = 0;
}

static int
take_lock(apitoken_store_t *st)
{
	struct flock fl;
	char *path = NULL;
	char pidbuf[32];
	int fd, rc = 0, n;

	if (asprintf(&path, "%s/%s", st->dir, STORE_LOCK_FILE) < 0)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = apitoken_error(APITOKEN_ERR_IO, "cannot open %s: %s",
		                    path, strerror(errno));
		goto out;
	}
	whole_file(&fl, F_WRLCK);
	if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
		if (errno == EAGAIN || errno == EACCES)
			rc = apitoken_error(APITOKEN_ERR_BUSY,
			                    "store %s is in use by process "
			                    "%ld",
			                    st->dir, read_pid(fd));
		else
			rc = apitoken_error(APITOKEN_ERR_IO,
			                    "cannot lock %s: %s", path,
			                    strerror(errno));
		goto out;
	}
	n = snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pidbuf, (size_t)n, 0) != n) {
		rc = apitoken_error(APITOKEN_ERR_IO, "cannot write %s: %s",
		                    path, strerror(errno));
		goto out;
	}
	st->lock_fd = fd;
	fd = -1;
out:
	if (fd >= 0)
		(void)close(fd);
	free(path);
	return rc;
}

long
apitoken_store_owner(const char *dir)
{
	struct flock fl;
	char *path = NULL;
	long pid = 0;
	int fd, i;

	if (dir == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store folder");
	if (asprintf(&path, "%s/%s", dir, STORE_LOCK_FILE) < 0)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			pid = 0;
		else
			pid = apitoken_error(APITOKEN_ERR_IO,
			                     "cannot open %s: %s", path,
			                     strerror(errno));
		goto out;
	}
	whole_file(&fl, F_WRLCK);
	if (fcntl(fd, F_OFD_GETLK, &fl) != 0) {
		pid = apitoken_error(APITOKEN_ERR_IO, "cannot query %s: %s",
		                     path, strerror(errno));
		goto out;
	}
	if (fl.l_type == F_UNLCK) {
		pid = 0;
		goto out;
	}
	/* Held: the owner writes its pid right after locking. */
	for (i = 0; i < 50; i++) {
		pid = read_pid(fd);
		if (pid > 0)
			break;
		(void)usleep(10000);
	}
	if (pid <= 0)
		pid =
		    apitoken_error(APITOKEN_ERR_IO,
		                   "%s is locked but names no process", path);
out:
	if (fd >= 0)
		(void)close(fd);
	free(path);
	return pid;
}

/* ---- open / close ----------------------------------------------------- */

static void
bdb_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	apitoken_log(APITOKEN_LOG_ERR, "store: %s", msg);
}

static int
write_db_config(const char *dir)
{
	char *path = NULL;
	size_t len = sizeof(db_config_text) - 1;
	int fd, rc = 0;

	if (asprintf(&path, "%s/%s", dir, STORE_DB_CONFIG) < 0)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno != EEXIST) /* an existing one is honoured */
			rc = apitoken_error(APITOKEN_ERR_IO,
			                    "cannot create %s: %s", path,
			                    strerror(errno));
		goto out;
	}
	if (write(fd, db_config_text, len) != (ssize_t)len || fsync(fd) != 0)
		rc = apitoken_error(APITOKEN_ERR_IO, "cannot write %s: %s",
		                    path, strerror(errno));
	(void)close(fd);
out:
	free(path);
	return rc;
}

static int
open_db(apitoken_store_t *st, DB_TXN *txn, DB **dbp, const char *file,
        DBTYPE type, bool create)
{
	DB *db = NULL;
	/* Not with replication: a replica's apply threads open the same
	 * files without DB_MULTIVERSION, and BDB refuses to mix the two
	 * (store_rep.c); reads then run read-committed. */
	u_int32_t flags = DB_THREAD | (st->rep == NULL ? DB_MULTIVERSION : 0);
	int ret;

	ret = db_create(&db, st->env, 0);
	if (ret != 0)
		return store_dberr(ret, "create handle");
	if (create)
		flags |= DB_CREATE;
	if (st->rdonly)
		flags |= DB_RDONLY;
	ret = db->open(db, txn, file, NULL, type, flags, 0600);
	if (ret != 0) {
		(void)db->close(db, 0);
		if (ret == ENOENT)
			return apitoken_error(APITOKEN_ERR_CORRUPT,
			                      "store %s is incomplete: %s is "
			                      "missing",
			                      st->dir, file);
		if (ret == EINVAL)
			return apitoken_error(APITOKEN_ERR_CORRUPT,
			                      "store %s: %s is not a valid "
			                      "database",
			                      st->dir, file);
		ret = store_dberr(ret, file);
		return ret == STORE_RETRY ? APITOKEN_ERR_STORE : ret;
	}
	*dbp = db;
	return 0;
}

static int
check_schema(apitoken_store_t *st, DB_TXN *txn, bool create)
{
	static const char schema_key[] = "schema";
	uint8_t buf[16], val[5];
	DBT key, data;
	uint32_t version;
	int ret;

	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)schema_key;
	key.size = sizeof(schema_key) - 1;
	data.data = buf;
	data.ulen = sizeof(buf);
	data.flags = DB_DBT_USERMEM;
	ret = st->meta->get(st->meta, txn, &key, &data, 0);
	if (ret == DB_NOTFOUND && create && !st->rdonly) {
		val[0] = STORE_REC_VERSION;
		val[1] = (uint8_t)(STORE_SCHEMA_VERSION >> 24);
		val[2] = (uint8_t)(STORE_SCHEMA_VERSION >> 16);
		val[3] = (uint8_t)(STORE_SCHEMA_VERSION >> 8);
		val[4] = (uint8_t)STORE_SCHEMA_VERSION;
		memset(&data, 0, sizeof(data));
		data.data = val;
		data.size = sizeof(val);
		ret = st->meta->put(st->meta, txn, &key, &data, 0);
		if (ret != 0)
			return store_dberr(ret, "write schema version");
		return 0;
	}
	if (ret == DB_NOTFOUND)
		return apitoken_error(APITOKEN_ERR_CORRUPT,
		                      "store %s has no schema version",
		                      st->dir);
	if (ret == DB_BUFFER_SMALL)
		return apitoken_error(APITOKEN_ERR_CORRUPT,
		                      "store %s: malformed schema version",
		                      st->dir);
	if (ret != 0)
		return store_dberr(ret, "read schema version");
	if (data.size != 5 || buf[0] != STORE_REC_VERSION)
		return apitoken_error(APITOKEN_ERR_CORRUPT,
		                      "store %s: malformed schema version",
		                      st->dir);
	version = ((uint32_t)buf[1] << 24) | ((uint32_t)buf[2] << 16) |
	          ((uint32_t)buf[3] << 8) | buf[4];
	if (version != STORE_SCHEMA_VERSION)
		return apitoken_error(APITOKEN_ERR_CORRUPT,
		                      "store %s has schema version %u; this "
		                      "program reads version %u",
		                      st->dir, version, STORE_SCHEMA_VERSION);
	return 0;
}

static int
open_dbs(apitoken_store_t *st, bool create)
{
	DB_TXN *txn = NULL;
	char *path = NULL;
	bool has_changes;
	int ret, rc;

	if (asprintf(&path, "%s/%s", st->dir, STORE_DB_CHANGES) < 0)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	has_changes = access(path, F_OK) == 0;
	free(path);

	ret = st->env->txn_begin(st->env, NULL, &txn, 0);
	if (ret != 0) {
		rc = store_dberr(ret, "begin transaction");
		return rc == STORE_RETRY ? APITOKEN_ERR_STORE : rc;
	}
	rc = open_db(st, txn, &st->meta, STORE_DB_META, DB_BTREE, create);
	if (rc == 0)
		rc = check_schema(st, txn, create);
	if (rc == 0)
		rc = open_db(st, txn, &st->users, STORE_DB_USERS, DB_BTREE,
		             create);
	if (rc == 0)
		rc = open_db(st, txn, &st->tokens, STORE_DB_TOKENS, DB_HASH,
		             create);
	if (rc == 0)
		rc = open_db(st, txn, &st->user_token, STORE_DB_USER_TOKEN,
		             DB_BTREE, create);
	if (rc == 0)
		rc = open_db(st, txn, &st->expiry, STORE_DB_EXPIRY, DB_BTREE,
		             create);
	if (rc == 0)
		rc = open_db(st, txn, &st->clients, STORE_DB_CLIENTS, DB_BTREE,
		             create);
	if (rc == 0)
		rc = open_db(st, txn, &st->audit, STORE_DB_AUDIT, DB_BTREE,
		             create);
	if (rc == 0)
		rc = open_db(st, txn, &st->outbox, STORE_DB_OUTBOX, DB_BTREE,
		             create);
	if (rc == 0)
		rc = store_outbox_index_open(st, txn);
	/* Added after schema 1 was fixed: an older store gets it at its
	 * first open for writing; read-only, it goes without. */
	if (rc == 0 && !(st->rdonly && !has_changes))
		rc = open_db(st, txn, &st->changes, STORE_DB_CHANGES, DB_BTREE,
		             !st->rdonly);
	if (rc == 0)
		rc = store_tombstones_open(st, txn);
	if (rc == 0)
		rc = store_lastuse_open(st, txn);
	if (rc != 0) {
		(void)txn->abort(txn);
		return rc == STORE_RETRY ? APITOKEN_ERR_STORE : rc;
	}
	ret = txn->commit(txn, 0);
	if (ret != 0) {
		rc = store_dberr(ret, "commit");
		return rc == STORE_RETRY ? APITOKEN_ERR_STORE : rc;
	}
	return 0;
}

static void
close_dbs(apitoken_store_t *st)
{
	DB **dbs[] = {&st->changes, &st->outbox_fill, &st->outbox_due,
	              &st->outbox,  &st->audit,       &st->clients,
	              &st->expiry,  &st->user_token,  &st->tokens,
	              &st->users,   &st->meta};
	size_t i;

	store_tombstones_close(st);
	store_lastuse_close(st);
	for (i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		if (*dbs[i] != NULL) {
			(void)(*dbs[i])->close(*dbs[i], 0);
			*dbs[i] = NULL;
		}
	}
}

static void
store_destroy(apitoken_store_t *st)
{
	if (st == NULL)
		return;
	store_snaps_destroy(st);
	close_dbs(st);
	if (st->env != NULL)
		(void)st->env->close(st->env, 0);
	store_rep_destroy(st);
	if (st->lock_fd >= 0)
		(void)close(st->lock_fd); /* releases the lock */
	free(st->dir);
	free(st);
}

/*
 * A DB_CONFIG edited by hand may undersize tx_max for MVCC or give up the
 * synchronous commit the API promises: say so.
 */
static void
warn_settings(apitoken_store_t *st)
{
	u_int32_t gbytes = 0, bytes = 0, tx_max = 0, envflags = 0;
	int ncache = 0;
	uint64_t pages;

	if (st->env->get_flags(st->env, &envflags) == 0 &&
	    (envflags & (DB_TXN_NOSYNC | DB_TXN_WRITE_NOSYNC)) != 0)
		apitoken_log(APITOKEN_LOG_WARNING,
		             "store %s: DB_CONFIG turns off the synchronous "
		             "commit; changes may be lost on a crash",
		             st->dir);

	if (st->env->get_cachesize(st->env, &gbytes, &bytes, &ncache) != 0 ||
	    st->env->get_tx_max(st->env, &tx_max) != 0)
		return;
	pages = (((uint64_t)gbytes << 30) + bytes) / 4096;
	if (tx_max < pages / 2)
		apitoken_log(APITOKEN_LOG_WARNING,
		             "store %s: set_tx_max %u is below the %llu "
		             "pages of the cache; writes may fail with "
		             "\"Unable to allocate memory for transaction "
		             "detail\"",
		             st->dir, tx_max, (unsigned long long)pages);
}

int
apitoken_store_open(const apitoken_config_t *cfg, unsigned flags,
                    apitoken_store_t **store_out)
{
	apitoken_store_t *st = NULL;
	bool create = (flags & APITOKEN_STORE_CREATE) != 0;
	bool existing;
	char *meta_path = NULL;
	u_int32_t env_flags = DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK |
	                      DB_INIT_LOG | DB_INIT_MPOOL | DB_THREAD |
	                      DB_RECOVER;
	struct stat sb;
	int ret, rc;

	if (store_out != NULL)
		*store_out = NULL;
	if (cfg == NULL || cfg->store == NULL || cfg->store[0] == '\0' ||
	    store_out == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "no store folder configured");
	if (create && (flags & APITOKEN_STORE_RDONLY))
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "cannot create a store read-only");
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	st->lock_fd = -1;
	st->rdonly = (flags & APITOKEN_STORE_RDONLY) != 0;
	atomic_init(&st->cfg, cfg);
	rc = store_snaps_init(st);
	if (rc != 0)
		goto out;
	st->dir = strdup(cfg->store);
	if (st->dir == NULL) {
		rc = apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
		goto out;
	}

	if (stat(st->dir, &sb) != 0) {
		if (errno != ENOENT || !create) {
			rc = errno == ENOENT
			         ? apitoken_error(
			               APITOKEN_ERR_NOT_FOUND,
			               "store %s does not exist; run "
			               "apitokenctl init",
			               st->dir)
			         : apitoken_error(APITOKEN_ERR_IO,
			                          "cannot access %s: %s",
			                          st->dir, strerror(errno));
			goto out;
		}
		if (mkdir(st->dir, 0700) != 0 && errno != EEXIST) {
			rc = apitoken_error(APITOKEN_ERR_IO,
			                    "cannot create %s: %s", st->dir,
			                    strerror(errno));
			goto out;
		}
	} else if (!S_ISDIR(sb.st_mode)) {
		rc = apitoken_error(APITOKEN_ERR_INVALID,
		                    "store %s is not a folder", st->dir);
		goto out;
	}
	if (asprintf(&meta_path, "%s/%s", st->dir, STORE_DB_META) < 0) {
		meta_path = NULL;
		rc = apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
		goto out;
	}
	existing = access(meta_path, F_OK) == 0;
	if (!existing && !create) {
		/* Checked before the lock so a wrong path is left alone. */
		rc = apitoken_error(APITOKEN_ERR_NOT_FOUND,
		                    "store %s does not exist; run apitokenctl "
		                    "init",
		                    st->dir);
		goto out;
	}

	rc = take_lock(st);
	if (rc != 0)
		goto out;
	if (create) {
		rc = write_db_config(st->dir);
		if (rc != 0)
			goto out;
	}

	ret = db_env_create(&st->env, 0);
	if (ret != 0) {
		st->env = NULL;
		rc = apitoken_error(APITOKEN_ERR_STORE, "store: %s",
		                    db_strerror(ret));
		goto out;
	}
	st->env->set_errcall(st->env, bdb_errcall);
	rc = store_cache_size(st, cfg);
	if (rc != 0)
		goto out;
	(void)st->env->set_lk_detect(st->env, DB_LOCK_DEFAULT);
	(void)st->env->set_lg_filemode(st->env, 0600);
	/*
	 * Regions are file-backed (mode 0600) rather than DB_PRIVATE heap:
	 * BDB writes whole pages, and heap pages carry stale bytes of this
	 * process (possibly secrets) into the files; mapped region files
	 * start zeroed.  No other process joins (the lock above), and
	 * DB_RECOVER on every open rebuilds the regions and brings the
	 * databases back to the last committed transaction, also after
	 * kill -9.
	 */
	rc = store_rep_prepare(st, cfg, flags, &env_flags);
	if (rc != 0)
		goto out;
	ret = st->env->open(st->env, st->dir, env_flags, 0600);
	if (ret != 0) {
		rc = apitoken_error(APITOKEN_ERR_STORE,
		                    "store %s: cannot open environment: %s",
		                    st->dir, db_strerror(ret));
		apitoken_log(APITOKEN_LOG_ERR, "%s", apitoken_last_error());
		goto out;
	}
	rc = store_rep_start(st, &create);
	if (rc != 0)
		goto out;
	rc = open_dbs(st, create);
	if (rc == 0)
		rc = store_changes_init(st);
	if (rc == 0)
		rc = store_counts_init(st);
	if (rc != 0)
		goto out;
	store_cache_priorities(st);
	rc = store_outbox_index_fill(st);
	if (rc != 0)
		goto out;
	warn_settings(st);
	*store_out = st;
	st = NULL;
out:
	free(meta_path);
	store_destroy(st);
	return rc;
}

void
apitoken_store_close(apitoken_store_t *store)
{
	if (store == NULL)
		return;
	if (store->env != NULL && !store->rdonly)
		(void)store->env->txn_checkpoint(store->env, 0, 0, 0);
	store_destroy(store);
}

void
apitoken_store_set_config(apitoken_store_t *store,
                          const apitoken_config_t *newcfg)
{
	if (store != NULL && newcfg != NULL)
		atomic_store_explicit(&store->cfg, newcfg,
		                      memory_order_release);
}

const apitoken_config_t *
apitoken_store_config(const apitoken_store_t *st)
{
	if (st == NULL)
		return NULL;
	return atomic_load_explicit(&((apitoken_store_t *)st)->cfg,
	                            memory_order_acquire);
}

int
apitoken_store_checkpoint(apitoken_store_t *store)
{
	int ret;

	if (store == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	ret = store->env->txn_checkpoint(store->env, 0, 0, 0);
	if (ret == 0)
		ret =
		    store->env->log_archive(store->env, NULL, DB_ARCH_REMOVE);
	if (ret != 0) {
		ret = store_dberr(ret, "checkpoint");
		return ret == STORE_RETRY ? APITOKEN_ERR_STORE : ret;
	}
	return 0;
}
