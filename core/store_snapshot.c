/*
 * Snapshot (read-only MVCC) transactions for readers.  Readers of what
 * change records cover (token checks, user reads, client logins) keep one
 * per thread and reuse it; every other read begins its own.
 *
 * Beginning and committing a snapshot transaction takes four of Berkeley
 * DB's environment-wide mutexes (transaction, log, lock and mutex
 * regions); with two worker threads introspecting they were the busiest
 * locks in apitokend.  A snapshot shows the store as of its beginning, so
 * for such a reader it is exactly as good as a new one as long as no
 * change record newer than its beginning exists: every write that can
 * change a token, a user or a client writes one (store_changes.c).  The
 * rule: a snapshot is reused while apitoken_store_changes_visible() is
 * the value read before the snapshot began (and no store failure was
 * counted since).  That value is raised after every local commit with
 * records, before the write returns, and by a tail reading the change
 * records (which is how a replica, whose commits are applied by Berkeley
 * DB replication, learns of them).  It is read before the transaction
 * begins: a commit in between makes the snapshot look older than it is
 * (one needless renewal), never newer.  So a revocation is seen by every
 * check that starts after it returned.
 *
 * Writes that change nothing a reader keeps (audit, outbox, last-use
 * records, the purge of expired tokens) no longer end these snapshots.
 * They would pin ever more old page versions, though, so a snapshot is
 * also renewed after SNAP_MAX_WRITES local commits or SNAP_MAX_MS: by
 * its thread at its next read, and when it is idle by the first commit
 * past the rule (store_snaps_written()).
 * Reads of anything else (lists, audit, outbox) never reuse one: they
 * must see such writes, which come with no record.
 *
 * A thread's snapshot is used by that thread only; the mutex lets a
 * writer (or store close) end it while the owner is not inside a read.
 * A nested read, or any read when thread-local storage fails, gets a
 * transaction of its own.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include <apitoken/error.h>
#include <apitoken/log.h>

#include "store_int.h"

/* Renew a reused snapshot after this many local commits or this long,
 * so that it pins a bounded number of old page versions. */
#define SNAP_MAX_WRITES 256
#define SNAP_MAX_MS STORE_SNAP_MAX_MS

struct store_snap {
	pthread_mutex_t mu;
	apitoken_store_t *st;
	DB_TXN *txn;            /* NULL: none open */
	uint64_t epoch;         /* write_epoch read before txn began */
	uint64_t seen;          /* change_visible, ditto */
	unsigned long failures; /* apitoken_store_failures(), ditto */
	int64_t born_ms;        /* coarse monotonic clock, ditto */
	bool busy;              /* the owner is inside a read */
	struct store_snap *prev, *next;
};

/* Caller holds s->mu; s is not busy. */
static void
snap_end(struct store_snap *s)
{
	if (s->txn != NULL) {
		(void)s->txn->commit(s->txn, DB_TXN_NOSYNC);
		s->txn = NULL;
	}
}

static void
snap_unlink(apitoken_store_t *st, struct store_snap *s)
{
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		st->snaps = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
}

/* The thread ends while the store is open. */
static void
snap_thread_exit(void *p)
{
	struct store_snap *s = p;
	apitoken_store_t *st = s->st;

	pthread_mutex_lock(&st->snap_mu);
	snap_unlink(st, s);
	pthread_mutex_unlock(&st->snap_mu);
	pthread_mutex_lock(&s->mu);
	snap_end(s);
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

int
store_snaps_init(apitoken_store_t *st)
{
	atomic_init(&st->write_epoch, 1);
	st->snaps = NULL;
	if (pthread_mutex_init(&st->snap_mu, NULL) != 0)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	/* Without a key every read begins its own transaction. */
	st->snap_key_ok =
	    pthread_key_create(&st->snap_key, snap_thread_exit) == 0;
	st->snaps_ready = true;
	return 0;
}

void
store_snaps_destroy(apitoken_store_t *st)
{
	struct store_snap *s;

	if (!st->snaps_ready)
		return;
	/* After this no thread-exit destructor runs for these snapshots;
	 * glibc's key sequence numbers keep a reused key from finding
	 * them. */
	if (st->snap_key_ok)
		(void)pthread_key_delete(st->snap_key);
	pthread_mutex_lock(&st->snap_mu);
	while ((s = st->snaps) != NULL) {
		snap_unlink(st, s);
		pthread_mutex_lock(&s->mu);
		snap_end(s);
		pthread_mutex_unlock(&s->mu);
		pthread_mutex_destroy(&s->mu);
		free(s);
	}
	pthread_mutex_unlock(&st->snap_mu);
	pthread_mutex_destroy(&st->snap_mu);
	st->snaps_ready = false;
}

uint64_t
apitoken_store_epoch(apitoken_store_t *st)
{
	return atomic_load_explicit(&st->write_epoch, memory_order_acquire);
}

/* Begin a snapshot of its own (no reuse). */
static int
snap_begin(apitoken_store_t *st, DB_TXN **txn_out)
{
	static atomic_int warned;
	int ret;

	*txn_out = NULL;
	ret = st->env->txn_begin(st->env, NULL, txn_out,
	                         st->rep == NULL ? DB_TXN_SNAPSHOT
	                                         : DB_READ_COMMITTED);
	if (ret == ENOMEM) {
		/*
		 * The transaction region is full (tx_max too small for the
		 * cache, see db_config_text).  Answer anyway, without a
		 * transaction: each read then takes a short page lock and
		 * may wait for a writer, but checks keep working.
		 */
		*txn_out = NULL;
		if (atomic_exchange(&warned, 1) == 0)
			apitoken_log(APITOKEN_LOG_WARNING,
			             "store %s: no room for snapshot "
			             "transactions; raise set_tx_max in "
			             "DB_CONFIG",
			             st->dir);
		return 0;
	}
	if (ret != 0) {
		*txn_out = NULL;
		ret = store_dberr(ret, "begin snapshot");
		if (ret == STORE_RETRY)
			ret = apitoken_error(APITOKEN_ERR_STORE,
			                     "store: snapshot refused");
		return ret;
	}
	return 0;
}

/* This thread's snapshot slot, made on first use; NULL if impossible. */
static struct store_snap *
snap_get(apitoken_store_t *st)
{
	struct store_snap *s;

	if (!st->snap_key_ok)
		return NULL;
	s = pthread_getspecific(st->snap_key);
	if (s != NULL)
		return s;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s);
		return NULL;
	}
	s->st = st;
	if (pthread_setspecific(st->snap_key, s) != 0) {
		pthread_mutex_destroy(&s->mu);
		free(s);
		return NULL;
	}
	pthread_mutex_lock(&st->snap_mu);
	s->next = st->snaps;
	if (st->snaps != NULL)
		st->snaps->prev = s;
	st->snaps = s;
	pthread_mutex_unlock(&st->snap_mu);
	return s;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Caller holds s->mu: may s->txn still be used? */
