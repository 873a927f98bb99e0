/*
 * clusterd.h - the one private header of the clusterd binary.
 * Read it as a table of contents: each block lists what one file exports,
 * in the order a request flows: config -> listen -> worker -> notify ->
 * reload -> control -> daemon -> log.
 */
#ifndef CLUSTERD_H
#define CLUSTERD_H

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/un.h>

#include <ev.h>

/* The one place of the version; `make VERSION=...` builds another. */
#ifndef CLUSTERD_VERSION
#define CLUSTERD_VERSION "0.1.0"
#endif

/* Exit codes of the commands (clusterd.8 EXIT STATUS). */
#define EXIT_OK		0
#define EXIT_FAILED	1	/* not ready, reload failed, not running */
#define EXIT_USAGE	2
#define EXIT_CONFIG	3	/* invalid configuration */
#define EXIT_SYSTEM	4	/* the system refused: bind, permission */

/* How a worker that never ran its command exits (clusterd.8 EXIT STATUS):
 * the master died before the worker was set up, a set-up step (fds,
 * groups, uid, capabilities, chdir) failed, or exec failed. */
#define WORKER_EXIT_ORPHAN	125
#define WORKER_EXIT_SETUP	126
#define WORKER_EXIT_EXEC	127

#define WORKERS_MAX	1024
#define NAME_MAX_LEN	64
/* [listen] sections in one file: each is an fd from 3 up in every worker,
 * announced in LISTEN_FDS; config validation refuses more. */
#define LISTEN_MAX	64

/* ------------------------------------------------------------------ */
/* config.c: the key table on top of inih (third_party/inih).         */

enum listen_sockets {
	LISTEN_PER_WORKER = 0,	/* one SO_REUSEPORT socket per slot */
	LISTEN_SHARED,		/* one socket, every worker accepts on it */
};

enum ready_mode {
	READY_DELAY = 0,	/* alive for ready_delay = ready */
	READY_NOTIFY,		/* READY=1 on NOTIFY_SOCKET */
	READY_LISTEN,		/* seen waiting on its sockets (readiness.c) */
	READY_FD,		/* a newline on CLUSTERD_READY_FD */
};

struct config_listen {
	char			 name[NAME_MAX_LEN];	/* "default" for [listen] */
	char			*address;	/* as written, for messages */
	int			 family;	/* AF_INET, AF_INET6, AF_UNIX */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	char			*path;		/* AF_UNIX: absolute path */
	int			 backlog;
	enum listen_sockets	 sockets;	/* AF_UNIX: always shared */
	int			 socket_mode;	/* -1: unset */
	gid_t			 socket_gid;
	bool			 has_socket_group;
	int			 line;		/* where the section starts */
};

/* A count written as N or N% (of the wanted workers): count_of(). */
struct count_pct {
	int			 n;
	bool			 pct;
};

struct config {
	char			*file;		/* absolute path of FILE */
	char			*dir;		/* FILE's directory */

	/* [cluster] */
	char			*name;
	int			 workers;	/* resolved: auto -> CPUs */
	bool			 workers_auto;
	char			*user;		/* NULL: keep the master's */
	uid_t			 uid;
	gid_t			 gid;		/* user's primary or group's */
	char			*group;
	char			*control;	/* absolute, defaults filled */
	char			*pidfile;
	char			*log;		/* NULL: stderr (run) */
	bool			 log_set;	/* log given in FILE */
	int			 log_format;	/* LOG_FORMAT_TEXT, _JSON */
	char			*runtime_dir;	/* default dir of control/pid */
	double			 stop_delay;	/* lame duck before a stop, s */
	char			*admin;		/* as written, NULL: off */
	struct config_listen	 admin_listen;	/* its address */
	struct count_pct	 ready_min;	/* /readyz needs this many */
	char			*text;		/* FILE as parsed (an upgrade
						 * carries it) */
	size_t			 textlen;

	/* [listen ...] in file order */
	struct config_listen	*listens;
	int			 nlistens;

	/* [worker] */
	char			*command;	/* as written */
	char		       **argv;		/* split, NULL-terminated */
	char			*directory;	/* absolute or NULL */
	char		       **env;		/* NAME=VALUE, NULL-terminated */
	int			 nenv;
	enum ready_mode		 ready;
	double			 ready_delay;	/* seconds */
	double			 ready_timeout;
	int			 stop_signal;
	double			 stop_timeout;
	double			 restart_delay;
	double			 restart_delay_max;
	double			 watchdog;	/* 0: off */
	uint64_t		 max_memory;	/* bytes, 0: off */
	struct count_pct	 reload_surge;	/* slots replaced at once */
	double			 stall_timeout;	/* 0: off */
	double			 max_lifetime;	/* seconds, 0: off */

	/* Runtime, not parsed: the master's bound listeners for listens[],
	 * one reference each (reload_release drops them). */
	struct listener	       **lset;
	int			 nlset;
};

/* Which keys a command needs: the master needs all of them, commands that
 * only talk to a master read just name/control/pidfile/log and ignore the
 * rest, so that a half-edited FILE never keeps anyone from stopping. */
#define CONFIG_FULL	0
#define CONFIG_CLIENT	1

/*
 * Parse FILE into a fresh struct config. Returns 0, or EXIT_CONFIG with
 * "FILE:LINE: message" (or "FILE: message") in err. Never logs.
 */
