# core/: administration commands (apitokenctl) and the admin socket.
core_libapitoken_la_SOURCES += core/admin.c core/admin_user.c \
	core/admin_token.c core/admin_client.c core/admin_import.c \
	core/admin_socket.c core/admin_int.h

bin_PROGRAMS += core/apitokenctl
core_apitokenctl_SOURCES = core/cli/apitokenctl.c
core_apitokenctl_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
core_apitokenctl_LDADD = core/libapitoken.la $(OPENSSL_LIBS)

dist_man_MANS += docs/apitokenctl.1
