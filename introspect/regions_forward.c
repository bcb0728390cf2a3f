/*
 * Forwarding writes from a replica to the master (see regions.h).
 *
 * Channel: HTTPS to the master's apitokend (its "url" in the sites list),
 * the server certificate verified against replication.ca_file.  Every
 * forwarded request carries
 *
 *   X-Apitoken-Site:      the sending site's name
 *   X-Apitoken-Time:      Unix seconds when it was sent
 *   X-Apitoken-Nonce:     32 hex digits, random
 *   X-Apitoken-Origin:    who asked at the replica (admin commands)
 *   X-Apitoken-Signature: hex HMAC-SHA256 with the shared key over
 *       "apitoken-forward-v1\n" method "\n" path "\n" site "\n" time "\n"
 *       nonce "\n" hex SHA-256 of the Authorization header "\n"
 *       hex SHA-256 of the origin "\n" hex SHA-256 of the body
 *
 * The receiver accepts it only if the signature matches (constant-time
 * comparison), the time is within FWD_WINDOW seconds of its clock and the
 * nonce was not seen within the window (replay).  TLS keeps the body
 * secret on the way; the signature makes a request that did not come
 * from a site holding the key worthless, even over a bad TLS setup.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/store_rep.h>

#include "regions.h"
#include "regions_int.h"

#define FWD_WINDOW 30 /* seconds either way */
#define KEY_MIN 32
#define KEY_MAX 4096
#define REPLY_MAX (64u * 1024 * 1024)
#define NONCE_SLOTS 65536
#define NONCE_PROBE 64

static unsigned char *key;
static size_t key_len;

/* Nonces seen within the window: open addressing, expired slots reused. */
struct nonce_slot {
	uint8_t nonce[16];
	int64_t t; /* 0: free */
};
static struct nonce_slot *nonces;
static pthread_mutex_t nonce_mu = PTHREAD_MUTEX_INITIALIZER;

static int
read_key(const char *path)
{
	struct stat sb;
	unsigned char buf[KEY_MAX + 1];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return apitoken_error(APITOKEN_ERR_CONFIG,
		                      "replication.secret_file %s: %s", path,
		                      strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    (sb.st_mode & 077) != 0) {
		(void)close(fd);
		return apitoken_error(APITOKEN_ERR_CONFIG,
		                      "replication.secret_file %s: must be a "
		                      "regular file only its owner can read "
		                      "(mode 0600)",
		                      path);
	}
	n = read(fd, buf, sizeof(buf));
	(void)close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n < KEY_MIN || n > KEY_MAX) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return apitoken_error(APITOKEN_ERR_CONFIG,
		                      "replication.secret_file %s: expected "
		                      "%d to %d bytes of key (e.g. openssl "
		                      "rand -hex 32)",
		                      path, KEY_MIN, KEY_MAX);
	}
	key = malloc((size_t)n);
	if (key == NULL) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	}
	memcpy(key, buf, (size_t)n);
	key_len = (size_t)n;
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

