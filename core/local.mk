# core/: libapitoken.  Each module's sources are added by its own fragment
# (basics.mk, store.mk, admin.mk).
lib_LTLIBRARIES += core/libapitoken.la
core_libapitoken_la_SOURCES = core/error.c core/log.c
core_libapitoken_la_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(CJSON_CFLAGS) -pthread
core_libapitoken_la_LIBADD = $(OPENSSL_LIBS) $(CJSON_LIBS) $(BDB_LIBS) -lpthread
core_libapitoken_la_LDFLAGS = $(AM_LDFLAGS) -version-info 0:0:0 \
	-export-symbols-regex '^apitoken_'
apitokeninclude_HEADERS += core/include/apitoken/error.h \
	core/include/apitoken/log.h core/include/apitoken/config.h \
	core/include/apitoken/token.h core/include/apitoken/policy.h \
	core/include/apitoken/store.h core/include/apitoken/admin.h
pkgconfig_DATA += core/apitoken.pc
EXTRA_DIST += core/apitoken.pc.in
