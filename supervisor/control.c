/*
 * control.c - the control socket's server side in the master: listen,
 * accept and check the peer, connection I/O, the request decoder and the
 * command table both the decoder and the dispatch read.
 *
 * Protocol, version 1. The client connects, sends one line
 *	clusterd/1 COMMAND [ARGS]\n		(at most 511 bytes)
 * and the master answers
 *	CODE\n TEXT
 * then closes the connection. CODE is the CLI's exit code; the CLI
 * prints TEXT (stdout for 0, else stderr) and exits with it. Commands:
 * `status`, `status json`, `reload`, `stop`, `stop now`, `scale N|+N|-N`,
 * `sockets` (for `clusterd restart`: the answer carries the listening
 * sockets as SCM_RIGHTS, SCM_MAX_FD per byte from its first byte on);
 * `sockets N` says the master to come runs N workers: the slots from N up
 * are scaled down first (they drain) and the answer waits for their
 * sockets to close.
 * `reload` answers when the roll is done; `stop` answers right before the
 * master exits and the connection closes when it is gone. `events`
 * (`events json`) answers 0 at once, then the connection is events.c's:
 * one line per event until the master exits.
 * `upgrade` answers once the new image runs (the connection crosses
 * execve), or when it failed.
 *
 * Security: the socket is 0600 in a 0700 directory, and every connection is
 * checked with SO_PEERCRED besides: only root and the master's own user may
 * talk to it. A client cannot hold the master up: input is bounded (one
 * line, 5 s to send it), output is non-blocking and buffered (capped, with a
 * deadline), and the number of connections is capped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clusterd.h"

static void	 control_reply(struct control_client *, int code, const char *text);

enum client_state {
	CLIENT_READING = 0,	/* waiting for the request line */
	CLIENT_WAITING,		/* reload or stop: the answer comes later */
	CLIENT_WRITING,		/* reply queued, closed once sent */
};

struct control_client {
	int			 fd;
	pid_t			 pid;		/* SO_PEERCRED */
	uid_t			 uid;
	enum client_state	 state;
	enum control_op		 op;		/* CLIENT_WAITING: for what */
	bool			 held;		/* its request waits for an
						 * upgrade under way */
	ev_io			 read_w;
	ev_io			 write_w;
	ev_timer		 timer_w;
	char			 in[CONTROL_IN_MAX];
	size_t			 inlen;
	struct buf		 out;
	int			*pass;		/* fds to send with the reply */
	int			 npass, passed;
	int			 slots;		/* `sockets N` waiting: N */
	struct control_client	*next;
};

static struct {
	int			 fd;
	char			*path;		/* we created it: unlink it */
	ev_io			 accept_w;
	ev_timer		 retry_w;	/* out of fds: accept later */
	struct control_client	*clients;
	int			 nclients;
	void			(*stop)(const char *why);	/* `stop` */
	void			(*stop_now)(const char *why);	/* --now */
	ev_timer		 check_w;	/* sockets N restored: look */
} ctl = { .fd = -1 };

static void	 accept_cb(struct ev_loop *, ev_io *, int);
static void	 retry_cb(struct ev_loop *, ev_timer *, int);
static void	 read_cb(struct ev_loop *, ev_io *, int);
static void	 write_cb(struct ev_loop *, ev_io *, int);
static void	 timeout_cb(struct ev_loop *, ev_timer *, int);
static void	 check_cb(struct ev_loop *, ev_timer *, int);
static void	 client_free(struct control_client *);
static void	 client_request(struct control_client *,
		    const struct control_request *);
static void	 client_send(struct control_client *, int, struct buf *);


/* ------------------------------------------------------------------ */
/* The listening socket.                                                */

/*
 * Mode 0600 without a window: the umask is 0177 around bind(), so the file
 * is created 0600 (fchmod() does nothing on a socket file); the 0700
 * directory guards it too. A socket file nobody accepts on is left by a
 * master that died: replace it. One that answers belongs to a master of
 * another cluster configured with the same path: refuse.
 */
