/*
 * apitokend: main program and daemon lifecycle.
 *
 * Start-up order matters: the store is opened (and its lock taken) before
 * anything else touches the store folder, so stale socket files are
 * removed only by the process that owns the store.  Without --foreground
 * the parent waits on a pipe until the daemon is ready or failed, so
 * "store ... is in use" reaches the terminal and the exit code.
 *
 * Signals are blocked in every thread; the main thread takes them with
 * sigtimedwait(): SIGHUP reloads the configuration, SIGTERM/SIGINT stop,
 * and every second buffered access-log lines are written out.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/store_rep.h>
#include <apitoken/token.h>

#include "answer_cache.h"
#include "tail.h"
#include "apitokend.h"
#include "metrics.h"
#include "regions.h"

struct options {
	const char *config;
	const char *listen;
	const char *store;
	const char *pidfile;
	const char *port_file;
	int ready_fd;
	bool foreground;
	int log_level;
	bool log_level_set;
};

static struct apitokend daemon_state;
static int report_fd = -1; /* pipe to the waiting parent */
static char *config_path;  /* absolute, NULL: default lookup */
static char *pidfile_path;
static char *port_file_path;
static bool pidfile_written;

static void
usage(FILE *out)
{
	fprintf(out, "usage: apitokend [--config FILE] [--foreground] "
	             "[--listen HOST:PORT]\n"
	             "                 [--store DIR] [--pidfile FILE] "
	             "[--port-file FILE]\n"
	             "                 [--ready-fd N] "
	             "[--log-level err|warning|notice|info|debug]\n");
}

/* Tell the waiting parent (if any) how start-up ended, then forget it. */
static void
report(int code, const char *msg)
{
	char buf[1200];
	int n;

	if (report_fd < 0)
		return;
	n = snprintf(buf, sizeof(buf), "%d %s", code, msg != NULL ? msg : "");
	if (n > 0)
		(void)!write(report_fd, buf,
		             (size_t)n < sizeof(buf) ? (size_t)n
		                                     : sizeof(buf) - 1);
	close(report_fd);
	report_fd = -1;
}

static int fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
fail(int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	apitoken_log(APITOKEN_LOG_ERR, "%s", msg);
	report(code, msg);
	return code;
}

static int
exit_code(int err)
{
	switch (err) {
	case APITOKEN_ERR_BUSY:
		return EX_TEMPFAIL;
	case APITOKEN_ERR_CONFIG:
		return EX_CONFIG;
	case APITOKEN_ERR_CORRUPT:
		return EX_DATAERR;
	case APITOKEN_ERR_NOMEM:
	case APITOKEN_ERR_IO:
		return EX_OSERR;
	default:
		return EX_UNAVAILABLE;
	}
}

static char *
absolute(const char *path)
{
	char cwd[PATH_MAX];
	char *abs;

	if (path == NULL)
		return NULL;
	if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		return strdup(path);
	abs = malloc(strlen(cwd) + strlen(path) + 2);
	if (abs != NULL)
		sprintf(abs, "%s/%s", cwd, path);
	return abs;
}

static int
absolutize(char **p)
{
	char *abs;

	if (*p == NULL || (*p)[0] == '/')
		return 0;
	abs = absolute(*p);
	if (abs == NULL)
		return APITOKEN_ERR_NOMEM;
	free(*p);
	*p = abs;
	return 0;
}

static int
replace(char **p, const char *v, size_t len)
{
	char *s = strndup(v, len);

	if (s == NULL)
		return APITOKEN_ERR_NOMEM;
	free(*p);
	*p = s;
	return 0;
}

/* --listen HOST:PORT, HOST may be [v6]. */
static int
set_listen(apitoken_config_t *cfg, const char *arg)
{
	const char *colon = strrchr(arg, ':'), *host = arg;
	size_t hlen;
	char *end;
	unsigned long port;

	if (colon == NULL || colon == arg)
		return apitoken_error(APITOKEN_ERR_CONFIG,
		                      "--listen %s: expected HOST:PORT", arg);
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || colon[1] == '\0' || port > 65535)
		return apitoken_error(APITOKEN_ERR_CONFIG,
		                      "--listen %s: bad port", arg);
	hlen = (size_t)(colon - arg);
	if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') {
		host++;
		hlen -= 2;
	}
	if (replace(&cfg->listen_host, host, hlen) != 0)
		return APITOKEN_ERR_NOMEM;
	cfg->listen_port = (uint16_t)port;
	return 0;
}

