/*
 * conformance: an RFC 7662 / RFC 7009 / RFC 8414 conformance suite for
 * OAuth 2.0 token introspection and revocation servers.
 *
 * It speaks only HTTP, so it can be pointed at any server: apitokend, or
 * another authorization server, to compare.  Every check names the RFC
 * section it comes from.  Output is TAP (--tap) or one line per check.
 *
 * Exit status: 0 all checks passed, 1 some failed, 2 bad usage, 99 the
 * server could not be reached at all.
 */
#include "config.h"

#include <ctype.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* ---- options --------------------------------------------------------- */

#define MAX_INACTIVE 8

struct opts {
	const char *url;    /* base URL, the issuer's location */
	const char *issuer; /* expected issuer, default url */
	const char *introspection_endpoint; /* override of the metadata */
	const char *revocation_endpoint;
	const char *client_id;
	const char *client_secret;
	const char *revoke_client_id;
	const char *revoke_client_secret;
	const char *encoded_client_id; /* needs form-encoding */
	const char *encoded_client_secret;
	const char *active_token;
	const char *revocable_token;
	const char *inactive_tokens[MAX_INACTIVE]; /* --inactive-token */
	size_t n_inactive;
	const char *cacert;
	bool insecure;
	bool tap;
	long skew;     /* allowed clock difference, seconds */
	long oversize; /* bytes of the oversize request body */
};

/* ---- reporting ------------------------------------------------------- */

static bool tap;
static unsigned n_checks;
static unsigned n_failed;
static unsigned n_skipped;

static void
vreport(bool pass, const char *skip, const char *fmt, va_list ap)
{
	n_checks++;
	if (!pass)
		n_failed++;
	if (skip != NULL)
		n_skipped++;
	if (tap)
		printf("%s %u - ", pass ? "ok" : "not ok", n_checks);
	else
		printf("%s  ", skip != NULL ? "SKIP" : pass ? "PASS" : "FAIL");
	vprintf(fmt, ap);
	if (skip != NULL)
		printf(tap ? " # SKIP %s" : " (%s)", skip);
	putchar('\n');
	fflush(stdout);
}

/* One check: pass is the outcome, fmt describes it (with the RFC). */
static bool check(bool pass, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static bool
check(bool pass, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(pass, NULL, fmt, ap);
	va_end(ap);
	return pass;
}

static void skip(const char *why, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
skip(const char *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(true, why, fmt, ap);
	va_end(ap);
}

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("#   ", stdout);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
}

/* ---- HTTP ------------------------------------------------------------ */

#define MAX_HEADERS 64

struct resp {
	CURLcode rc;
	long status;
	char *body;
	size_t len;
	char *headers[MAX_HEADERS]; /* "name: value", final response only */
	size_t n_headers;
	char errbuf[CURL_ERROR_SIZE];
};

static CURL *curl;
static const struct opts *opt;
static bool expect_continue; /* send "Expect: 100-continue" */

static void
resp_clear(struct resp *r)
{
	size_t i;

	free(r->body);
	for (i = 0; i < r->n_headers; i++)
		free(r->headers[i]);
	memset(r, 0, sizeof(*r));
}

static size_t
on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct resp *r = ctx;
	size_t len = size * n;
	char *p;

	p = realloc(r->body, r->len + len + 1);
	if (p == NULL)
		return 0;
	memcpy(p + r->len, data, len);
	r->len += len;
	p[r->len] = '\0';
	r->body = p;
	return len;
}

static size_t
on_header(char *data, size_t size, size_t n, void *ctx)
{
	struct resp *r = ctx;
	size_t len = size * n, i;
	char *line;

	/* A new status line (after "100 Continue"): start over. */
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		for (i = 0; i < r->n_headers; i++)
			free(r->headers[i]);
		r->n_headers = 0;
		return len;
	}
	while (len > 0 && (data[len - 1] == '\r' || data[len - 1] == '\n'))
		len--;
	if (len == 0 || r->n_headers == MAX_HEADERS)
		return size * n;
	line = strndup(data, len);
	if (line == NULL)
		return 0;
	r->headers[r->n_headers++] = line;
	return size * n;
}

/* Value of the last header called name (case-insensitive), or NULL. */
static const char *
header(const struct resp *r, const char *name)
{
	size_t nl = strlen(name), i;
	const char *v = NULL, *h;

	for (i = 0; i < r->n_headers; i++) {
		h = r->headers[i];
		if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
			v = h + nl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
		}
	}
	return v;
}

/* Does the comma-separated header value list contain token? */
static bool
list_has(const char *value, const char *token)
{
	size_t tl = strlen(token);
	const char *p = value;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncasecmp(p, token, tl) == 0 &&
		    (p[tl] == '\0' || p[tl] == ',' || p[tl] == ' ' ||
		     p[tl] == ';' || p[tl] == '='))
			return true;
		p = strchr(p, ',');
	}
	return false;
}

/* Media type of Content-Type without parameters is application/json. */
static bool
is_json_type(const struct resp *r)
{
	const char *ct = header(r, "Content-Type");
	size_t n;

	if (ct == NULL)
		return false;
	n = strcspn(ct, "; \t");
	return n == strlen("application/json") &&
	       strncasecmp(ct, "application/json", n) == 0;
}

/*
 * Send one request.  body NULL: no body.  content_type NULL with a body:
 * application/x-www-form-urlencoded.  extra: NULL-terminated header lines.
 */
static void
request(const char *method, const char *url, const char *content_type,
        const char *body, size_t body_len, const char *const *extra,
        struct resp *r)
{
	struct curl_slist *hl = NULL;
	char ct[256];
	size_t i;

	resp_clear(r);
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 15L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
	if (opt->cacert != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, opt->cacert);
	if (opt->insecure) {
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (body != NULL) {
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
		                 (curl_off_t)body_len);
		snprintf(ct, sizeof(ct), "Content-Type: %s",
		         content_type != NULL
		             ? content_type
		             : "application/x-www-form-urlencoded");
		hl = curl_slist_append(hl, ct);
		/*
		 * Small bodies go at once.  A large one waits for
		 * "100 Continue" (RFC 9110 10.1.1), so that a server can
		 * refuse it before it is sent instead of resetting the
		 * connection under the client's feet.
		 */
		if (expect_continue) {
			hl = curl_slist_append(hl, "Expect: 100-continue");
			curl_easy_setopt(curl, CURLOPT_EXPECT_100_TIMEOUT_MS,
			                 2000L);
		} else {
			hl = curl_slist_append(hl, "Expect:");
		}
	}
	if (strcmp(method, "GET") == 0)
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	else if (strcmp(method, "POST") != 0 || body == NULL)
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	for (i = 0; extra != NULL && extra[i] != NULL; i++)
		hl = curl_slist_append(hl, extra[i]);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hl);
	r->rc = curl_easy_perform(curl);
	if (r->rc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	else
		diag("%s %s: %s", method, url,
		     r->errbuf[0] != '\0' ? r->errbuf
		                          : curl_easy_strerror(r->rc));
	curl_slist_free_all(hl);
	if (r->body == NULL) {
		r->body = calloc(1, 1);
		if (r->body == NULL)
			abort();
	}
}

