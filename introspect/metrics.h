/*
 * apitokend: Prometheus metrics (internal).
 *
 * Counters are C11 atomics updated with relaxed ordering: the request hot
 * path takes no lock.  apitokend_metrics_write() reads them without a
 * consistent snapshot, which Prometheus tolerates.
 */
#ifndef APITOKEND_METRICS_H
#define APITOKEND_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "mail.h"

enum apitokend_endpoint {
	EP_INTROSPECT,
	EP_REVOKE,
	EP_METADATA,
	EP_HEALTHZ,
	EP_METRICS,
	EP_JWKS,    /* visibility: /.well-known/jwks.json */
	EP_LEAKS,   /* visibility: POST /leaks */
	EP_WEB,     /* the self-service page and /api/v1/ (web.c) */
	EP_REGIONS, /* /_regions/admin and /uses: from other sites */
	EP_OTHER,
	EP_COUNT
};

/* Label value of an endpoint ("introspect", ...). */
const char *apitokend_endpoint_name(enum apitokend_endpoint ep);

/* One finished request. */
void apitokend_metrics_request(enum apitokend_endpoint ep, unsigned status,
                               double seconds);
/* An introspection of a well-formed token: answer kept (hit) or not. */
void apitokend_metrics_answer_cache(bool hit);
/* The store failed (any call). */
void apitokend_metrics_store_error(void);
/* How often it has so far: a change retires every kept answer. */
unsigned long apitokend_metrics_store_errors(void);
/* Tokens with exp > now, as last counted by the sweep. */
void apitokend_metrics_set_active(size_t n);
/* Places in the kept-answer table (introspection_cache, as sized). */
void apitokend_metrics_set_cache_places(size_t n);

/* Write every metric in text format 0.0.4; mail may be NULL. */
void apitokend_metrics_write(FILE *out, apitokend_mail_t *mail);

#endif /* APITOKEND_METRICS_H */
