# introspect/: apitokend, the daemon that owns the store while it runs and
# serves RFC 7662 introspection, RFC 7009 revocation, RFC 8414 metadata,
# /healthz and /metrics, plus the admin and local UNIX sockets.
# mail.mk appends introspect/mail.c to the sources (included after us).
sbin_PROGRAMS += introspect/apitokend
introspect_apitokend_SOURCES = introspect/apitokend.c introspect/apitokend.h \
	introspect/http.c introspect/introspect.c introspect/revoke.c \
	introspect/metadata.c introspect/metrics.c introspect/metrics.h \
	introspect/client_auth.c introspect/claims_json.c \
	introspect/unix_sockets.c introspect/sweep.c introspect/access_log.c \
	introspect/tls.c introspect/answer_cache.c introspect/answer_cache.h \
	introspect/tail.c introspect/tail.h introspect/sha256.c \
	introspect/background.c introspect/notify.c
introspect_apitokend_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS) $(CJSON_CFLAGS) \
	$(OPENSSL_CFLAGS) $(CURL_CFLAGS) $(SYSTEMD_CFLAGS) -pthread
introspect_apitokend_LDADD = core/libapitoken.la $(MHD_LIBS) $(CJSON_LIBS) \
	$(OPENSSL_LIBS) $(CURL_LIBS) $(SYSTEMD_LIBS) -lpthread

dist_check_DATA += tests/daemon.sh
introspect_tests = tests/integration/introspect.sh \
	tests/integration/introspect-sockets.sh \
	tests/integration/introspect-tls.sh \
	tests/integration/introspect-sweep.sh \
	tests/integration/introspect-faults.sh \
	tests/integration/introspect-cache.sh \
	tests/integration/notify.sh
TESTS += $(introspect_tests)
dist_check_SCRIPTS += $(introspect_tests)
dist_man_MANS += docs/apitokend.8 docs/apitoken.json.5
EXTRA_DIST += contrib/systemd/apitokend.service

# A preloadable test double that makes the store fail on demand, so the
# 503/temporarily_unavailable answers can be tested against the real
# daemon.  Built without the sanitizer flags: it is preloaded into
# processes (the libtool wrapper shell) that have no sanitizer runtime.
check_LTLIBRARIES += tests/integration/libstorefault.la
tests_integration_libstorefault_la_SOURCES = tests/integration/store_fault.c
tests_integration_libstorefault_la_CFLAGS = -std=c11 -Wall -Wextra
tests_integration_libstorefault_la_LDFLAGS = -module -avoid-version \
	-shared -rpath /nowhere
tests_integration_libstorefault_la_LIBADD = -ldl

# apitokend under valgrind while its parsers are fed good and bad input.
TESTS += tests/integration/valgrind-daemon.sh
dist_check_SCRIPTS += tests/integration/valgrind-daemon.sh

# The kept-answer table on its own (libmicrohttpd responses, no daemon).
check_PROGRAMS += tests/unit/test_answer_cache
TESTS += tests/unit/test_answer_cache
tests_unit_test_answer_cache_SOURCES = tests/unit/test_answer_cache.c \
	introspect/answer_cache.c introspect/answer_cache.h
tests_unit_test_answer_cache_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) \
	$(MHD_CFLAGS) $(OPENSSL_CFLAGS) -pthread
tests_unit_test_answer_cache_LDADD = $(unit_ldadd) $(MHD_LIBS) \
	$(OPENSSL_LIBS) -lpthread

# apitokend as a daemon, logging through syslog(3), captured by a preloaded
# double (built without the sanitizer flags, like libstorefault).
check_LTLIBRARIES += tests/integration/libsyslogcap.la
tests_integration_libsyslogcap_la_SOURCES = tests/integration/syslog_capture.c
tests_integration_libsyslogcap_la_CFLAGS = -std=c11 -Wall -Wextra
tests_integration_libsyslogcap_la_LDFLAGS = -module -avoid-version \
	-shared -rpath /nowhere
TESTS += tests/integration/syslog.sh
dist_check_SCRIPTS += tests/integration/syslog.sh

# The request parsers on their own (fuzzed in tests/fuzz/).
introspect_apitokend_SOURCES += introspect/form.c
introspect_apitokend_SOURCES += introspect/local_request.c
TESTS += tests/integration/issuer-startup.sh
dist_check_SCRIPTS += tests/integration/issuer-startup.sh
introspect_apitokend_SOURCES += introspect/listen.c
# Scale (issue 10): the local socket's look for a quick next message,
# compiled into the plugin too (plugin/local.mk).
introspect_apitokend_SOURCES += core/spin_wait.c core/spin_wait.h
check_PROGRAMS += tests/unit/test_spin_wait
TESTS += tests/unit/test_spin_wait
tests_unit_test_spin_wait_SOURCES = tests/unit/test_spin_wait.c \
	core/spin_wait.c core/spin_wait.h
tests_unit_test_spin_wait_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) -pthread
tests_unit_test_spin_wait_LDADD = $(unit_ldadd) -lpthread
# Visibility (issue 13): audit retention in the sweep.
introspect_apitokend_SOURCES += introspect/sweep_audit.c \
	introspect/lastuse.c introspect/jwt.c introspect/leaks.c
introspect_apitokend_CFLAGS += $(CJOSE_CFLAGS)
introspect_apitokend_LDADD += $(CJOSE_LIBS)
TESTS += tests/integration/lastuse.sh tests/integration/signed-answers.sh \
	tests/integration/leaks.sh
dist_check_SCRIPTS += tests/integration/lastuse.sh \
	tests/integration/signed-answers.sh tests/integration/leaks.sh

# Failed-authentication throttling (introspect/throttle.c), reusable by
# every route that authenticates someone.
introspect_apitokend_SOURCES += introspect/throttle.c introspect/throttle.h \
	introspect/auth_throttle.c
check_PROGRAMS += tests/unit/test_throttle
TESTS += tests/unit/test_throttle
tests_unit_test_throttle_SOURCES = tests/unit/test_throttle.c \
	introspect/throttle.c introspect/throttle.h
tests_unit_test_throttle_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) \
	$(OPENSSL_CFLAGS) -pthread
tests_unit_test_throttle_LDADD = $(unit_ldadd) $(OPENSSL_LIBS) -lpthread
# Connection budgets and read deadlines for the HTTP server.
introspect_apitokend_SOURCES += introspect/http_limits.c introspect/http_limits.h
check_PROGRAMS += tests/unit/test_config_limits
TESTS += tests/unit/test_config_limits
tests_unit_test_config_limits_SOURCES = tests/unit/test_config_limits.c
tests_unit_test_config_limits_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_config_limits_LDADD = $(unit_ldadd)
# Hostile HTTP input, slow senders, throttling and a connection flood.
TESTS += tests/integration/front-door.sh
dist_check_SCRIPTS += tests/integration/front-door.sh
dist_check_DATA += tests/integration/front_door.py
# The UNIX sockets' budgets, per-uid limit, deadline and "busy" answer.
TESTS += tests/integration/sockets-busy.sh
dist_check_SCRIPTS += tests/integration/sockets-busy.sh
