/*
 * listen.c - the listening sockets. The master binds every [listen] itself
 * before any worker exists and keeps each socket for the cluster's life:
 * per-worker mode has one SO_REUSEPORT socket per slot (its queue survives
 * the slot's crashes and reloads), shared mode and unix: one socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "clusterd.h"

static int	 open_socket(const struct config_listen *, bool reuseport,
		    int *ret_fd);
static int	 open_unix(const struct config_listen *, int *ret_fd);

/*
 * A SO_REUSEPORT bind succeeds when another reuseport socket of the same user
 * holds the port, so a second cluster or an orphan would silently share the
 * traffic. A plain bind (SO_REUSEADDR only, which on Linux never binds over
 * a listener) tells whether anything holds it.
 */
int
listen_test_bind(const struct config_listen *c, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	int fd, one = 1, r = 0;

	if (c->family == AF_UNIX) {
		/* A socket file something still accepts on is in use; a stale
		 * one (ECONNREFUSED) is replaced by listen_open. */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd == -1)
			return -errno;
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof sun.sun_path, "%s", c->path);
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0) {
			snprintf(err, errlen, "%s: address already in use",
			    c->address);
			r = -EADDRINUSE;
		}
		close(fd);
		return r;
	}
	fd = socket(c->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		r = -errno;
		snprintf(err, errlen, "%s: socket: %s", c->address,
		    strerror(errno));
		return r;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (c->family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)&c->addr, c->addrlen) == -1) {
		r = -errno;
		snprintf(err, errlen, "%s: bind: %s", c->address,
		    strerror(errno));
	}
	close(fd);
	return r;
}

static int
open_socket(const struct config_listen *c, bool reuseport, int *ret_fd)
{
	int fd, one = 1, r;

	fd = socket(c->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == -1)
		goto fail;
	if (c->family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)&c->addr, c->addrlen) == -1)
		goto fail;
	if (listen(fd, c->backlog) == -1)
		goto fail;
	*ret_fd = fd;
	return 0;
fail:
	r = -errno;
	close(fd);
	return r;
}

/* Mode and group are set on the path between bind() and listen(): fchmod()
 * on a socket fd does not change the file (traps.md). */
static int
open_unix(const struct config_listen *c, int *ret_fd)
{
	int fd, r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	unlink(c->path);	/* stale: listen_test_bind saw nobody on it */
	if (bind(fd, (const struct sockaddr *)&c->addr, c->addrlen) == -1)
		goto fail;
	if (c->socket_mode >= 0 && chmod(c->path, (mode_t)c->socket_mode) == -1)
		goto fail;
	if (c->has_socket_group && chown(c->path, (uid_t)-1, c->socket_gid) == -1)
		goto fail;
	if (listen(fd, c->backlog) == -1)
		goto fail;
	*ret_fd = fd;
	return 0;
fail:
	r = -errno;
	unlink(c->path);
	close(fd);
	return r;
}

static bool
per_worker(const struct listener *l)
{
	return !l->activated && l->cfg.family != AF_UNIX &&
	    l->cfg.sockets == LISTEN_PER_WORKER;
}

static int
open_slot(struct listener *l, int slot, char *err, size_t errlen)
{
	int r;

	r = l->cfg.family == AF_UNIX ? open_unix(&l->cfg, &l->fds[slot]) :
	    open_socket(&l->cfg, per_worker(l), &l->fds[slot]);
	if (r < 0) {
		snprintf(err, errlen, "%s: bind: %s", l->cfg.address,
		    strerror(-r));
		return r;
	}
	if (per_worker(l))
		steer_joined(l, slot);
	return 0;
}

static void
copy_cfg(struct config_listen *dst, const struct config_listen *src)
{
	*dst = *src;
	dst->address = strdup(src->address);
	dst->path = src->path ? strdup(src->path) : NULL;
}

