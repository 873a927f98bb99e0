/*
 * notify.c - the sd_notify protocol both ways. Inbound: the master's own
 * abstract datagram socket (NOTIFY_SOCKET of every worker), each message
 * credited by SCM_CREDENTIALS to the worker whose process tree sent it.
 * Outbound: READY/RELOADING/STOPPING/STATUS/WATCHDOG to systemd through
 * libsystemd, when the master itself runs under a service manager.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "clusterd.h"

#define NOTIFY_MAX_MSG	4096	/* sd_notify messages are small */
#define NOTIFY_BURST	256	/* messages per wakeup, then yield */

static void	 notify_cb(struct ev_loop *, ev_io *, int);

/* Abstract name: no file, no permissions, reachable from workers that run
 * as another user (traps.md), gone with the master. */
int
notify_open(char *err, size_t errlen)
{
	struct sockaddr_un sun;
	socklen_t len;
	int fd, one = 1;
	unsigned rnd;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) == -1)
		goto fail;
	if (getentropy(&rnd, sizeof rnd) == -1)
		rnd = (unsigned)time(NULL);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path + 1, sizeof sun.sun_path - 1,
	    "clusterd/%s/%ld/%08x", cl.cfg->name, (long)getpid(), rnd);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
	    strlen(sun.sun_path + 1));
	if (bind(fd, (struct sockaddr *)&sun, len) == -1)
		goto fail;
	snprintf(cl.notify_name, sizeof cl.notify_name, "@%s",
	    sun.sun_path + 1);
	cl.notify_fd = fd;
	ev_io_init(&cl.notify_w, notify_cb, fd, EV_READ);
	ev_io_start(cl.loop, &cl.notify_w);
	return 0;
fail:
	snprintf(err, errlen, "notify socket: %s", strerror(errno));
	if (fd != -1)
		close(fd);
	return -errno;
}

void
notify_close(void)
{
	if (cl.notify_fd <= 0)
		return;
	ev_io_stop(cl.loop, &cl.notify_w);
	close(cl.notify_fd);
	cl.notify_fd = -1;
}

/*
 * Parse one datagram: newline-separated KEY=VALUE assignments. Unknown keys
 * are ignored (the protocol grows); a message with a NUL byte, or no
 * assignment at all, is garbage: -EINVAL.
 */
int
notify_parse(const char *buf, size_t len, struct notify_msg *ret)
{
	struct notify_msg m;
	const char *p = buf, *end = buf + len, *nl, *eq;
	size_t n;
	int assignments = 0;

	memset(&m, 0, sizeof m);
	if (len == 0 || memchr(buf, '\0', len) != NULL)
		return -EINVAL;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl ? nl : end) - p);
		eq = memchr(p, '=', n);
		if (eq != NULL && eq > p) {
			size_t k = (size_t)(eq - p), v = n - k - 1;
			const char *val = eq + 1;

			assignments++;
#define IS(key)	(k == sizeof(key) - 1 && memcmp(p, key, k) == 0)
#define ONE	(v == 1 && val[0] == '1')
			if (IS("READY"))
				m.ready = ONE;
			else if (IS("STOPPING"))
				m.stopping = ONE;
			else if (IS("WATCHDOG"))
				m.watchdog = ONE;
			else if (IS("RELOADING"))
				m.reloading = ONE;
			else if (IS("BARRIER"))
				m.barrier = ONE;
			else if (IS("STATUS")) {
				m.has_status = true;
				if (v >= sizeof m.status)
					v = sizeof m.status - 1;
				memcpy(m.status, val, v);
				m.status[v] = '\0';
			}
#undef IS
#undef ONE
		} else if (n > 0)
			return -EINVAL;
		p += n + 1;
	}
	if (assignments == 0)
		return -EINVAL;
	*ret = m;
	return 0;
}

/* The parent of pid from /proc/PID/stat, or -1. */
static pid_t
parent_of(pid_t pid)
{
	char path[64], buf[512], *rp;
	long ppid;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	if (fgets(buf, sizeof buf, f) == NULL) {
		fclose(f);
		return -1;
	}
	fclose(f);
	/* "pid (comm) state ppid": comm may contain spaces and ')'. */
	if ((rp = strrchr(buf, ')')) == NULL ||
	    sscanf(rp + 1, " %*c %ld", &ppid) != 1)
		return -1;
	return (pid_t)ppid;
}

