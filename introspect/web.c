/*
 * apitokend: the self-service page and its API: routing, the headers every
 * answer carries, the page's files, cross-site refusal, sessions and
 * sign-in.  Token reads and writes are in web_api.c.
 *
 * Sign-in with PAM runs on a thread of its own while libmicrohttpd holds
 * the connection suspended: a PAM module may block for seconds (a failure
 * delay, a directory server) and must not stall the worker's other
 * connections.  Failed sign-ins are throttled per user name and per source
 * address; the answer never says whether the user exists.
 *
 * Header sign-in trusts the configured header only on connections from a
 * configured proxy address; from anyone else it is ignored.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include <apitoken/error.h>
#include <apitoken/log.h>

#include "throttle.h"
#include "web.h"

#ifndef APITOKEND_WEB_DIR
#define APITOKEND_WEB_DIR "/usr/share/apitoken/web"
#endif

#define SIGNIN_MAX_RUNNING 16 /* PAM conversations at once */
#define ASSET_MAX (512 * 1024)
#define COOKIE_PLAIN "apitoken_session"
#define COOKIE_SECURE "__Host-apitoken_session"
#define CSRF_HEADER "X-CSRF-Token"
#define USERS_PREFIX "/api/v1/users/"

static const struct asset_def {
	const char *url;
	const char *file;
	const char *type;
} asset_defs[] = {
    {"/account/", "index.html", "text/html; charset=utf-8"},
    {"/account/app.js", "app.js", "text/javascript; charset=utf-8"},
    {"/account/style.css", "style.css", "text/css; charset=utf-8"},
    {"/account/icon.svg", "icon.svg", "image/svg+xml"},
};
#define N_ASSETS (sizeof(asset_defs) / sizeof(asset_defs[0]))

struct apitokend_web {
	struct web_sessions *sessions;
	struct apitokend_throttle *by_user;
	struct apitokend_throttle *by_addr;
	struct MHD_Response *assets[N_ASSETS];
	pthread_mutex_t lock;
	pthread_cond_t idle;
	unsigned running; /* sign-in threads */
};

/* A PAM sign-in in flight, in the request's slot. */
struct signin {
	struct apitokend_web *web;
	struct MHD_Connection *c;
	char service[80];
	char user[APITOKEN_USER_MAX + 1];
	char *password;
	int rc;
};

static const char *const sec_headers[][2] = {
    {"Content-Security-Policy",
     "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
     "form-action 'self'; object-src 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
    {"Cache-Control", "no-store"},
    {"Cross-Origin-Opener-Policy", "same-origin"},
    {"Cross-Origin-Resource-Policy", "same-origin"},
};

bool
apitokend_web_path(const char *url)
{
	return strcmp(url, "/account") == 0 ||
	       strncmp(url, "/account/", 9) == 0 ||
	       strncmp(url, "/api/v1/", 8) == 0;
}

static int
add_headers(struct MHD_Response *resp, const char *content_type)
{
	size_t i;

	for (i = 0; i < sizeof(sec_headers) / sizeof(sec_headers[0]); i++)
		if (MHD_add_response_header(resp, sec_headers[i][0],
		                            sec_headers[i][1]) != MHD_YES)
			return -1;
	if (content_type != NULL &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                            content_type) != MHD_YES)
		return -1;
	return 0;
}

enum MHD_Result
web_queue(struct apitokend_req *r, struct MHD_Connection *c, unsigned status,
          struct MHD_Response *resp, const char *content_type)
{
	if (add_headers(resp, content_type) != 0)
		return MHD_NO;
	return apitokend_reply(r, c, status, resp);
}