static bool
snap_current(apitoken_store_t *st, const struct store_snap *s, int64_t ms)
{
	return s->seen == apitoken_store_changes_visible(st) &&
	       s->failures == apitoken_store_failures(st) &&
	       atomic_load_explicit(&st->write_epoch, memory_order_acquire) -
	               s->epoch <
	           SNAP_MAX_WRITES &&
	       ms - s->born_ms < SNAP_MAX_MS;
}

/*
 * After every commit: end the idle snapshots that their threads could no
 * longer reuse (after a change, all of them), rather than at each
 * thread's next read.  A thread that reads seldom (a worker whose
 * clients went quiet, a local-socket thread) would otherwise pin every
 * page version written after its snapshot began: during a purge of 200k
 * expired tokens (no change records) on an idle 1M store, Berkeley DB
 * pushed the pinned versions out of its cache into 28-35k freezer files
 * (643 MB, one file each, made and removed by the filesystem), the
 * purge took over 18 times as long (over 120 s: apitokenctl purge gave up
 * waiting), and the first checks after it thawed them at a tenth to a
 * third of the usual rate (tests/bench/README.md).
 */
void
store_snaps_written(apitoken_store_t *st, bool changed)
{
	struct store_snap *s;
	int64_t ms;

	atomic_fetch_add_explicit(&st->write_epoch, 1, memory_order_acq_rel);
	ms = now_ms();
	pthread_mutex_lock(&st->snap_mu);
	for (s = st->snaps; s != NULL; s = s->next) {
		pthread_mutex_lock(&s->mu);
		if (!s->busy && s->txn != NULL &&
		    (changed || !snap_current(st, s, ms)))
			snap_end(s);
		pthread_mutex_unlock(&s->mu);
	}
	pthread_mutex_unlock(&st->snap_mu);
}

int
store_read_begin(apitoken_store_t *st, DB_TXN **txn_out)
{
	return snap_begin(st, txn_out);
}

int
store_read_begin_answer(apitoken_store_t *st, DB_TXN **txn_out)
{
	struct store_snap *s = snap_get(st);
	int64_t ms;
	int rc = 0;

	/* With replication, no transaction is kept open between reads: a
	 * replica's would not see replicated commits, and an idle one
	 * would hold up a change of role. */
	if (s == NULL || st->rep != NULL)
		return snap_begin(st, txn_out);
	pthread_mutex_lock(&s->mu);
	if (s->busy) { /* a read inside a read */
		pthread_mutex_unlock(&s->mu);
		return snap_begin(st, txn_out);
	}
	ms = now_ms();
	if (s->txn != NULL && !snap_current(st, s, ms))
		snap_end(s);
	if (s->txn == NULL) {
		/* Everything the rule compares, before the beginning. */
		s->seen = apitoken_store_changes_visible(st);
		s->failures = apitoken_store_failures(st);
		s->epoch = atomic_load_explicit(&st->write_epoch,
		                                memory_order_acquire);
		s->born_ms = ms;
		rc = snap_begin(st, &s->txn);
	}
	if (rc == 0) {
		s->busy = s->txn != NULL;
		*txn_out = s->txn;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void
store_read_end(apitoken_store_t *st, DB_TXN *txn)
{
	struct store_snap *s;

	if (txn == NULL)
		return;
	s = st->snap_key_ok ? pthread_getspecific(st->snap_key) : NULL;
	if (s != NULL)
		pthread_mutex_lock(&s->mu);
	if (s == NULL || s->txn != txn) { /* a transaction of its own */
		if (s != NULL)
			pthread_mutex_unlock(&s->mu);
		(void)txn->commit(txn, DB_TXN_NOSYNC);
		return;
	}
	s->busy = false;
	/* Out of date meanwhile: end it now rather than pin old pages. */
	if (!snap_current(st, s, now_ms()))
		snap_end(s);
	pthread_mutex_unlock(&s->mu);
}
