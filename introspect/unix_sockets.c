/*
 * apitokend: the admin and local UNIX sockets.
 *
 * One thread accepts on both; each connection gets its own thread, because
 * an admin command (a bulk import) or a consumer's persistent connection
 * may last a while and must not hold up the others.  Peers are identified
 * by SO_PEERCRED.  At shutdown the connections are shut down and waited
 * for, so no thread still uses the store when it is closed.
 *
 * No local user may starve PAM or the administrator: the two sockets
 * have separate budgets (local_socket_max_connections,
 * admin_socket_max_connections), each uid but root may hold at most
 * socket_max_connections_per_uid of each, and a request line must be
 * complete within local_socket_timeout of the connection or of the
 * previous answer (a deadline; bytes do not restart it).  A peer over a
 * budget is told "busy" (the admin socket answers with exit 75,
 * EX_TEMPFAIL) rather than hung up on, which apitokenctl would report as
 * a permission problem.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include <apitoken/admin.h>
#include <apitoken/error.h>
#include <apitoken/log.h>
#include <apitoken/token.h>

#include "answer_cache.h"
#include "apitokend.h"
#include "../core/spin_wait.h"
#include "metrics.h"
#include "regions.h"
#include "tail.h"

#define LINE_MAX_LEN 4096
#define ADMIN_IO_TIMEOUT_S 60

struct apitokend_sockets {
	struct apitokend *d;
	int admin_fd, local_fd;
	int wake[2];
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct peer *conns; /* max_conn entries */
	unsigned n_conn, max_conn;
	time_t last_busy_log[2]; /* [1]: a uid over its share */
	unsigned long busy_refused;
	bool stopping;
	char *admin_path, *local_path;
	bool has_group;
	gid_t admin_gid;
};

struct peer {
	int fd;
	uid_t uid;
	bool admin;
};

struct conn {
	struct apitokend_sockets *s;
	int fd;
	bool admin;
	struct ucred cred;
};

static void
conn_release(struct conn *cn)
{
	struct apitokend_sockets *s = cn->s;
	unsigned i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->n_conn; i++) {
		if (s->conns[i].fd == cn->fd) {
			s->conns[i] = s->conns[--s->n_conn];
			break;
		}
	}
	close(cn->fd);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	free(cn);
}

static int
send_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One send for the line and its newline: each send() is a system call
 * and a wake-up of the client, the larger part of a check's time. */
static int
send_line(int fd, const char *json)
{
	char buf[4096];
	size_t n = strlen(json);

	if (n < sizeof(buf)) {
		memcpy(buf, json, n);
		buf[n] = '\n';
		return send_all(fd, buf, n + 1);
	}
	if (send_all(fd, json, n) != 0)
		return -1;
	return send_all(fd, "\n", 1);
}

static int
send_error(int fd, const char *code, const char *desc)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;
	int rc = -1;

	if (o != NULL && cJSON_AddStringToObject(o, "error", code) != NULL &&
	    cJSON_AddStringToObject(o, "error_description", desc) != NULL)
		text = cJSON_PrintUnformatted(o);
	if (text != NULL)
		rc = send_line(fd, text);
	free(text);
	cJSON_Delete(o);
	return rc;
}

/* A kept answer copied out under its entry's lock (local_kept_fn). */
struct local_kept {
	char line[4096];
	size_t len; /* 0: too long to copy (then not used) */
	char jti[APITOKEN_ID_LEN + 1];
	bool first_use;
};

static void
local_kept_fn(struct MHD_Response *resp, const char *jti, bool first_use,
              const char *body, size_t body_len, void *arg)
{
	struct local_kept *lk = arg;

	(void)resp;
	lk->len = 0;
	if (body == NULL || body_len + 1 > sizeof(lk->line))
		return;
	memcpy(lk->line, body, body_len);
	lk->line[body_len] = '\n';
	lk->len = body_len + 1;
	(void)snprintf(lk->jti, sizeof(lk->jti), "%s", jti);
	lk->first_use = first_use;
}

/*
 * Keep the answer text for the local socket: in d->answers under client
 * id "" (answer_cache.h), owned by an MHD response that is never sent.
 * Takes text over.
 */