int
regions_forward_init(const apitoken_replication_t *rc)
{
	int err = read_key(rc->secret_file);

	if (err != 0)
		return err;
	nonces = calloc(NONCE_SLOTS, sizeof(*nonces));
	if (nonces == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	return 0;
}

void
regions_forward_cleanup(void)
{
	if (key != NULL) {
		OPENSSL_cleanse(key, key_len);
		free(key);
		key = NULL;
	}
	free(nonces);
	nonces = NULL;
}

static void
hex(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static void
sha_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;

	(void)EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
	hex(md, 32, out);
}

/* out: 64 hex digits + NUL.  0 or -1. */
static int
sign(const char *method, const char *path, const char *site,
     const char *time_s, const char *nonce, const char *authz,
     const char *origin, const void *body, size_t len, char out[65])
{
	char ha[65], ho[65], hb[65];
	unsigned char mac[32];
	unsigned int mlen = 0;
	char *msg = NULL;
	int n;

	sha_hex(authz != NULL ? authz : "", authz != NULL ? strlen(authz) : 0,
	        ha);
	sha_hex(origin != NULL ? origin : "",
	        origin != NULL ? strlen(origin) : 0, ho);
	sha_hex(body != NULL ? body : "", body != NULL ? len : 0, hb);
	n = asprintf(&msg,
	             "apitoken-forward-v1\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s",
	             method, path, site, time_s, nonce, ha, ho, hb);
	if (n < 0)
		return -1;
	if (HMAC(EVP_sha256(), key, (int)key_len, (unsigned char *)msg,
	         (size_t)n, mac, &mlen) == NULL) {
		free(msg);
		return -1;
	}
	free(msg);
	hex(mac, 32, out);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

/* ---- client ---------------------------------------------------------- */

struct sink {
	char *buf;
	size_t len, cap;
	bool too_big;
	struct apitokend_fwd_reply *rep;
};

static size_t
on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t n = size * nmemb;

	if (s->len + n + 1 > REPLY_MAX) {
		s->too_big = true;
		return 0;
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap != 0 ? s->cap : 4096;
		char *nb;

		while (cap < s->len + n + 1)
			cap *= 2;
		nb = malloc(cap);
		if (nb == NULL)
			return 0;
		if (s->len > 0) {
			memcpy(nb, s->buf, s->len);
			OPENSSL_cleanse(s->buf, s->len);
		}
		free(s->buf);
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

static void
keep_header(char *dst, size_t size, const char *value, size_t n)
{
	while (n > 0 && (value[n - 1] == '\r' || value[n - 1] == '\n'))
		n--;
	while (n > 0 && *value == ' ') {
		value++;
		n--;
	}
	if (n >= size)
		n = size - 1;
	memcpy(dst, value, n);
	dst[n] = '\0';
}

static size_t
on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t n = size * nmemb;
	static const struct {
		const char *name;
		size_t off, size;
	} keep[] = {
	    {"content-type:",
	     offsetof(struct apitokend_fwd_reply, content_type),
	     sizeof(((struct apitokend_fwd_reply *)0)->content_type)},
	    {"www-authenticate:",
	     offsetof(struct apitokend_fwd_reply, www_authenticate),
	     sizeof(((struct apitokend_fwd_reply *)0)->www_authenticate)},
	    {"set-cookie:", offsetof(struct apitokend_fwd_reply, set_cookie),
	     sizeof(((struct apitokend_fwd_reply *)0)->set_cookie)}};
	size_t i;

	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		size_t kl = strlen(keep[i].name);

		if (n > kl && strncasecmp(p, keep[i].name, kl) == 0)
			keep_header((char *)s->rep + keep[i].off, keep[i].size,
			            p + kl, n - kl);
	}
	return n;
}

/* The master's URL, or NULL with an error (none known / this site). */
static const char *
master_url(struct apitokend *d, int *is_self)
{
	apitoken_rep_status_t *st = malloc(sizeof(*st));
	const char *url = NULL;

	*is_self = 0;
	if (st == NULL) {
		(void)apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (apitoken_store_rep_status(d->store, st) == 0) {
		if (st->role == APITOKEN_REP_MASTER)
			*is_self = 1;
		else if (st->master_site >= 0)
			url = regions.cfg->sites[st->master_site].url;
	}
	if (url == NULL && !*is_self)
		(void)apitoken_error(APITOKEN_ERR_UNAVAILABLE,
		                     "no replication master is known right "
		                     "now (an election may be under way); "
		                     "retry");
	free(st);
	return url;
}

int
apitokend_forward(struct apitokend *d, const char *method, const char *path,
                  const char *const *headers, const char *origin,
                  const void *body, size_t len,
                  struct apitokend_fwd_reply *out)
{
	struct curl_slist *hl = NULL, *t;
	struct sink s = {.rep = out};
	const char *url, *authz = NULL;
	char *full = NULL, *h = NULL;
	char time_s[24], nonce[33], sig[65];
	unsigned char rnd[16];
	CURL *curl = NULL;
	CURLcode cc;
	int self, rc = 0;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (regions.cfg == NULL)
		return 1;
	url = master_url(d, &self);
	if (self)
		return 1;
	if (url == NULL)
		return APITOKEN_ERR_UNAVAILABLE;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return apitoken_error(APITOKEN_ERR_INTERNAL, "no randomness");
	hex(rnd, sizeof(rnd), nonce);
	(void)snprintf(time_s, sizeof(time_s), "%" PRId64, apitoken_now());
	for (i = 0; headers != NULL && headers[i] != NULL; i++)
		if (strncasecmp(headers[i], "Authorization:", 14) == 0) {
			authz = headers[i] + 14;
			while (*authz == ' ')
				authz++;
		}
	if (sign(method, path, regions.cfg->name, time_s, nonce, authz, origin,
	         body, len, sig) != 0)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	if (asprintf(&full, "%s%s", url, path) < 0) {
		full = NULL;
		rc = apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; headers != NULL && headers[i] != NULL; i++) {
		t = curl_slist_append(hl, headers[i]);
		if (t == NULL)
			goto nomem;
		hl = t;
	}
#define ADD_HDR(fmt, ...)                                                     \
	do {                                                                  \
		if (asprintf(&h, fmt, __VA_ARGS__) < 0) {                     \
			h = NULL;                                             \
			goto nomem;                                           \
		}                                                             \
		t = curl_slist_append(hl, h);                                 \
		free(h);                                                      \
		h = NULL;                                                     \
		if (t == NULL)                                                \
			goto nomem;                                           \
		hl = t;                                                       \
	} while (0)
	ADD_HDR("X-Apitoken-Site: %s", regions.cfg->name);
	ADD_HDR("X-Apitoken-Time: %s", time_s);
	ADD_HDR("X-Apitoken-Nonce: %s", nonce);
	ADD_HDR("X-Apitoken-Signature: %s", sig);
	if (origin != NULL)
		ADD_HDR("X-Apitoken-Origin: %s", origin);
	ADD_HDR("%s", "Expect:");
#undef ADD_HDR
	curl = curl_easy_init();
	if (curl == NULL)
		goto nomem;
	curl_easy_setopt(curl, CURLOPT_URL, full);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS,
		                 body != NULL ? body : "");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
		                 (curl_off_t)len);
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hl);
	if (regions.cfg->ca_file != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, regions.cfg->ca_file);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
	                 (long)regions.cfg->forward_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &s);
	cc = curl_easy_perform(curl);
	if (cc != CURLE_OK) {
		rc = apitoken_error(APITOKEN_ERR_UNAVAILABLE,
		                    "cannot reach the replication master at "
		                    "%s: %s%s; retry",
		                    url, curl_easy_strerror(cc),
		                    s.too_big ? " (answer too large)" : "");
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
	out->body = s.buf != NULL ? s.buf : strdup("");
	out->len = s.len;
	s.buf = NULL;
	if (out->body == NULL)
		goto nomem;
	atomic_fetch_add(&regions.forwarded, 1);
	goto out;
nomem:
	rc = apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
out:
	if (curl != NULL)
		curl_easy_cleanup(curl);
	curl_slist_free_all(hl);
	if (s.buf != NULL) {
		OPENSSL_cleanse(s.buf, s.len);
		free(s.buf);
	}
	free(full);
	return rc;
}

