/*
 * apitokend: delivery of the notification outbox over SMTP; see mail.h.
 *
 * One thread copies the due notices out of the store (found through the
 * store's due-time index, never a walk of the outbox) and sends each with
 * libcurl.  It does not poll: it sleeps until the earliest next attempt,
 * the next reminder scan, or until the store reports a newly queued
 * notice (apitoken_outbox_set_hook) after its commit.  Without a relay it
 * sleeps until the oldest notice reaches mail.outbox_max_age, drops the
 * notices that old (each with a "notice-dropped" audit record, so the
 * outbox stays bounded), and otherwise until a reload; no reminders are
 * queued then (they would only be dropped; once a relay is set, the ones
 * still due are queued).  A notice
 * is removed (apitoken_outbox_done) only after the relay accepted it, so a
 * crash or a dead relay loses nothing; the price is that a crash between
 * the relay's acceptance and the removal sends that message again (same
 * Message-ID, so mail clients can tell); so does a relay that took the
 * message but whose final reply was lost.  Failures are deferred with an
 * exponential backoff (2 s, 4 s, ... up to mail.retry_max) kept in the
 * notice itself, so it survives restarts; a notice that cannot be composed
 * (bad address) waits retry_max and shows its error in "apitokenctl outbox
 * list".  No network I/O happens while a store cursor or transaction is
 * open.
 *
 * TLS: smtps:// is implicit TLS; smtp:// uses STARTTLS whenever the relay
 * offers it (certificate verified against the system CAs) and requires it
 * when SMTP AUTH is used towards a relay that is not on loopback.  The
 * password is read from mail.password_file (not readable by others) for
 * each batch, so rotating it needs no restart, and wiped after the batch.
 * Mail settings themselves are read at start: changing them needs a
 * restart of apitokend.
 *
 * Expiry reminders are queued at start and then every tenth of the
 * shortest lead time, between 1 s and 60 s; the store remembers which were
 * sent.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/policy.h>
#include <apitoken/store_rep.h>
#include <apitoken/store.h>

#include "mail.h"
#include "mail_int.h"

#define BATCH_MAX 64          /* notices copied out per poll */
#define REMINDER_EVERY_MAX 60 /* seconds between reminder scans */
#define PASSWORD_MAX 1024
#define CONNECT_TIMEOUT 10L
#define TRANSFER_TIMEOUT 60L

/*
 * The mail keys of one configuration, checked.  Immutable once made; a
 * reload (apitokend_mail_reconfigure) hands the thread a new one, which
 * it adopts between polls; old ones are kept until the module stops.
 */
struct mail_settings {
	const apitoken_config_t *cfg; /* apitokend keeps it alive */
	bool relay_loopback;          /* credentials may travel without TLS */
	bool relay_smtps;
	char *relay_host; /* for the log: never the whole URL */
	int64_t reminder_every;
	struct mail_settings *older;
};

static void settings_describe(const struct mail_settings *set,
                              const char *when);

struct apitokend_mail {
	apitoken_store_t *store;
	struct mail_settings *set;  /* in use; the mail thread's only */
	struct mail_settings *next; /* from a reload, under lock */
	bool pw_failing;            /* the password file error was logged */
	int64_t next_reminders;
	int64_t reminders_since; /* last complete scan; 0: none yet */

	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool kicked;
	bool stopping;
	/* Under lock: what the store hook needs to know to wake the thread
	 * only when it must (a copy of the settings in use). */
	bool relay_on;
	int64_t max_age;
	int64_t wake_at;    /* store time; INT64_MAX: only when told */
	int64_t next_retry; /* earliest deferral of this batch, thread's */
	uint64_t sent;      /* counters for /metrics, under lock */
	uint64_t failed;
	uint64_t given_up;
	uint64_t dropped;
	uint64_t scans;
	uint64_t queued;
	bool counted; /* queued holds the count read at start */
};

/* A due notice, copied out of the store (its strings are owned). */
struct pending {
	apitoken_notice_t n;
	char *strs[8];
};

struct collect {
	struct pending *list;
	size_t n;
};

/* Text from the store as it may appear in a log line, else "?". */
static const char *
log_safe(const char *s)
{
	const char *p;

	if (s == NULL || *s == '\0' || strlen(s) > 64)
		return "?";
	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
		      *p == '_'))
			return "?";
	return s;
}

static void
pending_clear(struct pending *p)
{
	size_t i;

	for (i = 0; i < sizeof(p->strs) / sizeof(p->strs[0]); i++)
		free(p->strs[i]);
	memset(p, 0, sizeof(*p));
}

