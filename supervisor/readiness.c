/*
 * readiness.c - readiness without code in the worker. ready = listen: the
 * master looks in /proc for the worker (or a process of its group) waiting
 * on its listening sockets, on a short timer that runs only while it
 * starts. ready = fd: a newline on a pipe the worker got as
 * CLUSTERD_READY_FD. Both end in worker_ready() or worker_not_ready().
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clusterd.h"

/*
 * How often to look. Servers start listening within tens to hundreds of
 * milliseconds: every 20 ms adds at most 20 ms to a boot (a Node worker
 * boots in about 60) for a look that costs about 0.1 ms. A worker still
 * not listening after 50 looks (a second, or more when the master was busy
 * spawning hundreds) boots slowly anyway: the interval grows by half each
 * time up to a quarter second, so that hundreds of slow workers starting
 * at once cost a bounded few looks per second each. Counted in looks, not
 * time: the master's clock stands still while it forks a batch.
 */
/*
 * And at most this many looks per CHECK_EVERY over all starting workers
 * (about 4 ms of CPU in 20 ms: a fifth of a core): when hundreds start at
 * once, each is looked at less often instead of the master's loop
 * running full (the others wait for the next window, first in line).
 */
#define LOOK_BUDGET	40
#define CHECK_FIRST	0.01
#define CHECK_EVERY	0.02
#define CHECK_FAST_LOOKS 50
#define CHECK_MAX	0.25
/* ready = fd: the end of the pipe is a failure this much later, unless
 * the worker's exit came first. */
#define FD_EOF_GRACE	0.05
/* A look at a process group stops after this many processes. */
#define GROUP_MAX	64
/* Linux x86-64 syscall numbers, in /proc/TID/syscall. */
#define NR_ACCEPT	43
#define NR_ACCEPT4	288

/* What one look found, over the processes of the group. */
struct look {
	const ino_t	*inos;
	int		 ninos;
	uint64_t	 waits;		/* bit i: inos[i] waited on */
	uint64_t	 holds;		/* bit i: inos[i] held as an fd */
	int		 procs;		/* processes looked at */
	int		 epolls;	/* epoll sets read */
	int		 threads;	/* syscall files read */
	int		 denied;	/* errno of the first refused read */
	pid_t		 denied_pid;
	const char	*denied_what;
};

/* The looks spent in the current window, over all workers. */
static struct {
	ev_tstamp	 window;
	int		 looks;
} rdg;

static int	 ino_index(const struct look *, unsigned long long);
static void	 denied(struct look *, pid_t, const char *, int);
static void	 look_epoll(struct look *, pid_t, const char *);
static char	 thread_state(pid_t, const char *);
static void	 look_thread(struct look *, pid_t, const char *, const int *,
		    const int *, int);
static pid_t	 pgid_of(pid_t);
static void	 look_children(pid_t, const char *, pid_t *, int *, int);
static int	 look_process(struct look *, pid_t, pid_t *kids, int *nkids,
		    int maxkids);
static void	 arm(struct ev_loop *, struct worker *, double);
static void	 check_cb(struct ev_loop *, ev_timer *, int);
static void	 fd_cb(struct ev_loop *, ev_io *, int);

static int
ino_index(const struct look *lk, unsigned long long ino)
{
	int i;

	for (i = 0; i < lk->ninos; i++)
		if ((unsigned long long)lk->inos[i] == ino)
			return i;
	return -1;
}

static void
denied(struct look *lk, pid_t pid, const char *what, int err)
{
	if (lk->denied != 0)
		return;
	lk->denied = err;
	lk->denied_pid = pid;
	lk->denied_what = what;
}

/* An epoll set's fdinfo: "tfd: 3 events: 19 data: ... ino:2f1a sdev:8",
 * the inode in hex. */
