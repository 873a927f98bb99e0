/*
 * test_steer.c - steer.c against real SO_REUSEPORT listeners on 127.0.0.1.
 * Each round makes NCONN loopback connections and counts, per socket, how
 * many queued there: sockets of slots without a ready worker must get none,
 * also after a member closes and another joins (the kernel's index order).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "clusterd.h"
#include "check.h"

#define NSOCK	4
#define NCONN	600
#define SOME	30	/* hash spread: expect 150 each, ask for "some" */

static int	 port;

static void
die(const char *what)
{
	printf("FAIL: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A listening socket on 127.0.0.1:p (0: any free port, stored in *ret). */
static int
open_member(int p, bool reuseport, int *ret_port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	int fd, on = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		die("socket");
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) == -1)
		die("SO_REUSEPORT");
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)p);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1)
		die("bind");
	if (listen(fd, 1024) == -1)
		die("listen");
	if (ret_port) {
		if (getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
			die("getsockname");
		*ret_port = ntohs(sin.sin_port);
	}
	return fd;
}

/* NCONN connections to the port; counts[slot] = how many queued there. */
static void
connect_round(const struct listener *l, int counts[NSOCK])
{
	static int cfd[NCONN];
	struct sockaddr_in sin;
	struct linger lin = { 1, 0 };
	struct pollfd pfd[NSOCK];
	int i, s, a, total = 0, np;
	double deadline;

	memset(counts, 0, sizeof(int) * NSOCK);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	for (i = 0; i < NCONN; i++) {
		cfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (cfd[i] == -1)
			die("client socket");
		if (connect(cfd[i], (struct sockaddr *)&sin, sizeof sin) == -1 &&
		    errno != EINPROGRESS)
			die("connect");
	}
	deadline = now() + 10;
	while (total < NCONN && now() < deadline) {
		for (s = 0, np = 0; s < NSOCK; s++) {
			if (l->fds[s] < 0)
				continue;
			while ((a = accept4(l->fds[s], NULL, NULL,
			    SOCK_CLOEXEC)) != -1) {
				/* RST on close: no TIME_WAIT left behind */
				setsockopt(a, SOL_SOCKET, SO_LINGER, &lin,
				    sizeof lin);
				close(a);
				counts[s]++;
				total++;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				die("accept");
			pfd[np].fd = l->fds[s];
			pfd[np++].events = POLLIN;
		}
		if (total < NCONN)
			poll(pfd, (nfds_t)np, 50);
	}
	for (i = 0; i < NCONN; i++)
		close(cfd[i]);
	CHECK(total == NCONN, "only %d of %d connections arrived", total,
	    NCONN);
}

/*
 * One round: sockets of slots in `none` (a bitmask) must get nothing; the
 * others share NCONN, each at least `min`.
 */
static void
expect(const char *what, const struct listener *l, unsigned none, int min)
{
	int counts[NSOCK], s;

	connect_round(l, counts);
	printf("  %-46s", what);
	for (s = 0; s < NSOCK; s++)
		printf(" %4d", counts[s]);
	printf("\n");
	for (s = 0; s < NSOCK; s++) {
		if (none & (1u << s))
			CHECK(counts[s] == 0, "%s: slot %d got %d, wanted 0",
			    what, s, counts[s]);
		else
			CHECK(counts[s] >= min, "%s: slot %d got %d, wanted "
			    ">= %d", what, s, counts[s], min);
	}
}

static void
set_ready(struct listener *l, unsigned mask)
{
	bool ready[NSOCK];
	int s;

	for (s = 0; s < NSOCK; s++)
		ready[s] = mask & (1u << s);
	steer_update(l, ready, NSOCK);
}

/* Close slot's socket and open + listen a new one: it joins at the end. */
static void
replace_member(struct listener *l, int slot)
{
	close(l->fds[slot]);
	l->fds[slot] = -1;
	steer_left(l, slot);
	l->fds[slot] = open_member(port, true, NULL);
	steer_joined(l, slot);
}

static void
test_group(void)
{
	static int fds[NSOCK];
	struct listener l, other;
	int s;

	memset(&l, 0, sizeof l);
	l.cfg.family = AF_INET;
	l.cfg.sockets = LISTEN_PER_WORKER;
	l.cfg.address = "127.0.0.1";
	l.fds = fds;
	l.nfds = NSOCK;
	for (s = 0; s < NSOCK; s++) {
		fds[s] = open_member(s == 0 ? 0 : port, true,
		    s == 0 ? &port : NULL);
		steer_joined(&l, s);
	}
	printf("  port %d; connections per slot:%*s    0    1    2    3\n",
	    port, 16, "");
	CHECK(l.ngroup == NSOCK && !l.steer_ok, "fresh group: ngroup %d",
	    l.ngroup);

	set_ready(&l, 0xe);
	CHECK(l.steer_ok, "1,2,3 ready: no program attached");
	expect("1,2,3 ready", &l, 0x1, 120);

	set_ready(&l, 0xf);
	CHECK(!l.steer_ok, "all ready: program still attached");
	expect("all ready (detached, kernel hash)", &l, 0, SOME);

	set_ready(&l, 0x0);
	CHECK(!l.steer_ok, "none ready: program attached");
	expect("none ready (kernel hash)", &l, 0, SOME);

	/* Slot 1 leaves while a program is attached: group 0 1 2 3 becomes
	 * 0 3 2, and the program must follow without a steer_update(). */
	set_ready(&l, 0x7);
	expect("0,1,2 ready", &l, 0x8, 120);
	close(fds[1]);
	fds[1] = -1;
	steer_left(&l, 1);
	CHECK(l.ngroup == 3 && l.group[1] == 3, "after close: group[1] = %d",
	    l.group[1]);
	expect("slot 1 closed, 0,2 ready", &l, 0x2 | 0x8, 180);

	/* A new socket for slot 1 is appended: group 0 3 2 1. */
	fds[1] = open_member(port, true, NULL);
	steer_joined(&l, 1);
	CHECK(l.ngroup == 4 && l.group[3] == 1, "after join: group[3] = %d",
	    l.group[3]);
	expect("slot 1 rejoined, not yet ready", &l, 0x2 | 0x8, 180);
	set_ready(&l, 0xd);
	expect("0,2,3 ready (1 joined last)", &l, 0x2, 120);
	set_ready(&l, 0x7);
	expect("0,1,2 ready (3 moved to index 1)", &l, 0x8, 120);

	/* All ready (no program), then slot 0 is replaced: the newcomer must
	 * get nothing until it is reported ready. Group: 1 3 2 0. */
	set_ready(&l, 0xf);
	CHECK(!l.steer_ok, "all ready: program still attached");
	replace_member(&l, 0);
	CHECK(l.steer_ok, "join into an all-ready group attached nothing");
	expect("slot 0 replaced, others ready", &l, 0x1, 120);
	set_ready(&l, 0xf);
	expect("all ready again", &l, 0, SOME);

	/* steer_reset detaches; the next update attaches again. */
	set_ready(&l, 0xb);
	CHECK(l.steer_ok, "0,1,3 ready: no program attached");
	steer_reset(&l);
	CHECK(!l.steer_ok, "reset: program still attached");
	expect("after steer_reset (kernel hash)", &l, 0, SOME);
	set_ready(&l, 0xb);
	expect("0,1,3 ready after reset", &l, 0x4, 120);
	set_ready(&l, 0xf);

	/* Shared and activated listeners are left alone. */
	other = l;
	other.cfg.sockets = LISTEN_SHARED;
	set_ready(&other, 0x1);
	other = l;
	other.activated = true;
	set_ready(&other, 0x1);
	CHECK(!other.steer_ok, "activated listener got a program");
	expect("shared/activated: untouched", &l, 0, SOME);

	for (s = 0; s < NSOCK; s++)
		close(fds[s]);
	steer_free(&l);
	CHECK(l.group == NULL && l.ngroup == 0, "steer_free left a group");
}

/* Where the kernel refuses (here: sockets without SO_REUSEPORT, so there
 * is no group), one warning, no program, nothing else. */
static void
test_refused(void)
{
	int fds[2], saved, tmp, lines = 0;
	struct listener l;
	char buf[4096], *p;
	ssize_t n;

	memset(&l, 0, sizeof l);
	l.cfg.family = AF_INET;
	l.cfg.sockets = LISTEN_PER_WORKER;
	l.cfg.address = "127.0.0.1:refused";
	l.fds = fds;
	l.nfds = 2;
	fds[0] = open_member(0, false, NULL);
	steer_joined(&l, 0);
	fds[1] = open_member(0, false, NULL);
	steer_joined(&l, 1);

	fflush(stderr);
	if ((saved = dup(STDERR_FILENO)) == -1)
		die("dup");
	if ((tmp = open("/tmp", O_TMPFILE | O_RDWR, 0600)) == -1)
		die("O_TMPFILE");
	dup2(tmp, STDERR_FILENO);
	set_ready(&l, 0x2);
	set_ready(&l, 0x1);
	set_ready(&l, 0x2);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);

	n = pread(tmp, buf, sizeof buf - 1, 0);
	close(tmp);
	buf[n > 0 ? n : 0] = '\0';
	for (p = buf; (p = strstr(p, "steering off")) != NULL; p++)
		lines++;
	printf("  refused: %s", buf);
	CHECK(l.steer_warned && !l.steer_ok, "refused: warned %d, ok %d",
	    l.steer_warned, l.steer_ok);
	CHECK(lines == 1, "refused: %d warnings, wanted 1", lines);
	CHECK(strstr(buf, "127.0.0.1:refused") != NULL &&
	    strstr(buf, "Invalid argument") != NULL,
	    "refused: warning names neither the listener nor the error");

	close(fds[0]);
	close(fds[1]);
	steer_free(&l);
}

int
main(void)
{
	printf("test_steer: reuseport steering, %d sockets, %d connections "
	    "a round\n", NSOCK, NCONN);
	test_group();
	test_refused();
	printf("test_steer: %d checks, %d failed\n", nchecks, nfailed);
	return nfailed ? 1 : 0;
}
