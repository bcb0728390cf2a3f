/*
 * The Berkeley DB cache: its size, and which pages leave it first.
 *
 * Size: the "store_cache" key in bytes, or (0, "auto", the default) twice
 * the size of the store's database files at open but at least a
 * sixteenth of the machine's memory up to 256 MB; never more than a
 * quarter of the memory, never less than 64 MB.  Twice, because the store
 * grows while it is open (a bulk import) and because MVCC keeps old page
 * versions in the cache next to the current ones.  Measured with
 * tests/bench (see its README): at 1M users and tokens a 64 MB cache
 * holds 62% of the token pages and bulk imports slow down to a few
 * thousand users a second, evicting pages (__memp_alloc) most of the time.
 *
 * MVCC keeps every transaction that wrote a cached page version alive in
 * the transaction region (see store.c), so tx_max grows with the cache:
 * one slot per two 4 KB pages, at least 24000.
 *
 * A DB_CONFIG with set_cachesize or set_tx_max lines overrides both (the
 * file wins over the API in Berkeley DB): stores made by earlier versions
 * wrote those lines, so a DB_CONFIG that is exactly the one they wrote
 * is brought up to date at open; one edited by hand is left alone and
 * the key is then ignored, which the log says.
 *
 * Priorities: audit and outbox pages are written once and read rarely;
 * they are the first to leave the cache (DB_PRIORITY_VERY_LOW), so token
 * and user pages, read on every check, stay.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apitoken/error.h>
#include <apitoken/log.h>

#include "store_int.h"

#define CACHE_MIN (64ULL << 20)
#define AUTO_FLOOR (256ULL << 20)
#define TX_MAX_MIN 24000u

/* The DB_CONFIG written by stores before store_cache existed. */
static const char old_db_config[] =
    "# apitoken store: Berkeley DB settings, read at every open.\n"
    "# Keep set_tx_max above cache bytes / 4096 (MVCC, see store.c).\n"
    "set_cachesize 0 67108864 1\n"
    "set_lg_bsize 1048576\n"
    "set_lg_max 16777216\n"
    "set_tx_max 24000\n"
    "set_lk_detect DB_LOCK_DEFAULT\n"
    "set_lk_max_locks 20000\n"
    "set_lk_max_objects 20000\n"
    "set_lk_max_lockers 4096\n";

static uint64_t
store_bytes(const char *dir)
{
	static const char *const files[] = {
	    STORE_DB_META,       STORE_DB_USERS,     STORE_DB_TOKENS,
	    STORE_DB_USER_TOKEN, STORE_DB_EXPIRY,    STORE_DB_CLIENTS,
	    STORE_DB_OUTBOX,     STORE_DB_OUTBOX_DUE};
	char path[4096];
	struct stat sb;
	uint64_t total = 0;
	size_t i;

	/* Not audit.db: its pages are evicted first and seldom read. */
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
			total += (uint64_t)sb.st_size;
	}
	return total;
}

/*
 * A DB_CONFIG that is byte for byte the old default loses its cache and
 * tx_max lines (written to a new file, synced, renamed into place);
 * nothing else is touched.
 */
static void
upgrade_db_config(const char *dir)
{
	char path[4096], tmp[4096], buf[sizeof(old_db_config) + 1];
	const char *line, *end;
	ssize_t n;
	int fd, ok;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, STORE_DB_CONFIG);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf));
	(void)close(fd);
	if (n != (ssize_t)sizeof(old_db_config) - 1 ||
	    memcmp(buf, old_db_config, (size_t)n) != 0)
		return;
	(void)snprintf(tmp, sizeof(tmp), "%s/%s.new", dir, STORE_DB_CONFIG);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	          0600);
	ok = fd >= 0;
	for (line = old_db_config; ok && *line != '\0'; line = end + 1) {
		end = strchr(line, '\n');
		if (strncmp(line, "set_cachesize ", 14) == 0 ||
		    strncmp(line, "set_tx_max ", 11) == 0 ||
		    strncmp(line, "# Keep set_tx_max", 17) == 0)
			continue;
		ok = write(fd, line, (size_t)(end + 1 - line)) ==
		     (ssize_t)(end + 1 - line);
	}
	if (fd >= 0) {
		ok = ok && fsync(fd) == 0;
		ok = close(fd) == 0 && ok;
	}
	if (!ok || rename(tmp, path) != 0) {
		apitoken_log(APITOKEN_LOG_WARNING,
		             "store %s: cannot update DB_CONFIG: %s", dir,
		             strerror(errno));
		(void)unlink(tmp);
		return;
	}
	apitoken_log(APITOKEN_LOG_NOTICE,
	             "store %s: DB_CONFIG updated: the store_cache key sizes "
	             "the cache now",
	             dir);
}

int
store_cache_size(apitoken_store_t *st, const apitoken_config_t *cfg)
{
	uint64_t bytes = cfg->store_cache, ram = apitoken_machine_memory(),
	         pages;
	u_int32_t tx_max;
	int ncache, ret;

	if (!st->rdonly)
		upgrade_db_config(st->dir);
	if (bytes == 0) {
		bytes = 2 * store_bytes(st->dir);
		/* A new store about to be filled (user import) needs room
		 * too: a 1M-user import slowed from 35k to 4k users/s once
		 * users.db outgrew a 64 MB cache; with 256 MB it kept
		 * 22k/s, with 1 GB 30-40k/s.  More is not the default:
		 * every open initialises the regions (1 GB tripled the
		 * time of an offline apitokenctl command, 256 MB cost
		 * nothing measurable). */
		if (bytes < ram / 16 && bytes < AUTO_FLOOR)
			bytes = ram / 16 < AUTO_FLOOR ? ram / 16 : AUTO_FLOOR;
		if (bytes > ram / 4)
			bytes = ram / 4;
		if (bytes < CACHE_MIN)
			bytes = CACHE_MIN;
	} else if (bytes > ram / 2) {
		apitoken_log(APITOKEN_LOG_WARNING,
		             "store_cache: %llu MB is more than half of this "
		             "machine's memory",
		             (unsigned long long)(bytes >> 20));
	}
	apitoken_log(APITOKEN_LOG_INFO, "store %s: cache %llu MB (%s)",
	             st->dir, (unsigned long long)(bytes >> 20),
	             cfg->store_cache != 0 ? "store_cache" : "auto");
	/* Regions of at most 1 GB each. */
	ncache = (int)(bytes >> 30) + 1;
	ret = st->env->set_cachesize(st->env, (u_int32_t)(bytes >> 30),
	                             (u_int32_t)(bytes & ((1u << 30) - 1)),
	                             ncache);
	if (ret != 0)
		return apitoken_error(APITOKEN_ERR_CONFIG, "store_cache: %s",
		                      db_strerror(ret));
	/* Berkeley DB adds a quarter to caches under 500 MB. */
	pages = bytes / 4096 * 5 / 4;
	tx_max = pages / 2 + 1024 > TX_MAX_MIN ? (u_int32_t)(pages / 2 + 1024)
	                                       : TX_MAX_MIN;
	(void)st->env->set_tx_max(st->env, tx_max);
	return 0;
}

void
store_cache_priorities(apitoken_store_t *st)
{
	DB *low[] = {st->audit, st->outbox, st->outbox_due};
	size_t i;

	for (i = 0; i < sizeof(low) / sizeof(low[0]); i++)
		if (low[i] != NULL)
			(void)low[i]->get_mpf(low[i])->set_priority(
			    low[i]->get_mpf(low[i]), DB_PRIORITY_VERY_LOW);
}
