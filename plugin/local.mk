# plugin/: validator.so (the dlopen ABI of apitoken/validator.h) and
# pam_apitoken.so, both thin fronts on one convenience library.  It compiles
# core/token.c, core/scope.c, core/error.c and core/spin_wait.c into
# itself, hidden, instead
# of linking libapitoken: that would bring Berkeley DB into the host
# process (DESIGN.md, "One owner process").
noinst_LTLIBRARIES += plugin/libvalidator.la
plugin_core_sources = core/token.c core/scope.c core/error.c \
	core/spin_wait.c core/spin_wait.h
plugin_libvalidator_la_SOURCES = plugin/validator_int.h plugin/options.c \
	plugin/local.c plugin/remote.c plugin/validate.c \
	$(plugin_core_sources)
plugin_libvalidator_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden -pthread \
	$(OPENSSL_CFLAGS) $(CJSON_CFLAGS) $(OAUTH2_CFLAGS) $(CURL_CFLAGS)
plugin_libvalidator_la_LIBADD = $(OAUTH2_LIBS) $(CURL_LIBS) $(CJSON_LIBS) \
	$(OPENSSL_LIBS) -lz -lpthread

# nodelete: hosts such as libpam dlclose() modules after every
# transaction; liboauth2 keeps process-wide state (its cache) that must
# not be set up again on each load.
plugin_so_ldflags = $(AM_LDFLAGS) -module -avoid-version -shared \
	-Wl,-z,nodelete
if !SANITIZERS
plugin_so_ldflags += -Wl,-z,defs
endif

pkglib_LTLIBRARIES += plugin/validator.la
plugin_validator_la_SOURCES = plugin/validator.c
plugin_validator_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden
plugin_validator_la_LIBADD = plugin/libvalidator.la
plugin_validator_la_LDFLAGS = $(plugin_so_ldflags) \
	-Wl,--version-script=$(srcdir)/plugin/validator.map
plugin_validator_la_DEPENDENCIES = plugin/libvalidator.la \
	$(srcdir)/plugin/validator.map
apitokeninclude_HEADERS += plugin/include/apitoken/validator.h

pammod_LTLIBRARIES += plugin/pam/pam_apitoken.la
plugin_pam_pam_apitoken_la_SOURCES = plugin/pam/pam_apitoken.c
plugin_pam_pam_apitoken_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden \
	$(PAM_CFLAGS)
plugin_pam_pam_apitoken_la_LIBADD = plugin/libvalidator.la $(PAM_LIBS)
plugin_pam_pam_apitoken_la_LDFLAGS = $(plugin_so_ldflags) \
	-Wl,--version-script=$(srcdir)/plugin/pam/pam_apitoken.map
plugin_pam_pam_apitoken_la_DEPENDENCIES = plugin/libvalidator.la \
	$(srcdir)/plugin/pam/pam_apitoken.map

EXTRA_DIST += plugin/validator.map plugin/pam/pam_apitoken.map

# Tests: a host program that dlopen()s validator.so, the shell tests that
# drive it, and the benchmark (built, not run by make check).
check_PROGRAMS += tests/plugin/host
check_LTLIBRARIES += tests/plugin/fake_v2.la
tests_plugin_fake_v2_la_SOURCES = tests/plugin/fake_v2.c
tests_plugin_fake_v2_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version \
	-shared -rpath /nowhere
tests_plugin_host_SOURCES = tests/plugin/host.c
tests_plugin_host_LDADD = -ldl -lpthread
TESTS += tests/integration/plugin-fake.sh tests/integration/plugin.sh
dist_check_SCRIPTS += tests/integration/plugin-fake.sh \
	tests/integration/plugin.sh