static void
local_keep(struct apitokend_answers *answers,
           const struct apitokend_answer_key *k, const apitoken_claims_t *cl,
           char *text)
{
	size_t len = strlen(text);
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);

	if (resp == NULL) {
		free(text);
		return;
	}
	apitokend_answers_put(answers, k, cl->exp, cl->jti, cl->username, resp,
	                      text, len);
}

/*
 * A check, answered like introspection: from a kept answer when one is
 * current (the same rules as /introspect: introspect.c), else from the
 * store, keeping an active answer.
 */
static int
op_check(struct apitokend *d, int fd, const char *token,
         const struct ucred *cred)
{
	struct apitokend_answers *answers =
	    atomic_load_explicit(&d->answers, memory_order_acquire);
	/* Before the store read: see answer_cache.c. */
	const struct apitokend_gen *g = apitokend_gen(d);
	struct apitokend_answer_key k;
	struct local_kept lk;
	uint8_t hash[APITOKEN_HASH_LEN];
	apitoken_claims_t cl;
	size_t len = strlen(token);
	bool kept = false;
	char *text;
	int64_t now;
	int rc;

	memset(&cl, 0, sizeof(cl));
	if (apitokend_regions_refuse_reads(d))
		return send_error(fd, "temporarily_unavailable",
		                  APITOKEND_REGIONS_STALE_DESC);
	/* Hashed first, parsed only on a miss (as in introspect.c); garbage
	 * goes the store's way (inactive, no store access). */
	if (answers != NULL && apitokend_sha256(token, len, hash) == 0) {
		k.hash = hash;
		k.client_id = "";
		k.gen = g;
		k.rgen = apitokend_answers_rgen(answers);
		k.failures = apitoken_store_failures(d->store);
		kept = true;
	}
	apitoken_error_clear();
	now = apitoken_now();
	if (kept && apitokend_tail_current(d) &&
	    apitokend_regions_kept_ok(d) &&
	    apitokend_answers_use(answers, &k, now, local_kept_fn, &lk) &&
	    lk.len > 0) {
		apitokend_metrics_answer_cache(true);
		if (lk.first_use)
			apitokend_lastuse_local(d, (long)cred->uid,
			                        (long)cred->pid, lk.jti);
		rc = send_all(fd, lk.line, lk.len);
		OPENSSL_cleanse(hash, sizeof(hash));
		return rc;
	}
	if (kept &&
	    apitoken_token_parse(APITOKEN_TOKEN_PREFIX, token, len) != 0)
		kept = false;
	apitoken_error_clear();
	if (kept)
		apitokend_metrics_answer_cache(false);
	rc = kept ? apitoken_token_check_hash(d->store, hash, now, &cl)
	          : apitoken_token_check(d->store, token, len, now, &cl);
	if (rc != 0) {
		OPENSSL_cleanse(hash, sizeof(hash));
		apitokend_metrics_store_error();
		apitoken_log(APITOKEN_LOG_ERR,
		             "local socket: store failed: %s",
		             apitoken_last_error());
		return send_error(fd, "temporarily_unavailable",
		                  "the token store failed");
	}
	if (cl.active)
		apitokend_lastuse_local(d, (long)cred->uid, (long)cred->pid,
		                        cl.jti);
	text = apitokend_claims_json(&cl, g->cfg, NULL);
	if (text == NULL) {
		OPENSSL_cleanse(hash, sizeof(hash));
		apitoken_claims_clear(&cl);
		return -1;
	}
	rc = send_line(fd, text);
	if (kept && cl.active)
		local_keep(answers, &k, &cl, text); /* takes text */
	else
		free(text);
	OPENSSL_cleanse(hash, sizeof(hash)); /* k.hash: after the keep */
	apitoken_claims_clear(&cl);
	return rc;
}