static int
pending_copy(struct pending *p, const apitoken_notice_t *n)
{
	const char *src[8] = {n->kind,       n->user,      n->email,
	                      n->token_id,   n->hint,      n->origin,
	                      n->last_error, n->message_id};
	const char **dst[8] = {&p->n.kind,       &p->n.user,      &p->n.email,
	                       &p->n.token_id,   &p->n.hint,      &p->n.origin,
	                       &p->n.last_error, &p->n.message_id};
	size_t i;

	memset(p, 0, sizeof(*p));
	p->n = *n;
	for (i = 0; i < 8; i++) {
		p->strs[i] = strdup(src[i] != NULL ? src[i] : "");
		if (p->strs[i] == NULL) {
			pending_clear(p);
			return APITOKEN_ERR_NOMEM;
		}
		*dst[i] = p->strs[i];
	}
	return 0;
}

static int
collect_due(const apitoken_notice_t *n, void *ctx)
{
	struct collect *c = ctx;

	if (c->n >= BATCH_MAX)
		return 0;
	if (pending_copy(&c->list[c->n], n) != 0)
		return 0; /* next poll will try again */
	c->n++;
	return 0;
}

/*
 * The SMTP password from cfg->mail_password_file: a regular file nobody
 * but its owner and group may read.  *pw_out is malloc'ed; wipe and free
 * with password_free().
 */
static int
password_read(const char *path, char **pw_out)
{
	struct stat st;
	char *buf = NULL;
	ssize_t got;
	size_t len = 0;
	int fd, rc;

	*pw_out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return apitoken_error(APITOKEN_ERR_CONFIG,
		                      "key 'mail.password_file': cannot open "
		                      "%s: %s",
		                      path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = apitoken_error(APITOKEN_ERR_CONFIG,
		                    "key 'mail.password_file': %s is not a "
		                    "regular file",
		                    path);
		goto out;
	}
	if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
		rc = apitoken_error(APITOKEN_ERR_CONFIG,
		                    "key 'mail.password_file': %s must not be "
		                    "readable or writable by others "
		                    "(chmod o-rw)",
		                    path);
		goto out;
	}
	buf = malloc(PASSWORD_MAX + 1);
	if (buf == NULL) {
		rc = apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
		goto out;
	}
	while (len < PASSWORD_MAX) {
		got = read(fd, buf + len, PASSWORD_MAX - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = apitoken_error(APITOKEN_ERR_IO,
			                    "key 'mail.password_file': cannot "
			                    "read %s",
			                    path);
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	/* One line; the final newline is not part of the password. */
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	if (len == 0 || len >= PASSWORD_MAX || strlen(buf) != len ||
	    strpbrk(buf, "\r\n") != NULL) {
		rc = apitoken_error(APITOKEN_ERR_CONFIG,
		                    "key 'mail.password_file': %s must hold "
		                    "one line, the password",
		                    path);
		goto out;
	}
	*pw_out = buf;
	buf = NULL;
	rc = 0;
out:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, PASSWORD_MAX + 1);
		free(buf);
	}
	(void)close(fd);
	return rc;
}

static void
password_free(char *pw)
{
	if (pw != NULL) {
		OPENSSL_cleanse(pw, PASSWORD_MAX + 1);
		free(pw);
	}
}

struct upload {
	const char *data;
	size_t len;
	size_t off;
};

static size_t
upload_read(char *dst, size_t size, size_t nmemb, void *ctx)
{
	struct upload *u = ctx;
	size_t n = size * nmemb;

	if (n > u->len - u->off)
		n = u->len - u->off;
	memcpy(dst, u->data + u->off, n);
	u->off += n;
	return n;
}

/*
 * Abort a transfer on stop only while nothing of the message has been
 * sent: the relay cannot have accepted it, so nothing is duplicated and
 * the notice simply stays queued.  A message already on its way is
 * finished, as mail.h promises.
 */
static int
upload_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow,
                curl_off_t ultotal, curl_off_t ulnow)
{
	apitokend_mail_t *mail = ctx;
	bool stop;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	if (ulnow > 0)
		return 0;
	pthread_mutex_lock(&mail->lock);
	stop = mail->stopping;
	pthread_mutex_unlock(&mail->lock);
	return stop ? 1 : 0;
}

/* Errors that say the relay itself is unusable: trying the next notice
 * at once would fail the same way, so the batch ends. */
static bool
relay_error(CURLcode res)
{
	switch (res) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_LOGIN_DENIED:
	case CURLE_USE_SSL_FAILED:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_GOT_NOTHING:
	case CURLE_ABORTED_BY_CALLBACK:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return true;
	default:
		return false;
	}
}

