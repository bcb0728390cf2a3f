/* Configuration file loading and defaults; see apitoken/config.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include <apitoken/config.h>
#include <apitoken/error.h>
#include <apitoken/policy.h>
#include <apitoken/replication.h>

#include "config_int.h"

/* The file comes from outside: bound what we read. */
#define CONFIG_MAX_BYTES (1024 * 1024)
#define MAX_REMINDERS 16
#define MAX_ROLES 256
#define NAME_MAX_LEN 64
#define SUN_PATH_MAX 108

#define EXPECT_DURATION                                                       \
	"a duration such as 180d, 12h or 30s, of at most 100 years (36500d)"

/*
 * The public struct plus what only this file needs: whether the socket
 * paths came from the file, so that set_store re-derives only the others.
 * Every apitoken_config_t is allocated here, so the cast back is safe.
 */
struct config_priv {
	apitoken_config_t pub;
	bool admin_socket_set;
	bool local_socket_set;
};

static struct config_priv *
priv(apitoken_config_t *cfg)
{
	return (struct config_priv *)cfg;
}

/* ---- durations ---- */

int
apitoken_duration_parse(const char *text, int64_t *secs_out)
{
	int64_t n = 0, mult = 1;
	const char *p = text;

	if (secs_out != NULL)
		*secs_out = 0;
	if (text == NULL || secs_out == NULL || *p < '0' || *p > '9')
		goto bad;
	for (; *p >= '0' && *p <= '9'; p++) {
		int d = *p - '0';

		if (n > (INT64_MAX - d) / 10)
			goto bad;
		n = n * 10 + d;
	}
	switch (*p) {
	case '\0':
		break;
	case 's':
		break;
	case 'm':
		mult = 60;
		break;
	case 'h':
		mult = 3600;
		break;
	case 'd':
		mult = 86400;
		break;
	case 'w':
		mult = 7 * 86400;
		break;
	default:
		goto bad;
	}
	if (*p != '\0' && p[1] != '\0')
		goto bad;
	/* The cap keeps "now + duration" far from overflow everywhere. */
	if (n <= 0 || n > APITOKEN_DURATION_MAX / mult)
		goto bad;
	*secs_out = n * mult;
	return 0;
bad:
	return apitoken_error(APITOKEN_ERR_INVALID,
	                      "expected " EXPECT_DURATION
	                      " (a positive whole number of s, m, h, d or w)");
}

void
apitoken_duration_format(int64_t secs, char *buf, size_t len)
{
	static const struct {
		int64_t secs;
		char unit;
	} units[] = {
	    {7 * 86400, 'w'},
	    {86400, 'd'},
	    {3600, 'h'},
	    {60, 'm'},
	};
	size_t i;

	if (buf == NULL || len == 0)
		return;
	for (i = 0; secs > 0 && i < sizeof(units) / sizeof(units[0]); i++)
		if (secs % units[i].secs == 0) {
			snprintf(buf, len, "%" PRId64 "%c",
			         secs / units[i].secs, units[i].unit);
			return;
		}
	snprintf(buf, len, "%" PRId64 "s", secs);
}

/* ---- defaults ---- */

static int
set_str(char **dst, const char *src)
{
	char *copy = NULL;

	if (src != NULL) {
		copy = strdup(src);
		if (copy == NULL)
			return APITOKEN_ERR_NOMEM;
	}
	free(*dst);
	*dst = copy;
	return 0;
}

static int
derive_socket(char **dst, const char *store, const char *name)
{
	char *s;

	if (asprintf(&s, "%s/%s", store, name) < 0)
		return APITOKEN_ERR_NOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

static void
free_roles(apitoken_role_t *roles, size_t n)
{
	size_t i, j;

	for (i = 0; roles != NULL && i < n; i++) {
		free(roles[i].name);
		for (j = 0; j < roles[i].n_scopes; j++)
			free(roles[i].scopes[j]);
		free(roles[i].scopes);
	}
	free(roles);
}

void
apitoken_config_free(apitoken_config_t *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->store);
	free(cfg->bu_scope_prefix);
	free_roles(cfg->roles, cfg->n_roles);
	free(cfg->listen_host);
	free(cfg->issuer);
	free(cfg->audience);
	free(cfg->admin_socket);
	free(cfg->local_socket);
	free(cfg->admin_group);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->mail_relay);
	free(cfg->mail_from);
	free(cfg->mail_username);
	free(cfg->mail_password_file);
	free(cfg->reminders);
	free(cfg->signing_key);
	free(cfg->signing_key_previous);
	for (size_t i = 0; i < cfg->n_leak_keys; i++) {
		free(cfg->leak_key_ids[i]);
		free(cfg->leak_key_files[i]);
	}
	free(cfg->leak_key_ids);
	free(cfg->leak_key_files);
	config_web_free(cfg->web);
	apitoken_replication_free(cfg->replication);
	free(priv(cfg));
}

