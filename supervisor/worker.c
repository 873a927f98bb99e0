/*
 * worker.c - the slot table and the worker state machine: spawn (fork, fd
 * and environment hand-over, exec), readiness deadlines, the one reap path,
 * crash backoff, graceful stop with a SIGKILL of the process group after
 * stop_timeout (the workers' output pipes: output.c).
 *
 * A slot is a stable position 0..N-1 (CLUSTERD_WORKER); a worker is one
 * process that runs in it. During a reload a slot has two: `cur` (old
 * generation, serving) and `incoming` (new, starting). Draining workers are
 * off their slot and only wait to exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clusterd.h"

extern char	**environ;

/* A worker that stayed ready this long was not crash-looping: its slot's
 * backoff starts again from restart_delay (like PM2's min_uptime). */
#define BACKOFF_RESET_AFTER	1.0
/* A backoff this long does not keep queued connections waiting. */
#define REQUEUE_AFTER		1.0
/* Scale-down: how long, and how often, to wait for a slot's queue to
 * empty before its worker is told to stop. */
#define SCALE_DRAIN_MAX		0.5
#define SCALE_DRAIN_CHECK	0.005

static void	 child_cb(struct ev_loop *, ev_child *, int);
static void	 timer_cb(struct ev_loop *, ev_timer *, int);
static void	 backoff_cb(struct ev_loop *, ev_timer *, int);
static void	 drain_cb(struct ev_loop *, ev_timer *, int);
static void	 worker_free(struct worker *);
static void	 slot_crashed(struct slot *, struct worker *, const char *);
static void	 spawn_failed(struct slot *, const char *);
static char	**build_env(const struct slot *, unsigned generation,
		    const struct config *);

static const char *worker_states[] = {
	[WORKER_STARTING] = "starting", [WORKER_READY] = "ready",
	[WORKER_DRAINING] = "draining", [WORKER_EXITED] = "exited",
};
static const char *slot_states[] = {
	[SLOT_STOPPED] = "stopped", [SLOT_STARTING] = "starting",
	[SLOT_READY] = "ready", [SLOT_BACKOFF] = "backoff",
};

const char *
worker_state_name(enum worker_state s)
{
	return worker_states[s];
}

const char *
slot_state_name(enum slot_state s)
{
	return slot_states[s];
}

static struct slot *
slot_new(int index)
{
	struct slot *s;

	if ((s = calloc(1, sizeof *s)) == NULL)
		return NULL;
	s->index = index;
	s->state = SLOT_STOPPED;
	s->backoff = cl.cfg->restart_delay;
	ev_timer_init(&s->backoff_w, backoff_cb, 0., 0.);
	s->backoff_w.data = s;
	ev_timer_init(&s->drain_w, drain_cb, 0., 0.);
	s->drain_w.data = s;
	return s;
}

/* Size the slot table; slots beyond the old size start stopped. */
int
worker_init(int nslots)
{
	struct slot **slots;
	int i;

	if (nslots <= cl.nslots)
		return 0;
	slots = realloc(cl.slots, sizeof *slots * (size_t)nslots);
	if (slots == NULL)
		return -ENOMEM;
	cl.slots = slots;
	for (i = cl.nslots; i < nslots; i++) {
		if ((cl.slots[i] = slot_new(i)) == NULL)
			return -ENOMEM;
		cl.nslots = i + 1;
	}
	return 0;
}

/* Every slot state change goes through here and is logged in one format. */
void
slot_set_state(struct slot *s, enum slot_state state)
{
	pid_t pid = s->cur ? s->cur->pid : 0;

	if (s->state == state)
		return;
	log_info("slot %d: %s -> %s (pid %ld)", s->index,
	    slot_states[s->state], slot_states[state], (long)pid);
	s->state = state;
	worker_steer_refresh();
}

void
worker_set_state(struct worker *w, enum worker_state state)
{
	if (w->state == state)
		return;
	log_debug("worker %ld (slot %d, generation %u): %s -> %s",
	    (long)w->pid, w->slot, w->generation, worker_states[w->state],
	    worker_states[state]);
	w->state = state;
}

