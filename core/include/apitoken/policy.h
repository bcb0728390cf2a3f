/*
 * apitoken: scope policy.
 *
 * What a token may do is computed when it is checked, never stored with it:
 * the scopes of the user's role (config "roles") plus one
 * "<business_unit_scope_prefix><unit>" per Business Unit of the user.
 * A role change therefore takes effect on the very next check.
 */
#ifndef APITOKEN_POLICY_H
#define APITOKEN_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <apitoken/config.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * true if s is a non-empty RFC 6749 section 3.3 scope-token:
 * 1*( %x21 / %x23-5B / %x5D-7E ), capped at 128 bytes.
 */
bool apitoken_scope_token_valid(const char *s);

/*
 * true if a Business Unit id is acceptable: a scope-token that stays one
 * after the prefix is added, at most 64 bytes.
 */
bool apitoken_bu_id_valid(const char *s);

/*
 * true if s is an acceptable e-mail address: at most APITOKEN_EMAIL_MAX
 * bytes of printable ASCII, one '@' with something on both sides, no
 * space and none of < > " ( ) , ; : \ [ ].  The one rule for apitokenctl,
 * the store and the mailer.
 */
bool apitoken_email_valid(const char *s);

/*
 * Compute the space-separated scope string for a user with role and the
 * n_bus units in bus (duplicates dropped, role scopes first in config order,
 * then units in the order given).  An unknown role contributes no scopes.
 * The caller frees *scope_out.  0 or APITOKEN_ERR_NOMEM.
 */
int apitoken_policy_scope(const apitoken_config_t *cfg, const char *role,
                          char *const *bus, size_t n_bus, char **scope_out);

/*
 * true if every space-separated scope-token of required appears in scope.
 * An empty or NULL required is always satisfied.
 */
bool apitoken_scope_satisfies(const char *scope, const char *required);

#ifdef __cplusplus
}
#endif
#endif /* APITOKEN_POLICY_H */
