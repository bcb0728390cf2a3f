/*
 * Berkeley DB's replication sockets, seen from inside apitokend: the
 * TCP_NODELAY that libdb never sets, and a count of their traffic that
 * tells a replica's readers when replication may have applied a change.
 *
 * TCP_NODELAY.  libdb 5.3's replication manager never sets it: with
 * Nagle's algorithm and delayed ACKs each commit waiting for a quorum
 * ack, and each propagation, costs about 40 ms (measured here: 22
 * commits/s; with the option, quorum commit p50 0.9 ms, propagation p50
 * 0.5 ms).  libdb has no setting for it, but it does call
 * setsockopt(SO_KEEPALIVE) on every repmgr connection, through the PLT:
 * the definitions here (exported with --export-dynamic-symbol, see
 * regions.mk) are the ones the dynamic linker binds libdb's calls to.
 * They forward to the C library's; a socket that gets SO_KEEPALIVE also
 * gets TCP_NODELAY and is remembered as a replication socket.
 *
 * Traffic count.  A replica applies transactions it did not make, and no
 * libdb callback says when.  What it does say, on the wire: a replica
 * reads the transaction from a replication socket (readv) before it
 * applies it, and sends its acknowledgement (writev/send) after it has
 * applied it.  Every such call on a remembered socket bumps one counter,
 * after the call returns.  The change tail (tail.c) notes the counter
 * before each round and, once the round has retired every change it
 * read, publishes the noted value; a reader keeps using kept answers
 * only while the counter still equals it.  So a replica stops using
 * kept answers that a replicated change alters at the latest when it
 * acknowledges that change to the master, that is before the master can
 * report the write done; transactions applied without an
 * acknowledgement (catch-up after a restart) are found by the tail's
 * poll (tail.h) within APITOKEND_TAIL_POLL_MS.
 *
 * Other callers in apitokend that set SO_KEEPALIVE (libcurl's forwarding
 * connections) also get TCP_NODELAY, which they want anyway, and bump
 * the counter, which costs readers a needless store read.  Nothing else
 * changes: each call's result and errno are the C library's.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "regions.h"

/* Sockets at or above this number are not remembered: the count is then
 * declared untrustworthy and replicas' readers always ask the store. */
#define TRACKED_FDS 65536

static _Atomic unsigned char rep_fd[TRACKED_FDS];
static _Atomic uint64_t rep_io = 1;
static atomic_bool untracked;

/* The next definition of a C library function (dlsym(RTLD_NEXT)). */
static void *
next_fn(void *_Atomic *cache, const char *name)
{
	void *fn = atomic_load_explicit(cache, memory_order_acquire);

	if (fn == NULL) {
		fn = dlsym(RTLD_NEXT, name);
		if (fn != NULL)
			atomic_store_explicit(cache, fn, memory_order_release);
	}
	return fn;
}

static bool
is_rep_fd(int fd)
{
	return fd >= 0 && fd < TRACKED_FDS &&
	       atomic_load_explicit(&rep_fd[fd], memory_order_relaxed);
}

static void
count_io(int fd)
{
	if (is_rep_fd(fd))
		atomic_fetch_add_explicit(&rep_io, 1, memory_order_release);
}

int
setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	static void *_Atomic cache;
	int (*fn)(int, int, int, const void *, socklen_t);
	int rc, one = 1;

	*(void **)&fn = next_fn(&cache, "setsockopt");
	if (fn == NULL) {
		errno = ENOSYS;
		return -1;
	}
	rc = fn(fd, level, name, val, len);
	if (rc == 0 && level == SOL_SOCKET && name == SO_KEEPALIVE) {
		(void)fn(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (fd >= 0 && fd < TRACKED_FDS)
			atomic_store(&rep_fd[fd], 1);
		else
			atomic_store(&untracked, true);
	}
	return rc;
}

ssize_t
readv(int fd, const struct iovec *iov, int n)
{
	static void *_Atomic cache;
	ssize_t (*fn)(int, const struct iovec *, int);
	ssize_t rc;

	*(void **)&fn = next_fn(&cache, "readv");
	if (fn == NULL) {
		errno = ENOSYS;
		return -1;
	}
	rc = fn(fd, iov, n);
	if (rc > 0)
		count_io(fd);
	return rc;
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
	static void *_Atomic cache;
	ssize_t (*fn)(int, const struct iovec *, int);
	ssize_t rc;
	int saved;

	*(void **)&fn = next_fn(&cache, "writev");
	if (fn == NULL) {
		errno = ENOSYS;
		return -1;
	}
	rc = fn(fd, iov, n);
	saved = errno;
	count_io(fd);
	errno = saved;
	return rc;
}

ssize_t
send(int fd, const void *buf, size_t len, int flags)
{
	static void *_Atomic cache;
	ssize_t (*fn)(int, const void *, size_t, int);
	ssize_t rc;
	int saved;

	*(void **)&fn = next_fn(&cache, "send");
	if (fn == NULL) {
		errno = ENOSYS;
		return -1;
	}
	rc = fn(fd, buf, len, flags);
	saved = errno;
	count_io(fd);
	errno = saved;
	return rc;
}

int
close(int fd)
{
	static void *_Atomic cache;
	int (*fn)(int);

	*(void **)&fn = next_fn(&cache, "close");
	if (fn == NULL) {
		errno = ENOSYS;
		return -1;
	}
	/* Forgotten before the number can be handed out again. */
	if (fd >= 0 && fd < TRACKED_FDS)
		atomic_store_explicit(&rep_fd[fd], 0, memory_order_relaxed);
	return fn(fd);
}

uint64_t
apitokend_regions_io_count(void)
{
	return atomic_load_explicit(&rep_io, memory_order_acquire);
}

bool
apitokend_regions_io_trusted(void)
{
	void *bound_writev = dlsym(RTLD_DEFAULT, "writev");
	void *bound_readv = dlsym(RTLD_DEFAULT, "readv");
	void *bound_close = dlsym(RTLD_DEFAULT, "close");
	void *bound_setsockopt = dlsym(RTLD_DEFAULT, "setsockopt");

	/* libdb's calls reach these definitions only if the program
	 * exports them (regions.mk); else nothing is counted. */
	return !atomic_load(&untracked) && bound_writev == (void *)writev &&
	       bound_readv == (void *)readv && bound_close == (void *)close &&
	       bound_setsockopt == (void *)setsockopt;
}
