/*
 * TCP_NODELAY on Berkeley DB's replication sockets.
 *
 * libdb 5.3's replication manager never sets TCP_NODELAY: with Nagle's
 * algorithm and delayed ACKs each commit waiting for a quorum ack, and
 * each propagation, costs about 40 ms (measured here: 22 commits/s; with
 * the option, quorum commit p50 0.9 ms, propagation p50 0.5 ms).  libdb
 * has no setting for it, but it does call setsockopt(SO_KEEPALIVE) on
 * every repmgr connection, through the PLT: this definition in the
 * program (exported with --export-dynamic-symbol, see regions.mk) is the
 * one the dynamic linker binds libdb's call to.  It forwards to the C
 * library's and, when a socket gets SO_KEEPALIVE, adds TCP_NODELAY.
 *
 * Other callers in apitokend that set SO_KEEPALIVE (libcurl's forwarding
 * connections) also get TCP_NODELAY, which they want anyway.  Nothing
 * else changes: the call's result is the C library's.
 */
#include "config.h"

#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <sys/socket.h>

typedef int (*setsockopt_fn)(int, int, int, const void *, socklen_t);

int
setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	static setsockopt_fn real;
	setsockopt_fn fn = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
	int rc, one = 1;

	if (fn == NULL) {
		/* POSIX lets a data pointer carry a function's address. */
		void *sym = dlsym(RTLD_NEXT, "setsockopt");

		*(void **)&fn = sym;
		if (fn == NULL)
			return -1;
		__atomic_store_n(&real, fn, __ATOMIC_RELEASE);
	}
	rc = fn(fd, level, name, val, len);
	if (rc == 0 && level == SOL_SOCKET && name == SO_KEEPALIVE)
		(void)fn(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return rc;
}