static int
add_role(apitoken_config_t *cfg, const char *name, const char *const *scopes,
         size_t n)
{
	apitoken_role_t *roles, *r;
	size_t i;

	roles = realloc(cfg->roles, (cfg->n_roles + 1) * sizeof(*roles));
	if (roles == NULL)
		return APITOKEN_ERR_NOMEM;
	cfg->roles = roles;
	r = &roles[cfg->n_roles];
	memset(r, 0, sizeof(*r));
	cfg->n_roles++;
	r->name = strdup(name);
	r->scopes = calloc(n + 1, sizeof(*r->scopes));
	if (r->name == NULL || r->scopes == NULL)
		return APITOKEN_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		r->scopes[i] = strdup(scopes[i]);
		if (r->scopes[i] == NULL)
			return APITOKEN_ERR_NOMEM;
		r->n_scopes++;
	}
	return 0;
}

static void set_limit_defaults(apitoken_config_t *cfg);

static int
fill_defaults(apitoken_config_t *cfg)
{
	static const char *const admin[] = {"api:read", "api:write",
	                                    "api:admin"};
	static const char *const developer[] = {"api:read", "api:write"};
	static const char *const viewer[] = {"api:read"};
	static const int64_t reminders[] = {30 * 86400, 7 * 86400, 86400};

	cfg->token_lifetime = APITOKEN_DEFAULT_LIFETIME;
	cfg->listen_port = 8080;
	cfg->local_socket_mode = 0660;
	cfg->threads = 0;
	cfg->max_body = 65536;
	cfg->connection_timeout = 10;
	cfg->local_socket_timeout = 30;
	cfg->introspection_cache = APITOKEN_INTROSPECTION_CACHE_AUTO;
	cfg->sweep_interval = 60;
	cfg->mail_retry_max = 3600;
	cfg->mail_give_up_after = 5 * 86400;
	cfg->mail_outbox_max_age = 7 * 86400;
	cfg->audit_retention = 400LL * 86400;
	cfg->last_used = 1;
	cfg->last_used_interval = 600;
	set_limit_defaults(cfg);
	cfg->reminders = malloc(sizeof(reminders));
	if (cfg->reminders == NULL)
		return APITOKEN_ERR_NOMEM;
	memcpy(cfg->reminders, reminders, sizeof(reminders));
	cfg->n_reminders = sizeof(reminders) / sizeof(reminders[0]);
	if (set_str(&cfg->store, APITOKEN_DEFAULT_STORE) != 0 ||
	    set_str(&cfg->bu_scope_prefix, "bu:") != 0 ||
	    set_str(&cfg->listen_host, "127.0.0.1") != 0 ||
	    set_str(&cfg->audience, "apitoken") != 0 ||
	    set_str(&cfg->mail_from, "apitoken@localhost") != 0 ||
	    add_role(cfg, "admin", admin, 3) != 0 ||
	    add_role(cfg, "developer", developer, 2) != 0 ||
	    add_role(cfg, "viewer", viewer, 1) != 0)
		return APITOKEN_ERR_NOMEM;
	return 0;
}

/* Values that depend on others: sockets from store, issuer from listen. */
static int
derive(apitoken_config_t *cfg)
{
	struct config_priv *p = priv(cfg);
	bool v6 = strchr(cfg->listen_host, ':') != NULL;

	if (!p->admin_socket_set &&
	    derive_socket(&cfg->admin_socket, cfg->store, "admin.sock") != 0)
		return APITOKEN_ERR_NOMEM;
	if (!p->local_socket_set &&
	    derive_socket(&cfg->local_socket, cfg->store, "local.sock") != 0)
		return APITOKEN_ERR_NOMEM;
	if (cfg->issuer == NULL &&
	    asprintf(&cfg->issuer, "%s://%s%s%s:%u",
	             cfg->tls_cert != NULL ? "https" : "http", v6 ? "[" : "",
	             cfg->listen_host, v6 ? "]" : "",
	             (unsigned)cfg->listen_port) < 0) {
		cfg->issuer = NULL;
		return APITOKEN_ERR_NOMEM;
	}
	return 0;
}

int
apitoken_config_defaults(apitoken_config_t **cfg_out)
{
	struct config_priv *p;
	int rc;

	if (cfg_out == NULL)
		return apitoken_error(APITOKEN_ERR_INTERNAL,
		                      "config: no output");
	*cfg_out = NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM,
		                      "config: out of memory");
	rc = fill_defaults(&p->pub);
	if (rc == 0)
		rc = derive(&p->pub);
	if (rc != 0) {
		apitoken_config_free(&p->pub);
		return apitoken_error(rc, "config: out of memory");
	}
	*cfg_out = &p->pub;
	return 0;
}

int
apitoken_config_set_store(apitoken_config_t *cfg, const char *dir)
{
	struct config_priv *p;

	if (cfg == NULL || dir == NULL || *dir == '\0')
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "store folder must not be empty");
	p = priv(cfg);
	if (set_str(&cfg->store, dir) != 0 ||
	    (!p->admin_socket_set &&
	     derive_socket(&cfg->admin_socket, dir, "admin.sock") != 0) ||
	    (!p->local_socket_set &&
	     derive_socket(&cfg->local_socket, dir, "local.sock") != 0))
		return apitoken_error(APITOKEN_ERR_NOMEM,
		                      "config: out of memory");
	return 0;
}

