/*
 * "apitokenctl token identify": whose is this token and what became of
 * it?  For an administrator who found a token in a log file or a
 * ticket.  The token is read from standard input, wiped after use, and
 * appears in no output, log or audit record.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include <openssl/crypto.h>

#include <apitoken/error.h>

#include "admin_int.h"

cJSON *
admin_last_use_json(const apitoken_last_use_t *u)
{
	cJSON *o;

	if (u->time == 0)
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	if (o == NULL)
		return NULL;
	if (cJSON_AddNumberToObject(o, "time", (double)u->time) == NULL ||
	    cJSON_AddStringToObject(o, "source", u->source) == NULL ||
	    cJSON_AddStringToObject(o, "client", u->client) == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

void
admin_last_use_text(const apitoken_last_use_t *u, char *buf, size_t len)
{
	char when[32];

	if (u->time == 0) {
		(void)snprintf(buf, len, "never seen");
		return;
	}
	admin_time_iso(u->time, when, sizeof(when));
	(void)snprintf(buf, len, "%s from %s (%s)", when,
	               u->source[0] != '\0' ? u->source : "-",
	               u->client[0] != '\0' ? u->client : "-");
}

static cJSON *
identity_json(const apitoken_identity_t *id)
{
	cJSON *o = cJSON_CreateObject(), *lu;
	bool known = id->state != APITOKEN_STATE_UNKNOWN;

	if (o == NULL)
		return NULL;
	if (cJSON_AddStringToObject(
	        o, "state", apitoken_token_state_name(id->state)) == NULL)
		goto fail;
	if (!known)
		return o;
	if (cJSON_AddStringToObject(o, "user", id->info.user) == NULL ||
	    cJSON_AddStringToObject(o, "id", id->info.id) == NULL ||
	    cJSON_AddStringToObject(o, "hint", id->info.hint) == NULL ||
	    cJSON_AddNumberToObject(o, "iat", (double)id->info.iat) == NULL ||
	    cJSON_AddNumberToObject(o, "exp", (double)id->info.exp) == NULL)
		goto fail;
	if (id->ended != 0 &&
	    (cJSON_AddNumberToObject(o, "ended", (double)id->ended) == NULL ||
	     cJSON_AddStringToObject(o, "ended_by", id->why) == NULL))
		goto fail;
	lu = admin_last_use_json(&id->last_use);
	if (lu == NULL)
		goto fail;
	cJSON_AddItemToObject(o, "last_use", lu);
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

int
admin_token_identify(apitoken_store_t *store, int argc, char **argv,
                     const apitoken_admin_io_t *io)
{
	apitoken_identity_t id;
	char line[ADMIN_TOKEN_LINE_MAX];
	char iat[32], exp[32], ended[32], last[160];
	int rc;

	(void)argv;
	if (argc > 2) {
		/* Say nothing about the argument: it may be a live token. */
		admin_errorf(io, "token identify: the token is read from "
		                 "standard input, never from the command line "
		                 "(other users can see arguments); use: "
		                 "apitokenctl token identify < FILE");
		return EX_USAGE;
	}
	if (admin_read_line(io->in, line, sizeof(line)) < 0) {
		OPENSSL_cleanse(line, sizeof(line));
		admin_errorf(io,
		             "token identify: no token on standard input "
		             "(expected one line of at most %d bytes)",
		             ADMIN_TOKEN_LINE_MAX - 1);
		return EX_DATAERR;
	}
	rc = apitoken_token_identify(store, line, strlen(line), apitoken_now(),
	                             &id);
	OPENSSL_cleanse(line, sizeof(line));
	if (rc < 0)
		return admin_fail(io, rc);
	if (io->json) {
		rc = admin_print_json(io, identity_json(&id));
		return rc == EX_OK && id.state == APITOKEN_STATE_UNKNOWN ? 1
		                                                         : rc;
	}
	fprintf(io->out, "state:     %s\n",
	        apitoken_token_state_name(id.state));
	if (id.state == APITOKEN_STATE_UNKNOWN)
		return 1;
	admin_time_iso(id.info.iat, iat, sizeof(iat));
	admin_time_iso(id.info.exp, exp, sizeof(exp));
	admin_last_use_text(&id.last_use, last, sizeof(last));
	fprintf(io->out, "user:      %s\n", id.info.user);
	fprintf(io->out, "token id:  %s\n", id.info.id);
	fprintf(io->out, "hint:      ...%s\n", id.info.hint);
	fprintf(io->out, "issued:    %s\n", iat);
	fprintf(io->out, "expires:   %s\n", exp);
	if (id.ended != 0) {
		admin_time_iso(id.ended, ended, sizeof(ended));
		fprintf(io->out, "ended:     %s (%s)\n", ended, id.why);
	}
	fprintf(io->out, "last use:  %s\n", last);
	return EX_OK;
}
