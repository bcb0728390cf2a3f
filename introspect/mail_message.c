/*
 * apitokend: compose the notification mail for one outbox notice, and the
 * retry schedule.  See mail_int.h.
 *
 * The notice's user, email, origin and Message-ID were written by other
 * programs (the origin even carries a peer address), so none of them is
 * trusted to be header-safe: addresses and the Message-ID must match a
 * strict syntax, free text is reduced to printable UTF-8.  The token
 * secret is never in a notice; the message carries only the public id and
 * at most the last four characters.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <apitoken/error.h>
#include <apitoken/policy.h>

#include "mail_int.h"

/* Free text (user name, origin) longer than this is cut. */
#define TEXT_MAX 200
#define MSGID_MAX 250

/* What each kind of notice says.  advice: what to do next. */
struct kind_text {
	const char *kind;
	const char *subject;
	const char *what;
	const char *advice;
	bool show_exp; /* say when the token expires / expired */
	bool not_you;  /* add "if this was not you" */
};

static const struct kind_text kinds[] = {
    {"created", "Your API token was created",
     "A personal API token was created for your account.",
     "The token was shown once, to whoever created it; it is not in\r\n"
     "this message and nobody will ever ask you for it by email.",
     true, true},
    {"regenerated", "Your API token was regenerated",
     "Your personal API token was regenerated: a new token was issued\r\n"
     "and the previous one was revoked; the previous one no longer\r\n"
     "works.",
     "Programs using the previous token must be given the new one.\r\n"
     "The new token is not in this message and nobody will ever ask\r\n"
     "you for it by email.",
     true, true},
    {"revoked", "Your API token was revoked",
     "Your personal API token was revoked.  It no longer works;\r\n"
     "revocation is final.",
     "If you still need API access, ask for a new token.", false, true},
    {"expired", "Your API token expired",
     "Your personal API token expired and was deleted.  It no longer\r\n"
     "works.",
     "Tokens expire a fixed time after they are created, used or not.\r\n"
     "If you still need API access, ask for a new token.",
     true, false},
    {"reminder", "Your API token will expire soon",
     "Your personal API token will expire soon.",
     "Tokens are not extended by use: before that date, regenerate the\r\n"
     "token (or ask your administrator to) and give the new one to the\r\n"
     "programs that use it.  After that date it stops working and is\r\n"
     "deleted.",
     true, false},
};

static const struct kind_text *
kind_lookup(const char *kind)
{
	size_t i;

	if (kind == NULL)
		return NULL;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kinds[i].kind, kind) == 0)
			return &kinds[i];
	return NULL;
}

int64_t
apitokend_mail_backoff(unsigned failures, int64_t retry_max)
{
	int64_t delay = APITOKEND_MAIL_BACKOFF_BASE;
	unsigned i;

	if (retry_max < 1)
		retry_max = 1;
	/* Stop doubling before it could pass the cap (or overflow). */
	for (i = 1; i < failures; i++) {
		if (delay > retry_max / 2)
			return retry_max;
		delay *= 2;
	}
	return delay < retry_max ? delay : retry_max;
}

void
apitokend_mail_iso8601(int64_t t, char buf[21])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
		(void)snprintf(buf, 21, "%s", "1970-01-01T00:00:00Z");
}

/* RFC 5322 date-time, independent of the locale (strftime's %a is not). */
static void
rfc5322_date(int64_t t, char *buf, size_t len)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed",
	                                   "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
	                                     "May", "Jun", "Jul", "Aug",
	                                     "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL) {
		tt = 0;
		(void)gmtime_r(&tt, &tm);
	}
	(void)snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	               days[tm.tm_wday % 7], tm.tm_mday,
	               months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour,
	               tm.tm_min, tm.tm_sec);
}

const char *
apitokend_mail_domain(const char *addr)
{
	const char *at = addr != NULL ? strrchr(addr, '@') : NULL;

	return at != NULL ? at + 1 : "";
}