int
control_listen(const char *path, void (*stop)(const char *),
    char *err, size_t errlen)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd, probe, e;

	ctl.stop = stop;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		snprintf(err, errlen, "control socket %s: path too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);

	/* Only a socket nobody accepts on is replaced; anything else at the
	 * path (`control = app.conf`) is refused, never deleted. */
	if ((probe = listen_probe_path(path)) == -EADDRINUSE) {
		snprintf(err, errlen, "control socket %s: another master "
		    "answers on it", path);
		return probe;
	}
	if (probe < 0) {
		listen_strerror("control socket", path, probe, err, errlen);
		return probe;
	}
	if (probe == 1 && unlink(path) == 0)
		log_info("control socket %s: removed a stale one", path);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		goto fail;
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		e = errno;
		umask(old);
		errno = e;
		goto fail;
	}
	umask(old);
	if ((ctl.path = strdup(path)) == NULL)
		goto fail_unlink;
	/* No chmod by path afterwards: the umask made it 0600, and a path
	 * can be swapped for a symlink. */
	if (listen(fd, 64) == -1)
		goto fail_unlink;
	ctl.fd = fd;
	ev_io_init(&ctl.accept_w, accept_cb, fd, EV_READ);
	ev_io_start(cl.loop, &ctl.accept_w);
	ev_timer_init(&ctl.retry_w, retry_cb, 1., 0.);
	ev_timer_init(&ctl.check_w, check_cb, 0., 0.);
	return 0;

fail_unlink:
	e = errno;
	unlink(path);
	free(ctl.path);
	ctl.path = NULL;
	errno = e;
fail:
	e = errno;
	snprintf(err, errlen, "control socket %s: %s", path, strerror(e));
	if (fd != -1)
		close(fd);
	return -e;
}

void
control_on_stop_now(void (*stop_now)(const char *))
{
	ctl.stop_now = stop_now;
}

static void
close_listener(void)
{
	if (ctl.fd != -1) {
		ev_io_stop(cl.loop, &ctl.accept_w);
		ev_timer_stop(cl.loop, &ctl.retry_w);
		close(ctl.fd);
		ctl.fd = -1;
	}
	if (ctl.path != NULL) {
		unlink(ctl.path);
		free(ctl.path);
		ctl.path = NULL;
	}
}

void
control_close(void)
{
	close_listener();
	while (ctl.clients != NULL)
		client_free(ctl.clients);
}

/* Refused before it becomes a client: one short reply, best effort (a
 * fresh socket's buffer is empty), then close. */
static void
refuse(int fd, int code, const char *text)
{
	char buf[256];
	int n;

	n = snprintf(buf, sizeof buf, "%d\n%s\n", code, text);
	if (n > 0)
		(void)send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

static void
accept_one(int fd)
{
	struct control_client *c;
	struct ucred cred;
	socklen_t len = sizeof cred;
	char msg[160];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("control: SO_PEERCRED: %s", strerror(errno));
		close(fd);
		return;
	}
	if (cred.uid != 0 && cred.uid != geteuid()) {
		log_warn("control: refused pid %ld, uid %ld: only root and "
		    "uid %ld may control this cluster", (long)cred.pid,
		    (long)cred.uid, (long)geteuid());
		snprintf(msg, sizeof msg, "clusterd: permission denied: uid "
		    "%ld may not control this cluster", (long)cred.uid);
		refuse(fd, EXIT_SYSTEM, msg);
		return;
	}
	if (ctl.nclients >= CONTROL_CLIENTS_MAX) {
		log_warn("control: %d connections open, refusing pid %ld",
		    ctl.nclients, (long)cred.pid);
		refuse(fd, EXIT_FAILED, "clusterd: the master is busy: too "
		    "many control connections");
		return;
	}
	if ((c = calloc(1, sizeof *c)) == NULL) {
		refuse(fd, EXIT_FAILED, "clusterd: the master is out of "
		    "memory");
		return;
	}
	c->fd = fd;
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->state = CLIENT_READING;
	ev_io_init(&c->read_w, read_cb, fd, EV_READ);
	c->read_w.data = c;
	ev_io_init(&c->write_w, write_cb, fd, EV_WRITE);
	c->write_w.data = c;
	ev_timer_init(&c->timer_w, timeout_cb, CONTROL_READ_TIMEOUT, 0.);
	c->timer_w.data = c;
	ev_io_start(cl.loop, &c->read_w);
	ev_timer_start(cl.loop, &c->timer_w);
	c->next = ctl.clients;
	ctl.clients = c;
	ctl.nclients++;
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	int fd, i;

	for (i = 0; i < 16; i++) {
		fd = accept4(ctl.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd != -1) {
			accept_one(fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* Level-triggered: do not spin, retry in a second.
			 * Set again each time: a one-shot timer that fired
			 * would start with no delay left. */
			log_warn("control: accept: %s", strerror(errno));
			ev_io_stop(loop, w);
			ev_timer_set(&ctl.retry_w, 1., 0.);
			ev_timer_start(loop, &ctl.retry_w);
		}
		return;
	}
}

static void
retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	if (ctl.fd != -1)
		ev_io_start(loop, &ctl.accept_w);
}

/* ------------------------------------------------------------------ */
/* One connection.                                                      */

