/*
 * daemon.c - `clusterd start`: detach, the pidfile and its lock (one master
 * per cluster), and the readiness handshake with the foreground part, which
 * waits on a pipe until the master says how the start went. And `clusterd
 * logs`: the daemon's log file, its end, or followed across rotations.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clusterd.h"

static int	 pid_fd = -1;
static char	*pid_path;
static int	 start_fd = -1;	/* the daemon's pipe to `start` */

/* The pid in a pidfile another master holds; 0 if unknown. Right after a
 * master created the file it may still be empty: look again, briefly. */
static pid_t
read_owner(const char *path)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	char buf[32];
	ssize_t n;
	int fd, i;
	long pid = 0;

	for (i = 0; i < 20 && pid <= 0; i++) {
		if (i > 0)
			nanosleep(&ts, NULL);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
			continue;
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		pid = atol(buf);
	}
	return pid > 0 ? (pid_t)pid : 0;
}

/*
 * Lock first, then write: a pidfile whose lock nobody holds is stale (its
 * master died) and is taken over. The pid goes to *.tmp, which is locked
 * before it is renamed over the pidfile, so the file at the path is always
 * locked by its master and never half-written. A lock won on a file that
 * another master just renamed away is worthless: check that the locked file
 * is still the one at the path, else try again.
 */
int
daemon_lock_pidfile(const char *path, pid_t *ret_owner)
{
	char buf[32], tmp[PATH_MAX];
	struct stat fst, pst;
	ssize_t n;
	int fd, tfd, tries, e;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
		return -ENAMETOOLONG;
	for (tries = 0;; tries++) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd == -1)
			return -errno;
		if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
			e = errno;
			close(fd);
			if (e != EWOULDBLOCK)
				return -e;
			*ret_owner = read_owner(path);
			return -EEXIST;
		}
		if (fstat(fd, &fst) == 0 && lstat(path, &pst) == 0 &&
		    fst.st_dev == pst.st_dev && fst.st_ino == pst.st_ino)
			break;
		close(fd);
		if (tries == 100)
			return -EAGAIN;
	}
	/* A fresh file, never one found there: a *.tmp left by a master that
	 * died between open and rename is ours to remove (we hold the lock),
	 * and whatever else sits at that name (a symlink) is not followed. */
	tfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (tfd == -1 && errno == EEXIST && unlink(tmp) == 0)
		tfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (tfd == -1 || flock(tfd, LOCK_EX | LOCK_NB) == -1) {
		e = errno;
		if (tfd != -1)
			close(tfd);
		close(fd);
		return -e;
	}
	n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	errno = 0;
	if (write(tfd, buf, (size_t)n) != n || rename(tmp, path) == -1) {
		e = errno ? errno : EIO;
		unlink(tmp);
		close(tfd);
		close(fd);
		return -e;
	}
	close(fd);
	pid_fd = tfd;
	free(pid_path);
	pid_path = strdup(path);
	return 0;
}

void
daemon_remove_pidfile(void)
{
	if (pid_fd == -1)
		return;
	unlink(pid_path);
	close(pid_fd);
	pid_fd = -1;
	free(pid_path);
	pid_path = NULL;
}

/* ------------------------------------------------------------------ */
/* The log file of a daemon.                                            */

/* `log` from FILE, else /var/log/clusterd/NAME.log as root, else the
 * runtime directory. */
static void
log_path(const struct config *c, char *buf, size_t len)
{
	if (c->log != NULL)
		snprintf(buf, len, "%s", c->log);
	else if (geteuid() == 0)
		snprintf(buf, len, "/var/log/clusterd/%s.log", c->name);
	else
		snprintf(buf, len, "%s/%s.log", c->runtime_dir, c->name);
}

/*
 * One component of a path the master writes under. Anyone who can write a
 * directory on the way can rename what lies below it and put their own
 * files (a fake control socket, a symlinked log) in its place, so each one
 * must belong to root or to us and be writable by nobody else (a sticky
 * directory such as /tmp is fine: others cannot rename our entries). A
 * symlink counts when root or we made it, and its target is checked the
 * same way. The last directory, with MKDIR_OWNED, must be ours and no
 * symlink; with MKDIR_PRIVATE ours alone too (no group or other bits), as
 * tmux and ssh-agent want of theirs.
 */