static int
op_user(struct apitokend *d, int fd, const char *name)
{
	apitoken_user_t *user = NULL;
	cJSON *o;
	char *text = NULL;
	bool active = false;
	int rc;

	if (apitokend_regions_refuse_reads(d))
		return send_error(fd, "temporarily_unavailable",
		                  APITOKEND_REGIONS_STALE_DESC);
	rc = apitoken_user_get(d->store, name, &user);
	if (rc == 0) {
		active = user->api_access;
		apitoken_user_free(user);
	} else if (rc != APITOKEN_ERR_NOT_FOUND &&
	           rc != APITOKEN_ERR_INVALID) {
		apitokend_metrics_store_error();
		apitoken_log(APITOKEN_LOG_ERR,
		             "local socket: store failed: %s",
		             apitoken_last_error());
		return send_error(fd, "temporarily_unavailable",
		                  "the token store failed");
	}
	o = cJSON_CreateObject();
	if (o != NULL && cJSON_AddStringToObject(o, "user", name) != NULL &&
	    cJSON_AddBoolToObject(o, "active", active) != NULL)
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (text == NULL)
		return -1;
	rc = send_line(fd, text);
	free(text);
	return rc;
}

/* apitokend_local_parse refuses control bytes and NULs whole. */
static int
local_line(struct apitokend *d, int fd, const char *line, size_t len,
           const struct ucred *cred)
{
	struct apitokend_local_req req;
	const char *why;
	int rc;

	if (apitokend_local_parse(line, len, &req, &why) != 0) {
		(void)send_error(fd, "invalid_request", why);
		return -1;
	}
	if (req.op == APITOKEND_LOCAL_CHECK)
		rc = op_check(d, fd, req.arg->valuestring, cred);
	else
		rc = op_user(d, fd, req.arg->valuestring);
	apitokend_local_req_free(&req);
	return rc;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Per request: a SIGHUP applies to open connections. */
static int64_t
local_timeout_ms(struct apitokend *d)
{
	return (int64_t)apitokend_gen(d)->cfg->local_socket_timeout * 1000;
}

/* How long after an answer to look for the next request: several times
 * the 2-3 us a client checking in a loop takes to send it. */
#define LOCAL_SPIN_NS 20000

static void
serve_local(struct conn *cn)
{
	struct apitokend *d = cn->s->d;
	char buf[LINE_MAX_LEN + 1];
	size_t have = 0, used, i;
	int64_t answered_ns = spin_wait_now_ns();
	struct pollfd p;
	ssize_t n;
	char *nl;
	int64_t deadline = mono_ms() + local_timeout_ms(d), left;

	p.fd = cn->fd;
	p.events = POLLIN;
	for (;;) {
		/* Serve every complete line already buffered. */
		while ((nl = memchr(buf, '\n', have)) != NULL) {
			used = (size_t)(nl - buf) + 1;
			i = used - 1;
			if (i > 0 && buf[i - 1] == '\r')
				i--;
			if (local_line(d, cn->fd, buf, i, &cn->cred) != 0) {
				OPENSSL_cleanse(buf, sizeof(buf));
				return;
			}
			OPENSSL_cleanse(buf, used);
			memmove(buf, buf + used, have - used);
			have -= used;
			/* The next request's deadline starts at this answer.
			 */
			deadline = mono_ms() + local_timeout_ms(d);
			answered_ns = spin_wait_now_ns();
		}
		if (have >= LINE_MAX_LEN) {
			send_error(cn->fd, "invalid_request",
			           "line longer than 4096 bytes");
			break;
		}
		/* A deadline, not an idle timer: a peer that trickles a
		 * byte now and then is cut all the same.  A client checking
		 * token after token sends its next request within
		 * microseconds: look before sleeping (core/spin_wait.c). */
		left = deadline - mono_ms();
		if (left > 0 &&
		    spin_wait_readable(cn->fd, answered_ns + LOCAL_SPIN_NS))
			n = 1;
		else
			n = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			apitoken_log(
			    APITOKEN_LOG_DEBUG,
			    "local socket: pid %ld sent no whole request"
			    " in time, closing",
			    (long)cn->cred.pid);
			break;
		}
		n = recv(cn->fd, buf + have, LINE_MAX_LEN - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
}

static bool
in_admin_group(struct apitokend_sockets *s, const struct ucred *cr)
{
	struct passwd pw, *pwp = NULL;
	char pwbuf[4096];
	gid_t groups[256];
	int n = 256, i;

	if (!s->has_group)
		return false;
	if (cr->gid == s->admin_gid)
		return true;
	if (getpwuid_r(cr->uid, &pw, pwbuf, sizeof(pwbuf), &pwp) != 0 ||
	    pwp == NULL)
		return false;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
		return false;
	for (i = 0; i < n; i++)
		if (groups[i] == s->admin_gid)
			return true;
	return false;
}

static void
serve_admin(struct conn *cn)
{
	struct apitokend_sockets *s = cn->s;
	struct timeval tv = {ADMIN_IO_TIMEOUT_S, 0};
	char uid[24], source[48];
	apitoken_actor_t actor;
	int rc;

	if (cn->cred.uid != 0 && cn->cred.uid != geteuid() &&
	    !in_admin_group(s, &cn->cred)) {
		apitoken_log(APITOKEN_LOG_WARNING,
		             "admin socket: refused uid %ld pid %ld (not root,"
		             " the daemon's user or in admin_group)",
		             (long)cn->cred.uid, (long)cn->cred.pid);
		return;
	}
	/* Admin commands (a purge, an import) must not take the workers'
	 * CPU; the thread ends with the connection. */
	apitokend_background_thread("admin socket");
	/* A stalled client must not keep its thread forever. */
	(void)setsockopt(cn->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(cn->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	snprintf(uid, sizeof(uid), "%ld", (long)cn->cred.uid);
	snprintf(source, sizeof(source), "admin socket pid %ld",
	         (long)cn->cred.pid);
	memset(&actor, 0, sizeof(actor));
	actor.kind = APITOKEN_ACTOR_ADMIN;
	actor.id = uid;
	actor.source = source;
	apitoken_log(APITOKEN_LOG_INFO,
	             "admin socket: connection from uid %ld"
	             " pid %ld",
	             (long)cn->cred.uid, (long)cn->cred.pid);
	rc = apitoken_admin_serve_as(s->d->store, cn->fd, &actor);
	/* Client changes reach the login cache through their change
	 * records (tail.c), whoever writes them. */
	/* "key rotate" may have made new signing keys. */
	apitokend_jwt_reload(s->d);
	if (rc != 0)
		apitoken_log(APITOKEN_LOG_NOTICE, "admin socket: pid %ld: %s",
		             (long)cn->cred.pid, apitoken_last_error());
}

static void *
conn_main(void *arg)
{
	struct conn *cn = arg;

	if (cn->admin)
		serve_admin(cn);
	else
		serve_local(cn);
	conn_release(cn);
	return NULL;
}

/* Why a peer is refused: the socket is full, or its uid's share is. */
static const char busy_full[] = "too many connections";
static const char busy_uid[] = "too many connections from this uid";

/* Under s->lock: NULL, or why this peer may not have one more. */
static const char *
over_budget(struct apitokend_sockets *s, bool admin, const struct ucred *cr)
{
	const apitoken_config_t *cfg = apitokend_gen(s->d)->cfg;
	unsigned i, same = 0, mine = 0;
	unsigned max = admin ? cfg->admin_socket_max_connections
	                     : cfg->local_socket_max_connections;

	for (i = 0; i < s->n_conn; i++) {
		if (s->conns[i].admin != admin)
			continue;
		same++;
		if (s->conns[i].uid == cr->uid)
			mine++;
	}
	/* The table was sized at start; a SIGHUP cannot grow it. */
	if (same >= max || s->n_conn >= s->max_conn)
		return busy_full;
	/* Root is the PAM hosts (sshd, login): not limited per uid. */
	if (cr->uid != 0 && mine >= cfg->socket_max_connections_per_uid)
		return busy_uid;
	return NULL;
}

/*
 * Tell a peer over budget that we are busy, without blocking the accept
 * thread (a fresh socket's buffer takes the short answer), and log at
 * most once a second for each reason: a uid over its share is news even
 * in the second a full socket was logged.
 */
static void
refuse_busy(struct apitokend_sockets *s, int fd, bool admin,
            const struct ucred *cr, const char *why)
{
	static const char local_busy[] =
	    "{\"error\":\"temporarily_unavailable\","
	    "\"error_description\":\"apitokend is busy: too many "
	    "connections\"}\n";
	struct timeval tv = {0, 100000};
	unsigned long n;
	time_t now = time(NULL);
	bool log;

	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (admin)
		(void)apitoken_admin_refuse_busy(fd, why);
	else
		(void)send(fd, local_busy, sizeof(local_busy) - 1,
		           MSG_NOSIGNAL | MSG_DONTWAIT);
	pthread_mutex_lock(&s->lock);
	n = ++s->busy_refused;
	log = now != s->last_busy_log[why == busy_uid];
	if (log)
		s->last_busy_log[why == busy_uid] = now;
	pthread_mutex_unlock(&s->lock);
	if (log)
		apitoken_log(APITOKEN_LOG_WARNING,
		             "%s socket: %s, refusing uid %ld pid %ld (%lu "
		             "refused so far)",
		             admin ? "admin" : "local", why, (long)cr->uid,
		             (long)cr->pid, n);
}

static void
accept_one(struct apitokend_sockets *s, int lfd, bool admin)
{
	struct conn *cn;
	socklen_t len = sizeof(struct ucred);
	pthread_attr_t attr;
	pthread_t t;
	const char *why;
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		/* Out of descriptors: the listener stays readable, so pause
		 * instead of spinning on poll(). */
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			apitoken_log(
			    APITOKEN_LOG_WARNING, "%s socket: accept: %s",
			    admin ? "admin" : "local", strerror(errno));
			poll(NULL, 0, 100);
		}
		return;
	}
	cn = calloc(1, sizeof(*cn));
	if (cn == NULL) {
		close(fd);
		return;
	}
	cn->s = s;
	cn->fd = fd;
	cn->admin = admin;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cn->cred, &len) != 0) {
		apitoken_log(APITOKEN_LOG_WARNING,
		             "%s socket: no peer credentials: %s",
		             admin ? "admin" : "local", strerror(errno));
		close(fd);
		free(cn);
		return;
	}
	if (!admin)
		apitoken_log(APITOKEN_LOG_INFO,
		             "local socket: connection from uid %ld pid %ld",
		             (long)cn->cred.uid, (long)cn->cred.pid);
	pthread_mutex_lock(&s->lock);
	why = s->stopping ? "shutting down" : over_budget(s, admin, &cn->cred);
	if (why != NULL) {
		pthread_mutex_unlock(&s->lock);
		refuse_busy(s, fd, admin, &cn->cred, why);
		close(fd);
		free(cn);
		return;
	}
	s->conns[s->n_conn].fd = fd;
	s->conns[s->n_conn].uid = cn->cred.uid;
	s->conns[s->n_conn].admin = admin;
	s->n_conn++;
	pthread_mutex_unlock(&s->lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, conn_main, cn) != 0) {
		apitoken_log(APITOKEN_LOG_ERR, "cannot start a thread");
		conn_release(cn);
	}
	pthread_attr_destroy(&attr);
}

