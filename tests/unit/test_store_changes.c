/*
 * Change records and running counts (store_changes.c, store_counts.c):
 * each answer-changing write leaves records naming what it touched, in
 * order and in its own transaction; writes that change no answer leave
 * none; the log is trimmed and a reader that fell behind is told; the
 * counts match a scan.  Linked with the store's sources (not the shared
 * library) so that a transaction body can be run that fails after
 * appending a record.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include <apitoken/error.h>
#include <apitoken/store.h>
#include <apitoken/token.h>

#include "../../core/store_int.h"
#include "test_store_util.h"
#include "unit.h"

#define MAX_SEEN 16

struct seen {
	size_t n;      /* records passed to fn */
	size_t n_all;  /* of which APITOKEN_CHANGE_ALL */
	uint64_t prev; /* seq of the previous record */
	bool ordered;  /* every seq above the previous one */
	apitoken_change_kind_t kind[MAX_SEEN];
	char subject[MAX_SEEN][80]; /* names; hashes as "#" + 2 hex */
	uint64_t seq[MAX_SEEN];
};

static int
collect(const apitoken_change_t *c, void *ctx)
{
	struct seen *s = ctx;

	if (c->seq <= s->prev)
		s->ordered = false;
	s->prev = c->seq;
	if (c->kind == APITOKEN_CHANGE_ALL)
		s->n_all++;
	if (s->n < MAX_SEEN) {
		s->kind[s->n] = c->kind;
		s->seq[s->n] = c->seq;
		if (c->kind == APITOKEN_CHANGE_TOKEN)
			(void)snprintf(s->subject[s->n], 80, "#%02x",
			               c->subject_len == APITOKEN_HASH_LEN
			                   ? c->subject[0]
			                   : 0);
		else
			(void)snprintf(s->subject[s->n], 80, "%.*s",
			               (int)c->subject_len,
			               (const char *)c->subject);
	}
	s->n++;
	return 0;
}

/* Records after `after', checked to be in order. */
static void
read_after(uint64_t after, struct seen *s, uint64_t *last_out)
{
	memset(s, 0, sizeof(*s));
	s->prev = after;
	s->ordered = true;
	ck_assert_msg(apitoken_store_changes_read(ts_st, after, collect, s,
	                                          last_out) == 0,
	              "read: %s", apitoken_last_error());
	ck_assert(s->ordered);
}

static uint64_t
last_seq(void)
{
	uint64_t last = 0;

	ck_assert_int_eq(apitoken_store_changes_last(ts_st, &last), 0);
	return last;
}

static char *
token_tag(const char *token)
{
	static char tag[8];
	uint8_t h[APITOKEN_HASH_LEN];

	apitoken_token_hash(token, strlen(token), h);
	(void)snprintf(tag, sizeof(tag), "#%02x", h[0]);
	return tag;
}