struct worker *
worker_find_pid(pid_t pid)
{
	struct worker *w;

	for (w = cl.workers; w != NULL; w = w->next)
		if (w->pid == pid)
			return w;
	return NULL;
}

int
worker_count(enum worker_state state)
{
	struct worker *w;
	int n = 0;

	for (w = cl.workers; w != NULL; w = w->next)
		n += w->state == state;
	return n;
}

int
worker_slots_ready(void)
{
	int i, n = 0;

	for (i = 0; i < cl.nslots; i++)
		n += cl.slots[i]->wanted && cl.slots[i]->state == SLOT_READY;
	return n;
}

/* The one exit-status formatter: "exit code 3", "signal 9 (KILL)",
 * "signal 6 (ABRT), core dumped". */
void
worker_format_exit(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit code %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "signal %d (%s)%s", WTERMSIG(status),
		    config_signame(WTERMSIG(status)),
		    WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, len, "status 0x%x", status);
}

/* ------------------------------------------------------------------ */
/* Spawn.                                                               */

static int
env_push(char ***env, size_t *n, size_t *cap, char *s)
{
	char **e;

	if (s == NULL)
		return -ENOMEM;
	if (*n + 2 > *cap) {
		*cap = *cap ? *cap * 2 : 64;
		if ((e = realloc(*env, sizeof *e * *cap)) == NULL) {
			free(s);
			return -ENOMEM;
		}
		*env = e;
	}
	(*env)[(*n)++] = s;
	(*env)[*n] = NULL;
	return 0;
}

/* Is NAME=... overridden by the config's env or by what clusterd sets? */
static bool
env_dropped(const char *kv, const struct config *c)
{
	static const char *drop[] = { "LISTEN_FDS=", "LISTEN_PID=",
		"LISTEN_FDNAMES=", "NOTIFY_SOCKET=", "WATCHDOG_USEC=",
		"WATCHDOG_PID=", "JOURNAL_STREAM=", "CLUSTERD_WORKER=",
		"CLUSTERD_GENERATION=", NULL };
	const char *eq;
	int i;

	for (i = 0; drop[i] != NULL; i++)
		if (strncmp(kv, drop[i], strlen(drop[i])) == 0)
			return true;
	if ((eq = strchr(kv, '=')) == NULL)
		return true;
	for (i = 0; i < c->nenv; i++)
		if (strncmp(c->env[i], kv, (size_t)(eq - kv) + 1) == 0)
			return true;
	if (c->user != NULL && (strncmp(kv, "HOME=", 5) == 0 ||
	    strncmp(kv, "USER=", 5) == 0 || strncmp(kv, "LOGNAME=", 8) == 0 ||
	    strncmp(kv, "SHELL=", 6) == 0))
		return true;
	return false;
}

static char *
fmt(const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	if (vasprintf(&s, f, ap) == -1)
		s = NULL;
	va_end(ap);
	return s;
}

/*
 * The environment of SPEC section 4, built in the parent (no allocation
 * after fork). LISTEN_PID and WATCHDOG_PID are the child's own pid, which
 * only the child knows: their values are placeholders it overwrites.
 */
static char **
build_env(const struct slot *s, unsigned generation, const struct config *c)
{
	char **env = NULL, **e, names[1024];
	size_t n = 0, cap = 0, off = 0;
	struct passwd *pw;
	int i, r = 0;

	for (e = environ; *e != NULL && r == 0; e++)
		if (!env_dropped(*e, c))
			r = env_push(&env, &n, &cap, strdup(*e));
	names[0] = '\0';
	for (i = 0; i < c->nlset && off < sizeof names; i++)
		off += (size_t)snprintf(names + off, sizeof names - off, "%s%s",
		    i ? ":" : "", c->lset[i]->cfg.name);
	r |= env_push(&env, &n, &cap, fmt("LISTEN_FDS=%d", c->nlset));
	r |= env_push(&env, &n, &cap, strdup("LISTEN_PID=0000000000"));
	r |= env_push(&env, &n, &cap, fmt("LISTEN_FDNAMES=%s", names));
	r |= env_push(&env, &n, &cap, fmt("NOTIFY_SOCKET=%s", cl.notify_name));
	r |= env_push(&env, &n, &cap, fmt("CLUSTERD_WORKER=%d", s->index));
	r |= env_push(&env, &n, &cap, fmt("CLUSTERD_GENERATION=%u",
	    generation));
	if (c->watchdog > 0) {
		r |= env_push(&env, &n, &cap, fmt("WATCHDOG_USEC=%llu",
		    (unsigned long long)(c->watchdog * 1e6)));
		r |= env_push(&env, &n, &cap,
		    strdup("WATCHDOG_PID=0000000000"));
	}
	if (c->user != NULL && (pw = getpwnam(c->user)) != NULL) {
		r |= env_push(&env, &n, &cap, fmt("HOME=%s", pw->pw_dir));
		r |= env_push(&env, &n, &cap, fmt("USER=%s", pw->pw_name));
		r |= env_push(&env, &n, &cap, fmt("LOGNAME=%s", pw->pw_name));
		r |= env_push(&env, &n, &cap, fmt("SHELL=%s", pw->pw_shell));
	}
	for (i = 0; i < c->nenv; i++)
		r |= env_push(&env, &n, &cap, strdup(c->env[i]));
	if (r != 0) {
		config_free_argv(env);
		return NULL;
	}
	return env;
}

