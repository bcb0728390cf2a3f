/*
 * bench_issue: fill a store with N users and one token each, for
 * tests/bench/run-bench.sh.
 *
 * Goes through the public core API only (apitoken_user_add_batch and
 * apitoken_token_issue, so every token is a real one with its audit record
 * and notification, committed with full sync), but in one process and
 * from several threads: apitokenctl would pay a process start and a store
 * recovery per token.  Run it while no apitokend holds the store.
 *
 * usage: bench_issue [--config FILE] [--count N] [--prefix NAME]
 *                    [--threads N] [--drain-outbox] --out FILE
 * Users are PREFIX00001..; FILE (mode 0600) gets "user token" lines.
 * --drain-outbox then removes every queued notice (as if a relay had
 * taken them), for benchmarks that must not measure the mail thread's
 * walks over a full outbox.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <apitoken/config.h>
#include <apitoken/error.h>
#include <apitoken/store.h>

#define BATCH 500
#define MAX_THREADS 16

struct job {
	apitoken_store_t *store;
	const char *prefix;
	size_t count;
	size_t next; /* next index to issue, under lock */
	pthread_mutex_t lock;
	FILE *out;
	int failed; /* first error, under lock */
};

static void
user_name(char *buf, size_t len, const char *prefix, size_t i)
{
	snprintf(buf, len, "%s%05zu", prefix, i + 1);
}

static int
add_users(apitoken_store_t *st, const char *prefix, size_t count)
{
	apitoken_user_t users[BATCH];
	char names[BATCH][APITOKEN_USER_MAX + 1];
	char emails[BATCH][APITOKEN_USER_MAX + 32];
	static char unit[] = "sales";
	char *bus[1] = {unit};
	int results[BATCH];
	size_t done, n, i;
	int rc;

	for (done = 0; done < count; done += n) {
		n = count - done < BATCH ? count - done : BATCH;
		memset(users, 0, sizeof(users));
		for (i = 0; i < n; i++) {
			user_name(names[i], sizeof(names[i]), prefix,
			          done + i);
			snprintf(emails[i], sizeof(emails[i]),
			         "%.64s@example.org", names[i]);
			users[i].name = names[i];
			users[i].email = emails[i];
			users[i].role = (char *)"user";
			users[i].bus = bus;
			users[i].n_bus = 1;
			users[i].api_access = true;
		}
		rc = apitoken_user_add_batch(st, users, n, "bench_issue",
		                             results, NULL);
		if (rc != 0) {
			fprintf(stderr, "bench_issue: adding users: %s\n",
			        apitoken_last_error());
			return rc;
		}
		for (i = 0; i < n; i++) {
			if (results[i] != 0 &&
			    results[i] != APITOKEN_ERR_EXISTS) {
				fprintf(stderr, "bench_issue: user %s: %s\n",
				        names[i],
				        apitoken_strerror(results[i]));
				return results[i];
			}
		}
	}
	return 0;
}

static void *
issuer(void *arg)
{
	struct job *job = arg;
	char name[APITOKEN_USER_MAX + 1];
	char token[APITOKEN_TOKEN_LEN + 1];
	size_t i;
	int rc;

	for (;;) {
		pthread_mutex_lock(&job->lock);
		i = job->next++;
		rc = job->failed;
		pthread_mutex_unlock(&job->lock);
		if (i >= job->count || rc != 0)
			break;
		user_name(name, sizeof(name), job->prefix, i);
		rc = apitoken_token_issue(job->store, name,
		                          APITOKEN_ISSUE_REPLACE,
		                          "bench_issue", token, NULL);
		pthread_mutex_lock(&job->lock);
		if (rc != 0) {
			if (job->failed == 0) {
				job->failed = rc;
				fprintf(stderr,
				        "bench_issue: token for %s: "
				        "%s\n",
				        name, apitoken_last_error());
			}
		} else if (fprintf(job->out, "%s %s\n", name, token) < 0 &&
		           job->failed == 0) {
			job->failed = APITOKEN_ERR_IO;
			fprintf(stderr, "bench_issue: writing tokens: %s\n",
			        strerror(errno));
		}
		pthread_mutex_unlock(&job->lock);
		OPENSSL_cleanse(token, sizeof(token));
	}
	return NULL;
}

/* --drain-outbox: the queued notices' numbers, then removed in turn. */
struct drain {
	uint64_t *seq;
	size_t n, cap, next;
	pthread_mutex_t lock;
	apitoken_store_t *store;
	int failed;
};

static int
collect_seq(const apitoken_notice_t *n, void *ctx)
{
	struct drain *dr = ctx;
	uint64_t *p;

	if (dr->n == dr->cap) {
		dr->cap = dr->cap ? dr->cap * 2 : 1024;
		p = realloc(dr->seq, dr->cap * sizeof(*p));
		if (p == NULL)
			return APITOKEN_ERR_NOMEM;
		dr->seq = p;
	}
	dr->seq[dr->n++] = n->seq;
	return 0;
}

