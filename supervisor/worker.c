/*
 * worker.c - the process layer: a worker's process (spawned by spawn.c),
 * the deadlines of one process (ready_delay, ready_timeout, the
 * watchdog, stop_timeout), signals, the one reap path, and the workers'
 * output pipes. What happens to a process is reported to slot.c, which
 * decides what follows.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clusterd.h"

static void	 worker_format_exit(int status, char *buf, size_t len);

/* After SIGKILL, how long to wait for the reap before giving up on a
 * process that cannot be signalled (it left its group, or is not ours). */
#define KILL_WAIT		5.0

static struct {
	struct ev_loop		*loop;
	worker_report_fn	*report;
	struct worker		*all;		/* every live process */
	int			 nkilled;
	bool			 leftovers;	/* stopping: kill what exits leave,
						 * count the SIGKILLs */
	const char		*notify_name;
	ev_signal		 chld_w;
} wk;

static void	 chld_cb(struct ev_loop *, ev_signal *, int);
static void	 child_exited(struct worker *, int status,
		    const struct rusage *);
static void	 ready_cb(struct ev_loop *, ev_timer *, int);
static void	 deadline_cb(struct ev_loop *, ev_timer *, int);
static void	 watchdog_cb(struct ev_loop *, ev_timer *, int);
static void	 stop_cb(struct ev_loop *, ev_timer *, int);

void
worker_init(struct ev_loop *loop, worker_report_fn *report,
    const char *notify_name)
{
	memset(&wk, 0, sizeof wk);
	wk.loop = loop;
	wk.report = report;
	wk.notify_name = notify_name;
	ev_signal_init(&wk.chld_w, chld_cb, SIGCHLD);
	ev_signal_start(loop, &wk.chld_w);
}

/* From now on (the cluster stops), the group members a worker leaves
 * behind are killed when it exits. */
void
worker_kill_leftovers(void)
{
	wk.leftovers = true;
}

struct worker *
worker_find_pid(pid_t pid)
{
	struct worker *w;

	for (w = wk.all; w != NULL; w = w->next)
		if (w->pid == pid)
			return w;
	return NULL;
}

int
worker_count(int slot)
{
	struct worker *w;
	int n = 0;

	for (w = wk.all; w != NULL; w = w->next)
		n += slot == -1 || w->slot == slot;
	return n;
}

/* Put a worker the caller made on the list (tests/fuzz/fuzz_notify.c: the
 * receive path against a worker without a process). */
void
worker_adopt(struct worker *w)
{
	w->next = wk.all;
	wk.all = w;
}

struct worker *
worker_list(void)
{
	return wk.all;
}

int
worker_nkilled(void)
{
	return wk.nkilled;
}

/* The one exit-status formatter: "exit code 3", "signal 9 (KILL)",
 * "signal 6 (ABRT), core dumped". */
static void
worker_format_exit(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit code %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "signal %d (%s)%s", WTERMSIG(status),
		    value_signame(WTERMSIG(status)),
		    WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, len, "status 0x%x", status);
}

/* ------------------------------------------------------------------ */
/* Spawn.                                                               */

/* Fork and exec a worker of `generation` for slot `slot`. NULL with err
 * when no process was started. */
