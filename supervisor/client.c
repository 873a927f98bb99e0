/*
 * client.c - the CLI side of the control socket: connect, check that the
 * peer is a master we may trust, send one request line, print the answer
 * and return its code as the exit code.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clusterd.h"

static ssize_t
write_all(int fd, const char *buf, size_t len)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return (ssize_t)off;
}

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Wait until fd is readable or the deadline (0: none) passes: 1 readable,
 * 0 timed out. */
static int
wait_readable(int fd, double deadline)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	double left;
	int ms, r;

	for (;;) {
		ms = -1;
		if (deadline > 0) {
			left = deadline - now_mono();
			if (left <= 0)
				return 0;
			ms = (int)(left * 1000) + 1;
		}
		r = poll(&p, 1, ms);
		if (r == -1 && errno == EINTR)
			continue;
		if (r != 0)
			return 1;	/* readable, or an error read() reports */
	}
}

/*
 * Whoever answers on the path must be root or us: a directory another
 * user could write (a /tmp runtime dir created by someone else) must not
 * let that user play the master, print "stopped" while ours runs, or write
 * to our terminal.
 */
static int
check_peer(int fd, const char *path, pid_t *ret_pid)
{
	struct ucred cred;
	socklen_t len = sizeof cred;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		fprintf(stderr, "clusterd: %s: SO_PEERCRED: %s\n", path,
		    strerror(errno));
		return EXIT_SYSTEM;
	}
	if (cred.uid != 0 && cred.uid != geteuid()) {
		fprintf(stderr, "clusterd: %s: refused: the process answering "
		    "there (pid %ld) runs as uid %ld, not as root or uid %ld, "
		    "so it is not a master of ours\n", path, (long)cred.pid,
		    (long)cred.uid, (long)geteuid());
		return EXIT_SYSTEM;
	}
	*ret_pid = cred.pid;
	return EXIT_OK;
}

static int
connect_master(const char *path, bool is_stop, int *ret_fd)
{
	struct sockaddr_un sun;
	int fd, e;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		fprintf(stderr, "clusterd: %s: path too long for a unix "
		    "socket\n", path);
		return EXIT_USAGE;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "clusterd: socket: %s\n", strerror(errno));
		return EXIT_SYSTEM;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0) {
		*ret_fd = fd;
		return EXIT_OK;
	}
	e = errno;
	close(fd);
	switch (e) {
	case ENOENT:
	case ECONNREFUSED:
	case ENOTDIR:
		if (is_stop) {
			printf("clusterd: not running (no master at %s): "
			    "nothing to stop\n", path);
			return -1;	/* done, exit 0 */
		}
		fprintf(stderr, "clusterd: not running (no master at %s)\n",
		    path);
		return EXIT_FAILED;
	case EACCES:
	case EPERM:
		fprintf(stderr, "clusterd: %s: permission denied (only root "
		    "and the user the master runs as may use its control "
		    "socket)\n", path);
		return EXIT_SYSTEM;
	default:
		fprintf(stderr, "clusterd: cannot connect to %s: %s\n", path,
		    strerror(e));
		return EXIT_SYSTEM;
	}
}

/*
 * The answer starts with its code on a line of its own: 1 with *ret_code
 * set and the line taken out of buf, 0 while the line is incomplete, -1 if
 * it is no code.
 */
static int
take_code(char *buf, size_t *have, size_t size, int *ret_code)
{
	char *nl = memchr(buf, '\n', *have), *end;
	long v;

	if (nl == NULL)
		return *have == size ? -1 : 0;
	*nl = '\0';
	v = strtol(buf, &end, 10);
	if (end == buf || *end != '\0' || v < 0 || v > 255)
		return -1;
	*ret_code = (int)v;
	*have -= (size_t)(nl + 1 - buf);
	memmove(buf, nl + 1, *have);
	return 1;
}

/*
 * Send one request, print the answer, return the exit code. `stop` waits
 * for EOF (wait_exit), which comes when the master process is gone. A
 * master that is not running is an error, except for `stop`. timeout > 0:
 * give up after so long (the master goes on with what it was asked).
 */
