/*
 * Crash test helper.
 *
 *   crash_writer write <store> <log> <users> <seconds>
 *     issues, replaces and revokes tokens of <users> users as fast as it
 *     can; after each call that returned 0 it appends one line to <log>
 *     with write() + fsync():  "issued <user> <token> <id>" or
 *     "revoked <user>".  Stops by itself after <seconds>; the test kills
 *     it with SIGKILL long before.
 *
 *   crash_writer verify <store> <log>
 *     opens the store (recovery) and checks it against the log: the last
 *     reported token of every user is active unless a later revoke was
 *     reported, every token reported as replaced or revoked is inactive,
 *     and at most one user differs (the call in flight at the kill, whose
 *     outcome was never reported).  That difference is appended to the log
 *     ("current <user> <id>" / "none <user>") so the next round starts
 *     from the store's real state.  Exit 0 if all holds.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <apitoken/config.h>
#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/store.h>
#include <apitoken/token.h>

#define MAX_USERS 1000

static apitoken_config_t *cfg;

static int
open_store(const char *dir, unsigned flags, apitoken_store_t **st)
{
	int rc;

	if (apitoken_config_defaults(&cfg) != 0 ||
	    apitoken_config_set_store(cfg, dir) != 0) {
		fprintf(stderr, "crash_writer: config failed\n");
		return -1;
	}
	rc = apitoken_store_open(cfg, flags, st);
	if (rc != 0)
		fprintf(stderr, "crash_writer: open %s: %s\n", dir,
		        apitoken_last_error());
	return rc;
}

static void
log_line(int fd, const char *line)
{
	size_t len = strlen(line);

	if (write(fd, line, len) != (ssize_t)len || fsync(fd) != 0) {
		perror("crash_writer: log");
		exit(2);
	}
}

static int
do_write(const char *dir, const char *logpath, int n_users, int seconds)
{
	apitoken_user_t *users;
	apitoken_store_t *st = NULL;
	apitoken_token_info_t info;
	char tok[APITOKEN_TOKEN_LEN + 1], line[256], *names, *emails;
	int *results, i, fd, rc;
	time_t end = time(NULL) + seconds;
	unsigned r;

	if (n_users <= 0 || n_users > MAX_USERS)
		return 2;
	if (open_store(dir, APITOKEN_STORE_CREATE, &st) != 0)
		return 1;
	fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(logpath);
		return 2;
	}
	/* The users, once (EXISTS after the first round). */
	users = calloc((size_t)n_users, sizeof(*users));
	results = calloc((size_t)n_users, sizeof(*results));
	names = calloc((size_t)n_users, 16);
	emails = calloc((size_t)n_users, 32);
	if (!users || !results || !names || !emails)
		return 2;
	for (i = 0; i < n_users; i++) {
		snprintf(names + 16 * i, 16, "u%04d", i);
		snprintf(emails + 32 * i, 32, "u%04d@example.org", i);
		users[i].name = names + 16 * i;
		users[i].email = emails + 32 * i;
		users[i].role = "viewer";
		users[i].api_access = true;
	}
	rc = apitoken_user_add_batch(st, users, (size_t)n_users, "crash",
	                             results, NULL);
	if (rc != 0) {
		fprintf(stderr, "crash_writer: import: %s\n",
		        apitoken_last_error());
		return 1;
	}
	srand((unsigned)getpid() ^ (unsigned)time(NULL));
	while (time(NULL) < end) {
		const char *u = users[rand() % n_users].name;

		r = (unsigned)rand() % 10;
		if (r < 8) {
			rc = apitoken_token_issue(
			    st, u, r < 6 ? APITOKEN_ISSUE_REPLACE : 0, "crash",
			    tok, &info);
			if (rc == 0) {
				snprintf(line, sizeof(line),
				         "issued %s %s %s\n", u, tok, info.id);
				log_line(fd, line);
			} else if (rc != APITOKEN_ERR_EXISTS) {
				fprintf(stderr, "crash_writer: issue: %s\n",
				        apitoken_last_error());
				return 1;
			}
		} else {
			rc = apitoken_token_revoke(st, u, "crash", NULL);
			if (rc == 0) {
				snprintf(line, sizeof(line), "revoked %s\n",
				         u);
				log_line(fd, line);
			} else if (rc != APITOKEN_ERR_NOT_FOUND) {
				fprintf(stderr, "crash_writer: revoke: %s\n",
				        apitoken_last_error());
				return 1;
			}
		}
	}
	apitoken_store_close(st);
	return 0;
}

struct user_state {
	char name[APITOKEN_USER_MAX + 1];
	char token[APITOKEN_TOKEN_LEN + 1]; /* "" if unknown or none */
	char id[APITOKEN_ID_LEN + 1];       /* "" if none */
};

static struct user_state *
find_user(struct user_state *us, int *n, const char *name)
{
	int i;

	for (i = 0; i < *n; i++)
		if (strcmp(us[i].name, name) == 0)
			return &us[i];
	if (*n >= MAX_USERS)
		return NULL;
	memset(&us[*n], 0, sizeof(us[*n]));
	snprintf(us[*n].name, sizeof(us[*n].name), "%s", name);
	return &us[(*n)++];
}

