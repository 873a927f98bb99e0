/*
 * clusterd-worker.c - the reference worker: clusterd's worker contract in
 * code, the benchmark worker, and the test double. This file owns the
 * process: options, listening sockets (sd_listen_fds(), or --listen for a
 * bare run), sd_notify (READY, STATUS, WATCHDOG, STOPPING), signals and the
 * graceful drain. HTTP lives in http.c.
 *
 * Listening sockets from the master share their open file description with
 * it (and, with `sockets = shared`, with every other worker). This worker
 * sets O_NONBLOCK on them, as nginx and node do: several processes may be
 * woken for one connection, and a blocking accept() would hang the loser.
 * The flag lives on the shared description; clusterd checks and repairs a
 * slot's socket when its worker exits. What it never does to a listening
 * socket is shutdown(): that would stop it for the master and every other
 * worker too. It only close()s its own copy.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "worker.h"

#define LISTEN_MAX	64
#define ACCEPT_BATCH	64	/* accepts per wakeup, then back to the loop */
#define GROW_CAP_MB	1024	/* --grow-mb-per-s stops here */

struct listener {
	ev_io	 io;
	int	 fd;
	bool	 tcp;
	char	 name[160];	/* address, for messages */
};

static void	usage(int) __attribute__((noreturn));
static void	snapshot_start(void);
static int	listen_inherited(void);
static int	listen_bind(const char *);
static void	listen_start(void);
static void	listen_close(void);
static void	accept_cb(EV_P_ ev_io *, int);
static void	accept_resume_cb(EV_P_ ev_timer *, int);
static void	ready_cb(EV_P_ ev_timer *, int);
static void	watchdog_cb(EV_P_ ev_timer *, int);
static void	grow_cb(EV_P_ ev_timer *, int);
static void	signal_cb(EV_P_ ev_signal *, int);
static void	ignore_term(void);
static void	describe(int, char *, size_t);

struct worker	 worker;

static struct listener	 listeners[LISTEN_MAX];
static int		 nlisteners;
static bool		 bare;		/* we bound the sockets ourselves */
static bool		 accepting;
static ev_timer		 accept_resume;
static ev_timer		 ready_timer;
static ev_timer		 watchdog_timer;
static ev_timer		 grow_timer;
static ev_signal	 sig_term, sig_int, sig_quit;

static struct {
	const char	*listen[LISTEN_MAX];
	int		 nlisten;
	long		 ready_delay_ms;
	bool		 no_ready;
	bool		 no_watchdog;
	int		 exit_at_start;		/* -1: no */
	long		 only_slot;		/* -1: every slot */
	bool		 ignore_term;
	long		 grow_mb_per_s;
} opt = { .exit_at_start = -1, .only_slot = -1 };

static long	 grown_mb_x10;		/* tenths of MiB allocated so far */
static char	*volatile grow_chain;	/* every block, so none is elided */

void
worker_log(const char *fmt, ...)
{
	char	buf[512];
	va_list	ap;
	int	n;

	n = snprintf(buf, sizeof buf, "clusterd-worker[%ld] slot %s: ",
	    (long)worker.pid, worker.slot);
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(buf, "\n");
	(void)!write(STDERR_FILENO, buf, strlen(buf));
}

static void
usage(int code)
{
	fprintf(code ? stderr : stdout,
"usage: clusterd-worker [options]\n"
"  HTTP server on the sockets passed with LISTEN_FDS (sd_listen_fds(3)), or\n"
"  on --listen addresses when none are passed (SO_REUSEPORT: run N copies).\n"
"  GET /  /pid  /slow?ms=N, and with --debug-endpoints:\n"
"      /env  /hang?ms=N  /crash  /exit\n"
"options:\n"
"  --debug-endpoints      serve /env (the whole environment), /hang, /crash and\n"
"                         /exit, for tests; also CLUSTERD_WORKER_DEBUG=1 in the\n"
"                         environment. Without it they answer 404.\n"
"  --listen ADDR          host:port, [v6]:port, :port or unix:/path; repeatable\n"
"  --ready-delay-ms N     serve and send READY=1 only after N ms\n"
"  --no-ready             serve at once, never send READY=1\n"
"  --no-watchdog          never send WATCHDOG=1\n"
"  --exit-at-start CODE   exit with CODE at once (see --only-slot)\n"
"  --only-slot N          --exit-at-start only when CLUSTERD_WORKER is N\n"
"  --ignore-term          ignore SIGTERM; so does a forked grandchild\n"
"  --grow-mb-per-s N      allocate and touch N MiB per second (cap %d MiB)\n"
"  --stderr-line TEXT     print TEXT on stderr at start; repeatable\n",
	    GROW_CAP_MB);
	exit(code);
}

