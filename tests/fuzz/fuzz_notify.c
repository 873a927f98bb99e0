/*
 * fuzz_notify.c - libFuzzer target: one datagram on the master's
 * NOTIFY_SOCKET through notify_parse(). Besides memory safety: STATUS= is
 * always a NUL-terminated string that fits, a message with a NUL byte is
 * refused, and parsing twice gives the same answer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct notify_msg m, m2;
	char *buf;
	int r;

	/* An exact-size heap copy: ASan sees any read past the datagram. */
	if ((buf = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	memset(&m, 0xa5, sizeof m);
	r = notify_parse(buf, size, &m);
	if (r == 0) {
		if (memchr(m.status, '\0', sizeof m.status) == NULL)
			abort();
		if (!m.has_status && m.status[0] != '\0')
			abort();
		if (memchr(buf, '\0', size) != NULL || size == 0)
			abort();
		if (notify_parse(buf, size, &m2) != 0 ||
		    memcmp(&m, &m2, sizeof m) != 0)
			abort();
	} else if (r != -EINVAL)
		abort();
	free(buf);
	return 0;
}
