/*
 * Unit tests of the notification mail composition and retry schedule
 * (introspect/mail_message.c): what a user finds in their mailbox.
 */
#include "config.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include <apitoken/error.h>
#include <apitoken/policy.h>

#include "../../introspect/mail_int.h"
#include "unit.h"

/* 2026-11-28T02:30:17Z, a Saturday */
#define T_CHANGE 1795833017LL
#define T_EXP (T_CHANGE + 180LL * 86400)
#define T_NOW (T_CHANGE + 5)

static apitoken_notice_t
notice(const char *kind)
{
	apitoken_notice_t n = {
	    .seq = 42,
	    .kind = kind,
	    .user = "alice",
	    .email = "alice@example.org",
	    .token_id = "AbCdEfGh01234567",
	    .hint = "wxyz",
	    .origin = "apitokenctl uid 0",
	    .time = T_CHANGE,
	    .token_exp = T_EXP,
	    .attempts = 0,
	    .next_attempt = T_CHANGE,
	    .last_error = "",
	    .message_id = "<42.AbCdEfGh01234567@apitoken.example>",
	};
	return n;
}

struct msg {
	char *raw;
	size_t len;
	char *headers;    /* up to the blank line, CRLF kept */
	const char *body; /* decoded */
	char *decoded;
	bool qp;
};

/*
 * Decode quoted-printable: soft breaks vanish, =XX is a byte.  Also
 * checks the encoding's own rules: no encoded line over 76 characters,
 * only printable ASCII, "=" only before two upper-case hex digits or CRLF.
 */
static char *
qp_decode(const char *in)
{
	char *out = malloc(strlen(in) + 1), *o = out;
	const char *p = in;
	size_t col = 0;

	ck_assert_ptr_nonnull(out);
	while (*p != '\0') {
		if (p[0] == '\r' && p[1] == '\n') {
			*o++ = *p++;
			*o++ = *p++;
			col = 0;
			continue;
		}
		ck_assert_msg((unsigned char)*p >= 0x20 &&
		                  (unsigned char)*p < 0x7f,
		              "raw octet in a quoted-printable body");
		if (*p == '=') {
			if (p[1] == '\r' && p[2] == '\n') {
				ck_assert_uint_le(col + 1, 76);
				p += 3;
				col = 0;
				continue;
			}
			ck_assert(strchr("0123456789ABCDEF", p[1]) != NULL &&
			          strchr("0123456789ABCDEF", p[2]) != NULL &&
			          p[1] != '\0' && p[2] != '\0');
			{
				char hexbyte[3] = {p[1], p[2], '\0'};
				*o++ = (char)strtol(hexbyte, NULL, 16);
			}
			p += 3;
			col += 3;
		} else {
			*o++ = *p++;
			col++;
		}
		ck_assert_uint_le(col, 76);
	}
	*o = '\0';
	return out;
}

static void
compose_ok(const apitoken_notice_t *n, struct msg *m)
{
	char *sep;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = apitokend_mail_compose(n, "apitoken@example.net", T_NOW, &m->raw,
	                            &m->len);
	ck_assert_msg(rc == 0, "compose: %s", apitoken_last_error());
	ck_assert_ptr_nonnull(m->raw);
	ck_assert_uint_eq(strlen(m->raw), m->len);
	sep = strstr(m->raw, "\r\n\r\n");
	ck_assert_ptr_nonnull(sep);
	m->headers = strndup(m->raw, (size_t)(sep - m->raw) + 2);
	ck_assert_ptr_nonnull(m->headers);
	m->qp = strstr(m->headers, "\r\nContent-Transfer-Encoding: "
	                           "quoted-printable\r\n") != NULL;
	if (m->qp) {
		m->decoded = qp_decode(sep + 4);
		m->body = m->decoded;
	} else {
		m->body = sep + 4;
	}
}

static void
msg_free(struct msg *m)
{
	free(m->raw);
	free(m->headers);
	free(m->decoded);
}