const apitoken_role_t *
apitoken_config_role(const apitoken_config_t *cfg, const char *name)
{
	size_t i;

	if (cfg == NULL || name == NULL)
		return NULL;
	for (i = 0; i < cfg->n_roles; i++)
		if (strcmp(cfg->roles[i].name, name) == 0)
			return &cfg->roles[i];
	return NULL;
}

/* ---- the file ---- */

/* Loader state: the file name for messages, and the config being built. */
struct loader {
	const char *path;
	apitoken_config_t *cfg;
};

static int
key_error(const struct loader *ld, const char *key, const char *expected)
{
	return apitoken_error(APITOKEN_ERR_CONFIG, "%s: key '%s': expected %s",
	                      ld->path, key, expected);
}

static int
nomem(void)
{
	return apitoken_error(APITOKEN_ERR_NOMEM, "config: out of memory");
}

/* A JSON string; empty allowed only if allow_empty (then stored as NULL). */
static int
get_string(const struct loader *ld, const cJSON *item, const char *key,
           bool allow_empty, char **dst)
{
	const char *s;

	if (!cJSON_IsString(item) || item->valuestring == NULL)
		return key_error(
		    ld, key, allow_empty ? "a string" : "a non-empty string");
	s = item->valuestring;
	if (*s == '\0') {
		if (!allow_empty)
			return key_error(ld, key, "a non-empty string");
		s = NULL;
	}
	return set_str(dst, s) != 0 ? nomem() : 0;
}

/* A JSON number that is a whole number within [min, max]. */
static int
get_uint(const struct loader *ld, const cJSON *item, const char *key,
         double min, double max, const char *expected, double *out)
{
	double v;

	if (!cJSON_IsNumber(item))
		return key_error(ld, key, expected);
	v = item->valuedouble;
	if (!(v >= min && v <= max) || v != (double)(long long)v)
		return key_error(ld, key, expected);
	*out = v;
	return 0;
}

/* A duration string, or a whole number of seconds. */
static int
get_duration(const struct loader *ld, const cJSON *item, const char *key,
             int64_t *out)
{
	double v;

	if (cJSON_IsNumber(item)) {
		if (get_uint(ld, item, key, 1, (double)APITOKEN_DURATION_MAX,
		             EXPECT_DURATION, &v) != 0)
			return APITOKEN_ERR_CONFIG;
		*out = (int64_t)v;
		return 0;
	}
	if (!cJSON_IsString(item) ||
	    apitoken_duration_parse(item->valuestring, out) != 0)
		return key_error(ld, key, EXPECT_DURATION);
	return 0;
}

static bool
no_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int
parse_port(const char *s, uint16_t *out)
{
	unsigned long v = 0;
	size_t i;

	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

static bool
host_name_ok(const char *h)
{
	size_t i, n = strlen(h);
	bool digits_only = true;
	struct in_addr a4;

	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++) {
		char c = h[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '-')
			digits_only = false;
		else if (!((c >= '0' && c <= '9') || c == '.'))
			return false;
	}
	/* Something that looks like an IPv4 address must be one. */
	if (digits_only)
		return inet_pton(AF_INET, h, &a4) == 1;
	return h[0] != '-' && h[0] != '.';
}

static int
parse_listen(const struct loader *ld, const cJSON *item)
{
	static const char expected[] =
	    "host:port such as 127.0.0.1:8080, [::1]:8080 or "
	    "localhost:8080 (port 0-65535)";
	apitoken_config_t *cfg = ld->cfg;
	char *copy, *host, *port;
	struct in6_addr a6;
	uint16_t pnum;
	int rc = APITOKEN_ERR_CONFIG;

	if (!cJSON_IsString(item) || item->valuestring == NULL)
		return key_error(ld, "listen", expected);
	copy = strdup(item->valuestring);
	if (copy == NULL)
		return nomem();
	if (copy[0] == '[') {
		char *end = strchr(copy, ']');

		if (end == NULL || end[1] != ':')
			goto bad;
		*end = '\0';
		host = copy + 1;
		port = end + 2;
		if (inet_pton(AF_INET6, host, &a6) != 1)
			goto bad;
	} else {
		char *colon = strchr(copy, ':');

		/* A bare IPv6 address is ambiguous: brackets are required. */
		if (colon == NULL || strchr(colon + 1, ':') != NULL)
			goto bad;
		*colon = '\0';
		host = copy;
		port = colon + 1;
		if (!host_name_ok(host))
			goto bad;
	}
	if (parse_port(port, &pnum) != 0)
		goto bad;
	if (set_str(&cfg->listen_host, host) != 0) {
		rc = nomem();
		goto out;
	}
	cfg->listen_port = pnum;
	rc = 0;
	goto out;
bad:
	rc = key_error(ld, "listen", expected);
out:
	free(copy);
	return rc;
}

