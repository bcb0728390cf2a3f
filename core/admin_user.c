/* "apitokenctl user ...": add, set, api-access, remove, show, list. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <apitoken/error.h>
#include <apitoken/policy.h>

#include "admin_int.h"

/* The one rule is apitoken_email_valid(); this names what is wrong. */
static int
email_valid(const char *email)
{
	size_t len = strlen(email);

	if (apitoken_email_valid(email))
		return 0;
	if (len == 0)
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "email address is empty");
	if (len > APITOKEN_EMAIL_MAX)
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "email address longer than %d bytes",
		                      APITOKEN_EMAIL_MAX);
	for (const unsigned char *p = (const unsigned char *)email; *p; p++) {
		if (*p <= 0x20 || *p == 0x7f)
			return apitoken_error(APITOKEN_ERR_INVALID,
			                      "email address '%s' contains "
			                      "a space or control character",
			                      email);
	}
	for (const unsigned char *p = (const unsigned char *)email; *p; p++) {
		if (*p > 0x7f || strchr("<>\"(),;:\\[]", *p) != NULL)
			return apitoken_error(
			    APITOKEN_ERR_INVALID,
			    "email address '%s' contains a character that "
			    "mail cannot carry (non-ASCII, or one of "
			    "< > \" ( ) , ; : \\ [ ])",
			    email);
	}
	return apitoken_error(APITOKEN_ERR_INVALID,
	                      "invalid email address '%s' (expected one '@' "
	                      "between a name and a domain)",
	                      email);
}

static int
role_valid(const apitoken_config_t *cfg, const char *role)
{
	char known[256];
	size_t off = 0;

	if (apitoken_config_role(cfg, role) != NULL)
		return 0;
	known[0] = '\0';
	for (size_t i = 0; i < cfg->n_roles && off < sizeof(known); i++) {
		int n = snprintf(known + off, sizeof(known) - off, "%s%s",
		                 i > 0 ? ", " : "", cfg->roles[i].name);

		if (n < 0)
			break;
		off += (size_t)n;
	}
	return apitoken_error(APITOKEN_ERR_INVALID,
	                      "unknown role '%.64s' (known roles: %s)", role,
	                      cfg->n_roles > 0 ? known : "none configured");
}

int
admin_user_fields_valid(const apitoken_config_t *cfg, const char *name,
                        const char *email, const char *role, char *const *bus,
                        size_t n_bus)
{
	int rc;

	if (name != NULL && !apitoken_user_name_valid(name))
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "invalid user name '%.80s' (1 to %d of "
		                      "A-Z a-z 0-9 . _ @ -)",
		                      name, APITOKEN_USER_MAX);
	if (email != NULL) {
		rc = email_valid(email);
		if (rc < 0)
			return rc;
	}
	if (role != NULL) {
		rc = role_valid(cfg, role);
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < n_bus; i++) {
		if (!apitoken_bu_id_valid(bus[i]))
			return apitoken_error(
			    APITOKEN_ERR_INVALID,
			    "invalid business unit id "
			    "'%.80s' (visible ASCII, no "
			    "space, '\"' or '\\', at most 64 "
			    "bytes)",
			    bus[i]);
	}
	return 0;
}

cJSON *
admin_user_json(const apitoken_user_t *u)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *bus;

	if (o == NULL)
		return NULL;
	if (cJSON_AddStringToObject(o, "user", u->name) == NULL ||
	    cJSON_AddStringToObject(o, "email", u->email) == NULL ||
	    cJSON_AddStringToObject(o, "role", u->role) == NULL)
		goto fail;
	bus = cJSON_AddArrayToObject(o, "business_units");
	if (bus == NULL)
		goto fail;
	for (size_t i = 0; i < u->n_bus; i++) {
		cJSON *s = cJSON_CreateString(u->bus[i]);

		if (s == NULL)
			goto fail;
		if (!cJSON_AddItemToArray(bus, s)) {
			cJSON_Delete(s);
			goto fail;
		}
	}
	if (cJSON_AddBoolToObject(o, "api_access", u->api_access) == NULL ||
	    cJSON_AddNumberToObject(o, "created", (double)u->created) ==
	        NULL ||
	    cJSON_AddNumberToObject(o, "updated", (double)u->updated) == NULL)
		goto fail;
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

static void
print_units(FILE *out, const apitoken_user_t *u, const char *sep)
{
	if (u->n_bus == 0) {
		fputs("-", out);
		return;
	}
	for (size_t i = 0; i < u->n_bus; i++)
		fprintf(out, "%s%s", i > 0 ? sep : "", u->bus[i]);
}

