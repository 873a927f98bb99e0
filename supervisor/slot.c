/*
 * slot.c - the supervision table. A slot is a stable position 0..N-1
 * (CLUSTERD_WORKER); what it should be (wanted up or down, generation) is
 * kept apart from what it is (its state and workers). Every change of state
 * is a cell of slot_table[state][event], applied by slot_event() alone.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd.h"

static void	 slot_steer_refresh(void);

/* A worker that stayed ready this long was not crash-looping: its slot's
 * backoff starts again from restart_delay (like PM2's min_uptime). */
#define BACKOFF_STABLE_AFTER	1.0
/* A backoff this long does not keep queued connections waiting. */
#define REQUEUE_AFTER		1.0
/* Scale-down: how long, and how often, to wait for a slot's queue to
 * empty before its worker is told to stop. */
#define SCALE_DRAIN_MAX		0.5
#define SCALE_DRAIN_CHECK	0.005
/* A hung worker gets SIGABRT (for a core dump), then SIGKILL after its
 * watchdog interval, at most this long. */
#define ABORT_GRACE_MAX		5.0

/* What the table tells the layer above once the new state is written. */
#define NOTE_READY	0x1	/* the slot became ready */
#define NOTE_FAILED	0x2	/* it failed while failures end the start */
#define NOTE_DONE	0x4	/* a wanted generation was reached or failed */

typedef enum slot_state slot_action(struct slot *, struct worker *,
    const char *);

static struct {
	struct ev_loop		*loop;
	const struct slot_procs	*procs;
	const struct slot_hooks	*hooks;
	struct slot	       **slots;
	int			 nslots;	/* allocated */
	int			 wanted;
	bool			 failfast;	/* until the first full start */
	bool			 stopping;
	bool			 steer_off;
	bool			 renew;		/* some slot->renew is set */
	int			 recycling;	/* slot being recycled, -1 */
	bool			 recycle_next;	/* that one is done: the next */
	ev_tstamp		 epoch;		/* of the max_lifetime grid */
	int			 depth;		/* of slot_event calls */
	ev_timer		 mem_w;
	ev_timer		 stall_w;	/* stall_timeout > 0: queues */
	double			 stall_timeout;
	/* Pending for the current slot_event. */
	int			 notes;
	bool			 done_ok;
	char			 why[256];
} sl;

static const char *const state_names[SLOT_NSTATES] = {
	[SLOT_STOPPED] = "stopped", [SLOT_STARTING] = "starting",
	[SLOT_READY] = "ready", [SLOT_REPLACING] = "replacing",
	[SLOT_DRAINING] = "draining", [SLOT_BACKOFF] = "backoff",
	[SLOT_STALLED] = "stalled",
};

static const char *const event_names[SE_NEVENTS] = {
	[SE_WANT_UP] = "want up", [SE_WANT_DOWN] = "want down",
	[SE_WANT_GEN] = "want generation", [SE_STOP] = "stop",
	[SE_OVER_MEMORY] = "over memory", [SE_READY] = "ready",
	[SE_READY_TIMEOUT] = "ready timeout", [SE_EXIT] = "exit",
	[SE_STOP_TIMEOUT] = "stop timeout", [SE_HUNG] = "hung",
	[SE_BACKOFF_DONE] = "backoff done", [SE_QUEUE_EMPTY] = "queue empty",
	[SE_NEW_READY] = "new ready", [SE_NEW_TIMEOUT] = "new ready timeout",
	[SE_NEW_EXIT] = "new exit", [SE_RENEW] = "renew", [SE_STALL] = "stall",
	[SE_RECYCLE] = "recycle",
};

/* The reasons of SE_RECYCLE, as its detail, status and the metrics say
 * them (enum recycle_reason). */
static const char *const recycle_names[RECYCLE_NREASONS] = {
	[RECYCLE_MEMORY] = "memory", [RECYCLE_LIFETIME] = "lifetime",
	[RECYCLE_REQUEST] = "request", [RECYCLE_WATCHDOG] = "watchdog",
	[RECYCLE_STALL] = "stall",
};

static void	 backoff_cb(struct ev_loop *, ev_timer *, int);
static void	 drain_cb(struct ev_loop *, ev_timer *, int);
static void	 mem_cb(struct ev_loop *, ev_timer *, int);
static void	 stall_cb(struct ev_loop *, ev_timer *, int);
static void	 life_cb(struct ev_loop *, ev_timer *, int);
static void	 life_arm(struct slot *);
static void	 socket_checked(struct listener *, struct slot *, int);
static void	 renew_marked(void);
static void	 settle(void);
static void	 recycle_next(void);

/* ------------------------------------------------------------------ */
/* Backoff policy, pure.                                               */

/* The delay after one of cur: doubled, within [min, max]. */
double
backoff_next(double cur, double min, double max)
{
	double d = cur * 2;

	if (d > max)
		d = max;
	if (d < min)
		d = min;
	return d;
}

/* A worker ready since ready_at (0: never) was stable by now. */
bool
backoff_stable(double ready_at, double now)
{
	return ready_at > 0 && now - ready_at >= BACKOFF_STABLE_AFTER;
}

/* ------------------------------------------------------------------ */
/* Helpers the actions share.                                          */

static const struct config *
cfg_of(const struct slot *s)
{
	return sl.hooks->config(s->want_gen);
}

static void
note_done(bool ok, const char *why)
{
	sl.notes |= NOTE_DONE;
	sl.done_ok = ok;
	snprintf(sl.why, sizeof sl.why, "%s", why ? why : "");
}

/* A failure while the reload waits for this slot, or while the cluster
 * still starts (then the start fails). */
static void
note_failure(struct slot *s, const char *why)
{
	if (sl.failfast) {
		sl.notes |= NOTE_FAILED;
		snprintf(sl.why, sizeof sl.why, "%s", why);
	}
	if (s->gen_waiting) {
		s->gen_waiting = false;
		note_done(false, s->last_exit);
	}
}

/* Ready on the generation it is wanted on: the waiting reload is done. */
static void
note_ready(struct slot *s)
{
	sl.notes |= NOTE_READY;
	if (s->gen_waiting && s->cur->generation == s->want_gen) {
		s->gen_waiting = false;
		note_done(true, NULL);
	}
}

static void
set_last_exit(struct slot *s, const char *why)
{
	size_t n = strlen(why);

	if (n >= sizeof s->last_exit)
		n = sizeof s->last_exit - 1;
	memcpy(s->last_exit, why, n);
	s->last_exit[n] = '\0';
}

