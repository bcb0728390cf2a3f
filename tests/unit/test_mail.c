/*
 * Unit tests of the mail delivery thread (introspect/mail.c) against a
 * real SMTP server (tests/smtp_sink.py) and an in-memory outbox that
 * stands in for the store's: the outbox functions and the clock below
 * replace libapitoken's for this program, so each test decides what is
 * queued, when "now" is, and sees exactly which notices were marked done
 * or deferred to when.  The store's own outbox is covered by its tests and
 * by tests/integration/mail.sh with the real daemon.
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <apitoken/config.h>
#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/store.h>
#include <apitoken/store_rep.h>

#include "../../introspect/mail.h"
#include "../../introspect/mail_int.h"
#include "unit.h"

extern char **environ;

#define WAIT_SECONDS 30 /* generous: valgrind runs this suite too */

/* ---- the in-memory outbox -------------------------------------------- */

struct item {
	apitoken_notice_t n;
	char kind[16], email[300], msgid[300], error[512];
	bool done;
	bool given_up;
	int64_t given_up_at;
	unsigned defers;
};

struct apitoken_store {
	pthread_mutex_t lock;
	struct item items[8];
	size_t n;
	int64_t now;
	unsigned reminder_calls;
	size_t reminder_leads;
	unsigned due_calls;     /* the mail thread looked for due notices */
	int64_t dropped_before; /* cutoff of the last drop_older */
	unsigned drop_calls;
	apitoken_outbox_hook_fn hook;
	void *hook_ctx;
};

static struct apitoken_store fake = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* mail.c sends only from a replication master or a single site. */
enum apitoken_rep_role
apitoken_store_rep_role(apitoken_store_t *st)
{
	(void)st;
	return APITOKEN_REP_SINGLE;
}

int64_t
apitoken_now(void)
{
	int64_t now;

	pthread_mutex_lock(&fake.lock);
	now = fake.now;
	pthread_mutex_unlock(&fake.lock);
	return now;
}

static void
set_now(int64_t now)
{
	pthread_mutex_lock(&fake.lock);
	fake.now = now;
	pthread_mutex_unlock(&fake.lock);
}

int
apitoken_outbox_foreach(apitoken_store_t *store, apitoken_notice_fn fn,
                        void *ctx)
{
	apitoken_notice_t copy[8];
	size_t i, n = 0;
	int rc = 0;

	/* Like the store, hand out a snapshot (no lock held during fn). */
	pthread_mutex_lock(&store->lock);
	for (i = 0; i < store->n; i++)
		if (!store->items[i].done)
			copy[n++] = store->items[i].n;
	pthread_mutex_unlock(&store->lock);
	for (i = 0; i < n && rc == 0; i++)
		rc = fn(&copy[i], ctx);
	return rc;
}

/* Due notices in seq order (the store: due-time order; the tests here
 * do not depend on it). */
int
apitoken_outbox_due(apitoken_store_t *store, int64_t now, size_t max,
                    apitoken_notice_fn fn, void *ctx, int64_t *next_out)
{
	apitoken_notice_t copy[8];
	int64_t next = INT64_MAX;
	size_t i, n = 0;
	int rc = 0;

	pthread_mutex_lock(&store->lock);
	store->due_calls++;
	for (i = 0; i < store->n; i++) {
		const apitoken_notice_t *it = &store->items[i].n;

		if (store->items[i].done)
			continue;
		if (it->next_attempt <= now && n < max)
			copy[n++] = *it;
		else if (it->next_attempt <= now)
			next = now;
		else if (it->next_attempt < next)
			next = it->next_attempt;
	}
	pthread_mutex_unlock(&store->lock);
	for (i = 0; i < n && rc == 0; i++)
		rc = fn(&copy[i], ctx);
	if (next_out != NULL)
		*next_out = next;
	return rc;
}

int
apitoken_outbox_count(apitoken_store_t *store, size_t *count_out)
{
	size_t i;

	*count_out = 0;
	pthread_mutex_lock(&store->lock);
	for (i = 0; i < store->n; i++)
		if (!store->items[i].done)
			(*count_out)++;
	pthread_mutex_unlock(&store->lock);
	return 0;
}

