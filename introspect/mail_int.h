/*
 * apitokend mail module, private: message composition and the retry
 * schedule, kept apart from the delivery thread so that unit tests can
 * check them without a store or a relay.
 */
#ifndef APITOKEND_MAIL_INT_H
#define APITOKEND_MAIL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <apitoken/store.h>

/* First retry delay; each further failure doubles it (up to retry_max). */
#define APITOKEND_MAIL_BACKOFF_BASE 2

/*
 * Compose the message announcing n: RFC 5322 headers (From, To, Subject,
 * Date, Message-ID, MIME-Version, Content-Type, Content-Transfer-Encoding,
 * Auto-Submitted) and a plain-text UTF-8 body, CRLF line ends, lines well
 * under 998 octets.  from is the envelope and header sender, now the time
 * for the Date header.
 *
 * Everything taken from the notice comes from outside this process: the
 * recipient and Message-ID must be well formed or the notice is refused;
 * the user name and origin are reduced to printable text (no CR, LF or
 * other controls can reach a header or break the body).
 *
 * 0 and *msg_out (malloc'ed, NUL-terminated, *len_out bytes without the
 * NUL; caller frees), or APITOKEN_ERR_INVALID with a detail naming what is
 * wrong (unknown kind, bad address, bad Message-ID), or _NOMEM.
 */
int apitokend_mail_compose(const apitoken_notice_t *n, const char *from,
                           int64_t now, char **msg_out, size_t *len_out);

/* The part of addr after its last '@' ("" if none): what logs may name. */
const char *apitokend_mail_domain(const char *addr);

/*
 * Seconds to wait after the failures-th consecutive failed attempt
 * (failures >= 1): BASE, 2*BASE, 4*BASE, ... never more than retry_max
 * (and at least 1 s).
 */
int64_t apitokend_mail_backoff(unsigned failures, int64_t retry_max);

/* "2026-11-28T02:30:17Z" (20 characters); buf needs 21 bytes. */
void apitokend_mail_iso8601(int64_t t, char buf[21]);

#endif /* APITOKEND_MAIL_INT_H */