static long
number(const char *s, const char *what)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0) {
		fprintf(stderr, "clusterd-worker: %s: bad number '%s'\n",
		    what, s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	enum { O_LISTEN = 256, O_READY_DELAY, O_NO_READY, O_NO_WATCHDOG,
	    O_EXIT_AT_START, O_ONLY_SLOT, O_IGNORE_TERM, O_GROW,
	    O_STDERR_LINE, O_DEBUG };
	static const struct option longopts[] = {
		{ "listen",		required_argument, NULL, O_LISTEN },
		{ "ready-delay-ms",	required_argument, NULL, O_READY_DELAY },
		{ "no-ready",		no_argument,	   NULL, O_NO_READY },
		{ "no-watchdog",	no_argument,	   NULL, O_NO_WATCHDOG },
		{ "exit-at-start",	required_argument, NULL, O_EXIT_AT_START },
		{ "only-slot",		required_argument, NULL, O_ONLY_SLOT },
		{ "ignore-term",	no_argument,	   NULL, O_IGNORE_TERM },
		{ "grow-mb-per-s",	required_argument, NULL, O_GROW },
		{ "stderr-line",	required_argument, NULL, O_STDERR_LINE },
		{ "debug-endpoints",	no_argument,	   NULL, O_DEBUG },
		{ "help",		no_argument,	   NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*s;
	uint64_t	 wd_usec;
	int		 ch, i, n;

	/* Before anything opens a file: what were we handed? */
	snapshot_start();
	worker.pid = getpid();
	s = getenv("CLUSTERD_WORKER");
	snprintf(worker.slot, sizeof worker.slot, "%s", s && *s ? s : "-");
	for (i = 0; worker.slot[i] != '\0'; i++)
		if (worker.slot[i] < 0x21 || worker.slot[i] > 0x7e)
			worker.slot[i] = '?';	/* it goes into a header */

	/* Any client could read the environment (secrets from [worker] env)
	 * or stop the worker: only for tests that ask for it. */
	s = getenv("CLUSTERD_WORKER_DEBUG");
	worker.debug = s != NULL && strcmp(s, "1") == 0;
	s = getenv("CLUSTERD_WORKER");
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case O_LISTEN:
			if (opt.nlisten == LISTEN_MAX) {
				fprintf(stderr, "clusterd-worker: too many "
				    "--listen\n");
				exit(2);
			}
			opt.listen[opt.nlisten++] = optarg;
			break;
		case O_READY_DELAY:
			opt.ready_delay_ms = number(optarg, "--ready-delay-ms");
			break;
		case O_NO_READY:
			opt.no_ready = true;
			break;
		case O_NO_WATCHDOG:
			opt.no_watchdog = true;
			break;
		case O_EXIT_AT_START:
			opt.exit_at_start = (int)number(optarg,
			    "--exit-at-start") & 0xff;
			break;
		case O_ONLY_SLOT:
			opt.only_slot = number(optarg, "--only-slot");
			break;
		case O_IGNORE_TERM:
			opt.ignore_term = true;
			break;
		case O_GROW:
			opt.grow_mb_per_s = number(optarg, "--grow-mb-per-s");
			break;
		case O_STDERR_LINE:
			fprintf(stderr, "%s\n", optarg);
			break;
		case O_DEBUG:
			worker.debug = true;
			break;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind < argc)
		usage(2);

	if (opt.exit_at_start >= 0 && (opt.only_slot < 0 ||
	    (s != NULL && *s != '\0' && strtol(s, NULL, 10) == opt.only_slot &&
	    s[strspn(s, "0123456789")] == '\0'))) {
		worker_log("exiting at start with code %d (--exit-at-start)",
		    opt.exit_at_start);
		exit(opt.exit_at_start);
	}

	/* Write errors on connections are handled where they happen. */
	signal(SIGPIPE, SIG_IGN);
	if (opt.ignore_term)
		ignore_term();

	if ((n = listen_inherited()) < 0)
		exit(1);
	if (n == 0) {
		if (opt.nlisten == 0) {
			fprintf(stderr, "clusterd-worker: no listening socket: "
			    "no LISTEN_FDS and no --listen\n");
			exit(2);
		}
		bare = true;
		for (i = 0; i < opt.nlisten; i++)
			if (listen_bind(opt.listen[i]) < 0)
				exit(1);
	} else if (opt.nlisten > 0)
		worker_log("LISTEN_FDS given: ignoring --listen");

	worker.loop = ev_default_loop(EVFLAG_AUTO);
	if (worker.loop == NULL) {
		worker_log("cannot create the event loop");
		exit(1);
	}
	http_init();

	if (!opt.ignore_term) {
		ev_signal_init(&sig_term, signal_cb, SIGTERM);
		ev_signal_start(worker.loop, &sig_term);
	}
	ev_signal_init(&sig_int, signal_cb, SIGINT);
	ev_signal_start(worker.loop, &sig_int);
	ev_signal_init(&sig_quit, signal_cb, SIGQUIT);
	ev_signal_start(worker.loop, &sig_quit);
	ev_init(&accept_resume, accept_resume_cb);

	/* sd_watchdog_enabled() checks WATCHDOG_PID against our pid. */
	if (!opt.no_watchdog && sd_watchdog_enabled(0, &wd_usec) > 0 &&
	    wd_usec > 0) {
		ev_timer_init(&watchdog_timer, watchdog_cb, 0.,
		    wd_usec / 2e6);
		ev_timer_again(worker.loop, &watchdog_timer);
		sd_notify(0, "WATCHDOG=1");
	}
	if (opt.grow_mb_per_s > 0) {
		ev_timer_init(&grow_timer, grow_cb, 0.1, 0.1);
		ev_timer_start(worker.loop, &grow_timer);
	}

	if (opt.ready_delay_ms > 0) {
		/* Booting: connections wait in the listen queue. */
		ev_timer_init(&ready_timer, ready_cb,
		    opt.ready_delay_ms / 1000., 0.);
		ev_timer_start(worker.loop, &ready_timer);
		sd_notifyf(0, "STATUS=starting, ready in %ld ms",
		    opt.ready_delay_ms);
	} else
		ready_cb(worker.loop, &ready_timer, 0);

	ev_run(worker.loop, 0);
	worker_log("drained, exiting");
	return 0;
}

/*
 * Record the environment and the open file descriptors as they were at
 * exec time, for GET /env: that is what the supervisor handed over.
 * Later fds (the event loop's, connections) would only blur the picture.
 */
static void
snapshot_start(void)
{
	extern char	**environ;
	char		 **e, *buf = NULL, path[64], target[256], line[512];
	size_t		 len = 0;
	FILE		*f;
	DIR		*d;
	struct dirent	*de;
	struct rlimit	 rl;
	int		 fds[1024], nfds = 0, fd, i, j, t;
	ssize_t		 n;
	mode_t		 um;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return;
	for (e = environ; *e != NULL; e++)
		fprintf(f, "%s\n", *e);
	fclose(f);
	worker.env = buf;
	worker.envlen = len;

	buf = NULL;
	len = 0;
	if ((d = opendir("/proc/self/fd")) != NULL) {
		while ((de = readdir(d)) != NULL && nfds < 1024) {
			if (de->d_name[0] == '.')
				continue;
			fd = atoi(de->d_name);
			if (fd == dirfd(d))
				continue;
			fds[nfds++] = fd;
		}
		closedir(d);
	}
	for (i = 1; i < nfds; i++)	/* insertion sort: few fds */
		for (j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
			t = fds[j];
			fds[j] = fds[j - 1];
			fds[j - 1] = t;
		}
	if ((f = open_memstream(&buf, &len)) == NULL)
		return;
	fprintf(f, "fds:");
	for (i = 0; i < nfds; i++)
		fprintf(f, " %d", fds[i]);
	fprintf(f, "\n");
	for (i = 0; i < nfds; i++) {
		snprintf(path, sizeof path, "/proc/self/fd/%d", fds[i]);
		n = readlink(path, target, sizeof target - 1);
		target[n > 0 ? n : 0] = '\0';
		fprintf(f, "fd %d: %s%s\n", fds[i], target,
		    (fcntl(fds[i], F_GETFD) & FD_CLOEXEC) ? " (cloexec)" : "");
	}
	if (getcwd(target, sizeof target) != NULL)
		fprintf(f, "cwd: %s\n", target);
	um = umask(022);
	umask(um);
	fprintf(f, "umask: %04o\n", (unsigned)um);
	fprintf(f, "uid: %ld gid: %ld\n", (long)getuid(), (long)getgid());
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		fprintf(f, "rlimit_nofile: %llu %llu\n",
		    (unsigned long long)rl.rlim_cur,
		    (unsigned long long)rl.rlim_max);
	fprintf(f, "pgid: %ld sid: %ld ppid: %ld\n", (long)getpgrp(),
	    (long)getsid(0), (long)getppid());
	/* Signal mask and ignored signals, as the supervisor left them. */
	if ((fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)) >= 0) {
		FILE *st = fdopen(fd, "r");
		while (st != NULL && fgets(line, sizeof line, st) != NULL)
			if (strncmp(line, "SigBlk:", 7) == 0 ||
			    strncmp(line, "SigIgn:", 7) == 0)
				fprintf(f, "%s: %s", line[3] == 'B' ?
				    "sigblk" : "sigign",
				    line + 7 + strspn(line + 7, " \t"));
		if (st != NULL)
			fclose(st);
		else
			close(fd);
	}
	fclose(f);
	worker.fds = buf;
	worker.fdslen = len;
}

/* Sockets from the supervisor or systemd: fds 3 .. 3+n-1. */
static int
listen_inherited(void)
{
	char	**names = NULL;
	int	  n, i, fd, fl;

	n = sd_listen_fds_with_names(1, &names);
	if (n < 0) {
		worker_log("sd_listen_fds: %s", strerror(-n));
		return -1;
	}
	if (n > LISTEN_MAX) {
		worker_log("%d listening sockets: at most %d", n, LISTEN_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		fd = SD_LISTEN_FDS_START + i;
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
			worker_log("fd %d (%s) is not a listening stream "
			    "socket", fd, names ? names[i] : "?");
			return -1;
		}
		/* See the top of this file. */
		if ((fl = fcntl(fd, F_GETFL)) < 0 ||
		    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
			worker_log("fd %d: fcntl: %s", fd, strerror(errno));
			return -1;
		}
		listeners[i].fd = fd;
		listeners[i].tcp = sd_is_socket_inet(fd, AF_UNSPEC,
		    SOCK_STREAM, 1, 0) > 0;
		describe(fd, listeners[i].name, sizeof listeners[i].name);
		worker_log("fd %d (%s): %s", fd, names ? names[i] : "?",
		    listeners[i].name);
	}
	nlisteners = n;
	if (names != NULL) {
		for (i = 0; names[i] != NULL; i++)
			free(names[i]);
		free(names);
	}
	return n;
}

/* --listen: bind ourselves, with SO_REUSEPORT so copies can share. */
static int
listen_bind(const char *addr)
{
	struct addrinfo		 hints, *res = NULL;
	struct sockaddr_un	 sun;
	struct listener		*l;
	char			 host[256], *port;
	const char		*h;
	int			 fd, one = 1, rc;

	if (nlisteners == LISTEN_MAX)
		return -1;
	l = &listeners[nlisteners];
	if (strncmp(addr, "unix:", 5) == 0) {
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		if (strlen(addr + 5) >= sizeof sun.sun_path) {
			worker_log("%s: path too long", addr);
			return -1;
		}
		strcpy(sun.sun_path, addr + 5);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sun,
		    sizeof sun) < 0 || listen(fd, 511) < 0) {
			worker_log("%s: %s", addr, strerror(errno));
			return -1;
		}
		l->tcp = false;
		goto done;
	}
	snprintf(host, sizeof host, "%s", addr);
	if ((port = strrchr(host, ':')) == NULL) {
		worker_log("%s: expected host:port", addr);
		return -1;
	}
	*port++ = '\0';
	h = host;
	if (host[0] == '[') {
		h = host + 1;
		if (port - host < 3 || port[-2] != ']') {
			worker_log("%s: bad [v6]:port", addr);
			return -1;
		}
		port[-2] = '\0';
	}
	if (*h == '\0')
		h = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(h, port, &hints, &res)) != 0) {
		worker_log("%s: %s", addr, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    listen(fd, 511) < 0) {
		worker_log("%s: %s", addr, strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	l->tcp = true;
done:
	l->fd = fd;
	describe(fd, l->name, sizeof l->name);
	nlisteners++;
	return 0;
}

static void
describe(int fd, char *buf, size_t len)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof ss;
	char			 host[NI_MAXHOST], serv[NI_MAXSERV];

	snprintf(buf, len, "?");
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_UNIX) {
		snprintf(buf, len, "unix:%s",
		    ((struct sockaddr_un *)&ss)->sun_path);
		return;
	}
	if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, serv,
	    sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return;
	snprintf(buf, len, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s",
	    host, serv);
}

