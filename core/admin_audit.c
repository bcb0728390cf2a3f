/*
 * "apitokenctl audit": the audit log, filtered, as a table or as JSON
 * lines (one object per line, for a SIEM to tail).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <apitoken/error.h>

#include "admin_int.h"

struct audit_ctx {
	const apitoken_admin_io_t *io;
	size_t count;
	int err; /* an output failure */
};

static const char *
dash(const char *s)
{
	return s == NULL || *s == '\0' ? "-" : s;
}

static cJSON *
audit_json(const apitoken_audit_t *r)
{
	cJSON *o = cJSON_CreateObject();
	char when[32];

	if (o == NULL)
		return NULL;
	admin_time_iso(r->time, when, sizeof(when));
	if (cJSON_AddNumberToObject(o, "seq", (double)r->seq) == NULL ||
	    cJSON_AddNumberToObject(o, "time", (double)r->time) == NULL ||
	    cJSON_AddStringToObject(o, "when", when) == NULL ||
	    cJSON_AddStringToObject(o, "event", r->event) == NULL ||
	    cJSON_AddStringToObject(o, "user", r->user) == NULL ||
	    cJSON_AddStringToObject(o, "token_id", r->token_id) == NULL ||
	    cJSON_AddStringToObject(
	        o, "actor", apitoken_actor_kind_name(r->actor_kind)) == NULL ||
	    cJSON_AddStringToObject(o, "actor_id", r->actor_id) == NULL ||
	    cJSON_AddStringToObject(o, "source", r->source) == NULL ||
	    cJSON_AddStringToObject(o, "reason", r->reason) == NULL ||
	    cJSON_AddStringToObject(o, "detail", r->detail) == NULL ||
	    cJSON_AddStringToObject(o, "origin", r->origin) == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static int
audit_one(const apitoken_audit_t *r, void *vctx)
{
	struct audit_ctx *ctx = vctx;
	FILE *out = ctx->io->out;
	char when[32], actor[160];

	ctx->count++;
	if (ctx->io->json) {
		cJSON *o = audit_json(r);
		char *line;

		if (o == NULL)
			return APITOKEN_ERR_NOMEM;
		line = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (line == NULL)
			return APITOKEN_ERR_NOMEM;
		fprintf(out, "%s\n", line);
		free(line);
		return 0;
	}
	admin_time_iso(r->time, when, sizeof(when));
	if (r->actor_kind == APITOKEN_ACTOR_OTHER)
		(void)snprintf(actor, sizeof(actor), "%s", dash(r->origin));
	else
		(void)snprintf(actor, sizeof(actor), "%s%s%s",
		               apitoken_actor_kind_name(r->actor_kind),
		               *r->actor_id != '\0' ? ":" : "", r->actor_id);
	fprintf(out, "%-20s  %-14s  %-16s  %-16s  %-16s  %-24s  %s%s%s\n",
	        when, r->event, dash(r->user), dash(r->token_id), actor,
	        dash(r->source), r->detail,
	        *r->detail != '\0' && *r->reason != '\0' ? "; " : "",
	        r->reason);
	return 0;
}

/*
 * A point in time: seconds since the Epoch ("1767225600"), an ISO 8601
 * UTC date or time ("2026-01-01", "2026-01-01T12:00:00Z"), or a
 * duration back from now ("7d").
 */
static int
parse_time(const char *s, int64_t now, int64_t *out)
{
	struct tm tm;
	const char *end;
	char *e;
	long long v;
	int64_t d;

	if (s == NULL || *s == '\0')
		return -1;
	if (strspn(s, "0123456789") == strlen(s)) {
		errno = 0;
		v = strtoll(s, &e, 10);
		if (errno != 0 || *e != '\0')
			return -1;
		*out = (int64_t)v;
		return 0;
	}
	if (apitoken_duration_parse(s, &d) == 0) {
		*out = now - d;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end == NULL)
		return -1;
	if (*end == 'T') {
		end = strptime(end + 1, "%H:%M:%S", &tm);
		if (end == NULL || strcmp(end, "Z") != 0)
			return -1;
	} else if (*end != '\0') {
		return -1;
	}
	*out = (int64_t)timegm(&tm);
	return 0;
}

int
admin_cmd_audit(apitoken_store_t *store, int argc, char **argv,
                const apitoken_admin_io_t *io)
{
	apitoken_audit_filter_t f = {.event = -1, .actor_kind = -1};
	struct audit_ctx ctx = {.io = io};
	const char *user = NULL, *event = NULL, *since = NULL, *until = NULL;
	const char *actor = NULL, *pos[1];
	struct admin_opt opts[] = {
	    {"--user", ADMIN_OPT_STRING, &user},
	    {"--event", ADMIN_OPT_STRING, &event},
	    {"--since", ADMIN_OPT_STRING, &since},
	    {"--until", ADMIN_OPT_STRING, &until},
	    {"--actor", ADMIN_OPT_STRING, &actor},
	};
	char kind[16];
	int64_t now = apitoken_now();
	size_t n_pos;
	int rc;

	rc = admin_parse_opts(io, "audit", argc, argv, 1, opts,
	                      sizeof(opts) / sizeof(opts[0]), pos, 1, &n_pos);
	if (rc != 0)
		return rc;
	if (n_pos == 1) {
		if (user != NULL && strcmp(user, pos[0]) != 0) {
			admin_errorf(io, "audit: two different users given");
			return EX_USAGE;
		}
		user = pos[0];
	}
	if (user != NULL && !apitoken_user_name_valid(user)) {
		admin_errorf(io, "audit: invalid user name '%s'", user);
		return EX_DATAERR;
	}
	f.user = user;
	if (event != NULL) {
		f.event = (int)apitoken_audit_event_parse(event);
		if (f.event == APITOKEN_AUDIT_OTHER) {
			admin_errorf(
			    io,
			    "audit: unknown event '%s' (issued, "
			    "replaced, revoked, expired, user-added, "
			    "user-changed, user-disabled, user-enabled, "
			    "user-removed, client-added, "
			    "client-removed, notice-undeliverable, "
			    "leak-reported)",
			    event);
			return EX_DATAERR;
		}
	}
	if (since != NULL && parse_time(since, now, &f.since) != 0) {
		admin_errorf(io,
		             "audit: --since '%s': use seconds since the "
		             "Epoch, YYYY-MM-DD[THH:MM:SSZ] or a duration ago "
		             "(7d)",
		             since);
		return EX_DATAERR;
	}
	if (until != NULL && parse_time(until, now, &f.until) != 0) {
		admin_errorf(io,
		             "audit: --until '%s': use seconds since the "
		             "Epoch, YYYY-MM-DD[THH:MM:SSZ] or a duration ago "
		             "(7d)",
		             until);
		return EX_DATAERR;
	}
	if (actor != NULL) {
		const char *colon = strchr(actor, ':');
		size_t klen =
		    colon != NULL ? (size_t)(colon - actor) : strlen(actor);

		if (klen < sizeof(kind)) {
			memcpy(kind, actor, klen);
			kind[klen] = '\0';
			f.actor_kind = apitoken_actor_kind_parse(kind);
		}
		if (klen >= sizeof(kind) || f.actor_kind < 0) {
			admin_errorf(
			    io,
			    "audit: --actor '%s': use KIND or KIND:ID, "
			    "KIND one of admin, user, client, system, "
			    "other",
			    actor);
			return EX_DATAERR;
		}
		if (colon != NULL)
			f.actor_id = colon + 1;
	}
	if (!io->json)
		fprintf(io->out,
		        "%-20s  %-14s  %-16s  %-16s  %-16s  %-24s  %s\n",
		        "TIME", "EVENT", "USER", "TOKEN", "ACTOR", "SOURCE",
		        "DETAIL");
	rc = apitoken_audit_query(store, &f, audit_one, &ctx);
	if (rc < 0)
		return admin_fail(io, rc);
	if (fflush(io->out) != 0 || ferror(io->out))
		return EX_IOERR;
	return EX_OK;
}