/*
 * After a successful change: the text line, or with --json the user's
 * record as it now is (as "user show" prints it, without the token).
 */
static int
print_changed(apitoken_store_t *store, const apitoken_admin_io_t *io,
              const char *name, const char *text)
{
	apitoken_user_t *u = NULL;
	int rc;

	if (!io->json) {
		fprintf(io->out, "%s\n", text);
		return EX_OK;
	}
	rc = apitoken_user_get(store, name, &u);
	if (rc < 0)
		return admin_fail(io, rc);
	rc = admin_print_json(io, admin_user_json(u));
	apitoken_user_free(u);
	return rc;
}

static int
check_user_arg(const apitoken_admin_io_t *io, const char *name)
{
	if (!apitoken_user_name_valid(name)) {
		(void)admin_user_fields_valid(NULL, name, NULL, NULL, NULL, 0);
		admin_errorf(io, "%s", apitoken_last_error());
		return EX_DATAERR;
	}
	return 0;
}

static int
cmd_add(apitoken_store_t *store, int argc, char **argv,
        const apitoken_admin_io_t *io)
{
	apitoken_actor_t ab;
	const char *email = NULL, *role = NULL, *pos[1];
	struct admin_strv bus = {0};
	const struct admin_opt opts[] = {
	    {"--email", ADMIN_OPT_STRING, &email},
	    {"--role", ADMIN_OPT_STRING, &role},
	    {"--bu", ADMIN_OPT_LIST, &bus},
	};
	const size_t n_opts = sizeof(opts) / sizeof(opts[0]);
	apitoken_user_t u = {0};
	char line[APITOKEN_USER_MAX + 32];
	size_t n_pos;
	int rc;

	rc = admin_parse_opts(io, "user add", argc, argv, 2, opts, n_opts, pos,
	                      1, &n_pos);
	if (rc != 0)
		goto out;
	rc = EX_USAGE;
	if (n_pos != 1) {
		admin_errorf(io, "user add: missing USER");
		goto out;
	}
	if (email == NULL || role == NULL) {
		admin_errorf(io, "user add: %s is required",
		             email == NULL ? "--email ADDR" : "--role ROLE");
		goto out;
	}
	rc = admin_user_fields_valid(apitoken_store_config(store), pos[0],
	                             email, role, (char *const *)bus.v, bus.n);
	if (rc < 0) {
		rc = admin_fail(io, rc);
		goto out;
	}
	u.name = (char *)pos[0];
	u.email = (char *)email;
	u.role = (char *)role;
	u.bus = (char **)bus.v;
	u.n_bus = bus.n;
	u.api_access = true;
	rc = apitoken_user_add_as(store, &u, admin_actor(io, &ab));
	if (rc < 0) {
		rc = admin_fail(io, rc);
		goto out;
	}
	snprintf(line, sizeof(line), "added user %s", pos[0]);
	rc = print_changed(store, io, pos[0], line);
out:
	admin_opts_free(opts, n_opts);
	return rc;
}

static int
cmd_set(apitoken_store_t *store, int argc, char **argv,
        const apitoken_admin_io_t *io)
{
	apitoken_actor_t ab;
	const char *email = NULL, *role = NULL, *pos[1];
	struct admin_strv bus = {0};
	bool clear_bu = false;
	const struct admin_opt opts[] = {
	    {"--email", ADMIN_OPT_STRING, &email},
	    {"--role", ADMIN_OPT_STRING, &role},
	    {"--bu", ADMIN_OPT_LIST, &bus},
	    {"--clear-bu", ADMIN_OPT_FLAG, &clear_bu},
	};
	const size_t n_opts = sizeof(opts) / sizeof(opts[0]);
	apitoken_user_change_t ch = {.api_access = -1};
	char line[APITOKEN_USER_MAX + 32];
	size_t n_pos;
	int rc;

	rc = admin_parse_opts(io, "user set", argc, argv, 2, opts, n_opts, pos,
	                      1, &n_pos);
	if (rc != 0)
		goto out;
	rc = EX_USAGE;
	if (n_pos != 1) {
		admin_errorf(io, "user set: missing USER");
		goto out;
	}
	if (clear_bu && bus.n > 0) {
		admin_errorf(io, "user set: --clear-bu and --bu exclude each "
		                 "other (--bu alone replaces the units)");
		goto out;
	}
	if (email == NULL && role == NULL && bus.n == 0 && !clear_bu) {
		admin_errorf(io, "user set: nothing to change (give --email, "
		                 "--role, --bu or --clear-bu)");
		goto out;
	}
	rc = admin_user_fields_valid(apitoken_store_config(store), pos[0],
	                             email, role, (char *const *)bus.v, bus.n);
	if (rc < 0) {
		rc = admin_fail(io, rc);
		goto out;
	}
	ch.email = email;
	ch.role = role;
	ch.set_bus = clear_bu || bus.n > 0;
	ch.bus = (char *const *)bus.v;
	ch.n_bus = bus.n;
	rc = apitoken_user_update_as(store, pos[0], &ch, admin_actor(io, &ab));
	if (rc < 0) {
		rc = admin_fail(io, rc);
		goto out;
	}
	snprintf(line, sizeof(line), "updated user %s", pos[0]);
	rc = print_changed(store, io, pos[0], line);
out:
	admin_opts_free(opts, n_opts);
	return rc;
}

