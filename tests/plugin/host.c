/*
 * A validator host, as a daemon would be: dlopen() validator.so, refuse
 * another ABI major, open it with the options given and check tokens
 * read from stdin, one per line.  One line of output per token:
 *     VALID user=alice role=user scope="api:read bu:7" bus="7" flags=0
 *     INVALID reason="inactive token" flags=0
 * Used by tests/integration/plugin*.sh.
 *
 * usage: host [-s scope] [-a host_abi] [-T threads] [-F] SO [option...]
 *   -a  pretend to be a host of this ABI version (to see it refused)
 *   -T  check every token from that many threads at once through one
 *       handle; all answers must agree ("threads agree" is printed)
 *   -F  fork while another thread is in a check: the first line's token
 *       is checked in a thread, the second one in a child forked during
 *       that check ("child VALID ...", or "child stuck" and exit 6 if
 *       it hangs for 5 s)
 * The result lies in front of guard bytes, as the host's stack would: a
 * plugin that writes past this host's struct (a newer minor's members)
 * makes it print "RESULT OVERRUN" and exit 5.
 * Exit: 0 done, 2 open() refused, 3 plugin of another major, 1 usage.
 */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apitoken/validator.h>

#define MAX_THREADS 16
#define THREAD_ROUNDS 50
#define GUARD_BYTE 0xa5

/* This host's result (of the minor it was built with), then guard bytes. */
static struct {
	struct apitoken_validation r;
	unsigned char guard[1024];
} res;

static const struct apitoken_validator *v;
static void *handle;
static const char *scope;

struct job {
	pthread_t tid;
	const char *token;
	struct apitoken_validation first;
	int mismatches;
};

static const char *
status_name(int s)
{
	switch (s) {
	case APITOKEN_VALIDATION_VALID:
		return "VALID";
	case APITOKEN_VALIDATION_INVALID:
		return "INVALID";
	case APITOKEN_VALIDATION_UNAVAILABLE:
		return "UNAVAILABLE";
	default:
		return "BADSTATUS";
	}
}

static void *
run(void *arg)
{
	struct job *j = arg;
	struct apitoken_validation r;
	int i;

	for (i = 0; i < THREAD_ROUNDS; i++) {
		v->check(handle, j->token, strlen(j->token), scope, &r);
		if (i == 0)
			j->first = r;
		else if (r.status != j->first.status ||
		         strcmp(r.username, j->first.username) != 0)
			j->mismatches++;
	}
	return NULL;
}

static void *
check_once(void *arg)
{
	struct apitoken_validation r;

	v->check(handle, arg, strlen(arg), scope, &r);
	return NULL;
}

