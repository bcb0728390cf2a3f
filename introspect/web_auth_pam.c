/*
 * apitokend: checking a user name and password through Linux-PAM (the
 * service from web.pam_service: pam_unix, sssd, LDAP...).  Runs on a
 * thread of its own (web.c): modules may block for seconds (a failure
 * delay, a directory server).  The password is handed to PAM only through
 * the conversation and never copied anywhere else.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <security/pam_appl.h>

#include <apitoken/error.h>

#include "web.h"

struct conv_data {
	const char *user;
	const char *password;
};

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp_out,
     void *appdata)
{
	const struct conv_data *cd = appdata;
	struct pam_response *resp;
	int i;

	*resp_out = NULL;
	if (n <= 0 || n > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	resp = calloc((size_t)n, sizeof(*resp));
	if (resp == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		const char *answer = NULL;

		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
			answer = cd->password;
			break;
		case PAM_PROMPT_ECHO_ON:
			answer = cd->user;
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			continue;
		default:
			goto fail;
		}
		resp[i].resp = strdup(answer);
		if (resp[i].resp == NULL)
			goto fail;
	}
	*resp_out = resp;
	return PAM_SUCCESS;
fail:
	for (i = 0; i < n; i++)
		if (resp[i].resp != NULL) {
			explicit_bzero(resp[i].resp, strlen(resp[i].resp));
			free(resp[i].resp);
		}
	free(resp);
	return PAM_CONV_ERR;
}

int
web_pam_authenticate(const char *service, const char *user,
                     const char *password)
{
	struct conv_data cd = {user, password};
	struct pam_conv pc = {conv, &cd};
	pam_handle_t *ph = NULL;
	int ret, rc;

	ret = pam_start(service, user, &pc, &ph);
	if (ret != PAM_SUCCESS)
		return apitoken_error(APITOKEN_ERR_UNAVAILABLE,
		                      "PAM service %s: %s", service,
		                      pam_strerror(NULL, ret));
	ret = pam_authenticate(ph, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	if (ret == PAM_SUCCESS)
		ret =
		    pam_acct_mgmt(ph, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	switch (ret) {
	case PAM_SUCCESS:
		rc = 0;
		break;
	case PAM_AUTH_ERR:
	case PAM_USER_UNKNOWN:
	case PAM_MAXTRIES:
	case PAM_CRED_INSUFFICIENT:
	case PAM_ACCT_EXPIRED:
	case PAM_NEW_AUTHTOK_REQD:
	case PAM_PERM_DENIED:
		rc = apitoken_error(APITOKEN_ERR_DENIED, "PAM: %s",
		                    pam_strerror(ph, ret));
		break;
	default:
		rc = apitoken_error(APITOKEN_ERR_UNAVAILABLE,
		                    "PAM service %s: %s", service,
		                    pam_strerror(ph, ret));
		break;
	}
	pam_end(ph, ret);
	return rc;
}
