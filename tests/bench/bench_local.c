/*
 * bench_local: checks through the plugin's local back end (validator.so,
 * mode=local: apitokend's local UNIX socket), with C client threads, each
 * with its own handle, for SECONDS; tokens picked uniformly from FILE.
 * Prints one line: clients, checks/s, median and p99 latency per check,
 * and, with PID, apitokend's CPU time per check (utime + stime from
 * /proc/PID/stat over the run), and the client threads' own CPU time
 * per check (the plugin's wait for the reply).  With GAP_US, each client
 * sleeps that long between checks: a service that checks now and then
 * rather than in a tight loop.  For tests/bench/scale-bench.sh; not a
 * test.
 *
 * usage: bench_local SO SOCKET FILE CLIENTS SECONDS [PID [GAP_US]]
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <apitoken/validator.h>

#define MAX_CLIENTS 64
#define MAX_SAMPLES (4u << 20)

static const struct apitoken_validator *v;
static char sockopt[512];
static char **tokens;
static size_t n_tokens;
static double run_seconds;
static long gap_us;

struct client {
	pthread_t thread;
	unsigned seed;
	double *lat;   /* microseconds */
	double cpu_us; /* the thread's CPU time over the measured checks */
	size_t n, failed;
};

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static double
thread_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void *
client_main(void *arg)
{
	struct client *c = arg;
	struct apitoken_validation res;
	char *opts[] = {(char *)"mode=local", sockopt, NULL};
	const char *errstr;
	struct timespec gap = {gap_us / 1000000, (gap_us % 1000000) * 1000};
	double t0, end, cpu0;
	void *h;
	int i;

	if (v->open(APITOKEN_VALIDATOR_ABI_VERSION, opts, &h, &errstr) != 0) {
		fprintf(stderr, "bench_local: open: %s\n", errstr);
		return NULL;
	}
	for (i = 0; i < 200; i++) { /* connect, warm up */
		const char *t = tokens[(size_t)rand_r(&c->seed) % n_tokens];

		(void)v->check(h, t, strlen(t), NULL, &res);
	}
	end = now_us() + run_seconds * 1e6;
	cpu0 = thread_cpu_us();
	while (c->n < MAX_SAMPLES) {
		const char *t = tokens[(size_t)rand_r(&c->seed) % n_tokens];

		t0 = now_us();
		if (t0 >= end)
			break;
		if (v->check(h, t, strlen(t), NULL, &res) !=
		    APITOKEN_VALIDATION_VALID)
			c->failed++;
		c->lat[c->n++] = now_us() - t0;
		if (gap_us > 0)
			(void)nanosleep(&gap, NULL);
	}
	c->cpu_us = thread_cpu_us() - cpu0;
	v->close(h);
	return NULL;
}

static double
cpu_seconds(const char *pid)
{
	char path[64], buf[2048], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;
	int i;

	(void)snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	p = strrchr(buf, ')'); /* the name may hold spaces */
	for (i = 0; p != NULL && i < 12; i++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p, " %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

int
main(int argc, char **argv)
{
	static struct client cl[MAX_CLIENTS];
	char line[256];
	double *all, cpu0 = 0, cpu1 = 0, t0, t1, client_cpu = 0;
	size_t cap = 0, total = 0, failed = 0, k;
	int n_clients, i;
	void *dl;
	FILE *f;

	if (argc < 6) {
		fprintf(stderr, "usage: bench_local SO SOCKET FILE CLIENTS "
		                "SECONDS [PID [GAP_US]]\n");
		return 64;
	}
	n_clients = atoi(argv[4]);
	run_seconds = atof(argv[5]);
	if (argc > 7) {
		char *end;

		errno = 0;
		gap_us = strtol(argv[7], &end, 10);
		if (*argv[7] == '\0' || *end != '\0' || errno != 0 ||
		    gap_us < 0 || gap_us > 10000000) {
			fprintf(stderr, "bench_local: GAP_US must be 0 to "
			                "10000000 microseconds\n");
			return 64;
		}
	}
	if (n_clients < 1 || n_clients > MAX_CLIENTS || run_seconds <= 0)
		return 64;
	dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	v = dlsym(dl, APITOKEN_VALIDATOR_SYMBOL);
	if (v == NULL || APITOKEN_VALIDATOR_ABI_MAJOR_OF(v->abi_version) !=
	                     APITOKEN_VALIDATOR_ABI_MAJOR)
		return 1;
	(void)snprintf(sockopt, sizeof(sockopt), "socket=%s", argv[2]);
	f = fopen(argv[3], "r");
	if (f == NULL) {
		perror(argv[3]);
		return 1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (n_tokens == cap) {
			cap = cap != 0 ? cap * 2 : 1024;
			tokens = realloc(tokens, cap * sizeof(*tokens));
			if (tokens == NULL)
				return 1;
		}
		tokens[n_tokens] = strdup(line);
		if (tokens[n_tokens] == NULL)
			return 1;
		n_tokens++;
	}
	fclose(f);
	if (n_tokens == 0)
		return 1;
	for (i = 0; i < n_clients; i++) {
		cl[i].seed = (unsigned)(i * 7919 + 1);
		cl[i].lat = malloc(MAX_SAMPLES * sizeof(double));
		if (cl[i].lat == NULL)
			return 1;
	}
	if (argc > 6)
		cpu0 = cpu_seconds(argv[6]);
	t0 = now_us();
	for (i = 0; i < n_clients; i++)
		if (pthread_create(&cl[i].thread, NULL, client_main, &cl[i]) !=
		    0)
			return 1;
	for (i = 0; i < n_clients; i++)
		pthread_join(cl[i].thread, NULL);
	t1 = now_us();
	if (argc > 6)
		cpu1 = cpu_seconds(argv[6]);
	for (i = 0; i < n_clients; i++) {
		total += cl[i].n;
		failed += cl[i].failed;
		client_cpu += cl[i].cpu_us;
	}
	if (total == 0)
		return 1;
	all = malloc(total * sizeof(*all));
	if (all == NULL)
		return 1;
	for (i = 0, k = 0; i < n_clients; i++) {
		memcpy(all + k, cl[i].lat, cl[i].n * sizeof(double));
		k += cl[i].n;
	}
	qsort(all, total, sizeof(*all), cmp);
	/* t1 - t0 includes the warm-up: checks/s is a little low. */
	printf("clients %d checks/s %.0f median_us %.1f p99_us %.1f "
	       "daemon_cpu_us_per_check %.2f client_cpu_us_per_check %.2f "
	       "failed %zu\n",
	       n_clients, (double)total / ((t1 - t0) / 1e6), all[total / 2],
	       all[total * 99 / 100],
	       argc > 6 ? (cpu1 - cpu0) * 1e6 / (double)total : 0.0,
	       client_cpu / (double)total, failed);
	return failed == 0 ? 0 : 1;
}
