/*
 * "apitokenctl token ...": generate, revoke, show, list, check.
 *
 * The secret leaves this file exactly once: on the output stream of
 * "token generate".  Every buffer that held it is wiped.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <openssl/crypto.h>

#include <apitoken/error.h>

#include "admin_int.h"

static const char *
token_status(const apitoken_token_info_t *t, int64_t now, int api_access)
{
	if (now >= t->exp)
		return "expired";
	if (api_access == 0)
		return "disabled";
	return "active";
}

cJSON *
admin_token_json(const apitoken_token_info_t *t, int64_t now)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	if (cJSON_AddStringToObject(o, "id", t->id) == NULL ||
	    cJSON_AddStringToObject(o, "user", t->user) == NULL ||
	    cJSON_AddStringToObject(o, "hint", t->hint) == NULL ||
	    cJSON_AddNumberToObject(o, "iat", (double)t->iat) == NULL ||
	    cJSON_AddNumberToObject(o, "exp", (double)t->exp) == NULL ||
	    cJSON_AddBoolToObject(o, "expired", now >= t->exp) == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* The one place a token is printed. */
static int
print_secret(const apitoken_admin_io_t *io, const char *secret,
             const apitoken_token_info_t *info)
{
	cJSON *o;

	if (!io->json) {
		fprintf(io->out, "%s\n", secret);
		fflush(io->out);
		return EX_OK;
	}
	o = cJSON_CreateObject();
	if (o != NULL &&
	    (cJSON_AddStringToObject(o, "id", info->id) == NULL ||
	     cJSON_AddStringToObject(o, "user", info->user) == NULL ||
	     cJSON_AddNumberToObject(o, "iat", (double)info->iat) == NULL ||
	     cJSON_AddNumberToObject(o, "exp", (double)info->exp) == NULL)) {
		cJSON_Delete(o);
		o = NULL;
	}
	return admin_print_json_secret(io, o, "token", secret);
}

static int
one_user_arg(const apitoken_admin_io_t *io, const char *cmd, int argc,
             char **argv, const struct admin_opt *opts, size_t n_opts,
             const char **user)
{
	const char *pos[1];
	size_t n_pos;
	int rc;

	rc = admin_parse_opts(io, cmd, argc, argv, 2, opts, n_opts, pos, 1,
	                      &n_pos);
	if (rc != 0)
		return rc;
	if (n_pos != 1) {
		admin_errorf(io, "%s: missing USER", cmd);
		return EX_USAGE;
	}
	if (!apitoken_user_name_valid(pos[0])) {
		admin_errorf(io, "invalid user name '%.80s'", pos[0]);
		return EX_DATAERR;
	}
	*user = pos[0];
	return 0;
}

static int
cmd_generate(apitoken_store_t *store, int argc, char **argv,
             const apitoken_admin_io_t *io)
{
	apitoken_actor_t ab;
	bool replace = false;
	const struct admin_opt opts[] = {
	    {"--replace", ADMIN_OPT_FLAG, &replace},
	};
	char secret[APITOKEN_TOKEN_LEN + 1];
	apitoken_token_info_t info;
	const char *user = NULL;
	char exp[32];
	int rc;

	rc = one_user_arg(io, "token generate", argc, argv, opts, 1, &user);
	if (rc != 0)
		return rc;
	rc = apitoken_token_issue_as(store, user,
	                             replace ? APITOKEN_ISSUE_REPLACE : 0,
	                             admin_actor(io, &ab), secret, &info);
	if (rc < 0)
		return admin_fail(io, rc);
	rc = print_secret(io, secret, &info);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (rc == EX_OK && !io->json) {
		admin_time_iso(info.exp, exp, sizeof(exp));
		fprintf(io->err,
		        "%s: token %s for user %s, expires %s; it is shown "
		        "only this once\n",
		        ADMIN_PROG, info.id, info.user, exp);
	}
	return rc;
}