void
apitokend_fwd_reply_free(struct apitokend_fwd_reply *rep)
{
	if (rep == NULL || rep->body == NULL)
		return;
	OPENSSL_cleanse(rep->body, rep->len);
	free(rep->body);
	rep->body = NULL;
}

/* ---- relaying an HTTP request ---------------------------------------- */

enum MHD_Result
apitokend_regions_relay(struct apitokend *d, struct apitokend_req *r,
                        struct MHD_Connection *c, const char *method,
                        const char *path, const char *body, size_t len)
{
	static const char *const pass[] = {"Authorization", "Content-Type",
	                                   "Cookie"};
	char *hdrs[4] = {NULL, NULL, NULL, NULL};
	struct apitokend_fwd_reply rep;
	struct MHD_Response *resp;
	enum MHD_Result ret = MHD_NO;
	size_t i, n = 0;
	int rc;

	for (i = 0; i < sizeof(pass) / sizeof(pass[0]); i++) {
		const char *v =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, pass[i]);

		if (v != NULL && asprintf(&hdrs[n], "%s: %s", pass[i], v) >= 0)
			n++;
	}
	rc = apitokend_forward(d, method, path, (const char *const *)hdrs,
	                       NULL, body, len, &rep);
	for (i = 0; i < n; i++) {
		OPENSSL_cleanse(hdrs[i], strlen(hdrs[i]));
		free(hdrs[i]);
	}
	if (rc == 1) /* became master meanwhile: the caller answers */
		return apitokend_reply_error(r, c,
		                             MHD_HTTP_SERVICE_UNAVAILABLE,
		                             "temporarily_unavailable",
		                             "the replication master changed; "
		                             "retry",
		                             NULL);
	if (rc != 0) {
		apitoken_log(APITOKEN_LOG_WARNING, "forwarding %s %s: %s",
		             method, path, apitoken_last_error());
		return apitokend_reply_error(
		    r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "temporarily_unavailable", apitoken_last_error(), NULL);
	}
	resp = MHD_create_response_from_buffer(rep.len, rep.body,
	                                       MHD_RESPMEM_MUST_COPY);
	if (resp != NULL) {
		if (rep.content_type[0] != '\0')
			(void)MHD_add_response_header(
			    resp, MHD_HTTP_HEADER_CONTENT_TYPE,
			    rep.content_type);
		if (rep.www_authenticate[0] != '\0')
			(void)MHD_add_response_header(
			    resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
			    rep.www_authenticate);
		if (rep.set_cookie[0] != '\0')
			(void)MHD_add_response_header(
			    resp, MHD_HTTP_HEADER_SET_COOKIE, rep.set_cookie);
		(void)MHD_add_response_header(
		    resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
		ret = apitokend_reply(r, c, (unsigned)rep.status, resp);
		MHD_destroy_response(resp);
	}
	apitokend_fwd_reply_free(&rep);
	return ret;
}

