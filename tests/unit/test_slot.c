/*
 * test_slot.c - the supervision table without a process: events go in, the
 * states that come out and what slot.c asked of the process layer (start,
 * stop with which signal, kill, free) and told the layers above (ready,
 * failed, done) are checked. Also the backoff policy, and that clusterd.8
 * SUPERVISION lists exactly the cells of the table.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd.h"
#include "check.h"

static struct config	 cfg;
static char		 calls[4096];	/* what slot.c did, in order */
static pid_t		 next_pid = 100;
static int		 live[8];
static bool		 fail_spawn;
static uint64_t		 rss_now;
static struct worker	*made[64];	/* freed at the next setup */

static void
record(const char *fmt, ...)
{
	size_t off = strlen(calls);
	va_list ap;

	if (off >= sizeof calls - 64)
		return;
	if (off > 0)
		calls[off++] = ' ';
	va_start(ap, fmt);
	vsnprintf(calls + off, sizeof calls - off, fmt, ap);
	va_end(ap);
}

/* calls so far, then forget them */
static const char *
took(void)
{
	static char out[sizeof calls];

	memcpy(out, calls, sizeof out);
	calls[0] = '\0';
	return out;
}

static struct worker *
fake_start(int slot, unsigned gen, const struct config *c, char *err,
    size_t errlen)
{
	struct worker *w;

	if (fail_spawn) {
		snprintf(err, errlen, "fork: fake failure");
		record("start-failed");
		return NULL;
	}
	w = calloc(1, sizeof *w);
	made[w->pid = next_pid++, (w->pid - 100) % 64] = w;
	w->slot = slot;
	w->generation = gen;
	w->stop_signal = c->stop_signal;
	w->stop_timeout = c->stop_timeout;
	w->ready_timeout = c->ready_timeout;
	w->watchdog = c->watchdog;
	w->max_memory = c->max_memory;
	w->max_lifetime = c->max_lifetime;
	w->started = ev_now(ev_default_loop(0));
	live[slot]++;
	record("start:%ld:g%u", (long)w->pid, gen);
	return w;
}

static void
fake_stop(struct worker *w, int sig, double timeout, const char *why)
{
	w->stopping = true;
	record("stop:%ld:%s", (long)w->pid, sig == SIGABRT ? "ABRT" :
	    sig == SIGTERM ? "TERM" : "?");
}

static void
fake_kill(struct worker *w)
{
	w->killed = true;
	record("kill:%ld", (long)w->pid);
}

static void
fake_release(struct worker *w)
{
	live[w->slot]--;
	record("free:%ld", (long)w->pid);
	made[(w->pid - 100) % 64] = NULL;
	free(w);
}

static int
fake_count(int slot)
{
	int i, n = 0;

	if (slot >= 0)
		return live[slot];
	for (i = 0; i < 8; i++)
		n += live[i];
	return n;
}

static uint64_t
fake_rss(pid_t pid)
{
	return rss_now;
}

static const struct config *
hook_config(unsigned gen)
{
	return &cfg;
}

static void
hook_ready(struct slot *s)
{
	record("ready-hook:%d", s->index);
}

static void
hook_failed(struct slot *s, const char *why)
{
	record("failed-hook:%d:%s", s->index, why);
}

static void
hook_done(struct slot *s, bool ok, const char *why)
{
	record("done:%d:%s%s%s", s->index, ok ? "ok" : "fail", why[0] ? ":" :
	    "", why);
}

static void
hook_gone(void)
{
	record("gone");
}

static const struct slot_procs procs = {
	.start = fake_start, .stop = fake_stop, .kill = fake_kill,
	.release = fake_release, .count = fake_count, .rss = fake_rss,
};
static const struct slot_hooks hooks = {
	.config = hook_config, .ready = hook_ready, .failed = hook_failed,
	.done = hook_done, .gone = hook_gone,
};

static void
setup(void)
{
	int i;

	for (i = 0; i < 64; i++) {
		free(made[i]);
		made[i] = NULL;
	}
	next_pid = 100;
	memset(&cfg, 0, sizeof cfg);
	cfg.restart_delay = 0.1;
	cfg.restart_delay_max = 1.0;
	cfg.stop_signal = SIGTERM;
	cfg.stop_timeout = 10;
	cfg.ready_timeout = 30;
	cfg.watchdog = 2;
	cfg.max_memory = 1000;
	memset(live, 0, sizeof live);
	fail_spawn = false;
	calls[0] = '\0';
	slot_free_all();
	slot_init(ev_default_loop(0), &procs, &hooks, true);
}