static void
stop_worker(struct worker *w, const char *why)
{
	if (w != NULL && !w->stopping)
		sl.procs->stop(w, w->stop_signal, w->stop_timeout, why);
}

/* A hung worker without a successor: SIGABRT, then SIGKILL; its exit
 * backs off like a crash. */
static enum slot_state
stall_failed(struct slot *s)
{
	sl.procs->stop(s->cur, SIGABRT, ABORT_GRACE_MAX, "stalled");
	return SLOT_DRAINING;
}

/* The slot's sockets after its worker is gone: re-listen or reopen what
 * the worker broke (it may have shut the socket down or closed it). Flags
 * are reset only when no other process (a worker still draining) holds
 * them. */
static void
repair_sockets(struct slot *s)
{
	struct listener *l;
	bool held = sl.procs->count(s->index) > 0;

	for (l = cl.all; l != NULL; l = l->next)
		socket_checked(l, s, held ? listen_check(l, s->index) :
		    listen_repair(l, s->index));
}

/* listen_check (or listen_repair) said r for l: 2 means the socket was
 * replaced, and the workers that hold the old one serve a dead socket. They
 * are renewed (SE_RENEW) once the event that found it is over: this slot's,
 * or every slot's for a shared socket. */
static void
socket_checked(struct listener *l, struct slot *s, int r)
{
	int i;

	if (r != 2)
		return;
	sl.renew = true;
	if (listen_per_worker(l))
		s->renew = true;
	else
		for (i = 0; i < sl.nslots; i++)
			sl.slots[i]->renew = true;
}

static void
renew_marked(void)
{
	struct slot *s;
	int i;

	sl.renew = false;
	for (i = 0; i < sl.nslots; i++) {
		s = sl.slots[i];
		if (!s->renew)
			continue;
		s->renew = false;
		slot_event(s, s->cur, SE_RENEW, "its socket was replaced");
	}
}

/* A worker of the slot exited: one that shut the socket down (or closed
 * it) must not leave it dead for the others. */
static void
check_sockets(struct slot *s)
{
	struct listener *l;

	for (l = cl.all; l != NULL; l = l->next)
		socket_checked(l, s, listen_check(l, s->index));
}

/* Connections queued on a slot that goes into a long backoff are moved to
 * the other slots (or reset): see listen_requeue. */
static void
requeue(struct slot *s, double delay)
{
	struct listener *l;
	int n;

	if (sl.steer_off)
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
			    s->index, listen_describe(l), strerror(-n));
	}
}

static int
queued(const struct slot *s)
{
	struct listener *l;
	int n = 0, q;

	for (l = cl.all; l != NULL; l = l->next)
		if ((q = listen_queued(l, s->index)) > 0)
			n += q;
	return n;
}

/* Not wanted and no worker: its sockets go. */
static enum slot_state
gone(struct slot *s)
{
	struct listener *l;

	if (!sl.stopping)
		for (l = cl.all; l != NULL; l = l->next)
			listen_close_slot(l, s->index);
	return SLOT_STOPPED;
}

/* Wait out the backoff, then SE_BACKOFF_DONE. */
static enum slot_state
backoff(struct slot *s, const char *why)
{
	const struct config *c = cfg_of(s);
	double delay = s->backoff;

	if (sl.stopping || !s->want_up)
		return gone(s);
	if (sl.failfast) {
		note_failure(s, why);	/* the start fails: no retry */
		return SLOT_STOPPED;
	}
	s->backoff = backoff_next(delay, c->restart_delay,
	    c->restart_delay_max);
	s->restarts++;
	note_failure(s, why);
	if (delay >= REQUEUE_AFTER && sl.procs->count(s->index) == 0)
		requeue(s, delay);
	log_info("slot %d: restarting in %.3fs (restart %u)", s->index, delay,
	    s->restarts);
	ev_timer_stop(sl.loop, &s->backoff_w);
	ev_timer_set(&s->backoff_w, delay, 0.);
	ev_timer_start(sl.loop, &s->backoff_w);
	return SLOT_BACKOFF;
}

/* A new worker for the wanted generation, or NULL (logged, last_exit). */
static struct worker *
spawn(struct slot *s)
{
	char err[160];
	struct worker *w;

	w = sl.procs->start(s->index, s->want_gen, cfg_of(s), err, sizeof err);
	if (w == NULL) {
		log_err("slot %d: %s", s->index, err);
		set_last_exit(s, err);
	}
	return w;
}

/* The slot has no worker: start one, or back off if that fails. */
static enum slot_state
start(struct slot *s)
{
	ev_timer_stop(sl.loop, &s->backoff_w);
	if ((s->cur = spawn(s)) == NULL)
		return backoff(s, s->last_exit);
	return SLOT_STARTING;
}

/* The current worker leaves the slot; it drains on its own. */
static void
retire_cur(struct slot *s, const char *why)
{
	stop_worker(s->cur, why);
	s->cur = NULL;
}

static void
retire_incoming(struct slot *s, const char *why)
{
	stop_worker(s->incoming, why);
	s->incoming = NULL;
}

/* ------------------------------------------------------------------ */
/* The actions: one per cell, each returns the next state.             */

static enum slot_state
act_start(struct slot *s, struct worker *w, const char *d)
{
	return start(s);
}

/* Wanted again while draining: stop waiting if the worker was not told
 * to stop yet, else let it drain off the slot and start a new one. */
static enum slot_state
act_undrain(struct slot *s, struct worker *w, const char *d)
{
	ev_timer_stop(sl.loop, &s->drain_w);
	if (s->cur != NULL && !s->cur->stopping)
		return s->cur->ready_at > 0 ? SLOT_READY : SLOT_STARTING;
	retire_cur(s, "replaced");
	return start(s);
}

static enum slot_state
act_stop_now(struct slot *s, struct worker *w, const char *d)
{
	ev_timer_stop(sl.loop, &s->drain_w);
	retire_incoming(s, sl.stopping ? "cluster stopping" : "scaled down");
	stop_worker(s->cur, sl.stopping ? "cluster stopping" : "scaled down");
	return SLOT_DRAINING;
}

static enum slot_state
act_cancel_backoff(struct slot *s, struct worker *w, const char *d)
{
	ev_timer_stop(sl.loop, &s->backoff_w);
	return gone(s);
}