int	 config_load(const char *file, int flags, struct config **ret,
	    char *err, size_t errlen);
void	 config_free(struct config *);
/* Keys a reload cannot change: NULL if none, else the first key's name. */
const char *config_needs_restart(const struct config *, const struct config *);

/* The same from text FILE held (an upgrade: the config in force, as it was
 * read, whatever FILE says now). */
int	 config_load_text(const char *file, const char *text, size_t len,
	    int flags, struct config **ret, char *err, size_t errlen);
void	 config_free_argv(char **);	/* a NULL-terminated vector */
const char *config_ready_name(enum ready_mode);	/* as in FILE */
/* Variables clusterd sets for every worker (NULL-terminated): refused in
 * env, never inherited from the master. */
extern const char *const env_reserved[];

/* ------------------------------------------------------------------ */
/* value.c: one value of the file at a time; pure. 0 or -errno, *ret   */
/* untouched on failure, *why (may be NULL) a static reason.           */

/* Longest path that fits in sockaddr_un.sun_path with its NUL. */
#define SUN_PATH_MAX	(sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

int	 value_int(const char *, long long *ret);
/* What an N or N% count means for `of` workers: N%% rounded up, >= 1. */
int	 count_of(const struct count_pct *, int of);
int	 value_duration(const char *, double *ret_seconds);
int	 value_size(const char *, uint64_t *ret_bytes);
int	 value_signal(const char *, int *ret_signo);
const char *value_signame(int signo);	/* "TERM", else the number */
int	 value_name(const char *);	/* [A-Za-z0-9._-]{1,63} */
char	*value_path(const char *basedir, const char *);	/* malloc'd */
int	 value_address(const char *, const char *basedir,
	    struct config_listen *ret, const char **why);
int	 value_command(const char *, char ***ret_argv, const char **why);

/* ------------------------------------------------------------------ */
/* cpus.c                                                             */

int	 cpus_available(void);		/* affinity mask capped by cpu.max */
uint64_t mem_headroom(bool *limited);	/* cgroup's room, else MemAvailable */

/* ------------------------------------------------------------------ */
/* log.c: timestamped lines to stderr or the log file.                 */

enum log_level { LOG_LVL_ERR = 3, LOG_LVL_WARN = 4, LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

int	 log_open(const char *path);	/* NULL: stderr; 0 or -errno */
int	 log_reopen(void);		/* SIGUSR1 */
int	 log_fd(void);			/* where worker lines go */
void	 log_msg(enum log_level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 log_raw(const char *buf, size_t len);	/* a preformatted line */
size_t	 log_prefix(char *buf, size_t len, enum log_level);
bool	 log_is_journal(void);
void	 log_close(void);
size_t	 log_timestamp(char *buf, size_t len);	/* ISO-8601 UTC, ms */
#define LOG_FORMAT_TEXT	0	/* log_format = text */
#define LOG_FORMAT_JSON	1
void	 log_configure(const char *name, int format);
void	 log_loop(struct ev_loop *);	/* journal: where to wait for room */
/* A worker's line (any bytes, no newline, at most LOG_WORKER_LINE_MAX);
 * stream: enum output_stream. */
#define LOG_WORKER_LINE_MAX	1024
void	 log_worker_line(int slot, pid_t pid, unsigned generation,
	    int stream, const char *line, size_t len);
/* Control characters as \xHH (text log lines): the length written. */
size_t	 log_escape(char *out, size_t max, const char *in, size_t len);
/* JSON string contents for any bytes (invalid UTF-8 -> U+FFFD). */
size_t	 log_json_escape(char *out, size_t max, const char *in, size_t len);
const char *log_file(void);		/* NULL: stderr */
#define log_err(...)	log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_notice(...)	log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
/* For output before the log is set up and for CLI messages. */
void	 fatalx(int code, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3), noreturn));

/* ------------------------------------------------------------------ */
/* Runtime state of one master.                                        */

/* A listener: one [listen] section and its sockets. */
struct listener {
	struct config_listen	 cfg;		/* copy; pointers owned here */
	int			*fds;		/* per slot (per-worker) or [0] */
	int			 nfds;
	bool			 activated;	/* came from systemd */
	bool			 steer_ok;	/* CBPF attached */
	bool			 steer_warned;
	int			*group;		/* reuseport index -> slot */
	bool			*group_ready;	/* per index, as steered */
	int			 ngroup;
	dev_t			 sock_dev;	/* unix: the file bind() made */
	ino_t			 sock_ino;
	int			 refs;		/* configs + workers using it */
	bool			 shut;		/* fds closed at stop */
	struct listener		*next;		/* in cl.all */
};

/* output.c: a worker's stdout and stderr pipes, read into the log. */
#define OUTPUT_TAIL	4
enum output_stream { OUTPUT_STDOUT = 0, OUTPUT_STDERR, OUTPUT_NSTREAMS };
struct output_pipe {
	int			 fd;		/* -1: closed */
	ev_io			 w;
	char			 buf[1024];	/* a partial line */
	size_t			 len;
};
struct output {
	struct output_pipe	 pipe[OUTPUT_NSTREAMS];
	char			 tail[OUTPUT_TAIL][160];	/* last lines */
	int			 ntail;
};

/* readiness.c's part of a starting worker (ready = listen or fd). */
struct readiness {
	ev_timer		 check_w;	/* listen: the next look in /proc */
	double			 every;		/* listen: its current interval */
	unsigned		 checks;
	char			 seen[160];	/* listen: what the last look saw */
	ev_io			 fd_w;		/* fd: the pipe's read end */
	int			 fd;		/* -1: none */
};

