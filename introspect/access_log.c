/*
 * apitokend: one access-log line per HTTP request.  It names the client and
 * the token by their public ids only: never a token, a secret or a hash.
 */
#include "config.h"

#include <apitoken/log.h>

#include "apitokend.h"

void
apitokend_access_log(const char *method, const char *path, unsigned status,
                     double seconds, const char *client_id, const char *jti)
{
	apitoken_log(
	    APITOKEN_LOG_INFO, "access: %s %s %u %.6fs client=%s jti=%s",
	    method != NULL ? method : "-", path != NULL ? path : "-", status,
	    seconds, client_id != NULL && *client_id ? client_id : "-",
	    jti != NULL && *jti ? jti : "-");
}
