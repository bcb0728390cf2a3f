/*
 * Token lifecycle through the store API: one token per user, replace,
 * revoke, expiry and purge, disabled and removed users, scope at check
 * time, reminders, and no secret in audit records or notices.
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

static char tok1[APITOKEN_TOKEN_LEN + 1], tok2[APITOKEN_TOKEN_LEN + 1];

START_TEST(test_issue_one_per_user)
{
	apitoken_token_info_t info, got;
	char *scope = NULL;

	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, "sales", NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "test", tok1, &info), 0);
	ck_assert_uint_eq(strlen(tok1), APITOKEN_TOKEN_LEN);
	ck_assert(apitoken_token_id_valid(info.id));
	ck_assert_str_eq(info.user, "alice");
	ck_assert_str_eq(info.hint, tok1 + APITOKEN_TOKEN_LEN - 4);
	ck_assert_int_eq(info.exp - info.iat, ts_cfg->token_lifetime);
	ck_assert(ts_active(tok1, &scope));
	ck_assert_str_eq(scope, "api:read bu:sales");
	free(scope);

	/* A second token is refused, with the exact message. */
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "test", tok2, NULL),
	    APITOKEN_ERR_EXISTS);
	ck_assert_str_eq(apitoken_last_error(),
	                 "user alice already has a token; use --replace to "
	                 "regenerate");
	ck_assert_str_eq(tok2, "");
	ck_assert(ts_active(tok1, NULL));
	ck_assert_int_eq(apitoken_token_get(ts_st, "alice", &got), 0);
	ck_assert_str_eq(got.id, info.id);
	ck_assert_uint_eq(ts_audit_count("alice", "issued"), 1);
	ck_assert_uint_eq(ts_notice_count("alice", "created"), 1);
}
END_TEST

/*
 * The longest lifetime the configuration accepts (APITOKEN_DURATION_MAX):
 * every "now + duration" on the way (issue, check, reminders) stays
 * defined; the sanitizer build traps on a signed overflow.
 */
START_TEST(test_longest_lifetime)
{
	apitoken_token_info_t info;
	apitoken_claims_t cl;
	const int64_t lead = APITOKEN_DURATION_MAX;
	size_t queued = 0;

	ts_cfg->token_lifetime = APITOKEN_DURATION_MAX;
	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "test", tok1, &info), 0);
	ck_assert_int_eq(info.exp - info.iat, APITOKEN_DURATION_MAX);
	memset(&cl, 0, sizeof(cl));
	ck_assert_int_eq(
	    apitoken_token_check(ts_st, tok1, strlen(tok1), info.exp - 1, &cl),
	    0);
	ck_assert(cl.active);
	apitoken_claims_clear(&cl);
	ck_assert_int_eq(
	    apitoken_token_check(ts_st, tok1, strlen(tok1), info.exp, &cl), 0);
	ck_assert(!cl.active);
	apitoken_claims_clear(&cl);
	ck_assert_int_eq(apitoken_outbox_queue_reminders(ts_st, info.iat,
	                                                 &lead, 1, &queued),
	                 0);
	ck_assert_uint_eq(queued, 1);
}
END_TEST

