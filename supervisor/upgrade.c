/*
 * upgrade.c - `clusterd upgrade` and SIGUSR2: the master re-executes its
 * own binary in place. The new binary first answers --upgrade-check in a
 * child (its version, the state formats it reads); then the master writes
 * its state into a memfd - each module dumps its own part, in the order of
 * parts[] - and calls execve with the same pid. The new image reads the
 * state back in the same order, adopts the fds named in it, rebuilds its
 * loop and goes on; workers never notice.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clusterd.h"

extern char **environ;

#define UPGRADE_MAGIC		"clusterd-state\n"
#define UPGRADE_WAITERS_MAX	16
#define UPGRADE_CHECK_OUT	1024	/* of --upgrade-check's output */
#define UPGRADE_RESUME_OPT	"--upgrade-resume="

/* A state being written (buf grows, fds collects what must cross execve)
 * or read (off walks buf; failed is sticky). */
struct ustate {
	char		*buf;
	size_t		 len, cap, off;
	bool		 failed;
	int		*fds;
	int		 nfds, capfds;
	double		 gap;		/* seconds between dump and restore */
	unsigned	 format;	/* being read */
};

static const unsigned formats_read[] = UPGRADE_FORMATS_READ;
#define NFORMATS	(sizeof formats_read / sizeof formats_read[0])

/* Each module's part, in the order written and read. */
static const struct {
	const char	*name;
	void		 (*dump)(struct ustate *);
	int		 (*restore)(struct ustate *);
} parts[] = {
	{ "cluster", cluster_dump, cluster_restore },
	{ "listen", listen_dump, listen_restore },
	{ "notify", notify_dump, notify_restore },
	{ "control", control_dump, control_restore },
	{ "daemon", daemon_dump, daemon_restore },
	{ "worker", worker_dump, worker_restore },
	{ "slot", slot_dump, slot_restore },
	{ "admin", admin_dump, admin_restore },
	{ "events", events_dump, events_restore },
};
#define NPARTS	(sizeof parts / sizeof parts[0])

struct waiter {
	upgrade_reply_fn	*fn;
	void			*arg;
};

enum upgrade_phase {
	UP_IDLE = 0,
	UP_WAIT_RELOAD,		/* a reload runs: the upgrade comes after */
	UP_CHECKING,		/* the new binary's --upgrade-check runs */
};

static struct {
	char			*self;		/* the binary, resolved at start */
	char		       **args;		/* argv[1..] as started, for ps */
	int			 nargs;
	char			*from;		/* after an upgrade: the old version */
	enum upgrade_phase	 phase;
	struct waiter		 waiters[UPGRADE_WAITERS_MAX];
	int			 nwaiters;
	sigset_t		 deferred;	/* signals for after the upgrade */
	pid_t			 check_pid;
	int			 check_fd;
	ev_io			 check_io;
	ev_timer		 check_t;
	char			 out[UPGRADE_CHECK_OUT];
	size_t			 outlen;
} up = { .check_fd = -1 };

