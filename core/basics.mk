# core/: token format, scope policy and configuration (owner: basics).
core_libapitoken_la_SOURCES += core/token.c core/scope.c core/policy.c \
	core/config.c core/config_size.c core/config_web.c core/config_int.h
core_libapitoken_la_CFLAGS += $(ZLIB_CFLAGS)
core_libapitoken_la_LIBADD += $(ZLIB_LIBS)

basics_tests = tests/unit/test_token tests/unit/test_config \
	tests/unit/test_policy
check_PROGRAMS += $(basics_tests)
TESTS += $(basics_tests)

basics_test_cflags = $(AM_CFLAGS) $(CHECK_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_token_SOURCES = tests/unit/test_token.c
tests_unit_test_token_CFLAGS = $(basics_test_cflags)
tests_unit_test_token_LDADD = $(unit_ldadd) $(OPENSSL_LIBS)
tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_CFLAGS = $(basics_test_cflags)
tests_unit_test_config_LDADD = $(unit_ldadd)
tests_unit_test_policy_SOURCES = tests/unit/test_policy.c
tests_unit_test_policy_CFLAGS = $(basics_test_cflags)
tests_unit_test_policy_LDADD = $(unit_ldadd)
core_libapitoken_la_SOURCES += core/email.c