static void
client_free(struct control_client *c)
{
	struct control_client **pp;

	for (pp = &ctl.clients; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			ctl.nclients--;
			break;
		}
	if (c->state == CLIENT_WAITING && c->op == CONTROL_RELOAD)
		reload_forget(c);
	if (c->state == CLIENT_WAITING && c->op == CONTROL_UPGRADE)
		upgrade_forget(c);
	ev_io_stop(cl.loop, &c->read_w);
	ev_io_stop(cl.loop, &c->write_w);
	ev_timer_stop(cl.loop, &c->timer_w);
	if (c->fd != -1)
		close(c->fd);
	while (c->passed < c->npass)
		close(c->pass[c->passed++]);
	free(c->pass);
	buf_free(&c->out);
	free(c);
}

/* Queue CODE and the text of b (taken over) and send it when the client
 * reads; the connection is closed once it is all out. Never frees c here:
 * callers up the stack (reload.c) may still hold it. */
static void
client_send(struct control_client *c, int code, struct buf *b)
{
	struct buf out;

	memset(&out, 0, sizeof out);
	if (b->overflow) {
		log_warn("control: reply to pid %ld larger than %d bytes: "
		    "dropped", (long)c->pid, CONTROL_OUT_MAX);
		buf_printf(&out, "%d\nclusterd: the reply was too large\n",
		    EXIT_FAILED);
	} else {
		buf_printf(&out, "%d\n", code);
		if (b->len > 0)
			buf_append(&out, b->data, b->len);
		if (b->len > 0 && b->data[b->len - 1] != '\n')
			buf_append(&out, "\n", 1);
	}
	buf_free(b);
	buf_free(&c->out);
	c->out = out;
	c->state = CLIENT_WRITING;
	ev_io_stop(cl.loop, &c->read_w);
	ev_timer_stop(cl.loop, &c->timer_w);
	ev_timer_set(&c->timer_w, CONTROL_WRITE_TIMEOUT, 0.);
	ev_timer_start(cl.loop, &c->timer_w);
	ev_io_start(cl.loop, &c->write_w);
}

static void
client_reply_text(struct control_client *c, int code, const char *text)
{
	struct buf b;

	memset(&b, 0, sizeof b);
	buf_printf(&b, "%s", text);
	client_send(c, code, &b);
}

/* How the reload answers a `clusterd reload` client. */
static void
reload_reply(void *c, int code, const char *text)
{
	control_reply(c, code, text);
}

static void
control_reply(struct control_client *c, int code, const char *text)
{
	if (c == NULL || c->state == CLIENT_WRITING)
		return;
	client_reply_text(c, code, text);
}

/* The next SCM_MAX_FD (253) of the fds to pass, on the next byte. */
static ssize_t
send_fds(struct control_client *c)
{
	union {
		struct cmsghdr	 h;
		char		 buf[CMSG_SPACE(sizeof(int) * 253)];
	} u;
	struct iovec iov = { .iov_base = c->out.data + c->out.off,
		.iov_len = 1 };
	struct msghdr m;
	struct cmsghdr *h;
	int k = c->npass - c->passed > 253 ? 253 : c->npass - c->passed;
	ssize_t n;

	memset(&u, 0, sizeof u);
	memset(&m, 0, sizeof m);
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.buf;
	m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)k);
	h = CMSG_FIRSTHDR(&m);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)k);
	memcpy(CMSG_DATA(h), c->pass + c->passed, sizeof(int) * (size_t)k);
	if ((n = sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL)) == 1) {
		for (; k > 0; k--)
			close(c->pass[c->passed++]);
	}
	return n;
}

static void
write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct control_client *c = w->data;
	ssize_t n;

	while (c->out.off < c->out.len) {
		if (c->passed < c->npass)
			n = send_fds(c);
		else
			n = send(c->fd, c->out.data + c->out.off,
			    c->out.len - c->out.off,
			    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0)
			break;		/* it went away: nothing to tell */
		c->out.off += (size_t)n;
	}
	client_free(c);
}

/* The peer closed both directions (not just its writing side)? */
static bool
peer_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

