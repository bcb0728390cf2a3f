/* Users: validation, add (single and batch), update, remove, listing. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apitoken/error.h>
#include <apitoken/policy.h>

#include "store_int.h"

bool
apitoken_user_name_valid(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0')
		return false;
	for (i = 0; name[i] != '\0'; i++) {
		char c = name[i];

		if (i >= APITOKEN_USER_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '@' || c == '-'))
			return false;
	}
	return true;
}

/* Printable ASCII or UTF-8 bytes, no control characters, 1..max bytes. */
bool
store_text_valid(const char *s, size_t max)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= max || c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/*
 * One '@' with something on both sides, no spaces, control characters or
 * characters that would let the address break out of a mail header.
 */
bool
store_email_valid(const char *email)
{
	const char *at = NULL, *p;

	if (email == NULL || strlen(email) > APITOKEN_EMAIL_MAX)
		return false;
	for (p = email; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c == 0x7f || strchr("<>\"(),;:\\[]", c))
			return false;
		if (c == '@') {
			if (at != NULL)
				return false;
			at = p;
		}
	}
	return at != NULL && at != email && at[1] != '\0';
}

static int
validate_fields(const apitoken_config_t *cfg, const char *who,
                const char *email, const char *role, char *const *bus,
                size_t n_bus, bool check_bus)
{
	size_t i;

	if (email != NULL && !store_email_valid(email))
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "user %s: invalid email address", who);
	if (role != NULL) {
		if (!store_text_valid(role, APITOKEN_ROLE_MAX))
			return apitoken_error(APITOKEN_ERR_INVALID,
			                      "user %s: invalid role name",
			                      who);
		if (apitoken_config_role(cfg, role) == NULL)
			return apitoken_error(APITOKEN_ERR_INVALID,
			                      "user %s: role '%s' is not "
			                      "defined in the configuration",
			                      who, role);
	}
	if (!check_bus)
		return 0;
	if (n_bus > STORE_BUS_MAX)
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "user %s: more than %d Business Units",
		                      who, STORE_BUS_MAX);
	if (n_bus > 0 && bus == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "user %s: no Business Units given", who);
	for (i = 0; i < n_bus; i++) {
		if (bus[i] == NULL || !apitoken_bu_id_valid(bus[i]))
			return apitoken_error(APITOKEN_ERR_INVALID,
			                      "user %s: Business Unit %zu is "
			                      "not a valid id",
			                      who, i + 1);
	}
	return 0;
}

int
store_user_validate(const apitoken_config_t *cfg, const apitoken_user_t *u)
{
	if (u == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no user given");
	if (!apitoken_user_name_valid(u->name))
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "invalid user name: use 1 to %d of "
		                      "A-Z a-z 0-9 . _ @ -",
		                      APITOKEN_USER_MAX);
	if (u->email == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "user %s: no email address", u->name);
	if (u->role == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "user %s: no role",
		                      u->name);
	return validate_fields(cfg, u->name, u->email, u->role, u->bus,
	                       u->n_bus, true);
}

static void
name_key(DBT *key, const char *name)
{
	memset(key, 0, sizeof(*key));
	key->data = (void *)name;
	key->size = (u_int32_t)strlen(name);
}

int
store_user_read(apitoken_store_t *st, DB_TXN *txn, const char *name,
                u_int32_t flags, void **raw_out, struct user_view *v)
{
	DBT key, data;
	int ret, rc;

	*raw_out = NULL;
	if (!apitoken_user_name_valid(name))
		return apitoken_error(APITOKEN_ERR_NOT_FOUND,
		                      "no such user (invalid name)");
	name_key(&key, name);
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_MALLOC;
	ret = st->users->get(st->users, txn, &key, &data, flags);
	if (ret == DB_NOTFOUND)
		return apitoken_error(APITOKEN_ERR_NOT_FOUND,
		                      "no such user %s", name);
	if (ret != 0)
		return store_dberr(ret, "read user");
	rc = user_decode(data.data, data.size, v);
	if (rc != 0) {
		free(data.data);
		return rc;
	}
	*raw_out = data.data;
	return 0;
}

static int
user_put(apitoken_store_t *st, DB_TXN *txn, const apitoken_user_t *u,
         u_int32_t flags)
{
	struct wbuf w;
	DBT key, data;
	int rc, ret;

	wbuf_init(&w);
	rc = user_encode(u, &w);
	if (rc != 0)
		goto out;
	name_key(&key, u->name);
	memset(&data, 0, sizeof(data));
	data.data = w.p;
	data.size = (u_int32_t)w.len;
	ret = st->users->put(st->users, txn, &key, &data, flags);
	if (ret == DB_KEYEXIST)
		rc = apitoken_error(APITOKEN_ERR_EXISTS,
		                    "user %s already exists", u->name);
	else if (ret != 0)
		rc = store_dberr(ret, "write user");
out:
	wbuf_free(&w);
	return rc;
}