/*
 * Send one composed message.  CURLE_OK only once the relay answered the
 * end of DATA with 2xx, i.e. took responsibility for the message.
 */
static CURLcode
smtp_send(apitokend_mail_t *mail, CURL *curl, const char *rcpt,
          const char *msg, size_t len, const char *password,
          char errbuf[CURL_ERROR_SIZE])
{
	const apitoken_config_t *cfg = mail->set->cfg;
	struct curl_slist *rcpts = NULL;
	struct upload up = {msg, len, 0};
	curl_usessl ssl;
	CURLcode res;

	rcpts = curl_slist_append(NULL, rcpt);
	if (rcpts == NULL)
		return CURLE_OUT_OF_MEMORY;
	/* Credentials cross the network only encrypted; plain smtp:// to a
	 * loopback relay (a local MTA) is the one exception. */
	if (mail->set->relay_smtps)
		ssl = CURLUSESSL_ALL;
	else if (password != NULL && !mail->set->relay_loopback)
		ssl = CURLUSESSL_ALL;
	else
		ssl = CURLUSESSL_TRY;

	errbuf[0] = '\0';
	curl_easy_reset(curl);
#define SET(opt, val)                                                         \
	do {                                                                  \
		res = curl_easy_setopt(curl, opt, val);                       \
		if (res != CURLE_OK)                                          \
			goto out;                                             \
	} while (0)
	SET(CURLOPT_URL, cfg->mail_relay);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
#endif
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_USE_SSL, (long)ssl);
	SET(CURLOPT_MAIL_FROM, cfg->mail_from);
	SET(CURLOPT_MAIL_RCPT, rcpts);
	SET(CURLOPT_UPLOAD, 1L);
	SET(CURLOPT_READFUNCTION, upload_read);
	SET(CURLOPT_READDATA, &up);
	SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	SET(CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
	SET(CURLOPT_TIMEOUT, TRANSFER_TIMEOUT);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, upload_progress);
	SET(CURLOPT_XFERINFODATA, mail);
	if (password != NULL) {
		SET(CURLOPT_USERNAME, cfg->mail_username);
		SET(CURLOPT_PASSWORD, password);
	}
#undef SET
	res = curl_easy_perform(curl);
out:
	/* Do not leave the password in the handle between messages. */
	(void)curl_easy_setopt(curl, CURLOPT_PASSWORD, NULL);
	curl_slist_free_all(rcpts);
	return res;
}

/*
 * Not delivered within mail.give_up_after of the change it announces (a
 * refused address, or a relay down that long): remove it, with an audit
 * record, as a mail server bounces a message after its queue lifetime.
 */
static void
give_up(apitokend_mail_t *mail, const struct pending *p, int64_t now,
        const char *why)
{
	const apitoken_notice_t *n = &p->n;
	int rc;

	rc = apitoken_outbox_give_up(mail->store, n->seq, now, why);
	if (rc != 0) {
		apitoken_log(APITOKEN_LOG_ERR,
		             "mail: notice %" PRIu64 ": cannot give it up: %s",
		             n->seq, apitoken_last_error());
		return;
	}
	pthread_mutex_lock(&mail->lock);
	mail->given_up++;
	if (mail->queued > 0)
		mail->queued--;
	pthread_mutex_unlock(&mail->lock);
	apitoken_log(APITOKEN_LOG_ERR,
	             "mail: notice %" PRIu64 " (%s, token %s) to a recipient "
	             "at %s given up after %u attempts in %" PRId64
	             "s: %s; removed from the outbox (audit: "
	             "notice-undeliverable)",
	             n->seq, log_safe(n->kind), log_safe(n->token_id),
	             log_safe(apitokend_mail_domain(n->email)),
	             n->attempts + 1, now - n->time, why);
}

/* One failed attempt: count it and keep the notice for later, or give it
 * up when it is too old. */
static void
defer(apitokend_mail_t *mail, const struct pending *p, int64_t now,
      int64_t delay, const char *why)
{
	const apitoken_notice_t *n = &p->n;
	int rc;

	pthread_mutex_lock(&mail->lock);
	mail->failed++;
	pthread_mutex_unlock(&mail->lock);
	if (now - n->time >= mail->set->cfg->mail_give_up_after) {
		give_up(mail, p, now, why);
		return;
	}
	rc = apitoken_outbox_defer(mail->store, n->seq, now + delay, why);
	if (rc == 0 && now + delay < mail->next_retry)
		mail->next_retry = now + delay;
	apitoken_log(APITOKEN_LOG_WARNING,
	             "mail: notice %" PRIu64 " (%s, token %s) to a recipient "
	             "at %s not delivered (attempt %u): %s; next attempt in "
	             "%" PRId64 "s",
	             n->seq, log_safe(n->kind), log_safe(n->token_id),
	             log_safe(apitokend_mail_domain(n->email)),
	             n->attempts + 1, why, delay);
	if (rc != 0)
		apitoken_log(APITOKEN_LOG_ERR,
		             "mail: notice %" PRIu64 ": cannot record the "
		             "failed attempt: %s",
		             n->seq, apitoken_last_error());
}