#define STATE(s, st)	CHECK((s)->state == (st), "state %s, want %s", \
	slot_state_name((s)->state), slot_state_name(st))
#define TOOK(want)	do { const char *t_ = took();			\
	CHECK(strcmp(t_, want) == 0, "calls \"%s\", want \"%s\"", t_, want); \
} while (0)

static void
test_backoff(void)
{
	CHECK(backoff_next(0.1, 0.1, 1) == 0.2, "0.1 doubles");
	CHECK(backoff_next(0.8, 0.1, 1) == 1.0, "clamped to max");
	CHECK(backoff_next(0, 0.1, 1) == 0.1, "at least min");
	CHECK(!backoff_stable(0, 100), "never ready is not stable");
	CHECK(!backoff_stable(10, 10.5), "half a second is not stable");
	CHECK(backoff_stable(10, 11), "a second is stable");
}

/* crash -> backoff -> respawn -> ready, with the delay doubling */
static void
test_crash(void)
{
	struct slot *s;

	setup();
	CHECK(slot_scale(1, 1) == 0, "scale");
	s = slot_get(0);
	STATE(s, SLOT_STARTING);
	TOOK("start:100:g1");
	slot_worker_event(s->cur, SE_READY, NULL);
	STATE(s, SLOT_READY);
	TOOK("ready-hook:0");
	slot_started();
	CHECK(slot_ready_count() == 1 && slot_receiving(s), "receiving");

	slot_worker_event(s->cur, SE_EXIT, "exit code 3");
	STATE(s, SLOT_BACKOFF);
	TOOK("free:100");
	CHECK(s->cur == NULL && s->restarts == 1, "no worker, 1 restart");
	CHECK(strcmp(s->last_exit, "exit code 3") == 0, "last exit %s",
	    s->last_exit);
	CHECK(ev_is_active(&s->backoff_w), "backoff timer armed");
	CHECK(s->backoff == 0.2, "next delay doubled: %g", s->backoff);
	CHECK(slot_ready_count() == 0, "not ready in backoff");

	slot_event(s, NULL, SE_BACKOFF_DONE, NULL);
	STATE(s, SLOT_STARTING);
	TOOK("start:101:g1");
	slot_worker_event(s->cur, SE_EXIT, "exit code 3");	/* again */
	STATE(s, SLOT_BACKOFF);
	CHECK(s->backoff == 0.4, "doubled again: %g", s->backoff);
	took();
	fail_spawn = true;	/* a fork failure backs off as well */
	slot_event(s, NULL, SE_BACKOFF_DONE, NULL);
	STATE(s, SLOT_BACKOFF);
	TOOK("start-failed");
	fail_spawn = false;
	slot_event(s, NULL, SE_BACKOFF_DONE, NULL);
	STATE(s, SLOT_STARTING);
	slot_worker_event(s->cur, SE_READY, NULL);
	STATE(s, SLOT_READY);
	TOOK("start:102:g1 ready-hook:0");
}

/* a crash after a worker was stable: respawned at once, and the backoff
 * starts from restart_delay at the next crash in a row */
static void
test_stable_crash(void)
{
	struct slot *s;

	setup();
	slot_scale(1, 1);
	s = slot_get(0);
	slot_worker_event(s->cur, SE_READY, NULL);
	slot_started();
	took();
	s->cur->ready_at = ev_now(ev_default_loop(0)) - 5;	/* up 5 s */
	slot_worker_event(s->cur, SE_EXIT, "signal 9 (KILL)");
	STATE(s, SLOT_STARTING);
	TOOK("free:100 start:101:g1");
	CHECK(!ev_is_active(&s->backoff_w), "no backoff timer");
	CHECK(s->restarts == 1, "counted as a restart: %u", s->restarts);
	CHECK(s->backoff == 0.1, "next delay restart_delay: %g", s->backoff);
	slot_worker_event(s->cur, SE_READY, NULL);
	took();
	/* the next crash in a row (ready, but not for long) backs off */
	s->cur->ready_at = ev_now(ev_default_loop(0)) - 0.1;
	slot_worker_event(s->cur, SE_EXIT, "signal 9 (KILL)");
	STATE(s, SLOT_BACKOFF);
	CHECK(ev_is_active(&s->backoff_w), "backoff timer armed");
	CHECK(s->backoff == 0.2, "then doubling: %g", s->backoff);
	/* before the first full start a crash fails the start, stable or not */
	setup();
	slot_scale(1, 1);
	s = slot_get(0);
	slot_worker_event(s->cur, SE_READY, NULL);
	took();
	s->cur->ready_at = ev_now(ev_default_loop(0)) - 5;
	slot_worker_event(s->cur, SE_EXIT, "exit code 1");
	STATE(s, SLOT_STOPPED);
	TOOK("free:100 failed-hook:0:exit code 1");
}