static void	 check_start(void);
static void	 check_read(void);
static void	 check_io_cb(struct ev_loop *, ev_io *, int);
static void	 check_timeout_cb(struct ev_loop *, ev_timer *, int);
static void	 check_stop(void);
static void	 check_judge(int status);
static void	 upgrade_exec(const char *version);
static void	 upgrade_fail(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------------------------ */
/* The state's encoding: native 8-byte values (the same machine reads
 * them), strings and blobs with their length first.                   */

static void
put_raw(struct ustate *st, const void *p, size_t n)
{
	size_t cap;
	char *b;

	if (st->failed)
		return;
	if (st->cap - st->len < n) {
		for (cap = st->cap ? st->cap : 65536; cap - st->len < n;)
			cap *= 2;
		if ((b = realloc(st->buf, cap)) == NULL) {
			st->failed = true;
			return;
		}
		st->buf = b;
		st->cap = cap;
	}
	memcpy(st->buf + st->len, p, n);
	st->len += n;
}

static bool
get_raw(struct ustate *st, void *p, size_t n)
{
	if (st->failed || st->len - st->off < n) {
		st->failed = true;
		memset(p, 0, n);
		return false;
	}
	memcpy(p, st->buf + st->off, n);
	st->off += n;
	return true;
}

void
upgrade_put_u64(struct ustate *st, uint64_t v)
{
	put_raw(st, &v, sizeof v);
}

void
upgrade_put_dbl(struct ustate *st, double v)
{
	put_raw(st, &v, sizeof v);
}

void
upgrade_put_mem(struct ustate *st, const void *p, size_t n)
{
	upgrade_put_u64(st, n);
	put_raw(st, p, n);
}

void
upgrade_put_str(struct ustate *st, const char *s)
{
	upgrade_put_u64(st, s == NULL ? 0 : strlen(s) + 1);
	if (s != NULL)
		put_raw(st, s, strlen(s) + 1);
}

/* The fd crosses execve: its close-on-exec flag is cleared just before. */
void
upgrade_put_fd(struct ustate *st, int fd)
{
	int *fds;

	upgrade_put_u64(st, (uint64_t)(int64_t)fd);
	if (fd < 0 || st->failed)
		return;
	if (st->nfds == st->capfds) {
		st->capfds = st->capfds ? st->capfds * 2 : 64;
		if ((fds = realloc(st->fds, sizeof *fds *
		    (size_t)st->capfds)) == NULL) {
			st->failed = true;
			return;
		}
		st->fds = fds;
	}
	st->fds[st->nfds++] = fd;
}

/* What is left of a running timer, -1 for one that is not. */
void
upgrade_put_timer(struct ustate *st, ev_timer *t)
{
	upgrade_put_dbl(st, ev_is_active(t) ? ev_timer_remaining(cl.loop, t) :
	    -1.);
}

/* A marker between parts: a reader out of step stops at the next one. */
void
upgrade_put_tag(struct ustate *st, const char *tag)
{
	upgrade_put_str(st, tag);
}

uint64_t
upgrade_get_u64(struct ustate *st)
{
	uint64_t v;

	get_raw(st, &v, sizeof v);
	return v;
}

double
upgrade_get_dbl(struct ustate *st)
{
	double v;

	get_raw(st, &v, sizeof v);
	return v;
}

void
upgrade_get_mem(struct ustate *st, void *p, size_t n)
{
	if (upgrade_get_u64(st) != n) {
		st->failed = true;
		memset(p, 0, n);
		return;
	}
	get_raw(st, p, n);
}

/* A blob of any length, malloc'd with a NUL after it. */
void *
upgrade_get_blob(struct ustate *st, size_t *ret_len)
{
	uint64_t n = upgrade_get_u64(st);
	char *b;

	if (st->failed || n > st->len - st->off ||
	    (b = malloc((size_t)n + 1)) == NULL) {
		st->failed = true;
		return NULL;
	}
	get_raw(st, b, (size_t)n);
	b[n] = '\0';
	*ret_len = (size_t)n;
	return b;
}

char *
upgrade_get_str(struct ustate *st)
{
	uint64_t n = upgrade_get_u64(st);
	char *s;

	if (n == 0 || st->failed)
		return NULL;
	if (n > st->len - st->off || (s = malloc((size_t)n)) == NULL) {
		st->failed = true;
		return NULL;
	}
	get_raw(st, s, (size_t)n);
	s[n - 1] = '\0';
	return s;
}

int
upgrade_get_fd(struct ustate *st)
{
	int64_t v = (int64_t)upgrade_get_u64(st);
	int fd = (int)v;

	if (st->failed || fd < 0)
		return -1;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		st->failed = true;	/* not there: not our state */
		return -1;
	}
	return fd;
}

