/*
 * apitokend: one access-log line per HTTP request.  It names the client and
 * the token by their public ids only: never a token, a secret or a hash.
 */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>

#include <apitoken/log.h>

#include "apitokend.h"

void
apitokend_access_log(const char *method, const char *path, unsigned status,
                     double seconds, const char *client_id, const char *jti)
{
	uint64_t us;

	/*
	 * Microseconds as two integers: "%.6f" goes through glibc's
	 * multi-precision float printer, a quarter of this line's cost on
	 * every request.  Same text, rounded to the microsecond.
	 */
	if (!(seconds >= 0) || seconds > 1e9)
		seconds = 0;
	us = (uint64_t)(seconds * 1e6 + 0.5);
	apitoken_log(APITOKEN_LOG_INFO,
	             "access: %s %s %u %" PRIu64 ".%06u"
	             "s client=%s jti=%s",
	             method != NULL ? method : "-", path != NULL ? path : "-",
	             status, us / 1000000, (unsigned)(us % 1000000),
	             client_id != NULL && *client_id ? client_id : "-",
	             jti != NULL && *jti ? jti : "-");
}