/* Deliver one notice.  false if the relay is unusable for now. */
static bool
deliver(apitokend_mail_t *mail, CURL *curl, const struct pending *p,
        const char *password)
{
	const apitoken_notice_t *n = &p->n;
	char errbuf[CURL_ERROR_SIZE], why[CURL_ERROR_SIZE + 64];
	int64_t now = apitoken_now();
	char *msg = NULL;
	size_t len = 0;
	CURLcode res;
	int rc;

	rc = apitokend_mail_compose(n, mail->set->cfg->mail_from, now, &msg,
	                            &len);
	if (rc != 0) {
		/* Retrying will not fix the notice, but it stays visible in
		 * "apitokenctl outbox list" with this error. */
		(void)snprintf(why, sizeof(why), "cannot compose: %s",
		               apitoken_last_error());
		defer(mail, p, now, mail->set->cfg->mail_retry_max, why);
		return true;
	}
	res = smtp_send(mail, curl, n->email, msg, len, password, errbuf);
	free(msg);
	now = apitoken_now();
	if (res == CURLE_ABORTED_BY_CALLBACK)
		return false; /* stopping; not an attempt, nothing sent */
	if (res != CURLE_OK) {
		(void)snprintf(why, sizeof(why), "%s",
		               errbuf[0] != '\0' ? errbuf
		                                 : curl_easy_strerror(res));
		defer(mail, p, now,
		      apitokend_mail_backoff(n->attempts + 1,
		                             mail->set->cfg->mail_retry_max),
		      why);
		return !relay_error(res);
	}

	pthread_mutex_lock(&mail->lock);
	mail->sent++;
	if (mail->queued > 0)
		mail->queued--;
	pthread_mutex_unlock(&mail->lock);
	rc = apitoken_outbox_done(mail->store, n->seq);
	if (rc != 0)
		/* The relay has it; the notice will be sent once more. */
		apitoken_log(APITOKEN_LOG_ERR,
		             "mail: notice %" PRIu64 " was delivered but "
		             "cannot be removed from the outbox (it will be "
		             "sent again): %s",
		             n->seq, apitoken_last_error());
	apitoken_log(APITOKEN_LOG_INFO,
	             "mail: notice %" PRIu64 " (%s, token %s) delivered to a "
	             "recipient at %s",
	             n->seq, log_safe(n->kind), log_safe(n->token_id),
	             log_safe(apitokend_mail_domain(n->email)));
	return true;
}

static void
queue_reminders(apitokend_mail_t *mail, int64_t now)
{
	const apitoken_config_t *cfg = mail->set->cfg;
	size_t queued = 0;
	int rc;

	if (cfg->n_reminders == 0 || now < mail->next_reminders)
		return;
	mail->next_reminders = now + mail->set->reminder_every;
	/* Only what came within a lead since the last scan. */
	rc = apitoken_outbox_queue_reminders_since(
	    mail->store, mail->reminders_since, now, cfg->reminders,
	    cfg->n_reminders, &queued);
	if (rc == 0)
		mail->reminders_since = now;
	if (rc != 0)
		apitoken_log(APITOKEN_LOG_WARNING,
		             "mail: cannot queue expiry reminders: %s",
		             apitoken_last_error());
	else if (queued > 0)
		apitoken_log(APITOKEN_LOG_INFO,
		             "mail: queued %zu expiry reminder(s)", queued);
}

static bool
stopping(apitokend_mail_t *mail)
{
	bool stop;

	pthread_mutex_lock(&mail->lock);
	stop = mail->stopping;
	pthread_mutex_unlock(&mail->lock);
	return stop;
}

/*
 * Send the due notices (up to BATCH_MAX).  true if a full batch went out,
 * so that more may be due at once (a backlog after an outage drains at
 * relay speed).  *next_out: when the earliest notice left is due.
 */
