/*
 * admin.c - the admin endpoint: a read-only HTTP/1.1 listener of the
 * master for probes and Prometheus (/livez, /readyz, /status, /metrics).
 * libmicrohttpd runs inside the master's libev loop, without a thread of
 * its own: an ev_io on its epoll fd, an ev_timer on its next timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "clusterd.h"

/* What the endpoint allows a client (clusterd.8 ADMIN ENDPOINT). */
#define ADMIN_CONNECTIONS_MAX	64
#define ADMIN_REQUEST_TIMEOUT	5	/* s to send a whole request */
/* Per connection: the request head (at most ADMIN_HEAD_MAX, larger gets
 * 431), its parsed headers and the response head share this pool; a head
 * too large for it gets 431 from libmicrohttpd before it is parsed. */
#define ADMIN_HEAD_MAX		8192
#define ADMIN_MEMORY		(2 * ADMIN_HEAD_MAX + 8192)

/* A client connection: how long it may still take to send its request. */
struct admin_conn {
	int			 fd;
	bool			 waiting;	/* for a whole request head */
	ev_tstamp		 deadline;
	struct admin_conn	*next;
};

static struct {
	struct MHD_Daemon	*d;
	int			 fd;		/* our listening socket */
	char			*path;		/* unix: ours to unlink */
	ev_io			 io_w;		/* MHD's epoll fd */
	ev_timer		 tm_w;		/* MHD's next timeout */
	struct MHD_Response	*r404, *r405, *r431;
	struct admin_conn	*conns;
	int			 nconns;
	ev_timer		 dl_w;		/* the next request deadline */
} adm = { .fd = -1 };

static void	 admin_run(void);

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	admin_run();
}

static void
tm_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	admin_run();
}

/* Let MHD do what is due, then wait for its fds or its next timeout; no
 * timer at all while it has nothing timed (no connection). */
static void
admin_run(void)
{
	MHD_UNSIGNED_LONG_LONG ms;

	MHD_run(adm.d);
	ev_timer_stop(cl.loop, &adm.tm_w);
	if (MHD_get_timeout(adm.d, &ms) == MHD_YES) {
		ev_timer_set(&adm.tm_w, (double)ms / 1000., 0.);
		ev_timer_start(cl.loop, &adm.tm_w);
	}
}

/* libmicrohttpd's timeout is an idle one: a client that sends a byte now
 * and then would keep its connection for ever. The request deadline is
 * ours: the socket of a client still sending its request head after
 * ADMIN_REQUEST_TIMEOUT is shut down, and MHD closes it. The timer only
 * runs while there are connections. */
static void
deadline_arm(void)
{
	struct admin_conn *a;
	ev_tstamp next = 0;

	for (a = adm.conns; a != NULL; a = a->next)
		if (a->waiting && (next == 0 || a->deadline < next))
			next = a->deadline;
	ev_timer_stop(cl.loop, &adm.dl_w);
	if (next > 0) {
		ev_timer_set(&adm.dl_w, next - ev_now(cl.loop) + 0.001, 0.);
		ev_timer_start(cl.loop, &adm.dl_w);
	}
}

static void
dl_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct admin_conn *a;

	for (a = adm.conns; a != NULL; a = a->next)
		if (a->waiting && a->deadline <= ev_now(loop)) {
			a->waiting = false;
			shutdown(a->fd, SHUT_RDWR);
		}
	admin_run();
	deadline_arm();
}

static void
waiting(struct admin_conn *a)
{
	a->waiting = true;
	a->deadline = ev_now(cl.loop) + ADMIN_REQUEST_TIMEOUT;
	deadline_arm();
}

static void
notify_conn(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo *info;
	struct admin_conn *a, **pp;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		info = MHD_get_connection_info(c,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		if (info == NULL || (a = calloc(1, sizeof *a)) == NULL)
			return;
		a->fd = info->connect_fd;
		a->next = adm.conns;
		adm.conns = a;
		adm.nconns++;
		*socket_context = a;
		waiting(a);
		return;
	}
	if ((a = *socket_context) == NULL)
		return;
	for (pp = &adm.conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			adm.nconns--;
			break;
		}
	free(a);
	*socket_context = NULL;
	deadline_arm();
}

/* At ADMIN_CONNECTIONS_MAX a new connection is closed at once. (MHD's own
 * limit, set above ours, would stop accepting instead: the backlog would
 * fill and clients hang in connect.) */
static enum MHD_Result
accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	return adm.nconns < ADMIN_CONNECTIONS_MAX ? MHD_YES : MHD_NO;
}

/* A request answered: the next one on this connection gets its own
 * ADMIN_REQUEST_TIMEOUT. */
static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	const union MHD_ConnectionInfo *info;

	info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (info != NULL && info->socket_context != NULL)
		waiting(info->socket_context);
	*con_cls = NULL;
}

