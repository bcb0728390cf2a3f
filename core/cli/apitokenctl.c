/*
 * apitokenctl: the administration command.
 *
 *   apitokenctl [--config FILE] [--store DIR] [--json] COMMAND ...
 *
 * When apitokend holds the store (apitoken_store_owner() > 0) the command
 * runs inside the daemon over the admin socket; otherwise apitokenctl opens
 * the store itself.  Both paths run apitoken_admin_run(), so they print the
 * same and exit the same.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <bsd/readpassphrase.h>
#include <openssl/crypto.h>

#include <apitoken/admin.h>
#include <apitoken/config.h>
#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/signing.h>
#include <apitoken/store.h>

#define PROG "apitokenctl"
#define CALL_TIMEOUT_MS 120000

struct opts {
	const char *config;
	const char *store;
	bool json;
};

static void
die_usage(const char *what, const char *arg)
{
	fprintf(stderr, PROG ": %s '%s'; see apitokenctl --help\n", what, arg);
}

/*
 * Global options come before the command.  Returns the index of the
 * command word, or -1 after printing an error, or -2 for --help, -3 for
 * --version.
 */
static int
parse_global(int argc, char **argv, struct opts *o)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **dest = NULL;
		const char *value;

		if (a[0] != '-' || strcmp(a, "-") == 0)
			break;
		if (strcmp(a, "--") == 0)
			return i + 1;
		if (strcmp(a, "--json") == 0) {
			o->json = true;
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			return -2;
		if (strcmp(a, "--version") == 0)
			return -3;
		if (strncmp(a, "--config", 8) == 0 &&
		    (a[8] == '\0' || a[8] == '='))
			dest = &o->config;
		else if (strncmp(a, "--store", 7) == 0 &&
		         (a[7] == '\0' || a[7] == '='))
			dest = &o->store;
		if (dest == NULL) {
			die_usage("unknown option", a);
			return -1;
		}
		value = strchr(a, '=');
		if (value != NULL) {
			value++;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			die_usage("missing value for option", a);
			return -1;
		}
		if (*value == '\0') {
			die_usage("empty value for option", a);
			return -1;
		}
		*dest = value;
	}
	return i;
}

/*
 * "token check" typed on a terminal: prompt, read without echo, and hand
 * the command a memory stream holding the line.  libbsd's readpassphrase
 * (on the controlling terminal, which stdin is here) turns echo off and
 * gives it back even when a signal (Ctrl-C) ends us at the prompt: it
 * restores the terminal, then lets the signal act.
 */
static FILE *
read_token_tty(char *buf, size_t len)
{
	size_t n;

	if (readpassphrase("token: ", buf, len, RPP_ECHO_OFF) == NULL)
		buf[0] = '\0';
	n = strlen(buf);
	/* readpassphrase drops the newline; the command reads a line. */
	if (n + 1 < len)
		buf[n++] = '\n';
	return fmemopen(buf, n, "r");
}

/*
 * Name the store by its absolute path, as apitokend does (it changes to
 * "/"), so that messages naming it read the same offline and online.
 */
static int
absolute_store(apitoken_config_t *cfg)
{
	char cwd[PATH_MAX], *abs = NULL;
	const char *rel;
	int rc;

	if (cfg->store[0] == '/')
		return EX_OK;
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		fprintf(stderr, PROG ": cannot find the current folder: %s\n",
		        strerror(errno));
		return EX_OSERR;
	}
	rel = cfg->store;
	while (rel[0] == '.' && rel[1] == '/')
		rel += 2 + strspn(rel + 2, "/");
	if (strcmp(rel, ".") == 0)
		rel = "";
	if (asprintf(&abs, "%s%s%s", cwd, *rel != '\0' ? "/" : "", rel) < 0) {
		fprintf(stderr, PROG ": out of memory\n");
		return EX_OSERR;
	}
	rc = apitoken_config_set_store(cfg, abs);
	free(abs);
	if (rc < 0) {
		fprintf(stderr, PROG ": out of memory\n");
		return EX_OSERR;
	}
	return EX_OK;
}

