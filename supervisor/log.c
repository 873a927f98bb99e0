/*
 * log.c - the master's log and the workers' lines in it: one line per
 * event, ISO-8601 timestamp, level and pid, to stderr or to the `log` file
 * (reopened on SIGUSR1); log_format = json makes each line one JSON
 * object. When stderr is the journal (JOURNAL_STREAM names fd 2), lines go
 * to journald as entries with fields (sd_journal_send), or, without its
 * native socket, with <N> priority prefixes instead of a timestamp, since
 * journald stamps them itself. Writes never block: a line that cannot be
 * written now is dropped and counted, and the count is logged once writing
 * works again.
 */
#define SD_JOURNAL_SUPPRESS_LOCATION	/* CODE_FILE= would always be log.c */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "clusterd.h"

/* Where journald takes entries (sd_journal_send writes there too). */
#define JOURNAL_SOCKET	"/run/systemd/journal/socket"

static int	 log_fd_ = STDERR_FILENO;
static char	*log_path;
static bool	 log_journal;
static bool	 log_debug_on;
static bool	 log_sock;	/* log_fd_ is a socket: send(MSG_DONTWAIT) */
static unsigned long long log_dropped;	/* lines lost since the last one out */
static int	 log_format_ = LOG_FORMAT_TEXT;
static char	 log_name[NAME_MAX_LEN];	/* the cluster's, for fields */

/*
 * The journal's native socket, as sd_journal_send() uses it. libsystemd
 * has no non-blocking call, and its datagram socket blocks when journald
 * does not read (measured: with journald stopped, the 11th entry blocked
 * the sender until it was interrupted; with the socket non-blocking every
 * further call returned -EAGAIN within a fraction of a millisecond). So the
 * socket libsystemd opens on the first call is found (the lowest free fd,
 * in a single-threaded process), made non-blocking and connected, so that
 * poll() and the loop tell whether journald has room. Entries wait in a
 * queue of at most JOURNAL_QUEUE_MAX bytes until it has (journald's queue
 * is only net.unix.max_dgram_qlen datagrams long: 10 on a kernel whose
 * default nobody raised, so a burst of a few lines would not fit); what
 * does not fit in ours either is dropped and counted, without even calling
 * sd_journal_send (whose fallback on a full socket creates a memfd).
 */
#define JOURNAL_QUEUE_MAX	(256 * 1024)

struct jentry {
	struct jentry	*next;
	enum log_level	 level;
	bool		 worker;	/* SYSLOG_IDENTIFIER: name, else clusterd */
	int		 slot;
	pid_t		 pid;
	unsigned	 gen;
	size_t		 len;
	char		 msg[];
};

static struct {
	int		 fd;		/* libsystemd's socket, -1: unknown */
	bool		 tried;		/* the first send looked for it */
	bool		 native;	/* entries with fields; else <N> lines */
	unsigned long long dropped;
	struct jentry	*head, **tail;	/* waiting for room */
	size_t		 queued;	/* bytes in the queue */
	struct ev_loop	*loop;		/* NULL: no waiting */
	ev_io		 w;		/* EV_WRITE: journald has room */
} jr = { .fd = -1, .tail = &jr.head };

static void	 journal_flush(void);

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

	struct stat st;

	log_debug_on = getenv("CLUSTERD_DEBUG") != NULL;
	if (path == NULL) {
		if (log_fd_ != STDERR_FILENO)	/* opened again: once */
			close(log_fd_);
		log_fd_ = STDERR_FILENO;
		log_sock = false;
		log_journal = stderr_is_journal();
		jr.native = log_journal && stat(JOURNAL_SOCKET, &st) == 0 &&
		    S_ISSOCK(st.st_mode);
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
	jr.native = false;
	log_sock = false;
	return 0;
}

/* The cluster's name (worker lines' SYSLOG_IDENTIFIER, JSON "name") and
 * log_format: at start and after each reload. */
