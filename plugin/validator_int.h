/*
 * Private interface of the validator code shared by validator.so and
 * pam_apitoken.so.  Everything here is compiled with -fvisibility=hidden
 * and hidden again by the version scripts: nothing leaks into the host.
 */
#ifndef APITOKEN_VALIDATOR_INT_H
#define APITOKEN_VALIDATOR_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <apitoken/validator.h>

#define VCONF_DEFAULT_TIMEOUT_MS 2000
#define VCONF_DEFAULT_CACHE_TTL 30
#define VCONF_DEFAULT_SOCKET "/var/lib/apitoken/local.sock"
/* Longest answer line of the local socket protocol, without '\n'. */
#define VLOCAL_LINE_MAX 4096

enum vmode { VMODE_LOCAL, VMODE_REMOTE };

struct vconf {
	enum vmode mode;
	char *socket;
	char *url;
	char *client_id;
	char *secret_file;
	char *secret; /* read from secret_file; wiped on free */
	char *scope;  /* PAM only: required scope */
	char *ca_file;
	int timeout_ms;
	int cache_ttl;
	bool insecure;
	bool debug;
};

/*
 * Parse "key=value" options into *conf (which it first clears).
 * strict: unknown keys are errors (PAM, where a misspelt "scope=" must
 * not silently drop a restriction) rather than ignored (the ABI).
 * pam: accept "scope=", and let pass the options that pam_get_authtok()
 * reads itself (try_first_pass, use_first_pass, use_authtok,
 * authtok_type=).  0, or -1 with *errstr set (a message
 * that names the option, never the secret).
 */
int vconf_parse(struct vconf *conf, int argc, const char *const argv[],
                bool strict, bool pam, const char **errstr);
/*
 * The two halves of vconf_parse: the options alone (reads no file; what
 * PAM's account step needs), then what they name (remote mode: the client
 * secret from secret_file, and a check that ca_file is readable).  Both 0,
 * or -1 with *errstr; on failure of vconf_load the caller frees conf.
 */
int vconf_parse_options(struct vconf *conf, int argc, const char *const argv[],
                        bool strict, bool pam, const char **errstr);
int vconf_load(struct vconf *conf, const char **errstr);
void vconf_free(struct vconf *conf);

struct vhandle;

/* Make a handle from a parsed conf, which it takes over (conf is cleared). */
int vhandle_open(struct vconf *conf, struct vhandle **out,
                 const char **errstr);
void vhandle_close(struct vhandle *h);
bool vhandle_debug(const struct vhandle *h);
/* The conf's scope= (PAM), or NULL. */
const char *vhandle_scope(const struct vhandle *h);

/* The validation, as the ABI's check(). */
int vhandle_check(struct vhandle *h, const char *token, size_t len,
                  const char *required_scope,
                  struct apitoken_validation *result);

/*
 * Is user known with the API-token option on?  Local mode only.
 * 1 yes, 0 no, -1 unavailable (reason in reason_out).
 */
int vhandle_user_active(struct vhandle *h, const char *user, char *reason,
                        size_t reason_len);

/* Format into the result's reason. */
void vresult_reason(struct apitoken_validation *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Fill r from an RFC 7662 introspection reply (a JSON text).  Sets
 * VALID, INVALID ("active":false) or UNAVAILABLE (anything else).
 */
void vresult_from_json(struct apitoken_validation *r, const char *json);

/* Back ends, in local.c and remote.c. */
struct vlocal;
int vlocal_open(const struct vconf *conf, struct vlocal **out);
void vlocal_close(struct vlocal *l);
/*
 * Send one request line (without '\n') and read one reply line into a
 * malloc'd, NUL-terminated *reply_out.  0, or -1 with a reason.
 */
int vlocal_call(struct vlocal *l, const char *request, char **reply_out,
                char *reason, size_t reason_len);

struct vremote;
int vremote_open(const struct vconf *conf, struct vremote **out,
                 const char **errstr);
void vremote_close(struct vremote *r);
void vremote_check(struct vremote *r, const char *token, size_t len,
                   struct apitoken_validation *result);

#endif /* APITOKEN_VALIDATOR_INT_H */
