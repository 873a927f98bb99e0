/*
 * fuzz_control.c - libFuzzer target: the bytes a control client sends, as
 * the master has them after any read, through control_parse_request().
 * Besides memory safety: the decoder answers "need more" only for input
 * that has no newline and fits the 512-byte line; every refusal carries a
 * "clusterd: " message; a decoded request is one of the commands with its
 * argument in range; a prefix that holds the first line decodes the same.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd.h"

#define LINE_MAX_	512	/* CONTROL_IN_MAX in control.c */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_request req, req2;
	char msg[256], msg2[256], *buf;
	const char *nl;
	size_t cut;
	int r, r2;

	if ((buf = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	memset(msg, 'x', sizeof msg);
	memset(&req, 0xa5, sizeof req);
	r = control_parse_request(buf, size, &req, msg, sizeof msg);
	nl = memchr(buf, '\n', size < LINE_MAX_ ? size : LINE_MAX_);
	if (r == -EAGAIN) {
		if (nl != NULL || size >= LINE_MAX_)
			abort();
	} else if (r == 0) {
		if (nl == NULL || (int)req.cmd < CONTROL_STATUS ||
		    req.cmd > CONTROL_UPGRADE)
			abort();
		if (req.cmd == CONTROL_SCALE &&
		    (req.scale < -WORKERS_MAX || req.scale > WORKERS_MAX ||
		    memchr(req.arg, '\0', sizeof req.arg) == NULL ||
		    req.relative != (req.arg[0] == '+' || req.arg[0] == '-')))
			abort();
		/* Only the first line counts: what follows changes nothing. */
		cut = (size_t)(nl - buf) + 1;
		r2 = control_parse_request(buf, cut, &req2, msg2, sizeof msg2);
		if (r2 != 0 || req2.cmd != req.cmd ||
		    req2.scale != req.scale || req2.relative != req.relative ||
		    strcmp(req2.arg, req.arg) != 0)
			abort();
	} else {
		if (memchr(msg, '\0', sizeof msg) == NULL ||
		    strncmp(msg, "clusterd: ", 10) != 0)
			abort();
		if (r != -E2BIG && r != -EBADMSG && r != -EPROTONOSUPPORT &&
		    r != -EPROTO && r != -ENOSYS && r != -EDOM)
			abort();
		if (r == -E2BIG && (nl != NULL || size < LINE_MAX_))
			abort();
	}
	free(buf);
	return 0;
}
