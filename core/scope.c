/*
 * Scope-token syntax and scope matching; see apitoken/policy.h.
 * Depends on nothing but libc: the PAM module compiles this file into
 * itself so that it need not link libapitoken.
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include <apitoken/policy.h>

#define SCOPE_TOKEN_MAX 128

static bool
scope_char(unsigned char c)
{
	/* RFC 6749 3.3: %x21 / %x23-5B / %x5D-7E (no '"', '\\', space). */
	return c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
	       (c >= 0x5d && c <= 0x7e);
}

bool
apitoken_scope_token_valid(const char *s)
{
	size_t i;

	if (s == NULL || *s == '\0')
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= SCOPE_TOKEN_MAX || !scope_char((unsigned char)s[i]))
			return false;
	return true;
}

/* true if the n bytes at tok are one of the space-separated words of s. */
static bool
has_word(const char *s, const char *tok, size_t n)
{
	while (s != NULL && *s != '\0') {
		size_t len;

		while (*s == ' ')
			s++;
		len = strcspn(s, " ");
		if (len == n && len > 0 && memcmp(s, tok, n) == 0)
			return true;
		s += len;
	}
	return false;
}

bool
apitoken_scope_satisfies(const char *scope, const char *required)
{
	const char *p = required;

	if (p == NULL)
		return true;
	while (*p != '\0') {
		size_t len;

		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (len > 0 && !has_word(scope, p, len))
			return false;
		p += len;
	}
	return true;
}
