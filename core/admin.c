/*
 * Administration commands: dispatch, shared helpers, and the small
 * commands (init, purge, audit, outbox).  See apitoken/admin.h.
 *
 * Everything here may run in many apitokend threads at once: no global
 * state, no getopt, gmtime_r.
 */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <openssl/crypto.h>

#include <apitoken/error.h>

#include "admin_int.h"

void
apitoken_admin_usage(FILE *out)
{
	/* clang-format off */
	static const char usage[] =
"usage: apitokenctl [--config FILE] [--store DIR] [--json] COMMAND ...\n"
"\n"
"  init                            create the store (fine if it exists)\n"
"  user add USER --email ADDR --role ROLE [--bu ID]...\n"
"  user set USER [--email ADDR] [--role ROLE] [--bu ID]... [--clear-bu]\n"
"  user api-access USER on|off     the user's API-token option\n"
"  user remove USER                remove (revokes the token)\n"
"  user show USER\n"
"  user list\n"
"  user import FILE|-              bulk add from CSV or JSON lines\n"
"  token generate USER [--replace] print a new token once on stdout\n"
"  token revoke USER\n"
"  token show USER                 public facts, never the token\n"
"  token list [--expiring-within DURATION] [--unused-for DURATION]\n"
"  token check                     read a token on stdin, print claims\n"
"  token identify                  read a token on stdin: whose, its state\n"
"                                  (active, disabled, expired, revoked,\n"
"                                  unknown), dates, last use\n"
"  client add CLIENT_ID [--name TEXT] [--can-revoke] [--can-report-leaks]\n"
"                                  [--can-manage]\n"
"  client remove CLIENT_ID\n"
"  client list\n"
"  purge                           delete expired tokens\n"
"  audit [USER] [--user USER] [--event EVENT] [--since TIME]\n"
"        [--until TIME] [--actor KIND[:ID]]   the audit log (--json:\n"
"                                  one JSON object per line)\n"
"  key list                        keys that sign introspection answers\n"
"  key rotate                      new signing key; the old one stays\n"
"                                  published until key retire\n"
"  key retire                      stop publishing the previous key\n"
"  outbox list                     queued notifications\n"
"  outbox retry                    make every queued notification due\n"
"  status                          replication: role, master, sites, lag\n"
"  help, --help, --version\n"
"\n"
"CSV columns: user,email,role,unit;unit (header optional).  JSON lines:\n"
"{\"user\":..,\"email\":..,\"role\":..,\"business_units\":[..]}.\n"
"Durations: <n>s|m|h|d|w.  Exit codes: sysexits(3); token check exits\n"
"1 for an inactive token.\n";
	/* clang-format on */

	fputs(usage, out);
}

void
admin_errorf(const apitoken_admin_io_t *io, const char *fmt, ...)
{
	va_list ap;

	fputs(ADMIN_PROG ": ", io->err);
	va_start(ap, fmt);
	vfprintf(io->err, fmt, ap);
	va_end(ap);
	fputc('\n', io->err);
}

int
admin_exit_code(int err)
{
	switch (err) {
	case APITOKEN_OK:
		return EX_OK;
	case APITOKEN_ERR_INVALID:
		return EX_DATAERR;
	case APITOKEN_ERR_NOT_FOUND:
		return EX_NOUSER;
	case APITOKEN_ERR_EXISTS:
		return EX_CANTCREAT;
	case APITOKEN_ERR_DISABLED:
	case APITOKEN_ERR_DENIED:
		return EX_NOPERM;
	case APITOKEN_ERR_CONFIG:
		return EX_CONFIG;
	case APITOKEN_ERR_NOMEM:
		return EX_OSERR;
	case APITOKEN_ERR_IO:
		return EX_IOERR;
	case APITOKEN_ERR_BUSY:
	case APITOKEN_ERR_STORE:
	case APITOKEN_ERR_CORRUPT:
	case APITOKEN_ERR_UNAVAILABLE:
		return EX_UNAVAILABLE;
	default:
		return EX_SOFTWARE;
	}
}

int
admin_fail(const apitoken_admin_io_t *io, int err)
{
	admin_errorf(io, "%s", apitoken_last_error());
	return admin_exit_code(err);
}

void
admin_time_iso(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(buf, len, "-");
}

int
admin_print_json(const apitoken_admin_io_t *io, cJSON *value)
{
	char *text;

	if (value == NULL) {
		admin_errorf(io, "out of memory");
		return EX_OSERR;
	}
	text = cJSON_Print(value);
	cJSON_Delete(value);
	if (text == NULL) {
		admin_errorf(io, "out of memory");
		return EX_OSERR;
	}
	fprintf(io->out, "%s\n", text);
	cJSON_free(text);
	return EX_OK;
}