/* Scale-down of a serving slot: closing a SO_REUSEPORT socket resets what
 * is queued on it, so steering sends new connections elsewhere and the
 * worker keeps accepting until its queue is empty (at most
 * SCALE_DRAIN_MAX); SE_QUEUE_EMPTY then stops it. */
static enum slot_state
act_drain(struct slot *s, struct worker *w, const char *d)
{
	retire_incoming(s, "scaled down");
	s->drain_until = ev_now(sl.loop) + SCALE_DRAIN_MAX;
	ev_timer_stop(sl.loop, &s->drain_w);
	ev_timer_set(&s->drain_w, 0., 0.);
	ev_timer_start(sl.loop, &s->drain_w);
	return SLOT_DRAINING;
}

static enum slot_state
act_queue_empty(struct slot *s, struct worker *w, const char *d)
{
	stop_worker(s->cur, "scaled down");
	return SLOT_DRAINING;
}

/* The reload wants this slot on s->want_gen. */
static enum slot_state
act_want_gen(struct slot *s, struct worker *w, const char *d)
{
	switch (s->state) {
	case SLOT_READY:
		if (s->cur->generation == s->want_gen) {
			s->gen_waiting = false;
			note_done(true, NULL);
			return SLOT_READY;
		}
		break;
	case SLOT_STARTING:
		if (s->cur->generation == s->want_gen)
			return SLOT_STARTING;	/* SE_READY answers */
		retire_cur(s, "replaced");
		return start(s);
	case SLOT_BACKOFF:
		return start(s);
	case SLOT_STALLED:
		/* Its successor is what the reload gets; the hung worker
		 * goes when that one is ready. */
		if (s->incoming->generation != s->want_gen) {
			retire_incoming(s, "replaced");
			if ((s->incoming = spawn(s)) == NULL)
				return stall_failed(s);
		}
		return SLOT_STALLED;
	case SLOT_REPLACING:
		if (s->incoming->generation == s->want_gen)
			return SLOT_REPLACING;
		retire_incoming(s, "replaced");
		if (s->cur->generation == s->want_gen) {
			/* A failed reload wants back what still serves. */
			s->gen_waiting = false;
			return SLOT_READY;
		}
		break;
	default:
		return s->state;	/* a hung worker: SE_EXIT answers */
	}
	if ((s->incoming = spawn(s)) == NULL) {
		s->gen_waiting = false;
		note_done(false, s->last_exit);
		return SLOT_READY;
	}
	return SLOT_REPLACING;
}

/* max_memory: replaced like in a reload, the new one ready first. */
static enum slot_state
act_over_memory(struct slot *s, struct worker *w, const char *d)
{
	set_last_exit(s, "max_memory");
	if ((s->incoming = spawn(s)) == NULL)
		return SLOT_READY;
	s->recycles[RECYCLE_MEMORY]++;
	snprintf(s->last_replace, sizeof s->last_replace, "%s",
	    recycle_names[RECYCLE_MEMORY]);
	return SLOT_REPLACING;
}

/*
 * max_lifetime or X_CLUSTERD_RECYCLE=1 (d names which): replaced like in a
 * reload, the new worker ready first. One slot at a time: while another
 * slot is being recycled this one waits its turn (settle() gives it).
 */
static enum slot_state
act_recycle(struct slot *s, struct worker *w, const char *d)
{
	int r;

	for (r = 0; r < RECYCLE_NREASONS; r++)
		if (d != NULL && strcmp(d, recycle_names[r]) == 0)
			break;
	if (r == RECYCLE_NREASONS)
		r = RECYCLE_REQUEST;
	if (sl.recycling >= 0 && sl.recycling != s->index) {
		if (s->recycle_wait == 0)
			s->recycle_wait = r + 1;
		log_info("slot %d: replacing it (%s) waits for slot %d",
		    s->index, recycle_names[r], sl.recycling);
		return SLOT_READY;
	}
	s->recycle_wait = 0;
	if ((s->incoming = spawn(s)) == NULL) {
		life_arm(s);	/* try again later */
		return SLOT_READY;
	}
	sl.recycling = s->index;
	s->recycles[r]++;
	snprintf(s->last_replace, sizeof s->last_replace, "%s",
	    recycle_names[r]);
	log_notice("slot %d: replacing pid %ld (%s, up %.1fs), the new "
	    "worker first", s->index, (long)s->cur->pid, recycle_names[r],
	    ev_now(sl.loop) - s->cur->started);
	return SLOT_REPLACING;
}

/* Its workers hold a socket that was replaced: a successor gets the new
 * one (and takes over when ready), a starting worker is started anew. */
static enum slot_state
act_renew(struct slot *s, struct worker *w, const char *d)
{
	if (s->state == SLOT_STARTING) {
		retire_cur(s, "its socket was replaced");
		return start(s);
	}
	retire_incoming(s, "its socket was replaced");
	if ((s->incoming = spawn(s)) == NULL)
		return SLOT_READY;
	return SLOT_REPLACING;
}

static enum slot_state
act_ready(struct slot *s, struct worker *w, const char *d)
{
	note_ready(s);
	return SLOT_READY;
}

/* Not ready by ready_timeout, or (ready = fd) it said it will not be: d
 * says what the master saw, when it knows. */
static enum slot_state
act_ready_timeout(struct slot *s, struct worker *w, const char *d)
{
	if (d != NULL && strncmp(d, "not ready within", 16) != 0)
		set_last_exit(s, d);
	else
		snprintf(s->last_exit, sizeof s->last_exit,
		    "not ready after %.1fs", w->ready_timeout);
	stop_worker(w, "not ready in time");
	note_failure(s, d ? d : "not ready within ready_timeout");
	return SLOT_DRAINING;
}

/* The slot's worker exited. Not a crash loop if it stayed up: a worker
 * that served for a while is replaced at once (its boot time is all the
 * slot loses), and the backoff starts from restart_delay at the next
 * crash in a row. */
static enum slot_state
act_crashed(struct slot *s, struct worker *w, const char *how)
{
	double up = w->ready_at > 0 ? ev_now(sl.loop) - w->ready_at : 0;
	bool stable = backoff_stable(w->ready_at, ev_now(sl.loop));
	bool at_once = stable && s->state == SLOT_READY && !w->hung;

	if (stable)
		s->backoff = cfg_of(s)->restart_delay;
	set_last_exit(s, how);
	s->cur = NULL;
	sl.procs->release(w);
	if (sl.stopping || !s->want_up)
		return gone(s);
	repair_sockets(s);
	if (s->gen_waiting && s->state == SLOT_DRAINING) {
		/* A hung worker the reload waited for: its successor
		 * starts on the new generation at once. */
		return start(s);
	}
	if (at_once && !sl.failfast) {
		s->restarts++;
		note_failure(s, how);
		log_info("slot %d: restarting at once (restart %u): it had "
		    "been ready for %.1fs", s->index, s->restarts, up);
		return start(s);
	}
	return backoff(s, how);
}