/* ---- add ------------------------------------------------------------- */

struct add_op {
	const apitoken_user_t *users;
	size_t n;
	const apitoken_actor_t *actor;
	int64_t now;
	const int *valid; /* pre-validation result per user */
	int *exists;      /* set in the transaction */
};

static int
add_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	struct add_op *op = arg;
	apitoken_user_t u;
	char detail[96];
	size_t i, added = 0;
	int rc;

	for (i = 0; i < op->n; i++) {
		op->exists[i] = 0;
		if (op->valid[i] != 0)
			continue;
		u = op->users[i];
		u.created = op->now;
		u.updated = op->now;
		rc = user_put(st, txn, &u, DB_NOOVERWRITE);
		if (rc == APITOKEN_ERR_EXISTS) {
			op->exists[i] = 1;
			continue;
		}
		if (rc != 0)
			return rc;
		(void)snprintf(detail, sizeof(detail), "role %s%s", u.role,
		               u.api_access ? "" : ", api access off");
		rc = store_audit_append(st, txn, op->now,
		                        APITOKEN_AUDIT_USER_ADDED, u.name, "",
		                        op->actor, detail);
		added++;
		/* A reader may keep "no such user" (PAM account checks). */
		if (rc == 0)
			rc = store_change_name(st, txn, APITOKEN_CHANGE_USER,
			                       u.name);
		if (rc != 0)
			return rc;
	}
	/* One counter update per batch (bulk import). */
	return added > 0 ? store_count_add(st, txn, STORE_COUNT_USERS,
	                                   (int64_t)added)
	                 : 0;
}

