/*
 * The store as one member of a replication group (apitoken/store_rep.h).
 *
 * What we rely on, measured with Debian's libdb 5.3.28 (issue 9):
 *  - Every write commits with DB_REPMGR_ACKS_QUORUM.  A commit that returns
 *    0 may still have raised DB_EVENT_REP_PERM_FAILED in the committing
 *    thread (the quorum did not ack within ack_timeout): such a write is
 *    NOT reported as done, so a failover never loses a write that was.
 *    The event arrives in the thread that commits, hence a thread-local
 *    flag cleared before each commit.
 *  - A thread that calls the API outside a transaction during a
 *    replication lockout sleeps 5 s in libdb: every read here runs in a
 *    (snapshot) transaction, and DB_REP_CONF_NOWAIT turns the lockout into
 *    an error instead of a wait.  With a 200 ms election timeout the first
 *    write on a new master came ~30 ms after the old one was killed.
 *  - Opening databases before DB_EVENT_REP_STARTUPDONE can block 5 s and
 *    deadlock: store.c opens them only after store_rep_start() returned.
 *  - A hung (SIGSTOPped) master is noticed by heartbeats only; its commits
 *    after SIGCONT come back 0 with PERM_FAILED and are rolled back by the
 *    group; both masters then see DB_EVENT_REP_DUPMASTER and hold an
 *    election.
 *  - TCP_NODELAY on repmgr's sockets is set by apitokend (see
 *    introspect/regions_sockets.c), not here: libdb offers no option.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/replication.h>
#include <apitoken/store_rep.h>

#include "store_int.h"

#define START_WAIT_MS 60000 /* longest wait for master or start-up sync */

