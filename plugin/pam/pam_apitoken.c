/*
 * pam_apitoken: the password is an apitoken API token.  A thin front on
 * the validator code (compiled in, not dlopen()ed): see pam_apitoken(8).
 */
#include "config.h"

#include <pthread.h>
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
 * Local-mode handles are kept for the life of the process (the module is
 * linked nodelete), one per distinct argument list: long-running PAM hosts
 * (dovecot's auth workers, radiusd) then reuse one apitokend connection
 * instead of paying a connect and a daemon thread per login.  The
 * connection is per process (vlocal redials after fork) and serialised by
 * its own mutex.  Remote handles are not kept: secret_file is re-read at
 * every call, so a rotated secret takes effect at once.
 */
#define KEPT_MAX 4
#define ARGS_MAX 2048

static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char args[ARGS_MAX];
	struct vhandle *h;
	char *scope;
} kept[KEPT_MAX];
static unsigned kept_next;

/* The argument list as one string; false if it does not fit. */
static bool
join_args(int argc, const char **argv, char *out, size_t size)
{
	size_t len = 0, n;
	int i;

	for (i = 0; i < argc; i++) {
		n = strlen(argv[i]);
		if (len + n + 2 > size)
			return false;
		memcpy(out + len, argv[i], n);
		len += n;
		out[len++] = '\n';
	}
	out[len] = '\0';
	return true;
}

/* A kept handle for these arguments, or NULL.  Called under kept_lock. */
static int
kept_find(const char *args)
{
	int i;

	for (i = 0; i < KEPT_MAX; i++)
		if (kept[i].h != NULL && strcmp(kept[i].args, args) == 0)
			return i;
	return -1;
}

/*
 * Parse the module arguments and get a validator.  PAM_SUCCESS, or
 * PAM_SERVICE_ERR after logging what is wrong with the arguments.
 * *owned: the caller must vhandle_close() *h (a handle that is not kept).
 * *scope_out points into the handle's slot or is NULL; valid while *h is.
 */
static int
setup(pam_handle_t *pamh, int argc, const char **argv, struct vhandle **h,
      bool *owned, const char **scope_out)
{
	static _Thread_local char args[ARGS_MAX];
	struct vconf conf;
	const char *errstr = NULL;
	char *scope = NULL;
	bool keep;
	int i;

	*h = NULL;
	*owned = true;
	*scope_out = NULL;
	keep = join_args(argc, argv, args, sizeof(args));
	if (keep) {
		(void)pthread_mutex_lock(&kept_lock);
		i = kept_find(args);
		if (i >= 0) {
			*h = kept[i].h;
			*scope_out = kept[i].scope;
			*owned = false;
			(void)pthread_mutex_unlock(&kept_lock);
			return PAM_SUCCESS;
		}
		(void)pthread_mutex_unlock(&kept_lock);
	}
	if (vconf_parse(&conf, argc, argv, true, true, &errstr) != 0) {
		pam_syslog(pamh, LOG_ERR, "bad module argument: %s", errstr);
		return PAM_SERVICE_ERR;
	}
	keep = keep && conf.mode == VMODE_LOCAL;
	if (conf.scope != NULL) {
		scope = strdup(conf.scope);
		if (scope == NULL) {
			vconf_free(&conf);
			return PAM_BUF_ERR;
		}
	}
	if (vhandle_open(&conf, h, &errstr) != 0) {
		pam_syslog(pamh, LOG_ERR, "cannot set up: %s", errstr);
		vconf_free(&conf);
		free(scope);
		return PAM_SERVICE_ERR;
	}
	if (keep) {
		(void)pthread_mutex_lock(&kept_lock);
		if (kept_find(args) < 0) {
			i = (int)(kept_next++ % KEPT_MAX);
			/* An evicted handle may be in use by another thread
			 * right now; leak it rather than free it under
			 * that thread.  At most a few per process. */
			kept[i].h = *h;
			kept[i].scope = scope;
			memcpy(kept[i].args, args, sizeof(args));
			*owned = false;
			*scope_out = scope;
			(void)pthread_mutex_unlock(&kept_lock);
			return PAM_SUCCESS;
		}
		(void)pthread_mutex_unlock(&kept_lock);
	}
	/* Not kept: the scope string lives in the handle's conf. */
	free(scope);
	*scope_out = vhandle_scope(*h);
	return PAM_SUCCESS;
}

static void
release(struct vhandle *h, bool owned)
{
	if (owned)
		vhandle_close(h);
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
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct apitoken_validation res;
	struct vhandle *h = NULL;
	const char *user = NULL, *token = NULL, *rhost, *scope = NULL;
	char *copy;
	bool owned = true;
	int rc;

	/*
	 * PAM_SILENT: this module never talks to the user (no pam_info or
	 * pam_error; its messages go to syslog only), so there is nothing to
	 * silence.  PAM_DISALLOW_NULL_AUTHTOK: an empty token is refused
	 * below whatever the flags, as no empty token is ever valid.
	 */
	(void)flags;
	/* Forget an earlier success in this transaction: account (remote
	 * mode) must trust only the latest authentication. */
	(void)pam_set_data(pamh, DATA_AUTH_USER, NULL, NULL);
	rc = setup(pamh, argc, argv, &h, &owned, &scope);
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
	if (*token == '\0') {
		pam_syslog(pamh, LOG_NOTICE,
		           "authentication failure; rhost=%s user=%s "
		           "(empty token)",
		           rhost, user);
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
		if (copy == NULL || pam_set_data(pamh, DATA_AUTH_USER, copy,
		                                 free_data) != PAM_SUCCESS) {
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
		           "user=%s (%s)",
		           rhost, user, res.reason);
		rc = PAM_AUTHINFO_UNAVAIL;
		break;
	}
out:
	release(h, owned);
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
	const char *errstr, *scope = NULL;
	bool remote, owned = true;
	int rc, active;

	(void)flags;
	/* Which mode?  Parse the options alone: no connection, and no
	 * client secret read, in remote mode where account never talks to
	 * apitokend. */
	if (vconf_parse_options(&probe, argc, argv, true, true, &errstr) !=
	    0) {
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
		           "pam_apitoken in this session, mode=remote)",
		           user);
		return PAM_PERM_DENIED;
	}

	rc = setup(pamh, argc, argv, &h, &owned, &scope);
	if (rc != PAM_SUCCESS)
		return rc;
	active = vhandle_user_active(h, user, reason, sizeof(reason));
	if (active == 1) {
		rc = PAM_SUCCESS;
	} else if (active == 0) {
		pam_syslog(pamh, LOG_NOTICE,
		           "account refused; user=%s (unknown user or "
		           "API-token access disabled)",
		           user);
		rc = PAM_PERM_DENIED;
	} else {
		pam_syslog(pamh, LOG_ERR,
		           "account service unavailable; user=%s (%s)", user,
		           reason);
		rc = PAM_AUTHINFO_UNAVAIL;
	}
	release(h, owned);
	return rc;
}
