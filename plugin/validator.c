/*
 * validator.so: the ABI of apitoken/validator.h over the shared validator
 * code.  The struct below is the library's only exported symbol
 * (validator.map).
 */
#include "config.h"

#include <stddef.h>

#include "validator_int.h"

#define MAX_OPTIONS 64

static int
v_open(unsigned host_abi, char *const options[], void **handle,
       const char **errstr)
{
	static const char *unset = "no error";
	const char *dummy;
	struct vconf conf;
	struct vhandle *h = NULL;
	int n = 0;

	if (errstr == NULL)
		errstr = &dummy;
	*errstr = unset;
	if (handle == NULL) {
		*errstr = "handle pointer is NULL";
		return -1;
	}
	*handle = NULL;
	if (APITOKEN_VALIDATOR_ABI_MAJOR_OF(host_abi) !=
	    APITOKEN_VALIDATOR_ABI_MAJOR) {
		*errstr = "host speaks another major version of the "
		          "apitoken validator ABI";
		return -1;
	}
	while (options != NULL && options[n] != NULL) {
		if (++n > MAX_OPTIONS) {
			*errstr = "too many options";
			return -1;
		}
	}
	if (vconf_parse(&conf, n, (const char *const *)options, false, false,
	                errstr) != 0)
		return -1;
	if (vhandle_open(&conf, &h, errstr) != 0) {
		vconf_free(&conf);
		return -1;
	}
	*handle = h;
	return 0;
}

static int
v_check(void *handle, const char *token, size_t len,
        const char *required_scope, struct apitoken_validation *result)
{
	return vhandle_check(handle, token, len, required_scope, result);
}

static void
v_close(void *handle)
{
	vhandle_close(handle);
}

__attribute__((visibility("default")))
const struct apitoken_validator apitoken_validator = {
    .abi_version = APITOKEN_VALIDATOR_ABI_VERSION,
    .open = v_open,
    .check = v_check,
    .close = v_close,
};
