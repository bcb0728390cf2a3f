/*
 * Record encoding.  The store is read back from disk, which may have been
 * damaged or edited, so every decoder checks every length and rejects a
 * malformed record with APITOKEN_ERR_CORRUPT rather than trusting it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <apitoken/error.h>

#include "store_int.h"

void
store_be64(uint8_t out[8], uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		out[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

uint64_t
store_get_be64(const uint8_t in[8])
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | in[i];
	return v;
}

void
wbuf_init(struct wbuf *w)
{
	memset(w, 0, sizeof(*w));
}

void
wbuf_free(struct wbuf *w)
{
	free(w->p);
	memset(w, 0, sizeof(*w));
}

static bool
wbuf_reserve(struct wbuf *w, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (w->oom)
		return false;
	if (n > SIZE_MAX / 2 - w->len) {
		w->oom = true;
		return false;
	}
	if (w->len + n <= w->cap)
		return true;
	cap = w->cap != 0 ? w->cap : 128;
	while (cap < w->len + n)
		cap *= 2;
	p = realloc(w->p, cap);
	if (p == NULL) {
		w->oom = true;
		return false;
	}
	w->p = p;
	w->cap = cap;
	return true;
}

void
wbuf_bytes(struct wbuf *w, const void *p, size_t n)
{
	if (n == 0 || !wbuf_reserve(w, n))
		return;
	memcpy(w->p + w->len, p, n);
	w->len += n;
}

void
wbuf_u8(struct wbuf *w, uint8_t v)
{
	wbuf_bytes(w, &v, 1);
}

void
wbuf_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16),
	                (uint8_t)(v >> 8), (uint8_t)v};

	wbuf_bytes(w, b, sizeof(b));
}

void
wbuf_i64(struct wbuf *w, int64_t v)
{
	uint8_t b[8];

	store_be64(b, (uint64_t)v);
	wbuf_bytes(w, b, sizeof(b));
}

void
wbuf_str(struct wbuf *w, const char *s)
{
	size_t n;

	if (s == NULL)
		s = "";
	n = strlen(s) + 1;
	if (n > 0xffff) {
		w->oom = true; /* callers validate lengths first */
		return;
	}
	wbuf_u8(w, (uint8_t)(n >> 8));
	wbuf_u8(w, (uint8_t)n);
	wbuf_bytes(w, s, n);
}

static int
wbuf_done(const struct wbuf *w)
{
	if (w->oom)
		return apitoken_error(APITOKEN_ERR_NOMEM,
		                      "out of memory encoding a record");
	return 0;
}

void
rbuf_init(struct rbuf *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->bad = false;
}