static int
active(apitoken_store_t *st, const char *tok, int *err)
{
	apitoken_claims_t c;
	int a;

	if (apitoken_token_check(st, tok, strlen(tok), apitoken_now(), &c) !=
	    0) {
		(*err)++;
		return 0;
	}
	a = c.active;
	apitoken_claims_clear(&c);
	return a;
}

static int
do_verify(const char *dir, const char *logpath)
{
	static struct user_state us[MAX_USERS];
	char line[512], user[APITOKEN_USER_MAX + 1], tok[128], id[64];
	char(*old)[APITOKEN_TOKEN_LEN + 1] = NULL;
	size_t n_old = 0, cap_old = 0, i, lines = 0, old_active = 0;
	apitoken_store_t *st = NULL;
	apitoken_token_info_t info;
	struct user_state *u;
	int n_us = 0, errors = 0, mismatches = 0, with_token = 0, fd, rc, j;
	FILE *f;

	f = fopen(logpath, "r");
	if (f == NULL) {
		perror(logpath);
		return 2;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lines++;
		tok[0] = id[0] = '\0';
		if (sscanf(line, "issued %64s %127s %63s", user, tok, id) ==
		        3 ||
		    sscanf(line, "current %64s %63s", user, id) == 2 ||
		    sscanf(line, "revoked %64s", user) == 1 ||
		    sscanf(line, "none %64s", user) == 1) {
			u = find_user(us, &n_us, user);
			if (u == NULL)
				return 2;
			if (u->token[0] != '\0') {
				if (n_old == cap_old) {
					cap_old = cap_old ? 2 * cap_old : 1024;
					old = realloc(old,
					              cap_old * sizeof(*old));
					if (old == NULL)
						return 2;
				}
				memcpy(old[n_old++], u->token,
				       sizeof(u->token));
			}
			snprintf(u->token, sizeof(u->token), "%s",
			         strncmp(line, "issued", 6) == 0 ? tok : "");
			snprintf(u->id, sizeof(u->id), "%s", id);
		} else {
			/* A torn last line cannot happen with write(); say
			 * so if it does. */
			printf("# unparsable log line %zu\n", lines);
			errors++;
		}
	}
	fclose(f);

	if (open_store(dir, 0, &st) != 0) {
		printf("# store did not open: %s\n", apitoken_last_error());
		return 1;
	}
	fd = open(logpath, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return 2;
	for (j = 0; j < n_us; j++) {
		bool ok;

		u = &us[j];
		rc = apitoken_token_get(st, u->name, &info);
		if (rc != 0 && rc != APITOKEN_ERR_NOT_FOUND) {
			printf("# token_get %s: %s\n", u->name,
			       apitoken_last_error());
			errors++;
			continue;
		}
		if (rc == 0)
			with_token++;
		if (u->id[0] == '\0')
			ok = rc == APITOKEN_ERR_NOT_FOUND;
		else
			ok = rc == 0 && strcmp(info.id, u->id) == 0 &&
			     (u->token[0] == '\0' ||
			      active(st, u->token, &errors));
		if (ok)
			continue;
		mismatches++;
		printf("# %s: store differs from the log (in-flight call?)\n",
		       u->name);
		if (rc == 0)
			snprintf(line, sizeof(line), "current %s %s\n",
			         u->name, info.id);
		else
			snprintf(line, sizeof(line), "none %s\n", u->name);
		if (write(fd, line, strlen(line)) != (ssize_t)strlen(line) ||
		    fsync(fd) != 0)
			return 2;
		/* The expected token, if it was replaced in flight, joins
		 * the revoked ones below only if it is still active:
		 * check it now. */
		if (u->token[0] != '\0' && active(st, u->token, &errors)) {
			printf("# %s: the expected token is active but "
			       "not the user's current token\n",
			       u->name);
			errors++;
		}
	}
	for (i = 0; i < n_old; i++) {
		if (active(st, old[i], &errors))
			old_active++;
	}
	printf("# %zu log lines, %d users, %d with a token, %zu replaced or "
	       "revoked tokens checked, %zu of them active, %d mismatch(es), "
	       "%d error(s)\n",
	       lines, n_us, with_token, n_old, old_active, mismatches, errors);
	close(fd);
	apitoken_store_close(st);
	apitoken_config_free(cfg);
	free(old);
	return errors == 0 && old_active == 0 && mismatches <= 1 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	apitoken_log_set_sink(apitoken_log_sink_stderr, "crash_writer",
	                      APITOKEN_LOG_WARNING);
	if (argc == 6 && strcmp(argv[1], "write") == 0)
		return do_write(argv[2], argv[3], atoi(argv[4]),
		                atoi(argv[5]));
	if (argc == 4 && strcmp(argv[1], "verify") == 0)
		return do_verify(argv[2], argv[3]);
	fprintf(stderr,
	        "usage: crash_writer write <store> <log> <users> "
	        "<seconds>\n       crash_writer verify <store> <log>\n");
	return 2;
}
