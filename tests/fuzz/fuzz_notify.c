/*
 * fuzz_notify.c - libFuzzer target: datagrams on the master's NOTIFY_SOCKET.
 * The whole input goes through notify_parse(): STATUS= is always a
 * NUL-terminated string that fits, a message with a NUL byte is refused,
 * parsing twice gives the same answer. Then the input is sent as a real
 * datagram over a socketpair and handled by notify_receive(), the loop's
 * own receive path: credentials (as sent, or forged uid when we may),
 * passed fds of several kinds, the uid filter, the /proc parent walk, the
 * crediting of a fake worker. Checked: a stranger's uid or a process
 * outside the worker's tree never changes the worker; a credited message
 * does what it says; a passed pipe is closed before notify_receive returns.
 *
 * Input: byte 0 = how (bits 0-1 who the worker is: 0/3 this process,
 * 1 its parent, 2 nobody; bit 2 explicit credentials; bit 3 forge the
 * uid; bits 4-6 number of fds), byte 1 = kinds of the fds (2 bits each:
 * pipe read end, pipe write end, socket, /dev/null), the rest the datagram.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clusterd.h"

#define FORGED_UID	4242	/* neither root nor the workers' user */

static int		 rx = -1, tx = -1;
static struct worker	*fw;
static struct config	 fcfg;

/* A credited READY=1 of a ready worker reports nothing; nothing else
 * may be reported either, but a credited X_CLUSTERD_RECYCLE=1 (a request
 * the slot layer judges). */
static void
no_report(struct worker *w, enum slot_event ev, const char *detail)
{
	if (ev == SE_RECYCLE)
		return;
	abort();
}

static void
setup(void)
{
	int sv[2], one = 1;

	cl.loop = ev_default_loop(0);
	fcfg.name = (char *)"fuzz";
	cl.cfg = &fcfg;			/* no `user`: workers are our euid */
	cl.master_pid = 0;
	if ((fw = calloc(1, sizeof *fw)) == NULL)
		abort();
	worker_init(cl.loop, no_report, "@fuzz");
	/* Ready already: worker_ready() is a no-op, nothing else runs. */
	fw->ready_at = 1.;
	worker_adopt(fw);
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
	    sv) == -1 ||
	    setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one) == -1)
		abort();
	rx = sv[0];
	tx = sv[1];
	/* The rate-limited warnings would fill the output. */
	log_open("/dev/null");
}

static void
check_parse(const uint8_t *data, size_t size)
{
	struct notify_msg m, m2;
	char *buf;
	int r;

	/* An exact-size heap copy: ASan sees any read past the datagram. */
	if ((buf = malloc(size ? size : 1)) == NULL)
		return;
	memcpy(buf, data, size);
	memset(&m, 0xa5, sizeof m);
	r = notify_parse(buf, size, &m);
	if (r == 0) {
		if (memchr(m.status, '\0', sizeof m.status) == NULL)
			abort();
		if (!m.has_status && m.status[0] != '\0')
			abort();
		if (memchr(buf, '\0', size) != NULL || size == 0)
			abort();
		if (notify_parse(buf, size, &m2) != 0 ||
		    memcmp(&m, &m2, sizeof m) != 0)
			abort();
	} else if (r != -EINVAL)
		abort();
	free(buf);
}

static void
check_receive(const uint8_t *data, size_t size)
{
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(struct ucred)) +
				    CMSG_SPACE(sizeof(int) * 7)];
	} control;
	struct iovec iov;
	struct msghdr msg;
	struct cmsghdr *c;
	struct ucred cred;
	struct notify_msg m;
	struct pollfd pfd;
	const uint8_t *payload;
	size_t plen, clen = 0;
	int who, nfd, i, fds[7], keep[7], nkeep = 0, p[2], r, parsed;
	bool creds, forge, may_credit, writer[7];

	if (size < 2)
		return;
	who = data[0] & 3;
	creds = (data[0] & 4) != 0;
	forge = (data[0] & 8) != 0;
	nfd = (data[0] >> 4) & 7;
	payload = data + 2;
	plen = size - 2;

	fw->pid = who == 1 ? getppid() : who == 2 ? 0x3ffffff0 : getpid();
	fw->status[0] = '\0';
	fw->last_watchdog = -1.;

	for (i = 0; i < nfd; i++) {
		int kind = (data[1] >> (2 * (i % 4))) & 3, sp[2];

		fds[i] = -1;
		if (kind <= 1 && pipe2(p, O_CLOEXEC) == 0) {
			/* We keep the other end: the writer if we passed the
			 * read end (systemd-notify's case), or the reader. */
			fds[i] = p[kind];
			writer[nkeep] = kind == 0;
			keep[nkeep++] = p[!kind];
		} else if (kind == 2 && socketpair(AF_UNIX, SOCK_STREAM |
		    SOCK_CLOEXEC, 0, sp) == 0) {
			fds[i] = sp[0];
			close(sp[1]);
		} else if (kind == 3)
			fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fds[i] == -1)
			abort();
	}

	memset(&msg, 0, sizeof msg);
	memset(&control, 0, sizeof control);
	iov.iov_base = (void *)payload;
	iov.iov_len = plen;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = &control;
	if (creds) {
		c = (struct cmsghdr *)((char *)&control + clen);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = CMSG_LEN(sizeof cred);
		cred.pid = getpid();
		cred.uid = forge ? FORGED_UID : getuid();
		cred.gid = getgid();
		memcpy(CMSG_DATA(c), &cred, sizeof cred);
		clen += CMSG_SPACE(sizeof cred);
	}
	if (nfd > 0) {
		c = (struct cmsghdr *)((char *)&control + clen);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfd);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfd);
		clen += CMSG_SPACE(sizeof(int) * (size_t)nfd);
	}
	msg.msg_control = clen ? (void *)&control : NULL;
	msg.msg_controllen = clen;
	r = (int)sendmsg(tx, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	for (i = 0; i < nfd; i++)
		close(fds[i]);
	if (r == -1) {
		/* Forging a uid takes CAP_SETUID; too big for the socket. */
		if (errno != EPERM && errno != EMSGSIZE)
			abort();
		goto out;
	}

	r = notify_receive(rx);
	if (r != 1)
		abort();
	if (notify_receive(rx) != -EAGAIN)
		abort();

	/* What the master may do with it. */
	parsed = plen <= 4096 && notify_parse((const char *)payload, plen,
	    &m) == 0;
	may_credit = parsed && who != 2 && !(creds && forge &&
	    getuid() != FORGED_UID);
	if (!may_credit) {
		if (fw->status[0] != '\0' || fw->last_watchdog != -1.)
			abort();
	} else {
		if (m.has_status && strcmp(fw->status, m.status) != 0)
			abort();
		if (!m.has_status && fw->status[0] != '\0')
			abort();
		if (m.watchdog != (fw->last_watchdog != -1.))
			abort();
	}

	/* A passed pipe end is closed at once: its other end sees it. */
	for (i = 0; i < nkeep; i++) {
		pfd.fd = keep[i];
		pfd.events = writer[i] ? POLLOUT : POLLIN;
		if (poll(&pfd, 1, 0) != 1 ||
		    !(pfd.revents & (writer[i] ? POLLERR : POLLHUP)))
			abort();
	}
out:
	for (i = 0; i < nkeep; i++)
		close(keep[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (rx == -1)
		setup();
	check_parse(data, size);
	check_receive(data, size);
	return 0;
}