/* JSON text (taken) with extra headers (name, value pairs; NULL ends). */
static enum MHD_Result
reply_json_hdrs(struct apitokend_req *r, struct MHD_Connection *c,
                unsigned status, char *body, const char *const *hdrs)
{
	struct MHD_Response *resp;
	enum MHD_Result ret = MHD_NO;

	if (body == NULL)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(body), body,
	                                       MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	for (; hdrs != NULL && hdrs[0] != NULL; hdrs += 2)
		if (MHD_add_response_header(resp, hdrs[0], hdrs[1]) != MHD_YES)
			goto out;
	ret = web_queue(r, c, status, resp, "application/json");
out:
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result
web_reply_json(struct apitokend_req *r, struct MHD_Connection *c,
               unsigned status, char *body)
{
	return reply_json_hdrs(r, c, status, body, NULL);
}

static char *
error_text(const char *code, const char *desc)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;

	if (o != NULL && cJSON_AddStringToObject(o, "error", code) != NULL &&
	    cJSON_AddStringToObject(o, "error_description", desc) != NULL)
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

enum MHD_Result
web_reply_error(struct apitokend_req *r, struct MHD_Connection *c,
                unsigned status, const char *code, const char *desc)
{
	return web_reply_json(r, c, status, error_text(code, desc));
}

static enum MHD_Result
reply_error_hdr(struct apitokend_req *r, struct MHD_Connection *c,
                unsigned status, const char *code, const char *desc,
                const char *name, const char *value)
{
	const char *hdrs[] = {name, value, NULL};

	return reply_json_hdrs(r, c, status, error_text(code, desc), hdrs);
}

/* ---- the page's files ---- */

static int
read_asset(const char *dir, const char *file, char **buf_out, size_t *len_out)
{
	char path[4200];
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return apitoken_error(APITOKEN_ERR_CONFIG,
		                      "web: cannot open %s: %s (web.assets)",
		                      path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > ASSET_MAX) {
		rc = apitoken_error(APITOKEN_ERR_CONFIG,
		                    "web: %s is not a regular file of at most "
		                    "%d bytes",
		                    path, ASSET_MAX);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		rc = apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
		goto out;
	}
	while (len < (size_t)st.st_size) {
		n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = apitoken_error(APITOKEN_ERR_IO,
			                    "web: cannot read %s", path);
			goto out;
		}
		len += (size_t)n;
	}
	*buf_out = buf;
	*len_out = len;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

static int
load_assets(struct apitokend_web *web, const char *dir)
{
	size_t i, len;
	char *buf;
	int rc;

	for (i = 0; i < N_ASSETS; i++) {
		rc = read_asset(dir, asset_defs[i].file, &buf, &len);
		if (rc != 0)
			return rc;
		web->assets[i] = MHD_create_response_from_buffer(
		    len, buf, MHD_RESPMEM_MUST_FREE);
		if (web->assets[i] == NULL) {
			free(buf);
			return apitoken_error(APITOKEN_ERR_NOMEM,
			                      "out of memory");
		}
		if (add_headers(web->assets[i], asset_defs[i].type) != 0)
			return apitoken_error(APITOKEN_ERR_NOMEM,
			                      "out of memory");
	}
	return 0;
}

/* ---- start, stop ---- */

static void
web_free(struct apitokend_web *web)
{
	size_t i;

	if (web == NULL)
		return;
	for (i = 0; i < N_ASSETS; i++)
		if (web->assets[i] != NULL)
			MHD_destroy_response(web->assets[i]);
	web_sessions_free(web->sessions);
	apitokend_throttle_destroy(web->by_user);
	apitokend_throttle_destroy(web->by_addr);
	pthread_cond_destroy(&web->idle);
	pthread_mutex_destroy(&web->lock);
	free(web);
}

int
apitokend_web_start(struct apitokend *d)
{
	const apitoken_web_config_t *w = apitokend_gen(d)->cfg->web;
	struct apitokend_throttle_conf tc;
	struct apitokend_web *web;
	double per_second;
	int rc;

	d->web = NULL;
	if (w == NULL)
		return 0;
	web = calloc(1, sizeof(*web));
	if (web == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&web->lock, NULL);
	pthread_cond_init(&web->idle, NULL);
	web->sessions = web_sessions_create();
	/* After signin_failures failures in a row, one more try per
	 * signin_lockout; an address gets four times the user's allowance
	 * (people behind one NAT). */
	per_second = 1.0 / (double)w->signin_lockout;
	memset(&tc, 0, sizeof(tc));
	tc.name = "web-signin-user";
	tc.slots = 4096;
	tc.burst = w->signin_failures;
	tc.per_second = per_second;
	web->by_user = apitokend_throttle_create(&tc);
	tc.name = "web-signin-address";
	tc.burst = 4 * w->signin_failures;
	web->by_addr = apitokend_throttle_create(&tc);
	if (web->sessions == NULL || web->by_user == NULL ||
	    web->by_addr == NULL) {
		web_free(web);
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	}
	rc = load_assets(web,
	                 w->assets != NULL ? w->assets : APITOKEND_WEB_DIR);
	if (rc != 0) {
		web_free(web);
		return rc;
	}
	d->web = web;
	return 0;
}

void
apitokend_web_stop(struct apitokend *d)
{
	struct apitokend_web *web = d->web;

	if (web == NULL)
		return;
	/* A suspended connection must be resumed before MHD stops. */
	pthread_mutex_lock(&web->lock);
	while (web->running > 0)
		pthread_cond_wait(&web->idle, &web->lock);
	pthread_mutex_unlock(&web->lock);
}

void
apitokend_web_free(struct apitokend *d)
{
	web_free(d->web);
	d->web = NULL;
}

/* ---- who is asking ---- */

static bool
secure_cookies(struct apitokend *d)
{
	const apitoken_config_t *cfg = apitokend_gen(d)->cfg;

	if (cfg->web->secure_cookies >= 0)
		return cfg->web->secure_cookies == 1;
	return cfg->tls_cert != NULL;
}

static const char *
cookie_name(struct apitokend *d)
{
	return secure_cookies(d) ? COOKIE_SECURE : COOKIE_PLAIN;
}

static void
set_cookie_value(struct apitokend *d, const char *id, char *buf, size_t len)
{
	if (id != NULL)
		snprintf(
		    buf, len, "%s=%s; Path=/; HttpOnly; SameSite=Strict%s",
		    cookie_name(d), id, secure_cookies(d) ? "; Secure" : "");
	else
		snprintf(buf, len,
		         "%s=; Path=/; Max-Age=0; HttpOnly; "
		         "SameSite=Strict%s",
		         cookie_name(d), secure_cookies(d) ? "; Secure" : "");
}

/* Numeric address of text (IPv4-mapped IPv6 as IPv4); false if none. */
static bool
addr_parse(const char *s, unsigned char out[16], int *family)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
	                                         0, 0, 0, 0, 0xff, 0xff};

	if (inet_pton(AF_INET, s, out) == 1) {
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, out) != 1)
		return false;
	*family = AF_INET6;
	if (memcmp(out, mapped, sizeof(mapped)) == 0) {
		memmove(out, out + 12, 4);
		*family = AF_INET;
	}
	return true;
}

