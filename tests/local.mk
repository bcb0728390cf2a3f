# tests/: shared test infrastructure.  Every part's tests are listed in that
# part's fragment; they use these helpers.
check_LTLIBRARIES += tests/libunitmain.la
tests_libunitmain_la_SOURCES = tests/unit/unit.c tests/unit/unit.h
tests_libunitmain_la_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_libunitmain_la_LIBADD = $(CHECK_LIBS)
# Link a Check suite with LDADD = $(unit_ldadd)
unit_ldadd = tests/libunitmain.la core/libapitoken.la $(CHECK_LIBS)
dist_check_DATA += tests/lib.sh
dist_check_DATA += tests/valgrind-libdb.supp

# Every unit suite again under valgrind (normal build only).
TESTS += tests/valgrind-unit.sh
dist_check_SCRIPTS += tests/valgrind-unit.sh

# Sources follow .clang-format.
TESTS += tests/style.sh
dist_check_SCRIPTS += tests/style.sh

# Every store write commits through store_write() (the write epoch).
TESTS += tests/store-writes.sh
dist_check_SCRIPTS += tests/store-writes.sh

# libFuzzer targets (tests/fuzz/), a few seconds each; skipped without clang.
TESTS += tests/fuzz/run.sh
dist_check_SCRIPTS += tests/fuzz/run.sh
EXTRA_DIST += tests/fuzz
CLEANFILES += tests/fuzz/bin/obj/*.o tests/fuzz/bin/obj/libunder.a \
	tests/fuzz/bin/obj/probe tests/fuzz/bin/obj/probe.c \
	tests/fuzz/bin/fuzz_*
