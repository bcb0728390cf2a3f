/*
 * Visibility through the store API: actors in audit records (and older
 * records without them), audit filters and retention, tombstones for
 * token identify, last use in memory and on disk.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include <apitoken/error.h>
#include <apitoken/store.h>
#include <apitoken/token.h>

#include "../../core/store_int.h"
#include "test_store_util.h"
#include "unit.h"

struct seen {
	size_t n;
	apitoken_audit_event_t kind[16];
	apitoken_actor_kind_t actor[16];
	char actor_id[16][32];
	char source[16][32];
	char reason[16][64];
};

static int
collect(const apitoken_audit_t *a, void *ctx)
{
	struct seen *s = ctx;

	if (s->n < 16) {
		s->kind[s->n] = a->kind;
		s->actor[s->n] = a->actor_kind;
		snprintf(s->actor_id[s->n], 32, "%s", a->actor_id);
		snprintf(s->source[s->n], 32, "%s", a->source);
		snprintf(s->reason[s->n], 64, "%s", a->reason);
	}
	s->n++;
	return 0;
}

START_TEST(test_actor_recorded)
{
	const apitoken_actor_t admin = {APITOKEN_ACTOR_ADMIN, "0",
	                                "admin socket pid 7", NULL};
	const apitoken_actor_t client = {APITOKEN_ACTOR_CLIENT, "rs1",
	                                 "192.0.2.1", "found at x"};
	char tok[APITOKEN_TOKEN_LEN + 1];
	apitoken_audit_filter_t f = {.event = -1, .actor_kind = -1};
	struct seen s = {0};

	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue_as(ts_st, "alice", 0, &admin, tok, NULL), 0);
	ck_assert_int_eq(apitoken_token_revoke_secret_as(
	                     ts_st, tok, strlen(tok), NULL,
	                     APITOKEN_AUDIT_LEAK_REPORTED, &client, NULL),
	                 0);
	f.user = "alice";
	f.actor_kind = APITOKEN_ACTOR_ADMIN;
	ck_assert_int_eq(apitoken_audit_query(ts_st, &f, collect, &s), 0);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_int_eq(s.kind[0], APITOKEN_AUDIT_ISSUED);
	ck_assert_str_eq(s.actor_id[0], "0");
	ck_assert_str_eq(s.source[0], "admin socket pid 7");
	memset(&s, 0, sizeof(s));
	f.actor_kind = -1;
	f.event = APITOKEN_AUDIT_LEAK_REPORTED;
	ck_assert_int_eq(apitoken_audit_query(ts_st, &f, collect, &s), 0);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_int_eq(s.actor[0], APITOKEN_ACTOR_CLIENT);
	ck_assert_str_eq(s.actor_id[0], "rs1");
	ck_assert_str_eq(s.source[0], "192.0.2.1");
	ck_assert_str_eq(s.reason[0], "found at x");
	/* The origin-string API still works: actor "other". */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "legacy", tok, NULL), 0);
	f.event = APITOKEN_AUDIT_ISSUED;
	f.actor_kind = APITOKEN_ACTOR_OTHER;
	f.actor_id = "legacy";
	ck_assert_int_eq(apitoken_audit_query(ts_st, &f, collect, &s), 0);
	ck_assert_uint_eq(s.n, 1);
}
END_TEST

START_TEST(test_audit_v1_record_decodes)
{
	/* A version 1 record as the previous release wrote it. */
	struct wbuf w;
	apitoken_audit_t a;

	wbuf_init(&w);
	wbuf_u8(&w, 1);
	wbuf_i64(&w, 1700000000);
	wbuf_str(&w, "revoked");
	wbuf_str(&w, "bob");
	wbuf_str(&w, "abcdefghijklmnop");
	wbuf_str(&w, "apitokenctl uid 0");
	wbuf_str(&w, "");
	ck_assert(!w.oom);
	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(audit_decode(w.p, w.len, &a), 0);
	ck_assert_int_eq(a.kind, APITOKEN_AUDIT_REVOKED);
	ck_assert_int_eq(a.actor_kind, APITOKEN_ACTOR_OTHER);
	ck_assert_str_eq(a.origin, "apitokenctl uid 0");
	ck_assert_str_eq(a.actor_id, "");
	ck_assert_str_eq(a.source, "");
	wbuf_free(&w);
}
END_TEST

