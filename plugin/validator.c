/*
 * validator.so: the ABI of apitoken/validator.h over the shared validator
 * code.  The struct below is the library's only exported symbol
 * (validator.map).
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "validator_int.h"

#define MAX_OPTIONS 64

/*
 * Where struct apitoken_validation ends in each minor of this major: a
 * host of minor m owns only end[m] bytes.  Append one entry per minor.
 */
#define END_OF(member)                                                        \
	(offsetof(struct apitoken_validation, member) +                       \
	 sizeof(((struct apitoken_validation *)0)->member))
static const size_t result_end[] = {
    END_OF(reason), /* 1.0 */
};

/*
 * The handle given to the host: the validator's and how much of the
 * host's result it may write.  The validator fills a whole result of
 * this plugin's minor; check() copies out only what the host has.
 */
struct vabi {
	struct vhandle *h;
	size_t result_size;
};

static size_t
result_size(unsigned host_minor)
{
	/* A host of a newer minor has more members than we know: we fill
	 * ours, and it reads its newer ones only from a newer plugin. */
	if (host_minor >= sizeof(result_end) / sizeof(result_end[0]))
		return sizeof(struct apitoken_validation);
	return result_end[host_minor];
}

static int
v_open(unsigned host_abi, char *const options[], void **handle,
       const char **errstr)
{
	static const char *unset = "no error";
	const char *dummy;
	struct vconf conf;
	struct vabi *a;
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
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		vconf_free(&conf);
		*errstr = "out of memory";
		return -1;
	}
	if (vhandle_open(&conf, &a->h, errstr) != 0) {
		vconf_free(&conf);
		free(a);
		return -1;
	}
	a->result_size =
	    result_size(APITOKEN_VALIDATOR_ABI_MINOR_OF(host_abi));
	*handle = a;
	return 0;
}

static int
v_check(void *handle, const char *token, size_t len,
        const char *required_scope, struct apitoken_validation *result)
{
	struct vabi *a = handle;
	struct apitoken_validation full;

	if (result == NULL)
		return APITOKEN_VALIDATION_UNAVAILABLE;
	(void)vhandle_check(a != NULL ? a->h : NULL, token, len,
	                    required_scope, &full);
	/* The host's struct may be shorter than ours (an older minor). */
	memcpy(result, &full, a != NULL ? a->result_size : result_size(0));
	return full.status;
}

static void
v_close(void *handle)
{
	struct vabi *a = handle;

	if (a == NULL)
		return;
	vhandle_close(a->h);
	free(a);
}

__attribute__((visibility("default")))
const struct apitoken_validator apitoken_validator = {
    .abi_version = APITOKEN_VALIDATOR_ABI_VERSION,
    .open = v_open,
    .check = v_check,
    .close = v_close,
};
