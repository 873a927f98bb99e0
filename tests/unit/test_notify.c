/*
 * test_notify.c - notify.c's pure parsers: notify_parse() (one sd_notify
 * datagram) and notify_parse_stat() (parent pid and start time from
 * /proc/PID/stat), the latter also on this process's own stat file after
 * it named itself like a forger ("x) S 1\n"), checked against PPid: of
 * /proc/self/status and against its parent's start time.
 *
 * usage: test_notify
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "clusterd.h"
#include "check.h"


static int
parse(const char *s, struct notify_msg *m)
{
	return notify_parse(s, strlen(s), m);
}

static void
test_parse(void)
{
	struct notify_msg m;
	char big[300];
	int r;

	r = parse("READY=1", &m);
	CHECK(r == 0 && m.ready && !m.watchdog && !m.has_status, "READY=1");
	r = parse("READY=0", &m);
	CHECK(r == 0 && !m.ready, "READY=0 is not ready");
	r = parse("READY=11", &m);
	CHECK(r == 0 && !m.ready, "READY=11 is not ready");
	r = parse("WATCHDOG=1\nSTATUS=serving 3\nSTOPPING=1\n", &m);
	CHECK(r == 0 && m.watchdog && m.stopping && m.has_status &&
	    strcmp(m.status, "serving 3") == 0, "three lines: %d '%s'", r,
	    m.status);
	r = parse("RELOADING=1\nBARRIER=1", &m);
	CHECK(r == 0 && m.reloading && m.barrier, "RELOADING, BARRIER");
	r = parse("X_CLUSTERD_RECYCLE=1", &m);
	CHECK(r == 0 && m.recycle && !m.ready, "X_CLUSTERD_RECYCLE=1");
	r = parse("X_CLUSTERD_RECYCLE=0", &m);
	CHECK(r == 0 && !m.recycle, "X_CLUSTERD_RECYCLE=0 is not a request");
	r = parse("FDSTORE=1\nMAINPID=3", &m);
	CHECK(r == 0 && !m.ready && !m.has_status, "unknown keys ignored");
	r = parse("STATUS=", &m);
	CHECK(r == 0 && m.has_status && m.status[0] == '\0', "empty STATUS");
	r = parse("STATUS=a=b", &m);
	CHECK(r == 0 && strcmp(m.status, "a=b") == 0, "'=' in a value");
	r = parse("READY=1\n\nWATCHDOG=1", &m);
	CHECK(r == 0 && m.ready && m.watchdog, "empty line between");

	memset(big, 'x', sizeof big);
	memcpy(big, "STATUS=", 7);
	big[sizeof big - 1] = '\0';
	r = parse(big, &m);
	CHECK(r == 0 && strlen(m.status) == sizeof m.status - 1,
	    "STATUS cut to %zu bytes: %zu", sizeof m.status - 1,
	    strlen(m.status));

	/* Garbage: -EINVAL, *ret untouched. */
	memset(&m, 0x5a, sizeof m);
	CHECK(parse("", &m) == -EINVAL, "empty datagram");
	CHECK(parse("\n\n", &m) == -EINVAL, "newlines only");
	CHECK(parse("READY", &m) == -EINVAL, "no '='");
	CHECK(parse("=1", &m) == -EINVAL, "no key");
	CHECK(parse("READY=1\njunk", &m) == -EINVAL, "a junk line");
	CHECK(notify_parse("READY=1\0x", 9, &m) == -EINVAL, "a NUL byte");
	CHECK(((unsigned char *)&m)[0] == 0x5a, "ret written on failure");
}

/* The fields of a real stat line after comm, with ppid and starttime. */
#define REST(ppid, start)	" S " ppid " 1234 1234 0 -1 4194560 100 0 0 0 " \
	"1 2 0 0 20 0 1 0 " start " 4096 100 18446744073709551615\n"

static int
stat_ppid(const char *s, pid_t *ppid, unsigned long long *start)
{
	return notify_parse_stat(s, strlen(s), ppid, start);
}