START_TEST(test_records_in_order)
{
	char tok[APITOKEN_TOKEN_LEN + 1], tok2[APITOKEN_TOKEN_LEN + 1];
	char secret[APITOKEN_TOKEN_LEN + 1], t1[8], t2[8];
	apitoken_user_change_t ch;
	struct seen s;
	uint64_t start = last_seq(), last = 0;

	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "t", tok, NULL), 0);
	memcpy(t1, token_tag(tok), sizeof(t1));
	memset(&ch, 0, sizeof(ch));
	ch.role = "admin";
	ch.api_access = -1;
	ck_assert_int_eq(apitoken_user_update(ts_st, "alice", &ch, "t"), 0);
	ck_assert_int_eq(apitoken_token_issue(ts_st, "alice",
	                                      APITOKEN_ISSUE_REPLACE, "t",
	                                      tok2, NULL),
	                 0);
	memcpy(t2, token_tag(tok2), sizeof(t2));
	ck_assert_int_eq(
	    apitoken_client_add(ts_st, "rs1", NULL, 0, "t", secret), 0);
	ck_assert_int_eq(apitoken_client_remove(ts_st, "rs1", "t"), 0);
	ck_assert_int_eq(apitoken_user_remove(ts_st, "alice", "t"), 0);

	read_after(start, &s, &last);
	ck_assert_uint_eq(s.n, 9);
	ck_assert_uint_eq(s.n_all, 0);
	ck_assert_uint_eq(last, start + 9);
	ck_assert_uint_eq(last_seq(), last);
	ck_assert_uint_eq(apitoken_store_changes_visible(ts_st), last);
	/* Contiguous: no number lost or shared. */
	ck_assert_uint_eq(s.seq[0], start + 1);
	ck_assert_uint_eq(s.seq[8], start + 9);
	ck_assert_int_eq(s.kind[0], APITOKEN_CHANGE_USER); /* add */
	ck_assert_str_eq(s.subject[0], "alice");
	ck_assert_int_eq(s.kind[1], APITOKEN_CHANGE_TOKEN); /* issue */
	ck_assert_str_eq(s.subject[1], t1);
	ck_assert_int_eq(s.kind[2], APITOKEN_CHANGE_USER);  /* role */
	ck_assert_int_eq(s.kind[3], APITOKEN_CHANGE_TOKEN); /* old, revoked */
	ck_assert_str_eq(s.subject[3], t1);
	ck_assert_int_eq(s.kind[4], APITOKEN_CHANGE_TOKEN); /* new */
	ck_assert_str_eq(s.subject[4], t2);
	ck_assert_int_eq(s.kind[5], APITOKEN_CHANGE_CLIENT);
	ck_assert_str_eq(s.subject[5], "rs1");
	ck_assert_int_eq(s.kind[6], APITOKEN_CHANGE_CLIENT);
	ck_assert_int_eq(s.kind[7], APITOKEN_CHANGE_TOKEN); /* its token */
	ck_assert_str_eq(s.subject[7], t2);
	ck_assert_int_eq(s.kind[8], APITOKEN_CHANGE_USER); /* removed */
	ck_assert_str_eq(s.subject[8], "alice");

	/* A reader that has seen some gets only the rest. */
	read_after(start + 7, &s, &last);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_uint_eq(s.seq[0], start + 8);
	/* Nothing new: nothing, and last stays. */
	read_after(last, &s, &last);
	ck_assert_uint_eq(s.n, 0);
	ck_assert_uint_eq(last, start + 9);
	/* Numbers survive a reopen. */
	ts_reopen();
	ck_assert_uint_eq(last_seq(), start + 9);
	ck_assert_uint_eq(apitoken_store_changes_visible(ts_st), start + 9);
	ck_assert_int_eq(ts_add_user("bob", "viewer", 1, NULL, NULL), 0);
	ck_assert_uint_eq(last_seq(), start + 10);
}
END_TEST

/* A body that appends a record and then fails like a store error. */
static int
fail_after_append(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	int rc;

	(void)arg;
	rc = store_change_name(st, txn, APITOKEN_CHANGE_USER, "ghost");
	if (rc != 0)
		return rc;
	return apitoken_error(APITOKEN_ERR_INVALID, "refused after append");
}

/* A body that writes a record and commits. */
static int
append_one(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	return store_change_name(st, txn, APITOKEN_CHANGE_USER,
	                         (const char *)arg);
}

START_TEST(test_same_transaction)
{
	char tok[APITOKEN_TOKEN_LEN + 1];
	struct seen s;
	uint64_t start = last_seq(), last;

	ck_assert_int_eq(store_write(ts_st, fail_after_append, NULL),
	                 APITOKEN_ERR_INVALID);
	ck_assert_uint_eq(last_seq(), start);
	ck_assert_uint_eq(apitoken_store_changes_visible(ts_st), start);
	read_after(start, &s, &last);
	ck_assert_uint_eq(s.n, 0);
	/* The number was given back: the next record takes it. */
	ck_assert_int_eq(store_write(ts_st, append_one, "carol"), 0);
	read_after(start, &s, &last);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_uint_eq(s.seq[0], start + 1);
	ck_assert_str_eq(s.subject[0], "carol");
	/* Refusals write nothing either. */
	ck_assert_int_eq(ts_add_user("dave", "viewer", 0, NULL, NULL), 0);
	start = last_seq();
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "dave", 0, "t", tok, NULL),
	    APITOKEN_ERR_DISABLED);
	ck_assert_int_eq(apitoken_user_remove(ts_st, "nobody", "t"),
	                 APITOKEN_ERR_NOT_FOUND);
	ck_assert_uint_eq(last_seq(), start);
}
END_TEST

static int
defer_all(const apitoken_notice_t *n, void *ctx)
{
	(void)ctx;
	return apitoken_outbox_defer(ts_st, n->seq, apitoken_now() + 60,
	                             "test");
}

static void
hook(uint64_t seq, void *arg)
{
	*(uint64_t *)arg = seq;
}