/* One process. Its life is the slot's business (slot.c); these are the
 * facts the process layer keeps about it. */
struct worker {
	pid_t			 pid;
	int			 slot;
	unsigned		 generation;
	ev_tstamp		 started;	/* ev_now at fork */
	ev_tstamp		 ready_at;	/* 0: not ready yet */
	ev_tstamp		 last_watchdog;
	ev_tstamp		 stop_sent;
	bool			 stopping;	/* its stop signal was sent */
	bool			 killed;	/* SIGKILL sent */
	bool			 hung;		/* watchdog fired */
	char			 status[128];	/* last STATUS= */
	double			 cpu_s;		/* at exit: wait4's rusage */
	/* From the config it was started with: a reload may free that. */
	enum ready_mode		 ready;
	int			 stop_signal;
	double			 ready_delay, ready_timeout, stop_timeout;
	double			 watchdog;
	uint64_t		 max_memory;
	double			 max_lifetime;
	struct readiness	 rd;		/* ready = listen or fd */
	ev_child		 child_w;
	ev_timer		 ready_w;	/* ready = delay: alive long enough */
	ev_timer		 deadline_w;	/* ready_timeout */
	ev_timer		 watchdog_w;	/* WATCHDOG=1 expected */
	ev_timer		 stop_w;	/* stop_timeout, then the last wait */
	struct listener	       **lset;		/* what it was given */
	int			 nlset;
	struct output		 out;		/* stdout+stderr pipe */
	struct worker		*next;		/* in the worker list */
};

/* Why a slot's worker was replaced make-before-break, and how workers
 * ended: the label values of the metrics in clusterd.8. */
enum recycle_reason {
	RECYCLE_MEMORY = 0,	/* above max_memory */
	RECYCLE_LIFETIME,	/* older than max_lifetime */
	RECYCLE_REQUEST,	/* it asked: X_CLUSTERD_RECYCLE=1 */
	RECYCLE_WATCHDOG,	/* no WATCHDOG=1 in time */
	RECYCLE_STALL,		/* its accept queue stopped moving */
	RECYCLE_NREASONS
};
enum exit_reason {
	EXIT_CRASH = 0,		/* an exit the master did not ask for */
	EXIT_STOPPED,		/* after the master asked it to stop */
	EXIT_KILLED,		/* SIGKILLed by the master */
	EXIT_NREASONS
};

/* The slot states of clusterd.8 SUPERVISION, and what can happen to one. */
enum slot_state {
	SLOT_STOPPED = 0,	/* no worker: not wanted, or the cluster stops */
	SLOT_STARTING,		/* its worker forked, not ready yet */
	SLOT_READY,		/* its worker serves */
	SLOT_REPLACING,		/* serving, and its successor is starting */
	SLOT_DRAINING,		/* its worker was told to stop */
	SLOT_BACKOFF,		/* waiting to respawn after a failure */
	SLOT_STALLED,		/* its worker stopped accepting: steered
				 * away, its successor is starting */
	SLOT_NSTATES
};

enum slot_event {
	SE_WANT_UP = 0,		/* scaled up */
	SE_WANT_DOWN,		/* scaled down */
	SE_WANT_GEN,		/* the reload wants it on want_gen */
	SE_STOP,		/* the cluster stops */
	SE_OVER_MEMORY,		/* its worker is above max_memory */
	SE_READY,		/* its worker: READY=1 or ready_delay */
	SE_READY_TIMEOUT,	/* its worker: not ready by ready_timeout */
	SE_EXIT,		/* its worker exited */
	SE_STOP_TIMEOUT,	/* its worker outlived stop_timeout */
	SE_HUNG,		/* its worker: no WATCHDOG=1 in time */
	SE_BACKOFF_DONE,
	SE_QUEUE_EMPTY,		/* scale-down: nothing left queued */
	SE_NEW_READY,		/* the successor is ready */
	SE_NEW_TIMEOUT,		/* the successor missed ready_timeout */
	SE_NEW_EXIT,		/* the successor exited */
	SE_RENEW,		/* its socket was replaced: a new worker */
	SE_STALL,		/* its queue has not gone down: hung */
	SE_RECYCLE,		/* max_lifetime, or X_CLUSTERD_RECYCLE=1 */
	SE_NEVENTS
};

struct slot {
	int			 index;
	enum slot_state		 state;		/* written by slot_event only */
	/* Wanted, set by the layers above. */
	bool			 want_up;
	unsigned		 want_gen;	/* what a new worker runs */
	bool			 gen_waiting;	/* the reload waits for it */
	bool			 renew;		/* its workers hold a dead socket */
	/* Actual. */
	struct worker		*cur;		/* serving (or starting) */
	struct worker		*incoming;	/* its successor */
	unsigned		 restarts;
	double			 backoff;	/* next restart delay */
	char			 last_exit[64];
	/* Counters for status and metrics: they live as long as the master
	 * (a reload or an upgrade keeps them). */
	unsigned long		 recycles[RECYCLE_NREASONS];
	double			 cpu_dead;	/* CPU s of its finished workers */
	char			 last_replace[32];	/* why its worker was last
							 * replaced, "" if never */
	ev_tstamp		 stall_since;	/* queue waiting and not going
						 * down since, 0: it moves */
	int			 stall_queued;	/* at the last sample */
	ev_timer		 backoff_w;
	ev_timer		 life_w;	/* max_lifetime of its worker */
	int			 recycle_wait;	/* 1 + enum recycle_reason of a
						 * recycle waiting its turn */
	ev_timer		 drain_w;	/* scale-down: queue empty? */
	ev_tstamp		 drain_until;
	char			 tail[OUTPUT_TAIL][160];	/* its last worker's last
						 * output lines */
	int			 ntail;
};