static void
test_stat(void)
{
	unsigned long long st = 0;
	pid_t p = -1;
	int r;

	r = stat_ppid("1234 (sleep)" REST("99", "4567"), &p, &st);
	CHECK(r == 0 && p == 99 && st == 4567, "plain: %d %ld %llu", r,
	    (long)p, st);
	/* The forger's line: fgets() would stop at the newline, the last
	 * ')' of that first line would give 99. */
	r = stat_ppid("1234 (x) S 99\n)" REST("4321", "7"), &p, &st);
	CHECK(r == 0 && p == 4321 && st == 7, "comm with ') S 99\\n': %ld",
	    (long)p);
	r = stat_ppid("1234 (a) b) (c)" REST("77", "1"), &p, &st);
	CHECK(r == 0 && p == 77, "parens in comm: %ld", (long)p);
	r = stat_ppid("2 (kthreadd)" REST("0", "0"), &p, &st);
	CHECK(r == 0 && p == 0 && st == 0, "ppid 0: %ld", (long)p);
	r = stat_ppid("1 (x)" REST("2147483647", "18446744073709551615"), &p,
	    &st);
	CHECK(r == 0 && p == 2147483647 && st == 18446744073709551615ULL,
	    "largest values");
	r = stat_ppid("1 (x) S 5 -1 -2 -3 -4 -5 -6 -7 -8 -9 -10 -11 -12 -13 "
	    "-14 -15 -16 -17 99 \n", &p, &st);
	CHECK(r == 0 && p == 5 && st == 99, "negative fields between");

	p = -7;
	st = 7;
	CHECK(stat_ppid("", &p, &st) == -EINVAL, "empty");
	CHECK(stat_ppid("1234 (x", &p, &st) == -EINVAL, "no ')'");
	CHECK(stat_ppid("1234 (x) S", &p, &st) == -EINVAL, "cut after state");
	CHECK(stat_ppid("1234 (x) S 12", &p, &st) == -EINVAL, "cut in ppid");
	CHECK(stat_ppid("1234 (x) S 12 1 2 3", &p, &st) == -EINVAL,
	    "cut before starttime");
	CHECK(stat_ppid("1234 (x)" REST("-1", "5"), &p, &st) == -EINVAL,
	    "negative ppid");
	CHECK(stat_ppid("1234 (x)" REST("5", "-5"), &p, &st) == -EINVAL,
	    "negative starttime");
	CHECK(stat_ppid("1234 (x)" REST("2147483648", "5"), &p, &st) ==
	    -EINVAL, "ppid past INT32_MAX");
	CHECK(stat_ppid("1234 (x)" REST("5", "18446744073709551616"), &p,
	    &st) == -EINVAL, "starttime past 64 bits");
	CHECK(stat_ppid("1234 (x) SS 12 0", &p, &st) == -EINVAL,
	    "two-char state");
	CHECK(stat_ppid("1234 (x)  S 12 0", &p, &st) == -EINVAL,
	    "double space");
	CHECK(stat_ppid("1234 (x)" REST("12x", "5"), &p, &st) == -EINVAL,
	    "junk in ppid");
	CHECK(p == -7 && st == 7, "ret written on failure: %ld", (long)p);
}

/* PPid: of /proc/self/status, where the kernel escapes comm. */
static pid_t
status_ppid(void)
{
	char line[256];
	long v = -1;
	FILE *f;

	if ((f = fopen("/proc/self/status", "re")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "PPid: %ld", &v) == 1)
			break;
	fclose(f);
	return (pid_t)v;
}

static void
test_self(void)
{
	char buf[4096], comm[16];
	unsigned long long st = 0, pst = 0;
	ssize_t n;
	pid_t p = -1, pp;
	int fd;

	/* What a forger does: name itself so that the stat line seems to
	 * end early with init as its parent. */
	snprintf(comm, sizeof comm, "x) S 1\n");
	CHECK(prctl(PR_SET_NAME, comm, 0, 0, 0) == 0, "PR_SET_NAME");
	fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	CHECK(fd != -1, "open /proc/self/stat");
	if (fd == -1)
		return;
	n = read(fd, buf, sizeof buf);
	close(fd);
	CHECK(n > 0 && memchr(buf, '\n', (size_t)n) != buf + n - 1,
	    "the forged comm puts a newline inside the stat line");
	CHECK(n > 0 && notify_parse_stat(buf, (size_t)n, &p, &st) == 0,
	    "parse own stat");
	CHECK(p == getppid(), "own ppid %ld, want %ld", (long)p,
	    (long)getppid());
	CHECK(p == status_ppid(), "stat %ld vs status %ld", (long)p,
	    (long)status_ppid());
	prctl(PR_SET_NAME, "test_notify", 0, 0, 0);

	/* The parent started no later than we did. */
	snprintf(buf, sizeof buf, "/proc/%ld/stat", (long)getppid());
	fd = open(buf, O_RDONLY | O_CLOEXEC);
	n = fd == -1 ? -1 : read(fd, buf, sizeof buf);
	if (fd != -1)
		close(fd);
	CHECK(n > 0 && notify_parse_stat(buf, (size_t)n, &pp, &pst) == 0 &&
	    pst <= st && st > 0, "parent's start %llu, ours %llu", pst, st);
}

int
main(void)
{
	CHECK(strcmp(notify_socket_name(), "") == 0, "no socket yet");
	test_parse();
	test_stat();
	test_self();
	printf("test_notify: %d checks, %d failed\n", nchecks, nfailed);
	return nfailed ? 1 : 0;
}