static int
cmd_revoke(apitoken_store_t *store, int argc, char **argv,
           const apitoken_admin_io_t *io)
{
	apitoken_actor_t ab;
	apitoken_token_info_t info;
	const char *user = NULL;
	int rc;

	rc = one_user_arg(io, "token revoke", argc, argv, NULL, 0, &user);
	if (rc != 0)
		return rc;
	rc =
	    apitoken_token_revoke_as(store, user, admin_actor(io, &ab), &info);
	if (rc < 0)
		return admin_fail(io, rc);
	fprintf(io->out, "revoked token %s of user %s\n", info.id, user);
	return EX_OK;
}

static int
cmd_show(apitoken_store_t *store, int argc, char **argv,
         const apitoken_admin_io_t *io)
{
	apitoken_token_info_t t;
	apitoken_user_t *u = NULL;
	const char *user = NULL;
	int64_t now = apitoken_now();
	char iat[32], exp[32], lastbuf[160];
	apitoken_last_use_t last;
	const char *status;
	int rc;

	rc = one_user_arg(io, "token show", argc, argv, NULL, 0, &user);
	if (rc != 0)
		return rc;
	rc = apitoken_user_get(store, user, &u);
	if (rc < 0)
		return admin_fail(io, rc);
	rc = apitoken_token_get(store, user, &t);
	if (rc < 0) {
		rc = admin_fail(io, rc);
		goto out;
	}
	status = token_status(&t, now, u->api_access);
	rc = apitoken_lastuse_get(store, t.id, &last);
	if (rc < 0) {
		rc = admin_fail(io, rc);
		goto out;
	}
	if (io->json) {
		cJSON *o = admin_token_json(&t, now), *lu = NULL;

		if (o != NULL &&
		    (cJSON_AddStringToObject(o, "status", status) == NULL ||
		     (lu = admin_last_use_json(&last)) == NULL ||
		     !cJSON_AddItemToObject(o, "last_use", lu))) {
			cJSON_Delete(lu);
			cJSON_Delete(o);
			o = NULL;
		}
		rc = admin_print_json(io, o);
		goto out;
	}
	admin_time_iso(t.iat, iat, sizeof(iat));
	admin_time_iso(t.exp, exp, sizeof(exp));
	fprintf(io->out, "id:       %s\n", t.id);
	fprintf(io->out, "user:     %s\n", t.user);
	fprintf(io->out, "hint:     ...%s\n", t.hint);
	fprintf(io->out, "issued:   %s\n", iat);
	fprintf(io->out, "expires:  %s\n", exp);
	fprintf(io->out, "status:   %s\n", status);
	admin_last_use_text(&last, lastbuf, sizeof(lastbuf));
	fprintf(io->out, "last use: %s\n", lastbuf);
	rc = EX_OK;
out:
	apitoken_user_free(u);
	return rc;
}

struct list_ctx {
	const apitoken_admin_io_t *io;
	apitoken_store_t *store;
	cJSON *array;
	int64_t now;
	int64_t until;        /* INT64_MAX: all */
	int64_t unused_since; /* INT64_MIN: all; else last use (or issue,
	                         if never used) must be before this */
};

