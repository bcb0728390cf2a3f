/*
 * apitokend: the HTTP(S) server (libmicrohttpd, thread pool over epoll).
 *
 * Per-request state lives in *req_cls and is recycled through a per-thread
 * free list: a connection stays on one worker thread from the first call
 * to the completion callback, so the list needs no lock and the hot path
 * allocates nothing once warm.  The body is kept only as long as the
 * request and wiped afterwards (it carries a token or a client secret).
 */
#include "config.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include <apitoken/error.h>
#include <apitoken/log.h>

#include "apitokend.h"
#include "http_limits.h"
#include "metrics.h"
#include "throttle.h"
#include "regions.h"
#include "tail.h"
#include "web.h"

#define FREE_LIST_MAX 64
/* A body over max_body is read and dropped up to this size, so that the
 * client, busy writing it, can then read the 413 (a close with unread
 * data would reset the connection); past it the connection is closed. */
#define DRAIN_MAX (8u << 20)

struct apitokend_req {
	struct apitokend_req *next; /* free list */
	enum apitokend_endpoint ep;
	struct timespec start;
	unsigned status; /* 0 until a response is queued */
	bool too_large;
	size_t dropped; /* body bytes read past max_body */
	char *body;
	size_t len, cap;
	char method[12];
	char path[64];
	char client_id[APITOKEN_CLIENT_ID_MAX + 1];
	char jti[APITOKEN_ID_LEN + 1];
	void *web; /* web.c's state (a sign-in in flight), or NULL */
};

struct free_list {
	struct apitokend_req *head;
	unsigned n;
};

static pthread_key_t free_key;
static pthread_once_t free_once = PTHREAD_ONCE_INIT;
static struct MHD_Response *resp_inactive;
static struct MHD_Response *resp_invalid_client;

static void
req_destroy(struct apitokend_req *r)
{
	free(r->body);
	free(r);
}

static void
free_list_destroy(void *p)
{
	struct free_list *fl = p;
	struct apitokend_req *r;

	while ((r = fl->head) != NULL) {
		fl->head = r->next;
		req_destroy(r);
	}
	free(fl);
}

static void
free_key_init(void)
{
	(void)pthread_key_create(&free_key, free_list_destroy);
}

static struct apitokend_req *
req_get(void)
{
	struct free_list *fl = pthread_getspecific(free_key);
	struct apitokend_req *r;

	if (fl != NULL && fl->head != NULL) {
		r = fl->head;
		fl->head = r->next;
		fl->n--;
	} else {
		r = calloc(1, sizeof(*r));
		if (r == NULL)
			return NULL;
	}
	r->next = NULL;
	r->ep = EP_OTHER;
	r->status = 0;
	r->too_large = false;
	r->dropped = 0;
	r->len = 0;
	r->client_id[0] = '\0';
	r->jti[0] = '\0';
	r->web = NULL;
	return r;
}

static void
req_put(struct apitokend_req *r)
{
	struct free_list *fl = pthread_getspecific(free_key);

	if (r->len > 0)
		OPENSSL_cleanse(r->body, r->len);
	if (fl == NULL) {
		fl = calloc(1, sizeof(*fl));
		if (fl == NULL || pthread_setspecific(free_key, fl) != 0) {
			free(fl);
			req_destroy(r);
			return;
		}
	}
	if (fl->n >= FREE_LIST_MAX) {
		req_destroy(r);
		return;
	}
	r->next = fl->head;
	fl->head = r;
	fl->n++;
}

int
apitokend_json_headers(struct MHD_Response *resp)
{
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                            "application/json") != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	                            "no-store") != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_PRAGMA,
	                            "no-cache") != MHD_YES)
		return -1;
	return 0;
}

enum MHD_Result
apitokend_reply(struct apitokend_req *r, struct MHD_Connection *c,
                unsigned status, struct MHD_Response *resp)
{
	enum MHD_Result ret = MHD_queue_response(c, status, resp);

	if (ret == MHD_YES)
		r->status = status;
	return ret;
}

enum MHD_Result
apitokend_reply_inactive(struct apitokend_req *r, struct MHD_Connection *c)
{
	return apitokend_reply(r, c, MHD_HTTP_OK, resp_inactive);
}

enum MHD_Result
apitokend_reply_invalid_client(struct apitokend_req *r,
                               struct MHD_Connection *c)
{
	return apitokend_reply(r, c, MHD_HTTP_UNAUTHORIZED,
	                       resp_invalid_client);
}

