/*
 * apitoken: the "replication" configuration key (issue 9, Regions).
 *
 * Absent: one site, exactly as before.  Present: this site is one member
 * of a Berkeley DB replication group (repmgr); see apitoken.json(5):
 *
 *   "replication": {
 *     "name": "eu-west",                  this site
 *     "listen": "10.0.0.1:7001",          its repmgr address
 *     "sites": [ {"name": "us-east", "address": "10.0.0.2:7001",
 *                 "url": "https://10.0.0.2:8443"}, ... ],
 *     "url": "https://10.0.0.1:8443",     optional: this site's apitokend
 *     "priority": 100,                    election priority, 0 never master
 *     "create_group": false,              true on one site, first start
 *     "secret_file": "/etc/apitoken/replication.key",
 *     "ca_file": "/etc/apitoken/sites-ca.pem",
 *     "staleness_limit": "10s",
 *     "staleness_action": "refuse",       or "serve"
 *     "election_timeout_ms": 200,
 *     "heartbeat_interval_ms": 500,       master sends
 *     "heartbeat_timeout_ms": 2000,       replica calls an election after
 *     "ack_timeout_ms": 2000,             a quorum must ack a commit within
 *     "forward_timeout_ms": 5000          a forwarded write's answer
 *   }
 */
#ifndef APITOKEN_REPLICATION_H
#define APITOKEN_REPLICATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct apitoken_rep_site {
	char *name;
	char *host; /* repmgr address */
	uint16_t port;
	char *url; /* https://... of its apitokend */
} apitoken_rep_site_t;

enum apitoken_stale_action {
	APITOKEN_STALE_REFUSE = 0, /* default */
	APITOKEN_STALE_SERVE = 1
};

typedef struct apitoken_replication {
	char *name;
	char *host; /* "listen" */
	uint16_t port;
	char *url;                  /* NULL: not given */
	apitoken_rep_site_t *sites; /* the other members */
	size_t n_sites;
	unsigned priority;
	bool create_group;
	char *secret_file;       /* absolute */
	char *ca_file;           /* absolute, NULL: system CAs */
	int64_t staleness_limit; /* seconds */
	enum apitoken_stale_action staleness_action;
	unsigned election_timeout_ms;
	unsigned heartbeat_interval_ms;
	unsigned heartbeat_timeout_ms;
	unsigned ack_timeout_ms;
	unsigned forward_timeout_ms;
} apitoken_replication_t;

/*
 * Parse the value of "replication" from file path (for messages).  0, or
 * APITOKEN_ERR_CONFIG with a detail naming "replication.<key>", or
 * _NOMEM.  item is a cJSON object (const cJSON *).
 */
int apitoken_replication_parse(const char *path, const void *item,
                               apitoken_replication_t **out);
void apitoken_replication_free(apitoken_replication_t *rep);

/* Index in sites[] of the member with this repmgr address, or -1. */
int apitoken_replication_site_index(const apitoken_replication_t *rep,
                                    const char *host, unsigned port);

#ifdef __cplusplus
}
#endif
#endif /* APITOKEN_REPLICATION_H */