/* The old worker died during a replacement: the new one takes over. */
static enum slot_state
act_promote(struct slot *s, struct worker *w, const char *how)
{
	set_last_exit(s, how);
	sl.procs->release(w);
	check_sockets(s);
	s->cur = s->incoming;
	s->incoming = NULL;
	return SLOT_STARTING;
}

/* Replacement ready: it takes the slot, the old one drains (both accepted
 * on the same socket meanwhile). */
static enum slot_state
act_handover(struct slot *s, struct worker *w, const char *d)
{
	struct worker *old = s->cur;

	s->cur = s->incoming;
	s->incoming = NULL;
	stop_worker(old, "replaced");
	note_ready(s);
	return SLOT_READY;
}

static enum slot_state
new_failed(struct slot *s)
{
	if (s->gen_waiting) {
		s->gen_waiting = false;
		note_done(false, s->last_exit);
	}
	return SLOT_READY;
}

/* The successor missed ready_timeout (or said it will not be ready). */
static enum slot_state
act_new_timeout(struct slot *s, struct worker *w, const char *d)
{
	if (d != NULL && strncmp(d, "not ready within", 16) != 0)
		set_last_exit(s, d);
	else
		snprintf(s->last_exit, sizeof s->last_exit,
		    "not ready after %.1fs", w->ready_timeout);
	retire_incoming(s, "not ready in time");
	return new_failed(s);
}

static enum slot_state
act_new_exit(struct slot *s, struct worker *w, const char *how)
{
	set_last_exit(s, how);
	s->incoming = NULL;
	sl.procs->release(w);
	return new_failed(s);
}

static enum slot_state
act_kill(struct slot *s, struct worker *w, const char *d)
{
	sl.procs->kill(w);
	return s->state;
}

/* The watchdog: SIGABRT now (SIGCONT with it, in case it was stopped), and
 * SIGKILL if that does not end it; then it backs off like a crash. */
static enum slot_state
act_hung(struct slot *s, struct worker *w, const char *d)
{
	double grace = w->watchdog < ABORT_GRACE_MAX ? w->watchdog :
	    ABORT_GRACE_MAX;

	set_last_exit(s, "watchdog timeout");
	s->recycles[RECYCLE_WATCHDOG]++;
	snprintf(s->last_replace, sizeof s->last_replace, "watchdog");
	sl.procs->stop(w, SIGABRT, grace, "hung");
	if (s->state == SLOT_REPLACING || s->state == SLOT_STALLED) {
		s->cur = s->incoming;	/* the new one is its successor */
		s->incoming = NULL;
		return SLOT_STARTING;
	}
	return SLOT_DRAINING;
}

/*
 * Its queue has had connections waiting and has not gone down for
 * stall_timeout: the worker no longer accepts. Steered away now (stalled
 * is not receiving); a successor starts on the same socket and serves what
 * is queued; the hung one gets SIGABRT once that one is ready.
 */
static enum slot_state
act_stall(struct slot *s, struct worker *w, const char *d)
{
	s->recycles[RECYCLE_STALL]++;
	snprintf(s->last_replace, sizeof s->last_replace, "%s",
	    recycle_names[RECYCLE_STALL]);
	set_last_exit(s, "stalled");
	if ((s->incoming = spawn(s)) == NULL)
		return stall_failed(s);
	return SLOT_STALLED;
}

static enum slot_state
act_stall_handover(struct slot *s, struct worker *w, const char *d)
{
	struct worker *old = s->cur;

	s->cur = s->incoming;
	s->incoming = NULL;
	sl.procs->stop(old, SIGABRT, ABORT_GRACE_MAX, "stalled");
	note_ready(s);
	return SLOT_READY;
}

/* The successor of a hung worker failed: the hung one goes anyway, and
 * the slot restarts like after a crash. */
static enum slot_state
act_stall_new_timeout(struct slot *s, struct worker *w, const char *d)
{
	act_new_timeout(s, w, d);
	return stall_failed(s);
}

static enum slot_state
act_stall_new_exit(struct slot *s, struct worker *w, const char *how)
{
	act_new_exit(s, w, how);
	return stall_failed(s);
}

static enum slot_state
act_backoff_done(struct slot *s, struct worker *w, const char *d)
{
	repair_sockets(s);
	return start(s);
}

/*
 * The table. An empty cell is an event that does not apply in that state
 * (a second READY=1, a timer of a worker that already left): logged at
 * debug and ignored.
 */
static slot_action *const slot_table[SLOT_NSTATES][SE_NEVENTS] = {
	[SLOT_STOPPED] = {
		[SE_WANT_UP]		= act_start,
	},
	[SLOT_STARTING] = {
		[SE_WANT_DOWN]		= act_stop_now,
		[SE_STOP]		= act_stop_now,
		[SE_WANT_GEN]		= act_want_gen,
		[SE_READY]		= act_ready,
		[SE_READY_TIMEOUT]	= act_ready_timeout,
		[SE_EXIT]		= act_crashed,
		[SE_RENEW]		= act_renew,
	},
	[SLOT_READY] = {
		[SE_WANT_DOWN]		= act_drain,
		[SE_STOP]		= act_stop_now,
		[SE_WANT_GEN]		= act_want_gen,
		[SE_OVER_MEMORY]	= act_over_memory,
		[SE_EXIT]		= act_crashed,
		[SE_HUNG]		= act_hung,
		[SE_RENEW]		= act_renew,
		[SE_STALL]		= act_stall,
		[SE_RECYCLE]		= act_recycle,
	},
	[SLOT_REPLACING] = {
		[SE_WANT_DOWN]		= act_drain,
		[SE_STOP]		= act_stop_now,
		[SE_WANT_GEN]		= act_want_gen,
		[SE_EXIT]		= act_promote,
		[SE_HUNG]		= act_hung,
		[SE_NEW_READY]		= act_handover,
		[SE_NEW_TIMEOUT]	= act_new_timeout,
		[SE_NEW_EXIT]		= act_new_exit,
		[SE_RENEW]		= act_renew,
	},
	[SLOT_DRAINING] = {
		[SE_WANT_UP]		= act_undrain,
		[SE_STOP]		= act_stop_now,
		[SE_WANT_GEN]		= act_want_gen,
		[SE_QUEUE_EMPTY]	= act_queue_empty,
		[SE_EXIT]		= act_crashed,
		[SE_STOP_TIMEOUT]	= act_kill,
	},
	[SLOT_BACKOFF] = {
		[SE_WANT_DOWN]		= act_cancel_backoff,
		[SE_STOP]		= act_cancel_backoff,
		[SE_WANT_GEN]		= act_want_gen,
		[SE_BACKOFF_DONE]	= act_backoff_done,
	},
	[SLOT_STALLED] = {
		[SE_WANT_DOWN]		= act_stop_now,
		[SE_STOP]		= act_stop_now,
		[SE_WANT_GEN]		= act_want_gen,
		[SE_EXIT]		= act_promote,
		[SE_HUNG]		= act_hung,
		[SE_NEW_READY]		= act_stall_handover,
		[SE_NEW_TIMEOUT]	= act_stall_new_timeout,
		[SE_NEW_EXIT]		= act_stall_new_exit,
	},
};