void
log_configure(const char *name, int format)
{
	snprintf(log_name, sizeof log_name, "%s", name ? name : "");
	log_format_ = format;
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

/* ------------------------------------------------------------------ */
/* The journal's native protocol, through libsystemd.                  */

/* Find the socket the call just made libsystemd open (at probe, the
 * lowest fd that was free), make it non-blocking and connect it. */
static void
journal_adopt(int probe)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int type = 0, domain = 0;
	socklen_t len = sizeof type;

	jr.tried = true;
	if (getsockopt(probe, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_DGRAM)
		return;
	len = sizeof domain;
	if (getsockopt(probe, SOL_SOCKET, SO_DOMAIN, &domain, &len) == -1 ||
	    domain != AF_UNIX)
		return;
	memcpy(sun.sun_path, JOURNAL_SOCKET, sizeof JOURNAL_SOCKET);
	if (fcntl(probe, F_SETFL, fcntl(probe, F_GETFL) | O_NONBLOCK) == -1 ||
	    connect(probe, (struct sockaddr *)&sun, sizeof sun) == -1)
		return;
	jr.fd = probe;
}

/* journald has room for one more entry. */
static bool
journal_room(void)
{
	struct pollfd p = { .fd = jr.fd, .events = POLLOUT };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLOUT);
}

/*
 * One entry: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, and the slot's fields
 * (slot < 0: none; pid 0: a master line, no worker fields). 0, or -1 when
 * it was dropped. The first call opens libsystemd's socket; if it cannot
 * be adopted (made non-blocking), entries go as <N> lines on stderr.
 */
static int
journal_entry(enum log_level level, const char *ident, int slot, pid_t pid,
    unsigned gen, const char *msg, size_t len)
{
	char s_slot[32], s_pid[40], s_gen[40];
	int probe = -1, r;

	if (!jr.tried) {
		if ((probe = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0)) != -1)
			close(probe);
	} else if (!journal_room())
		return -1;
	snprintf(s_slot, sizeof s_slot, "CLUSTERD_SLOT=%d", slot);
	snprintf(s_pid, sizeof s_pid, "CLUSTERD_WORKER_PID=%ld", (long)pid);
	snprintf(s_gen, sizeof s_gen, "CLUSTERD_GENERATION=%u", gen);
	if (len > INT_MAX)
		len = INT_MAX;
	if (slot < 0)
		r = sd_journal_send("MESSAGE=%.*s", (int)len, msg,
		    "PRIORITY=%d", (int)level, "SYSLOG_IDENTIFIER=%s", ident,
		    NULL);
	else if (pid == 0)
		r = sd_journal_send("MESSAGE=%.*s", (int)len, msg,
		    "PRIORITY=%d", (int)level, "SYSLOG_IDENTIFIER=%s", ident,
		    "%s", s_slot, NULL);
	else
		r = sd_journal_send("MESSAGE=%.*s", (int)len, msg,
		    "PRIORITY=%d", (int)level, "SYSLOG_IDENTIFIER=%s", ident,
		    "%s", s_slot, "%s", s_pid, "%s", s_gen, NULL);
	if (!jr.tried) {
		jr.tried = true;
		if (probe != -1)
			journal_adopt(probe);
		if (jr.fd == -1)
			jr.native = false;	/* could block: not used */
	}
	return r < 0 ? -1 : 0;
}

static bool
journal_push(enum log_level level, bool worker, int slot, pid_t pid,
    unsigned gen, const char *msg, size_t len)
{
	struct jentry *e;

	if (jr.queued + sizeof *e + len > JOURNAL_QUEUE_MAX ||
	    (e = malloc(sizeof *e + len)) == NULL)
		return false;
	e->next = NULL;
	e->level = level;
	e->worker = worker;
	e->slot = slot;
	e->pid = pid;
	e->gen = gen;
	e->len = len;
	memcpy(e->msg, msg, len);
	*jr.tail = e;
	jr.tail = &e->next;
	jr.queued += sizeof *e + len;
	return true;
}

/* Queue an entry; after drops, their count goes first. */
static void
journal_queue(enum log_level level, bool worker, int slot, pid_t pid,
    unsigned gen, const char *msg, size_t len)
{
	char note[128];
	int n;

	if (jr.dropped > 0) {
		n = snprintf(note, sizeof note, "%llu log line%s dropped: the "
		    "journal could not take them", jr.dropped,
		    jr.dropped == 1 ? "" : "s");
		if (jr.queued + 2 * sizeof(struct jentry) + (size_t)n + len >
		    JOURNAL_QUEUE_MAX ||
		    !journal_push(LOG_LVL_WARN, false, -1, 0, 0, note,
		    (size_t)n)) {
			jr.dropped++;
			return;
		}
		jr.dropped = 0;
	}
	if (!journal_push(level, worker, slot, pid, gen, msg, len))
		jr.dropped++;
}

