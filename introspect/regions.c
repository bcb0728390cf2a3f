/*
 * apitokend and the replication group: the staleness clock, /healthz and
 * /metrics members, and the peers' state for apitokenctl status.  The
 * forwarding of writes is in regions_forward.c.
 *
 * A replica's staleness is the time since it last had a master it could
 * reach (store_rep.c keeps the clock from repmgr's events; the thread
 * here looks at repmgr's connections every STALE_TICK_MS so that a
 * master that hangs without closing its connections is noticed too).
 * Past replication.staleness_limit the configured action applies: refuse
 * (the default: a cut-off replica could keep honouring a token revoked
 * elsewhere) or serve, counted in apitoken_replica_stale_answers_total.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include <apitoken/admin.h>
#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/replication.h>
#include <apitoken/store_rep.h>

#include "regions.h"
#include "regions_int.h"
#include "tail.h"

#define STALE_TICK_MS 200

struct regions_state regions;

static void *
tick_main(void *arg)
{
	struct apitokend *d = arg;
	struct timespec ts = {0, STALE_TICK_MS * 1000000L};

	pthread_mutex_lock(&regions.mu);
	while (!regions.stopping) {
		struct timespec until;

		pthread_mutex_unlock(&regions.mu);
		apitoken_store_rep_tick(d->store);
		if (apitoken_store_rep_dead(d->store) &&
		    !atomic_exchange(&regions.restart, true))
			(void)kill(getpid(), SIGTERM);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += ts.tv_nsec;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&regions.mu);
		if (!regions.stopping)
			(void)pthread_cond_timedwait(&regions.cv, &regions.mu,
			                             &until);
	}
	pthread_mutex_unlock(&regions.mu);
	return NULL;
}

int
apitokend_regions_start(struct apitokend *d)
{
	const apitoken_replication_t *rc = apitokend_gen(d)->cfg->replication;
	int err;

	if (rc == NULL)
		return 0;
	regions.cfg = rc;
	err = regions_forward_init(rc);
	if (err != 0)
		return err;
	pthread_mutex_init(&regions.mu, NULL);
	pthread_cond_init(&regions.cv, NULL);
	if (pthread_create(&regions.tick, NULL, tick_main, d) != 0)
		return apitoken_error(APITOKEN_ERR_NOMEM,
		                      "cannot start the replication thread");
	regions.running = true;
	apitoken_admin_set_forward(regions_admin_forward, d);
	apitoken_admin_set_status_peer(regions_status_peer, d);
	return 0;
}

void
apitokend_regions_stop(struct apitokend *d)
{
	(void)d;
	if (regions.cfg == NULL)
		return;
	apitoken_admin_set_forward(NULL, NULL);
	apitoken_admin_set_status_peer(NULL, NULL);
	if (regions.running) {
		pthread_mutex_lock(&regions.mu);
		regions.stopping = true;
		pthread_cond_broadcast(&regions.cv);
		pthread_mutex_unlock(&regions.mu);
		pthread_join(regions.tick, NULL);
		regions.running = false;
	}
	regions_forward_cleanup();
	regions.cfg = NULL;
}

bool
apitokend_regions_restart_wanted(void)
{
	return atomic_load(&regions.restart);
}

bool
apitokend_regions_forwarding(struct apitokend *d)
{
	return regions.cfg != NULL &&
	       apitoken_store_rep_role(d->store) != APITOKEN_REP_MASTER;
}

static bool
stale(struct apitokend *d)
{
	return regions.cfg != NULL &&
	       (!apitoken_store_rep_current(d->store) ||
	        apitoken_store_rep_stale_ms(d->store) >
	            regions.cfg->staleness_limit * 1000);
}

bool
apitokend_regions_refuse_reads(struct apitokend *d)
{
	if (!stale(d))
		return false;
	if (regions.cfg->staleness_action == APITOKEN_STALE_SERVE) {
		atomic_fetch_add_explicit(&regions.stale_served, 1,
		                          memory_order_relaxed);
		return false;
	}
	atomic_fetch_add_explicit(&regions.stale_refused, 1,
	                          memory_order_relaxed);
	return true;
}

bool
apitokend_regions_kept_ok(struct apitokend *d)
{
	uint64_t last = 0;

	if (!apitokend_regions_forwarding(d))
		return true;
	if (apitokend_tail_replica_quiet(d)) {
		atomic_fetch_add_explicit(&regions.kept_quiet, 1,
		                          memory_order_relaxed);
		return true;
	}
	atomic_fetch_add_explicit(&regions.kept_asked, 1,
	                          memory_order_relaxed);
	if (apitoken_store_changes_last(d->store, &last) != 0)
		return false;
	return last <= apitokend_tail_retired(d);
}

static const char *
role_name(enum apitoken_rep_role role)
{
	return role == APITOKEN_REP_MASTER    ? "master"
	       : role == APITOKEN_REP_REPLICA ? "replica"
	                                      : "single";
}

void
apitokend_regions_health(struct apitokend *d, cJSON *obj)
{
	apitoken_rep_status_t *st;
	cJSON *rep, *lsn;

	if (regions.cfg == NULL)
		return;
	st = malloc(sizeof(*st));
	if (st == NULL || apitoken_store_rep_status(d->store, st) != 0) {
		free(st);
		return;
	}
	rep = cJSON_AddObjectToObject(obj, "replication");
	if (rep != NULL) {
		cJSON_AddStringToObject(rep, "site", regions.cfg->name);
		cJSON_AddStringToObject(rep, "role", role_name(st->role));
		if (st->master[0] != '\0')
			cJSON_AddStringToObject(rep, "master", st->master);
		else
			cJSON_AddNullToObject(rep, "master");
		cJSON_AddNumberToObject(rep, "stale_ms", (double)st->stale_ms);
		cJSON_AddBoolToObject(rep, "stale", stale(d));
		cJSON_AddStringToObject(rep, "staleness_action",
		                        regions.cfg->staleness_action ==
		                                APITOKEN_STALE_SERVE
		                            ? "serve"
		                            : "refuse");
		lsn = cJSON_AddArrayToObject(rep, "lsn");
		if (lsn != NULL) {
			cJSON_AddItemToArray(
			    lsn, cJSON_CreateNumber((double)st->lsn_file));
			cJSON_AddItemToArray(
			    lsn, cJSON_CreateNumber((double)st->lsn_offset));
		}
	}
	free(st);
}

void
apitokend_regions_metrics(struct apitokend *d, FILE *out)
{
	apitoken_rep_status_t *st;
	size_t i;

	if (regions.cfg == NULL)
		return;
	st = malloc(sizeof(*st));
	if (st == NULL || apitoken_store_rep_status(d->store, st) != 0) {
		free(st);
		return;
	}
	fprintf(out,
	        "# HELP apitoken_replication_role 1 for this site's role "
	        "(master or replica)\n"
	        "# TYPE apitoken_replication_role gauge\n"
	        "apitoken_replication_role{site=\"%s\",role=\"master\"} %d\n"
	        "apitoken_replication_role{site=\"%s\",role=\"replica\"} %d\n",
	        regions.cfg->name, st->role == APITOKEN_REP_MASTER,
	        regions.cfg->name, st->role != APITOKEN_REP_MASTER);
	fprintf(
	    out,
	    "# HELP apitokend_replica_kept_checks_total On a replica, "
	    "checks before using a kept answer or client login: settled "
	    "by the replication traffic count (traffic) or by a store read "
	    "(store)\n"
	    "# TYPE apitokend_replica_kept_checks_total counter\n"
	    "apitokend_replica_kept_checks_total{by=\"traffic\"} %lu\n"
	    "apitokend_replica_kept_checks_total{by=\"store\"} %lu\n"
	    "# HELP apitokend_replica_traffic_count_trusted 1 if libdb's "
	    "replication socket calls reach apitokend's counting wrappers\n"
	    "# TYPE apitokend_replica_traffic_count_trusted gauge\n"
	    "apitokend_replica_traffic_count_trusted %d\n",
	    atomic_load(&regions.kept_quiet), atomic_load(&regions.kept_asked),
	    apitokend_regions_io_trusted());
	fprintf(out,
	        "# HELP apitoken_replication_master 1 for the site this one "
	        "takes as master\n"
	        "# TYPE apitoken_replication_master gauge\n");
	if (st->master[0] != '\0')
		fprintf(out, "apitoken_replication_master{master=\"%s\"} 1\n",
		        st->master);
	fprintf(out,
	        "# HELP apitoken_replication_stale_seconds Time since this "
	        "replica last reached a master (0 in contact)\n"
	        "# TYPE apitoken_replication_stale_seconds gauge\n"
	        "apitoken_replication_stale_seconds %.3f\n"
	        "# HELP apitoken_replication_stale 1 past staleness_limit\n"
	        "# TYPE apitoken_replication_stale gauge\n"
	        "apitoken_replication_stale %d\n",
	        (double)st->stale_ms / 1000.0, stale(d) ? 1 : 0);
	fprintf(out,
	        "# HELP apitoken_replica_stale_answers_total Answers given "
	        "(serve) or refused (refuse) while stale\n"
	        "# TYPE apitoken_replica_stale_answers_total counter\n"
	        "apitoken_replica_stale_answers_total{action=\"serve\"} %lu\n"
	        "apitoken_replica_stale_answers_total{action=\"refuse\"} "
	        "%lu\n",
	        atomic_load(&regions.stale_served),
	        atomic_load(&regions.stale_refused));
	fprintf(out,
	        "# HELP apitoken_replication_lsn This site's log position\n"
	        "# TYPE apitoken_replication_lsn gauge\n"
	        "apitoken_replication_lsn{part=\"file\"} %llu\n"
	        "apitoken_replication_lsn{part=\"offset\"} %llu\n",
	        (unsigned long long)st->lsn_file,
	        (unsigned long long)st->lsn_offset);
	fprintf(out,
	        "# HELP apitoken_replication_site_connected 1 if repmgr is "
	        "connected to the site\n"
	        "# TYPE apitoken_replication_site_connected gauge\n");
	for (i = 0; i < st->n_sites; i++)
		fprintf(
		    out,
		    "apitoken_replication_site_connected{site=\"%s\"} %d\n",
		    st->sites[i].name, st->sites[i].connected ? 1 : 0);
	fprintf(out,
	        "# HELP apitoken_replication_events_total Replication "
	        "events\n"
	        "# TYPE apitoken_replication_events_total counter\n"
	        "apitoken_replication_events_total{event=\"perm_failed\"} "
	        "%lu\n"
	        "apitoken_replication_events_total{event=\"dupmaster\"} %lu\n"
	        "apitoken_replication_events_total{event=\"newmaster\"} %lu\n"
	        "apitoken_replication_events_total{event=\"elected\"} %lu\n"
	        "apitoken_replication_events_total{event=\"forwarded\"} "
	        "%lu\n"
	        "apitoken_replication_events_total{event=\"forward_refused\"} "
	        "%lu\n",
	        st->perm_failed, st->dupmasters, st->master_changes,
	        st->elections_won, atomic_load(&regions.forwarded),
	        atomic_load(&regions.forward_refused));
	free(st);
}
