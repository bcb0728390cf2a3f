/*
 * "apitokenctl client ...": resource servers allowed to call
 * introspection.  The client secret is printed once by "client add".
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <openssl/crypto.h>

#include <apitoken/error.h>

#include "admin_int.h"

#define CLIENT_NAME_MAX 200

static bool
client_id_valid(const char *id)
{
	size_t len = strlen(id);

	if (len == 0 || len > APITOKEN_CLIENT_ID_MAX)
		return false;
	return strspn(id,
	              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	              "0123456789._-") == len;
}

static bool
client_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len > CLIENT_NAME_MAX)
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return false;
	}
	return true;
}

static int
id_arg(const apitoken_admin_io_t *io, const char *cmd, size_t n_pos,
       const char *id)
{
	if (n_pos != 1) {
		admin_errorf(io, "%s: missing CLIENT_ID", cmd);
		return EX_USAGE;
	}
	if (!client_id_valid(id)) {
		admin_errorf(io,
		             "invalid client id '%.80s' (1 to %d of A-Z "
		             "a-z 0-9 . _ -)",
		             id, APITOKEN_CLIENT_ID_MAX);
		return EX_DATAERR;
	}
	return 0;
}

static int
print_client_secret(const apitoken_admin_io_t *io, const char *id,
                    const char *secret)
{
	cJSON *o;

	if (!io->json) {
		fprintf(io->out, "%s\n", secret);
		fflush(io->out);
		admin_errorf(io,
		             "client %s added; its secret is shown only "
		             "this once",
		             id);
		return EX_OK;
	}
	o = cJSON_CreateObject();
	if (o != NULL && cJSON_AddStringToObject(o, "client_id", id) == NULL) {
		cJSON_Delete(o);
		o = NULL;
	}
	return admin_print_json_secret(io, o, "client_secret", secret);
}

static int
cmd_add(apitoken_store_t *store, int argc, char **argv,
        const apitoken_admin_io_t *io)
{
	apitoken_actor_t ab;
	const char *name = NULL, *pos[1];
	bool can_revoke = false, can_leaks = false, can_manage = false;
	const struct admin_opt opts[] = {
	    {"--name", ADMIN_OPT_STRING, &name},
	    {"--can-revoke", ADMIN_OPT_FLAG, &can_revoke},
	    {"--can-report-leaks", ADMIN_OPT_FLAG, &can_leaks},
	    {"--can-manage", ADMIN_OPT_FLAG, &can_manage},
	};
	char secret[APITOKEN_TOKEN_LEN + 1];
	size_t n_pos;
	int rc;

	rc = admin_parse_opts(io, "client add", argc, argv, 2, opts,
	                      sizeof(opts) / sizeof(opts[0]), pos, 1, &n_pos);
	if (rc != 0)
		return rc;
	rc = id_arg(io, "client add", n_pos, pos[0]);
	if (rc != 0)
		return rc;
	if (name != NULL && !client_name_valid(name)) {
		admin_errorf(io,
		             "client add: --name must be at most %d "
		             "printable characters",
		             CLIENT_NAME_MAX);
		return EX_DATAERR;
	}
	rc = apitoken_client_add_as(
	    store, pos[0], name != NULL ? name : "",
	    (can_revoke ? APITOKEN_CLIENT_CAN_REVOKE : 0) |
	        (can_leaks ? APITOKEN_CLIENT_CAN_REPORT_LEAKS : 0) |
	        (can_manage ? APITOKEN_CLIENT_CAN_MANAGE : 0),
	    admin_actor(io, &ab), secret);
	if (rc < 0)
		return admin_fail(io, rc);
	rc = print_client_secret(io, pos[0], secret);
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}

static int
cmd_remove(apitoken_store_t *store, int argc, char **argv,
           const apitoken_admin_io_t *io)
{
	apitoken_actor_t ab;
	const char *pos[1];
	size_t n_pos;
	int rc;

	rc = admin_parse_opts(io, "client remove", argc, argv, 2, NULL, 0, pos,
	                      1, &n_pos);
	if (rc != 0)
		return rc;
	rc = id_arg(io, "client remove", n_pos, pos[0]);
	if (rc != 0)
		return rc;
	rc = apitoken_client_remove_as(store, pos[0], admin_actor(io, &ab));
	if (rc < 0)
		return admin_fail(io, rc);
	fprintf(io->out, "removed client %s\n", pos[0]);
	return EX_OK;
}

struct list_ctx {
	const apitoken_admin_io_t *io;
	cJSON *array;
};

static int
list_one(const apitoken_client_t *c, void *vctx)
{
	struct list_ctx *ctx = vctx;
	bool can_revoke = (c->flags & APITOKEN_CLIENT_CAN_REVOKE) != 0;
	bool can_manage = (c->flags & APITOKEN_CLIENT_CAN_MANAGE) != 0;
	char created[32];

	if (ctx->array != NULL) {
		cJSON *o = cJSON_CreateObject();

		if (o == NULL)
			return APITOKEN_ERR_NOMEM;
		if (!cJSON_AddItemToArray(ctx->array, o)) {
			cJSON_Delete(o);
			return APITOKEN_ERR_NOMEM;
		}
		if (cJSON_AddStringToObject(o, "client_id", c->id) == NULL ||
		    cJSON_AddStringToObject(
		        o, "name", c->name != NULL ? c->name : "") == NULL ||
		    cJSON_AddBoolToObject(o, "can_revoke", can_revoke) ==
		        NULL ||
		    cJSON_AddBoolToObject(
		        o, "can_report_leaks",
		        (c->flags & APITOKEN_CLIENT_CAN_REPORT_LEAKS) != 0) ==
		        NULL ||
		    cJSON_AddBoolToObject(o, "can_manage", can_manage) ==
		        NULL ||
		    cJSON_AddNumberToObject(o, "created",
		                            (double)c->created) == NULL)
			return APITOKEN_ERR_NOMEM;
		return 0;
	}
	admin_time_iso(c->created, created, sizeof(created));
	fprintf(ctx->io->out, "%-24s  %-10s  %-10s  %-20s  %s\n", c->id,
	        can_revoke ? "yes" : "no", can_manage ? "yes" : "no", created,
	        c->name != NULL && *c->name != '\0' ? c->name : "-");
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

	rc = admin_parse_opts(io, "client list", argc, argv, 2, NULL, 0, pos,
	                      0, &n_pos);
	if (rc != 0)
		return rc;
	if (io->json) {
		ctx.array = cJSON_CreateArray();
		if (ctx.array == NULL)
			return admin_print_json(io, NULL);
	} else {
		fprintf(io->out, "%-24s  %-10s  %-10s  %-20s  %s\n",
		        "CLIENT_ID", "CAN_REVOKE", "CAN_MANAGE", "CREATED",
		        "NAME");
	}
	rc = apitoken_client_foreach(store, list_one, &ctx);
	if (rc < 0) {
		cJSON_Delete(ctx.array);
		return admin_fail(io, rc);
	}
	if (ctx.array != NULL)
		return admin_print_json(io, ctx.array);
	return EX_OK;
}

int
admin_cmd_client(apitoken_store_t *store, int argc, char **argv,
                 const apitoken_admin_io_t *io)
{
	static const struct admin_subcmd cmds[] = {
	    {"add", cmd_add},
	    {"remove", cmd_remove},
	    {"list", cmd_list},
	};

	return admin_dispatch(store, argc, argv, io, cmds,
	                      sizeof(cmds) / sizeof(cmds[0]));
}