/* The worker whose process tree holds pid: itself or an ancestor. */
static struct worker *
credit(pid_t pid)
{
	struct worker *w;
	int depth;

	for (depth = 0; depth < 32 && pid > 1 && pid != cl.master_pid;
	    depth++) {
		if ((w = worker_find_pid(pid)) != NULL)
			return w;
		pid = parent_of(pid);
	}
	return NULL;
}

static void
notify_handle(const struct ucred *cred, const char *buf, size_t len)
{
	struct notify_msg m;
	struct worker *w;

	if (notify_parse(buf, len, &m) < 0) {
		if (!cl.notify_warned)
			log_warn("notify: ignoring a malformed message from "
			    "pid %ld (logged once)", cred ? (long)cred->pid : 0L);
		cl.notify_warned = true;
		return;
	}
	if (cred == NULL || (w = credit(cred->pid)) == NULL) {
		if (!cl.notify_warned)
			log_warn("notify: ignoring a message from pid %ld, "
			    "not a worker (logged once)",
			    cred ? (long)cred->pid : 0L);
		cl.notify_warned = true;
		return;
	}
	if (m.has_status)
		snprintf(w->status, sizeof w->status, "%s", m.status);
	if (m.watchdog)
		worker_watchdog_ping(w);
	if (m.stopping)
		log_debug("slot %d: pid %ld says STOPPING=1", w->slot,
		    (long)w->pid);
	if (m.ready)
		worker_ready(w);
}

static void
notify_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	char buf[NOTIFY_MAX_MSG];
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(struct ucred)) +
				    CMSG_SPACE(sizeof(int) * 32)];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf };
	struct msghdr msg;
	struct cmsghdr *c;
	struct ucred *cred;
	ssize_t n;
	int i, k, *fds;

	for (i = 0; i < NOTIFY_BURST; i++) {
		memset(&msg, 0, sizeof msg);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = &control;
		msg.msg_controllen = sizeof control;
		n = recvmsg(io->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC |
		    MSG_TRUNC);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return;	/* EAGAIN: drained */
		}
		cred = NULL;
		/* Passed fds (systemd-notify's BARRIER=1 pipe) are closed at
		 * once: that is the barrier's answer. */
		for (c = CMSG_FIRSTHDR(&msg); c != NULL;
		    c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level != SOL_SOCKET)
				continue;
			if (c->cmsg_type == SCM_RIGHTS) {
				fds = (int *)CMSG_DATA(c);
				for (k = 0; k < (int)((c->cmsg_len -
				    CMSG_LEN(0)) / sizeof(int)); k++)
					close(fds[k]);
			} else if (c->cmsg_type == SCM_CREDENTIALS &&
			    c->cmsg_len >= CMSG_LEN(sizeof *cred))
				cred = (struct ucred *)CMSG_DATA(c);
		}
		if ((size_t)n > sizeof buf || (msg.msg_flags & MSG_TRUNC)) {
			if (!cl.notify_warned)
				log_warn("notify: ignoring an oversized "
				    "message (logged once)");
			cl.notify_warned = true;
			continue;
		}
		notify_handle(cred, buf, (size_t)n);
	}
}

/* To the service manager, if there is one (NOTIFY_SOCKET of the master). */
void
notify_systemd(const char *f, ...)
{
	char *s;
	va_list ap;
	int r;

	if (getenv("NOTIFY_SOCKET") == NULL)
		return;
	va_start(ap, f);
	r = vasprintf(&s, f, ap);
	va_end(ap);
	if (r == -1)
		return;
	sd_notify(0, s);
	free(s);
}

/* MONOTONIC_USEC= for RELOADING=1, as systemd wants it. */
unsigned long long
notify_monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL;
}

static void
sd_watchdog_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	sd_notify(0, "WATCHDOG=1");
}

/* WatchdogSec= for the master: ping at half the interval from the loop,
 * so the pings stop when the loop does. */
void
notify_watchdog_start(void)
{
	uint64_t usec;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return;
	ev_timer_init(&cl.sd_watchdog_w, sd_watchdog_cb, 0.,
	    (double)usec / 2e6);
	ev_timer_again(cl.loop, &cl.sd_watchdog_w);
	log_info("systemd watchdog: pinging every %.3fs", (double)usec / 2e6);
}