/* ---- small helpers --------------------------------------------------- */

/* A growing string; out of memory is fatal in a test tool. */
struct buf {
	char *s;
	size_t len;
};

static void
buf_add(struct buf *b, const char *s, size_t n)
{
	char *p = realloc(b->s, b->len + n + 1);

	if (p == NULL)
		abort();
	memcpy(p + b->len, s, n);
	b->len += n;
	p[b->len] = '\0';
	b->s = p;
}

static void
buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* application/x-www-form-urlencoded of s (RFC 6749 Appendix B). */
static void
buf_form(struct buf *b, const char *s)
{
	char *e = curl_easy_escape(curl, s, 0);

	if (e == NULL)
		abort();
	buf_str(b, e);
	curl_free(e);
}

/* Every byte as %XX: a decoder must accept it as well (Appendix B). */
static void
buf_pct_all(struct buf *b, const char *s)
{
	char hex[4];

	for (; *s != '\0'; s++) {
		snprintf(hex, sizeof(hex), "%%%02X", (unsigned char)*s);
		buf_add(b, hex, 3);
	}
}

static void
buf_wipe(struct buf *b)
{
	if (b->s != NULL)
		OPENSSL_cleanse(b->s, b->len);
	free(b->s);
	b->s = NULL;
	b->len = 0;
}

/* "key=value" appended with '&' (value form-encoded). */
static void
form_param(struct buf *b, const char *key, const char *value)
{
	if (b->len > 0)
		buf_str(b, "&");
	buf_str(b, key);
	buf_str(b, "=");
	buf_form(b, value);
}

enum auth { AUTH_NONE, AUTH_BASIC, AUTH_POST, AUTH_BOTH };

struct cred {
	const char *id;
	const char *secret;
	bool pct_all; /* percent-encode every byte instead of the minimum */
};

/*
 * "Authorization: Basic base64(form(id) ':' form(secret))"
 * (RFC 6749 2.3.1).  Returned header must be wiped and freed.
 */
static char *
basic_header(const struct cred *c)
{
	struct buf raw = {0}, out = {0};
	int n;

	if (c->pct_all) {
		buf_pct_all(&raw, c->id);
		buf_str(&raw, ":");
		buf_pct_all(&raw, c->secret);
	} else {
		buf_form(&raw, c->id);
		buf_str(&raw, ":");
		buf_form(&raw, c->secret);
	}
	buf_str(&out, "Authorization: Basic ");
	out.s = realloc(out.s, out.len + 4 * (raw.len / 3 + 1) + 1);
	if (out.s == NULL)
		abort();
	n = EVP_EncodeBlock((unsigned char *)out.s + out.len,
	                    (unsigned char *)raw.s, (int)raw.len);
	out.len += (size_t)n;
	out.s[out.len] = '\0';
	buf_wipe(&raw);
	return out.s;
}

/* Append client_id/client_secret form parameters. */
static void
post_cred(struct buf *b, const struct cred *c)
{
	if (!c->pct_all) {
		form_param(b, "client_id", c->id);
		form_param(b, "client_secret", c->secret);
		return;
	}
	if (b->len > 0)
		buf_str(b, "&");
	buf_str(b, "client_id=");
	buf_pct_all(b, c->id);
	buf_str(b, "&client_secret=");
	buf_pct_all(b, c->secret);
}

/*
 * POST form to url with the given client authentication.  form is the
 * request's own parameters (already encoded, may be "").
 */
static void
post_form(const char *url, enum auth how, const struct cred *c,
          const char *form, const char *query, struct resp *r)
{
	struct buf body = {0}, u = {0};
	const char *extra[2] = {NULL, NULL};
	char *auth = NULL;

	buf_str(&body, form);
	if (how == AUTH_BASIC || how == AUTH_BOTH) {
		auth = basic_header(c);
		extra[0] = auth;
	}
	if (how == AUTH_POST || how == AUTH_BOTH)
		post_cred(&body, c);
	buf_str(&u, url);
	if (query != NULL) {
		buf_str(&u, strchr(url, '?') != NULL ? "&" : "?");
		buf_str(&u, query);
	}
	request("POST", u.s, NULL, body.s, body.len, extra, r);
	if (auth != NULL) {
		OPENSSL_cleanse(auth, strlen(auth));
		free(auth);
	}
	buf_wipe(&body);
	free(u.s);
}

/* Parse a whole body as JSON (no trailing garbage); NULL if not JSON. */
static cJSON *
parse(const struct resp *r)
{
	const char *end = NULL;

	if (r->rc != CURLE_OK || r->len == 0 ||
	    memchr(r->body, '\0', r->len) != NULL)
		return NULL;
	/* cJSON wants the terminating NUL inside the length. */
	return cJSON_ParseWithLengthOpts(r->body, r->len + 1, &end, true);
}

static void
show_body(const struct resp *r)
{
	if (r->rc != CURLE_OK)
		return;
	diag("status %ld, body: %.300s", r->status, r->body);
}

/* RFC 6749 5.2: error and error_description use %x20-21 / %x23-5B / %x5D-7E */
static bool
error_chars_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\')
			return false;
	}
	return true;
}

/* RFC 6749 3.3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E ), SP-separated */
static bool
scope_ok(const char *s)
{
	bool in_token = false;

	if (*s == '\0')
		return true;
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == ' ') {
			if (!in_token)
				return false;
			in_token = false;
			continue;
		}
		if (ch < 0x21 || ch > 0x7e || ch == '"' || ch == '\\')
			return false;
		in_token = true;
	}
	return in_token;
}

static bool
is_integer(const cJSON *j)
{
	return cJSON_IsNumber(j) && isfinite(j->valuedouble) &&
	       floor(j->valuedouble) == j->valuedouble &&
	       fabs(j->valuedouble) < 9007199254740992.0;
}

static bool
is_http_url(const char *s)
{
	const char *host;

	if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else
		return false;
	return *host != '\0' && *host != '/' && strchr(s, '#') == NULL &&
	       strchr(s, ' ') == NULL;
}

/*
 * Checks every introspection answer gets (RFC 7662 2.2, 2.3): JSON media
 * type and no caching of a response that speaks about a credential.
 */
static void
check_headers(const struct resp *r, const char *what)
{
	const char *cc = header(r, "Cache-Control");
	const char *pragma = header(r, "Pragma");

	check(is_json_type(r),
	      "%s: Content-Type application/json (RFC 7662 2.2, RFC 6749 5.2)",
	      what);
	check(cc != NULL && list_has(cc, "no-store") && pragma != NULL &&
	          list_has(pragma, "no-cache"),
	      "%s: Cache-Control: no-store and Pragma: no-cache "
	      "(RFC 6749 5.1/5.2, RFC 7662 4)",
	      what);
	if (cc == NULL || pragma == NULL)
		diag("Cache-Control: %s, Pragma: %s", cc ? cc : "(none)",
		     pragma ? pragma : "(none)");
}