const uint8_t *
rbuf_bytes(struct rbuf *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

uint8_t
rbuf_u8(struct rbuf *r)
{
	const uint8_t *p = rbuf_bytes(r, 1);

	return p != NULL ? p[0] : 0;
}

uint32_t
rbuf_u32(struct rbuf *r)
{
	const uint8_t *p = rbuf_bytes(r, 4);

	if (p == NULL)
		return 0;
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

int64_t
rbuf_i64(struct rbuf *r)
{
	const uint8_t *p = rbuf_bytes(r, 8);

	return p != NULL ? (int64_t)store_get_be64(p) : 0;
}

/* A NUL-terminated string of at most max bytes (without the NUL). */
const char *
rbuf_str(struct rbuf *r, size_t max)
{
	const uint8_t *hdr, *s;
	size_t n;

	hdr = rbuf_bytes(r, 2);
	if (hdr == NULL)
		return NULL;
	n = ((size_t)hdr[0] << 8) | hdr[1];
	if (n == 0 || n - 1 > max) {
		r->bad = true;
		return NULL;
	}
	s = rbuf_bytes(r, n);
	if (s == NULL)
		return NULL;
	if (s[n - 1] != '\0' || memchr(s, '\0', n - 1) != NULL) {
		r->bad = true;
		return NULL;
	}
	return (const char *)s;
}

int
rbuf_end(const struct rbuf *r, const char *what)
{
	if (r->bad || r->off != r->len)
		return apitoken_error(APITOKEN_ERR_CORRUPT,
		                      "store: malformed %s record", what);
	return 0;
}

static bool
rbuf_version(struct rbuf *r)
{
	if (rbuf_u8(r) != STORE_REC_VERSION) {
		r->bad = true;
		return false;
	}
	return true;
}

/* ---- tokens ---------------------------------------------------------- */

int
tok_encode(const struct tok_rec *t, struct wbuf *w)
{
	wbuf_u8(w, STORE_REC_VERSION);
	wbuf_bytes(w, t->id, APITOKEN_ID_LEN);
	wbuf_str(w, t->user);
	wbuf_bytes(w, t->hint, 4);
	wbuf_i64(w, t->iat);
	wbuf_i64(w, t->exp);
	wbuf_i64(w, t->reminded);
	return wbuf_done(w);
}

int
tok_decode(const void *p, size_t len, struct tok_rec *t)
{
	struct rbuf r;
	const uint8_t *id, *hint;
	const char *user;
	size_t i;

	memset(t, 0, sizeof(*t));
	rbuf_init(&r, p, len);
	if (!rbuf_version(&r))
		return rbuf_end(&r, "token");
	id = rbuf_bytes(&r, APITOKEN_ID_LEN);
	user = rbuf_str(&r, APITOKEN_USER_MAX);
	hint = rbuf_bytes(&r, 4);
	t->iat = rbuf_i64(&r);
	t->exp = rbuf_i64(&r);
	t->reminded = rbuf_i64(&r);
	if (r.bad)
		return rbuf_end(&r, "token");
	memcpy(t->id, id, APITOKEN_ID_LEN);
	for (i = 0; i < 4; i++) {
		/* Printed in listings and mail: keep it printable. */
		if (hint[i] <= 0x20 || hint[i] >= 0x7f)
			r.bad = true;
	}
	memcpy(t->hint, hint, 4);
	if (!apitoken_token_id_valid(t->id) || !apitoken_user_name_valid(user))
		r.bad = true;
	else
		memcpy(t->user, user, strlen(user) + 1);
	return rbuf_end(&r, "token");
}

/* ---- users ----------------------------------------------------------- */

int
user_encode(const apitoken_user_t *u, struct wbuf *w)
{
	size_t i;

	wbuf_u8(w, STORE_REC_VERSION);
	wbuf_str(w, u->email);
	wbuf_str(w, u->role);
	wbuf_u32(w, (uint32_t)u->n_bus);
	for (i = 0; i < u->n_bus; i++)
		wbuf_str(w, u->bus[i]);
	wbuf_u8(w, u->api_access ? 1 : 0);
	wbuf_i64(w, u->created);
	wbuf_i64(w, u->updated);
	return wbuf_done(w);
}

int
user_decode(const void *p, size_t len, struct user_view *v)
{
	struct rbuf r;
	uint32_t n, i;
	uint8_t access;

	memset(v, 0, sizeof(*v));
	rbuf_init(&r, p, len);
	if (!rbuf_version(&r))
		return rbuf_end(&r, "user");
	v->email = rbuf_str(&r, APITOKEN_EMAIL_MAX);
	v->role = rbuf_str(&r, APITOKEN_ROLE_MAX);
	n = rbuf_u32(&r);
	if (n > STORE_BUS_MAX)
		r.bad = true;
	for (i = 0; i < n && !r.bad; i++)
		v->bus[i] = rbuf_str(&r, 64);
	v->n_bus = r.bad ? 0 : n;
	access = rbuf_u8(&r);
	if (access > 1)
		r.bad = true;
	v->api_access = access == 1;
	v->created = rbuf_i64(&r);
	v->updated = rbuf_i64(&r);
	if (r.bad || r.off != r.len)
		memset(v, 0, sizeof(*v));
	return rbuf_end(&r, "user");
}

/* ---- clients --------------------------------------------------------- */

int
client_encode(const uint8_t hash[APITOKEN_HASH_LEN], const char *name,
              unsigned flags, int64_t created, struct wbuf *w)
{
	wbuf_u8(w, STORE_REC_VERSION);
	wbuf_bytes(w, hash, APITOKEN_HASH_LEN);
	wbuf_str(w, name);
	wbuf_u32(w, flags);
	wbuf_i64(w, created);
	return wbuf_done(w);
}

int
client_decode(const void *p, size_t len, struct client_view *v)
{
	struct rbuf r;

	memset(v, 0, sizeof(*v));
	rbuf_init(&r, p, len);
	if (!rbuf_version(&r))
		return rbuf_end(&r, "client");
	v->hash = rbuf_bytes(&r, APITOKEN_HASH_LEN);
	v->name = rbuf_str(&r, STORE_CLIENT_NAME_MAX);
	v->flags = rbuf_u32(&r);
	v->created = rbuf_i64(&r);
	if (r.bad || r.off != r.len)
		memset(v, 0, sizeof(*v));
	return rbuf_end(&r, "client");
}

/* ---- audit ----------------------------------------------------------- */

int
audit_encode(const apitoken_audit_t *a, struct wbuf *w)
{
	/* Version 2 appends the actor; version 1 records still decode. */
	wbuf_u8(w, STORE_AUDIT_REC_VERSION);
	wbuf_i64(w, a->time);
	wbuf_str(w, a->event);
	wbuf_str(w, a->user);
	wbuf_str(w, a->token_id);
	wbuf_str(w, a->origin);
	wbuf_str(w, a->detail);
	wbuf_u8(w, (uint8_t)a->actor_kind);
	wbuf_str(w, a->actor_id);
	wbuf_str(w, a->source);
	wbuf_str(w, a->reason);
	return wbuf_done(w);
}

int
audit_decode(const void *p, size_t len, apitoken_audit_t *a)
{
	struct rbuf r;
	uint64_t seq = a->seq;

	uint8_t version, kind;

	memset(a, 0, sizeof(*a));
	a->seq = seq;
	rbuf_init(&r, p, len);
	version = rbuf_u8(&r);
	if (r.bad || version < 1 || version > STORE_AUDIT_REC_VERSION) {
		r.bad = true;
		return rbuf_end(&r, "audit");
	}
	a->time = rbuf_i64(&r);
	a->event = rbuf_str(&r, 64);
	a->user = rbuf_str(&r, APITOKEN_USER_MAX);
	a->token_id = rbuf_str(&r, APITOKEN_ID_LEN);
	a->origin = rbuf_str(&r, 0xfffe);
	a->detail = rbuf_str(&r, 0xfffe);
	a->actor_id = a->source = a->reason = "";
	a->actor_kind = APITOKEN_ACTOR_OTHER;
	if (version >= 2) {
		kind = rbuf_u8(&r);
		a->actor_kind = kind <= APITOKEN_ACTOR_CLIENT
		                    ? (apitoken_actor_kind_t)kind
		                    : APITOKEN_ACTOR_OTHER;
		a->actor_id = rbuf_str(&r, 0xfffe);
		a->source = rbuf_str(&r, 0xfffe);
		a->reason = rbuf_str(&r, 0xfffe);
	}
	if (!r.bad)
		a->kind = apitoken_audit_event_parse(a->event);
	return rbuf_end(&r, "audit");
}

/* ---- outbox ---------------------------------------------------------- */

int
notice_encode(const apitoken_notice_t *n, struct wbuf *w)
{
	wbuf_u8(w, STORE_REC_VERSION);
	wbuf_str(w, n->kind);
	wbuf_str(w, n->user);
	wbuf_str(w, n->email);
	wbuf_str(w, n->token_id);
	wbuf_str(w, n->hint);
	wbuf_str(w, n->origin);
	wbuf_i64(w, n->time);
	wbuf_i64(w, n->token_exp);
	wbuf_u32(w, n->attempts);
	wbuf_i64(w, n->next_attempt);
	wbuf_str(w, n->last_error);
	wbuf_str(w, n->message_id);
	return wbuf_done(w);
}

int
notice_decode(const void *p, size_t len, apitoken_notice_t *n)
{
	struct rbuf r;
	uint64_t seq = n->seq;

	memset(n, 0, sizeof(*n));
	n->seq = seq;
	rbuf_init(&r, p, len);
	if (!rbuf_version(&r))
		return rbuf_end(&r, "notice");
	n->kind = rbuf_str(&r, 32);
	n->user = rbuf_str(&r, APITOKEN_USER_MAX);
	n->email = rbuf_str(&r, APITOKEN_EMAIL_MAX);
	n->token_id = rbuf_str(&r, APITOKEN_ID_LEN);
	n->hint = rbuf_str(&r, 4);
	n->origin = rbuf_str(&r, 0xfffe);
	n->time = rbuf_i64(&r);
	n->token_exp = rbuf_i64(&r);
	n->attempts = rbuf_u32(&r);
	n->next_attempt = rbuf_i64(&r);
	n->last_error = rbuf_str(&r, 0xfffe);
	n->message_id = rbuf_str(&r, 0xfffe);
	return rbuf_end(&r, "notice");
}

/* ---- hash references ---------------------------------------------- */

int
hashref_encode(const uint8_t hash[APITOKEN_HASH_LEN], struct wbuf *w)
{
	wbuf_u8(w, STORE_REC_VERSION);
	wbuf_bytes(w, hash, APITOKEN_HASH_LEN);
	return wbuf_done(w);
}

int
hashref_decode(const void *p, size_t len, uint8_t hash_out[APITOKEN_HASH_LEN])
{
	struct rbuf r;
	const uint8_t *h;

	rbuf_init(&r, p, len);
	if (!rbuf_version(&r))
		return rbuf_end(&r, "user index");
	h = rbuf_bytes(&r, APITOKEN_HASH_LEN);
	if (h != NULL)
		memcpy(hash_out, h, APITOKEN_HASH_LEN);
	return rbuf_end(&r, "user index");
}
