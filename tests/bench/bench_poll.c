/*
 * bench_poll: for tests/bench/regions_bench.py, the replica side of the
 * propagation benchmark.  Reads tokens on stdin, one per line; for each,
 * checks it through the plugin's local back end (validator.so,
 * mode=local: one apitokend's local UNIX socket, no TLS, no relay) every
 * INTERVAL microseconds until it is no longer valid, and prints the
 * CLOCK_MONOTONIC time of that answer in microseconds ("timeout" after
 * 10 s, "error" if the check failed).  The harness takes its own
 * CLOCK_MONOTONIC time before it sends the revocation to the master.
 * Not a test.
 *
 * usage: bench_poll SO SOCKET [INTERVAL_US]
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <apitoken/validator.h>

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int
main(int argc, char **argv)
{
	const struct apitoken_validator *v;
	struct apitoken_validation res;
	char sockopt[512], line[512];
	char *opts[] = {(char *)"mode=local", sockopt, NULL};
	struct timespec pause = {0, 0};
	const char *errstr;
	void *dl, *h;

	if (argc < 3) {
		fprintf(stderr, "usage: bench_poll SO SOCKET [INTERVAL_US]\n");
		return 64;
	}
	pause.tv_nsec = (argc > 3 ? atol(argv[3]) : 100) * 1000L;
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
	if (v->open(APITOKEN_VALIDATOR_ABI_VERSION, opts, &h, &errstr) != 0) {
		fprintf(stderr, "bench_poll: open: %s\n", errstr);
		return 1;
	}
	while (fgets(line, sizeof(line), stdin) != NULL) {
		double start = now_us(), t;
		int rc;

		line[strcspn(line, "\n")] = '\0';
		for (;;) {
			rc = v->check(h, line, strlen(line), NULL, &res);
			t = now_us();
			if (rc != APITOKEN_VALIDATION_VALID)
				break;
			if (t - start > 10e6)
				break;
			nanosleep(&pause, NULL);
		}
		if (rc == APITOKEN_VALIDATION_INVALID)
			printf("%.1f\n", t);
		else if (rc == APITOKEN_VALIDATION_VALID)
			printf("timeout\n");
		else
			printf("error %d\n", rc);
		fflush(stdout);
	}
	v->close(h);
	return 0;
}