/* Does the body or a header carry one of the tokens or client secrets? */
static bool
echoes_secret(const struct resp *r)
{
	const char *secrets[4 + MAX_INACTIVE] = {
	    opt->active_token, opt->revocable_token, opt->client_secret,
	    opt->revoke_client_secret};
	size_t i, h;

	for (i = 0; i < opt->n_inactive; i++)
		secrets[4 + i] = opt->inactive_tokens[i];
	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		if (secrets[i] == NULL || strlen(secrets[i]) < 8)
			continue;
		if (strstr(r->body, secrets[i]) != NULL)
			return true;
		for (h = 0; h < r->n_headers; h++)
			if (strstr(r->headers[h], secrets[i]) != NULL)
				return true;
	}
	return false;
}

/*
 * An error answer: status, RFC 6749 5.2 JSON shape and error code.
 * Returns whether all held.
 */
static bool
check_error(const struct resp *r, long status, const char *code,
            const char *what, const char *cite)
{
	cJSON *j = parse(r), *e, *d, *u, *it;
	bool shape = false, ok;

	check(r->status == status, "%s: HTTP %ld (%s)", what, status, cite);
	check(!echoes_secret(r),
	      "%s: the answer echoes no token or secret "
	      "(RFC 7662 4, RFC 6749 10.3)",
	      what);
	if (cJSON_IsObject(j)) {
		e = cJSON_GetObjectItemCaseSensitive(j, "error");
		d = cJSON_GetObjectItemCaseSensitive(j, "error_description");
		u = cJSON_GetObjectItemCaseSensitive(j, "error_uri");
		shape = cJSON_IsString(e) && e->valuestring[0] != '\0' &&
		        error_chars_ok(e->valuestring) &&
		        (d == NULL || (cJSON_IsString(d) &&
		                       error_chars_ok(d->valuestring))) &&
		        (u == NULL || cJSON_IsString(u));
		/* Parameters are not repeated: cJSON keeps duplicates. */
		cJSON_ArrayForEach(it, j)
		{
			if (it->string == NULL)
				shape = false;
		}
	}
	check(shape,
	      "%s: body is an RFC 6749 5.2 error object (error, "
	      "optional error_description/error_uri, allowed characters)",
	      what);
	e = cJSON_GetObjectItemCaseSensitive(j, "error");
	ok = check(cJSON_IsString(e) && strcmp(e->valuestring, code) == 0,
	           "%s: error is \"%s\" (%s%s)", what, code, cite,
	           strstr(cite, "RFC 6749 5.2") != NULL ? ""
	                                                : ", RFC 6749 5.2");
	if (!ok || r->status != status)
		show_body(r);
	cJSON_Delete(j);
	return ok && shape && r->status == status;
}

/* Headers except Date and Connection-level ones, sorted, for comparing. */
static int
cmp_str(const void *a, const void *b)
{
	return strcasecmp(*(char *const *)a, *(char *const *)b);
}

static bool
same_headers(const struct resp *a, const struct resp *b)
{
	const char *ha[MAX_HEADERS], *hb[MAX_HEADERS];
	size_t na = 0, nb = 0, i;
	static const char *const volatile_hdr[] = {
	    "date:", "connection:", "keep-alive:", NULL};
	const char *const *v;
	bool skip_it;

	for (i = 0; i < a->n_headers + b->n_headers; i++) {
		const char *h = i < a->n_headers
		                    ? a->headers[i]
		                    : b->headers[i - a->n_headers];

		skip_it = false;
		for (v = volatile_hdr; *v != NULL; v++)
			if (strncasecmp(h, *v, strlen(*v)) == 0)
				skip_it = true;
		if (skip_it)
			continue;
		if (i < a->n_headers)
			ha[na++] = h;
		else
			hb[nb++] = h;
	}
	if (na != nb)
		return false;
	qsort(ha, na, sizeof(ha[0]), cmp_str);
	qsort(hb, nb, sizeof(hb[0]), cmp_str);
	for (i = 0; i < na; i++)
		if (strcasecmp(ha[i], hb[i]) != 0)
			return false;
	return true;
}

/* ---- the suite ------------------------------------------------------- */

struct server {
	char *issuer;
	char *introspection;
	char *revocation;
};

static char *
strip_slash(const char *s)
{
	char *d = strdup(s);
	size_t n;

	if (d == NULL)
		abort();
	n = strlen(d);
	while (n > 0 && d[n - 1] == '/')
		d[--n] = '\0';
	return d;
}

static char *
join(const char *base, const char *path)
{
	struct buf b = {0};

	buf_str(&b, base);
	buf_str(&b, path);
	return b.s;
}

static bool
array_has(const cJSON *arr, const char *s)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, arr)
	{
		if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
			return true;
	}
	return false;
}

static void
check_auth_methods(const cJSON *md, const char *key)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(md, key);

	if (m == NULL) {
		/* Absent means client_secret_basic only (RFC 8414 2). */
		check(false,
		      "metadata: %s lists client_secret_basic and "
		      "client_secret_post (RFC 8414 2; absent means basic "
		      "only)",
		      key);
		return;
	}
	check(cJSON_IsArray(m) && array_has(m, "client_secret_basic") &&
	          array_has(m, "client_secret_post"),
	      "metadata: %s lists client_secret_basic and client_secret_post "
	      "(RFC 8414 2)",
	      key);
}