void
upgrade_get_timer(struct ustate *st, ev_timer *t)
{
	double left = upgrade_get_dbl(st);

	if (st->failed || left < 0)
		return;
	left -= st->gap;
	ev_timer_set(t, left > 0 ? left : 0., 0.);
	ev_timer_start(cl.loop, t);
}

void
upgrade_get_tag(struct ustate *st, const char *tag)
{
	char *s = upgrade_get_str(st);

	if (s == NULL || strcmp(s, tag) != 0)
		st->failed = true;
	free(s);
}

bool
upgrade_get_failed(const struct ustate *st)
{
	return st->failed;
}

unsigned
upgrade_get_format(const struct ustate *st)
{
	return st->format;
}

static bool
reads_format(uint64_t f)
{
	size_t i;

	for (i = 0; i < NFORMATS; i++)
		if (formats_read[i] == f)
			return true;
	return false;
}

/* ------------------------------------------------------------------ */
/* Start, and --upgrade-check.                                         */

/* At start: the path of our own binary, while /proc/self/exe still names
 * it (once a package replaced the file it reads "... (deleted)"), and the
 * arguments, so that ps shows the same command after an upgrade. */
void
upgrade_init(int argc, char **argv)
{
	char buf[PATH_MAX];
	int i;

	if (realpath("/proc/self/exe", buf) != NULL)
		up.self = strdup(buf);
	if (argc > 1 && (up.args = calloc((size_t)argc, sizeof *up.args)) !=
	    NULL) {
		for (i = 1; i < argc; i++)
			up.args[i - 1] = argv[i];
		up.nargs = argc - 1;
	}
	sigemptyset(&up.deferred);
}

/* What a master about to upgrade to this binary asks first. */
int
upgrade_check_main(void)
{
	size_t i;

	printf("clusterd %s\nstate formats:", CLUSTERD_VERSION);
	for (i = 0; i < NFORMATS; i++)
		printf(" %u", formats_read[i]);
	printf("\n");
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}

bool
upgrade_running(void)
{
	return up.phase == UP_CHECKING;
}

const char *
upgrade_from(void)
{
	return up.from;
}

/* A signal that would change the cluster (stop, reload, scale) waits for
 * the upgrade: the new image, or the old one if it fails, takes it. */
bool
upgrade_defer(int signo)
{
	if (!upgrade_running())
		return false;
	log_info("upgrade: %s waits for the upgrade", value_signame(signo));
	sigaddset(&up.deferred, signo);
	return true;
}

/* Send ourselves the deferred signals again: they are blocked (libev reads
 * them from a signalfd), so they stay pending - across execve too. */
static void
raise_deferred(void)
{
	int sig;

	for (sig = 1; sig < NSIG; sig++)
		if (sigismember(&up.deferred, sig) == 1)
			kill(getpid(), sig);
	sigemptyset(&up.deferred);
}

/* ------------------------------------------------------------------ */
/* The request.                                                        */

static void
reply_all(int code, const char *text)
{
	int i;

	for (i = 0; i < up.nwaiters; i++)
		if (up.waiters[i].fn != NULL)
			up.waiters[i].fn(up.waiters[i].arg, code, text);
	up.nwaiters = 0;
}

void
upgrade_request(upgrade_reply_fn *fn, void *arg)
{
	char msg[128];

	if (cl.phase != PHASE_RUNNING) {
		snprintf(msg, sizeof msg, "upgrade refused: the cluster is %s",
		    cl.phase == PHASE_STARTING ? "starting" : "stopping");
		log_warn("%s", msg);
		if (fn != NULL)
			fn(arg, EXIT_FAILED, msg);
		return;
	}
	if (fn != NULL) {
		if (up.nwaiters == UPGRADE_WAITERS_MAX) {
			fn(arg, EXIT_FAILED, "too many upgrades waiting");
			return;
		}
		up.waiters[up.nwaiters].fn = fn;
		up.waiters[up.nwaiters++].arg = arg;
	}
	if (up.phase != UP_IDLE) {
		log_info("upgrade: already under way");
		return;
	}
	if (reload_running()) {
		log_notice("upgrade: after the reload under way");
		up.phase = UP_WAIT_RELOAD;
		return;
	}
	check_start();
}