/* ---- receiving ------------------------------------------------------- */

static bool
hexval(const char *s, size_t n, uint8_t *out)
{
	size_t i;

	if (strlen(s) != 2 * n)
		return false;
	for (i = 0; i < 2 * n; i++) {
		char ch = s[i];
		int v = ch >= '0' && ch <= '9'   ? ch - '0'
		        : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
		                                 : -1;

		if (v < 0)
			return false;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return true;
}

/* Remember a nonce; false if seen within the window (or no room). */
static bool
nonce_fresh(const uint8_t n[16], int64_t now)
{
	size_t h = ((size_t)n[0] << 8 | n[1]) % NONCE_SLOTS, i;
	struct nonce_slot *free_slot = NULL;
	bool fresh = true;

	pthread_mutex_lock(&nonce_mu);
	for (i = 0; i < NONCE_PROBE; i++) {
		struct nonce_slot *s = &nonces[(h + i) % NONCE_SLOTS];

		if (s->t != 0 && s->t >= now - 2 * FWD_WINDOW &&
		    memcmp(s->nonce, n, 16) == 0) {
			fresh = false;
			break;
		}
		if (free_slot == NULL &&
		    (s->t == 0 || s->t < now - 2 * FWD_WINDOW))
			free_slot = s;
	}
	if (fresh) {
		if (free_slot == NULL) {
			fresh = false; /* cannot vouch: refuse */
		} else {
			memcpy(free_slot->nonce, n, 16);
			free_slot->t = now;
		}
	}
	pthread_mutex_unlock(&nonce_mu);
	return fresh;
}

static enum MHD_Result
refuse_forged(struct apitokend_req *r, struct MHD_Connection *c,
              const char *why)
{
	char peer[64];

	atomic_fetch_add(&regions.forward_refused, 1);
	apitokend_req_peer(c, peer, sizeof(peer));
	apitoken_log(APITOKEN_LOG_WARNING,
	             "refused a forwarded request from %s: %s", peer, why);
	return apitokend_reply_error(r, c, MHD_HTTP_FORBIDDEN, "access_denied",
	                             "forwarded request refused", NULL);
}

/* 1 not forwarded, 0 valid, -1 refused (answer queued in *ret). */
static int
verify(struct apitokend *d, struct apitokend_req *r, struct MHD_Connection *c,
       const char *method, const char *path, const char *body, size_t len,
       enum MHD_Result *ret)
{
	const char *site, *time_s, *nonce, *sig, *origin, *authz;
	char want[65];
	uint8_t got[32], wantb[32], nb[16];
	char *end;
	long long t;
	int64_t now = apitoken_now();
	size_t i;
	bool known = false;

	(void)d;
	sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	                                  "X-Apitoken-Signature");
	site =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Apitoken-Site");
	if (sig == NULL && site == NULL)
		return 1;
	time_s =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Apitoken-Time");
	nonce = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	                                    "X-Apitoken-Nonce");
	origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	                                     "X-Apitoken-Origin");
	authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	                                    MHD_HTTP_HEADER_AUTHORIZATION);
	if (regions.cfg == NULL || key == NULL) {
		*ret = refuse_forged(r, c, "replication is not configured");
		return -1;
	}
	if (sig == NULL || site == NULL || time_s == NULL || nonce == NULL ||
	    !hexval(sig, 32, got) || !hexval(nonce, 16, nb)) {
		*ret = refuse_forged(r, c, "incomplete forwarding headers");
		return -1;
	}
	for (i = 0; i < regions.cfg->n_sites; i++)
		if (strcmp(regions.cfg->sites[i].name, site) == 0)
			known = true;
	errno = 0;
	t = strtoll(time_s, &end, 10);
	if (!known || errno != 0 || *end != '\0' || end == time_s) {
		*ret = refuse_forged(r, c, "unknown site or malformed time");
		return -1;
	}
	if (sign(method, path, site, time_s, nonce, authz, origin, body, len,
	         want) != 0 ||
	    !hexval(want, 32, wantb) ||
	    CRYPTO_memcmp(got, wantb, sizeof(got)) != 0) {
		*ret = refuse_forged(r, c, "bad signature");
		return -1;
	}
	if (t < now - FWD_WINDOW || t > now + FWD_WINDOW) {
		*ret = refuse_forged(r, c, "outside the time window");
		return -1;
	}
	if (!nonce_fresh(nb, now)) {
		*ret = refuse_forged(r, c, "replayed");
		return -1;
	}
	return 0;
}

