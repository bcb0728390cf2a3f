/*
 * The store itself: owner lock, open errors, schema version, damaged
 * records, clients, user validation and batch import, files and modes,
 * concurrent readers and writers.
 */
#include "config.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <openssl/crypto.h>

#include <apitoken/error.h>
#include <apitoken/store.h>
#include <apitoken/token.h>

#include "../../core/store_int.h"
#include "test_store_util.h"
#include "unit.h"

START_TEST(test_busy_same_process)
{
	apitoken_store_t *second = (apitoken_store_t *)1;
	char want[512];

	ck_assert_int_eq(apitoken_store_open(ts_cfg, 0, &second),
	                 APITOKEN_ERR_BUSY);
	ck_assert_ptr_null(second);
	(void)snprintf(want, sizeof(want), "store %s is in use by process %ld",
	               ts_store_dir, (long)getpid());
	ck_assert_str_eq(apitoken_last_error(), want);
	ck_assert_int_eq(apitoken_store_owner(ts_store_dir), (long)getpid());
	/* The failed open changed nothing: the first handle still works. */
	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	apitoken_store_close(ts_st);
	ts_st = NULL;
	ck_assert_int_eq(apitoken_store_owner(ts_store_dir), 0);
	ts_reopen();
	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL),
	                 APITOKEN_ERR_EXISTS);
}
END_TEST

START_TEST(test_busy_other_process)
{
	apitoken_store_t *st = NULL;
	char want[512], c;
	int ready[2], status;
	pid_t pid;

	apitoken_store_close(ts_st);
	ts_st = NULL;
	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		apitoken_store_t *mine = NULL;
		char tok[APITOKEN_TOKEN_LEN + 1];
		apitoken_user_t u = {.name = "bob",
		                     .email = "b@x.org",
		                     .role = "viewer",
		                     .api_access = true};

		close(ready[0]);
		if (apitoken_store_open(ts_cfg, 0, &mine) != 0 ||
		    apitoken_user_add(mine, &u, "child") != 0 ||
		    apitoken_token_issue(mine, "bob", 0, "child", tok, NULL) !=
		        0)
			_exit(3);
		if (write(ready[1], tok, APITOKEN_TOKEN_LEN) !=
		    APITOKEN_TOKEN_LEN)
			_exit(4);
		for (;;)
			pause();
	}
	close(ready[1]);
	{
		char tok[APITOKEN_TOKEN_LEN + 1];

		ck_assert_int_eq(read(ready[0], tok, APITOKEN_TOKEN_LEN),
		                 APITOKEN_TOKEN_LEN);
		tok[APITOKEN_TOKEN_LEN] = '\0';
		ck_assert_int_eq(apitoken_store_owner(ts_store_dir), pid);
		ck_assert_int_eq(apitoken_store_open(ts_cfg, 0, &st),
		                 APITOKEN_ERR_BUSY);
		(void)snprintf(want, sizeof(want),
		               "store %s is in use by process %ld",
		               ts_store_dir, (long)pid);
		ck_assert_str_eq(apitoken_last_error(), want);
		/* kill -9 the owner: the kernel drops the lock, and the
		 * next open recovers what the child committed. */
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFSIGNALED(status));
		ck_assert_int_eq(apitoken_store_owner(ts_store_dir), 0);
		ts_reopen();
		ck_assert(ts_active(tok, NULL));
	}
	close(ready[0]);
	(void)c;
}
END_TEST

START_TEST(test_open_missing)
{
	apitoken_config_t *cfg = NULL;
	apitoken_store_t *st = NULL;
	char *missing, *lock;
	struct stat sb;

	ck_assert_int_ne(asprintf(&missing, "%s/nothing", ts_dir), -1);
	ck_assert_int_eq(apitoken_config_defaults(&cfg), 0);
	ck_assert_int_eq(apitoken_config_set_store(cfg, missing), 0);
	ck_assert_int_eq(apitoken_store_open(cfg, 0, &st),
	                 APITOKEN_ERR_NOT_FOUND);
	ck_assert_ptr_null(st);
	ck_assert_ptr_nonnull(strstr(apitoken_last_error(),
	                             "does not exist; run apitokenctl init"));
	ck_assert_int_ne(stat(missing, &sb), 0);
	/* An existing folder that holds no store is left alone. */
	ck_assert_int_eq(mkdir(missing, 0700), 0);
	ck_assert_int_eq(apitoken_store_open(cfg, 0, &st),
	                 APITOKEN_ERR_NOT_FOUND);
	ck_assert_int_ne(asprintf(&lock, "%s/LOCK", missing), -1);
	ck_assert_int_ne(stat(lock, &sb), 0);
	ck_assert_int_eq(apitoken_store_owner(missing), 0);
	free(lock);
	free(missing);
	apitoken_config_free(cfg);
}
END_TEST

