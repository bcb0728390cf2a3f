/*
 * apitokend: connection budgets and read deadlines for the HTTP server.
 *
 * libmicrohttpd gives us a per-address limit (MHD_OPTION_PER_IP_...) and
 * an idle timeout that every byte restarts; on its own it cannot stop a
 * client that trickles a request in one byte at a time, and at its
 * connection limit it stops accepting, so new clients queue in the
 * kernel's backlog behind the flood.  Here:
 *   - the global budget is ours: when http_max_connections are open, the
 *     accept policy makes room by cutting the connection that has waited
 *     longest (over a second) for a request head -- an idle keep-alive
 *     connection or a slow sender, never one being answered -- and
 *     refuses the new one at once (closed, not queued) if there is none;
 *     libmicrohttpd's own limit is set well above ours, so it never
 *     stops accepting before we decide;
 *   - every connection is tracked from the notify-connection callback;
 *     a reaper thread cuts (shutdown(2)) any whose request head is not
 *     complete http_header_timeout seconds after it opened or after the
 *     previous answer, and any whose body arrives slower than
 *     http_min_body_rate bytes per second once that same grace is over.
 * The reaper takes the table lock that the CLOSED notification takes
 * too, and libmicrohttpd sends that notification before it closes the
 * socket, so the reaper never touches a descriptor that was reused.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <apitoken/error.h>
#include <apitoken/log.h>

#include "apitokend.h"
#include "http_limits.h"

#define REAP_MS 250
#define FD_RESERVE 512 /* store, logs, UNIX sockets and their peers */

enum phase { PH_HEAD, PH_BODY, PH_ANSWER };

struct track {
	int fd;              /* -1: free */
	unsigned next;       /* free list */
	atomic_int phase;    /* enum phase */
	atomic_llong since;  /* ms, when the phase began */
	atomic_ullong bytes; /* body bytes of the current request */
};

static struct {
	struct apitokend *d;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	pthread_t reaper;
	bool started, stopping;
	struct track *t;
	unsigned n, free_head;
	unsigned limit;
	atomic_uint live;
	atomic_ulong refused, refused_mhd, cut_head, cut_body, evicted;
	atomic_llong last_refusal_log;
} lim = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* Coarse (a few ms): deadlines are seconds, and it is read three times
 * per request. */
static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Raise the soft descriptor limit to the hard one; the soft limit. */
static rlim_t
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t old = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = old;
	}
	return rl.rlim_cur;
}

static void
cut(struct track *t, atomic_ulong *counter, unsigned *n)
{
	/* libmicrohttpd then reads EOF and closes the connection on its
	 * own thread. */
	(void)shutdown(t->fd, SHUT_RDWR);
	t->fd = -2; /* cut, still tracked until CLOSED */
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
	(*n)++;
}

static void *
reaper_main(void *arg)
{
	struct timespec ts;
	int64_t now, head_ms, since, grace;
	unsigned long long need, rate;
	const apitoken_config_t *cfg;
	struct track *t;
	unsigned i, n_head, n_body;

	(void)arg;
	pthread_mutex_lock(&lim.mu);
	while (!lim.stopping) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += REAP_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&lim.cond, &lim.mu, &ts);
		if (lim.stopping)
			break;
		/* Per round: a SIGHUP applies to open connections. */
		cfg = apitokend_gen(lim.d)->cfg;
		head_ms = (int64_t)cfg->http_header_timeout * 1000;
		rate = cfg->http_min_body_rate;
		grace = head_ms;
		now = now_ms();
		n_head = n_body = 0;
		for (i = 0; i < lim.n; i++) {
			t = &lim.t[i];
			if (t->fd < 0)
				continue;
			since = atomic_load_explicit(&t->since,
			                             memory_order_relaxed);
			switch (atomic_load_explicit(&t->phase,
			                             memory_order_relaxed)) {
			case PH_HEAD:
				if (now - since > head_ms)
					cut(t, &lim.cut_head, &n_head);
				break;
			case PH_BODY:
				if (rate == 0 || now - since <= grace)
					break;
				need =
				    (unsigned long long)(now - since - grace) *
				    rate / 1000;
				if (atomic_load_explicit(
				        &t->bytes, memory_order_relaxed) <
				    need)
					cut(t, &lim.cut_body, &n_body);
				break;
			default:
				break;
			}
		}
		/* One line per round, however many were cut. */
		if (n_head + n_body > 0)
			apitoken_log(
			    APITOKEN_LOG_INFO,
			    "http: cut %u connection(s) whose request "
			    "head took over %u s, %u whose body came "
			    "slower than %llu bytes/s",
			    n_head, cfg->http_header_timeout, n_body, rate);
	}
	pthread_mutex_unlock(&lim.mu);
	return NULL;
}