enum cluster_phase {
	PHASE_STARTING = 0,	/* never been ready yet */
	PHASE_RUNNING,
	PHASE_LAME_DUCK,	/* stop_delay: still serving, /readyz 503 */
	PHASE_STOPPING,
};

struct cluster {
	struct ev_loop		*loop;
	struct config		*cfg;		/* current */
	enum cluster_phase	 phase;
	pid_t			 master_pid;
	ev_tstamp		 started;
	unsigned		 generation;	/* of cfg */
	unsigned		 last_generation;	/* highest handed out */
	struct rlimit		 orig_nofile;	/* what workers get */

	struct listener		*all;		/* every bound listener */


	bool			 steer_disabled;	/* CLUSTERD_NO_STEER */
	int			 exit_code;
	ev_tstamp		 stop_started;
	ev_signal		 sig_w[8];
	/* Counters (metrics): as long as the master lives. */
	unsigned long		 exits[EXIT_NREASONS];
	unsigned long		 reloads_ok, reloads_failed;
	double			 reload_duration;	/* the last one, s */
};

extern struct cluster	cl;

/* ------------------------------------------------------------------ */
/* listen.c: bind, SO_REUSEPORT groups, sockets inherited from systemd. */
int	 listen_test_bind(const struct config_listen *, char *err, size_t);
/* A bound listener on cl.all (test-bind first), or NULL with err. */
struct listener *listen_new(const struct config_listen *, int nslots,
	    char *err, size_t errlen);
void	 listen_ref(struct listener *);
void	 listen_unref(struct listener *);	/* last one closes it */
void	 listen_shut(struct listener *);	/* stop: close its fds */
/* -ESTALE: the unix: file is not ours any more, mode and group kept. */
int	 listen_update(struct listener *, const struct config_listen *);
bool	 listen_same(const struct listener *, const struct config_listen *);
int	 listen_resize(struct listener *, int nslots, char *err, size_t);
/* listen() again a socket a worker shut down; never touches flags.
 * 0 fine, 1 listens again, 2 replaced (its holders keep a dead one). */
int	 listen_check(struct listener *, int slot);
/* listen_check, and a per-worker socket back to blocking: only when no
 * process but the master holds the slot's socket. */
int	 listen_repair(struct listener *, int slot);
void	 listen_close_slot(struct listener *, int slot);
/* A per-worker listener of the config in force has a socket at a slot
 * from n up. */
bool	 listen_slots_from(int n);
int	 listen_queued(const struct listener *, int slot);
int	 listen_requeue(struct listener *, int slot);
int	 listen_migrate_req(void);
int	 listen_slot_fd(const struct listener *, int slot);	/* -1: none */
/* One SO_REUSEPORT socket per slot (the rule listen.c and steer.c share). */
static inline bool
listen_per_worker(const struct listener *l)
{
	return !l->activated && l->cfg.family != AF_UNIX &&
	    l->cfg.sockets == LISTEN_PER_WORKER;
}
/* 0 nothing at path, 1 a stale socket, -EADDRINUSE, -ENOTSOCK, -errno. */
int	 listen_probe_path(const char *path);
void	 listen_strerror(const char *what, const char *path, int r,
	    char *err, size_t errlen);
/* Sockets passed by systemd (LISTEN_FDS): fills c->lset where they
 * match; the caller binds the rest. */
int	 listen_activated(struct config *, char *err, size_t errlen);
const char *listen_describe(const struct listener *);
/* Taking over the sockets of the master before us (a restart's hand-over
 * or systemd's fd store), named "clusterd-LISTENER-SLOT|shared". */
struct buf;
int	 listen_inherit(int *fds, int nfds, const char *text);
void	 listen_inherit_drop(void);
bool	 listen_inherited(int fd);
int	 listen_inherited_max(void);	/* -1: none */
/* After listen_activated: [listen]s at an inherited address take it over. */
int	 listen_adopt(struct config *, char *err, size_t errlen);
/* `clusterd restart`: dup'd sockets of the current config, named in b. */
int	 listen_handover(struct buf *b, int **ret_fds, int *ret_n);

/* steer.c: keep the reuseport group's selection on ready slots. */
void	 steer_update(struct listener *, const bool *ready, int nslots);
void	 steer_reset(struct listener *);
void	 steer_joined(struct listener *, int slot);
void	 steer_left(struct listener *, int slot);
void	 steer_free(struct listener *);

/* worker.c: the process layer: spawn, signals, deadlines, the one reap
 * path. What happens is reported to slot.c as slot events. */
typedef void worker_report_fn(struct worker *, enum slot_event,
	    const char *detail);
/* notify_name: NOTIFY_SOCKET for workers (its buffer, filled later). */
void	 worker_init(struct ev_loop *, worker_report_fn *,
	    const char *notify_name);
void	 worker_kill_leftovers(void);
struct worker *worker_start(int slot, unsigned generation,
	    const struct config *, char *err, size_t errlen);