START_TEST(test_files_and_modes)
{
	static const char *files[] = {
	    "LOCK",          "DB_CONFIG",    STORE_DB_META,  STORE_DB_USERS,
	    STORE_DB_TOKENS, STORE_DB_AUDIT, STORE_DB_OUTBOX};
	apitoken_config_t *cfg = NULL;
	apitoken_store_t *st = NULL;
	struct stat sb;
	char *path, *own, *text;
	size_t i, len;
	struct dirent *de;
	DIR *d;
	FILE *f;

	ck_assert_int_eq(stat(ts_store_dir, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0700);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		ck_assert_int_ne(
		    asprintf(&path, "%s/%s", ts_store_dir, files[i]), -1);
		ck_assert_msg(stat(path, &sb) == 0, "%s missing", files[i]);
		ck_assert_msg((sb.st_mode & 077) == 0, "%s mode %o", files[i],
		              sb.st_mode & 07777);
		free(path);
	}
	/* Every file of the environment (regions, logs) is private. */
	d = opendir(ts_store_dir);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		ck_assert_int_ne(
		    asprintf(&path, "%s/%s", ts_store_dir, de->d_name), -1);
		ck_assert_int_eq(stat(path, &sb), 0);
		ck_assert_msg((sb.st_mode & 077) == 0, "%s mode %o",
		              de->d_name, sb.st_mode & 07777);
		free(path);
	}
	closedir(d);
	/* An existing DB_CONFIG is honoured, not overwritten. */
	ck_assert_int_ne(asprintf(&own, "%s/own", ts_dir), -1);
	ck_assert_int_eq(mkdir(own, 0700), 0);
	ck_assert_int_ne(asprintf(&path, "%s/DB_CONFIG", own), -1);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("set_cachesize 0 8388608 1\nset_tx_max 3000\n", f);
	fclose(f);
	ck_assert_int_eq(apitoken_config_defaults(&cfg), 0);
	ck_assert_int_eq(apitoken_config_set_store(cfg, own), 0);
	ck_assert_int_eq(apitoken_store_open(cfg, APITOKEN_STORE_CREATE, &st),
	                 0);
	apitoken_store_close(st);
	text = ts_slurp(path, &len);
	ck_assert_uint_eq(len, strlen("set_cachesize 0 8388608 1\n"
	                              "set_tx_max 3000\n"));
	free(text);
	free(path);
	free(own);
	apitoken_config_free(cfg);
}
END_TEST

START_TEST(test_schema_version)
{
	static const uint8_t v2[] = {1, 0, 0, 0, 2};
	apitoken_store_t *st = NULL;

	apitoken_store_close(ts_st);
	ts_st = NULL;
	ts_raw_put(STORE_DB_META, DB_BTREE, "schema", 6, v2, sizeof(v2));
	ck_assert_int_eq(apitoken_store_open(ts_cfg, 0, &st),
	                 APITOKEN_ERR_CORRUPT);
	ck_assert_ptr_null(st);
	ck_assert_ptr_nonnull(
	    strstr(apitoken_last_error(), "schema version 2"));
	ck_assert_int_eq(
	    apitoken_store_open(ts_cfg, APITOKEN_STORE_CREATE, &st),
	    APITOKEN_ERR_CORRUPT);
	/* Nothing stays locked after the refusal. */
	ck_assert_int_eq(apitoken_store_owner(ts_store_dir), 0);
}
END_TEST

