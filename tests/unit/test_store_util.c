/* Shared helpers of the store suites. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include <apitoken/error.h>

#include "test_store_util.h"
#include "unit.h"

char *ts_dir;
char *ts_store_dir;
apitoken_config_t *ts_cfg;
apitoken_store_t *ts_st;

void
ts_setup(void)
{
	ts_dir = unit_tmpdir();
	ck_assert_ptr_nonnull(ts_dir);
	ck_assert_int_ne(asprintf(&ts_store_dir, "%s/store", ts_dir), -1);
	ck_assert_int_eq(apitoken_config_defaults(&ts_cfg), 0);
	ck_assert_int_eq(apitoken_config_set_store(ts_cfg, ts_store_dir), 0);
	/* A few records need no 256 MB cache, and valgrind (valgrind-unit)
	 * pays for setting up every region at each open. */
	ts_cfg->store_cache = 32ULL << 20;
	ck_assert_msg(
	    apitoken_store_open(ts_cfg, APITOKEN_STORE_CREATE, &ts_st) == 0,
	    "open: %s", apitoken_last_error());
}

void
ts_teardown(void)
{
	apitoken_store_close(ts_st);
	ts_st = NULL;
	unit_rmtree(ts_dir);
	free(ts_dir);
	free(ts_store_dir);
	apitoken_config_free(ts_cfg);
	ts_dir = ts_store_dir = NULL;
	ts_cfg = NULL;
}

void
ts_reopen(void)
{
	apitoken_store_close(ts_st);
	ts_st = NULL;
	ck_assert_msg(apitoken_store_open(ts_cfg, 0, &ts_st) == 0,
	              "reopen: %s", apitoken_last_error());
}

int
ts_add_user(const char *name, const char *role, int api_access,
            const char *bu1, const char *bu2)
{
	apitoken_user_t u;
	char *bus[2];
	char email[128];

	memset(&u, 0, sizeof(u));
	(void)snprintf(email, sizeof(email), "%s@example.org", name);
	u.name = (char *)name;
	u.email = email;
	u.role = (char *)role;
	u.api_access = api_access != 0;
	bus[0] = (char *)bu1;
	bus[1] = (char *)bu2;
	u.bus = bus;
	u.n_bus = bu1 == NULL ? 0 : bu2 == NULL ? 1 : 2;
	return apitoken_user_add(ts_st, &u, "test");
}

int
ts_active(const char *token, char **scope_out)
{
	apitoken_claims_t c;
	int active;

	ck_assert_int_eq(apitoken_token_check(ts_st, token, strlen(token),
	                                      apitoken_now(), &c),
	                 0);
	active = c.active;
	if (scope_out != NULL)
		*scope_out = c.scope != NULL ? strdup(c.scope) : NULL;
	apitoken_claims_clear(&c);
	return active;
}

struct count_ctx {
	const char *user;
	const char *what;
	size_t n;
};

static int
audit_counter(const apitoken_audit_t *a, void *ctx)
{
	struct count_ctx *c = ctx;

	if (c->what == NULL || strcmp(c->what, a->event) == 0)
		c->n++;
	return 0;
}

size_t
ts_audit_count(const char *user, const char *event)
{
	struct count_ctx c = {user, event, 0};

	ck_assert_int_eq(
	    apitoken_audit_foreach(ts_st, user, audit_counter, &c), 0);
	return c.n;
}

static int
notice_counter(const apitoken_notice_t *n, void *ctx)
{
	struct count_ctx *c = ctx;

	if ((c->what == NULL || strcmp(c->what, n->kind) == 0) &&
	    (c->user == NULL || strcmp(c->user, n->user) == 0))
		c->n++;
	return 0;
}

size_t
ts_notice_count(const char *user, const char *kind)
{
	struct count_ctx c = {user, kind, 0};

	ck_assert_int_eq(apitoken_outbox_foreach(ts_st, notice_counter, &c),
	                 0);
	return c.n;
}

void
ts_raw_put(const char *file, DBTYPE type, const void *k, size_t kl,
           const void *v, size_t vl)
{
	DB_ENV *env;
	DB *db;
	DBT key, data;

	ck_assert_int_eq(db_env_create(&env, 0), 0);
	ck_assert_int_eq(env->open(env, ts_store_dir,
	                           DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK |
	                               DB_INIT_LOG | DB_INIT_MPOOL |
	                               DB_RECOVER | DB_PRIVATE,
	                           0600),
	                 0);
	ck_assert_int_eq(db_create(&db, env, 0), 0);
	ck_assert_int_eq(
	    db->open(db, NULL, file, NULL, type, DB_AUTO_COMMIT, 0600), 0);
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)k;
	key.size = (u_int32_t)kl;
	data.data = (void *)v;
	data.size = (u_int32_t)vl;
	ck_assert_int_eq(db->put(db, NULL, &key, &data, 0), 0);
	ck_assert_int_eq(db->close(db, 0), 0);
	ck_assert_int_eq(env->txn_checkpoint(env, 0, 0, 0), 0);
	ck_assert_int_eq(env->close(env, 0), 0);
}

char *
ts_slurp(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, len = 0, n;

	ck_assert_ptr_nonnull(f);
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	*len_out = len;
	return buf;
}