/* Child side of the fork: async-signal-safe calls only, then exec. */
static void __attribute__((noreturn))
child_exec(const struct config *c, char **env, int out_fd, pid_t master,
    const int *socks)
{
	struct sigaction sa;
	sigset_t none;
	char *p, num[16];
	int i, fd, sig, n = c->nlset, devnull;
	pid_t self = getpid();

	setpgid(0, 0);
	/* Default dispositions first, then unblock (traps.md: libev). */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* Sockets to 3..3+n-1. First move everything out of the way of the
	 * target range, then dup2 down: dup2 clears FD_CLOEXEC on the copy. */
	devnull = open("/dev/null", O_RDONLY);
	fd = fcntl(out_fd, F_DUPFD, 3 + n);
	dup2(devnull, STDIN_FILENO);
	if (fd != -1) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	{
		int moved[64];
		for (i = 0; i < n && i < 64; i++)
			moved[i] = fcntl(socks[i], F_DUPFD_CLOEXEC, 3 + n);
		for (i = 0; i < n && i < 64; i++)
			dup2(moved[i], 3 + i);
	}
	/* Every other fd goes: nothing of the master leaks into a worker. */
	close_range(3 + (unsigned)n, ~0U, 0);
	/* The limits the master was started with, not its raised ones. */
	setrlimit(RLIMIT_NOFILE, &cl.orig_nofile);

	/* LISTEN_PID / WATCHDOG_PID placeholders get our pid. */
	snprintf(num, sizeof num, "%ld", (long)self);
	for (i = 0; env[i] != NULL; i++) {
		if (strncmp(env[i], "LISTEN_PID=", 11) == 0)
			p = env[i] + 11;
		else if (strncmp(env[i], "WATCHDOG_PID=", 13) == 0)
			p = env[i] + 13;
		else
			continue;
		memcpy(p, num, strlen(num) + 1);
	}

	if (c->directory != NULL && chdir(c->directory) == -1) {
		dprintf(STDERR_FILENO, "clusterd: worker: chdir %s: %s\n",
		    c->directory, strerror(errno));
		_exit(126);
	}
	if (c->user != NULL || c->group != NULL) {
		if (getuid() == 0 && c->user != NULL &&
		    initgroups(c->user, c->gid) == -1)
			goto priv;
		if (getuid() == 0 && c->user == NULL &&
		    setgroups(1, &c->gid) == -1)
			goto priv;
		if (setgid(c->gid) == -1)
			goto priv;
		if (c->user != NULL && setuid(c->uid) == -1)
			goto priv;
	}
	/* After the uid change, which would clear it (traps.md); then make
	 * sure the master did not die before it was set. */
	prctl(PR_SET_PDEATHSIG, c->stop_signal);
	if (getppid() != master)
		_exit(125);
	execvpe(c->argv[0], c->argv, env);
	dprintf(STDERR_FILENO, "clusterd: worker: exec %s: %s\n", c->argv[0],
	    strerror(errno));
	_exit(127);
priv:
	dprintf(STDERR_FILENO, "clusterd: worker: cannot become %s/%s: %s\n",
	    c->user ? c->user : "-", c->group ? c->group : "-",
	    strerror(errno));
	_exit(126);
}

