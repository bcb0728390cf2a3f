/*
 * apitoken: administration commands (what apitokenctl does), runnable
 * in-process against an open store, and the admin-socket protocol that lets
 * apitokenctl run them inside apitokend while the daemon owns the store.
 *
 * Offline and online give the same output and exit codes because both run
 * apitoken_admin_run(): offline in apitokenctl itself, online inside
 * apitokend, which sends back what the command wrote and its exit code.
 */
#ifndef APITOKEN_ADMIN_H
#define APITOKEN_ADMIN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <apitoken/store.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct apitoken_admin_io {
	FILE *in;           /* standard input of the command */
	FILE *out;          /* its standard output */
	FILE *err;          /* its error messages */
	bool json;          /* --json given */
	bool tty;           /* out is a terminal: progress may be shown */
	const char *origin; /* who asks, for audit and email ("apitokenctl
	                       uid 0", "admin socket uid 1000 pid 42") */
	const apitoken_actor_t *actor; /* who asks, typed; NULL: origin
	                                  as an actor of kind "other" */
} apitoken_admin_io_t;

/*
 * Run one command.  argv[0] is the command word ("user", "token",
 * "client", "purge", "audit", "outbox", "init"), global options already
 * removed.  Returns a sysexits(3) code: EX_OK, EX_USAGE for bad syntax,
 * EX_DATAERR for bad values, EX_NOUSER for unknown users/clients,
 * EX_CANTCREAT for "already exists", EX_UNAVAILABLE for store failures,
 * and 1 from "token check" for an inactive token.
 */
int apitoken_admin_run(apitoken_store_t *store, int argc, char **argv,
                       const apitoken_admin_io_t *io);

/* Usage text of apitokenctl. */
void apitoken_admin_usage(FILE *out);

/*
 * Server side of the admin socket: read one request from fd, run it with
 * apitoken_admin_run() against store and write the reply.  origin as
 * above (the daemon builds it from SO_PEERCRED).  Does not close fd.
 * 0, or an error if the peer sent garbage or went away (nothing ran then).
 */
int apitoken_admin_serve(apitoken_store_t *store, int fd, const char *origin);
/* The same with a typed actor (the daemon: kind admin, the peer's uid,
 * source "unix pid N"). */
int apitoken_admin_serve_as(apitoken_store_t *store, int fd,
                            const apitoken_actor_t *actor);

/*
 * Server side, for a peer over the daemon's connection budget: answer
 * without reading its request, exit EX_TEMPFAIL (75) and a "busy"
 * message naming why.  0 or APITOKEN_ERR_IO.
 */
int apitoken_admin_refuse_busy(int fd, const char *why);

/*
 * Regions: on a replica apitokend sends every command that writes to the
 * master.  fn gets the request exactly as the admin socket received it
 * and the origin; it returns 0 with the master's reply (malloc'ed JSON,
 * sent to the peer unchanged, then wiped), 1 to run the command here
 * (this site is the master), or a negative error (the peer gets exit
 * EX_UNAVAILABLE and the error's detail).  NULL: everything runs here.
 */
typedef int (*apitoken_admin_forward_fn)(void *ctx, const char *request,
                                         size_t len, const char *origin,
                                         char **reply, size_t *reply_len);
void apitoken_admin_set_forward(apitoken_admin_forward_fn fn, void *ctx);

/*
 * "apitokenctl status" asks each other site of the group for its state
 * through this hook (apitokend sets it: GET <url>/healthz).  0 with *out
 * filled, or a negative error (the site is shown as unreachable).
 */
typedef struct apitoken_admin_peer {
	char role[16]; /* "master", "replica" */
	char master[65];
	uint64_t lsn_file, lsn_offset;
	int64_t stale_ms;
} apitoken_admin_peer_t;
typedef int (*apitoken_admin_status_peer_fn)(void *ctx, size_t site,
                                             apitoken_admin_peer_t *out);
void apitoken_admin_set_status_peer(apitoken_admin_status_peer_fn fn,
                                    void *ctx);

/*
 * Run one admin-socket request (the JSON text of a frame) as
 * apitoken_admin_serve() would, never forwarding it, and give back the
 * reply's JSON text (malloc'ed; the caller wipes and frees it).  0, or an
 * error if no reply could be made.
 */
int apitoken_admin_handle(apitoken_store_t *store, const char *request,
                          size_t len, const char *origin, char **reply_out,
                          size_t *reply_len);

/*
 * Client side: connect to socket_path, send the command (argv as for
 * apitoken_admin_run, the json flag and all of io->in when the command
 * reads standard input), copy the reply to io->out / io->err and return
 * the command's exit code.  APITOKEN_ERR_UNAVAILABLE (negative) if the
 * daemon cannot be reached within timeout_ms, APITOKEN_ERR_BUSY if its
 * socket's queue stayed full (a daemon over its connection budget
 * answers EX_TEMPFAIL itself).
 */
int apitoken_admin_call(const char *socket_path, int argc, char **argv,
                        const apitoken_admin_io_t *io, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif /* APITOKEN_ADMIN_H */