/* Command-line settings win over the file, also after a reload. */
static int
apply_options(apitoken_config_t *cfg, const struct options *o)
{
	int rc;

	if (o->store != NULL) {
		char *abs = absolute(o->store);

		if (abs == NULL)
			return APITOKEN_ERR_NOMEM;
		rc = apitoken_config_set_store(cfg, abs);
		free(abs);
		if (rc != 0)
			return rc;
	}
	if (o->listen != NULL) {
		rc = set_listen(cfg, o->listen);
		if (rc != 0)
			return rc;
	}
	/* We chdir("/") when daemonizing: relative paths would move. */
	if (absolutize(&cfg->store) != 0 ||
	    absolutize(&cfg->admin_socket) != 0 ||
	    absolutize(&cfg->local_socket) != 0 ||
	    absolutize(&cfg->tls_cert) != 0 || absolutize(&cfg->tls_key) != 0)
		return APITOKEN_ERR_NOMEM;
	return 0;
}

static void
issuer_for(const apitoken_config_t *cfg, uint16_t port, char *buf, size_t len)
{
	bool v6 = strchr(cfg->listen_host, ':') != NULL;

	snprintf(buf, len, v6 ? "%s://[%s]:%u" : "%s://%s:%u",
	         cfg->tls_cert != NULL ? "https" : "http", cfg->listen_host,
	         (unsigned)port);
}

/* true if the file left issuer to its default (derived from listen). */
static bool
issuer_is_default(const apitoken_config_t *cfg)
{
	char want[300];

	issuer_for(cfg, cfg->listen_port, want, sizeof(want));
	return strcmp(cfg->issuer, want) == 0;
}

/* The kept-answer table; "auto" sizes it from the tokens active now
 * (answer_cache.c), so a store that grew much needs a restart to get
 * a table to match. */
static struct apitokend_answers *
answers_make(struct apitokend *d, const apitoken_config_t *cfg)
{
	bool is_auto =
	    cfg->introspection_cache == APITOKEN_INTROSPECTION_CACHE_AUTO;
	size_t n = cfg->introspection_cache, active = 0;
	struct apitokend_answers *a;

	if (is_auto) {
		if (apitoken_token_count_active(d->store, apitoken_now(),
		                                &active) != 0) {
			apitoken_log(APITOKEN_LOG_WARNING,
			             "introspection_cache auto: %s; sized "
			             "for an empty store",
			             apitoken_last_error());
			apitoken_error_clear();
			active = 0;
		}
		n = apitokend_answers_auto_entries(active,
		                                   apitoken_machine_memory());
	}
	a = apitokend_answers_create(n);
	if (n > 0 && a == NULL)
		apitoken_log(APITOKEN_LOG_WARNING,
		             "introspection_cache: out of memory for %zu "
		             "answers, answers will not be kept",
		             n);
	else if (a != NULL && is_auto)
		apitoken_log(APITOKEN_LOG_INFO,
		             "introspection_cache auto: %zu places for %zu "
		             "active tokens",
		             apitokend_answers_places(a), active);
	apitokend_metrics_set_cache_places(apitokend_answers_places(a));
	return a;
}

/*
 * A default issuer must name where we really listen: --listen may have
 * moved us and port 0 lets the kernel choose, and metadata naming port 0
 * would point clients nowhere.  An issuer set in the file is kept as is.
 * cfg must not be visible to another thread yet: at start the socket is
 * bound before any thread exists, on reload cfg is published afterwards.
 */
