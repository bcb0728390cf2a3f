/*
 * The "replication" configuration key (see apitoken/replication.h and
 * apitoken.json(5)).  Every error names "replication.<key>" and what was
 * expected, like the rest of the loader.
 */
#include "config.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include <apitoken/config.h>
#include <apitoken/error.h>
#include <apitoken/replication.h>

#define REP_SITES_MAX 32
#define REP_NAME_MAX 64

#define EXPECT_ADDR                                                           \
	"host:port such as 10.0.0.1:7001 or [fd00::1]:7001 (port 1-65535)"

struct rload {
	const char *path;
	apitoken_replication_t *rep;
};

static int
rkey_error(const struct rload *ld, const char *key, const char *expected)
{
	return apitoken_error(
	    APITOKEN_ERR_CONFIG, "%s: key 'replication%s%s': expected %s",
	    ld->path, key[0] != '\0' ? "." : "", key, expected);
}

static int
nomem(void)
{
	return apitoken_error(APITOKEN_ERR_NOMEM, "config: out of memory");
}

static bool
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x21 || *s == 0x7f)
			return false;
	return true;
}

/* Site names go into logs, metrics labels and status lines. */
static bool
name_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > REP_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			return false;
	}
	return true;
}

static int
get_str(const struct rload *ld, const cJSON *it, const char *key, char **dst)
{
	if (!cJSON_IsString(it) || it->valuestring == NULL ||
	    it->valuestring[0] == '\0' || !printable(it->valuestring))
		return rkey_error(ld, key,
		                  "a non-empty string without spaces");
	free(*dst);
	*dst = strdup(it->valuestring);
	return *dst == NULL ? nomem() : 0;
}

/* Relative paths are taken from the working directory at start-up. */
static int
get_path(const struct rload *ld, const cJSON *it, const char *key, char **dst)
{
	char cwd[PATH_MAX];
	int rc = get_str(ld, it, key, dst);
	char *abs;

	if (rc != 0 || (*dst)[0] == '/')
		return rc;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return rkey_error(ld, key, "an absolute path");
	if (asprintf(&abs, "%s/%s", cwd, *dst) < 0)
		return nomem();
	free(*dst);
	*dst = abs;
	return 0;
}

static int
get_ms(const struct rload *ld, const cJSON *it, const char *key, double min,
       double max, unsigned *out)
{
	char expected[96];
	double v;

	(void)snprintf(expected, sizeof(expected),
	               "a whole number of milliseconds from %.0f to %.0f", min,
	               max);
	if (!cJSON_IsNumber(it))
		return rkey_error(ld, key, expected);
	v = it->valuedouble;
	if (!(v >= min && v <= max) || v != (double)(long long)v)
		return rkey_error(ld, key, expected);
	*out = (unsigned)v;
	return 0;
}

/* "host:port", IPv6 in brackets; port 1-65535. */
static int
get_addr(const struct rload *ld, const cJSON *it, const char *key,
         char **host_out, uint16_t *port_out)
{
	char *copy = NULL, *host, *port, *end;
	struct in6_addr a6;
	unsigned long v;
	int rc = APITOKEN_ERR_CONFIG;

	if (!cJSON_IsString(it) || it->valuestring == NULL ||
	    !printable(it->valuestring))
		return rkey_error(ld, key, EXPECT_ADDR);
	copy = strdup(it->valuestring);
	if (copy == NULL)
		return nomem();
	if (copy[0] == '[') {
		char *rb = strchr(copy, ']');

		if (rb == NULL || rb[1] != ':')
			goto bad;
		*rb = '\0';
		host = copy + 1;
		port = rb + 2;
		if (inet_pton(AF_INET6, host, &a6) != 1)
			goto bad;
	} else {
		char *colon = strchr(copy, ':');

		if (colon == NULL || strchr(colon + 1, ':') != NULL ||
		    colon == copy)
			goto bad;
		*colon = '\0';
		host = copy;
		port = colon + 1;
	}
	if (port[0] < '0' || port[0] > '9' || strlen(port) > 5)
		goto bad;
	v = strtoul(port, &end, 10);
	if (*end != '\0' || v == 0 || v > 65535)
		goto bad;
	free(*host_out);
	*host_out = strdup(host);
	if (*host_out == NULL) {
		rc = nomem();
		goto out;
	}
	*port_out = (uint16_t)v;
	rc = 0;
	goto out;
bad:
	rc = rkey_error(ld, key, EXPECT_ADDR);
out:
	free(copy);
	return rc;
}

