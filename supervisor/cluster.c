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

static void	 cluster_stop(const char *why);
static void	 cluster_stop_now(const char *why);
static void	 stop_begin(const char *why);
static void	 lame_duck_begin(const char *why);
static void	 lame_duck_over(struct ev_loop *, ev_timer *, int);

struct cluster	cl;

/* The lame duck: its timer and the request that began it. */
static ev_timer	 lame_w;
static char	 stop_why[96];

static void	 slot_ready(struct slot *);
static void	 slot_failed(struct slot *, const char *);
static void	 stopped(void);

/* How slot.c reaches the process layer, and reports to the ones above. */
static const struct slot_procs procs = {
	.start = worker_start, .stop = worker_stop, .kill = worker_kill,
	.release = worker_free, .count = worker_count, .rss = worker_rss,
};
static const struct slot_hooks hooks = {
	.config = reload_config_for, .ready = slot_ready,
	.failed = slot_failed, .done = reload_slot_done, .gone = stopped,
};

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
static void
slot_ready(struct slot *s)
{
	char st[128], addrs[512], msg[768];
	int n = slot_wanted();

	if (cl.phase != PHASE_STARTING || slot_ready_count() < n)
		return;
	cl.phase = PHASE_RUNNING;
	slot_started();
	slot_status_line(st, sizeof st, cl.generation);
	describe_listeners(addrs, sizeof addrs);
	snprintf(msg, sizeof msg, "%s: %d/%d workers ready on %s (master %ld)",
	    cl.cfg->name, n, n, addrs, (long)cl.master_pid);
	log_notice("%s", msg);
	notify_systemd("READY=1\nSTATUS=%s\nMAINPID=%ld", st,
	    (long)cl.master_pid);
	daemon_started(EXIT_OK, msg);
	reload_resume();	/* a HUP that came while starting */
}

/* Before the cluster was ever ready, a worker that fails fails the start:
 * a typo in `command` costs milliseconds, not a timeout. */
static void
slot_failed(struct slot *s, const char *why)
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

/* Stopping, and the last worker is gone. */
static void
stopped(void)
{
	ev_break(cl.loop, EVBREAK_ALL);
}

/*
 * Graceful stop: STOPPING=1; the master closes its own copies of
 * the listening sockets at once, so that once the workers stop accepting,
 * new clients are refused instead of queueing for nobody; every worker
 * gets stop_signal, SIGKILL after stop_timeout. A stop asked for again
 * during it kills now.
 */
static void
stop_begin(const char *why)
{
	struct listener *l;

	ev_timer_stop(cl.loop, &lame_w);
	log_notice("stopping: %s", why);
	if (cl.phase != PHASE_LAME_DUCK)
		cl.stop_started = ev_now(cl.loop);
	events_stop("begin", why);
	upgrade_abort("the cluster is stopping");
	cl.phase = PHASE_STOPPING;
	worker_kill_leftovers();
	notify_systemd("STOPPING=1\nSTATUS=stopping: %s", why);
	reload_abort("the cluster is stopping");
	for (l = cl.all; l != NULL; l = l->next)
		listen_shut(l);
	slot_stop_all();
}

/*
 * The lame duck (stop_delay): a load balancer or Kubernetes takes the
 * instance out of rotation while it is told to stop, so whatever it still
 * sends must be served. For stop_delay every socket stays open and every
 * worker serves (a crash still respawns), only reloads and scaling are
 * refused; then the stop above. The delay is the one in force now.
 */
static void
lame_duck_begin(const char *why)
{
	double d = cl.cfg->stop_delay;

	snprintf(stop_why, sizeof stop_why, "%s", why);
	cl.phase = PHASE_LAME_DUCK;
	cl.stop_started = ev_now(cl.loop);
	log_notice("stopping: %s: lame duck for %.1fs (sockets open, workers "
	    "serving; a second SIGTERM or `clusterd stop --now` cuts it "
	    "short)", why, d);
	notify_systemd("STOPPING=1\nSTATUS=stopping: lame duck for %.1fs", d);
	ev_timer_set(&lame_w, d, 0.);
	ev_timer_start(cl.loop, &lame_w);
}

static void
lame_duck_over(struct ev_loop *loop, ev_timer *w, int revents)
{
	char why[sizeof stop_why + 64];

	snprintf(why, sizeof why, "%s, after a %.1fs lame duck", stop_why,
	    ev_now(loop) - cl.stop_started);
	stop_begin(why);
}

/*
 * TERM, INT, `clusterd stop`, a failed start. Once the cluster has been
 * ready, stop_delay > 0 makes it a lame duck first. A second request
 * (TERM/INT; `clusterd stop` joins instead, see control.c) cuts the lame
 * duck short and the graceful stop begins; during the stop it kills now.
 */