static int
fix_issuer(apitoken_config_t *cfg, bool is_default, uint16_t bound)
{
	char want[300], *fixed;

	if (!is_default)
		return 0;
	issuer_for(cfg, bound, want, sizeof(want));
	if (strcmp(cfg->issuer, want) == 0)
		return 0;
	fixed = strdup(want);
	if (fixed == NULL)
		return APITOKEN_ERR_NOMEM;
	free(cfg->issuer);
	cfg->issuer = fixed;
	return 0;
}

static int
write_file_atomic(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -1;
	f = fopen(tmp, "w");
	if (f == NULL)
		return -1;
	fputs(text, f);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int
parse_level(const char *s)
{
	static const struct {
		const char *name;
		int level;
	} levels[] = {
	    {"err", APITOKEN_LOG_ERR},         {"error", APITOKEN_LOG_ERR},
	    {"warning", APITOKEN_LOG_WARNING}, {"notice", APITOKEN_LOG_NOTICE},
	    {"info", APITOKEN_LOG_INFO},       {"debug", APITOKEN_LOG_DEBUG}};
	size_t i;

	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcasecmp(s, levels[i].name) == 0)
			return levels[i].level;
	return -1;
}

static int
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"listen", required_argument, NULL, 'l'},
	    {"store", required_argument, NULL, 's'},
	    {"pidfile", required_argument, NULL, 'p'},
	    {"port-file", required_argument, NULL, 'P'},
	    {"ready-fd", required_argument, NULL, 'r'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	char *end;
	long v;
	int ch;

	memset(o, 0, sizeof(*o));
	o->ready_fd = -1;
	while ((ch = getopt_long(argc, argv, "c:fl:s:p:", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'c':
			o->config = optarg;
			break;
		case 'f':
			o->foreground = true;
			break;
		case 'l':
			o->listen = optarg;
			break;
		case 's':
			o->store = optarg;
			break;
		case 'p':
			o->pidfile = optarg;
			break;
		case 'P':
			o->port_file = optarg;
			break;
		case 'r':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || v < 0 ||
			    v > INT_MAX || fcntl((int)v, F_GETFD) < 0) {
				fprintf(stderr,
				        "apitokend: --ready-fd %s: "
				        "not an open file descriptor\n",
				        optarg);
				return EX_USAGE;
			}
			o->ready_fd = (int)v;
			break;
		case 'L':
			o->log_level = parse_level(optarg);
			if (o->log_level < 0) {
				fprintf(stderr,
				        "apitokend: --log-level %s: "
				        "expected err, warning, notice, info "
				        "or debug\n",
				        optarg);
				return EX_USAGE;
			}
			o->log_level_set = true;
			break;
		case 'h':
			usage(stdout);
			exit(EX_OK);
		case 'V':
			printf("apitokend %s\n", PACKAGE_VERSION);
			exit(EX_OK);
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "apitokend: unexpected argument %s\n",
		        argv[optind]);
		usage(stderr);
		return EX_USAGE;
	}
	return 0;
}

/*
 * Detach: fork, setsid, fork again.  The original process waits for the
 * grandchild's report and exits with its code.  Returns in the daemon.
 */
static void
daemonize(void)
{
	int p[2], status, nul;
	char buf[1200];
	ssize_t n, total = 0;
	pid_t pid;

	if (pipe(p) != 0) {
		fprintf(stderr, "apitokend: pipe: %s\n", strerror(errno));
		exit(EX_OSERR);
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "apitokend: fork: %s\n", strerror(errno));
		exit(EX_OSERR);
	}
	if (pid > 0) {
		close(p[1]);
		while ((n = read(p[0], buf + total,
		                 sizeof(buf) - 1 - (size_t)total)) > 0)
			total += n;
		buf[total] = '\0';
		if (total == 0) {
			fprintf(stderr, "apitokend: the daemon exited during "
			                "start-up (see syslog)\n");
			exit(EX_SOFTWARE);
		}
		status = atoi(buf);
		if (status != 0 && strchr(buf, ' ') != NULL)
			fprintf(stderr, "apitokend: %s\n",
			        strchr(buf, ' ') + 1);
		exit(status);
	}
	close(p[0]);
	if (setsid() < 0)
		_exit(EX_OSERR);
	pid = fork();
	if (pid < 0)
		_exit(EX_OSERR);
	if (pid > 0)
		_exit(0);
	report_fd = p[1];
	if (chdir("/") != 0)
		_exit(EX_OSERR);
	umask(022);
	nul = open("/dev/null", O_RDWR);
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		if (nul > 2)
			close(nul);
	}
}