/* max_lifetime and X_CLUSTERD_RECYCLE=1: make-before-break, one slot at a
 * time, the slots' deadlines spread */
static void
test_recycle(void)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct slot *a, *b;
	struct worker *olda, *oldb;
	double ra, rb;

	setup();
	cfg.max_lifetime = 2;
	slot_scale(2, 1);
	a = slot_get(0);
	b = slot_get(1);
	slot_worker_event(a->cur, SE_READY, NULL);
	slot_worker_event(b->cur, SE_READY, NULL);
	slot_started();
	took();
	CHECK(ev_is_active(&a->life_w) && ev_is_active(&b->life_w),
	    "lifetime timers armed once ready");
	ra = ev_timer_remaining(loop, &a->life_w);
	rb = ev_timer_remaining(loop, &b->life_w);
	CHECK(ra > 1 && ra <= 2 && rb > 1 && rb <= 2, "due within (L/2, L]: "
	    "%g %g", ra, rb);
	CHECK(ra - rb >= 0.49 || rb - ra >= 0.49, "spread by L/2/N: %g %g",
	    ra, rb);

	olda = a->cur;
	oldb = b->cur;
	slot_event(a, a->cur, SE_RECYCLE, "lifetime");
	STATE(a, SLOT_REPLACING);
	TOOK("start:102:g1");
	CHECK(a->recycles[RECYCLE_LIFETIME] == 1, "counted");
	CHECK(strcmp(a->last_replace, "lifetime") == 0, "last_replace %s",
	    a->last_replace);
	/* slot 1 asks meanwhile: it waits, still ready */
	slot_worker_event(b->cur, SE_RECYCLE, "request");
	STATE(b, SLOT_READY);
	TOOK("");
	CHECK(slot_ready_count() == 2, "both still receive");
	/* slot 0's successor is ready: the old one drains, slot 1 goes */
	slot_worker_event(a->incoming, SE_READY, NULL);
	STATE(a, SLOT_READY);
	STATE(b, SLOT_REPLACING);
	TOOK("stop:100:TERM ready-hook:0 start:103:g1");
	CHECK(a->cur != olda && b->cur == oldb, "slot 0 has its new worker");
	CHECK(b->recycles[RECYCLE_REQUEST] == 1 &&
	    strcmp(b->last_replace, "request") == 0, "slot 1: a request");
	CHECK(slot_ready_count() == 2, "never below workers");
	slot_worker_event(b->incoming, SE_READY, NULL);
	STATE(b, SLOT_READY);
	TOOK("stop:101:TERM ready-hook:1");
	/* a request from a successor that is not ready yet is not one */
	slot_event(a, a->cur, SE_RECYCLE, "request");
	took();
	slot_worker_event(a->incoming, SE_RECYCLE, "request");
	STATE(a, SLOT_REPLACING);
	CHECK(a->recycles[RECYCLE_REQUEST] == 1, "once: %lu",
	    a->recycles[RECYCLE_REQUEST]);
}