START_TEST(test_corrupt_records)
{
	/* Garbage of many shapes under valid keys. */
	static const uint8_t shapes[][12] = {
	    {0},
	    {1},
	    {2, 1, 2, 3},
	    {1, 'a', 'b'},
	    {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	    {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	};
	static const size_t lens[] = {0, 1, 4, 3, 10, 12};
	char tok[APITOKEN_TOKEN_LEN + 1];
	uint8_t hash[APITOKEN_HASH_LEN];
	apitoken_claims_t c;
	apitoken_user_t *u;
	apitoken_token_info_t info;
	size_t i, deleted;
	int rc;

	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "test", tok, NULL), 0);
	ck_assert_int_eq(apitoken_token_hash(tok, APITOKEN_TOKEN_LEN, hash),
	                 0);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		apitoken_store_close(ts_st);
		ts_st = NULL;
		ts_raw_put(STORE_DB_TOKENS, DB_HASH, hash, sizeof(hash),
		           shapes[i], lens[i]);
		ts_reopen();
		rc = apitoken_token_check(ts_st, tok, strlen(tok),
		                          apitoken_now(), &c);
		ck_assert(rc == APITOKEN_ERR_CORRUPT ||
		          (rc == 0 && !c.active));
		ck_assert(!c.active);
		ck_assert_int_eq(apitoken_token_get(ts_st, "alice", &info),
		                 APITOKEN_ERR_CORRUPT);
	}
	/* Regenerating drops the damaged record; the new token works. */
	{
		char tok2[APITOKEN_TOKEN_LEN + 1];

		ck_assert_int_eq(apitoken_token_issue(ts_st, "alice",
		                                      APITOKEN_ISSUE_REPLACE,
		                                      "test", tok2, NULL),
		                 0);
		ck_assert(ts_active(tok2, NULL));
		ck_assert(!ts_active(tok, NULL));
		memcpy(tok, tok2, sizeof(tok));
	}
	/* The user record damaged instead. */
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		apitoken_store_close(ts_st);
		ts_st = NULL;
		ts_raw_put(STORE_DB_USERS, DB_BTREE, "alice", 5, shapes[i],
		           lens[i]);
		ts_reopen();
		ck_assert_int_eq(apitoken_user_get(ts_st, "alice", &u),
		                 APITOKEN_ERR_CORRUPT);
		ck_assert_int_eq(apitoken_token_issue(ts_st, "alice",
		                                      APITOKEN_ISSUE_REPLACE,
		                                      "test", tok, NULL),
		                 APITOKEN_ERR_CORRUPT);
	}
	/* The sweep removes a damaged record instead of stalling on it. */
	ck_assert_int_eq(
	    apitoken_store_purge(ts_st, INT64_MAX - 1, NULL, NULL, &deleted),
	    0);
	ck_assert_uint_eq(deleted, 2); /* the token, the stale entry */
	ck_assert_int_eq(apitoken_token_count_active(ts_st, 0, &deleted), 0);
	ck_assert_uint_eq(deleted, 0);
}
END_TEST

static int
client_seen(const apitoken_client_t *c, void *ctx)
{
	int *n = ctx;

	if (strcmp(c->id, "rs1") == 0 && strcmp(c->name, "Resource 1") == 0 &&
	    c->flags == APITOKEN_CLIENT_CAN_REVOKE)
		(*n)++;
	return 0;
}

START_TEST(test_clients)
{
	char secret[APITOKEN_TOKEN_LEN + 1], other[APITOKEN_TOKEN_LEN + 1];
	char msg_wrong[256];
	apitoken_client_t *c = NULL;
	int seen = 0;

	ck_assert_int_eq(apitoken_client_add(ts_st, "rs1", "Resource 1",
	                                     APITOKEN_CLIENT_CAN_REVOKE,
	                                     "test", secret),
	                 0);
	ck_assert(strncmp(secret, "apicli_", 7) == 0);
	ck_assert_int_eq(
	    apitoken_client_add(ts_st, "rs1", "again", 0, "test", other),
	    APITOKEN_ERR_EXISTS);
	ck_assert_int_eq(
	    apitoken_client_add(ts_st, "bad id", "x", 0, "test", other),
	    APITOKEN_ERR_INVALID);
	ck_assert_int_eq(apitoken_client_authenticate(ts_st, "rs1", secret,
	                                              strlen(secret), &c),
	                 0);
	ck_assert_str_eq(c->id, "rs1");
	ck_assert_str_eq(c->name, "Resource 1");
	ck_assert_uint_eq(c->flags, APITOKEN_CLIENT_CAN_REVOKE);
	apitoken_client_free(c);
	c = NULL;
	ck_assert_int_eq(apitoken_client_foreach(ts_st, client_seen, &seen),
	                 0);
	ck_assert_int_eq(seen, 1);
	/* Wrong secret and unknown id: the same answer. */
	ck_assert_int_eq(
	    apitoken_token_create(APITOKEN_CLIENT_SECRET_PREFIX, other), 0);
	ck_assert_int_eq(apitoken_client_authenticate(ts_st, "rs1", other,
	                                              strlen(other), &c),
	                 APITOKEN_ERR_DENIED);
	ck_assert_ptr_null(c);
	(void)snprintf(msg_wrong, sizeof(msg_wrong), "%s",
	               apitoken_last_error());
	ck_assert_int_eq(apitoken_client_authenticate(ts_st, "rs2", secret,
	                                              strlen(secret), &c),
	                 APITOKEN_ERR_DENIED);
	ck_assert_str_eq(apitoken_last_error(), msg_wrong);
	ck_assert_int_eq(apitoken_client_authenticate(ts_st, "rs1", secret,
	                                              strlen(secret) - 1, &c),
	                 APITOKEN_ERR_DENIED);
	ck_assert_int_eq(
	    apitoken_client_authenticate(ts_st, "rs1", NULL, 0, &c),
	    APITOKEN_ERR_DENIED);
	ck_assert_int_eq(apitoken_client_remove(ts_st, "rs1", "test"), 0);
	ck_assert_int_eq(apitoken_client_authenticate(ts_st, "rs1", secret,
	                                              strlen(secret), NULL),
	                 APITOKEN_ERR_DENIED);
	ck_assert_int_eq(apitoken_client_remove(ts_st, "rs1", "test"),
	                 APITOKEN_ERR_NOT_FOUND);
	ck_assert_uint_eq(ts_audit_count(NULL, "client-added"), 1);
	ck_assert_uint_eq(ts_audit_count(NULL, "client-removed"), 1);
}
END_TEST