static void
cluster_stop(const char *why)
{
	char msg[sizeof stop_why + 64];

	switch (cl.phase) {
	case PHASE_STOPPING:
		log_warn("second stop request: killing every worker now");
		worker_kill_all();
		return;
	case PHASE_LAME_DUCK:
		snprintf(msg, sizeof msg, "%s, lame duck cut short after %.1fs",
		    why, ev_now(cl.loop) - cl.stop_started);
		stop_begin(msg);
		return;
	case PHASE_RUNNING:
		if (cl.cfg->stop_delay > 0) {
			lame_duck_begin(why);
			return;
		}
		break;
	case PHASE_STARTING:
		break;
	}
	stop_begin(why);
}

/* `clusterd stop --now`: no lame duck, or what is left of it cut short,
 * or (during the stop) every worker killed now. */
static void
cluster_stop_now(const char *why)
{
	if (cl.phase == PHASE_RUNNING || cl.phase == PHASE_STARTING) {
		stop_begin(why);
		return;
	}
	cluster_stop(why);
}

static void
signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	char err[256];

	/* Stop, reload and scale wait for an upgrade under way. */
	if (w->signum != SIGUSR1 && w->signum != SIGUSR2 &&
	    upgrade_defer(w->signum))
		return;
	switch (w->signum) {
	case SIGUSR2:
		upgrade_request(NULL, NULL);
		break;
	case SIGTERM:
	case SIGINT:
		cluster_stop(w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	case SIGHUP:
		if (cl.phase == PHASE_LAME_DUCK || cl.phase == PHASE_STOPPING)
			log_warn("SIGHUP: reload refused: the cluster is "
			    "stopping");
		else
			reload_request(NULL, NULL);
		break;
	case SIGUSR1:
		if (log_reopen() < 0)
			log_err("cannot reopen the log: %s", strerror(errno));
		else
			log_info("log reopened");
		break;
	case SIGTTIN:
	case SIGTTOU:
		if (cl.phase == PHASE_LAME_DUCK ||
		    cl.phase == PHASE_STOPPING) {
			log_warn("%s: scale refused: the cluster is stopping",
			    w->signum == SIGTTIN ? "SIGTTIN" : "SIGTTOU");
			break;
		}
		if (reload_scale(slot_wanted() + (w->signum == SIGTTIN ? 1 :
		    -1), err, sizeof err) < 0)
			log_warn("%s: %s", w->signum == SIGTTIN ? "SIGTTIN" :
			    "SIGTTOU", err);
		break;
	}
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

/* Workers get the fd limit the master was started with; the master raises
 * its own. As PID 1 of a container, or a subreaper, orphans come to us;
 * worker.c reaps every child, known or not. */
static void
setup_process(void)
{
	struct rlimit rl;

	getrlimit(RLIMIT_NOFILE, &cl.orig_nofile);
	rl = cl.orig_nofile;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
}

/* The runtime directories and the pidfile lock: 0, or the exit code. */
static int
claim_runtime(const struct config *c)
{
	char err[PATH_MAX + 128], dir[PATH_MAX];
	pid_t owner;
	int r;

	if (dir_of(c->pidfile, dir, sizeof dir) < 0 ||
	    dir_of(c->control, dir, sizeof dir) < 0) {
		snprintf(err, sizeof err, "%s: runtime directory: %s",
		    c->name, dir);
		log_err("%s", err);
		daemon_started(EXIT_SYSTEM, err);
		return EXIT_SYSTEM;
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
	return 0;
}

/* Sockets from systemd where they match, then test-bind everything before
 * binding anything; the notify and control sockets. */
static int
bind_all(struct config *c, char *err, size_t errlen)
{
	int i;

	if ((c->lset = calloc((size_t)c->nlistens, sizeof *c->lset)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->nlset = c->nlistens;
	if (listen_activated(c, err, errlen) < 0)
		return -EINVAL;
	if (listen_adopt(c, err, errlen) < 0)
		return -EADDRINUSE;
	for (i = 0; i < c->nlistens; i++)
		if (c->lset[i] == NULL &&
		    listen_test_bind(&c->listens[i], err, errlen) < 0)
			return -EADDRINUSE;
	for (i = 0; i < c->nlistens; i++) {
		if (c->lset[i] != NULL)
			continue;
		if ((c->lset[i] = listen_new(&c->listens[i], c->workers, err,
		    errlen)) == NULL)
			return -EADDRINUSE;
		listen_ref(c->lset[i]);
	}
	if (notify_open(err, errlen) < 0 ||
	    control_listen(c->control, cluster_stop, err, errlen) < 0 ||
	    admin_listen(c, err, errlen) < 0)
		return -EIO;
	control_on_stop_now(cluster_stop_now);
	return 0;
}

static void
watch_signals(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1,
		SIGTTIN, SIGTTOU, SIGUSR2 };
	size_t i;

	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		ev_signal_init(&cl.sig_w[i], signal_cb, sigs[i]);
		ev_signal_start(cl.loop, &cl.sig_w[i]);
	}
}

/* After the loop: a reload may have freed the first config, cl.cfg is the
 * current one. */
static void
teardown(void)
{
	log_notice("%s: master %ld exiting (%s, %.1fs to stop%s)",
	    cl.cfg->name, (long)cl.master_pid,
	    cl.exit_code ? "start failed" : "stopped",
	    ev_now(cl.loop) - cl.stop_started,
	    worker_nkilled() ? ", workers killed" : "");
	control_stopped();
	admin_close();
	events_stop("done", cl.exit_code ? "start failed" : "stopped");
	events_close();
	notify_close();
	daemon_remove_pidfile();
	slot_free_all();
	reload_release(cl.cfg);
	log_loop(NULL);
	ev_loop_destroy(cl.loop);
	log_close();
}

/*
 * The supervisor, for `run` (start_fd -1) and for the daemon of `start`
 * (start_fd: the pipe its foreground part waits on). Returns the exit code.
 */
int
cluster_run(struct config *c, int start_fd)
{
	char err[512];
	int r;

	memset(&cl, 0, sizeof cl);
	cl.cfg = c;
	cl.master_pid = getpid();
	cl.generation = cl.last_generation = 1;
	cl.steer_disabled = getenv("CLUSTERD_NO_STEER") != NULL;
	signal(SIGPIPE, SIG_IGN);
	if (log_open(start_fd == -1 && !c->log_set ? NULL : c->log) < 0) {
		daemon_started(EXIT_SYSTEM, "cannot open the log");
		return EXIT_SYSTEM;
	}
	log_configure(c->name, c->log_format);
	setup_process();
	if ((r = claim_runtime(c)) != 0) {
		reload_release(c);
		return r;
	}

	/* Signals through a signalfd, blocked otherwise: SIGTTOU (scale
	 * down) caught by a handler made each write of a background master
	 * to a `stty tostop` terminal raise SIGTTOU again and restart, for
	 * ever; a blocked SIGTTOU lets the write through and still reaches
	 * us when someone sends it. Not the default loop: that one reaps
	 * children with waitpid, and worker.c reaps them with wait4 for
	 * their CPU time. */
	cl.loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_SIGNALFD);
	if (cl.loop == NULL) {
		snprintf(err, sizeof err, "%s: cannot create the event loop",
		    c->name);
		log_err("%s", err);
		daemon_started(EXIT_SYSTEM, err);
		daemon_remove_pidfile();
		reload_release(c);
		return EXIT_SYSTEM;
	}
	ev_timer_init(&lame_w, lame_duck_over, 0., 0.);
	log_loop(cl.loop);
	slot_init(cl.loop, &procs, &hooks, cl.steer_disabled);
	worker_init(cl.loop, slot_worker_event, notify_socket_name());
	if (bind_all(c, err, sizeof err) < 0)
		goto fail_system;
	watch_signals();
	slot_watch_memory(c->max_memory > 0);
	slot_watch_stall(c->stall_timeout);
	notify_watchdog_start();
	cl.started = ev_now(cl.loop);
	log_notice("%s: master %ld starting %d workers (generation 1)",
	    c->name, (long)cl.master_pid, c->workers);
	notify_systemd("STATUS=starting %d workers", c->workers);
	if (reload_scale(c->workers, err, sizeof err) < 0)
		goto fail_system;

	ev_run(cl.loop, 0);
	teardown();
	return cl.exit_code;

fail_system:
	log_err("%s", err);
	log_loop(NULL);		/* the journal: what waits, now or never */
	daemon_started(EXIT_SYSTEM, err);
	control_close();
	admin_close();
	notify_close();
	daemon_remove_pidfile();
	reload_release(c);
	return EXIT_SYSTEM;
}

/* ------------------------------------------------------------------ */
/* Across an upgrade (upgrade.c): the cluster's own state, and the new   */
/* image's start.                                                      */

/* The config in force travels as the text it was parsed from: FILE may
 * have been edited since, and only a reload applies an edit. */
void
cluster_dump(struct ustate *st)
{
	int i;

	upgrade_put_str(st, log_file());
	upgrade_put_u64(st, (uint64_t)cl.phase);
	upgrade_put_dbl(st, cl.started);
	upgrade_put_u64(st, cl.generation);
	upgrade_put_u64(st, cl.last_generation);
	upgrade_put_u64(st, (uint64_t)cl.orig_nofile.rlim_cur);
	upgrade_put_u64(st, (uint64_t)cl.orig_nofile.rlim_max);
	upgrade_put_u64(st, cl.steer_disabled);
	for (i = 0; i < EXIT_NREASONS; i++)
		upgrade_put_u64(st, cl.exits[i]);
	upgrade_put_u64(st, cl.reloads_ok);
	upgrade_put_u64(st, cl.reloads_failed);
	upgrade_put_dbl(st, cl.reload_duration);
	upgrade_put_str(st, cl.cfg->file);
	upgrade_put_mem(st, cl.cfg->text, cl.cfg->textlen);
	upgrade_put_str(st, cl.cfg->log);
	upgrade_put_u64(st, cl.cfg->log_set);
}

int
cluster_restore(struct ustate *st)
{
	char *logf, *file, *text, *clog, err[1024];
	bool log_set;
	size_t len;
	int i, r;

	logf = upgrade_get_str(st);
	r = log_open(logf);
	free(logf);
	if (r < 0)
		return r;
	cl.phase = (enum cluster_phase)upgrade_get_u64(st);
	cl.started = upgrade_get_dbl(st);
	cl.generation = (unsigned)upgrade_get_u64(st);
	cl.last_generation = (unsigned)upgrade_get_u64(st);
	cl.orig_nofile.rlim_cur = (rlim_t)upgrade_get_u64(st);
	cl.orig_nofile.rlim_max = (rlim_t)upgrade_get_u64(st);
	cl.steer_disabled = upgrade_get_u64(st) != 0;
	for (i = 0; i < EXIT_NREASONS; i++)
		cl.exits[i] = (unsigned long)upgrade_get_u64(st);
	cl.reloads_ok = (unsigned long)upgrade_get_u64(st);
	cl.reloads_failed = (unsigned long)upgrade_get_u64(st);
	cl.reload_duration = upgrade_get_dbl(st);
	file = upgrade_get_str(st);
	text = upgrade_get_blob(st, &len);
	clog = upgrade_get_str(st);
	log_set = upgrade_get_u64(st) != 0;
	cl.cfg = NULL;
	r = -EBADMSG;
	if (!upgrade_get_failed(st) && file != NULL && text != NULL) {
		if (config_load_text(file, text, len, CONFIG_FULL, &cl.cfg,
		    err, sizeof err) == 0)
			r = 0;
		else
			log_err("upgrade: the configuration in force: %s", err);
	}
	if (r == 0) {
		/* What `start` filled in (its default log file). */
		free(cl.cfg->log);
		cl.cfg->log = clog;
		clog = NULL;
		cl.cfg->log_set = log_set;
		/* Before the other parts log anything. */
		log_configure(cl.cfg->name, cl.cfg->log_format);
	}
	free(clog);
	free(text);
	free(file);
	return r;
}

/*
 * The new image after execve: the same steps as cluster_run, but every
 * socket, pipe and worker comes from the state instead of being made. The
 * handled signals are still blocked (the old image blocked them, execve
 * keeps the mask and what is pending); the loop's signalfd reads them
 * once the watchers exist. Then one reap for the children that exited
 * while no image was watching.
 */
int
cluster_resume(struct ustate *st)
{
	int r;

	memset(&cl, 0, sizeof cl);
	cl.master_pid = getpid();
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	/* As in cluster_run: not the default loop (worker.c reaps). */
	if ((cl.loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_SIGNALFD)) == NULL) {
		log_err("upgrade: the new image cannot create its event loop; "
		    "the master exits, its workers with it");
		return EXIT_FAILED;
	}
	ev_timer_init(&lame_w, lame_duck_over, 0., 0.);
	log_loop(cl.loop);
	slot_init(cl.loop, &procs, &hooks, false);
	worker_init(cl.loop, slot_worker_event, notify_socket_name());
	if ((r = upgrade_restore_parts(st)) < 0) {
		log_err("upgrade: the new image cannot go on: %s; the master "
		    "exits, its workers with it", strerror(-r));
		return EXIT_FAILED;
	}
	control_on_stop(cluster_stop);
	watch_signals();
	ev_feed_signal_event(cl.loop, SIGCHLD);
	slot_watch_memory(cl.cfg->max_memory > 0);
	slot_watch_stall(cl.cfg->stall_timeout);
	notify_watchdog_start();
	upgrade_done(worker_count(-1));
	control_release();	/* what was asked during the upgrade */

	ev_run(cl.loop, 0);
	teardown();
	return cl.exit_code;
}