START_TEST(test_replace)
{
	apitoken_token_info_t i1, i2, got;

	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "test", tok1, &i1), 0);
	ck_assert_int_eq(apitoken_token_issue(ts_st, "alice",
	                                      APITOKEN_ISSUE_REPLACE, "test",
	                                      tok2, &i2),
	                 0);
	ck_assert_str_ne(tok1, tok2);
	ck_assert_str_ne(i1.id, i2.id);
	ck_assert(!ts_active(tok1, NULL));
	ck_assert(ts_active(tok2, NULL));
	ck_assert_int_eq(apitoken_token_get(ts_st, "alice", &got), 0);
	ck_assert_str_eq(got.id, i2.id);
	ck_assert_uint_eq(ts_audit_count("alice", "replaced"), 1);
	ck_assert_uint_eq(ts_audit_count("alice", "issued"), 2);
	ck_assert_uint_eq(ts_notice_count("alice", "regenerated"), 1);
	ck_assert_uint_eq(ts_notice_count("alice", NULL), 2);
	/* Replace with no token just issues. */
	ck_assert_int_eq(ts_add_user("bob", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(apitoken_token_issue(ts_st, "bob",
	                                      APITOKEN_ISSUE_REPLACE, "test",
	                                      tok1, NULL),
	                 0);
	ck_assert(ts_active(tok1, NULL));
	ck_assert_uint_eq(ts_notice_count("bob", "created"), 1);
}
END_TEST

START_TEST(test_revoke_final)
{
	apitoken_token_info_t i1, rv, got;

	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "test", tok1, &i1), 0);
	ck_assert_int_eq(apitoken_token_revoke(ts_st, "alice", "test", &rv),
	                 0);
	ck_assert_str_eq(rv.id, i1.id);
	ck_assert(!ts_active(tok1, NULL));
	ck_assert_int_eq(apitoken_token_revoke(ts_st, "alice", "test", NULL),
	                 APITOKEN_ERR_NOT_FOUND);
	ck_assert_int_eq(apitoken_token_get(ts_st, "alice", &got),
	                 APITOKEN_ERR_NOT_FOUND);
	ck_assert_uint_eq(ts_notice_count("alice", "revoked"), 1);
	ck_assert_uint_eq(ts_audit_count("alice", "revoked"), 1);
	/* A new token does not bring the old one back, nor does a reopen. */
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "test", tok2, NULL), 0);
	ts_reopen();
	ck_assert(!ts_active(tok1, NULL));
	ck_assert(ts_active(tok2, NULL));
	/* Revocation by the token itself (RFC 7009). */
	ck_assert_int_eq(ts_add_user("bob", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(apitoken_token_revoke_secret(
	                     ts_st, tok2, strlen(tok2), "bob", "test", NULL),
	                 APITOKEN_ERR_DENIED);
	ck_assert(ts_active(tok2, NULL));
	ck_assert_int_eq(apitoken_token_revoke_secret(
	                     ts_st, tok2, strlen(tok2), "alice", "test", &rv),
	                 0);
	ck_assert_str_eq(rv.user, "alice");
	ck_assert(!ts_active(tok2, NULL));
	ck_assert_int_eq(apitoken_token_revoke_secret(
	                     ts_st, tok2, strlen(tok2), NULL, "test", NULL),
	                 APITOKEN_ERR_NOT_FOUND);
	ck_assert_int_eq(apitoken_token_revoke_secret(ts_st, "garbage", 7,
	                                              NULL, "test", NULL),
	                 APITOKEN_ERR_NOT_FOUND);
}
END_TEST

static size_t progress_calls;

static void
progress(size_t done, void *ctx)
{
	(void)ctx;
	(void)done;
	progress_calls++;
}

START_TEST(test_expiry_and_purge)
{
	apitoken_token_info_t info;
	apitoken_claims_t c;
	size_t n, deleted;

	ts_cfg->token_lifetime = 1;
	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(ts_add_user("bob", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "test", tok1, &info), 0);
	ck_assert_int_eq(info.exp, info.iat + 1);
	ck_assert_int_eq(
	    apitoken_token_check(ts_st, tok1, strlen(tok1), info.exp - 1, &c),
	    0);
	ck_assert(c.active);
	ck_assert_int_eq(c.exp, info.exp);
	apitoken_claims_clear(&c);
	/* Inactive from exp on, before any purge. */
	ck_assert_int_eq(
	    apitoken_token_check(ts_st, tok1, strlen(tok1), info.exp, &c), 0);
	ck_assert(!c.active);
	ck_assert_ptr_null(c.username);
	sleep(2);
	ck_assert(!ts_active(tok1, NULL));
	ts_cfg->token_lifetime = 3600;
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "bob", 0, "test", tok2, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_count_active(ts_st, apitoken_now(), &n), 0);
	ck_assert_uint_eq(n, 1);

	progress_calls = 0;
	ck_assert_int_eq(apitoken_store_purge(ts_st, apitoken_now(), progress,
	                                      NULL, &deleted),
	                 0);
	ck_assert_uint_eq(deleted, 1);
	ck_assert_uint_eq(progress_calls, 1);
	ck_assert_int_eq(apitoken_token_get(ts_st, "alice", &info),
	                 APITOKEN_ERR_NOT_FOUND);
	ck_assert_uint_eq(ts_audit_count("alice", "expired"), 1);
	ck_assert_uint_eq(ts_notice_count("alice", "expired"), 1);
	ck_assert(ts_active(tok2, NULL));
	/* Nothing left to purge; alice may have a new token. */
	ck_assert_int_eq(
	    apitoken_store_purge(ts_st, apitoken_now(), NULL, NULL, &deleted),
	    0);
	ck_assert_uint_eq(deleted, 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "test", tok1, NULL), 0);
}
END_TEST