static void
read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct control_client *c = w->data;
	struct control_request req;
	char junk[256], msg[128], *nl;
	ssize_t n;
	int r;

	if (c->state == CLIENT_READING)
		n = recv(c->fd, c->in + c->inlen, sizeof c->in - c->inlen, 0);
	else
		n = recv(c->fd, junk, sizeof junk, 0);	/* ignored */
	if (n == -1 && (errno == EINTR || errno == EAGAIN ||
	    errno == EWOULDBLOCK))
		return;
	if (n == -1) {
		client_free(c);
		return;
	}
	if (n == 0) {
		if (c->state == CLIENT_READING && c->inlen > 0) {
			log_warn("control: pid %ld: truncated request",
			    (long)c->pid);
			client_reply_text(c, EXIT_USAGE, "clusterd: truncated "
			    "request (no newline)");
		} else if (c->state == CLIENT_WAITING && !peer_gone(c->fd)) {
			/* Only its writing side is shut: it still listens. */
			ev_io_stop(loop, w);
		} else {
			if (c->state == CLIENT_WAITING)
				log_info("control: pid %ld went away before "
				    "the answer", (long)c->pid);
			client_free(c);
		}
		return;
	}
	if (c->state != CLIENT_READING)
		return;
	c->inlen += (size_t)n;
	r = control_parse_request(c->in, c->inlen, &req, msg, sizeof msg);
	if (r == -EAGAIN)
		return;
	if (r == 0) {
		client_request(c, &req);
		return;
	}
	/* For the log: the line as text (the parser saw a newline, if any). */
	if ((nl = memchr(c->in, '\n', c->inlen)) != NULL)
		*nl = '\0';
	else
		c->in[sizeof c->in - 1] = '\0';
	switch (r) {
	case -E2BIG:
		log_warn("control: pid %ld: request longer than %d bytes",
		    (long)c->pid, CONTROL_IN_MAX - 1);
		break;
	case -EPROTONOSUPPORT:
		log_warn("control: pid %ld speaks %.20s", (long)c->pid, c->in);
		break;
	case -EPROTO:
		log_warn("control: pid %ld: not a clusterd request",
		    (long)c->pid);
		break;
	case -ENOSYS:
		log_warn("control: pid %ld: unknown request '%.128s'",
		    (long)c->pid, c->in + sizeof CONTROL_VERSION);
		break;
	}
	client_reply_text(c, EXIT_USAGE, msg);
}

static void
timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct control_client *c = t->data;

	if (c->state == CLIENT_READING) {
		log_warn("control: pid %ld sent no request within %.0fs",
		    (long)c->pid, CONTROL_READ_TIMEOUT);
		client_reply_text(c, EXIT_USAGE, "clusterd: no request "
		    "received in time");
		return;
	}
	log_warn("control: pid %ld does not read its reply: dropped",
	    (long)c->pid);
	client_free(c);
}

/* ------------------------------------------------------------------ */
/* Commands.                                                            */

static void
do_status(struct control_client *c, const struct control_request *req)
{
	struct buf b;

	memset(&b, 0, sizeof b);
	if (status_render(&b, req->json, true) < 0) {
		buf_free(&b);
		client_reply_text(c, EXIT_FAILED, "clusterd: out of memory");
		return;
	}
	client_send(c, EXIT_OK, &b);
}

static void
do_reload(struct control_client *c, const struct control_request *req)
{
	log_notice("control: pid %ld: reload", (long)c->pid);
	reload_request(reload_reply, c);	/* may answer at once */
}

static void
do_scale(struct control_client *c, const struct control_request *req)
{
	char err[256], msg[384];
	const char *arg = req->arg;
	long n = req->scale;
	int r, old = slot_wanted();

	if (cl.phase == PHASE_STOPPING || cl.phase == PHASE_LAME_DUCK) {
		client_reply_text(c, EXIT_FAILED, "scale refused: the cluster "
		    "is stopping");
		return;
	}
	if (req->relative)
		n += slot_wanted();
	log_notice("control: pid %ld: scale %s", (long)c->pid, arg);
	if ((r = reload_scale((int)n, err, sizeof err)) < 0) {
		snprintf(msg, sizeof msg, "scale to %ld failed: %s", n, err);
		log_warn("%s", msg);
		client_reply_text(c, r == -ERANGE ? EXIT_USAGE : EXIT_SYSTEM,
		    msg);
		return;
	}
	if (old == slot_wanted())
		snprintf(msg, sizeof msg, "already %d worker%s", slot_wanted(),
		    slot_wanted() == 1 ? "" : "s");
	else
		snprintf(msg, sizeof msg, "scaled to %d worker%s (from %d)",
		    slot_wanted(), slot_wanted() == 1 ? "" : "s", old);
	client_reply_text(c, EXIT_OK, msg);
}

