/*
 * apitokend: the sweep's audit retention.  Records older than
 * audit_retention go in batches of AUDIT_PRUNE_BATCH per transaction, at
 * most AUDIT_PRUNE_MAX per sweep, so a years-long backlog (a first start
 * after an upgrade, a retention shortened by SIGHUP) is worked off over
 * several sweeps instead of holding the store for one long stretch.
 */
#include "config.h"

#include <apitoken/error.h>
#include <apitoken/log.h>

#include "apitokend.h"
#include "metrics.h"

#define AUDIT_PRUNE_BATCH 1000
#define AUDIT_PRUNE_MAX 20000
/* Tombstones are keyed by fingerprint, not time, so pruning them walks
 * them all: once an hour is enough for a retention counted in days. */
#define TOMB_PRUNE_EVERY 3600

static int64_t tomb_pruned_at; /* only the sweep thread touches it */

void
apitokend_sweep_audit(struct apitokend *d, int64_t now)
{
	int64_t retention = apitokend_gen(d)->cfg->audit_retention;
	size_t total = 0;
	int rc;

	rc = apitoken_audit_prune(d->store, now, retention, AUDIT_PRUNE_BATCH,
	                          AUDIT_PRUNE_MAX, &total);
	if (rc != 0) {
		apitokend_metrics_store_error();
		apitoken_log(APITOKEN_LOG_ERR,
		             "sweep: audit retention failed: %s",
		             apitoken_last_error());
	}
	if (total > 0)
		apitoken_log(APITOKEN_LOG_INFO,
		             "sweep: pruned %zu audit record(s) older than "
		             "audit_retention",
		             total);
	if (now - tomb_pruned_at < TOMB_PRUNE_EVERY &&
	    now - tomb_pruned_at >= 0)
		return;
	tomb_pruned_at = now;
	rc = apitoken_tombstone_prune(d->store, now, retention,
	                              AUDIT_PRUNE_BATCH, 0, &total);
	if (rc != 0) {
		apitokend_metrics_store_error();
		apitoken_log(APITOKEN_LOG_ERR,
		             "sweep: tombstone retention failed: %s",
		             apitoken_last_error());
	} else if (total > 0) {
		apitoken_log(APITOKEN_LOG_INFO,
		             "sweep: pruned %zu tombstone(s) older than "
		             "audit_retention",
		             total);
	}
}