static bool
send_due(apitokend_mail_t *mail, int64_t now, int64_t *next_out)
{
	struct collect c = {0};
	char *password = NULL;
	CURL *curl = NULL;
	bool more = false;
	size_t i;
	int rc;

	*next_out = now + mail->set->cfg->mail_retry_max; /* on errors */
	mail->next_retry = INT64_MAX;
	c.list = calloc(BATCH_MAX, sizeof(*c.list));
	if (c.list == NULL)
		return false;
	pthread_mutex_lock(&mail->lock);
	mail->scans++;
	pthread_mutex_unlock(&mail->lock);
	rc = apitoken_outbox_due(mail->store, now, BATCH_MAX, collect_due, &c,
	                         next_out);
	if (rc != 0) {
		apitoken_log(APITOKEN_LOG_WARNING,
		             "mail: cannot read the outbox: %s",
		             apitoken_last_error());
		*next_out = now + 1;
		goto out;
	}
	if (c.n == 0)
		goto out;

	if (mail->set->cfg->mail_password_file != NULL) {
		/* Read per batch: a rotated password needs no restart. */
		rc = password_read(mail->set->cfg->mail_password_file,
		                   &password);
		if (rc != 0) {
			/* Once, not at every attempt until someone fixes it.
			 */
			if (!mail->pw_failing)
				apitoken_log(APITOKEN_LOG_ERR,
				             "mail: not sending: %s",
				             apitoken_last_error());
			mail->pw_failing = true;
			*next_out = now + 1;
			goto out;
		}
		if (mail->pw_failing)
			apitoken_log(APITOKEN_LOG_NOTICE,
			             "mail: password file readable again");
		mail->pw_failing = false;
	}
	curl = curl_easy_init();
	if (curl == NULL) {
		*next_out = now + 1;
		goto out;
	}
	for (i = 0; i < c.n; i++) {
		if (stopping(mail))
			break;
		if (!deliver(mail, curl, &c.list[i], password))
			break;
	}
	if (i < c.n) /* the relay is unusable: the rest waits a second */
		*next_out = now + 1;
	more = i == BATCH_MAX;
out:
	if (mail->next_retry < *next_out)
		*next_out = mail->next_retry;
	if (curl != NULL)
		curl_easy_cleanup(curl);
	password_free(password);
	for (i = 0; i < c.n; i++)
		pending_clear(&c.list[i]);
	free(c.list);
	return more;
}

/* No relay: drop what reached mail.outbox_max_age; *next_out: when the
 * oldest notice left will. */
static void
drop_old(apitokend_mail_t *mail, int64_t now, int64_t *next_out)
{
	int64_t max_age = mail->set->cfg->mail_outbox_max_age, oldest;
	char why[96], age[32];
	size_t dropped = 0;
	int rc;

	*next_out = INT64_MAX;
	if (max_age <= 0)
		return;
	pthread_mutex_lock(&mail->lock);
	mail->scans++;
	pthread_mutex_unlock(&mail->lock);
	apitoken_duration_format(max_age, age, sizeof(age));
	(void)snprintf(why, sizeof(why),
	               "not sent: no mail.relay for mail.outbox_max_age (%s)",
	               age);
	/* Dropped once max_age old: queued at or before now - max_age. */
	rc = apitoken_outbox_drop_older(mail->store, now - max_age + 1, now,
	                                why, &dropped, &oldest);
	if (dropped > 0) {
		pthread_mutex_lock(&mail->lock);
		mail->dropped += dropped;
		mail->queued =
		    mail->queued > dropped ? mail->queued - dropped : 0;
		pthread_mutex_unlock(&mail->lock);
		apitoken_log(APITOKEN_LOG_WARNING,
		             "mail: dropped %zu notice(s) older than %s: no "
		             "mail.relay is set (audit: notice-dropped)",
		             dropped, age);
	}
	if (rc != 0) {
		apitoken_log(APITOKEN_LOG_WARNING,
		             "mail: cannot drop old notices: %s",
		             apitoken_last_error());
		*next_out = now + 60;
		return;
	}
	if (oldest != INT64_MAX)
		*next_out = oldest + max_age;
}

/* One round: what is due now.  Returns when to come back (store time). */
static int64_t
work_once(apitokend_mail_t *mail, bool *more)
{
	int64_t now = apitoken_now(), next;

	*more = false;
	/* Regions: the outbox is worked on the master only (deliveries,
	 * reminders and drops are writes).  A replica looks at its role
	 * once a second (no outbox read), so a new master takes the outbox
	 * over within a second of its election. */
	if (apitoken_store_rep_role(mail->store) == APITOKEN_REP_REPLICA)
		return now + 1;
	if (mail->set->cfg->mail_relay == NULL) {
		drop_old(mail, now, &next);
		return next;
	}
	queue_reminders(mail, now);
	*more = send_due(mail, now, &next);
	if (mail->set->cfg->n_reminders > 0 && mail->next_reminders < next)
		next = mail->next_reminders;
	return next;
}