static bool
from_trusted_proxy(const apitoken_web_config_t *w, const char *peer)
{
	unsigned char a[16], b[16];
	int fa, fb;
	size_t i;

	if (!addr_parse(peer, a, &fa))
		return false;
	for (i = 0; i < w->n_trusted_proxies; i++)
		if (addr_parse(w->trusted_proxies[i], b, &fb) && fa == fb &&
		    memcmp(a, b, fa == AF_INET ? 4 : 16) == 0)
			return true;
	return false;
}

/* The user named by a trusted proxy, or NULL (ignored from others). */
static const char *
proxy_user(const apitoken_web_config_t *w, struct MHD_Connection *c,
           const char *peer)
{
	const char *u;

	if (w->auth != APITOKEN_WEB_AUTH_HEADER ||
	    !from_trusted_proxy(w, peer))
		return NULL;
	u = MHD_lookup_connection_value(c, MHD_HEADER_KIND, w->user_header);
	if (u == NULL || !apitoken_user_name_valid(u))
		return NULL;
	return u;
}

/* The caller's session: 0 and *info, or NOT_FOUND. */
static int
find_session(struct apitokend *d, struct MHD_Connection *c, const char *peer,
             struct web_session_info *info)
{
	const apitoken_web_config_t *w = apitokend_gen(d)->cfg->web;
	const char *id, *pu;