int
admin_dispatch(apitoken_store_t *store, int argc, char **argv,
               const apitoken_admin_io_t *io, const struct admin_subcmd *table,
               size_t n)
{
	char names[256];
	size_t i, used = 0;

	for (i = 0; argc >= 2 && i < n; i++)
		if (table[i].fn != NULL && strcmp(argv[1], table[i].name) == 0)
			return table[i].fn(store, argc, argv, io);
	names[0] = '\0';
	for (i = 0; i < n && used < sizeof(names); i++)
		used +=
		    (size_t)snprintf(names + used, sizeof(names) - used,
		                     "%s%s", i > 0 ? ", " : "", table[i].name);
	if (argc < 2)
		admin_errorf(io, "%s: missing sub-command (%s)", argv[0],
		             names);
	else
		admin_errorf(io, "%s: unknown sub-command '%s' (%s)", argv[0],
		             argv[1], names);
	return EX_USAGE;
}

int
admin_print_json_secret(const apitoken_admin_io_t *io, cJSON *value,
                        const char *name, const char *secret)
{
	cJSON *item = NULL;
	char *text = NULL;
	int rc = EX_OSERR;

	if (value == NULL)
		goto out;
	item = cJSON_AddStringToObject(value, name, secret);
	if (item == NULL)
		goto out;
	text = cJSON_Print(value);
	if (text == NULL)
		goto out;
	fprintf(io->out, "%s\n", text);
	fflush(io->out);
	rc = EX_OK;
out:
	if (item != NULL)
		OPENSSL_cleanse(item->valuestring, strlen(item->valuestring));
	if (text != NULL) {
		OPENSSL_cleanse(text, strlen(text));
		cJSON_free(text);
	}
	cJSON_Delete(value);
	if (rc != EX_OK)
		admin_errorf(io, "out of memory");
	return rc;
}