static enum MHD_Result
reply_owned(struct apitokend_req *r, struct MHD_Connection *c, unsigned status,
            struct MHD_Response *resp, const char *hdr, const char *value)
{
	enum MHD_Result ret = MHD_NO;

	if (resp == NULL)
		return MHD_NO;
	if (apitokend_json_headers(resp) == 0 &&
	    (hdr == NULL ||
	     MHD_add_response_header(resp, hdr, value) == MHD_YES))
		ret = apitokend_reply(r, c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result
apitokend_reply_json(struct apitokend_req *r, struct MHD_Connection *c,
                     unsigned status, const char *body, size_t len)
{
	return reply_owned(r, c, status,
	                   MHD_create_response_from_buffer(
	                       len, (void *)body, MHD_RESPMEM_MUST_COPY),
	                   NULL, NULL);
}

enum MHD_Result
apitokend_reply_json_take(struct apitokend_req *r, struct MHD_Connection *c,
                          unsigned status, char *body)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
	    strlen(body), body, MHD_RESPMEM_MUST_FREE);

	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	return reply_owned(r, c, status, resp, NULL, NULL);
}

static char *
error_body(const char *code, const char *desc)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;

	if (o == NULL)
		return NULL;
	if (cJSON_AddStringToObject(o, "error", code) != NULL &&
	    (desc == NULL ||
	     cJSON_AddStringToObject(o, "error_description", desc) != NULL))
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

static enum MHD_Result
reply_error_hdr(struct apitokend_req *r, struct MHD_Connection *c,
                unsigned status, const char *code, const char *desc,
                const char *hdr, const char *value)
{
	char *body = error_body(code, desc);

	if (body == NULL)
		return MHD_NO;
	return reply_owned(r, c, status,
	                   MHD_create_response_from_buffer(
	                       strlen(body), body, MHD_RESPMEM_MUST_FREE),
	                   hdr, value);
}

enum MHD_Result
apitokend_reply_error(struct apitokend_req *r, struct MHD_Connection *c,
                      unsigned status, const char *code, const char *desc,
                      const char *www_authenticate)
{
	return reply_error_hdr(
	    r, c, status, code, desc,
	    www_authenticate != NULL ? MHD_HTTP_HEADER_WWW_AUTHENTICATE : NULL,
	    www_authenticate);
}

enum MHD_Result
apitokend_reply_throttled(struct apitokend_req *r, struct MHD_Connection *c,
                          unsigned retry_after)
{
	char secs[16], desc[96];

	snprintf(secs, sizeof(secs), "%u", retry_after);
	snprintf(desc, sizeof(desc),
	         "too many failed authentications; retry after %u s",
	         retry_after);
	return reply_error_hdr(r, c, MHD_HTTP_TOO_MANY_REQUESTS,
	                       "temporarily_unavailable", desc,
	                       MHD_HTTP_HEADER_RETRY_AFTER, secs);
}

/* Bounded copy without printf: this runs on every request. */
static void
copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

void
apitokend_req_note(struct apitokend_req *r, const char *client_id,
                   const char *jti)
{
	if (client_id != NULL)
		copy_str(r->client_id, sizeof(r->client_id), client_id);
	if (jti != NULL)
		copy_str(r->jti, sizeof(r->jti), jti);
}

void **
apitokend_req_web_slot(struct apitokend_req *r)
{
	return &r->web;
}

void
apitokend_req_peer(struct MHD_Connection *c, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	snprintf(buf, len, "unknown");
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return;
	sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(
		    AF_INET,
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    buf, (socklen_t)len);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
		          &((const struct sockaddr_in6 *)(const void *)sa)
		               ->sin6_addr,
		          buf, (socklen_t)len);
}

static enum apitokend_endpoint
route(const char *url)
{
	if (strcmp(url, "/introspect") == 0)
		return EP_INTROSPECT;
	if (strcmp(url, "/revoke") == 0)
		return EP_REVOKE;
	if (strcmp(url, "/.well-known/oauth-authorization-server") == 0)
		return EP_METADATA;
	if (strcmp(url, "/healthz") == 0)
		return EP_HEALTHZ;
	if (strcmp(url, "/metrics") == 0)
		return EP_METRICS;
	if (strcmp(url, "/.well-known/jwks.json") == 0)
		return EP_JWKS;
	if (strcmp(url, "/leaks") == 0)
		return EP_LEAKS;
	if (apitokend_web_path(url))
		return EP_WEB;
	if (strcmp(url, APITOKEND_REGIONS_PATH) == 0 ||
	    strcmp(url, APITOKEND_REGIONS_USES_PATH) == 0)
		return EP_REGIONS;
	return EP_OTHER;
}

