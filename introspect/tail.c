/*
 * apitokend: the change-record tail; see tail.h.
 *
 * Ordering, which the whole scheme rests on:
 *   1. a write commits; the store raises apitoken_store_changes_visible()
 *      to its last record before the write returns (or, for a replicated
 *      commit, apitoken_store_changes_read() raises it when it reads the
 *      record, before handing it over);
 *   2. the tail retires what the record touched (answers dropped or
 *      marked stale, client logins forgotten): the writer itself, from
 *      the store's hook, when no round is running, else the tail thread;
 *   3. the tail stores `retired' = that seq.
 * A reader uses a kept answer only if retired >= visible (visible read
 * first), so between 1 and 3 it asks the store, whose reused snapshots
 * are renewed as soon as visible moves (store_snapshot.c).  After 3 every
 * kept answer that the change could alter is gone or stale.  So no kept
 * answer is used after a change that would alter it has committed and
 * become visible to this process's reads: for a local write, from the
 * moment the write returns; for a replicated one, from the moment the
 * tail reads it (within one poll interval of replication applying it).
 *
 * The store trims old records (APITOKEN_CHANGES_KEEP); a tail that fell
 * that far behind gets an APITOKEN_CHANGE_ALL record and drops all.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/store.h>

#include "answer_cache.h"
#include "apitokend.h"
#include "regions.h"
#include "tail.h"

struct apitokend_tail {
	struct apitokend *d;
	pthread_t thread;
	pthread_mutex_t work; /* one catch_up() at a time */
	pthread_mutex_t mu;   /* the fields below */
	pthread_cond_t cond;
	bool stop;
	bool kicked;  /* a local commit wrote records */
	bool failing; /* the last read failed (logged once) */
	_Atomic uint64_t retired;
	/* Replicas: the replication traffic count noted before the last
	 * complete round (0: none yet), and whether a reader asked for a
	 * round since.  io_trusted: the count can be relied on. */
	_Atomic uint64_t quiet_io;
	atomic_bool round_wanted;
	bool io_trusted;
	_Atomic uint64_t records; /* retired, in all */
	_Atomic uint64_t all;     /* of which "everything" */
};

static void catch_up(struct apitokend *d, struct apitokend_tail *t,
                     bool kicked);

/*
 * The store's change hook: in the writer's thread, after its commit and
 * before the write returns.  The writer retires its own change at once
 * when no catch-up is running (readers then miss kept answers for the
 * microseconds of one read of the records, not for as long as the tail
 * thread takes to be scheduled on a busy machine); else it wakes the
 * tail thread, whose round in progress may have begun before this commit.
 */
static void
kick(uint64_t seq, void *arg)
{
	struct apitokend_tail *t = arg;

	(void)seq;
	if (pthread_mutex_trylock(&t->work) == 0) {
		catch_up(t->d, t, true);
		pthread_mutex_unlock(&t->work);
		return;
	}
	pthread_mutex_lock(&t->mu);
	t->kicked = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->mu);
}

static int
retire(const apitoken_change_t *c, void *arg)
{
	struct apitokend *d = arg;
	struct apitokend_answers *a =
	    atomic_load_explicit(&d->answers, memory_order_acquire);

	atomic_fetch_add_explicit(&d->tail->records, 1, memory_order_relaxed);
	if (c->kind == APITOKEN_CHANGE_ALL)
		atomic_fetch_add_explicit(&d->tail->all, 1,
		                          memory_order_relaxed);
	switch (c->kind) {
	case APITOKEN_CHANGE_TOKEN:
		if (c->subject_len == APITOKEN_HASH_LEN)
			apitokend_answers_retire_token(a, c->subject);
		else
			apitokend_answers_retire_all(a);
		break;
	case APITOKEN_CHANGE_USER:
		apitokend_answers_retire_user(a, (const char *)c->subject,
		                              c->subject_len);
		break;
	case APITOKEN_CHANGE_CLIENT:
		apitokend_client_cache_invalidate();
		apitokend_answers_retire_client(a, (const char *)c->subject,
		                                c->subject_len);
		break;
	default:
		apitokend_client_cache_invalidate();
		apitokend_answers_retire_all(a);
		break;
	}
	return 0;
}

/* Retire everything committed since the last call; t->work held. */
static void
catch_up(struct apitokend *d, struct apitokend_tail *t, bool kicked)
{
	uint64_t after =
	    atomic_load_explicit(&t->retired, memory_order_relaxed);
	uint64_t last = after;
	/* Noted before reading: what replication applied and acknowledged
	 * before this load is in what the read below sees. */
	uint64_t io = apitokend_regions_io_count();
	int rc;

	atomic_store_explicit(&t->round_wanted, false, memory_order_relaxed);
	/* A poll first asks only for the last number: one point read. */
	if (!kicked) {
		rc = apitoken_store_changes_last(d->store, &last);
		if (rc == 0 && last <= after &&
		    apitoken_store_changes_visible(d->store) <= after) {
			atomic_store_explicit(&t->quiet_io, io,
			                      memory_order_release);
			return;
		}
	}
	rc = apitoken_store_changes_read(d->store, after, retire, d, &last);
	/* What was handed over is retired, also when the read failed
	 * half-way (the rest comes with the next round). */
	atomic_store_explicit(&t->retired, last, memory_order_release);
	if (rc == 0)
		atomic_store_explicit(&t->quiet_io, io, memory_order_release);
	if (rc != 0) {
		if (!t->failing)
			apitoken_log(APITOKEN_LOG_ERR,
			             "change tail: cannot read change "
			             "records: %s",
			             apitoken_last_error());
		t->failing = true;
	} else if (t->failing) {
		apitoken_log(APITOKEN_LOG_NOTICE,
		             "change tail: reading change records again");
		t->failing = false;
	}
}

