/*
 * apitoken: private helpers shared by the administration commands
 * (admin*.c).  Not installed; nothing here is exported from libapitoken
 * (the library exports only apitoken_* names).
 */
#ifndef APITOKEN_ADMIN_INT_H
#define APITOKEN_ADMIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include <apitoken/admin.h>
#include <apitoken/store.h>

/* Every message on the command's error stream starts with this. */
#define ADMIN_PROG "apitokenctl"

/*
 * Largest admin-socket request (an import file travels inside it) and
 * reply.  Larger imports must be split or run while apitokend is stopped.
 */
#define ADMIN_REQUEST_MAX (16u * 1024 * 1024)
#define ADMIN_REPLY_MAX (256u * 1024 * 1024)

/* Longest first line "token check" reads (a token is 56 characters). */
#define ADMIN_TOKEN_LINE_MAX 1024

/* Internal run flags (apitoken_admin_serve sets them). */
#define ADMIN_RUN_IN_IS_FILE                                                  \
	0x1 /* "user import FILE": io->in already                             \
	       holds FILE's content; never open a                             \
	       path on behalf of a socket peer */

int admin_run_flags(apitoken_store_t *store, int argc, char **argv,
                    const apitoken_admin_io_t *io, unsigned flags);

/* "apitokenctl: <message>\n" on io->err. */
void admin_errorf(const apitoken_admin_io_t *io, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Report a failed library call as "apitokenctl: <detail>" and return the
 * sysexits code for err.
 */
int admin_fail(const apitoken_admin_io_t *io, int err);

/* sysexits(3) code for a negative APITOKEN_ERR_* code. */
int admin_exit_code(int err);

/* ISO 8601 UTC ("2026-11-28T02:30:00Z"), "-" for 0. */
void admin_time_iso(int64_t t, char *buf, size_t len);

/* Print a cJSON value, pretty, followed by a newline; frees it. */
/* A sub-command of user, token or client. */
typedef int (*admin_cmd_fn)(apitoken_store_t *store, int argc, char **argv,
                            const apitoken_admin_io_t *io);
struct admin_subcmd {
	const char *name;
	admin_cmd_fn fn;
};
/*
 * Run sub-command argv[1] of command argv[0] from table (n entries).  A
 * missing or unknown one is EX_USAGE with a message that lists them all.
 * An entry without fn is only listed (the caller runs it itself).
 */
int admin_dispatch(apitoken_store_t *store, int argc, char **argv,
                   const apitoken_admin_io_t *io,
                   const struct admin_subcmd *table, size_t n);

int admin_print_json(const apitoken_admin_io_t *io, cJSON *value);
/*
 * Add member name = secret to value (taken, may be NULL after a failed
 * allocation), print it once and wipe every copy of the secret made on the
 * way.  EX_OK or EX_OSERR.
 */
int admin_print_json_secret(const apitoken_admin_io_t *io, cJSON *value,
                            const char *name, const char *secret);

/*
 * Small option parser for one sub-command: no global state (commands run
 * concurrently inside apitokend).
 */
enum admin_opt_kind {
	ADMIN_OPT_FLAG,   /* --x: *(bool *)dest = true */
	ADMIN_OPT_STRING, /* --x VALUE or --x=VALUE: *(const char **)dest */
	ADMIN_OPT_LIST    /* repeatable --x VALUE: struct admin_strv */
};

struct admin_strv {
	const char **v;
	size_t n;
};

struct admin_opt {
	const char *name; /* "--email" */
	enum admin_opt_kind kind;
	void *dest;
};

/*
 * Parse argv[first..argc) against opts.  Positional arguments are stored
 * in pos (at most max_pos, in order), their count in *n_pos.  "--" ends
 * the options.  On a bad option prints a message naming cmd and returns
 * EX_USAGE, else 0.  Lists are freed with admin_opts_free().
 */
int admin_parse_opts(const apitoken_admin_io_t *io, const char *cmd, int argc,
                     char **argv, int first, const struct admin_opt *opts,
                     size_t n_opts, const char **pos, size_t max_pos,
                     size_t *n_pos);
void admin_opts_free(const struct admin_opt *opts, size_t n_opts);

/*
 * Check a user's fields before the store sees them, so that the CLI and
 * the import name the bad field the same way.  0 or APITOKEN_ERR_INVALID
 * with a detail.  cfg: the roles (needed only when role is not NULL).
 */
int admin_user_fields_valid(const apitoken_config_t *cfg, const char *name,
                            const char *email, const char *role,
                            char *const *bus, size_t n_bus);

/*
 * Read an import file (CSV or JSON lines, see admin_import.c) from in and
 * check every record against cfg's roles, writing nothing: each rejected
 * line is reported on err as "display:LINE: reason".  0 with the counts,
 * or a negative APITOKEN_ERR_* (read error, no memory).
 */
int admin_import_check(const apitoken_config_t *cfg, FILE *in, FILE *err,
                       const char *display, size_t *valid_out,
                       size_t *rejected_out);
/* io->actor, or io->origin as an actor of kind "other" (in *buf). */
const apitoken_actor_t *admin_actor(const apitoken_admin_io_t *io,
                                    apitoken_actor_t *buf);

/* The command groups. */
int admin_cmd_user(apitoken_store_t *store, int argc, char **argv,
                   const apitoken_admin_io_t *io, unsigned flags);
int admin_cmd_token(apitoken_store_t *store, int argc, char **argv,
                    const apitoken_admin_io_t *io);
int admin_cmd_client(apitoken_store_t *store, int argc, char **argv,
                     const apitoken_admin_io_t *io);
/* admin_status.c: "status" (Regions). */
int admin_cmd_status(apitoken_store_t *store, int argc, char **argv,
                     const apitoken_admin_io_t *io);
/* "token identify" (admin_identify.c). */
int admin_token_identify(apitoken_store_t *store, int argc, char **argv,
                         const apitoken_admin_io_t *io);
/* The last use as JSON ({"time","source","client"}) or null if never. */
cJSON *admin_last_use_json(const apitoken_last_use_t *u);
/* "2026-01-31T12:00:00Z from 127.0.0.1 (client rs1)" or "never seen". */
void admin_last_use_text(const apitoken_last_use_t *u, char *buf, size_t len);
/* init: make the signing key if missing (and say so). */
int admin_init_signing_key(const apitoken_admin_io_t *io,
                           const apitoken_config_t *cfg);
int admin_cmd_key(apitoken_store_t *store, int argc, char **argv,
                  const apitoken_admin_io_t *io);
int admin_cmd_audit(apitoken_store_t *store, int argc, char **argv,
                    const apitoken_admin_io_t *io);
int admin_cmd_import(apitoken_store_t *store, int argc, char **argv,
                     const apitoken_admin_io_t *io, unsigned flags);

/* User and token facts as JSON (shared by show/list). */
cJSON *admin_user_json(const apitoken_user_t *u);
cJSON *admin_token_json(const apitoken_token_info_t *t, int64_t now);

/*
 * Read the first line of in (newline and a trailing CR stripped) into buf.
 * 0, or -1 if there is none or it is longer than len - 1.
 */
int admin_read_line(FILE *in, char *buf, size_t len);

/*
 * Does this command read standard input (so the admin-socket client must
 * send it)?  Returns 0 no, 1 all of it, 2 only its first line, 3 the file
 * named by argv[2] (user import FILE).
 */
int admin_cmd_input(int argc, char **argv);

/* Wipe and free. */
void admin_freezero(void *p, size_t len);

/* The admin-socket protocol's parsers (admin_socket.c; fuzzed). */
#define ADMIN_ARGV_MAX 256
/*
 * Receive one frame (4-byte big-endian length, then the text) of at most
 * max bytes into a malloc'ed, NUL-terminated *buf_out.  0; -1 with errno
 * for I/O (0: peer closed); -2 if too large (*len_out: the announced
 * length).  deadline: CLOCK_MONOTONIC milliseconds.
 */
int admin_recv_frame(int fd, size_t max, int64_t deadline, char **buf_out,
                     size_t *len_out);
/*
 * Check a parsed request.  Fills argv (ADMIN_ARGV_MAX + 1 slots, pointers
 * into req), json and stdin; returns NULL or the reason it is refused.
 */
const char *admin_check_request(cJSON *req, char **argv, int *argc, bool *json,
                                cJSON **stdin_out);
/*
 * Read a reply frame's text: print its stdout and stderr to io's streams;
 * the remote exit code, or a negative APITOKEN_ERR_* if malformed.
 */
int admin_parse_reply(const char *buf, size_t len,
                      const apitoken_admin_io_t *io);

#endif /* APITOKEN_ADMIN_INT_H */