void	 worker_stop(struct worker *, int sig, double timeout,
	    const char *why);
void	 worker_kill(struct worker *);
void	 worker_free(struct worker *);
int	 worker_count(int slot);	/* live workers of slot, -1: all */
void	 worker_ready(struct worker *);	/* READY=1 */
/* It cannot become ready (ready = fd: closed without a newline). */
void	 worker_not_ready(struct worker *, const char *why);
void	 worker_watchdog_ping(struct worker *);	/* WATCHDOG=1 */
void	 worker_recycle(struct worker *);	/* X_CLUSTERD_RECYCLE=1 */
struct worker *worker_find_pid(pid_t);
struct worker *worker_list(void);	/* every live process, ->next */
void	 worker_adopt(struct worker *);	/* a worker made by the caller */
void	 worker_kill_all(void);
int	 worker_nkilled(void);		/* SIGKILLed since the stop began */
uint64_t worker_rss(pid_t);
double	 worker_cpu(pid_t);		/* CPU s so far, /proc; 0: unknown */

/* readiness.c: ready = listen (the worker seen waiting on its sockets in
 * /proc) and ready = fd (a newline on a pipe), the master's side. */
void	 readiness_watch(struct ev_loop *, struct worker *, int ready_fd);
void	 readiness_unwatch(struct ev_loop *, struct worker *);
/* ready = listen: what the master could and could not see, for the
 * ready_timeout message. */
const char *readiness_explain(const struct worker *);
/* The fields of a /proc stat file after the command name, in buf. */
const char *proc_stat_fields(const char *path, char *buf, size_t len);
/* One look: 1 when pid or a process of its group waits on every socket
 * of inos (an epoll set holds it, or a thread blocks in accept on it), 0
 * if not, with what was seen in why; -errno when /proc says nothing. */
int	 readiness_check(pid_t pid, const ino_t *inos, int ninos, char *why,
	    size_t whylen);

/* slot.c: the supervision table; the only writer of a slot's state. */
struct slot_procs {		/* the process layer, as slot.c uses it */
	struct worker	*(*start)(int slot, unsigned generation,
			    const struct config *, char *err, size_t errlen);
	void		 (*stop)(struct worker *, int sig, double timeout,
			    const char *why);
	void		 (*kill)(struct worker *);
	void		 (*release)(struct worker *);	/* reaped: free */
	int		 (*count)(int slot);
	uint64_t	 (*rss)(pid_t);
};
struct slot_hooks {		/* how slot.c reports to the layers above */
	const struct config *(*config)(unsigned generation);
	void		 (*ready)(struct slot *);
	/* Before the first full start a failure ends the start. */
	void		 (*failed)(struct slot *, const char *why);
	/* The generation slot_want_gen asked for runs (ok) or failed. */
	void		 (*done)(struct slot *, bool ok, const char *why);
	void		 (*gone)(void);	/* stopping, and no worker is left */
};
void	 slot_init(struct ev_loop *, const struct slot_procs *,
	    const struct slot_hooks *, bool steer_off);
void	 slot_free_all(void);
void	 slot_event(struct slot *, struct worker *, enum slot_event,
	    const char *detail);
worker_report_fn slot_worker_event;
int	 slot_scale(int n, unsigned generation);
void	 slot_want_gen(struct slot *, unsigned generation);
void	 slot_revert_gen(unsigned generation);
void	 slot_stop_all(void);
void	 slot_started(void);
void	 slot_watch_memory(bool);
void	 slot_watch_stall(double stall_timeout);	/* 0: off */
int	 slot_count(void);
struct slot *slot_get(int);
int	 slot_wanted(void);
int	 slot_ready_count(void);
uint64_t slot_max_rss(void);		/* of the largest current worker */
/* CPU s of every worker that ran in the slot: finished ones (wait4) and
 * the live ones (/proc); it never decreases. */
double	 slot_cpu(const struct slot *);
/* Connections queued on the slot's own sockets, -1: it has none. */
int	 slot_queued(const struct slot *);
void	 slot_status_line(char *buf, size_t len, unsigned generation);
bool	 slot_receiving(const struct slot *);
const char *slot_state_name(enum slot_state);
const char *slot_event_name(enum slot_event);
/* "memory", "lifetime", "request", ...: status and metric label values. */
const char *slot_recycle_name(enum recycle_reason);
bool	 slot_table_has(enum slot_state, enum slot_event);
const char *slot_worker_label(const struct slot *, const struct worker *);
/* Backoff policy, pure: the next delay, and "stayed up long enough". */
double	 backoff_next(double cur, double min, double max);
bool	 backoff_stable(double ready_at, double now);

/* spawn.c: the process layer: fork, fds, environment, credentials, exec. */
struct spawn_req {
	int			 slot;		/* CLUSTERD_WORKER */
	unsigned		 generation;	/* CLUSTERD_GENERATION */
	const struct config	*cfg;		/* command, env, user, names */
	struct listener	*const	*lset;		/* cfg's listeners, in order */
	int			 nlset;		/* = cfg->nlistens */
	const char		*notify_name;	/* NOTIFY_SOCKET */
	const struct rlimit	*nofile;	/* RLIMIT_NOFILE to restore */
	int			 ready_fd;	/* -1, or CLUSTERD_READY_FD's
						 * pipe end, after the sockets */
};
/* Fork and exec one worker: 0 with its pid and the read ends of its
 * stdout and stderr pipes in ret_out_fd[0] and [1] (O_CLOEXEC,
 * blocking), or -errno with err. */