START_TEST(test_user_validation)
{
	char *many[STORE_BUS_MAX + 1];
	char *badbu[] = {"ok", "has space"};
	apitoken_user_t u = {.name = "alice",
	                     .email = "alice@example.org",
	                     .role = "viewer",
	                     .api_access = true};
	apitoken_user_t *got = NULL;
	char longname[80];
	size_t i;

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	u.name = longname;
	ck_assert_int_eq(apitoken_user_add(ts_st, &u, "t"),
	                 APITOKEN_ERR_INVALID);
	u.name = "al ice";
	ck_assert_int_eq(apitoken_user_add(ts_st, &u, "t"),
	                 APITOKEN_ERR_INVALID);
	u.name = "";
	ck_assert_int_eq(apitoken_user_add(ts_st, &u, "t"),
	                 APITOKEN_ERR_INVALID);
	u.name = "alice";
	u.email = "alice";
	ck_assert_int_eq(apitoken_user_add(ts_st, &u, "t"),
	                 APITOKEN_ERR_INVALID);
	u.email = "a@b@c";
	ck_assert_int_eq(apitoken_user_add(ts_st, &u, "t"),
	                 APITOKEN_ERR_INVALID);
	u.email = "alice@example.org\r\nBcc: x@y";
	ck_assert_int_eq(apitoken_user_add(ts_st, &u, "t"),
	                 APITOKEN_ERR_INVALID);
	u.email = "alice@example.org";
	u.role = "emperor";
	ck_assert_int_eq(apitoken_user_add(ts_st, &u, "t"),
	                 APITOKEN_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(apitoken_last_error(), "emperor"));
	u.role = "viewer";
	u.bus = badbu;
	u.n_bus = 2;
	ck_assert_int_eq(apitoken_user_add(ts_st, &u, "t"),
	                 APITOKEN_ERR_INVALID);
	for (i = 0; i <= STORE_BUS_MAX; i++)
		many[i] = "x";
	u.bus = many;
	u.n_bus = STORE_BUS_MAX + 1;
	ck_assert_int_eq(apitoken_user_add(ts_st, &u, "t"),
	                 APITOKEN_ERR_INVALID);
	ck_assert_int_eq(apitoken_user_get(ts_st, "alice", &got),
	                 APITOKEN_ERR_NOT_FOUND);
	u.n_bus = STORE_BUS_MAX;
	ck_assert_int_eq(apitoken_user_add(ts_st, &u, "t"), 0);
	ck_assert_int_eq(apitoken_user_add(ts_st, &u, "t"),
	                 APITOKEN_ERR_EXISTS);
	ck_assert_int_eq(apitoken_user_get(ts_st, "alice", &got), 0);
	ck_assert_uint_eq(got->n_bus, STORE_BUS_MAX);
	ck_assert(got->api_access);
	ck_assert_int_gt(got->created, 0);
	apitoken_user_free(got);
	ck_assert_uint_eq(ts_audit_count("alice", "user-added"), 1);
}
END_TEST

static int
count_users(const apitoken_user_t *u, void *ctx)
{
	(void)u;
	(*(int *)ctx)++;
	return 0;
}

