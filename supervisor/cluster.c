/*
 * cluster.c - the master's own life: set up (runtime dir, pidfile lock,
 * bind, notify and control sockets), the one signal switch, "every worker
 * ready" at start, and the graceful stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clusterd.h"

struct cluster	cl;

void
cluster_status_line(char *buf, size_t len)
{
	snprintf(buf, len, "%d/%d workers ready, generation %u",
	    worker_slots_ready(), cl.wanted, cl.generation);
}

static void
describe_listeners(char *buf, size_t len)
{
	size_t off = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < cl.cfg->nlset && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
		    i ? ", " : "", listen_describe(cl.cfg->lset[i]));
}

/* Every wanted slot ready for the first time: the cluster has started. */
void
cluster_check_started(void)
{
	char st[128], addrs[512], msg[768];

	if (cl.phase != PHASE_STARTING || worker_slots_ready() < cl.wanted)
		return;
	cl.phase = PHASE_RUNNING;
	cluster_status_line(st, sizeof st);
	describe_listeners(addrs, sizeof addrs);
	snprintf(msg, sizeof msg, "%s: %d/%d workers ready on %s (master %ld)",
	    cl.cfg->name, cl.wanted, cl.wanted, addrs, (long)cl.master_pid);
	log_notice("%s", msg);
	notify_systemd("READY=1\nSTATUS=%s\nMAINPID=%ld", st,
	    (long)cl.master_pid);
	daemon_started(EXIT_OK, msg);
	reload_step();	/* a HUP that came while starting */
}

/* Before the cluster was ever ready, a worker that fails fails the start:
 * a typo in `command` costs milliseconds, not a timeout (SPEC 2). */
void
cluster_fail_start(struct slot *s, const char *why)
{
	char msg[1024];
	size_t off;
	int i;

	off = (size_t)snprintf(msg, sizeof msg,
	    "%s: start failed: slot %d: %s", cl.cfg->name, s->index, why);
	for (i = 0; i < s->ntail && off < sizeof msg; i++)
		off += (size_t)snprintf(msg + off, sizeof msg - off,
		    "\n  worker: %s", s->tail[i]);
	log_err("%s", msg);
	cl.exit_code = EXIT_FAILED;
	daemon_started(EXIT_FAILED, msg);
	cluster_stop("start failed");
}

/* Drop a configuration and its references on the listeners (the last
 * reference closes a listener). */
void
cluster_config_release(struct config *c)
{
	int i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nlset; i++)
		if (c->lset[i] != NULL)
			listen_unref(c->lset[i]);
	free(c->lset);
	c->lset = NULL;
	c->nlset = 0;
	config_free(c);
}

void
cluster_stopped(void)
{
	ev_break(cl.loop, EVBREAK_ALL);
}

/*
 * Graceful stop (SPEC 6): STOPPING=1; the master closes its own copies of
 * the listening sockets at once, so that once the workers stop accepting,
 * new clients are refused instead of queueing for nobody; every worker
 * gets stop_signal, SIGKILL after stop_timeout. A second stop kills now.
 */
void
cluster_stop(const char *why)
{
	struct listener *l;

	if (cl.phase == PHASE_STOPPING) {
		log_warn("second stop request: killing every worker now");
		worker_kill_all();
		return;
	}
	log_notice("stopping: %s", why);
	cl.phase = PHASE_STOPPING;
	cl.stop_started = ev_now(cl.loop);
	notify_systemd("STOPPING=1\nSTATUS=stopping: %s", why);
	reload_abort("the cluster is stopping");
	for (l = cl.all; l != NULL; l = l->next)
		listen_shut(l);
	ev_timer_stop(cl.loop, &cl.mem_w);
	worker_stop_all();
	if (cl.workers == NULL)
		cluster_stopped();
}

static void
signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	char err[256];

	switch (w->signum) {
	case SIGTERM:
	case SIGINT:
		cluster_stop(w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	case SIGHUP:
		reload_request(NULL);
		break;
	case SIGUSR1:
		if (log_reopen() < 0)
			log_err("cannot reopen the log: %s", strerror(errno));
		else
			log_info("log reopened");
		break;
	case SIGTTIN:
	case SIGTTOU:
		if (cl.phase == PHASE_STOPPING)
			break;
		if (worker_scale(cl.wanted + (w->signum == SIGTTIN ? 1 : -1),
		    err, sizeof err) < 0)
			log_warn("%s: %s", w->signum == SIGTTIN ? "SIGTTIN" :
			    "SIGTTOU", err);
		break;
	}
}

static void
mem_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	worker_check_memory();
}

/* The directory of the pidfile or the control socket, created and checked
 * (mkdir_p): ours. The default runtime directory, which we create, must be
 * private too: 0700, so nobody else can swap what is inside. */
static int
dir_of(const char *file, char *err, size_t errlen)
{
	char dir[PATH_MAX], *slash;

	snprintf(dir, sizeof dir, "%s", file);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir) {
		snprintf(err, errlen, "%.300s: no directory", file);
		return -EINVAL;
	}
	*slash = '\0';
	return mkdir_p(dir, 0700, cl.cfg->runtime_dir != NULL &&
	    strcmp(dir, cl.cfg->runtime_dir) == 0 ? MKDIR_PRIVATE : MKDIR_OWNED,
	    err, errlen);
}

