# introspect/: notification mail (owner: mail).  Appends the delivery thread
# and the message composer to apitokend (local.mk, included before us,
# defines the program and links libcurl).
introspect_apitokend_SOURCES += introspect/mail.c introspect/mail.h \
	introspect/mail_message.c introspect/mail_int.h

mail_tests = tests/unit/test_mail_message tests/unit/test_mail
check_PROGRAMS += $(mail_tests)
TESTS += $(mail_tests)

# Composition and backoff: no store, no network.
tests_unit_test_mail_message_SOURCES = tests/unit/test_mail_message.c \
	introspect/mail_message.c introspect/mail_int.h
tests_unit_test_mail_message_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_mail_message_LDADD = $(unit_ldadd)

# The delivery thread against tests/smtp_sink.py and an in-memory outbox.
tests_unit_test_mail_SOURCES = tests/unit/test_mail.c introspect/mail.c \
	introspect/mail.h introspect/mail_message.c introspect/mail_int.h
tests_unit_test_mail_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CURL_CFLAGS) \
	$(OPENSSL_CFLAGS) -pthread
tests_unit_test_mail_LDADD = $(unit_ldadd) $(CURL_LIBS) $(OPENSSL_LIBS) \
	-lpthread

dist_check_DATA += tests/smtp_sink.py

# End to end with apitokend, apitokenctl and tests/smtp_sink.py.
TESTS += tests/integration/mail.sh
dist_check_SCRIPTS += tests/integration/mail.sh

# Outbox and cache at scale (issue 10): no polling without a relay, the
# outbox bound, the store_cache key.
TESTS += tests/integration/outbox-scale.sh
dist_check_SCRIPTS += tests/integration/outbox-scale.sh
