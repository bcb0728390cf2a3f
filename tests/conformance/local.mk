# tests/conformance/, tests/bench/, contrib/apache/ and the Apache
# integration test: rules of the "conformance" part.

# The RFC 7662/7009/8414 suite.  Built by `make` so that operators can point
# it at any server from the build tree; not installed.
noinst_PROGRAMS += tests/conformance/conformance
tests_conformance_conformance_SOURCES = tests/conformance/conformance.c
tests_conformance_conformance_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) \
	$(CJSON_CFLAGS) $(OPENSSL_CFLAGS)
tests_conformance_conformance_LDADD = $(CURL_LIBS) $(CJSON_LIBS) \
	$(OPENSSL_LIBS) -lm

TESTS += tests/conformance/conformance.sh tests/conformance/selftest.sh \
	tests/conformance/conformance-tls.sh
EXTRA_DIST += tests/conformance/README.md
dist_check_SCRIPTS += tests/conformance/conformance.sh \
	tests/conformance/selftest.sh tests/conformance/mock_as.py \
	tests/conformance/conformance-tls.sh

# Apache httpd + mod_oauth2 as a resource server: the snippet operators
# include, installed with the docs, and its integration test.
apachedocdir = $(docdir)/apache
dist_apachedoc_DATA = contrib/apache/apitoken-oauth2.conf
TESTS += tests/integration/apache.sh
dist_check_DATA += tests/apache-lib.sh
dist_check_SCRIPTS += tests/integration/apache.sh

# The same with mod_auth_openidc (AuthType oauth20).
dist_apachedoc_DATA += contrib/apache/apitoken-openidc.conf
TESTS += tests/integration/apache-openidc.sh
dist_check_SCRIPTS += tests/integration/apache-openidc.sh

# tests/bench/ (not part of make check; run tests/bench/run-bench.sh).
# static_server: libmicrohttpd with apitokend's flags and a fixed answer.
# bench_issue: fills a store with users and tokens through the core API.
noinst_PROGRAMS += tests/bench/static_server tests/bench/bench_issue
tests_bench_static_server_SOURCES = tests/bench/static_server.c
tests_bench_static_server_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS)
tests_bench_static_server_LDADD = $(MHD_LIBS)
tests_bench_bench_issue_SOURCES = tests/bench/bench_issue.c
tests_bench_bench_issue_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) -pthread
tests_bench_bench_issue_LDADD = core/libapitoken.la $(OPENSSL_LIBS) \
	-lpthread
EXTRA_DIST += tests/bench/run-bench.sh tests/bench/introspect.lua \
	tests/bench/README.md
