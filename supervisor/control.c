/*
 * control.c - the control socket: server side in the master, client side
 * for the CLI commands (stop, reload, status, scale).
 *
 * Protocol, version 1. The client connects, sends one line
 *	clusterd/1 COMMAND [ARGS]\n		(at most 511 bytes)
 * and the master answers
 *	CODE\n TEXT
 * then closes the connection. CODE is the CLI's exit code (SPEC 7); the CLI
 * prints TEXT (stdout for 0, else stderr) and exits with it. Commands:
 * `status`, `status json`, `reload`, `stop`, `scale N|+N|-N`. `reload`
 * answers when the roll is done; `stop` answers right before the master
 * exits and the connection closes when it is gone.
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

#define CONTROL_VERSION		"clusterd/1"
#define CONTROL_IN_MAX		512		/* one request line */
#define CONTROL_OUT_MAX		(1024 * 1024)	/* one reply */
#define CONTROL_CLIENTS_MAX	64
#define CONTROL_READ_TIMEOUT	5.0	/* to send the request */
#define CONTROL_WRITE_TIMEOUT	10.0	/* to take the reply */
#define CONTROL_CLI_TIMEOUT	30	/* CLI: status and scale answer at once */

enum client_state {
	CLIENT_READING = 0,	/* waiting for the request line */
	CLIENT_WAITING,		/* reload or stop: the answer comes later */
	CLIENT_WRITING,		/* reply queued, closed once sent */
};

enum client_wait { WAIT_NONE = 0, WAIT_RELOAD, WAIT_STOP };

struct buf {
	char	*data;
	size_t	 len, cap, off;
	bool	 overflow;	/* would exceed CONTROL_OUT_MAX */
};

struct control_client {
	int			 fd;
	pid_t			 pid;		/* SO_PEERCRED */
	uid_t			 uid;
	enum client_state	 state;
	enum client_wait	 wait;
	ev_io			 read_w;
	ev_io			 write_w;
	ev_timer		 timer_w;
	char			 in[CONTROL_IN_MAX];
	size_t			 inlen;
	struct buf		 out;
	struct control_client	*next;
};

static struct {
	int			 fd;
	char			*path;		/* we created it: unlink it */
	ev_io			 accept_w;
	ev_timer		 retry_w;	/* out of fds: accept later */
	struct control_client	*clients;
	int			 nclients;
} ctl = { .fd = -1 };

static void	 accept_cb(struct ev_loop *, ev_io *, int);
static void	 retry_cb(struct ev_loop *, ev_timer *, int);
static void	 read_cb(struct ev_loop *, ev_io *, int);
static void	 write_cb(struct ev_loop *, ev_io *, int);
static void	 timeout_cb(struct ev_loop *, ev_timer *, int);
static void	 client_free(struct control_client *);
static void	 client_request(struct control_client *,
		    const struct control_request *);