	id = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, cookie_name(d));
	if (web_session_find(d->web->sessions, id, w->session_idle,
	                     w->session_max, info) != 0)
		return APITOKEN_ERR_NOT_FOUND;
	if (w->auth == APITOKEN_WEB_AUTH_HEADER) {
		/* The proxy's sign-in rules: gone there, gone here. */
		pu = proxy_user(w, c, peer);
		if (pu == NULL || strcmp(pu, info->user) != 0) {
			web_session_remove(d->web->sessions, id);
			return APITOKEN_ERR_NOT_FOUND;
		}
	}
	return 0;
}

/*
 * A request that changes something must come from our own page: a
 * browser says where it comes from in Sec-Fetch-Site and Origin (a
 * server-side portal sends neither).  The session cookie is SameSite
 * Strict as well; this is the second lock.
 */
static bool
cross_site(struct MHD_Connection *c)
{
	const char *sfs, *origin, *host;

	sfs =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");
	if (sfs != NULL && strcmp(sfs, "same-origin") != 0 &&
	    strcmp(sfs, "none") != 0)
		return true;
	origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
	if (origin == NULL)
		return false;
	host = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	                                   MHD_HTTP_HEADER_HOST);
	if (strncmp(origin, "https://", 8) == 0)
		origin += 8;
	else if (strncmp(origin, "http://", 7) == 0)
		origin += 7;
	else
		return true; /* "null" and the like */
	return host == NULL || strcasecmp(origin, host) != 0;
}

static bool
json_body(struct MHD_Connection *c)
{
	static const char want[] = "application/json";
	const char *ct = MHD_lookup_connection_value(
	    c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);

	if (ct == NULL || strncasecmp(ct, want, sizeof(want) - 1) != 0)
		return false;
	ct += sizeof(want) - 1;
	return *ct == '\0' || *ct == ';' || *ct == ' ';
}

static bool
csrf_ok(struct MHD_Connection *c, const struct web_session_info *info)
{
	const char *t =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, CSRF_HEADER);

	return t != NULL && strlen(t) == WEB_ID_HEX &&
	       CRYPTO_memcmp(t, info->csrf, WEB_ID_HEX) == 0;
}

/* Refusals shared by every state-changing request. */
static enum MHD_Result
refuse_unsafe(struct apitokend_req *r, struct MHD_Connection *c, size_t len,
              bool *refused)
{
	*refused = true;
	if (cross_site(c))
		return web_reply_error(
		    r, c, MHD_HTTP_FORBIDDEN, "cross_site",
		    "requests from other sites are refused");
	if (len > 0 && !json_body(c))
		return web_reply_error(r, c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		                       "invalid_request",
		                       "the body must be application/json");
	*refused = false;
	return MHD_YES;
}

/* ---- /api/v1/session ---- */

static char *
session_text(const apitoken_web_config_t *w, const char *user,
             const char *csrf)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;
	bool fine;

	if (o == NULL)
		return NULL;
	fine = cJSON_AddBoolToObject(o, "signed_in", user != NULL) &&
	       cJSON_AddStringToObject(
	           o, "auth",
	           w->auth == APITOKEN_WEB_AUTH_PAM ? "pam" : "header");
	if (fine && user != NULL)
		fine = cJSON_AddStringToObject(o, "user", user) &&
		       cJSON_AddStringToObject(o, "csrf_token", csrf);
	if (fine)
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