static int
parse_mode(const struct loader *ld, const cJSON *item)
{
	static const char expected[] = "an octal mode string such as \"0660\"";
	const char *s;
	unsigned v = 0;
	size_t i;

	if (!cJSON_IsString(item) || item->valuestring == NULL)
		return key_error(ld, "local_socket_mode", expected);
	s = item->valuestring;
	if (*s == '\0' || strlen(s) > 4)
		return key_error(ld, "local_socket_mode", expected);
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '7')
			return key_error(ld, "local_socket_mode", expected);
		v = v * 8 + (unsigned)(s[i] - '0');
	}
	ld->cfg->local_socket_mode = v;
	return 0;
}

static bool
prefix_ok(const char *s)
{
	size_t n = strlen(s);

	/* Empty is fine: units then become bare scopes. */
	if (n == 0)
		return true;
	return n <= 64 && apitoken_scope_token_valid(s);
}

static int
parse_roles(const struct loader *ld, const cJSON *obj)
{
	apitoken_config_t *cfg = ld->cfg;
	const cJSON *role;
	char key[160];

	if (!cJSON_IsObject(obj))
		return key_error(ld, "roles",
		                 "an object of role name to scope list");
	/* Roles are looked up linearly; a sane file has a handful. */
	if (cJSON_GetArraySize(obj) > MAX_ROLES)
		return key_error(ld, "roles", "at most 256 roles");
	free_roles(cfg->roles, cfg->n_roles);
	cfg->roles = NULL;
	cfg->n_roles = 0;
	cJSON_ArrayForEach(role, obj)
	{
		const char **scopes = NULL;
		const cJSON *sc;
		size_t n = 0, cap;
		int rc;

		if (role->string == NULL)
			return key_error(ld, "roles", "named roles");
		snprintf(key, sizeof(key), "roles.%.64s", role->string);
		if (role->string[0] == '\0' ||
		    strlen(role->string) > NAME_MAX_LEN ||
		    !apitoken_scope_token_valid(role->string))
			return key_error(
			    ld, key,
			    "a role name of 1-64 printable "
			    "characters without spaces or quotes");
		if (apitoken_config_role(cfg, role->string) != NULL)
			return key_error(ld, key, "each role once");
		if (!cJSON_IsArray(role))
			return key_error(ld, key, "an array of scope strings");
		cap = (size_t)cJSON_GetArraySize(role);
		scopes = calloc(cap + 1, sizeof(*scopes));
		if (scopes == NULL)
			return nomem();
		cJSON_ArrayForEach(sc, role)
		{
			if (!cJSON_IsString(sc) ||
			    !apitoken_scope_token_valid(sc->valuestring)) {
				free(scopes);
				return key_error(
				    ld, key,
				    "an array of RFC 6749 scope-tokens "
				    "(1-128 printable characters, no "
				    "space, '\"' or '\\')");
			}
			scopes[n++] = sc->valuestring;
		}
		rc = add_role(cfg, role->string, scopes, n);
		free(scopes);
		if (rc != 0)
			return nomem();
	}
	return 0;
}

static int
cmp_desc(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

static int
parse_reminders(const struct loader *ld, const cJSON *arr)
{
	static const char expected[] =
	    "an array of at most 16 durations such as [\"30d\", \"7d\"]";
	apitoken_config_t *cfg = ld->cfg;
	int64_t *list;
	const cJSON *it;
	size_t n = 0, i, kept = 0;

	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > MAX_REMINDERS)
		return key_error(ld, "mail.reminders", expected);
	list = calloc(MAX_REMINDERS + 1, sizeof(*list));
	if (list == NULL)
		return nomem();
	cJSON_ArrayForEach(it, arr)
	{
		if (get_duration(ld, it, "mail.reminders", &list[n]) != 0) {
			free(list);
			return APITOKEN_ERR_CONFIG;
		}
		n++;
	}
	qsort(list, n, sizeof(*list), cmp_desc);
	for (i = 0; i < n; i++)
		if (kept == 0 || list[kept - 1] != list[i])
			list[kept++] = list[i];
	free(cfg->reminders);
	cfg->reminders = list;
	cfg->n_reminders = kept;
	return 0;
}

/*
 * cJSON keeps both copies of a repeated key; the user meant one.  Checked
 * against the earlier members only, as each member is reached: a file
 * fails at its first duplicate or unknown key, so this stays cheap even
 * for a hostile file.
 */
static int
check_dup(const struct loader *ld, const cJSON *obj, const cJSON *item,
          const char *prefix)
{
	const cJSON *a;

	for (a = obj->child; a != NULL && a != item; a = a->next)
		if (a->string != NULL && item->string != NULL &&
		    strcmp(a->string, item->string) == 0)
			return apitoken_error(APITOKEN_ERR_CONFIG,
			                      "%s: key '%s%.64s': appears "
			                      "more than once",
			                      ld->path, prefix, item->string);
	return 0;
}

