/*
 * log.c - the master's log: one line per event, ISO-8601 timestamp, level
 * and pid, to stderr or to the `log` file (reopened on SIGUSR1). When stderr
 * is the journal (JOURNAL_STREAM names fd 2), lines carry <N> priority
 * prefixes instead of a timestamp, since journald stamps them itself.
 * Writes never block: a line that cannot be written now is dropped and
 * counted, and the count is logged once writing works again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "clusterd.h"

static int	 log_fd_ = STDERR_FILENO;
static char	*log_path;
static bool	 log_journal;
static bool	 log_debug_on;
static bool	 log_sock;	/* log_fd_ is a socket: send(MSG_DONTWAIT) */
static unsigned long long log_dropped;	/* lines lost since the last one out */

static const char *level_names[] = {
	[LOG_LVL_ERR] = "error", [LOG_LVL_WARN] = "warning",
	[LOG_LVL_NOTICE] = "notice", [LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

/* JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected to stderr. */
static bool
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) == -1)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/* Not through a symlink: whoever can write the log's directory must not
 * be able to point our lines at another file. O_NONBLOCK matters for a
 * FIFO or a terminal; on a regular file it changes nothing. */
static int
open_file(const char *path)
{
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY |
	    O_NOFOLLOW | O_NONBLOCK, 0640);
}

/*
 * Stderr (`run`): a pipe, a terminal or the journal's socket that a stalled
 * reader can fill. Setting O_NONBLOCK on fd 2 would change the open file
 * description the caller's shell shares, so a pipe or terminal is opened
 * again (/proc/self/fd/2: a description of our own), and a socket is
 * written with MSG_DONTWAIT. If neither works, fd 2 is used as it is.
 */
static void
open_stderr(void)
{
	struct stat st;
	int fd;

	if (fstat(STDERR_FILENO, &st) == -1)
		return;
	if (S_ISSOCK(st.st_mode)) {
		log_sock = true;
		return;
	}
	if (!S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
		return;
	fd = open("/proc/self/fd/2", O_WRONLY | O_APPEND | O_CLOEXEC |
	    O_NOCTTY | O_NONBLOCK);
	if (fd != -1)
		log_fd_ = fd;
}

int
log_open(const char *path)
{
	int fd;

	log_debug_on = getenv("CLUSTERD_DEBUG") != NULL;
	if (path == NULL) {
		if (log_fd_ != STDERR_FILENO)	/* opened again: once */
			close(log_fd_);
		log_fd_ = STDERR_FILENO;
		log_sock = false;
		log_journal = stderr_is_journal();
		open_stderr();
		return 0;
	}
	if ((fd = open_file(path)) == -1)
		return -errno;
	if (log_fd_ != STDERR_FILENO)
		close(log_fd_);
	free(log_path);
	log_path = strdup(path);
	log_fd_ = fd;
	log_journal = false;
	log_sock = false;
	return 0;
}

/* Open the new file before closing the old one, so no line is lost. */
int
log_reopen(void)
{
	struct stat old, st;
	int fd, i;

	if (log_path == NULL)
		return 0;
	if ((fd = open_file(log_path)) == -1)
		return -errno;
	/* A daemon's stdout and stderr are the log too (stray output of the
	 * master or a library): they follow it to the new file. */
	if (fstat(log_fd_, &old) == 0)
		for (i = STDOUT_FILENO; i <= STDERR_FILENO; i++)
			if (fstat(i, &st) == 0 && st.st_dev == old.st_dev &&
			    st.st_ino == old.st_ino)
				dup2(fd, i);
	dup3(fd, log_fd_, O_CLOEXEC);
	close(fd);
	return 0;
}

int
log_fd(void)
{
	return log_fd_;
}

bool
log_is_journal(void)
{
	return log_journal;
}

void
log_close(void)
{
	if (log_fd_ != STDERR_FILENO)
		close(log_fd_);
	log_fd_ = STDERR_FILENO;
	log_sock = false;
	free(log_path);
	log_path = NULL;
}

/* One write, never blocking; 0, or -1 when (some of) buf was lost. */
static int
write_out(const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = log_sock ? send(log_fd_, buf, len,
		    MSG_DONTWAIT | MSG_NOSIGNAL) : write(log_fd_, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * One write(2) per line: lines from the master and the workers' pipes never
 * interleave inside a line (a pipe takes a line of at most PIPE_BUF whole
 * or not at all). A line the log cannot take now (a stalled reader, a full
 * disk) is dropped and counted, never waited for: the master keeps
 * supervising. The first line that gets through is preceded by the count.
 */
void
log_raw(const char *buf, size_t len)
{
	char note[256];
	size_t n;

	if (log_dropped > 0) {
		n = log_prefix(note, sizeof note, LOG_LVL_WARN);
		snprintf(note + n, sizeof note - n, "%llu log line%s dropped: "
		    "the log could not take them\n", log_dropped,
		    log_dropped == 1 ? "" : "s");
		if (write_out(note, strlen(note)) < 0) {
			log_dropped++;
			return;
		}
		log_dropped = 0;
	}
	if (write_out(buf, len) < 0)
		log_dropped++;
}

size_t
log_prefix(char *buf, size_t len, enum log_level level)
{
	struct timeval tv;
	struct tm tm;
	int n;

	if (log_journal)
		n = snprintf(buf, len, "<%d>", (int)level);
	else {
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		n = snprintf(buf, len,
		    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ clusterd[%ld]: %s: ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, (long)tv.tv_usec / 1000,
		    (long)getpid(), level_names[level]);
	}
	return n < 0 ? 0 : (size_t)n >= len ? len - 1 : (size_t)n;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char buf[2048];
	size_t n;
	va_list ap;
	int m;

	if (level == LOG_LVL_DEBUG && !log_debug_on)
		return;
	n = log_prefix(buf, sizeof buf, level);
	va_start(ap, fmt);
	m = vsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += (size_t)m >= sizeof buf - n - 1 ? sizeof buf - n - 2 : (size_t)m;
	buf[n++] = '\n';
	log_raw(buf, n);
}

void
fatalx(int code, const char *fmt, ...)
{
	va_list ap;

	/* Before the log is set up, stderr may already be the journal. */
	fputs(stderr_is_journal() ? "<3>clusterd: " : "clusterd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* The log file's path, NULL when the log is stderr (what an upgraded
 * image opens again). */
const char *
log_file(void)
{
	return log_path;
}
