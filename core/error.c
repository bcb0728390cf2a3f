/* Error codes and the per-thread failure detail. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include <apitoken/error.h>

static _Thread_local char last_detail[512];
static _Thread_local int last_code;

const char *
apitoken_strerror(int err)
{
	switch (err) {
	case APITOKEN_OK:
		return "success";
	case APITOKEN_ERR_INTERNAL:
		return "internal error";
	case APITOKEN_ERR_NOMEM:
		return "out of memory";
	case APITOKEN_ERR_INVALID:
		return "invalid input";
	case APITOKEN_ERR_NOT_FOUND:
		return "not found";
	case APITOKEN_ERR_EXISTS:
		return "already exists";
	case APITOKEN_ERR_BUSY:
		return "store is in use by another process";
	case APITOKEN_ERR_STORE:
		return "store failure";
	case APITOKEN_ERR_CONFIG:
		return "configuration error";
	case APITOKEN_ERR_DISABLED:
		return "API-token access is disabled for this user";
	case APITOKEN_ERR_IO:
		return "input/output error";
	case APITOKEN_ERR_CORRUPT:
		return "malformed record in store";
	case APITOKEN_ERR_DENIED:
		return "permission denied";
	case APITOKEN_ERR_UNAVAILABLE:
		return "service unavailable";
	default:
		return "unknown error";
	}
}

const char *
apitoken_last_error(void)
{
	if (last_detail[0] != '\0')
		return last_detail;
	return apitoken_strerror(last_code);
}

int
apitoken_error(int err, const char *fmt, ...)
{
	va_list ap;

	last_code = err;
	va_start(ap, fmt);
	(void)vsnprintf(last_detail, sizeof(last_detail), fmt, ap);
	va_end(ap);
	return err;
}

void
apitoken_error_clear(void)
{
	last_code = 0;
	last_detail[0] = '\0';
}