static void
listen_start(void)
{
	int	i;

	accepting = true;
	for (i = 0; i < nlisteners; i++) {
		if (listeners[i].fd < 0)
			continue;
		ev_io_init(&listeners[i].io, accept_cb, listeners[i].fd,
		    EV_READ);
		listeners[i].io.data = &listeners[i];
		ev_io_start(worker.loop, &listeners[i].io);
	}
}

/*
 * Stop accepting: close our copies. A socket we bound ourselves dies with
 * our last copy, and the kernel resets what is queued in it, so first take
 * those connections (they are answered with Connection: close). An
 * inherited socket stays open in the master; its queue waits for the
 * slot's next worker.
 */
static void
listen_close(void)
{
	int	i, k, fd;

	accepting = false;
	ev_timer_stop(worker.loop, &accept_resume);
	for (i = 0; i < nlisteners; i++) {
		if (listeners[i].fd < 0)
			continue;
		ev_io_stop(worker.loop, &listeners[i].io);
		for (k = 0; bare && k < 1024; k++) {
			fd = accept4(listeners[i].fd, NULL, NULL,
			    SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (fd < 0)
				break;
			http_conn_new(fd, listeners[i].tcp);
		}
		close(listeners[i].fd);	/* never shutdown(): shared */
		listeners[i].fd = -1;
	}
}

static void
accept_cb(EV_P_ ev_io *w, int revents)
{
	struct listener	*l = w->data;
	int		 fd, i;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			http_conn_new(fd, l->tcp);
			continue;
		}
		switch (errno) {
		case EAGAIN:
			return;		/* another worker got it, or none left */
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
		case EPERM:
			continue;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			/* Out of fds or memory: the connection stays queued
			 * and epoll keeps waking us. Pause instead of
			 * spinning; closing connections frees fds. */
			worker_log("accept: %s: pausing 100 ms",
			    strerror(errno));
			for (i = 0; i < nlisteners; i++)
				if (listeners[i].fd >= 0)
					ev_io_stop(EV_A_ &listeners[i].io);
			ev_timer_set(&accept_resume, 0.1, 0.);
			ev_timer_start(EV_A_ &accept_resume);
			return;
		default:
			/* EINVAL: no longer listening (someone shut it
			 * down). It will not get better; do not spin. */
			worker_log("accept on %s: %s: no longer accepting "
			    "there", l->name, strerror(errno));
			ev_io_stop(EV_A_ w);
			return;
		}
	}
}