static void *
tail_main(void *arg)
{
	struct apitokend *d = arg;
	struct apitokend_tail *t = d->tail;
	struct timespec until;
	long poll_ms = apitoken_store_changes_external(d->store)
	                   ? APITOKEND_TAIL_POLL_MS
	                   : APITOKEND_TAIL_IDLE_MS;
	bool kicked;

	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		if (!t->kicked) {
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += poll_ms / 1000;
			until.tv_nsec += (poll_ms % 1000) * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			while (!t->stop && !t->kicked &&
			       pthread_cond_timedwait(&t->cond, &t->mu,
			                              &until) != ETIMEDOUT)
				;
		}
		if (t->stop)
			break;
		kicked = t->kicked;
		t->kicked = false;
		pthread_mutex_unlock(&t->mu);
		pthread_mutex_lock(&t->work);
		catch_up(d, t, kicked);
		pthread_mutex_unlock(&t->work);
		pthread_mutex_lock(&t->mu);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

int
apitokend_tail_start(struct apitokend *d)
{
	struct apitokend_tail *t = calloc(1, sizeof(*t));
	pthread_condattr_t ca;

	if (t == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	t->d = d;
	pthread_mutex_init(&t->work, NULL);
	pthread_mutex_init(&t->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	t->io_trusted = apitokend_regions_io_trusted();
	/* Nothing is kept yet: what committed before needs no retiring. */
	atomic_init(&t->retired, apitoken_store_changes_visible(d->store));
	d->tail = t;
	apitoken_store_set_change_hook(d->store, kick, t);
	if (pthread_create(&t->thread, NULL, tail_main, d) != 0) {
		apitoken_store_set_change_hook(d->store, NULL, NULL);
		pthread_cond_destroy(&t->cond);
		pthread_mutex_destroy(&t->mu);
		pthread_mutex_destroy(&t->work);
		free(t);
		d->tail = NULL;
		return apitoken_error(APITOKEN_ERR_IO,
		                      "cannot start the change tail thread");
	}
	return 0;
}

void
apitokend_tail_stop(struct apitokend *d)
{
	struct apitokend_tail *t = d->tail;

	if (t == NULL)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	/* No writer runs any more (tail.h): the hook can go. */
	apitoken_store_set_change_hook(d->store, NULL, NULL);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->mu);
	pthread_mutex_destroy(&t->work);
	free(t);
	d->tail = NULL;
}

bool
apitokend_tail_current(struct apitokend *d)
{
	struct apitokend_tail *t = d->tail;
	uint64_t visible;

	if (t == NULL)
		return false;
	/* visible first: a change between the loads makes this false
	 * (a needless miss), never true too early. */
	visible = apitoken_store_changes_visible(d->store);
	return atomic_load_explicit(&t->retired, memory_order_acquire) >=
	       visible;
}

bool
apitokend_tail_replica_quiet(struct apitokend *d)
{
	struct apitokend_tail *t = d->tail;
	uint64_t io, quiet;

	if (t == NULL || !t->io_trusted)
		return false;
	io = apitokend_regions_io_count();
	quiet = atomic_load_explicit(&t->quiet_io, memory_order_acquire);
	if (io == quiet)
		return true;
	/* One wake-up per round, however many readers see the traffic. */
	if (!atomic_exchange_explicit(&t->round_wanted, true,
	                              memory_order_relaxed)) {
		pthread_mutex_lock(&t->mu);
		t->kicked = true;
		pthread_cond_signal(&t->cond);
		pthread_mutex_unlock(&t->mu);
	}
	return false;
}

uint64_t
apitokend_tail_retired(struct apitokend *d)
{
	if (d->tail == NULL)
		return 0;
	return atomic_load_explicit(&d->tail->retired, memory_order_acquire);
}

void
apitokend_tail_write_metrics(struct apitokend *d, FILE *out)
{
	struct apitokend_tail *t = d->tail;

	if (t == NULL)
		return;
	fprintf(out,
	        "# HELP apitokend_changes_visible Last change record this"
	        " process's reads can see.\n"
	        "# TYPE apitokend_changes_visible gauge\n"
	        "apitokend_changes_visible %" PRIu64 "\n"
	        "# HELP apitokend_changes_retired Last change record whose"
	        " kept answers are retired (kept answers are used only while"
	        " it equals apitokend_changes_visible).\n"
	        "# TYPE apitokend_changes_retired gauge\n"
	        "apitokend_changes_retired %" PRIu64 "\n"
	        "# HELP apitokend_changes_total Change records retired, and"
	        " of them how many dropped every kept answer.\n"
	        "# TYPE apitokend_changes_total counter\n"
	        "apitokend_changes_total{scope=\"targeted\"} %" PRIu64 "\n"
	        "apitokend_changes_total{scope=\"all\"} %" PRIu64 "\n",
	        apitoken_store_changes_visible(d->store),
	        atomic_load_explicit(&t->retired, memory_order_acquire),
	        atomic_load_explicit(&t->records, memory_order_relaxed) -
	            atomic_load_explicit(&t->all, memory_order_relaxed),
	        atomic_load_explicit(&t->all, memory_order_relaxed));
}