/*
 * The supervisor, for `run` (start_fd -1) and for the daemon of `start`
 * (start_fd: the pipe its foreground part waits on). Returns the exit code.
 */
int
cluster_run(struct config *c, int start_fd)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1,
		SIGTTIN, SIGTTOU };
	struct rlimit rl;
	char err[512], dir[PATH_MAX];
	pid_t owner;
	int i, r;

	memset(&cl, 0, sizeof cl);
	cl.cfg = c;
	cl.master_pid = getpid();
	cl.start_fd = start_fd;
	cl.notify_fd = -1;
	cl.generation = cl.last_generation = 1;
	cl.steer_disabled = getenv("CLUSTERD_NO_STEER") != NULL;
	signal(SIGPIPE, SIG_IGN);
	if (log_open(start_fd == -1 && !c->log_set ? NULL : c->log) < 0) {
		daemon_started(EXIT_SYSTEM, "cannot open the log");
		return EXIT_SYSTEM;
	}

	/* Workers get the fd limit the master was started with; the master
	 * raises its own (traps.md). */
	getrlimit(RLIMIT_NOFILE, &cl.orig_nofile);
	rl = cl.orig_nofile;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	/* As PID 1 of a container, or a subreaper, orphans come to us; libev
	 * reaps every child, known or not. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	if (dir_of(c->pidfile, dir, sizeof dir) < 0 ||
	    dir_of(c->control, dir, sizeof dir) < 0) {
		snprintf(err, sizeof err, "%s: runtime directory: %.400s",
		    c->name, dir);
		goto fail_system;
	}
	if ((r = daemon_lock_pidfile(c->pidfile, &owner)) < 0) {
		if (r == -EEXIST)
			snprintf(err, sizeof err, "%s: already running "
			    "(master %ld)", c->name, (long)owner);
		else
			snprintf(err, sizeof err, "%s: pidfile %s: %s",
			    c->name, c->pidfile, strerror(-r));
		log_err("%s", err);
		daemon_started(r == -EEXIST ? EXIT_FAILED : EXIT_SYSTEM, err);
		return r == -EEXIST ? EXIT_FAILED : EXIT_SYSTEM;
	}

	/* Signals through a signalfd, blocked otherwise: SIGTTOU (scale
	 * down) caught by a handler made each write of a background master
	 * to a `stty tostop` terminal raise SIGTTOU again and restart, for
	 * ever; a blocked SIGTTOU lets the write through and still reaches
	 * us when someone sends it. */
	cl.loop = ev_default_loop(EVFLAG_AUTO | EVFLAG_SIGNALFD);
	cl.wanted = c->workers;
	if ((c->lset = calloc((size_t)c->nlistens, sizeof *c->lset)) == NULL)
		goto fail_system;
	c->nlset = c->nlistens;
	if ((r = listen_activated(c, err, sizeof err)) < 0)
		goto fail_system;
	/* Test-bind everything before binding anything. */
	for (i = 0; i < c->nlistens; i++)
		if (c->lset[i] == NULL &&
		    listen_test_bind(&c->listens[i], err, sizeof err) < 0)
			goto fail_system;
	for (i = 0; i < c->nlistens; i++) {
		if (c->lset[i] != NULL)
			continue;
		if ((c->lset[i] = listen_new(&c->listens[i], cl.wanted, err,
		    sizeof err)) == NULL)
			goto fail_system;
		listen_ref(c->lset[i]);
	}
	if (notify_open(err, sizeof err) < 0 ||
	    control_listen(c->control, err, sizeof err) < 0)
		goto fail_system;

	for (i = 0; i < (int)(sizeof sigs / sizeof sigs[0]); i++) {
		ev_signal_init(&cl.sig_w[i], signal_cb, sigs[i]);
		ev_signal_start(cl.loop, &cl.sig_w[i]);
	}
	if (c->max_memory > 0) {
		ev_timer_init(&cl.mem_w, mem_cb, 1., 1.);
		ev_timer_start(cl.loop, &cl.mem_w);
	}
	notify_watchdog_start();
	cl.started = ev_now(cl.loop);
	log_notice("%s: master %ld starting %d workers (generation 1)",
	    c->name, (long)cl.master_pid, cl.wanted);
	notify_systemd("STATUS=starting %d workers", cl.wanted);
	if (worker_scale(cl.wanted, err, sizeof err) < 0)
		goto fail_system;

	ev_run(cl.loop, 0);

	/* A reload freed c: cl.cfg is the current configuration. */
	log_notice("%s: master %ld exiting (%s, %.1fs to stop%s)",
	    cl.cfg->name, (long)cl.master_pid,
	    cl.exit_code ? "start failed" : "stopped",
	    ev_now(cl.loop) - cl.stop_started,
	    cl.nkilled ? ", workers killed" : "");
	control_stopped();
	notify_close();
	daemon_remove_pidfile();
	for (i = 0; i < cl.nslots; i++)
		free(cl.slots[i]);
	free(cl.slots);
	cluster_config_release(cl.cfg);
	ev_loop_destroy(cl.loop);
	log_close();
	return cl.exit_code;

fail_system:
	log_err("%s", err);
	daemon_started(EXIT_SYSTEM, err);
	control_close();
	notify_close();
	daemon_remove_pidfile();
	cluster_config_release(c);
	return EXIT_SYSTEM;
}