/* Tell the layer above what the transition means, state written. */
static void
deliver(struct slot *s)
{
	int notes = sl.notes;
	char why[sizeof sl.why];
	bool ok = sl.done_ok;

	sl.notes = 0;
	memcpy(why, sl.why, sizeof why);
	if (notes & NOTE_READY)
		sl.hooks->ready(s);
	if (notes & NOTE_DONE)
		sl.hooks->done(s, ok, why);
	if (notes & NOTE_FAILED)
		sl.hooks->failed(s, why);
}

/* A worker that left its slot (replaced, scaled away) only drains. */
static void
retired_event(struct worker *w, enum slot_event ev, const char *detail)
{
	int slot;

	switch (ev) {
	case SE_STOP_TIMEOUT:
		sl.procs->kill(w);
		break;
	case SE_EXIT:
		slot = w->slot;
		sl.procs->release(w);
		if (slot < sl.nslots && !sl.stopping)
			check_sockets(sl.slots[slot]);
		break;
	default:
		break;
	}
}

/* The recycle that ran is over: the next slot waiting its turn, in slot
 * order after the last one. */
static void
recycle_next(void)
{
	struct slot *s;
	int i, r;

	sl.recycle_next = false;
	for (i = 0; i < sl.nslots && sl.recycling < 0; i++) {
		s = sl.slots[i];
		if (s->recycle_wait == 0 || s->state != SLOT_READY)
			continue;
		r = s->recycle_wait - 1;
		s->recycle_wait = 0;
		slot_event(s, s->cur, SE_RECYCLE, recycle_names[r]);
	}
}

/* After the outermost event: renew what holds a replaced socket; once
 * stopping and no worker is left, tell the cluster. */
static void
settle(void)
{
	if (sl.depth > 0)
		return;
	if (sl.renew && !sl.stopping)
		renew_marked();
	if (sl.recycle_next && !sl.stopping)
		recycle_next();
	if (sl.stopping && sl.procs->count(-1) == 0)
		sl.hooks->gone();
}

/* The only writer of s->state; logs "slot 2: ready -[exit: code 3]->
 * backoff". w is the worker the event is about, or NULL. */
void
slot_event(struct slot *s, struct worker *w, enum slot_event ev,
    const char *detail)
{
	slot_action *act = slot_table[s->state][ev];
	enum slot_state from = s->state, to;
	const char *d = detail;
	pid_t pid = w != NULL ? w->pid : 0;	/* w may be freed by act */
	unsigned gen = w != NULL ? w->generation : 0;

	if (act == NULL) {
		log_debug("slot %d: %s: %s ignored", s->index,
		    state_names[from], event_names[ev]);
		return;
	}
	sl.depth++;
	sl.notes = 0;
	to = act(s, w, detail);
	s->state = to;
	if (to != SLOT_READY)
		s->recycle_wait = 0;	/* a new worker comes anyway */
	if (sl.recycling == s->index && to != SLOT_REPLACING) {
		sl.recycling = -1;
		sl.recycle_next = true;
	}
	if (to == SLOT_READY && from != SLOT_READY)
		life_arm(s);
	if (s->gen_waiting && !s->want_up) {
		s->gen_waiting = false;
		note_done(true, NULL);	/* not wanted: nothing to replace */
	}
	if (d != NULL && strncmp(d, "exit ", 5) == 0)
		d += 5;
	log_info("slot %d: %s -[%s%s%s]-> %s", s->index, state_names[from],
	    event_names[ev], d ? ": " : "", d ? d : "", state_names[to]);
	events_slot(s, pid, gen, from, to, ev, d);
	slot_steer_refresh();
	deliver(s);
	sl.depth--;
	settle();
}

/* What the process layer reports, in the slot's terms. */
void
slot_worker_event(struct worker *w, enum slot_event ev, const char *detail)
{
	struct slot *s = w->slot < sl.nslots ? sl.slots[w->slot] : NULL;

	if (s != NULL && ev == SE_EXIT)
		s->cpu_dead += w->cpu_s;	/* before /proc loses it */
	if (s != NULL && ev == SE_EXIT && (w == s->cur || w == s->incoming)) {
		/* What it said last, for the start's error message. */
		memcpy(s->tail, w->out.tail, sizeof s->tail);
		s->ntail = w->out.ntail;
	}
	if (s != NULL && w == s->incoming) {
		if (ev == SE_READY)
			ev = SE_NEW_READY;
		else if (ev == SE_READY_TIMEOUT)
			ev = SE_NEW_TIMEOUT;
		else if (ev == SE_EXIT)
			ev = SE_NEW_EXIT;
		else
			return;
	} else if (s == NULL || w != s->cur) {
		retired_event(w, ev, detail);
		settle();
		return;
	}
	slot_event(s, w, ev, detail);
}

/* ------------------------------------------------------------------ */
/* Timers of the slot.                                                 */

static void
backoff_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	slot_event(t->data, NULL, SE_BACKOFF_DONE, NULL);
}

/* Every few ms while a scaled-away slot's queue still holds connections,
 * at most until drain_until; no steering, no wait. */
static void
drain_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct slot *s = t->data;

	ev_timer_stop(loop, t);
	if (s->cur != NULL && s->cur->ready_at > 0 && !sl.steer_off &&
	    ev_now(loop) < s->drain_until && queued(s) > 0) {
		ev_timer_set(t, SCALE_DRAIN_CHECK, 0.);
		ev_timer_start(loop, t);
		return;
	}
	slot_event(s, NULL, SE_QUEUE_EMPTY, NULL);
}