int
apitokend_regions_check(struct apitokend *d, struct apitokend_req *r,
                        struct MHD_Connection *c, const char *method,
                        const char *path, const char *body, size_t len,
                        enum MHD_Result *ret)
{
	return verify(d, r, c, method, path, body, len, ret) < 0 ? -1 : 0;
}

int
apitokend_regions_signed(struct apitokend *d, struct apitokend_req *r,
                         struct MHD_Connection *c, const char *method,
                         const char *path, const char *body, size_t len,
                         enum MHD_Result *ret)
{
	int rc = verify(d, r, c, method, path, body, len, ret);

	if (rc > 0)
		*ret = refuse_forged(r, c, "not signed");
	return rc == 0 ? 0 : -1;
}

enum MHD_Result
apitokend_regions_admin(struct apitokend *d, struct apitokend_req *r,
                        struct MHD_Connection *c, const char *method,
                        const char *body, size_t len)
{
	const char *origin, *site;
	char *reply = NULL, full_origin[400];
	size_t rlen = 0;
	enum MHD_Result ret;
	int rc;

	if (strcmp(method, "POST") != 0)
		return apitokend_reply_error(
		    r, c, MHD_HTTP_METHOD_NOT_ALLOWED, "invalid_request",
		    "this endpoint accepts only POST", NULL);
	if (apitokend_regions_signed(d, r, c, method, APITOKEND_REGIONS_PATH,
	                             body, len, &ret) != 0)
		return ret;
	if (apitoken_store_rep_role(d->store) != APITOKEN_REP_MASTER)
		return apitokend_reply_error(
		    r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "temporarily_unavailable",
		    "this site is not the replication "
		    "master; retry",
		    NULL);
	origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	                                     "X-Apitoken-Origin");
	site =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Apitoken-Site");
	(void)snprintf(full_origin, sizeof(full_origin), "%.200s via site %s",
	               origin != NULL ? origin : "admin", site);
	rc = apitoken_admin_handle(d->store, body, len, full_origin, &reply,
	                           &rlen);
	if (rc != 0)
		return apitokend_reply_error(
		    r, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "server_error",
		    apitoken_last_error(), NULL);
	if (d->mail != NULL)
		apitokend_mail_kick(d->mail);
	apitokend_client_cache_invalidate();
	ret = apitokend_reply_json(r, c, MHD_HTTP_OK, reply, rlen);
	OPENSSL_cleanse(reply, rlen);
	free(reply);
	return ret;
}