void
upgrade_forget(void *arg)
{
	int i;

	for (i = 0; i < up.nwaiters; i++)
		if (up.waiters[i].arg == arg)
			up.waiters[i].fn = NULL;
}

/* The reload an upgrade waited for is over (a queued one may follow). */
void
upgrade_reload_done(void)
{
	if (up.phase != UP_WAIT_RELOAD || reload_running())
		return;
	up.phase = UP_IDLE;
	if (cl.phase != PHASE_RUNNING) {
		reply_all(EXIT_FAILED, "upgrade refused: the cluster is "
		    "stopping");
		return;
	}
	check_start();
}

/* The cluster stops: an upgrade not under way yet is off. */
void
upgrade_abort(const char *why)
{
	char msg[256];

	if (up.phase == UP_IDLE)
		return;
	if (up.phase == UP_CHECKING) {
		kill(up.check_pid, SIGKILL);
		check_stop();
	}
	up.phase = UP_IDLE;
	snprintf(msg, sizeof msg, "upgrade refused: %s", why);
	log_warn("%s", msg);
	reply_all(EXIT_FAILED, msg);
}

/* Refused or failed: the old image goes on as if nothing was asked. */
static void
upgrade_fail(const char *fmt, ...)
{
	char msg[768], st[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_err("%s", msg);
	{
		struct event_field f[] = { { "result", "failed", 0 } };
		events_emit("upgrade", f, 1, msg);
	}
	up.phase = UP_IDLE;
	slot_status_line(st, sizeof st, cl.generation);
	notify_systemd("STATUS=%s; %s", msg, st);
	reply_all(EXIT_FAILED, msg);
	control_release();
	raise_deferred();
}

/* ------------------------------------------------------------------ */
/* The pre-flight: NEW --upgrade-check in a child, read without blocking. */

static void
check_start(void)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	char *argv[3];
	int p[2], r;

	if (up.self == NULL) {
		upgrade_fail("upgrade refused: the master's own binary is "
		    "unknown (/proc/self/exe unreadable at start)");
		return;
	}
	log_notice("upgrade: asking %s --upgrade-check", up.self);
	if (pipe2(p, O_CLOEXEC) == -1) {
		upgrade_fail("upgrade refused: pipe: %s", strerror(errno));
		return;
	}
	argv[0] = up.self;
	argv[1] = "--upgrade-check";
	argv[2] = NULL;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	r = posix_spawn(&up.check_pid, up.self, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(p[1]);
	if (r != 0) {
		close(p[0]);
		upgrade_fail("upgrade refused: cannot run %s: %s", up.self,
		    strerror(r));
		return;
	}
	up.phase = UP_CHECKING;
	up.outlen = 0;
	up.check_fd = p[0];
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	ev_io_init(&up.check_io, check_io_cb, p[0], EV_READ);
	ev_io_start(cl.loop, &up.check_io);
	ev_timer_init(&up.check_t, check_timeout_cb, UPGRADE_CHECK_TIMEOUT, 0.);
	ev_timer_start(cl.loop, &up.check_t);
	notify_systemd("STATUS=upgrading: checking %s", up.self);
}

/* What is in the pipe now; past UPGRADE_CHECK_OUT it is read and dropped. */
static void
check_read(void)
{
	char junk[512];
	ssize_t n;

	while (up.check_fd != -1) {
		if (up.outlen < sizeof up.out - 1)
			n = read(up.check_fd, up.out + up.outlen,
			    sizeof up.out - 1 - up.outlen);
		else
			n = read(up.check_fd, junk, sizeof junk);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			ev_io_stop(cl.loop, &up.check_io);
			close(up.check_fd);
			up.check_fd = -1;
			return;
		}
		if (up.outlen < sizeof up.out - 1)
			up.outlen += (size_t)n;
	}
}

