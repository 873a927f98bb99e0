/*
 * test_readiness.c - ready = listen's look in /proc against real processes:
 * a listening socket in an epoll set, a thread blocked in accept4 on it,
 * neither (held only, or waited on in poll), a process of the group that
 * waits while its leader does not, and one of two sockets.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clusterd.h"
#include "check.h"

static int
listener(ino_t *ret_ino)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct stat st;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd == -1 || bind(fd, (struct sockaddr *)&a, sizeof a) == -1 ||
	    listen(fd, 8) == -1 || fstat(fd, &st) == -1) {
		perror("listener");
		exit(1);
	}
	*ret_ino = st.st_ino;
	return fd;
}

/* Up to 2 s for the look to say want (a thread or a child gets there). */
static int
look_until(pid_t pid, const ino_t *inos, int n, int want, char *why,
    size_t len)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int i, r = -1;

	for (i = 0; i < 200; i++) {
		if ((r = readiness_check(pid, inos, n, why, len)) == want)
			break;
		nanosleep(&ts, NULL);
	}
	return r;
}

static void *
accept_thread(void *arg)
{
	int fd = *(int *)arg;

	accept4(fd, NULL, NULL, SOCK_CLOEXEC);	/* blocks: never connected */
	return NULL;
}

static void
test_self(void)
{
	char why[256];
	ino_t ino[2];
	int fd = listener(&ino[0]), fd2 = listener(&ino[1]), ep, r;
	struct epoll_event ev = { .events = EPOLLIN };
	pthread_t t;

	r = readiness_check(getpid(), ino, 1, why, sizeof why);
	CHECK(r == 0 && strstr(why, "a select/poll server") != NULL,
	    "held only: %d %s", r, why);

	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = fd;
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	r = readiness_check(getpid(), ino, 1, why, sizeof why);
	CHECK(r == 1, "in an epoll set: %d %s", r, why);
	r = readiness_check(getpid(), ino, 2, why, sizeof why);
	CHECK(r == 0 && strstr(why, "waits on 1 of its 2") != NULL,
	    "one of two sockets: %d %s", r, why);
	ev.data.fd = fd2;
	epoll_ctl(ep, EPOLL_CTL_ADD, fd2, &ev);
	r = readiness_check(getpid(), ino, 2, why, sizeof why);
	CHECK(r == 1, "both in the set: %d %s", r, why);
	close(ep);

	/* fd2 alone, waited on by a thread blocked in accept4 */
	pthread_create(&t, NULL, accept_thread, &fd2);
	r = look_until(getpid(), &ino[1], 1, 1, why, sizeof why);
	CHECK(r == 1, "a thread in accept4: %d %s", r, why);
	pthread_cancel(t);
	pthread_join(t, NULL);

	close(fd);
	r = readiness_check(getpid(), &ino[0], 1, why, sizeof why);
	CHECK(r == 0 && strstr(why, "holds its listening socket") != NULL &&
	    strstr(why, "no process") != NULL, "closed: %d %s", r, why);
	close(fd2);
}

/* A leader that only holds the socket, its child (same group) waits on
 * it in epoll: gunicorn's arbiter and its workers. */
static void
test_group(void)
{
	char why[256], c;
	ino_t ino;
	int fd = listener(&ino), p[2], r;
	pid_t leader;

	if (pipe(p) == -1)
		exit(1);
	if ((leader = fork()) == 0) {
		setpgid(0, 0);
		if (fork() == 0) {
			struct epoll_event ev = { .events = EPOLLIN };
			int ep = epoll_create1(0);

			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			if (write(p[1], "x", 1) != 1)
				_exit(1);
			pause();
			_exit(0);
		}
		pause();
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1)
		exit(1);
	r = look_until(leader, &ino, 1, 1, why, sizeof why);
	CHECK(r == 1, "its child in its group waits: %d %s", r, why);
	kill(-leader, SIGKILL);
	waitpid(leader, NULL, 0);
	close(p[0]);
	close(fd);
}

/* A process waiting in poll(2) is not seen, and said so. */
static void
test_poll(void)
{
	char why[256];
	ino_t ino;
	int fd = listener(&ino), r;
	pid_t pid;

	if ((pid = fork()) == 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		for (;;)
			poll(&pfd, 1, -1);
	}
	r = readiness_check(pid, &ino, 1, why, sizeof why);
	CHECK(r == 0 && strstr(why, "a select/poll server") != NULL,
	    "poll: %d %s", r, why);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	r = readiness_check(pid, &ino, 1, why, sizeof why);
	CHECK(r < 0, "gone: %d %s", r, why);
	close(fd);
}

int
main(void)
{
	test_self();
	test_group();
	test_poll();
	printf("test_readiness: %d checks, %d failed\n", nchecks, nfailed);
	return nfailed != 0;
}