/* reload: the new worker ready first, then the old one is told to stop */
static void
test_reload(void)
{
	struct slot *s;
	struct worker *old;

	setup();
	slot_scale(1, 1);
	s = slot_get(0);
	slot_worker_event(s->cur, SE_READY, NULL);
	slot_started();
	old = s->cur;
	took();

	slot_want_gen(s, 2);
	STATE(s, SLOT_REPLACING);
	TOOK("start:101:g2");
	CHECK(slot_receiving(s), "still receiving while replacing");
	CHECK(strcmp(slot_worker_label(s, old), "ready") == 0,
	    "old row says ready");
	slot_worker_event(s->incoming, SE_READY, NULL);
	STATE(s, SLOT_READY);
	CHECK(s->cur->generation == 2 && s->incoming == NULL, "handed over");
	TOOK("stop:100:TERM ready-hook:0 done:0:ok");
	CHECK(strcmp(slot_worker_label(s, old), "draining") == 0,
	    "old row says draining");
	slot_worker_event(old, SE_STOP_TIMEOUT, NULL);	/* retired: killed */
	slot_worker_event(old, SE_EXIT, "signal 9 (KILL)");
	STATE(s, SLOT_READY);
	TOOK("kill:100 free:100");

	/* already on the wanted generation: answered at once */
	slot_want_gen(s, 2);
	STATE(s, SLOT_READY);
	TOOK("done:0:ok");

	/* the new worker exits: the old one keeps serving */
	slot_want_gen(s, 3);
	slot_worker_event(s->incoming, SE_EXIT, "exit code 1");
	STATE(s, SLOT_READY);
	CHECK(s->cur->generation == 2, "old generation serves");
	TOOK("start:102:g3 free:102 done:0:fail:exit code 1");

	/* the new worker is never ready: stopped, reload told */
	slot_want_gen(s, 4);
	slot_worker_event(s->incoming, SE_READY_TIMEOUT, NULL);
	STATE(s, SLOT_READY);
	TOOK("start:103:g4 stop:103:TERM done:0:fail:not ready after 30.0s");

	/* max_memory: replaced on the wanted generation, new one first */
	slot_revert_gen(2);
	slot_event(s, s->cur, SE_OVER_MEMORY, NULL);
	STATE(s, SLOT_REPLACING);
	slot_worker_event(s->incoming, SE_READY, NULL);
	STATE(s, SLOT_READY);
	TOOK("start:104:g2 stop:101:TERM ready-hook:0");
	CHECK(strcmp(s->last_exit, "max_memory") == 0, "last exit max_memory");

	/* its socket was replaced: a successor on the new one */
	slot_event(s, s->cur, SE_RENEW, "its socket was replaced");
	STATE(s, SLOT_REPLACING);
	slot_worker_event(s->incoming, SE_READY, NULL);
	STATE(s, SLOT_READY);
	TOOK("start:105:g2 stop:104:TERM ready-hook:0");
}

/* watchdog: SIGABRT, SIGKILL at the grace, then a crash backoff */
static void
test_hung(void)
{
	struct slot *s;

	setup();
	slot_scale(1, 1);
	s = slot_get(0);
	slot_worker_event(s->cur, SE_READY, NULL);
	slot_started();
	took();
	slot_worker_event(s->cur, SE_HUNG, NULL);
	STATE(s, SLOT_DRAINING);
	TOOK("stop:100:ABRT");
	CHECK(slot_ready_count() == 0, "a hung slot is not counted ready");
	CHECK(strcmp(slot_worker_label(s, s->cur), "draining") == 0,
	    "hung row says draining");
	slot_worker_event(s->cur, SE_STOP_TIMEOUT, NULL);
	STATE(s, SLOT_DRAINING);
	TOOK("kill:100");
	slot_worker_event(s->cur, SE_EXIT, "signal 9 (KILL)");
	STATE(s, SLOT_BACKOFF);
	TOOK("free:100");
	CHECK(strcmp(s->last_exit, "signal 9 (KILL)") == 0, "last exit");
}

/* the cluster stops: TERM, SIGKILL at stop_timeout, gone at the end */
static void
test_stop(void)
{
	struct slot *s0, *s1;

	setup();
	slot_scale(2, 1);
	s0 = slot_get(0);
	s1 = slot_get(1);
	slot_worker_event(s0->cur, SE_READY, NULL);
	slot_worker_event(s1->cur, SE_EXIT, "exit code 1");	/* start fails */
	STATE(s1, SLOT_STOPPED);
	TOOK("start:100:g1 start:101:g1 ready-hook:0 free:101 "
	    "failed-hook:1:exit code 1");
	slot_stop_all();
	STATE(s0, SLOT_DRAINING);
	STATE(s1, SLOT_STOPPED);
	TOOK("stop:100:TERM");
	slot_worker_event(s0->cur, SE_STOP_TIMEOUT, NULL);
	TOOK("kill:100");
	slot_worker_event(s0->cur, SE_EXIT, "signal 9 (KILL)");
	STATE(s0, SLOT_STOPPED);
	TOOK("free:100 gone");
	CHECK(!ev_is_active(&s0->backoff_w), "no respawn while stopping");
}