void
admin_freezero(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

int
admin_read_line(FILE *in, char *buf, size_t len)
{
	size_t n = 0;
	int c;

	if (in == NULL)
		return -1;
	while ((c = getc(in)) != EOF && c != '\n') {
		if (n + 1 >= len) {
			OPENSSL_cleanse(buf, len);
			return -1;
		}
		buf[n++] = (char)c;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return n == 0 && c == EOF ? -1 : 0;
}

/* ---- option parsing ---------------------------------------------------- */

static const struct admin_opt *
find_opt(const struct admin_opt *opts, size_t n_opts, const char *arg,
         size_t name_len)
{
	for (size_t i = 0; i < n_opts; i++) {
		if (strlen(opts[i].name) == name_len &&
		    strncmp(opts[i].name, arg, name_len) == 0)
			return &opts[i];
	}
	return NULL;
}

int
admin_parse_opts(const apitoken_admin_io_t *io, const char *cmd, int argc,
                 char **argv, int first, const struct admin_opt *opts,
                 size_t n_opts, const char **pos, size_t max_pos,
                 size_t *n_pos)
{
	bool only_pos = false;

	*n_pos = 0;
	for (int i = first; i < argc; i++) {
		const char *arg = argv[i];
		const struct admin_opt *o;
		const char *eq, *value = NULL;
		size_t name_len;

		if (only_pos || arg[0] != '-' || strcmp(arg, "-") == 0) {
			if (*n_pos >= max_pos) {
				admin_errorf(io,
				             "%s: unexpected argument "
				             "'%s'",
				             cmd, arg);
				return EX_USAGE;
			}
			pos[(*n_pos)++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_pos = true;
			continue;
		}
		eq = strchr(arg, '=');
		name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
		o = find_opt(opts, n_opts, arg, name_len);
		if (o == NULL) {
			admin_errorf(io, "%s: unknown option '%.*s'", cmd,
			             (int)name_len, arg);
			return EX_USAGE;
		}
		if (o->kind == ADMIN_OPT_FLAG) {
			if (eq != NULL) {
				admin_errorf(io,
				             "%s: option %s takes no "
				             "value",
				             cmd, o->name);
				return EX_USAGE;
			}
			*(bool *)o->dest = true;
			continue;
		}
		if (eq != NULL) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			admin_errorf(io, "%s: option %s needs a value", cmd,
			             o->name);
			return EX_USAGE;
		}
		if (o->kind == ADMIN_OPT_STRING) {
			const char **dest = o->dest;

			if (*dest != NULL) {
				admin_errorf(io, "%s: option %s given twice",
				             cmd, o->name);
				return EX_USAGE;
			}
			*dest = value;
		} else {
			struct admin_strv *sv = o->dest;
			const char **nv;

			nv = realloc(sv->v, (sv->n + 1) * sizeof(*nv));
			if (nv == NULL) {
				admin_errorf(io, "out of memory");
				return EX_OSERR;
			}
			nv[sv->n++] = value;
			sv->v = nv;
		}
	}
	return 0;
}

void
admin_opts_free(const struct admin_opt *opts, size_t n_opts)
{
	for (size_t i = 0; i < n_opts; i++) {
		if (opts[i].kind == ADMIN_OPT_LIST) {
			struct admin_strv *sv = opts[i].dest;

			free(sv->v);
			sv->v = NULL;
			sv->n = 0;
		}
	}
}

/* ---- small commands ---------------------------------------------------- */

static int
cmd_init(apitoken_store_t *store, int argc, char **argv,
         const apitoken_admin_io_t *io)
{
	const apitoken_config_t *cfg = apitoken_store_config(store);

	(void)argv;
	if (argc != 1) {
		admin_errorf(io, "init: takes no arguments");
		return EX_USAGE;
	}
	/*
	 * The store is open, so it exists: apitokenctl creates a missing one
	 * itself before it gets here (and says so).
	 */
	fprintf(io->out, "store %s already exists\n", cfg->store);
	return admin_init_signing_key(io, cfg);
}

static void
purge_progress(size_t done, void *ctx)
{
	const apitoken_admin_io_t *io = ctx;

	fprintf(io->err, "\rpurged %zu tokens...", done);
	fflush(io->err);
}

static int
cmd_purge(apitoken_store_t *store, int argc, char **argv,
          const apitoken_admin_io_t *io)
{
	size_t deleted = 0;
	int rc;

	(void)argv;
	if (argc != 1) {
		admin_errorf(io, "purge: takes no arguments");
		return EX_USAGE;
	}
	rc = apitoken_store_purge(store, apitoken_now(),
	                          io->tty ? purge_progress : NULL, (void *)io,
	                          &deleted);
	if (io->tty)
		fputc('\n', io->err);
	if (rc < 0)
		return admin_fail(io, rc);
	if (io->json) {
		cJSON *o = cJSON_CreateObject();

		if (o != NULL && cJSON_AddNumberToObject(
		                     o, "purged", (double)deleted) == NULL) {
			cJSON_Delete(o);
			o = NULL;
		}
		return admin_print_json(io, o);
	}
	fprintf(io->out, "purged %zu expired token%s\n", deleted,
	        deleted == 1 ? "" : "s");
	return EX_OK;
}

struct list_ctx {
	const apitoken_admin_io_t *io;
	cJSON *array; /* --json */
	size_t count;
};

static const char *
dash(const char *s)
{
	return s == NULL || *s == '\0' ? "-" : s;
}

static int
outbox_one(const apitoken_notice_t *n, void *vctx)
{
	struct list_ctx *ctx = vctx;
	char next[32];

	ctx->count++;
	if (ctx->array != NULL) {
		cJSON *o = cJSON_CreateObject();

		if (o == NULL)
			return APITOKEN_ERR_NOMEM;
		if (!cJSON_AddItemToArray(ctx->array, o)) {
			cJSON_Delete(o);
			return APITOKEN_ERR_NOMEM;
		}
		if (cJSON_AddNumberToObject(o, "seq", (double)n->seq) ==
		        NULL ||
		    cJSON_AddStringToObject(o, "kind", n->kind) == NULL ||
		    cJSON_AddStringToObject(o, "user", n->user) == NULL ||
		    cJSON_AddStringToObject(o, "email", n->email) == NULL ||
		    cJSON_AddStringToObject(o, "token_id", n->token_id) ==
		        NULL ||
		    cJSON_AddNumberToObject(o, "time", (double)n->time) ==
		        NULL ||
		    cJSON_AddNumberToObject(o, "attempts",
		                            (double)n->attempts) == NULL ||
		    cJSON_AddNumberToObject(o, "next_attempt",
		                            (double)n->next_attempt) == NULL ||
		    cJSON_AddStringToObject(
		        o, "last_error",
		        n->last_error != NULL ? n->last_error : "") == NULL)
			return APITOKEN_ERR_NOMEM;
		return 0;
	}
	admin_time_iso(n->next_attempt, next, sizeof(next));
	fprintf(ctx->io->out, "%-8llu  %-11s  %-16s  %-28s  %8u  %-20s  %s\n",
	        (unsigned long long)n->seq, n->kind, dash(n->user),
	        dash(n->email), n->attempts, next, dash(n->last_error));
	return 0;
}

static int
cmd_outbox(apitoken_store_t *store, int argc, char **argv,
           const apitoken_admin_io_t *io)
{
	struct list_ctx ctx = {.io = io};
	int rc;

	if (argc < 2) {
		admin_errorf(io, "outbox: missing sub-command (list, retry)");
		return EX_USAGE;
	}
	if (argc > 2) {
		admin_errorf(io, "outbox %s: unexpected argument '%s'",
		             argv[1], argv[2]);
		return EX_USAGE;
	}
	if (strcmp(argv[1], "retry") == 0) {
		size_t count = 0;

		rc = apitoken_outbox_retry_all(store, &count);
		if (rc < 0)
			return admin_fail(io, rc);
		fprintf(io->out, "%zu notification%s due now\n", count,
		        count == 1 ? "" : "s");
		return EX_OK;
	}
	if (strcmp(argv[1], "list") != 0) {
		admin_errorf(io, "outbox: unknown sub-command '%s'", argv[1]);
		return EX_USAGE;
	}
	if (io->json) {
		ctx.array = cJSON_CreateArray();
		if (ctx.array == NULL)
			return admin_print_json(io, NULL);
	} else {
		fprintf(io->out, "%-8s  %-11s  %-16s  %-28s  %8s  %-20s  %s\n",
		        "SEQ", "KIND", "USER", "EMAIL", "ATTEMPTS",
		        "NEXT_ATTEMPT", "LAST_ERROR");
	}
	rc = apitoken_outbox_foreach(store, outbox_one, &ctx);
	if (rc < 0) {
		cJSON_Delete(ctx.array);
		return admin_fail(io, rc);
	}
	if (ctx.array != NULL)
		return admin_print_json(io, ctx.array);
	return EX_OK;
}

int
admin_cmd_input(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[0], "token") == 0 &&
	    (strcmp(argv[1], "check") == 0 ||
	     strcmp(argv[1], "identify") == 0))
		return 2;
	if (argc == 3 && strcmp(argv[0], "user") == 0 &&
	    strcmp(argv[1], "import") == 0)
		return strcmp(argv[2], "-") == 0 ? 1 : 3;
	return 0;
}

