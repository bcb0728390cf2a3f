/*
 * Sizes in the configuration ("store_cache": "512M"): a whole number
 * with an optional K, M, G or T suffix (powers of 1024), or a JSON
 * number of bytes.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <apitoken/config.h>
#include <apitoken/error.h>

int
apitoken_size_parse(const char *text, uint64_t *bytes_out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (text == NULL || !isdigit((unsigned char)text[0]))
		return APITOKEN_ERR_INVALID;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0)
		return APITOKEN_ERR_INVALID;
	switch (*end) {
	case '\0':
		break;
	case 'K':
	case 'k':
		shift = 10;
		break;
	case 'M':
	case 'm':
		shift = 20;
		break;
	case 'G':
	case 'g':
		shift = 30;
		break;
	case 'T':
	case 't':
		shift = 40;
		break;
	default:
		return APITOKEN_ERR_INVALID;
	}
	if (shift != 0 && end[1] != '\0')
		return APITOKEN_ERR_INVALID;
	if (v > (UINT64_MAX >> shift))
		return APITOKEN_ERR_INVALID;
	*bytes_out = (uint64_t)v << shift;
	return 0;
}

uint64_t
apitoken_machine_memory(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || psize <= 0)
		return 1ULL << 30;
	return (uint64_t)pages * (uint64_t)psize;
}
