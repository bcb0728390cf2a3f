/*
 * static_server: the baseline for tests/bench/run-bench.sh.
 *
 * A libmicrohttpd server started with the same flags, thread pool and
 * limits as apitokend (introspect/http.c) that reads each POST body and
 * answers it with one fixed 200 JSON body with apitokend's headers.  The
 * ratio apitokend/static_server thus shows what parsing, client
 * authentication, the store lookup and the JSON answer cost on top of
 * libmicrohttpd itself.
 *
 * usage: static_server [--port N] [--port-file FILE] [--threads N]
 * Runs until SIGINT or SIGTERM.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

/* Kept equal to introspect/http.c. */
#define CONNECTION_LIMIT 1024
#define CONNECTION_TIMEOUT 10

/* About the size of apitokend's answer for an active token. */
static const char body[] =
    "{\"active\":true,\"scope\":\"api:read bu:sales\","
    "\"username\":\"bench00001\",\"sub\":\"bench00001\","
    "\"token_type\":\"Bearer\",\"exp\":1795000000,\"iat\":1779000000,"
    "\"iss\":\"http://127.0.0.1:8080\",\"aud\":\"apitoken\","
    "\"jti\":\"AbCdEfGhIjKlMnOp\",\"client_id\":\"bench\","
    "\"role\":\"user\",\"business_units\":[\"sales\"]}";

static struct MHD_Response *ok_resp;
static struct MHD_Response *bad_method_resp;
static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static struct MHD_Response *
json_response(const char *text, const char *allow)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text,
	                                    MHD_RESPMEM_PERSISTENT);
	if (r == NULL ||
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	                            "application/json") != MHD_YES ||
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
	                            "no-store") != MHD_YES ||
	    MHD_add_response_header(r, MHD_HTTP_HEADER_PRAGMA, "no-cache") !=
	        MHD_YES ||
	    (allow != NULL && MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW,
	                                              allow) != MHD_YES)) {
		if (r != NULL)
			MHD_destroy_response(r);
		return NULL;
	}
	return r;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url,
        const char *method, const char *version, const char *upload_data,
        size_t *upload_data_size, void **req_cls)
{
	static int started;

	(void)cls;
	(void)url;
	(void)version;
	(void)upload_data;
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED,
		                          bad_method_resp);
	/* First call: headers only.  Then the body, consumed unread. */
	if (*req_cls == NULL) {
		*req_cls = &started;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	return MHD_queue_response(c, MHD_HTTP_OK, ok_resp);
}

static int
parse_uint(const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"port", required_argument, NULL, 'p'},
	    {"port-file", required_argument, NULL, 'P'},
	    {"threads", required_argument, NULL, 't'},
	    {NULL, 0, NULL, 0}};
	unsigned port = 0, threads = 0;
	const char *port_file = NULL;
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;
	struct sigaction sa;
	FILE *f;
	int ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			if (parse_uint(optarg, 65535, &port) != 0)
				goto usage;
			break;
		case 'P':
			port_file = optarg;
			break;
		case 't':
			if (parse_uint(optarg, 1024, &threads) != 0)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc)
		goto usage;
	if (threads == 0) {
		long np = sysconf(_SC_NPROCESSORS_ONLN);

		threads = np > 0 ? (unsigned)np : 1;
	}
	ok_resp = json_response(body, NULL);
	bad_method_resp = json_response("{\"error\":\"invalid_request\"}",
	                                MHD_HTTP_METHOD_POST);
	if (ok_resp == NULL || bad_method_resp == NULL) {
		fprintf(stderr, "static_server: out of memory\n");
		return 1;
	}
	d = MHD_start_daemon(
	    MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port,
	    NULL, NULL, handler, NULL, MHD_OPTION_THREAD_POOL_SIZE,
	    (unsigned)(threads > 1 ? threads : 0),
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
	    MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "static_server: cannot listen on port %u\n",
		        port);
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (info == NULL) {
		fprintf(stderr, "static_server: no bound port\n");
		MHD_stop_daemon(d);
		return 1;
	}
	if (port_file != NULL) {
		f = fopen(port_file, "w");
		if (f == NULL ||
		    fprintf(f, "127.0.0.1:%u\n", (unsigned)info->port) < 0 ||
		    fclose(f) != 0) {
			fprintf(stderr, "static_server: cannot write %s\n",
			        port_file);
			MHD_stop_daemon(d);
			return 1;
		}
	} else {
		printf("%u\n", (unsigned)info->port);
		fflush(stdout);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!stop)
		pause();
	MHD_stop_daemon(d);
	MHD_destroy_response(ok_resp);
	MHD_destroy_response(bad_method_resp);
	return 0;
usage:
	fprintf(stderr, "usage: static_server [--port N] [--port-file FILE] "
	                "[--threads N]\n");
	return 2;
}