/*
 * The store committed notices: wake the thread if they are due (relay)
 * or will be dropped (no relay) before it would wake anyway.  Runs in the
 * writing thread.
 */
static void
store_hook(void *ctx, size_t queued, int64_t due, int64_t time)
{
	apitokend_mail_t *mail = ctx;
	int64_t when;

	pthread_mutex_lock(&mail->lock);
	mail->queued += queued;
	if (mail->relay_on)
		when = due;
	else if (mail->max_age > 0 && time < INT64_MAX - mail->max_age)
		when = time + mail->max_age;
	else
		when = INT64_MAX;
	if (when < mail->wake_at) {
		/* Not a kick: the thread only sleeps less (see
		 * sleep_until), so a notice due in a week costs nothing
		 * now. */
		mail->wake_at = when;
		pthread_cond_signal(&mail->cond);
	}
	pthread_mutex_unlock(&mail->lock);
}

/* Wait, with mail->lock held, until wake_at (store time, which the hook
 * may move earlier meanwhile), a kick or stop. */
static void
sleep_until(apitokend_mail_t *mail)
{
	struct timespec until;
	int64_t left;
	bool capped;

	while (!mail->kicked && !mail->stopping) {
		if (mail->wake_at == INT64_MAX) {
			(void)pthread_cond_wait(&mail->cond, &mail->lock);
			continue;
		}
		left = mail->wake_at - apitoken_now();
		if (left <= 0)
			return;
		/* At most a minute at a time: the wall clock may jump.
		 * Any signal (the hook moved wake_at) recomputes; having
		 * slept the whole time left is as good as reaching it. */
		capped = left > 60;
		if (capped)
			left = 60;
		(void)clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += (time_t)left;
		if (pthread_cond_timedwait(&mail->cond, &mail->lock, &until) ==
		        ETIMEDOUT &&
		    !capped)
			return;
	}
}

static void *
mail_thread(void *arg)
{
	apitokend_mail_t *mail = arg;
	struct mail_settings *adopt;
	int64_t next;
	bool more;

	pthread_mutex_lock(&mail->lock);
	while (!mail->stopping) {
		mail->kicked = false;
		adopt = mail->next;
		mail->next = NULL;
		pthread_mutex_unlock(&mail->lock);
		if (adopt != NULL) {
			/* The newest first; keep the rest for the stop. */
			struct mail_settings *last = adopt;

			while (last->older != NULL)
				last = last->older;
			last->older = mail->set;
			mail->set = adopt;
			mail->next_reminders = 0;
			mail->reminders_since = 0; /* the leads may differ */
			mail->pw_failing = false;
			settings_describe(mail->set, "settings reloaded: ");
		}
		pthread_mutex_lock(&mail->lock);
		mail->relay_on = mail->set->cfg->mail_relay != NULL;
		mail->max_age = mail->set->cfg->mail_outbox_max_age;
		/* From here on the hook may lower it again. */
		mail->wake_at = INT64_MAX;
		pthread_mutex_unlock(&mail->lock);
		next = work_once(mail, &more);
		pthread_mutex_lock(&mail->lock);
		if (more)
			next = 0;
		if (next < mail->wake_at)
			mail->wake_at = next;
		sleep_until(mail);
	}
	pthread_mutex_unlock(&mail->lock);
	return NULL;
}