START_TEST(test_writes_that_touch_nothing)
{
	char tok[APITOKEN_TOKEN_LEN + 1], tok2[APITOKEN_TOKEN_LEN + 1];
	apitoken_token_info_t info;
	uint64_t start, last, hooked = 0;
	int64_t leads[1] = {7 * 86400};
	size_t n;
	struct seen s;

	apitoken_store_set_change_hook(ts_st, hook, &hooked);
	ts_cfg->token_lifetime = 1;
	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(ts_add_user("bob", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "t", tok, &info), 0);
	ts_cfg->token_lifetime = 3600;
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "bob", 0, "t", tok2, NULL), 0);
	start = last_seq();
	ck_assert_uint_eq(hooked, start);
	sleep(2);
	/* alice's token has expired: purging it changes no answer. */
	ck_assert_int_eq(
	    apitoken_store_purge(ts_st, apitoken_now(), NULL, NULL, &n), 0);
	ck_assert_uint_eq(n, 1);
	/* Outbox and reminder bookkeeping. */
	ck_assert_int_eq(apitoken_outbox_foreach(ts_st, defer_all, NULL), 0);
	ck_assert_int_eq(apitoken_outbox_retry_all(ts_st, &n), 0);
	ck_assert_int_eq(apitoken_outbox_queue_reminders(ts_st, apitoken_now(),
	                                                 leads, 1, &n),
	                 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(last_seq(), start);
	ck_assert_uint_eq(hooked, start);
	read_after(start, &s, &last);
	ck_assert_uint_eq(s.n, 0);
	/* A purge ahead of the clock deletes a live token: recorded. */
	ck_assert_int_eq(
	    apitoken_store_purge(ts_st, apitoken_now() + 7200, NULL, NULL, &n),
	    0);
	ck_assert_uint_eq(n, 1);
	read_after(start, &s, &last);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_int_eq(s.kind[0], APITOKEN_CHANGE_TOKEN);
	ck_assert_str_eq(s.subject[0], token_tag(tok2));
	ck_assert_uint_eq(hooked, start + 1);
	apitoken_store_set_change_hook(ts_st, NULL, NULL);
}
END_TEST

#define MANY (APITOKEN_CHANGES_KEEP + 500)

static int
append_many(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	char name[32];
	size_t i;
	int rc;

	(void)arg;
	for (i = 0; i < MANY; i++) {
		(void)snprintf(name, sizeof(name), "u%zu", i);
		rc = store_change_name(st, txn, APITOKEN_CHANGE_USER, name);
		if (rc != 0)
			return rc;
	}
	return 0;
}

START_TEST(test_trimming)
{
	struct seen s;
	uint64_t start = last_seq(), last, end;

	ck_assert_msg(store_write(ts_st, append_many, NULL) == 0, "%s",
	              apitoken_last_error());
	end = start + MANY;
	ck_assert_uint_eq(last_seq(), end);
	/* A reader from the start fell behind: told to drop everything,
	 * then given what is left, the last KEEP. */
	read_after(start, &s, &last);
	ck_assert_uint_eq(s.n, APITOKEN_CHANGES_KEEP + 1);
	ck_assert_uint_eq(s.n_all, 1);
	ck_assert_int_eq(s.kind[0], APITOKEN_CHANGE_ALL);
	ck_assert_uint_eq(s.seq[0], end - APITOKEN_CHANGES_KEEP);
	ck_assert_uint_eq(s.seq[1], end - APITOKEN_CHANGES_KEEP + 1);
	ck_assert_uint_eq(last, end);
	/* One that kept up is not. */
	read_after(end - 10, &s, &last);
	ck_assert_uint_eq(s.n, 10);
	ck_assert_uint_eq(s.n_all, 0);
}
END_TEST

static int
count_user(const apitoken_user_t *u, void *ctx)
{
	(void)u;
	++*(size_t *)ctx;
	return 0;
}

static int
count_client(const apitoken_client_t *c, void *ctx)
{
	(void)c;
	++*(size_t *)ctx;
	return 0;
}

struct tok_scan {
	size_t all, live;
	int64_t now;
};

static int
count_token(const apitoken_token_info_t *t, void *ctx)
{
	struct tok_scan *ts = ctx;

	ts->all++;
	if (t->exp > ts->now)
		ts->live++;
	return 0;
}

