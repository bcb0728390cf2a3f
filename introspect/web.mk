# introspect/: the self-service page at /account/ and its JSON API under
# /api/v1/ (owner: web).  Appends to apitokend (local.mk defines it); the
# page's files are installed under $(pkgdatadir)/web.
introspect_apitokend_SOURCES += introspect/web.c introspect/web.h \
	introspect/web_session.c introspect/web_auth_pam.c \
	introspect/web_api.c introspect/web_forward.c
introspect_apitokend_CFLAGS += $(PAM_CFLAGS) \
	-DAPITOKEND_WEB_DIR='"$(pkgdatadir)/web"'
introspect_apitokend_LDADD += $(PAM_LIBS)

webdir = $(pkgdatadir)/web
dist_web_DATA = introspect/web/index.html introspect/web/app.js \
	introspect/web/style.css introspect/web/icon.svg
EXTRA_DIST += contrib/apache/apitoken-selfservice.conf docs/selfservice.png

dist_check_DATA += tests/web-lib.sh tests/lsan-pam.supp
web_tests = tests/integration/web.sh tests/integration/web-browser.sh
TESTS += $(web_tests)
dist_check_SCRIPTS += $(web_tests)
EXTRA_DIST += tests/web/package.json tests/web/package-lock.json \
	tests/web/browser.mjs

# The session table on its own (no daemon).
check_PROGRAMS += tests/unit/test_web_session
TESTS += tests/unit/test_web_session
tests_unit_test_web_session_SOURCES = tests/unit/test_web_session.c \
	introspect/web_session.c introspect/web.h
tests_unit_test_web_session_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) \
	$(MHD_CFLAGS) $(OPENSSL_CFLAGS) -pthread
tests_unit_test_web_session_LDADD = $(unit_ldadd) $(OPENSSL_LIBS) -lpthread
