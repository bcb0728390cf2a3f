/* Option parsing shared by validator.so and pam_apitoken.so. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <apitoken/policy.h>

#include "validator_int.h"

#define SECRET_MAX 1024

static _Thread_local char errbuf[256];

static const char *err(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static const char *
err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	return errbuf;
}

/* Parse a decimal in [min, max]; false if it is not one. */
static bool
parse_int(const char *s, long min, long max, int *out)
{
	char *end;
	long v;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = (int)v;
	return true;
}

/*
 * Read the client secret.  The file must be a regular file that others
 * can neither read nor write: a secret everybody can read is no secret,
 * and refusing it makes the mistake visible at once.
 */
static int
read_secret(const char *path, char **out, const char **errstr)
{
	char buf[SECRET_MAX + 2];
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		*errstr = err("secret_file %s cannot be opened", path);
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		*errstr = err("secret_file %s is not a regular file", path);
		goto out;
	}
	if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
		*errstr = err("secret_file %s must not be readable or "
		              "writable by others (chmod o-rw)",
		              path);
		goto out;
	}
	for (;;) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*errstr = err("secret_file %s cannot be read", path);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len >= sizeof(buf) - 1) {
			*errstr = err("secret_file %s is too long", path);
			goto out;
		}
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
	                   buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	buf[len] = '\0';
	if (len == 0 || memchr(buf, '\n', len) != NULL) {
		*errstr =
		    err("secret_file %s must hold one non-empty line", path);
		goto out;
	}
	*out = strdup(buf);
	if (*out == NULL) {
		*errstr = "out of memory";
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	(void)close(fd);
	return rc;
}

static int
set_str(char **slot, const char *value, const char *key, const char **errstr)
{
	if (value == NULL || *value == '\0') {
		*errstr = err("option %s needs a value", key);
		return -1;
	}
	free(*slot);
	*slot = strdup(value);
	if (*slot == NULL) {
		*errstr = "out of memory";
		return -1;
	}
	return 0;
}

