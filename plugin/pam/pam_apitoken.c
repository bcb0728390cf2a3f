/*
 * pam_apitoken: the password is an apitoken API token.  A thin front on
 * the validator code (compiled in, not dlopen()ed): see pam_apitoken(8).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "../validator_int.h"

/* Built with -fvisibility=hidden: the PAM entry points must be seen. */
#define EXPORT __attribute__((visibility("default")))

/* pam_set_data() name of the user this module authenticated. */
#define DATA_AUTH_USER "pam_apitoken_auth_user"

static void
free_data(pam_handle_t *pamh, void *data, int status)
{
	(void)pamh;
	(void)status;
	free(data);
}

/*
 * Parse the module arguments and open a validator.  PAM_SUCCESS, or
 * PAM_SERVICE_ERR after logging what is wrong with the arguments.
 */
static int
setup(pam_handle_t *pamh, int argc, const char **argv, struct vhandle **h,
      char **scope_out)
{
	struct vconf conf;
	const char *errstr = NULL;

	*h = NULL;
	if (scope_out != NULL)
		*scope_out = NULL;
	if (vconf_parse(&conf, argc, argv, true, true, &errstr) != 0) {
		pam_syslog(pamh, LOG_ERR, "bad module argument: %s", errstr);
		return PAM_SERVICE_ERR;
	}
	if (scope_out != NULL && conf.scope != NULL) {
		*scope_out = strdup(conf.scope);
		if (*scope_out == NULL) {
			vconf_free(&conf);
			return PAM_BUF_ERR;
		}
	}
	if (vhandle_open(&conf, h, &errstr) != 0) {
		pam_syslog(pamh, LOG_ERR, "cannot set up: %s", errstr);
		vconf_free(&conf);
		if (scope_out != NULL) {
			free(*scope_out);
			*scope_out = NULL;
		}
		return PAM_SERVICE_ERR;
	}
	return PAM_SUCCESS;
}

static const char *
item_str(pam_handle_t *pamh, int type)
{
	const void *v = NULL;

	if (pam_get_item(pamh, type, &v) != PAM_SUCCESS || v == NULL)
		return "";
	return v;
}

EXPORT int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
		    const char **argv)
{
	struct apitoken_validation res;
	struct vhandle *h = NULL;
	const char *user = NULL, *token = NULL, *rhost;
	char *scope = NULL, *copy;
	int rc;

	(void)flags;
	rc = setup(pamh, argc, argv, &h, &scope);
	if (rc != PAM_SUCCESS)
		return rc;
	rc = pam_get_user(pamh, &user, NULL);
	if (rc != PAM_SUCCESS || user == NULL || *user == '\0') {
		rc = PAM_USER_UNKNOWN;
		goto out;
	}
	rhost = item_str(pamh, PAM_RHOST);
	/* PAM owns the authtok and wipes it; we keep no copy of it. */
	rc = pam_get_authtok(pamh, PAM_AUTHTOK, &token, NULL);
	if (rc != PAM_SUCCESS || token == NULL) {
		pam_syslog(pamh, LOG_NOTICE,
			   "no token given; rhost=%s user=%s", rhost, user);
		rc = PAM_AUTH_ERR;
		goto out;
	}
	switch (vhandle_check(h, token, strlen(token), scope, &res)) {
	case APITOKEN_VALIDATION_VALID:
		if (strcmp(res.username, user) != 0) {
			pam_syslog(pamh, LOG_NOTICE,
				   "authentication failure; rhost=%s user=%s "
				   "(token of another user, jti=%s)",
				   rhost, user, res.jti);
			rc = PAM_AUTH_ERR;
			break;
		}
		copy = strdup(user);
		if (copy == NULL ||
		    pam_set_data(pamh, DATA_AUTH_USER, copy, free_data) !=
			    PAM_SUCCESS) {
			free(copy);
			rc = PAM_BUF_ERR;
			break;
		}
		if (vhandle_debug(h))
			pam_syslog(pamh, LOG_DEBUG,
				   "authenticated user=%s jti=%s", user,
				   res.jti);
		rc = PAM_SUCCESS;
		break;
	case APITOKEN_VALIDATION_INVALID:
		pam_syslog(pamh, LOG_NOTICE,
			   "authentication failure; rhost=%s user=%s (%s)",
			   rhost, user, res.reason);
		rc = PAM_AUTH_ERR;
		break;
	default:
		pam_syslog(pamh, LOG_ERR,
			   "authentication service unavailable; rhost=%s "
			   "user=%s (%s)", rhost, user, res.reason);
		rc = PAM_AUTHINFO_UNAVAIL;
		break;
	}
out:
	free(scope);
	vhandle_close(h);
	return rc;
}

EXPORT int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}

EXPORT int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct vhandle *h = NULL;
	const char *user = NULL;
	const void *authed = NULL;
	char reason[APITOKEN_VALIDATION_REASON_MAX] = "";
	struct vconf probe;
	const char *errstr;
	bool remote;
	int rc, active;

	(void)flags;
	/* Which mode?  Parse once without opening, to avoid a connection
	 * in remote mode where account never talks to apitokend. */
	if (vconf_parse(&probe, argc, argv, true, true, &errstr) != 0) {
		pam_syslog(pamh, LOG_ERR, "bad module argument: %s", errstr);
		return PAM_SERVICE_ERR;
	}
	remote = probe.mode == VMODE_REMOTE;
	vconf_free(&probe);

	rc = pam_get_user(pamh, &user, NULL);
	if (rc != PAM_SUCCESS || user == NULL || *user == '\0')
		return PAM_USER_UNKNOWN;

	if (remote) {
		/*
		 * Introspection answers for tokens, not users: trust what
		 * this module's auth step found in this PAM transaction.
		 */
		if (pam_get_data(pamh, DATA_AUTH_USER, &authed) ==
			    PAM_SUCCESS &&
		    authed != NULL && strcmp(authed, user) == 0)
			return PAM_SUCCESS;
		pam_syslog(pamh, LOG_NOTICE,
			   "account refused; user=%s (not authenticated by "
			   "pam_apitoken in this session, mode=remote)", user);
		return PAM_PERM_DENIED;
	}

	rc = setup(pamh, argc, argv, &h, NULL);
	if (rc != PAM_SUCCESS)
		return rc;
	active = vhandle_user_active(h, user, reason, sizeof(reason));
	if (active == 1) {
		rc = PAM_SUCCESS;
	} else if (active == 0) {
		pam_syslog(pamh, LOG_NOTICE,
			   "account refused; user=%s (unknown user or "
			   "API-token access disabled)", user);
		rc = PAM_PERM_DENIED;
	} else {
		pam_syslog(pamh, LOG_ERR,
			   "account service unavailable; user=%s (%s)", user,
			   reason);
		rc = PAM_AUTHINFO_UNAVAIL;
	}
	vhandle_close(h);
	return rc;
}