int	 spawn_worker(const struct spawn_req *, pid_t *ret_pid,
	    int *ret_out_fd, char *err, size_t errlen);

/* output.c: workers' output into the log, bounded per wakeup. */
void	 output_start(struct worker *, const int fd[2]);	/* read ends */
void	 output_flush(struct worker *);	/* it exited: the rest */
void	 output_stop(struct worker *);	/* close the pipe */

/* notify.c: sd_notify inbound from workers, outbound to systemd. */
struct notify_msg {
	bool	ready, stopping, watchdog, reloading, barrier;
	bool	recycle;	/* X_CLUSTERD_RECYCLE=1 */
	bool	has_status;
	char	status[128];
};

int	 notify_open(char *err, size_t errlen);
void	 notify_close(void);
const char *notify_socket_name(void);	/* NOTIFY_SOCKET: filled by open */
/* The pure and the socket-reading halves of the inbound side, exported for
 * tests/unit/test_notify.c and tests/fuzz/fuzz_{notify,proc}.c. */
int	 notify_parse(const char *buf, size_t len, struct notify_msg *ret);
int	 notify_parse_stat(const char *buf, size_t len, pid_t *ret_ppid,
	    unsigned long long *ret_start);
int	 notify_receive(int fd);
void	 notify_systemd(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
unsigned long long notify_monotonic_usec(void);
void	 notify_watchdog_start(void);

/* reload.c: generation roll. */
typedef void reload_reply_fn(void *arg, int code, const char *text);
void	 reload_request(reload_reply_fn *, void *arg);	/* NULL: a signal */
bool	 reload_running(void);
void	 reload_forget(void *arg);	/* it went away */
void	 reload_abort(const char *why);	/* the cluster stops */
void	 reload_resume(void);		/* the start is over: a queued one */
/* slot.c's hooks, for cluster.c to wire: */
const struct config *reload_config_for(unsigned generation);
void	 reload_slot_done(struct slot *, bool ok, const char *why);
/* Drop a configuration and its references on the listeners. */
void	 reload_release(struct config *);
/* Change the wanted worker count (scale, SIGTTIN/SIGTTOU). */
int	 reload_scale(int n, char *err, size_t errlen);

struct control_client;
/* control.c: the control socket server, its request decoder and command
 * table. Protocol version 1: one request line "clusterd/1 COMMAND [ARG]\n"
 * of at most CONTROL_IN_MAX - 1 bytes, answered with "CODE\nTEXT". */
#define CONTROL_VERSION		"clusterd/1"
#define CONTROL_IN_MAX		512		/* one request line */
#define CONTROL_OUT_MAX		(1024 * 1024)	/* one reply */
#define CONTROL_CLIENTS_MAX	64
#define CONTROL_READ_TIMEOUT	5.0	/* to send the request */
#define CONTROL_WRITE_TIMEOUT	10.0	/* to take the reply */
#define CONTROL_CLI_TIMEOUT	30	/* CLI: status and scale answer at once */

/* stop: what `clusterd stop` runs (the cluster's stop). */
int	 control_listen(const char *path, void (*stop)(const char *why),
	    char *err, size_t errlen);
void	 control_close(void);
/* stop_now: what `clusterd stop --now` runs (no lame duck; during one or
 * during the drain, cut what is left of it). */
void	 control_on_stop_now(void (*stop_now)(const char *why));
void	 control_stopped(void);		/* master about to exit */
void	 control_slots_changed(void);	/* a slot's socket closed */
/* The request decoder, no I/O (exported for tests/fuzz/fuzz_control.c).
 * cmd indexes the command table. */
enum control_op {
	CONTROL_STATUS = 0,
	CONTROL_RELOAD,
	CONTROL_STOP,
	CONTROL_SCALE,
	CONTROL_SOCKETS,	/* `clusterd restart`: the listening sockets */
	CONTROL_EVENTS,
	CONTROL_UPGRADE,
};
struct control_request {
	enum control_op		 cmd;
	bool			 json;		/* CONTROL_STATUS: "status json" */
	bool			 now;		/* CONTROL_STOP: "stop now" */
	int			 scale;		/* CONTROL_SCALE: N, +N or -N;
						 * CONTROL_SOCKETS: N or 0 */
	bool			 relative;	/* +N or -N */
	char			 arg[16];	/* CONTROL_SCALE: as sent */
};
/* 0 once buf holds a whole request line; -EAGAIN while it may still come;
 * else -errno with the answer for the client in msg. */
int	 control_parse_request(const char *buf, size_t len,
	    struct control_request *ret, char *msg, size_t msglen);
/* A scale argument, N, +N or -N within WORKERS_MAX: 0 or -EDOM (the CLI
 * checks it with the master's rule before it connects). */
int	 control_parse_scale(const char *arg, int *ret_n, bool *ret_relative);

/* A reply being built: capped at CONTROL_OUT_MAX (overflow set past it). */
struct buf {
	char	*data;
	size_t	 len, cap, off;
	bool	 overflow;	/* would exceed CONTROL_OUT_MAX */
};
void	 buf_append(struct buf *, const char *, size_t);
void	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 buf_free(struct buf *);

/* status.c: `status` as text or JSON, rendered from slot rows. */
struct slot_row {
	int		 slot;		/* index */
	const char	*state;		/* starting, ready, draining, backoff,
					 * stopped, exited: static strings */
	pid_t		 pid;		/* 0: no worker right now */
	unsigned	 generation;
	bool		 ready;		/* its worker serves */
	bool		 receiving;	/* new connections reach it */
	unsigned	 restarts;
	double		 uptime;	/* seconds since fork */
	uint64_t	 rss;		/* bytes, 0: unknown */
	char		 last_exit[64];	/* "": none */
	char		 status[128];	/* the worker's last STATUS=, "" */
	int		 queued;	/* the slot's accept queue, -1: shared */
	double		 cpu_s;		/* the slot's CPU seconds */
	char		 last_replace[32];	/* why the slot's worker was last
						 * replaced, "": never */
};
/* Fill up to max rows, return how many there are (may be more than max:
 * call with max 0 to size the array). */
int	 slot_rows(struct slot_row *rows, int max);
/* The whole `status` answer into b: 0 or -ENOMEM. Without paths, no
 * file path in it (the admin endpoint shows none). */
int	 status_render(struct buf *b, bool json, bool paths);

/* admin.c: the admin endpoint (HTTP) of the master, in its loop. */
int	 admin_listen(const struct config *, char *err, size_t errlen);
void	 admin_close(void);

/* metrics.c: Prometheus text format 0.0.4, computed when scraped. */
int	 metrics_render(FILE *);

/* events.c: `clusterd events`, the stream of what happens, to readers
 * with a bounded buffer each (a slow one loses events, counted). */
struct event_field {		/* "key": str, or "key": num if str is NULL */
	const char	*key;
	const char	*str;
	long long	 num;
};
int	 events_add(int fd, pid_t pid, bool json);	/* takes fd over */
void	 events_close(void);		/* master exits: the streams end */
/* type ("slot", "exit", "reload", ..., see clusterd.8 EVENTS), fields in
 * order, and the human line. */
void	 events_emit(const char *type, const struct event_field *, int n,
	    const char *text);
void	 events_slot(const struct slot *, pid_t, unsigned generation,
	    enum slot_state from, enum slot_state to, enum slot_event,
	    const char *detail);
void	 events_exit(const struct worker *, const char *how);
void	 events_reload(const char *phase, unsigned generation,
	    const char *msg);
void	 events_scale(int from, int to);
void	 events_stop(const char *phase, const char *why);

/* client.c: the CLI side of the control socket. Send one request, print
 * the answer, return the exit code. wait_exit: wait for the master to
 * exit (stop). timeout: give up after so many seconds, 0 never. */
int	 control_command(const char *socket_path, const char *request,
	    bool wait_exit, double timeout);
/* `clusterd restart`: the running master's listening sockets, handed to
 * listen_inherit. slots: the new master's worker count (the old one
 * drains its slots from there up first; wait: how long that may take
 * beyond CONTROL_CLI_TIMEOUT), 0 for all sockets at once. EXIT_OK, or
 * the exit code with the reason printed; *ret_n 0 when no master runs. */
int	 control_take_sockets(const char *socket_path, int slots,
	    double wait, int *ret_n);

/* A quiet request for programs (top, list): connect, check that the
 * peer is root or trust_uid (only trust_uid: exact), send request, read
 * the whole answer (at most CONTROL_OUT_MAX) into *ret_text (malloc'd,
 * NUL-terminated) and its code. 0, or -errno: -ENOENT/-ECONNREFUSED
 * nobody there, -EPERM a peer we do not trust, -ETIMEDOUT, -EPROTO no
 * answer. */
int	 control_query(const char *socket_path, const char *request,
	    uid_t trust_uid, bool exact, double timeout, char **ret_text,
	    int *ret_code, pid_t *ret_peer);

/* json.c: a strict, bounded JSON reader for the answers of a master. */
enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING,
	JSON_ARRAY, JSON_OBJECT };
