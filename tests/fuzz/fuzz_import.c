/*
 * libFuzzer target: "apitokenctl user import" files, CSV and JSON lines
 * (admin_import_check: every record read and checked exactly as an
 * import does, nothing written).  Roles are the defaults'.
 */
#include "config.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <apitoken/config.h>
#include <apitoken/error.h>

#include "../../core/admin_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static apitoken_config_t *cfg;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *in, *err;
	size_t valid = 0, rejected = 0;
	int rc;

	if (cfg == NULL)
		assert(apitoken_config_defaults(&cfg) == 0);
	/* fmemopen of 0 bytes fails: an empty file is read from "". */
	in = size > 0 ? fmemopen((void *)data, size, "r")
	              : fmemopen((void *)"", 1, "r");
	err = fopen("/dev/null", "w");
	assert(in != NULL && err != NULL);
	rc = admin_import_check(cfg, in, err, "fuzz", &valid, &rejected);
	assert(rc == 0 || rc == APITOKEN_ERR_NOMEM || rc == APITOKEN_ERR_IO);
	/* At most one record per line (and one for a last line). */
	assert(valid + rejected <= size + 1);
	fclose(in);
	fclose(err);
	return 0;
}
