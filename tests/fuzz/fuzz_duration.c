/*
 * libFuzzer target: durations as the configuration gives them ("90d",
 * "12h", "30m"...).  What parses must be within the cap and come back the
 * same through apitoken_duration_format; nothing may overflow (UBSan).
 */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apitoken/config.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), buf[64];
	int64_t secs = -1, again = -1;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (apitoken_duration_parse(text, &secs) == 0) {
		assert(secs >= 0 && secs <= APITOKEN_DURATION_MAX);
		apitoken_duration_format(secs, buf, sizeof(buf));
		assert(apitoken_duration_parse(buf, &again) == 0);
		assert(again == secs);
	}
	free(text);
	return 0;
}
