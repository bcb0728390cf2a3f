/*
 * apitokend: background threads yield to the request path.
 *
 * The sweep (purge of expired tokens, audit and tombstone retention) and
 * admin commands (a purge of 200000 tokens takes half a minute of CPU)
 * are work no client waits on, while introspection answers are.  On a
 * machine whose CPUs the workers keep busy, such a thread at the default
 * priority takes its full share from them: introspection ran at 0.47 of
 * its throughput during a purge (tests/bench/scale-bench.sh).  A higher
 * nice value on just that thread (Linux sets it per thread) leaves it
 * what the workers do not use; when they are idle it runs at full speed.
 * Raising one's own nice value needs no privilege, and it is never
 * lowered again: the threads that call this are the sweep thread and
 * admin-socket connection threads, which end with their connection.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <apitoken/log.h>

#include "apitokend.h"

#define BACKGROUND_NICE 10

void
apitokend_background_thread(const char *what)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);

	errno = 0;
	if (getpriority(PRIO_PROCESS, (id_t)tid) >= BACKGROUND_NICE &&
	    errno == 0)
		return;
	if (setpriority(PRIO_PROCESS, (id_t)tid, BACKGROUND_NICE) != 0)
		apitoken_log(APITOKEN_LOG_INFO,
		             "%s: runs at the daemon's priority: %s", what,
		             strerror(errno));
}
