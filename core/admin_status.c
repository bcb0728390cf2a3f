/*
 * "apitokenctl status": this site, the master, every site of the
 * replication group with its role, whether this site's repmgr is
 * connected to it, and its lag.  Runs inside apitokend (the state lives
 * in the daemon); the other sites' positions come from their /healthz
 * through the hook apitokend sets.  Lag is in bytes of transaction log
 * behind the master (0: up to date) and, for a replica, the time since it
 * last reached a master.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <apitoken/error.h>
#include <apitoken/replication.h>
#include <apitoken/store_rep.h>

#include "admin_int.h"

/* The store's log files are 16 MB (DB_CONFIG set_lg_max). */
#define LOG_FILE_BYTES 16777216ULL

static apitoken_admin_status_peer_fn peer_fn;
static void *peer_ctx;

void
apitoken_admin_set_status_peer(apitoken_admin_status_peer_fn fn, void *ctx)
{
	peer_ctx = ctx;
	peer_fn = fn;
}

struct row {
	const char *name;
	const char *role;
	const char *conn;
	bool have_lsn;
	uint64_t file, offset;
	int64_t stale_ms;
};

static uint64_t
pos(uint64_t file, uint64_t offset)
{
	return file * LOG_FILE_BYTES + offset;
}

static void
print_rows(const apitoken_admin_io_t *io, const struct row *rows, size_t n,
           const char *self, const char *master, uint64_t mpos, bool mknown)
{
	size_t i;

	if (io->json) {
		cJSON *o = cJSON_CreateObject(), *arr;

		cJSON_AddStringToObject(o, "site", self);
		if (master[0] != '\0')
			cJSON_AddStringToObject(o, "master", master);
		else
			cJSON_AddNullToObject(o, "master");
		arr = cJSON_AddArrayToObject(o, "sites");
		for (i = 0; arr != NULL && i < n; i++) {
			cJSON *s = cJSON_CreateObject();

			cJSON_AddStringToObject(s, "name", rows[i].name);
			cJSON_AddStringToObject(s, "role", rows[i].role);
			cJSON_AddStringToObject(s, "connection", rows[i].conn);
			if (rows[i].have_lsn && mknown) {
				uint64_t p = pos(rows[i].file, rows[i].offset);

				cJSON_AddNumberToObject(
				    s, "lag_bytes",
				    p >= mpos ? 0 : (double)(mpos - p));
			} else {
				cJSON_AddNullToObject(s, "lag_bytes");
			}
			if (rows[i].have_lsn)
				cJSON_AddNumberToObject(
				    s, "stale_ms", (double)rows[i].stale_ms);
			cJSON_AddItemToArray(arr, s);
		}
		(void)admin_print_json(io, o);
		return;
	}
	fprintf(io->out, "site:   %s\nmaster: %s\n\n", self,
	        master[0] != '\0' ? master : "(none known)");
	fprintf(io->out, "%-20s  %-8s  %-12s  %12s  %10s\n", "SITE", "ROLE",
	        "CONNECTION", "LAG_BYTES", "STALE_S");
	for (i = 0; i < n; i++) {
		char lag[32] = "-", st[32] = "-";

		if (rows[i].have_lsn && mknown) {
			uint64_t p = pos(rows[i].file, rows[i].offset);

			(void)snprintf(lag, sizeof(lag), "%" PRIu64,
			               p >= mpos ? 0 : mpos - p);
		}
		if (rows[i].have_lsn)
			(void)snprintf(st, sizeof(st), "%.1f",
			               (double)rows[i].stale_ms / 1000.0);
		fprintf(io->out, "%-20s  %-8s  %-12s  %12s  %10s\n",
		        rows[i].name, rows[i].role, rows[i].conn, lag, st);
	}
}

int
admin_cmd_status(apitoken_store_t *store, int argc, char **argv,
                 const apitoken_admin_io_t *io)
{
	const apitoken_config_t *cfg = apitoken_store_config(store);
	const apitoken_replication_t *rc =
	    cfg != NULL ? cfg->replication : NULL;
	apitoken_rep_status_t *st = NULL;
	apitoken_admin_peer_t *peers = NULL;
	struct row *rows = NULL;
	uint64_t mpos = 0;
	bool mknown = false;
	size_t i, j, n = 0;
	int code = EX_OK;

	(void)argv;
	if (argc != 1) {
		admin_errorf(io, "status: takes no arguments");
		return EX_USAGE;
	}
	if (apitoken_store_rep_role(store) == APITOKEN_REP_SINGLE) {
		if (rc != NULL) {
			admin_errorf(io,
			             "status: apitokend is not running; "
			             "site %s cannot tell the group's state",
			             rc->name);
			return EX_UNAVAILABLE;
		}
		if (io->json) {
			cJSON *o = cJSON_CreateObject();

			cJSON_AddStringToObject(o, "role", "single");
			return admin_print_json(io, o);
		}
		fprintf(io->out, "single site (no replication configured)\n");
		return EX_OK;
	}
	st = calloc(1, sizeof(*st));
	peers = calloc(rc->n_sites + 1, sizeof(*peers));
	rows = calloc(rc->n_sites + 1, sizeof(*rows));
	if (st == NULL || peers == NULL || rows == NULL ||
	    apitoken_store_rep_status(store, st) != 0) {
		code = admin_fail(io, APITOKEN_ERR_NOMEM);
		goto out;
	}
	/* This site first. */
	rows[n].name = rc->name;
	rows[n].role = st->role == APITOKEN_REP_MASTER ? "master" : "replica";
	rows[n].conn = "(this site)";
	rows[n].have_lsn = true;
	rows[n].file = st->lsn_file;
	rows[n].offset = st->lsn_offset;
	rows[n].stale_ms = st->stale_ms;
	if (st->role == APITOKEN_REP_MASTER) {
		mpos = pos(st->lsn_file, st->lsn_offset);
		mknown = true;
	}
	n++;
	for (i = 0; i < rc->n_sites; i++) {
		struct row *r = &rows[n++];

		r->name = rc->sites[i].name;
		r->conn = "disconnected";
		r->role = "unknown";
		for (j = 0; j < st->n_sites; j++)
			if (strcmp(st->sites[j].name, rc->sites[i].name) ==
			    0) {
				if (st->sites[j].connected)
					r->conn = "connected";
				if (st->sites[j].master)
					r->role = "master";
			}
		if (peer_fn != NULL && peer_fn(peer_ctx, i, &peers[i]) == 0) {
			r->role = peers[i].role;
			r->have_lsn = true;
			r->file = peers[i].lsn_file;
			r->offset = peers[i].lsn_offset;
			r->stale_ms = peers[i].stale_ms;
			if (strcmp(peers[i].role, "master") == 0 && !mknown) {
				mpos = pos(r->file, r->offset);
				mknown = true;
			}
		} else if (strcmp(r->role, "unknown") == 0 &&
		           strcmp(r->conn, "connected") == 0) {
			r->role = "replica";
		}
	}
	print_rows(io, rows, n, rc->name, st->master, mpos, mknown);
out:
	free(st);
	free(peers);
	free(rows);
	return code;
}
