/*
 * A validator plugin of ABI major 2, which no 1.x host may use: the test
 * (plugin-fake.sh) checks that tests/plugin/host refuses it before calling
 * anything.  Its functions fail loudly if called.
 */
#include "config.h"

#include <stdlib.h>

#include <apitoken/validator.h>

static int
v2_open(unsigned host_abi, char *const options[], void **handle,
        const char **errstr)
{
	(void)host_abi;
	(void)options;
	(void)handle;
	(void)errstr;
	abort();
}

static int
v2_check(void *handle, const char *token, size_t len, const char *scope,
         struct apitoken_validation *result)
{
	(void)handle;
	(void)token;
	(void)len;
	(void)scope;
	(void)result;
	abort();
}

static void
v2_close(void *handle)
{
	(void)handle;
	abort();
}

const struct apitoken_validator apitoken_validator = {
    .abi_version = 2u << 16,
    .open = v2_open,
    .check = v2_check,
    .close = v2_close,
};
