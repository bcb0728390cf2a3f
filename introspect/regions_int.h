/* apitokend Regions internals shared by regions.c and regions_forward.c. */
#ifndef APITOKEND_REGIONS_INT_H
#define APITOKEND_REGIONS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <apitoken/admin.h>
#include <apitoken/replication.h>

struct regions_state {
	const apitoken_replication_t *cfg; /* NULL: single site */
	pthread_t tick;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool running, stopping;
	atomic_ulong stale_served, stale_refused;
	atomic_ulong forwarded, forward_refused;
	atomic_ulong kept_quiet, kept_asked; /* apitokend_regions_kept_ok */
	atomic_bool restart; /* handles dead: exit with a failure status */
};
extern struct regions_state regions;

int regions_forward_init(const apitoken_replication_t *rc);
void regions_forward_cleanup(void);
/* apitoken_admin_forward_fn for the admin socket (ctx: struct apitokend). */
int regions_admin_forward(void *ctx, const char *request, size_t len,
                          const char *origin, char **reply, size_t *reply_len);
/* apitoken_admin_status_peer_fn: GET the site's /healthz. */
int regions_status_peer(void *ctx, size_t site, apitoken_admin_peer_t *out);

#endif