/* Start a worker of `generation` in slot s: as its current worker, or as
 * the incoming one when the slot already has a worker (reload). */
void
worker_spawn(struct slot *s, unsigned generation, const struct config *c)
{
	struct worker *w;
	char **env;
	int pfd[2], socks[64], i;
	sigset_t all, old;
	pid_t pid, master = getpid();
	double deadline;

	for (i = 0; i < c->nlset && i < 64; i++)
		socks[i] = listen_slot_fd(c->lset[i], s->index);
	if ((w = calloc(1, sizeof *w)) == NULL ||
	    (env = build_env(s, generation, c)) == NULL) {
		free(w);
		log_err("slot %d: cannot spawn: out of memory", s->index);
		spawn_failed(s, "out of memory");
		return;
	}
	if (pipe2(pfd, O_CLOEXEC) == -1) {
		log_err("slot %d: pipe: %s", s->index, strerror(errno));
		config_free_argv(env);
		free(w);
		spawn_failed(s, "pipe failed");
		return;
	}
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		child_exec(c, env, pfd[1], master, socks);
	sigprocmask(SIG_SETMASK, &old, NULL);
	config_free_argv(env);
	close(pfd[1]);
	if (pid == -1) {
		log_err("slot %d: fork: %s", s->index, strerror(errno));
		close(pfd[0]);
		free(w);
		spawn_failed(s, "fork failed");
		return;
	}
	setpgid(pid, pid);	/* no race with the child's own setpgid */

	w->pid = pid;
	w->slot = s->index;
	w->generation = generation;
	w->state = WORKER_STARTING;
	w->started = ev_now(cl.loop);
	w->ready = c->ready;
	w->stop_signal = c->stop_signal;
	w->ready_delay = c->ready_delay;
	w->ready_timeout = c->ready_timeout;
	w->stop_timeout = c->stop_timeout;
	w->watchdog = c->watchdog;
	w->max_memory = c->max_memory;
	/* The worker holds these sockets: they stay bound until it is gone,
	 * even when a reload drops them from the configuration. */
	if ((w->lset = calloc((size_t)c->nlset + 1, sizeof *w->lset)) != NULL) {
		for (i = 0; i < c->nlset; i++) {
			w->lset[i] = c->lset[i];
			listen_ref(w->lset[i]);
		}
		w->nlset = c->nlset;
	}
	output_start(w, pfd[0]);
	w->next = cl.workers;
	cl.workers = w;

	ev_child_init(&w->child_w, child_cb, pid, 0);
	w->child_w.data = w;
	ev_child_start(cl.loop, &w->child_w);

	/* ready = delay: ready once alive ready_delay; either way, not ready
	 * by ready_timeout = a failed start. One timer serves both. */
	deadline = w->ready_timeout;
	if (w->ready == READY_DELAY && w->ready_delay < deadline)
		deadline = w->ready_delay;
	ev_timer_init(&w->timer_w, timer_cb, deadline, 0.);
	w->timer_w.data = w;
	ev_timer_start(cl.loop, &w->timer_w);

	log_info("slot %d: started pid %ld, generation %u: %s", s->index,
	    (long)pid, generation, c->command);
	if (s->cur == NULL) {
		s->cur = w;
		slot_set_state(s, SLOT_STARTING);
	} else
		s->incoming = w;
}

/* ------------------------------------------------------------------ */
/* Readiness, stop, deadlines.                                          */

void
worker_ready(struct worker *w)
{
	struct slot *s = cl.slots[w->slot];

	if (w->state != WORKER_STARTING)
		return;
	ev_timer_stop(cl.loop, &w->timer_w);
	worker_set_state(w, WORKER_READY);
	w->ready_at = w->last_watchdog = ev_now(cl.loop);
	log_info("slot %d: pid %ld ready after %.3fs (generation %u)",
	    w->slot, (long)w->pid, w->ready_at - w->started, w->generation);
	if (w->watchdog > 0) {
		ev_timer_set(&w->timer_w, w->watchdog, 0.);
		ev_timer_start(cl.loop, &w->timer_w);
	}
	if (w == s->incoming) {
		/* Replacement ready: it takes the slot, the old one drains
		 * (both accepted on the same socket meanwhile). */
		struct worker *old = s->cur;

		s->cur = w;
		s->incoming = NULL;
		if (old != NULL)
			worker_stop(old, "replaced");
		slot_set_state(s, SLOT_READY);
		reload_step();
		return;
	}
	if (w == s->cur)
		slot_set_state(s, SLOT_READY);
	cluster_check_started();
	reload_step();
}