static void
metadata(struct server *srv)
{
	struct resp r = {0};
	char *base = strip_slash(opt->url), *url, *expect;
	cJSON *md, *it;
	const char *ie = NULL, *re = NULL;

	/*
	 * RFC 8414 3: the well-known suffix goes between the host and the
	 * issuer's path component.
	 */
	{
		const char *p = strstr(base, "://");
		const char *path = p != NULL ? strchr(p + 3, '/') : NULL;
		struct buf b = {0};

		if (path == NULL) {
			buf_str(&b, base);
			buf_str(&b, "/.well-known/oauth-authorization-server");
		} else {
			buf_add(&b, base, (size_t)(path - base));
			buf_str(&b, "/.well-known/oauth-authorization-server");
			buf_str(&b, path);
		}
		url = b.s;
	}
	expect = strip_slash(opt->issuer != NULL ? opt->issuer : opt->url);

	request("GET", url, NULL, NULL, 0, NULL, &r);
	if (r.rc != CURLE_OK) {
		printf("Bail out! %s not reachable\n", url);
		exit(99);
	}
	check(r.status == 200, "metadata: GET %s answers 200 (RFC 8414 3.2)",
	      url);
	check(is_json_type(&r),
	      "metadata: Content-Type application/json (RFC 8414 3.2)");
	md = parse(&r);
	check(cJSON_IsObject(md),
	      "metadata: body is a JSON object (RFC 8414 3.2)");
	if (!cJSON_IsObject(md))
		show_body(&r);

	it = cJSON_GetObjectItemCaseSensitive(md, "issuer");
	if (check(cJSON_IsString(it) && strcmp(it->valuestring, expect) == 0,
	          "metadata: issuer is identical to the issuer identifier "
	          "%s (RFC 8414 3.3)",
	          expect))
		srv->issuer = strdup(it->valuestring);
	else
		diag("issuer: %s",
		     cJSON_IsString(it) ? it->valuestring : "(missing)");
	check(cJSON_IsString(it) && is_http_url(it->valuestring) &&
	          strchr(it->valuestring, '?') == NULL &&
	          (strncmp(it->valuestring, "https://", 8) == 0 ||
	           strncmp(opt->url, "http://", 7) == 0),
	      "metadata: issuer is an https URL without query or fragment "
	      "(RFC 8414 2; http accepted only when the suite was pointed "
	      "at http)");

	it = cJSON_GetObjectItemCaseSensitive(md, "introspection_endpoint");
	if (check(cJSON_IsString(it) && is_http_url(it->valuestring),
	          "metadata: introspection_endpoint is an absolute http(s) "
	          "URL (RFC 8414 2)"))
		ie = it->valuestring;
	it = cJSON_GetObjectItemCaseSensitive(md, "revocation_endpoint");
	if (check(cJSON_IsString(it) && is_http_url(it->valuestring),
	          "metadata: revocation_endpoint is an absolute http(s) URL "
	          "(RFC 8414 2)"))
		re = it->valuestring;
	check_auth_methods(md,
	                   "introspection_endpoint_auth_methods_supported");
	check_auth_methods(md, "revocation_endpoint_auth_methods_supported");
	it = cJSON_GetObjectItemCaseSensitive(md, "response_types_supported");
	check(cJSON_IsArray(it),
	      "metadata: response_types_supported is an array "
	      "(REQUIRED, RFC 8414 2)");

	srv->introspection = opt->introspection_endpoint != NULL
	                         ? strdup(opt->introspection_endpoint)
	                     : ie != NULL ? strdup(ie)
	                                  : join(base, "/introspect");
	srv->revocation = opt->revocation_endpoint != NULL
	                      ? strdup(opt->revocation_endpoint)
	                  : re != NULL ? strdup(re)
	                               : join(base, "/revoke");
	if (srv->introspection == NULL || srv->revocation == NULL)
		abort();
	cJSON_Delete(md);
	resp_clear(&r);
	free(url);
	free(expect);
	free(base);
}

/* introspect token with client c; form may add parameters. */
static void
introspect(const struct server *srv, enum auth how, const struct cred *c,
           const char *token, const char *more, struct resp *r)
{
	struct buf f = {0};

	if (token != NULL)
		form_param(&f, "token", token);
	if (more != NULL) {
		if (f.len > 0)
			buf_str(&f, "&");
		buf_str(&f, more);
	}
	post_form(srv->introspection, how, c, f.s != NULL ? f.s : "", NULL, r);
	buf_wipe(&f);
}

/* Is r a 200 {"active":true,...}? */
static bool
is_active(const struct resp *r)
{
	cJSON *j = parse(r);
	bool a = r->status == 200 &&
	         cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "active"));

	cJSON_Delete(j);
	return a;
}

/* Exactly the inactive answer (RFC 7662 2.2), as parsed and as bytes. */
static void
check_inactive(const struct resp *r, const char *what)
{
	cJSON *j = parse(r);

	check(r->status == 200, "%s: HTTP 200 (RFC 7662 2.2)", what);
	check(cJSON_IsObject(j) && cJSON_GetArraySize(j) == 1 &&
	          cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "active")),
	      "%s: \"active\": false and no other member (RFC 7662 2.2: "
	      "MUST false, SHOULD NOT add information)",
	      what);
	if (!check(r->len == strlen("{\"active\":false}") &&
	               memcmp(r->body, "{\"active\":false}", r->len) == 0,
	           "%s: body is byte-exact {\"active\":false}", what))
		show_body(r);
	check_headers(r, what);
	cJSON_Delete(j);
}

static void
check_claims(const struct server *srv, const cJSON *j)
{
	const cJSON *it;
	time_t now = time(NULL);
	static const char *const strings[] = {"client_id", "username", "sub",
	                                      "iss",       "jti",      NULL};
	const char *const *s;
	const cJSON *exp, *iat;

	check(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "active")),
	      "active token: \"active\" is the boolean true (RFC 7662 2.2)");
	it = cJSON_GetObjectItemCaseSensitive(j, "scope");
	if (it == NULL)
		skip("no scope member",
		     "active token: scope is a string "
		     "of space-separated scope-tokens (RFC 7662 2.2, "
		     "RFC 6749 3.3)");
	else if (!check(cJSON_IsString(it) && scope_ok(it->valuestring),
	                "active token: scope is a string of space-separated "
	                "scope-tokens (RFC 7662 2.2, RFC 6749 3.3)"))
		diag("scope: %s",
		     cJSON_IsString(it) ? it->valuestring : "(not a string)");
	for (s = strings; *s != NULL; s++) {
		it = cJSON_GetObjectItemCaseSensitive(j, *s);
		if (it == NULL)
			skip("member absent",
			     "active token: %s is a string (RFC 7662 2.2)",
			     *s);
		else
			check(cJSON_IsString(it) && it->valuestring[0] != '\0',
			      "active token: %s is a non-empty string "
			      "(RFC 7662 2.2)",
			      *s);
	}
	it = cJSON_GetObjectItemCaseSensitive(j, "token_type");
	if (it == NULL)
		skip("member absent",
		     "active token: token_type is Bearer "
		     "(RFC 7662 2.2, RFC 6750 6.1.1, case-insensitive per "
		     "RFC 6749 5.1)");
	else
		check(cJSON_IsString(it) &&
		          strcasecmp(it->valuestring, "Bearer") == 0,
		      "active token: token_type is Bearer (RFC 7662 2.2, "
		      "RFC 6750 6.1.1, case-insensitive per RFC 6749 5.1)");
	it = cJSON_GetObjectItemCaseSensitive(j, "aud");
	if (it == NULL) {
		skip("member absent",
		     "active token: aud is a string or an "
		     "array of strings (RFC 7662 2.2, RFC 7519 4.1.3)");
	} else {
		bool ok = cJSON_IsString(it);
		const cJSON *a;

		if (cJSON_IsArray(it)) {
			ok = true;
			cJSON_ArrayForEach(a, it)
			{
				if (!cJSON_IsString(a))
					ok = false;
			}
		}
		check(ok, "active token: aud is a string or an array of "
		          "strings (RFC 7662 2.2, RFC 7519 4.1.3)");
	}
	it = cJSON_GetObjectItemCaseSensitive(j, "iss");
	if (cJSON_IsString(it) && srv->issuer != NULL)
		check(strcmp(it->valuestring, srv->issuer) == 0,
		      "active token: iss is the metadata issuer "
		      "(RFC 7662 2.2, RFC 8414 2)");

	exp = cJSON_GetObjectItemCaseSensitive(j, "exp");
	iat = cJSON_GetObjectItemCaseSensitive(j, "iat");
	it = cJSON_GetObjectItemCaseSensitive(j, "nbf");
	if (exp == NULL) {
		skip("member absent", "active token: exp is an integer "
		                      "NumericDate after now (RFC 7662 2.2)");
	} else {
		check(is_integer(exp), "active token: exp is an integer "
		                       "(RFC 7662 2.2: integer timestamp)");
		if (!check(
		        cJSON_IsNumber(exp) &&
		            exp->valuedouble > (double)now - opt->skew,
		        "active token: exp is in the future (RFC 7662 2.2)"))
			diag("exp %.0f, now %lld",
			     cJSON_IsNumber(exp) ? exp->valuedouble : -1.0,
			     (long long)now);
	}
	if (iat == NULL) {
		skip("member absent", "active token: iat is an integer not "
		                      "after now (RFC 7662 2.2)");
	} else {
		check(is_integer(iat), "active token: iat is an integer "
		                       "(RFC 7662 2.2: integer timestamp)");
		if (!check(cJSON_IsNumber(iat) &&
		               iat->valuedouble <= (double)now + opt->skew,
		           "active token: iat is not in the future "
		           "(RFC 7662 2.2)"))
			diag("iat %.0f, now %lld",
			     cJSON_IsNumber(iat) ? iat->valuedouble : -1.0,
			     (long long)now);
	}
	if (is_integer(exp) && is_integer(iat))
		check(exp->valuedouble > iat->valuedouble,
		      "active token: exp > iat (RFC 7662 2.2)");
	if (it != NULL)
		check(is_integer(it) &&
		          it->valuedouble <= (double)now + opt->skew,
		      "active token: nbf is an integer not after "
		      "now (RFC 7662 2.2)");
}