struct worker *
worker_start(int slot, unsigned generation, const struct config *c,
    char *err, size_t errlen)
{
	struct spawn_req req = { .slot = slot, .generation = generation,
		.cfg = c, .lset = c->lset, .nlset = c->nlset,
		.notify_name = wk.notify_name, .nofile = &cl.orig_nofile };
	struct worker *w;
	int out_fd[2], i, rfd[2] = { -1, -1 };
	pid_t pid;

	for (i = 0; i < c->nlset; i++)
		if (listen_slot_fd(c->lset[i], slot) == -1) {
			snprintf(err, errlen, "no socket for slot %d on %s",
			    slot, listen_describe(c->lset[i]));
			return NULL;
		}
	if ((w = calloc(1, sizeof *w)) == NULL) {
		snprintf(err, errlen, "cannot spawn: out of memory");
		return NULL;
	}
	/* ready = fd: the worker gets the write end after its sockets. */
	if (c->ready == READY_FD && pipe2(rfd, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "ready fd pipe: %s", strerror(errno));
		free(w);
		return NULL;
	}
	req.ready_fd = rfd[1];
	i = spawn_worker(&req, &pid, out_fd, err, errlen);
	if (rfd[1] >= 0)
		close(rfd[1]);
	if (i < 0) {
		if (rfd[0] >= 0)
			close(rfd[0]);
		free(w);
		return NULL;
	}
	if (rfd[0] >= 0)
		fcntl(rfd[0], F_SETFL, O_NONBLOCK);

	w->pid = pid;
	w->slot = slot;
	w->generation = generation;
	w->started = ev_now(wk.loop);
	w->ready = c->ready;
	w->stop_signal = c->stop_signal;
	w->ready_delay = c->ready_delay;
	w->ready_timeout = c->ready_timeout;
	w->stop_timeout = c->stop_timeout;
	w->watchdog = c->watchdog;
	w->max_memory = c->max_memory;
	w->max_lifetime = c->max_lifetime;
	/* The worker holds these sockets: they stay bound until it is gone,
	 * even when a reload drops them from the configuration. */
	if ((w->lset = calloc((size_t)c->nlset + 1, sizeof *w->lset)) != NULL) {
		for (i = 0; i < c->nlset; i++) {
			w->lset[i] = c->lset[i];
			listen_ref(w->lset[i]);
		}
		w->nlset = c->nlset;
	}
	output_start(w, out_fd);
	w->next = wk.all;
	wk.all = w;

	ev_timer_init(&w->ready_w, ready_cb, w->ready_delay, 0.);
	ev_timer_init(&w->deadline_w, deadline_cb, w->ready_timeout, 0.);
	ev_timer_init(&w->watchdog_w, watchdog_cb, 0., 0.);
	ev_timer_init(&w->stop_w, stop_cb, 0., 0.);
	w->ready_w.data = w->deadline_w.data = w->watchdog_w.data =
	    w->stop_w.data = w;
	/* ready = delay: alive ready_delay = ready; either way, not ready
	 * by ready_timeout = failed. */
	if (w->ready == READY_DELAY && w->ready_delay < w->ready_timeout)
		ev_timer_start(wk.loop, &w->ready_w);
	ev_timer_start(wk.loop, &w->deadline_w);
	readiness_watch(wk.loop, w, rfd[0]);

	log_info("slot %d: started pid %ld, generation %u: %s", slot,
	    (long)pid, generation, c->command);
	return w;
}

/* ------------------------------------------------------------------ */
/* Readiness, watchdog, stop: what each timer means is in its name.     */

void
worker_ready(struct worker *w)
{
	if (w->ready_at > 0 || w->stopping)
		return;
	ev_timer_stop(wk.loop, &w->ready_w);
	ev_timer_stop(wk.loop, &w->deadline_w);
	readiness_unwatch(wk.loop, w);
	w->ready_at = w->last_watchdog = ev_now(wk.loop);
	if (w->ready == READY_LISTEN)
		log_info("slot %d: pid %ld ready after %.3fs (generation %u), "
		    "seen waiting on its socket at look %u", w->slot,
		    (long)w->pid, w->ready_at - w->started, w->generation,
		    w->rd.checks);
	else
		log_info("slot %d: pid %ld ready after %.3fs (generation %u)",
		    w->slot, (long)w->pid, w->ready_at - w->started,
		    w->generation);
	if (w->watchdog > 0) {
		ev_timer_set(&w->watchdog_w, w->watchdog, 0.);
		ev_timer_start(wk.loop, &w->watchdog_w);
	}
	wk.report(w, SE_READY, NULL);
}

static void
ready_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	worker_ready(t->data);
}

/* ready = fd: the pipe ended without a newline. */
void
worker_not_ready(struct worker *w, const char *why)
{
	char detail[256];

	if (w->ready_at > 0 || w->stopping)
		return;
	ev_timer_stop(wk.loop, &w->ready_w);
	ev_timer_stop(wk.loop, &w->deadline_w);
	readiness_unwatch(wk.loop, w);
	log_warn("slot %d: pid %ld not ready: %s", w->slot, (long)w->pid,
	    why);
	snprintf(detail, sizeof detail, "not ready: %s", why);
	wk.report(w, SE_READY_TIMEOUT, detail);
}

/* ready = listen says what the master saw at its last look. */
static void
deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = t->data;
	char detail[256];

	readiness_unwatch(loop, w);
	if (w->ready == READY_LISTEN) {
		snprintf(detail, sizeof detail, "not ready within "
		    "ready_timeout (%.1fs): %s", w->ready_timeout,
		    readiness_explain(w));
		log_warn("slot %d: pid %ld %s", w->slot, (long)w->pid, detail);
		wk.report(w, SE_READY_TIMEOUT, detail);
		return;
	}
	log_warn("slot %d: pid %ld not ready within ready_timeout (%.1fs)",
	    w->slot, (long)w->pid, w->ready_timeout);
	wk.report(w, SE_READY_TIMEOUT, NULL);
}