static int
get_url(const struct rload *ld, const cJSON *it, const char *key, char **dst)
{
	int rc = get_str(ld, it, key, dst);

	if (rc == 0 && strncmp(*dst, "https://", 8) != 0)
		rc = rkey_error(ld, key,
		                "an https:// URL (forwarded writes are "
		                "encrypted)");
	return rc;
}

static int
parse_site(const struct rload *ld, const cJSON *obj, size_t idx,
           apitoken_rep_site_t *s)
{
	char key[48];
	const cJSON *it;
	bool has_addr = false;
	int rc;

	(void)snprintf(key, sizeof(key), "sites[%zu]", idx);
	if (!cJSON_IsObject(obj))
		return rkey_error(
		    ld, key, "an object {\"name\", \"address\", \"url\"}");
	cJSON_ArrayForEach(it, obj)
	{
		char sub[80];
		const cJSON *a;

		(void)snprintf(sub, sizeof(sub), "%s.%.24s", key,
		               it->string != NULL ? it->string : "");
		for (a = obj->child; a != it; a = a->next)
			if (strcmp(a->string, it->string) == 0)
				return apitoken_error(
				    APITOKEN_ERR_CONFIG,
				    "%s: key 'replication.%s': appears more "
				    "than once",
				    ld->path, sub);
		if (strcmp(it->string, "name") == 0) {
			rc = get_str(ld, it, sub, &s->name);
			if (rc == 0 && !name_ok(s->name))
				rc = rkey_error(ld, sub,
				                "at most 64 letters, digits, "
				                "'-', '_' or '.'");
		} else if (strcmp(it->string, "address") == 0) {
			rc = get_addr(ld, it, sub, &s->host, &s->port);
			has_addr = rc == 0;
		} else if (strcmp(it->string, "url") == 0) {
			rc = get_url(ld, it, sub, &s->url);
		} else {
			rc = apitoken_error(APITOKEN_ERR_CONFIG,
			                    "%s: unknown key 'replication.%s'",
			                    ld->path, sub);
		}
		if (rc != 0)
			return rc;
	}
	if (s->name == NULL || !has_addr || s->url == NULL)
		return rkey_error(ld, key,
		                  "\"name\", \"address\" and \"url\" in every "
		                  "site");
	return 0;
}

