/*
 * fuzz_proc.c - libFuzzer target: notify_parse_stat(), the parent pid from
 * the text of /proc/PID/stat, whose comm field a local user chooses
 * (prctl(PR_SET_NAME), /proc/self/comm). Two modes, by the first byte:
 *   even: the rest is the file's text as is: no crash, no read outside
 *         it, a parsed ppid is a number >= 0 that follows the last ')';
 *   odd:  the rest is a comm (any bytes but NUL, up to 64) put into a
 *         well-formed stat line: the ppid read back must be the real one,
 *         whatever the comm says.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd.h"

static void
check_raw(const uint8_t *data, size_t size)
{
	const char *rp;
	pid_t ppid = -7, again = -7;
	char *buf;
	int r;

	if ((buf = malloc(size ? size : 1)) == NULL)
		return;
	memcpy(buf, data, size);
	r = notify_parse_stat(buf, size, &ppid);
	if (r == 0) {
		if (ppid < 0)
			abort();
		rp = memrchr(buf, ')', size);
		if (rp == NULL || (size_t)(rp - buf) + 6 > size)
			abort();
		if (notify_parse_stat(buf, size, &again) != 0 || again != ppid)
			abort();
	} else if (r != -EINVAL || ppid != -7)
		abort();
	free(buf);
}

static void
check_forged(const uint8_t *data, size_t size)
{
	char comm[65], line[512], *buf;
	size_t n, i, len;
	pid_t want, got = -1;
	char state;

	if (size < 5)
		return;
	want = (pid_t)((data[0] | data[1] << 8 | data[2] << 16) % 4194304);
	state = "RSDZTtXIPKW"[data[3] % 11];
	data += 4;
	size -= 4;
	n = size < 64 ? size : 64;
	for (i = 0; i < n; i++)
		comm[i] = data[i] ? (char)data[i] : ')';
	comm[n] = '\0';
	len = (size_t)snprintf(line, sizeof line, "%d (%s) %c %d 4242 4242 0 "
	    "-1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123 4096 100\n", 31337,
	    comm, state, (int)want);
	if ((buf = malloc(len)) == NULL)
		return;
	memcpy(buf, line, len);
	if (notify_parse_stat(buf, len, &got) != 0 || got != want)
		abort();
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		check_forged(data + 1, size - 1);
	else
		check_raw(data + 1, size - 1);
	return 0;
}
