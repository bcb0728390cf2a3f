# core/: the token store (Berkeley DB).  Owner: store.
core_libapitoken_la_SOURCES += core/store.c core/store_codec.c \
	core/store_users.c core/store_tokens.c core/store_clients.c \
	core/store_snapshot.c core/store_changes.c core/store_counts.c \
	core/store_audit.c core/store_actor.c core/store_outbox.c \
	core/store_tombstone.c core/store_lastuse.c core/store_int.h \
	core/store_cache.c

store_tests = tests/unit/test_store tests/unit/test_store_lifecycle \
	tests/unit/test_store_codec
check_PROGRAMS += $(store_tests)
TESTS += $(store_tests)
store_test_cflags = $(AM_CFLAGS) $(CHECK_CFLAGS) $(OPENSSL_CFLAGS) -pthread
tests_unit_test_store_SOURCES = tests/unit/test_store.c \
	tests/unit/test_store_util.c tests/unit/test_store_util.h
tests_unit_test_store_CFLAGS = $(store_test_cflags)
tests_unit_test_store_LDADD = $(unit_ldadd) $(OPENSSL_LIBS) $(BDB_LIBS) \
	-lpthread
tests_unit_test_store_lifecycle_SOURCES = tests/unit/test_store_lifecycle.c \
	tests/unit/test_store_util.c tests/unit/test_store_util.h
tests_unit_test_store_lifecycle_CFLAGS = $(store_test_cflags)
tests_unit_test_store_lifecycle_LDADD = $(unit_ldadd) $(OPENSSL_LIBS) \
	$(BDB_LIBS)
# The codec is internal (not exported): link its objects directly.
tests_unit_test_store_codec_SOURCES = tests/unit/test_store_codec.c \
	core/store_codec.c
tests_unit_test_store_codec_CFLAGS = $(store_test_cflags)
tests_unit_test_store_codec_LDADD = $(unit_ldadd)

# Crash test: a writer killed with SIGKILL at random moments.
check_PROGRAMS += tests/crash/crash_writer
tests_crash_crash_writer_SOURCES = tests/crash/crash_writer.c
tests_crash_crash_writer_LDADD = core/libapitoken.la
TESTS += tests/crash/crash-test.sh
dist_check_SCRIPTS += tests/crash/crash-test.sh
# Power loss: the log is synced before any success is reported (strace).
TESTS += tests/crash/sync-order.sh
dist_check_SCRIPTS += tests/crash/sync-order.sh tests/crash/sync-order.py

# Benchmark of the hot path (built by make, never run by make check).
noinst_PROGRAMS += tests/bench/bench_check
tests_bench_bench_check_SOURCES = tests/bench/bench_check.c
tests_bench_bench_check_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) -pthread
tests_bench_bench_check_LDADD = core/libapitoken.la $(OPENSSL_LIBS) -lpthread

# scale (issue 10): tests/bench/scale-bench.sh's population tool, which
# writes store records directly (test-only: past expiry times, commits
# without flush), and its local-socket client harness.
noinst_PROGRAMS += tests/bench/bench_populate tests/bench/bench_local \
	tests/bench/bench_poll
tests_bench_bench_populate_SOURCES = tests/bench/bench_populate.c \
	core/store_codec.c
tests_bench_bench_populate_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_bench_bench_populate_LDADD = core/libapitoken.la $(OPENSSL_LIBS) \
	$(BDB_LIBS)
tests_bench_bench_local_SOURCES = tests/bench/bench_local.c
tests_bench_bench_local_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/plugin/include \
	-pthread
tests_bench_bench_local_LDADD = -ldl -lpthread
tests_bench_bench_poll_SOURCES = tests/bench/bench_poll.c
tests_bench_bench_poll_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/plugin/include
tests_bench_bench_poll_LDADD = -ldl
# Visibility (issue 13): actors, audit filters and retention, tombstones,
# last use.  The codec is internal: its objects are linked directly.
store_visibility_test = tests/unit/test_store_visibility
check_PROGRAMS += $(store_visibility_test)
TESTS += $(store_visibility_test)
tests_unit_test_store_visibility_SOURCES = \
	tests/unit/test_store_visibility.c tests/unit/test_store_util.c \
	tests/unit/test_store_util.h core/store_codec.c
tests_unit_test_store_visibility_CFLAGS = $(store_test_cflags)
tests_unit_test_store_visibility_LDADD = $(unit_ldadd) $(OPENSSL_LIBS) \
	$(BDB_LIBS)

# Change records and running counts.  Linked with the store's sources
# (not the library, whose internals are hidden) so a test can run a
# transaction body of its own.
store_sources = core/store.c core/store_codec.c core/store_users.c \
	core/store_tokens.c core/store_clients.c core/store_snapshot.c \
	core/store_changes.c core/store_counts.c core/store_audit.c \
	core/store_outbox.c core/store_cache.c core/store_actor.c \
	core/store_tombstone.c core/store_lastuse.c
check_PROGRAMS += tests/unit/test_store_changes
TESTS += tests/unit/test_store_changes
tests_unit_test_store_changes_SOURCES = tests/unit/test_store_changes.c \
	tests/unit/test_store_util.c tests/unit/test_store_util.h \
	$(store_sources)
tests_unit_test_store_changes_CFLAGS = $(store_test_cflags)
tests_unit_test_store_changes_LDADD = $(unit_ldadd) $(OPENSSL_LIBS) \
	$(BDB_LIBS) -lpthread