/* Bind a listener: nslots sockets in per-worker mode, else one. */
int
listen_open(struct listener *l, const struct config_listen *c, int nslots,
    char *err, size_t errlen)
{
	int r;

	memset(l, 0, sizeof *l);
	copy_cfg(&l->cfg, c);
	l->nfds = 0;
	if ((l->fds = malloc(sizeof(int))) == NULL)
		return -ENOMEM;
	l->fds[0] = -1;
	if ((r = open_slot(l, 0, err, errlen)) < 0)
		return r;
	l->nfds = 1;
	return listen_resize(l, nslots, err, errlen);
}

/* Grow to nslots sockets (per-worker). Shrinking is listen_close_slot. */
int
listen_resize(struct listener *l, int nslots, char *err, size_t errlen)
{
	int *fds, i, r;

	if (!per_worker(l) || l->shut || nslots <= l->nfds)
		return 0;
	if ((fds = realloc(l->fds, sizeof(int) * (size_t)nslots)) == NULL)
		return -ENOMEM;
	l->fds = fds;
	for (i = l->nfds; i < nslots; i++) {
		l->fds[i] = -1;
		if ((r = open_slot(l, i, err, errlen)) < 0)
			return r;
		l->nfds = i + 1;
	}
	return 0;
}

/* The slot is gone (scaled down) and no worker holds its socket any more. */
void
listen_close_slot(struct listener *l, int slot)
{
	if (!per_worker(l) || slot >= l->nfds || l->fds[slot] == -1)
		return;
	close(l->fds[slot]);
	l->fds[slot] = -1;
	steer_left(l, slot);
	if (slot == l->nfds - 1)
		l->nfds--;
}

int
listen_slot_fd(const struct listener *l, int slot)
{
	if (!per_worker(l))
		return l->fds[0];
	return slot < l->nfds ? l->fds[slot] : -1;
}

/*
 * A worker shares its slot's socket (same open file), so it can damage it:
 * shutdown() takes it out of listening (and out of the reuseport group),
 * O_NONBLOCK sticks to the open file. Called when no worker holds the slot's
 * socket any more, before the next one starts. Returns 1 if it repaired.
 */