int
apitokend_limits_start(struct apitokend *d, unsigned threads,
                       unsigned *mhd_limit_out)
{
	const apitoken_config_t *cfg = apitokend_gen(d)->cfg;
	rlim_t nofile = raise_nofile();
	unsigned long budget, limit, mhd;
	unsigned i;

	budget = nofile > FD_RESERVE + 64
	             ? (unsigned long)(nofile - FD_RESERVE)
	             : 64;
	limit = cfg->http_max_connections;
	/* Room for libmicrohttpd's own limit above ours (below). */
	if (limit > budget / 2) {
		limit = budget / 2;
		apitoken_log(APITOKEN_LOG_WARNING,
		             "http_max_connections lowered to %lu: only %lu "
		             "file descriptors",
		             limit, (unsigned long)nofile);
	}
	/* libmicrohttpd splits its limit evenly between its threads and a
	 * thread at its share stops accepting: give each thread all of
	 * ours, as far as descriptors allow. */
	mhd = limit * (threads > 0 ? threads : 1) + 16;
	if (mhd > budget)
		mhd = budget;
	lim.d = d;
	lim.limit = (unsigned)limit;
	lim.n = (unsigned)mhd;
	lim.t = calloc(lim.n, sizeof(*lim.t));
	if (lim.t == NULL)
		return apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
	for (i = 0; i < lim.n; i++) {
		lim.t[i].fd = -1;
		lim.t[i].next = i + 1;
	}
	lim.free_head = 0;
	lim.stopping = false;
	if (pthread_create(&lim.reaper, NULL, reaper_main, NULL) != 0) {
		free(lim.t);
		lim.t = NULL;
		return apitoken_error(APITOKEN_ERR_IO,
		                      "cannot start the connection reaper");
	}
	lim.started = true;
	*mhd_limit_out = (unsigned)mhd;
	return 0;
}

void
apitokend_limits_stop(void)
{
	if (lim.started) {
		pthread_mutex_lock(&lim.mu);
		lim.stopping = true;
		pthread_cond_signal(&lim.cond);
		pthread_mutex_unlock(&lim.mu);
		pthread_join(lim.reaper, NULL);
		lim.started = false;
	}
	free(lim.t);
	lim.t = NULL;
	lim.n = 0;
}

/* Cut the connection waiting longest (> 1 s) for a request head; false
 * if there is none. */
static bool
evict_oldest_waiting(void)
{
	struct track *t, *oldest = NULL;
	int64_t now = now_ms(), since, best = now - 1000;
	unsigned i;

	pthread_mutex_lock(&lim.mu);
	for (i = 0; i < lim.n; i++) {
		t = &lim.t[i];
		if (t->fd < 0 ||
		    atomic_load_explicit(&t->phase, memory_order_relaxed) !=
		        PH_HEAD)
			continue;
		since = atomic_load_explicit(&t->since, memory_order_relaxed);
		if (since < best) {
			best = since;
			oldest = t;
		}
	}
	if (oldest != NULL) {
		(void)shutdown(oldest->fd, SHUT_RDWR);
		oldest->fd = -2; /* cut, still tracked until CLOSED */
		atomic_fetch_add_explicit(&lim.evicted, 1,
		                          memory_order_relaxed);
	}
	pthread_mutex_unlock(&lim.mu);
	return oldest != NULL;
}

enum MHD_Result
apitokend_limits_accept(void *cls, const struct sockaddr *addr,
                        socklen_t addrlen)
{
	int64_t now, last;
	unsigned live;

	(void)cls;
	(void)addr;
	(void)addrlen;
	live = atomic_load_explicit(&lim.live, memory_order_relaxed);
	if (live < lim.limit)
		return MHD_YES;
	/* Over our budget by the connections being cut at most: they close
	 * within a round of libmicrohttpd's loop. */
	if (live < lim.limit + lim.limit / 4 + 16 && live + 16 < lim.n &&
	    evict_oldest_waiting())
		return MHD_YES;
	atomic_fetch_add_explicit(&lim.refused, 1, memory_order_relaxed);
	/* One line a second at most: a flood must not flood the log. */
	now = now_ms();
	last =
	    atomic_load_explicit(&lim.last_refusal_log, memory_order_relaxed);
	if (now - last >= 1000 &&
	    atomic_compare_exchange_strong(&lim.last_refusal_log, &last, now))
		apitoken_log(
		    APITOKEN_LOG_WARNING,
		    "http: %u connections open (http_max_connections)"
		    "; refusing new ones (%lu so far)",
		    lim.limit,
		    atomic_load_explicit(&lim.refused, memory_order_relaxed));
	return MHD_NO;
}