static int
run_offline(apitoken_config_t *cfg, int argc, char **argv,
            const apitoken_admin_io_t *io, bool *busy)
{
	apitoken_store_t *store = NULL;
	bool init = strcmp(argv[0], "init") == 0;
	int rc;

	*busy = false;
	rc = apitoken_store_open(cfg, 0, &store);
	if (rc == APITOKEN_ERR_NOT_FOUND && init) {
		if (argc != 1) {
			fprintf(stderr, PROG ": init: takes no arguments\n");
			return EX_USAGE;
		}
		rc = apitoken_store_open(cfg, APITOKEN_STORE_CREATE, &store);
		if (rc == 0) {
			fprintf(io->out, "created store %s\n", cfg->store);
			apitoken_store_close(store);
			/* The key that signs introspection answers, made
			 * like an SSH host key (apitoken/signing.h). */
			rc = apitoken_signing_ensure(cfg, NULL);
			if (rc < 0) {
				fprintf(stderr, PROG ": %s\n",
				        apitoken_last_error());
				return EX_CANTCREAT;
			}
			return EX_OK;
		}
	}
	if (rc == APITOKEN_ERR_BUSY) {
		*busy = true;
		return EX_UNAVAILABLE;
	}
	if (rc < 0) {
		fprintf(stderr, PROG ": %s\n", apitoken_last_error());
		return rc == APITOKEN_ERR_CONFIG ? EX_CONFIG : EX_UNAVAILABLE;
	}
	rc = apitoken_admin_run(store, argc, argv, io);
	apitoken_store_close(store);
	return rc;
}

static int
run_online(const apitoken_config_t *cfg, int argc, char **argv,
           const apitoken_admin_io_t *io)
{
	int rc;

	rc = apitoken_admin_call(cfg->admin_socket, argc, argv, io,
	                         CALL_TIMEOUT_MS);
	if (rc < 0) {
		fprintf(stderr, PROG ": %s\n", apitoken_last_error());
		if (rc == APITOKEN_ERR_BUSY)
			return EX_TEMPFAIL;
		return rc == APITOKEN_ERR_UNAVAILABLE ? EX_UNAVAILABLE
		                                      : EX_IOERR;
	}
	return rc;
}

int
main(int argc, char **argv)
{
	struct opts o = {0};
	apitoken_config_t *cfg = NULL;
	apitoken_admin_io_t io = {0};
	char origin[64], token_buf[1100], uid[24], source[48];
	apitoken_actor_t actor = {.kind = APITOKEN_ACTOR_ADMIN};
	FILE *tty_in = NULL;
	int first, rc, n;
	bool busy = false;
	long owner;

	apitoken_log_set_sink(apitoken_log_sink_stderr, (void *)PROG,
	                      APITOKEN_LOG_WARNING);
	first = parse_global(argc, argv, &o);
	if (first == -2) {
		apitoken_admin_usage(stdout);
		return EX_OK;
	}
	if (first == -3) {
		printf(PROG " (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
		return EX_OK;
	}
	if (first < 0)
		return EX_USAGE;
	if (first >= argc) {
		apitoken_admin_usage(stderr);
		return EX_USAGE;
	}
	n = argc - first;
	argv += first;
	if (strcmp(argv[0], "help") == 0) {
		apitoken_admin_usage(stdout);
		return EX_OK;
	}

	rc = apitoken_config_load(o.config, &cfg);
	if (rc < 0) {
		fprintf(stderr, PROG ": %s\n", apitoken_last_error());
		return EX_CONFIG;
	}
	if (o.store != NULL && apitoken_config_set_store(cfg, o.store) < 0) {
		fprintf(stderr, PROG ": out of memory\n");
		rc = EX_OSERR;
		goto out;
	}
	rc = absolute_store(cfg);
	if (rc != EX_OK)
		goto out;

	(void)snprintf(origin, sizeof(origin), "apitokenctl uid %u",
	               (unsigned)getuid());
	io.in = stdin;
	io.out = stdout;
	io.err = stderr;
	io.json = o.json;
	io.tty = isatty(STDERR_FILENO) == 1;
	io.origin = origin;
	(void)snprintf(uid, sizeof(uid), "%u", (unsigned)getuid());
	(void)snprintf(source, sizeof(source), "apitokenctl pid %ld",
	               (long)getpid());
	actor.id = uid;
	actor.source = source;
	io.actor = &actor;
	if (n == 2 && strcmp(argv[0], "token") == 0 &&
	    (strcmp(argv[1], "check") == 0 ||
	     strcmp(argv[1], "identify") == 0) &&
	    isatty(STDIN_FILENO) == 1) {
		tty_in = read_token_tty(token_buf, sizeof(token_buf));
		if (tty_in != NULL)
			io.in = tty_in;
	}

	owner = apitoken_store_owner(cfg->store);
	if (owner < 0) {
		fprintf(stderr, PROG ": %s\n", apitoken_last_error());
		rc = EX_UNAVAILABLE;
		goto out;
	}
	if (owner == 0) {
		rc = run_offline(cfg, n, argv, &io, &busy);
		if (!busy)
			goto out;
		/* apitokend took the store in between: ask it. */
	}
	rc = run_online(cfg, n, argv, &io);
out:
	if (tty_in != NULL)
		fclose(tty_in);
	OPENSSL_cleanse(token_buf, sizeof(token_buf));
	apitoken_config_free(cfg);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": cannot write standard output: %s\n",
		        strerror(errno));
		if (rc == EX_OK)
			rc = EX_IOERR;
	}
	return rc;
}
