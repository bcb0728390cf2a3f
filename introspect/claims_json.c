/*
 * apitokend: the RFC 7662 introspection object.  POST /introspect and the
 * local socket both build their answer here, so the two cannot drift.
 */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "apitokend.h"

/*
 * Integers as raw JSON: cJSON's number printer goes through a double,
 * sprintf("%1.15g") and a sscanf round-trip check, a measurable share of
 * an introspection; a decimal integer needs none of that.
 */
static char *
int64_text(int64_t v, char buf[24])
{
	char *p = buf + 23;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	*p = '\0';
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	return p;
}

/*
 * The object is built once per thread and shape (with or without
 * client_id) and kept: its nodes are string references (cJSON neither
 * copies nor frees them), so an answer only points them at this token's
 * claims, prints, and points them back at "".  Building and deleting the
 * 14 nodes was a third of the JSON cost of an introspection.  MHD workers
 * and local-socket threads each get their own objects: no lock.
 */
enum member {
	M_SCOPE,
	M_USERNAME,
	M_SUB,
	M_TOKEN_TYPE,
	M_EXP,
	M_IAT,
	M_ISS,
	M_AUD,
	M_JTI,
	M_CLIENT_ID,
	M_ROLE,
	M_COUNT
};

/* RFC 7662 order as before; "active" comes first, "business_units" last. */
static const char *const member_name[M_COUNT] = {
    "scope", "username", "sub", "token_type", "exp", "iat",
    "iss",   "aud",      "jti", "client_id",  "role"};

struct shape {
	cJSON *o; /* NULL until built */
	cJSON *v[M_COUNT];
	cJSON *bus;
};

struct shapes {
	struct shape s[2]; /* [1]: with client_id */
};

static pthread_key_t shapes_key;
static pthread_once_t shapes_once = PTHREAD_ONCE_INIT;
static bool shapes_ok;

static void
shapes_free(void *p)
{
	struct shapes *sh = p;

	cJSON_Delete(sh->s[0].o);
	cJSON_Delete(sh->s[1].o);
	free(sh);
}

static void
shapes_init(void)
{
	shapes_ok = pthread_key_create(&shapes_key, shapes_free) == 0;
}

static int
shape_build(struct shape *sh, bool with_client)
{
	cJSON *o, *t;
	int i;

	o = cJSON_CreateObject();
	if (o == NULL)
		return -1;
	t = cJSON_CreateTrue();
	if (t == NULL || !cJSON_AddItemToObjectCS(o, "active", t)) {
		cJSON_Delete(t);
		goto fail;
	}
	for (i = 0; i < M_COUNT; i++) {
		cJSON *v;

		sh->v[i] = NULL;
		if (i == M_CLIENT_ID && !with_client)
			continue;
		v = cJSON_CreateStringReference("");
		if (v == NULL)
			goto fail;
		/*
		 * A decimal integer printed as is (see int64_text).  Before
		 * adding: that sets cJSON_StringIsConst on the node.
		 */
		if (i == M_EXP || i == M_IAT)
			v->type = cJSON_Raw | cJSON_IsReference;
		if (!cJSON_AddItemToObjectCS(o, member_name[i], v)) {
			cJSON_Delete(v);
			goto fail;
		}
		sh->v[i] = v;
	}
	sh->bus = cJSON_CreateArray();
	if (sh->bus == NULL ||
	    !cJSON_AddItemToObjectCS(o, "business_units", sh->bus)) {
		cJSON_Delete(sh->bus);
		goto fail;
	}
	sh->o = o;
	return 0;
fail:
	cJSON_Delete(o);
	sh->o = NULL;
	return -1;
}

/* This thread's object of the shape, built on first use; NULL on failure. */
static struct shape *
shape_get(bool with_client)
{
	struct shapes *sh;

	(void)pthread_once(&shapes_once, shapes_init);
	if (!shapes_ok)
		return NULL;
	sh = pthread_getspecific(shapes_key);
	if (sh == NULL) {
		sh = calloc(1, sizeof(*sh));
		if (sh == NULL)
			return NULL;
		if (pthread_setspecific(shapes_key, sh) != 0) {
			free(sh);
			return NULL;
		}
	}
	if (sh->s[with_client].o == NULL &&
	    shape_build(&sh->s[with_client], with_client) != 0)
		return NULL;
	return &sh->s[with_client];
}