static int
cmd_api_access(apitoken_store_t *store, int argc, char **argv,
               const apitoken_admin_io_t *io)
{
	apitoken_actor_t ab;
	apitoken_user_change_t ch = {.api_access = -1};
	char line[APITOKEN_USER_MAX + 48];
	const char *pos[2];
	size_t n_pos;
	int rc;

	rc = admin_parse_opts(io, "user api-access", argc, argv, 2, NULL, 0,
	                      pos, 2, &n_pos);
	if (rc != 0)
		return rc;
	if (n_pos != 2) {
		admin_errorf(io, "user api-access: usage: user api-access "
		                 "USER on|off");
		return EX_USAGE;
	}
	rc = check_user_arg(io, pos[0]);
	if (rc != 0)
		return rc;
	if (strcmp(pos[1], "on") == 0) {
		ch.api_access = 1;
	} else if (strcmp(pos[1], "off") == 0) {
		ch.api_access = 0;
	} else {
		admin_errorf(io,
		             "user api-access: expected 'on' or 'off', "
		             "not '%.40s'",
		             pos[1]);
		return EX_USAGE;
	}
	rc = apitoken_user_update_as(store, pos[0], &ch, admin_actor(io, &ab));
	if (rc < 0)
		return admin_fail(io, rc);
	snprintf(line, sizeof(line), "API-token access %s for user %s", pos[1],
	         pos[0]);
	return print_changed(store, io, pos[0], line);
}

static int
cmd_remove(apitoken_store_t *store, int argc, char **argv,
           const apitoken_admin_io_t *io)
{
	apitoken_actor_t ab;
	const char *pos[1];
	cJSON *o;
	size_t n_pos;
	int rc;

	rc = admin_parse_opts(io, "user remove", argc, argv, 2, NULL, 0, pos,
	                      1, &n_pos);
	if (rc != 0)
		return rc;
	if (n_pos != 1) {
		admin_errorf(io, "user remove: missing USER");
		return EX_USAGE;
	}
	rc = check_user_arg(io, pos[0]);
	if (rc != 0)
		return rc;
	rc = apitoken_user_remove_as(store, pos[0], admin_actor(io, &ab));
	if (rc < 0)
		return admin_fail(io, rc);
	if (!io->json) {
		fprintf(io->out, "removed user %s\n", pos[0]);
		return EX_OK;
	}
	o = cJSON_CreateObject();
	if (o != NULL && (cJSON_AddStringToObject(o, "user", pos[0]) == NULL ||
	                  cJSON_AddBoolToObject(o, "removed", true) == NULL)) {
		cJSON_Delete(o);
		o = NULL;
	}
	return admin_print_json(io, o);
}