int
admin_run_flags(apitoken_store_t *store, int argc, char **argv,
                const apitoken_admin_io_t *io, unsigned flags)
{
	const char *cmd;

	apitoken_error_clear();
	if (argc < 1 || argv == NULL || argv[0] == NULL) {
		admin_errorf(io, "missing command; see apitokenctl --help");
		return EX_USAGE;
	}
	for (int i = 0; i < argc; i++) {
		if (argv[i] == NULL) {
			admin_errorf(io, "malformed argument list");
			return EX_USAGE;
		}
	}
	cmd = argv[0];
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0) {
		apitoken_admin_usage(io->out);
		return EX_OK;
	}
	if (strcmp(cmd, "init") == 0)
		return cmd_init(store, argc, argv, io);
	if (strcmp(cmd, "user") == 0)
		return admin_cmd_user(store, argc, argv, io, flags);
	if (strcmp(cmd, "token") == 0)
		return admin_cmd_token(store, argc, argv, io);
	if (strcmp(cmd, "client") == 0)
		return admin_cmd_client(store, argc, argv, io);
	if (strcmp(cmd, "purge") == 0)
		return cmd_purge(store, argc, argv, io);
	if (strcmp(cmd, "key") == 0)
		return admin_cmd_key(store, argc, argv, io);
	if (strcmp(cmd, "audit") == 0)
		return admin_cmd_audit(store, argc, argv, io);
	if (strcmp(cmd, "outbox") == 0)
		return cmd_outbox(store, argc, argv, io);
	if (strcmp(cmd, "status") == 0)
		return admin_cmd_status(store, argc, argv, io);
	admin_errorf(io, "unknown command '%s'; see apitokenctl --help", cmd);
	return EX_USAGE;
}

int
apitoken_admin_run(apitoken_store_t *store, int argc, char **argv,
                   const apitoken_admin_io_t *io)
{
	return admin_run_flags(store, argc, argv, io, 0);
}

const apitoken_actor_t *
admin_actor(const apitoken_admin_io_t *io, apitoken_actor_t *buf)
{
	if (io->actor != NULL)
		return io->actor;
	memset(buf, 0, sizeof(*buf));
	buf->kind = APITOKEN_ACTOR_OTHER;
	buf->id = io->origin;
	return buf;
}
