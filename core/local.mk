# core/: libapitoken.  Each module's sources are added by its own fragment
# (basics.mk, store.mk, admin.mk).
# Private (installed in $(pkglibdir), no headers, no pkg-config entry):
# apitokend owns the store and apitokenctl drives it; nothing outside the
# tree may link it (design.md, "One owner process").  It stays a shared
# library so that tests can preload doubles of its functions.
pkglib_LTLIBRARIES += core/libapitoken.la
core_libapitoken_la_SOURCES = core/error.c core/log.c
core_libapitoken_la_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(CJSON_CFLAGS) -pthread
core_libapitoken_la_LIBADD = $(OPENSSL_LIBS) $(CJSON_LIBS) $(BDB_LIBS) -lpthread
core_libapitoken_la_LDFLAGS = $(AM_LDFLAGS) -avoid-version \
	-export-symbols-regex '^apitoken_'
EXTRA_DIST += core/include/apitoken/error.h \
	core/include/apitoken/log.h core/include/apitoken/config.h \
	core/include/apitoken/token.h core/include/apitoken/policy.h \
	core/include/apitoken/store.h core/include/apitoken/admin.h
# The one installed interface is the validator plugin's ABI header.
pkgconfig_DATA += core/apitoken.pc
EXTRA_DIST += core/apitoken.pc.in
# Nothing links libapitoken from outside: its libtool file is of no use.
install-exec-hook: install-exec-hook-core
install-exec-hook-core:
	rm -f "$(DESTDIR)$(pkglibdir)/libapitoken.la"
uninstall-hook: uninstall-hook-core
uninstall-hook-core:
	rm -f "$(DESTDIR)$(pkglibdir)/libapitoken.so"
.PHONY: install-exec-hook-core uninstall-hook-core