static void
accept_resume_cb(EV_P_ ev_timer *w, int revents)
{
	int	i;

	if (!accepting)
		return;
	for (i = 0; i < nlisteners; i++)
		if (listeners[i].fd >= 0)
			ev_io_start(EV_A_ &listeners[i].io);
}

static void
ready_cb(EV_P_ ev_timer *w, int revents)
{
	char	addrs[256] = "";
	size_t	len = 0;
	int	i;

	if (worker.draining)
		return;
	listen_start();
	for (i = 0; i < nlisteners && len < sizeof addrs - 1; i++)
		len += (size_t)snprintf(addrs + len, sizeof addrs - len,
		    "%s%s", i ? " " : "", listeners[i].name);
	if (!opt.no_ready)
		sd_notifyf(0, "READY=1\nSTATUS=serving on %s", addrs);
	else
		sd_notifyf(0, "STATUS=serving on %s (--no-ready)", addrs);
	worker_log("serving on %s%s", addrs,
	    opt.no_ready ? " (--no-ready)" : "");
}

static void
watchdog_cb(EV_P_ ev_timer *w, int revents)
{
	sd_notify(0, "WATCHDOG=1");
}

/* --grow-mb-per-s: a leak, for max_memory tests. Touch every page. */
static void
grow_cb(EV_P_ ev_timer *w, int revents)
{
	size_t	 bytes = (size_t)opt.grow_mb_per_s * 1024 * 1024 / 10;
	char	*p;

	if (grown_mb_x10 / 10 >= GROW_CAP_MB) {
		worker_log("grown to %d MiB: stopping there", GROW_CAP_MB);
		ev_timer_stop(EV_A_ w);
		return;
	}
	if (bytes < sizeof(char *) || (p = malloc(bytes)) == NULL)
		return;
	memset(p, 0xa5, bytes);
	/* Chain the blocks from a global: else the compiler may drop the
	 * malloc and memset of a block nobody reads. */
	*(char **)p = grow_chain;
	grow_chain = p;
	grown_mb_x10 += opt.grow_mb_per_s;
}

