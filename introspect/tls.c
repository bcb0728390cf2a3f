/*
 * apitokend: TLS material.  libmicrohttpd takes the key and certificate as
 * PEM in memory; they are read before privileges or the working folder
 * change and the key is wiped when the daemon exits.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <apitoken/error.h>

#include "apitokend.h"

#define PEM_MAX (1024 * 1024)

int
apitokend_read_pem(const char *path, char **pem_out)
{
	FILE *f = NULL;
	char *buf = NULL;
	size_t len = 0, n;
	int rc;

	*pem_out = NULL;
	f = fopen(path, "r");
	if (f == NULL) {
		rc = apitoken_error(APITOKEN_ERR_IO, "%s: %s", path,
		                    strerror(errno));
		goto out;
	}
	buf = malloc(PEM_MAX + 1);
	if (buf == NULL) {
		rc = apitoken_error(APITOKEN_ERR_NOMEM, "out of memory");
		goto out;
	}
	while ((n = fread(buf + len, 1, PEM_MAX - len, f)) > 0) {
		len += n;
		if (len == PEM_MAX)
			break;
	}
	if (ferror(f) || len == 0 || len == PEM_MAX) {
		rc = apitoken_error(APITOKEN_ERR_IO,
		                    "%s: cannot read a PEM file (empty, too "
		                    "large or unreadable)",
		                    path);
		goto out;
	}
	buf[len] = '\0';
	*pem_out = buf;
	buf = NULL;
	rc = 0;
out:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, PEM_MAX + 1);
		free(buf);
	}
	if (f != NULL)
		fclose(f);
	return rc;
}

void
apitokend_free_pem(char *pem)
{
	if (pem == NULL)
		return;
	OPENSSL_cleanse(pem, strlen(pem));
	free(pem);
}
