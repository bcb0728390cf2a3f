/*
 * apitoken: configuration.
 *
 * One JSON file read by every part (apitokenctl, apitokend, the plugin's
 * hosts).  Every key has a default, so the product runs with no file at all:
 * a store in ./apitoken-store, the server on 127.0.0.1:8080.  Unknown keys
 * are an error (a typo must not silently fall back to a default).
 *
 * File layout (all keys optional):
 * {
 *   "store": "./apitoken-store",
 *   "token_lifetime": "180d",            duration: <n>s|m|h|d|w, or seconds
 *   "business_unit_scope_prefix": "bu:",
 *   "roles": { "admin": ["api:read", "api:write", "api:admin"], ... },
 *   "listen": "127.0.0.1:8080",
 *   "issuer": "http://127.0.0.1:8080",   defaults from listen/TLS
 *   "audience": "apitoken",
 *   "admin_socket": "<store>/admin.sock",
 *   "local_socket": "<store>/local.sock",
 *   "admin_group": "",                    group allowed on the admin socket
 *   "local_socket_mode": "0660",
 *   "tls_cert": "", "tls_key": "",
 *   "threads": 0,                         0: one per CPU
 *   "max_body": 65536,                    bytes
 *   "connection_timeout": 10,             seconds
 *   "local_socket_timeout": 30,           seconds
 *   "introspection_cache": "auto",        answers kept; 0: none; auto:
 *                                         from the active tokens at start
 *   "sweep_interval": "60s",
 *   "store_cache": "auto",                bytes, "512M", "2G"; auto: from
 *                                         the store's size (store_cache.c)
 *   "audit_retention": "400d",
 *   "last_used": true, "last_used_interval": "10m",
 *   "signing_key": "", "signing_key_previous": "",   "": <store> keys
 *   "leak_report_keys": { "<GitHub key identifier>": "/path/key.pem" },
 *   "mail": { "relay": "smtp://127.0.0.1:25", "from": "apitoken@localhost",
 *             "username": "", "password_file": "",
 *             "reminders": ["30d", "7d", "1d"], "retry_max": "1h",
 *             "give_up_after": "5d", "outbox_max_age": "7d" },
 *   "web": { see apitoken_web_config_t below; absent: no page, no API }
 * }
 */
#ifndef APITOKEN_CONFIG_H
#define APITOKEN_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define APITOKEN_CONFIG_DEFAULT_PATH "/etc/apitoken/apitoken.json"
#define APITOKEN_CONFIG_ENV "APITOKEN_CONFIG"
#define APITOKEN_DEFAULT_STORE "./apitoken-store"
#define APITOKEN_DEFAULT_LIFETIME (180LL * 24 * 3600)
/* introspection_cache: "auto" (sized by apitokend from the active tokens
 * at start), and the most answers a number may ask for. */
#define APITOKEN_INTROSPECTION_CACHE_AUTO ((size_t)-1)
#define APITOKEN_INTROSPECTION_CACHE_MAX ((size_t)4194304)

typedef struct apitoken_role {
	char *name;
	char **scopes; /* each a valid RFC 6749 scope-token */
	size_t n_scopes;
} apitoken_role_t;

typedef struct apitoken_config {
	char *path;             /* file that was read, NULL for built-ins */
	char *store;            /* Berkeley DB environment folder */
	int64_t token_lifetime; /* seconds, > 0 */
	char *bu_scope_prefix;  /* "bu:" */
	apitoken_role_t *roles;
	size_t n_roles;

	/* apitokend */
	char *listen_host;    /* "127.0.0.1" */
	uint16_t listen_port; /* 8080; 0 lets the kernel choose (tests) */
	char *issuer;         /* "http://127.0.0.1:8080" unless set */
	char *audience;       /* "apitoken" */
	char *admin_socket;   /* "<store>/admin.sock" unless set */
	char *local_socket;   /* "<store>/local.sock" unless set */
	char *admin_group;    /* NULL: owner only */
	unsigned local_socket_mode; /* 0660 */
	char *tls_cert;             /* NULL: plain HTTP */
	char *tls_key;
	unsigned threads;              /* 0: one per CPU */
	size_t max_body;               /* 65536 */
	unsigned connection_timeout;   /* seconds, 10 */
	unsigned local_socket_timeout; /* seconds idle, 30 */
	size_t introspection_cache;    /* answers kept; 0: none, or
	                                  APITOKEN_INTROSPECTION_CACHE_AUTO */
	int64_t sweep_interval;        /* seconds, 60 */

	/* mail (issue: notifications) */
	char *mail_relay; /* NULL: keep messages queued */
	char *mail_from;  /* "apitoken@localhost" */
	char *mail_username;
	char *mail_password_file;
	int64_t *reminders;         /* lead times in seconds, descending */
	size_t n_reminders;         /* default 30d, 7d, 1d */
	int64_t mail_retry_max;     /* longest backoff, seconds, 3600 */
	int64_t mail_give_up_after; /* seconds after the change, 5 days */

	/* scale (issue 10) */
	uint64_t store_cache;        /* bytes; 0: from the store's size */
	int64_t mail_outbox_max_age; /* seconds, without a relay; 7 days */
	/* apitokend's front door: connection budgets, read deadlines and
	 * failed-authentication throttling (docs/apitoken.json.5) */
	unsigned http_max_connections;             /* 1024 */
	unsigned http_max_connections_per_address; /* 64 */
	unsigned http_header_timeout;              /* seconds, 10 */
	unsigned http_min_body_rate;               /* bytes per second, 1024 */
	unsigned auth_throttle_burst;              /* failures, 20; 0: off */
	unsigned auth_throttle_per_minute;         /* failures forgiven, 60 */
	unsigned auth_throttle_slots;              /* keys tracked, 16384 */
	unsigned local_socket_max_connections;     /* 256 */
	unsigned admin_socket_max_connections;     /* 16 */
	unsigned socket_max_connections_per_uid;   /* 32; uid 0 exempt */

	/* visibility (issue 13) */
	int64_t audit_retention; /* seconds, 400 days; older records pruned */
	int last_used;           /* 1: record last use (default), 0: off */
	int64_t last_used_interval; /* seconds, 600: store writes per token */
	char *signing_key;          /* PEM; NULL: <store>/signing-key.pem */
	char *signing_key_previous; /* PEM, published only; NULL: none */
	/* GitHub secret scanning: key identifier -> public key PEM file */
	char **leak_key_ids;
	char **leak_key_files;
	size_t n_leak_keys;

	/* the self-service page and its API (key "web"); NULL: off */
	struct apitoken_web_config *web;
	/* Regions (apitoken/replication.h); NULL: single site. */
	struct apitoken_replication *replication;
} apitoken_config_t;

