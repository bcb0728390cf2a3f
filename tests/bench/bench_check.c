/*
 * Benchmark of apitoken_token_check(), the hot path: throughput and
 * median / p99 latency for active, unknown and malformed tokens, with one
 * and two threads, on stores of 10k and 1M tokens.
 *
 *   bench_check [-k] [-n calls] [size...]      (default sizes 10000 1000000)
 *
 * Not a test (not run by make check).  The store is populated through the
 * public API; to make 1M issues bearable the bench's DB_CONFIG sets
 * DB_TXN_WRITE_NOSYNC (commits are written but not flushed), which the
 * product never does.  Checks are read-only and unaffected by it.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <apitoken/config.h>
#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/store.h>
#include <apitoken/token.h>

#define SAMPLE 10000

static const char bench_db_config[] = "set_cachesize 0 536870912 1\n"
                                      "set_lg_bsize 4194304\n"
                                      "set_lg_max 67108864\n"
                                      "set_tx_max 140000\n"
                                      "set_lk_detect DB_LOCK_DEFAULT\n"
                                      "set_flags DB_TXN_WRITE_NOSYNC\n";

static apitoken_store_t *st;
static char (*active_toks)[APITOKEN_TOKEN_LEN + 1];
static char (*unknown_toks)[APITOKEN_TOKEN_LEN + 1];
static char (*bad_toks)[APITOKEN_TOKEN_LEN + 1];

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct run {
	char (*toks)[APITOKEN_TOKEN_LEN + 1];
	size_t calls;
	size_t offset;
	double *lat;
	int expect_active;
	long wrong;
};

static void *
worker(void *arg)
{
	struct run *r = arg;
	apitoken_claims_t c;
	int64_t now = apitoken_now();
	size_t i;
	double t0;

	for (i = 0; i < r->calls; i++) {
		const char *tok = r->toks[(r->offset + i) % SAMPLE];

		t0 = now_ns();
		if (apitoken_token_check(st, tok, APITOKEN_TOKEN_LEN, now,
		                         &c) != 0 ||
		    c.active != r->expect_active)
			r->wrong++;
		apitoken_claims_clear(&c);
		r->lat[i] = now_ns() - t0;
	}
	return NULL;
}

static void
measure(const char *kind, char (*toks)[APITOKEN_TOKEN_LEN + 1],
        int expect_active, int threads, size_t calls)
{
	struct run runs[2];
	pthread_t th[2];
	double *all, t0, wall;
	size_t per = calls / (size_t)threads, n = 0;
	long wrong = 0;
	int t;

	all = calloc(calls, sizeof(*all));
	for (t = 0; t < threads; t++) {
		runs[t].toks = toks;
		runs[t].calls = per;
		runs[t].offset = (size_t)t * 4999;
		runs[t].lat = all + (size_t)t * per;
		runs[t].expect_active = expect_active;
		runs[t].wrong = 0;
	}
	t0 = now_ns();
	for (t = 0; t < threads; t++)
		pthread_create(&th[t], NULL, worker, &runs[t]);
	for (t = 0; t < threads; t++) {
		pthread_join(th[t], NULL);
		wrong += runs[t].wrong;
		n += runs[t].calls;
	}
	wall = now_ns() - t0;
	qsort(all, n, sizeof(*all), cmp_double);
	printf("  %-9s %d thread%s  %9.0f checks/s  median %6.2f us  "
	       "p99 %6.2f us%s\n",
	       kind, threads, threads > 1 ? "s" : " ",
	       (double)n / (wall / 1e9), all[n / 2] / 1e3,
	       all[(size_t)((double)n * 0.99)] / 1e3,
	       wrong ? "  WRONG ANSWERS" : "");
	if (wrong)
		printf("  (%ld wrong answers)\n", wrong);
	free(all);
}

static int
populate(apitoken_store_t *s, size_t n)
{
	apitoken_user_t users[1000];
	char names[1000][16], emails[1000][32], *bus[1] = {"bench"};
	char tok[APITOKEN_TOKEN_LEN + 1];
	int results[1000];
	size_t done = 0, i, k, batch;
	double t0 = now_ns();

	while (done < n) {
		batch = n - done < 1000 ? n - done : 1000;
		for (i = 0; i < batch; i++) {
			snprintf(names[i], sizeof(names[i]), "u%08zu",
			         done + i);
			snprintf(emails[i], sizeof(emails[i]),
			         "u%08zu@example.org", done + i);
			memset(&users[i], 0, sizeof(users[i]));
			users[i].name = names[i];
			users[i].email = emails[i];
			users[i].role = "developer";
			users[i].bus = bus;
			users[i].n_bus = 1;
			users[i].api_access = true;
		}
		if (apitoken_user_add_batch(s, users, batch, "bench", results,
		                            NULL) != 0)
			goto fail;
		for (i = 0; i < batch; i++) {
			if (apitoken_token_issue(s, names[i], 0, "bench", tok,
			                         NULL) != 0)
				goto fail;
			/* Keep an evenly spread sample of active tokens. */
			k = (done + i) % SAMPLE;
			if (done + i < SAMPLE ||
			    (done + i) % (n / SAMPLE) == 0)
				memcpy(active_toks[k], tok, sizeof(tok));
		}
		done += batch;
		if (done % 100000 == 0 && apitoken_store_checkpoint(s) != 0)
			goto fail; /* also drops old log files */
		if (done % 100000 == 0)
			fprintf(stderr, "  ... %zu tokens (%.0f s)\n", done,
			        (now_ns() - t0) / 1e9);
	}
	printf("  populated %zu users and tokens in %.1f s\n", n,
	       (now_ns() - t0) / 1e9);
	OPENSSL_cleanse(tok, sizeof(tok));
	return 0;
