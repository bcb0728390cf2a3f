/*
 * Last use across regions.  Only the master writes the store, so a
 * replica's daemon used to keep the uses it saw in memory until it was
 * elected master: an admin at the master never saw them (`token list
 * --unused-for` listed tokens in daily use in another region), and the
 * replica's table grew with every token used there since it started.
 *
 * Now a replica sends its uses every last_used_interval to the master,
 * as a signed forwarded request (regions_forward.c) to POST
 * /_regions/uses; the master notes them as its own (so they are written
 * with its next flush, replicated back to every site, and the newest use
 * of a token wins wherever it was seen), the source naming the site.
 * Sent uses leave the replica's memory as written ones leave the
 * master's.  When the master cannot be reached, they stay and go with
 * the next interval.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/store_rep.h>

#include "regions.h"

static cJSON *
use_json(const apitoken_lastuse_item_t *it)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL || !cJSON_AddStringToObject(o, "id", it->id) ||
	    !cJSON_AddNumberToObject(o, "time", (double)it->u.time) ||
	    !cJSON_AddStringToObject(o, "source", it->u.source) ||
	    !cJSON_AddStringToObject(o, "client", it->u.client)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int
apitokend_regions_send_uses(struct apitokend *d,
                            const apitoken_lastuse_item_t *items, size_t n)
{
	static const char *const hdrs[] = {"Content-Type: application/json",
	                                   NULL};
	struct apitokend_fwd_reply rep;
	cJSON *a = cJSON_CreateArray(), *o;
	char *body = NULL;
	size_t i;
	int rc;

	for (i = 0; a != NULL && i < n; i++) {
		o = use_json(&items[i]);
		if (o == NULL || !cJSON_AddItemToArray(a, o)) {
			cJSON_Delete(o);
			cJSON_Delete(a);
			a = NULL;
		}
	}
	if (a != NULL)
		body = cJSON_PrintUnformatted(a);
	cJSON_Delete(a);
	if (body == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	rc = apitokend_forward(d, "POST", APITOKEND_REGIONS_USES_PATH, hdrs,
	                       "last use", body, strlen(body), &rep);
	free(body);
	if (rc == 1) /* this site became the master meanwhile */
		return apitoken_error(APITOKEN_ERR_UNAVAILABLE,
		                      "this site is the master now");
	if (rc != 0)
		return rc;
	if (rep.status != 200)
		rc = apitoken_error(APITOKEN_ERR_UNAVAILABLE,
		                    "the replication master answered %ld",
		                    rep.status);
	apitokend_fwd_reply_free(&rep);
	return rc;
}

enum MHD_Result
apitokend_regions_uses(struct apitokend *d, struct apitokend_req *r,
                       struct MHD_Connection *c, const char *method,
                       const char *body, size_t len)
{
	apitoken_lastuse_item_t *items = NULL;
	const char *site, *why = NULL;
	enum MHD_Result ret;
	char reply[64];
	size_t n = 0, i;

	if (strcmp(method, "POST") != 0)
		return apitokend_reply_error(
		    r, c, MHD_HTTP_METHOD_NOT_ALLOWED, "invalid_request",
		    "this endpoint accepts only POST", NULL);
	if (apitokend_regions_signed(d, r, c, method,
	                             APITOKEND_REGIONS_USES_PATH, body, len,
	                             &ret) != 0)
		return ret;
	if (apitoken_store_rep_role(d->store) != APITOKEN_REP_MASTER)
		return apitokend_reply_error(
		    r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "temporarily_unavailable",
		    "this site is not the replication master; retry", NULL);
	/* Signed, so the site is one of ours. */
	site =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Apitoken-Site");
	if (apitokend_uses_parse(body, len, site != NULL ? site : "?",
	                         apitoken_now(), &items, &n, &why) != 0)
		return why != NULL
		           ? apitokend_reply_error(r, c, MHD_HTTP_BAD_REQUEST,
		                                   "invalid_request", why,
		                                   NULL)
		           : MHD_NO;
	for (i = 0; i < n; i++)
		apitoken_lastuse_note(d->store, items[i].id, items[i].u.time,
		                      items[i].u.source, items[i].u.client);
	free(items);
	(void)snprintf(reply, sizeof(reply), "{\"noted\":%zu}", n);
	return apitokend_reply_json(r, c, MHD_HTTP_OK, reply, strlen(reply));
}
