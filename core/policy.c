/* Scope computed from role and Business Units; see apitoken/policy.h. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apitoken/error.h>
#include <apitoken/policy.h>

#define BU_ID_MAX 64

bool
apitoken_bu_id_valid(const char *s)
{
	/*
	 * The prefix is checked by the config loader to be scope-token
	 * characters of at most 64 bytes, so a valid id of at most 64 bytes
	 * keeps "<prefix><id>" within the 128-byte scope-token cap.
	 */
	return s != NULL && strnlen(s, BU_ID_MAX + 1) <= BU_ID_MAX &&
	       apitoken_scope_token_valid(s);
}

/* Words already in the growing scope string, to drop duplicates. */
static bool
contains(char *const *list, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

int
apitoken_policy_scope(const apitoken_config_t *cfg, const char *role,
                      char *const *bus, size_t n_bus, char **scope_out)
{
	const apitoken_role_t *r = NULL;
	const char *prefix;
	char **words = NULL;
	char *out = NULL;
	size_t n_words = 0, n_alloc, total = 1, i;
	int rc = APITOKEN_ERR_NOMEM;

	if (scope_out == NULL)
		return apitoken_error(APITOKEN_ERR_INTERNAL,
		                      "policy: no output");
	*scope_out = NULL;
	if (cfg == NULL)
		return apitoken_error(APITOKEN_ERR_INTERNAL,
		                      "policy: no configuration");
	if (role != NULL)
		r = apitoken_config_role(cfg, role);
	prefix = cfg->bu_scope_prefix != NULL ? cfg->bu_scope_prefix : "";
	n_alloc = (r != NULL ? r->n_scopes : 0) + (bus != NULL ? n_bus : 0);
	words = calloc(n_alloc + 1, sizeof(*words));
	if (words == NULL)
		goto out;
	for (i = 0; r != NULL && i < r->n_scopes; i++) {
		if (contains(words, n_words, r->scopes[i]))
			continue;
		words[n_words] = strdup(r->scopes[i]);
		if (words[n_words] == NULL)
			goto out;
		total += strlen(words[n_words++]) + 1;
	}
	for (i = 0; bus != NULL && i < n_bus; i++) {
		char *w;

		/* The store validates ids; never let a bad one into a scope.
		 */
		if (!apitoken_bu_id_valid(bus[i]))
			continue;
		if (asprintf(&w, "%s%s", prefix, bus[i]) < 0)
			goto out;
		if (contains(words, n_words, w)) {
			free(w);
			continue;
		}
		words[n_words++] = w;
		total += strlen(w) + 1;
	}
	out = malloc(total);
	if (out == NULL)
		goto out;
	out[0] = '\0';
	for (i = 0; i < n_words; i++) {
		if (i > 0)
			strcat(out, " ");
		strcat(out, words[i]);
	}
	*scope_out = out;
	rc = 0;
out:
	for (i = 0; words != NULL && i < n_words; i++)
		free(words[i]);
	free(words);
	if (rc != 0)
		return apitoken_error(rc, "policy: out of memory");
	return 0;
}
