/*
 * libFuzzer target: the JSON configuration file, as apitokend and
 * apitokenctl read it once it is in memory (apitoken_config_load_buffer;
 * apitoken_config_load reads the file and calls it).
 */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apitoken/config.h>
#include <apitoken/error.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	apitoken_config_t *cfg = NULL;
	char *buf = malloc(size + 1);
	int rc;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	rc = apitoken_config_load_buffer("fuzz.json", buf, size, &cfg);
	if (rc == 0) {
		assert(cfg != NULL);
		assert(cfg->token_lifetime > 0 &&
		       cfg->token_lifetime <= APITOKEN_DURATION_MAX);
		assert(cfg->sweep_interval <= APITOKEN_DURATION_MAX);
		for (size_t i = 0; i < cfg->n_reminders; i++)
			assert(cfg->reminders[i] <= APITOKEN_DURATION_MAX);
		apitoken_config_free(cfg);
	} else {
		assert(cfg == NULL);
		assert(apitoken_last_error()[0] != '\0');
	}
	free(buf);
	return 0;
}
