/* Shared helpers of the store suites: a fresh store per test. */
#ifndef APITOKEN_TEST_STORE_UTIL_H
#define APITOKEN_TEST_STORE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <db.h>

#include <apitoken/config.h>
#include <apitoken/store.h>

extern char *ts_dir;       /* scratch folder */
extern char *ts_store_dir; /* ts_dir/store */
extern apitoken_config_t *ts_cfg;
extern apitoken_store_t *ts_st;

void ts_setup(void); /* store created and open */
void ts_teardown(void);
void ts_reopen(void);

/* Add a user with up to 3 units (NULL-terminated list). */
int ts_add_user(const char *name, const char *role, int api_access,
                const char *bu1, const char *bu2);

/* Active?  Also returns the scope (caller frees) if scope_out. */
int ts_active(const char *token, char **scope_out);

/* Count audit records of user (NULL: all) with event (NULL: any). */
size_t ts_audit_count(const char *user, const char *event);
/* Count notices of kind (NULL: any) for user (NULL: any). */
size_t ts_notice_count(const char *user, const char *kind);

/* Write raw bytes under key into file of the (closed) store. */
void ts_raw_put(const char *file, DBTYPE type, const void *k, size_t kl,
                const void *v, size_t vl);

/* The whole content of a file (caller frees), *len_out its size. */
char *ts_slurp(const char *path, size_t *len_out);

#endif