/* Same status and same JSON as the reference answer? */
static bool
same_answer(const struct resp *a, const struct resp *b)
{
	cJSON *ja = parse(a), *jb = parse(b);
	bool same = a->status == b->status && ja != NULL && jb != NULL &&
	            cJSON_Compare(ja, jb, true);

	cJSON_Delete(ja);
	cJSON_Delete(jb);
	return same;
}

static void
random_token(char *out, size_t n)
{
	static const char alnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                            "abcdefghijklmnopqrstuvwxyz";
	unsigned char rnd[128];
	size_t i;

	if (n > sizeof(rnd))
		n = sizeof(rnd);
	if (RAND_bytes(rnd, (int)n) != 1)
		abort();
	for (i = 0; i + 1 < n; i++)
		out[i] = alnum[rnd[i] % (sizeof(alnum) - 1)];
	out[n - 1] = '\0';
}

static void
introspection_suite(const struct server *srv, const struct cred *c)
{
	struct resp ref = {0}, r = {0}, r2 = {0};
	struct cred bad = *c, unknown = *c, enc = *c;
	cJSON *j = NULL, *j2 = NULL;
	struct buf f = {0};
	char garbage[57], unknown_id[40];
	const char *wa;
	static const char *const hints[] = {"access_token", "refresh_token",
	                                    "Access_Token",
	                                    "urn:example:unknown-hint", NULL};
	const char *const *h;
	char *big;

	/* Basic and post, same claims. */
	introspect(srv, AUTH_BASIC, c, opt->active_token, NULL, &ref);
	if (!check(is_active(&ref),
	           "introspect active token with "
	           "client_secret_basic: 200, active true (RFC 7662 2.1, "
	           "2.2; RFC 6749 2.3.1)"))
		show_body(&ref);
	check_headers(&ref, "active answer");
	j = parse(&ref);
	if (cJSON_IsObject(j))
		check_claims(srv, j);
	introspect(srv, AUTH_POST, c, opt->active_token, NULL, &r);
	if (!check(is_active(&r),
	           "introspect active token with "
	           "client_secret_post: 200, active true (RFC 7662 2.1, "
	           "RFC 6749 2.3.1)"))
		show_body(&r);
	j2 = parse(&r);
	if (!check(j != NULL && j2 != NULL && cJSON_Compare(j, j2, true),
	           "client_secret_basic and client_secret_post give the same "
	           "claims (RFC 6749 2.3.1)")) {
		show_body(&ref);
		show_body(&r);
	}
	cJSON_Delete(j2);
	j2 = NULL;

	/* Both methods at once. */
	introspect(srv, AUTH_BOTH, c, opt->active_token, NULL, &r);
	check_error(&r, 400, "invalid_request",
	            "basic and post credentials together",
	            "RFC 6749 2.3: MUST NOT use more than one method");
	check_headers(&r, "400 for two auth methods");

	/* No authentication. */
	introspect(srv, AUTH_NONE, c, opt->active_token, NULL, &r);
	check_error(&r, 401, "invalid_client", "no client authentication",
	            "RFC 7662 2.1 MUST require authorization, 2.3");
	check(header(&r, "WWW-Authenticate") != NULL,
	      "no client authentication: WWW-Authenticate header "
	      "(RFC 7235 3.1, RFC 6749 5.2)");
	check(!is_active(&r), "no client authentication: no claims given "
	                      "(RFC 7662 2.1)");
	check_headers(&r, "401 without authentication");

	/* Credentials that are not client credentials at all. */
	{
		static const char *const bogus[] = {
		    "Authorization: Basic !!!not-base64!!!",
		    "Authorization: Basic bm8tY29sb24taGVyZQ==", /* no ':' */
		    NULL, /* Bearer with the token itself, filled below */
		};
		struct buf bearer = {0};
		struct buf f2 = {0};
		size_t i;

		buf_str(&bearer, "Authorization: Bearer ");
		buf_str(&bearer, opt->active_token);
		form_param(&f2, "token", opt->active_token);
		for (i = 0; i < 3; i++) {
			const char *extra[2] = {i < 2 ? bogus[i] : bearer.s,
			                        NULL};
			cJSON *ej;
			const cJSON *e;

			request("POST", srv->introspection, NULL, f2.s, f2.len,
			        extra, &r);
			ej = parse(&r);
			e = cJSON_GetObjectItemCaseSensitive(ej, "error");
			if (!check(
			        (r.status == 400 || r.status == 401) &&
			            cJSON_IsString(e) &&
			            (strcmp(e->valuestring,
			                    "invalid_request") == 0 ||
			             strcmp(e->valuestring,
			                    "invalid_client") == 0),
			        "%s: refused with 400 invalid_request or 401 "
			        "invalid_client (RFC 6749 2.3.1, 5.2)",
			        i == 0   ? "Basic credentials not in base64"
			        : i == 1 ? "Basic credentials without ':'"
			                 : "Bearer token instead of client "
			                   "credentials"))
				show_body(&r);
			cJSON_Delete(ej);
		}
		buf_wipe(&bearer);
		buf_wipe(&f2);
	}

	/* Wrong secret vs unknown client, basic. */
	bad.secret = "wrong-secret-0123456789";
	random_token(unknown_id, 17);
	memcpy(unknown_id, "nosuch", 6);
	unknown.id = unknown_id;
	introspect(srv, AUTH_BASIC, &bad, opt->active_token, NULL, &r);
	check_error(&r, 401, "invalid_client", "basic with a wrong secret",
	            "RFC 7662 2.3");
	wa = header(&r, "WWW-Authenticate");
	if (!check(wa != NULL && strncasecmp(wa, "Basic", 5) == 0,
	           "basic with a wrong secret: WWW-Authenticate Basic "
	           "(RFC 6749 5.2: matching the scheme the client used)"))
		diag("WWW-Authenticate: %s", wa != NULL ? wa : "(none)");
	check_headers(&r, "401 for a wrong secret");
	introspect(srv, AUTH_BASIC, &unknown, opt->active_token, NULL, &r2);
	check(r.status == r2.status && r.len == r2.len &&
	          memcmp(r.body, r2.body, r.len) == 0 && same_headers(&r, &r2),
	      "basic: unknown client and wrong secret get identical "
	      "status, body and headers (RFC 7662 4: no client "
	      "enumeration)");

	/* Same, post. */
	introspect(srv, AUTH_POST, &bad, opt->active_token, NULL, &r);
	check_error(&r, 401, "invalid_client", "post with a wrong secret",
	            "RFC 7662 2.3, RFC 6749 5.2");
	introspect(srv, AUTH_POST, &unknown, opt->active_token, NULL, &r2);
	check(r.status == r2.status && r.len == r2.len &&
	          memcmp(r.body, r2.body, r.len) == 0 && same_headers(&r, &r2),
	      "post: unknown client and wrong secret get identical "
	      "status, body and headers (RFC 7662 4)");

	/* client_id twice (RFC 6749 3.2: parameters at most once). */
	{
		struct buf f2 = {0};
		cJSON *ej;
		const cJSON *e;

		form_param(&f2, "token", opt->active_token);
		form_param(&f2, "client_id", c->id);
		post_form(srv->introspection, AUTH_POST, c, f2.s, NULL, &r);
		buf_wipe(&f2);
		ej = parse(&r);
		e = cJSON_GetObjectItemCaseSensitive(ej, "error");
		if (!check(
		        (r.status == 400 || r.status == 401) &&
		            cJSON_IsString(e) &&
		            (strcmp(e->valuestring, "invalid_request") == 0 ||
		             strcmp(e->valuestring, "invalid_client") == 0),
		        "client_id given twice: refused with 400 "
		        "invalid_request or 401 invalid_client (RFC 6749 "
		        "3.2: MUST NOT be included more than once)"))
			show_body(&r);
		cJSON_Delete(ej);
	}

	/* Form-encoding of credentials. */
	enc.pct_all = true;
	introspect(srv, AUTH_BASIC, &enc, opt->active_token, NULL, &r);
	if (!check(is_active(&r) && same_answer(&r, &ref),
	           "basic credentials with every byte percent-encoded are "
	           "decoded (RFC 6749 2.3.1, Appendix B)"))
		show_body(&r);
	introspect(srv, AUTH_POST, &enc, opt->active_token, NULL, &r);
	if (!check(is_active(&r) && same_answer(&r, &ref),
	           "post credentials with every byte percent-encoded are "
	           "decoded (RFC 6749 2.3.1, Appendix B)"))
		show_body(&r);
	if (opt->encoded_client_id != NULL &&
	    opt->encoded_client_secret != NULL) {
		struct cred e2 = {opt->encoded_client_id,
		                  opt->encoded_client_secret, false};

		introspect(srv, AUTH_BASIC, &e2, opt->active_token, NULL, &r);
		if (!check(is_active(&r),
		           "basic: client id \"%s\" that "
		           "needs form-encoding works (RFC 6749 2.3.1)",
		           e2.id))
			show_body(&r);
		introspect(srv, AUTH_POST, &e2, opt->active_token, NULL, &r);
		if (!check(is_active(&r),
		           "post: client id \"%s\" that "
		           "needs form-encoding works (RFC 6749 2.3.1)",
		           e2.id))
			show_body(&r);
	} else {
		skip("no --encoded-client-id (the server does not allow "
		     "such client ids)",
		     "basic: a client id that needs "
		     "form-encoding works (RFC 6749 2.3.1)");
		skip("no --encoded-client-id",
		     "post: a client id that needs "
		     "form-encoding works (RFC 6749 2.3.1)");
	}

	/* The token parameter. */
	introspect(srv, AUTH_BASIC, c, NULL, NULL, &r);
	check_error(&r, 400, "invalid_request", "missing token",
	            "RFC 7662 2.1: token REQUIRED");
	check_headers(&r, "400 for a missing token");
	introspect(srv, AUTH_BASIC, c, NULL, "token=", &r);
	check_error(&r, 400, "invalid_request", "empty token",
	            "RFC 7662 2.1, RFC 6749 3.2: empty means omitted");
	buf_wipe(&f);
	form_param(&f, "token", opt->active_token);
	form_param(&f, "token", opt->active_token);
	introspect(srv, AUTH_BASIC, c, NULL, f.s, &r);
	check_error(&r, 400, "invalid_request", "token given twice",
	            "RFC 6749 3.2: MUST NOT be included more than once");
	buf_wipe(&f);
	{
		/* Token only in the query string, empty form body. */
		struct buf q = {0};

		form_param(&q, "token", opt->active_token);
		post_form(srv->introspection, AUTH_BASIC, c, "", q.s, &r);
		buf_wipe(&q);
	}
	check(!is_active(&r), "token only in the query string is not read "
	                      "(RFC 7662 2.1: form-encoded POST body)");
	check_error(&r, 400, "invalid_request",
	            "token only in the query "
	            "string",
	            "RFC 7662 2.1");
	{
		/* A JSON body instead of a form. */
		struct buf body = {0};
		char *auth = basic_header(c);
		const char *extra[2] = {auth, NULL};

		buf_str(&body, "{\"token\":\"");
		buf_str(&body, opt->active_token);
		buf_str(&body, "\"}");
		request("POST", srv->introspection, "application/json", body.s,
		        body.len, extra, &r);
		buf_wipe(&body);
		OPENSSL_cleanse(auth, strlen(auth));
		free(auth);
	}
	check(!is_active(&r),
	      "JSON request body is not accepted "
	      "(RFC 7662 2.1: application/x-www-form-urlencoded)");
	check_error(&r, 400, "invalid_request", "JSON request body",
	            "RFC 7662 2.1");
	check_headers(&r, "400 for a JSON body");

	/* Hints and unknown parameters change nothing. */
	for (h = hints; *h != NULL; h++) {
		buf_wipe(&f);
		form_param(&f, "token_type_hint", *h);
		introspect(srv, AUTH_BASIC, c, opt->active_token, f.s, &r);
		if (!check(same_answer(&r, &ref),
		           "token_type_hint=%s gives "
		           "the same answer (RFC 7662 2.1: search all types)",
		           *h))
			show_body(&r);
	}
	buf_wipe(&f);
	introspect(srv, AUTH_BASIC, c, opt->active_token,
	           "x_conformance_unknown=1&foo=bar%20baz&empty=", &r);
	if (!check(same_answer(&r, &ref), "unknown parameters are ignored "
	                                  "(RFC 6749 3.2, RFC 7662 2.1)"))
		show_body(&r);

	/* Methods and size. */
	{
		char *auth = basic_header(c);
		const char *extra[2] = {auth, NULL};
		const char *allow;

		request("GET", srv->introspection, NULL, NULL, 0, extra, &r);
		OPENSSL_cleanse(auth, strlen(auth));
		free(auth);
		check(r.status == 405,
		      "GET on the introspection endpoint: "
		      "405 (RFC 7662 2.1: POST; RFC 9110 15.5.6)");
		allow = header(&r, "Allow");
		if (!check(allow != NULL && list_has(allow, "POST"),
		           "405 names POST in Allow (RFC 9110 15.5.6: "
		           "MUST)"))
			diag("Allow: %s", allow != NULL ? allow : "(none)");
		check_headers(&r, "405 for GET");
	}
	big = malloc((size_t)opt->oversize + 1);
	if (big == NULL)
		abort();
	memcpy(big, "token=", 6);
	memset(big + 6, 'A', (size_t)opt->oversize - 6);
	big[opt->oversize] = '\0';
	expect_continue = true;
	/*
	 * A server that reads a while and then answers 413 and closes may
	 * reset the connection before the client read the answer: retry.
	 */
	for (int tries = 0; tries < 3; tries++) {
		introspect(srv, AUTH_BASIC, c, NULL, big, &r);
		if (r.rc != CURLE_SEND_ERROR && r.rc != CURLE_RECV_ERROR)
			break;
	}
	expect_continue = false;
	free(big);
	if (!check(r.status == 413, "%ld-byte body: 413 (RFC 9110 15.5.14)",
	           opt->oversize))
		show_body(&r);
	if (r.rc == CURLE_OK)
		check_headers(&r, "413 for an oversize body");

	/* Inactive tokens. */
	random_token(garbage, sizeof(garbage));
	introspect(srv, AUTH_BASIC, c, garbage, NULL, &r);
	check_inactive(&r, "unknown token");
	introspect(srv, AUTH_POST, c, "not a token \"\\ \xc3\xa9", NULL, &r);
	check_inactive(&r, "malformed token");
	for (size_t i = 0; i < opt->n_inactive; i++) {
		char what[40];

		snprintf(what, sizeof(what), "--inactive-token #%zu", i + 1);
		introspect(srv, AUTH_BASIC, c, opt->inactive_tokens[i], NULL,
		           &r);
		check_inactive(&r, what);
	}

	cJSON_Delete(j);
	buf_wipe(&f);
	resp_clear(&ref);
	resp_clear(&r);
	resp_clear(&r2);
}