int
listen_repair(struct listener *l, int slot)
{
	int fd = listen_slot_fd(l, slot), on = 0, fl, r = 0, nfd;
	socklen_t len = sizeof on;
	char err[256];

	if (l->activated || l->shut)
		return 0;
	if (fd == -1 && per_worker(l) && slot < l->nfds) {
		if ((r = open_socket(&l->cfg, true, &nfd)) < 0)
			return r;
		l->fds[slot] = nfd;
		steer_joined(l, slot);
		return 1;
	}
	if (fd == -1)
		return 0;
	if ((fl = fcntl(fd, F_GETFL)) != -1 && (fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on)
		return 0;
	/* Not listening: it left the group when it was shut down. */
	if (per_worker(l))
		steer_left(l, slot);
	if (listen(fd, l->cfg.backlog) == 0) {
		if (per_worker(l))
			steer_joined(l, slot);
		return 1;
	}
	/* Beyond repair: a fresh socket takes its place. */
	if (per_worker(l)) {
		if (open_socket(&l->cfg, true, &nfd) < 0)
			return -errno;
		steer_joined(l, slot);
	} else if ((r = (l->cfg.family == AF_UNIX ? open_unix(&l->cfg, &nfd) :
	    open_socket(&l->cfg, false, &nfd))) < 0) {
		snprintf(err, sizeof err, "%s", strerror(-r));
		return r;
	}
	close(fd);
	l->fds[per_worker(l) ? slot : 0] = nfd;
	return 1;
}

void
listen_close(struct listener *l)
{
	int i;

	for (i = 0; i < l->nfds; i++)
		if (l->fds[i] != -1)
			close(l->fds[i]);
	if (l->cfg.family == AF_UNIX && l->cfg.path && !l->activated &&
	    !l->shut)
		unlink(l->cfg.path);
	steer_free(l);
	free(l->fds);
	free(l->cfg.address);
	free(l->cfg.path);
	memset(l, 0, sizeof *l);
}

const char *
listen_describe(const struct listener *l)
{
	return l->cfg.address;
}

static bool
same_address(int fd, const struct config_listen *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return false;
	if (c->family == AF_UNIX)
		return ss.ss_family == AF_UNIX && c->path != NULL &&
		    strcmp(((struct sockaddr_un *)&ss)->sun_path, c->path) == 0;
	return len == c->addrlen && memcmp(&ss, &c->addr, len) == 0;
}

/*
 * Socket activation: use the sockets systemd passes instead of binding,
 * matched to [listen NAME] by FileDescriptorName=, else by address; a
 * single socket and a single [listen] match whatever the name. An activated
 * socket is always used shared (it is one socket, not a reuseport group),
 * and the master never shuts it down. Fills c->lset (allocated, NULL
 * entries) where a socket matches; the caller binds the rest.
 */
int
listen_activated(struct config *c, char *err, size_t errlen)
{
	char **names = NULL;
	struct listener *l;
	bool *used;
	int n, i, j, fd;

	n = sd_listen_fds_with_names(1, &names);
	if (n <= 0)
		return 0;
	if ((used = calloc((size_t)n, sizeof *used)) == NULL)
		return -ENOMEM;
	for (i = 0; i < c->nlistens; i++) {
		struct config_listen *cfg = &c->listens[i];

		fd = -1;
		for (j = 0; j < n && fd == -1; j++)
			if (!used[j] && names && names[j] &&
			    strcmp(names[j], cfg->name) == 0)
				fd = j;
		for (j = 0; j < n && fd == -1; j++)
			if (!used[j] && same_address(SD_LISTEN_FDS_START + j,
			    cfg))
				fd = j;
		if (fd == -1 && n == 1 && c->nlistens == 1)
			fd = 0;
		if (fd == -1 || (l = calloc(1, sizeof *l)) == NULL ||
		    (l->fds = malloc(sizeof(int))) == NULL) {
			if (fd != -1)
				free(l);
			continue;
		}
		used[fd] = true;
		copy_cfg(&l->cfg, cfg);
		l->activated = true;
		l->nfds = 1;
		l->fds[0] = SD_LISTEN_FDS_START + fd;
		fcntl(l->fds[0], F_SETFD, FD_CLOEXEC);
		l->next = cl.all;
		cl.all = l;
		c->lset[i] = l;
		listen_ref(l);
		if (!same_address(l->fds[0], cfg))
			log_warn("[listen %s]: the socket systemd passed is not "
			    "bound to %s; using it anyway", cfg->name,
			    cfg->address);
		log_info("[listen %s]: using socket %d from systemd (shared)",
		    cfg->name, l->fds[0]);
	}
	for (j = 0; j < n; j++) {
		if (!used[j]) {
			log_warn("socket %d from systemd (%s) matches no "
			    "[listen]: closed", SD_LISTEN_FDS_START + j,
			    names && names[j] ? names[j] : "unnamed");
			close(SD_LISTEN_FDS_START + j);
		}
		if (names)
			free(names[j]);
	}
	free(names);
	free(used);
	(void)err;
	(void)errlen;
	return 0;
}

/* A new listener, bound and on cl.all, with no reference yet. The address
 * is test-bound first: a reuseport bind would share a port silently. */
struct listener *
listen_new(const struct config_listen *c, int nslots, char *err,
    size_t errlen)
{
	struct listener *l;

	if (listen_test_bind(c, err, errlen) < 0)
		return NULL;
	if ((l = calloc(1, sizeof *l)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", c->address);
		return NULL;
	}
	if (listen_open(l, c, nslots, err, errlen) < 0) {
		listen_close(l);
		free(l);
		return NULL;
	}
	l->next = cl.all;
	cl.all = l;
	return l;
}

void
listen_ref(struct listener *l)
{
	l->refs++;
}

/* Nobody uses it any more (no configuration, no worker): close it. */
void
listen_unref(struct listener *l)
{
	struct listener **pp;

	if (--l->refs > 0)
		return;
	for (pp = &cl.all; *pp != NULL; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	if (!l->shut)
		log_info("%s: closed (no worker uses it any more)",
		    l->cfg.address);
	listen_close(l);
	free(l);
}

/* Stop: the master's copies go at once (SPEC 6), the struct stays until
 * the last worker that was given it is reaped. */
void
listen_shut(struct listener *l)
{
	int i;

	if (l->shut)
		return;
	steer_reset(l);
	for (i = 0; i < l->nfds; i++)
		if (l->fds[i] != -1) {
			close(l->fds[i]);
			l->fds[i] = -1;
		}
	if (l->cfg.family == AF_UNIX && l->cfg.path && !l->activated)
		unlink(l->cfg.path);
	l->shut = true;
}

/* Is this listener what the config asks for (same socket, maybe other
 * backlog, name or mode)? Activated ones match by name. */
bool
listen_same(const struct listener *l, const struct config_listen *c)
{
	if (l->shut)
		return false;
	if (l->activated)
		return strcmp(l->cfg.name, c->name) == 0;
	return l->cfg.family == c->family && l->cfg.addrlen == c->addrlen &&
	    memcmp(&l->cfg.addr, &c->addr, c->addrlen) == 0;
}

/* A reload kept the socket: apply what may change on a bound socket. */
void
listen_update(struct listener *l, const struct config_listen *c)
{
	int i;

	if (!l->activated && c->backlog != l->cfg.backlog)
		for (i = 0; i < l->nfds; i++)
			if (l->fds[i] != -1)
				listen(l->fds[i], c->backlog);
	if (c->family == AF_UNIX && !l->activated) {
		if (c->socket_mode >= 0)
			chmod(c->path, (mode_t)c->socket_mode);
		if (c->has_socket_group)
			chown(c->path, (uid_t)-1, c->socket_gid);
	}
	snprintf(l->cfg.name, sizeof l->cfg.name, "%s", c->name);
	l->cfg.backlog = c->backlog;
	l->cfg.socket_mode = c->socket_mode;
	l->cfg.socket_gid = c->socket_gid;
	l->cfg.has_socket_group = c->has_socket_group;
	l->cfg.line = c->line;
}

/* Connections waiting in a listener's accept queue (TCP_INFO of a listening
 * socket reports the queue length in tcpi_unacked), or -1. */
int
listen_queued(const struct listener *l, int slot)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	int fd = listen_slot_fd(l, slot);

	if (fd == -1 || !per_worker(l) || l->shut ||
	    getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1)
		return -1;
	return (int)ti.tcpi_unacked;
}

/*
 * A slot going into a long backoff leaves the connections already queued on
 * its socket waiting for a worker that may not come for seconds. Steering
 * sends no new ones there; these are moved off by replacing the socket: a
 * fresh one joins the group, the old one is closed. With the kernel's
 * net.ipv4.tcp_migrate_req = 1 the queued connections migrate to the other
 * members; with 0 (the default) they are reset, which a client sees at once
 * instead of after the backoff. Only when no process but the master holds
 * the old socket. Returns how many were queued, or -errno.
 */
int
listen_requeue(struct listener *l, int slot)
{
	int queued, nfd, r;

	if (!per_worker(l) || l->shut ||
	    (queued = listen_queued(l, slot)) <= 0)
		return 0;
	/* Close first: migration hashes over the members that remain, and a
	 * new socket would take the old one's index and get them all back. */
	close(l->fds[slot]);
	l->fds[slot] = -1;
	steer_left(l, slot);
	if ((r = open_socket(&l->cfg, true, &nfd)) < 0)
		return r;	/* listen_repair tries again before a spawn */
	l->fds[slot] = nfd;
	steer_joined(l, slot);
	return queued;
}

/* net.ipv4.tcp_migrate_req of this network namespace: 1, 0, or -1. */
int
listen_migrate_req(void)
{
	char c = 0;
	int fd = open("/proc/sys/net/ipv4/tcp_migrate_req", O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		return -1;
	if (read(fd, &c, 1) != 1)
		c = 0;
	close(fd);
	return c == '1' ? 1 : c == '0' ? 0 : -1;
}