/* -F: fork while another thread is inside check(). */
static int
fork_during_check(void)
{
	char slow[1024], tok[1024];
	struct apitoken_validation r;
	struct timespec pause = {0, 150 * 1000 * 1000};
	pthread_t tid;
	pid_t pid;
	int st;

	if (fgets(slow, sizeof(slow), stdin) == NULL ||
	    fgets(tok, sizeof(tok), stdin) == NULL)
		return 1;
	slow[strcspn(slow, "\n")] = '\0';
	tok[strcspn(tok, "\n")] = '\0';
	if (pthread_create(&tid, NULL, check_once, slow) != 0)
		return 1;
	/* The thread is now waiting for the slow answer, inside check(). */
	(void)nanosleep(&pause, NULL);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		alarm(5);
		v->check(handle, tok, strlen(tok), scope, &r);
		printf("child %s user=%s\n", status_name(r.status),
		       r.username);
		fflush(stdout);
		_exit(0);
	}
	(void)pthread_join(tid, NULL);
	if (waitpid(pid, &st, 0) != pid)
		return 1;
	if (WIFSIGNALED(st)) {
		printf("child stuck (signal %d)\n", WTERMSIG(st));
		return 6;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned host_abi = APITOKEN_VALIDATOR_ABI_VERSION;
	struct apitoken_validation *rp = &res.r;
	struct job jobs[MAX_THREADS];
	const char *errstr = NULL;
	char line[1024];
	int opt, threads = 0, i, rc = 0;
	bool fork_test = false;
	void *dl;

	while ((opt = getopt(argc, argv, "+s:a:T:F")) != -1) {
		switch (opt) {
		case 'F':
			fork_test = true;
			break;
		case 's':
			scope = optarg;
			break;
		case 'a':
			host_abi = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'T':
			threads = atoi(optarg);
			if (threads < 1 || threads > MAX_THREADS)
				return 1;
			break;
		default:
			return 1;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: host [-s scope] SO [option...]\n");
		return 1;
	}
	dl = dlopen(argv[optind], RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	v = dlsym(dl, APITOKEN_VALIDATOR_SYMBOL);
	if (v == NULL) {
		fprintf(stderr, "dlsym: %s\n", dlerror());
		return 1;
	}
	if (APITOKEN_VALIDATOR_ABI_MAJOR_OF(v->abi_version) !=
	    APITOKEN_VALIDATOR_ABI_MAJOR) {
		printf("plugin ABI %u.%u refused\n",
		       APITOKEN_VALIDATOR_ABI_MAJOR_OF(v->abi_version),
		       APITOKEN_VALIDATOR_ABI_MINOR_OF(v->abi_version));
		return 3;
	}
	printf("abi %u.%u\n", APITOKEN_VALIDATOR_ABI_MAJOR_OF(v->abi_version),
	       APITOKEN_VALIDATOR_ABI_MINOR_OF(v->abi_version));
	fflush(stdout);
	if (v->open(host_abi, argv + optind + 1, &handle, &errstr) != 0) {
		printf("open refused: %s\n", errstr ? errstr : "(null)");
		return 2;
	}
	if (fork_test)
		return fork_during_check();
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (threads > 0) {
			for (i = 0; i < threads; i++) {
				memset(&jobs[i], 0, sizeof(jobs[i]));
				jobs[i].token = line;
				if (pthread_create(&jobs[i].tid, NULL, run,
				                   &jobs[i]) != 0)
					return 1;
			}
			for (i = 0; i < threads; i++) {
				pthread_join(jobs[i].tid, NULL);
				if (jobs[i].mismatches != 0 ||
				    jobs[i].first.status !=
				        jobs[0].first.status ||
				    strcmp(jobs[i].first.username,
				           jobs[0].first.username) != 0)
					rc = 4;
			}
			printf("%s threads %s\n",
			       status_name(jobs[0].first.status),
			       rc == 0 ? "agree" : "DISAGREE");
			continue;
		}
		memset(res.guard, GUARD_BYTE, sizeof(res.guard));
		v->check(handle, line, strlen(line), scope, rp);
		for (i = 0; i < (int)sizeof(res.guard); i++) {
			if (res.guard[i] != GUARD_BYTE) {
				printf("RESULT OVERRUN at byte %zu\n",
				       sizeof(res.r) + (size_t)i);
				return 5;
			}
		}
		if (rp->status == APITOKEN_VALIDATION_VALID ||
		    (rp->flags & APITOKEN_VALIDATION_INSUFFICIENT_SCOPE))
			printf("%s user=%s role=%s scope=\"%s\" bus=\"%s\" "
			       "exp=%s flags=%u reason=\"%s\"\n",
			       status_name(rp->status), rp->username, rp->role,
			       rp->scope, rp->business_units,
			       rp->exp > 0 ? "set" : "unset", rp->flags,
			       rp->reason);
		else
			printf("%s reason=\"%s\" flags=%u user=%s\n",
			       status_name(rp->status), rp->reason, rp->flags,
			       rp->username);
		fflush(stdout);
	}
	v->close(handle);
	/* No dlclose(): the plugin is linked nodelete, as hosts may be. */
	return rc;
}