START_TEST(test_batch_import)
{
	apitoken_user_t users[6] = {
	    {.name = "u1",
	     .email = "u1@x.org",
	     .role = "viewer",
	     .api_access = true},
	    {.name = "u2",
	     .email = "no-at-sign",
	     .role = "viewer",
	     .api_access = true},
	    {.name = "u3",
	     .email = "u3@x.org",
	     .role = "nope",
	     .api_access = true},
	    {.name = "old",
	     .email = "old@x.org",
	     .role = "viewer",
	     .api_access = true},
	    {.name = "u1",
	     .email = "u1b@x.org",
	     .role = "admin",
	     .api_access = true},
	    {.name = "u6",
	     .email = "u6@x.org",
	     .role = "admin",
	     .api_access = false},
	};
	int results[6], n = 0;
	char *errors[6];
	apitoken_user_t *got = NULL;

	ck_assert_int_eq(ts_add_user("old", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(apitoken_user_add_batch(ts_st, users, 6, "import",
	                                         results, errors),
	                 0);
	ck_assert_int_eq(results[0], 0);
	ck_assert_int_eq(results[1], APITOKEN_ERR_INVALID);
	ck_assert_int_eq(results[2], APITOKEN_ERR_INVALID);
	ck_assert_int_eq(results[3], APITOKEN_ERR_EXISTS);
	ck_assert_int_eq(results[4], APITOKEN_ERR_EXISTS);
	ck_assert_int_eq(results[5], 0);
	ck_assert_ptr_null(errors[0]);
	ck_assert_ptr_nonnull(strstr(errors[1], "email"));
	ck_assert_ptr_nonnull(strstr(errors[2], "nope"));
	ck_assert_str_eq(errors[3], "user old already exists");
	ck_assert_ptr_nonnull(errors[4]);
	ck_assert_ptr_null(errors[5]);
	for (n = 0; n < 6; n++)
		free(errors[n]);
	n = 0;
	ck_assert_int_eq(apitoken_user_foreach(ts_st, count_users, &n), 0);
	ck_assert_int_eq(n, 3); /* old, u1, u6 */
	ck_assert_int_eq(apitoken_user_get(ts_st, "u1", &got), 0);
	ck_assert_str_eq(got->email, "u1@x.org"); /* the first u1 won */
	apitoken_user_free(got);
	ck_assert_int_eq(apitoken_user_get(ts_st, "u6", &got), 0);
	ck_assert(!got->api_access);
	apitoken_user_free(got);
}
END_TEST

/* Readers keep answering while a writer replaces tokens. */
static atomic_int stop_readers;
static char shared_tok[APITOKEN_TOKEN_LEN + 1];

static void *
reader(void *arg)
{
	char tok[APITOKEN_TOKEN_LEN + 1];
	apitoken_claims_t c;
	long *errors = arg;

	memcpy(tok, shared_tok, sizeof(tok));
	while (!stop_readers) {
		if (apitoken_token_check(ts_st, tok, strlen(tok),
		                         apitoken_now(), &c) != 0)
			(*errors)++;
		apitoken_claims_clear(&c);
	}
	return NULL;
}

START_TEST(test_concurrent_readers)
{
	char tok[APITOKEN_TOKEN_LEN + 1];
	pthread_t th[2];
	long errors[2] = {0, 0};
	int i;

	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(ts_add_user("bob", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "bob", 0, "t", shared_tok, NULL), 0);
	stop_readers = 0;
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(
		    pthread_create(&th[i], NULL, reader, &errors[i]), 0);
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(apitoken_token_issue(ts_st, "alice",
		                                      APITOKEN_ISSUE_REPLACE,
		                                      "t", tok, NULL),
		                 0);
	stop_readers = 1;
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	ck_assert_int_eq(errors[0] + errors[1], 0);
	ck_assert(ts_active(tok, NULL));
	ck_assert(ts_active(shared_tok, NULL));
}
END_TEST

/*
 * A reader thread keeps its snapshot between checks (store_snapshot.c):
 * each change made by another thread must show in its very next check.
 * The two threads take turns through a barrier, so the reader's snapshot
 * is idle (ended by the writer) or in use (ended at read end) on purpose.
 */
static pthread_barrier_t turn;
static char snap_tok[APITOKEN_TOKEN_LEN + 1];
static int snap_seen[5];

static int
snap_check(void)
{
	apitoken_claims_t c;
	int r;

	if (apitoken_token_check(ts_st, snap_tok, strlen(snap_tok),
	                         apitoken_now(), &c) != 0)
		return -1;
	r = !c.active ? 0 : strcmp(c.role, "viewer") == 0 ? 1 : 2;
	apitoken_claims_clear(&c);
	return r;
}

static void *
snap_reader(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 5; i++) {
		snap_seen[i] = snap_check();
		/* twice: the second check reuses the first one's snapshot */
		if (snap_check() != snap_seen[i])
			snap_seen[i] = -2;
		pthread_barrier_wait(&turn); /* checked */
		pthread_barrier_wait(&turn); /* the main thread wrote */
	}
	return NULL;
}

START_TEST(test_snapshot_sees_writes)
{
	apitoken_user_change_t ch;
	pthread_t th;
	int step;

	ck_assert_int_eq(ts_add_user("sam", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "sam", 0, "t", snap_tok, NULL), 0);
	ck_assert_int_eq(pthread_barrier_init(&turn, NULL, 2), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, snap_reader, NULL), 0);
	for (step = 0; step < 5; step++) {
		pthread_barrier_wait(&turn);
		memset(&ch, 0, sizeof(ch));
		ch.api_access = -1;
		switch (step) {
		case 0: /* role change: the scope must follow at once */
			ch.role = "admin";
			break;
		case 1:
			ch.api_access = 0;
			break;
		case 2:
			ch.api_access = 1;
			ch.role = "viewer";
			break;
		case 3:
			ck_assert_int_eq(
			    apitoken_token_revoke(ts_st, "sam", "t", NULL), 0);
			break;
		default:
			break;
		}
		if (step < 3)
			ck_assert_int_eq(
			    apitoken_user_update(ts_st, "sam", &ch, "t"), 0);
		pthread_barrier_wait(&turn);
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	pthread_barrier_destroy(&turn);
	ck_assert_int_eq(snap_seen[0], 1); /* viewer */
	ck_assert_int_eq(snap_seen[1], 2); /* admin */
	ck_assert_int_eq(snap_seen[2], 0); /* API access off */
	ck_assert_int_eq(snap_seen[3], 1); /* on again, viewer */
	ck_assert_int_eq(snap_seen[4], 0); /* revoked */
}
END_TEST

static int
count_due(const apitoken_notice_t *n, void *ctx)
{
	(void)n;
	(*(size_t *)ctx)++;
	return 0;
}

/*
 * Notices are found by due time; a store made before the due-time index
 * gets it, filled from its outbox, at the next open.
 */
START_TEST(test_outbox_due_index)
{
	char tok[APITOKEN_TOKEN_LEN + 1];
	size_t n = 0, count = 0;
	int64_t next = 0, now = apitoken_now();
	DB_ENV *env = NULL;

	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(ts_add_user("bob", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "test", tok, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "bob", 0, "test", tok, NULL), 0);
	ck_assert_int_eq(
	    apitoken_outbox_due(ts_st, now + 5, 10, count_due, &n, &next), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(next, INT64_MAX);
	/* One is deferred: not due now, and it says when. */
	ck_assert_int_eq(apitoken_outbox_defer(ts_st, 1, now + 100, "x"), 0);
	n = 0;
	ck_assert_int_eq(
	    apitoken_outbox_due(ts_st, now + 5, 10, count_due, &n, &next), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(next, now + 100);
	/* At most max, then "more now". */
	n = 0;
	ck_assert_int_eq(
	    apitoken_outbox_due(ts_st, now + 200, 1, count_due, &n, &next), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(next, now + 200);

	/* As if made before the index: remove it, then open. */
	apitoken_store_close(ts_st);
	ts_st = NULL;
	ck_assert_int_eq(db_env_create(&env, 0), 0);
	ck_assert_int_eq(env->open(env, ts_store_dir,
	                           DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK |
	                               DB_INIT_LOG | DB_INIT_MPOOL,
	                           0600),
	                 0);
	ck_assert_int_eq(
	    env->dbremove(env, NULL, "outbox_due.db", NULL, DB_AUTO_COMMIT),
	    0);
	ck_assert_int_eq(env->close(env, 0), 0);
	ts_reopen();
	n = 0;
	ck_assert_int_eq(
	    apitoken_outbox_due(ts_st, now + 5, 10, count_due, &n, &next), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(next, now + 100);
	ck_assert_int_eq(apitoken_outbox_count(ts_st, &count), 0);
	ck_assert_uint_eq(count, 2);
	/* Deleting a notice takes it out of the index too. */
	ck_assert_int_eq(apitoken_outbox_done(ts_st, 1), 0);
	n = 0;
	ck_assert_int_eq(
	    apitoken_outbox_due(ts_st, now + 200, 10, count_due, &n, &next),
	    0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(next, INT64_MAX);
}
END_TEST

/*
 * The write epoch (what apitokend's kept answers are checked against)
 * moves on with every write, and not with a periodic scan that found
 * nothing to do, nor with a refused write.
 */
START_TEST(test_write_epoch)
{
	static const int64_t leads[] = {86400};
	char tok[APITOKEN_TOKEN_LEN + 1];
	apitoken_user_change_t ch;
	int64_t now = apitoken_now();
	size_t n;
	uint64_t e;

	ck_assert_int_eq(ts_add_user("eve", "viewer", 1, NULL, NULL), 0);
	e = apitoken_store_epoch(ts_st);
	ck_assert_int_eq(apitoken_token_issue(ts_st, "eve", 0, "t", tok, NULL),
	                 0);
	ck_assert_uint_gt(apitoken_store_epoch(ts_st), e);

	e = apitoken_store_epoch(ts_st);
	ck_assert_int_eq(apitoken_store_purge(ts_st, now, NULL, NULL, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(
	    apitoken_outbox_queue_reminders(ts_st, now, leads, 1, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(apitoken_store_epoch(ts_st), e);

	memset(&ch, 0, sizeof(ch));
	ch.api_access = -1;
	ch.role = "admin";
	ck_assert_int_eq(apitoken_user_update(ts_st, "nobody", &ch, "t"),
	                 APITOKEN_ERR_NOT_FOUND);
	ck_assert_uint_eq(apitoken_store_epoch(ts_st), e);
	ck_assert_int_eq(apitoken_user_update(ts_st, "eve", &ch, "t"), 0);
	ck_assert_uint_gt(apitoken_store_epoch(ts_st), e);

	/* A reminder that is due gets written: the epoch moves. */
	e = apitoken_store_epoch(ts_st);
	ck_assert_int_eq(apitoken_outbox_queue_reminders(
	                     ts_st, now + 180 * 86400 - 3600, leads, 1, &n),
	                 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_gt(apitoken_store_epoch(ts_st), e);

	/* An expired token is purged: the epoch moves. */
	e = apitoken_store_epoch(ts_st);
	ck_assert_int_eq(
	    apitoken_store_purge(ts_st, now + 181 * 86400, NULL, NULL, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_gt(apitoken_store_epoch(ts_st), e);
	OPENSSL_cleanse(tok, sizeof(tok));
}
END_TEST

/* The store closes while a thread that read from it still runs; that
 * thread then reads a reopened store and exits. */
static pthread_barrier_t close_turn;

static void *
snap_survivor(void *arg)
{
	int *ok = arg;

	ok[0] = snap_check() == 1;
	pthread_barrier_wait(&close_turn); /* main closes and reopens */
	pthread_barrier_wait(&close_turn);
	ok[1] = snap_check() == 1;
	return NULL;
}

START_TEST(test_snapshot_close_while_thread_lives)
{
	pthread_t th;
	int ok[2] = {0, 0};

	ck_assert_int_eq(ts_add_user("sam", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "sam", 0, "t", snap_tok, NULL), 0);
	ck_assert_int_eq(pthread_barrier_init(&close_turn, NULL, 2), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, snap_survivor, ok), 0);
	pthread_barrier_wait(&close_turn);
	ts_reopen();
	pthread_barrier_wait(&close_turn);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	pthread_barrier_destroy(&close_turn);
	ck_assert(ok[0]);
	ck_assert(ok[1]);
	ck_assert_int_eq(snap_check(), 1);
}
END_TEST

/*
 * An idle thread's snapshot does not outlive the reuse rule: the first
 * commit after STORE_SNAP_MAX_MS ends it, also a commit with no change record
 * (a last-use flush, a purge of expired tokens).  Before, it stayed open
 * until its thread read again, pinning every page version written
 * meanwhile: a purge of 200k expired tokens on an idle 1M store pushed
 * them into Berkeley DB's freezer files and took 18 times as long.
 */
static u_int32_t
open_txns(void)
{
	DB_TXN_STAT *sp = NULL;
	u_int32_t n;

	ck_assert_int_eq(ts_st->env->txn_stat(ts_st->env, &sp, 0), 0);
	n = sp->st_nactive;
	free(sp);
	return n;
}

static void *
idle_reader(void *arg)
{
	(void)arg;
	snap_seen[0] = snap_check(); /* keeps its snapshot, then idles */
	pthread_barrier_wait(&turn);
	pthread_barrier_wait(&turn); /* until the main thread has looked */
	return NULL;
}

static void
unchanged_write(const char *jti, int64_t when)
{
	size_t written = 0;

	apitoken_lastuse_note(ts_st, jti, when, "test", "c");
	ck_assert_int_eq(apitoken_lastuse_flush(ts_st, &written), 0);
	ck_assert_uint_eq(written, 1);
}

START_TEST(test_idle_snapshot_ends)
{
	apitoken_token_info_t info;
	struct timespec t0, t1;
	pthread_t th;
	long ms;

	ck_assert_int_eq(ts_add_user("sam", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "sam", 0, "t", snap_tok, &info), 0);
	ck_assert_int_eq(pthread_barrier_init(&turn, NULL, 2), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, idle_reader, NULL), 0);
	pthread_barrier_wait(&turn);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(snap_seen[0], 1);
	ck_assert_uint_eq(open_txns(), 1); /* the reader's snapshot */
	/* Within the rule the snapshot stays for its thread to reuse (only
	 * checked when this thread was not held up past the rule). */
	unchanged_write(info.id, apitoken_now());
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	     (t1.tv_nsec - t0.tv_nsec) / 1000000;
	if (ms < STORE_SNAP_MAX_MS / 2)
		ck_assert_uint_eq(open_txns(), 1);
	/* Past it, the next commit ends it although its thread idles. */
	(void)usleep((STORE_SNAP_MAX_MS + 50) * 1000);
	unchanged_write(info.id, apitoken_now() + 1);
	ck_assert_uint_eq(open_txns(), 0);
	pthread_barrier_wait(&turn);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	pthread_barrier_destroy(&turn);
	/* Checks go on, each from a snapshot of its own thread. */
	ck_assert_int_eq(snap_check(), 1);
}
END_TEST

/* Writers on several threads: deadlocks are retried, none fails. */
static void *
writer(void *arg)
{
	const char *user = arg;
	char tok[APITOKEN_TOKEN_LEN + 1];
	long failures = 0;
	int i, rc;

	for (i = 0; i < 40; i++) {
		rc = apitoken_token_issue(ts_st, user, APITOKEN_ISSUE_REPLACE,
		                          "t", tok, NULL);
		if (rc == 0 && i % 3 == 1)
			rc = apitoken_token_revoke(ts_st, user, "t", NULL);
		if (rc != 0)
			failures++;
	}
	return (void *)failures;
}

START_TEST(test_concurrent_writers)
{
	static const char *names[] = {"w1", "w2", "w3", "w4"};
	pthread_t th[4];
	void *res;
	long failures = 0;
	size_t n;
	int i;

	for (i = 0; i < 4; i++)
		ck_assert_int_eq(
		    ts_add_user(names[i], "viewer", 1, NULL, NULL), 0);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(
		    pthread_create(&th[i], NULL, writer, (void *)names[i]), 0);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(th[i], &res), 0);
		failures += (long)res;
	}
	ck_assert_int_eq(failures, 0);
	/* 40 issues each, the last one (i = 39) not revoked. */
	ck_assert_int_eq(
	    apitoken_token_count_active(ts_st, apitoken_now(), &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(ts_audit_count(NULL, "issued"), 160);
	ck_assert_uint_eq(ts_audit_count(NULL, "revoked"), 4 * 13);
}
END_TEST

START_TEST(test_read_only)
{
	char tok[APITOKEN_TOKEN_LEN + 1], tok2[APITOKEN_TOKEN_LEN + 1];
	apitoken_store_t *ro = NULL;
	apitoken_claims_t c;

	ck_assert_int_eq(ts_add_user("alice", "viewer", 1, NULL, NULL), 0);
	ck_assert_int_eq(
	    apitoken_token_issue(ts_st, "alice", 0, "t", tok, NULL), 0);
	apitoken_store_close(ts_st);
	ts_st = NULL;
	ck_assert_int_eq(
	    apitoken_store_open(ts_cfg, APITOKEN_STORE_RDONLY, &ro), 0);
	ck_assert_int_eq(apitoken_store_owner(ts_store_dir), (long)getpid());
	ck_assert_int_eq(
	    apitoken_token_check(ro, tok, strlen(tok), apitoken_now(), &c), 0);
	ck_assert(c.active);
	apitoken_claims_clear(&c);
	ck_assert_int_eq(apitoken_token_revoke(ro, "alice", "t", NULL),
	                 APITOKEN_ERR_DENIED);
	ck_assert_int_eq(apitoken_token_issue(ro, "alice",
	                                      APITOKEN_ISSUE_REPLACE, "t",
	                                      tok2, NULL),
	                 APITOKEN_ERR_DENIED);
	apitoken_store_close(ro);
	ts_reopen();
	ck_assert(ts_active(tok, NULL));
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, ts_setup, ts_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_busy_same_process);
	tcase_add_test(tc, test_busy_other_process);
	tcase_add_test(tc, test_open_missing);
	tcase_add_test(tc, test_files_and_modes);
	tcase_add_test(tc, test_schema_version);
	tcase_add_test(tc, test_corrupt_records);
	tcase_add_test(tc, test_clients);
	tcase_add_test(tc, test_user_validation);
	tcase_add_test(tc, test_batch_import);
	tcase_add_test(tc, test_concurrent_readers);
	tcase_add_test(tc, test_concurrent_writers);
	tcase_add_test(tc, test_snapshot_sees_writes);
	tcase_add_test(tc, test_snapshot_close_while_thread_lives);
	tcase_add_test(tc, test_idle_snapshot_ends);
	tcase_add_test(tc, test_write_epoch);
	tcase_add_test(tc, test_outbox_due_index);
	tcase_add_test(tc, test_read_only);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(store_suite());
}