static void
do_stop(struct control_client *c, const struct control_request *req)
{
	char why[64], msg[160];

	snprintf(why, sizeof why, "clusterd stop%s (pid %ld)",
	    req->now ? " --now" : "", (long)c->pid);
	if (req->now && cl.phase != PHASE_STARTING && ctl.stop_now != NULL) {
		/* No lame duck, or the rest of it (or of the drain) cut. */
		ctl.stop_now(why);
		return;
	}
	if (cl.phase == PHASE_STOPPING || cl.phase == PHASE_LAME_DUCK) {
		/* Join the stop under way; TERM twice or `stop --now` is how
		 * to cut it short. */
		log_info("control: pid %ld: stop (already stopping)",
		    (long)c->pid);
		return;
	}
	if (cl.phase == PHASE_STARTING) {
		/* A `start` waiting for readiness hears why it never came. */
		snprintf(msg, sizeof msg, "%s: start interrupted: %s",
		    cl.cfg->name, why);
		daemon_started(EXIT_FAILED, msg);
	}
	ctl.stop(why);
}

/* The connection becomes a reader of the event stream (events.c). */
static void
do_events(struct control_client *c, const struct control_request *req)
{
	int r;

	ev_io_stop(cl.loop, &c->read_w);
	r = events_add(c->fd, c->pid, req->json);
	c->fd = -1;	/* events.c's now, closed there on failure */
	if (r < 0)
		log_warn("control: pid %ld: events refused: %s", (long)c->pid,
		    r == -EBUSY ? "too many readers" : strerror(-r));
	client_free(c);	/* nothing up the stack uses it after this */
}

/*
 * `clusterd restart` asks for the listening sockets before it stops us:
 * copies go with the answer (see the header comment), and the new master
 * takes them over, so that connections wait in their queues in between.
 * Our own stop then leaves the unix: files alone.
 */
static void
hand_over(struct control_client *c)
{
	struct buf b;
	int *fds = NULL, n = 0;

	memset(&b, 0, sizeof b);
	if (listen_handover(&b, &fds, &n) < 0 || b.overflow ||
	    (size_t)n > b.len * 253) {
		while (n > 0)
			close(fds[--n]);
		free(fds);
		buf_free(&b);
		client_reply_text(c, EXIT_SYSTEM, "clusterd: cannot copy the "
		    "listening sockets");
		return;
	}
	log_notice("control: pid %ld: sockets (%d handed over for a "
	    "restart)", (long)c->pid, n);
	client_send(c, EXIT_OK, &b);
	c->pass = fds;
	c->npass = n;
}

/*
 * `sockets N`: the new master will run N workers and would close the
 * sockets of the slots from N up, resetting what queued on them while no
 * worker accepted. So those slots are scaled down here first, the way
 * `scale` does it (steered away, drained, then closed), and the answer
 * waits until their sockets are gone (control_slots_changed).
 */
static void
do_sockets(struct control_client *c, const struct control_request *req)
{
	char err[256];
	int n = req->scale, r;

	if (cl.phase == PHASE_STOPPING) {
		client_reply_text(c, EXIT_FAILED, "clusterd: the cluster is "
		    "stopping: its sockets are closed");
		return;
	}
	if (n < 1 || !listen_slots_from(n)) {
		hand_over(c);
		return;
	}
	if (cl.phase == PHASE_LAME_DUCK ||
	    (n < slot_wanted() && (r = reload_scale(n, err, sizeof err)) < 0)) {
		log_warn("control: pid %ld: sockets %d: cannot scale down "
		    "first (%s): the new master closes the other slots' "
		    "sockets", (long)c->pid, n, cl.phase == PHASE_LAME_DUCK ?
		    "lame duck" : err);
		hand_over(c);
		return;
	}
	log_notice("control: pid %ld: sockets %d: slots %d and up drain "
	    "first (a restart to %d worker%s)", (long)c->pid, n, n, n,
	    n == 1 ? "" : "s");
	c->slots = n;
}

/* A slot's socket was closed: a `sockets N` waiting for that is answered. */
void
control_slots_changed(void)
{
	struct control_client *c, *next;

	for (c = ctl.clients; c != NULL; c = next) {
		next = c->next;
		if (c->state == CLIENT_WAITING && c->op == CONTROL_SOCKETS &&
		    !listen_slots_from(c->slots))
			hand_over(c);
	}
}

static void
check_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	control_slots_changed();
}

/* How the upgrade answers a `clusterd upgrade` client when it fails (on
 * success the new image answers, on the same connection). */
static void
upgrade_reply(void *c, int code, const char *text)
{
	control_reply(c, code, text);
}

static void
do_upgrade(struct control_client *c, const struct control_request *req)
{
	log_notice("control: pid %ld: upgrade", (long)c->pid);
	upgrade_request(upgrade_reply, c);	/* may answer at once */
}

/*
 * The one list of commands: the decoder checks a request against its row,
 * the dispatch runs the row's handler. A command that waits answers later
 * (reload when the roll is done, stop when the master exits).
 */