static bool
form_content_type(struct MHD_Connection *c)
{
	static const char want[] = "application/x-www-form-urlencoded";
	const char *ct = MHD_lookup_connection_value(
	    c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);

	if (ct == NULL || strncasecmp(ct, want, sizeof(want) - 1) != 0)
		return false;
	ct += sizeof(want) - 1;
	return *ct == '\0' || *ct == ';' || *ct == ' ';
}

/* close: say so (the body will not be read to its end). */
static enum MHD_Result
reply_too_large(struct apitokend *d, struct apitokend_req *r,
                struct MHD_Connection *c, bool close)
{
	char desc[80];

	snprintf(desc, sizeof(desc), "request body larger than %zu bytes",
	         apitokend_gen(d)->cfg->max_body);
	return reply_error_hdr(
	    r, c, MHD_HTTP_CONTENT_TOO_LARGE, "invalid_request", desc,
	    close ? MHD_HTTP_HEADER_CONNECTION : NULL, "close");
}

struct framing {
	unsigned n_length;
	bool conflict;
	const char *first;
};

static enum MHD_Result
count_length(void *cls, enum MHD_ValueKind kind, const char *key,
             const char *value)
{
	struct framing *f = cls;

	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
		return MHD_YES;
	if (f->n_length++ == 0)
		f->first = value;
	else if (value == NULL || f->first == NULL ||
	         strcmp(value, f->first) != 0)
		f->conflict = true;
	return MHD_YES;
}

/*
 * RFC 9112 section 6.3: differing Content-Length headers, or one beside
 * Transfer-Encoding, make the framing ambiguous (a proxy in front may
 * read another body than we do: request smuggling).  NULL or the reason.
 */
