/*
 * reload.c - the configuration in force and the rolling reload: parse
 * FILE again, then slot by slot ask for the new generation and wait for the
 * slot's answer (slot.c replaces the worker, new one ready first). A
 * failure stops the roll and keeps the old configuration and worker count;
 * a request during a roll runs once after it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd.h"

#define WAITERS_MAX	16

/* Who hears how a reload ended (a `clusterd reload` client). */
struct waiter {
	reload_reply_fn		*fn;
	void			*arg;
};

static struct {
	bool			 running;
	bool			 again;		/* asked for during a roll */
	struct config		*cfg;		/* the new one */
	unsigned		 generation;
	int			 slot;		/* the roll's cursor */
	int			 inflight;	/* of the batch, not done yet */
	bool			 batching;	/* handing a batch out */
	int			 batch_min;	/* smallest headroom-paced batch,
						 * 0: none was */
	int			 old_wanted;	/* undone if the roll fails */
	struct waiter		 waiters[WAITERS_MAX];	/* this roll */
	int			 nwaiters;
	struct waiter		 next[WAITERS_MAX];	/* the one after */
	int			 nnext;
	char			 result[1024];
	ev_tstamp		 started;	/* for reload_duration */
} r;

static void	 reload_start(void);
static void	 reload_next(void);
static int	 reload_batch(void);
static int	 reload_listeners(struct config *, char *, size_t);
static void	 reload_finish(bool ok, const char *msg);
static int	 scale_to(int n, unsigned generation, char *err, size_t);

/* Drop a configuration and its references on the listeners (the last
 * reference closes a listener). */
void
reload_release(struct config *c)
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

bool
reload_running(void)
{
	return r.running;
}

/* What a worker of `generation` runs: the rolling config, or the current. */
const struct config *
reload_config_for(unsigned generation)
{
	return r.running && generation == r.generation ? r.cfg : cl.cfg;
}

/*
 * Give nc its listeners: an existing one where the address is the same
 * (activated sockets: the same name), else a new one, test-bound and bound
 * for every slot. Switching `sockets` on a kept address needs a restart.
 */