/* A new session for user: answer with its cookie and CSRF token. */
static enum MHD_Result
open_session(struct apitokend *d, struct apitokend_req *r,
             struct MHD_Connection *c, const char *user, const char *peer)
{
	const apitoken_web_config_t *w = apitokend_gen(d)->cfg->web;
	struct web_session_info info;
	char id[WEB_ID_HEX + 1], cookie[200];
	const char *hdrs[3] = {MHD_HTTP_HEADER_SET_COOKIE, cookie, NULL};
	enum MHD_Result ret;

	if (web_session_create(d->web->sessions, user, w->max_sessions, id,
	                       &info) != 0)
		return web_reply_error(r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
		                       "temporarily_unavailable",
		                       "no session could be made");
	apitoken_log(APITOKEN_LOG_NOTICE,
	             "web: user %s signed in from %s (%s)", user, peer,
	             w->auth == APITOKEN_WEB_AUTH_PAM ? "PAM" : "proxy");
	set_cookie_value(d, id, cookie, sizeof(cookie));
	ret = reply_json_hdrs(r, c, MHD_HTTP_OK,
	                      session_text(w, user, info.csrf), hdrs);
	OPENSSL_cleanse(id, sizeof(id));
	OPENSSL_cleanse(cookie, sizeof(cookie));
	OPENSSL_cleanse(&info, sizeof(info));
	return ret;
}

static void *
signin_thread(void *arg)
{
	struct signin *s = arg;
	struct apitokend_web *web = s->web;
	struct MHD_Connection *c = s->c;

	s->rc = web_pam_authenticate(s->service, s->user, s->password);
	if (s->rc < 0 && s->rc != APITOKEN_ERR_DENIED)
		apitoken_log(APITOKEN_LOG_ERR, "web: sign-in: %s",
		             apitoken_last_error());
	OPENSSL_cleanse(s->password, strlen(s->password));
	/* From here on s belongs to the connection again. */
	pthread_mutex_lock(&web->lock);
	MHD_resume_connection(c);
	web->running--;
	pthread_cond_broadcast(&web->idle);
	pthread_mutex_unlock(&web->lock);
	return NULL;
}

void
apitokend_web_req_done(void *state)
{
	struct signin *s = state;

	if (s == NULL)
		return;
	if (s->password != NULL) {
		OPENSSL_cleanse(s->password, strlen(s->password));
		free(s->password);
	}
	free(s);
}

static enum MHD_Result
too_many(struct apitokend_req *r, struct MHD_Connection *c, unsigned wait)
{
	char secs[24];

	snprintf(secs, sizeof(secs), "%u", wait > 0 ? wait : 1);
	return reply_error_hdr(r, c, MHD_HTTP_TOO_MANY_REQUESTS,
	                       "too_many_attempts",
	                       "too many failed attempts; wait and try again",
	                       MHD_HTTP_HEADER_RETRY_AFTER, secs);
}

static enum MHD_Result
bad_credentials(struct apitokend_req *r, struct MHD_Connection *c)
{
	return web_reply_error(r, c, MHD_HTTP_UNAUTHORIZED,
	                       "invalid_credentials",
	                       "the user name or the password is not right");
}

/* The PAM thread has answered (the connection was resumed). */
static enum MHD_Result
signin_finish(struct apitokend *d, struct apitokend_req *r,
              struct MHD_Connection *c, struct signin *s, const char *peer)
{
	if (s->rc == 0) {
		/* A new sign-in ends the browser's earlier session. */
		web_session_remove(d->web->sessions,
		                   MHD_lookup_connection_value(
		                       c, MHD_COOKIE_KIND, cookie_name(d)));
		return open_session(d, r, c, s->user, peer);
	}
	if (s->rc != APITOKEN_ERR_DENIED)
		return web_reply_error(r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
		                       "temporarily_unavailable",
		                       "sign-in is not available now; try "
		                       "again later");
	apitokend_throttle_fail(d->web->by_user, s->user, strlen(s->user));
	apitokend_throttle_fail(d->web->by_addr, peer, strlen(peer));
	/* The name may be a mistyped password: it is not logged. */
	apitoken_log(APITOKEN_LOG_NOTICE, "web: failed sign-in from %s", peer);
	return bad_credentials(r, c);
}