static void
look_epoll(struct look *lk, pid_t pid, const char *fd)
{
	char path[320], line[256], *p;
	unsigned long long ino;
	FILE *f;
	int i;

	snprintf(path, sizeof path, "/proc/%ld/fdinfo/%s", (long)pid, fd);
	if ((f = fopen(path, "re")) == NULL) {
		if (errno == EACCES || errno == EPERM)
			denied(lk, pid, "fdinfo", errno);
		return;
	}
	lk->epolls++;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "tfd:", 4) != 0 ||
		    (p = strstr(line, " ino:")) == NULL)
			continue;
		ino = strtoull(p + 5, NULL, 16);
		if ((i = ino_index(lk, ino)) >= 0)
			lk->waits |= 1ULL << i;
	}
	fclose(f);
}

/* The fields of a /proc .../stat file after the command name (which may
 * hold spaces and parentheses): " S 1 ...", in buf; NULL if unreadable. */
const char *
proc_stat_fields(const char *path, char *buf, size_t len)
{
	char *p;
	ssize_t n;
	int f;

	if ((f = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	n = read(f, buf, len - 1);
	close(f);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return NULL;
	return p + 1;
}

/* R, S, D, ... from /proc/PID/task/TID/stat, or 0. */
static char
thread_state(pid_t pid, const char *tid)
{
	char path[320], buf[512];
	const char *p;

	snprintf(path, sizeof path, "/proc/%ld/task/%s/stat", (long)pid, tid);
	if ((p = proc_stat_fields(path, buf, sizeof buf)) == NULL)
		return 0;
	return p[1];
}

/* /proc/PID/task/TID/syscall of a blocked thread: "288 0x3 ...", the
 * number, then the arguments in hex. */
static void
look_thread(struct look *lk, pid_t pid, const char *tid, const int *sockfd,
    const int *sockidx, int nsock)
{
	char path[320], buf[256], *end;
	long nr;
	unsigned long long fd;
	ssize_t n;
	int f, i;

	/* Only a sleeping thread can be blocked in accept; and reading the
	 * syscall file of a running one waits until it is off its CPU. */
	if (thread_state(pid, tid) != 'S') {
		lk->threads++;
		return;
	}
	snprintf(path, sizeof path, "/proc/%ld/task/%s/syscall", (long)pid,
	    tid);
	if ((f = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == EACCES || errno == EPERM)
			denied(lk, pid, "syscall", errno);
		return;
	}
	n = read(f, buf, sizeof buf - 1);
	close(f);
	if (n <= 0)
		return;
	lk->threads++;
	buf[n] = '\0';
	nr = strtol(buf, &end, 10);
	if (end == buf || (nr != NR_ACCEPT && nr != NR_ACCEPT4))
		return;
	fd = strtoull(end, NULL, 16);
	for (i = 0; i < nsock; i++)
		if ((unsigned long long)sockfd[i] == fd)
			lk->waits |= 1ULL << sockidx[i];
}

/* Its process group, from /proc/PID/stat (after the last ')'). */
static pid_t
pgid_of(pid_t pid)
{
	char path[64], buf[512], *p;
	long pgrp;
	ssize_t n;
	int f;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(f, buf, sizeof buf - 1);
	close(f);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %*d %ld", &pgrp) != 1)
		return -1;
	return (pid_t)pgrp;
}

/* Children of every thread of pid, into kids. */
static void
look_children(pid_t pid, const char *tid, pid_t *kids, int *nkids,
    int maxkids)
{
	char path[320], buf[1024], *p, *end;
	long c;
	ssize_t n;
	int f;

	snprintf(path, sizeof path, "/proc/%ld/task/%s/children", (long)pid,
	    tid);
	if ((f = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(f, buf, sizeof buf - 1);
	close(f);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (p = buf; *nkids < maxkids; p = end) {
		c = strtol(p, &end, 10);
		if (end == p)
			break;
		kids[(*nkids)++] = (pid_t)c;
	}
}

/*
 * One process: its fds (which are the sockets, which are epoll sets), then
 * if needed its threads' system calls; its children go to kids.
 */
static int
look_process(struct look *lk, pid_t pid, pid_t *kids, int *nkids,
    int maxkids)
{
	char path[64], link[64];
	int sockfd[LISTEN_MAX], sockidx[LISTEN_MAX], nsock = 0, i;
	uint64_t all = lk->ninos >= 64 ? ~0ULL : (1ULL << lk->ninos) - 1;
	unsigned long long ino;
	struct dirent *de;
	ssize_t n;
	DIR *d;

	lk->procs++;
	snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
	if ((d = opendir(path)) == NULL) {
		if (errno == EACCES || errno == EPERM)
			denied(lk, pid, "fd", errno);
		return -errno;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((n = readlinkat(dirfd(d), de->d_name, link,
		    sizeof link - 1)) <= 0)
			continue;
		link[n] = '\0';
		if (strncmp(link, "socket:[", 8) == 0) {
			ino = strtoull(link + 8, NULL, 10);
			if ((i = ino_index(lk, ino)) >= 0 &&
			    nsock < LISTEN_MAX) {
				lk->holds |= 1ULL << i;
				sockfd[nsock] = atoi(de->d_name);
				sockidx[nsock++] = i;
			}
		} else if (strcmp(link, "anon_inode:[eventpoll]") == 0)
			look_epoll(lk, pid, de->d_name);
	}
	closedir(d);
	if ((lk->waits & all) == all)
		return 0;
	snprintf(path, sizeof path, "/proc/%ld/task", (long)pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (nsock > 0 && (lk->waits & all) != all)
			look_thread(lk, pid, de->d_name, sockfd, sockidx,
			    nsock);
		if (maxkids > 0)
			look_children(pid, de->d_name, kids, nkids, maxkids);
	}
	closedir(d);
	return 0;
}

int
readiness_check(pid_t pid, const ino_t *inos, int ninos, char *why,
    size_t whylen)
{
	struct look lk;
	pid_t queue[GROUP_MAX];
	uint64_t all;
	int head = 0, n = 1, r, held = 0, waited = 0, i;

	if (ninos <= 0)
		return -EINVAL;
	memset(&lk, 0, sizeof lk);
	lk.inos = inos;
	lk.ninos = ninos > 64 ? 64 : ninos;
	all = lk.ninos >= 64 ? ~0ULL : (1ULL << lk.ninos) - 1;
	queue[0] = pid;
	/* The worker first; its descendants in its process group only if
	 * it does not wait itself (gunicorn's arbiter passes the sockets to
	 * the workers it forks). */
	while (head < n && (lk.waits & all) != all) {
		pid_t p = queue[head++];

		if (p != pid && pgid_of(p) != pid)
			continue;
		r = look_process(&lk, p, queue, &n, GROUP_MAX);
		if (r < 0 && p == pid && lk.denied == 0) {
			snprintf(why, whylen, "cannot read /proc/%ld/fd: %s",
			    (long)pid, strerror(-r));
			return r;
		}
	}
	if ((lk.waits & all) == all) {
		snprintf(why, whylen, "waits on its socket%s", ninos > 1 ?
		    "s" : "");
		return 1;
	}
	for (i = 0; i < lk.ninos; i++) {
		held += (lk.holds >> i) & 1;
		waited += (lk.waits >> i) & 1;
	}
	if (lk.denied != 0)
		snprintf(why, whylen, "the master may not read /proc/%ld/%s "
		    "(%s: another user's or a non-dumpable process), so it "
		    "cannot see it wait; use ready = notify or fd",
		    (long)lk.denied_pid, lk.denied_what, strerror(lk.denied));
	else if (held == 0)
		snprintf(why, whylen, "no process of pid %ld's group (%d "
		    "looked at) holds its listening socket", (long)pid,
		    lk.procs);
	else if (waited > 0)
		snprintf(why, whylen, "waits on %d of its %d listening "
		    "sockets", waited, lk.ninos);
	else
		snprintf(why, whylen, "holds its listening socket, but no "
		    "epoll set (%d read) has it and no thread (%d) blocks in "
		    "accept on it: a select/poll server, or not serving yet",
		    lk.epolls, lk.threads);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The watch of one starting worker.                                   */

static void
arm(struct ev_loop *loop, struct worker *w, double after)
{
	ev_timer_set(&w->rd.check_w, after, 0.);
	ev_timer_start(loop, &w->rd.check_w);
}

void
readiness_watch(struct ev_loop *loop, struct worker *w, int ready_fd)
{
	ev_timer_init(&w->rd.check_w, check_cb, 0., 0.);
	w->rd.check_w.data = w;
	w->rd.fd = -1;
	w->rd.seen[0] = '\0';
	if (w->ready == READY_LISTEN) {
		snprintf(w->rd.seen, sizeof w->rd.seen, "not looked at yet");
		w->rd.every = CHECK_EVERY;
		arm(loop, w, CHECK_FIRST);
	}
	if (ready_fd >= 0) {
		w->rd.fd = ready_fd;
		ev_io_init(&w->rd.fd_w, fd_cb, ready_fd, EV_READ);
		w->rd.fd_w.data = w;
		ev_io_start(loop, &w->rd.fd_w);
	}
}

void
readiness_unwatch(struct ev_loop *loop, struct worker *w)
{
	ev_timer_stop(loop, &w->rd.check_w);
	/* The fd is open exactly while its watcher runs. */
	if (ev_is_active(&w->rd.fd_w)) {
		ev_io_stop(loop, &w->rd.fd_w);
		close(w->rd.fd);
		w->rd.fd = -1;
	}
}

const char *
readiness_explain(const struct worker *w)
{
	return w->rd.seen;
}

static void
check_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = t->data;
	ino_t inos[LISTEN_MAX];
	struct stat st;
	int i, n = 0, fd, r;

	if (w->ready == READY_FD) {	/* the pipe ended a moment ago */
		worker_not_ready(w, "closed CLUSTERD_READY_FD without "
		    "writing a newline");
		return;
	}
	for (i = 0; i < w->nlset && n < LISTEN_MAX; i++)
		if ((fd = listen_slot_fd(w->lset[i], w->slot)) >= 0 &&
		    fstat(fd, &st) == 0)
			inos[n++] = st.st_ino;
	if (n == 0) {
		snprintf(w->rd.seen, sizeof w->rd.seen, "it has no "
		    "listening socket to wait on");
		return;		/* ready_timeout answers */
	}
	if (ev_now(loop) - rdg.window >= CHECK_EVERY) {
		rdg.window = ev_now(loop);
		rdg.looks = 0;
	}
	if (rdg.looks >= LOOK_BUDGET) {
		arm(loop, w, rdg.window + CHECK_EVERY - ev_now(loop));
		return;
	}
	rdg.looks++;
	w->rd.checks++;
	r = readiness_check(w->pid, inos, n, w->rd.seen, sizeof w->rd.seen);
	if (r == 1) {
		log_debug("slot %d: pid %ld %s (look %u)", w->slot,
		    (long)w->pid, w->rd.seen, w->rd.checks);
		worker_ready(w);
		return;
	}
	if (w->rd.checks >= CHECK_FAST_LOOKS) {
		w->rd.every *= 1.5;
		if (w->rd.every > CHECK_MAX)
			w->rd.every = CHECK_MAX;
	}
	arm(loop, w, w->rd.every);
}

/* ready = fd: a newline is ready; the end of the pipe before one (the
 * worker closed it, or exited) is a failed start, at once. */
static void
fd_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct worker *w = io->data;
	char buf[256];
	ssize_t n;

	n = read(w->rd.fd, buf, sizeof buf);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0 && memchr(buf, '\n', (size_t)n) == NULL)
		return;		/* not yet: more may come */
	ev_io_stop(loop, io);
	close(w->rd.fd);
	w->rd.fd = -1;
	if (n > 0) {
		worker_ready(w);
		return;
	}
	/* A worker that exits closes it too: give its exit (and its last
	 * output lines, which say why) a moment to arrive first. */
	arm(loop, w, FD_EOF_GRACE);
}