static int
list_one(const apitoken_token_info_t *t, void *vctx)
{
	struct list_ctx *ctx = vctx;
	char iat[32], exp[32], used[32];
	apitoken_last_use_t last;
	int rc;

	if (t->exp > ctx->until)
		return 1; /* ordered by expiry: the rest is later still */
	rc = apitoken_lastuse_get(ctx->store, t->id, &last);
	if (rc < 0)
		return rc;
	if (ctx->unused_since != INT64_MIN &&
	    (last.time != 0 ? last.time : t->iat) >= ctx->unused_since)
		return 0;
	if (ctx->array != NULL) {
		cJSON *o = admin_token_json(t, ctx->now), *lu;

		if (o == NULL)
			return APITOKEN_ERR_NOMEM;
		if (!cJSON_AddItemToArray(ctx->array, o)) {
			cJSON_Delete(o);
			return APITOKEN_ERR_NOMEM;
		}
		lu = admin_last_use_json(&last);
		if (lu == NULL || !cJSON_AddItemToObject(o, "last_use", lu)) {
			cJSON_Delete(lu);
			return APITOKEN_ERR_NOMEM;
		}
		return 0;
	}
	admin_time_iso(t->iat, iat, sizeof(iat));
	admin_time_iso(t->exp, exp, sizeof(exp));
	if (last.time != 0)
		admin_time_iso(last.time, used, sizeof(used));
	else
		(void)snprintf(used, sizeof(used), "never");
	fprintf(ctx->io->out,
	        "%-16s  %-20s  ...%-4s  %-20s  %-20s  %-7s  %-20s  %s\n",
	        t->id, t->user, t->hint, iat, exp,
	        ctx->now >= t->exp ? "expired" : "valid", used,
	        last.time != 0 ? last.source : "-");
	return 0;
}

static int
cmd_list(apitoken_store_t *store, int argc, char **argv,
         const apitoken_admin_io_t *io)
{
	const char *within = NULL, *unused = NULL, *pos[1];
	const struct admin_opt opts[] = {
	    {"--expiring-within", ADMIN_OPT_STRING, &within},
	    {"--unused-for", ADMIN_OPT_STRING, &unused},
	};
	struct list_ctx ctx = {.io = io,
	                       .store = store,
	                       .until = INT64_MAX,
	                       .unused_since = INT64_MIN};
	size_t n_pos;
	int rc;

	rc = admin_parse_opts(io, "token list", argc, argv, 2, opts,
	                      sizeof(opts) / sizeof(opts[0]), pos, 0, &n_pos);
	if (rc != 0)
		return rc;
	ctx.now = apitoken_now();
	if (within != NULL) {
		int64_t secs;

		if (apitoken_duration_parse(within, &secs) < 0) {
			admin_errorf(io,
			             "token list: invalid duration "
			             "'%.40s' (expected e.g. 30d, 12h, 45m "
			             "or 90s)",
			             within);
			return EX_DATAERR;
		}
		ctx.until =
		    secs > INT64_MAX - ctx.now ? INT64_MAX : ctx.now + secs;
	}
	if (unused != NULL) {
		int64_t secs;

		if (apitoken_duration_parse(unused, &secs) < 0) {
			admin_errorf(
			    io,
			    "token list: --unused-for: invalid duration "
			    "'%.40s' (expected e.g. 30d, 12h, 45m "
			    "or 90s)",
			    unused);
			return EX_DATAERR;
		}
		ctx.unused_since = ctx.now - secs;
	}
	if (io->json) {
		ctx.array = cJSON_CreateArray();
		if (ctx.array == NULL)
			return admin_print_json(io, NULL);
	} else {
		fprintf(io->out,
		        "%-16s  %-20s  %-7s  %-20s  %-20s  %-7s  %-20s  %s\n",
		        "ID", "USER", "HINT", "ISSUED", "EXPIRES", "STATUS",
		        "LAST USE", "FROM");
	}
	rc = apitoken_token_foreach(store, list_one, &ctx);
	if (rc < 0) {
		cJSON_Delete(ctx.array);
		return admin_fail(io, rc);
	}
	if (ctx.array != NULL)
		return admin_print_json(io, ctx.array);
	return EX_OK;
}