void
apitoken_outbox_set_hook(apitoken_store_t *store, apitoken_outbox_hook_fn fn,
                         void *ctx)
{
	pthread_mutex_lock(&store->lock);
	store->hook = fn;
	store->hook_ctx = ctx;
	pthread_mutex_unlock(&store->lock);
}

/* Like the store: drop the notices older than cutoff, oldest first. */
int
apitoken_outbox_drop_older(apitoken_store_t *store, int64_t cutoff,
                           int64_t now, const char *why, size_t *dropped_out,
                           int64_t *oldest_out)
{
	int64_t oldest = INT64_MAX;
	size_t i, dropped = 0;

	pthread_mutex_lock(&store->lock);
	store->drop_calls++;
	store->dropped_before = cutoff;
	for (i = 0; i < store->n; i++) {
		struct item *it = &store->items[i];

		if (it->done)
			continue;
		if (it->n.time < cutoff) {
			it->done = true;
			it->given_up = true;
			it->given_up_at = now;
			snprintf(it->error, sizeof(it->error), "%s", why);
			dropped++;
		} else if (it->n.time < oldest) {
			oldest = it->n.time;
		}
	}
	pthread_mutex_unlock(&store->lock);
	*dropped_out = dropped;
	*oldest_out = oldest;
	return 0;
}

/* A writer committed a notice: what the store does after its commit. */
static void
announce(size_t queued, int64_t due, int64_t time)
{
	apitoken_outbox_hook_fn fn;
	void *ctx;

	pthread_mutex_lock(&fake.lock);
	fn = fake.hook;
	ctx = fake.hook_ctx;
	pthread_mutex_unlock(&fake.lock);
	if (fn != NULL)
		fn(ctx, queued, due, time);
}

static struct item *
find(apitoken_store_t *store, uint64_t seq)
{
	size_t i;

	for (i = 0; i < store->n; i++)
		if (store->items[i].n.seq == seq && !store->items[i].done)
			return &store->items[i];
	return NULL;
}

int
apitoken_outbox_done(apitoken_store_t *store, uint64_t seq)
{
	struct item *it;

	pthread_mutex_lock(&store->lock);
	it = find(store, seq);
	if (it != NULL)
		it->done = true;
	pthread_mutex_unlock(&store->lock);
	return it != NULL ? 0 : APITOKEN_ERR_NOT_FOUND;
}

int
apitoken_outbox_defer(apitoken_store_t *store, uint64_t seq,
                      int64_t next_attempt, const char *error)
{
	struct item *it;

	pthread_mutex_lock(&store->lock);
	it = find(store, seq);
	if (it != NULL) {
		it->n.attempts++;
		it->n.next_attempt = next_attempt;
		snprintf(it->error, sizeof(it->error), "%s", error);
		it->n.last_error = it->error;
		it->defers++;
	}
	pthread_mutex_unlock(&store->lock);
	return it != NULL ? 0 : APITOKEN_ERR_NOT_FOUND;
}

int
apitoken_outbox_give_up(apitoken_store_t *store, uint64_t seq, int64_t now,
                        const char *error)
{
	struct item *it;

	pthread_mutex_lock(&store->lock);
	it = find(store, seq);
	if (it != NULL) {
		it->done = true;
		it->given_up = true;
		it->given_up_at = now;
		snprintf(it->error, sizeof(it->error), "%s", error);
		it->n.last_error = it->error;
	}
	pthread_mutex_unlock(&store->lock);
	return it != NULL ? 0 : APITOKEN_ERR_NOT_FOUND;
}

int
apitoken_outbox_queue_reminders_since(apitoken_store_t *store, int64_t since,
                                      int64_t now, const int64_t *leads,
                                      size_t n_leads, size_t *queued_out)
{
	(void)since;
	(void)now;
	(void)leads;
	pthread_mutex_lock(&store->lock);
	store->reminder_calls++;
	store->reminder_leads = n_leads;
	pthread_mutex_unlock(&store->lock);
	*queued_out = 0;
	return 0;
}