/* RFC 5322 atext plus '.': what a dot-atom msg-id half may hold. */
static bool
msgid_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+/=?^_`{|}~.-", c) != NULL);
}

/*
 * The notice's message_id as "<left@right>" in out, with or without the
 * angle brackets in the notice.  false if it is not a plain msg-id.
 */
static bool
msgid_format(const char *id, char *out, size_t outlen)
{
	size_t len, i, ats = 0;

	if (id == NULL)
		return false;
	len = strlen(id);
	if (len >= 2 && id[0] == '<' && id[len - 1] == '>') {
		id++;
		len -= 2;
	}
	if (len < 3 || len > MSGID_MAX || id[0] == '@' || id[len - 1] == '@')
		return false;
	for (i = 0; i < len; i++) {
		if (id[i] == '@')
			ats++;
		else if (!msgid_char((unsigned char)id[i]))
			return false;
	}
	if (ats != 1)
		return false;
	return snprintf(out, outlen, "<%.*s>", (int)len, id) == (int)len + 2;
}

/*
 * Length of the valid UTF-8 sequence at s (1..4), 0 if invalid.  Overlong
 * forms and surrogates are invalid.
 */
static size_t
utf8_len(const unsigned char *s, unsigned *cp_out)
{
	unsigned cp;
	size_t n, i;

	if (s[0] < 0x80) {
		*cp_out = s[0];
		return 1;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_out = cp;
	return n;
}

/* Code points that must not reach the reader: controls, line separators
 * and the bidirectional overrides that can make text read backwards. */
static bool
cp_hidden(unsigned cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
	       cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

/*
 * Copy untrusted text s into out (outlen >= 4) as printable UTF-8 of at
 * most TEXT_MAX bytes: each control, invalid byte or hidden code point
 * becomes '?'; an overlong text ends with "...".  empty: what to write if
 * s is NULL or empty.
 */
static void
text_clean(const char *s, const char *empty, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, max = outlen - 1, n;
	unsigned cp;

	if (max > TEXT_MAX)
		max = TEXT_MAX;
	if (p == NULL || *p == '\0')
		p = (const unsigned char *)empty;
	while (*p != '\0') {
		n = utf8_len(p, &cp);
		if (n == 0 || cp_hidden(cp)) {
			n = n == 0 ? 1 : n;
			if (o + 1 > max)
				goto cut;
			out[o++] = '?';
		} else {
			if (o + n > max)
				goto cut;
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
	}
	out[o] = '\0';
	return;
cut:
	/* Back off to leave room for "..." on a character boundary. */
	while (o > 0 && o + 3 > max)
		o--;
	while (o > 0 && ((unsigned char)out[o] & 0xc0) == 0x80)
		o--;
	memcpy(out + o, "...", 4);
}

/* A token id or hint as shown: only [A-Za-z0-9_-], others become '?'. */
static void
id_clean(const char *s, size_t maxlen, char *out)
{
	size_t i, len = s != NULL ? strlen(s) : 0;

	/* A hint longer than asked for shows only its last characters. */
	if (len > maxlen) {
		s += len - maxlen;
		len = maxlen;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '_' || c == '-')
		             ? (char)c
		             : '?';
	}
	out[len] = '\0';
}

/* A user name fit for a quoted display name, else false. */
static bool
display_name_ok(const char *name)
{
	const char *p;

	if (name == NULL || *name == '\0' || strlen(name) > APITOKEN_USER_MAX)
		return false;
	for (p = name; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			return false;
	}
	return true;
}

/* Close a memory stream; on a write error free its buffer. 0 or -1. */
static int
memstream_close(FILE *f, char **buf)
{
	int err = ferror(f);

	if (fclose(f) != 0 || err != 0) {
		free(*buf);
		*buf = NULL;
		return -1;
	}
	return 0;
}

static bool
ascii_only(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/*
 * Quoted-printable (RFC 2045 6.7) of a CRLF text: encoded lines of at most
 * 76 characters, soft breaks ("=" CRLF) where a line is longer.
 */
static void
qp_write(FILE *f, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, col = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool eol = i + 2 <= len && s[i] == '\r' && s[i + 1] == '\n';
		bool last =
		    i + 1 == len ||
		    (i + 3 <= len && s[i + 1] == '\r' && s[i + 2] == '\n');
		char enc[4];
		size_t n;

		if (eol) {
			fputs("\r\n", f);
			col = 0;
			i++;
			continue;
		}
		/* Trailing white space would be lost in transport. */
		if ((c >= 33 && c <= 126 && c != '=') ||
		    ((c == ' ' || c == '\t') && !last)) {
			enc[0] = (char)c;
			n = 1;
		} else {
			enc[0] = '=';
			enc[1] = hex[c >> 4];
			enc[2] = hex[c & 0xf];
			n = 3;
		}
		/* Keep room for the soft break's "=". */
		if (col + n > 75) {
			fputs("=\r\n", f);
			col = 0;
		}
		fwrite(enc, 1, n, f);
		col += n;
	}
}

int
apitokend_mail_compose(const apitoken_notice_t *n, const char *from,
                       int64_t now, char **msg_out, size_t *len_out)
{
	const struct kind_text *kt;
	char date[64], msgid[MSGID_MAX + 3], when[21], exp[21];
	char user[TEXT_MAX + 1], origin[TEXT_MAX + 1];
	char tokid[APITOKEN_ID_LEN + 1], hint[5];
	char *buf = NULL, *body = NULL;
	size_t len = 0, body_len = 0;
	FILE *f = NULL;
	bool qp;

	*msg_out = NULL;
	*len_out = 0;
	kt = kind_lookup(n->kind);
	if (kt == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "notice %llu: unknown kind",
		                      (unsigned long long)n->seq);
	if (!apitoken_email_valid(n->email))
		return apitoken_error(
		    APITOKEN_ERR_INVALID,
		    "notice %llu: unusable recipient address",
		    (unsigned long long)n->seq);
	if (!apitoken_email_valid(from))
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "mail.from is not a plain address");
	if (!msgid_format(n->message_id, msgid, sizeof(msgid)))
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "notice %llu: malformed Message-ID",
		                      (unsigned long long)n->seq);

	rfc5322_date(now, date, sizeof(date));
	apitokend_mail_iso8601(n->time, when);
	apitokend_mail_iso8601(n->token_exp, exp);
	text_clean(n->user, "user", user, sizeof(user));
	text_clean(n->origin, "unknown", origin, sizeof(origin));
	id_clean(n->token_id, APITOKEN_ID_LEN, tokid);
	id_clean(n->hint, 4, hint);

	/* The body first: its bytes decide the transfer encoding. */
	f = open_memstream(&body, &body_len);
	if (f == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	fprintf(f, "Hello %s,\r\n\r\n", user);
	if (strcmp(n->kind, "reminder") == 0)
		fprintf(f, "Your personal API token will expire on %s.\r\n",
		        exp);
	else
		fprintf(f, "%s\r\n", kt->what);
	fputs("\r\n", f);
	fprintf(f, "  When:      %s\r\n", when);
	if (tokid[0] != '\0') {
		fprintf(f, "  Token id:  %s", tokid);
		if (hint[0] != '\0')
			fprintf(f, " (the token ends in ...%s)", hint);
		fputs("\r\n", f);
	}
	if (kt->show_exp && n->token_exp > 0)
		fprintf(f, "  %s %s\r\n",
		        strcmp(n->kind, "expired") == 0 ? "Expired:  "
		                                        : "Expires:  ",
		        exp);
	fprintf(f, "  By:        %s\r\n", origin);
	fprintf(f, "\r\n%s\r\n", kt->advice);
	if (kt->not_you) {
		fputs("\r\nIf this was not you: contact your administrator at "
		      "once.\r\n"
		      "A token you did not ask for should be revoked: "
		      "whoever holds it\r\n"
		      "can present it to the /revoke endpoint, and your "
		      "administrator\r\n",
		      f);
		/* A shell command: only a name the store would accept. */
		if (apitoken_user_name_valid(n->user))
			fprintf(f,
			        "can revoke it with \"apitokenctl token "
			        "revoke %s\".\r\n",
			        n->user);
		else
			fputs("can revoke it with \"apitokenctl token "
			      "revoke\".\r\n",
			      f);
	}
	fputs("\r\nThis message never contains a token.\r\n"
	      "\r\n-- \r\napitoken\r\n",
	      f);
	if (memstream_close(f, &body) != 0)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");

	f = open_memstream(&buf, &len);
	if (f == NULL) {
		free(body);
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	}
	/* Headers: only validated addresses and fixed ASCII text. */
	fprintf(f, "From: apitoken <%s>\r\n", from);
	if (display_name_ok(n->user))
		fprintf(f, "To: \"%s\" <%s>\r\n", n->user, n->email);
	else
		fprintf(f, "To: <%s>\r\n", n->email);
	if (strcmp(n->kind, "reminder") == 0)
		fprintf(f, "Subject: Your API token will expire on %.10s\r\n",
		        exp);
	else
		fprintf(f, "Subject: %s\r\n", kt->subject);
	fprintf(f, "Date: %s\r\n", date);
	fprintf(f, "Message-ID: %s\r\n", msgid);
	fputs("MIME-Version: 1.0\r\n"
	      "Content-Type: text/plain; charset=utf-8\r\n",
	      f);
	/*
	 * 8bit would need the relay's 8BITMIME, which libcurl does not
	 * negotiate: plain ASCII goes as 7bit, anything else (a UTF-8
	 * origin) as quoted-printable.
	 */
	qp = !ascii_only(body, body_len);
	fprintf(f, "Content-Transfer-Encoding: %s\r\n",
	        qp ? "quoted-printable" : "7bit");
	fputs("Auto-Submitted: auto-generated\r\n", f);
	fprintf(f, "X-Apitoken-Notice: %s\r\n\r\n", kt->kind);
	if (qp)
		qp_write(f, body, body_len);
	else
		fwrite(body, 1, body_len, f);
	free(body);
	if (memstream_close(f, &buf) != 0)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	*msg_out = buf;
	*len_out = len;
	return 0;
}
