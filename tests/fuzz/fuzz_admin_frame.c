/*
 * libFuzzer target: the admin socket's framing and requests, both ends.
 * The bytes arrive on a real socket as apitokend reads them
 * (admin_recv_frame); a frame is then read as a request
 * (admin_check_request) and as a reply (admin_parse_reply, what
 * apitokenctl reads back).  The first byte's low bit: 1, the rest goes on
 * the socket as it is (framing); 0, the rest is a frame's text and gets a
 * correct length in front (so that the fuzzer reaches the JSON).
 */
#include "config.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <apitoken/error.h>

#include "../../core/admin_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Smaller than the daemon's limit, so that the fuzzer can reach it. */
#define FRAME_MAX 65536

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[ADMIN_ARGV_MAX + 1];
	char *buf = NULL;
	size_t len = 0;
	int sv[2], argc = 0, rc;
	bool json = false;
	cJSON *req, *in = NULL;
	FILE *null;
	apitoken_admin_io_t io = {0};

	bool raw;

	if (size < 1 || size > 200000)
		return 0;
	raw = (data[0] & 1) != 0;
	data++;
	size--;
	assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	/* The socket buffer holds a fuzzer input whole; then EOF. */
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &(int){262144},
	                 sizeof(int));
	if (!raw) {
		uint8_t hdr[4] = {(uint8_t)(size >> 24), (uint8_t)(size >> 16),
		                  (uint8_t)(size >> 8), (uint8_t)size};

		assert(write(sv[0], hdr, 4) == 4);
	}
	assert(write(sv[0], data, size) == (ssize_t)size);
	(void)shutdown(sv[0], SHUT_WR);
	/* A deadline far ahead: the peer already closed, nothing waits. */
	rc = admin_recv_frame(sv[1], FRAME_MAX, INT64_MAX / 2, &buf, &len);
	(void)close(sv[0]);
	(void)close(sv[1]);
	if (rc == -2)
		assert(len > FRAME_MAX && buf == NULL);
	if (rc != 0)
		return 0;
	assert(buf[len] == '\0' && (raw ? len + 4 <= size : len == size));

	req = cJSON_ParseWithLength(buf, len);
	if (req != NULL) {
		if (admin_check_request(req, argv, &argc, &json, &in) ==
		    NULL) {
			assert(argc >= 1 && argc <= ADMIN_ARGV_MAX);
			assert(argv[argc] == NULL);
			for (int i = 0; i < argc; i++)
				assert(argv[i] != NULL);
			assert(in == NULL || cJSON_IsString(in));
		}
		cJSON_Delete(req);
	}

	null = fopen("/dev/null", "w");
	assert(null != NULL);
	io.out = null;
	io.err = null;
	rc = admin_parse_reply(buf, len, &io);
	assert(rc < 0 ? rc == APITOKEN_ERR_IO : rc <= 255);
	fclose(null);
	free(buf);
	return 0;
}