enum control_arg {
	ARG_NONE = 0,		/* nothing after the command */
	ARG_JSON,		/* nothing, or the word "json" */
	ARG_NOW,		/* nothing, or the word "now" */
	ARG_COUNT,		/* N, +N or -N */
	ARG_SLOTS,		/* nothing, or N */
};

static const struct control_cmd {
	const char		*name;
	enum control_arg	 arg;
	bool			 waits;
	void			 (*fn)(struct control_client *,
				    const struct control_request *);
} control_cmds[] = {
	[CONTROL_STATUS] = { "status", ARG_JSON, false, do_status },
	[CONTROL_RELOAD] = { "reload", ARG_NONE, true, do_reload },
	[CONTROL_STOP] = { "stop", ARG_NOW, true, do_stop },
	[CONTROL_SCALE] = { "scale", ARG_COUNT, false, do_scale },
	[CONTROL_SOCKETS] = { "sockets", ARG_SLOTS, true, do_sockets },
	[CONTROL_EVENTS] = { "events", ARG_JSON, false, do_events },
	[CONTROL_UPGRADE] = { "upgrade", ARG_NONE, true, do_upgrade },
};
#define NCONTROL_CMDS	(sizeof control_cmds / sizeof control_cmds[0])

int
control_parse_scale(const char *arg, int *ret_n, bool *ret_relative)
{
	struct control_request req;
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end != '\0' || v < -WORKERS_MAX ||
	    v > WORKERS_MAX || strlen(arg) >= sizeof req.arg)
		return -EDOM;
	*ret_n = (int)v;
	*ret_relative = arg[0] == '+' || arg[0] == '-';
	return 0;
}

/* The argument of a known command: 0, or -errno with the answer. */
static int
parse_arg(const struct control_cmd *cmd, const char *arg,
    struct control_request *req, char *msg, size_t msglen)
{
	switch (cmd->arg) {
	case ARG_NONE:
		if (arg == NULL)
			return 0;
		break;
	case ARG_JSON:
		if (arg == NULL)
			return 0;
		if (strcmp(arg, "json") == 0) {
			req->json = true;
			return 0;
		}
		break;
	case ARG_NOW:
		if (arg == NULL)
			return 0;
		if (strcmp(arg, "now") == 0) {
			req->now = true;
			return 0;
		}
		break;
	case ARG_COUNT:
		if (arg == NULL)
			break;
		if (control_parse_scale(arg, &req->scale,
		    &req->relative) < 0) {
			snprintf(msg, msglen, "clusterd: %s: '%.32s' is not "
			    "N, +N or -N", cmd->name, arg);
			return -EDOM;
		}
		memcpy(req->arg, arg, strlen(arg) + 1);
		return 0;
	case ARG_SLOTS:
		if (arg == NULL)
			return 0;
		if (arg[0] == '+' || arg[0] == '-' ||
		    control_parse_scale(arg, &req->scale, &req->relative) < 0 ||
		    req->scale < 1) {
			snprintf(msg, msglen, "clusterd: %s: '%.32s' is not "
			    "a worker count", cmd->name, arg);
			return -EDOM;
		}
		memcpy(req->arg, arg, strlen(arg) + 1);
		return 0;
	}
	snprintf(msg, msglen, "clusterd: unknown request");
	return -ENOSYS;
}

/*
 * Decode a request line (the protocol in the header comment): pure,
 * bounded, no I/O, so that it can be fuzzed. Only the first line counts;
 * its '\r' before the newline is dropped. A line longer than the input
 * buffer is -E2BIG; a NUL byte -EBADMSG; another version
 * -EPROTONOSUPPORT; not our protocol -EPROTO; an unknown command or wrong
 * arguments -ENOSYS; a bad scale count -EDOM.
 */
int
control_parse_request(const char *buf, size_t len,
    struct control_request *ret, char *msg, size_t msglen)
{
	struct control_request req;
	char line[CONTROL_IN_MAX], *cmd, *arg;
	const char *nl;
	size_t n, i;
	int r;