static void
queue(uint64_t seq, const char *kind, const char *email, int64_t due)
{
	struct item *it;

	pthread_mutex_lock(&fake.lock);
	ck_assert_uint_lt(fake.n, 8);
	it = &fake.items[fake.n++];
	memset(it, 0, sizeof(*it));
	snprintf(it->kind, sizeof(it->kind), "%s", kind);
	snprintf(it->email, sizeof(it->email), "%s", email);
	snprintf(it->msgid, sizeof(it->msgid), "<%llu.TokId%llu@apitoken>",
	         (unsigned long long)seq, (unsigned long long)seq);
	it->n.seq = seq;
	it->n.kind = it->kind;
	it->n.user = "alice";
	it->n.email = it->email;
	it->n.token_id = "TokIdTokIdTokId1";
	it->n.hint = "wxyz";
	it->n.origin = "apitokenctl uid 0";
	it->n.time = 1000;
	it->n.token_exp = 1000 + 86400;
	it->n.next_attempt = due;
	it->n.last_error = "";
	it->n.message_id = it->msgid;
	pthread_mutex_unlock(&fake.lock);
}

/* A copy of item seq's state. */
static struct item
item(uint64_t seq)
{
	struct item copy;
	size_t i;

	memset(&copy, 0, sizeof(copy));
	pthread_mutex_lock(&fake.lock);
	for (i = 0; i < fake.n; i++)
		if (fake.items[i].n.seq == seq)
			copy = fake.items[i];
	pthread_mutex_unlock(&fake.lock);
	return copy;
}

/* ---- log capture ------------------------------------------------------ */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[16384];

static void
log_capture(int level, const char *msg, void *ctx)
{
	size_t len;

	(void)level;
	(void)ctx;
	pthread_mutex_lock(&log_lock);
	len = strlen(log_text);
	snprintf(log_text + len, sizeof(log_text) - len, "%s\n", msg);
	pthread_mutex_unlock(&log_lock);
}

static bool
log_has(const char *needle)
{
	bool found;

	pthread_mutex_lock(&log_lock);
	found = strstr(log_text, needle) != NULL;
	pthread_mutex_unlock(&log_lock);
	return found;
}

static int
log_count(const char *needle)
{
	const char *p;
	int n = 0;

	pthread_mutex_lock(&log_lock);
	for (p = strstr(log_text, needle); p != NULL;
	     p = strstr(p + 1, needle))
		n++;
	pthread_mutex_unlock(&log_lock);
	return n;
}

/* ---- the SMTP sink ---------------------------------------------------- */

static const char *
python(void)
{
	const char *py = getenv("PYTHON");

	if (py != NULL && *py != '\0')
		return py;
	/* Debian's interpreter has python3-aiosmtpd, a pyenv one may not. */
	return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3"
	                                             : "python3";
}

struct sink {
	pid_t pid;
	int port;
	char dir[512];
};

static char *tmp;
static struct sink sink = {.pid = -1};

static void
sink_start(int port, const char *opt, const char *val)
{
	const char *src = getenv("top_srcdir");
	char script[1024], portfile[600], portarg[16];
	char *argv[12];
	int i, argc = 0;
	FILE *f;

	snprintf(script, sizeof(script), "%s/tests/smtp_sink.py",
	         src != NULL ? src : ".");
	snprintf(portfile, sizeof(portfile), "%s/sink.port", tmp);
	snprintf(portarg, sizeof(portarg), "%d", port);
	(void)unlink(portfile);
	argv[argc++] = (char *)python();
	argv[argc++] = script;
	argv[argc++] = (char *)"--dir";
	argv[argc++] = sink.dir;
	argv[argc++] = (char *)"--port";
	argv[argc++] = portarg;
	argv[argc++] = (char *)"--port-file";
	argv[argc++] = portfile;
	if (opt != NULL) {
		argv[argc++] = (char *)opt;
		argv[argc++] = (char *)val;
	}
	argv[argc] = NULL;
	ck_assert_int_eq(
	    posix_spawnp(&sink.pid, argv[0], NULL, NULL, argv, environ), 0);
	for (i = 0; i < 200; i++) {
		f = fopen(portfile, "r");
		if (f != NULL) {
			ck_assert_int_eq(fscanf(f, "%d", &sink.port), 1);
			fclose(f);
			return;
		}
		usleep(50000);
	}
	ck_abort_msg("smtp_sink.py did not start");
}