static cJSON *
claims_json(const apitoken_claims_t *c)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *bus;

	if (o == NULL)
		return NULL;
	if (cJSON_AddBoolToObject(o, "active", c->active) == NULL)
		goto fail;
	if (!c->active)
		return o;
	if (cJSON_AddStringToObject(o, "scope", c->scope) == NULL ||
	    cJSON_AddStringToObject(o, "username", c->username) == NULL ||
	    cJSON_AddStringToObject(o, "sub", c->username) == NULL ||
	    cJSON_AddStringToObject(o, "token_type", "Bearer") == NULL ||
	    cJSON_AddNumberToObject(o, "iat", (double)c->iat) == NULL ||
	    cJSON_AddNumberToObject(o, "exp", (double)c->exp) == NULL ||
	    cJSON_AddStringToObject(o, "jti", c->jti) == NULL ||
	    cJSON_AddStringToObject(o, "role", c->role) == NULL)
		goto fail;
	bus = cJSON_AddArrayToObject(o, "business_units");
	if (bus == NULL)
		goto fail;
	for (size_t i = 0; i < c->n_bus; i++) {
		cJSON *s = cJSON_CreateString(c->bus[i]);

		if (s == NULL)
			goto fail;
		if (!cJSON_AddItemToArray(bus, s)) {
			cJSON_Delete(s);
			goto fail;
		}
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

static int
cmd_check(apitoken_store_t *store, int argc, char **argv,
          const apitoken_admin_io_t *io)
{
	apitoken_claims_t claims = {0};
	char line[ADMIN_TOKEN_LINE_MAX];
	char iat[32], exp[32];
	int rc;

	(void)argv;
	if (argc > 2) {
		/*
		 * Say nothing about the argument: it may be a live token,
		 * and it is already visible in the process list.
		 */
		admin_errorf(io, "token check: the token is read from "
		                 "standard input, never from the command line "
		                 "(other users can see arguments); use: "
		                 "apitokenctl token check < FILE");
		return EX_USAGE;
	}
	if (admin_read_line(io->in, line, sizeof(line)) < 0) {
		admin_errorf(io,
		             "token check: no token on standard input "
		             "(expected one line of at most %d bytes)",
		             ADMIN_TOKEN_LINE_MAX - 1);
		return EX_DATAERR;
	}
	rc = apitoken_token_check(store, line, strlen(line), apitoken_now(),
	                          &claims);
	OPENSSL_cleanse(line, sizeof(line));
	if (rc < 0)
		return admin_fail(io, rc);
	if (io->json) {
		rc = admin_print_json(io, claims_json(&claims));
	} else if (!claims.active) {
		fputs("active:         no\n", io->out);
		rc = EX_OK;
	} else {
		admin_time_iso(claims.iat, iat, sizeof(iat));
		admin_time_iso(claims.exp, exp, sizeof(exp));
		fprintf(io->out, "active:         yes\n");
		fprintf(io->out, "user:           %s\n", claims.username);
		fprintf(io->out, "role:           %s\n", claims.role);
		fputs("business_units: ", io->out);
		if (claims.n_bus == 0)
			fputs("-", io->out);
		for (size_t i = 0; i < claims.n_bus; i++)
			fprintf(io->out, "%s%s", i > 0 ? " " : "",
			        claims.bus[i]);
		fprintf(io->out, "\nscope:          %s\n", claims.scope);
		fprintf(io->out, "token id:       %s\n", claims.jti);
		fprintf(io->out, "issued:         %s\n", iat);
		fprintf(io->out, "expires:        %s\n", exp);
		rc = EX_OK;
	}
	if (rc == EX_OK && !claims.active)
		rc = 1;
	apitoken_claims_clear(&claims);
	return rc;
}

int
admin_cmd_token(apitoken_store_t *store, int argc, char **argv,
                const apitoken_admin_io_t *io)
{
	static const struct admin_subcmd cmds[] = {
	    {"generate", cmd_generate}, {"revoke", cmd_revoke},
	    {"show", cmd_show},         {"list", cmd_list},
	    {"check", cmd_check},       {"identify", admin_token_identify},
	};

	return admin_dispatch(store, argc, argv, io, cmds,
	                      sizeof(cmds) / sizeof(cmds[0]));
}
