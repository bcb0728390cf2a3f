/* Logging through a host-chosen sink; see apitoken/log.h. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include <apitoken/log.h>

static apitoken_log_sink_fn log_sink = apitoken_log_sink_stderr;
static void *log_ctx;
static int log_max = APITOKEN_LOG_WARNING;

void
apitoken_log_set_sink(apitoken_log_sink_fn sink, void *ctx, int max_level)
{
	log_sink = sink;
	log_ctx = ctx;
	log_max = max_level;
}

void
apitoken_log_sink_stderr(int level, const char *msg, void *ctx)
{
	const char *prog = ctx != NULL ? (const char *)ctx : "apitoken";

	(void)level;
	fprintf(stderr, "%s: %s\n", prog, msg);
}

void
apitoken_log_sink_syslog(int level, const char *msg, void *ctx)
{
	(void)ctx;
	syslog(level, "%s", msg);
}

void
apitoken_log(int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (log_sink == NULL || level > log_max)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_sink(level, msg, log_ctx);
}
