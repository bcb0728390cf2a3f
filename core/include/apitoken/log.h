/*
 * apitoken: logging through a sink chosen by the host program.
 *
 * The core never writes to stderr or syslog by itself: apitokenctl installs
 * a stderr sink, apitokend a syslog/stderr sink, pam_apitoken pam_syslog.
 * Messages never contain a token, a secret or a hash of one; tokens are
 * named by their public id.
 */
#ifndef APITOKEN_LOG_H
#define APITOKEN_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

/* Levels share syslog(3)'s numbers so sinks can pass them through. */
enum apitoken_log_level {
	APITOKEN_LOG_ERR = 3,
	APITOKEN_LOG_WARNING = 4,
	APITOKEN_LOG_NOTICE = 5,
	APITOKEN_LOG_INFO = 6,
	APITOKEN_LOG_DEBUG = 7
};

typedef void (*apitoken_log_sink_fn)(int level, const char *msg, void *ctx);

/*
 * Install a sink (NULL: discard everything) and the most verbose level it
 * receives.  Not thread-safe against concurrent apitoken_log(): call it at
 * start-up.  The default sink writes "apitoken: <msg>" lines to stderr at
 * APITOKEN_LOG_WARNING and above.
 */
void apitoken_log_set_sink(apitoken_log_sink_fn sink, void *ctx,
                           int max_level);

/* Ready-made sinks: stderr ("<prog>: msg") and syslog(3). */
void apitoken_log_sink_stderr(int level, const char *msg, void *ctx);
void apitoken_log_sink_syslog(int level, const char *msg, void *ctx);

void apitoken_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif
#endif /* APITOKEN_LOG_H */