static int
parse_mail(const struct loader *ld, const cJSON *obj)
{
	apitoken_config_t *cfg = ld->cfg;
	const cJSON *it;
	int rc;

	if (!cJSON_IsObject(obj))
		return key_error(ld, "mail", "an object");
	cJSON_ArrayForEach(it, obj)
	{
		const char *k = it->string;

		rc = check_dup(ld, obj, it, "mail.");
		if (rc != 0)
			return rc;
		if (strcmp(k, "relay") == 0) {
			rc = get_string(ld, it, "mail.relay", true,
			                &cfg->mail_relay);
			if (rc == 0 && cfg->mail_relay != NULL &&
			    ((strncmp(cfg->mail_relay, "smtp://", 7) != 0 &&
			      strncmp(cfg->mail_relay, "smtps://", 8) != 0) ||
			     !no_ctl(cfg->mail_relay)))
				rc = key_error(ld, "mail.relay",
				               "an smtp:// or smtps:// URL");
		} else if (strcmp(k, "from") == 0) {
			rc = get_string(ld, it, "mail.from", false,
			                &cfg->mail_from);
			/* Goes into a header: no line breaks. */
			if (rc == 0 && (strchr(cfg->mail_from, '@') == NULL ||
			                !no_ctl(cfg->mail_from)))
				rc = key_error(ld, "mail.from",
				               "an email address such as "
				               "apitoken@example.com");
		} else if (strcmp(k, "username") == 0) {
			rc = get_string(ld, it, "mail.username", true,
			                &cfg->mail_username);
			if (rc == 0 && cfg->mail_username != NULL &&
			    !no_ctl(cfg->mail_username))
				rc = key_error(ld, "mail.username",
				               "a string without control "
				               "characters");
		} else if (strcmp(k, "password_file") == 0) {
			rc = get_string(ld, it, "mail.password_file", true,
			                &cfg->mail_password_file);
		} else if (strcmp(k, "reminders") == 0) {
			rc = parse_reminders(ld, it);
		} else if (strcmp(k, "retry_max") == 0) {
			rc = get_duration(ld, it, "mail.retry_max",
			                  &cfg->mail_retry_max);
		} else if (strcmp(k, "give_up_after") == 0) {
			rc = get_duration(ld, it, "mail.give_up_after",
			                  &cfg->mail_give_up_after);
		} else if (strcmp(k, "outbox_max_age") == 0) {
			rc = get_duration(ld, it, "mail.outbox_max_age",
			                  &cfg->mail_outbox_max_age);
		} else {
			rc = apitoken_error(APITOKEN_ERR_CONFIG,
			                    "%s: unknown key 'mail.%.64s'",
			                    ld->path, k);
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
parse_socket(const struct loader *ld, const cJSON *it, const char *key,
             char **dst, bool *set)
{
	int rc = get_string(ld, it, key, false, dst);

	if (rc != 0)
		return rc;
	if (strlen(*dst) >= SUN_PATH_MAX)
		return key_error(ld, key,
		                 "a socket path shorter than 108 bytes");
	*set = true;
	return 0;
}

/* "auto", or a number of answers from 0 (none kept) to the maximum. */
static int
parse_introspection_cache(const struct loader *ld, const cJSON *it)
{
	static const char expected[] =
	    "\"auto\" or a whole number of answers from 0 to 4194304";
	double v;

	if (cJSON_IsString(it) && strcmp(it->valuestring, "auto") == 0) {
		ld->cfg->introspection_cache =
		    APITOKEN_INTROSPECTION_CACHE_AUTO;
		return 0;
	}
	if (get_uint(ld, it, "introspection_cache", 0,
	             (double)APITOKEN_INTROSPECTION_CACHE_MAX, expected,
	             &v) != 0)
		return APITOKEN_ERR_CONFIG;
	ld->cfg->introspection_cache = (size_t)v;
	return 0;
}

/* "auto" (0), or a size from 16M to 1T: a string or a number of bytes. */
static int
parse_store_cache(const struct loader *ld, const cJSON *it)
{
	static const char expected[] =
	    "\"auto\" or a size from 16M to 1T such as 512M or 4G";
	uint64_t v = 0;
	double d;

	if (cJSON_IsString(it) && strcmp(it->valuestring, "auto") == 0) {
		ld->cfg->store_cache = 0;
		return 0;
	}
	if (cJSON_IsNumber(it)) {
		if (get_uint(ld, it, "store_cache", 16777216.0,
		             1099511627776.0, expected, &d) != 0)
			return APITOKEN_ERR_CONFIG;
		v = (uint64_t)d;
	} else if (!cJSON_IsString(it) ||
	           apitoken_size_parse(it->valuestring, &v) != 0) {
		return key_error(ld, "store_cache", expected);
	}
	if (v < (16ULL << 20) || v > (1ULL << 40))
		return key_error(ld, "store_cache", expected);
	ld->cfg->store_cache = v;
	return 0;
}

/* The front door's whole-number keys (issue 12): name, range, default. */
static const struct limit_key {
	const char *name;
	size_t off;
	unsigned min, max, def;
	const char *expected;
} limit_keys[] = {
#define LIMIT(f) offsetof(apitoken_config_t, f)
    {"http_max_connections", LIMIT(http_max_connections), 16, 1000000, 1024,
     "a whole number of connections from 16 to 1000000"},
    {"http_max_connections_per_address",
     LIMIT(http_max_connections_per_address), 1, 1000000, 64,
     "a whole number of connections from 1 to 1000000"},
    {"http_header_timeout", LIMIT(http_header_timeout), 1, 3600, 10,
     "a whole number of seconds from 1 to 3600"},
    {"http_min_body_rate", LIMIT(http_min_body_rate), 0, 1 << 30, 1024,
     "a whole number of bytes per second (0: no minimum)"},
    {"auth_throttle_burst", LIMIT(auth_throttle_burst), 0, 1000000, 20,
     "a whole number of failures from 0 (off) to 1000000"},
    {"auth_throttle_per_minute", LIMIT(auth_throttle_per_minute), 1, 6000000,
     60, "a whole number of failures from 1 to 6000000"},
    {"auth_throttle_slots", LIMIT(auth_throttle_slots), 64, 1 << 24, 16384,
     "a whole number of entries from 64 to 16777216"},
    {"local_socket_max_connections", LIMIT(local_socket_max_connections), 1,
     65536, 256, "a whole number of connections from 1 to 65536"},
    {"admin_socket_max_connections", LIMIT(admin_socket_max_connections), 1,
     65536, 16, "a whole number of connections from 1 to 65536"},
    {"socket_max_connections_per_uid", LIMIT(socket_max_connections_per_uid),
     1, 65536, 32, "a whole number of connections from 1 to 65536"},
#undef LIMIT
};

static void
set_limit_defaults(apitoken_config_t *cfg)
{
	size_t i;

	for (i = 0; i < sizeof(limit_keys) / sizeof(limit_keys[0]); i++)
		*(unsigned *)(void *)((char *)cfg + limit_keys[i].off) =
		    limit_keys[i].def;
}

/* 1: not one of limit_keys; else 0 or the error. */
static int
parse_limit_key(const struct loader *ld, const cJSON *it)
{
	const struct limit_key *lk = NULL;
	size_t i;
	double v;
	int rc;

	for (i = 0; i < sizeof(limit_keys) / sizeof(limit_keys[0]); i++)
		if (strcmp(it->string, limit_keys[i].name) == 0)
			lk = &limit_keys[i];
	if (lk == NULL)
		return 1;
	rc = get_uint(ld, it, lk->name, lk->min, lk->max, lk->expected, &v);
	if (rc == 0)
		*(unsigned *)(void *)((char *)ld->cfg + lk->off) = (unsigned)v;
	return rc;
}

static int parse_leak_keys(const struct loader *ld, const cJSON *obj);

static int
parse_key(const struct loader *ld, const cJSON *it, bool *issuer_set)
{
	apitoken_config_t *cfg = ld->cfg;
	struct config_priv *p = priv(cfg);
	const char *k = it->string;
	double v;
	int rc;

	if (strcmp(k, "store") == 0)
		return get_string(ld, it, k, false, &cfg->store);
	if (strcmp(k, "token_lifetime") == 0)
		return get_duration(ld, it, k, &cfg->token_lifetime);
	if (strcmp(k, "business_unit_scope_prefix") == 0) {
		rc = get_string(ld, it, k, true, &cfg->bu_scope_prefix);
		if (rc == 0 && cfg->bu_scope_prefix == NULL &&
		    set_str(&cfg->bu_scope_prefix, "") != 0)
			return nomem();
		if (rc == 0 && !prefix_ok(cfg->bu_scope_prefix))
			rc = key_error(ld, k,
			               "at most 64 scope-token characters "
			               "(no space, '\"' or '\\')");
		return rc;
	}
	if (strcmp(k, "roles") == 0)
		return parse_roles(ld, it);
	if (strcmp(k, "listen") == 0)
		return parse_listen(ld, it);
	if (strcmp(k, "issuer") == 0) {
		rc = get_string(ld, it, k, false, &cfg->issuer);
		if (rc == 0 && ((strncmp(cfg->issuer, "http://", 7) != 0 &&
		                 strncmp(cfg->issuer, "https://", 8) != 0) ||
		                strpbrk(cfg->issuer, "?# ") != NULL ||
		                !no_ctl(cfg->issuer)))
			rc = key_error(ld, k,
			               "an http:// or https:// URL without "
			               "query or fragment");
		*issuer_set = rc == 0;
		return rc;
	}
	if (strcmp(k, "audience") == 0)
		return get_string(ld, it, k, false, &cfg->audience);
	if (strcmp(k, "admin_socket") == 0)
		return parse_socket(ld, it, k, &cfg->admin_socket,
		                    &p->admin_socket_set);
	if (strcmp(k, "local_socket") == 0)
		return parse_socket(ld, it, k, &cfg->local_socket,
		                    &p->local_socket_set);
	if (strcmp(k, "admin_group") == 0)
		return get_string(ld, it, k, true, &cfg->admin_group);
	if (strcmp(k, "local_socket_mode") == 0)
		return parse_mode(ld, it);
	if (strcmp(k, "tls_cert") == 0)
		return get_string(ld, it, k, true, &cfg->tls_cert);
	if (strcmp(k, "tls_key") == 0)
		return get_string(ld, it, k, true, &cfg->tls_key);
	if (strcmp(k, "threads") == 0) {
		rc = get_uint(ld, it, k, 0, 1024,
		              "a whole number from 0 (one per CPU) to 1024",
		              &v);
		if (rc == 0)
			cfg->threads = (unsigned)v;
		return rc;
	}
	if (strcmp(k, "max_body") == 0) {
		rc = get_uint(ld, it, k, 256, 1048576,
		              "a whole number of bytes from 256 to 1048576",
		              &v);
		if (rc == 0)
			cfg->max_body = (size_t)v;
		return rc;
	}
	if (strcmp(k, "connection_timeout") == 0) {
		rc = get_uint(ld, it, k, 1, 3600,
		              "a whole number of seconds from 1 to 3600", &v);
		if (rc == 0)
			cfg->connection_timeout = (unsigned)v;
		return rc;
	}
	if (strcmp(k, "local_socket_timeout") == 0) {
		rc = get_uint(ld, it, k, 1, 3600,
		              "a whole number of seconds from 1 to 3600", &v);
		if (rc == 0)
			cfg->local_socket_timeout = (unsigned)v;
		return rc;
	}
	if (strcmp(k, "introspection_cache") == 0)
		return parse_introspection_cache(ld, it);
	if (strcmp(k, "sweep_interval") == 0)
		return get_duration(ld, it, k, &cfg->sweep_interval);
	if (strcmp(k, "mail") == 0)
		return parse_mail(ld, it);
	if (strcmp(k, "store_cache") == 0)
		return parse_store_cache(ld, it);
	rc = parse_limit_key(ld, it);
	if (rc != 1)
		return rc;
	if (strcmp(k, "web") == 0)
		return config_web_parse(ld->path, it, &cfg->web);
	if (strcmp(k, "replication") == 0)
		return apitoken_replication_parse(ld->path, it,
		                                  &cfg->replication);
	if (strcmp(k, "audit_retention") == 0)
		return get_duration(ld, it, k, &cfg->audit_retention);
	if (strcmp(k, "leak_report_keys") == 0)
		return parse_leak_keys(ld, it);
	if (strcmp(k, "signing_key") == 0)
		return get_string(ld, it, k, true, &cfg->signing_key);
	if (strcmp(k, "signing_key_previous") == 0)
		return get_string(ld, it, k, true, &cfg->signing_key_previous);
	if (strcmp(k, "last_used_interval") == 0)
		return get_duration(ld, it, k, &cfg->last_used_interval);
	if (strcmp(k, "last_used") == 0) {
		if (!cJSON_IsBool(it))
			return key_error(ld, k, "true or false");
		cfg->last_used = cJSON_IsTrue(it) ? 1 : 0;
		return 0;
	}
	return apitoken_error(APITOKEN_ERR_CONFIG, "%s: unknown key '%.64s'",
	                      ld->path, k);
}

/* "leak_report_keys": {"<key identifier>": "<PEM file>", ...} */
static int
parse_leak_keys(const struct loader *ld, const cJSON *obj)
{
	static const char expected[] =
	    "an object of key identifier: public key PEM file";
	apitoken_config_t *cfg = ld->cfg;
	const cJSON *it;
	size_t n = 0;
	int rc = 0;

	if (!cJSON_IsObject(obj))
		return key_error(ld, "leak_report_keys", expected);
	cJSON_ArrayForEach(it, obj) n++;
	cfg->leak_key_ids = calloc(n + 1, sizeof(char *));
	cfg->leak_key_files = calloc(n + 1, sizeof(char *));
	if (cfg->leak_key_ids == NULL || cfg->leak_key_files == NULL)
		return nomem();
	cJSON_ArrayForEach(it, obj)
	{
		if (it->string == NULL || it->string[0] == '\0' ||
		    strlen(it->string) > 256 || !no_ctl(it->string))
			return key_error(ld, "leak_report_keys", expected);
		rc = get_string(ld, it, "leak_report_keys", false,
		                &cfg->leak_key_files[cfg->n_leak_keys]);
		if (rc != 0)
			return rc;
		cfg->leak_key_ids[cfg->n_leak_keys] = strdup(it->string);
		if (cfg->leak_key_ids[cfg->n_leak_keys] == NULL) {
			free(cfg->leak_key_files[cfg->n_leak_keys]);
			cfg->leak_key_files[cfg->n_leak_keys] = NULL;
			return nomem();
		}
		cfg->n_leak_keys++;
	}
	return 0;
}

/* Read the whole file into a NUL-terminated buffer. */
static int
read_file(const char *path, char **buf_out, size_t *len_out)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, rc;

	*buf_out = NULL;
	/* O_NONBLOCK: a FIFO planted at the path must not hang us. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return apitoken_error(APITOKEN_ERR_CONFIG,
		                      "%s: cannot open: %s", path,
		                      strerror(errno));
	if (fstat(fd, &st) != 0) {
		rc = apitoken_error(APITOKEN_ERR_IO, "%s: cannot stat: %s",
		                    path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = apitoken_error(APITOKEN_ERR_CONFIG,
		                    "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size > CONFIG_MAX_BYTES) {
		rc = apitoken_error(APITOKEN_ERR_CONFIG,
		                    "%s: larger than %d bytes", path,
		                    CONFIG_MAX_BYTES);
		goto out;
	}
	buf = malloc(CONFIG_MAX_BYTES + 2);
	if (buf == NULL) {
		rc = nomem();
		goto out;
	}
	/* Read to EOF with a cap: the file may grow after fstat. */
	for (;;) {
		ssize_t n = read(fd, buf + len, CONFIG_MAX_BYTES + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = apitoken_error(APITOKEN_ERR_IO,
			                    "%s: cannot read: %s", path,
			                    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONFIG_MAX_BYTES) {
			rc = apitoken_error(APITOKEN_ERR_CONFIG,
			                    "%s: larger than %d bytes", path,
			                    CONFIG_MAX_BYTES);
			goto out;
		}
	}
	buf[len] = '\0';
	*buf_out = buf;
	*len_out = len;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

static int
parse_error(const char *path, const char *buf, size_t pos)
{
	size_t i, line = 1, col = 1;

	for (i = 0; i < pos && buf[i] != '\0'; i++) {
		if (buf[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	return apitoken_error(APITOKEN_ERR_CONFIG,
	                      "%s: invalid JSON at line %zu, column %zu", path,
	                      line, col);
}

static int
load_file(const char *path, apitoken_config_t **cfg_out)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	rc = read_file(path, &buf, &len);
	if (rc != 0)
		return rc;
	rc = apitoken_config_load_buffer(path, buf, len, cfg_out);
	free(buf);
	return rc;
}

int
apitoken_config_load_buffer(const char *path, const char *buf, size_t len,
                            apitoken_config_t **cfg_out)
{
	struct config_priv *p = NULL;
	struct loader ld;
	cJSON *root = NULL;
	const cJSON *it;
	const char *end = NULL;
	bool issuer_set = false;
	int rc;

	*cfg_out = NULL;
	if (memchr(buf, '\0', len) != NULL) {
		rc = parse_error(
		    path, buf, (size_t)((char *)memchr(buf, '\0', len) - buf));
		goto out;
	}
	/* len + 1: cJSON wants to see the terminating NUL itself. */
	root = cJSON_ParseWithLengthOpts(buf, len + 1, &end, true);
	if (root == NULL) {
		size_t pos = end != NULL && end >= buf && end <= buf + len
		                 ? (size_t)(end - buf)
		                 : 0;

		rc = parse_error(path, buf, pos);
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		rc = apitoken_error(APITOKEN_ERR_CONFIG,
		                    "%s: expected a JSON object at top level",
		                    path);
		goto out;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		rc = nomem();
		goto out;
	}
	if (fill_defaults(&p->pub) != 0 || set_str(&p->pub.path, path) != 0) {
		rc = nomem();
		goto out;
	}
	ld.path = path;
	ld.cfg = &p->pub;
	cJSON_ArrayForEach(it, root)
	{
		rc = check_dup(&ld, root, it, "");
		if (rc == 0)
			rc = parse_key(&ld, it, &issuer_set);
		if (rc != 0)
			goto out;
	}
	if ((p->pub.tls_cert == NULL) != (p->pub.tls_key == NULL)) {
		rc = key_error(
		    &ld, p->pub.tls_cert == NULL ? "tls_cert" : "tls_key",
		    "tls_cert and tls_key to be set together");
		goto out;
	}
	if (!issuer_set) {
		free(p->pub.issuer);
		p->pub.issuer = NULL;
	}
	if (derive(&p->pub) != 0) {
		rc = nomem();
		goto out;
	}
	*cfg_out = &p->pub;
	p = NULL;
	rc = 0;
out:
	if (p != NULL)
		apitoken_config_free(&p->pub);
	cJSON_Delete(root);
	return rc;
}

int
apitoken_config_load(const char *path, apitoken_config_t **cfg_out)
{
	const char *env;

	if (cfg_out == NULL)
		return apitoken_error(APITOKEN_ERR_INTERNAL,
		                      "config: no output");
	*cfg_out = NULL;
	if (path == NULL) {
		env = getenv(APITOKEN_CONFIG_ENV);
		if (env != NULL && *env != '\0')
			path = env;
	}
	if (path == NULL) {
		if (access(APITOKEN_CONFIG_DEFAULT_PATH, F_OK) != 0 &&
		    errno == ENOENT)
			return apitoken_config_defaults(cfg_out);
		path = APITOKEN_CONFIG_DEFAULT_PATH;
	}
	if (*path == '\0')
		return apitoken_error(APITOKEN_ERR_CONFIG,
		                      "configuration file name is empty");
	return load_file(path, cfg_out);
}
