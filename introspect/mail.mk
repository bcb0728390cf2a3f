# introspect/: notification mail (owner: mail).  Appends the delivery thread
# and the message composer to apitokend (local.mk, included before us,
# defines the program and links libcurl).
introspect_apitokend_SOURCES += introspect/mail.c introspect/mail.h \
	introspect/mail_message.c introspect/mail_int.h

mail_tests = tests/unit/test_mail_message
check_PROGRAMS += $(mail_tests)
TESTS += $(mail_tests)

tests_unit_test_mail_message_SOURCES = tests/unit/test_mail_message.c \
	introspect/mail_message.c introspect/mail_int.h
tests_unit_test_mail_message_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_mail_message_LDADD = $(unit_ldadd)

dist_check_DATA += tests/smtp_sink.py
