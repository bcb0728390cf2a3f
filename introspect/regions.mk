# Regions (issue 9): replication of the store with Berkeley DB's
# replication manager, and apitokend's part (forwarding writes to the
# master, role and staleness reporting, TCP_NODELAY on repmgr sockets).
core_libapitoken_la_SOURCES += core/config_replication.c core/store_rep.c \
	core/admin_status.c
apitokeninclude_HEADERS += core/include/apitoken/replication.h \
	core/include/apitoken/store_rep.h

regions_unit_tests = tests/unit/test_config_replication
check_PROGRAMS += $(regions_unit_tests)
TESTS += $(regions_unit_tests)
tests_unit_test_config_replication_SOURCES = \
	tests/unit/test_config_replication.c
tests_unit_test_config_replication_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_config_replication_LDADD = $(unit_ldadd)

introspect_apitokend_SOURCES += introspect/regions.c introspect/regions.h \
	introspect/regions_int.h introspect/regions_forward.c \
	introspect/regions_sockets.c introspect/regions_uses.c \
	introspect/uses_batch.c
# libdb's calls to these must bind to regions_sockets.c's.
introspect_apitokend_LDFLAGS = $(AM_LDFLAGS) \
	-Wl,--export-dynamic-symbol=setsockopt \
	-Wl,--export-dynamic-symbol=readv -Wl,--export-dynamic-symbol=writev \
	-Wl,--export-dynamic-symbol=send -Wl,--export-dynamic-symbol=close
introspect_apitokend_LDADD += -ldl

# Three sites on 127.0.0.1 (about a minute: failover, staleness).
TESTS += tests/integration/regions.sh
dist_check_SCRIPTS += tests/integration/regions.sh
dist_check_DATA += tests/regions-lib.sh

# store.c calls into store_rep.c: tests linked with the store's sources
# need it too.
store_sources += core/store_rep.c
