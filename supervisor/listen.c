/*
 * listen.c - the listening sockets. The master binds every [listen] itself
 * before any worker exists and keeps each socket for the cluster's life:
 * per-worker mode has one SO_REUSEPORT socket per slot (its queue survives
 * the slot's crashes and reloads), shared mode and unix: one socket. It
 * checks and repairs what workers do to them, and never changes a unix:
 * file by its path (a worker may be able to write its directory).
 *
 * A master that replaces another takes its sockets over instead of binding
 * (listen_adopt): handed over by `clusterd restart` (control.c, client.c),
 * or kept for it by systemd's file-descriptor store, where every socket is
 * stored as it is opened and removed as it is closed (store_*). Either way
 * a socket is named "clusterd-LISTENER-SLOT" (per-worker) or
 * "clusterd-LISTENER-shared", and "clusterd-state" is a memfd with what
 * the names cannot say: the kernel's order of each reuseport group (steering
 * names members by it) and a unix: file's inode.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "clusterd.h"

static void	 listen_close(struct listener *);

static int	 listen_open(struct listener *, const struct config_listen *,
	    int nslots, char *err, size_t errlen);

/* Linux 6.6; Debian 12's headers predate it. */
#if !defined(SYS_fchmodat2) && (defined(__x86_64__) || defined(__aarch64__))
#define SYS_fchmodat2	452
#endif

static int	 bind_listen(int fd, const struct config_listen *, int *ret_fd);
static int	 open_socket(const struct config_listen *, bool reuseport,
		    int *ret_fd);
static int	 open_path(const char *path, uid_t owner, struct stat *ret_st);
static int	 open_unix(struct listener *, int *ret_fd);
static int	 chmod_fd(int pfd, mode_t);
static int	 set_mode(struct listener *, const struct config_listen *);
static void	 unlink_ours(const struct listener *);
static int	 reopen_slot(struct listener *, int slot);
static int	 open_slot(struct listener *, int slot, char *err, size_t);
static bool	 listening(int fd);
static int	 replace_socket(struct listener *, int slot);
static void	 store_fd(const struct listener *, int slot);
static void	 store_remove(const struct listener *, int slot);
static void	 store_state(void);
static void	 store_init(void);
static int	 inherit_add(int fd, const char *name);
static char	*read_state(int fd);

#define STORE_PREFIX	"clusterd-"
#define STORE_STATE	"clusterd-state"
#define STATE_MAX	(1024 * 1024)

/* systemd's fd store: on under a service manager whose unit allows it. */
static struct {
	bool	 on;
	bool	 full_logged;
	int	 max;		/* $FDSTORE, -1: not said (systemd < 254) */
	int	 n;		/* sockets stored, the state memfd included */
	int	 state_fd;	/* "clusterd-state", -1: none */
} store = { .max = -1, .state_fd = -1 };

/* Sockets the master before us left, until listen_adopt has placed them. */
static struct {
	int	*fds;
	char   **names;
	bool	*taken;
	int	 n;
	char	*state;		/* "group ..." and "file ..." lines */
} inh;

/* A restart took our sockets: the unix: files stay for the new master. */
static bool	 handed;


/*
 * A SO_REUSEPORT bind succeeds when another reuseport socket of the same user
 * holds the port, so a second cluster or an orphan would silently share the
 * traffic. A plain bind (SO_REUSEADDR only, which on Linux never binds over
 * a listener) tells whether anything holds it.
 */