static void *
accept_main(void *arg)
{
	struct apitokend_sockets *s = arg;
	struct pollfd p[3];

	p[0].fd = s->wake[0];
	p[0].events = POLLIN;
	p[1].fd = s->admin_fd;
	p[1].events = POLLIN;
	p[2].fd = s->local_fd;
	p[2].events = POLLIN;
	for (;;) {
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			apitoken_log(APITOKEN_LOG_ERR, "sockets: poll: %s",
			             strerror(errno));
			break;
		}
		if (p[0].revents)
			break;
		if (p[1].revents & POLLIN)
			accept_one(s, s->admin_fd, true);
		if (p[2].revents & POLLIN)
			accept_one(s, s->local_fd, false);
	}
	return NULL;
}

void
apitokend_sockets_unlink_stale(const apitoken_config_t *cfg)
{
	const char *paths[2] = {cfg->admin_socket, cfg->local_socket};
	struct stat st;
	int i;

	for (i = 0; i < 2; i++) {
		if (paths[i] == NULL || lstat(paths[i], &st) != 0)
			continue;
		if (S_ISSOCK(st.st_mode) && unlink(paths[i]) == 0)
			apitoken_log(APITOKEN_LOG_INFO,
			             "removed stale socket %s", paths[i]);
	}
}

