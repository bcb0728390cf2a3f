/*
 * apitokend: the HTTP listening socket, bound before any thread starts.
 * With port 0 the kernel picks the port; the default issuer names it, and
 * it must be final before a thread can answer with it (apitokend.c).  The
 * socket is then handed to libmicrohttpd (MHD_OPTION_LISTEN_SOCKET).
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <apitoken/error.h>

#include "apitokend.h"

/* As libmicrohttpd's own listen(): a backlog the kernel may cap. */
#define LISTEN_BACKLOG 511

int
apitokend_listen_bind(const apitoken_config_t *cfg, int *fd_out,
                      uint16_t *port_out)
{
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char port[8];
	int fd = -1, on = 1, gai, rc;

	*fd_out = -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", (unsigned)cfg->listen_port);
	gai = getaddrinfo(cfg->listen_host, port, &hints, &ai);
	if (gai != 0)
		return apitoken_error(
		    APITOKEN_ERR_CONFIG, "listen address %s:%s: %s",
		    cfg->listen_host, port, gai_strerror(gai));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	            0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    (ai->ai_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) !=
	         0) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, LISTEN_BACKLOG) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		rc = apitoken_error(APITOKEN_ERR_IO,
		                    "cannot listen on %s:%s: %s",
		                    cfg->listen_host, port, strerror(errno));
		goto out;
	}
	*port_out = ntohs(ss.ss_family == AF_INET6
	                      ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                      : ((struct sockaddr_in *)&ss)->sin_port);
	*fd_out = fd;
	fd = -1;
	rc = 0;
out:
	if (fd >= 0)
		(void)close(fd);
	freeaddrinfo(ai);
	return rc;
}