static void
sink_stop(void)
{
	int status;

	if (sink.pid <= 0)
		return;
	kill(sink.pid, SIGTERM);
	(void)waitpid(sink.pid, &status, 0);
	sink.pid = -1;
}

/* Messages the sink received, and the text of all of them. */
static int
sink_count(char *all, size_t len)
{
	struct dirent *de;
	char path[1100];
	DIR *d = opendir(sink.dir);
	int count = 0;

	if (all != NULL)
		all[0] = '\0';
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		FILE *f;
		size_t used, got;

		if (de->d_name[0] == '.')
			continue;
		count++;
		if (all == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", sink.dir, de->d_name);
		f = fopen(path, "r");
		ck_assert_ptr_nonnull(f);
		used = strlen(all);
		got = fread(all + used, 1, len - used - 1, f);
		all[used + got] = '\0';
		fclose(f);
	}
	closedir(d);
	return count;
}

/* ---- fixture ---------------------------------------------------------- */

static apitoken_config_t *cfg;
static apitokend_mail_t *mail;

static void
setup(void)
{
	tmp = unit_tmpdir();
	ck_assert_ptr_nonnull(tmp);
	snprintf(sink.dir, sizeof(sink.dir), "%s/inbox", tmp);
	ck_assert_int_eq(mkdir(sink.dir, 0700), 0);
	pthread_mutex_lock(&fake.lock);
	fake.n = 0;
	fake.now = 1000;
	fake.reminder_calls = 0;
	fake.due_calls = 0;
	fake.drop_calls = 0;
	fake.dropped_before = 0;
	pthread_mutex_unlock(&fake.lock);
	log_text[0] = '\0';
	apitoken_log_set_sink(log_capture, NULL, APITOKEN_LOG_DEBUG);
	ck_assert_int_eq(apitoken_config_defaults(&cfg), 0);
	free(cfg->mail_from);
	cfg->mail_from = strdup("apitoken@example.net");
	cfg->mail_retry_max = 60;
	mail = NULL;
}

static void
teardown(void)
{
	apitokend_mail_stop(mail);
	mail = NULL;
	sink_stop();
	apitoken_config_free(cfg);
	cfg = NULL;
	unit_rmtree(tmp);
	free(tmp);
	tmp = NULL;
}

static void
set_relay(int port)
{
	char url[64];

	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", port);
	free(cfg->mail_relay);
	cfg->mail_relay = strdup(url);
}

/* Wait until cond(seq) holds, at most WAIT_SECONDS. */
static bool
wait_for(bool (*cond)(uint64_t), uint64_t seq)
{
	int i;

	for (i = 0; i < WAIT_SECONDS * 20; i++) {
		if (cond(seq))
			return true;
		usleep(50000);
	}
	return false;
}

static bool
is_done(uint64_t seq)
{
	return item(seq).done;
}

static unsigned want_defers;
static bool
deferred_enough(uint64_t seq)
{
	return item(seq).defers >= want_defers;
}

static char *
metrics(void)
{
	static char buf[4096];
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	ck_assert_ptr_nonnull(f);
	apitokend_mail_write_metrics(mail, f);
	fclose(f);
	return buf;
}

/* ---- tests ------------------------------------------------------------ */

/* Due notices arrive, each once, with their Message-ID and recipient;
 * only accepted ones leave the outbox; a notice not yet due waits. */
