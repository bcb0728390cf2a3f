/*
 * Latency of the plugin, for the report (not run by make check; see
 * tests/integration/plugin-bench.sh, which starts apitokend and runs it):
 *   1. check() through validator.so's local back end, one kept handle;
 *   2. pam_authenticate() of pam_apitoken.so (mode=local) in one process,
 *      one PAM handle, in a loop; run under pam_wrapper.
 * Prints median and p99 in microseconds of each.
 *
 * usage: APITOKEN_BENCH_TOKEN=... bench_plugin SO SOCKET [ITERATIONS]
 *        [PAM_SERVICE PAM_USER]
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <security/pam_appl.h>

#include <apitoken/validator.h>

static const char *token;

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void
summary(const char *what, double *t, int n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp);
	printf("%-34s n=%d median=%.1f us p99=%.1f us max=%.1f us\n", what, n,
	       t[n / 2], t[(n * 99) / 100], t[n - 1]);
}

/* Answer every hidden prompt with the token. */
static int
conv(int n, const struct pam_message **msg, struct pam_response **resp,
     void *data)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));
	int i;

	(void)data;
	if (r == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++)
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF)
			r[i].resp = strdup(token);
	*resp = r;
	return PAM_SUCCESS;
}

int
main(int argc, char **argv)
{
	const struct apitoken_validator *v;
	struct apitoken_validation res;
	struct pam_conv pc = {conv, NULL};
	pam_handle_t *pamh = NULL;
	const char *errstr;
	char sockopt[256];
	char *opts[4];
	double *t, t0;
	void *dl, *h;
	int n = 20000, i, rc;

	token = getenv("APITOKEN_BENCH_TOKEN");
	if (argc < 3 || token == NULL) {
		fprintf(stderr, "usage: APITOKEN_BENCH_TOKEN=... bench_plugin "
		                "SO SOCKET [N] [SERVICE USER]\n");
		return 2;
	}
	if (argc > 3)
		n = atoi(argv[3]);
	if (n < 100 || n > 10000000)
		return 2;
	t = calloc((size_t)n, sizeof(*t));
	dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (t == NULL || dl == NULL) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	v = dlsym(dl, APITOKEN_VALIDATOR_SYMBOL);
	if (v == NULL || APITOKEN_VALIDATOR_ABI_MAJOR_OF(v->abi_version) !=
	                     APITOKEN_VALIDATOR_ABI_MAJOR)
		return 1;
	snprintf(sockopt, sizeof(sockopt), "socket=%s", argv[2]);
	opts[0] = "mode=local";
	opts[1] = sockopt;
	opts[2] = NULL;
	if (v->open(APITOKEN_VALIDATOR_ABI_VERSION, opts, &h, &errstr) != 0) {
		fprintf(stderr, "open: %s\n", errstr);
		return 1;
	}
	for (i = 0; i < n / 10; i++) /* warm up: connect, caches */
		v->check(h, token, strlen(token), NULL, &res);
	for (i = 0; i < n; i++) {
		t0 = now_us();
		rc = v->check(h, token, strlen(token), "api:read", &res);
		t[i] = now_us() - t0;
		if (rc != APITOKEN_VALIDATION_VALID) {
			fprintf(stderr, "check %d: status %d (%s)\n", i, rc,
			        res.reason);
			return 1;
		}
	}
	summary("validator check (local)", t, n);
	v->close(h);

	if (argc > 5) {
		int m = n / 4;

		rc = pam_start(argv[4], argv[5], &pc, &pamh);
		if (rc != PAM_SUCCESS) {
			fprintf(stderr, "pam_start: %d\n", rc);
			return 1;
		}
		for (i = 0; i < m / 10; i++)
			(void)pam_authenticate(pamh, 0);
		for (i = 0; i < m; i++) {
			t0 = now_us();
			rc = pam_authenticate(pamh, 0);
			t[i] = now_us() - t0;
			if (rc != PAM_SUCCESS) {
				fprintf(stderr, "pam_authenticate %d: %s\n", i,
				        pam_strerror(pamh, rc));
				return 1;
			}
		}
		summary("pam_authenticate (local)", t, m);
		pam_end(pamh, PAM_SUCCESS);
	}
	free(t);
	return 0;
}
