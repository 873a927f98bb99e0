/*
 * notify.c - the sd_notify protocol both ways, and the state that goes with
 * it. Inbound: the master's own abstract datagram socket (NOTIFY_SOCKET of
 * every worker), each message credited by SCM_CREDENTIALS to the worker
 * whose process tree sent it. Outbound: READY/RELOADING/STOPPING/STATUS/
 * WATCHDOG to systemd through libsystemd, when the master itself runs under
 * a service manager.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
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
#define NOTIFY_MAX_FDS	253	/* the kernel's SCM_MAX_FD */
#define NOTIFY_DEPTH	32	/* ancestors looked at to credit a sender */
#define NOTIFY_WARN_EVERY 10.	/* seconds between two warnings of a kind */

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS	83	/* Linux 6.16; older kernels say ENOPROTOOPT */
#endif

/* What gets a message ignored; each kind is rate-limited on its own, so a
 * stranger's junk cannot hide a worker's real problem. */
enum notify_drop {
	ND_OVERSIZED = 0,
	ND_NO_CRED,
	ND_STRANGER,		/* uid neither the workers' nor root */
	ND_MALFORMED,
	ND_NOT_WORKER,		/* right uid, no worker among its ancestors */
	ND_FD_KEPT,		/* closer stuck: a passed fd stays open */
	ND_NKINDS
};

static struct {
	int		 fd;		/* the inbound socket, -1 */
	char		 name[108];	/* "@..." for NOTIFY_SOCKET */
	ev_io		 io;
	ev_timer	 sd_watchdog;	/* the master's own pings to systemd */
	int		 closer;	/* the closer thread's queue, -1 */
	bool		 closer_failed;
	bool		 rights_off;	/* SO_PASSRIGHTS turned off */
	uid_t		 euid;		/* the master's */
	bool		 euid_known;
	unsigned long long master_start;	/* its start time, 0: unknown */
	bool		 master_start_known;
	struct {
		ev_tstamp	 next;	/* no warning of this kind before */
		unsigned long	 quiet;	/* ignored since the last warning */
	}		 warn[ND_NKINDS];
} ntf = { .fd = -1, .closer = -1 };

static void	 notify_cb(struct ev_loop *, ev_io *, int);

/* Abstract name: no file, no permissions, reachable from workers that run
 * as another user, gone with the master. */
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
	snprintf(ntf.name, sizeof ntf.name, "@%s", sun.sun_path + 1);
	ntf.fd = fd;
	ev_io_init(&ntf.io, notify_cb, fd, EV_READ);
	ev_io_start(cl.loop, &ntf.io);
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
	if (ntf.fd == -1)
		return;
	ev_io_stop(cl.loop, &ntf.io);
	close(ntf.fd);
	ntf.fd = -1;
}