static int
parse_sites(const struct rload *ld, const cJSON *arr)
{
	apitoken_replication_t *rep = ld->rep;
	const cJSON *it;
	int n, rc;

	if (!cJSON_IsArray(arr))
		return rkey_error(ld, "sites", "an array of the other sites");
	n = cJSON_GetArraySize(arr);
	if (n < 1 || n > REP_SITES_MAX)
		return rkey_error(ld, "sites",
		                  "1 to 32 other sites (a group of three or "
		                  "more survives the loss of one)");
	rep->sites = calloc((size_t)n, sizeof(*rep->sites));
	if (rep->sites == NULL)
		return nomem();
	cJSON_ArrayForEach(it, arr)
	{
		rc = parse_site(ld, it, rep->n_sites,
		                &rep->sites[rep->n_sites]);
		rep->n_sites++;
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
parse_member(const struct rload *ld, const cJSON *it)
{
	apitoken_replication_t *rep = ld->rep;
	const char *k = it->string;
	double v;
	int rc;

	if (strcmp(k, "name") == 0) {
		rc = get_str(ld, it, k, &rep->name);
		if (rc == 0 && !name_ok(rep->name))
			rc = rkey_error(ld, k,
			                "at most 64 letters, digits, '-', '_' "
			                "or '.'");
		return rc;
	}
	if (strcmp(k, "listen") == 0)
		return get_addr(ld, it, k, &rep->host, &rep->port);
	if (strcmp(k, "url") == 0)
		return get_url(ld, it, k, &rep->url);
	if (strcmp(k, "sites") == 0)
		return parse_sites(ld, it);
	if (strcmp(k, "priority") == 0) {
		if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0) ||
		    it->valuedouble > 1000000 ||
		    it->valuedouble != (double)(long long)it->valuedouble)
			return rkey_error(ld, k,
			                  "a whole number from 0 (never "
			                  "master) to 1000000");
		v = it->valuedouble;
		rep->priority = (unsigned)v;
		return 0;
	}
	if (strcmp(k, "create_group") == 0) {
		if (!cJSON_IsBool(it))
			return rkey_error(ld, k, "true or false");
		rep->create_group = cJSON_IsTrue(it);
		return 0;
	}
	if (strcmp(k, "secret_file") == 0)
		return get_path(ld, it, k, &rep->secret_file);
	if (strcmp(k, "ca_file") == 0)
		return get_path(ld, it, k, &rep->ca_file);
	if (strcmp(k, "staleness_limit") == 0) {
		if (cJSON_IsNumber(it) && it->valuedouble >= 1 &&
		    it->valuedouble <= 86400 * 365 &&
		    it->valuedouble == (double)(long long)it->valuedouble) {
			rep->staleness_limit = (int64_t)it->valuedouble;
			return 0;
		}
		if (!cJSON_IsString(it) ||
		    apitoken_duration_parse(it->valuestring,
		                            &rep->staleness_limit) != 0)
			return rkey_error(ld, k,
			                  "a duration such as 10s, 1m or 1h");
		return 0;
	}
	if (strcmp(k, "staleness_action") == 0) {
		if (cJSON_IsString(it) &&
		    strcmp(it->valuestring, "refuse") == 0)
			rep->staleness_action = APITOKEN_STALE_REFUSE;
		else if (cJSON_IsString(it) &&
		         strcmp(it->valuestring, "serve") == 0)
			rep->staleness_action = APITOKEN_STALE_SERVE;
		else
			return rkey_error(ld, k, "\"refuse\" or \"serve\"");
		return 0;
	}
	if (strcmp(k, "election_timeout_ms") == 0)
		return get_ms(ld, it, k, 50, 60000, &rep->election_timeout_ms);
	if (strcmp(k, "heartbeat_interval_ms") == 0)
		return get_ms(ld, it, k, 50, 60000,
		              &rep->heartbeat_interval_ms);
	if (strcmp(k, "heartbeat_timeout_ms") == 0)
		/* At least 800: a master's lease is three quarters of it,
		 * renewed by a probe on apitokend's 200 ms tick. */
		return get_ms(ld, it, k, 800, 600000,
		              &rep->heartbeat_timeout_ms);
	if (strcmp(k, "ack_timeout_ms") == 0)
		return get_ms(ld, it, k, 10, 600000, &rep->ack_timeout_ms);
	if (strcmp(k, "forward_timeout_ms") == 0)
		return get_ms(ld, it, k, 100, 600000,
		              &rep->forward_timeout_ms);
	return apitoken_error(APITOKEN_ERR_CONFIG,
	                      "%s: unknown key 'replication.%.64s'", ld->path,
	                      k);
}

