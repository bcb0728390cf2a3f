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

TESTS += tests/conformance/conformance.sh
dist_check_SCRIPTS += tests/conformance/conformance.sh

# Apache httpd + mod_oauth2 as a resource server: the snippet operators
# include, installed with the docs, and its integration test.
apachedocdir = $(docdir)/apache
dist_apachedoc_DATA = contrib/apache/apitoken-oauth2.conf
TESTS += tests/integration/apache.sh
dist_check_SCRIPTS += tests/integration/apache.sh