/* ---- the admin socket and status -------------------------------------- */

int
regions_admin_forward(void *ctx, const char *request, size_t len,
                      const char *origin, char **reply, size_t *reply_len)
{
	static const char *const hdrs[] = {"Content-Type: application/json",
	                                   NULL};
	struct apitokend *d = ctx;
	struct apitokend_fwd_reply rep;
	int rc;

	rc = apitokend_forward(d, "POST", APITOKEND_REGIONS_PATH, hdrs, origin,
	                       request, len, &rep);
	if (rc != 0)
		return rc;
	if (rep.status != 200) {
		rc = apitoken_error(APITOKEN_ERR_UNAVAILABLE,
		                    "the replication master answered %ld: "
		                    "%.200s",
		                    rep.status, rep.body);
		apitokend_fwd_reply_free(&rep);
		return rc;
	}
	*reply = rep.body;
	*reply_len = rep.len;
	return 0;
}

int
regions_status_peer(void *ctx, size_t site, apitoken_admin_peer_t *out)
{
	struct sink s = {0};
	struct apitokend_fwd_reply rep;
	char *url = NULL;
	CURL *curl;
	cJSON *o = NULL, *rp, *it;
	int rc = APITOKEN_ERR_UNAVAILABLE;

	(void)ctx;
	memset(out, 0, sizeof(*out));
	if (regions.cfg == NULL || site >= regions.cfg->n_sites)
		return APITOKEN_ERR_INVALID;
	s.rep = &rep;
	memset(&rep, 0, sizeof(rep));
	if (asprintf(&url, "%s/healthz", regions.cfg->sites[site].url) < 0)
		return APITOKEN_ERR_NOMEM;
	curl = curl_easy_init();
	if (curl == NULL) {
		free(url);
		return APITOKEN_ERR_NOMEM;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	if (regions.cfg->ca_file != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, regions.cfg->ca_file);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 2000L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s);
	if (curl_easy_perform(curl) == CURLE_OK && s.buf != NULL &&
	    (o = cJSON_Parse(s.buf)) != NULL &&
	    (rp = cJSON_GetObjectItemCaseSensitive(o, "replication")) !=
	        NULL) {
		it = cJSON_GetObjectItemCaseSensitive(rp, "role");
		if (cJSON_IsString(it))
			(void)snprintf(out->role, sizeof(out->role), "%s",
			               it->valuestring);
		it = cJSON_GetObjectItemCaseSensitive(rp, "master");
		if (cJSON_IsString(it))
			(void)snprintf(out->master, sizeof(out->master), "%s",
			               it->valuestring);
		it = cJSON_GetObjectItemCaseSensitive(rp, "stale_ms");
		if (cJSON_IsNumber(it))
			out->stale_ms = (int64_t)it->valuedouble;
		it = cJSON_GetObjectItemCaseSensitive(rp, "lsn");
		if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2) {
			out->lsn_file =
			    (uint64_t)cJSON_GetArrayItem(it, 0)->valuedouble;
			out->lsn_offset =
			    (uint64_t)cJSON_GetArrayItem(it, 1)->valuedouble;
		}
		rc = out->role[0] != '\0' ? 0 : APITOKEN_ERR_UNAVAILABLE;
	}
	cJSON_Delete(o);
	curl_easy_cleanup(curl);
	free(s.buf);
	free(url);
	return rc;
}
