/*
 * A stand-in for apitokend's admin side, for tests: opens the store (so
 * that apitokenctl sees it held and goes through the admin socket),
 * listens on the configured admin socket and serves each connection with
 * apitoken_admin_serve(), one at a time.
 *
 *   admin_echo_server CONFIG STORE_DIR
 *
 * Prints "ready" on stdout once it listens.  Exits on SIGTERM/SIGINT or
 * after 300 s (a test that forgets it cannot leave it running).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <apitoken/admin.h>
#include <apitoken/config.h>
#include <apitoken/error.h>
#include <apitoken/store.h>

#define LIFETIME_S 300

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int
listen_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "admin_echo_server: path too long\n");
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	(void)unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 16) < 0) {
		fprintf(stderr, "admin_echo_server: %s: %s\n", path,
		        strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int
main(int argc, char **argv)
{
	apitoken_config_t *cfg = NULL;
	apitoken_store_t *store = NULL;
	struct sigaction sa = {.sa_handler = on_signal};
	time_t end = time(NULL) + LIFETIME_S;
	int lfd = -1, rc = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: admin_echo_server CONFIG STORE\n");
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (apitoken_config_load(argv[1], &cfg) < 0 ||
	    apitoken_config_set_store(cfg, argv[2]) < 0 ||
	    apitoken_store_open(cfg, 0, &store) < 0) {
		fprintf(stderr, "admin_echo_server: %s\n",
		        apitoken_last_error());
		goto out;
	}
	lfd = listen_unix(cfg->admin_socket);
	if (lfd < 0)
		goto out;
	printf("ready\n");
	fflush(stdout);
	while (!stop && time(NULL) < end) {
		struct pollfd p = {.fd = lfd, .events = POLLIN};
		int n = poll(&p, 1, 200);

		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		if (p.revents & POLLIN) {
			int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (cfd < 0)
				continue;
			struct ucred cred;
			socklen_t clen = sizeof(cred);
			char uid[24], source[48];
			apitoken_actor_t actor = {.kind =
			                              APITOKEN_ACTOR_ADMIN};

			/* The actor as apitokend makes it from the peer. */
			if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred,
			               &clen) != 0) {
				close(cfd);
				continue;
			}
			snprintf(uid, sizeof(uid), "%ld", (long)cred.uid);
			snprintf(source, sizeof(source),
			         "admin socket pid %ld", (long)cred.pid);
			actor.id = uid;
			actor.source = source;
			if (apitoken_admin_serve_as(store, cfd, &actor) < 0)
				fprintf(stderr, "admin_echo_server: %s\n",
				        apitoken_last_error());
			close(cfd);
		}
	}
	rc = 0;
out:
	if (lfd >= 0) {
		close(lfd);
		(void)unlink(cfg->admin_socket);
	}
	apitoken_store_close(store);
	apitoken_config_free(cfg);
	return rc;
}