/*
 * TERM, INT, QUIT: drain. Stop accepting at once, say STOPPING=1, finish
 * in-flight requests (answered with Connection: close), close idle
 * connections, exit 0 when none is left. Repeats are ignored: a worker
 * that takes too long is killed by its supervisor.
 */
static void
signal_cb(EV_P_ ev_signal *w, int revents)
{
	if (worker.draining)
		return;
	worker.draining = true;
	listen_close();
	ev_timer_stop(EV_A_ &ready_timer);
	sd_notifyf(0, "STOPPING=1\nSTATUS=draining %zu connection(s)",
	    http_count());
	worker_log("%s: draining %zu connection(s)", strsignal(w->signum),
	    http_count());
	http_drain();
	worker_idle_check();
}

void
worker_idle_check(void)
{
	if (worker.draining && http_count() == 0)
		ev_break(worker.loop, EVBREAK_ALL);
}

/*
 * --ignore-term: this process ignores SIGTERM, and so does a grandchild in
 * our process group, so that a stop test sees the supervisor SIGKILL the
 * whole group after stop_timeout. The grandchild holds no socket and
 * gives up by itself after 5 minutes, in case nobody kills it.
 */
static void
ignore_term(void)
{
	struct timespec	ts = { 300, 0 };
	pid_t		pid;

	signal(SIGTERM, SIG_IGN);
	if ((pid = fork()) < 0) {
		worker_log("fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		closefrom(3);
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	worker_log("ignoring SIGTERM; grandchild %ld does too", (long)pid);
}
