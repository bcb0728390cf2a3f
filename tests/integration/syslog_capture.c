/*
 * Test double for syslog(3): preloaded into apitokend, it appends every
 * openlog() and syslog() call to the file named by
 * $APITOKEN_SYSLOG_CAPTURE, one line per call:
 *
 *     openlog IDENT OPTION FACILITY
 *     PRIORITY MESSAGE
 *
 * so that tests/integration/syslog.sh can check what a daemonized
 * apitokend sends to the system log (one message per access-log line, the
 * right priorities, never a secret) on a machine with no syslog daemon.
 * The file is opened per call, with O_APPEND: the daemon forks, and its
 * threads log at once.  A message with a newline would show as two lines,
 * which the test reports as an error.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

/* Prototypes for -Wmissing-prototypes: glibc's fortified entry point. */
void __syslog_chk(int priority, int flag, const char *fmt, ...);
void __vsyslog_chk(int priority, int flag, const char *fmt, va_list ap);

static void
capture(const char *text)
{
	const char *path = getenv("APITOKEN_SYSLOG_CAPTURE");
	size_t len = strlen(text);
	int fd;

	if (path == NULL)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	/* One write: lines from threads do not interleave. */
	(void)write(fd, text, len);
	(void)close(fd);
}

void
openlog(const char *ident, int option, int facility)
{
	char line[512];

	snprintf(line, sizeof(line), "openlog %s %d %d\n",
	         ident != NULL ? ident : "-", option, facility);
	capture(line);
}

void
closelog(void)
{
}

void
vsyslog(int priority, const char *fmt, va_list ap)
{
	char msg[4096], line[4200];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	snprintf(line, sizeof(line), "%d %s\n", priority, msg);
	capture(line);
}

void
syslog(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsyslog(priority, fmt, ap);
	va_end(ap);
}

void
__vsyslog_chk(int priority, int flag, const char *fmt, va_list ap)
{
	(void)flag;
	vsyslog(priority, fmt, ap);
}

void
__syslog_chk(int priority, int flag, const char *fmt, ...)
{
	va_list ap;

	(void)flag;
	va_start(ap, fmt);
	vsyslog(priority, fmt, ap);
	va_end(ap);
}