static enum MHD_Result
signin_start(struct apitokend *d, struct apitokend_req *r,
             struct MHD_Connection *c, const char *peer, char *body,
             size_t len)
{
	const apitoken_web_config_t *w = apitokend_gen(d)->cfg->web;
	struct apitokend_web *web = d->web;
	const cJSON *user, *pw;
	struct signin *s = NULL;
	pthread_attr_t attr;
	pthread_t tid;
	unsigned wait;
	cJSON *o;
	enum MHD_Result ret;
	bool refused;
	int err;

	ret = refuse_unsafe(r, c, len, &refused);
	if (refused)
		return ret;
	o = cJSON_ParseWithLength(body, len);
	user = cJSON_GetObjectItemCaseSensitive(o, "user");
	pw = cJSON_GetObjectItemCaseSensitive(o, "password");
	if (!cJSON_IsString(user) || !cJSON_IsString(pw) ||
	    user->valuestring[0] == '\0' || pw->valuestring[0] == '\0') {
		ret = web_reply_error(
		    r, c, MHD_HTTP_BAD_REQUEST, "invalid_request",
		    "send {\"user\": ..., \"password\": ...}");
		goto out;
	}
	wait = apitokend_throttle_wait(web->by_addr, peer, strlen(peer));
	if (wait == 0)
		wait = apitokend_throttle_wait(web->by_user, user->valuestring,
		                               strlen(user->valuestring));
	if (wait > 0) {
		ret = too_many(r, c, wait);
		goto out;
	}
	if (!apitoken_user_name_valid(user->valuestring)) {
		/* No such name can hold a token: fail as a wrong password. */
		apitokend_throttle_fail(web->by_addr, peer, strlen(peer));
		ret = bad_credentials(r, c);
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->password = strdup(pw->valuestring)) == NULL) {
		ret = MHD_NO;
		goto out;
	}
	s->web = web;
	s->c = c;
	s->rc = 1;
	snprintf(s->service, sizeof(s->service), "%s", w->pam_service);
	snprintf(s->user, sizeof(s->user), "%s", user->valuestring);
	pthread_mutex_lock(&web->lock);
	if (web->running >= SIGNIN_MAX_RUNNING) {
		pthread_mutex_unlock(&web->lock);
		ret = reply_error_hdr(r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
		                      "temporarily_unavailable",
		                      "too many sign-ins at once; try again",
		                      MHD_HTTP_HEADER_RETRY_AFTER, "1");
		goto out;
	}
	*apitokend_req_web_slot(r) = s;
	MHD_suspend_connection(c);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&tid, &attr, signin_thread, s);
	pthread_attr_destroy(&attr);
	if (err != 0) {
		MHD_resume_connection(c);
		pthread_mutex_unlock(&web->lock);
		s->rc = apitoken_error(APITOKEN_ERR_UNAVAILABLE,
		                       "cannot start a sign-in thread");
		s = NULL;
		ret = MHD_YES; /* answered on the resumed call */
		goto out;
	}
	web->running++;
	pthread_mutex_unlock(&web->lock);
	s = NULL;
	ret = MHD_YES;
out:
	if (pw != NULL && cJSON_IsString(pw))
		OPENSSL_cleanse(pw->valuestring, strlen(pw->valuestring));
	cJSON_Delete(o);
	apitokend_web_req_done(s);
	return ret;
}

