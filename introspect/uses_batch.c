/*
 * A replica's batch of token uses (POST /_regions/uses, regions_uses.c),
 * parsed and checked on its own so that it can be fuzzed
 * (tests/fuzz/fuzz_uses_batch.c): a JSON array of at most
 * APITOKEND_REGIONS_USES_MAX objects {"id", "time", "source", "client"}.
 * All or nothing: one bad use refuses the batch.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include <apitoken/token.h>

#include "regions.h"

/* A use may be stamped this far ahead of the master's clock (clocks of
 * sites differ a little; more is refused as made up). */
#define USES_SKEW 300

/* One use from a site, checked; 0 or -1 with why set. */
static int
use_parse(const cJSON *o, const char *site, int64_t now,
          apitoken_lastuse_item_t *it, const char **why)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "time");
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(o, "source");
	const cJSON *cli = cJSON_GetObjectItemCaseSensitive(o, "client");

	if (!cJSON_IsObject(o) || !cJSON_IsString(id) || !cJSON_IsNumber(t) ||
	    !cJSON_IsString(src) || !cJSON_IsString(cli)) {
		*why = "each use is an object with id, time, source, client";
		return -1;
	}
	if (strlen(id->valuestring) != APITOKEN_ID_LEN ||
	    !apitoken_token_id_valid(id->valuestring)) {
		*why = "malformed token id";
		return -1;
	}
	if (t->valuedouble < 1 || t->valuedouble > (double)(now + USES_SKEW) ||
	    t->valuedouble != (double)(int64_t)t->valuedouble) {
		*why = "time out of range";
		return -1;
	}
	if (strlen(src->valuestring) >= sizeof(it->u.source) ||
	    strlen(cli->valuestring) >= sizeof(it->u.client)) {
		*why = "source or client too long";
		return -1;
	}
	memcpy(it->id, id->valuestring, APITOKEN_ID_LEN + 1);
	it->u.time = (int64_t)t->valuedouble;
	/* Shown as "ADDRESS at SITE": where it was used, and in which
	 * region.  Cut to the field, as any source is. */
	(void)snprintf(it->u.source, sizeof(it->u.source), "%s at %s",
	               src->valuestring, site);
	(void)snprintf(it->u.client, sizeof(it->u.client), "%s",
	               cli->valuestring);
	return 0;
}

int
apitokend_uses_parse(const char *body, size_t len, const char *site,
                     int64_t now, apitoken_lastuse_item_t **items_out,
                     size_t *n_out, const char **why)
{
	apitoken_lastuse_item_t *items = NULL;
	cJSON *a, *o;
	size_t n, i = 0;

	*items_out = NULL;
	*n_out = 0;
	*why = NULL;
	a = cJSON_ParseWithLength(body, len);
	if (!cJSON_IsArray(a) ||
	    (n = (size_t)cJSON_GetArraySize(a)) > APITOKEND_REGIONS_USES_MAX) {
		*why = "expected a JSON array of at most 2000 uses";
		goto fail;
	}
	items = calloc(n > 0 ? n : 1, sizeof(*items));
	if (items == NULL)
		goto fail; /* no why: out of memory */
	cJSON_ArrayForEach(o, a)
	{
		if (use_parse(o, site, now, &items[i], why) != 0)
			goto fail;
		i++;
	}
	cJSON_Delete(a);
	*items_out = items;
	*n_out = n;
	return 0;
fail:
	cJSON_Delete(a);
	free(items);
	return -1;
}