struct json {
	enum json_type	 type;
	bool		 boolean;
	double		 number;
	char		*string;	/* decoded UTF-8, no NUL inside */
	char		*key;		/* a member of an object: its name */
	struct json	*child;		/* array or object: the first */
	struct json	*next;		/* the next member */
};
int	 json_parse(const char *buf, size_t len, struct json **ret);
void	 json_free(struct json *);
const struct json *json_get(const struct json *obj, const char *key);
const char *json_str(const struct json *obj, const char *key);
bool	 json_num(const struct json *obj, const char *key, double *ret);
bool	 json_long(const struct json *obj, const char *key, long *ret);
struct buf;
void	 json_buf_str(struct buf *, const char *);	/* NULL: null */

/* top.c, list.c: the commands for people watching. */
int	 top_run(const char *socket_path, const char *file);
int	 list_run(bool json);
/* "2m05s", "3.1M": how status, top and list show a duration and a size. */
void	 list_fmt_duration(double seconds, char *buf, size_t len);
void	 list_fmt_size(uint64_t bytes, char *buf, size_t len);

/* daemon.c: detach, pidfile + lock, readiness handshake with start. */
/* `clusterd start`: run(cfg, start_fd) is the master, in the daemon. */
int	 daemon_start(struct config *, int (*run)(struct config *, int));
int	 daemon_logs(const struct config *, bool follow);
/* 0, -EEXIST with *ret_owner when another master holds it, or -errno. */
int	 daemon_lock_pidfile(const char *path, pid_t *ret_owner);
void	 daemon_remove_pidfile(void);
/* Tell a waiting `start` how the start went (no-op under `run`). */
void	 daemon_started(int code, const char *msg);
/* mkdir -p DIR refusing a directory on the way that someone else may
 * write (or own, or swap for a symlink); DIR itself must be ours
 * (MKDIR_OWNED), or 0700 and ours (MKDIR_PRIVATE). 0, or -errno with the
 * offending path in err. */