static void
revoke(const struct server *srv, const struct cred *c, enum auth how,
       const char *token, const char *more, struct resp *r)
{
	struct buf f = {0};

	if (token != NULL)
		form_param(&f, "token", token);
	if (more != NULL) {
		if (f.len > 0)
			buf_str(&f, "&");
		buf_str(&f, more);
	}
	post_form(srv->revocation, how, c, f.s != NULL ? f.s : "", NULL, r);
	buf_wipe(&f);
}

static void
revocation_suite(const struct server *srv, const struct cred *c,
                 const struct cred *rc)
{
	struct resp r = {0};
	struct cred bad = *rc;
	char garbage[57];
	bool separate = strcmp(c->id, rc->id) != 0;

	random_token(garbage, sizeof(garbage));
	introspect(srv, AUTH_BASIC, c, opt->revocable_token, NULL, &r);
	if (!check(is_active(&r), "revocable token is active before "
	                          "revocation (RFC 7662 2.2)")) {
		show_body(&r);
		diag("the revocation checks below mean little");
	}

	revoke(srv, rc, AUTH_BASIC, garbage, NULL, &r);
	if (!check(r.status == 200,
	           "revoke an unknown token: 200 "
	           "(RFC 7009 2.2: invalid tokens are no error)")) {
		show_body(&r);
		if (!separate && strstr(r.body, "unauthorized_client"))
			diag("is %s allowed to revoke?  Give a client that "
			     "is with --revoke-client-id",
			     rc->id);
	}
	revoke(srv, rc, AUTH_POST, garbage, "token_type_hint=bogus_hint", &r);
	if (!check(r.status == 200,
	           "revoke with an unknown "
	           "token_type_hint: 200 (RFC 7009 2.2: hint ignored)"))
		show_body(&r);
	revoke(srv, rc, AUTH_BASIC, NULL, NULL, &r);
	check_error(&r, 400, "invalid_request", "revoke without token",
	            "RFC 7009 2.1: token REQUIRED");
	check_headers(&r, "400 from the revocation endpoint");

	bad.secret = "wrong-secret-0123456789";
	revoke(srv, &bad, AUTH_BASIC, opt->revocable_token, NULL, &r);
	check_error(&r, 401, "invalid_client", "revoke with a wrong secret",
	            "RFC 7009 2.1, RFC 6749 5.2");
	check_headers(&r, "401 from the revocation endpoint");
	revoke(srv, rc, AUTH_NONE, opt->revocable_token, NULL, &r);
	check_error(&r, 401, "invalid_client",
	            "revoke without client "
	            "authentication",
	            "RFC 7009 2.1: client authenticates");
	if (separate) {
		cJSON *j;
		const cJSON *e;

		revoke(srv, c, AUTH_BASIC, opt->revocable_token, NULL, &r);
		if (!check(r.status >= 400 && r.status < 500,
		           "revoke by a client without the revocation right "
		           "is refused with an error (RFC 7009 2.1)"))
			show_body(&r);
		j = parse(&r);
		e = cJSON_GetObjectItemCaseSensitive(j, "error");
		check(cJSON_IsString(e) && error_chars_ok(e->valuestring),
		      "refused revocation: body is an RFC 6749 5.2 error "
		      "object (RFC 7009 2.2.1)");
		/*
		 * Only invalid_client has its own status (401); every other
		 * error code, unauthorized_client included, is a 400.
		 */
		if (cJSON_IsString(e) &&
		    strcmp(e->valuestring, "invalid_client") != 0 &&
		    !check(r.status == 400,
		           "refused revocation with error "
		           "\"%s\": HTTP 400 (RFC 7009 2.2.1, RFC 6749 5.2: "
		           "400 unless specified otherwise)",
		           e->valuestring))
			show_body(&r);
		cJSON_Delete(j);
	} else {
		skip("no separate --revoke-client-id",
		     "revoke by a client "
		     "without the revocation right is refused "
		     "(RFC 7009 2.1)");
	}
	introspect(srv, AUTH_BASIC, c, opt->revocable_token, NULL, &r);
	if (!check(is_active(&r), "refused revocations changed nothing: "
	                          "token still active (RFC 7009 2.1)"))
		show_body(&r);

	/* A wrong hint: the server must look further (RFC 7009 2.1). */
	revoke(srv, rc, AUTH_BASIC, opt->revocable_token,
	       "token_type_hint=refresh_token", &r);
	if (!check(r.status == 200, "revoke the active token, with "
	                            "token_type_hint=refresh_token: 200 "
	                            "(RFC 7009 2.1, 2.2)"))
		show_body(&r);
	introspect(srv, AUTH_BASIC, c, opt->revocable_token, NULL, &r);
	check_inactive(&r, "revoked token");
	revoke(srv, rc, AUTH_POST, opt->revocable_token,
	       "token_type_hint=access_token", &r);
	if (!check(r.status == 200, "revoke it again: 200 (RFC 7009 2.2)"))
		show_body(&r);
	introspect(srv, AUTH_BASIC, c, opt->active_token, NULL, &r);
	if (!check(is_active(&r), "the other token is still active "
	                          "(RFC 7009 2.1: only the presented token)"))
		show_body(&r);
	resp_clear(&r);
}

