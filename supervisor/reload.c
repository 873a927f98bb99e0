/*
 * reload.c - the rolling reload (SPEC 6): parse FILE again, then per slot
 * start the new generation's worker, wait until it is ready, let the old one
 * drain, go on to the next slot. A failure stops the roll and keeps the old
 * configuration; a request during a roll runs once after it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd.h"

#define WAITERS_MAX	16

static struct {
	bool			 running;
	bool			 again;		/* asked for during a roll */
	struct config		*cfg;		/* the new one */
	unsigned		 generation;
	int			 slot;		/* being replaced */
	struct control_client	*waiters[WAITERS_MAX];	/* this roll */
	int			 nwaiters;
	struct control_client	*next[WAITERS_MAX];	/* the one after */
	int			 nnext;
	char			 result[1024];
} r;

static void	 reload_start(void);
static int	 reload_listeners(struct config *, char *, size_t);
static void	 reload_finish(bool ok, const char *msg);

bool
reload_running(void)
{
	return r.running;
}

struct config *
reload_pending_config(void)
{
	return r.running ? r.cfg : NULL;
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
		if (l == NULL && (l = listen_new(b, cl.nslots, err,
		    errlen)) == NULL)
			return -EADDRINUSE;
		nc->lset[i] = l;
		listen_ref(l);
	}
	return 0;
}

const char *
reload_last_result(void)
{
	return r.result;
}

static void
add_waiter(struct control_client **list, int *n, struct control_client *c)
{
	if (c == NULL)
		return;
	if (*n == WAITERS_MAX) {
		control_reply(c, EXIT_FAILED, "too many reloads waiting");
		return;
	}
	list[(*n)++] = c;
}

void
reload_request(struct control_client *c)
{
	if (cl.phase == PHASE_STOPPING) {
		if (c != NULL)
			control_reply(c, EXIT_FAILED,
			    "reload refused: the cluster is stopping");
		return;
	}
	if (r.running || cl.phase == PHASE_STARTING) {
		/* Coalesced: one more roll after this one, newest file. */
		log_info("reload: queued behind the %s",
		    r.running ? "running reload" : "start");
		r.again = true;
		add_waiter(r.next, &r.nnext, c);
		return;
	}
	add_waiter(r.waiters, &r.nwaiters, c);
	reload_start();
}

void
reload_forget(struct control_client *c)
{
	int i;

	for (i = 0; i < r.nwaiters; i++)
		if (r.waiters[i] == c)
			r.waiters[i] = NULL;
	for (i = 0; i < r.nnext; i++)
		if (r.next[i] == c)
			r.next[i] = NULL;
}

static void
reload_start(void)
{
	struct config *nc;
	const char *key;
	char err[1024];
	int i;

	r.running = true;
	r.generation = ++cl.last_generation;
	r.slot = -1;
	/* systemd wants both in one datagram (Type=notify-reload). */
	notify_systemd("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading "
	    "to generation %u", notify_monotonic_usec(), r.generation);
	log_notice("reload: generation %u from %s", r.generation,
	    cl.cfg->file);
	if (config_load(cl.cfg->file, CONFIG_FULL, &nc, err, sizeof err) != 0) {
		reload_finish(false, err);
		return;
	}
	if ((key = config_needs_restart(cl.cfg, nc)) != NULL) {
		snprintf(err, sizeof err, "%s: changing '%s' needs "
		    "`clusterd restart`", nc->file, key);
		cluster_config_release(nc);
		reload_finish(false, err);
		return;
	}
	/* Listeners: the same socket is kept, a new address is bound now,
	 * before any worker is touched; one no longer named is closed when
	 * the last worker that holds it is gone. */
	if (reload_listeners(nc, err, sizeof err) < 0) {
		cluster_config_release(nc);
		reload_finish(false, err);
		return;
	}
	r.cfg = nc;
	/* The file's `workers` wins over an earlier scale. */
	if (nc->workers != cl.wanted) {
		struct config *old = cl.cfg;

		/* New slots start straight in the new generation. */
		cl.cfg = nc;
		i = cl.generation;
		cl.generation = r.generation;
		if (worker_scale(nc->workers, err, sizeof err) < 0) {
			cl.cfg = old;
			cl.generation = (unsigned)i;
			reload_finish(false, err);
			return;
		}
		cl.cfg = old;
		cl.generation = (unsigned)i;
	}
	reload_step();
}

/*
 * Advance the roll: called whenever a worker became ready or failed. Finds
 * the first wanted slot still on an older generation and replaces it.
 */