/*
 * max_lifetime: when the slot's worker is due. Slots are spread over a grid
 * of period P = max_lifetime / 2 shifted by slot index (slot i at
 * epoch + i * P / N + k * P): each worker is due at its slot's grid point
 * in (started + P, started + max_lifetime], so it lives between half and
 * all of max_lifetime, and two slots are never due within P / N of each
 * other, however their workers' boots drift.
 */
static void
life_arm(struct slot *s)
{
	struct worker *w = s->cur;
	double L, P, phase, due, now = ev_now(sl.loop);
	int n = sl.wanted > 0 ? sl.wanted : 1;

	ev_timer_stop(sl.loop, &s->life_w);
	if (w == NULL || w->max_lifetime <= 0 || sl.stopping)
		return;
	L = w->max_lifetime;
	P = L / 2;
	phase = (double)(s->index % n) * P / n;
	due = sl.epoch + phase +
	    (floor((w->started + P - sl.epoch - phase) / P) + 1) * P;
	if (due <= now)		/* a retry, or a boot longer than P */
		due = sl.epoch + phase + (floor((now - sl.epoch - phase) / P)
		    + 1) * P;
	ev_timer_set(&s->life_w, due - now, 0.);
	ev_timer_start(sl.loop, &s->life_w);
}

static void
life_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct slot *s = t->data;

	if (s->cur != NULL && s->state == SLOT_READY)
		slot_event(s, s->cur, SE_RECYCLE,
		    recycle_names[RECYCLE_LIFETIME]);
}

/* max_memory: the RSS of every ready worker, once a second. */
static void
mem_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct slot *s;
	uint64_t rss;
	int i;

	for (i = 0; i < sl.nslots; i++) {
		s = sl.slots[i];
		if (s->state != SLOT_READY || !s->want_up ||
		    s->cur->max_memory == 0)
			continue;
		if ((rss = sl.procs->rss(s->cur->pid)) <= s->cur->max_memory)
			continue;
		log_warn("slot %d: pid %ld uses %llu KiB, above max_memory "
		    "(%llu KiB): replacing it", i, (long)s->cur->pid,
		    (unsigned long long)rss / 1024,
		    (unsigned long long)s->cur->max_memory / 1024);
		slot_event(s, s->cur, SE_OVER_MEMORY, NULL);
	}
}

/*
 * stall_timeout: once a second, the accept queue of every ready slot on
 * its own sockets. A worker that accepts keeps it near 0 however slow its
 * requests are; one that stays above 0 and never goes down for
 * stall_timeout means nobody accepts. Slots that are not meant to accept
 * (draining, scaled down, the cluster stopping) are not judged.
 */
static void
stall_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	ev_tstamp now = ev_now(loop);
	struct slot *s;
	int i, q;

	for (i = 0; i < sl.nslots; i++) {
		s = sl.slots[i];
		if (s->state != SLOT_READY || !s->want_up || sl.stopping ||
		    cl.phase != PHASE_RUNNING || (q = queued(s)) == 0) {
			s->stall_since = 0;
			continue;
		}
		if (s->stall_since == 0 || q < s->stall_queued) {
			s->stall_since = now;	/* it moved */
			s->stall_queued = q;
			continue;
		}
		s->stall_queued = q;
		if (now - s->stall_since < sl.stall_timeout)
			continue;
		log_warn("slot %d: pid %ld accepted none of the %d connection(s) "
		    "queued on its socket for %.1fs: hung, replacing it", i,
		    (long)s->cur->pid, q, now - s->stall_since);
		s->stall_since = 0;
		slot_event(s, s->cur, SE_STALL, NULL);
	}
}

void
slot_watch_stall(double stall_timeout)
{
	sl.stall_timeout = stall_timeout;
	if (stall_timeout > 0 && !ev_is_active(&sl.stall_w))
		ev_timer_start(sl.loop, &sl.stall_w);
	else if (stall_timeout <= 0)
		ev_timer_stop(sl.loop, &sl.stall_w);
}

/* ------------------------------------------------------------------ */
/* The table of slots, and the verbs of the layers above.              */

void
slot_init(struct ev_loop *loop, const struct slot_procs *procs,
    const struct slot_hooks *hooks, bool steer_off)
{
	memset(&sl, 0, sizeof sl);
	sl.loop = loop;
	sl.procs = procs;
	sl.hooks = hooks;
	sl.failfast = true;
	sl.steer_off = steer_off;
	sl.recycling = -1;
	sl.epoch = ev_now(loop);
	ev_timer_init(&sl.mem_w, mem_cb, 1., 1.);
	ev_timer_init(&sl.stall_w, stall_cb, 1., 1.);
}

void
slot_free_all(void)
{
	int i;

	ev_timer_stop(sl.loop, &sl.mem_w);
	ev_timer_stop(sl.loop, &sl.stall_w);
	for (i = 0; i < sl.nslots; i++) {
		ev_timer_stop(sl.loop, &sl.slots[i]->backoff_w);
		ev_timer_stop(sl.loop, &sl.slots[i]->life_w);
		ev_timer_stop(sl.loop, &sl.slots[i]->drain_w);
		free(sl.slots[i]);
	}
	free(sl.slots);
	sl.slots = NULL;
	sl.nslots = sl.wanted = 0;
}

void
slot_watch_memory(bool on)
{
	if (on)
		ev_timer_start(sl.loop, &sl.mem_w);
	else
		ev_timer_stop(sl.loop, &sl.mem_w);
}

/* Failures no longer end the start: the cluster has been ready. */
void
slot_started(void)
{
	sl.failfast = false;
}

static int
grow(int n, unsigned gen)
{
	struct slot **slots, *s;
	int i;

	if (n <= sl.nslots)
		return 0;
	if ((slots = realloc(sl.slots, sizeof *slots * (size_t)n)) == NULL)
		return -ENOMEM;
	sl.slots = slots;
	for (i = sl.nslots; i < n; i++) {
		if ((s = calloc(1, sizeof *s)) == NULL)
			return -ENOMEM;
		s->index = i;
		s->want_gen = gen;
		ev_timer_init(&s->backoff_w, backoff_cb, 0., 0.);
		s->backoff_w.data = s;
		ev_timer_init(&s->drain_w, drain_cb, 0., 0.);
		s->drain_w.data = s;
		ev_timer_init(&s->life_w, life_cb, 0., 0.);
		s->life_w.data = s;
		sl.slots[i] = s;
		sl.nslots = i + 1;
	}
	return 0;
}