START_TEST(test_purge_batches)
{
	char name[32], tok[APITOKEN_TOKEN_LEN + 1];
	size_t deleted, n;
	int i;

	/* More than one batch of STORE_PURGE_BATCH.  Durability is not
	 * under test here: skip the per-commit flush to keep it quick. */
	FILE *f;
	char *path;

	ck_assert_int_ne(asprintf(&path, "%s/DB_CONFIG", ts_store_dir), -1);
	f = fopen(path, "a");
	ck_assert_ptr_nonnull(f);
	fputs("set_flags DB_TXN_WRITE_NOSYNC\n", f);
	fclose(f);
	free(path);
	ts_reopen();
	ts_cfg->token_lifetime = 1;
	for (i = 0; i < STORE_PURGE_BATCH + 20; i++) {
		(void)snprintf(name, sizeof(name), "u%04d", i);
		ck_assert_int_eq(ts_add_user(name, "viewer", 1, NULL, NULL),
		                 0);
		ck_assert_int_eq(
		    apitoken_token_issue(ts_st, name, 0, "t", tok, NULL), 0);
	}
	progress_calls = 0;
	ck_assert_int_eq(apitoken_store_purge(ts_st, apitoken_now() + 2,
	                                      progress, NULL, &deleted),
	                 0);
	ck_assert_uint_eq(deleted, STORE_PURGE_BATCH + 20);
	ck_assert_uint_eq(progress_calls, 2);
	ck_assert_int_eq(apitoken_token_count_active(ts_st, 0, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(ts_notice_count(NULL, "expired"),
	                  STORE_PURGE_BATCH + 20);
}
END_TEST

START_TEST(test_refusals)
{
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "nobody", 0, "test", tok1, NULL),
	    APITOKEN_ERR_NOT_FOUND);
	ck_assert_str_eq(tok1, "");
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "bad name", 0, "test", tok1, NULL),
	    APITOKEN_ERR_NOT_FOUND);
	ck_assert_int_eq(ts_add_user("carol", "viewer", 0, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "carol", 0, "test", tok1, NULL),
	    APITOKEN_ERR_DISABLED);
	ck_assert_str_eq(tok1, "");
	ck_assert_uint_eq(ts_notice_count(NULL, NULL), 0);
	ck_assert_uint_eq(ts_audit_count(NULL, "issued"), 0);
}
END_TEST

START_TEST(test_disable_enable)
{
	apitoken_user_change_t ch = {.api_access = 0};
	apitoken_token_info_t info;

	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "test", tok1, NULL), 0);
	ck_assert_int_eq(apitoken_user_update(ts_st, "alice", &ch, "test"), 0);
	ck_assert(!ts_active(tok1, NULL));
	ck_assert_int_eq(apitoken_token_get(ts_st, "alice", &info), 0);
	ck_assert_int_eq(apitoken_token_issue(ts_st, "alice",
	                                      APITOKEN_ISSUE_REPLACE, "test",
	                                      tok2, NULL),
	                 APITOKEN_ERR_DISABLED);
	ch.api_access = 1;
	ck_assert_int_eq(apitoken_user_update(ts_st, "alice", &ch, "test"), 0);
	ck_assert(ts_active(tok1, NULL));
	ck_assert_uint_eq(ts_audit_count("alice", "user-disabled"), 1);
	ck_assert_uint_eq(ts_audit_count("alice", "user-enabled"), 1);
}
END_TEST

START_TEST(test_scope_at_check_time)
{
	apitoken_user_change_t ch = {.api_access = -1};
	char *bus[] = {"north", "south"};
	apitoken_user_t *u = NULL;
	char *scope = NULL;

	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, "sales", NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "test", tok1, NULL), 0);
	ck_assert(ts_active(tok1, &scope));
	ck_assert_str_eq(scope, "api:read bu:sales");
	free(scope);
	ch.role = "admin";
	ck_assert_int_eq(apitoken_user_update(ts_st, "alice", &ch, "test"), 0);
	ck_assert(ts_active(tok1, &scope));
	ck_assert_str_eq(scope, "api:read api:write api:admin bu:sales");
	free(scope);
	ch.role = NULL;
	ch.set_bus = true;
	ch.bus = bus;
	ch.n_bus = 2;
	ck_assert_int_eq(apitoken_user_update(ts_st, "alice", &ch, "test"), 0);
	ck_assert(ts_active(tok1, &scope));
	ck_assert_str_eq(scope,
	                 "api:read api:write api:admin bu:north bu:south");
	free(scope);
	/* An unknown role is refused and changes nothing. */
	ch.set_bus = false;
	ch.role = "emperor";
	ck_assert_int_eq(apitoken_user_update(ts_st, "alice", &ch, "test"),
	                 APITOKEN_ERR_INVALID);
	ck_assert_int_eq(apitoken_user_get(ts_st, "alice", &u), 0);
	ck_assert_str_eq(u->role, "admin");
	ck_assert_uint_eq(u->n_bus, 2);
	ck_assert_str_eq(u->bus[1], "south");
	apitoken_user_free(u);
}
END_TEST

