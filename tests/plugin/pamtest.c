/*
 * A libpamtest application for tests/integration/pam.sh: run
 * pam_authenticate (and pam_acct_mgmt) in one PAM transaction of SERVICE
 * for USER, the token (from $APITOKEN_TEST_TOKEN) answered through the
 * conversation, and compare the results with the expected codes.
 * Prints "pass", or what differed.  Run under pam_wrapper.
 *
 * usage: pamtest SERVICE USER EXPECT_AUTH [EXPECT_ACCOUNT]
 *        codes by name: PAM_SUCCESS, PAM_AUTH_ERR, ...
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpamtest.h>
#include <security/pam_appl.h>

static const struct {
	const char *name;
	int code;
} codes[] = {
    {"PAM_SUCCESS", PAM_SUCCESS},
    {"PAM_AUTH_ERR", PAM_AUTH_ERR},
    {"PAM_AUTHINFO_UNAVAIL", PAM_AUTHINFO_UNAVAIL},
    {"PAM_SERVICE_ERR", PAM_SERVICE_ERR},
    {"PAM_PERM_DENIED", PAM_PERM_DENIED},
    {"PAM_USER_UNKNOWN", PAM_USER_UNKNOWN},
};

static int
code_of(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(codes[i].name, name) == 0)
			return codes[i].code;
	fprintf(stderr, "unknown code %s\n", name);
	exit(2);
}

static int
report(enum pamtest_err perr, const struct pam_testcase *failed)
{
	if (perr == PAMTEST_ERR_OK) {
		printf("pass\n");
		return 0;
	}
	if (perr == PAMTEST_ERR_CASE && failed != NULL)
		printf("fail: operation %d returned %d, expected %d\n",
		       failed->pam_operation, failed->op_rv,
		       failed->expected_rv);
	else
		printf("fail: %s\n", pamtest_strerror(perr));
	return 1;
}

int
main(int argc, char **argv)
{
	const char *token = getenv("APITOKEN_TEST_TOKEN");
	const char *answers[2] = {NULL, NULL};
	struct pamtest_conv_data conv;
	enum pamtest_err perr;

	if (argc < 4 || argc > 5 || token == NULL) {
		fprintf(stderr, "usage: APITOKEN_TEST_TOKEN=... pamtest "
		                "SERVICE USER EXPECT_AUTH [EXPECT_ACCOUNT]\n");
		return 2;
	}
	answers[0] = token;
	memset(&conv, 0, sizeof(conv));
	conv.in_echo_off = answers;

	if (argc == 5) {
		struct pam_testcase tests[] = {
		    pam_test(PAMTEST_AUTHENTICATE, code_of(argv[3])),
		    pam_test(PAMTEST_ACCOUNT, code_of(argv[4])),
		};

		perr = run_pamtest(argv[1], argv[2], &conv, tests, NULL);
		return report(perr, pamtest_failed_case(tests));
	} else {
		struct pam_testcase tests[] = {
		    pam_test(PAMTEST_AUTHENTICATE, code_of(argv[3])),
		};

		perr = run_pamtest(argv[1], argv[2], &conv, tests, NULL);
		return report(perr, pamtest_failed_case(tests));
	}
}