/* Graceful: stop_signal now, SIGKILL of the whole group at stop_timeout. */
void
worker_stop(struct worker *w, const char *why)
{
	if (w->state == WORKER_DRAINING || w->state == WORKER_EXITED)
		return;
	log_info("slot %d: stopping pid %ld (generation %u): %s; %s", w->slot,
	    (long)w->pid, w->generation, why,
	    config_signame(w->stop_signal));
	worker_set_state(w, WORKER_DRAINING);
	w->stop_sent = ev_now(cl.loop);
	kill(w->pid, w->stop_signal);
	ev_timer_stop(cl.loop, &w->timer_w);
	ev_timer_set(&w->timer_w, w->stop_timeout, 0.);
	ev_timer_start(cl.loop, &w->timer_w);
}

static void
worker_kill(struct worker *w, int sig)
{
	if (!w->killed && sig == SIGKILL)
		log_warn("slot %d: pid %ld: killing its process group",
		    w->slot, (long)w->pid);
	if (sig == SIGKILL)
		w->killed = true;
	killpg(w->pid, sig);
}

void
worker_stop_all(void)
{
	struct worker *w;
	int i;

	for (i = 0; i < cl.nslots; i++) {
		ev_timer_stop(cl.loop, &cl.slots[i]->backoff_w);
		ev_timer_stop(cl.loop, &cl.slots[i]->drain_w);
	}
	for (w = cl.workers; w != NULL; w = w->next)
		worker_stop(w, "cluster stopping");
}

void
worker_kill_all(void)
{
	struct worker *w;

	for (w = cl.workers; w != NULL; w = w->next) {
		if (!w->killed)
			cl.nkilled++;
		worker_kill(w, SIGKILL);
	}
}

static void
timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = t->data;
	struct slot *s = cl.slots[w->slot];
	double alive = ev_now(loop) - w->started;

	switch (w->state) {
	case WORKER_STARTING:
		if (w->ready == READY_DELAY &&
		    alive + 0.001 >= w->ready_delay) {
			worker_ready(w);
			return;
		}
		snprintf(s->last_exit, sizeof s->last_exit,
		    "not ready after %.1fs", w->ready_timeout);
		log_warn("slot %d: pid %ld not ready within ready_timeout "
		    "(%.1fs)", w->slot, (long)w->pid, w->ready_timeout);
		if (cl.phase == PHASE_STARTING) {
			cluster_fail_start(s, "not ready within ready_timeout");
			return;
		}
		worker_stop(w, "not ready in time");
		if (w == s->incoming)
			reload_step();
		break;
	case WORKER_READY:
		/* The worker watchdog: no WATCHDOG=1 within the interval. */
		if (ev_now(loop) - w->last_watchdog >= w->watchdog) {
			log_err("slot %d: pid %ld hangs: no WATCHDOG=1 for "
			    "%.1fs; aborting it", w->slot, (long)w->pid,
			    ev_now(loop) - w->last_watchdog);
			w->hung = true;
			w->stop_sent = ev_now(loop);
			snprintf(s->last_exit, sizeof s->last_exit,
			    "watchdog timeout");
			worker_set_state(w, WORKER_DRAINING);
			worker_steer_refresh();
			/* SIGABRT for a core dump; SIGCONT in case it was
			 * stopped, which would hold the SIGABRT pending. */
			kill(w->pid, SIGABRT);
			kill(w->pid, SIGCONT);
			/* SIGKILL follows if SIGABRT does not end it. */
			ev_timer_set(t, w->watchdog < 5 ? w->watchdog : 5., 0.);
			ev_timer_start(loop, t);
			return;
		}
		ev_timer_set(t, w->last_watchdog + w->watchdog -
		    ev_now(loop), 0.);
		ev_timer_start(loop, t);
		break;
	case WORKER_DRAINING:
		if (!w->killed)
			cl.nkilled += cl.phase == PHASE_STOPPING;
		log_warn("slot %d: pid %ld still running %.1fs after it was "
		    "told to stop", w->slot, (long)w->pid,
		    ev_now(loop) - w->stop_sent);
		worker_kill(w, SIGKILL);
		break;
	case WORKER_EXITED:
		break;
	}
}