/* What workers get as NOTIFY_SOCKET ("" before notify_open). */
const char *
notify_socket_name(void)
{
	return ntf.name;
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
			else if (IS("X_CLUSTERD_RECYCLE"))
				m.recycle = ONE;
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

/*
 * The parent pid and the start time (clock ticks after boot) from the whole
 * text of /proc/PID/stat: "pid (comm) state ppid pgrp ... starttime ...",
 * fields 4 and 22. comm is printed raw and may hold spaces, ')' and
 * newlines (a process names itself), but nothing after it can hold a ')',
 * so the field that follows the last ')' of the whole file is the state;
 * then come numbers, one space after each. Text cut short, or anything
 * else there: -EINVAL.
 */
int
notify_parse_stat(const char *buf, size_t len, pid_t *ret_ppid,
    unsigned long long *ret_start)
{
	const char *p, *end = buf + len;
	unsigned long long v, ppid = 0;
	int field;

	if ((p = memrchr(buf, ')', len)) == NULL)
		return -EINVAL;
	p++;
	if (end - p < 4 || p[0] != ' ' || p[1] == ' ' || p[2] != ' ')
		return -EINVAL;
	p += 3;
	for (field = 4; field <= 22; field++) {
		/* tpgid, priority, nice... may be negative; not these two. */
		if (field != 4 && field != 22 && p < end && *p == '-')
			p++;
		if (p == end || *p < '0' || *p > '9')
			return -EINVAL;
		for (v = 0; p < end && *p >= '0' && *p <= '9'; p++) {
			unsigned d = (unsigned)(*p - '0');

			if (v > ULLONG_MAX / 10 ||
			    (v == ULLONG_MAX / 10 && d > ULLONG_MAX % 10))
				return -EINVAL;
			v = v * 10 + d;
		}
		if (p == end || *p != ' ')
			return -EINVAL;
		p++;
		if (field == 4 && (ppid = v) > INT32_MAX)
			return -EINVAL;
	}
	*ret_ppid = (pid_t)ppid;
	*ret_start = v;
	return 0;
}

/* The parent and start time of pid, from /proc: 0 or -errno. */
static int
proc_stat(pid_t pid, pid_t *ret_ppid, unsigned long long *ret_start)
{
	char path[64], buf[4096];
	ssize_t n;
	int fd, r;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -errno;
	n = read(fd, buf, sizeof buf);
	r = errno;
	close(fd);
	if (n == -1)
		return -r;
	/* A full buffer may be cut short: never the case for a real stat. */
	if (n == (ssize_t)sizeof buf)
		return -EOVERFLOW;
	return notify_parse_stat(buf, (size_t)n, ret_ppid, ret_start);
}

/* The uid workers run as: a sender of any other uid but root is not one of
 * them, whatever its /proc says. */
static bool
uid_may_be_worker(uid_t uid)
{
	if (!ntf.euid_known) {		/* a syscall: once, not per message */
		ntf.euid = geteuid();
		ntf.euid_known = true;
	}
	return uid == 0 || uid == (cl.cfg != NULL && cl.cfg->user != NULL ?
	    cl.cfg->uid : ntf.euid);
}

/*
 * The worker whose process tree holds pid: itself or an ancestor. Every
 * process below a worker started after the master did, so the walk stops
 * at the first older one (a shell that ran the sender, say) instead of
 * climbing to init, and after NOTIFY_DEPTH generations in any case.
 */
static struct worker *
credit(pid_t pid)
{
	struct worker *w;
	unsigned long long start;
	pid_t ppid;
	int depth;

	if (!ntf.master_start_known && cl.master_pid > 0) {
		if (proc_stat(cl.master_pid, &ppid, &ntf.master_start) < 0)
			ntf.master_start = 0;
		ntf.master_start_known = true;
	}
	for (depth = 0; depth < NOTIFY_DEPTH && pid > 1 &&
	    pid != cl.master_pid; depth++) {
		if ((w = worker_find_pid(pid)) != NULL)
			return w;
		if (proc_stat(pid, &ppid, &start) < 0 ||
		    start < ntf.master_start)
			return NULL;
		pid = ppid;
	}
	return NULL;
}

/* One warning per kind per NOTIFY_WARN_EVERY seconds, with the number of
 * messages ignored in between. */
static void
notify_warn(enum notify_drop kind, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
notify_warn(enum notify_drop kind, const char *fmt, ...)
{
	char text[256];
	va_list ap;
	ev_tstamp now = cl.loop != NULL ? ev_now(cl.loop) : 0.;

	if (now < ntf.warn[kind].next) {
		ntf.warn[kind].quiet++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (ntf.warn[kind].quiet > 0)
		log_warn("notify: %s (and %lu more like it in the last "
		    "%.0fs)", text, ntf.warn[kind].quiet, NOTIFY_WARN_EVERY);
	else
		log_warn("notify: %s", text);
	ntf.warn[kind].quiet = 0;
	ntf.warn[kind].next = now + NOTIFY_WARN_EVERY;
}

/* Closing a passed fd can block: a TCP socket lingers with unsent data, a
 * file on a FUSE or NFS mount flushes. A detached thread does those closes,
 * so the loop never waits on a sender's fd; it only reads fd numbers from
 * a pipe and closes them, and holds no lock a forked child could need. */
static void *
closer_main(void *arg)
{
	int q = (int)(intptr_t)arg, fd;

	while (read(q, &fd, sizeof fd) == (ssize_t)sizeof fd)
		close(fd);
	return NULL;
}

static int
closer_start(void)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;
	int p[2], r;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -errno;
	if (fcntl(p[1], F_SETFL, O_NONBLOCK) == -1) {
		r = -errno;
		goto fail;
	}
	/* Room for 262144 fds (an unprivileged pipe's largest): full only
	 * when the thread is stuck, not when it is merely not scheduled. */
	(void)fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
	/* Signals are the loop's: the thread takes none. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	r = -pthread_create(&t, &attr, closer_main, (void *)(intptr_t)p[0]);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		goto fail;
	ntf.closer = p[1];
	return 0;
fail:
	close(p[0]);
	close(p[1]);
	return r;
}

/*
 * Get rid of an fd a sender passed, without blocking. Even fstat() could
 * wait (on a FUSE server), so the type is told by calls no file system
 * sees: SO_LINGER succeeds on sockets only, F_GETPIPE_SZ on pipes only.
 * A pipe (the BARRIER=1 answer systemd-notify waits for) is closed at
 * once: that cannot block. A socket first loses its linger time, so its
 * last close resets instead of waiting. Everything but a pipe goes to the
 * closer thread. If the thread cannot take it (stuck on a close that never
 * returns, its queue full), the socket we read from stops accepting fds
 * (SO_PASSRIGHTS, Linux 6.16: senders get EPERM, only BARRIER=1 loses),
 * a socket in hand is closed here (without linger that does not wait) and
 * anything else stays open: a leaked fd costs less than a frozen master.
 */
static void
drop_fd(int sock_fd, int fd, pid_t from)
{
	static const struct linger nolinger = { .l_onoff = 1, .l_linger = 0 };
	bool sock;
	int zero = 0;

	sock = setsockopt(fd, SOL_SOCKET, SO_LINGER, &nolinger,
	    sizeof nolinger) == 0 || errno != ENOTSOCK;
	if (!sock && fcntl(fd, F_GETPIPE_SZ) >= 0) {
		close(fd);
		return;
	}
	if (ntf.closer == -1 && !ntf.closer_failed && closer_start() < 0)
		ntf.closer_failed = true;
	if (ntf.closer != -1 &&
	    write(ntf.closer, &fd, sizeof fd) == (ssize_t)sizeof fd)
		return;
	if (!ntf.rights_off && setsockopt(sock_fd, SOL_SOCKET, SO_PASSRIGHTS,
	    &zero, sizeof zero) == 0) {
		ntf.rights_off = true;
		log_warn("notify: the closer thread is stuck: passed fds are "
		    "refused from now on");
	}
	if (sock) {
		close(fd);
		return;
	}
	notify_warn(ND_FD_KEPT, "keeping fd %d passed by pid %ld open: the "
	    "closer thread is stuck", fd, (long)from);
}

static void
notify_handle(const struct ucred *cred, const char *buf, size_t len)
{
	struct notify_msg m;
	struct worker *w;

	if (cred == NULL) {
		notify_warn(ND_NO_CRED, "ignoring a message without "
		    "credentials");
		return;
	}
	/* Before any /proc read: a flood from another user costs a
	 * recvmsg and this comparison. */
	if (!uid_may_be_worker(cred->uid)) {
		notify_warn(ND_STRANGER, "ignoring a message from pid %ld: "
		    "uid %ld is not the workers' user", (long)cred->pid,
		    (long)cred->uid);
		return;
	}
	if (notify_parse(buf, len, &m) < 0) {
		notify_warn(ND_MALFORMED, "ignoring a malformed message from "
		    "pid %ld", (long)cred->pid);
		return;
	}
	if ((w = credit(cred->pid)) == NULL) {
		notify_warn(ND_NOT_WORKER, "ignoring a message from pid %ld, "
		    "not a worker", (long)cred->pid);
		return;
	}
	if (m.has_status)
		snprintf(w->status, sizeof w->status, "%s", m.status);
	if (m.watchdog)
		worker_watchdog_ping(w);
	if (m.stopping)
		log_debug("slot %d: pid %ld says STOPPING=1", w->slot,
		    (long)w->pid);
	if (m.ready && (w->ready == READY_LISTEN || w->ready == READY_FD))
		log_debug("slot %d: pid %ld: READY=1 ignored: its readiness "
		    "is ready = %s", w->slot, (long)w->pid,
		    w->ready == READY_LISTEN ? "listen" : "fd");
	else if (m.ready)
		worker_ready(w);
	if (m.recycle)
		worker_recycle(w);
}

/* Read and handle up to NOTIFY_BURST datagrams from fd: the loop's
 * callback, and what tests/fuzz/fuzz_notify.c drives with real datagrams.
 * The number handled, or -errno once fd has nothing more (-EAGAIN). */
int
notify_receive(int fd)
{
	char buf[NOTIFY_MAX_MSG];
	union {
		struct cmsghdr	hdr;
		/* Room for the most fds a message can carry: any the kernel
		 * cannot hand over, it closes in our thread, blocking. */
		char		buf[CMSG_SPACE(sizeof(struct ucred)) +
				    CMSG_SPACE(sizeof(int) * NOTIFY_MAX_FDS)];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf };
	struct msghdr msg;
	struct cmsghdr *c;
	struct ucred *cred, cr;
	ssize_t n;
	int i, k, nfds, *fds;

	for (i = 0; i < NOTIFY_BURST; i++) {
		memset(&msg, 0, sizeof msg);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = &control;
		msg.msg_controllen = sizeof control;
		n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC |
		    MSG_TRUNC);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return i > 0 ? i : -errno;
		}
		cred = NULL;
		for (c = CMSG_FIRSTHDR(&msg); c != NULL;
		    c = CMSG_NXTHDR(&msg, c))
			if (c->cmsg_level == SOL_SOCKET &&
			    c->cmsg_type == SCM_CREDENTIALS &&
			    c->cmsg_len >= CMSG_LEN(sizeof cr)) {
				memcpy(&cr, CMSG_DATA(c), sizeof cr);
				cred = &cr;
			}
		/* Passed fds (systemd-notify's BARRIER=1 pipe) are closed
		 * unread, whoever sent them: that is the barrier's answer. */
		for (c = CMSG_FIRSTHDR(&msg); c != NULL;
		    c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level != SOL_SOCKET ||
			    c->cmsg_type != SCM_RIGHTS)
				continue;
			fds = (int *)CMSG_DATA(c);
			nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (k = 0; k < nfds; k++) {
				int one;

				memcpy(&one, fds + k, sizeof one);
				drop_fd(fd, one, cred ? cred->pid : 0);
			}
		}
		if ((size_t)n > sizeof buf || (msg.msg_flags & MSG_TRUNC)) {
			notify_warn(ND_OVERSIZED, "ignoring an oversized "
			    "message from pid %ld", cred ? (long)cred->pid :
			    0L);
			continue;
		}
		notify_handle(cred, buf, (size_t)n);
	}
	return i;
}