/* Send what is queued while journald has room; wait for room in the loop
 * (without a loop, before it runs or once it is gone: drop the rest). */
static void
journal_flush(void)
{
	struct jentry *e;
	char note[128];
	bool wait;

	while ((e = jr.head) != NULL && journal_room()) {
		if ((jr.head = e->next) == NULL)
			jr.tail = &jr.head;
		jr.queued -= sizeof *e + e->len;
		if (journal_entry(e->level, e->worker && log_name[0] ?
		    log_name : "clusterd", e->slot, e->pid, e->gen, e->msg,
		    e->len) < 0)
			jr.dropped++;
		free(e);
	}
	/* All out: the count of what was lost as soon as there is room,
	 * rather than in front of the next line, whenever that comes. */
	wait = jr.head != NULL;
	if (jr.head == NULL && jr.dropped > 0 && jr.loop != NULL) {
		if (!journal_room())
			wait = true;
		else {
			snprintf(note, sizeof note, "%llu log line%s dropped: "
			    "the journal could not take them", jr.dropped,
			    jr.dropped == 1 ? "" : "s");
			if (journal_entry(LOG_LVL_WARN, "clusterd", -1, 0, 0,
			    note, strlen(note)) == 0)
				jr.dropped = 0;
		}
	}
	if (jr.head != NULL && jr.loop == NULL) {
		while ((e = jr.head) != NULL) {
			jr.head = e->next;
			jr.dropped++;
			free(e);
		}
		jr.tail = &jr.head;
		jr.queued = 0;
	}
	if (jr.loop == NULL)
		return;
	if (wait && jr.fd != -1 && !ev_is_active(&jr.w)) {
		ev_io_set(&jr.w, jr.fd, EV_WRITE);
		ev_io_start(jr.loop, &jr.w);
	} else if (!wait && ev_is_active(&jr.w))
		ev_io_stop(jr.loop, &jr.w);
}

static void
journal_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	journal_flush();
}

/* An entry, in order behind those still waiting. The first one opens
 * libsystemd's socket and goes out at once. */
static void
journal_send(enum log_level level, bool worker, int slot, pid_t pid,
    unsigned gen, const char *msg, size_t len)
{
	if (!jr.tried) {
		if (journal_entry(level, worker && log_name[0] ? log_name :
		    "clusterd", slot, pid, gen, msg, len) < 0)
			jr.dropped++;
		return;
	}
	journal_queue(level, worker, slot, pid, gen, msg, len);
	journal_flush();
}

/* The loop that waits for journald (NULL: the loop is about to go; what
 * still waits gets one more try, the rest is dropped). */
void
log_loop(struct ev_loop *loop)
{
	if (jr.loop != NULL && ev_is_active(&jr.w))
		ev_io_stop(jr.loop, &jr.w);
	jr.loop = loop;
	if (loop != NULL)
		ev_init(&jr.w, journal_cb);
	else
		journal_flush();
}

/* ------------------------------------------------------------------ */
/* Lines.                                                              */

/* A master line about a slot starts "slot N": its number, else -1. */
static int
line_slot(const char *msg)
{
	char *end;
	long v;

	if (strncmp(msg, "slot ", 5) != 0)
		return -1;
	v = strtol(msg + 5, &end, 10);
	if (end == msg + 5 || v < 0 || v >= WORKERS_MAX ||
	    (*end != ':' && *end != ' '))
		return -1;
	return (int)v;
}

/*
 * One JSON object: ts, level, name, slot, pid, generation, stream, msg
 * (slot < 0: no slot; stream NULL: no generation nor stream); msg may be
 * any bytes. max must hold 6 bytes per byte of msg and 256 more. The
 * length written into out (a line, with its newline).
 */