void
worker_watchdog_ping(struct worker *w)
{
	w->last_watchdog = ev_now(wk.loop);
}

/* It asks to be replaced (its own max-requests or leak check). */
void
worker_recycle(struct worker *w)
{
	if (w->ready_at == 0 || w->stopping)
		return;
	log_info("slot %d: pid %ld asks to be replaced "
	    "(X_CLUSTERD_RECYCLE=1)", w->slot, (long)w->pid);
	wk.report(w, SE_RECYCLE, "request");
}

/* The worker watchdog: no WATCHDOG=1 within the interval = hung. */
static void
watchdog_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = t->data;
	double quiet = ev_now(loop) - w->last_watchdog;

	if (quiet < w->watchdog) {
		ev_timer_set(t, w->watchdog - quiet, 0.);
		ev_timer_start(loop, t);
		return;
	}
	log_err("slot %d: pid %ld hangs: no WATCHDOG=1 for %.1fs; aborting it",
	    w->slot, (long)w->pid, quiet);
	w->hung = true;
	wk.report(w, SE_HUNG, NULL);
}

/* Graceful: sig now (SIGCONT after it, in case the process is stopped and
 * would hold it pending), SE_STOP_TIMEOUT after timeout. */
void
worker_stop(struct worker *w, int sig, double timeout, const char *why)
{
	if (w->stopping)
		return;
	log_info("slot %d: stopping pid %ld (generation %u): %s; %s", w->slot,
	    (long)w->pid, w->generation, why, value_signame(sig));
	w->stopping = true;
	w->stop_sent = ev_now(wk.loop);
	readiness_unwatch(wk.loop, w);
	ev_timer_stop(wk.loop, &w->ready_w);
	ev_timer_stop(wk.loop, &w->deadline_w);
	ev_timer_stop(wk.loop, &w->watchdog_w);
	if (kill(w->pid, sig) == -1)
		log_warn("slot %d: pid %ld: kill %s: %s", w->slot,
		    (long)w->pid, value_signame(sig), strerror(errno));
	if (sig == SIGABRT)
		kill(w->pid, SIGCONT);
	ev_timer_set(&w->stop_w, timeout, 0.);
	ev_timer_start(wk.loop, &w->stop_w);
}

/* SIGKILL to the process and to its group (what it left behind); if even
 * that is not reaped within KILL_WAIT, the process is given up on. */
void
worker_kill(struct worker *w)
{
	if (!w->killed) {
		log_warn("slot %d: pid %ld: killing its process group",
		    w->slot, (long)w->pid);
		wk.nkilled += wk.leftovers;	/* counted at stop only */
	}
	w->killed = true;
	w->stopping = true;
	if (killpg(w->pid, SIGKILL) == -1 && errno != ESRCH)
		log_warn("slot %d: pid %ld: killpg: %s", w->slot,
		    (long)w->pid, strerror(errno));
	if (kill(w->pid, SIGKILL) == -1 && errno != ESRCH)
		log_err("slot %d: pid %ld: kill: %s", w->slot, (long)w->pid,
		    strerror(errno));
	ev_timer_stop(wk.loop, &w->stop_w);
	ev_timer_set(&w->stop_w, KILL_WAIT, 0.);
	ev_timer_start(wk.loop, &w->stop_w);
}

static void
stop_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = t->data;

	if (!w->killed) {
		log_warn("slot %d: pid %ld still running %.1fs after it was "
		    "told to stop", w->slot, (long)w->pid,
		    ev_now(loop) - w->stop_sent);
		wk.report(w, SE_STOP_TIMEOUT, NULL);
		return;
	}
	log_err("slot %d: pid %ld not gone %.1fs after SIGKILL: giving up "
	    "on it", w->slot, (long)w->pid, KILL_WAIT);
	/* What it used until now stays counted. */
	w->cpu_s = worker_cpu(w->pid);
	cl.exits[EXIT_KILLED]++;
	wk.report(w, SE_EXIT, "exit not seen after SIGKILL");
}