bool
apitokend_limits_mhd_message(const char *msg)
{
	int64_t now, last;

	/* libmicrohttpd's line for every connection over the per-address
	 * limit (or its own): counted, and logged once a second. */
	if (strstr(msg, "reached connection limit") == NULL &&
	    strstr(msg, "reached per-IP") == NULL)
		return false;
	atomic_fetch_add_explicit(&lim.refused_mhd, 1, memory_order_relaxed);
	now = now_ms();
	last =
	    atomic_load_explicit(&lim.last_refusal_log, memory_order_relaxed);
	if (now - last >= 1000 &&
	    atomic_compare_exchange_strong(&lim.last_refusal_log, &last, now))
		apitoken_log(APITOKEN_LOG_WARNING,
		             "http: refusing connections over "
		             "http_max_connections_per_address (%lu so far)",
		             atomic_load_explicit(&lim.refused_mhd,
		                                  memory_order_relaxed));
	return true;
}

void
apitokend_limits_notify(void *cls, struct MHD_Connection *c,
                        void **socket_context,
                        enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo *ci;
	struct track *t = *socket_context;
	unsigned i;

	(void)cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		atomic_fetch_add_explicit(&lim.live, 1, memory_order_relaxed);
		ci = MHD_get_connection_info(
		    c, MHD_CONNECTION_INFO_CONNECTION_FD);
		pthread_mutex_lock(&lim.mu);
		if (ci != NULL && lim.free_head < lim.n) {
			i = lim.free_head;
			t = &lim.t[i];
			lim.free_head = t->next;
			t->fd = ci->connect_fd;
			atomic_store(&t->phase, PH_HEAD);
			atomic_store(&t->since, now_ms());
			atomic_store(&t->bytes, 0);
			*socket_context = t;
		}
		pthread_mutex_unlock(&lim.mu);
		return;
	}
	atomic_fetch_sub_explicit(&lim.live, 1, memory_order_relaxed);
	if (t == NULL)
		return;
	pthread_mutex_lock(&lim.mu);
	t->fd = -1;
	t->next = lim.free_head;
	lim.free_head = (unsigned)(t - lim.t);
	pthread_mutex_unlock(&lim.mu);
	*socket_context = NULL;
}

static struct track *
track_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

static void
set_phase(struct MHD_Connection *c, enum phase ph)
{
	struct track *t = track_of(c);

	if (t == NULL)
		return;
	atomic_store_explicit(&t->bytes, 0, memory_order_relaxed);
	atomic_store_explicit(&t->since, now_ms(), memory_order_relaxed);
	atomic_store_explicit(&t->phase, ph, memory_order_relaxed);
}

void
apitokend_limits_head_done(struct MHD_Connection *c)
{
	set_phase(c, PH_BODY);
}

void
apitokend_limits_body(struct MHD_Connection *c, size_t n)
{
	struct track *t = track_of(c);

	if (t != NULL)
		atomic_fetch_add_explicit(&t->bytes, n, memory_order_relaxed);
}

void
apitokend_limits_answering(struct MHD_Connection *c)
{
	set_phase(c, PH_ANSWER);
}

void
apitokend_limits_request_done(struct MHD_Connection *c)
{
	set_phase(c, PH_HEAD);
}

void
apitokend_limits_metrics_write(FILE *out)
{
	fprintf(out,
	        "# HELP apitokend_http_connections Open HTTP connections.\n"
	        "# TYPE apitokend_http_connections gauge\n"
	        "apitokend_http_connections %u\n"
	        "# HELP apitokend_http_connections_limit "
	        "http_max_connections in effect.\n"
	        "# TYPE apitokend_http_connections_limit gauge\n"
	        "apitokend_http_connections_limit %u\n"
	        "# HELP apitokend_http_connections_refused_total Connections "
	        "refused at once, by the limit they were over.\n"
	        "# TYPE apitokend_http_connections_refused_total counter\n"
	        "apitokend_http_connections_refused_total{limit=\"total\"} "
	        "%lu\n"
	        "apitokend_http_connections_refused_total{limit=\"address\"} "
	        "%lu\n"
	        "# HELP apitokend_http_connections_cut_total Connections cut "
	        "for sending too slowly, or (evicted) to make room while "
	        "http_max_connections were open.\n"
	        "# TYPE apitokend_http_connections_cut_total counter\n"
	        "apitokend_http_connections_cut_total{phase=\"head\"} %lu\n"
	        "apitokend_http_connections_cut_total{phase=\"body\"} %lu\n"
	        "apitokend_http_connections_cut_total{phase=\"evicted\"} "
	        "%lu\n",
	        atomic_load(&lim.live), lim.limit, atomic_load(&lim.refused),
	        atomic_load(&lim.refused_mhd), atomic_load(&lim.cut_head),
	        atomic_load(&lim.cut_body), atomic_load(&lim.evicted));
}
