/*
 * The one rule for an e-mail address, shared by apitokenctl (which names
 * the bad field), the store (which refuses to keep one) and the mailer
 * (which writes it into a header): each accepts exactly what the others
 * accept.
 */
#include "config.h"

#include <string.h>

#include <apitoken/policy.h>
#include <apitoken/store.h>

bool
apitoken_email_valid(const char *email)
{
	const char *at = NULL, *p;

	if (email == NULL || strlen(email) > APITOKEN_EMAIL_MAX)
		return false;
	for (p = email; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		/* Printable ASCII: the mailer writes it into a header without
		 * SMTPUTF8.  The specials would let it break out of one. */
		if (c <= 0x20 || c >= 0x7f || strchr("<>\"(),;:\\[]", c))
			return false;
		if (c == '@') {
			if (at != NULL)
				return false;
			at = p;
		}
	}
	return at != NULL && at != email && at[1] != '\0';
}