int
apitoken_user_add_as(apitoken_store_t *store, const apitoken_user_t *user,
                     const apitoken_actor_t *actor)
{
	struct add_op op;
	int valid = 0, exists = 0, rc;

	if (store == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	rc = store_user_validate(store_cfg(store), user);
	if (rc != 0)
		return rc;
	memset(&op, 0, sizeof(op));
	op.users = user;
	op.n = 1;
	op.actor = actor;
	op.now = apitoken_now();
	op.valid = &valid;
	op.exists = &exists;
	rc = store_write(store, add_txn, &op);
	if (rc == 0 && exists)
		rc = apitoken_error(APITOKEN_ERR_EXISTS,
		                    "user %s already exists", user->name);
	return rc;
}

int
apitoken_user_add_batch_as(apitoken_store_t *store,
                           const apitoken_user_t *users, size_t n,
                           const apitoken_actor_t *actor, int *results,
                           char **errors_out)
{
	struct add_op op;
	int *valid = NULL, *exists = NULL;
	size_t i;
	int rc;

	if (errors_out != NULL) {
		for (i = 0; i < n; i++)
			errors_out[i] = NULL;
	}
	if (store == NULL || (n > 0 && (users == NULL || results == NULL)))
		return apitoken_error(APITOKEN_ERR_INVALID, "no users given");
	if (n == 0)
		return 0;
	valid = calloc(n, sizeof(*valid));
	exists = calloc(n, sizeof(*exists));
	if (valid == NULL || exists == NULL) {
		rc = apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* Validate first, so a bad user costs nothing in the transaction. */
	for (i = 0; i < n; i++) {
		valid[i] = store_user_validate(store_cfg(store), &users[i]);
		if (valid[i] != 0 && errors_out != NULL)
			errors_out[i] = strdup(apitoken_last_error());
	}
	memset(&op, 0, sizeof(op));
	op.users = users;
	op.n = n;
	op.actor = actor;
	op.now = apitoken_now();
	op.valid = valid;
	op.exists = exists;
	rc = store_write(store, add_txn, &op);
	if (rc != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (valid[i] != 0) {
			results[i] = valid[i];
		} else if (exists[i]) {
			results[i] = APITOKEN_ERR_EXISTS;
			if (errors_out != NULL &&
			    asprintf(&errors_out[i], "user %s already exists",
			             users[i].name) < 0)
				errors_out[i] = NULL;
		} else {
			results[i] = 0;
		}
	}
out:
	if (rc != 0 && errors_out != NULL) {
		for (i = 0; i < n; i++) {
			free(errors_out[i]);
			errors_out[i] = NULL;
		}
	}
	if (rc != 0 && results != NULL) {
		for (i = 0; i < n; i++)
			results[i] = rc;
	}
	free(valid);
	free(exists);
	return rc;
}

/* ---- update ---------------------------------------------------------- */

struct update_op {
	const char *name;
	const apitoken_user_change_t *change;
	const apitoken_actor_t *actor;
	int64_t now;
};

static int
update_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	struct update_op *op = arg;
	const apitoken_user_change_t *ch = op->change;
	struct user_view v;
	apitoken_user_t u;
	void *raw = NULL;
	char detail[256];
	size_t off = 0;
	apitoken_audit_event_t event = APITOKEN_AUDIT_USER_CHANGED;
	int rc;

	rc = store_user_read(st, txn, op->name, DB_RMW, &raw, &v);
	if (rc != 0)
		return rc;
	memset(&u, 0, sizeof(u));
	u.name = (char *)op->name;
	u.email = (char *)(ch->email != NULL ? ch->email : v.email);
	u.role = (char *)(ch->role != NULL ? ch->role : v.role);
	if (ch->set_bus) {
		u.bus = (char **)ch->bus;
		u.n_bus = ch->n_bus;
	} else {
		u.bus = (char **)v.bus;
		u.n_bus = v.n_bus;
	}
	u.api_access = ch->api_access < 0 ? v.api_access : ch->api_access != 0;
	u.created = v.created;
	u.updated = op->now;

	detail[0] = '\0';
#define ADD_DETAIL(...)                                                       \
	do {                                                                  \
		int n_ = snprintf(detail + off, sizeof(detail) - off,         \
		                  __VA_ARGS__);                               \
		if (n_ > 0 && (size_t)n_ < sizeof(detail) - off)              \
			off += (size_t)n_;                                    \
	} while (0)
	if (ch->email != NULL && strcmp(ch->email, v.email) != 0)
		ADD_DETAIL("%semail changed", off ? "; " : "");
	if (ch->role != NULL && strcmp(ch->role, v.role) != 0)
		ADD_DETAIL("%srole %s -> %s", off ? "; " : "", v.role,
		           ch->role);
	if (ch->set_bus)
		ADD_DETAIL("%sunits set (%zu)", off ? "; " : "", ch->n_bus);
	if (ch->api_access >= 0 && (ch->api_access != 0) != v.api_access)
		ADD_DETAIL("%sapi access %s", off ? "; " : "",
		           ch->api_access ? "on" : "off");
#undef ADD_DETAIL
	/* Switching API access is its own event (filtered for on its
	 * own); the detail still lists every change. */
	if (u.api_access != v.api_access)
		event = u.api_access ? APITOKEN_AUDIT_USER_ENABLED
		                     : APITOKEN_AUDIT_USER_DISABLED;
	rc = user_put(st, txn, &u, 0);
	if (rc == 0)
		rc = store_audit_append(st, txn, op->now, event, op->name, "",
		                        op->actor, detail);
	if (rc == 0)
		rc =
		    store_change_name(st, txn, APITOKEN_CHANGE_USER, op->name);
	free(raw);
	return rc;
}

int
apitoken_user_update_as(apitoken_store_t *store, const char *name,
                        const apitoken_user_change_t *change,
                        const apitoken_actor_t *actor)
{
	struct update_op op;
	int rc;

	if (store == NULL || change == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no change given");
	if (!apitoken_user_name_valid(name))
		return apitoken_error(APITOKEN_ERR_NOT_FOUND,
		                      "no such user (invalid name)");
	rc = validate_fields(store_cfg(store), name, change->email,
	                     change->role, change->bus, change->n_bus,
	                     change->set_bus);
	if (rc != 0)
		return rc;
	if (change->api_access < -1 || change->api_access > 1)
		return apitoken_error(APITOKEN_ERR_INVALID,
		                      "user %s: api_access must be -1, 0 or 1",
		                      name);
	op.name = name;
	op.change = change;
	op.actor = actor;
	op.now = apitoken_now();
	return store_write(store, update_txn, &op);
}

/* ---- remove ---------------------------------------------------------- */

struct remove_op {
	const char *name;
	const apitoken_actor_t *actor;
	int64_t now;
};

static int
remove_txn(apitoken_store_t *st, DB_TXN *txn, void *arg)
{
	struct remove_op *op = arg;
	struct user_view v;
	void *raw = NULL;
	DBT key;
	int rc, ret;

	rc = store_user_read(st, txn, op->name, DB_RMW, &raw, &v);
	if (rc != 0)
		return rc;
	rc = store_token_revoke_user(st, txn, op->name, v.email, op->now,
	                             APITOKEN_AUDIT_REVOKED, op->actor,
	                             "user removed");
	if (rc != 0)
		goto out;
	name_key(&key, op->name);
	ret = st->users->del(st->users, txn, &key, 0);
	if (ret != 0) {
		rc = store_dberr(ret, "delete user");
		goto out;
	}
	rc = store_audit_append(st, txn, op->now, APITOKEN_AUDIT_USER_REMOVED,
	                        op->name, "", op->actor, "");
	if (rc == 0)
		rc = store_count_add(st, txn, STORE_COUNT_USERS, -1);
	if (rc == 0)
		rc =
		    store_change_name(st, txn, APITOKEN_CHANGE_USER, op->name);
out:
	free(raw);
	return rc;
}

int
apitoken_user_remove_as(apitoken_store_t *store, const char *name,
                        const apitoken_actor_t *actor)
{
	struct remove_op op;

	if (store == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	if (!apitoken_user_name_valid(name))
		return apitoken_error(APITOKEN_ERR_NOT_FOUND,
		                      "no such user (invalid name)");
	op.name = name;
	op.actor = actor;
	op.now = apitoken_now();
	return store_write(store, remove_txn, &op);
}

/* ---- read ------------------------------------------------------------ */

void
apitoken_user_free(apitoken_user_t *user)
{
	size_t i;

	if (user == NULL)
		return;
	free(user->name);
	free(user->email);
	free(user->role);
	for (i = 0; i < user->n_bus; i++)
		free(user->bus[i]);
	free(user->bus);
	free(user);
}

static int
user_copy(const char *name, const struct user_view *v,
          apitoken_user_t **user_out)
{
	apitoken_user_t *u;
	size_t i;

	u = calloc(1, sizeof(*u));
	if (u == NULL)
		goto nomem;
	u->name = strdup(name);
	u->email = strdup(v->email);
	u->role = strdup(v->role);
	if (u->name == NULL || u->email == NULL || u->role == NULL)
		goto nomem;
	if (v->n_bus > 0) {
		u->bus = calloc(v->n_bus, sizeof(*u->bus));
		if (u->bus == NULL)
			goto nomem;
		for (i = 0; i < v->n_bus; i++) {
			u->bus[i] = strdup(v->bus[i]);
			if (u->bus[i] == NULL)
				goto nomem;
			u->n_bus = i + 1;
		}
	}
	u->api_access = v->api_access;
	u->created = v->created;
	u->updated = v->updated;
	*user_out = u;
	return 0;
nomem:
	apitoken_user_free(u);
	return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
}

int
apitoken_user_get(apitoken_store_t *store, const char *name,
                  apitoken_user_t **user_out)
{
	struct user_view v;
	DB_TXN *txn = NULL;
	void *raw = NULL;
	int rc;

	if (user_out != NULL)
		*user_out = NULL;
	if (store == NULL || user_out == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	rc = store_read_begin_answer(store, &txn);
	if (rc != 0)
		return rc;
	rc = store_user_read(store, txn, name, 0, &raw, &v);
	if (rc == 0)
		rc = user_copy(name, &v, user_out);
	store_read_end(store, txn);
	free(raw);
	if (rc == STORE_RETRY)
		rc = apitoken_error(APITOKEN_ERR_STORE, "store: busy");
	return store_note(rc);
}

struct user_walk {
	apitoken_user_fn fn;
	void *ctx;
};

static int
user_visit(apitoken_store_t *st, DB_TXN *txn, const DBT *key, const DBT *data,
           void *arg)
{
	struct user_walk *w = arg;
	char name[APITOKEN_USER_MAX + 1];
	struct user_view v;
	apitoken_user_t u;
	int rc;

	(void)st;
	(void)txn;
	if (key->size == 0 || key->size > APITOKEN_USER_MAX)
		return apitoken_error(APITOKEN_ERR_CORRUPT,
		                      "store: malformed user key");
	memcpy(name, key->data, key->size);
	name[key->size] = '\0';
	if (!apitoken_user_name_valid(name))
		return apitoken_error(APITOKEN_ERR_CORRUPT,
		                      "store: malformed user key");
	rc = user_decode(data->data, data->size, &v);
	if (rc != 0)
		return rc;
	memset(&u, 0, sizeof(u));
	u.name = name;
	u.email = (char *)v.email;
	u.role = (char *)v.role;
	u.bus = (char **)v.bus;
	u.n_bus = v.n_bus;
	u.api_access = v.api_access;
	u.created = v.created;
	u.updated = v.updated;
	return w->fn(&u, w->ctx);
}

int
apitoken_user_foreach(apitoken_store_t *store, apitoken_user_fn fn, void *ctx)
{
	struct user_walk w = {fn, ctx};

	if (store == NULL || fn == NULL)
		return apitoken_error(APITOKEN_ERR_INVALID, "no store");
	return store_walk(store, store->users, "users", user_visit, &w);
}
