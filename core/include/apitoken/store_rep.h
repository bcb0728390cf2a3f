/*
 * apitoken: the store as one member of a replication group (Regions,
 * issue 9).  Berkeley DB's replication manager does the replicating; this
 * interface tells apitokend what role the site has, who the master is and
 * how stale this replica may be, without <db.h> leaving the store.
 *
 * apitokend opens the store with APITOKEN_STORE_REPLICATE when the
 * configuration has "replication": the environment is opened with
 * DB_INIT_REP, repmgr started (ack policy quorum, elections) and the open
 * returns once this site is master or has finished its start-up sync
 * (DB_EVENT_REP_STARTUPDONE); only then are databases opened.
 *
 * Any other opener (apitokenctl with no daemon running) of a store that
 * belongs to a group opens it without replication and may only read:
 * every write is refused, because a write made outside the group would
 * fork its history.
 */
#ifndef APITOKEN_STORE_REP_H
#define APITOKEN_STORE_REP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <apitoken/store.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Open flag: join the replication group of cfg->replication. */
#define APITOKEN_STORE_REPLICATE 0x4

/* The file in the store folder that marks a group member. */
#define APITOKEN_STORE_REP_MARK "REPLICATION"

enum apitoken_rep_role {
	APITOKEN_REP_SINGLE = 0, /* no replication */
	APITOKEN_REP_REPLICA = 1,
	APITOKEN_REP_MASTER = 2
};

#define APITOKEN_REP_SITES_MAX 33

typedef struct apitoken_rep_status {
	enum apitoken_rep_role role;
	char master[65];   /* the master's name, "" if none is known */
	int master_site;   /* index in cfg sites[], -1 this site or none */
	int64_t stale_ms;  /* 0 in contact (see apitoken_store_rep_stale_ms) */
	uint64_t lsn_file; /* this site's log position */
	uint64_t lsn_offset;
	size_t n_sites; /* the other members as repmgr sees them */
	struct {
		char name[65];
		char address[300];
		bool connected;
		bool master;
	} sites[APITOKEN_REP_SITES_MAX];
	unsigned long perm_failed;    /* commits a quorum did not confirm */
	unsigned long dupmasters;     /* DB_EVENT_REP_DUPMASTER seen */
	unsigned long master_changes; /* NEWMASTER events */
	unsigned long elections_won;
} apitoken_rep_status_t;

/* APITOKEN_REP_SINGLE if the store is not replicated. */
enum apitoken_rep_role apitoken_store_rep_role(apitoken_store_t *store);

/* Milliseconds since this replica last had a master it can reach, or
 * this master a majority of the group; 0 in contact and on a single
 * site. */
int64_t apitoken_store_rep_stale_ms(apitoken_store_t *store);
/*
 * false: this site's history must not be answered from as the group's,
 * whatever staleness_limit says.  A master whose lease has run out (no
 * quorum confirmed a commit of it that began within the last three
 * quarters of heartbeat_timeout_ms, or its last commit is unconfirmed):
 * another site may have been elected since.  A former master that has
 * not yet caught up with the master that replaced it: it lacks what the
 * group did meanwhile (a revocation, say).  true otherwise, and without
 * replication.
 */
bool apitoken_store_rep_current(apitoken_store_t *store);

/* Fill st; 0, or an error if the store is not replicated. */
int apitoken_store_rep_status(apitoken_store_t *store,
                              apitoken_rep_status_t *st);

/*
 * True once Berkeley DB said DB_REP_HANDLE_DEAD: replication rolled back
 * commits this site had (e.g. an old master rejoining) and the open
 * database handles cannot be used again.  apitokend then exits with a
 * failure status so that its supervisor (systemd Restart=on-failure)
 * starts it again on a fresh open.
 */
bool apitoken_store_rep_dead(apitoken_store_t *store);

/*
 * Called every few hundred milliseconds by the daemon: looks at repmgr's
 * connections to keep the staleness clock right (a master that is
 * unreachable but not yet replaced counts as lost).
 */
void apitoken_store_rep_tick(apitoken_store_t *store);

#ifdef __cplusplus
}
#endif
#endif /* APITOKEN_STORE_REP_H */
