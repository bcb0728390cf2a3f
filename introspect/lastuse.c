/*
 * apitokend: last use of each token.  Every active introspection and
 * local-socket check (which is also how PAM succeeds) notes the time,
 * source and client in memory (apitoken_lastuse_note: one short lock);
 * a thread writes what changed every last_used_interval, so each token
 * costs at most one store write per interval, batched with the others,
 * and a crash loses at most one interval.  Those writes carry no change
 * record, so no kept answer is dropped for them (see
 * core/store_lastuse.c).  Stopping the daemon writes the rest.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <apitoken/store_rep.h>
#include <apitoken/error.h>
#include <apitoken/log.h>

#include "apitokend.h"
#include "metrics.h"
#include "regions.h"

static struct {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool running, stop;
} lu = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool
enabled(struct apitokend *d)
{
	return apitokend_gen(d)->cfg->last_used != 0;
}

static void
peer_source(char *buf, size_t len, void *ctx)
{
	apitokend_req_peer(ctx, buf, len);
}

void
apitokend_lastuse_http(struct apitokend *d, struct MHD_Connection *c,
                       const char *client_id, const char *jti)
{
	if (!enabled(d) || jti == NULL)
		return;
	/* The peer address is formatted only for a use that is news. */
	apitoken_lastuse_note_lazy(d->store, jti, apitoken_now(), peer_source,
	                           c, client_id);
}

void
apitokend_lastuse_local(struct apitokend *d, long uid, long pid,
                        const char *jti)
{
	char source[64], client[32];

	if (!enabled(d) || jti == NULL)
		return;
	(void)snprintf(source, sizeof(source), "local socket pid %ld", pid);
	(void)snprintf(client, sizeof(client), "local uid %ld", uid);
	apitoken_lastuse_note(d->store, jti, apitoken_now(), source, client);
}

void
apitokend_lastuse_metrics(struct apitokend *d, FILE *out)
{
	fprintf(out,
	        "# HELP apitokend_last_use_held Token uses held in memory:"
	        " not yet written to the store, or repeated in the last"
	        " seconds.\n"
	        "# TYPE apitokend_last_use_held gauge\n"
	        "apitokend_last_use_held %zu\n",
	        apitoken_lastuse_held(d->store));
}

static int
send_uses(const apitoken_lastuse_item_t *items, size_t n, void *ctx)
{
	return apitokend_regions_send_uses(ctx, items, n);
}

static void
flush(struct apitokend *d)
{
	size_t n = 0;

	/* Regions: only the master writes.  A replica sends its uses to
	 * the master (regions_uses.c); those it could not send stay in
	 * memory (shown by its own daemon) for the next interval. */
	if (apitoken_store_rep_role(d->store) == APITOKEN_REP_REPLICA) {
		if (apitoken_lastuse_drain(d->store, send_uses, d, &n) != 0)
			apitoken_log(APITOKEN_LOG_WARNING,
			             "last use: sending to the master failed "
			             "(kept in memory, retried): %s",
			             apitoken_last_error());
		else if (n > 0)
			apitoken_log(
			    APITOKEN_LOG_DEBUG,
			    "last use: sent %zu token(s) to the master", n);
		return;
	}
	if (apitoken_lastuse_flush(d->store, &n) != 0) {
		apitokend_metrics_store_error();
		apitoken_log(APITOKEN_LOG_ERR,
		             "last use: writing to the store failed (kept in "
		             "memory, retried): %s",
		             apitoken_last_error());
	} else if (n > 0) {
		apitoken_log(APITOKEN_LOG_DEBUG,
		             "last use: wrote %zu token(s)", n);
	}
}

static void *
lastuse_main(void *arg)
{
	struct apitokend *d = arg;
	struct timespec until;
	int64_t interval;

	/* Writing (or sending) a whole interval's uses at once must not take
	 * the workers' CPU, as with the sweep. */
	apitokend_background_thread("last use");
	pthread_mutex_lock(&lu.lock);
	while (!lu.stop) {
		/* Re-read: SIGHUP may have changed the interval. */
		interval = apitokend_gen(d)->cfg->last_used_interval;
		if (interval <= 0)
			interval = 600;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += (time_t)interval;
		while (!lu.stop && pthread_cond_timedwait(&lu.cond, &lu.lock,
		                                          &until) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&lu.lock);
		flush(d);
		pthread_mutex_lock(&lu.lock);
	}
	pthread_mutex_unlock(&lu.lock);
	return NULL;
}

int
apitokend_lastuse_start(struct apitokend *d)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&lu.cond, &ca);
	pthread_condattr_destroy(&ca);
	lu.stop = false;
	if (pthread_create(&lu.thread, NULL, lastuse_main, d) != 0) {
		pthread_cond_destroy(&lu.cond);
		return apitoken_error(APITOKEN_ERR_IO,
		                      "cannot start the last-use thread");
	}
	lu.running = true;
	return 0;
}

/* Stop the thread; it writes what is left on its way out. */
void
apitokend_lastuse_stop(struct apitokend *d)
{
	(void)d;
	if (!lu.running)
		return;
	pthread_mutex_lock(&lu.lock);
	lu.stop = true;
	pthread_cond_signal(&lu.cond);
	pthread_mutex_unlock(&lu.lock);
	pthread_join(lu.thread, NULL);
	pthread_cond_destroy(&lu.cond);
	lu.running = false;
}