int
listen_test_bind(const struct config_listen *c, char *err, size_t errlen)
{
	int fd, one = 1, r = 0;

	if (c->family == AF_UNIX) {
		/* A stale socket is replaced by listen_open; anything else
		 * at the path is refused. */
		if ((r = listen_probe_path(c->path)) < 0)
			listen_strerror(c->address, c->path, r, err, errlen);
		return r < 0 ? r : 0;
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

/*
 * What sits at a unix: or control path: 0 nothing, 1 a stale socket (a
 * socket file nobody accepts on, left by a master that died: the caller
 * may replace it), -EADDRINUSE a socket something accepts on, -ENOTSOCK
 * anything else, or -errno. Only a stale socket is ever replaced: a
 * regular file there is a mistake (`control = app.conf`) and deleting it
 * would lose the file. lstat: a symlink is not a socket whatever it points
 * to. The probe does not block: a full backlog answers EAGAIN (in use).
 */
int
listen_probe_path(const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	size_t len = strlen(path);
	int fd, r;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	if (len >= sizeof sun.sun_path)
		return -ENAMETOOLONG;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0 ||
	    errno == EAGAIN)
		r = -EADDRINUSE;
	else
		r = errno == ECONNREFUSED ? 1 : -errno;
	close(fd);
	return r;
}

/* The message for what listen_probe_path (or a bind) answered. */
void
listen_strerror(const char *what, const char *path, int r, char *err,
    size_t errlen)
{
	if (r == -ENOTSOCK && path != NULL && strstr(what, path) != NULL)
		snprintf(err, errlen, "%s: exists and is not a socket; "
		    "not replacing it", what);
	else if (r == -ENOTSOCK)
		snprintf(err, errlen, "%s: %s exists and is not a socket; "
		    "not replacing it", what, path);
	else if (r == -EADDRINUSE)
		snprintf(err, errlen, "%s: address already in use", what);
	else if (path != NULL)
		snprintf(err, errlen, "%s: %s: %s", what, path, strerror(-r));
	else
		snprintf(err, errlen, "%s: %s", what, strerror(-r));
}

/* Every bind ends so: bind, listen, hand over or close. A unix: file gets
 * its mode from the umask at creation: no chmod() by path, no window. */
static int
bind_listen(int fd, const struct config_listen *c, int *ret_fd)
{
	bool mode = c->family == AF_UNIX && c->socket_mode >= 0;
	mode_t old = 0;
	int r = 0;

	if (mode)
		old = umask(~(mode_t)c->socket_mode & 0777);
	if (bind(fd, (const struct sockaddr *)&c->addr, c->addrlen) == -1)
		r = -errno;
	if (mode)
		umask(old);
	if (r == 0 && listen(fd, c->backlog) == -1) {
		r = -errno;
		if (c->family == AF_UNIX)
			unlink(c->path);	/* just made: ours */
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
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
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == -1) {
		r = -errno;
		close(fd);
		return r;
	}
	if (c->family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	return bind_listen(fd, c, ret_fd);
}

/*
 * The socket file that bind() just made, without following a path a worker
 * may have changed since: an O_PATH descriptor of what is there now, if it
 * is a socket (O_NOFOLLOW: a symlink is not), ours, with one link (a hard
 * link to someone else's socket is owned by them or has two). -ESTALE for
 * anything else.
 */
static int
open_path(const char *path, uid_t owner, struct stat *ret_st)
{
	struct stat st;
	int fd, r;

	if ((fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -errno;
	if (fstat(fd, &st) == -1) {
		r = -errno;
		close(fd);
		return r;
	}
	if (!S_ISSOCK(st.st_mode) || st.st_uid != owner || st.st_nlink != 1) {
		close(fd);
		return -ESTALE;
	}
	*ret_st = st;
	return fd;
}

/*
 * Mode from the umask at bind() (bind_listen); the group through an O_PATH
 * descriptor checked by open_path, never chown() by path: a worker that can
 * write the socket's directory could put a symlink to any file there. The
 * inode is kept so that a reload changes this file or nothing (set_mode).
 */
static int
open_unix(struct listener *l, int *ret_fd)
{
	const struct config_listen *c = &l->cfg;
	struct stat st;
	int fd, pfd, r;

	if ((r = listen_probe_path(c->path)) < 0)
		return r;
	if (r == 1 && unlink(c->path) == -1 && errno != ENOENT)
		return -errno;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -errno;
	if ((r = bind_listen(fd, c, &fd)) < 0)
		return r;
	if ((pfd = open_path(c->path, geteuid(), &st)) < 0) {
		close(fd);		/* the file there is not ours: keep it */
		return pfd;
	}
	if (c->has_socket_group &&
	    fchownat(pfd, "", (uid_t)-1, c->socket_gid, AT_EMPTY_PATH) == -1) {
		r = -errno;
		unlink(c->path);
		close(pfd);
		close(fd);
		return r;
	}
	close(pfd);
	l->sock_dev = st.st_dev;
	l->sock_ino = st.st_ino;
	*ret_fd = fd;
	return 0;
}

/* chmod of an O_PATH descriptor: fchmodat2(AT_EMPTY_PATH) since Linux 6.6
 * (glibc's fchmodat refuses the flag), else its /proc/self/fd link, which
 * resolves to the inode, not to the path. */
static int
chmod_fd(int pfd, mode_t mode)
{
	char proc[32];

#ifdef SYS_fchmodat2
	if (syscall(SYS_fchmodat2, pfd, "", mode, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != ENOSYS && errno != EINVAL)
		return -errno;
#endif
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
	return chmod(proc, mode) == -1 ? -errno : 0;
}

/* A reload's socket_mode and socket_group, on the file open_unix made:
 * -ESTALE when something else is at the path now (nothing is changed). */
static int
set_mode(struct listener *l, const struct config_listen *c)
{
	struct stat st;
	int pfd, r = 0;

	if (c->socket_mode < 0 && !c->has_socket_group)
		return 0;
	if ((pfd = open_path(l->cfg.path, geteuid(), &st)) < 0)
		return pfd;
	if (st.st_dev != l->sock_dev || st.st_ino != l->sock_ino)
		r = -ESTALE;
	if (r == 0 && c->socket_mode >= 0)
		r = chmod_fd(pfd, (mode_t)c->socket_mode);
	if (r == 0 && c->has_socket_group &&
	    fchownat(pfd, "", (uid_t)-1, c->socket_gid, AT_EMPTY_PATH) == -1)
		r = -errno;
	close(pfd);
	return r;
}

/* Our unix: file, if it still is at its path: never a file a worker put
 * there instead. */
static void
unlink_ours(const struct listener *l)
{
	struct stat st;

	if (l->cfg.family != AF_UNIX || l->cfg.path == NULL || l->activated ||
	    l->sock_ino == 0)
		return;
	if (lstat(l->cfg.path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == l->sock_dev && st.st_ino == l->sock_ino)
		unlink(l->cfg.path);
}

/* A per-worker slot's socket where it has none (growing fds[] up to slot):
 * 1 if it opened one, 0 if there was one. */
static int
reopen_slot(struct listener *l, int slot)
{
	int *fds, i, fd, r;

	if (slot >= l->nfds) {
		fds = realloc(l->fds, sizeof(int) * (size_t)(slot + 1));
		if (fds == NULL)
			return -ENOMEM;
		l->fds = fds;
		for (i = l->nfds; i <= slot; i++)
			l->fds[i] = -1;
		l->nfds = slot + 1;
	}
	if (l->fds[slot] != -1)
		return 0;
	if ((r = open_socket(&l->cfg, true, &fd)) < 0)
		return r;
	l->fds[slot] = fd;
	steer_joined(l, slot);
	store_fd(l, slot);
	return 1;
}

static int
open_slot(struct listener *l, int slot, char *err, size_t errlen)
{
	int r = 0, fd;

	if (listen_per_worker(l))
		r = reopen_slot(l, slot);
	else if (l->fds[0] == -1) {
		r = l->cfg.family == AF_UNIX ? open_unix(l, &fd) :
		    open_socket(&l->cfg, false, &fd);
		if (r == 0) {
			l->fds[0] = fd;
			store_fd(l, 0);
		}
	}
	if (r == -ENOTSOCK || r == -EADDRINUSE)
		listen_strerror(l->cfg.address, l->cfg.path, r, err, errlen);
	else if (r < 0)
		snprintf(err, errlen, "%s: bind: %s", l->cfg.address,
		    strerror(-r));
	return r < 0 ? r : 0;
}

static void
copy_cfg(struct config_listen *dst, const struct config_listen *src)
{
	*dst = *src;
	dst->address = strdup(src->address);
	dst->path = src->path ? strdup(src->path) : NULL;
}

/* Bind a listener: nslots sockets in per-worker mode, else one. */
static int
listen_open(struct listener *l, const struct config_listen *c, int nslots,
    char *err, size_t errlen)
{
	int r;

	memset(l, 0, sizeof *l);
	copy_cfg(&l->cfg, c);
	if ((l->fds = malloc(sizeof(int))) == NULL)
		return -ENOMEM;
	l->fds[0] = -1;
	l->nfds = 1;
	if ((r = open_slot(l, 0, err, errlen)) < 0)
		return r;
	return listen_resize(l, nslots, err, errlen);
}

/*
 * A per-worker listener has a socket for every slot below nslots: the
 * missing ones are opened, holes a scale-down left below a slot that was
 * still draining included. Shrinking is listen_close_slot.
 */
int
listen_resize(struct listener *l, int nslots, char *err, size_t errlen)
{
	int i, r;

	if (!listen_per_worker(l) || l->shut)
		return 0;
	for (i = 0; i < nslots; i++)
		if ((r = open_slot(l, i, err, errlen)) < 0)
			return r;
	return 0;
}

/* The slot is gone (scaled down) and no worker holds its socket any more. */
void
listen_close_slot(struct listener *l, int slot)
{
	if (!listen_per_worker(l) || slot >= l->nfds || l->fds[slot] == -1)
		return;
	store_remove(l, slot);
	close(l->fds[slot]);
	l->fds[slot] = -1;
	steer_left(l, slot);
	store_state();
	while (l->nfds > 1 && l->fds[l->nfds - 1] == -1)
		l->nfds--;
	control_slots_changed();
}

bool
listen_slots_from(int n)
{
	struct listener *l;
	int i, k;

	for (i = 0; cl.cfg != NULL && i < cl.cfg->nlset; i++) {
		l = cl.cfg->lset[i];
		if (l == NULL || !listen_per_worker(l) || l->shut)
			continue;
		for (k = n; k < l->nfds; k++)
			if (l->fds[k] != -1)
				return true;
	}
	return false;
}

/*
 * The socket the slot's worker gets. -1 only when the listener has none
 * for it: shut at stop, a slot beyond listen_resize's count, or a reopen
 * that failed (listen_resize and listen_check said why). A worker must not
 * be started with -1: it would have no fd 3.
 */
int
listen_slot_fd(const struct listener *l, int slot)
{
	if (!listen_per_worker(l))
		return l->fds[0];
	return slot < l->nfds ? l->fds[slot] : -1;
}

/* Accepting connections: SO_ACCEPTCONN, and not shut down (a unix socket
 * keeps SO_ACCEPTCONN after shutdown() but refuses; poll shows RDHUP). */
static bool
listening(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
	socklen_t len;
	int on = 0;

	len = sizeof on;
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == -1 || !on)
		return false;
	return poll(&p, 1, 0) <= 0 ||
	    !(p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Beyond repair: a fresh socket takes the slot's place for the workers to
 * come (those that hold the old one keep it). */
static int
replace_socket(struct listener *l, int slot)
{
	bool pw = listen_per_worker(l);
	int k = pw ? slot : 0, old = l->fds[k], fd, r;

	if (pw)
		r = open_socket(&l->cfg, true, &fd);
	else
		r = l->cfg.family == AF_UNIX ? open_unix(l, &fd) :
		    open_socket(&l->cfg, false, &fd);
	if (r < 0)
		return r;
	if (old != -1) {
		store_remove(l, slot);
		close(old);
	}
	l->fds[k] = fd;
	if (pw)
		steer_joined(l, slot);
	store_fd(l, slot);
	return 2;
}

/*
 * A worker shares its slot's socket (the same open file) and can take it
 * out of listening: shutdown() (which also drops it from the reuseport
 * group). Called whenever a worker of the slot exits, whoever else holds
 * the socket: listen() again restores it for every holder at once, and no
 * file status flag is touched (other workers share them). A unix socket
 * stays dead after shutdown() and an activated one cannot be bound again:
 * the first gets a fresh socket for the workers to come, the second is
 * -ENOTCONN. Returns 0 if there was nothing to do, 1 if it listens again
 * for every holder, 2 if a fresh socket replaced it (the workers that hold
 * the old one still have a dead socket: only a restart helps them).
 */
int
listen_check(struct listener *l, int slot)
{
	bool pw = listen_per_worker(l);
	int fd;

	/* A per-worker slot without a socket is closed (scaled away) or
	 * reopened by listen_resize and listen_repair, which know it is
	 * wanted: a socket nobody accepts on would only collect connections. */
	if (l->shut || (pw && listen_slot_fd(l, slot) == -1))
		return 0;
	if ((fd = listen_slot_fd(l, slot)) != -1 && listening(fd))
		return 0;
	if (fd != -1 && pw)
		steer_left(l, slot);
	if (fd != -1 && l->cfg.family != AF_UNIX &&
	    listen(fd, l->cfg.backlog) == 0 && listening(fd)) {
		if (pw)
			steer_joined(l, slot);
		store_state();
		return 1;
	}
	if (l->activated)
		return fd == -1 ? 0 : -ENOTCONN;
	return replace_socket(l, slot);
}

/*
 * Before a slot's next worker starts, when no process but the master holds
 * the slot's socket: listen_check, and a per-worker socket goes back to
 * blocking (O_NONBLOCK belongs to the open file; the last worker may have
 * set it). A socket other workers share (sockets = shared, unix:,
 * activated) keeps its flags: they are its workers', and an event loop
 * whose O_NONBLOCK the master cleared would block in accept() for the
 * whole backoff. Returns what listen_check returns.
 */
int
listen_repair(struct listener *l, int slot)
{
	int fd, fl;

	if (!listen_per_worker(l) || l->shut)
		return listen_check(l, slot);
	if (slot < l->nfds && l->fds[slot] == -1)
		return reopen_slot(l, slot);	/* listen_requeue's failed */
	if ((fd = listen_slot_fd(l, slot)) == -1)
		return 0;
	if ((fl = fcntl(fd, F_GETFL)) != -1 && (fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return listen_check(l, slot);
}

static void
listen_close(struct listener *l)
{
	int i;

	for (i = 0; i < l->nfds; i++)
		if (l->fds[i] != -1) {
			if (!l->shut)
				store_remove(l, i);
			close(l->fds[i]);
		}
	if (!l->shut && !handed)
		unlink_ours(l);
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
	int n, i, j, fd, ours = 0;

	store_init();
	n = sd_listen_fds_with_names(1, &names);
	if (n <= 0)
		return 0;
	if ((used = calloc((size_t)n, sizeof *used)) == NULL)
		return -ENOMEM;
	/* Our own, from the fd store, are taken over by listen_adopt. */
	for (j = 0; j < n; j++) {
		if (names == NULL || names[j] == NULL ||
		    strncmp(names[j], STORE_PREFIX, strlen(STORE_PREFIX)) != 0)
			continue;
		used[j] = true;
		ours++;
		fd = SD_LISTEN_FDS_START + j;
		if (strcmp(names[j], STORE_STATE) == 0 && store.on &&
		    store.state_fd == -1 && inh.state == NULL) {
			fcntl(fd, F_SETFD, FD_CLOEXEC);
			store.state_fd = fd;
			store.n++;
			inh.state = read_state(fd);
		} else if (strcmp(names[j], STORE_STATE) == 0 ||
		    inherit_add(fd, names[j]) < 0)
			close(fd);
		else
			store.n++;
	}
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
		for (j = 0; j < n && fd == -1; j++)
			if (!used[j] && n - ours == 1 && c->nlistens == 1)
				fd = j;
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
	store_state();		/* now that the state names it */
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

/* Stop: the master's copies go at once, the struct stays until
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
	if (!handed)
		unlink_ours(l);
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

/*
 * A reload kept the socket: apply what may change on a bound socket. The
 * new config is taken in any case; -ESTALE (or -errno) when the unix: file
 * at the path is not the one the master bound any more, and its mode and
 * group were left alone.
 */
int
listen_update(struct listener *l, const struct config_listen *c)
{
	bool rename;
	int i, r = 0;

	if (!l->activated && c->backlog != l->cfg.backlog)
		for (i = 0; i < l->nfds; i++)
			if (l->fds[i] != -1)
				listen(l->fds[i], c->backlog);
	if (c->family == AF_UNIX && !l->activated && !l->shut)
		r = set_mode(l, c);
	if (strcmp(l->cfg.name, c->name) != 0 && store.on && !l->shut)
		for (i = 0; i < l->nfds; i++)
			if (l->fds[i] != -1)
				store_remove(l, i);
	rename = strcmp(l->cfg.name, c->name) != 0;
	snprintf(l->cfg.name, sizeof l->cfg.name, "%s", c->name);
	for (i = 0; rename && !l->shut && i < l->nfds; i++)
		store_fd(l, i);
	l->cfg.backlog = c->backlog;
	l->cfg.socket_mode = c->socket_mode;
	l->cfg.socket_gid = c->socket_gid;
	l->cfg.has_socket_group = c->has_socket_group;
	l->cfg.line = c->line;
	return r;
}

/* Connections waiting in a listener's accept queue (TCP_INFO of a listening
 * socket reports the queue length in tcpi_unacked), or -1. */
int
listen_queued(const struct listener *l, int slot)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	int fd = listen_slot_fd(l, slot);

	if (fd == -1 || !listen_per_worker(l) || l->shut ||
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

	if (!listen_per_worker(l) || l->shut ||
	    (queued = listen_queued(l, slot)) <= 0)
		return 0;
	/* Close first: migration hashes over the members that remain, and a
	 * new socket would take the old one's index and get them all back. */
	store_remove(l, slot);
	close(l->fds[slot]);
	l->fds[slot] = -1;
	steer_left(l, slot);
	if ((r = open_socket(&l->cfg, true, &nfd)) < 0) {
		store_state();
		return r;	/* listen_repair tries again before a spawn */
	}
	l->fds[slot] = nfd;
	steer_joined(l, slot);
	store_fd(l, slot);
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

/* ------------------------------------------------------------------ */
/* Taking over the sockets of the master before us.                    */

static void
sock_name(const struct listener *l, int slot, char *buf, size_t len)
{
	if (listen_per_worker(l))
		snprintf(buf, len, STORE_PREFIX "%s-%d", l->cfg.name, slot);
	else
		snprintf(buf, len, STORE_PREFIX "%s-shared", l->cfg.name);
}

/* "clusterd-LISTENER-SLOT" or "clusterd-LISTENER-shared" (slot -1): 0, or
 * -EINVAL for any other name. The slot is after the last '-', which a slot
 * number never contains. */
static int
parse_name(const char *s, char *ret_listener, size_t len, int *ret_slot)
{
	const char *p = s + strlen(STORE_PREFIX), *dash;
	char *end;
	long v = -1;

	if (strncmp(s, STORE_PREFIX, strlen(STORE_PREFIX)) != 0 ||
	    (dash = strrchr(p, '-')) == NULL || dash == p ||
	    (size_t)(dash - p) >= len)
		return -EINVAL;
	if (strcmp(dash + 1, "shared") != 0) {
		errno = 0;
		v = strtol(dash + 1, &end, 10);
		if (dash[1] < '0' || dash[1] > '9' || *end != '\0' || errno ||
		    v >= WORKERS_MAX)
			return -EINVAL;
	}
	memcpy(ret_listener, p, (size_t)(dash - p));
	ret_listener[dash - p] = '\0';
	*ret_slot = (int)v;
	return 0;
}

/* What the names cannot say: each reuseport group's order as the kernel
 * keeps it (index -> slot) and each unix: file's inode. */
static void
state_render(struct buf *b)
{
	struct listener *l;
	int i;

	for (l = cl.all; l != NULL; l = l->next) {
		if (l->shut)
			continue;
		if (listen_per_worker(l) && !l->steer_warned) {
			buf_printf(b, "group %s", l->cfg.name);
			for (i = 0; i < l->ngroup; i++)
				buf_printf(b, " %d", l->group[i]);
			buf_printf(b, "\n");
		}
		if (l->cfg.family == AF_UNIX && l->sock_ino != 0)
			buf_printf(b, "file %s %llu %llu\n", l->cfg.name,
			    (unsigned long long)l->sock_dev,
			    (unsigned long long)l->sock_ino);
	}
}

/* The state line "WHAT NAME ..." for a listener: the rest, or NULL. */
static const char *
state_find(const char *what, const char *name)
{
	size_t wl = strlen(what), nl = strlen(name);
	const char *p = inh.state;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, what, wl) == 0 && p[wl] == ' ' &&
		    strncmp(p + wl + 1, name, nl) == 0 &&
		    (p[wl + 1 + nl] == ' ' || p[wl + 1 + nl] == '\n'))
			return p + wl + 1 + nl;
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return NULL;
}

static void
store_state(void)
{
	struct buf b;

	if (!store.on || store.state_fd == -1)
		return;
	memset(&b, 0, sizeof b);
	state_render(&b);
	/* A short write or truncate leaves a state the next master cannot
	 * parse: it binds anew, which is what it does without one. */
	if (!b.overflow &&
	    pwrite(store.state_fd, b.data ? b.data : "", b.len, 0) ==
	    (ssize_t)b.len && ftruncate(store.state_fd, (off_t)b.len) == -1)
		log_debug("fd store state: %s", strerror(errno));
	buf_free(&b);
}

static int
store_send(int fd, const char *name)
{
	char msg[NAME_MAX_LEN + 64];

	if (store.max >= 0 && store.n >= store.max) {
		if (!store.full_logged)
			log_info("systemd's fd store is full "
			    "(FileDescriptorStoreMax=%d): %s and the sockets "
			    "after it are not kept across a restart",
			    store.max, name);
		store.full_logged = true;
		return -EXFULL;
	}
	snprintf(msg, sizeof msg, "FDSTORE=1\nFDNAME=%s", name);
	if (sd_pid_notify_with_fds(0, 0, msg, &fd, 1) <= 0)
		return -EIO;
	store.n++;
	return 0;
}

/* A socket was opened for the slot (or adopted): systemd keeps a copy. */
static void
store_fd(const struct listener *l, int slot)
{
	char name[NAME_MAX_LEN + 32];
	int fd = listen_slot_fd(l, slot);

	if (!store.on || l->activated || l->shut || fd == -1)
		return;
	sock_name(l, slot, name, sizeof name);
	store_send(fd, name);
	store_state();
}

/*
 * The slot's socket is being closed: systemd drops its copy (by name, which
 * drops every fd of that name). A listener of an older configuration that
 * has the same name as a current one (an address changed by a reload) is
 * closed after the new one stored its sockets: those are stored again.
 */
static void
store_remove(const struct listener *l, int slot)
{
	char name[NAME_MAX_LEN + 32], other[NAME_MAX_LEN + 32], msg[128];
	const struct listener *o;

	if (!store.on || l->activated)
		return;
	sock_name(l, slot, name, sizeof name);
	snprintf(msg, sizeof msg, "FDSTOREREMOVE=1\nFDNAME=%s", name);
	if (sd_pid_notify(0, 0, msg) > 0 && store.n > 0)
		store.n--;
	for (o = cl.all; o != NULL; o = o->next) {
		if (o == l || o->shut || o->activated ||
		    listen_slot_fd(o, slot) == -1)
			continue;
		sock_name(o, slot, other, sizeof other);
		if (strcmp(name, other) == 0)
			store_send(listen_slot_fd(o, slot), other);
	}
}

static void
store_remove_name(const char *name)
{
	char msg[128];

	snprintf(msg, sizeof msg, "FDSTOREREMOVE=1\nFDNAME=%s", name);
	if (store.on && sd_pid_notify(0, 0, msg) > 0 && store.n > 0)
		store.n--;
}

/*
 * Under systemd ($NOTIFY_SOCKET): is there a store, and how large? systemd
 * 254 says so in $FDSTORE, set only when the unit allows one; older ones
 * never say. 254 also brought $MEMORY_PRESSURE_WATCH, set by default: with
 * it and no $FDSTORE the store is off, and storing would only make systemd
 * log a refusal for every socket.
 */
static void
store_init(void)
{
	const char *max = getenv("FDSTORE");

	if (getenv("NOTIFY_SOCKET") == NULL)
		return;
	if (max != NULL)
		store.max = atoi(max);
	else if (getenv("MEMORY_PRESSURE_WATCH") != NULL)
		store.max = 0;
	if (store.max == 0) {
		log_info("systemd's fd store is off (FileDescriptorStoreMax=0):"
		    " a restart of the unit binds new sockets");
		return;
	}
	store.on = true;
}

/* The store's own memfd: the one the master before us left, or a new one. */
static void
store_open_state(void)
{
	int fd;

	if (!store.on || store.state_fd != -1)
		return;
	if ((fd = memfd_create(STORE_STATE, MFD_CLOEXEC)) == -1)
		return;
	store.state_fd = fd;
	if (store_send(fd, STORE_STATE) < 0) {
		close(fd);
		store.state_fd = -1;
	}
}

static char *
read_state(int fd)
{
	char *s;
	ssize_t n;
	size_t len = 0;

	if ((s = malloc(STATE_MAX + 1)) == NULL)
		return NULL;
	while (len < STATE_MAX &&
	    (n = pread(fd, s + len, STATE_MAX - len, (off_t)len)) > 0)
		len += (size_t)n;
	s[len] = '\0';
	return s;
}

/* One socket of the master before us, named as sock_name names them. */
static int
inherit_add(int fd, const char *name)
{
	int *fds;
	char **names, *dup;
	bool *taken;
	size_t n = (size_t)inh.n + 1;

	fds = realloc(inh.fds, n * sizeof *fds);
	if (fds != NULL)
		inh.fds = fds;
	names = realloc(inh.names, n * sizeof *names);
	if (names != NULL)
		inh.names = names;
	taken = realloc(inh.taken, n * sizeof *taken);
	if (taken != NULL)
		inh.taken = taken;
	if (fds == NULL || names == NULL || taken == NULL ||
	    (dup = strdup(name)) == NULL)
		return -ENOMEM;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	inh.fds[inh.n] = fd;
	inh.names[inh.n] = dup;
	inh.taken[inh.n] = false;
	inh.n++;
	return 0;
}

/*
 * What `clusterd restart` received from the old master (fds in the order
 * of the text's "fd NAME" lines; the other lines are the state). Takes the
 * fds over whatever happens: -EPROTO (all closed) when they do not match.
 */
int
listen_inherit(int *fds, int nfds, const char *text)
{
	const char *p, *nl;
	char name[NAME_MAX_LEN + 32];
	int i = 0, r = 0;
	size_t len;

	for (p = text; p != NULL && *p != '\0'; p = nl ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		if (len < 4 || strncmp(p, "fd ", 3) != 0)
			continue;
		if (i == nfds || len - 3 >= sizeof name) {
			r = -EPROTO;
			break;
		}
		memcpy(name, p + 3, len - 3);
		name[len - 3] = '\0';
		if ((r = inherit_add(fds[i], name)) < 0)
			break;
		i++;
	}
	if (r == 0 && i != nfds)
		r = -EPROTO;
	if (r == 0 && (inh.state = strdup(text)) == NULL)
		r = -ENOMEM;
	if (r < 0) {
		for (; i < nfds; i++)
			close(fds[i]);
		listen_inherit_drop();
	}
	return r;
}

/* Drop what listen_adopt did not take (a start that failed before). */
void
listen_inherit_drop(void)
{
	int i;

	for (i = 0; i < inh.n; i++) {
		close(inh.fds[i]);
		free(inh.names[i]);
	}
	free(inh.fds);
	free(inh.names);
	free(inh.taken);
	free(inh.state);
	memset(&inh, 0, sizeof inh);
}

/* Is fd one of the inherited sockets (the daemon keeps them)? */
bool
listen_inherited(int fd)
{
	int i;

	for (i = 0; i < inh.n; i++)
		if (inh.fds[i] == fd)
			return true;
	return false;
}

int
listen_inherited_max(void)
{
	int i, top = -1;

	for (i = 0; i < inh.n; i++)
		if (inh.fds[i] > top)
			top = inh.fds[i];
	return top;
}

/*
 * For `clusterd restart`: copies of the current configuration's sockets and
 * the text that names them ("fd NAME" lines in the order of the fds, then
 * the state). From now on a stop leaves the unix: files to the new master.
 */
int
listen_handover(struct buf *b, int **ret_fds, int *ret_n)
{
	struct listener *l;
	char name[NAME_MAX_LEN + 32];
	int *fds = NULL, n = 0, i, k, fd;

	for (i = 0; i < cl.cfg->nlset; i++) {
		l = cl.cfg->lset[i];
		for (k = 0; k < l->nfds && !l->shut; k++) {
			if (l->fds[k] == -1)
				continue;
			if ((fds = realloc(*ret_fds, (size_t)(n + 1) *
			    sizeof *fds)) == NULL)
				goto fail;
			*ret_fds = fds;
			if ((fd = fcntl(l->fds[k], F_DUPFD_CLOEXEC, 3)) == -1)
				goto fail;
			fds[n++] = fd;
			sock_name(l, k, name, sizeof name);
			buf_printf(b, "fd %s\n", name);
		}
	}
	state_render(b);
	handed = true;
	*ret_n = n;
	return 0;
fail:
	while (n > 0)
		close((*ret_fds)[--n]);
	free(*ret_fds);
	*ret_fds = NULL;
	return -errno;
}

static int
grow_fds(struct listener *l, int slot)
{
	int *fds, i;

	if (slot < l->nfds)
		return 0;
	if ((fds = realloc(l->fds, sizeof(int) * (size_t)(slot + 1))) == NULL)
		return -ENOMEM;
	l->fds = fds;
	for (i = l->nfds; i <= slot; i++)
		l->fds[i] = -1;
	l->nfds = slot + 1;
	return 0;
}

static void
inherit_close(int j, const char *why)
{
	log_info("%s: socket %d %s: closed", inh.names[j], inh.fds[j], why);
	store_remove_name(inh.names[j]);
	close(inh.fds[j]);
	inh.fds[j] = -1;
	inh.taken[j] = true;
}

/*
 * The kernel's order of the group, from the state: each of the listener's
 * sockets once, else NULL (steering is then off: a program naming indices
 * in another order would send connections to the wrong slots).
 */
static bool
group_order(struct listener *l, const char *from, int *order, int *ret_n)
{
	const char *p = state_find("group", from);
	int n = 0, k, have = 0, slot;
	char *end;
	long v;

	for (k = 0; k < l->nfds; k++)
		if (l->fds[k] != -1)
			have++;
	while (p != NULL && *p == ' ') {
		v = strtol(p + 1, &end, 10);
		if (end == p + 1 || v < 0 || v >= l->nfds ||
		    l->fds[v] == -1 || n == have)
			return false;
		slot = (int)v;
		for (k = 0; k < n; k++)
			if (order[k] == slot)
				return false;
		order[n++] = slot;
		p = end;
	}
	*ret_n = n;
	return p != NULL && n == have;
}

/* The group as the kernel has it, any program of the master before us
 * detached (it named that master's ready slots). */
static void
adopt_group(struct listener *l, const char *from)
{
	int *order, n = 0, k;
	bool known;

	if ((order = calloc((size_t)l->nfds, sizeof *order)) == NULL)
		return;
	known = group_order(l, from, order, &n);
	if (!known)
		for (n = 0, k = 0; k < l->nfds; k++)
			if (l->fds[k] != -1)
				order[n++] = k;
	l->steer_ok = true;	/* no apply() while the mirror is built */
	for (k = 0; k < n; k++)
		steer_joined(l, order[k]);
	steer_reset(l);
	if (!known && n > 1) {
		log_warn("listen %s: the order of the sockets taken over is "
		    "not known; steering off: new connections also reach "
		    "slots without a ready worker", l->cfg.address);
		l->steer_warned = true;
	}
	free(order);
}

static bool
has_reuseport(int fd)
{
	socklen_t len;
	int on = 0;

	len = sizeof on;
	return getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, &len) == 0 && on;
}

/* The old listener these sockets were: the one of this name, else one at
 * this address (renamed). "" if none. */
static void
adopt_source(const struct config_listen *cfg, char *from, size_t len)
{
	char lname[NAME_MAX_LEN];
	int pass, j, slot;

	from[0] = '\0';
	for (pass = 0; pass < 2; pass++)
		for (j = 0; j < inh.n; j++) {
			if (inh.taken[j] || parse_name(inh.names[j], lname,
			    sizeof lname, &slot) < 0 ||
			    (pass == 0 && strcmp(lname, cfg->name) != 0) ||
			    !same_address(inh.fds[j], cfg))
				continue;
			snprintf(from, len, "%s", lname);
			return;
		}
}

/*
 * [listen] i from the sockets of the old listener at its address, as they
 * were: per-worker slot by slot, the group's order and so its steering
 * kept. Sockets beyond the worker count are closed, missing ones bound. A
 * shared socket without SO_REUSEPORT cannot join a per-worker group: it is
 * closed and the group bound anew.
 */
static int
adopt_one(struct config *c, int i, char *err, size_t errlen)
{
	const struct config_listen *cfg = &c->listens[i];
	char from[NAME_MAX_LEN], lname[NAME_MAX_LEN], st[64];
	bool pw = cfg->family != AF_UNIX && cfg->sockets == LISTEN_PER_WORKER;
	unsigned long long dev, ino;
	struct listener *l;
	const char *p;
	int j, slot, k, n = 0;

	adopt_source(cfg, from, sizeof from);
	if (from[0] == '\0')
		return 0;
	if ((l = calloc(1, sizeof *l)) == NULL ||
	    (l->fds = malloc(sizeof(int))) == NULL) {
		free(l);
		return -ENOMEM;
	}
	copy_cfg(&l->cfg, cfg);
	l->fds[0] = -1;
	l->nfds = 1;
	for (j = 0; j < inh.n; j++) {
		if (inh.taken[j] || parse_name(inh.names[j], lname,
		    sizeof lname, &slot) < 0 || strcmp(lname, from) != 0 ||
		    !same_address(inh.fds[j], cfg))
			continue;
		k = pw ? (slot < 0 ? 0 : slot) : 0;
		if ((pw && !has_reuseport(inh.fds[j])) ||
		    grow_fds(l, k) < 0 || l->fds[k] != -1) {
			inherit_close(j, pw ? "cannot join a per-worker group" :
			    "not needed by a shared listener");
			continue;
		}
		l->fds[k] = inh.fds[j];
		inh.taken[j] = true;
		listen(l->fds[k], cfg->backlog);
		if (strcmp(from, cfg->name) != 0)
			store_remove_name(inh.names[j]);
		n++;
	}
	if (n == 0) {
		listen_close(l);
		free(l);
		return 0;
	}
	if (cfg->family == AF_UNIX &&
	    (p = state_find("file", from)) != NULL &&
	    sscanf(p, " %llu %llu", &dev, &ino) == 2) {
		l->sock_dev = (dev_t)dev;
		l->sock_ino = (ino_t)ino;
	}
	if (listen_per_worker(l))
		adopt_group(l, from);
	l->next = cl.all;
	cl.all = l;
	c->lset[i] = l;
	listen_ref(l);
	for (k = l->nfds - 1; listen_per_worker(l) && k >= c->workers; k--)
		listen_close_slot(l, k);
	for (k = 0; k < l->nfds; k++)
		store_fd(l, k);
	snprintf(st, sizeof st, "%d socket%s", n, n == 1 ? "" : "s");
	log_info("[listen %s]: took over %s of the master before (%s)",
	    cfg->name, st, pw ? "per-worker" : "shared");
	return listen_resize(l, c->workers, err, errlen);
}

/*
 * After listen_activated, before binding: every [listen] still without a
 * socket takes over the sockets the master before us left at its address;
 * those nobody takes are closed (and dropped from systemd's store).
 */
int
listen_adopt(struct config *c, char *err, size_t errlen)
{
	int i, j, r = 0;

	for (i = 0; i < c->nlistens && r == 0; i++)
		if (c->lset[i] == NULL)
			r = adopt_one(c, i, err, errlen);
	for (j = 0; j < inh.n; j++)
		if (!inh.taken[j])
			inherit_close(j, "matches no [listen] at its address");
	for (j = 0; j < inh.n; j++)
		inh.fds[j] = -1;
	for (j = 0; j < inh.n; j++)
		free(inh.names[j]);
	inh.n = 0;
	listen_inherit_drop();
	store_open_state();
	store_state();
	return r;
}

/* ------------------------------------------------------------------ */
/* Across an upgrade: every listener with its sockets as they are (the  */
/* reuseport group's order and its steering program live in the kernel */
/* with the sockets), then the references of the config in force.      */

int
listen_index(const struct listener *l)
{
	const struct listener *p;
	int i = 0;

	for (p = cl.all; p != NULL; p = p->next, i++)
		if (p == l)
			return i;
	return -1;
}

struct listener *
listen_at(int i)
{
	struct listener *p;

	for (p = cl.all; p != NULL && i > 0; p = p->next)
		i--;
	return i == 0 ? p : NULL;
}

void
listen_dump(struct ustate *st)
{
	const struct config_listen *c;
	struct listener *l;
	int n = 0, i;

	for (l = cl.all; l != NULL; l = l->next)
		n++;
	upgrade_put_u64(st, (uint64_t)n);
	for (l = cl.all; l != NULL; l = l->next) {
		c = &l->cfg;
		upgrade_put_mem(st, c->name, sizeof c->name);
		upgrade_put_str(st, c->address);
		upgrade_put_u64(st, (uint64_t)c->family);
		upgrade_put_mem(st, &c->addr, sizeof c->addr);
		upgrade_put_u64(st, c->addrlen);
		upgrade_put_str(st, c->path);
		upgrade_put_u64(st, (uint64_t)c->backlog);
		upgrade_put_u64(st, (uint64_t)c->sockets);
		upgrade_put_u64(st, (uint64_t)(int64_t)c->socket_mode);
		upgrade_put_u64(st, (uint64_t)c->socket_gid);
		upgrade_put_u64(st, c->has_socket_group);
		upgrade_put_u64(st, (uint64_t)c->line);
		upgrade_put_u64(st, (uint64_t)l->nfds);
		for (i = 0; i < l->nfds; i++)
			upgrade_put_fd(st, l->fds[i]);
		upgrade_put_u64(st, l->activated);
		upgrade_put_u64(st, l->steer_ok);
		upgrade_put_u64(st, l->steer_warned);
		upgrade_put_u64(st, (uint64_t)l->ngroup);
		for (i = 0; i < l->ngroup; i++) {
			upgrade_put_u64(st, (uint64_t)(int64_t)l->group[i]);
			upgrade_put_u64(st, l->group_ready[i]);
		}
		upgrade_put_u64(st, (uint64_t)l->sock_dev);
		upgrade_put_u64(st, (uint64_t)l->sock_ino);
		upgrade_put_u64(st, l->shut);
	}
	upgrade_put_u64(st, (uint64_t)cl.cfg->nlset);
	for (i = 0; i < cl.cfg->nlset; i++)
		upgrade_put_u64(st, (uint64_t)(int64_t)
		    listen_index(cl.cfg->lset[i]));
	/* systemd's fd store: what it holds stays; the new image goes on
	 * keeping it in step. */
	upgrade_put_u64(st, store.on);
	upgrade_put_u64(st, store.full_logged);
	upgrade_put_u64(st, (uint64_t)(int64_t)store.max);
	upgrade_put_u64(st, (uint64_t)store.n);
	upgrade_put_fd(st, store.state_fd);
}

/* Listeners in their old order (cl.all is built from the tail). */
int
listen_restore(struct ustate *st)
{
	struct config_listen *c;
	struct listener *l, **tail = &cl.all;
	int n, i, k, idx;

	n = (int)upgrade_get_u64(st);
	if (n < 0 || n > 4 * LISTEN_MAX)
		return -EBADMSG;
	for (k = 0; k < n && !upgrade_get_failed(st); k++) {
		if ((l = calloc(1, sizeof *l)) == NULL)
			return -ENOMEM;
		*tail = l;
		tail = &l->next;
		c = &l->cfg;
		upgrade_get_mem(st, c->name, sizeof c->name);
		c->name[sizeof c->name - 1] = '\0';
		c->address = upgrade_get_str(st);
		c->family = (int)upgrade_get_u64(st);
		upgrade_get_mem(st, &c->addr, sizeof c->addr);
		c->addrlen = (socklen_t)upgrade_get_u64(st);
		c->path = upgrade_get_str(st);
		c->backlog = (int)upgrade_get_u64(st);
		c->sockets = (enum listen_sockets)upgrade_get_u64(st);
		c->socket_mode = (int)(int64_t)upgrade_get_u64(st);
		c->socket_gid = (gid_t)upgrade_get_u64(st);
		c->has_socket_group = upgrade_get_u64(st) != 0;
		c->line = (int)upgrade_get_u64(st);
		if (c->address == NULL)
			return -EBADMSG;
		l->nfds = (int)upgrade_get_u64(st);
		if (l->nfds < 1 || l->nfds > WORKERS_MAX ||
		    (l->fds = calloc((size_t)l->nfds, sizeof *l->fds)) == NULL)
			return -EBADMSG;
		for (i = 0; i < l->nfds; i++)
			l->fds[i] = upgrade_get_fd(st);
		l->activated = upgrade_get_u64(st) != 0;
		l->steer_ok = upgrade_get_u64(st) != 0;
		l->steer_warned = upgrade_get_u64(st) != 0;
		l->ngroup = (int)upgrade_get_u64(st);
		if (l->ngroup < 0 || l->ngroup > WORKERS_MAX)
			return -EBADMSG;
		if (l->ngroup > 0 && ((l->group = calloc((size_t)l->ngroup,
		    sizeof *l->group)) == NULL || (l->group_ready = calloc(
		    (size_t)l->ngroup, sizeof *l->group_ready)) == NULL))
			return -ENOMEM;
		for (i = 0; i < l->ngroup; i++) {
			l->group[i] = (int)(int64_t)upgrade_get_u64(st);
			l->group_ready[i] = upgrade_get_u64(st) != 0;
		}
		l->sock_dev = (dev_t)upgrade_get_u64(st);
		l->sock_ino = (ino_t)upgrade_get_u64(st);
		l->shut = upgrade_get_u64(st) != 0;
	}
	n = (int)upgrade_get_u64(st);
	if (upgrade_get_failed(st) || n != cl.cfg->nlistens)
		return -EBADMSG;
	if ((cl.cfg->lset = calloc((size_t)n + 1, sizeof *cl.cfg->lset)) ==
	    NULL)
		return -ENOMEM;
	cl.cfg->nlset = n;
	for (i = 0; i < n; i++) {
		idx = (int)(int64_t)upgrade_get_u64(st);
		if ((cl.cfg->lset[i] = listen_at(idx)) == NULL)
			return -EBADMSG;
		listen_ref(cl.cfg->lset[i]);
	}
	store.on = upgrade_get_u64(st) != 0;
	store.full_logged = upgrade_get_u64(st) != 0;
	store.max = (int)(int64_t)upgrade_get_u64(st);
	store.n = (int)upgrade_get_u64(st);
	store.state_fd = upgrade_get_fd(st);
	return upgrade_get_failed(st) ? -EBADMSG : 0;
}