static enum MHD_Result
session_endpoint(struct apitokend *d, struct apitokend_req *r,
                 struct MHD_Connection *c, const char *method,
                 const char *peer, char *body, size_t len)
{
	const apitoken_web_config_t *w = apitokend_gen(d)->cfg->web;
	struct web_session_info info;
	char cookie[200];
	const char *hdrs[3] = {MHD_HTTP_HEADER_SET_COOKIE, cookie, NULL};
	const char *pu;
	enum MHD_Result ret;
	bool refused, have;

	have = find_session(d, c, peer, &info) == 0;
	if (strcmp(method, "GET") == 0) {
		if (have)
			ret = web_reply_json(
			    r, c, MHD_HTTP_OK,
			    session_text(w, info.user, info.csrf));
		else if ((pu = proxy_user(w, c, peer)) != NULL)
			ret = open_session(d, r, c, pu, peer);
		else
			ret = web_reply_json(r, c, MHD_HTTP_OK,
			                     session_text(w, NULL, NULL));
		OPENSSL_cleanse(&info, sizeof(info));
		return ret;
	}
	if (strcmp(method, "POST") == 0) {
		if (w->auth != APITOKEN_WEB_AUTH_PAM)
			return web_reply_error(
			    r, c, MHD_HTTP_METHOD_NOT_ALLOWED,
			    "invalid_request",
			    "sign in through the front proxy");
		return signin_start(d, r, c, peer, body, len);
	}
	if (strcmp(method, "DELETE") == 0) {
		ret = refuse_unsafe(r, c, len, &refused);
		if (refused)
			return ret;
		if (have && !csrf_ok(c, &info))
			return web_reply_error(r, c, MHD_HTTP_FORBIDDEN,
			                       "csrf",
			                       "the CSRF token is "
			                       "missing or wrong");
		if (have) {
			web_session_remove(
			    d->web->sessions,
			    MHD_lookup_connection_value(c, MHD_COOKIE_KIND,
			                                cookie_name(d)));
			apitoken_log(APITOKEN_LOG_NOTICE,
			             "web: user %s signed out from %s",
			             info.user, peer);
		}
		set_cookie_value(d, NULL, cookie, sizeof(cookie));
		return reply_json_hdrs(r, c, MHD_HTTP_OK,
		                       session_text(w, NULL, NULL), hdrs);
	}
	return web_reply_error(r, c, MHD_HTTP_METHOD_NOT_ALLOWED,
	                       "invalid_request",
	                       "use GET, POST or DELETE on the session");
}

/* ---- tokens ---- */

static enum MHD_Result
me_token(struct apitokend *d, struct apitokend_req *r,
         struct MHD_Connection *c, const char *method, const char *peer,
         const char *body, size_t len)
{
	struct web_session_info info;
	struct web_actor actor;
	enum MHD_Result ret;
	bool refused, unsafe;

	unsafe = strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
	if (unsafe) {
		ret = refuse_unsafe(r, c, len, &refused);
		if (refused)
			return ret;
	}
	if (find_session(d, c, peer, &info) != 0)
		return web_reply_error(r, c, MHD_HTTP_UNAUTHORIZED,
		                       "not_signed_in",
		                       "sign in first (the session may have "
		                       "expired)");
	if (unsafe) {
		if (!csrf_ok(c, &info))
			return web_reply_error(r, c, MHD_HTTP_FORBIDDEN,
			                       "csrf",
			                       "the CSRF token is "
			                       "missing or wrong");
	}
	actor.kind = WEB_ACTOR_USER;
	actor.id = info.user;
	actor.source = peer;
	ret = web_api_token(d, r, c, method, info.user, &actor, body, len);
	OPENSSL_cleanse(&info, sizeof(info));
	return ret;
}