static int
cmd_show(apitoken_store_t *store, int argc, char **argv,
         const apitoken_admin_io_t *io)
{
	apitoken_user_t *u = NULL;
	apitoken_token_info_t tok;
	const char *pos[1];
	bool has_token = false;
	char created[32], updated[32], exp[32];
	size_t n_pos;
	int rc;

	rc = admin_parse_opts(io, "user show", argc, argv, 2, NULL, 0, pos, 1,
	                      &n_pos);
	if (rc != 0)
		return rc;
	if (n_pos != 1) {
		admin_errorf(io, "user show: missing USER");
		return EX_USAGE;
	}
	rc = check_user_arg(io, pos[0]);
	if (rc != 0)
		return rc;
	rc = apitoken_user_get(store, pos[0], &u);
	if (rc < 0)
		return admin_fail(io, rc);
	rc = apitoken_token_get(store, pos[0], &tok);
	if (rc == 0) {
		has_token = true;
	} else if (rc != APITOKEN_ERR_NOT_FOUND) {
		rc = admin_fail(io, rc);
		goto out;
	}
	if (io->json) {
		cJSON *o = admin_user_json(u);

		if (o != NULL) {
			cJSON *t = has_token
			               ? admin_token_json(&tok, apitoken_now())
			               : cJSON_CreateNull();

			if (t == NULL ||
			    !cJSON_AddItemToObject(o, "token", t)) {
				cJSON_Delete(t);
				cJSON_Delete(o);
				o = NULL;
			}
		}
		rc = admin_print_json(io, o);
		goto out;
	}
	admin_time_iso(u->created, created, sizeof(created));
	admin_time_iso(u->updated, updated, sizeof(updated));
	fprintf(io->out, "user:           %s\n", u->name);
	fprintf(io->out, "email:          %s\n", u->email);
	fprintf(io->out, "role:           %s\n", u->role);
	fputs("business_units: ", io->out);
	print_units(io->out, u, " ");
	fprintf(io->out, "\napi_access:     %s\n",
	        u->api_access ? "on" : "off");
	fprintf(io->out, "created:        %s\n", created);
	fprintf(io->out, "updated:        %s\n", updated);
	if (has_token) {
		admin_time_iso(tok.exp, exp, sizeof(exp));
		fprintf(io->out, "token:          %s (...%s, expires %s)\n",
		        tok.id, tok.hint, exp);
	} else {
		fputs("token:          none\n", io->out);
	}
	rc = EX_OK;
out:
	apitoken_user_free(u);
	return rc;
}

struct list_ctx {
	const apitoken_admin_io_t *io;
	cJSON *array;
};

static int
list_one(const apitoken_user_t *u, void *vctx)
{
	struct list_ctx *ctx = vctx;

	if (ctx->array != NULL) {
		cJSON *o = admin_user_json(u);

		if (o == NULL)
			return APITOKEN_ERR_NOMEM;
		if (!cJSON_AddItemToArray(ctx->array, o)) {
			cJSON_Delete(o);
			return APITOKEN_ERR_NOMEM;
		}
		return 0;
	}
	fprintf(ctx->io->out, "%-20s  %-30s  %-12s  %-3s  ", u->name, u->email,
	        u->role, u->api_access ? "on" : "off");
	print_units(ctx->io->out, u, ",");
	fputc('\n', ctx->io->out);
	return 0;
}

static int
cmd_list(apitoken_store_t *store, int argc, char **argv,
         const apitoken_admin_io_t *io)
{
	struct list_ctx ctx = {.io = io};
	const char *pos[1];
	size_t n_pos;
	int rc;

	rc = admin_parse_opts(io, "user list", argc, argv, 2, NULL, 0, pos, 0,
	                      &n_pos);
	if (rc != 0)
		return rc;
	if (io->json) {
		ctx.array = cJSON_CreateArray();
		if (ctx.array == NULL)
			return admin_print_json(io, NULL);
	} else {
		fprintf(io->out, "%-20s  %-30s  %-12s  %-3s  %s\n", "USER",
		        "EMAIL", "ROLE", "API", "BUSINESS_UNITS");
	}
	rc = apitoken_user_foreach(store, list_one, &ctx);
	if (rc < 0) {
		cJSON_Delete(ctx.array);
		return admin_fail(io, rc);
	}
	if (ctx.array != NULL)
		return admin_print_json(io, ctx.array);
	return EX_OK;
}

int
admin_cmd_user(apitoken_store_t *store, int argc, char **argv,
               const apitoken_admin_io_t *io, unsigned flags)
{
	/* "import" takes the run flags too, so it is run here; its entry
	 * only names it in the usage message. */
	static const struct admin_subcmd cmds[] = {
	    {"add", cmd_add},
	    {"set", cmd_set},
	    {"api-access", cmd_api_access},
	    {"remove", cmd_remove},
	    {"show", cmd_show},
	    {"list", cmd_list},
	    {"import", NULL},
	};

	if (argc >= 2 && strcmp(argv[1], "import") == 0)
		return admin_cmd_import(store, argc, argv, io, flags);
	return admin_dispatch(store, argc, argv, io, cmds,
	                      sizeof(cmds) / sizeof(cmds[0]));
}