static const char *
bad_framing(struct MHD_Connection *c)
{
	struct framing f = {0, false, NULL};

	(void)MHD_get_connection_values(c, MHD_HEADER_KIND, count_length, &f);
	if (f.conflict)
		return "conflicting Content-Length headers";
	if (f.n_length > 0 &&
	    MHD_lookup_connection_value(
	        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)
		return "Content-Length with Transfer-Encoding";
	return NULL;
}

static enum MHD_Result
health(struct apitokend *d, struct apitokend_req *r, struct MHD_Connection *c)
{
	static const char ok[] = "{\"status\":\"ok\"}";
	static const char bad[] = "{\"status\":\"unavailable\"}";
	apitoken_claims_t cl;
	cJSON *o;
	int rc;

	/* Regions: a replica refusing because it is stale says so first
	 * (its store may be locked out while the group elects). */
	if (apitokend_gen(d)->cfg->replication != NULL &&
	    apitokend_regions_refuse_reads(d) &&
	    (o = cJSON_CreateObject()) != NULL) {
		char *text;

		cJSON_AddStringToObject(o, "status", "stale");
		apitokend_regions_health(d, o);
		text = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (text == NULL)
			return MHD_NO;
		return apitokend_reply_json_take(
		    r, c, MHD_HTTP_SERVICE_UNAVAILABLE, text);
	}
	/* A lookup of a well-formed, never-issued token reaches the
	 * database without changing anything. */
	memset(&cl, 0, sizeof(cl));
	rc =
	    apitoken_token_check(d->store, d->health_token,
	                         strlen(d->health_token), apitoken_now(), &cl);
	apitoken_claims_clear(&cl);
	if (rc != 0) {
		apitokend_metrics_store_error();
		apitoken_log(APITOKEN_LOG_ERR, "healthz: store failed: %s",
		             apitoken_last_error());
		return apitokend_reply_json(r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
		                            bad, sizeof(bad) - 1);
	}
	/* Regions: role, master, staleness; a refusing replica is not
	 * healthy (load balancers should send clients elsewhere). */
	if (apitokend_gen(d)->cfg->replication != NULL &&
	    (o = cJSON_CreateObject()) != NULL) {
		char *text;

		cJSON_AddStringToObject(o, "status", "ok");
		apitokend_regions_health(d, o);
		text = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (text == NULL)
			return MHD_NO;
		return apitokend_reply_json_take(r, c, MHD_HTTP_OK, text);
	}
	return apitokend_reply_json(r, c, MHD_HTTP_OK, ok, sizeof(ok) - 1);
}

static enum MHD_Result
metrics(struct apitokend *d, struct apitokend_req *r, struct MHD_Connection *c)
{
	struct MHD_Response *resp;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	enum MHD_Result ret = MHD_NO;

	if (out == NULL)
		return MHD_NO;
	apitokend_metrics_write(out, d->mail);
	apitokend_limits_metrics_write(out);
	apitokend_throttle_metrics_write(out);
	apitokend_regions_metrics(d, out);
	apitokend_tail_write_metrics(d, out);
	apitokend_lastuse_metrics(d, out);
	if (fclose(out) != 0) {
		free(text);
		return MHD_NO;
	}
	resp =
	    MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                            "text/plain; version=0.0.4; "
	                            "charset=utf-8") == MHD_YES &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	                            "no-store") == MHD_YES)
		ret = apitokend_reply(r, c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * First call, headers only.  Only refusals of a POST endpoint are answered
 * here, before the body is read (libmicrohttpd then closes the
 * connection, which is what we want for a body we will not read).
 * Everything else is answered on the last call: a response queued on the
 * first call costs the keep-alive connection.
 */
static enum MHD_Result
first_call(struct apitokend *d, struct apitokend_req *r,
           struct MHD_Connection *c, const char *method)
{
	const char *cl, *why, *expect;
	unsigned long long n;

	why = bad_framing(c);
	if (why != NULL)
		return reply_error_hdr(r, c, MHD_HTTP_BAD_REQUEST,
		                       "invalid_request", why,
		                       MHD_HTTP_HEADER_CONNECTION, "close");
	if (r->ep != EP_INTROSPECT && r->ep != EP_REVOKE)
		return MHD_YES;
	if (strcmp(method, "POST") != 0)
		return reply_error_hdr(r, c, MHD_HTTP_METHOD_NOT_ALLOWED,
		                       "invalid_request",
		                       "this endpoint accepts only POST",
		                       MHD_HTTP_HEADER_ALLOW, "POST");
	if (!form_content_type(c))
		return apitokend_reply_error(
		    r, c, MHD_HTTP_BAD_REQUEST, "invalid_request",
		    "the body must be application/x-www-form-urlencoded",
		    NULL);
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
	n = cl != NULL ? strtoull(cl, NULL, 10) : 0;
	if (n <= apitokend_gen(d)->cfg->max_body)
		return MHD_YES;
	/* A client waiting for "100 Continue" reads the 413 before it
	 * sends; one that sends a body we can drain gets it afterwards. */
	expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	                                     MHD_HTTP_HEADER_EXPECT);
	if (n > DRAIN_MAX ||
	    (expect != NULL && strcasecmp(expect, "100-continue") == 0))
		return reply_too_large(d, r, c, true);
	return MHD_YES;
}

/* Last call, the whole body read. */
static enum MHD_Result
last_call(struct apitokend *d, struct apitokend_req *r,
          struct MHD_Connection *c, const char *method)
{
	struct apitokend_form f;