/* Names and addresses must tell the members apart. */
static int
check_members(const struct rload *ld)
{
	const apitoken_replication_t *rep = ld->rep;
	size_t i, j;

	for (i = 0; i < rep->n_sites; i++) {
		const apitoken_rep_site_t *a = &rep->sites[i];

		if (strcmp(a->name, rep->name) == 0 ||
		    (a->port == rep->port && strcmp(a->host, rep->host) == 0))
			return rkey_error(ld, "sites",
			                  "the other sites only (one has "
			                  "this site's name or address)");
		for (j = 0; j < i; j++) {
			const apitoken_rep_site_t *b = &rep->sites[j];

			if (strcmp(a->name, b->name) == 0 ||
			    (a->port == b->port &&
			     strcmp(a->host, b->host) == 0))
				return rkey_error(ld, "sites",
				                  "sites with distinct names "
				                  "and addresses");
		}
	}
	if (rep->heartbeat_timeout_ms <= rep->heartbeat_interval_ms)
		return rkey_error(ld, "heartbeat_timeout_ms",
		                  "more than heartbeat_interval_ms");
	return 0;
}

int
apitoken_replication_parse(const char *path, const void *item,
                           apitoken_replication_t **out)
{
	const cJSON *obj = item, *it, *a;
	struct rload ld = {.path = path};
	int rc;

	*out = NULL;
	ld.rep = calloc(1, sizeof(*ld.rep));
	if (ld.rep == NULL)
		return nomem();
	ld.rep->priority = 100;
	ld.rep->staleness_limit = 10;
	ld.rep->staleness_action = APITOKEN_STALE_REFUSE;
	ld.rep->election_timeout_ms = 200;
	ld.rep->heartbeat_interval_ms = 500;
	ld.rep->heartbeat_timeout_ms = 2000;
	ld.rep->ack_timeout_ms = 2000;
	ld.rep->forward_timeout_ms = 5000;
	if (!cJSON_IsObject(obj)) {
		rc = rkey_error(&ld, "", "an object (see apitoken.json(5))");
		goto out;
	}
	cJSON_ArrayForEach(it, obj)
	{
		for (a = obj->child; a != it; a = a->next)
			if (strcmp(a->string, it->string) == 0) {
				rc = apitoken_error(
				    APITOKEN_ERR_CONFIG,
				    "%s: key 'replication.%.64s': appears "
				    "more than once",
				    path, it->string);
				goto out;
			}
		rc = parse_member(&ld, it);
		if (rc != 0)
			goto out;
	}
	if (ld.rep->name == NULL) {
		rc = rkey_error(&ld, "name", "this site's name");
		goto out;
	}
	if (ld.rep->host == NULL) {
		rc = rkey_error(
		    &ld, "listen",
		    "this site's replication address, " EXPECT_ADDR);
		goto out;
	}
	if (ld.rep->sites == NULL) {
		rc = rkey_error(&ld, "sites", "the other sites of the group");
		goto out;
	}
	if (ld.rep->secret_file == NULL) {
		rc = rkey_error(&ld, "secret_file",
		                "the file holding the key all sites share");
		goto out;
	}
	rc = check_members(&ld);
	if (rc != 0)
		goto out;
	*out = ld.rep;
	ld.rep = NULL;
out:
	apitoken_replication_free(ld.rep);
	return rc;
}

void
apitoken_replication_free(apitoken_replication_t *rep)
{
	size_t i;

	if (rep == NULL)
		return;
	for (i = 0; i < rep->n_sites; i++) {
		free(rep->sites[i].name);
		free(rep->sites[i].host);
		free(rep->sites[i].url);
	}
	free(rep->sites);
	free(rep->name);
	free(rep->host);
	free(rep->url);
	free(rep->secret_file);
	free(rep->ca_file);
	free(rep);
}

int
apitoken_replication_site_index(const apitoken_replication_t *rep,
                                const char *host, unsigned port)
{
	size_t i;

	if (rep == NULL || host == NULL)
		return -1;
	for (i = 0; i < rep->n_sites; i++)
		if (rep->sites[i].port == port &&
		    strcmp(rep->sites[i].host, host) == 0)
			return (int)i;
	return -1;
}