int
control_command(const char *path, const char *request, bool wait_exit,
    double timeout)
{
	char buf[8192], line[CONTROL_IN_MAX + 16];
	bool is_stop = strncmp(request, "stop", 4) == 0 &&
	    (request[4] == '\0' || request[4] == ' '), got_code = false;
	double deadline = timeout > 0 ? now_mono() + timeout : 0;
	size_t have = 0;
	ssize_t n;
	FILE *out = stdout;
	pid_t peer = 0;
	int fd, code = EXIT_FAILED, send_errno = 0, r;

	if ((r = connect_master(path, is_stop, &fd)) != EXIT_OK)
		return r == -1 ? EXIT_OK : r;
	if ((r = check_peer(fd, path, &peer)) != EXIT_OK) {
		close(fd);
		return r;
	}
	n = snprintf(line, sizeof line, CONTROL_VERSION " %s\n", request);
	if (n < 0 || (size_t)n >= sizeof line)
		fatalx(EXIT_USAGE, "request too long");
	/* A master that refuses us (uid, too many clients) may answer and
	 * close before we are done sending: read its answer regardless. */
	if (write_all(fd, line, (size_t)n) < 0)
		send_errno = errno;
	for (;;) {
		if (!wait_readable(fd, deadline)) {
			if (wait_exit)
				fprintf(stderr, "clusterd: %s: the master (pid "
				    "%ld) did not exit within %gs; stopped "
				    "waiting, it goes on stopping\n", path,
				    (long)peer, timeout);
			else
				fprintf(stderr, "clusterd: no answer from the "
				    "master within %gs\n", timeout);
			close(fd);
			return EXIT_FAILED;
		}
		n = read(fd, buf + have, sizeof buf - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && !got_code && send_errno == 0)
			send_errno = errno;
		if (n <= 0)
			break;
		have += (size_t)n;
		if (!got_code) {
			if ((r = take_code(buf, &have, sizeof buf, &code)) < 0)
				break;
			if (r == 0)
				continue;
			got_code = true;
			out = code == EXIT_OK ? stdout : stderr;
		}
		fwrite(buf, 1, have, out);
		fflush(out);
		have = 0;
	}
	close(fd);
	if (!got_code && send_errno != 0) {
		fprintf(stderr, "clusterd: %s: no answer from the master: "
		    "%s\n", path, strerror(send_errno));
		return EXIT_FAILED;
	}
	if (!got_code) {
		fprintf(stderr, "clusterd: %s: the master closed the "
		    "connection without an answer\n", path);
		return EXIT_FAILED;
	}
	return code;
}