START_TEST(test_user_remove)
{
	apitoken_user_t *u = NULL;

	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "test", tok1, NULL), 0);
	ck_assert_int_eq(apitoken_user_remove(ts_st, "alice", "test"), 0);
	ck_assert(!ts_active(tok1, NULL));
	ck_assert_int_eq(apitoken_user_get(ts_st, "alice", &u),
	                 APITOKEN_ERR_NOT_FOUND);
	ck_assert_uint_eq(ts_audit_count("alice", "revoked"), 1);
	ck_assert_uint_eq(ts_audit_count("alice", "user-removed"), 1);
	ck_assert_uint_eq(ts_notice_count("alice", "revoked"), 1);
	ck_assert_int_eq(apitoken_user_remove(ts_st, "alice", "test"),
	                 APITOKEN_ERR_NOT_FOUND);
	/* A new alice does not inherit the old token. */
	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert(!ts_active(tok1, NULL));
}
END_TEST

static int
count_alice(const apitoken_token_info_t *tok, void *ctx)
{
	size_t *n = ctx;

	if (strcmp(tok->user, "alice") == 0)
		(*n)++;
	return 0;
}

static size_t
alice_tokens(void)
{
	size_t n = 0;

	ck_assert_int_eq(apitoken_token_foreach(ts_st, count_alice, &n), 0);
	return n;
}

static int
count_scan_audit(const apitoken_audit_t *a, void *ctx)
{
	size_t *n = ctx;

	if (strstr(a->detail, "user index was corrupt") != NULL)
		(*n)++;
	return 0;
}

/* Damage alice's user index entry (store closed meanwhile); token_get
 * then fails with want. */
static void
corrupt_alice_index(const void *bytes, size_t len, int want)
{
	apitoken_token_info_t got;

	apitoken_store_close(ts_st);
	ts_st = NULL;
	ts_raw_put(STORE_DB_USER_TOKEN, DB_BTREE, "alice", 5, bytes, len);
	ts_reopen();
	ck_assert_int_eq(apitoken_token_get(ts_st, "alice", &got), want);
}

/*
 * A damaged user index entry (unreadable, or pointing at no token) says
 * nothing of the user's token, whose record still checks active.  Issuing
 * without replace finds it by a scan and refuses, as for any user with a
 * token; with replace it finds it the same way and revokes it, so the
 * user keeps exactly one token.
 */