	if (len > CONTROL_IN_MAX)
		len = CONTROL_IN_MAX;
	if ((nl = memchr(buf, '\n', len)) == NULL) {
		if (len < CONTROL_IN_MAX)
			return -EAGAIN;
		snprintf(msg, msglen, "clusterd: request too long");
		return -E2BIG;
	}
	n = (size_t)(nl - buf);
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (memchr(buf, '\0', n) != NULL) {
		snprintf(msg, msglen, "clusterd: bad request (NUL byte)");
		return -EBADMSG;
	}
	memcpy(line, buf, n);
	line[n] = '\0';
	if (strncmp(line, CONTROL_VERSION " ", sizeof CONTROL_VERSION) != 0) {
		if (strncmp(line, "clusterd/", 9) == 0) {
			snprintf(msg, msglen, "clusterd: unsupported protocol "
			    "version (this master speaks " CONTROL_VERSION ")");
			return -EPROTONOSUPPORT;
		}
		snprintf(msg, msglen, "clusterd: bad request (expected '"
		    CONTROL_VERSION " COMMAND')");
		return -EPROTO;
	}
	memset(&req, 0, sizeof req);
	cmd = line + sizeof CONTROL_VERSION;
	if ((arg = strchr(cmd, ' ')) != NULL)
		*arg++ = '\0';
	for (i = 0; i < NCONTROL_CMDS; i++)
		if (strcmp(cmd, control_cmds[i].name) == 0)
			break;
	if (i == NCONTROL_CMDS) {
		snprintf(msg, msglen, "clusterd: unknown request");
		return -ENOSYS;
	}
	req.cmd = (enum control_op)i;
	if ((r = parse_arg(&control_cmds[i], arg, &req, msg, msglen)) < 0)
		return r;
	*ret = req;
	return 0;
}

static void
client_request(struct control_client *c, const struct control_request *req)
{
	const struct control_cmd *cmd = &control_cmds[req->cmd];

	ev_timer_stop(cl.loop, &c->timer_w);
	if (upgrade_running() && req->cmd != CONTROL_STATUS &&
	    req->cmd != CONTROL_UPGRADE) {
		/* Held, request line and all: after the upgrade the new image
		 * (or this one, if it failed) takes it from there. */
		log_info("control: pid %ld: %s waits for the upgrade",
		    (long)c->pid, cmd->name);
		c->held = true;
		ev_io_stop(cl.loop, &c->read_w);
		return;
	}
	if (cmd->waits) {
		c->state = CLIENT_WAITING;
		c->op = req->cmd;
	}
	cmd->fn(c, req);
}

/*
 * The master is about to exit (ev_run returned). Every `stop` waiting gets
 * its answer now; its connection is left open on purpose so that the
 * kernel closes it when the process is gone: the CLI's EOF means "exited",
 * after the pidfile and this socket were removed. Replies still queued for
 * other clients get one last non-blocking try.
 */
void
control_stopped(void)
{
	struct control_client *c;
	char msg[128];
	int n;

	close_listener();	/* no new clients; the file is gone */
	ev_now_update(cl.loop);
	n = snprintf(msg, sizeof msg, "%d\nstopped in %.1fs", EXIT_OK,
	    ev_now(cl.loop) - cl.stop_started);
	if (worker_nkilled() > 0)
		n += snprintf(msg + n, sizeof msg - (size_t)n,
		    ", %d worker%s SIGKILLed", worker_nkilled(),
		    worker_nkilled() == 1 ? "" : "s");
	n += snprintf(msg + n, sizeof msg - (size_t)n, "\n");
	while ((c = ctl.clients) != NULL) {
		if (c->state == CLIENT_WAITING && c->op == CONTROL_STOP) {
			(void)send(c->fd, msg, (size_t)n,
			    MSG_DONTWAIT | MSG_NOSIGNAL);
			c->fd = -1;	/* closed by exit(), see above */
		} else if (c->state == CLIENT_WRITING &&
		    c->out.off < c->out.len)
			(void)send(c->fd, c->out.data + c->out.off,
			    c->out.len - c->out.off,
			    MSG_DONTWAIT | MSG_NOSIGNAL);
		client_free(c);
	}
}

/* ------------------------------------------------------------------ */
/* Across an upgrade.                                                   */

/*
 * The listening socket (what queues in its backlog meanwhile, the new
 * image accepts) and every connection: a `clusterd upgrade` waiting for
 * its answer gets it from the new image, a held request is served there,
 * a half-sent one goes on being read, a reply being written is finished.
 */
void
control_dump(struct ustate *st)
{
	struct control_client *c;
	int n = 0;

	upgrade_put_fd(st, ctl.fd);
	upgrade_put_str(st, ctl.path);
	for (c = ctl.clients; c != NULL; c = c->next)
		n++;
	upgrade_put_u64(st, (uint64_t)n);
	for (c = ctl.clients; c != NULL; c = c->next) {
		upgrade_put_fd(st, c->fd);
		upgrade_put_u64(st, (uint64_t)c->pid);
		upgrade_put_u64(st, (uint64_t)c->uid);
		upgrade_put_u64(st, (uint64_t)c->state);
		upgrade_put_u64(st, (uint64_t)c->op);
		upgrade_put_u64(st, c->held);
		upgrade_put_mem(st, c->in, sizeof c->in);
		upgrade_put_u64(st, c->inlen);
		upgrade_put_mem(st, c->out.data ? c->out.data + c->out.off : "",
		    c->out.len - c->out.off);
	}
}