static void
check_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	check_read();
}

static void
check_stop(void)
{
	ev_timer_stop(cl.loop, &up.check_t);
	up.check_pid = 0;
	if (up.check_fd != -1) {
		ev_io_stop(cl.loop, &up.check_io);
		close(up.check_fd);
		up.check_fd = -1;
	}
	up.out[up.outlen] = '\0';
}

/* The master reaps every child (worker.c, with wait4): this one is the
 * pre-flight's, or not ours (false). */
bool
upgrade_child_exited(pid_t pid, int status)
{
	if (pid <= 0 || pid != up.check_pid)
		return false;
	check_read();		/* what it wrote before it exited */
	check_stop();
	check_judge(status);
	return true;
}

static void
check_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	kill(up.check_pid, SIGKILL);	/* reaped with the workers */
	check_stop();
	upgrade_fail("upgrade refused: %s --upgrade-check did not answer "
	    "within %.0fs", up.self, UPGRADE_CHECK_TIMEOUT);
}

/* Its first line, for messages. */
static const char *
first_line(char *buf, size_t len)
{
	snprintf(buf, len, "%.*s", (int)strcspn(up.out, "\n"), up.out);
	return buf[0] ? buf : "(no output)";
}

/*
 * Its answer: "clusterd VERSION" and "state formats: N [N...]", exit 0.
 * Anything else - it did not run, it is not clusterd, it cannot read the
 * state this master writes - refuses the upgrade with the reason.
 */
static void
check_judge(int status)
{
	char line[200], version[64], *p, *end;
	bool reads = false;
	long v;

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFEXITED(status))
			upgrade_fail("upgrade refused: %s --upgrade-check "
			    "failed (exit code %d): %s", up.self,
			    WEXITSTATUS(status), first_line(line,
			    sizeof line));
		else
			upgrade_fail("upgrade refused: %s --upgrade-check "
			    "failed (signal %d): %s", up.self,
			    WTERMSIG(status), first_line(line, sizeof line));
		return;
	}
	if (sscanf(up.out, "clusterd %63s", version) != 1) {
		upgrade_fail("upgrade refused: %s does not answer "
		    "--upgrade-check like clusterd: %s", up.self,
		    first_line(line, sizeof line));
		return;
	}
	if ((p = strstr(up.out, "\nstate formats:")) != NULL) {
		p += sizeof "\nstate formats:" - 1;
		for (;;) {
			v = strtol(p, &end, 10);
			if (end == p)
				break;
			reads |= v == UPGRADE_FORMAT;
			p = end;
		}
	}
	if (!reads) {
		p = strstr(up.out, "\nstate formats:");
		upgrade_fail("upgrade refused: %s (clusterd %s) cannot read "
		    "this master's state (format %d; it reads %.*s)",
		    up.self, version, UPGRADE_FORMAT,
		    p ? (int)strcspn(p + 16, "\n") : 4, p ? p + 16 : "none");
		return;
	}
	upgrade_exec(version);
}

/* ------------------------------------------------------------------ */
/* execve.                                                             */

/* Every signal the master handles, and SIGCHLD: blocked across execve,
 * so that none takes its default action (SIGTERM would kill) before the
 * new image watches it. They stay pending, and the new loop's signalfd
 * reads them: libev keeps them blocked in signalfd mode, so the new image
 * never unblocks them itself. */
static void
handled_signals(sigset_t *set)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1,
		SIGUSR2, SIGTTIN, SIGTTOU, SIGCHLD };
	size_t i;

	sigemptyset(set);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaddset(set, sigs[i]);
}

static void
set_cloexec(const struct ustate *st, bool on)
{
	int i;

	for (i = 0; i < st->nfds; i++)
		fcntl(st->fds[i], F_SETFD, on ? FD_CLOEXEC : 0);
}

