/*
 * apitokend tells a service manager how it stands (sd_notify(3)): READY=1
 * once it answers on every socket, RELOADING=1 and READY=1 around a
 * SIGHUP reload, STOPPING=1 when it shuts down, each with a STATUS= line.
 * With systemd's Type=notify (contrib/systemd/apitokend.service) units
 * ordered after apitokend start when it can answer, not when it was
 * forked, and `systemctl reload` returns once the reload is done.
 *
 * Without $NOTIFY_SOCKET (not started by systemd) sd_notify() does
 * nothing; built without libsystemd (--without-systemd) neither do these.
 */
#include "config.h"

#include <stdio.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include <apitoken/log.h>

#include "apitokend.h"

static void
notify(const char *state, const char *status)
{
#ifdef HAVE_SYSTEMD
	char msg[512];
	int rc;

	(void)snprintf(msg, sizeof(msg), "%s\nSTATUS=%s", state, status);
	rc = sd_notify(0, msg);
	if (rc < 0)
		apitoken_log(
		    APITOKEN_LOG_WARNING,
		    "cannot notify the service manager (%s): error %d", state,
		    -rc);
#else
	(void)state;
	(void)status;
#endif
}

void
apitokend_notify_ready(const char *status)
{
	notify("READY=1", status);
}

void
apitokend_notify_reloading(void)
{
	notify("RELOADING=1", "reloading the configuration");
}

void
apitokend_notify_stopping(void)
{
	notify("STOPPING=1", "shutting down");
}
