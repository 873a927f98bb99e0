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

/* "2026-12-01T23:04:05.678Z": UTC, milliseconds; the length written. */
size_t
log_timestamp(char *buf, size_t len)
{
	struct timeval tv;
	struct tm tm;
	int n;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (long)tv.tv_usec / 1000);
	return n < 0 ? 0 : (size_t)n >= len ? len - 1 : (size_t)n;
}

size_t
log_prefix(char *buf, size_t len, enum log_level level)
{
	char ts[32];
	int n;

	if (log_journal)
		n = snprintf(buf, len, "<%d>", (int)level);
	else {
		log_timestamp(ts, sizeof ts);
		n = snprintf(buf, len, "%s clusterd[%ld]: %s: ", ts,
		    (long)getpid(), level_names[level]);
	}
	return n < 0 ? 0 : (size_t)n >= len ? len - 1 : (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (at most len bytes), 0 if the
 * bytes there are not one: overlong forms, surrogates and code points
 * above U+10FFFF are not. */
static size_t
utf8_len(const unsigned char *s, size_t len)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/*
 * The inside of a JSON string for len bytes of in, whatever they are:
 * quote, backslash and control characters escaped, each byte that is not
 * part of valid UTF-8 replaced by U+FFFD, so that the result is always
 * valid JSON and valid UTF-8. At most max bytes of out, never half an
 * escape or half a character; the length written.
 */
size_t
log_json_escape(char *out, size_t max, const char *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, n = 0, k;
	unsigned char c;

	while (i < len) {
		c = s[i];
		if (c == '"' || c == '\\') {
			if (n + 2 > max)
				break;
			out[n++] = '\\';
			out[n++] = (char)c;
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			if (n + 6 > max)
				break;
			memcpy(out + n, "\\u00", 4);
			out[n + 4] = hex[c >> 4];
			out[n + 5] = hex[c & 15];
			n += 6;
			i++;
		} else if ((k = utf8_len(s + i, len - i)) == 0) {
			if (n + 6 > max)
				break;
			memcpy(out + n, "\\ufffd", 6);
			n += 6;
			i++;
		} else {
			if (n + k > max)
				break;
			memcpy(out + n, s + i, k);
			n += k;
			i += k;
		}
	}
	return n;
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
