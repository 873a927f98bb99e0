/*
 * worker.c - the slot table and the worker state machine: spawn (fork, fd
 * and environment hand-over, exec), readiness deadlines, the one reap path,
 * crash backoff, graceful stop with a SIGKILL of the process group after
 * stop_timeout, and the workers' output pipes.
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
static void	 output_cb(struct ev_loop *, ev_io *, int);
static void	 output_line(struct worker *, const char *, size_t);
static void	 output_flush(struct worker *);
static void	 worker_free(struct worker *);
static void	 slot_crashed(struct slot *, struct worker *, const char *);
static void	 spawn_failed(struct slot *, const char *);

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

/* Start a worker of `generation` in slot s: as its current worker, or as
 * the incoming one when the slot already has a worker (reload). */
void
worker_spawn(struct slot *s, unsigned generation, const struct config *c)
{
	struct spawn_req req = { .slot = s->index, .generation = generation,
		.cfg = c, .lset = c->lset, .nlset = c->nlset,
		.notify_name = cl.notify_name, .nofile = &cl.orig_nofile };
	struct worker *w;
	char err[sizeof s->last_exit];
	int out_fd, i;
	pid_t pid;
	double deadline;

	if ((w = calloc(1, sizeof *w)) == NULL) {
		log_err("slot %d: cannot spawn: out of memory", s->index);
		spawn_failed(s, "out of memory");
		return;
	}
	if (spawn_worker(&req, &pid, &out_fd, err, sizeof err) < 0) {
		log_err("slot %d: %s", s->index, err);
		free(w);
		spawn_failed(s, err);
		return;
	}

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
	w->out_fd = out_fd;
	fcntl(w->out_fd, F_SETFL, O_NONBLOCK);
	w->next = cl.workers;
	cl.workers = w;

	ev_child_init(&w->child_w, child_cb, pid, 0);
	w->child_w.data = w;
	ev_child_start(cl.loop, &w->child_w);
	ev_io_init(&w->out_w, output_cb, w->out_fd, EV_READ);
	w->out_w.data = w;
	ev_io_start(cl.loop, &w->out_w);

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
	if (w->out_fd != -1) {
		ev_io_stop(cl.loop, &w->out_w);
		close(w->out_fd);
	}
	for (i = 0; i < w->nlset; i++)
		listen_unref(w->lset[i]);
	free(w->lset);
	free(w);
}

/* ------------------------------------------------------------------ */
/* Output: each line a worker writes goes to the log, attributed to its
 * slot and pid; the last lines of each slot are kept for error messages.
 * Always drained, so a busy log never blocks a worker (traps.md). */

static void
output_line(struct worker *w, const char *line, size_t len)
{
	struct slot *s = cl.slots[w->slot];
	char buf[1400];
	size_t n;
	int m;

	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 1200)
		len = 1200;
	n = log_prefix(buf, sizeof buf, LOG_LVL_INFO);
	m = snprintf(buf + n, sizeof buf - n, "slot %d pid %ld: %.*s\n",
	    w->slot, (long)w->pid, (int)len, line);
	if (m > 0)
		log_raw(buf, n + ((size_t)m < sizeof buf - n ? (size_t)m :
		    sizeof buf - n - 1));
	if (s->ntail == 4) {
		memmove(s->tail[0], s->tail[1], sizeof s->tail[0] * 3);
		s->ntail = 3;
	}
	snprintf(s->tail[s->ntail++], sizeof s->tail[0], "%.*s", (int)len,
	    line);
}

static void
output_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct worker *w = io->data;
	char *nl;
	ssize_t n;
	size_t used;

	for (;;) {
		n = read(w->out_fd, w->outbuf + w->outlen,
		    sizeof w->outbuf - w->outlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			ev_io_stop(loop, io);
			close(w->out_fd);
			w->out_fd = -1;
			output_flush(w);
			return;
		}
		w->outlen += (size_t)n;
		used = 0;
		while ((nl = memchr(w->outbuf + used, '\n',
		    w->outlen - used)) != NULL) {
			output_line(w, w->outbuf + used,
			    (size_t)(nl - (w->outbuf + used)) + 1);
			used = (size_t)(nl - w->outbuf) + 1;
		}
		if (used == 0 && w->outlen == sizeof w->outbuf) {
			output_line(w, w->outbuf, w->outlen);	/* too long */
			used = w->outlen;
		}
		memmove(w->outbuf, w->outbuf + used, w->outlen - used);
		w->outlen -= used;
	}
}

/* At exit: what is left in the pipe, then a last partial line. */
static void
output_flush(struct worker *w)
{
	if (w->out_fd != -1)
		output_cb(cl.loop, &w->out_w, EV_READ);
	if (w->outlen > 0) {
		output_line(w, w->outbuf, w->outlen);
		w->outlen = 0;
	}
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