void
worker_watchdog_ping(struct worker *w)
{
	w->last_watchdog = ev_now(cl.loop);
}

/* ------------------------------------------------------------------ */
/* Reap and respawn.                                                    */

static void
backoff_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct slot *s = t->data;
	struct listener *l;

	if (cl.phase == PHASE_STOPPING || !s->wanted || s->cur != NULL)
		return;
	for (l = cl.all; l != NULL; l = l->next)
		listen_repair(l, s->index);
	worker_spawn(s, cl.generation, cl.cfg);
}

/* Does a process other than the master still hold the slot's sockets (a
 * draining worker of an older generation)? */
static bool
slot_held(const struct slot *s)
{
	struct worker *w;

	for (w = cl.workers; w != NULL; w = w->next)
		if (w->slot == s->index && w->state != WORKER_EXITED)
			return true;
	return false;
}

/* Connections queued on a slot that goes into a long backoff are moved to
 * the other slots (or reset): see listen_requeue. */
static void
slot_requeue(struct slot *s, double delay)
{
	struct listener *l;
	int n;

	if (cl.steer_disabled)
		return;
	for (l = cl.all; l != NULL; l = l->next) {
		n = listen_requeue(l, s->index);
		if (n > 0)
			log_notice("slot %d: %d queued connection(s) on %s %s "
			    "(backoff %.1fs)", s->index, n,
			    listen_describe(l),
			    listen_migrate_req() == 1 ? "moved to other slots" :
			    "reset (net.ipv4.tcp_migrate_req = 0)", delay);
		else if (n < 0)
			log_warn("slot %d: cannot replace its socket on %s: %s",
			    s->index, listen_describe(l),
			    strerror(-n));
	}
}

/* The slot lost its worker (w, or a spawn that never happened). */
static void
slot_crashed(struct slot *s, struct worker *w, const char *how)
{
	double delay;

	if (w != NULL && s->cur == w)
		s->cur = NULL;
	if (cl.phase == PHASE_STOPPING || !s->wanted) {
		slot_set_state(s, SLOT_STOPPED);
		return;
	}
	if (cl.phase == PHASE_STARTING) {
		cluster_fail_start(s, how);
		return;
	}
	/* Double up to the max while it keeps failing (child_cb resets it
	 * for a worker that stayed up). */
	delay = s->backoff;
	s->backoff *= 2;
	if (s->backoff > cl.cfg->restart_delay_max)
		s->backoff = cl.cfg->restart_delay_max;
	if (s->backoff < cl.cfg->restart_delay)
		s->backoff = cl.cfg->restart_delay;
	s->restarts++;
	slot_set_state(s, SLOT_BACKOFF);
	if (delay >= REQUEUE_AFTER && !slot_held(s))
		slot_requeue(s, delay);
	log_info("slot %d: restarting in %.3fs (restart %u)", s->index, delay,
	    s->restarts);
	ev_timer_stop(cl.loop, &s->backoff_w);
	ev_timer_set(&s->backoff_w, delay, 0.);
	ev_timer_start(cl.loop, &s->backoff_w);
}

/*
 * No process was started. A slot without a worker backs off as after a
 * crash. A slot that still has one (the spawn was a reload's or
 * max_memory's replacement) keeps it serving in its state; the reload
 * hears that its new worker failed instead of waiting for it forever.
 */
static void
spawn_failed(struct slot *s, const char *why)
{
	snprintf(s->last_exit, sizeof s->last_exit, "%s", why);
	if (s->cur == NULL)
		slot_crashed(s, NULL, why);
	if (cl.phase != PHASE_STOPPING)
		reload_step();
}