START_TEST(delivers_due_notices)
{
	static char all[65536];
	struct item later;

	sink_start(0, NULL, NULL);
	set_relay(sink.port);
	queue(1, "created", "alice@example.org", 1000);
	queue(2, "revoked", "bob@example.com", 900);
	queue(3, "reminder", "carol@example.org", 1100);
	ck_assert_int_eq(apitokend_mail_start(&fake, cfg, &mail), 0);
	ck_assert(log_has("mail: delivering through 127.0.0.1 (STARTTLS "
	                  "when offered)\n"));
	ck_assert(wait_for(is_done, 1));
	ck_assert(wait_for(is_done, 2));
	usleep(1500000); /* two more polls: 3 must still wait */
	later = item(3);
	ck_assert(!later.done);
	ck_assert_uint_eq(later.defers, 0);
	ck_assert_int_eq(sink_count(all, sizeof(all)), 2);
	ck_assert_ptr_nonnull(strstr(all, "Message-ID: <1.TokId1@apitoken>"));
	ck_assert_ptr_nonnull(strstr(all, "Message-ID: <2.TokId2@apitoken>"));
	ck_assert_ptr_nonnull(
	    strstr(all, "X-Sink-Rcpt-To: alice@example.org"));
	ck_assert_ptr_nonnull(strstr(all, "X-Sink-Rcpt-To: bob@example.com"));
	ck_assert_ptr_nonnull(
	    strstr(all, "X-Sink-Mail-From: apitoken@example.net"));
	ck_assert_ptr_nonnull(strstr(all, "Subject: Your API token was "
	                                  "revoked"));

	set_now(1100);
	apitokend_mail_kick(mail);
	ck_assert(wait_for(is_done, 3));
	ck_assert_int_eq(sink_count(NULL, 0), 3);
	ck_assert(log_has("mail: notice 1 (created, token TokIdTokIdTokId1) "
	                  "delivered to a recipient at example.org"));
	/* the log names the domain, never the mailbox */
	ck_assert(!log_has("alice@"));
	usleep(1200000); /* one more poll refreshes the gauge */
	ck_assert_ptr_nonnull(
	    strstr(metrics(), "\napitokend_mail_sent_total 3\n"));
	ck_assert_ptr_nonnull(
	    strstr(metrics(), "\napitokend_mail_failed_total 0\n"));
	ck_assert_ptr_nonnull(
	    strstr(metrics(), "\napitokend_mail_queued 0\n"));
	ck_assert_ptr_nonnull(
	    strstr(metrics(), "# TYPE apitokend_mail_queued gauge\n"));
}
END_TEST

/* Relay down: the notice stays, deferred 2 s, then 4 s; once the relay
 * is back it arrives exactly once. */
START_TEST(relay_down_then_back)
{
	struct item it;
	int port;

	sink_start(0, NULL, NULL);
	port = sink.port;
	sink_stop();
	set_relay(port);
	queue(7, "created", "alice@example.org", 1000);
	ck_assert_int_eq(apitokend_mail_start(&fake, cfg, &mail), 0);
	want_defers = 1;
	ck_assert(wait_for(deferred_enough, 7));
	it = item(7);
	ck_assert(!it.done);
	ck_assert_uint_eq(it.n.attempts, 1);
	ck_assert_int_eq(it.n.next_attempt, 1002);
	ck_assert_str_ne(it.error, "");
	ck_assert(log_has("mail: notice 7 (created, token TokIdTokIdTokId1) "
	                  "to a recipient at example.org not delivered "
	                  "(attempt 1)"));
	ck_assert(log_has("next attempt in 2s"));

	usleep(1500000); /* not due yet: no second attempt */
	ck_assert_uint_eq(item(7).defers, 1);
	set_now(1002);
	want_defers = 2;
	ck_assert(wait_for(deferred_enough, 7));
	ck_assert_int_eq(item(7).n.next_attempt, 1006);
	ck_assert_ptr_nonnull(
	    strstr(metrics(), "\napitokend_mail_failed_total 2\n"));
	ck_assert_ptr_nonnull(
	    strstr(metrics(), "\napitokend_mail_queued 1\n"));

	sink_start(port, NULL, NULL);
	set_now(1006);
	ck_assert(wait_for(is_done, 7));
	ck_assert_int_eq(sink_count(NULL, 0), 1);
	usleep(1500000);
	ck_assert_int_eq(sink_count(NULL, 0), 1);
	ck_assert_ptr_nonnull(
	    strstr(metrics(), "\napitokend_mail_sent_total 1\n"));
}
END_TEST

/* No relay: nothing is attempted, the notice stays queued and counted,
 * no reminders are queued, and the start says so once.  The thread does
 * not poll: it looks into the outbox once at start and then only when
 * the oldest notice reaches mail.outbox_max_age, which drops it (the
 * store writes the audit record); a new notice that is younger wakes
 * nothing. */
