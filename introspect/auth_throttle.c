/*
 * apitokend: which failed authentications are throttled, and by what
 * key (the tables themselves are throttle.c).  Two tables share the
 * settings auth_throttle_*: source addresses, so one host cannot guess
 * at speed, and client ids, so many hosts cannot guess one client's
 * secret at speed either.  An IPv6 source counts by its /64, the block
 * one subscriber gets.  A client whose id is throttled by someone else's
 * guessing still gets in when this worker remembers its secret as good
 * (client_auth.c checks the throttle only after a cache miss).
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <apitoken/error.h>

#include "apitokend.h"
#include "throttle.h"

static struct apitokend_throttle *by_address, *by_client;

int
apitokend_auth_throttle_start(const apitoken_config_t *cfg)
{
	struct apitokend_throttle_conf tc = {
	    "address", cfg->auth_throttle_slots, cfg->auth_throttle_burst,
	    cfg->auth_throttle_per_minute / 60.0, 60};

	if (cfg->auth_throttle_burst == 0)
		return 0; /* off */
	by_address = apitokend_throttle_create(&tc);
	tc.name = "client_id";
	by_client = apitokend_throttle_create(&tc);
	if (by_address == NULL || by_client == NULL) {
		apitokend_auth_throttle_stop();
		return APITOKEN_ERR_NOMEM;
	}
	return 0;
}

void
apitokend_auth_throttle_stop(void)
{
	apitokend_throttle_destroy(by_address);
	apitokend_throttle_destroy(by_client);
	by_address = by_client = NULL;
}

/* The source address as text, an IPv6 one cut to its /64. */
static size_t
address_key(struct MHD_Connection *c, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa;
	struct in6_addr a6;

	buf[0] = '\0';
	if (ci == NULL || ci->client_addr == NULL)
		return 0;
	sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		inet_ntop(
		    AF_INET,
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    buf, (socklen_t)len);
	} else if (sa->sa_family == AF_INET6) {
		a6 =
		    ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (!IN6_IS_ADDR_V4MAPPED(&a6))
			memset(&a6.s6_addr[8], 0, 8);
		inet_ntop(AF_INET6, &a6, buf, (socklen_t)len);
	}
	return strlen(buf);
}

unsigned
apitokend_auth_throttle_wait(struct MHD_Connection *c, const char *client_id)
{
	char addr[INET6_ADDRSTRLEN];
	size_t n;
	unsigned secs;

	/* The common case, nobody throttled: not even the address. */
	if (apitokend_throttle_idle(by_address) &&
	    (client_id == NULL || apitokend_throttle_idle(by_client)))
		return 0;
	n = address_key(c, addr, sizeof(addr));
	secs = n > 0 ? apitokend_throttle_wait(by_address, addr, n) : 0;
	if (secs == 0 && client_id != NULL)
		secs = apitokend_throttle_wait(by_client, client_id,
		                               strlen(client_id));
	return secs;
}

void
apitokend_auth_throttle_failed(struct MHD_Connection *c, const char *client_id)
{
	char addr[INET6_ADDRSTRLEN];
	size_t n;

	if (by_address == NULL)
		return;
	n = address_key(c, addr, sizeof(addr));
	if (n > 0)
		(void)apitokend_throttle_fail(by_address, addr, n);
	if (client_id != NULL && client_id[0] != '\0')
		(void)apitokend_throttle_fail(by_client, client_id,
		                              strlen(client_id));
}