#define MKDIR_OWNED	1
#define MKDIR_PRIVATE	(2 | MKDIR_OWNED)
int	 mkdir_p(const char *dir, mode_t mode, int flags, char *err,
	    size_t errlen);

/* cluster.c: the master's own life: set up, signals, start, stop. */
int	 cluster_run(struct config *, int start_fd);

/* upgrade.c: `clusterd upgrade` and SIGUSR2: the master re-executes its
 * own binary in place (same pid, workers untouched); its state crosses
 * execve in a memfd, written and read in order by each module's own
 * dump and restore functions below. */
/* The state this build writes. A change to any part's layout bumps it; a
 * build that can still read an older layout lists it in
 * UPGRADE_FORMATS_READ and its restore functions ask
 * upgrade_get_format() which one they read. */
#define UPGRADE_FORMAT		1
#define UPGRADE_FORMATS_READ	{ 1 }
#define UPGRADE_CHECK_TIMEOUT	10.0	/* the new binary's --upgrade-check */
struct ustate;
typedef void upgrade_reply_fn(void *arg, int code, const char *text);
void	 upgrade_init(int argc, char **argv);	/* main: the path, argv */
int	 upgrade_check_main(void);		/* --upgrade-check */
int	 upgrade_resume_main(const char *fd);	/* the new image */
void	 upgrade_request(upgrade_reply_fn *, void *arg);	/* NULL: USR2 */
bool	 upgrade_running(void);
void	 upgrade_forget(void *arg);		/* the client went away */
bool	 upgrade_defer(int signo);	/* upgrading: for after it */
void	 upgrade_reload_done(void);	/* an upgrade may wait for it */
void	 upgrade_abort(const char *why);	/* the cluster stops */
int	 upgrade_restore_parts(struct ustate *);	/* cluster_resume */
/* A child the master reaped that is no worker: the pre-flight's? */
bool	 upgrade_child_exited(pid_t, int status);
void	 upgrade_done(int nworkers);	/* the new image is up: say so */
const char *upgrade_from(void);		/* the old image's version, or NULL */
/* Writing: values in order; fds named here cross execve. */
void	 upgrade_put_u64(struct ustate *, uint64_t);
void	 upgrade_put_dbl(struct ustate *, double);
void	 upgrade_put_str(struct ustate *, const char *);	/* NULL too */
void	 upgrade_put_mem(struct ustate *, const void *, size_t);
void	 upgrade_put_fd(struct ustate *, int fd);		/* -1 too */
void	 upgrade_put_timer(struct ustate *, ev_timer *);	/* remaining */
void	 upgrade_put_tag(struct ustate *, const char *);	/* a section */
/* Reading, in the same order; after a mismatch every get returns 0 (or
 * NULL, -1) and upgrade_get_failed says so. */
uint64_t upgrade_get_u64(struct ustate *);
double	 upgrade_get_dbl(struct ustate *);
char	*upgrade_get_str(struct ustate *);		/* malloc'd or NULL */
void	 upgrade_get_mem(struct ustate *, void *, size_t);
void	*upgrade_get_blob(struct ustate *, size_t *ret_len);	/* malloc'd */
int	 upgrade_get_fd(struct ustate *);
/* Set t's delay to what was left (less the time execve took) and start
 * it, if it was running. */
void	 upgrade_get_timer(struct ustate *, ev_timer *);
void	 upgrade_get_tag(struct ustate *, const char *);
bool	 upgrade_get_failed(const struct ustate *);
unsigned upgrade_get_format(const struct ustate *);	/* being read */
/* The modules' halves, called by upgrade.c in this order. */
void	 cluster_dump(struct ustate *);
int	 cluster_restore(struct ustate *);	/* + the config in force */
void	 listen_dump(struct ustate *);
int	 listen_restore(struct ustate *);
int	 listen_index(const struct listener *);	/* in cl.all, -1 */
struct listener *listen_at(int);
void	 notify_dump(struct ustate *);
int	 notify_restore(struct ustate *);
void	 control_dump(struct ustate *);
int	 control_restore(struct ustate *);
void	 control_release(void);		/* requests held by an upgrade */
void	 control_on_stop(void (*stop)(const char *why));	/* restored */
void	 control_upgraded(int code, const char *text);	/* its waiters */
void	 daemon_dump(struct ustate *);
int	 daemon_restore(struct ustate *);
void	 worker_dump(struct ustate *);
int	 worker_restore(struct ustate *);
void	 output_dump(struct ustate *, const struct worker *);
int	 output_restore(struct ustate *, struct worker *);
void	 slot_dump(struct ustate *);
int	 slot_restore(struct ustate *);
void	 admin_dump(struct ustate *);
int	 admin_restore(struct ustate *);
void	 events_dump(struct ustate *);
int	 events_restore(struct ustate *);
/* The new image's loop, set up again from the restored state. */
int	 cluster_resume(struct ustate *);

#endif