/* /api/v1/users/USER/token for a client with the manage right. */
static enum MHD_Result
users_token(struct apitokend *d, struct apitokend_req *r,
            struct MHD_Connection *c, const char *url, const char *method,
            const char *peer, const char *body, size_t len)
{
	struct apitokend_form f;
	struct apitokend_client client;
	struct web_actor actor;
	char user[APITOKEN_USER_MAX + 1];
	const char *p = url + strlen(USERS_PREFIX), *slash;
	enum MHD_Result ret;
	bool refused;

	slash = strchr(p, '/');
	if (slash == NULL || strcmp(slash, "/token") != 0 ||
	    (size_t)(slash - p) >= sizeof(user))
		return web_reply_error(r, c, MHD_HTTP_NOT_FOUND,
		                       "invalid_request", "no such endpoint");
	memcpy(user, p, (size_t)(slash - p));
	user[slash - p] = '\0';
	memset(&f, 0, sizeof(f));
	switch (apitokend_client_auth(d, c, &f, &client)) {
	case APITOKEND_AUTH_OK:
		break;
	case APITOKEND_AUTH_ERROR:
		return web_reply_error(r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
		                       "temporarily_unavailable",
		                       "the token store failed");
	case APITOKEND_AUTH_THROTTLED:
		return too_many(r, c, client.retry_after);
	default:
		return reply_error_hdr(r, c, MHD_HTTP_UNAUTHORIZED,
		                       "invalid_client",
		                       "client authentication failed",
		                       MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		                       "Basic realm=\"apitoken\"");
	}
	apitokend_req_note(r, client.id, NULL);
	if (!(client.flags & APITOKEN_CLIENT_CAN_MANAGE))
		return web_reply_error(r, c, MHD_HTTP_FORBIDDEN,
		                       "unauthorized_client",
		                       "this client may not manage tokens "
		                       "(apitokenctl client add ID "
		                       "--can-manage)");
	if (!apitoken_user_name_valid(user))
		return web_reply_error(r, c, MHD_HTTP_BAD_REQUEST,
		                       "invalid_request",
		                       "invalid user name in the path");
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		ret = refuse_unsafe(r, c, len, &refused);
		if (refused)
			return ret;
	}
	actor.kind = WEB_ACTOR_CLIENT;
	actor.id = client.id;
	actor.source = peer;
	return web_api_token(d, r, c, method, user, &actor, body, len);
}

enum MHD_Result
apitokend_web(struct apitokend *d, struct apitokend_req *r,
              struct MHD_Connection *c, const char *url, const char *method,
              char *body, size_t len, bool too_large)
{
	const apitoken_web_config_t *w = apitokend_gen(d)->cfg->web;
	void **slot = apitokend_req_web_slot(r);
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	char peer[64];
	size_t i;

	if (d->web == NULL || w == NULL)
		return web_reply_error(r, c, MHD_HTTP_NOT_FOUND,
		                       "invalid_request",
		                       "the self-service page is not "
		                       "configured");
	apitokend_req_peer(c, peer, sizeof(peer));
	if (*slot != NULL)
		return signin_finish(d, r, c, *slot, peer);
	if (too_large)
		return web_reply_error(r, c, MHD_HTTP_CONTENT_TOO_LARGE,
		                       "invalid_request",
		                       "the request body is too large");
	if (strcmp(url, "/account") == 0)
		return reply_error_hdr(r, c, MHD_HTTP_MOVED_PERMANENTLY,
		                       "moved", "the page is at /account/",
		                       MHD_HTTP_HEADER_LOCATION, "/account/");
	for (i = 0; i < N_ASSETS; i++)
		if (strcmp(url, asset_defs[i].url) == 0) {
			if (!get)
				return reply_error_hdr(
				    r, c, MHD_HTTP_METHOD_NOT_ALLOWED,
				    "invalid_request", "use GET",
				    MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
			return apitokend_reply(r, c, MHD_HTTP_OK,
			                       d->web->assets[i]);
		}
	if (strcmp(url, "/api/v1/session") == 0)
		return session_endpoint(d, r, c, method, peer, body, len);
	if (strcmp(url, "/api/v1/me/token") == 0)
		return me_token(d, r, c, method, peer, body, len);
	if (strncmp(url, USERS_PREFIX, strlen(USERS_PREFIX)) == 0)
		return users_token(d, r, c, url, method, peer, body, len);
	return web_reply_error(r, c, MHD_HTTP_NOT_FOUND, "invalid_request",
	                       "no such endpoint");
}
