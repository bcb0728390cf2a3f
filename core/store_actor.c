/*
 * Who made a change: audit event names, actors, and the older write
 * functions that take a free-text origin, kept as wrappers so that code
 * written against them goes on working (their records say actor "other").
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <apitoken/error.h>

#include "store_int.h"

/* Stored on disk by these names: never rename one. */
static const char *const event_names[APITOKEN_AUDIT_EVENT_COUNT] = {
    [APITOKEN_AUDIT_OTHER] = NULL,
    [APITOKEN_AUDIT_USER_ADDED] = "user-added",
    [APITOKEN_AUDIT_USER_CHANGED] = "user-changed",
    [APITOKEN_AUDIT_USER_DISABLED] = "user-disabled",
    [APITOKEN_AUDIT_USER_ENABLED] = "user-enabled",
    [APITOKEN_AUDIT_USER_REMOVED] = "user-removed",
    [APITOKEN_AUDIT_ISSUED] = "issued",
    [APITOKEN_AUDIT_REPLACED] = "replaced",
    [APITOKEN_AUDIT_REVOKED] = "revoked",
    [APITOKEN_AUDIT_EXPIRED] = "expired",
    [APITOKEN_AUDIT_CLIENT_ADDED] = "client-added",
    [APITOKEN_AUDIT_CLIENT_REMOVED] = "client-removed",
    [APITOKEN_AUDIT_NOTICE_UNDELIVERABLE] = "notice-undeliverable",
    [APITOKEN_AUDIT_LEAK_REPORTED] = "leak-reported",
    [APITOKEN_AUDIT_NOTICE_DROPPED] = "notice-dropped",
};

static const char *const actor_names[] = {
    [APITOKEN_ACTOR_OTHER] = "other",   [APITOKEN_ACTOR_SYSTEM] = "system",
    [APITOKEN_ACTOR_ADMIN] = "admin",   [APITOKEN_ACTOR_USER] = "user",
    [APITOKEN_ACTOR_CLIENT] = "client",
};

const char *
apitoken_audit_event_name(apitoken_audit_event_t ev)
{
	if ((int)ev <= 0 || ev >= APITOKEN_AUDIT_EVENT_COUNT)
		return NULL;
	return event_names[ev];
}

apitoken_audit_event_t
apitoken_audit_event_parse(const char *name)
{
	int i;

	for (i = 1; name != NULL && i < APITOKEN_AUDIT_EVENT_COUNT; i++) {
		if (strcmp(event_names[i], name) == 0)
			return (apitoken_audit_event_t)i;
	}
	return APITOKEN_AUDIT_OTHER;
}

const char *
apitoken_actor_kind_name(apitoken_actor_kind_t kind)
{
	if ((int)kind < 0 ||
	    (size_t)kind >= sizeof(actor_names) / sizeof(actor_names[0]))
		return "other";
	return actor_names[kind];
}

int
apitoken_actor_kind_parse(const char *name)
{
	size_t i;

	for (i = 0;
	     name != NULL && i < sizeof(actor_names) / sizeof(*actor_names);
	     i++) {
		if (strcmp(actor_names[i], name) == 0)
			return (int)i;
	}
	return -1;
}

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

void
apitoken_actor_describe(const apitoken_actor_t *actor, char *buf, size_t size)
{
	const char *id, *src;
	int n;

	if (size == 0)
		return;
	if (actor == NULL) {
		(void)snprintf(buf, size, "unknown");
		return;
	}
	id = nz(actor->id);
	src = nz(actor->source);
	switch (actor->kind) {
	case APITOKEN_ACTOR_ADMIN:
		n = snprintf(buf, size, "admin uid %s", id);
		break;
	case APITOKEN_ACTOR_OTHER:
		/* The origin string of the older API, as given. */
		n = snprintf(buf, size, "%s", *id != '\0' ? id : "unknown");
		break;
	default:
		n = snprintf(buf, size, "%s%s%s",
		             apitoken_actor_kind_name(actor->kind),
		             *id != '\0' ? " " : "", id);
		break;
	}
	if (n >= 0 && (size_t)n < size && *src != '\0')
		(void)snprintf(buf + n, size - (size_t)n, " (%s)", src);
}

/* ---- the origin-string API ------------------------------------------- */

#define ORIGIN_ACTOR(origin)                                                  \
	(&(const apitoken_actor_t){.kind = APITOKEN_ACTOR_OTHER,              \
	                           .id = (origin)})

int
apitoken_user_add(apitoken_store_t *store, const apitoken_user_t *user,
                  const char *origin)
{
	return apitoken_user_add_as(store, user, ORIGIN_ACTOR(origin));
}

int
apitoken_user_add_batch(apitoken_store_t *store, const apitoken_user_t *users,
                        size_t n, const char *origin, int *results,
                        char **errors_out)
{
	return apitoken_user_add_batch_as(
	    store, users, n, ORIGIN_ACTOR(origin), results, errors_out);
}

int
apitoken_user_update(apitoken_store_t *store, const char *name,
                     const apitoken_user_change_t *change, const char *origin)
{
	return apitoken_user_update_as(store, name, change,
	                               ORIGIN_ACTOR(origin));
}

int
apitoken_user_remove(apitoken_store_t *store, const char *name,
                     const char *origin)
{
	return apitoken_user_remove_as(store, name, ORIGIN_ACTOR(origin));
}

int
apitoken_token_issue(apitoken_store_t *store, const char *user, unsigned flags,
                     const char *origin,
                     char token_out[APITOKEN_TOKEN_LEN + 1],
                     apitoken_token_info_t *info_out)
{
	return apitoken_token_issue_as(
	    store, user, flags, ORIGIN_ACTOR(origin), token_out, info_out);
}

int
apitoken_token_revoke(apitoken_store_t *store, const char *user,
                      const char *origin, apitoken_token_info_t *info_out)
{
	return apitoken_token_revoke_as(store, user, ORIGIN_ACTOR(origin),
	                                info_out);
}

int
apitoken_token_revoke_secret(apitoken_store_t *store, const char *token,
                             size_t len, const char *only_user,
                             const char *origin,
                             apitoken_token_info_t *info_out)
{
	return apitoken_token_revoke_secret_as(store, token, len, only_user,
	                                       APITOKEN_AUDIT_REVOKED,
	                                       ORIGIN_ACTOR(origin), info_out);
}

int
apitoken_client_add(apitoken_store_t *store, const char *id, const char *name,
                    unsigned flags, const char *origin,
                    char secret_out[APITOKEN_TOKEN_LEN + 1])
{
	return apitoken_client_add_as(store, id, name, flags,
	                              ORIGIN_ACTOR(origin), secret_out);
}

int
apitoken_client_remove(apitoken_store_t *store, const char *id,
                       const char *origin)
{
	return apitoken_client_remove_as(store, id, ORIGIN_ACTOR(origin));
}