static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? -EIO : -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The state, part by part, into st. */
static void
dump_all(struct ustate *st, const char *version)
{
	size_t i;
	int j;

	put_raw(st, UPGRADE_MAGIC, sizeof UPGRADE_MAGIC - 1);
	upgrade_put_u64(st, UPGRADE_FORMAT);
	upgrade_put_str(st, CLUSTERD_VERSION);
	upgrade_put_str(st, version);
	upgrade_put_u64(st, notify_monotonic_usec());
	upgrade_put_str(st, up.self);
	upgrade_put_u64(st, (uint64_t)up.nargs);
	for (j = 0; j < up.nargs; j++)
		upgrade_put_str(st, up.args[j]);
	for (i = 0; i < NPARTS; i++) {
		upgrade_put_tag(st, parts[i].name);
		parts[i].dump(st);
	}
	upgrade_put_tag(st, "end");
}

static void
upgrade_exec(const char *version)
{
	struct ustate st;
	sigset_t set, old;
	char fdarg[64], **argv;
	int fd, e, i;

	memset(&st, 0, sizeof st);
	ev_now_update(cl.loop);
	dump_all(&st, version);
	if (st.failed) {
		free(st.buf);
		free(st.fds);
		upgrade_fail("upgrade failed: out of memory");
		return;
	}
	if ((fd = memfd_create("clusterd-state", MFD_CLOEXEC)) == -1 ||
	    (e = write_all(fd, st.buf, st.len)) < 0 ||
	    lseek(fd, 0, SEEK_SET) == -1 ||
	    (argv = calloc((size_t)up.nargs + 3, sizeof *argv)) == NULL) {
		e = errno;
		if (fd != -1)
			close(fd);
		free(st.buf);
		free(st.fds);
		upgrade_fail("upgrade failed: the state's memfd: %s",
		    strerror(e));
		return;
	}
	free(st.buf);
	snprintf(fdarg, sizeof fdarg, UPGRADE_RESUME_OPT "%d", fd);
	argv[0] = "clusterd";
	argv[1] = fdarg;
	for (i = 0; i < up.nargs; i++)
		argv[i + 2] = up.args[i];
	log_notice("upgrade: clusterd %s -> %s: re-executing %s (master %ld, "
	    "%d workers)", CLUSTERD_VERSION, version, up.self,
	    (long)getpid(), worker_count(-1));
	/* A watchdog ping now and one as soon as the new image runs: the
	 * gap between two pings must not grow by the execve. */
	notify_systemd("WATCHDOG=1\nSTATUS=upgrading to clusterd %s (master "
	    "%ld stays)", version, (long)getpid());

	handled_signals(&set);
	sigprocmask(SIG_BLOCK, &set, &old);
	raise_deferred();	/* pending, for the new image */
	set_cloexec(&st, false);
	fcntl(fd, F_SETFD, 0);
	execve(up.self, argv, environ);

	/* Still the old image: everything as it was. */
	e = errno;
	set_cloexec(&st, true);
	close(fd);
	free(st.fds);
	free(argv);
	sigprocmask(SIG_SETMASK, &old, NULL);
	upgrade_fail("upgrade failed: execve %s: %s; the old image (clusterd "
	    "%s) goes on", up.self, strerror(e), CLUSTERD_VERSION);
}

/* ------------------------------------------------------------------ */
/* The new image.                                                      */

