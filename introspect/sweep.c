/*
 * apitokend: periodic work.  Every sweep_interval: delete expired tokens
 * (each with its audit record and notice), checkpoint the environment so
 * logs do not pile up, and count the active tokens for /metrics.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/store_rep.h>

#include "apitokend.h"
#include "regions.h"
#include "metrics.h"

struct apitokend_sweep {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
};

static void
sweep_once(struct apitokend *d)
{
	int64_t now = apitoken_now();
	size_t deleted = 0, active = 0;
	int rc = 0;

	/* Regions: only the master purges and prunes (a replica cannot
	 * write, nor can a site whose role is not known yet); after a
	 * failover the new master's next sweep takes over. */
	bool writer = !apitokend_regions_forwarding(d);

	if (writer)
		rc = apitoken_store_purge(d->store, now, NULL, NULL, &deleted);
	if (rc != 0) {
		apitokend_metrics_store_error();
		apitoken_log(APITOKEN_LOG_ERR, "sweep: purge failed: %s",
		             apitoken_last_error());
	} else if (deleted > 0) {
		apitoken_log(APITOKEN_LOG_INFO,
		             "sweep: deleted %zu expired token(s)", deleted);
	}
	if (writer)
		apitokend_sweep_audit(d, now);
	rc = apitoken_store_checkpoint(d->store);
	if (rc != 0) {
		apitokend_metrics_store_error();
		apitoken_log(APITOKEN_LOG_ERR, "sweep: checkpoint failed: %s",
		             apitoken_last_error());
	}
	rc = apitoken_token_count_active(d->store, now, &active);
	if (rc != 0) {
		apitokend_metrics_store_error();
		apitoken_log(APITOKEN_LOG_ERR, "sweep: count failed: %s",
		             apitoken_last_error());
	} else {
		apitokend_metrics_set_active(active);
	}
}

static void *
sweep_main(void *arg)
{
	struct apitokend *d = arg;
	struct apitokend_sweep *s = d->sweep;
	struct timespec until;
	int64_t interval;

	apitokend_background_thread("sweep");
	for (;;) {
		sweep_once(d);
		/* Re-read: SIGHUP may have changed the interval. */
		interval = apitokend_gen(d)->cfg->sweep_interval;
		if (interval <= 0)
			interval = 60;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += (time_t)interval;
		pthread_mutex_lock(&s->lock);
		while (!s->stop && pthread_cond_timedwait(&s->cond, &s->lock,
		                                          &until) != ETIMEDOUT)
			;
		if (s->stop) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

int
apitokend_sweep_start(struct apitokend *d)
{
	struct apitokend_sweep *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;

	if (s == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	d->sweep = s;
	if (pthread_create(&s->thread, NULL, sweep_main, d) != 0) {
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
		free(s);
		d->sweep = NULL;
		return apitoken_error(APITOKEN_ERR_IO,
		                      "cannot start the sweep thread");
	}
	return apitokend_lastuse_start(d);
}

void
apitokend_sweep_stop(struct apitokend *d)
{
	struct apitokend_sweep *s = d->sweep;

	apitokend_lastuse_stop(d);
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
	d->sweep = NULL;
}
