# core/: administration commands (apitokenctl) and the admin socket.
core_libapitoken_la_SOURCES += core/admin.c core/admin_user.c \
	core/admin_token.c core/admin_client.c core/admin_import.c \
	core/admin_socket.c core/admin_audit.c core/admin_identify.c core/admin_key.c \
	core/signing_keys.c core/include/apitoken/signing.h \
	core/admin_int.h

bin_PROGRAMS += core/apitokenctl
core_apitokenctl_SOURCES = core/cli/apitokenctl.c
core_apitokenctl_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
core_apitokenctl_LDADD = core/libapitoken.la $(OPENSSL_LIBS)

dist_man_MANS += docs/apitokenctl.1
dist_doc_DATA += docs/admin-socket.md

# Tests: the CLI as an admin drives it, offline and through the admin
# socket (admin_echo_server stands in for apitokend), and the socket
# protocol's edge cases.
check_PROGRAMS += tests/integration/admin_echo_server tests/unit/test_admin
tests_integration_admin_echo_server_SOURCES = \
	tests/integration/admin_echo_server.c
tests_integration_admin_echo_server_LDADD = core/libapitoken.la
tests_unit_test_admin_SOURCES = tests/unit/test_admin.c
tests_unit_test_admin_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CJSON_CFLAGS)
tests_unit_test_admin_LDADD = $(unit_ldadd) $(CJSON_LIBS)
cli_tests = tests/integration/cli.sh tests/integration/cli-online.sh \
	tests/integration/cli-import.sh
TESTS += tests/unit/test_admin $(cli_tests)
dist_check_SCRIPTS += $(cli_tests)
# readpassphrase(3) for the token prompt.
core_apitokenctl_CFLAGS += $(LIBBSD_CFLAGS)
core_apitokenctl_LDADD += $(LIBBSD_LIBS)

# Visibility (issue 13): the audit log's actors, filters and retention.
TESTS += tests/integration/audit.sh tests/integration/identify.sh
dist_check_SCRIPTS += tests/integration/audit.sh \
	tests/integration/identify.sh