static int
read_state(int fd, struct ustate *st)
{
	struct stat sb;
	size_t off = 0;
	ssize_t n;

	if (fstat(fd, &sb) == -1)
		return -errno;
	if ((st->buf = malloc((size_t)sb.st_size + 1)) == NULL)
		return -ENOMEM;
	while (off < (size_t)sb.st_size) {
		n = pread(fd, st->buf + off, (size_t)sb.st_size - off,
		    (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? -EIO : -errno;
		off += (size_t)n;
	}
	st->len = off;
	return 0;
}

/* What upgrade_exec wrote, read back by the module that wrote it. */
int
upgrade_restore_parts(struct ustate *st)
{
	size_t i;
	int r;

	for (i = 0; i < NPARTS; i++) {
		upgrade_get_tag(st, parts[i].name);
		if (st->failed)
			return -EBADMSG;
		if ((r = parts[i].restore(st)) < 0 || st->failed) {
			log_err("upgrade: cannot restore the %s state: %s",
			    parts[i].name, r < 0 ? strerror(-r) :
			    "malformed");
			return r < 0 ? r : -EBADMSG;
		}
	}
	upgrade_get_tag(st, "end");
	return st->failed ? -EBADMSG : 0;
}

/*
 * --upgrade-resume=FD: we are the new image. Nothing is bound, nothing
 * forked: every fd comes from the state. If the state cannot be read the
 * master exits and its workers with it (PR_SET_PDEATHSIG): the pre-flight
 * checked the format first, so this is a broken build, not a user error.
 */
int
upgrade_resume_main(const char *arg)
{
	struct ustate st;
	char magic[sizeof UPGRADE_MAGIC - 1], *end;
	uint64_t format, then, now;
	long fd;
	int r, i;

	memset(&st, 0, sizeof st);
	errno = 0;
	fd = strtol(arg, &end, 10);
	if (errno || *end != '\0' || fd < 0 || fd > INT_MAX)
		fatalx(EXIT_USAGE, "--upgrade-resume: bad fd '%s'", arg);
	r = read_state((int)fd, &st);
	close((int)fd);
	if (r < 0)
		fatalx(EXIT_FAILED, "upgrade: cannot read the state: %s",
		    strerror(-r));
	get_raw(&st, magic, sizeof magic);
	format = upgrade_get_u64(&st);
	if (st.failed || memcmp(magic, UPGRADE_MAGIC, sizeof magic) != 0 ||
	    !reads_format(format))
		fatalx(EXIT_FAILED, "upgrade: state format %llu, which this "
		    "build does not read", (unsigned long long)format);
	st.format = (unsigned)format;
	up.from = upgrade_get_str(&st);
	free(upgrade_get_str(&st));	/* what the old image expected */
	then = upgrade_get_u64(&st);
	now = notify_monotonic_usec();
	st.gap = now > then ? (double)(now - then) / 1e6 : 0.;
	free(up.self);
	up.self = upgrade_get_str(&st);
	up.nargs = (int)upgrade_get_u64(&st);
	if (st.failed || up.nargs < 0 || up.nargs > 64)
		fatalx(EXIT_FAILED, "upgrade: malformed state");
	free(up.args);	/* pointed into our own argv */
	if ((up.args = calloc((size_t)up.nargs + 1, sizeof *up.args)) == NULL)
		fatalx(EXIT_FAILED, "upgrade: out of memory");
	for (i = 0; i < up.nargs; i++)
		up.args[i] = upgrade_get_str(&st);
	sigemptyset(&up.deferred);
	r = cluster_resume(&st);
	free(st.buf);
	return r;
}

/* The answer the new image gives: to the log, systemd and the waiters. */
void
upgrade_done(int nworkers)
{
	char msg[256], st[128];

	snprintf(msg, sizeof msg, "upgraded: clusterd %s -> %s (master %ld), "
	    "%d worker%s kept", up.from ? up.from : "?", CLUSTERD_VERSION,
	    (long)getpid(), nworkers, nworkers == 1 ? "" : "s");
	log_notice("%s", msg);
	{
		struct event_field f[] = {
			{ "result", "ok", 0 }, { "from", up.from ? up.from : "?", 0 },
			{ "to", CLUSTERD_VERSION, 0 }, { "workers", NULL, nworkers },
		};
		events_emit("upgrade", f, 4, msg);
	}
	slot_status_line(st, sizeof st, cl.generation);
	notify_systemd("WATCHDOG=1\nMAINPID=%ld\nSTATUS=%s; %s",
	    (long)getpid(), msg, st);
	control_upgraded(EXIT_OK, msg);
}