/* scale-down waits for the queue, scale-up while draining starts anew */
static void
test_scale(void)
{
	struct slot *s;

	setup();
	slot_scale(2, 1);
	slot_worker_event(slot_get(0)->cur, SE_READY, NULL);
	slot_worker_event(slot_get(1)->cur, SE_READY, NULL);
	slot_started();
	took();
	s = slot_get(1);
	slot_scale(1, 1);
	STATE(s, SLOT_DRAINING);
	CHECK(ev_is_active(&s->drain_w), "queue check armed");
	CHECK(!slot_receiving(s) && slot_ready_count() == 1, "steered away");
	TOOK("");
	slot_event(s, NULL, SE_QUEUE_EMPTY, NULL);
	TOOK("stop:101:TERM");
	slot_scale(2, 1);		/* wanted again while it drains */
	STATE(s, SLOT_STARTING);
	TOOK("start:102:g1");
	slot_worker_event(s->cur, SE_READY, NULL);
	STATE(s, SLOT_READY);
	took();
	slot_scale(1, 1);
	slot_event(s, NULL, SE_QUEUE_EMPTY, NULL);
	slot_worker_event(s->cur, SE_EXIT, "exit code 0");
	STATE(s, SLOT_STOPPED);
	TOOK("stop:102:TERM free:102");
	/* the first draining worker still exits off the slot */
	CHECK(live[1] == 1, "the old worker still drains");
}

/*
 * clusterd.8 SUPERVISION has one ".It Sy state Ta Sy event Ta ..." row
 * per cell of the table; every row must be a cell and every cell a row.
 */
static void
test_manual(void)
{
	char line[512], st[32], ev[64];
	bool seen[SLOT_NSTATES][SE_NEVENTS];
	int s, e, rows = 0, cells = 0;
	FILE *f;

	memset(seen, 0, sizeof seen);
	if ((f = fopen("man/clusterd.8", "r")) == NULL) {
		CHECK(0, "man/clusterd.8 not found (run from the top)");
		return;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, ".It Cm %31s Ta Cm %63[a-z ] Ta", st, ev) != 2)
			continue;
		ev[strcspn(ev, "\n")] = '\0';
		while (ev[0] && ev[strlen(ev) - 1] == ' ')
			ev[strlen(ev) - 1] = '\0';
		for (s = 0; s < SLOT_NSTATES; s++)
			if (strcmp(st, slot_state_name(s)) == 0)
				break;
		for (e = 0; e < SE_NEVENTS; e++)
			if (strcmp(ev, slot_event_name(e)) == 0)
				break;
		CHECK(s < SLOT_NSTATES && e < SE_NEVENTS,
		    "man page row \"%s\" / \"%s\" is no state/event", st, ev);
		if (s == SLOT_NSTATES || e == SE_NEVENTS)
			continue;
		CHECK(slot_table_has(s, e), "man page row %s / %s is not in "
		    "the table", st, ev);
		seen[s][e] = true;
		rows++;
	}
	fclose(f);
	for (s = 0; s < SLOT_NSTATES; s++)
		for (e = 0; e < SE_NEVENTS; e++)
			if (slot_table_has(s, e)) {
				cells++;
				CHECK(seen[s][e], "table cell %s / %s missing "
				    "in clusterd.8", slot_state_name(s),
				    slot_event_name(e));
			}
	CHECK(rows == cells, "%d man page rows, %d table cells", rows, cells);
}

int
main(void)
{
	test_backoff();
	test_crash();
	test_stable_crash();
	test_recycle();
	test_reload();
	test_hung();
	test_stop();
	test_scale();
	test_manual();
	setup();
	slot_free_all();
	printf("test_slot: %d checks, %d failed\n", nchecks, nfailed);
	return nfailed ? 1 : 0;
}