fail:
	fprintf(stderr, "bench_check: populate: %s\n", apitoken_last_error());
	return 1;
}

static int
bench_size(const char *base, size_t n, size_t calls, int keep)
{
	apitoken_config_t *cfg = NULL;
	char dir[512], path[600];
	FILE *f;
	size_t i;
	int rc = 1;

	snprintf(dir, sizeof(dir), "%s/store-%zu", base, n);
	if (mkdir(dir, 0700) != 0) {
		perror(dir);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/DB_CONFIG", dir);
	f = fopen(path, "w");
	if (f == NULL || fputs(bench_db_config, f) < 0 || fclose(f) != 0) {
		perror(path);
		return 1;
	}
	if (apitoken_config_defaults(&cfg) != 0 ||
	    apitoken_config_set_store(cfg, dir) != 0 ||
	    apitoken_store_open(cfg, APITOKEN_STORE_CREATE, &st) != 0) {
		fprintf(stderr, "bench_check: %s\n", apitoken_last_error());
		goto out;
	}
	printf("store of %zu tokens (%s)\n", n, dir);
	if (populate(st, n) != 0)
		goto out;
	for (i = 0; i < SAMPLE; i++) {
		apitoken_token_create(APITOKEN_TOKEN_PREFIX, unknown_toks[i]);
		memcpy(bad_toks[i], unknown_toks[i], sizeof(bad_toks[i]));
		/* Flip one body character: the checksum no longer fits. */
		bad_toks[i][20] = bad_toks[i][20] == 'A' ? 'B' : 'A';
	}
	/* Warm the cache the way a running server would be. */
	measure("(warm-up)", active_toks, 1, 1, SAMPLE * 2);
	measure("active", active_toks, 1, 1, calls);
	measure("unknown", unknown_toks, 0, 1, calls);
	measure("malformed", bad_toks, 0, 1, calls);
	measure("active", active_toks, 1, 2, calls);
	measure("unknown", unknown_toks, 0, 2, calls);
	measure("malformed", bad_toks, 0, 2, calls);
	rc = 0;
out:
	apitoken_store_close(st);
	st = NULL;
	apitoken_config_free(cfg);
	if (!keep) {
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_check: could not remove %s\n",
			        dir);
	}
	return rc;
}

int
main(int argc, char **argv)
{
	size_t sizes[8], n_sizes = 0, calls = 200000, i;
	char base[] = "/tmp/apitoken-bench.XXXXXX";
	int keep = 0, opt, rc = 0;

	while ((opt = getopt(argc, argv, "kn:")) != -1) {
		if (opt == 'k')
			keep = 1;
		else if (opt == 'n')
			calls = strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	for (; optind < argc && n_sizes < 8; optind++)
		sizes[n_sizes++] = strtoul(argv[optind], NULL, 10);
	if (n_sizes == 0) {
		sizes[n_sizes++] = 10000;
		sizes[n_sizes++] = 1000000;
	}
	for (i = 0; i < n_sizes; i++) {
		if (sizes[i] < SAMPLE) {
			fprintf(stderr, "bench_check: sizes >= %d\n", SAMPLE);
			return 2;
		}
	}
	if (calls < 1000)
		calls = 1000;
	apitoken_log_set_sink(apitoken_log_sink_stderr, "bench_check",
	                      APITOKEN_LOG_WARNING);
	active_toks = calloc(SAMPLE, sizeof(*active_toks));
	unknown_toks = calloc(SAMPLE, sizeof(*unknown_toks));
	bad_toks = calloc(SAMPLE, sizeof(*bad_toks));
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	printf("bench_check: apitoken_token_check(), %zu calls per line; "
	       "population with DB_TXN_WRITE_NOSYNC (bench only)\n",
	       calls);
	for (i = 0; i < n_sizes && rc == 0; i++)
		rc = bench_size(base, sizes[i], calls, keep);
	if (!keep)
		rmdir(base);
	OPENSSL_cleanse(active_toks, SAMPLE * sizeof(*active_toks));
	free(active_toks);
	free(unknown_toks);
	free(bad_toks);
	return rc;
}