/* The counters against a walk of each database. */
static void
assert_counts_match(void)
{
	apitoken_store_counts_t c;
	struct tok_scan ts = {0, 0, apitoken_now()};
	size_t users = 0, clients = 0, active;

	ck_assert_int_eq(apitoken_store_counts(ts_st, &c), 0);
	ck_assert_int_eq(apitoken_user_foreach(ts_st, count_user, &users), 0);
	ck_assert_int_eq(
	    apitoken_client_foreach(ts_st, count_client, &clients), 0);
	ck_assert_int_eq(apitoken_token_foreach(ts_st, count_token, &ts), 0);
	ck_assert_uint_eq(c.users, users);
	ck_assert_uint_eq(c.clients, clients);
	ck_assert_uint_eq(c.tokens, ts.all);
	ck_assert_int_eq(apitoken_token_count_active(ts_st, ts.now, &active),
	                 0);
	ck_assert_uint_eq(active, ts.live);
}

static int
drop_counts(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	static const char *const keys[] = {"count.tokens", "count.users",
	                                   "count.clients"};
	DBT key;
	size_t i;

	(void)arg;
	for (i = 0; i < 3; i++) {
		memset(&key, 0, sizeof(key));
		key.data = (void *)keys[i];
		key.size = (u_int32_t)strlen(keys[i]);
		if (st->meta->del(st->meta, txn, &key, 0) != 0)
			return APITOKEN_ERR_STORE;
	}
	return 0;
}

START_TEST(test_counts_match_scan)
{
	char tok[APITOKEN_TOKEN_LEN + 1], secret[APITOKEN_TOKEN_LEN + 1];
	apitoken_user_t batch[3];
	int results[3];
	char name[16];
	size_t i, n;

	assert_counts_match();
	for (i = 0; i < 6; i++) {
		(void)snprintf(name, sizeof(name), "user%zu", i);
		ck_assert_int_eq(ts_add_user(name, "viewer", 1, NULL, NULL),
		                 0);
		if (i % 2 == 0)
			ck_assert_int_eq(apitoken_token_issue(ts_st, name, 0,
			                                      "t", tok, NULL),
			                 0);
	}
	/* A batch with one duplicate. */
	memset(batch, 0, sizeof(batch));
	for (i = 0; i < 3; i++) {
		batch[i].name = i == 2 ? "user0" : i == 0 ? "b1" : "b2";
		batch[i].email = "b@example.org";
		batch[i].role = "viewer";
		batch[i].api_access = true;
	}
	ck_assert_int_eq(
	    apitoken_user_add_batch(ts_st, batch, 3, "t", results, NULL), 0);
	ck_assert_int_eq(results[2], APITOKEN_ERR_EXISTS);
	ck_assert_int_eq(
	    apitoken_client_add(ts_st, "c1", NULL, 0, "t", secret), 0);
	ck_assert_int_eq(
	    apitoken_client_add(ts_st, "c2", NULL, 0, "t", secret), 0);
	assert_counts_match();
	ck_assert_int_eq(apitoken_token_issue(ts_st, "user0",
	                                      APITOKEN_ISSUE_REPLACE, "t", tok,
	                                      NULL),
	                 0);
	ck_assert_int_eq(apitoken_token_revoke(ts_st, "user2", "t", NULL), 0);
	ck_assert_int_eq(apitoken_token_revoke_secret(ts_st, tok, strlen(tok),
	                                              NULL, "t", NULL),
	                 0);
	ck_assert_int_eq(apitoken_user_remove(ts_st, "user4", "t"), 0);
	ck_assert_int_eq(apitoken_user_remove(ts_st, "user1", "t"), 0);
	ck_assert_int_eq(apitoken_client_remove(ts_st, "c1", "t"), 0);
	assert_counts_match();
	ts_cfg->token_lifetime = 1;
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "user3", 0, "t", tok, NULL), 0);
	ts_cfg->token_lifetime = 3600;
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "user5", 0, "t", tok, NULL), 0);
	sleep(2);
	/* Expired, not yet purged: counted as a token, not as active. */
	assert_counts_match();
	ck_assert_int_eq(
	    apitoken_store_purge(ts_st, apitoken_now(), NULL, NULL, &n), 0);
	ck_assert_uint_eq(n, 1);
	assert_counts_match();
	/* A store made before the counters: counted at the next open. */
	ck_assert_int_eq(store_write(ts_st, drop_counts, NULL), 0);
	ts_reopen();
	assert_counts_match();
}
END_TEST

static Suite *
changes_suite(void)
{
	Suite *s = suite_create("store_changes");
	TCase *tc = tcase_create("changes");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, ts_setup, ts_teardown);
	tcase_add_test(tc, test_records_in_order);
	tcase_add_test(tc, test_same_transaction);
	tcase_add_test(tc, test_writes_that_touch_nothing);
	tcase_add_test(tc, test_trimming);
	tcase_add_test(tc, test_counts_match_scan);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(changes_suite());
}