int
control_restore(struct ustate *st)
{
	struct control_client *c, **tail = &ctl.clients;
	struct control_request req;
	char msg[128];
	void *out;
	size_t outlen;
	int n, i;

	ctl.fd = upgrade_get_fd(st);
	ctl.path = upgrade_get_str(st);
	if (ctl.fd == -1)
		return -EBADMSG;
	ev_io_init(&ctl.accept_w, accept_cb, ctl.fd, EV_READ);
	ev_io_start(cl.loop, &ctl.accept_w);
	ev_timer_init(&ctl.retry_w, retry_cb, 1., 0.);
	ev_timer_init(&ctl.check_w, check_cb, 0., 0.);
	n = (int)upgrade_get_u64(st);
	if (n < 0 || n > CONTROL_CLIENTS_MAX)
		return -EBADMSG;
	for (i = 0; i < n && !upgrade_get_failed(st); i++) {
		if ((c = calloc(1, sizeof *c)) == NULL)
			return -ENOMEM;
		c->fd = upgrade_get_fd(st);
		c->pid = (pid_t)upgrade_get_u64(st);
		c->uid = (uid_t)upgrade_get_u64(st);
		c->state = (enum client_state)upgrade_get_u64(st);
		c->op = (enum control_op)upgrade_get_u64(st);
		c->held = upgrade_get_u64(st) != 0;
		upgrade_get_mem(st, c->in, sizeof c->in);
		c->inlen = (size_t)upgrade_get_u64(st);
		out = upgrade_get_blob(st, &outlen);
		if (c->inlen > sizeof c->in)
			c->inlen = 0;
		ev_io_init(&c->read_w, read_cb, c->fd, EV_READ);
		c->read_w.data = c;
		ev_io_init(&c->write_w, write_cb, c->fd, EV_WRITE);
		c->write_w.data = c;
		ev_timer_init(&c->timer_w, timeout_cb, CONTROL_READ_TIMEOUT, 0.);
		c->timer_w.data = c;
		*tail = c;
		tail = &c->next;
		ctl.nclients++;
		if (c->state == CLIENT_WRITING && out != NULL) {
			struct buf b;

			memset(&b, 0, sizeof b);
			buf_append(&b, out, outlen);
			/* client_send frames anew: keep the bytes as they are */
			c->out = b;
			ev_timer_set(&c->timer_w, CONTROL_WRITE_TIMEOUT, 0.);
			ev_timer_start(cl.loop, &c->timer_w);
			ev_io_start(cl.loop, &c->write_w);
		} else if (c->state == CLIENT_READING && !c->held) {
			ev_io_start(cl.loop, &c->read_w);
			ev_timer_start(cl.loop, &c->timer_w);
		} else if (c->state == CLIENT_WAITING) {
			ev_io_start(cl.loop, &c->read_w);	/* its EOF */
		}
		if (c->state == CLIENT_WAITING && c->op == CONTROL_SOCKETS) {
			/* Its N is in its request line; the sockets may have
			 * closed while the upgrade ran: look once we run. */
			if (control_parse_request(c->in, c->inlen, &req, msg,
			    sizeof msg) == 0 && req.cmd == CONTROL_SOCKETS)
				c->slots = req.scale;
			ev_timer_start(cl.loop, &ctl.check_w);
		}
		free(out);
		if (c->fd == -1)
			return -EBADMSG;
	}
	return 0;
}

void
control_on_stop(void (*stop)(const char *))
{
	ctl.stop = stop;
}

/* The upgrade is over (done here, or failed in the old image): the held
 * requests are served now, in the order they came. */
void
control_release(void)
{
	struct control_client *c, *next;
	struct control_request req;
	char msg[128];

	for (c = ctl.clients; c != NULL; c = next) {
		next = c->next;
		if (!c->held)
			continue;
		c->held = false;
		if (control_parse_request(c->in, c->inlen, &req, msg,
		    sizeof msg) == 0)
			client_request(c, &req);
		else
			client_reply_text(c, EXIT_USAGE, msg);
	}
}

/* The new image is up: the `clusterd upgrade` clients hear it from it. */
void
control_upgraded(int code, const char *text)
{
	struct control_client *c;

	for (c = ctl.clients; c != NULL; c = c->next)
		if (c->state == CLIENT_WAITING && c->op == CONTROL_UPGRADE)
			client_reply_text(c, code, text);
}