static int
dir_check(const char *path, int flags, char *err, size_t errlen)
{
	struct stat st;
	uid_t me = geteuid();
	bool private = (flags & MKDIR_PRIVATE) == MKDIR_PRIVATE;
	int e;

	if (lstat(path, &st) == -1) {
		e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	if (S_ISLNK(st.st_mode) && flags == 0) {
		if (st.st_uid != me && st.st_uid != 0) {
			snprintf(err, errlen, "%s: a symlink owned by uid %u",
			    path, (unsigned)st.st_uid);
			return -EPERM;
		}
		if (stat(path, &st) == -1) {
			e = errno;
			snprintf(err, errlen, "%s: %s", path, strerror(e));
			return -e;
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: %s", path, S_ISLNK(st.st_mode) ?
		    "a symlink, not a directory" : "not a directory");
		return -ENOTDIR;
	}
	if (private && (st.st_uid != me || (st.st_mode & 077) != 0)) {
		snprintf(err, errlen, "%s: owned by uid %u with mode %04o, "
		    "not private to uid %u (0700)", path, (unsigned)st.st_uid,
		    (unsigned)(st.st_mode & 07777), (unsigned)me);
		return -EPERM;
	}
	if (st.st_uid != me && (st.st_uid != 0 || (flags & MKDIR_OWNED))) {
		snprintf(err, errlen, "%s: owned by uid %u, not by %suid %u",
		    path, (unsigned)st.st_uid, flags ? "" : "root or ",
		    (unsigned)me);
		return -EPERM;
	}
	if ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0) {
		snprintf(err, errlen, "%s: writable by others (mode %04o)",
		    path, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* mkdir -p: missing directories are created with mode, and every one on
 * the way is checked (dir_check), the ones that existed included. */
int
mkdir_p(const char *dir, mode_t mode, int flags, char *err, size_t errlen)
{
	char path[PATH_MAX], *p;
	int r;

	if (dir[0] != '/' || (size_t)snprintf(path, sizeof path, "%s", dir) >=
	    sizeof path) {
		snprintf(err, errlen, "%.200s: not an absolute path of at "
		    "most %d bytes", dir, PATH_MAX - 1);
		return -ENAMETOOLONG;
	}
	for (p = path + strlen(path) - 1; p > path && *p == '/'; p--)
		*p = '\0';
	if ((r = dir_check("/", 0, err, errlen)) < 0)
		return r;
	for (p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (p[-1] == '/') {	/* "//" */
			if (*p == '\0')
				break;
			continue;
		}
		bool last = *p == '\0';

		*p = '\0';
		if (mkdir(path, mode) == -1 && errno != EEXIST) {
			r = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(-r));
			return r;
		}
		if ((r = dir_check(path, last ? flags : 0, err, errlen)) < 0)
			return r;
		if (last)
			break;
		*p = '/';
	}
	return 0;
}

/* Where the last n lines of fd[from, end) start. */
static off_t
tail_start(int fd, off_t from, off_t end, int n)
{
	char buf[4096];
	off_t pos = end;
	size_t chunk, i;
	int seen = 0;

	while (pos > from) {
		chunk = (size_t)(pos - from) < sizeof buf ?
		    (size_t)(pos - from) : sizeof buf;
		pos -= (off_t)chunk;
		if (pread(fd, buf, chunk, pos) != (ssize_t)chunk)
			return from;
		for (i = chunk; i-- > 0;)
			if (buf[i] == '\n' && pos + (off_t)i != end - 1 &&
			    ++seen == n)
				return pos + (off_t)i + 1;
	}
	return from;
}

/* Copy fd from *pos to its end to out_fd; -1 when out_fd is gone. */
static int
copy_out(int fd, off_t *pos, int out_fd)
{
	char buf[65536];
	ssize_t n, w;
	size_t off;

	for (;;) {
		n = pread(fd, buf, sizeof buf, *pos);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		*pos += n;
		for (off = 0; off < (size_t)n; off += (size_t)w) {
			w = write(out_fd, buf + off, (size_t)n - off);
			if (w == -1 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w <= 0)
				return -1;
		}
	}
}

/* ------------------------------------------------------------------ */
/* `clusterd start`.                                                    */

/*
 * The daemon's side of the handshake, once. After a success the pipe is
 * closed, so that `start` returns while the master lives on. After a
 * failure it stays open until the master has exited (the kernel closes it):
 * `start` returns when nothing is left - no worker, pidfile or socket -
 * and can be run again at once.
 */
void
daemon_started(int code, const char *msg)
{
	static bool sent;
	char buf[4096];
	size_t off = 0, len;
	ssize_t n;
	int r;

	if (start_fd == -1 || sent)
		return;
	sent = true;
	r = snprintf(buf, sizeof buf, "%d\n%s\n", code, msg);
	len = r < 0 ? 0 : (size_t)r >= sizeof buf ? sizeof buf - 1 : (size_t)r;
	while (off < len) {
		n = write(start_fd, buf + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;	/* `start` was interrupted: nobody listens */
		off += (size_t)n;
	}
	if (code == EXIT_OK) {
		close(start_fd);
		start_fd = -1;
	}
}

/* A master holds the pidfile's lock: it is running. Only a look; the
 * master takes the lock itself (and reports a race the same way). */
static bool
master_running(const char *pidfile, pid_t *ret_owner)
{
	int fd;
	bool held;

	if ((fd = open(pidfile, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return false;
	held = flock(fd, LOCK_SH | LOCK_NB) == -1 && errno == EWOULDBLOCK;
	close(fd);
	if (held)
		*ret_owner = read_owner(pidfile);
	return held;
}

static void
report(int fd, int code, const char *what)
{
	dprintf(fd, "%d\nclusterd: start: %s: %s\n", code, what,
	    strerror(errno));
}

/* close_range(from, to) but for the sockets `clusterd restart` took over
 * from the old master (listen_inherited). */
static void
close_others(int from, int to)
{
	int fd, top = listen_inherited_max();

	for (fd = from; fd <= to && fd <= top; fd++) {
		if (!listen_inherited(fd))
			continue;
		if (fd > from)
			close_range((unsigned)from, (unsigned)fd - 1, 0);
		from = fd + 1;
	}
	if (from <= to)
		close_range((unsigned)from, to == INT_MAX ? ~0U :
		    (unsigned)to, 0);
}

/*
 * The daemon: setsid, then fork again so that it is not a session leader
 * and can never acquire a controlling terminal; "/" as cwd (FILE's path is
 * absolute), umask 022, stdin /dev/null, stdout and stderr to the log, no
 * other fd but the pipe to `start`.
 */
static void __attribute__((noreturn))
detach(struct config *c, int log_fd, int pipe_fd,
    int (*run)(struct config *, int))
{
	sigset_t none;
	pid_t pid;
	int fd;

	if (setsid() == -1) {
		report(pipe_fd, EXIT_SYSTEM, "setsid");
		_exit(EXIT_SYSTEM);
	}
	if ((pid = fork()) == -1) {
		report(pipe_fd, EXIT_SYSTEM, "fork");
		_exit(EXIT_SYSTEM);
	}
	if (pid > 0) {
		config_free(c);		/* quiet under valgrind */
		_exit(EXIT_OK);
	}
	if (chdir("/") == -1)
		_exit(EXIT_SYSTEM);
	umask(022);
	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) != -1) {
		dup2(fd, STDIN_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	dup2(log_fd, STDOUT_FILENO);
	dup2(log_fd, STDERR_FILENO);
	if (log_fd > STDERR_FILENO)
		close(log_fd);
	/* Whatever else the caller left open without FD_CLOEXEC (a CI
	 * runner's pipe that it reads until EOF, a jobserver) is not ours:
	 * keeping it would hold the caller up for the master's whole life. */
	if (pipe_fd > STDERR_FILENO + 1)
		close_others(STDERR_FILENO + 1, pipe_fd - 1);
	close_others(pipe_fd + 1, INT_MAX);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	start_fd = pipe_fd;	/* for daemon_started */
	exit(run(c, pipe_fd));
}

/* The log the daemon writes (opened before the fork, so that a bad path
 * is reported here): fd, or -1 with the message printed. */
static int
open_start_log(struct config *c, const char *name, char *path, size_t len)
{
	char dir[PATH_MAX], err[PATH_MAX + 128];
	int fd;

	log_path(c, path, len);
	if (c->log == NULL) {
		/* As root /var/log/clusterd, else the runtime directory: it
		 * is checked before anything is written in it. */
		snprintf(dir, sizeof dir, "%s", path);
		*strrchr(dir, '/') = '\0';
		if (mkdir_p(dir, geteuid() == 0 ? 0750 : 0700,
		    geteuid() == 0 ? 0 : MKDIR_PRIVATE, err, sizeof err) < 0) {
			fprintf(stderr, "clusterd: %s: log directory: %s\n",
			    name, err);
			return -1;
		}
		if ((c->log = strdup(path)) == NULL)
			fatalx(EXIT_FAILED, "out of memory");
		c->log_set = true;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY |
	    O_NOFOLLOW | O_NONBLOCK, 0640);
	if (fd == -1)
		fprintf(stderr, "clusterd: %s: log %s: %s\n", name, path,
		    strerror(errno));
	return fd;
}

/* What the daemon reported on the pipe ("CODE\nTEXT"), printed; if it
 * said nothing it died: the end of its log since log_at. */
static int
start_result(int rfd, const char *name, const char *path, off_t log_at)
{
	char buf[8192], *nl, *end;
	size_t have = 0;
	ssize_t n;
	off_t from, size;
	int fd, code;

	for (;;) {
		n = read(rfd, buf + have, sizeof buf - 1 - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || (have += (size_t)n) == sizeof buf - 1)
			break;
	}
	close(rfd);
	buf[have] = '\0';
	if ((nl = strchr(buf, '\n')) != NULL) {
		*nl = '\0';
		code = (int)strtol(buf, &end, 10);
		if (end != buf && *end == '\0') {
			fputs(nl + 1, code == EXIT_OK ? stdout : stderr);
			return code;
		}
	}
	fprintf(stderr, "clusterd: %s: the master exited during start; the "
	    "end of %s:\n", name, path);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		size = lseek(fd, 0, SEEK_END);
		fflush(stderr);
		from = tail_start(fd, log_at <= size ? log_at : 0, size, 20);
		(void)copy_out(fd, &from, STDERR_FILENO);
		close(fd);
	}
	return EXIT_FAILED;
}

/*
 * `start`: fork the daemon and wait on a pipe until it says how the start
 * went (every worker ready, or why not). If the pipe closes without a word,
 * the master died: show what it logged since this start.
 */
int
daemon_start(struct config *c, int (*run)(struct config *, int))
{
	char path[PATH_MAX], name[NAME_MAX_LEN];
	off_t log_at;
	pid_t pid, owner;
	int fd, pfd[2];

	snprintf(name, sizeof name, "%s", c->name);
	if (master_running(c->pidfile, &owner)) {
		fprintf(stderr, "%s: already running (master %ld)\n", name,
		    (long)owner);
		config_free(c);
		return EXIT_FAILED;
	}
	/* Keep 0, 1, 2 taken, so that no fd below lands on them. */
	while ((fd = open("/dev/null", O_RDWR)) != -1 && fd <= STDERR_FILENO)
		;
	if (fd > STDERR_FILENO)
		close(fd);
	if ((fd = open_start_log(c, name, path, sizeof path)) == -1) {
		config_free(c);
		return EXIT_SYSTEM;
	}
	log_at = lseek(fd, 0, SEEK_END);
	fflush(NULL);
	if (pipe2(pfd, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		fprintf(stderr, "clusterd: %s: start: %s\n", name,
		    strerror(errno));
		config_free(c);
		return EXIT_SYSTEM;
	}
	if (pid == 0) {
		close(pfd[0]);
		detach(c, fd, pfd[1], run);
	}
	close(pfd[1]);
	close(fd);
	config_free(c);
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
	return start_result(pfd[0], name, path, log_at);
}

/* ------------------------------------------------------------------ */
/* `clusterd logs [-f]`.                                                */

#define FOLLOW_MASK	(IN_MODIFY | IN_MOVE_SELF | IN_DELETE_SELF | IN_ATTRIB)

/*
 * Follow the file like `tail -F`: inotify wakes us (a periodic look once a
 * second backs it up), we print what was appended. When the name points to
 * another file (rotation: moved away, a new one created by the master's
 * reopen), what the old file still got is printed first, then the new one
 * from its start. A truncated file is read again from its start.
 */
static int
follow(const char *path, int fd, off_t pos)
{
	char dir[PATH_MAX], ev[4096], *slash;
	struct stat st, fst;
	struct pollfd p;
	int ino, wd = -1;

	snprintf(dir, sizeof dir, "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL)
		slash == dir ? (void)(slash[1] = '\0') : (void)(*slash = '\0');
	ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (ino != -1) {
		inotify_add_watch(ino, dir, IN_CREATE | IN_MOVED_TO |
		    IN_MOVED_FROM | IN_DELETE);
		if (fd != -1)
			wd = inotify_add_watch(ino, path, FOLLOW_MASK);
	}
	for (;;) {
		p.fd = ino;
		p.events = POLLIN;
		if (poll(&p, ino != -1, 1000) == -1 && errno != EINTR)
			break;
		while (ino != -1 && read(ino, ev, sizeof ev) > 0)
			;
		if (fd != -1) {
			if (fstat(fd, &fst) == 0 && fst.st_size < pos)
				pos = 0;	/* truncated */
			if (copy_out(fd, &pos, STDOUT_FILENO) < 0)
				break;
		}
		if (stat(path, &st) == -1)
			continue;	/* moved away: the old one may grow */
		if (fd != -1 && fstat(fd, &fst) == 0 &&
		    st.st_dev == fst.st_dev && st.st_ino == fst.st_ino)
			continue;
		if (fd != -1) {
			if (copy_out(fd, &pos, STDOUT_FILENO) < 0)
				break;
			close(fd);
			if (wd != -1)
				inotify_rm_watch(ino, wd);
			wd = -1;
		}
		pos = 0;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1 &&
		    ino != -1)
			wd = inotify_add_watch(ino, path, FOLLOW_MASK);
	}
	if (fd != -1)
		close(fd);
	if (ino != -1)
		close(ino);
	return EXIT_OK;		/* stdout went away */
}

int
daemon_logs(const struct config *c, bool follow_it)
{
	char path[PATH_MAX];
	off_t pos = 0, end;
	int fd, e;

	log_path(c, path, sizeof path);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		e = errno;
		if (e == ENOENT && follow_it) {
			fprintf(stderr, "clusterd: %s does not exist yet: "
			    "waiting for it\n", path);
			return follow(path, -1, 0);
		}
		if (e == ENOENT)
			fprintf(stderr, "clusterd: %s: no log yet (it is "
			    "written by `clusterd start`, or `run` with "
			    "`log` set)\n", path);
		else
			fprintf(stderr, "clusterd: %s: %s\n", path,
			    strerror(e));
		return e == EACCES || e == EPERM ? EXIT_SYSTEM : EXIT_FAILED;
	}
	end = lseek(fd, 0, SEEK_END);
	pos = tail_start(fd, 0, end, 50);
	if (copy_out(fd, &pos, STDOUT_FILENO) < 0 || !follow_it) {
		close(fd);
		return EXIT_OK;
	}
	return follow(path, fd, pos);
}

/* Across an upgrade: the pidfile's fd holds its lock. */
void
daemon_dump(struct ustate *st)
{
	upgrade_put_fd(st, pid_fd);
	upgrade_put_str(st, pid_path);
}

int
daemon_restore(struct ustate *st)
{
	pid_fd = upgrade_get_fd(st);
	pid_path = upgrade_get_str(st);
	return 0;
}
