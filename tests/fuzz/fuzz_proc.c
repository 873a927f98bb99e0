/*
 * fuzz_proc.c - libFuzzer target: notify_parse_stat(), the parent pid and
 * start time from the text of /proc/PID/stat, whose comm field a local
 * user chooses (prctl(PR_SET_NAME), /proc/self/comm). Two modes, by the
 * first byte:
 *   even: the rest is the file's text as is: no crash, no read outside
 *         it, a parsed ppid is a number >= 0 after the last ')', the
 *         same answer twice, outputs untouched on failure;
 *   odd:  3 bytes of ppid, 4 of start time, 1 of state, then a comm (any
 *         bytes but NUL, up to 64) put into a well-formed stat line: the
 *         values read back must be the real ones, whatever comm says.
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
	unsigned long long st = 7, st2 = 7;
	char *buf;
	int r;

	if ((buf = malloc(size ? size : 1)) == NULL)
		return;
	memcpy(buf, data, size);
	r = notify_parse_stat(buf, size, &ppid, &st);
	if (r == 0) {
		if (ppid < 0)
			abort();
		/* ") S " and 19 numbers, each with a space after it */
		rp = memrchr(buf, ')', size);
		if (rp == NULL || (size_t)(rp - buf) + 4 + 2 * 19 > size)
			abort();
		if (notify_parse_stat(buf, size, &again, &st2) != 0 ||
		    again != ppid || st2 != st)
			abort();
	} else if (r != -EINVAL || ppid != -7 || st != 7)
		abort();
	free(buf);
}

static void
check_forged(const uint8_t *data, size_t size)
{
	char comm[65], line[512], *buf;
	size_t n, i, len;
	pid_t want, got = -1;
	unsigned long long start, got_start = 0;
	char state;

	if (size < 9)
		return;
	want = (pid_t)((data[0] | data[1] << 8 | data[2] << 16) % 4194304);
	start = (unsigned long long)data[3] | (unsigned long long)data[4] << 8 |
	    (unsigned long long)data[5] << 16 |
	    (unsigned long long)data[6] << 56;
	state = "RSDZTtXIPKW"[data[7] % 11];
	data += 8;
	size -= 8;
	n = size < 64 ? size : 64;
	for (i = 0; i < n; i++)
		comm[i] = data[i] ? (char)data[i] : ')';
	comm[n] = '\0';
	len = (size_t)snprintf(line, sizeof line, "%d (%s) %c %d 4242 4242 0 "
	    "-1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 %llu 4096 100\n", 31337,
	    comm, state, (int)want, start);
	if ((buf = malloc(len)) == NULL)
		return;
	memcpy(buf, line, len);
	if (notify_parse_stat(buf, len, &got, &got_start) != 0 ||
	    got != want || got_start != start)
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
