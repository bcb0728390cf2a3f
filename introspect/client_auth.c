/*
 * apitokend: client authentication for /introspect and /revoke (RFC 6749
 * section 2.3.1): client_secret_basic, whose id and secret are each
 * form-urlencoded before base64, or client_secret_post.  Unknown client and
 * wrong secret look the same from outside: apitoken_client_authenticate()
 * does the same work for both and we answer both alike.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/store.h>

#include "apitokend.h"
#include "metrics.h"

/* Longest base64 credential we decode: id (64) and a secret, encoded. */
#define BASIC_MAX 1024

size_t
apitokend_form_decode(char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] == '+')
			s[i] = ' ';
	/* MHD_http_unescape works on a NUL-terminated string. */
	s[len] = '\0';
	return MHD_http_unescape(s);
}

static const char *
authorization(struct MHD_Connection *c)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					   MHD_HTTP_HEADER_AUTHORIZATION);
}

const char *
apitokend_bearer(struct MHD_Connection *c, size_t *len_out)
{
	const char *h = authorization(c);

	*len_out = 0;
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	*len_out = strlen(h);
	while (*len_out > 0 && h[*len_out - 1] == ' ')
		(*len_out)--;
	return h;
}

static enum apitokend_auth
authenticate(struct apitokend *d, const char *id, const char *secret,
	     size_t secret_len, apitoken_client_t **client_out)
{
	int rc;

	rc = apitoken_client_authenticate(d->store, id, secret, secret_len,
					  client_out);
	if (rc == 0)
		return APITOKEND_AUTH_OK;
	if (rc == APITOKEN_ERR_DENIED || rc == APITOKEN_ERR_INVALID ||
	    rc == APITOKEN_ERR_NOT_FOUND)
		return APITOKEND_AUTH_BAD;
	apitokend_metrics_store_error();
	apitoken_log(APITOKEN_LOG_ERR, "client authentication failed: %s",
		     apitoken_last_error());
	return APITOKEND_AUTH_ERROR;
}

static enum apitokend_auth
basic(struct apitokend *d, const char *b64, apitoken_client_t **client_out)
{
	unsigned char buf[BASIC_MAX];
	size_t len = strlen(b64), pad = 0, id_len, secret_len;
	char *colon;
	int n;
	enum apitokend_auth res = APITOKEND_AUTH_BAD;

	while (len > 0 && b64[len - 1] == ' ')
		len--;
	if (len == 0 || len % 4 != 0 || len > BASIC_MAX - 4)
		return APITOKEND_AUTH_BAD;
	n = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)len);
	if (n < 0)
		return APITOKEND_AUTH_BAD;
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	if (b64[len - 1] == '=')
		pad++;
	if (b64[len - 2] == '=')
		pad++;
	n -= (int)pad;
	buf[n] = '\0';
	colon = memchr(buf, ':', (size_t)n);
	if (colon == NULL)
		goto out;
	*colon = '\0';
	id_len = apitokend_form_decode((char *)buf, (size_t)(colon -
							      (char *)buf));
	secret_len = apitokend_form_decode(colon + 1,
					   (size_t)n - (size_t)(colon + 1 -
								(char *)buf));
	/* An id with an embedded NUL cannot be a registered one. */
	if (id_len == 0 || strlen((char *)buf) != id_len)
		goto out;
	res = authenticate(d, (char *)buf, colon + 1, secret_len, client_out);
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return res;
}

enum apitokend_auth
apitokend_client_auth(struct apitokend *d, struct MHD_Connection *c,
		      const struct apitokend_form *f,
		      apitoken_client_t **client_out)
{
	const char *h = authorization(c);
	bool has_basic = h != NULL && strncasecmp(h, "Basic ", 6) == 0;

	*client_out = NULL;
	if (f->n_client_id > 1 || f->n_client_secret > 1)
		return APITOKEND_AUTH_TWICE;
	if (has_basic && (f->n_client_id > 0 || f->n_client_secret > 0))
		return APITOKEND_AUTH_TWICE;
	if (has_basic) {
		h += 6;
		while (*h == ' ')
			h++;
		return basic(d, h, client_out);
	}
	if (f->n_client_id == 0 && f->n_client_secret == 0)
		return APITOKEND_AUTH_NONE;
	if (f->n_client_id == 0 || f->n_client_secret == 0 ||
	    f->client_id[0] == '\0')
		return APITOKEND_AUTH_BAD;
	return authenticate(d, f->client_id, f->client_secret,
			    f->client_secret_len, client_out);
}