int
vconf_parse_options(struct vconf *conf, int argc, const char *const argv[],
                    bool strict, bool pam, const char **errstr)
{
	char key[32];
	int i, rc = -1;

	memset(conf, 0, sizeof(*conf));
	conf->mode = VMODE_LOCAL;
	conf->timeout_ms = VCONF_DEFAULT_TIMEOUT_MS;
	conf->cache_ttl = VCONF_DEFAULT_CACHE_TTL;
	*errstr = NULL;

	for (i = 0; i < argc && argv[i] != NULL; i++) {
		const char *arg = argv[i], *eq = strchr(arg, '=');
		const char *value = eq != NULL ? eq + 1 : NULL;
		size_t klen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);

		if (klen == 0 || klen >= sizeof(key)) {
			if (strict) {
				*errstr = "empty or overlong option name";
				goto out;
			}
			continue;
		}
		memcpy(key, arg, klen);
		key[klen] = '\0';

		if (strcmp(key, "mode") == 0) {
			if (value != NULL && strcmp(value, "local") == 0)
				conf->mode = VMODE_LOCAL;
			else if (value != NULL && strcmp(value, "remote") == 0)
				conf->mode = VMODE_REMOTE;
			else {
				*errstr =
				    "option mode must be local or remote";
				goto out;
			}
		} else if (strcmp(key, "socket") == 0) {
			if (set_str(&conf->socket, value, key, errstr) != 0)
				goto out;
		} else if (strcmp(key, "url") == 0) {
			if (set_str(&conf->url, value, key, errstr) != 0)
				goto out;
		} else if (strcmp(key, "client_id") == 0) {
			if (set_str(&conf->client_id, value, key, errstr) != 0)
				goto out;
		} else if (strcmp(key, "secret_file") == 0) {
			if (set_str(&conf->secret_file, value, key, errstr) !=
			    0)
				goto out;
		} else if (strcmp(key, "ca_file") == 0) {
			if (set_str(&conf->ca_file, value, key, errstr) != 0)
				goto out;
		} else if (pam && (strcmp(key, "try_first_pass") == 0 ||
		                   strcmp(key, "use_first_pass") == 0 ||
		                   strcmp(key, "use_authtok") == 0 ||
		                   strcmp(key, "authtok_type") == 0)) {
			/* Read by pam_get_authtok() itself. */
			continue;
		} else if (strcmp(key, "scope") == 0 && pam) {
			if (set_str(&conf->scope, value, key, errstr) != 0)
				goto out;
		} else if (strcmp(key, "timeout") == 0) {
			if (!parse_int(value, 1, 600000, &conf->timeout_ms)) {
				*errstr = "option timeout must be 1 to 600000 "
				          "(milliseconds)";
				goto out;
			}
		} else if (strcmp(key, "cache_ttl") == 0) {
			if (!parse_int(value, 0, 86400, &conf->cache_ttl)) {
				*errstr =
				    "option cache_ttl must be 0 to 86400 "
				    "(seconds)";
				goto out;
			}
		} else if (strcmp(key, "insecure") == 0 && value == NULL) {
			conf->insecure = true;
		} else if (strcmp(key, "debug") == 0 && value == NULL) {
			conf->debug = true;
		} else if (strict) {
			*errstr = err("unknown option %s", key);
			goto out;
		}
	}

	if (conf->scope != NULL) {
		/* Every word must be a scope-token, or nothing could match. */
		const char *p = conf->scope;
		char word[160];

		while (*p != '\0') {
			size_t n = strcspn(p, " ");

			if (n == 0 || n >= sizeof(word)) {
				*errstr =
				    "option scope must be space-separated "
				    "scope-tokens";
				goto out;
			}
			memcpy(word, p, n);
			word[n] = '\0';
			if (!apitoken_scope_token_valid(word)) {
				*errstr =
				    "option scope must be space-separated "
				    "scope-tokens";
				goto out;
			}
			p += n;
			if (*p == ' ')
				p++;
		}
	}

	if (conf->mode == VMODE_LOCAL) {
		if (conf->socket == NULL &&
		    set_str(&conf->socket, VCONF_DEFAULT_SOCKET, "socket",
		            errstr) != 0)
			goto out;
		if (strlen(conf->socket) >= 108) {
			*errstr = "option socket: path too long";
			goto out;
		}
	} else {
		if (conf->url == NULL) {
			*errstr = "mode=remote needs url=";
			goto out;
		}
		if (strncmp(conf->url, "https://", 8) != 0 &&
		    !(conf->insecure &&
		      strncmp(conf->url, "http://", 7) == 0)) {
			/* Plain HTTP would show token and secret to the
			 * network; allow it only when asked in so many words.
			 */
			*errstr = "option url must start with https:// "
			          "(http:// only with insecure)";
			goto out;
		}
		if (conf->client_id == NULL) {
			*errstr = "mode=remote needs client_id=";
			goto out;
		}
		if (conf->secret_file == NULL) {
			*errstr = "mode=remote needs secret_file=";
			goto out;
		}
	}
	rc = 0;
out:
	if (rc != 0)
		vconf_free(conf);
	return rc;
}

int
vconf_load(struct vconf *conf, const char **errstr)
{
	if (conf->mode != VMODE_REMOTE)
		return 0;
	if (read_secret(conf->secret_file, &conf->secret, errstr) != 0)
		return -1;
	if (conf->ca_file != NULL && access(conf->ca_file, R_OK) != 0) {
		*errstr = err("ca_file %s cannot be read", conf->ca_file);
		return -1;
	}
	return 0;
}

int
vconf_parse(struct vconf *conf, int argc, const char *const argv[],
            bool strict, bool pam, const char **errstr)
{
	if (vconf_parse_options(conf, argc, argv, strict, pam, errstr) != 0)
		return -1;
	if (vconf_load(conf, errstr) != 0) {
		vconf_free(conf);
		return -1;
	}
	return 0;
}

void
vconf_free(struct vconf *conf)
{
	if (conf == NULL)
		return;
	free(conf->socket);
	free(conf->url);
	free(conf->client_id);
	free(conf->secret_file);
	if (conf->secret != NULL) {
		OPENSSL_cleanse(conf->secret, strlen(conf->secret));
		free(conf->secret);
	}
	free(conf->scope);
	free(conf->ca_file);
	memset(conf, 0, sizeof(*conf));
}