/* Exactly n string nodes in the array, all pointing at "". */
static int
bus_resize(cJSON *bus, size_t n)
{
	size_t have = (size_t)cJSON_GetArraySize(bus);

	while (have > n) {
		cJSON_DeleteItemFromArray(bus, (int)--have);
	}
	while (have < n) {
		cJSON *s = cJSON_CreateStringReference("");

		if (s == NULL || !cJSON_AddItemToArray(bus, s)) {
			cJSON_Delete(s);
			return -1;
		}
		have++;
	}
	return 0;
}

/* Point every value back at "": the claims are freed after the answer. */
static void
shape_reset(struct shape *sh)
{
	cJSON *c;
	int i;

	for (i = 0; i < M_COUNT; i++)
		if (sh->v[i] != NULL)
			sh->v[i]->valuestring = (char *)"";
	for (c = sh->bus->child; c != NULL; c = c->next)
		c->valuestring = (char *)"";
}

/* Print o into a malloc'ed string. */
static char *
print(cJSON *o)
{
	/*
	 * Printed on the stack first: cJSON_PrintUnformatted() starts at 256
	 * bytes and grows by realloc, then shrinks to fit; an active answer
	 * is about 300 bytes.  A bigger one (many business units) still
	 * gets printed, the slow way.
	 */
	char buf[1024];
	char *text;
	size_t len;

	if (!cJSON_PrintPreallocated(o, buf, (int)sizeof(buf), 0))
		return cJSON_PrintUnformatted(o);
	len = strlen(buf);
	text = malloc(len + 1);
	if (text != NULL)
		memcpy(text, buf, len + 1);
	return text;
}

char *
apitokend_claims_json(const apitoken_claims_t *cl,
                      const apitoken_config_t *cfg, const char *client_id)
{
	const char *val[M_COUNT];
	struct shape local, *sh;
	char *text = NULL, num[2][24];
	cJSON *c;
	size_t i;

	if (!cl->active)
		return strdup(APITOKEND_INACTIVE);
	val[M_SCOPE] = cl->scope != NULL ? cl->scope : "";
	val[M_USERNAME] = cl->username;
	val[M_SUB] = cl->username;
	val[M_TOKEN_TYPE] = "Bearer";
	val[M_EXP] = int64_text(cl->exp, num[0]);
	val[M_IAT] = int64_text(cl->iat, num[1]);
	val[M_ISS] = cfg->issuer;
	val[M_AUD] = cfg->audience;
	val[M_JTI] = cl->jti;
	val[M_CLIENT_ID] = client_id;
	val[M_ROLE] = cl->role != NULL ? cl->role : "";
	/* As cJSON_AddStringToObject() did: no value, no object. */
	for (i = 0; i < M_COUNT; i++)
		if (val[i] == NULL && i != M_CLIENT_ID)
			return NULL;
	for (i = 0; i < cl->n_bus; i++)
		if (cl->bus[i] == NULL)
			return NULL;

	sh = shape_get(client_id != NULL);
	if (sh == NULL) {
		/* No thread-local storage: build one for this answer. */
		sh = &local;
		if (shape_build(sh, client_id != NULL) != 0)
			return NULL;
	}
	if (bus_resize(sh->bus, cl->n_bus) != 0)
		goto out;
	for (i = 0; i < M_COUNT; i++)
		if (sh->v[i] != NULL)
			sh->v[i]->valuestring = (char *)val[i];
	for (c = sh->bus->child, i = 0; c != NULL; c = c->next, i++)
		c->valuestring = cl->bus[i];
	text = print(sh->o);
out:
	shape_reset(sh);
	if (sh == &local)
		cJSON_Delete(local.o);
	return text;
}