/* Want n slots up: new ones start on generation gen, the highest beyond n
 * drain. The caller sized the listeners. */
int
slot_scale(int n, unsigned gen)
{
	struct slot *s;
	int i, r;

	if ((r = grow(n, gen)) < 0)
		return r;
	sl.wanted = n;
	for (i = 0; i < sl.nslots; i++) {
		s = sl.slots[i];
		if (i < n && !s->want_up) {
			s->want_up = true;
			s->want_gen = gen;
			s->backoff = sl.hooks->config(gen)->restart_delay;
			if (!sl.stopping)
				slot_event(s, NULL, SE_WANT_UP, NULL);
		} else if (i >= n && s->want_up) {
			s->want_up = false;
			slot_event(s, NULL, SE_WANT_DOWN, NULL);
		}
	}
	return 0;
}

/* The reload's cursor: slot i should run generation gen; done() answers. */
void
slot_want_gen(struct slot *s, unsigned gen)
{
	s->want_gen = gen;
	s->gen_waiting = true;
	slot_event(s, NULL, SE_WANT_GEN, NULL);
}

/* After a failed reload: respawns use gen again; what runs stays. */
void
slot_revert_gen(unsigned gen)
{
	int i;

	for (i = 0; i < sl.nslots; i++) {
		sl.slots[i]->want_gen = gen;
		sl.slots[i]->gen_waiting = false;
		/* Other slots of a failed batch: their successors go, their
		 * old workers stay. */
		if (sl.slots[i]->state == SLOT_REPLACING &&
		    sl.slots[i]->incoming->generation != gen)
			slot_event(sl.slots[i], NULL, SE_WANT_GEN, NULL);
	}
}

/* The cluster stops: every worker gets its stop signal, nothing
 * respawns; hooks->gone() once the last one is reaped. */
void
slot_stop_all(void)
{
	int i;

	sl.stopping = true;
	ev_timer_stop(sl.loop, &sl.mem_w);
	ev_timer_stop(sl.loop, &sl.stall_w);
	for (i = 0; i < sl.nslots; i++)
		ev_timer_stop(sl.loop, &sl.slots[i]->life_w);
	for (i = 0; i < sl.nslots; i++)
		slot_event(sl.slots[i], NULL, SE_STOP, NULL);
	if (sl.procs->count(-1) == 0)
		sl.hooks->gone();
}

int
slot_count(void)
{
	return sl.nslots;
}

struct slot *
slot_get(int i)
{
	return i >= 0 && i < sl.nslots ? sl.slots[i] : NULL;
}

int
slot_wanted(void)
{
	return sl.wanted;
}

const char *
slot_state_name(enum slot_state st)
{
	return state_names[st];
}

/* Is there a cell for ev in state st (tests/unit/test_slot.c checks the
 * manual against it)? */
bool
slot_table_has(enum slot_state st, enum slot_event ev)
{
	return slot_table[st][ev] != NULL;
}

const char *
slot_event_name(enum slot_event ev)
{
	return event_names[ev];
}

const char *
slot_recycle_name(enum recycle_reason r)
{
	return r < RECYCLE_NREASONS ? recycle_names[r] : "?";
}

/* A worker's row label in `status`: what it does for slot s. */
const char *
slot_worker_label(const struct slot *s, const struct worker *w)
{
	if (w == s->incoming)
		return "starting";
	if (w != s->cur)
		return "draining";	/* left the slot */
	switch (s->state) {
	case SLOT_REPLACING:
		return "ready";		/* serving while its successor starts */
	case SLOT_STARTING:
	case SLOT_READY:
	case SLOT_DRAINING:
	case SLOT_STALLED:
		return state_names[s->state];
	default:
		return "draining";
	}
}

static void
row_add(struct slot_row *rows, int max, int *n, const struct slot *s,
    const struct worker *w, const char *state, bool receiving)
{
	struct slot_row *r;

	if ((*n)++ >= max)
		return;
	r = &rows[*n - 1];
	memset(r, 0, sizeof *r);
	r->slot = s->index;
	r->restarts = s->restarts;
	snprintf(r->last_exit, sizeof r->last_exit, "%s", s->last_exit);
	snprintf(r->last_replace, sizeof r->last_replace, "%s",
	    s->last_replace);
	r->state = state;
	r->receiving = receiving;
	r->queued = slot_queued(s);
	r->cpu_s = slot_cpu(s);
	if (w != NULL) {
		r->pid = w->pid;
		r->generation = w->generation;
		r->ready = w->ready_at > 0 && !w->stopping;
		r->uptime = ev_now(sl.loop) - w->started;
		r->rss = sl.procs->rss(w->pid);
		snprintf(r->status, sizeof r->status, "%s", w->status);
	}
}

/*
 * The rows of `status`, per slot: its current worker (or the slot's state
 * when it has none), its successor, then the workers that left it and
 * drain. Slots scaled away show only while a worker of theirs drains.
 */
int
slot_rows(struct slot_row *rows, int max)
{
	struct worker *w;
	struct slot *s;
	int i, n = 0;

	for (i = 0; i < sl.nslots; i++) {
		s = sl.slots[i];
		if (s->cur != NULL)
			row_add(rows, max, &n, s, s->cur,
			    slot_worker_label(s, s->cur), slot_receiving(s));
		if (s->incoming != NULL)
			row_add(rows, max, &n, s, s->incoming,
			    slot_worker_label(s, s->incoming), false);
		if (s->cur == NULL && s->incoming == NULL && s->want_up)
			row_add(rows, max, &n, s, NULL, state_names[s->state],
			    false);
		for (w = worker_list(); w != NULL; w = w->next)
			if (w->slot == i && w != s->cur && w != s->incoming)
				row_add(rows, max, &n, s, w,
				    slot_worker_label(s, w), false);
	}
	return n;
}

/* It takes new connections: wanted, with a ready worker. */
bool
slot_receiving(const struct slot *s)
{
	return s->want_up && (s->state == SLOT_READY ||
	    s->state == SLOT_REPLACING);
}

/* "2/2 workers ready, generation 3", for STATUS= and messages. */
void
slot_status_line(char *buf, size_t len, unsigned generation)
{
	snprintf(buf, len, "%d/%d workers ready, generation %u",
	    slot_ready_count(), sl.wanted, generation);
}