static void
mhd_log(void *arg, const char *fmt, va_list ap)
{
	char msg[256];

	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("admin: %s", msg);
}

/* ------------------------------------------------------------------ */
/* The answers.                                                        */

/* /readyz: started, not stopping, and ready_min workers ready (N%
 * of the wanted ones rounded up, never more than are wanted). */
static int
readyz(char *buf, size_t len)
{
	int ready = slot_ready_count(), wanted = slot_wanted(), need;

	need = count_of(&cl.cfg->ready_min, wanted);
	if (need > wanted)
		need = wanted;
	if (need < 1)
		need = 1;
	switch (cl.phase) {
	case PHASE_STARTING:
		snprintf(buf, len, "starting\n");
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	case PHASE_LAME_DUCK:
	case PHASE_STOPPING:
		snprintf(buf, len, "stopping\n");
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	case PHASE_RUNNING:
		break;
	}
	snprintf(buf, len, "ready %d/%d\n", ready, wanted);
	return ready >= need ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
}

static enum MHD_Result
answer(struct MHD_Connection *c, unsigned code, char *body, size_t len,
    const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	static const char text[] = "text/plain; charset=utf-8";
	struct buf b = { 0 };
	char small[64], *body;
	FILE *f;
	static int seen;
	size_t len = 0;
	int code;

	const union MHD_ConnectionInfo *info;

	/* A whole head came: no deadline while it is answered. Over
	 * ADMIN_HEAD_MAX: 431, answered at once, which closes. */
	if (*con_cls == NULL) {
		info = MHD_get_connection_info(c,
		    MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		if (info != NULL && info->socket_context != NULL)
			((struct admin_conn *)info->socket_context)->waiting =
			    false;
		info = MHD_get_connection_info(c,
		    MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
		if (info != NULL && info->header_size > ADMIN_HEAD_MAX)
			return MHD_queue_response(c,
			    MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
			    adm.r431);
	}
	/* Another method is refused at once, its body unread (and the
	 * connection closed). */
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED,
		    adm.r405);
	/* The first call only says that a request head arrived: a response
	 * queued then makes libmicrohttpd close the connection. */
	if (*con_cls == NULL) {
		*con_cls = &seen;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0;	/* a GET with a body: ignored */
		return MHD_YES;
	}
	if (strcmp(url, "/livez") == 0) {
		if ((body = strdup("ok\n")) == NULL)
			return MHD_NO;
		return answer(c, MHD_HTTP_OK, body, 3, text);
	}
	if (strcmp(url, "/readyz") == 0) {
		code = readyz(small, sizeof small);
		if ((body = strdup(small)) == NULL)
			return MHD_NO;
		return answer(c, (unsigned)code, body, strlen(body), text);
	}
	if (strcmp(url, "/status") == 0) {
		if (status_render(&b, true, false) < 0 || b.overflow) {
			buf_free(&b);
			return MHD_NO;
		}
		return answer(c, MHD_HTTP_OK, b.data, b.len,
		    "application/json");
	}
	if (strcmp(url, "/metrics") == 0) {
		body = NULL;
		if ((f = open_memstream(&body, &len)) == NULL)
			return MHD_NO;
		code = metrics_render(f);
		if (fclose(f) != 0 || code < 0) {
			free(body);
			return MHD_NO;
		}
		return answer(c, MHD_HTTP_OK, body, len,
		    "text/plain; version=0.0.4; charset=utf-8");
	}
	return MHD_queue_response(c, MHD_HTTP_NOT_FOUND, adm.r404);
}

/* ------------------------------------------------------------------ */
/* The socket.                                                         */

/* A unix: path: only a stale socket is replaced (as for the control
 * socket), and the umask makes it 0600 at bind, with no chmod by path. */
static int
bind_unix(const struct config_listen *a, int fd, char *err, size_t errlen)
{
	mode_t old;
	int r;

	if ((r = listen_probe_path(a->path)) < 0) {
		listen_strerror("admin", a->path, r, err, errlen);
		return r;
	}
	if (r == 1 && unlink(a->path) == 0)
		log_info("admin %s: removed a stale socket", a->address);
	old = umask(0177);
	r = bind(fd, (const struct sockaddr *)&a->addr, a->addrlen);
	umask(old);
	if (r == -1) {
		r = -errno;
		listen_strerror("admin", a->address, r, err, errlen);
		return r;
	}
	if ((adm.path = strdup(a->path)) == NULL) {
		unlink(a->path);
		snprintf(err, errlen, "admin %s: out of memory", a->address);
		return -ENOMEM;
	}
	return 0;
}

static int
bind_admin(const struct config_listen *a, char *err, size_t errlen)
{
	int fd, one = 1, r;

	fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		r = -errno;
		snprintf(err, errlen, "admin %s: socket: %s", a->address,
		    strerror(errno));
		return r;
	}
	if (a->family == AF_UNIX) {
		if ((r = bind_unix(a, fd, err, errlen)) < 0) {
			close(fd);
			return r;
		}
	} else {
		/* SO_REUSEADDR only: on Linux it never binds over a
		 * listener, so a port in use is refused. */
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (a->family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			    sizeof one);
		if (bind(fd, (const struct sockaddr *)&a->addr,
		    a->addrlen) == -1) {
			r = -errno;
			snprintf(err, errlen, "admin %s: bind: %s",
			    a->address, strerror(errno));
			close(fd);
			return r;
		}
	}
	if (listen(fd, a->backlog) == -1) {
		r = -errno;
		snprintf(err, errlen, "admin %s: listen: %s", a->address,
		    strerror(errno));
		close(fd);
		admin_close();
		return r;
	}
	adm.fd = fd;
	return 0;
}