START_TEST(test_issue_corrupt_index)
{
	/* Too short to be a hash; too long for the read buffer; a hash
	 * with no record. */
	static const uint8_t short_rec[] = {1, 'a', 'b'};
	static uint8_t long_rec[100], dangling[1 + APITOKEN_HASH_LEN];
	static const struct {
		const uint8_t *bytes;
		size_t len;
		int get;
	} damage[] = {
	    {short_rec, sizeof(short_rec), APITOKEN_ERR_CORRUPT},
	    {long_rec, sizeof(long_rec), APITOKEN_ERR_CORRUPT},
	    {dangling, sizeof(dangling), APITOKEN_ERR_NOT_FOUND},
	};
	apitoken_token_info_t ia, ib, got;
	apitoken_identity_t id;
	size_t i, n;

	memset(long_rec, 1, sizeof(long_rec));
	memset(dangling, 0x5a, sizeof(dangling));
	dangling[0] = 1; /* the record version */
	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "test", tok1, &ia), 0);
	for (i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
		corrupt_alice_index(damage[i].bytes, damage[i].len,
		                    damage[i].get);
		ck_assert(ts_active(tok1, NULL));
		/* Without replace: refused; the token stays, alone. */
		ck_assert_int_eq(
		    apitoken_token_issue(ts_st, "alice", 0, "test", tok2, &ib),
		    APITOKEN_ERR_EXISTS);
		ck_assert(ts_active(tok1, NULL));
		ck_assert_uint_eq(alice_tokens(), 1);
		/* With replace: regenerated. */
		ck_assert_int_eq(apitoken_token_issue(ts_st, "alice",
		                                      APITOKEN_ISSUE_REPLACE,
		                                      "test", tok2, &ib),
		                 0);
		ck_assert_str_ne(ia.id, ib.id);
		ck_assert(!ts_active(tok1, NULL));
		ck_assert(ts_active(tok2, NULL));
		ck_assert_uint_eq(alice_tokens(), 1);
		ck_assert_int_eq(
		    apitoken_token_count_active(ts_st, apitoken_now(), &n), 0);
		ck_assert_uint_eq(n, 1);
		ck_assert_int_eq(apitoken_token_get(ts_st, "alice", &got), 0);
		ck_assert_str_eq(got.id, ib.id);
		/* Ended as a regeneration, with a tombstone. */
		ck_assert_int_eq(apitoken_token_identify(ts_st, tok1,
		                                         strlen(tok1),
		                                         apitoken_now(), &id),
		                 0);
		ck_assert_int_eq(id.state, APITOKEN_STATE_REVOKED);
		ck_assert_str_eq(id.info.id, ia.id);
		ck_assert_uint_eq(ts_audit_count("alice", "replaced"), i + 1);
		ck_assert_uint_eq(ts_notice_count("alice", "regenerated"),
		                  i + 1);
		n = 0;
		ck_assert_int_eq(apitoken_audit_foreach(ts_st, "alice",
		                                        count_scan_audit, &n),
		                 0);
		ck_assert_uint_eq(n, i + 1);
		/* The index is whole again: no second token without
		 * replace. */
		ck_assert_int_eq(apitoken_token_issue(ts_st, "alice", 0,
		                                      "test", tok1, NULL),
		                 APITOKEN_ERR_EXISTS);
		memcpy(tok1, tok2, sizeof(tok1));
		ia = ib;
	}
	/* Revoking by user finds the token the same way, behind either
	 * kind of damage. */
	for (i = 0; i < 2; i++) {
		corrupt_alice_index(damage[2 * i].bytes, damage[2 * i].len,
		                    damage[2 * i].get);
		ck_assert_int_eq(
		    apitoken_token_revoke(ts_st, "alice", "test", &got), 0);
		ck_assert_str_eq(got.id, ia.id);
		ck_assert(!ts_active(tok1, NULL));
		ck_assert_uint_eq(alice_tokens(), 0);
		if (i == 0) {
			ck_assert_int_eq(apitoken_token_issue(ts_st, "alice",
			                                      0, "test", tok1,
			                                      &ia),
			                 0);
		}
	}
	/* No token behind a damaged entry: the issue just issues. */
	for (i = 0; i < 2; i++) {
		corrupt_alice_index(damage[2 * i].bytes, damage[2 * i].len,
		                    damage[2 * i].get);
		ck_assert_int_eq(
		    apitoken_token_issue(ts_st, "alice", 0, "test", tok2, &ib),
		    0);
		ck_assert(ts_active(tok2, NULL));
		ck_assert_uint_eq(alice_tokens(), 1);
		ck_assert_int_eq(
		    apitoken_token_revoke(ts_st, "alice", "test", &got), 0);
	}
	ck_assert_uint_eq(ts_notice_count("alice", "created"), 4);
}
END_TEST

START_TEST(test_malformed_no_store_access)
{
	static const char *bad[] = {
	    "",
	    "apitok_",
	    "Bearer x",
	    "apitok_0000",
	    "apitok_00000000000000000000000000000000000000000000xNNuP",
	};
	apitoken_store_t fake;
	apitoken_claims_t c;
	char big[4096];
	size_t i;

	/* Every database handle NULL: touching the store would crash. */
	memset(&fake, 0, sizeof(fake));
	fake.lock_fd = -1;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(apitoken_token_check(&fake, bad[i],
		                                      strlen(bad[i]),
		                                      apitoken_now(), &c),
		                 0);
		ck_assert(!c.active);
	}
	memset(big, 'a', sizeof(big));
	ck_assert_int_eq(
	    apitoken_token_check(&fake, big, sizeof(big), apitoken_now(), &c),
	    0);
	ck_assert(!c.active);
	/* A valid token with a NUL inside. */
	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "test", tok1, NULL), 0);
	memcpy(big, tok1, APITOKEN_TOKEN_LEN);
	big[10] = '\0';
	ck_assert_int_eq(apitoken_token_check(&fake, big, APITOKEN_TOKEN_LEN,
	                                      apitoken_now(), &c),
	                 0);
	ck_assert(!c.active);
	/* A well-formed but unknown token reaches the store: inactive. */
	ck_assert_int_eq(apitoken_token_create(APITOKEN_TOKEN_PREFIX, tok2),
	                 0);
	ck_assert(!ts_active(tok2, NULL));
	ck_assert(ts_active(tok1, NULL));
}
END_TEST

