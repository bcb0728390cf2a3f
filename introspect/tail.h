/*
 * apitokend: the change-record tail (internal).  One thread reads the
 * store's change records (apitoken_store_changes_read) as they commit
 * and retires what each touched: kept introspection answers
 * (answer_cache.h) and remembered client logins (client_auth.c).  Woken
 * by this process's own commits (the store's change hook) and polling
 * every APITOKEND_TAIL_POLL_MS when the store is replicated
 * (apitoken_store_changes_external), so that it also sees commits applied
 * by replication, which no hook announces; every APITOKEND_TAIL_IDLE_MS
 * otherwise (a safety net: each commit there wakes it).
 */
#ifndef APITOKEND_TAIL_H
#define APITOKEND_TAIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct apitokend;

#define APITOKEND_TAIL_POLL_MS 5
#define APITOKEND_TAIL_IDLE_MS 1000

/* Start the thread; before anything else uses d->store. */
int apitokend_tail_start(struct apitokend *d);
/* Stop it; after every thread that writes to the store has stopped. */
void apitokend_tail_stop(struct apitokend *d);

/*
 * Has every change visible to this process's reads been retired?  Two
 * atomic loads.  Kept answers and client logins are used only while it
 * is true: between a commit and its retirement (microseconds for a
 * local write), readers go to the store.  false when no tail runs.
 */
bool apitokend_tail_current(struct apitokend *d);

/*
 * On a replica: has no replication traffic passed since the tail's last
 * complete round began (apitokend_regions_io_count)?  If so, every change
 * replication had applied and acknowledged by then is retired.  When not,
 * wakes the tail for a round.  false when the count is not trusted.
 */
bool apitokend_tail_replica_quiet(struct apitokend *d);

/* The seq of the last change record retired. */
uint64_t apitokend_tail_retired(struct apitokend *d);

/* The gauges apitokend_changes_visible and apitokend_changes_retired
 * (Prometheus text) and the counter of records retired. */
void apitokend_tail_write_metrics(struct apitokend *d, FILE *out);

#endif /* APITOKEND_TAIL_H */