static void
child_cb(struct ev_loop *loop, ev_child *c, int revents)
{
	struct worker *w = c->data;
	struct slot *s = cl.slots[w->slot];
	struct listener *l;
	char how[64];

	ev_child_stop(loop, c);
	ev_timer_stop(loop, &w->timer_w);
	output_flush(w);
	worker_format_exit(c->rstatus, how, sizeof how);
	log_notice("slot %d: pid %ld (generation %u) exited: %s%s", w->slot,
	    (long)w->pid, w->generation, how, w->hung ? " (hung)" : "");
	worker_set_state(w, WORKER_EXITED);
	/* Group members it left behind die with the cluster. */
	if (cl.phase == PHASE_STOPPING)
		killpg(w->pid, SIGKILL);

	if (w == s->cur || w == s->incoming)
		snprintf(s->last_exit, sizeof s->last_exit, "%s", how);
	if (w == s->incoming) {
		s->incoming = NULL;
		worker_free(w);
		reload_step();
	} else if (w == s->cur) {
		s->cur = NULL;
		if (s->incoming != NULL) {
			/* The old one died mid-reload: the new takes over. */
			s->cur = s->incoming;
			s->incoming = NULL;
			slot_set_state(s, s->cur->state == WORKER_READY ?
			    SLOT_READY : SLOT_STARTING);
			worker_free(w);
		} else {
			/* Not a crash loop if it stayed up: back to the
			 * first delay. */
			if (w->ready_at > 0 && ev_now(loop) - w->ready_at >=
			    BACKOFF_RESET_AFTER)
				s->backoff = cl.cfg->restart_delay;
			worker_free(w);
			for (l = cl.all; l != NULL; l = l->next)
				listen_repair(l, s->index);
			slot_crashed(s, NULL, how);
		}
	} else
		worker_free(w);
	if (cl.phase == PHASE_STOPPING) {
		if (cl.workers == NULL)
			cluster_stopped();
		return;
	}
	if (!s->wanted && s->cur == NULL && s->incoming == NULL)
		worker_slot_gone(s);
	reload_step();
}

static void
worker_free(struct worker *w)
{
	struct worker **pp;
	int i;

	for (pp = &cl.workers; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	ev_timer_stop(cl.loop, &w->timer_w);
	ev_child_stop(cl.loop, &w->child_w);
	output_stop(w);
	for (i = 0; i < w->nlset; i++)
		listen_unref(w->lset[i]);
	free(w->lset);
	free(w);
}

/* ------------------------------------------------------------------ */
/* Scale and steering.                                                  */

/* A slot scaled away has no worker left: close its sockets. */
void
worker_slot_gone(struct slot *s)
{
	struct listener *l;

	slot_set_state(s, SLOT_STOPPED);
	for (l = cl.all; l != NULL; l = l->next)
		listen_close_slot(l, s->index);
}

/* Connections waiting in the slot's own queues (per-worker sockets). */
static int
slot_queued(const struct slot *s)
{
	struct listener *l;
	int n = 0, q;

	for (l = cl.all; l != NULL; l = l->next)
		if ((q = listen_queued(l, s->index)) > 0)
			n += q;
	return n;
}

/*
 * Scale-down of one slot: closing a SO_REUSEPORT socket resets whatever is
 * queued on it. Steering already sends new connections to the other slots;
 * the slot's worker keeps accepting until its queue is empty (checked every
 * few milliseconds, at most SCALE_DRAIN_MAX), and only then gets
 * stop_signal. Without steering the wait ends at the bound.
 */
static void
drain_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct slot *s = t->data;

	ev_timer_stop(loop, t);
	if (s->wanted)
		return;
	if (s->cur != NULL && s->cur->state == WORKER_READY &&
	    !cl.steer_disabled && cl.phase != PHASE_STOPPING &&
	    ev_now(loop) < s->drain_until && slot_queued(s) > 0) {
		ev_timer_set(t, SCALE_DRAIN_CHECK, 0.);
		ev_timer_start(loop, t);
		return;
	}
	if (s->incoming)
		worker_stop(s->incoming, "scaled down");
	if (s->cur)
		worker_stop(s->cur, "scaled down");
	else if (s->incoming == NULL)
		worker_slot_gone(s);
}