static void	 client_send(struct control_client *, int, struct buf *);
static void	 buf_printf(struct buf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------ */
/* Output buffers.                                                      */

static void
buf_append(struct buf *b, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (b->overflow)
		return;
	if (b->len + n + 1 > CONTROL_OUT_MAX) {
		b->overflow = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		for (cap = b->cap ? b->cap : 1024; cap < b->len + n + 1;)
			cap *= 2;
		if (cap > CONTROL_OUT_MAX)
			cap = CONTROL_OUT_MAX;
		if ((p = realloc(b->data, cap)) == NULL) {
			b->overflow = true;
			return;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_printf(struct buf *b, const char *fmt, ...)
{
	char small[512], *big;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof small) {
		buf_append(b, small, (size_t)n);
		return;
	}
	va_start(ap, fmt);
	n = vasprintf(&big, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->overflow = true;
		return;
	}
	buf_append(b, big, (size_t)n);
	free(big);
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void
buf_json_str(struct buf *b, const char *s)
{
	const unsigned char *p;

	if (s == NULL) {
		buf_append(b, "null", 4);
		return;
	}
	buf_append(b, "\"", 1);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			buf_append(b, "\\n", 2);
		else if (*p == '\t')
			buf_append(b, "\\t", 2);
		else if (*p < 0x20 || *p == 0x7f)
			buf_printf(b, "\\u%04x", *p);
		else
			buf_append(b, (const char *)p, 1);
	}
	buf_append(b, "\"", 1);
}

static void
buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

/* ------------------------------------------------------------------ */
/* The listening socket.                                                */

/*
 * Mode 0600 without a window: the umask is 0177 around bind(), so the file
 * is created 0600 (fchmod() does nothing on a socket, traps.md); the 0700
 * directory guards it too. A socket file nobody accepts on is left by a
 * master that died: replace it. One that answers belongs to a master of
 * another cluster configured with the same path: refuse.
 */
int
control_listen(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd, probe, e;

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
	/* Belt and braces: a umask cannot make it wider, but be explicit. */
	if (chmod(path, 0600) == -1 || listen(fd, 64) == -1)
		goto fail_unlink;
	ctl.fd = fd;
	ev_io_init(&ctl.accept_w, accept_cb, fd, EV_READ);
	ev_io_start(cl.loop, &ctl.accept_w);
	ev_timer_init(&ctl.retry_w, retry_cb, 1., 0.);
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
	if (c->state == CLIENT_WAITING && c->wait == WAIT_RELOAD)
		reload_forget(c);
	ev_io_stop(cl.loop, &c->read_w);
	ev_io_stop(cl.loop, &c->write_w);
	ev_timer_stop(cl.loop, &c->timer_w);
	if (c->fd != -1)
		close(c->fd);
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

void
control_reply(struct control_client *c, int code, const char *text)
{
	if (c == NULL || c->state == CLIENT_WRITING)
		return;
	client_reply_text(c, code, text);
}

static void
write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct control_client *c = w->data;
	ssize_t n;

	while (c->out.off < c->out.len) {
		n = send(c->fd, c->out.data + c->out.off,
		    c->out.len - c->out.off, MSG_DONTWAIT | MSG_NOSIGNAL);
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
/* Requests.                                                            */

static void
fmt_duration(double s, char *buf, size_t len)
{
	long t = s < 0 ? 0 : (long)s;

	if (t < 60)
		snprintf(buf, len, "%lds", t);
	else if (t < 3600)
		snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
	else if (t < 86400)
		snprintf(buf, len, "%ldh%02ldm", t / 3600, t % 3600 / 60);
	else
		snprintf(buf, len, "%ldd%02ldh", t / 86400, t % 86400 / 3600);
}

static void
fmt_size(uint64_t b, char *buf, size_t len)
{
	if (b == 0)
		snprintf(buf, len, "-");
	else if (b < 1024 * 1024)
		snprintf(buf, len, "%.0fK", (double)b / 1024);
	else if (b < 1024ULL * 1024 * 1024)
		snprintf(buf, len, "%.1fM", (double)b / (1024 * 1024));
	else
		snprintf(buf, len, "%.2fG", (double)b / (1024 * 1024 * 1024));
}

/* One line of `status`: a worker, or a slot that has none right now. */
struct row {
	int		 slot;
	pid_t		 pid;		/* 0: none */
	unsigned	 generation;
	const char	*state;
	double		 uptime;
	unsigned	 restarts;
	const char	*last_exit;	/* NULL: none */
	uint64_t	 rss;
	bool		 receiving;
};

static void
row_worker(struct row *r, const struct slot *s, const struct worker *w,
    const char *state, bool receiving)
{
	memset(r, 0, sizeof *r);
	r->slot = s->index;
	r->restarts = s->restarts;
	r->last_exit = s->last_exit[0] ? s->last_exit : NULL;
	r->state = state;
	r->receiving = receiving;
	if (w != NULL) {
		r->pid = w->pid;
		r->generation = w->generation;
		r->uptime = ev_now(cl.loop) - w->started;
		r->rss = worker_rss(w->pid);
	}
}

/*
 * Per slot: its current worker (or the slot's state when it has none), the
 * incoming worker of a reload, then the old ones still draining. Slots
 * scaled away show only while a worker of theirs drains.
 */
static int
status_rows(struct row **ret)
{
	struct row *rows;
	struct worker *w;
	struct slot *s;
	int i, n = 0, max = slot_count();

	for (w = worker_list(); w != NULL; w = w->next)
		max++;
	if ((rows = calloc((size_t)max + 1, sizeof *rows)) == NULL)
		return -ENOMEM;
	for (i = 0; i < slot_count(); i++) {
		s = slot_get(i);
		if (s->cur != NULL)
			row_worker(&rows[n++], s, s->cur,
			    slot_worker_label(s, s->cur), slot_receiving(s));
		if (s->incoming != NULL)
			row_worker(&rows[n++], s, s->incoming,
			    slot_worker_label(s, s->incoming), false);
		if (s->cur == NULL && s->incoming == NULL && s->want_up)
			row_worker(&rows[n++], s, NULL,
			    slot_state_name(s->state), false);
		for (w = worker_list(); w != NULL && n < max; w = w->next)
			if (w->slot == i && w != s->cur && w != s->incoming)
				row_worker(&rows[n++], s, w,
				    slot_worker_label(s, w), false);
	}
	*ret = rows;
	return n;
}

static const char *
phase_name(void)
{
	switch (cl.phase) {
	case PHASE_STARTING:
		return "starting";
	case PHASE_RUNNING:
		return "running";
	case PHASE_STOPPING:
		return "stopping";
	}
	return "?";
}

static const char *
listener_mode(const struct listener *l)
{
	if (l->shut)
		return "closed: stopping";
	if (l->activated)
		return "from systemd, shared";
	if (l->cfg.family == AF_UNIX || l->cfg.sockets == LISTEN_SHARED)
		return "shared";
	return "per-worker";
}

static void
status_text(struct buf *b, const struct row *rows, int n)
{
	char up[32], rss[32];
	int i;

	fmt_duration(ev_now(cl.loop) - cl.started, up, sizeof up);
	buf_printf(b, "%s: master %ld, up %s, generation %u, %d/%d workers "
	    "ready (%s%s)\n", cl.cfg->name, (long)cl.master_pid, up,
	    cl.generation, slot_ready_count(), slot_wanted(), phase_name(),
	    reload_running() ? ", reloading" : "");
	if (cl.cfg->nlset == 0)
		buf_printf(b, "listen: closed\n");
	for (i = 0; i < cl.cfg->nlset; i++)
		buf_printf(b, "listen: %s (%s)\n",
		    listen_describe(cl.cfg->lset[i]),
		    listener_mode(cl.cfg->lset[i]));
	buf_printf(b, "\n%-5s %-8s %-4s %-9s %-8s %-8s %-8s %-9s %s\n",
	    "SLOT", "PID", "GEN", "STATE", "UPTIME", "RESTARTS", "RSS",
	    "RECEIVING", "LAST EXIT");
	for (i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		char pid[16], gen[16];

		if (r->pid) {
			snprintf(pid, sizeof pid, "%ld", (long)r->pid);
			snprintf(gen, sizeof gen, "%u", r->generation);
			fmt_duration(r->uptime, up, sizeof up);
			fmt_size(r->rss, rss, sizeof rss);
		} else {
			snprintf(pid, sizeof pid, "-");
			snprintf(gen, sizeof gen, "-");
			snprintf(up, sizeof up, "-");
			snprintf(rss, sizeof rss, "-");
		}
		buf_printf(b, "%-5d %-8s %-4s %-9s %-8s %-8u %-8s %-9s %s\n",
		    r->slot, pid, gen, r->state, up, r->restarts, rss,
		    r->receiving ? "yes" : "no",
		    r->last_exit ? r->last_exit : "-");
	}
}

/* Field names are a contract (SPEC 2): only ever add, never rename. */
static void
status_json(struct buf *b, const struct row *rows, int n)
{
	int i;

	buf_printf(b, "{\"name\":");
	buf_json_str(b, cl.cfg->name);
	buf_printf(b, ",\"master_pid\":%ld,\"generation\":%u,"
	    "\"uptime_s\":%.1f,\"state\":\"%s\",\"reloading\":%s,"
	    "\"wanted\":%d,\"ready\":%d,\"listen\":[", (long)cl.master_pid,
	    cl.generation, ev_now(cl.loop) - cl.started, phase_name(),
	    reload_running() ? "true" : "false", slot_wanted(),
	    slot_ready_count());
	for (i = 0; i < cl.cfg->nlset; i++) {
		if (i > 0)
			buf_append(b, ",", 1);
		buf_json_str(b, listen_describe(cl.cfg->lset[i]));
	}
	buf_printf(b, "],\"workers\":[");
	for (i = 0; i < n; i++) {
		const struct row *r = &rows[i];

		buf_printf(b, "%s{\"slot\":%d,", i ? "," : "", r->slot);
		if (r->pid)
			buf_printf(b, "\"pid\":%ld,\"generation\":%u,"
			    "\"uptime_s\":%.1f,", (long)r->pid, r->generation,
			    r->uptime);
		else
			buf_printf(b, "\"pid\":null,\"generation\":null,"
			    "\"uptime_s\":null,");
		buf_printf(b, "\"state\":\"%s\",\"restarts\":%u,"
		    "\"last_exit\":", r->state, r->restarts);
		buf_json_str(b, r->last_exit);
		buf_printf(b, ",\"rss_bytes\":%llu,\"receiving\":%s}",
		    (unsigned long long)r->rss, r->receiving ? "true" : "false");
	}
	buf_printf(b, "]}\n");
}

static void
do_status(struct control_client *c, bool json)
{
	struct row *rows;
	struct buf b;
	int n;

	memset(&b, 0, sizeof b);
	if ((n = status_rows(&rows)) < 0) {
		client_reply_text(c, EXIT_FAILED, "clusterd: out of memory");
		return;
	}
	if (json)
		status_json(&b, rows, n);
	else
		status_text(&b, rows, n);
	free(rows);
	client_send(c, EXIT_OK, &b);
}

static void
do_scale(struct control_client *c, const struct control_request *req)
{
	char err[256], msg[384];
	const char *arg = req->arg;
	long n = req->scale;
	int r, old = slot_wanted();

	if (cl.phase == PHASE_STOPPING) {
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
do_stop(struct control_client *c)
{
	char why[64], msg[160];

	c->state = CLIENT_WAITING;
	c->wait = WAIT_STOP;
	if (cl.phase == PHASE_STOPPING) {
		/* Join the stop under way; TERM twice is how to kill now. */
		log_info("control: pid %ld: stop (already stopping)",
		    (long)c->pid);
		return;
	}
	snprintf(why, sizeof why, "clusterd stop (pid %ld)", (long)c->pid);
	if (cl.phase == PHASE_STARTING) {
		/* A `start` waiting for readiness hears why it never came. */
		snprintf(msg, sizeof msg, "%s: start interrupted: %s",
		    cl.cfg->name, why);
		daemon_started(EXIT_FAILED, msg);
	}
	cluster_stop(why);
}

/*
 * Decode a request line (SPEC-level protocol in the header comment): pure,
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
	char line[CONTROL_IN_MAX], *cmd, *arg, *end;
	const char *nl;
	size_t n;
	long v;

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
	if (strcmp(cmd, "status") == 0 && arg == NULL)
		req.cmd = CONTROL_STATUS;
	else if (strcmp(cmd, "status") == 0 && strcmp(arg, "json") == 0)
		req.cmd = CONTROL_STATUS_JSON;
	else if (strcmp(cmd, "reload") == 0 && arg == NULL)
		req.cmd = CONTROL_RELOAD;
	else if (strcmp(cmd, "stop") == 0 && arg == NULL)
		req.cmd = CONTROL_STOP;
	else if (strcmp(cmd, "scale") == 0 && arg != NULL) {
		errno = 0;
		v = strtol(arg, &end, 10);
		if (errno || end == arg || *end != '\0' || v < -WORKERS_MAX ||
		    v > WORKERS_MAX || strlen(arg) >= sizeof req.arg) {
			snprintf(msg, msglen, "clusterd: scale: '%.32s' is not "
			    "N, +N or -N", arg);
			return -EDOM;
		}
		req.cmd = CONTROL_SCALE;
		req.scale = (int)v;
		req.relative = arg[0] == '+' || arg[0] == '-';
		memcpy(req.arg, arg, strlen(arg) + 1);
	} else {
		snprintf(msg, msglen, "clusterd: unknown request");
		return -ENOSYS;
	}
	*ret = req;
	return 0;
}

static void
client_request(struct control_client *c, const struct control_request *req)
{
	ev_timer_stop(cl.loop, &c->timer_w);
	switch (req->cmd) {
	case CONTROL_STATUS:
	case CONTROL_STATUS_JSON:
		do_status(c, req->cmd == CONTROL_STATUS_JSON);
		break;
	case CONTROL_SCALE:
		do_scale(c, req);
		break;
	case CONTROL_RELOAD:
		log_notice("control: pid %ld: reload", (long)c->pid);
		c->state = CLIENT_WAITING;
		c->wait = WAIT_RELOAD;
		reload_request(reload_reply, c);	/* may answer at once */
		break;
	case CONTROL_STOP:
		do_stop(c);
		break;
	}
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
	if (cl.nkilled > 0)
		n += snprintf(msg + n, sizeof msg - (size_t)n,
		    ", %d worker%s SIGKILLed", cl.nkilled,
		    cl.nkilled == 1 ? "" : "s");
	n += snprintf(msg + n, sizeof msg - (size_t)n, "\n");
	while ((c = ctl.clients) != NULL) {
		if (c->state == CLIENT_WAITING && c->wait == WAIT_STOP) {
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
/* Client side: the CLI.                                                */

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

/*
 * Send one request, print the answer, return the exit code. `stop` waits
 * for EOF (wait_exit), which comes when the master process is gone. A
 * master that is not running is an error, except for `stop` (SPEC 2).
 */
int
control_command(const char *path, const char *request, bool wait_exit)
{
	struct sockaddr_un sun;
	struct timeval tv = { .tv_sec = CONTROL_CLI_TIMEOUT };
	char buf[8192], line[CONTROL_IN_MAX + 16];
	bool is_stop = strcmp(request, "stop") == 0, got_code = false;
	size_t have = 0;
	ssize_t n;
	FILE *out = stdout;
	int fd, code = EXIT_FAILED, e, send_errno = 0;

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
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		e = errno;
		close(fd);
		switch (e) {
		case ENOENT:
		case ECONNREFUSED:
		case ENOTDIR:
			if (is_stop) {
				printf("clusterd: not running (no master at "
				    "%s): nothing to stop\n", path);
				return EXIT_OK;
			}
			fprintf(stderr, "clusterd: not running (no master at "
			    "%s)\n", path);
			return EXIT_FAILED;
		case EACCES:
		case EPERM:
			fprintf(stderr, "clusterd: %s: permission denied (only "
			    "root and the user the master runs as may use "
			    "its control socket)\n", path);
			return EXIT_SYSTEM;
		default:
			fprintf(stderr, "clusterd: cannot connect to %s: %s\n",
			    path, strerror(e));
			return EXIT_SYSTEM;
		}
	}
	/* status and scale answer at once: do not hang on a stuck master.
	 * reload and stop take as long as they take. */
	if (!wait_exit && strcmp(request, "reload") != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	n = snprintf(line, sizeof line, CONTROL_VERSION " %s\n", request);
	if (n < 0 || (size_t)n >= sizeof line)
		fatalx(EXIT_USAGE, "request too long");
	/* A master that refuses us (uid, too many clients) may answer and
	 * close before we are done sending: read its answer regardless. */
	if (write_all(fd, line, (size_t)n) < 0)
		send_errno = errno;
	for (;;) {
		n = read(fd, buf + have, sizeof buf - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			fprintf(stderr, "clusterd: no answer from the master "
			    "within %ds\n", CONTROL_CLI_TIMEOUT);
			close(fd);
			return EXIT_FAILED;
		}
		if (n == -1 && !got_code && send_errno == 0)
			send_errno = errno;
		if (n <= 0)
			break;
		have += (size_t)n;
		if (!got_code) {
			char *nl = memchr(buf, '\n', have), *end;
			long v;

			if (nl == NULL) {
				if (have == sizeof buf)
					break;
				continue;
			}
			*nl = '\0';
			v = strtol(buf, &end, 10);
			if (end == buf || *end != '\0' || v < 0 || v > 255)
				break;
			code = (int)v;
			got_code = true;
			out = code == EXIT_OK ? stdout : stderr;
			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have);
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