static void
notify_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)notify_receive(io->fd);
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
	ev_timer_init(&ntf.sd_watchdog, sd_watchdog_cb, 0.,
	    (double)usec / 2e6);
	ev_timer_again(cl.loop, &ntf.sd_watchdog);
	log_info("systemd watchdog: pinging every %.3fs", (double)usec / 2e6);
}

/* Across an upgrade: the inbound socket (what queued on it meanwhile is
 * read by the new image) and its name, which every worker holds. The
 * closer thread does not cross execve: a new one starts when needed. */
void
notify_dump(struct ustate *st)
{
	upgrade_put_fd(st, ntf.fd);
	upgrade_put_str(st, ntf.name);
	upgrade_put_u64(st, ntf.rights_off);
}

int
notify_restore(struct ustate *st)
{
	char *name;

	ntf.fd = upgrade_get_fd(st);
	name = upgrade_get_str(st);
	ntf.rights_off = upgrade_get_u64(st) != 0;
	if (ntf.fd == -1 || name == NULL) {
		free(name);
		return -EBADMSG;
	}
	snprintf(ntf.name, sizeof ntf.name, "%s", name);
	free(name);
	ev_io_init(&ntf.io, notify_cb, ntf.fd, EV_READ);
	ev_io_start(cl.loop, &ntf.io);
	return 0;
}
