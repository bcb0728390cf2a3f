/*
 * "apitokenctl key ...": the keys that sign introspection answers
 * (apitoken/signing.h).  Through apitokend these run inside the daemon,
 * which then loads the new keys at once (the admin socket's reload hook).
 */
#include "config.h"

#include <stdio.h>
#include <sysexits.h>

#include <apitoken/error.h>
#include <apitoken/signing.h>

#include "admin_int.h"

int
admin_init_signing_key(const apitoken_admin_io_t *io,
                       const apitoken_config_t *cfg)
{
	bool created = false;
	int rc = apitoken_signing_ensure(cfg, &created);

	if (rc < 0)
		return admin_fail(io, rc);
	if (created)
		fprintf(io->out, "created signing key %s/%s\n", cfg->store,
		        APITOKEN_SIGNING_KEY_FILE);
	return EX_OK;
}

static int
no_args(const apitoken_admin_io_t *io, const char *cmd, int argc)
{
	if (argc == 2)
		return 0;
	admin_errorf(io, "key %s: takes no arguments", cmd);
	return EX_USAGE;
}

static int
cmd_list(apitoken_store_t *store, int argc, char **argv,
         const apitoken_admin_io_t *io)
{
	const apitoken_config_t *cfg = apitoken_store_config(store);
	apitoken_signing_keys_t *k = NULL;
	cJSON *a;
	size_t i;
	int rc;

	(void)argv;
	rc = no_args(io, "list", argc);
	if (rc != 0)
		return rc;
	rc = apitoken_signing_load(cfg, &k);
	if (rc < 0)
		return admin_fail(io, rc);
	if (!io->json) {
		fprintf(io->out, "%-44s  %-8s  %s\n", "KID", "USE", "FILE");
		for (i = 0; i < k->n; i++)
			fprintf(io->out, "%-44s  %-8s  %s\n", k->kid[i],
			        i == 0 ? "signs" : "previous", k->path[i]);
		apitoken_signing_free(k);
		return EX_OK;
	}
	a = cJSON_CreateArray();
	for (i = 0; a != NULL && i < k->n; i++) {
		cJSON *o = cJSON_CreateObject();

		if (o == NULL ||
		    cJSON_AddStringToObject(o, "kid", k->kid[i]) == NULL ||
		    cJSON_AddStringToObject(
		        o, "use", i == 0 ? "signs" : "previous") == NULL ||
		    cJSON_AddStringToObject(o, "file", k->path[i]) == NULL) {
			cJSON_Delete(o);
			cJSON_Delete(a);
			a = NULL;
			break;
		}
		cJSON_AddItemToArray(a, o);
	}
	apitoken_signing_free(k);
	return admin_print_json(io, a);
}

static int
cmd_rotate(apitoken_store_t *store, int argc, char **argv,
           const apitoken_admin_io_t *io)
{
	char kid[APITOKEN_KID_MAX + 1];
	int rc;

	(void)argv;
	rc = no_args(io, "rotate", argc);
	if (rc != 0)
		return rc;
	rc = apitoken_signing_rotate(apitoken_store_config(store), kid);
	if (rc < 0)
		return admin_fail(io, rc);
	fprintf(io->out,
	        "new signing key %s; the previous one stays published until "
	        "\"apitokenctl key retire\"\n",
	        kid);
	return EX_OK;
}

static int
cmd_retire(apitoken_store_t *store, int argc, char **argv,
           const apitoken_admin_io_t *io)
{
	int rc;

	(void)argv;
	rc = no_args(io, "retire", argc);
	if (rc != 0)
		return rc;
	rc = apitoken_signing_retire(apitoken_store_config(store));
	if (rc < 0)
		return admin_fail(io, rc);
	fprintf(io->out, "previous signing key removed\n");
	return EX_OK;
}

int
admin_cmd_key(apitoken_store_t *store, int argc, char **argv,
              const apitoken_admin_io_t *io)
{
	static const struct admin_subcmd cmds[] = {
	    {"list", cmd_list},
	    {"rotate", cmd_rotate},
	    {"retire", cmd_retire},
	};

	return admin_dispatch(store, argc, argv, io, cmds,
	                      sizeof(cmds) / sizeof(cmds[0]));
}