static const char *secret_tok;
static char secret_hex[2 * APITOKEN_HASH_LEN + 1];
static size_t secret_hits;

static void
scan_str(const char *s)
{
	if (s != NULL &&
	    (strstr(s, secret_tok) != NULL || strstr(s, secret_hex) != NULL))
		secret_hits++;
}

static int
scan_audit(const apitoken_audit_t *a, void *ctx)
{
	(void)ctx;
	scan_str(a->event);
	scan_str(a->user);
	scan_str(a->token_id);
	scan_str(a->origin);
	scan_str(a->detail);
	return 0;
}

static int
scan_notice(const apitoken_notice_t *n, void *ctx)
{
	(void)ctx;
	scan_str(n->kind);
	scan_str(n->user);
	scan_str(n->email);
	scan_str(n->token_id);
	scan_str(n->hint);
	scan_str(n->origin);
	scan_str(n->last_error);
	scan_str(n->message_id);
	return 0;
}

static void *
memmem_any(const char *hay, size_t len, const void *needle, size_t nl)
{
	return memmem(hay, len, needle, nl);
}

START_TEST(test_no_secret_in_records)
{
	const char *files[] = {STORE_DB_AUDIT, STORE_DB_OUTBOX};
	char tokens[3][APITOKEN_TOKEN_LEN + 1];
	uint8_t hash[APITOKEN_HASH_LEN];
	char *path, *buf;
	size_t len, i, f, j;

	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(ts_add_user("bob", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "test", tokens[0], NULL),
	    0);
	ck_assert_int_eq(apitoken_token_issue(ts_st, "alice",
	                                      APITOKEN_ISSUE_REPLACE, "test",
	                                      tokens[1], NULL),
	                 0);
	ck_assert_int_eq(apitoken_token_revoke(ts_st, "alice", "test", NULL),
	                 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "bob", 0, "test", tokens[2], NULL), 0);
	ck_assert_int_eq(apitoken_user_remove(ts_st, "bob", "test"), 0);
	ck_assert_uint_eq(ts_notice_count(NULL, NULL), 5);
	ck_assert_int_eq(apitoken_store_checkpoint(ts_st), 0);
	for (i = 0; i < 3; i++) {
		secret_tok = tokens[i];
		ck_assert_int_eq(
		    apitoken_token_hash(tokens[i], APITOKEN_TOKEN_LEN, hash),
		    0);
		for (j = 0; j < APITOKEN_HASH_LEN; j++)
			(void)snprintf(secret_hex + 2 * j, 3, "%02x", hash[j]);
		secret_hits = 0;
		ck_assert_int_eq(
		    apitoken_audit_foreach(ts_st, NULL, scan_audit, NULL), 0);
		ck_assert_int_eq(
		    apitoken_outbox_foreach(ts_st, scan_notice, NULL), 0);
		ck_assert_uint_eq(secret_hits, 0);
		/* And the bytes on disk, whatever the encoding. */
		for (f = 0; f < 2; f++) {
			ck_assert_int_ne(
			    asprintf(&path, "%s/%s", ts_store_dir, files[f]),
			    -1);
			buf = ts_slurp(path, &len);
			ck_assert_ptr_null(memmem_any(buf, len, tokens[i],
			                              APITOKEN_TOKEN_LEN));
			ck_assert_ptr_null(
			    memmem_any(buf, len, hash, sizeof(hash)));
			ck_assert_ptr_null(memmem_any(buf, len, secret_hex,
			                              strlen(secret_hex)));
			free(buf);
			free(path);
		}
	}
}
END_TEST

static size_t
reminders(int64_t now)
{
	static const int64_t leads[] = {30 * 86400, 7 * 86400, 86400};
	size_t n;

	ck_assert_int_eq(
	    apitoken_outbox_queue_reminders(ts_st, now, leads, 3, &n), 0);
	return n;
}