/* Change the wanted number of workers to n. New slots get new sockets
 * (per-worker) and start now; removed ones (the highest) drain. */
int
worker_scale(int n, char *err, size_t errlen)
{
	struct config *pending = reload_pending_config();
	int i, r, old = cl.wanted;

	if (n < 1 || n > WORKERS_MAX) {
		snprintf(err, errlen, "worker count %d out of range 1..%d", n,
		    WORKERS_MAX);
		return -ERANGE;
	}
	if ((r = worker_init(n)) < 0) {
		snprintf(err, errlen, "%s", strerror(-r));
		return r;
	}
	for (i = 0; i < cl.cfg->nlset; i++)
		if ((r = listen_resize(cl.cfg->lset[i], n, err, errlen)) < 0)
			return r;
	for (i = 0; pending != NULL && i < pending->nlset; i++)
		if ((r = listen_resize(pending->lset[i], n, err, errlen)) < 0)
			return r;
	cl.wanted = n;
	if (n != old)
		log_notice("scaling from %d to %d workers", old, n);
	for (i = 0; i < cl.nslots; i++) {
		struct slot *s = cl.slots[i];

		if (i < n && !s->wanted) {
			ev_timer_stop(cl.loop, &s->drain_w);
			s->wanted = true;
			s->backoff = cl.cfg->restart_delay;
			if (s->cur == NULL && cl.phase != PHASE_STOPPING)
				worker_spawn(s, cl.generation, cl.cfg);
		} else if (i >= n && s->wanted) {
			s->wanted = false;
			ev_timer_stop(cl.loop, &s->backoff_w);
			/* New connections go elsewhere from now on; what is
			 * queued is taken by the worker before it stops. */
			worker_steer_refresh();
			s->drain_until = ev_now(cl.loop) + SCALE_DRAIN_MAX;
			drain_cb(cl.loop, &s->drain_w, 0);
		}
	}
	return 0;
}

/* A slot receives new connections when it has a ready worker that is not
 * leaving: its current one, or the incoming one of a reload. */
bool
worker_slot_receiving(const struct slot *s)
{
	if (!s->wanted)
		return false;
	return (s->cur && s->cur->state == WORKER_READY) ||
	    (s->incoming && s->incoming->state == WORKER_READY);
}

void
worker_steer_refresh(void)
{
	bool ready[WORKERS_MAX];
	struct listener *l;
	int i;

	if (cl.steer_disabled || cl.phase == PHASE_STOPPING)
		return;
	int n = cl.nslots < WORKERS_MAX ? cl.nslots : WORKERS_MAX;

	for (i = 0; i < n; i++)
		ready[i] = worker_slot_receiving(cl.slots[i]);
	for (l = cl.all; l != NULL; l = l->next)
		steer_update(l, ready, n);
}

/* RSS in bytes from /proc/PID/statm, 0 if unknown. */
uint64_t
worker_rss(pid_t pid)
{
	char path[64], buf[128];
	unsigned long size, res;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/statm", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	if (fgets(buf, sizeof buf, f) == NULL ||
	    sscanf(buf, "%lu %lu", &size, &res) != 2)
		res = 0;
	fclose(f);
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* max_memory: a ready worker above it is replaced like in a reload, the
 * new one ready first, the old one drained: never killed mid-request. */
void
worker_check_memory(void)
{
	struct slot *s;
	uint64_t rss;
	int i;

	for (i = 0; i < cl.nslots; i++) {
		s = cl.slots[i];
		if (!s->wanted || s->cur == NULL || s->incoming != NULL ||
		    s->cur->state != WORKER_READY || s->cur->max_memory == 0)
			continue;
		if ((rss = worker_rss(s->cur->pid)) <= s->cur->max_memory)
			continue;
		log_warn("slot %d: pid %ld uses %llu KiB, above max_memory "
		    "(%llu KiB): replacing it", i, (long)s->cur->pid,
		    (unsigned long long)rss / 1024,
		    (unsigned long long)s->cur->max_memory / 1024);
		snprintf(s->last_exit, sizeof s->last_exit, "max_memory");
		worker_spawn(s, s->cur->generation, cl.cfg);
	}
}