static int
listen_unix(const char *path, mode_t mode, bool chgrp, gid_t gid, int *fd_out)
{
	struct sockaddr_un sa;
	mode_t old;
	int fd, rc;

	*fd_out = -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return apitoken_error(
		    APITOKEN_ERR_CONFIG,
		    "socket path %s is longer than %zu bytes", path,
		    sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return apitoken_error(APITOKEN_ERR_IO, "socket: %s",
		                      strerror(errno));
	/* Born owner-only, widened below: no moment of a looser mode. */
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc != 0) {
		rc = apitoken_error(APITOKEN_ERR_IO, "cannot bind %s: %s",
		                    path, strerror(errno));
		goto fail;
	}
	if (chgrp && chown(path, (uid_t)-1, gid) != 0) {
		rc = apitoken_error(APITOKEN_ERR_IO,
		                    "cannot give %s to group %ld: %s", path,
		                    (long)gid, strerror(errno));
		goto fail;
	}
	if (chmod(path, mode) != 0 || listen(fd, 64) != 0) {
		rc = apitoken_error(APITOKEN_ERR_IO, "%s: %s", path,
		                    strerror(errno));
		goto fail;
	}
	*fd_out = fd;
	return 0;
fail:
	close(fd);
	return rc;
}

int
apitokend_sockets_start(struct apitokend *d)
{
	const apitoken_config_t *cfg = apitokend_gen(d)->cfg;
	struct apitokend_sockets *s = calloc(1, sizeof(*s));
	struct group gr, *grp = NULL;
	char grbuf[4096];
	int rc;

	if (s == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	s->d = d;
	s->admin_fd = s->local_fd = s->wake[0] = s->wake[1] = -1;
	s->max_conn = cfg->local_socket_max_connections +
	              cfg->admin_socket_max_connections;
	s->conns = calloc(s->max_conn, sizeof(*s->conns));
	d->sockets = s;
	if (pthread_mutex_init(&s->lock, NULL) != 0 ||
	    pthread_cond_init(&s->cond, NULL) != 0)
		return apitoken_error(APITOKEN_ERR_NOMEM,
		                      "sockets: cannot make a lock");
	if (cfg->admin_group != NULL && cfg->admin_group[0] != '\0') {
		if (getgrnam_r(cfg->admin_group, &gr, grbuf, sizeof(grbuf),
		               &grp) != 0 ||
		    grp == NULL)
			return apitoken_error(APITOKEN_ERR_CONFIG,
			                      "%s: key 'admin_group': no "
			                      "group %s",
			                      cfg->path ? cfg->path : "config",
			                      cfg->admin_group);
		s->has_group = true;
		s->admin_gid = grp->gr_gid;
	}
	s->admin_path = strdup(cfg->admin_socket);
	s->local_path = strdup(cfg->local_socket);
	if (s->admin_path == NULL || s->local_path == NULL || s->conns == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	apitokend_sockets_unlink_stale(cfg);
	rc = listen_unix(s->admin_path, s->has_group ? 0660 : 0600,
	                 s->has_group, s->admin_gid, &s->admin_fd);
	if (rc != 0)
		return rc;
	rc = listen_unix(s->local_path, (mode_t)cfg->local_socket_mode, false,
	                 0, &s->local_fd);
	if (rc != 0)
		return rc;
	if (pipe2(s->wake, O_CLOEXEC) != 0)
		return apitoken_error(APITOKEN_ERR_IO, "pipe: %s",
		                      strerror(errno));
	if (pthread_create(&s->thread, NULL, accept_main, s) != 0)
		return apitoken_error(APITOKEN_ERR_IO,
		                      "cannot start the socket thread");
	s->thread_started = true;
	return 0;
}

void
apitokend_sockets_stop(struct apitokend *d)
{
	struct apitokend_sockets *s = d->sockets;
	unsigned i;

	if (s == NULL)
		return;
	if (s->thread_started) {
		(void)!write(s->wake[1], "x", 1);
		pthread_join(s->thread, NULL);
	}
	/* Wake every connection thread and wait for it to let go of the
	 * store; an admin command in flight is allowed to finish. */
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	for (i = 0; i < s->n_conn; i++)
		shutdown(s->conns[i].fd, SHUT_RDWR);
	while (s->n_conn > 0)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	if (s->admin_fd >= 0) {
		close(s->admin_fd);
		unlink(s->admin_path);
	}
	if (s->local_fd >= 0) {
		close(s->local_fd);
		unlink(s->local_path);
	}
	if (s->wake[0] >= 0)
		close(s->wake[0]);
	if (s->wake[1] >= 0)
		close(s->wake[1]);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s->admin_path);
	free(s->local_path);
	free(s->conns);
	free(s);
	d->sockets = NULL;
}