START_TEST(test_reminders)
{
	apitoken_token_info_t a, b;

	ts_cfg->token_lifetime = 10 * 86400;
	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(ts_add_user("bob", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "test", tok1, &a), 0);
	/* 10 days left: the 30-day reminder, once. */
	ck_assert_uint_eq(reminders(a.iat), 1);
	ck_assert_uint_eq(reminders(a.iat), 0);
	/* 6 days left: the 7-day one. */
	ck_assert_uint_eq(reminders(a.iat + 4 * 86400), 1);
	ck_assert_uint_eq(reminders(a.iat + 4 * 86400), 0);
	ts_reopen();
	ck_assert_uint_eq(reminders(a.iat + 5 * 86400), 0);
	/* bob is first seen with half a day left: one reminder, the most
	 * urgent, and no later one for the longer leads. */
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "bob", 0, "test", tok2, &b), 0);
	ck_assert_uint_eq(reminders(b.exp - 43200), 2); /* alice: 1 day */
	ck_assert_uint_eq(reminders(b.exp - 43000), 0);
	ck_assert_uint_eq(ts_notice_count("alice", "reminder"), 3);
	ck_assert_uint_eq(ts_notice_count("bob", "reminder"), 1);
	/* Expired tokens get no reminder. */
	ck_assert_uint_eq(reminders(b.exp + 10), 0);
}
END_TEST

static size_t
reminders_since(int64_t since, int64_t now)
{
	static const int64_t leads[] = {30 * 86400, 7 * 86400, 86400};
	size_t n;

	ck_assert_int_eq(apitoken_outbox_queue_reminders_since(
	                     ts_st, since, now, leads, 3, &n),
	                 0);
	return n;
}

/* A periodic scan reads only the tokens that came within a lead since
 * the previous one; since 0 reads them all. */
START_TEST(test_reminders_since)
{
	apitoken_token_info_t a;
	int64_t e;

	ts_cfg->token_lifetime = 60 * 86400; /* longer than every lead */
	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "test", tok1, &a), 0);
	e = a.exp;
	/* Came within 30 days between the two scans: reminded. */
	ck_assert_uint_eq(
	    reminders_since(e - 30 * 86400 - 50, e - 30 * 86400 + 50), 1);
	/* Within 7 days since long before this scan: a windowed scan
	 * does not look (the scan at that time would have), ... */
	ck_assert_uint_eq(reminders_since(e - 6 * 86400 - 50, e - 6 * 86400),
	                  0);
	/* ... a first scan does. */
	ck_assert_uint_eq(reminders_since(0, e - 6 * 86400), 1);
	ck_assert_uint_eq(reminders_since(0, e - 6 * 86400), 0);
	ck_assert_uint_eq(ts_notice_count("alice", "reminder"), 2);
}
END_TEST

static int
first_notice(const apitoken_notice_t *n, void *ctx)
{
	apitoken_notice_t *out = ctx;

	out->seq = n->seq;
	out->attempts = n->attempts;
	out->next_attempt = n->next_attempt;
	out->email = strcmp(n->email, "alice@example.org") == 0 ? "ok" : "";
	out->message_id = n->message_id[0] == '<' ? "ok" : "";
	return 1;
}

START_TEST(test_outbox_ops)
{
	apitoken_notice_t n;
	size_t count;

	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "test", tok1, NULL), 0);
	memset(&n, 0, sizeof(n));
	ck_assert_int_eq(apitoken_outbox_foreach(ts_st, first_notice, &n), 1);
	ck_assert_str_eq(n.email, "ok");
	ck_assert_str_eq(n.message_id, "ok");
	ck_assert_int_eq(
	    apitoken_outbox_defer(ts_st, n.seq, 4000000000LL, "relay down"),
	    0);
	ck_assert_int_eq(apitoken_outbox_foreach(ts_st, first_notice, &n), 1);
	ck_assert_uint_eq(n.attempts, 1);
	ck_assert_int_eq(n.next_attempt, 4000000000LL);
	ck_assert_int_eq(apitoken_outbox_retry_all(ts_st, &count), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_int_eq(apitoken_outbox_foreach(ts_st, first_notice, &n), 1);
	ck_assert_int_le(n.next_attempt, apitoken_now());
	ck_assert_int_eq(apitoken_outbox_done(ts_st, n.seq), 0);
	/* A huge origin is cut, not an error. */
	{
		char *origin = malloc(100000);

		memset(origin, 'o', 99999);
		origin[99999] = '\0';
		ck_assert_int_eq(
		    apitoken_token_revoke(ts_st, "alice", origin, NULL), 0);
		free(origin);
		ck_assert_uint_eq(ts_notice_count("alice", "revoked"), 1);
		ck_assert_int_eq(
		    apitoken_outbox_foreach(ts_st, first_notice, &n), 1);
		ck_assert_int_eq(apitoken_outbox_done(ts_st, n.seq), 0);
	}
	ck_assert_int_eq(apitoken_outbox_done(ts_st, n.seq),
	                 APITOKEN_ERR_NOT_FOUND);
	ck_assert_uint_eq(ts_notice_count(NULL, NULL), 0);

	/* Given up: gone from the outbox, one audit record, once. */
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "test", tok1, NULL), 0);
	ck_assert_int_eq(apitoken_outbox_foreach(ts_st, first_notice, &n), 1);
	ck_assert_uint_eq(ts_audit_count("alice", "notice-undeliverable"), 0);
	ck_assert_int_eq(apitoken_outbox_give_up(ts_st, n.seq, apitoken_now(),
	                                         "550 mailbox unavailable"),
	                 0);
	ck_assert_uint_eq(ts_notice_count(NULL, NULL), 0);
	ck_assert_uint_eq(ts_audit_count("alice", "notice-undeliverable"), 1);
	ck_assert_int_eq(
	    apitoken_outbox_give_up(ts_st, n.seq, apitoken_now(), "again"),
	    APITOKEN_ERR_NOT_FOUND);
	ck_assert_uint_eq(ts_audit_count("alice", "notice-undeliverable"), 1);
}
END_TEST