check_PROGRAMS += tests/plugin/pamtest
tests_plugin_pamtest_SOURCES = tests/plugin/pamtest.c
tests_plugin_pamtest_CFLAGS = $(AM_CFLAGS) $(PAM_CFLAGS)
tests_plugin_pamtest_LDADD = -lpamtest $(PAM_LIBS)
TESTS += tests/integration/pam.sh
dist_check_SCRIPTS += tests/integration/pam.sh
noinst_PROGRAMS += tests/plugin/bench_plugin
tests_plugin_bench_plugin_SOURCES = tests/plugin/bench_plugin.c
tests_plugin_bench_plugin_CFLAGS = $(AM_CFLAGS) $(PAM_CFLAGS)
tests_plugin_bench_plugin_LDADD = $(PAM_LIBS) -ldl
EXTRA_DIST += tests/integration/plugin-bench.sh

dist_man_MANS += docs/pam_apitoken.8
dist_doc_DATA += docs/validator-abi.md
EXTRA_DIST += contrib/pam.d/apitoken

# Unit suite of the shared internals (options, reply parsing).
check_PROGRAMS += tests/plugin/test_validator
tests_plugin_test_validator_SOURCES = tests/plugin/test_validator.c
tests_plugin_test_validator_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_plugin_test_validator_LDADD = tests/libunitmain.la \
	plugin/libvalidator.la $(CHECK_LIBS)
TESTS += tests/plugin/test_validator

# Modules are dlopen()ed by path: libtool's .la files beside them are of no
# use to PAM or to a validator host.  (pammoddir is installed by
# install-data, pkglibdir by install-exec.)
install-exec-hook: install-exec-hook-plugin
install-exec-hook-plugin:
	rm -f "$(DESTDIR)$(pkglibdir)/validator.la"
install-data-hook: install-data-hook-plugin
install-data-hook-plugin:
	rm -f "$(DESTDIR)$(pammoddir)/pam_apitoken.la"
uninstall-hook: uninstall-hook-plugin
uninstall-hook-plugin:
	rm -f "$(DESTDIR)$(pammoddir)/pam_apitoken.so" \
		"$(DESTDIR)$(pkglibdir)/validator.so"
.PHONY: install-exec-hook-plugin install-data-hook-plugin \
	uninstall-hook-plugin

# ABI minors: a validator.so of the next minor (1.1: its result struct has
# one member more), built from the same sources against a copy of the
# header with that member appended, to check in plugin-fake.sh that a
# plugin of a newer minor never writes past a 1.0 host's result.
check_LTLIBRARIES += tests/plugin/validator_next.la
tests_plugin_validator_next_la_SOURCES = plugin/validator.c \
	plugin/options.c plugin/local.c plugin/remote.c plugin/validate.c \
	$(plugin_core_sources)
nodist_tests_plugin_validator_next_la_SOURCES = \
	tests/plugin/next/apitoken/validator.h
tests_plugin_validator_next_la_CPPFLAGS = -I$(top_builddir)/tests/plugin/next \
	$(AM_CPPFLAGS)
tests_plugin_validator_next_la_CFLAGS = $(plugin_libvalidator_la_CFLAGS)
tests_plugin_validator_next_la_LIBADD = $(plugin_libvalidator_la_LIBADD)
tests_plugin_validator_next_la_LDFLAGS = $(AM_LDFLAGS) -module \
	-avoid-version -shared -rpath /nowhere
$(tests_plugin_validator_next_la_OBJECTS): \
	tests/plugin/next/apitoken/validator.h
tests/plugin/next/apitoken/validator.h: \
		$(srcdir)/plugin/include/apitoken/validator.h
	$(MKDIR_P) tests/plugin/next/apitoken
	sed -e 's/^#define APITOKEN_VALIDATOR_ABI_MINOR 0$$/#define APITOKEN_VALIDATOR_ABI_MINOR 1/' \
	    -e 's|^\t/\* ABI 1.0 ends here; later minors append members below. \*/$$|&\n\tchar next_minor_member[512];|' \
	    $(srcdir)/plugin/include/apitoken/validator.h >$@.tmp
	grep -q '^#define APITOKEN_VALIDATOR_ABI_MINOR 1$$' $@.tmp
	grep -q 'next_minor_member' $@.tmp
	mv $@.tmp $@
CLEANFILES += tests/plugin/next/apitoken/validator.h