struct store_rep {
	const apitoken_replication_t *cfg;
	_Atomic int role; /* enum apitoken_rep_role */
	_Atomic int master_eid;
	_Atomic bool startup_done;
	_Atomic int64_t stale_since_ms; /* 0: in contact */
	atomic_ulong perm_failed, dupmasters, master_changes, elections;
	/* Commits made as master that no quorum confirmed, since this site
	 * last became master: replication will roll them back once another
	 * master leads. */
	atomic_ulong unconfirmed;
	/* When a commit of this site as master was last confirmed by a
	 * quorum (or it became master): a master that cannot show one for
	 * a while writes a probe (apitoken_store_rep_tick). */
	_Atomic int64_t confirmed_ms;
	/* A master demoted while its history may be behind the group's (it
	 * hung, or was cut off, while another was elected): it answers from
	 * nothing until it has caught up with the new master (STARTUPDONE,
	 * which Berkeley DB fires again after every change of master). */
	_Atomic bool behind;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

/*
 * A master's lease.  A replica calls an election only after it has heard
 * nothing from its master for heartbeat_timeout_ms (a hung master keeps
 * its connections open, so that is how one is noticed), and every
 * replica that acknowledged a commit heard from the master after that
 * commit began.  So for heartbeat_timeout_ms after a commit began that a
 * quorum confirmed, no majority can have elected another master, and the
 * master's history is the group's.  The master answers from it for three
 * quarters of that (the rest absorbs clock-rate differences and a request
 * descheduled between the check and its answer), renewing the lease with
 * every confirmed commit, and when idle with a probe.  Berkeley DB's own
 * master leases (DB_REP_CONF_LEASE) would also stop a replica that still
 * hears its master from joining an election another site called, but
 * repmgr 5.3 pauses for the lease before each election, longer than the
 * election timeout, and a restarted group's votes crossed for a minute
 * (docs/design.md).
 */
static int64_t rep_lease_ms(const struct store_rep *r);
static int64_t rep_probe_ms(const struct store_rep *r);

static _Thread_local bool perm_failed_here;
/* When this thread's last commit began: confirmed, it renews the lease
 * from then, not from when the acknowledgements came back. */
static _Thread_local int64_t commit_began_ms;
static atomic_bool handles_dead;

void
store_rep_handle_dead(void)
{
	if (!atomic_exchange(&handles_dead, true))
		apitoken_log(APITOKEN_LOG_ERR,
		             "replication rolled back transactions this site "
		             "had; the store must be reopened (apitokend "
		             "restarts)");
}

bool
apitoken_store_rep_dead(apitoken_store_t *st)
{
	(void)st;
	return atomic_load(&handles_dead);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
wake(struct store_rep *r)
{
	pthread_mutex_lock(&r->mu);
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static void
lost_contact(struct store_rep *r)
{
	int64_t zero = 0;

	(void)atomic_compare_exchange_strong(&r->stale_since_ms, &zero,
	                                     mono_ms());
}

/* repmgr calls this from its own threads, and PERM_FAILED from the
 * committing thread.  Nothing here calls back into libdb. */
static void
rep_event(DB_ENV *env, u_int32_t which, void *info)
{
	apitoken_store_t *st = env->app_private;
	struct store_rep *r = st->rep;

	switch (which) {
	case DB_EVENT_REP_PERM_FAILED:
		perm_failed_here = true;
		atomic_fetch_add(&r->perm_failed, 1);
		if (atomic_load(&r->role) == APITOKEN_REP_MASTER)
			atomic_fetch_add(&r->unconfirmed, 1);
		break;
	case DB_EVENT_REP_MASTER:
		atomic_store(&r->unconfirmed, 0);
		atomic_store(&r->confirmed_ms, mono_ms());
		atomic_store(&r->role, APITOKEN_REP_MASTER);
		atomic_store(&r->master_eid, DB_EID_INVALID);
		atomic_store(&r->stale_since_ms, 0);
		/* Snapshots begun as a replica must not be reused. */
		atomic_fetch_add(&st->write_epoch, 1);
		apitoken_log(APITOKEN_LOG_NOTICE,
		             "replication: this site (%s) is the master",
		             r->cfg->name);
		wake(r);
		break;
	case DB_EVENT_REP_CLIENT:
		if (atomic_exchange(&r->role, APITOKEN_REP_REPLICA) ==
		    APITOKEN_REP_MASTER) {
			atomic_store(&r->behind, true);
			lost_contact(r);
			/* A master demoted with unconfirmed commits after its
			 * lease ran out (it hung, or was cut off, while
			 * another was elected): the new master's history will
			 * roll them back and kill every open handle, at
			 * whatever moment the sync gets there.  Restart now
			 * rather than then (apitokend exits EX_TEMPFAIL, the
			 * supervisor starts it again, and it rejoins with the
			 * one history).  Within its lease no other master can
			 * have been elected: it is the legitimate one, demoted
			 * because a hung old master came back (DUPMASTER
			 * demotes both), with one commit that lost its
			 * acknowledgement in the commotion.  It stays, to win
			 * the election with the longest log; exiting too left
			 * the third site alone, without a majority to elect
			 * anyone until a supervisor restarted one of the two
			 * (tests/bench/regions-stop.sh).  Should its commits
			 * be rolled back after all, the first dead handle it
			 * touches ends it as before. */
			if (atomic_load(&r->unconfirmed) > 0 &&
			    mono_ms() - atomic_load(&r->confirmed_ms) >
			        rep_lease_ms(r)) {
				apitoken_log(
				    APITOKEN_LOG_WARNING,
				    "replication: demoted with %lu "
				    "unconfirmed commit(s), which the "
				    "new master will roll back",
				    atomic_load(&r->unconfirmed));
				store_rep_handle_dead();
			}
		}
		atomic_fetch_add(&st->write_epoch, 1);
		wake(r);
		break;
	case DB_EVENT_REP_NEWMASTER:
		atomic_store(&r->master_eid,
		             info != NULL ? *(int *)info : DB_EID_INVALID);
		atomic_fetch_add(&r->master_changes, 1);
		if (atomic_load(&r->role) != APITOKEN_REP_MASTER)
			atomic_store(&r->stale_since_ms, 0);
		wake(r);
		break;
	case DB_EVENT_REP_STARTUPDONE:
		atomic_store(&r->startup_done, true);
		atomic_store(&r->behind, false);
		atomic_store(&r->stale_since_ms, 0);
		wake(r);
		break;
	case DB_EVENT_REP_ELECTED:
		atomic_fetch_add(&r->elections, 1);
		break;
	case DB_EVENT_REP_DUPMASTER:
		atomic_fetch_add(&r->dupmasters, 1);
		apitoken_log(APITOKEN_LOG_WARNING,
		             "replication: another master was seen; the "
		             "group holds an election");
		break;
	case DB_EVENT_REP_MASTER_FAILURE:
		atomic_store(&r->master_eid, DB_EID_INVALID);
		lost_contact(r);
		break;
	case DB_EVENT_PANIC:
		apitoken_log(APITOKEN_LOG_ERR,
		             "replication: Berkeley DB panic; restart "
		             "apitokend");
		break;
	default:
		break;
	}
}

static int
rep_fail(int ret, const char *what)
{
	return apitoken_error(APITOKEN_ERR_STORE, "replication: %s: %s", what,
	                      db_strerror(ret));
}

static int
add_site(DB_ENV *env, const char *host, unsigned port, u_int32_t which,
         bool creator)
{
	DB_SITE *site = NULL;
	int ret;

	ret = env->repmgr_site(env, host, port, &site, 0);
	if (ret != 0)
		return rep_fail(ret, "site");
	ret = site->set_config(site, which, 1);
	if (ret == 0 && creator)
		ret = site->set_config(site, DB_GROUP_CREATOR, 1);
	(void)site->close(site);
	return ret != 0 ? rep_fail(ret, "site settings") : 0;
}

static bool
mark_exists(const char *dir)
{
	char path[4096];

	if (snprintf(path, sizeof(path), "%s/%s", dir,
	             APITOKEN_STORE_REP_MARK) >= (int)sizeof(path))
		return false;
	return access(path, F_OK) == 0;
}

static int
write_mark(apitoken_store_t *st)
{
	char path[4096];
	int fd;
	ssize_t n;
	size_t len = strlen(st->rep->cfg->name);

	if (mark_exists(st->dir))
		return 0;
	(void)snprintf(path, sizeof(path), "%s/%s", st->dir,
	               APITOKEN_STORE_REP_MARK);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return apitoken_error(APITOKEN_ERR_IO, "cannot create %s: %s",
		                      path, strerror(errno));
	n = write(fd, st->rep->cfg->name, len);
	if (n == (ssize_t)len)
		n = write(fd, "\n", 1);
	if (n < 0 || fsync(fd) != 0) {
		(void)close(fd);
		return apitoken_error(APITOKEN_ERR_IO, "cannot write %s",
		                      path);
	}
	(void)close(fd);
	return 0;
}

int
store_rep_prepare(apitoken_store_t *st, const apitoken_config_t *cfg,
                  unsigned flags, u_int32_t *env_flags)
{
	const apitoken_replication_t *rc = cfg->replication;
	struct store_rep *r;
	DB_ENV *env = st->env;
	size_t i;
	int ret, err;

	if (!(flags & APITOKEN_STORE_REPLICATE) || rc == NULL) {
		/* Offline on a group member: read only (see header). */
		st->rep_offline = rc != NULL || mark_exists(st->dir);
		if (st->rep_offline && (flags & APITOKEN_STORE_CREATE))
			return apitoken_error(
			    APITOKEN_ERR_DENIED,
			    "store %s: a member of a replication group is "
			    "created by apitokend when it joins the group",
			    st->dir);
		return 0;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	r->cfg = rc;
	atomic_init(&r->role, APITOKEN_REP_REPLICA);
	atomic_init(&r->master_eid, DB_EID_INVALID);
	atomic_init(&r->stale_since_ms, mono_ms());
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	st->rep = r;
	env->app_private = st;

	ret = env->set_event_notify(env, rep_event);
	if (ret != 0)
		return rep_fail(ret, "event callback");
	err =
	    add_site(env, rc->host, rc->port, DB_LOCAL_SITE, rc->create_group);
	for (i = 0; err == 0 && i < rc->n_sites; i++)
		err = add_site(env, rc->sites[i].host, rc->sites[i].port,
		               DB_BOOTSTRAP_HELPER, false);
	if (err != 0)
		return err;
	if ((ret = env->repmgr_set_ack_policy(env, DB_REPMGR_ACKS_QUORUM)) !=
	        0 ||
	    (ret = env->rep_set_priority(env, rc->priority)) != 0 ||
	    (ret = env->rep_set_timeout(env, DB_REP_ACK_TIMEOUT,
	                                rc->ack_timeout_ms * 1000u)) != 0 ||
	    (ret = env->rep_set_timeout(env, DB_REP_ELECTION_TIMEOUT,
	                                rc->election_timeout_ms * 1000u)) !=
	        0 ||
	    (ret = env->rep_set_timeout(env, DB_REP_FULL_ELECTION_TIMEOUT,
	                                rc->election_timeout_ms * 1000u)) !=
	        0 ||
	    (ret = env->rep_set_timeout(env, DB_REP_HEARTBEAT_SEND,
	                                rc->heartbeat_interval_ms * 1000u)) !=
	        0 ||
	    (ret = env->rep_set_timeout(env, DB_REP_HEARTBEAT_MONITOR,
	                                rc->heartbeat_timeout_ms * 1000u)) !=
	        0 ||
	    (ret = env->rep_set_timeout(env, DB_REP_CONNECTION_RETRY,
	                                1000000u)) != 0 ||
	    /* A failed election (a vote lost to a site that died in it, a
	     * loaded machine missing election_timeout) is tried again after
	     * 10 s by default: that long with no master, and no writes,
	     * after a duplicate master was resolved.  Retry at the
	     * heartbeat's pace instead. */
	    (ret = env->rep_set_timeout(env, DB_REP_ELECTION_RETRY,
	                                rc->heartbeat_interval_ms * 1000u)) !=
	        0 ||
	    (ret = env->rep_set_config(env, DB_REP_CONF_NOWAIT, 1)) != 0 ||
	    (ret = env->rep_set_config(env, DB_REPMGR_CONF_2SITE_STRICT, 1)) !=
	        0)
		return rep_fail(ret, "settings");
	*env_flags |= DB_INIT_REP;
	return 0;
}

/* Master, or start-up sync done with a known master. */
static bool
ready(struct store_rep *r)
{
	return atomic_load(&r->role) == APITOKEN_REP_MASTER ||
	       (atomic_load(&r->startup_done) &&
	        atomic_load(&r->master_eid) != DB_EID_INVALID);
}

int
store_rep_start(apitoken_store_t *st, bool *create)
{
	struct store_rep *r = st->rep;
	struct timespec until;
	int ret, rc;

	if (r == NULL)
		return 0;
	rc = write_mark(st);
	if (rc != 0)
		return rc;
	/*
	 * Joining adds this site to the group's membership, itself a write
	 * that a quorum must acknowledge: while another site is still
	 * joining or catching up it can fail with DB_REP_UNAVAIL.  Try
	 * again for a while.
	 */
	for (int i = 0;; i++) {
		ret = st->env->repmgr_start(st->env, 3, DB_REP_ELECTION);
		if (ret == 0 || ret == DB_REP_IGNORE)
			break;
		if (ret != DB_REP_UNAVAIL || i >= START_WAIT_MS / 1000)
			return rep_fail(ret, "start");
		apitoken_log(APITOKEN_LOG_NOTICE,
		             "replication: site %s cannot join yet (%s); "
		             "trying again",
		             r->cfg->name, db_strerror(ret));
		(void)sleep(1);
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += START_WAIT_MS / 1000;
	pthread_mutex_lock(&r->mu);
	while (!ready(r))
		if (pthread_cond_timedwait(&r->cv, &r->mu, &until) != 0 &&
		    !ready(r)) {
			pthread_mutex_unlock(&r->mu);
			return apitoken_error(
			    APITOKEN_ERR_UNAVAILABLE,
			    "replication: site %s found no master within %d "
			    "s (are a majority of the sites running and "
			    "reachable?)",
			    r->cfg->name, START_WAIT_MS / 1000);
		}
	pthread_mutex_unlock(&r->mu);
	/* Only the master creates databases; a replica has them now. */
	if (atomic_load(&r->role) != APITOKEN_REP_MASTER)
		*create = false;
	apitoken_log(APITOKEN_LOG_NOTICE, "replication: site %s joined as %s",
	             r->cfg->name,
	             atomic_load(&r->role) == APITOKEN_REP_MASTER ? "master"
	                                                          : "replica");
	return 0;
}

void
store_rep_destroy(apitoken_store_t *st)
{
	if (st->rep == NULL)
		return;
	pthread_mutex_destroy(&st->rep->mu);
	pthread_cond_destroy(&st->rep->cv);
	free(st->rep);
	st->rep = NULL;
}

int
store_rep_write_begin(apitoken_store_t *st)
{
	if (st->rep_offline)
		return apitoken_error(
		    APITOKEN_ERR_DENIED,
		    "store %s belongs to a replication group: with "
		    "apitokend stopped it can only be read (a write here "
		    "would fork the group's history); start apitokend, "
		    "which sends writes to the master",
		    st->dir);
	if (st->rep == NULL)
		return 0;
	if (atomic_load(&st->rep->role) != APITOKEN_REP_MASTER)
		return apitoken_error(APITOKEN_ERR_UNAVAILABLE,
		                      "this site (%s) is not the replication "
		                      "master; retry",
		                      st->rep->cfg->name);
	perm_failed_here = false;
	return 0;
}

void
store_rep_commit_begins(apitoken_store_t *st)
{
	if (st->rep != NULL)
		commit_began_ms = mono_ms();
}

static void
lease_renewed(struct store_rep *r, int64_t from)
{
	int64_t cur = atomic_load(&r->confirmed_ms);

	while (cur < from &&
	       !atomic_compare_exchange_weak(&r->confirmed_ms, &cur, from))
		;
}

int
store_rep_write_done(apitoken_store_t *st)
{
	if (st->rep == NULL)
		return 0;
	if (!perm_failed_here) {
		atomic_store(&st->rep->unconfirmed, 0);
		lease_renewed(st->rep, commit_began_ms);
		return 0;
	}
	perm_failed_here = false;
	/* No quorum has it: as stale as a master cut off from a majority
	 * until a commit is confirmed again (reads refused or flagged). */
	lost_contact(st->rep);
	apitoken_log(APITOKEN_LOG_WARNING,
	             "replication: a commit was not acknowledged by a "
	             "quorum; reported as failed");
	return apitoken_error(APITOKEN_ERR_UNAVAILABLE,
	                      "not confirmed by a quorum of regions; retry");
}

bool
store_rep_is_replica(apitoken_store_t *st)
{
	return st->rep != NULL &&
	       atomic_load_explicit(&st->rep->role, memory_order_relaxed) !=
	           APITOKEN_REP_MASTER;
}

enum apitoken_rep_role
apitoken_store_rep_role(apitoken_store_t *st)
{
	if (st == NULL || st->rep == NULL)
		return APITOKEN_REP_SINGLE;
	return (enum apitoken_rep_role)atomic_load(&st->rep->role);
}

int64_t
apitoken_store_rep_stale_ms(apitoken_store_t *st)
{
	int64_t since;

	if (st == NULL || st->rep == NULL)
		return 0;
	since = atomic_load(&st->rep->stale_since_ms);
	/* A master past its lease is as stale as the time since a quorum
	 * last confirmed it (a master paused longer than its lease is stale
	 * from its first instruction back, before any probe could fail). */
	if (atomic_load(&st->rep->role) == APITOKEN_REP_MASTER) {
		int64_t now = mono_ms();
		int64_t quiet = now - atomic_load(&st->rep->confirmed_ms);
		int64_t cut = since == 0 ? 0 : now - since;

		if (quiet > rep_lease_ms(st->rep))
			return quiet > cut ? quiet : cut;
		return cut;
	}
	return since == 0 ? 0 : mono_ms() - since;
}

bool
apitoken_store_rep_current(apitoken_store_t *st)
{
	struct store_rep *r;

	if (st == NULL || (r = st->rep) == NULL)
		return true;
	if (atomic_load(&r->role) != APITOKEN_REP_MASTER)
		return !atomic_load(&r->behind);
	return atomic_load(&r->unconfirmed) == 0 &&
	       mono_ms() - atomic_load(&r->confirmed_ms) <= rep_lease_ms(r);
}

static void
site_name(const apitoken_replication_t *cfg, const char *host, unsigned port,
          char *buf, size_t len, int *idx)
{
	int i = apitoken_replication_site_index(cfg, host, port);

	if (idx != NULL)
		*idx = i;
	if (i >= 0)
		(void)snprintf(buf, len, "%s", cfg->sites[i].name);
	else
		(void)snprintf(buf, len, "%s:%u", host, port);
}

static int64_t
rep_lease_ms(const struct store_rep *r)
{
	return (int64_t)r->cfg->heartbeat_timeout_ms * 3 / 4;
}

/* How long a master goes without a confirmed commit before it writes a
 * probe: a third of its lease, so that an idle master renews it with two
 * ticks (STALE_TICK_MS in apitokend) and a commit's round trip to spare. */
static int64_t
rep_probe_ms(const struct store_rep *r)
{
	return rep_lease_ms(r) / 3;
}

static int
probe_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	static const char key[] = "rep.probe";
	uint8_t val[8];
	DBT k, d;
	int ret;

	(void)arg;
	store_be64(val, (uint64_t)apitoken_now());
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = (void *)key;
	k.size = sizeof(key) - 1;
	d.data = val;
	d.size = sizeof(val);
	ret = st->meta->put(st->meta, txn, &k, &d, 0);
	return ret == 0 ? 0 : store_dberr(ret, "write replication probe");
}

/* A commit no reader cares about (no change record), to learn whether a
 * quorum still follows this master. */
static int
store_rep_probe(apitoken_store_t *st)
{
	int rc = store_write(st, probe_txn, NULL);

	if (rc != 0)
		apitoken_error_clear();
	return rc;
}

void
apitoken_store_rep_tick(apitoken_store_t *st)
{
	struct store_rep *r;
	DB_REPMGR_SITE *list = NULL;
	u_int n = 0, i;
	int eid;
	bool reachable = false;

	if (st == NULL || (r = st->rep) == NULL)
		return;
	if (atomic_load(&r->role) == APITOKEN_REP_MASTER) {
		/* A master cut off from a majority may have been replaced
		 * on the other side: it is as stale as a lone replica.  So
		 * is one whose last commit no quorum confirmed: a master
		 * that hung (SIGSTOP, a long pause) while the others elected
		 * another still has its connections, and would otherwise
		 * go on answering from a history the group has left.  An
		 * idle master proves itself with a probe commit. */
		u_int connected = 0;

		/* An unconfirmed commit is probed for at once: if a quorum
		 * confirms the probe it has everything before it too (acks
		 * are by log position), and the master answers again without
		 * waiting for the next write. */
		bool unconfirmed = atomic_load(&r->unconfirmed) > 0;

		if (unconfirmed)
			lost_contact(r);
		if (unconfirmed || mono_ms() - atomic_load(&r->confirmed_ms) >=
		                       rep_probe_ms(r)) {
			if (store_rep_probe(st) != 0)
				return; /* stale marked by write_done */
		}

		if (st->env->repmgr_site_list(st->env, &n, &list) != 0)
			return;
		for (i = 0; i < n; i++)
			if (list[i].status == DB_REPMGR_CONNECTED)
				connected++;
		free(list);
		if (connected + 1 >= (r->cfg->n_sites + 1) / 2 + 1)
			atomic_store(&r->stale_since_ms, 0);
		else
			lost_contact(r);
		return;
	}
	eid = atomic_load(&r->master_eid);
	if (eid == DB_EID_INVALID) {
		lost_contact(r);
		return;
	}
	if (st->env->repmgr_site_list(st->env, &n, &list) != 0)
		return;
	for (i = 0; i < n; i++)
		if (list[i].eid == eid &&
		    list[i].status == DB_REPMGR_CONNECTED)
			reachable = true;
	free(list);
	if (reachable)
		atomic_store(&r->stale_since_ms, 0);
	else
		lost_contact(r);
}

int
apitoken_store_rep_status(apitoken_store_t *st, apitoken_rep_status_t *out)
{
	struct store_rep *r;
	DB_REPMGR_SITE *list = NULL;
	DB_LOG_STAT *ls = NULL;
	DB_REP_STAT *rs = NULL;
	u_int n = 0, i;
	int eid, idx;

	memset(out, 0, sizeof(*out));
	out->master_site = -1;
	if (st == NULL || (r = st->rep) == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "this store is not replicated");
	out->role = (enum apitoken_rep_role)atomic_load(&r->role);
	out->stale_ms = apitoken_store_rep_stale_ms(st);
	out->perm_failed = atomic_load(&r->perm_failed);
	out->dupmasters = atomic_load(&r->dupmasters);
	out->master_changes = atomic_load(&r->master_changes);
	out->elections_won = atomic_load(&r->elections);
	eid = atomic_load(&r->master_eid);
	if (out->role == APITOKEN_REP_MASTER)
		(void)snprintf(out->master, sizeof(out->master), "%s",
		               r->cfg->name);
	if (out->role == APITOKEN_REP_MASTER &&
	    st->env->log_stat(st->env, &ls, 0) == 0) {
		out->lsn_file = ls->st_cur_file;
		out->lsn_offset = ls->st_cur_offset;
		free(ls);
	} else if (st->env->rep_stat(st->env, &rs, 0) == 0) {
		out->lsn_file = rs->st_next_lsn.file;
		out->lsn_offset = rs->st_next_lsn.offset;
		free(rs);
	}
	if (st->env->repmgr_site_list(st->env, &n, &list) != 0)
		return 0;
	for (i = 0; i < n && out->n_sites < APITOKEN_REP_SITES_MAX; i++) {
		size_t k = out->n_sites++;

		site_name(r->cfg, list[i].host, list[i].port,
		          out->sites[k].name, sizeof(out->sites[k].name),
		          &idx);
		(void)snprintf(out->sites[k].address,
		               sizeof(out->sites[k].address), "%s:%u",
		               list[i].host, list[i].port);
		out->sites[k].connected =
		    list[i].status == DB_REPMGR_CONNECTED;
		out->sites[k].master = list[i].eid == eid;
		if (list[i].eid == eid) {
			(void)snprintf(out->master, sizeof(out->master), "%s",
			               out->sites[k].name);
			out->master_site = idx;
		}
	}
	free(list);
	return 0;
}