struct order_ctx {
	int64_t last_exp;
	int n;
	int sorted;
};

static int
order_fn(const apitoken_token_info_t *t, void *ctx)
{
	struct order_ctx *o = ctx;

	if (t->exp < o->last_exp)
		o->sorted = 0;
	o->last_exp = t->exp;
	o->n++;
	return 0;
}

START_TEST(test_listing_order_and_count)
{
	static const int64_t lifetimes[] = {500, 100, 300};
	static const char *names[] = {"a1", "a2", "a3"};
	struct order_ctx o = {0, 0, 1};
	size_t n;
	int i;

	for (i = 0; i < 3; i++) {
		ts_cfg->token_lifetime = lifetimes[i];
		ck_assert_int_eq(
		    ts_add_user(names[i], "viewer", 1, NULL, NULL), 0);
		ck_assert_int_eq(
		    apitoken_token_issue(ts_st, names[i], 0, "t", tok1, NULL),
		    0);
	}
	ck_assert_int_eq(apitoken_token_foreach(ts_st, order_fn, &o), 0);
	ck_assert_int_eq(o.n, 3);
	ck_assert(o.sorted);
	ck_assert_int_eq(
	    apitoken_token_count_active(ts_st, apitoken_now(), &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(
	    apitoken_token_count_active(ts_st, apitoken_now() + 200, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(
	    apitoken_token_count_active(ts_st, apitoken_now() + 1000, &n), 0);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_config_swap)
{
	apitoken_config_t *cfg2 = NULL;
	char *scope = NULL;

	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, "x", NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "t", tok1, NULL), 0);
	/* The same roles but another unit prefix, as after a SIGHUP. */
	ck_assert_int_eq(apitoken_config_defaults(&cfg2), 0);
	free(cfg2->bu_scope_prefix);
	cfg2->bu_scope_prefix = strdup("unit:");
	apitoken_store_set_config(ts_st, cfg2);
	ck_assert_ptr_eq(apitoken_store_config(ts_st), cfg2);
	ck_assert(ts_active(tok1, &scope));
	ck_assert_str_eq(scope, "api:read unit:x");
	free(scope);
	apitoken_store_set_config(ts_st, ts_cfg);
	apitoken_config_free(cfg2);
}
END_TEST

static Suite *
lifecycle_suite(void)
{
	Suite *s = suite_create("store_lifecycle");
	TCase *tc = tcase_create("lifecycle");

	tcase_add_checked_fixture(tc, ts_setup, ts_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_issue_one_per_user);
	tcase_add_test(tc, test_longest_lifetime);
	tcase_add_test(tc, test_replace);
	tcase_add_test(tc, test_revoke_final);
	tcase_add_test(tc, test_expiry_and_purge);
	tcase_add_test(tc, test_purge_batches);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_disable_enable);
	tcase_add_test(tc, test_scope_at_check_time);
	tcase_add_test(tc, test_user_remove);
	tcase_add_test(tc, test_issue_corrupt_index);
	tcase_add_test(tc, test_malformed_no_store_access);
	tcase_add_test(tc, test_no_secret_in_records);
	tcase_add_test(tc, test_reminders);
	tcase_add_test(tc, test_reminders_since);
	tcase_add_test(tc, test_outbox_ops);
	tcase_add_test(tc, test_listing_order_and_count);
	tcase_add_test(tc, test_config_swap);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(lifecycle_suite());
}