static void
free_gens(struct apitokend_gen *g)
{
	struct apitokend_gen *prev;

	for (; g != NULL; g = prev) {
		prev = g->prev;
		if (g->metadata != NULL)
			MHD_destroy_response(g->metadata);
		apitoken_config_free(g->cfg);
		free(g);
	}
}

static void
reload(struct apitokend *d, const struct options *o)
{
	struct apitokend_gen *old = apitokend_gen(d), *g = NULL;
	apitoken_config_t *nc = NULL;
	bool default_issuer = false;
	int rc;

	rc = apitoken_config_load(config_path, &nc);
	if (rc == 0) {
		default_issuer = issuer_is_default(nc);
		rc = apply_options(nc, o);
	}
	if (rc != 0) {
		apitoken_log(APITOKEN_LOG_ERR,
		             "reload failed, keeping the "
		             "old configuration: %s",
		             apitoken_last_error());
		goto fail;
	}
	if (strcmp(nc->store, old->cfg->store) != 0 ||
	    strcmp(nc->listen_host, old->cfg->listen_host) != 0 ||
	    (nc->listen_port != old->cfg->listen_port &&
	     nc->listen_port != 0) ||
	    strcmp(nc->admin_socket, old->cfg->admin_socket) != 0 ||
	    strcmp(nc->local_socket, old->cfg->local_socket) != 0 ||
	    nc->introspection_cache != old->cfg->introspection_cache)
		apitoken_log(APITOKEN_LOG_WARNING,
		             "reload: store, listen, socket and "
		             "introspection_cache changes take effect only "
		             "after a restart");
	if (apitoken_config_set_store(nc, old->cfg->store) != 0)
		goto fail;
	if (fix_issuer(nc, default_issuer, d->port) != 0)
		goto fail;
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		goto fail;
	g->cfg = nc;
	g->metadata = apitokend_metadata_create(nc);
	if (g->metadata == NULL)
		goto fail;
	g->prev = old;
	apitoken_store_set_config(d->store, nc);
	atomic_store_explicit(&d->gen, g, memory_order_release);
	/* nc lives on in the generation list: the mail thread may keep it. */
	if (apitokend_mail_reconfigure(d->mail, nc) != 0)
		apitoken_log(APITOKEN_LOG_ERR,
		             "reload: mail settings kept: %s",
		             apitoken_last_error());
	apitoken_log(APITOKEN_LOG_NOTICE, "configuration reloaded%s%s",
	             config_path != NULL ? " from " : "",
	             config_path != NULL ? config_path : "");
	return;
fail:
	free(g);
	apitoken_config_free(nc);
}

/*
 * HTTP allows 1024 connections and each socket client has its own: the
 * usual soft limit of 1024 descriptors would be hit first, so raise it to
 * the hard limit.
 */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		apitoken_log(APITOKEN_LOG_WARNING,
		             "cannot raise the open files limit: %s",
		             strerror(errno));
}

static void
sink_stderr(int level, const char *msg, void *ctx)
{
	apitoken_log_sink_stderr(level, msg, ctx);
}

