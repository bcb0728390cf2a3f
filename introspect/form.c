/*
 * apitokend: the pure parsers of a request's credentials, apart from the
 * connection so that they can be fuzzed on their own (tests/fuzz/): the
 * application/x-www-form-urlencoded body of /introspect and /revoke, and
 * the base64 "id:secret" of client_secret_basic (RFC 6749 2.3.1).
 */
#include "config.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "apitokend.h"

static int
hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * Every byte is kept, a raw or escaped NUL too, and the length returned
 * is the real one: a value is taken whole or refused by its user (a
 * token with a NUL is malformed, an id with one unknown), never cut at
 * the NUL.  MHD_http_unescape() stops at the first NUL, so it cannot be
 * used here.  A '%' not followed by two hex digits stays as it is.
 */
size_t
apitokend_form_decode(char *s, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '+') {
			s[o++] = ' ';
		} else if (s[i] == '%' && i + 2 < len &&
		           hex_value(s[i + 1]) >= 0 &&
		           hex_value(s[i + 2]) >= 0) {
			s[o++] = (char)(hex_value(s[i + 1]) << 4 |
			                hex_value(s[i + 2]));
			i += 2;
		} else {
			s[o++] = s[i];
		}
	}
	s[o] = '\0';
	return o;
}

/*
 * Split the body into key=value pairs and decode them in place.  Repeated
 * parameters are counted: RFC 6749 section 3.2 forbids them and a second
 * "token" must not go unnoticed.  Unknown parameters (token_type_hint
 * among them: it never changes the answer) are ignored.
 */
void
apitokend_form_parse(char *body, size_t len, struct apitokend_form *f)
{
	char *p, *end, *amp, *eq;
	size_t klen, vlen;

	memset(f, 0, sizeof(*f));
	if (len == 0)
		return;
	p = body;
	end = body + len;
	*end = '\0';
	while (p < end) {
		amp = memchr(p, '&', (size_t)(end - p));
		if (amp == NULL)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq == NULL)
			eq = amp;
		klen = apitokend_form_decode(p, (size_t)(eq - p));
		if (eq < amp)
			vlen = apitokend_form_decode(eq + 1,
			                             (size_t)(amp - eq - 1));
		else
			vlen = 0;
		if (klen == 5 && memcmp(p, "token", 5) == 0) {
			f->token = eq < amp ? eq + 1 : "";
			f->token_len = vlen;
			f->n_token++;
		} else if (klen == 9 && memcmp(p, "client_id", 9) == 0) {
			f->client_id = eq < amp ? eq + 1 : "";
			f->client_id_len = vlen;
			f->n_client_id++;
		} else if (klen == 13 && memcmp(p, "client_secret", 13) == 0) {
			f->client_secret = eq < amp ? eq + 1 : "";
			f->client_secret_len = vlen;
			f->n_client_secret++;
		}
		p = amp + 1;
	}
}

int
apitokend_basic_decode(const char *b64, unsigned char buf[APITOKEND_BASIC_MAX],
                       size_t *wipe_out, const char **id_out,
                       const char **secret_out, size_t *secret_len_out)
{
	size_t len = strlen(b64), pad = 0, id_len;
	char *colon;
	int n;

	*wipe_out = 0;
	while (len > 0 && b64[len - 1] == ' ')
		len--;
	if (len == 0 || len % 4 != 0 || len > APITOKEND_BASIC_MAX - 4)
		return -1;
	n = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)len);
	if (n < 0) {
		/* It may have decoded part of a secret before failing. */
		OPENSSL_cleanse(buf, APITOKEND_BASIC_MAX);
		return -1;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	if (b64[len - 1] == '=')
		pad++;
	if (b64[len - 2] == '=')
		pad++;
	n -= (int)pad;
	buf[n] = '\0';
	/* Only the decoded bytes (and the NUL) ever held the secret. */
	*wipe_out = (size_t)n + 1;
	colon = memchr(buf, ':', (size_t)n);
	if (colon == NULL)
		return -1;
	*colon = '\0';
	id_len =
	    apitokend_form_decode((char *)buf, (size_t)(colon - (char *)buf));
	*secret_len_out = apitokend_form_decode(
	    colon + 1, (size_t)n - (size_t)(colon + 1 - (char *)buf));
	/* An id with an embedded NUL cannot be a registered one. */
	if (id_len == 0 || strlen((char *)buf) != id_len)
		return -1;
	*id_out = (const char *)buf;
	*secret_out = colon + 1;
	return 0;
}