double
slot_cpu(const struct slot *s)
{
	const struct worker *w;
	double cpu = s->cpu_dead;

	for (w = worker_list(); w != NULL; w = w->next)
		if (w->slot == s->index)
			cpu += worker_cpu(w->pid);
	return cpu;
}

int
slot_queued(const struct slot *s)
{
	const struct listener *l;
	int n = -1, q;

	for (l = cl.all; l != NULL; l = l->next)
		if ((q = listen_queued(l, s->index)) >= 0)
			n = (n < 0 ? 0 : n) + q;
	return n;
}

int
slot_ready_count(void)
{
	int i, n = 0;

	for (i = 0; i < sl.nslots; i++)
		n += slot_receiving(sl.slots[i]);
	return n;
}

/* The RSS of the largest current worker, 0 if none can be read. */
uint64_t
slot_max_rss(void)
{
	uint64_t rss, max = 0;
	int i;

	for (i = 0; i < sl.nslots; i++)
		if (sl.slots[i]->cur != NULL &&
		    (rss = sl.procs->rss(sl.slots[i]->cur->pid)) > max)
			max = rss;
	return max;
}

static void
slot_steer_refresh(void)
{
	bool ready[WORKERS_MAX];
	struct listener *l;
	int i, n;

	if (sl.steer_off || sl.stopping)
		return;
	n = sl.nslots < WORKERS_MAX ? sl.nslots : WORKERS_MAX;
	for (i = 0; i < n; i++)
		ready[i] = slot_receiving(sl.slots[i]);
	for (l = cl.all; l != NULL; l = l->next)
		steer_update(l, ready, n);
}

/* ------------------------------------------------------------------ */
/* Across an upgrade: the table as it stands, every slot's state, wanted */
/* state, workers (by pid), counters and what was left of its timers.  */
/* Nothing happens to a slot on the way: no event, no transition.      */

void
slot_dump(struct ustate *st)
{
	struct slot *s;
	int i, k;

	upgrade_put_u64(st, (uint64_t)sl.nslots);
	upgrade_put_u64(st, (uint64_t)sl.wanted);
	upgrade_put_u64(st, sl.failfast);
	upgrade_put_u64(st, sl.steer_off);
	upgrade_put_u64(st, (uint64_t)(int64_t)sl.recycling);
	upgrade_put_dbl(st, sl.epoch);
	for (i = 0; i < sl.nslots; i++) {
		s = sl.slots[i];
		upgrade_put_u64(st, (uint64_t)s->state);
		upgrade_put_u64(st, s->want_up);
		upgrade_put_u64(st, s->want_gen);
		upgrade_put_u64(st, s->gen_waiting);
		upgrade_put_u64(st, s->renew);
		upgrade_put_u64(st, s->cur ? (uint64_t)s->cur->pid : 0);
		upgrade_put_u64(st, s->incoming ? (uint64_t)s->incoming->pid :
		    0);
		upgrade_put_u64(st, s->restarts);
		upgrade_put_dbl(st, s->backoff);
		upgrade_put_mem(st, s->last_exit, sizeof s->last_exit);
		for (k = 0; k < RECYCLE_NREASONS; k++)
			upgrade_put_u64(st, s->recycles[k]);
		upgrade_put_dbl(st, s->cpu_dead);
		upgrade_put_mem(st, s->last_replace, sizeof s->last_replace);
		upgrade_put_timer(st, &s->backoff_w);
		upgrade_put_timer(st, &s->drain_w);
		upgrade_put_dbl(st, s->drain_until);
		upgrade_put_mem(st, s->tail, sizeof s->tail);
		upgrade_put_u64(st, (uint64_t)s->ntail);
	}
}

static struct worker *
worker_of(uint64_t pid, bool *bad)
{
	struct worker *w;

	if (pid == 0)
		return NULL;
	if ((w = worker_find_pid((pid_t)pid)) == NULL)
		*bad = true;
	return w;
}

int
slot_restore(struct ustate *st)
{
	struct slot *s;
	bool bad = false;
	int n, i, k;

	n = (int)upgrade_get_u64(st);
	if (n < 0 || n > WORKERS_MAX || grow(n, cl.generation) < 0)
		return -EBADMSG;
	sl.wanted = (int)upgrade_get_u64(st);
	sl.failfast = upgrade_get_u64(st) != 0;
	sl.steer_off = upgrade_get_u64(st) != 0;
	sl.recycling = (int)(int64_t)upgrade_get_u64(st);
	sl.epoch = upgrade_get_dbl(st);
	if (sl.recycling < -1 || sl.recycling >= n)
		bad = true;
	for (i = 0; i < n && !upgrade_get_failed(st); i++) {
		s = sl.slots[i];
		s->state = (enum slot_state)upgrade_get_u64(st);
		s->want_up = upgrade_get_u64(st) != 0;
		s->want_gen = (unsigned)upgrade_get_u64(st);
		s->gen_waiting = upgrade_get_u64(st) != 0;
		s->renew = upgrade_get_u64(st) != 0;
		s->cur = worker_of(upgrade_get_u64(st), &bad);
		s->incoming = worker_of(upgrade_get_u64(st), &bad);
		s->restarts = (unsigned)upgrade_get_u64(st);
		s->backoff = upgrade_get_dbl(st);
		upgrade_get_mem(st, s->last_exit, sizeof s->last_exit);
		s->last_exit[sizeof s->last_exit - 1] = '\0';
		for (k = 0; k < RECYCLE_NREASONS; k++)
			s->recycles[k] = (unsigned long)upgrade_get_u64(st);
		s->cpu_dead = upgrade_get_dbl(st);
		upgrade_get_mem(st, s->last_replace, sizeof s->last_replace);
		s->last_replace[sizeof s->last_replace - 1] = '\0';
		upgrade_get_timer(st, &s->backoff_w);
		upgrade_get_timer(st, &s->drain_w);
		s->drain_until = upgrade_get_dbl(st);
		upgrade_get_mem(st, s->tail, sizeof s->tail);
		s->ntail = (int)upgrade_get_u64(st);
		if (s->state >= SLOT_NSTATES || s->ntail < 0 ||
		    s->ntail > OUTPUT_TAIL)
			bad = true;
		else if (s->state == SLOT_READY)
			life_arm(s);	/* max_lifetime: the same grid */
	}
	return bad || upgrade_get_failed(st) ? -EBADMSG : 0;
}