static void *
drainer(void *arg)
{
	struct drain *dr = arg;
	size_t i;
	int rc;

	for (;;) {
		pthread_mutex_lock(&dr->lock);
		i = dr->next++;
		rc = dr->failed;
		pthread_mutex_unlock(&dr->lock);
		if (i >= dr->n || rc != 0)
			break;
		rc = apitoken_outbox_done(dr->store, dr->seq[i]);
		if (rc != 0) {
			pthread_mutex_lock(&dr->lock);
			if (dr->failed == 0) {
				dr->failed = rc;
				fprintf(stderr, "bench_issue: outbox: %s\n",
				        apitoken_last_error());
			}
			pthread_mutex_unlock(&dr->lock);
		}
	}
	return NULL;
}

static int
drain_outbox(apitoken_store_t *store, unsigned long n_threads)
{
	pthread_t threads[MAX_THREADS];
	struct drain dr;
	size_t i;

	memset(&dr, 0, sizeof(dr));
	dr.store = store;
	if (apitoken_outbox_foreach(store, collect_seq, &dr) != 0) {
		fprintf(stderr, "bench_issue: outbox: %s\n",
		        apitoken_last_error());
		free(dr.seq);
		return 1;
	}
	pthread_mutex_init(&dr.lock, NULL);
	for (i = 0; i < n_threads; i++)
		if (pthread_create(&threads[i], NULL, drainer, &dr) != 0)
			break;
	if (i == 0)
		dr.failed = APITOKEN_ERR_INTERNAL;
	while (i > 0)
		pthread_join(threads[--i], NULL);
	pthread_mutex_destroy(&dr.lock);
	free(dr.seq);
	return dr.failed == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"count", required_argument, NULL, 'n'},
	    {"prefix", required_argument, NULL, 'p'},
	    {"threads", required_argument, NULL, 't'},
	    {"out", required_argument, NULL, 'o'},
	    {"drain-outbox", no_argument, NULL, 'd'},
	    {NULL, 0, NULL, 0}};
	const char *config = NULL, *out_path = NULL;
	apitoken_config_t *cfg = NULL;
	pthread_t threads[MAX_THREADS];
	struct job job;
	unsigned long n_threads = 4, v;
	char *end;
	int ch, fd, rc = 1;
	bool drain = false;
	size_t i;

	memset(&job, 0, sizeof(job));
	job.prefix = "bench";
	job.count = 10000;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'n':
		case 't':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || errno != 0 ||
			    v == 0 || v > (ch == 'n' ? 99999UL : MAX_THREADS))
				goto usage;
			if (ch == 'n')
				job.count = v;
			else
				n_threads = v;
			break;
		case 'p':
			job.prefix = optarg;
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'd':
			drain = true;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || out_path == NULL || strlen(job.prefix) > 40)
		goto usage;

	if (apitoken_config_load(config, &cfg) != 0) {
		fprintf(stderr, "bench_issue: %s\n", apitoken_last_error());
		return 1;
	}
	if (apitoken_store_open(cfg, APITOKEN_STORE_CREATE, &job.store) != 0) {
		fprintf(stderr, "bench_issue: %s\n", apitoken_last_error());
		goto out;
	}
	fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	job.out = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (job.out == NULL) {
		fprintf(stderr, "bench_issue: %s: %s\n", out_path,
		        strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if (add_users(job.store, job.prefix, job.count) != 0)
		goto out;
	pthread_mutex_init(&job.lock, NULL);
	for (i = 0; i < n_threads; i++) {
		if (pthread_create(&threads[i], NULL, issuer, &job) != 0) {
			fprintf(stderr, "bench_issue: cannot start thread\n");
			pthread_mutex_lock(&job.lock);
			job.failed = APITOKEN_ERR_INTERNAL;
			pthread_mutex_unlock(&job.lock);
			break;
		}
	}
	while (i > 0)
		pthread_join(threads[--i], NULL);
	pthread_mutex_destroy(&job.lock);
	rc = job.failed == 0 ? 0 : 1;
	if (rc == 0 && drain)
		rc = drain_outbox(job.store, n_threads);
out:
	if (job.out != NULL && fclose(job.out) != 0 && rc == 0) {
		fprintf(stderr, "bench_issue: %s: %s\n", out_path,
		        strerror(errno));
		rc = 1;
	}
	if (job.store != NULL)
		apitoken_store_close(job.store);
	apitoken_config_free(cfg);
	return rc;
usage:
	fprintf(stderr, "usage: bench_issue [--config FILE] [--count N] "
	                "[--prefix NAME] [--threads N] [--drain-outbox] "
	                "--out FILE\n");
	return 2;
}