	switch (r->ep) {
	case EP_INTROSPECT:
	case EP_REVOKE:
		if (r->too_large)
			return reply_too_large(d, r, c, false);
		/* Regions: a replica sends writes to the master; the
		 * master checks what claims to be forwarded.  Both need
		 * the body before parse_form decodes it in place. */
		if (r->ep == EP_REVOKE && apitokend_regions_forwarding(d))
			return apitokend_regions_relay(
			    d, r, c, method, "/revoke", r->body, r->len);
		if (r->ep == EP_REVOKE) {
			enum MHD_Result fr;

			if (apitokend_regions_check(d, r, c, method, "/revoke",
			                            r->body, r->len, &fr) < 0)
				return fr;
		}
		apitokend_form_parse(r->body, r->len, &f);
		if (r->ep == EP_INTROSPECT)
			return apitokend_introspect(d, r, c, &f);
		return apitokend_revoke(d, r, c, &f);
	case EP_REGIONS:
		if (r->too_large)
			return reply_too_large(d, r, c, false);
		if (strcmp(r->path, APITOKEND_REGIONS_USES_PATH) == 0)
			return apitokend_regions_uses(d, r, c, method, r->body,
			                              r->len);
		return apitokend_regions_admin(d, r, c, method, r->body,
		                               r->len);
	case EP_LEAKS:
		return apitokend_leaks(d, r, c, method, r->body, r->len,
		                       r->too_large);
	case EP_JWKS:
	case EP_METADATA:
	case EP_HEALTHZ:
	case EP_METRICS:
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return reply_error_hdr(
			    r, c, MHD_HTTP_METHOD_NOT_ALLOWED,
			    "invalid_request",
			    "this endpoint accepts only "
			    "GET",
			    MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		if (r->ep == EP_METADATA)
			return apitokend_reply(r, c, MHD_HTTP_OK,
			                       apitokend_gen(d)->metadata);
		if (r->ep == EP_HEALTHZ)
			return health(d, r, c);
		if (r->ep == EP_JWKS)
			return apitokend_jwks(d, r, c);
		return metrics(d, r, c);
	default:
		return apitokend_reply_error(r, c, MHD_HTTP_NOT_FOUND,
		                             "invalid_request",
		                             "no such endpoint", NULL);
	}
}

static int
body_append(struct apitokend *d, struct apitokend_req *r, const char *data,
            size_t n)
{
	size_t max = r->ep == EP_REGIONS ? APITOKEND_REGIONS_BODY_MAX
	             : r->ep == EP_LEAKS ? APITOKEND_LEAKS_MAX_BODY
	                                 : apitokend_gen(d)->cfg->max_body;
	char *nb;
	size_t cap;

	if (r->too_large || n > max || r->len + n > max) {
		/* Dropped (and wiped: it may hold a secret), counted, and
		 * the connection closed once past DRAIN_MAX: a chunked body
		 * has no length to refuse up front. */
		r->too_large = true;
		r->dropped += n;
		if (r->len > 0)
			OPENSSL_cleanse(r->body, r->len);
		r->len = 0;
		return r->dropped > DRAIN_MAX ? -1 : 0;
	}
	/* One byte more for the NUL the form decoder writes. */
	if (r->len + n + 1 > r->cap) {
		cap = r->cap != 0 ? r->cap : 512;
		while (cap < r->len + n + 1)
			cap *= 2;
		nb = malloc(cap);
		if (nb == NULL)
			return -1;
		if (r->len > 0) {
			memcpy(nb, r->body, r->len);
			OPENSSL_cleanse(r->body, r->len);
		}
		free(r->body);
		r->body = nb;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	return 0;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url,
        const char *method, const char *version, const char *upload,
        size_t *upload_size, void **req_cls)
{
	struct apitokend *d = cls;
	struct apitokend_req *r = *req_cls;

	(void)version;
	if (r == NULL) {
		r = req_get();
		if (r == NULL)
			return MHD_NO;
		*req_cls = r;
		clock_gettime(CLOCK_MONOTONIC, &r->start);
		r->ep = route(url);
		copy_str(r->method, sizeof(r->method), method);
		/* An unknown path is not logged: a careless client may have
		 * put a token into it. */
		copy_str(r->path, sizeof(r->path),
		         r->ep == EP_OTHER ? "(unknown)" : url);
		apitokend_limits_head_done(c);
		return first_call(d, r, c, method);
	}
	if (r->status != 0) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		apitokend_limits_body(c, *upload_size);
		if (body_append(d, r, upload, *upload_size) != 0)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	apitokend_limits_answering(c);
	if (r->ep == EP_WEB)
		return apitokend_web(d, r, c, url, method, r->body, r->len,
		                     r->too_large);
	return last_call(d, r, c, method);
}

static void
completed(void *cls, struct MHD_Connection *c, void **req_cls,
          enum MHD_RequestTerminationCode toe)
{
	struct apitokend_req *r = *req_cls;
	struct timespec now;
	double secs;

	(void)cls;
	(void)toe;
	apitokend_limits_request_done(c);
	if (r == NULL)
		return;
	*req_cls = NULL;
	if (r->web != NULL) {
		apitokend_web_req_done(r->web);
		r->web = NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (double)(now.tv_sec - r->start.tv_sec) +
	       (double)(now.tv_nsec - r->start.tv_nsec) / 1e9;
	if (r->status != 0)
		apitokend_metrics_request(r->ep, r->status, secs);
	apitokend_access_log(r->method, r->path, r->status, secs, r->client_id,
	                     r->jti);
	req_put(r);
}

static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	if (apitokend_limits_mhd_message(msg))
		return;
	apitoken_log(APITOKEN_LOG_INFO, "http: %s", msg);
}

static struct MHD_Response *
constant(const char *body, unsigned extra, const char *value)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
	    strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);

