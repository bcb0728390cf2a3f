/*
 * libFuzzer target: pam_apitoken's module arguments and validator.so's
 * open() options (vconf_parse_options: no file is read).  The input is
 * split into arguments at NUL bytes, as a PAM service line would be at
 * blanks; the first byte picks strict (PAM) or lenient (ABI) parsing.
 */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugin/validator_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARGS_MAX 64

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *argv[ARGS_MAX + 1];
	struct vconf conf;
	const char *errstr = NULL;
	char *copy;
	size_t i, start;
	int argc = 0;
	bool pam;

	if (size < 1)
		return 0;
	pam = (data[0] & 1) != 0;
	copy = malloc(size);
	if (copy == NULL)
		return 0;
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	for (i = 0, start = 0; i < size && argc < ARGS_MAX; i++) {
		if (copy[i] == '\0') {
			argv[argc++] = copy + start;
			start = i + 1;
		}
	}
	argv[argc] = NULL;
	if (vconf_parse_options(&conf, argc, argv, pam, pam, &errstr) == 0) {
		if (conf.mode == VMODE_LOCAL)
			assert(conf.socket != NULL &&
			       strlen(conf.socket) < 108);
		else
			assert(conf.url != NULL && conf.client_id != NULL &&
			       conf.secret_file != NULL);
		assert(conf.timeout_ms >= 1 && conf.cache_ttl >= 0);
		assert(conf.secret == NULL);
		vconf_free(&conf);
	} else {
		assert(errstr != NULL);
	}
	free(copy);
	return 0;
}