START_TEST(no_relay_keeps_queued)
{
	struct item it;

	cfg->mail_outbox_max_age = 2;
	queue(1, "created", "alice@example.org", 1000);
	queue(2, "created", "bob@example.org", 1000);
	pthread_mutex_lock(&fake.lock);
	fake.items[1].n.time = 1100;
	pthread_mutex_unlock(&fake.lock);
	ck_assert_int_eq(apitokend_mail_start(&fake, cfg, &mail), 0);
	ck_assert(!log_has("delivering through"));
	ck_assert(log_has("mail.relay not set: notifications stay queued; "
	                  "see apitokenctl outbox list"));
	usleep(1000000);
	it = item(1);
	ck_assert(!it.done);
	ck_assert_uint_eq(it.defers, 0);
	ck_assert_ptr_nonnull(
	    strstr(metrics(), "\napitokend_mail_queued 2\n"));
	ck_assert_ptr_nonnull(
	    strstr(metrics(), "\napitokend_mail_outbox_scans_total 1\n"));

	/* Notice 1 turns 2 s old: dropped when its time comes. */
	set_now(1002);
	ck_assert(wait_for(is_done, 1));
	it = item(1);
	ck_assert(it.given_up);
	ck_assert_ptr_nonnull(strstr(it.error, "no mail.relay"));
	ck_assert(!item(2).done);
	ck_assert(log_has("mail: dropped 1 notice(s) older than 2s"));
	ck_assert_ptr_nonnull(
	    strstr(metrics(), "\napitokend_mail_dropped_total 1\n"));
	ck_assert_ptr_nonnull(
	    strstr(metrics(), "\napitokend_mail_queued 1\n"));

	/* Quiet now: notice 2 is due for dropping at 1102, and a newer
	 * one changes nothing. */
	usleep(300000);
	ck_assert_ptr_nonnull(
	    strstr(metrics(), "\napitokend_mail_outbox_scans_total 2\n"));
	announce(1, 1200, 1200);
	usleep(2500000);
	ck_assert_ptr_nonnull(
	    strstr(metrics(), "\napitokend_mail_outbox_scans_total 2\n"));
	ck_assert_ptr_nonnull(
	    strstr(metrics(), "\napitokend_mail_queued 2\n"));
	pthread_mutex_lock(&fake.lock);
	ck_assert_uint_eq(fake.reminder_calls, 0);
	ck_assert_uint_eq(fake.due_calls, 0);
	pthread_mutex_unlock(&fake.lock);
	ck_assert_ptr_nonnull(
	    strstr(metrics(), "\napitokend_mail_sent_total 0\n"));
}
END_TEST

/* A recipient the relay refuses is deferred with the relay's answer; the
 * others in the same batch are still delivered.  A notice that cannot
 * be composed (CR/LF in the address) is deferred by retry_max and never
 * reaches the relay. */
START_TEST(refused_and_malformed)
{
	static char all[65536];
	struct item bad, evil;

	sink_start(0, "--reject-rcpt", "evil.example");
	set_relay(sink.port);
	queue(1, "created", "mallory@evil.example", 1000);
	queue(2, "created", "alice@example.org\r\nBcc: x@evil.example", 1000);
	queue(3, "created", "alice@example.org", 1000);
	ck_assert_int_eq(apitokend_mail_start(&fake, cfg, &mail), 0);
	ck_assert(wait_for(is_done, 3));
	want_defers = 1;
	ck_assert(wait_for(deferred_enough, 1));
	ck_assert(wait_for(deferred_enough, 2));
	evil = item(1);
	ck_assert(!evil.done);
	ck_assert_ptr_nonnull(strstr(evil.error, "550"));
	ck_assert_int_eq(evil.n.next_attempt, 1002);
	bad = item(2);
	ck_assert(!bad.done);
	ck_assert_ptr_nonnull(strstr(bad.error, "cannot compose"));
	ck_assert_int_eq(bad.n.next_attempt, 1000 + 60);
	ck_assert_int_eq(sink_count(all, sizeof(all)), 1);
	ck_assert_ptr_null(strstr(all, "Bcc"));
	ck_assert_ptr_null(strstr(all, "evil"));
}
END_TEST