int
control_query(const char *path, const char *request, uid_t trust_uid,
    bool exact, double timeout, char **ret_text, int *ret_code,
    pid_t *ret_peer)
{
	struct sockaddr_un sun;
	struct ucred cred;
	socklen_t clen = sizeof cred;
	double deadline = now_mono() + timeout;
	char line[CONTROL_IN_MAX + 16], *buf = NULL, *p;
	size_t have = 0, cap = 0;
	ssize_t n;
	int fd, e, code;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	n = snprintf(line, sizeof line, CONTROL_VERSION " %s\n", request);
	if (n < 0 || (size_t)n >= sizeof line)
		return -E2BIG;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		e = -errno;
		close(fd);
		return e == -ENOTDIR ? -ENOENT : e;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == -1 ||
	    (cred.uid != trust_uid && (exact || cred.uid != 0))) {
		close(fd);
		return -EPERM;
	}
	/* It may have answered and closed (refused): read on regardless. */
	(void)write_all(fd, line, (size_t)n);
	for (;;) {
		if (cap - have < 4096) {
			if (cap >= CONTROL_OUT_MAX + 64) {
				e = -EPROTO;	/* more than a master sends */
				goto fail;
			}
			cap = cap ? cap * 2 : 16384;
			if ((p = realloc(buf, cap + 1)) == NULL) {
				e = -ENOMEM;
				goto fail;
			}
			buf = p;
		}
		if (!wait_readable(fd, deadline)) {
			e = -ETIMEDOUT;
			goto fail;
		}
		n = read(fd, buf + have, cap - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == ECONNRESET && have > 0)
			break;
		if (n == -1) {
			e = -errno;
			goto fail;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	if (buf == NULL)
		return -EPROTO;
	buf[have] = '\0';
	if (take_code(buf, &have, cap, &code) != 1) {
		free(buf);
		return -EPROTO;
	}
	buf[have] = '\0';
	*ret_text = buf;
	*ret_code = code;
	if (ret_peer != NULL)
		*ret_peer = cred.pid;
	return 0;
fail:
	free(buf);
	close(fd);
	return e;
}

/* The fds of SCM_RIGHTS messages in m, appended to *fds. */
static int
take_rights(struct msghdr *m, int **fds, int *n)
{
	struct cmsghdr *h;
	int *p, k, i, fd;

	for (h = CMSG_FIRSTHDR(m); h != NULL; h = CMSG_NXTHDR(m, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		k = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		if ((p = realloc(*fds, sizeof(int) * (size_t)(*n + k))) ==
		    NULL) {
			for (i = 0; i < k; i++) {
				memcpy(&fd, CMSG_DATA(h) + i * sizeof(int),
				    sizeof fd);
				close(fd);
			}
			return -ENOMEM;
		}
		*fds = p;
		memcpy(*fds + *n, CMSG_DATA(h), sizeof(int) * (size_t)k);
		*n += k;
	}
	return 0;
}

/*
 * `clusterd restart`: ask the running master for its listening sockets
 * (`sockets`; the same peer check as every request) and hand them to
 * listen_inherit for the master we start next. A master that does not know
 * the request leaves us to bind anew. EXIT_OK with *ret_n sockets (0: no
 * master runs, -1: it runs but gave none), else the exit code.
 */
int
control_take_sockets(const char *path, int slots, double wait, int *ret_n)
{
	union {
		struct cmsghdr	 h;
		char		 buf[CMSG_SPACE(sizeof(int) * 253)];
	} u;
	char line[64], *text = NULL, *p;
	struct msghdr m;
	struct iovec iov;
	size_t have = 0, cap = 0;
	double deadline = now_mono() + CONTROL_CLI_TIMEOUT + wait;
	int fd, r, *fds = NULL, nfds = 0, code = -1;
	pid_t peer;
	ssize_t n;

	*ret_n = -1;
	if ((r = connect_master(path, true, &fd)) != EXIT_OK) {
		if (r == -1)
			*ret_n = 0;
		return r == -1 ? EXIT_OK : r;
	}
	if ((r = check_peer(fd, path, &peer)) != EXIT_OK) {
		close(fd);
		return r;
	}
	if (slots > 0)
		snprintf(line, sizeof line, CONTROL_VERSION " sockets %d\n",
		    slots);
	else
		snprintf(line, sizeof line, CONTROL_VERSION " sockets\n");
	if (write_all(fd, line, strlen(line)) < 0) {
		close(fd);
		return EXIT_OK;		/* it went away: bind anew */
	}
	for (r = 0;;) {
		if (!wait_readable(fd, deadline)) {
			fprintf(stderr, "clusterd: no answer from the master "
			    "within %.0fs\n", CONTROL_CLI_TIMEOUT + wait);
			r = EXIT_FAILED;
			break;
		}
		if (cap - have < 4096) {
			if (cap >= CONTROL_OUT_MAX + 4096 ||
			    (p = realloc(text, cap + 65536)) == NULL) {
				r = EXIT_FAILED;
				break;
			}
			text = p;
			cap += 65536;
		}
		iov.iov_base = text + have;
		iov.iov_len = cap - have - 1;
		memset(&m, 0, sizeof m);
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		m.msg_control = u.buf;
		m.msg_controllen = sizeof u.buf;
		n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
		if (n == -1 && errno == EINTR)
			continue;
		if (n > 0 && take_rights(&m, &fds, &nfds) < 0)
			r = EXIT_FAILED;
		if (n <= 0 || r != 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	if (text != NULL)
		text[have] = '\0';
	if (r == 0 && (text == NULL || (p = strchr(text, '\n')) == NULL ||
	    sscanf(text, "%d", &code) != 1)) {
		fprintf(stderr, "clusterd: the master closed the connection "
		    "without handing over its sockets\n");
		r = EXIT_FAILED;
	}
	if (r == 0 && code != EXIT_OK) {
		/* An older master, or one that is stopping: bind anew. */
		fprintf(stderr, "clusterd: the master did not hand over its "
		    "sockets (%.*s); binding new ones\n",
		    (int)strcspn(p + 1, "\n"), p + 1);
		r = 0;
		while (nfds > 0)
			close(fds[--nfds]);
		code = -1;
	}
	if (r == 0 && code == EXIT_OK) {
		if (listen_inherit(fds, nfds, p + 1) < 0) {
			fprintf(stderr, "clusterd: the master's answer to "
			    "`sockets` does not match the sockets it sent; "
			    "binding new ones\n");
			nfds = -1;
		}
		*ret_n = nfds;
		nfds = 0;
	}
	while (nfds > 0)
		close(fds[--nfds]);
	free(fds);
	free(text);
	return r;
}