/* Value of header name (first occurrence), or NULL; static buffer. */
static const char *
header(const struct msg *m, const char *name)
{
	static char val[1024];
	size_t nl = strlen(name);
	const char *p = m->headers;

	while (*p != '\0') {
		const char *eol = strstr(p, "\r\n");

		ck_assert_ptr_nonnull(eol);
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':' &&
		    p[nl + 1] == ' ') {
			size_t vl = (size_t)(eol - p) - nl - 2;

			ck_assert_uint_lt(vl, sizeof(val));
			memcpy(val, p + nl + 2, vl);
			val[vl] = '\0';
			return val;
		}
		p = eol + 2;
	}
	return NULL;
}

static int
header_count(const struct msg *m, const char *name)
{
	size_t nl = strlen(name);
	const char *p = m->headers;
	int count = 0;

	while (*p != '\0') {
		const char *eol = strstr(p, "\r\n");

		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':')
			count++;
		p = eol + 2;
	}
	return count;
}

static void
assert_match(const char *text, const char *re)
{
	regex_t rx;

	ck_assert_int_eq(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_msg(regexec(&rx, text, 0, NULL, 0) == 0,
	              "'%s' does not match /%s/", text, re);
	regfree(&rx);
}

/* Every line ends in CRLF, no line is over 998 octets, headers are
 * ASCII and each header line is "Name: value". */
static void
assert_wellformed(const struct msg *m)
{
	const char *p;
	size_t col = 0;

	for (p = m->raw; *p != '\0'; p++) {
		if (*p == '\n') {
			ck_assert_msg(p > m->raw && p[-1] == '\r',
			              "bare LF at offset %zu",
			              (size_t)(p - m->raw));
			col = 0;
			continue;
		}
		if (*p == '\r')
			ck_assert_msg(p[1] == '\n', "bare CR");
		ck_assert_uint_lt(++col, 999);
	}
	for (p = m->headers; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		ck_assert_msg(c < 0x80 &&
		                  (c >= 0x20 || c == '\r' || c == '\n'),
		              "non-ASCII or control octet in headers");
	}
	for (p = m->headers; *p != '\0'; p = strstr(p, "\r\n") + 2)
		assert_match(p, "^[A-Za-z-]+: [^\r]*\r\n");
}

static void
assert_common(const struct msg *m)
{
	assert_wellformed(m);
	ck_assert_str_eq(header(m, "From"), "apitoken <apitoken@example.net>");
	ck_assert_str_eq(header(m, "To"), "\"alice\" <alice@example.org>");
	ck_assert_str_eq(header(m, "Message-ID"),
	                 "<42.AbCdEfGh01234567@apitoken.example>");
	ck_assert_str_eq(header(m, "Date"), "Sat, 28 Nov 2026 02:30:22 +0000");
	ck_assert_str_eq(header(m, "MIME-Version"), "1.0");
	ck_assert_str_eq(header(m, "Content-Type"),
	                 "text/plain; charset=utf-8");
	/* ASCII only: no 8BITMIME needed from the relay */
	ck_assert_str_eq(header(m, "Content-Transfer-Encoding"), "7bit");
	ck_assert_str_eq(header(m, "Auto-Submitted"), "auto-generated");
	ck_assert_int_eq(header_count(m, "To"), 1);
	ck_assert_int_eq(header_count(m, "Subject"), 1);
	ck_assert_ptr_nonnull(strstr(m->body, "Hello alice,\r\n"));
	ck_assert_ptr_nonnull(strstr(m->body, "AbCdEfGh01234567"));
	ck_assert_ptr_nonnull(strstr(m->body, "...wxyz"));
	ck_assert_ptr_nonnull(strstr(m->body, "2026-11-28T02:30:17Z"));
	ck_assert_ptr_nonnull(strstr(m->body, "apitokenctl uid 0"));
}

START_TEST(created)
{
	apitoken_notice_t n = notice("created");
	struct msg m;

	compose_ok(&n, &m);
	assert_common(&m);
	ck_assert_str_eq(header(&m, "Subject"), "Your API token was created");
	ck_assert_str_eq(header(&m, "X-Apitoken-Notice"), "created");
	ck_assert_ptr_nonnull(strstr(m.body, "was created for your account"));
	/* expiry 180 days later */
	ck_assert_ptr_nonnull(
	    strstr(m.body, "Expires:   2027-05-27T02:30:17Z"));
	ck_assert_ptr_nonnull(strstr(m.body, "If this was not you"));
	ck_assert_ptr_nonnull(
	    strstr(m.body, "\"apitokenctl token revoke alice\""));
	msg_free(&m);
}
END_TEST

START_TEST(regenerated)
{
	apitoken_notice_t n = notice("regenerated");
	struct msg m;

	compose_ok(&n, &m);
	assert_common(&m);
	ck_assert_str_eq(header(&m, "Subject"),
	                 "Your API token was regenerated");
	ck_assert_ptr_nonnull(strstr(m.body, "previous one was revoked"));
	ck_assert_ptr_nonnull(strstr(m.body, "If this was not you"));
	msg_free(&m);
}
END_TEST

START_TEST(revoked)
{
	apitoken_notice_t n = notice("revoked");
	struct msg m;

	n.origin = "self-revocation via /revoke from 127.0.0.1";
	compose_ok(&n, &m);
	assert_wellformed(&m);
	ck_assert_str_eq(header(&m, "Subject"), "Your API token was revoked");
	ck_assert_ptr_nonnull(strstr(m.body, "token was revoked"));
	ck_assert_ptr_nonnull(strstr(m.body, "AbCdEfGh01234567"));
	ck_assert_ptr_nonnull(strstr(
	    m.body, "By:        self-revocation via /revoke from 127.0.0.1"));
	ck_assert_ptr_nonnull(strstr(m.body, "If this was not you"));
	/* a revoked token's expiry is no longer news */
	ck_assert_ptr_null(strstr(m.body, "Expires:"));
	msg_free(&m);
}
END_TEST

START_TEST(expired)
{
	apitoken_notice_t n = notice("expired");
	struct msg m;

	n.origin = "apitokend sweep";
	n.time = T_EXP;
	compose_ok(&n, &m);
	assert_wellformed(&m);
	ck_assert_str_eq(header(&m, "Subject"), "Your API token expired");
	ck_assert_ptr_nonnull(strstr(m.body, "expired and was deleted"));
	ck_assert_ptr_nonnull(
	    strstr(m.body, "Expired:   2027-05-27T02:30:17Z"));
	ck_assert_ptr_nonnull(strstr(m.body, "...wxyz"));
	msg_free(&m);
}
END_TEST

START_TEST(reminder)
{
	apitoken_notice_t n = notice("reminder");
	struct msg m;

	compose_ok(&n, &m);
	assert_common(&m);
	ck_assert_str_eq(header(&m, "Subject"),
	                 "Your API token will expire on 2027-05-27");
	ck_assert_ptr_nonnull(
	    strstr(m.body, "will expire on 2027-05-27T02:30:17Z."));
	msg_free(&m);
}
END_TEST

START_TEST(msgid_without_brackets)
{
	apitoken_notice_t n = notice("created");
	struct msg m;

	n.message_id = "apitoken.42.x@host.example";
	compose_ok(&n, &m);
	ck_assert_str_eq(header(&m, "Message-ID"),
	                 "<apitoken.42.x@host.example>");
	msg_free(&m);
}
END_TEST

START_TEST(refused)
{
	static const char *const bad_email[] = {
	    "alice@example.org\r\nBcc: mallory@evil.example",
	    "alice@example.org>\r\nRCPT TO:<mallory@evil.example",
	    "alice @example.org",
	    "alice",
	    "@example.org",
	    "alice@",
	    "a@b@c",
	    "alice@example.org,mallory@evil.example",
	    "\"alice\"@example.org",
	    "",
	};
	static const char *const bad_msgid[] = {
	    "<a@b>\r\nBcc: mallory@evil.example",
	    "no-at-sign",
	    "<two@at@signs>",
	    "<sp ace@x>",
	    "",
	    "<>",
	    "a@b\n",
	};
	apitoken_notice_t n;
	char *raw = (char *)"unchanged";
	size_t len = 7, i;

	for (i = 0; i < sizeof(bad_email) / sizeof(bad_email[0]); i++) {
		n = notice("created");
		n.email = bad_email[i];
		ck_assert_int_eq(
		    apitokend_mail_compose(&n, "a@b.c", T_NOW, &raw, &len),
		    APITOKEN_ERR_INVALID);
		ck_assert_ptr_null(raw);
		ck_assert_uint_eq(len, 0);
		/* the detail names the notice, not the address */
		ck_assert_ptr_nonnull(
		    strstr(apitoken_last_error(), "notice 42"));
		ck_assert_ptr_null(strstr(apitoken_last_error(), "evil"));
	}
	for (i = 0; i < sizeof(bad_msgid) / sizeof(bad_msgid[0]); i++) {
		n = notice("created");
		n.message_id = bad_msgid[i];
		ck_assert_int_eq(
		    apitokend_mail_compose(&n, "a@b.c", T_NOW, &raw, &len),
		    APITOKEN_ERR_INVALID);
	}
	n = notice("promoted");
	ck_assert_int_eq(
	    apitokend_mail_compose(&n, "a@b.c", T_NOW, &raw, &len),
	    APITOKEN_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(apitoken_last_error(), "unknown kind"));
	n = notice("created");
	ck_assert_int_eq(
	    apitokend_mail_compose(&n, "a@b.c\r\nBcc: x@y", T_NOW, &raw, &len),
	    APITOKEN_ERR_INVALID);
}
END_TEST

/* CR/LF and other controls in free text never make a header line. */
START_TEST(injection_in_text)
{
	apitoken_notice_t n = notice("revoked");
	struct msg m;

	n.user = "alice\r\nBcc: mallory@evil.example";
	n.origin = "from 10.0.0.1\r\nSubject: pwned\r\n\r\nfake body\x1b[31m";
	compose_ok(&n, &m);
	assert_wellformed(&m);
	ck_assert_int_eq(header_count(&m, "Bcc"), 0);
	ck_assert_int_eq(header_count(&m, "Subject"), 1);
	ck_assert_str_eq(header(&m, "Subject"), "Your API token was revoked");
	/* no display name from a name that is not plain */
	ck_assert_str_eq(header(&m, "To"), "<alice@example.org>");
	ck_assert_ptr_nonnull(
	    strstr(m.body, "Hello alice??Bcc: mallory@evil.example,\r\n"));
	ck_assert_ptr_nonnull(
	    strstr(m.body, "By:        from 10.0.0.1??Subject: pwned????fake "
	                   "body?[31m\r\n"));
	ck_assert_ptr_null(strstr(m.raw, "\r\nSubject: pwned"));
	ck_assert_ptr_nonnull(strstr(m.body, "\"apitokenctl token revoke\""));
	msg_free(&m);
}
END_TEST

START_TEST(text_utf8)
{
	apitoken_notice_t n = notice("created");
	struct msg m;
	char longer[1001];

	/* valid UTF-8 stays, invalid bytes and bidi overrides do not */
	n.origin = "admin in Z\xc3\xbcrich \xe2\x80\xae"
	           "evil\xff\xc0\xaf";
	compose_ok(&n, &m);
	assert_wellformed(&m);
	/* non-ASCII goes quoted-printable (no 8BITMIME from libcurl) */
	ck_assert(m.qp);
	ck_assert_ptr_nonnull(strstr(m.raw, "admin in Z=C3=BCrich ?evil???"));
	ck_assert_ptr_nonnull(strstr(m.body,
	                             "By:        admin in Z\xc3\xbcrich"
	                             " ?evil???\r\n"));
	ck_assert_ptr_nonnull(strstr(m.body, "Hello alice,\r\n"));
	msg_free(&m);

	/* long lines get soft breaks; a trailing space survives */
	n.origin = "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
	           "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
	           "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc "
	           "=end ";
	compose_ok(&n, &m);
	ck_assert(m.qp);
	ck_assert_ptr_nonnull(strstr(m.raw, "=\r\n"));
	ck_assert_ptr_nonnull(strstr(m.raw, "=3Dend=20\r\n"));
	ck_assert_ptr_nonnull(strstr(
	    m.body,
	    "By:        \xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
	    "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
	    "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc =end \r\n"));
	msg_free(&m);

	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	n.origin = longer;
	compose_ok(&n, &m);
	assert_wellformed(&m);
	assert_match(m.body, "By:        x{197}\\.\\.\\.\r\n");
	msg_free(&m);
}
END_TEST

/* At most the last four characters of the token, whatever the notice
 * holds; no hint, no "...". */
START_TEST(hint_at_most_four)
{
	apitoken_notice_t n = notice("created");
	struct msg m;

	n.hint = "abcdefwxyz";
	compose_ok(&n, &m);
	ck_assert_ptr_nonnull(strstr(m.body, "...wxyz)"));
	ck_assert_ptr_null(strstr(m.body, "fwxyz"));
	msg_free(&m);

	n.hint = "";
	compose_ok(&n, &m);
	ck_assert_ptr_null(strstr(m.body, "..."));
	ck_assert_ptr_nonnull(
	    strstr(m.body, "Token id:  AbCdEfGh01234567\r\n"));
	msg_free(&m);
}
END_TEST

START_TEST(backoff)
{
	/* 2 s, doubling, capped at retry_max */
	ck_assert_int_eq(apitokend_mail_backoff(1, 3600), 2);
	ck_assert_int_eq(apitokend_mail_backoff(2, 3600), 4);
	ck_assert_int_eq(apitokend_mail_backoff(3, 3600), 8);
	ck_assert_int_eq(apitokend_mail_backoff(11, 3600), 2048);
	ck_assert_int_eq(apitokend_mail_backoff(12, 3600), 3600);
	ck_assert_int_eq(apitokend_mail_backoff(4000000000u, 3600), 3600);
	ck_assert_int_eq(apitokend_mail_backoff(3, 5), 5);
	ck_assert_int_eq(apitokend_mail_backoff(1, 1), 1);
	ck_assert_int_eq(apitokend_mail_backoff(1, 0), 1);
	ck_assert_int_eq(apitokend_mail_backoff(0, 3600), 2);
	ck_assert_int_eq(apitokend_mail_backoff(70, INT64_MAX), INT64_MAX);
}
END_TEST

START_TEST(helpers)
{
	char buf[21];

	apitokend_mail_iso8601(0, buf);
	ck_assert_str_eq(buf, "1970-01-01T00:00:00Z");
	apitokend_mail_iso8601(T_CHANGE, buf);
	ck_assert_str_eq(buf, "2026-11-28T02:30:17Z");
	ck_assert_str_eq(apitokend_mail_domain("alice@example.org"),
	                 "example.org");
	ck_assert_str_eq(apitokend_mail_domain("nodomain"), "");
	ck_assert(apitoken_email_valid("a.b+c@d-e.example"));
	ck_assert(!apitoken_email_valid(NULL));
}
END_TEST

static Suite *
mail_message_suite(void)
{
	Suite *s = suite_create("mail_message");
	TCase *tc = tcase_create("compose");

	tcase_add_test(tc, created);
	tcase_add_test(tc, regenerated);
	tcase_add_test(tc, revoked);
	tcase_add_test(tc, expired);
	tcase_add_test(tc, reminder);
	tcase_add_test(tc, msgid_without_brackets);
	tcase_add_test(tc, refused);
	tcase_add_test(tc, injection_in_text);
	tcase_add_test(tc, text_utf8);
	tcase_add_test(tc, hint_at_most_four);
	tcase_add_test(tc, backoff);
	tcase_add_test(tc, helpers);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(mail_message_suite());
}