/* A notice still refused give_up_after past its change leaves the outbox
 * (given up, with the relay's answer), counted and logged; a younger one
 * is deferred as before. */
START_TEST(given_up_after_its_time)
{
	struct item old, young;

	sink_start(0, "--reject-rcpt", "evil.example");
	set_relay(sink.port);
	cfg->mail_give_up_after = 3600;
	set_now(1000 + 3600);
	queue(1, "created", "mallory@evil.example", 1000); /* time 1000 */
	queue(2, "created", "eve@evil.example", 1000);
	pthread_mutex_lock(&fake.lock);
	fake.items[1].n.time = 1000 + 1; /* 3599 s old */
	pthread_mutex_unlock(&fake.lock);
	ck_assert_int_eq(apitokend_mail_start(&fake, cfg, &mail), 0);
	ck_assert(wait_for(is_done, 1));
	want_defers = 1;
	ck_assert(wait_for(deferred_enough, 2));
	old = item(1);
	ck_assert(old.given_up);
	ck_assert_int_eq(old.given_up_at, 1000 + 3600);
	ck_assert_ptr_nonnull(strstr(old.error, "550"));
	ck_assert_uint_eq(old.defers, 0);
	young = item(2);
	ck_assert(!young.done);
	ck_assert(!young.given_up);
	ck_assert_ptr_nonnull(
	    strstr(metrics(), "\napitokend_mail_given_up_total 1\n"));
	pthread_mutex_lock(&log_lock);
	ck_assert_ptr_nonnull(strstr(log_text, "given up after 1 attempts"));
	ck_assert_ptr_null(strstr(log_text, "mallory"));
	pthread_mutex_unlock(&log_lock);
}
END_TEST

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

/* SMTP AUTH with the password from a private file; the password never
 * reaches a log; a world-readable file or credentials in the URL are
 * refused at start with the key named. */
START_TEST(auth_password_file)
{
	char pwfile[600], authfile[600], authopt[700];

	snprintf(pwfile, sizeof(pwfile), "%s/smtp.pw", tmp);
	snprintf(authfile, sizeof(authfile), "%s/sink.pw", tmp);
	write_file(authfile, "S3cret-Pa55\n", 0600);
	snprintf(authopt, sizeof(authopt), "mailer:%s", authfile);
	sink_start(0, "--auth", authopt);
	set_relay(sink.port);
	cfg->mail_username = strdup("mailer");
	cfg->mail_password_file = strdup(pwfile);

	write_file(pwfile, "S3cret-Pa55\n", 0644);
	ck_assert_int_eq(apitokend_mail_start(&fake, cfg, &mail),
	                 APITOKEN_ERR_CONFIG);
	ck_assert_ptr_null(mail);
	ck_assert_ptr_nonnull(
	    strstr(apitoken_last_error(), "'mail.password_file'"));

	free(cfg->mail_relay);
	cfg->mail_relay = strdup("smtp://u:p@127.0.0.1:25");
	write_file(pwfile, "S3cret-Pa55\n", 0640);
	ck_assert_int_eq(apitokend_mail_start(&fake, cfg, &mail),
	                 APITOKEN_ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(apitoken_last_error(), "'mail.relay'"));
	free(cfg->mail_relay);
	cfg->mail_relay = strdup("http://127.0.0.1:25");
	ck_assert_int_eq(apitokend_mail_start(&fake, cfg, &mail),
	                 APITOKEN_ERR_CONFIG);

	/* wrong password: refused by the relay, deferred */
	set_relay(sink.port);
	write_file(pwfile, "wrong\n", 0600);
	queue(1, "created", "alice@example.org", 1000);
	ck_assert_int_eq(apitokend_mail_start(&fake, cfg, &mail), 0);
	ck_assert(log_has("mail: delivering through 127.0.0.1 (STARTTLS when "
	                  "offered), with SMTP AUTH\n"));
	want_defers = 1;
	ck_assert(wait_for(deferred_enough, 1));
	ck_assert_int_eq(sink_count(NULL, 0), 0);

	/* a file others may read is not used (and said so once) */
	write_file(pwfile, "S3cret-Pa55\n", 0604);
	set_now(1002);
	usleep(2500000);
	ck_assert(!item(1).done);
	ck_assert_int_eq(sink_count(NULL, 0), 0);
	ck_assert_int_eq(log_count("mail: not sending: key "
	                           "'mail.password_file'"),
	                 1);

	/* right password (read again for each batch: no restart needed) */
	write_file(pwfile, "S3cret-Pa55\n", 0600);
	ck_assert(wait_for(is_done, 1));
	ck_assert(log_has("mail: password file readable again"));
	ck_assert_int_eq(sink_count(NULL, 0), 1);
	ck_assert(!log_has("S3cret"));
	ck_assert(!log_has("wrong"));
}
END_TEST