static size_t
json_line(char *out, size_t max, enum log_level level, int slot, pid_t pid,
    unsigned gen, const char *stream, const char *msg, size_t len)
{
	char ts[32], name[NAME_MAX_LEN * 6];
	size_t n;
	int m;

	log_timestamp(ts, sizeof ts);
	n = log_json_escape(name, sizeof name, log_name, strlen(log_name));
	m = snprintf(out, max, "{\"ts\":\"%s\",\"level\":\"%s\",\"name\":"
	    "\"%.*s\"", ts, level_names[level], (int)n, name);
	n = m < 0 ? 0 : (size_t)m;
	if (slot >= 0)
		n += (size_t)snprintf(out + n, max - n, ",\"slot\":%d", slot);
	n += (size_t)snprintf(out + n, max - n, ",\"pid\":%ld", (long)pid);
	if (stream != NULL)
		n += (size_t)snprintf(out + n, max - n, ",\"generation\":%u,"
		    "\"stream\":\"%s\"", gen, stream);
	n += (size_t)snprintf(out + n, max - n, ",\"msg\":\"");
	n += log_json_escape(out + n, max - n - 3, msg, len);
	memcpy(out + n, "\"}\n", 3);
	return n + 3;
}

/*
 * Raw control characters would reach terminals (`clusterd logs`, `run`'s
 * stderr, `start`'s error message) and move their cursor, retitle or
 * reprogram them: each C0 byte but tab, and DEL, is written as \xHH. At
 * most max bytes of out; a trailing CR (CRLF lines) goes.
 */
size_t
log_escape(char *out, size_t max, const char *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c;
	size_t i, n = 0;

	if (len > 0 && in[len - 1] == '\r')
		len--;
	for (i = 0; i < len; i++) {
		c = (unsigned char)in[i];
		if ((c >= 0x20 && c != 0x7f) || c == '\t') {
			if (n + 1 > max)
				break;
			out[n++] = (char)c;
			continue;
		}
		if (n + 4 > max)
			break;
		out[n++] = '\\';
		out[n++] = 'x';
		out[n++] = hex[c >> 4];
		out[n++] = hex[c & 15];
	}
	return n;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char buf[2048], out[sizeof buf * 6 + 256];
	size_t n, len;
	va_list ap;
	int m;

	if (level == LOG_LVL_DEBUG && !log_debug_on)
		return;
	va_start(ap, fmt);
	m = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	len = m < 0 ? 0 : (size_t)m >= sizeof buf ? sizeof buf - 1 : (size_t)m;
	if (jr.native) {
		journal_send(level, false, line_slot(buf), 0, 0, buf, len);
		return;
	}
	if (log_format_ == LOG_FORMAT_JSON && !log_journal) {
		n = json_line(out, sizeof out, level, line_slot(buf), getpid(),
		    0, NULL, buf, len);
		log_raw(out, n);
		return;
	}
	n = log_prefix(out, sizeof out, level);
	memcpy(out + n, buf, len);
	n += len;
	out[n++] = '\n';
	log_raw(out, n);
}

/*
 * A line a worker wrote (without its newline; any bytes, at most
 * LOG_WORKER_LINE_MAX): info for its stdout, warning for its stderr. Text
 * escapes control characters; JSON escapes them too and makes invalid
 * UTF-8 U+FFFD; the journal gets the text form with the worker's fields.
 */
void
log_worker_line(int slot, pid_t pid, unsigned gen, int stream,
    const char *line, size_t len)
{
	enum log_level level = stream == OUTPUT_STDERR ? LOG_LVL_WARN :
	    LOG_LVL_INFO;
	char text[LOG_WORKER_LINE_MAX * 4], out[LOG_WORKER_LINE_MAX * 6 + 512];
	size_t n, tlen;
	int m;

	if (len > LOG_WORKER_LINE_MAX)
		len = LOG_WORKER_LINE_MAX;
	if (!jr.native && log_format_ == LOG_FORMAT_JSON && !log_journal) {
		n = json_line(out, sizeof out, level, slot, pid, gen,
		    stream == OUTPUT_STDERR ? "stderr" : "stdout", line, len);
		log_raw(out, n);
		return;
	}
	tlen = log_escape(text, sizeof text, line, len);
	if (jr.native) {
		journal_send(level, true, slot, pid, gen, text, tlen);
		return;
	}
	n = log_prefix(out, sizeof out, level);
	m = snprintf(out + n, sizeof out - n, "slot %d pid %ld: %.*s\n", slot,
	    (long)pid, (int)tlen, text);
	if (m > 0)
		log_raw(out, n + ((size_t)m < sizeof out - n ? (size_t)m :
		    sizeof out - n - 1));
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