static struct MHD_Response *
fixed(const char *text, const char *allow)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text,
	    MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return NULL;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/plain; charset=utf-8");
	if (allow != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	return r;
}

/* Bind c->admin (if set) and serve it from the loop: 0, or -errno with
 * err naming the address. */
static int	 admin_serve(const char *address, char *err, size_t errlen);

int
admin_listen(const struct config *c, char *err, size_t errlen)
{
	int r;

	if (c->admin == NULL)
		return 0;
	if ((r = bind_admin(&c->admin_listen, err, errlen)) < 0)
		return r;
	return admin_serve(c->admin_listen.address, err, errlen);
}

/* libmicrohttpd on adm.fd, bound already (at start, or by the image
 * before an upgrade). */
static int
admin_serve(const char *address, char *err, size_t errlen)
{
	const union MHD_DaemonInfo *info;

	adm.r404 = fixed("not found\n", NULL);
	adm.r405 = fixed("method not allowed\n", "GET, HEAD");
	adm.r431 = fixed("request header too large\n", NULL);
	/* No MHD_USE_INTERNAL_POLLING_THREAD: MHD only runs when we call
	 * MHD_run, from the loop; the master stays single-threaded. */
	adm.d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0,
	    accept_policy, NULL, handler, NULL,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)adm.fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)(2 * ADMIN_CONNECTIONS_MAX),
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)ADMIN_REQUEST_TIMEOUT,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)ADMIN_MEMORY,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, notify_conn, NULL,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
	    MHD_OPTION_END);
	if (adm.d == NULL || adm.r404 == NULL || adm.r405 == NULL ||
	    adm.r431 == NULL ||
	    (info = MHD_get_daemon_info(adm.d,
	    MHD_DAEMON_INFO_EPOLL_FD)) == NULL) {
		snprintf(err, errlen, "admin %s: cannot start the HTTP "
		    "server", address);
		admin_close();
		return -EIO;
	}
	ev_io_init(&adm.io_w, io_cb, info->epoll_fd, EV_READ);
	ev_io_start(cl.loop, &adm.io_w);
	ev_timer_init(&adm.tm_w, tm_cb, 0., 0.);
	ev_timer_init(&adm.dl_w, dl_cb, 0., 0.);
	log_info("admin: serving on %s", address);
	return 0;
}

/* Across an upgrade: the listening socket (its unix: file stays); the
 * connections of the old image end with it (clients reconnect). */
void
admin_dump(struct ustate *st)
{
	upgrade_put_fd(st, adm.d != NULL ? adm.fd : -1);
	upgrade_put_str(st, adm.path);
}

int
admin_restore(struct ustate *st)
{
	char err[256];

	adm.fd = upgrade_get_fd(st);
	adm.path = upgrade_get_str(st);
	if (upgrade_get_failed(st))
		return -EBADMSG;
	if (adm.fd == -1 || cl.cfg->admin == NULL)
		return 0;
	if (admin_serve(cl.cfg->admin_listen.address, err, sizeof err) < 0) {
		log_err("upgrade: %s", err);
		return -EIO;
	}
	return 0;
}

void
admin_close(void)
{
	if (adm.d != NULL) {
		ev_io_stop(cl.loop, &adm.io_w);
		ev_timer_stop(cl.loop, &adm.tm_w);
		ev_timer_stop(cl.loop, &adm.dl_w);
		MHD_stop_daemon(adm.d);	/* closes the listening socket */
		adm.d = NULL;
		adm.fd = -1;
	}
	if (adm.r404 != NULL)
		MHD_destroy_response(adm.r404);
	if (adm.r405 != NULL)
		MHD_destroy_response(adm.r405);
	if (adm.r431 != NULL)
		MHD_destroy_response(adm.r431);
	adm.r404 = adm.r405 = adm.r431 = NULL;
	if (adm.fd != -1) {
		close(adm.fd);
		adm.fd = -1;
	}
	if (adm.path != NULL) {
		unlink(adm.path);
		free(adm.path);
		adm.path = NULL;
	}
}