void
reload_step(void)
{
	struct slot *s;
	char msg[1024];
	int i;

	if (!r.running) {
		if (r.again && cl.phase == PHASE_RUNNING) {
			r.again = false;
			memcpy(r.waiters, r.next, sizeof r.next);
			r.nwaiters = r.nnext;
			r.nnext = 0;
			reload_start();
		}
		return;
	}
	if (r.cfg == NULL)
		return;
	if (r.slot >= 0 && r.slot < cl.nslots) {
		s = cl.slots[r.slot];
		if (s->incoming != NULL &&
		    s->incoming->state == WORKER_STARTING)
			return;		/* still waiting for it */
		if (s->wanted && (s->cur == NULL ||
		    s->cur->generation != r.generation ||
		    s->cur->state != WORKER_READY)) {
			if (s->cur != NULL && s->cur->generation ==
			    r.generation && s->cur->state == WORKER_STARTING)
				return;	/* fresh slot, still starting */
			snprintf(msg, sizeof msg, "slot %d: the new worker "
			    "failed: %s", r.slot, s->last_exit);
			if (s->incoming != NULL)
				worker_stop(s->incoming, "reload failed");
			reload_finish(false, msg);
			return;
		}
	}
	for (i = 0; i < cl.nslots; i++) {
		s = cl.slots[i];
		if (!s->wanted || (s->cur != NULL &&
		    s->cur->generation == r.generation &&
		    s->cur->state == WORKER_READY))
			continue;
		r.slot = i;
		if (s->cur != NULL && s->cur->generation == r.generation)
			return;		/* new slot from a scale, starting */
		if (s->cur == NULL)
			ev_timer_stop(cl.loop, &s->backoff_w);
		worker_spawn(s, r.generation, r.cfg);
		return;
	}
	reload_finish(true, NULL);
}

static void
reply_all(struct control_client **list, int *n, int code, const char *msg)
{
	int i;

	for (i = 0; i < *n; i++)
		if (list[i] != NULL)
			control_reply(list[i], code, msg);
	*n = 0;
}

static void
reload_finish(bool ok, const char *why)
{
	char st[128];
	size_t off;
	int i;

	if (ok) {
		for (i = 0; i < r.cfg->nlset; i++)
			if (listen_update(r.cfg->lset[i], &r.cfg->listens[i]) < 0)
				log_warn("%s: the file at its path is not the "
				    "socket clusterd bound: socket_mode and "
				    "socket_group not applied",
				    listen_describe(r.cfg->lset[i]));
		cluster_config_release(cl.cfg);
		cl.cfg = r.cfg;
		cl.generation = r.generation;
		snprintf(r.result, sizeof r.result,
		    "reloaded: generation %u, %d/%d workers", r.generation,
		    worker_slots_ready(), cl.wanted);
		log_notice("%s", r.result);
	} else {
		off = (size_t)snprintf(r.result, sizeof r.result,
		    "reload to generation %u failed: %s", r.generation, why);
		if (r.cfg != NULL) {
			off += (size_t)snprintf(r.result + off,
			    sizeof r.result - off, "\nslots run generation");
			for (i = 0; i < cl.nslots && off < sizeof r.result;
			    i++)
				if (cl.slots[i]->wanted && cl.slots[i]->cur)
					off += (size_t)snprintf(r.result + off,
					    sizeof r.result - off, " %d:%u", i,
					    cl.slots[i]->cur->generation);
		}
		log_err("%s", r.result);
		cluster_config_release(r.cfg);
	}
	r.cfg = NULL;
	r.running = false;
	r.slot = -1;
	cluster_status_line(st, sizeof st);
	/* READY=1 also after a failure: systemd waits for it forever. */
	notify_systemd("READY=1\nSTATUS=%s%s", ok ? "" : "reload failed; ",
	    st);
	reply_all(r.waiters, &r.nwaiters, ok ? EXIT_OK : EXIT_FAILED,
	    r.result);
	reload_step();	/* the coalesced one, if any */
}

/* The cluster stops: whoever waits hears why. */
void
reload_abort(const char *why)
{
	char msg[256];

	snprintf(msg, sizeof msg, "reload failed: %s", why);
	if (r.running) {
		cluster_config_release(r.cfg);
		r.cfg = NULL;
		r.running = false;
	}
	r.again = false;
	reply_all(r.waiters, &r.nwaiters, EXIT_FAILED, msg);
	reply_all(r.next, &r.nnext, EXIT_FAILED, msg);
}