/* Check cfg's mail keys into set; the detail names the key. */
static int
check_config(struct mail_settings *set, const apitoken_config_t *cfg)
{
	char *scheme = NULL, *host = NULL, *user = NULL, *pw = NULL;
	CURLU *url = NULL;
	int rc = 0;

	if (!apitoken_email_valid(cfg->mail_from))
		return apitoken_error(APITOKEN_ERR_CONFIG,
		                      "key 'mail.from': expected a plain "
		                      "address such as apitoken@example.org");
	if ((cfg->mail_username != NULL) != (cfg->mail_password_file != NULL))
		return apitoken_error(APITOKEN_ERR_CONFIG,
		                      "keys 'mail.username' and "
		                      "'mail.password_file' go together");
	if (cfg->mail_password_file != NULL) {
		rc = password_read(cfg->mail_password_file, &pw);
		password_free(pw);
		if (rc != 0)
			return rc;
	}
	if (cfg->mail_relay == NULL)
		return 0;

	url = curl_url();
	if (url == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	if (curl_url_set(url, CURLUPART_URL, cfg->mail_relay, 0) !=
	        CURLUE_OK ||
	    curl_url_get(url, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(url, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    (strcmp(scheme, "smtp") != 0 && strcmp(scheme, "smtps") != 0)) {
		rc = apitoken_error(
		    APITOKEN_ERR_CONFIG,
		    "key 'mail.relay': expected "
		    "smtp://host[:port] or smtps://host[:port]");
		goto out;
	}
	if (curl_url_get(url, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		rc = apitoken_error(APITOKEN_ERR_CONFIG,
		                    "key 'mail.relay': must not hold "
		                    "credentials; use mail.username and "
		                    "mail.password_file");
		goto out;
	}
	set->relay_smtps = strcmp(scheme, "smtps") == 0;
	set->relay_loopback = strcmp(host, "localhost") == 0 ||
	                      strncmp(host, "127.", 4) == 0 ||
	                      strcmp(host, "[::1]") == 0;
	set->relay_host = strdup(host);
	if (set->relay_host == NULL)
		rc = apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_url_cleanup(url);
	return rc;
}

/* Free set and every older one. */
static void
settings_free(struct mail_settings *set)
{
	struct mail_settings *older;

	for (; set != NULL; set = older) {
		older = set->older;
		free(set->relay_host);
		free(set);
	}
}

static int
settings_make(const apitoken_config_t *cfg, struct mail_settings **out)
{
	struct mail_settings *set;
	int64_t lead_min = REMINDER_EVERY_MAX * 10;
	size_t i;
	int rc;

	*out = NULL;
	set = calloc(1, sizeof(*set));
	if (set == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	set->cfg = cfg;
	rc = check_config(set, cfg);
	if (rc != 0) {
		settings_free(set);
		return rc;
	}
	/* A reminder is late by at most a tenth of its lead time (and a
	 * minute): a 7-day reminder needs no scan every second. */
	for (i = 0; i < cfg->n_reminders; i++)
		if (cfg->reminders[i] < lead_min)
			lead_min = cfg->reminders[i];
	set->reminder_every = lead_min / 10;
	if (set->reminder_every < 1)
		set->reminder_every = 1;
	if (set->reminder_every > REMINDER_EVERY_MAX)
		set->reminder_every = REMINDER_EVERY_MAX;
	*out = set;
	return 0;
}

/* Say where mail goes; when is "" at start, "settings reloaded: " after. */
static void
settings_describe(const struct mail_settings *set, const char *when)
{
	const apitoken_config_t *cfg = set->cfg;

	if (cfg->mail_relay == NULL)
		apitoken_log(APITOKEN_LOG_NOTICE,
		             "%smail.relay not set: notifications stay "
		             "queued; see apitokenctl outbox list",
		             when);
	else
		apitoken_log(
		    APITOKEN_LOG_INFO, "mail: %sdelivering through %s (%s)%s",
		    when, set->relay_host,
		    set->relay_smtps ? "implicit TLS"
		    : cfg->mail_password_file != NULL && !set->relay_loopback
		        ? "STARTTLS required"
		        : "STARTTLS when offered",
		    cfg->mail_password_file != NULL ? ", with SMTP AUTH" : "");
}

int
apitokend_mail_start(apitoken_store_t *store, const apitoken_config_t *cfg,
                     apitokend_mail_t **mail_out)
{
	apitokend_mail_t *mail = NULL;
	pthread_condattr_t attr;
	bool lock_init = false, cond_init = false, curl_init = false;
	size_t count = 0;
	int rc;

	*mail_out = NULL;
	mail = calloc(1, sizeof(*mail));
	if (mail == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	mail->store = store;
	rc = settings_make(cfg, &mail->set);
	if (rc != 0)
		goto out;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		rc = apitoken_error(APITOKEN_ERR_INTERNAL,
		                    "cannot initialise libcurl");
		goto out;
	}
	curl_init = true;
	if (pthread_mutex_init(&mail->lock, NULL) != 0) {
		rc = apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
		goto out;
	}
	lock_init = true;
	if (pthread_condattr_init(&attr) != 0) {
		rc = apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* The poll interval must not jump with the wall clock. */
	(void)pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&mail->cond, &attr);
	(void)pthread_condattr_destroy(&attr);
	if (rc != 0) {
		rc = apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
		goto out;
	}
	cond_init = true;
	/* The gauge starts from one count (of the due-time index); the hook
	 * and the deliveries keep it up to date. */
	if (apitoken_outbox_count(store, &count) != 0)
		apitoken_log(APITOKEN_LOG_WARNING,
		             "mail: cannot count the outbox: %s",
		             apitoken_last_error());
	mail->queued = count;
	mail->wake_at = INT64_MAX;
	if (pthread_create(&mail->thread, NULL, mail_thread, mail) != 0) {
		rc = apitoken_error(APITOKEN_ERR_INTERNAL,
		                    "cannot start the mail thread");
		goto out;
	}
	apitoken_outbox_set_hook(store, store_hook, mail);
	settings_describe(mail->set, "");
	*mail_out = mail;
	mail = NULL;
	rc = 0;
out:
	if (mail != NULL) {
		if (cond_init)
			pthread_cond_destroy(&mail->cond);
		if (lock_init)
			pthread_mutex_destroy(&mail->lock);
		if (curl_init)
			curl_global_cleanup();
		settings_free(mail->set);
		free(mail);
	}
	return rc;
}

void
apitokend_mail_kick(apitokend_mail_t *mail)
{
	if (mail == NULL)
		return;
	pthread_mutex_lock(&mail->lock);
	mail->kicked = true;
	pthread_cond_signal(&mail->cond);
	pthread_mutex_unlock(&mail->lock);
}

void
apitokend_mail_stop(apitokend_mail_t *mail)
{
	if (mail == NULL)
		return;
	/* Writers are stopped by now (apitokend stops the servers first). */
	apitoken_outbox_set_hook(mail->store, NULL, NULL);
	pthread_mutex_lock(&mail->lock);
	mail->stopping = true;
	pthread_cond_signal(&mail->cond);
	pthread_mutex_unlock(&mail->lock);
	pthread_join(mail->thread, NULL);
	pthread_cond_destroy(&mail->cond);
	pthread_mutex_destroy(&mail->lock);
	curl_global_cleanup();
	settings_free(mail->next);
	settings_free(mail->set);
	free(mail);
}

int
apitokend_mail_reconfigure(apitokend_mail_t *mail,
                           const apitoken_config_t *cfg)
{
	struct mail_settings *set = NULL;
	int rc;

	if (mail == NULL)
		return 0;
	rc = settings_make(cfg, &set);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&mail->lock);
	if (mail->next != NULL) { /* two reloads between polls */
		set->older = mail->next;
	}
	mail->next = set;
	mail->kicked = true;
	pthread_cond_signal(&mail->cond);
	pthread_mutex_unlock(&mail->lock);
	return 0;
}

void
apitokend_mail_write_metrics(apitokend_mail_t *mail, FILE *out)
{
	uint64_t sent = 0, failed = 0, given_up = 0, queued = 0;
	uint64_t dropped = 0, scans = 0;

	if (mail != NULL) {
		pthread_mutex_lock(&mail->lock);
		sent = mail->sent;
		failed = mail->failed;
		given_up = mail->given_up;
		queued = mail->queued;
		dropped = mail->dropped;
		scans = mail->scans;
		pthread_mutex_unlock(&mail->lock);
	}
	fprintf(out,
	        "# HELP apitokend_mail_sent_total Notification messages the "
	        "mail relay accepted.\n"
	        "# TYPE apitokend_mail_sent_total counter\n"
	        "apitokend_mail_sent_total %" PRIu64 "\n"
	        "# HELP apitokend_mail_failed_total Delivery attempts that "
	        "failed (the notice is retried).\n"
	        "# TYPE apitokend_mail_failed_total counter\n"
	        "apitokend_mail_failed_total %" PRIu64 "\n"
	        "# HELP apitokend_mail_given_up_total Notices removed "
	        "undelivered after mail.give_up_after.\n"
	        "# TYPE apitokend_mail_given_up_total counter\n"
	        "apitokend_mail_given_up_total %" PRIu64 "\n"
	        "# HELP apitokend_mail_queued Notices waiting in the outbox.\n"
	        "# TYPE apitokend_mail_queued gauge\n"
	        "apitokend_mail_queued %" PRIu64 "\n",
	        sent, failed, given_up, queued);
	fprintf(out,
	        "# HELP apitokend_mail_dropped_total Notices removed unsent "
	        "after mail.outbox_max_age because no relay is set.\n"
	        "# TYPE apitokend_mail_dropped_total counter\n"
	        "apitokend_mail_dropped_total %" PRIu64 "\n"
	        "# HELP apitokend_mail_outbox_scans_total Times the mail "
	        "thread looked into the outbox.\n"
	        "# TYPE apitokend_mail_outbox_scans_total counter\n"
	        "apitokend_mail_outbox_scans_total %" PRIu64 "\n",
	        dropped, scans);
}