/* Run argv with stderr to /dev/null (openssl prints progress there). */
static int
run(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * A relay that offers STARTTLS gets it, and its certificate is checked:
 * with one nobody vouches for (self-signed), nothing is sent in clear
 * instead; the notice waits with the reason.
 */
START_TEST(starttls_used_and_verified)
{
	char cert[600], key[600], opt[1300];
	char *argv[] = {(char *)"openssl",
	                (char *)"req",
	                (char *)"-x509",
	                (char *)"-newkey",
	                (char *)"ec",
	                (char *)"-pkeyopt",
	                (char *)"ec_paramgen_curve:prime256v1",
	                (char *)"-nodes",
	                (char *)"-days",
	                (char *)"1",
	                (char *)"-subj",
	                (char *)"/CN=127.0.0.1",
	                (char *)"-keyout",
	                key,
	                (char *)"-out",
	                cert,
	                NULL};
	struct item it;

	snprintf(cert, sizeof(cert), "%s/cert.pem", tmp);
	snprintf(key, sizeof(key), "%s/key.pem", tmp);
	ck_assert_int_eq(run(argv), 0);
	snprintf(opt, sizeof(opt), "%s:%s", cert, key);
	sink_start(0, "--starttls", opt);
	set_relay(sink.port);
	queue(1, "created", "alice@example.org", 1000);
	ck_assert_int_eq(apitokend_mail_start(&fake, cfg, &mail), 0);
	want_defers = 1;
	ck_assert(wait_for(deferred_enough, 1));
	it = item(1);
	ck_assert(!it.done);
	ck_assert_msg(strstr(it.error, "certificate") != NULL, "error: %s",
	              it.error);
	ck_assert_int_eq(sink_count(NULL, 0), 0);
}
END_TEST

/* Stop returns promptly even while the relay does not answer. */
START_TEST(stop_while_relay_silent)
{
	struct timespec a, b;
	int fd, one = 1;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	/* A listener that never accepts: connects hang in the backlog. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	set_relay(ntohs(sa.sin_port));
	queue(1, "created", "alice@example.org", 1000);
	ck_assert_int_eq(apitokend_mail_start(&fake, cfg, &mail), 0);
	usleep(1500000); /* the thread is waiting for a greeting */
	clock_gettime(CLOCK_MONOTONIC, &a);
	apitokend_mail_stop(mail);
	mail = NULL;
	clock_gettime(CLOCK_MONOTONIC, &b);
	ck_assert_int_lt(b.tv_sec - a.tv_sec, 5);
	/* nothing was accepted, so the notice stays */
	ck_assert(!item(1).done);
	close(fd);
}
END_TEST

static Suite *
mail_suite(void)
{
	Suite *s = suite_create("mail");
	TCase *tc = tcase_create("delivery");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, delivers_due_notices);
	tcase_add_test(tc, relay_down_then_back);
	tcase_add_test(tc, no_relay_keeps_queued);
	tcase_add_test(tc, refused_and_malformed);
	tcase_add_test(tc, given_up_after_its_time);
	tcase_add_test(tc, auth_password_file);
	tcase_add_test(tc, stop_while_relay_silent);
	tcase_add_test(tc, starttls_used_and_verified);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	char *argv[] = {(char *)python(), (char *)"-c",
	                (char *)"import aiosmtpd", NULL};
	pid_t pid;
	int status;

	/* The sink needs aiosmtpd (Debian python3-aiosmtpd): skip without. */
	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0 ||
	    waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		printf("1..0 # SKIP python3-aiosmtpd not available\n");
		return 77;
	}
	return unit_run(mail_suite());
}