void
worker_kill_all(void)
{
	struct worker *w;

	for (w = wk.all; w != NULL; w = w->next)
		worker_kill(w);
}

/* ------------------------------------------------------------------ */
/* The one reap path.                                                   */

/*
 * The master reaps its children itself, with wait4: its rusage is the CPU
 * the worker used (with its reaped children), which no other reap gives
 * and which /proc cannot tell once the process is gone. The loop is not
 * libev's default one, so libev reaps nothing behind our back. As PID 1 or
 * a subreaper, orphans come to us too: every child is reaped, known or not.
 */
static void
chld_cb(struct ev_loop *loop, ev_signal *sw, int revents)
{
	struct rusage ru;
	struct worker *w;
	int status;
	pid_t pid;

	while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0)
		if ((w = worker_find_pid(pid)) != NULL)
			child_exited(w, status, &ru);
		else
			upgrade_child_exited(pid, status);
}

static void
child_exited(struct worker *w, int status, const struct rusage *ru)
{
	char how[64];

	w->cpu_s = (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 +
	    (double)ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6;
	cl.exits[w->killed ? EXIT_KILLED : w->stopping ? EXIT_STOPPED :
	    EXIT_CRASH]++;
	output_flush(w);
	worker_format_exit(status, how, sizeof how);
	log_notice("slot %d: pid %ld (generation %u) exited: %s%s", w->slot,
	    (long)w->pid, w->generation, how, w->hung ? " (hung)" : "");
	/* Group members it left behind die with the cluster. */
	if (wk.leftovers)
		killpg(w->pid, SIGKILL);
	events_exit(w, how);
	wk.report(w, SE_EXIT, how);
}

void
worker_free(struct worker *w)
{
	struct worker **pp;
	int i;

	for (pp = &wk.all; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	ev_timer_stop(wk.loop, &w->ready_w);
	ev_timer_stop(wk.loop, &w->deadline_w);
	ev_timer_stop(wk.loop, &w->watchdog_w);
	ev_timer_stop(wk.loop, &w->stop_w);
	readiness_unwatch(wk.loop, w);
	output_stop(w);
	for (i = 0; i < w->nlset; i++)
		listen_unref(w->lset[i]);
	free(w->lset);
	free(w);
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

/* User+system CPU seconds of a live process and of the children it reaped
 * (what wait4 will report for it), from /proc/PID/stat; 0 if unknown. */
double
worker_cpu(pid_t pid)
{
	unsigned long long ut, st, cut, cst;
	char path[64], buf[1024];
	const char *p;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((p = proc_stat_fields(path, buf, sizeof buf)) == NULL ||
	    sscanf(p, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%llu %llu %llu %llu", &ut, &st, &cut, &cst) != 4)
		return 0;
	return (double)(ut + st + cut + cst) / (double)sysconf(_SC_CLK_TCK);
}

/* ------------------------------------------------------------------ */
/* Across an upgrade: every live process with its deadlines (what was    */
/* left of each timer) and its output pipe. The new image watches the   */
/* same pids; what exited meanwhile is a zombie it reaps at once.        */

void
worker_dump(struct ustate *st)
{
	struct worker *w;
	int n = 0, i;

	upgrade_put_u64(st, (uint64_t)wk.nkilled);
	upgrade_put_u64(st, wk.leftovers);
	for (w = wk.all; w != NULL; w = w->next)
		n++;
	upgrade_put_u64(st, (uint64_t)n);
	for (w = wk.all; w != NULL; w = w->next) {
		upgrade_put_u64(st, (uint64_t)w->pid);
		upgrade_put_u64(st, (uint64_t)w->slot);
		upgrade_put_u64(st, w->generation);
		upgrade_put_dbl(st, w->started);
		upgrade_put_dbl(st, w->ready_at);
		upgrade_put_dbl(st, w->last_watchdog);
		upgrade_put_dbl(st, w->stop_sent);
		upgrade_put_u64(st, w->stopping);
		upgrade_put_u64(st, w->killed);
		upgrade_put_u64(st, w->hung);
		upgrade_put_mem(st, w->status, sizeof w->status);
		upgrade_put_u64(st, (uint64_t)w->ready);
		upgrade_put_u64(st, (uint64_t)w->stop_signal);
		upgrade_put_dbl(st, w->ready_delay);
		upgrade_put_dbl(st, w->ready_timeout);
		upgrade_put_dbl(st, w->stop_timeout);
		upgrade_put_dbl(st, w->watchdog);
		upgrade_put_u64(st, w->max_memory);
		upgrade_put_dbl(st, w->max_lifetime);
		/* ready = listen or fd, still starting: watched again. */
		upgrade_put_u64(st, ev_is_active(&w->rd.check_w) ||
		    ev_is_active(&w->rd.fd_w));
		upgrade_put_fd(st, ev_is_active(&w->rd.fd_w) ? w->rd.fd : -1);
		upgrade_put_timer(st, &w->ready_w);
		upgrade_put_timer(st, &w->deadline_w);
		upgrade_put_timer(st, &w->watchdog_w);
		upgrade_put_timer(st, &w->stop_w);
		upgrade_put_u64(st, (uint64_t)w->nlset);
		for (i = 0; i < w->nlset; i++)
			upgrade_put_u64(st, (uint64_t)(int64_t)
			    listen_index(w->lset[i]));
		output_dump(st, w);
	}
}

int
worker_restore(struct ustate *st)
{
	struct worker *w, **tail = &wk.all;
	int n, i, k, ready_fd;
	bool watched;

	wk.nkilled = (int)upgrade_get_u64(st);
	wk.leftovers = upgrade_get_u64(st) != 0;
	n = (int)upgrade_get_u64(st);
	if (n < 0 || n > 16 * WORKERS_MAX)
		return -EBADMSG;
	for (k = 0; k < n && !upgrade_get_failed(st); k++) {
		if ((w = calloc(1, sizeof *w)) == NULL)
			return -ENOMEM;
		*tail = w;
		tail = &w->next;
		w->out.pipe[OUTPUT_STDOUT].fd = w->out.pipe[OUTPUT_STDERR].fd =
		    w->rd.fd = -1;
		w->pid = (pid_t)upgrade_get_u64(st);
		w->slot = (int)upgrade_get_u64(st);
		w->generation = (unsigned)upgrade_get_u64(st);
		w->started = upgrade_get_dbl(st);
		w->ready_at = upgrade_get_dbl(st);
		w->last_watchdog = upgrade_get_dbl(st);
		w->stop_sent = upgrade_get_dbl(st);
		w->stopping = upgrade_get_u64(st) != 0;
		w->killed = upgrade_get_u64(st) != 0;
		w->hung = upgrade_get_u64(st) != 0;
		upgrade_get_mem(st, w->status, sizeof w->status);
		w->status[sizeof w->status - 1] = '\0';
		w->ready = (enum ready_mode)upgrade_get_u64(st);
		w->stop_signal = (int)upgrade_get_u64(st);
		w->ready_delay = upgrade_get_dbl(st);
		w->ready_timeout = upgrade_get_dbl(st);
		w->stop_timeout = upgrade_get_dbl(st);
		w->watchdog = upgrade_get_dbl(st);
		w->max_memory = upgrade_get_u64(st);
		w->max_lifetime = upgrade_get_dbl(st);
		watched = upgrade_get_u64(st) != 0;
		ready_fd = upgrade_get_fd(st);
		ev_timer_init(&w->ready_w, ready_cb, 0., 0.);
		ev_timer_init(&w->deadline_w, deadline_cb, 0., 0.);
		ev_timer_init(&w->watchdog_w, watchdog_cb, 0., 0.);
		ev_timer_init(&w->stop_w, stop_cb, 0., 0.);
		w->ready_w.data = w->deadline_w.data =
		    w->watchdog_w.data = w->stop_w.data = w;
		upgrade_get_timer(st, &w->ready_w);
		upgrade_get_timer(st, &w->deadline_w);
		upgrade_get_timer(st, &w->watchdog_w);
		upgrade_get_timer(st, &w->stop_w);
		w->nlset = (int)upgrade_get_u64(st);
		if (w->pid <= 0 || w->nlset < 0 || w->nlset > LISTEN_MAX ||
		    (w->lset = calloc((size_t)w->nlset + 1,
		    sizeof *w->lset)) == NULL)
			return -EBADMSG;
		for (i = 0; i < w->nlset; i++) {
			if ((w->lset[i] = listen_at((int)(int64_t)
			    upgrade_get_u64(st))) == NULL)
				return -EBADMSG;
			listen_ref(w->lset[i]);
		}
		if (output_restore(st, w) < 0)
			return -EBADMSG;
		if (watched)
			readiness_watch(wk.loop, w, ready_fd);
		else if (ready_fd != -1)
			close(ready_fd);
	}
	return 0;
}