	if (resp == NULL)
		return NULL;
	if (apitokend_json_headers(resp) != 0 ||
	    (extra &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
	                             value) != MHD_YES)) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

int
apitokend_http_start(struct apitokend *d)
{
	const apitoken_config_t *cfg = apitokend_gen(d)->cfg;
	struct addrinfo hints, *ai = NULL;
	struct MHD_OptionItem opts[20];
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
	                 MHD_ALLOW_SUSPEND_RESUME;
	unsigned threads = cfg->threads;
	char port[8];
	const union MHD_DaemonInfo *info;
	unsigned mhd_limit = 0;
	int n = 0, rc, gai;

	pthread_once(&free_once, free_key_init);
	resp_inactive = constant(APITOKEND_INACTIVE, 0, NULL);
	resp_invalid_client =
	    constant("{\"error\":\"invalid_client\",\"error_description\":"
	             "\"client authentication failed\"}",
	             1, "Basic realm=\"apitoken\"");
	if (resp_inactive == NULL || resp_invalid_client == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	rc = apitokend_web_start(d);
	if (rc != 0)
		return rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", (unsigned)cfg->listen_port);
	gai = getaddrinfo(cfg->listen_host, port, &hints, &ai);
	if (gai != 0)
		return apitoken_error(
		    APITOKEN_ERR_CONFIG, "listen address %s:%s: %s",
		    cfg->listen_host, port, gai_strerror(gai));
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (threads == 0) {
		long np = sysconf(_SC_NPROCESSORS_ONLN);

		threads = np > 0 ? (unsigned)np : 1;
	}
	if (d->listen_fd >= 0)
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET,
		                                    d->listen_fd, NULL};
	else
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0,
		                                    ai->ai_addr};
	if (threads > 1)
		opts[n++] = (struct MHD_OptionItem){
		    MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL};
	opts[n++] =
	    (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
	                            (intptr_t)cfg->connection_timeout, NULL};
	rc = apitokend_limits_start(d, threads, &mhd_limit);
	if (rc != 0)
		goto out;
	rc = apitokend_auth_throttle_start(cfg);
	if (rc != 0)
		goto out;
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
	                                    (intptr_t)mhd_limit, NULL};
	opts[n++] = (struct MHD_OptionItem){
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (intptr_t)cfg->http_max_connections_per_address, NULL};
	opts[n++] =
	    (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION,
	                            (intptr_t)apitokend_limits_notify, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED,
	                                    (intptr_t)completed, d};
	if (d->tls_cert != NULL) {
		flags |= MHD_USE_TLS;
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY,
		                                    0, d->tls_key};
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT,
		                                    0, d->tls_cert};
		opts[n++] = (struct MHD_OptionItem){
		    MHD_OPTION_HTTPS_PRIORITIES, 0,
		    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"};
	}
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

	/* The logger must be the very first option, or MHD warns. */
	d->mhd =
	    MHD_start_daemon(flags, 0, apitokend_limits_accept, NULL, handler,
	                     d, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
	                     MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (d->mhd == NULL) {
		rc = apitoken_error(APITOKEN_ERR_IO,
		                    "cannot listen on %s:%u (address in use, "
		                    "bad TLS key or certificate?)",
		                    cfg->listen_host,
		                    (unsigned)cfg->listen_port);
		goto out;
	}
	info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
	d->port = info != NULL ? info->port : cfg->listen_port;
	rc = 0;
out:
	freeaddrinfo(ai);
	return rc;
}

void
apitokend_http_stop(struct apitokend *d)
{
	if (d->mhd != NULL) {
		apitokend_web_stop(d);
		MHD_stop_daemon(d->mhd);
		d->mhd = NULL;
	}
	apitokend_limits_stop();
	apitokend_auth_throttle_stop();
	apitokend_web_free(d);
	if (resp_inactive != NULL)
		MHD_destroy_response(resp_inactive);
	if (resp_invalid_client != NULL)
		MHD_destroy_response(resp_invalid_client);
	resp_inactive = resp_invalid_client = NULL;
}