START_TEST(test_audit_prune_bounded)
{
	size_t n = 0;

	ck_assert_int_eq(ts_add_user("a1", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(ts_add_user("a2", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(ts_add_user("a3", "viewer", 1, NULL, NULL), 0);
	ck_assert_uint_eq(ts_audit_count(NULL, NULL), 3);
	/* Nothing is older than a day. */
	ck_assert_int_eq(
	    apitoken_audit_prune(ts_st, apitoken_now(), 86400, 1, 0, &n), 0);
	ck_assert_uint_eq(n, 0);
	/* From a day later: all old; batch 1, at most 2 this call. */
	ck_assert_int_eq(apitoken_audit_prune(ts_st, apitoken_now() + 86401,
	                                      86400, 1, 2, &n),
	                 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(ts_audit_count(NULL, NULL), 1);
	ck_assert_int_eq(apitoken_audit_prune(ts_st, apitoken_now() + 86401,
	                                      86400, 1, 0, &n),
	                 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(ts_audit_count(NULL, NULL), 0);
}
END_TEST

START_TEST(test_identify_states)
{
	char t1[APITOKEN_TOKEN_LEN + 1], t2[APITOKEN_TOKEN_LEN + 1];
	char other[APITOKEN_TOKEN_LEN + 1];
	apitoken_identity_t id;
	size_t n;

	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "t", t1, NULL), 0);
	ck_assert_int_eq(apitoken_token_identify(ts_st, t1, strlen(t1),
	                                         apitoken_now(), &id),
	                 0);
	ck_assert_int_eq(id.state, APITOKEN_STATE_ACTIVE);
	ck_assert_str_eq(id.info.user, "alice");
	ck_assert_int_eq(apitoken_token_issue(ts_st, "alice",
	                                      APITOKEN_ISSUE_REPLACE, "t", t2,
	                                      NULL),
	                 0);
	ck_assert_int_eq(apitoken_token_identify(ts_st, t1, strlen(t1),
	                                         apitoken_now(), &id),
	                 0);
	ck_assert_int_eq(id.state, APITOKEN_STATE_REVOKED);
	ck_assert_str_eq(id.why, "replaced");
	ck_assert_str_eq(id.info.user, "alice");
	/* Survives a reopen (on disk, keyed with the stored key). */
	ts_reopen();
	ck_assert_int_eq(apitoken_token_identify(ts_st, t1, strlen(t1),
	                                         apitoken_now(), &id),
	                 0);
	ck_assert_int_eq(id.state, APITOKEN_STATE_REVOKED);
	/* Past exp, then purged: expired, from the tombstone. */
	ck_assert_int_eq(
	    apitoken_token_identify(ts_st, t2, strlen(t2), INT64_MAX - 1, &id),
	    0);
	ck_assert_int_eq(id.state, APITOKEN_STATE_EXPIRED);
	ck_assert_int_eq(
	    apitoken_store_purge(ts_st, INT64_MAX - 1, NULL, NULL, &n), 0);
	ck_assert_int_eq(apitoken_token_identify(ts_st, t2, strlen(t2),
	                                         apitoken_now(), &id),
	                 0);
	ck_assert_int_eq(id.state, APITOKEN_STATE_EXPIRED);
	ck_assert_str_eq(id.why, "expired");
	/* Never ours, and garbage. */
	ck_assert_int_eq(apitoken_token_create(APITOKEN_TOKEN_PREFIX, other),
	                 0);
	ck_assert_int_eq(apitoken_token_identify(ts_st, other, strlen(other),
	                                         apitoken_now(), &id),
	                 0);
	ck_assert_int_eq(id.state, APITOKEN_STATE_UNKNOWN);
	ck_assert_str_eq(id.info.user, "");
	ck_assert_int_eq(
	    apitoken_token_identify(ts_st, "x", 1, apitoken_now(), &id), 0);
	ck_assert_int_eq(id.state, APITOKEN_STATE_UNKNOWN);
	/* Tombstones go with the retention (t2's ended at the purge's
	 * far-future clock, so only t1's is old). */
	ck_assert_int_eq(apitoken_tombstone_prune(ts_st, apitoken_now() + 100,
	                                          10, 1, 0, &n),
	                 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(apitoken_token_identify(ts_st, t1, strlen(t1),
	                                         apitoken_now(), &id),
	                 0);
	ck_assert_int_eq(id.state, APITOKEN_STATE_UNKNOWN);
}
END_TEST

START_TEST(test_tombstones_hold_no_hash)
{
	char t[APITOKEN_TOKEN_LEN + 1], path[4096];
	uint8_t h[APITOKEN_HASH_LEN];
	char *data;
	size_t len, i;

	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(apitoken_token_issue(ts_st, "alice", 0, "t", t, NULL),
	                 0);
	ck_assert_int_eq(apitoken_token_revoke(ts_st, "alice", "t", NULL), 0);
	apitoken_token_hash(t, strlen(t), h);
	apitoken_store_close(ts_st);
	ts_st = NULL;
	snprintf(path, sizeof(path), "%s/%s", ts_store_dir,
	         STORE_DB_TOMBSTONES);
	data = ts_slurp(path, &len);
	ck_assert_ptr_nonnull(data);
	for (i = 0; i + sizeof(h) <= len; i++)
		ck_assert(memcmp(data + i, h, sizeof(h)) != 0);
	ck_assert_ptr_null(memmem(data, len, t, strlen(t)));
	free(data);
	ts_reopen();
}
END_TEST

START_TEST(test_lastuse_memory_then_disk)
{
	char t[APITOKEN_TOKEN_LEN + 1];
	apitoken_token_info_t info;
	apitoken_last_use_t u;
	uint64_t before, after;
	size_t n;

	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "t", t, &info), 0);
	ck_assert_int_eq(apitoken_lastuse_get(ts_st, info.id, &u), 0);
	ck_assert_int_eq(u.time, 0);
	apitoken_lastuse_note(ts_st, info.id, 1000, "192.0.2.7", "rs1");
	apitoken_lastuse_note(ts_st, info.id, 999, "192.0.2.8", "rs2");
	ck_assert_int_eq(apitoken_lastuse_get(ts_st, info.id, &u), 0);
	ck_assert_int_eq(u.time, 1000); /* an older use does not win */
	ck_assert_str_eq(u.source, "192.0.2.7");
	ck_assert_str_eq(u.client, "rs1");
	/* Written without a change record (kept answers stay). */
	ck_assert_int_eq(apitoken_store_changes_last(ts_st, &before), 0);
	ck_assert_int_eq(apitoken_lastuse_flush(ts_st, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(apitoken_store_changes_last(ts_st, &after), 0);
	ck_assert_uint_eq(after, before);
	/* Nothing new: nothing written. */
	ck_assert_int_eq(apitoken_lastuse_flush(ts_st, &n), 0);
	ck_assert_uint_eq(n, 0);
	ts_reopen();
	ck_assert_int_eq(apitoken_lastuse_get(ts_st, info.id, &u), 0);
	ck_assert_int_eq(u.time, 1000);
	ck_assert_str_eq(u.client, "rs1");
}
END_TEST

/* Many tokens in use: the table grows (store_lastuse.c), and every use
 * is still found and written exactly once. */
START_TEST(test_lastuse_many)
{
	char id[APITOKEN_ID_LEN + 1];
	apitoken_last_use_t u;
	size_t i, n;
	const size_t count = 20000; /* 64 shards of 64 buckets: grows */

	for (i = 0; i < count; i++) {
		(void)snprintf(id, sizeof(id), "u%015zu", i);
		apitoken_lastuse_note(ts_st, id, 2000, "192.0.2.9", "rs");
	}
	for (i = 0; i < count; i += 997) {
		(void)snprintf(id, sizeof(id), "u%015zu", i);
		ck_assert_int_eq(apitoken_lastuse_get(ts_st, id, &u), 0);
		ck_assert_int_eq(u.time, 2000);
	}
	ck_assert_uint_eq(apitoken_lastuse_held(ts_st), count);
	ck_assert_int_eq(apitoken_lastuse_flush(ts_st, &n), 0);
	ck_assert_uint_eq(n, count);
	/* Written and not used since: no longer held in memory, and still
	 * read (from the store). */
	ck_assert_uint_eq(apitoken_lastuse_held(ts_st), 0);
	(void)snprintf(id, sizeof(id), "u%015zu", (size_t)7);
	ck_assert_int_eq(apitoken_lastuse_get(ts_st, id, &u), 0);
	ck_assert_int_eq(u.time, 2000);
	ck_assert_str_eq(u.client, "rs");
	/* Used again, a hundred of them: those, and only those. */
	for (i = 0; i < count; i += count / 100) {
		(void)snprintf(id, sizeof(id), "u%015zu", i);
		apitoken_lastuse_note(ts_st, id, 2001, "192.0.2.9", "rs");
	}
	ck_assert_uint_eq(apitoken_lastuse_held(ts_st), 100);
	ck_assert_int_eq(apitoken_lastuse_flush(ts_st, &n), 0);
	ck_assert_uint_eq(n, 100);
	ck_assert_uint_eq(apitoken_lastuse_held(ts_st), 0);
	ts_reopen();
	(void)snprintf(id, sizeof(id), "u%015zu", count - 1);
	ck_assert_int_eq(apitoken_lastuse_get(ts_st, id, &u), 0);
	ck_assert_int_eq(u.time, 2000);
	ck_assert_str_eq(u.source, "192.0.2.9");
	(void)snprintf(id, sizeof(id), "u%015zu", (size_t)0);
	ck_assert_int_eq(apitoken_lastuse_get(ts_st, id, &u), 0);
	ck_assert_int_eq(u.time, 2001);
}
END_TEST

/* A token used in the last seconds stays in memory after the flush: the
 * next use in the same second writes nothing again. */
START_TEST(test_lastuse_recent_kept)
{
	const char *id = "r000000000000001";
	apitoken_last_use_t u;
	int64_t now = apitoken_now();
	size_t n;

	apitoken_lastuse_note(ts_st, id, now, "192.0.2.10", "rs");
	ck_assert_int_eq(apitoken_lastuse_flush(ts_st, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(apitoken_lastuse_held(ts_st), 1);
	apitoken_lastuse_note(ts_st, id, now, "192.0.2.10", "rs");
	ck_assert_int_eq(apitoken_lastuse_flush(ts_st, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(apitoken_lastuse_get(ts_st, id, &u), 0);
	ck_assert_int_eq(u.time, now);
}
END_TEST

/* A flush that fails leaves its uses for the next one: they are marked
 * unwritten again (noting them again would not do, a use in the same
 * second by the same client being no news).  The failure: lastuse.db
 * swapped for a read-only handle. */
START_TEST(test_lastuse_failed_flush_retried)
{
	const char *id = "f000000000000001";
	apitoken_last_use_t u;
	DB *rw = ts_st->lastuse, *ro = NULL;
	size_t n;

	apitoken_lastuse_note(ts_st, id, 3000, "192.0.2.11", "rs");
	ck_assert_int_eq(db_create(&ro, ts_st->env, 0), 0);
	ck_assert_int_eq(ro->open(ro, NULL, STORE_DB_LASTUSE, NULL, DB_BTREE,
	                          DB_RDONLY | DB_THREAD, 0),
	                 0);
	ts_st->lastuse = ro;
	ck_assert_int_ne(apitoken_lastuse_flush(ts_st, &n), 0);
	ck_assert_uint_eq(n, 0);
	ts_st->lastuse = rw;
	ck_assert_int_eq(ro->close(ro, 0), 0);
	apitoken_error_clear();
	ck_assert_uint_eq(apitoken_lastuse_held(ts_st), 1);
	ck_assert_int_eq(apitoken_lastuse_flush(ts_st, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(apitoken_lastuse_held(ts_st), 0);
	ts_reopen();
	ck_assert_int_eq(apitoken_lastuse_get(ts_st, id, &u), 0);
	ck_assert_int_eq(u.time, 3000);
	ck_assert_str_eq(u.source, "192.0.2.11");
}
END_TEST

static Suite *
visibility_suite(void)
{
	Suite *s = suite_create("store_visibility");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, ts_setup, ts_teardown);
	tcase_add_test(tc, test_actor_recorded);
	tcase_add_test(tc, test_audit_v1_record_decodes);
	tcase_add_test(tc, test_audit_prune_bounded);
	tcase_add_test(tc, test_identify_states);
	tcase_add_test(tc, test_tombstones_hold_no_hash);
	tcase_add_test(tc, test_lastuse_memory_then_disk);
	tcase_add_test(tc, test_lastuse_many);
	tcase_add_test(tc, test_lastuse_recent_kept);
	tcase_add_test(tc, test_lastuse_failed_flush_retried);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(visibility_suite());
}
