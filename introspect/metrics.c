/* apitokend: Prometheus metrics with lock-free counters; see metrics.h. */
#include "config.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "metrics.h"

/* Status codes we count separately; anything else goes to "other". */
static const unsigned codes[] = {200, 400, 401, 403, 404, 405, 413, 500, 503};
#define N_CODES (sizeof(codes) / sizeof(codes[0]))

/* Histogram bucket upper bounds in seconds (Prometheus "le"). */
static const double bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                0.01,   0.025,   0.05,   0.1,   0.25,   1.0};
#define N_BOUNDS (sizeof(bounds) / sizeof(bounds[0]))

static atomic_ulong requests[EP_COUNT][N_CODES + 1];
/* Non-cumulative buckets; the last one is above every bound. */
static atomic_ulong buckets[EP_COUNT][N_BOUNDS + 1];
static atomic_ullong duration_ns[EP_COUNT];
static atomic_ulong store_errors;
static atomic_size_t tokens_active;

static const char *const ep_names[EP_COUNT] = {
    "introspect", "revoke", "metadata", "healthz", "metrics", "other"};

const char *
apitokend_endpoint_name(enum apitokend_endpoint ep)
{
	return ep < EP_COUNT ? ep_names[ep] : "other";
}

void
apitokend_metrics_request(enum apitokend_endpoint ep, unsigned status,
                          double seconds)
{
	size_t i, ci = N_CODES;

	if (ep >= EP_COUNT)
		ep = EP_OTHER;
	for (i = 0; i < N_CODES; i++) {
		if (codes[i] == status) {
			ci = i;
			break;
		}
	}
	atomic_fetch_add_explicit(&requests[ep][ci], 1, memory_order_relaxed);
	for (i = 0; i < N_BOUNDS; i++)
		if (seconds <= bounds[i])
			break;
	atomic_fetch_add_explicit(&buckets[ep][i], 1, memory_order_relaxed);
	if (seconds < 0)
		seconds = 0;
	atomic_fetch_add_explicit(&duration_ns[ep],
	                          (unsigned long long)(seconds * 1e9),
	                          memory_order_relaxed);
}

void
apitokend_metrics_store_error(void)
{
	atomic_fetch_add_explicit(&store_errors, 1, memory_order_relaxed);
}

void
apitokend_metrics_set_active(size_t n)
{
	atomic_store_explicit(&tokens_active, n, memory_order_relaxed);
}

static unsigned long
load(atomic_ulong *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

void
apitokend_metrics_write(FILE *out, apitokend_mail_t *mail)
{
	size_t ep, i;

	fputs("# HELP apitokend_requests_total HTTP requests by endpoint and"
	      " status code.\n"
	      "# TYPE apitokend_requests_total counter\n",
	      out);
	for (ep = 0; ep < EP_COUNT; ep++) {
		for (i = 0; i <= N_CODES; i++) {
			unsigned long v = load(&requests[ep][i]);

			if (v == 0)
				continue;
			if (i < N_CODES)
				fprintf(out,
				        "apitokend_requests_total{endpoint="
				        "\"%s\",code=\"%u\"} %lu\n",
				        ep_names[ep], codes[i], v);
			else
				fprintf(out,
				        "apitokend_requests_total{endpoint="
				        "\"%s\",code=\"other\"} %lu\n",
				        ep_names[ep], v);
		}
	}
	fputs("# HELP apitokend_request_duration_seconds Time to answer an"
	      " HTTP request.\n"
	      "# TYPE apitokend_request_duration_seconds histogram\n",
	      out);
	for (ep = 0; ep < EP_COUNT; ep++) {
		unsigned long cum = 0;

		for (i = 0; i < N_BOUNDS; i++) {
			cum += load(&buckets[ep][i]);
			fprintf(out,
			        "apitokend_request_duration_seconds_bucket"
			        "{endpoint=\"%s\",le=\"%g\"} %lu\n",
			        ep_names[ep], bounds[i], cum);
		}
		cum += load(&buckets[ep][N_BOUNDS]);
		fprintf(out,
		        "apitokend_request_duration_seconds_bucket"
		        "{endpoint=\"%s\",le=\"+Inf\"} %lu\n",
		        ep_names[ep], cum);
		fprintf(out,
		        "apitokend_request_duration_seconds_sum"
		        "{endpoint=\"%s\"} %.9f\n",
		        ep_names[ep],
		        (double)atomic_load_explicit(&duration_ns[ep],
		                                     memory_order_relaxed) /
		            1e9);
		fprintf(out,
		        "apitokend_request_duration_seconds_count"
		        "{endpoint=\"%s\"} %lu\n",
		        ep_names[ep], cum);
	}
	fprintf(out,
	        "# HELP apitokend_tokens_active Tokens not yet expired,"
	        " as of the last sweep.\n"
	        "# TYPE apitokend_tokens_active gauge\n"
	        "apitokend_tokens_active %zu\n",
	        atomic_load_explicit(&tokens_active, memory_order_relaxed));
	fprintf(out,
	        "# HELP apitokend_store_errors_total Failed store"
	        " operations.\n"
	        "# TYPE apitokend_store_errors_total counter\n"
	        "apitokend_store_errors_total %lu\n",
	        load(&store_errors));
	if (mail != NULL)
		apitokend_mail_write_metrics(mail, out);
}