/*
 * "web": the user's API Token page at /account/ and /api/v1/ (config_web.c).
 *   {"auth": "pam", "pam_service": "apitoken-web", "session_idle": "30m",
 *    "session_max": "12h", "max_sessions": 10000, "support_contact": "",
 *    "user_header": "X-Remote-User", "trusted_proxies": ["127.0.0.1"],
 *    "secure_cookies": <true when apitokend serves TLS>,
 *    "signin_failures": 5, "signin_lockout": "5m", "assets": "<dir>"}
 * "auth" is required; "user_header" and "trusted_proxies" only with
 * "header" (and required there).
 */
#define APITOKEN_WEB_AUTH_PAM 1
#define APITOKEN_WEB_AUTH_HEADER 2
#define APITOKEN_WEB_PROXIES_MAX 64

typedef struct apitoken_web_config {
	int auth;               /* APITOKEN_WEB_AUTH_* */
	char *pam_service;      /* "apitoken-web" */
	int64_t session_idle;   /* seconds, 1800 */
	int64_t session_max;    /* seconds, 43200 */
	size_t max_sessions;    /* kept in memory, 10000 */
	char *support_contact;  /* shown when API access is off; NULL: none */
	char *user_header;      /* "X-Remote-User" */
	char **trusted_proxies; /* numeric IPv4/IPv6 addresses */
	size_t n_trusted_proxies;
	int secure_cookies;       /* -1: when TLS is on, 0 no, 1 yes */
	unsigned signin_failures; /* failures before a lockout, 5 */
	int64_t signin_lockout;   /* seconds, 300 */
	char *assets;             /* NULL: the installed page */
} apitoken_web_config_t;

/*
 * Load configuration.  path NULL: $APITOKEN_CONFIG if set, else
 * APITOKEN_CONFIG_DEFAULT_PATH if it exists, else built-in defaults.
 * An explicit path that does not exist is an error.
 * On failure returns APITOKEN_ERR_CONFIG (or _NOMEM/_IO) with a detail that
 * names the file, the key and what was expected, e.g.
 *   "/etc/apitoken/apitoken.json: key 'token_lifetime': expected a
 *    duration such as 180d, 12h or 30s"
 * and leaves *cfg_out NULL.  The caller frees with apitoken_config_free().
 */
int apitoken_config_load(const char *path, apitoken_config_t **cfg_out);
/*
 * The same from the len bytes of a file already read, followed by a NUL
 * (buf[len] == '\0'); path only names it in messages and in cfg->path.
 */
int apitoken_config_load_buffer(const char *path, const char *buf, size_t len,
                                apitoken_config_t **cfg_out);

/* Built-in defaults only (never fails but for memory). */
int apitoken_config_defaults(apitoken_config_t **cfg_out);

void apitoken_config_free(apitoken_config_t *cfg);

/*
 * Point cfg at another store folder (apitokenctl --store) and re-derive the
 * socket paths that the file did not set explicitly.  0 or _NOMEM.
 */
int apitoken_config_set_store(apitoken_config_t *cfg, const char *dir);

/*
 * A size: a whole number of bytes with an optional K, M, G or T suffix
 * (powers of 1024), e.g. "512M".  0 or APITOKEN_ERR_INVALID.
 */
int apitoken_size_parse(const char *text, uint64_t *bytes_out);

/* The machine's memory in bytes (1 GiB if it cannot be read): "auto"
 * sizes (store_cache, introspection_cache) are fractions of it. */
uint64_t apitoken_machine_memory(void);

/* The role called name, or NULL. */
const apitoken_role_t *apitoken_config_role(const apitoken_config_t *cfg,
                                            const char *name);

/*
 * The longest duration anything accepts: 100 years (36500d) in seconds.
 * Durations are added to the current time; the cap keeps every such sum
 * far inside int64_t (and time_t).
 */
#define APITOKEN_DURATION_MAX ((int64_t)36500 * 86400)

/*
 * Parse a duration: "<n>" (seconds) or "<n>s|m|h|d|w", n a positive
 * decimal integer, no sign, no spaces, at most APITOKEN_DURATION_MAX.
 * 0 or APITOKEN_ERR_INVALID.
 */
int apitoken_duration_parse(const char *text, int64_t *secs_out);

/* Format seconds as the largest exact unit ("180d", "90m", "7s"). */
void apitoken_duration_format(int64_t secs, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* APITOKEN_CONFIG_H */