static void
usage(FILE *out)
{
	/* clang-format off */
	fputs(
"usage: conformance --url BASE --client-id ID --client-secret SECRET\n"
"           --active-token T --revocable-token T2\n"
"           [--revoke-client-id ID --revoke-client-secret S]\n"
"           [--inactive-token T3]... [--issuer URL]\n"
"           [--introspection-endpoint URL] [--revocation-endpoint URL]\n"
"           [--encoded-client-id ID --encoded-client-secret S]\n"
"           [--cacert FILE] [--insecure] [--skew SECONDS]\n"
"           [--oversize BYTES] [--tap]\n"
"\n"
"Checks an OAuth 2.0 server against RFC 7662 (introspection), RFC 7009\n"
"(revocation) and RFC 8414 (metadata).  BASE is the issuer's location;\n"
"endpoints come from its metadata unless given.  The client may\n"
"introspect; the revoke client (default: the same) may revoke; when a\n"
"separate revoke client is given, the first client must NOT be allowed\n"
"to revoke.  T stays active; T2 is revoked during the run.  Each T3 (up\n"
"to 8) is a token the server must call inactive (revoked, expired,\n"
"disabled user...).  Secrets may also come from the environment:\n"
"CONFORMANCE_CLIENT_SECRET, CONFORMANCE_REVOKE_CLIENT_SECRET.\n",
	      out);
	/* clang-format on */
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"issuer", required_argument, NULL, 'I'},
	    {"introspection-endpoint", required_argument, NULL, 'E'},
	    {"revocation-endpoint", required_argument, NULL, 'R'},
	    {"client-id", required_argument, NULL, 'c'},
	    {"client-secret", required_argument, NULL, 's'},
	    {"revoke-client-id", required_argument, NULL, 'C'},
	    {"revoke-client-secret", required_argument, NULL, 'S'},
	    {"encoded-client-id", required_argument, NULL, 'e'},
	    {"encoded-client-secret", required_argument, NULL, 'f'},
	    {"active-token", required_argument, NULL, 'a'},
	    {"revocable-token", required_argument, NULL, 'r'},
	    {"inactive-token", required_argument, NULL, 'i'},
	    {"cacert", required_argument, NULL, 'A'},
	    {"insecure", no_argument, NULL, 'k'},
	    {"skew", required_argument, NULL, 'w'},
	    {"oversize", required_argument, NULL, 'o'},
	    {"tap", no_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	struct opts o = {.skew = 5, .oversize = 1L << 20};
	struct server srv = {0};
	struct cred c, rc;
	char *end;
	int ch;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			o.url = optarg;
			break;
		case 'I':
			o.issuer = optarg;
			break;
		case 'E':
			o.introspection_endpoint = optarg;
			break;
		case 'R':
			o.revocation_endpoint = optarg;
			break;
		case 'c':
			o.client_id = optarg;
			break;
		case 's':
			o.client_secret = optarg;
			break;
		case 'C':
			o.revoke_client_id = optarg;
			break;
		case 'S':
			o.revoke_client_secret = optarg;
			break;
		case 'e':
			o.encoded_client_id = optarg;
			break;
		case 'f':
			o.encoded_client_secret = optarg;
			break;
		case 'a':
			o.active_token = optarg;
			break;
		case 'r':
			o.revocable_token = optarg;
			break;
		case 'i':
			if (o.n_inactive == MAX_INACTIVE) {
				fprintf(stderr,
				        "conformance: at most %d "
				        "--inactive-token\n",
				        MAX_INACTIVE);
				return 2;
			}
			o.inactive_tokens[o.n_inactive++] = optarg;
			break;
		case 'A':
			o.cacert = optarg;
			break;
		case 'k':
			o.insecure = true;
			break;
		case 't':
			o.tap = true;
			break;
		case 'w':
		case 'o': {
			long v = strtol(optarg, &end, 10);

			if (*optarg == '\0' || *end != '\0' || v < 0 ||
			    (ch == 'o' && (v < 16 || v > 1L << 28))) {
				fprintf(stderr,
				        "conformance: bad "
				        "number: %s\n",
				        optarg);
				return 2;
			}
			if (ch == 'w')
				o.skew = v;
			else
				o.oversize = v;
		} break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (o.client_secret == NULL)
		o.client_secret = getenv("CONFORMANCE_CLIENT_SECRET");
	if (o.revoke_client_secret == NULL)
		o.revoke_client_secret =
		    getenv("CONFORMANCE_REVOKE_CLIENT_SECRET");
	if (optind != argc || o.url == NULL || o.client_id == NULL ||
	    o.client_secret == NULL || o.active_token == NULL ||
	    o.revocable_token == NULL ||
	    (o.revoke_client_id == NULL) != (o.revoke_client_secret == NULL) ||
	    strcmp(o.active_token, o.revocable_token) == 0 ||
	    !is_http_url(o.url)) {
		fprintf(stderr, "conformance: missing or bad arguments "
		                "(the two tokens must differ; --url must be "
		                "http(s)://...)\n");
		usage(stderr);
		return 2;
	}
	opt = &o;
	tap = o.tap;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (curl = curl_easy_init()) == NULL) {
		fprintf(stderr, "conformance: cannot initialise libcurl\n");
		return 99;
	}
	c = (struct cred){o.client_id, o.client_secret, false};
	rc = o.revoke_client_id != NULL
	         ? (struct cred){o.revoke_client_id, o.revoke_client_secret,
	                         false}
	         : c;

	metadata(&srv);
	introspection_suite(&srv, &c);
	revocation_suite(&srv, &c, &rc);

	if (tap)
		printf("1..%u\n", n_checks);
	else
		printf("%u checks: %u passed, %u failed, %u skipped\n",
		       n_checks, n_checks - n_failed - n_skipped, n_failed,
		       n_skipped);
	free(srv.issuer);
	free(srv.introspection);
	free(srv.revocation);
	curl_easy_cleanup(curl);
	curl_global_cleanup();
	return n_failed == 0 ? 0 : 1;
}