int
main(int argc, char **argv)
{
	struct apitokend *d = &daemon_state;
	struct apitokend_gen *g = NULL;
	apitoken_config_t *cfg = NULL;
	struct options o;
	char token[APITOKEN_TOKEN_LEN + 1];
	char addr[300], status[320];
	bool default_issuer = false;
	sigset_t sigs;
	const struct timespec flush_every = {
	    ACCESS_FLUSH_MS / 1000, ACCESS_FLUSH_MS % 1000 * 1000000L};
	int rc, sig, level, code = EX_OK;

	d->listen_fd = -1;
	rc = parse_options(argc, argv, &o);
	if (rc != 0)
		return rc;
	if (o.config != NULL) {
		config_path = absolute(o.config);
		if (config_path == NULL)
			return EX_OSERR;
	}
	pidfile_path = absolute(o.pidfile);
	port_file_path = absolute(o.port_file);

	rc = apitoken_config_load(config_path, &cfg);
	if (rc == 0) {
		default_issuer = issuer_is_default(cfg);
		rc = apply_options(cfg, &o);
	}
	if (rc != 0) {
		fprintf(stderr, "apitokend: %s\n", apitoken_last_error());
		apitoken_config_free(cfg);
		return exit_code(rc) == EX_OSERR ? EX_OSERR : EX_CONFIG;
	}
	if (cfg->tls_cert != NULL || cfg->tls_key != NULL) {
		if (cfg->tls_cert == NULL || cfg->tls_key == NULL) {
			fprintf(stderr,
			        "apitokend: %s: tls_cert and tls_key "
			        "must be set together\n",
			        cfg->path != NULL ? cfg->path : "config");
			apitoken_config_free(cfg);
			return EX_CONFIG;
		}
		if (apitokend_read_pem(cfg->tls_cert, &d->tls_cert) != 0 ||
		    apitokend_read_pem(cfg->tls_key, &d->tls_key) != 0) {
			fprintf(stderr, "apitokend: %s\n",
			        apitoken_last_error());
			apitokend_free_pem(d->tls_cert);
			apitoken_config_free(cfg);
			return EX_CONFIG;
		}
	}

	if (!o.foreground) {
		daemonize();
		openlog("apitokend", LOG_PID, LOG_DAEMON);
		level = o.log_level_set ? o.log_level : APITOKEN_LOG_NOTICE;
		apitoken_log_set_sink(apitoken_log_sink_syslog, NULL, level);
		apitokend_access_log_init(-1, level >= APITOKEN_LOG_INFO);
	} else {
		level = o.log_level_set ? o.log_level : APITOKEN_LOG_INFO;
		apitoken_log_set_sink(sink_stderr, "apitokend", level);
		apitokend_access_log_init(STDERR_FILENO,
		                          level >= APITOKEN_LOG_INFO);
	}

	/* Every thread created from here on inherits the blocked set. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	raise_fd_limit();
	g = calloc(1, sizeof(*g));
	if (g == NULL) {
		apitoken_config_free(cfg);
		code = fail(EX_OSERR, "out of memory");
		goto out;
	}
	g->cfg = cfg;
	atomic_store(&d->gen, g);

	rc = apitoken_store_open(
	    cfg, APITOKEN_STORE_CREATE | APITOKEN_STORE_REPLICATE, &d->store);
	if (rc != 0) {
		code = fail(exit_code(rc), "%s", apitoken_last_error());
		goto out;
	}
	rc = apitokend_tail_start(d);
	if (rc != 0) {
		code = fail(exit_code(rc), "%s", apitoken_last_error());
		goto out;
	}
	if (apitoken_token_create(APITOKEN_TOKEN_PREFIX, token) != 0) {
		code = fail(EX_SOFTWARE, "%s", apitoken_last_error());
		goto out;
	}
	memcpy(d->health_token, token, sizeof(token));
	OPENSSL_cleanse(token, sizeof(token));

	/* Bind first: the issuer names the bound port and is final before
	 * any thread that could read it exists. */
	rc = apitokend_listen_bind(cfg, &d->listen_fd, &d->port);
	if (rc == 0 && fix_issuer(cfg, default_issuer, d->port) != 0)
		rc = apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	if (rc == 0)
		rc = apitokend_regions_start(d);
	if (rc != 0) {
		code = fail(exit_code(rc), "%s", apitoken_last_error());
		goto out;
	}
	rc = apitokend_sockets_start(d);
	if (rc != 0) {
		code = fail(exit_code(rc), "%s", apitoken_last_error());
		goto out;
	}
	rc = apitokend_http_start(d);
	if (rc != 0) {
		code = fail(exit_code(rc), "%s", apitoken_last_error());
		goto out;
	}
	/* MHD owns the socket now (it closes it when it stops). */
	d->listen_fd = -1;
	atomic_store_explicit(&d->answers, answers_make(d, cfg),
	                      memory_order_release);
	g->metadata = apitokend_metadata_create(cfg);
	if (g->metadata == NULL) {
		code = fail(EX_OSERR, "out of memory");
		goto out;
	}
	rc = apitokend_mail_start(d->store, cfg, &d->mail);
	if (rc != 0) {
		d->mail = NULL;
		code = fail(exit_code(rc), "%s", apitoken_last_error());
		goto out;
	}
	rc = apitokend_sweep_start(d);
	if (rc != 0) {
		code = fail(exit_code(rc), "%s", apitoken_last_error());
		goto out;
	}
	rc = apitokend_jwt_start(d);
	if (rc == 0)
		rc = apitokend_leaks_start();
	if (rc != 0) {
		code = fail(exit_code(rc), "%s", apitoken_last_error());
		goto out;
	}

	snprintf(addr, sizeof(addr),
	         strchr(cfg->listen_host, ':') ? "[%s]:%u\n" : "%s:%u\n",
	         cfg->listen_host, (unsigned)d->port);
	if (pidfile_path != NULL) {
		char pid[32];

		snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
		if (write_file_atomic(pidfile_path, pid) != 0) {
			code = fail(EX_CANTCREAT, "cannot write %s: %s",
			            pidfile_path, strerror(errno));
			goto out;
		}
		pidfile_written = true;
	}
	if (port_file_path != NULL &&
	    write_file_atomic(port_file_path, addr) != 0) {
		code = fail(EX_CANTCREAT, "cannot write %s: %s",
		            port_file_path, strerror(errno));
		goto out;
	}
	if (o.ready_fd >= 0) {
		(void)!write(o.ready_fd, addr, strlen(addr));
		close(o.ready_fd);
	}
	addr[strcspn(addr, "\n")] = '\0';
	apitoken_log(APITOKEN_LOG_NOTICE, "listening on %s%s (store %s)",
	             d->tls_cert != NULL ? "https://" : "", addr, cfg->store);
	report(0, NULL);
	(void)snprintf(status, sizeof(status), "listening on %s%s",
	               d->tls_cert != NULL ? "https://" : "", addr);
	apitokend_notify_ready(status);

	for (;;) {
		/* Wake at least every ACCESS_FLUSH_MS: a quiet worker's
		 * access-log lines must not wait for its next request. */
		sig = sigtimedwait(&sigs, NULL, &flush_every);
		apitokend_access_log_flush();
		if (sig < 0)
			continue;
		if (sig == SIGHUP) {
			apitokend_notify_reloading();
			reload(d, &o);
			apitokend_jwt_reload(d);
			apitokend_notify_ready(status);
			continue;
		}
		apitokend_notify_stopping();
		apitoken_log(APITOKEN_LOG_NOTICE, "%s: shutting down",
		             sig == SIGTERM ? "SIGTERM" : "SIGINT");
		if (apitokend_regions_restart_wanted())
			code = EX_TEMPFAIL; /* systemd starts us again */
		break;
	}
out:
	apitokend_http_stop(d);
	apitokend_access_log_flush();
	apitokend_sockets_stop(d);
	apitokend_sha256_cleanup();
	apitokend_sweep_stop(d);
	apitokend_regions_stop(d);
	apitokend_jwt_stop();
	apitokend_leaks_stop();
	if (d->mail != NULL)
		apitokend_mail_stop(d->mail);
	/* After every writer: the store's hook points into the tail. */
	apitokend_tail_stop(d);
	apitokend_answers_destroy(d->answers);
	if (d->store != NULL)
		apitoken_store_close(d->store);
	if (pidfile_written)
		unlink(pidfile_path);
	free_gens(apitokend_gen(d));
	if (d->listen_fd >= 0)
		(void)close(d->listen_fd);
	apitokend_free_pem(d->tls_key);
	apitokend_free_pem(d->tls_cert);
	free(config_path);
	free(pidfile_path);
	free(port_file_path);
	if (code == EX_OK)
		apitoken_log(APITOKEN_LOG_NOTICE, "stopped");
	return code;
}