static int
reload_listeners(struct config *nc, char *err, size_t errlen)
{
	struct config_listen *b;
	struct listener *l;
	int i, j;

	if ((nc->lset = calloc((size_t)nc->nlistens + 1,
	    sizeof *nc->lset)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	nc->nlset = nc->nlistens;
	for (i = 0; i < nc->nlistens; i++) {
		b = &nc->listens[i];
		l = NULL;
		for (j = 0; j < cl.cfg->nlset && l == NULL; j++)
			if (listen_same(cl.cfg->lset[j], b))
				l = cl.cfg->lset[j];
		if (l != NULL && !l->activated && b->family != AF_UNIX &&
		    l->cfg.sockets != b->sockets) {
			snprintf(err, errlen, "%s:%d: switching `sockets` of "
			    "%s needs `clusterd restart`", nc->file, b->line,
			    b->address);
			return -EINVAL;
		}
		if (l == NULL && (l = listen_new(b, slot_count(), err,
		    errlen)) == NULL)
			return -EADDRINUSE;
		nc->lset[i] = l;
		listen_ref(l);
	}
	return 0;
}

static void
add_waiter(struct waiter *list, int *n, reload_reply_fn *fn, void *arg)
{
	if (fn == NULL)
		return;
	if (*n == WAITERS_MAX) {
		fn(arg, EXIT_FAILED, "too many reloads waiting");
		return;
	}
	list[*n].fn = fn;
	list[(*n)++].arg = arg;
}

/* SIGHUP (fn NULL) or a client: fn(arg, exit code, text) at the end. */
void
reload_request(reload_reply_fn *fn, void *arg)
{
	if (cl.phase == PHASE_STOPPING || cl.phase == PHASE_LAME_DUCK) {
		if (fn != NULL)
			fn(arg, EXIT_FAILED,
			    "reload refused: the cluster is stopping");
		return;
	}
	if (r.running || cl.phase == PHASE_STARTING) {
		/* Coalesced: one more roll after this one, newest file. */
		log_info("reload: queued behind the %s",
		    r.running ? "running reload" : "start");
		r.again = true;
		add_waiter(r.next, &r.nnext, fn, arg);
		return;
	}
	add_waiter(r.waiters, &r.nwaiters, fn, arg);
	reload_start();
}

/* arg went away: nobody to answer. */
void
reload_forget(void *arg)
{
	int i;

	for (i = 0; i < r.nwaiters; i++)
		if (r.waiters[i].arg == arg)
			r.waiters[i].fn = NULL;
	for (i = 0; i < r.nnext; i++)
		if (r.next[i].arg == arg)
			r.next[i].fn = NULL;
}

static void
reload_start(void)
{
	struct config *nc;
	const char *key;
	char err[1024];

	r.running = true;
	r.started = ev_time();
	r.generation = ++cl.last_generation;
	r.slot = -1;
	r.inflight = 0;
	r.batch_min = 0;
	r.old_wanted = slot_wanted();
	/* systemd wants both in one datagram (Type=notify-reload). */
	notify_systemd("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading "
	    "to generation %u", notify_monotonic_usec(), r.generation);
	log_notice("reload: generation %u from %s", r.generation,
	    cl.cfg->file);
	events_reload("begin", r.generation, NULL);
	if (config_load(cl.cfg->file, CONFIG_FULL, &nc, err, sizeof err) != 0) {
		reload_finish(false, err);
		return;
	}
	if ((key = config_needs_restart(cl.cfg, nc)) != NULL) {
		snprintf(err, sizeof err, "%s: changing '%s' needs "
		    "`clusterd restart`", nc->file, key);
		reload_release(nc);
		reload_finish(false, err);
		return;
	}
	/* Listeners: the same socket is kept, a new address is bound now,
	 * before any worker is touched; one no longer named is closed when
	 * the last worker that holds it is gone. */
	if (reload_listeners(nc, err, sizeof err) < 0) {
		reload_release(nc);
		reload_finish(false, err);
		return;
	}
	r.cfg = nc;
	/* The file's `workers` wins over an earlier scale; new slots start
	 * straight in the new generation. */
	if (nc->workers != slot_wanted() &&
	    scale_to(nc->workers, r.generation, err, sizeof err) < 0) {
		reload_finish(false, err);
		return;
	}
	reload_next();
}

/*
 * The next batch of wanted slots is asked for the new generation, each
 * replaced make-before-break on its own socket; slot.c answers through
 * reload_slot_done, at once for a slot that already runs it. The batch
 * after starts when the whole batch is done.
 */
static void
reload_next(void)
{
	struct slot *s;
	int n, started;

	while (r.running && r.inflight == 0) {
		n = reload_batch();
		started = 0;
		r.batching = true;
		while (started < n && ++r.slot < slot_count()) {
			s = slot_get(r.slot);
			if (!s->want_up)
				continue;
			started++;
			r.inflight++;
			slot_want_gen(s, r.generation);
			if (!r.running)
				return;	/* it failed at once */
		}
		r.batching = false;
		if (started == 0 && r.inflight == 0) {
			reload_finish(true, NULL);
			return;
		}
	}
}

/*
 * How many slots the next batch replaces: reload_surge, but no more than
 * the memory left holds one more worker each. A worker's RSS counts the
 * pages it shares with its siblings, so the largest one is the measure,
 * not the sum.
 */
static int
reload_batch(void)
{
	int		 surge = count_of(&r.cfg->reload_surge, slot_wanted());
	uint64_t	 room, rss;
	bool		 limited;
	int		 fit;

	if (surge <= 1)
		return 1;
	room = mem_headroom(&limited);
	if ((rss = slot_max_rss()) == 0 || (room == 0 && !limited))
		return surge;	/* nothing to measure by */
	fit = room / rss > (uint64_t)surge ? surge : (int)(room / rss);
	if (fit >= surge)
		return surge;
	if (fit < 1)
		fit = 1;
	log_notice("reload: batch of %d (reload_surge %d): the %.1f MiB "
	    "the %s has left hold %d more worker%s of %.1f MiB", fit, surge,
	    (double)room / 1048576, limited ? "cgroup" : "machine", fit,
	    fit == 1 ? "" : "s", (double)rss / 1048576);
	if (r.batch_min == 0 || fit < r.batch_min)
		r.batch_min = fit;
	return fit;
}

void
reload_slot_done(struct slot *s, bool ok, const char *why)
{
	char msg[256];

	if (!r.running || s->index > r.slot)
		return;
	if (ok) {
		if (--r.inflight == 0 && !r.batching)
			reload_next();
		return;
	}
	snprintf(msg, sizeof msg, "slot %d: the new worker failed: %s",
	    s->index, why);
	reload_finish(false, msg);
}

/* The start is over, or a roll: run the one asked for meanwhile. */
void
reload_resume(void)
{
	if (r.running || !r.again || cl.phase != PHASE_RUNNING)
		return;
	r.again = false;
	memcpy(r.waiters, r.next, sizeof r.next);
	r.nwaiters = r.nnext;
	r.nnext = 0;
	reload_start();
}

static void
reply_all(struct waiter *list, int *n, int code, const char *msg)
{
	int i;

	for (i = 0; i < *n; i++)
		if (list[i].fn != NULL)
			list[i].fn(list[i].arg, code, msg);
	*n = 0;
}

/* Append to r.result, never past its end. */
static void
result_add(size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= sizeof r.result - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(r.result + *off, sizeof r.result - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += (size_t)n < sizeof r.result - *off ? (size_t)n :
		    sizeof r.result - *off - 1;
}

/* A failed roll: what runs stays, respawns use the old generation, and
 * the worker count the file changed goes back. */
static void
reload_undo(void)
{
	char err[256];

	slot_revert_gen(cl.generation);
	if (slot_wanted() != r.old_wanted &&
	    scale_to(r.old_wanted, cl.generation, err, sizeof err) < 0)
		log_err("reload: cannot go back to %d workers: %s",
		    r.old_wanted, err);
}

static void
reload_finish(bool ok, const char *why)
{
	struct config *nc = r.cfg;
	struct slot *s;
	char st[128];
	size_t off = 0;
	int i;

	r.cfg = NULL;
	r.running = false;
	r.slot = -1;
	/* Counted for the metrics: they outlive every generation. */
	if (ok)
		cl.reloads_ok++;
	else
		cl.reloads_failed++;
	cl.reload_duration = ev_time() - r.started;
	if (ok) {
		for (i = 0; i < nc->nlset; i++)
			if (listen_update(nc->lset[i], &nc->listens[i]) < 0)
				log_warn("%s: the file at its path is not the "
				    "socket clusterd bound: socket_mode and "
				    "socket_group not applied",
				    listen_describe(nc->lset[i]));
		reload_release(cl.cfg);
		cl.cfg = nc;
		cl.generation = r.generation;
		slot_watch_memory(nc->max_memory > 0);
		slot_watch_stall(nc->stall_timeout);
		log_configure(nc->name, nc->log_format);
		result_add(&off, "reloaded: generation %u, %d/%d workers",
		    r.generation, slot_ready_count(), slot_wanted());
		if (r.batch_min > 0)
			result_add(&off, " (memory headroom set the pace: "
			    "batches of %d)", r.batch_min);
		log_notice("%s", r.result);
	} else {
		result_add(&off, "reload to generation %u failed: %s",
		    r.generation, why);
		if (nc != NULL) {
			result_add(&off, "\nslots run generation");
			for (i = 0; i < slot_count(); i++)
				if ((s = slot_get(i))->want_up && s->cur)
					result_add(&off, " %d:%u", i,
					    s->cur->generation);
			reload_undo();
		}
		log_err("%s", r.result);
		reload_release(nc);
	}
	events_reload(ok ? "ok" : "failed", r.generation, r.result);
	slot_status_line(st, sizeof st, cl.generation);
	/* READY=1 also after a failure: systemd waits for it forever. */
	notify_systemd("READY=1\nSTATUS=%s%s", ok ? "" : "reload failed; ",
	    st);
	reply_all(r.waiters, &r.nwaiters, ok ? EXIT_OK : EXIT_FAILED,
	    r.result);
	reload_resume();	/* the coalesced one, if any */
	upgrade_reload_done();	/* an upgrade that waited for it */
}

/*
 * Resize the listeners of the current and the rolling config, then want n
 * slots; new ones start on `generation`.
 */
static int
scale_to(int n, unsigned generation, char *err, size_t errlen)
{
	int i, r0, old = slot_wanted();

	for (i = 0; i < cl.cfg->nlset; i++)
		if ((r0 = listen_resize(cl.cfg->lset[i], n, err, errlen)) < 0)
			return r0;
	for (i = 0; r.running && r.cfg != NULL && i < r.cfg->nlset; i++)
		if ((r0 = listen_resize(r.cfg->lset[i], n, err, errlen)) < 0)
			return r0;
	if (n != old) {
		log_notice("scaling from %d to %d workers", old, n);
		events_scale(old, n);
	}
	if ((r0 = slot_scale(n, generation)) < 0) {
		snprintf(err, errlen, "%s", strerror(-r0));
		return r0;
	}
	return 0;
}

/* `scale`, SIGTTIN, SIGTTOU: new slots run the current generation (a roll
 * reaches them later). */
int
reload_scale(int n, char *err, size_t errlen)
{
	if (n < 1 || n > WORKERS_MAX) {
		snprintf(err, errlen, "worker count %d out of range 1..%d", n,
		    WORKERS_MAX);
		return -ERANGE;
	}
	return scale_to(n, cl.generation, err, errlen);
}

/* The cluster stops: whoever waits hears why. */
void
reload_abort(const char *why)
{
	char msg[256];

	snprintf(msg, sizeof msg, "reload failed: %s", why);
	if (r.running) {
		reload_release(r.cfg);
		r.cfg = NULL;
		r.running = false;
	}
	r.again = false;
	reply_all(r.waiters, &r.nwaiters, EXIT_FAILED, msg);
	reply_all(r.next, &r.nnext, EXIT_FAILED, msg);
}
