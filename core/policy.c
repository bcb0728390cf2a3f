/* Scope computed from role and Business Units; see apitoken/policy.h. */
#include "config.h"

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

/* A word of the scope being built: len bytes at off in the output. */
struct word {
	size_t off, len;
};

#define WORDS_STACK 32

/*
 * true if a followed by b (alen + blen bytes) is already one of the n
 * words of out: duplicates are dropped without building the candidate.
 */
static bool
contains(const char *out, const struct word *w, size_t n, const char *a,
         size_t alen, const char *b, size_t blen)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (w[i].len == alen + blen &&
		    memcmp(out + w[i].off, a, alen) == 0 &&
		    memcmp(out + w[i].off + alen, b, blen) == 0)
			return true;
	return false;
}

/* Append a followed by b to out at *len as a new word. */
static void
append(char *out, size_t *len, struct word *w, size_t *n, const char *a,
       size_t alen, const char *b, size_t blen)
{
	if (*n > 0)
		out[(*len)++] = ' ';
	w[*n].off = *len;
	w[*n].len = alen + blen;
	memcpy(out + *len, a, alen);
	memcpy(out + *len + alen, b, blen);
	*len += alen + blen;
	(*n)++;
}

/*
 * Runs on every active token check: one allocation (the result) for the
 * usual handful of words, no copies of words that turn out duplicates.
 */
int
apitoken_policy_scope(const apitoken_config_t *cfg, const char *role,
                      char *const *bus, size_t n_bus, char **scope_out)
{
	const apitoken_role_t *r = NULL;
	const char *prefix;
	struct word stack[WORDS_STACK], *words = stack;
	char *out = NULL;
	size_t n_words = 0, n_alloc, total = 1, len = 0, plen, i;
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
	if (bus == NULL)
		n_bus = 0;
	prefix = cfg->bu_scope_prefix != NULL ? cfg->bu_scope_prefix : "";
	plen = strlen(prefix);
	n_alloc = (r != NULL ? r->n_scopes : 0) + n_bus;
	if (n_alloc > WORDS_STACK) {
		words = calloc(n_alloc, sizeof(*words));
		if (words == NULL)
			goto out;
	}
	/* An upper bound: every word kept, each with its separator. */
	for (i = 0; r != NULL && i < r->n_scopes; i++)
		total += strlen(r->scopes[i]) + 1;
	for (i = 0; i < n_bus; i++)
		if (bus[i] != NULL)
			total += plen + strnlen(bus[i], BU_ID_MAX + 1) + 1;
	out = malloc(total);
	if (out == NULL)
		goto out;
	for (i = 0; r != NULL && i < r->n_scopes; i++) {
		const char *sc = r->scopes[i];
		size_t sl = strlen(sc);

		if (!contains(out, words, n_words, sc, sl, "", 0))
			append(out, &len, words, &n_words, sc, sl, "", 0);
	}
	for (i = 0; i < n_bus; i++) {
		size_t bl;

		/* The store validates ids; never let a bad one into a scope.
		 */
		if (!apitoken_bu_id_valid(bus[i]))
			continue;
		bl = strlen(bus[i]);
		if (!contains(out, words, n_words, prefix, plen, bus[i], bl))
			append(out, &len, words, &n_words, prefix, plen,
			       bus[i], bl);
	}
	out[len] = '\0';
	*scope_out = out;
	rc = 0;
out:
	if (words != stack)
		free(words);
	if (rc != 0)
		return apitoken_error(rc, "policy: out of memory");
	return 0;
}
