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
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/un.h>

#include <ev.h>

#define CLUSTERD_VERSION "0.1.0"

/* Exit codes, SPEC section 7. */
#define EXIT_OK		0
#define EXIT_FAILED	1	/* not ready, reload failed, not running */
#define EXIT_USAGE	2
#define EXIT_CONFIG	3	/* invalid configuration */
#define EXIT_SYSTEM	4	/* the system refused: bind, permission */

#define WORKERS_MAX	1024
#define NAME_MAX_LEN	64

/* ------------------------------------------------------------------ */
/* config.c: the key table on top of inih.                            */

enum listen_sockets {
	LISTEN_PER_WORKER = 0,	/* one SO_REUSEPORT socket per slot */
	LISTEN_SHARED,		/* one socket, every worker accepts on it */
};

enum ready_mode {
	READY_DELAY = 0,	/* alive for ready_delay = ready */
	READY_NOTIFY,		/* READY=1 on NOTIFY_SOCKET */
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
	char			*runtime_dir;	/* default dir of control/pid */

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

	/* Runtime, not parsed: the master's bound listeners for listens[],
	 * one reference each (cluster_config_release drops them). */
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

/* Pure parsers, exported for the unit tests. 0 or -EINVAL. */
int	 config_parse_duration(const char *, double *ret_seconds);
int	 config_parse_size(const char *, uint64_t *ret_bytes);
int	 config_parse_signal(const char *, int *ret_signo);
int	 config_parse_address(const char *, const char *basedir,
	    struct config_listen *ret);
int	 config_split_command(const char *, char ***ret_argv);
int	 config_cpus(void);		/* affinity mask capped by cpu.max */
void	 config_free_argv(char **);
const char *config_signame(int signo);

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
	int			 refs;		/* configs + workers using it */
	bool			 shut;		/* fds closed at stop */
	struct listener		*next;		/* in cl.all */
};

enum worker_state {
	WORKER_STARTING = 0,	/* forked, not ready yet */
	WORKER_READY,		/* serving */
	WORKER_DRAINING,	/* got stop_signal, finishing */
	WORKER_EXITED,		/* reaped, about to be freed */
};

struct worker {
	pid_t			 pid;
	int			 slot;
	unsigned		 generation;
	enum worker_state	 state;
	ev_tstamp		 started;	/* ev_now at fork */
	ev_tstamp		 ready_at;
	ev_tstamp		 last_watchdog;
	ev_tstamp		 stop_sent;
	bool			 killed;	/* SIGKILL sent */
	bool			 hung;		/* watchdog fired */
	char			 status[128];	/* last STATUS= */
	/* From the config it was started with: a reload may free that. */
	enum ready_mode		 ready;
	int			 stop_signal;
	double			 ready_delay, ready_timeout, stop_timeout;
	double			 watchdog;
	uint64_t		 max_memory;
	ev_child		 child_w;
	ev_timer		 timer_w;	/* ready / stop deadline */
	struct listener	       **lset;		/* what it was given */
	int			 nlset;
	int			 out_fd;	/* stdout+stderr pipe, -1 */
	ev_io			 out_w;
	char			 outbuf[1024];
	size_t			 outlen;
	struct worker		*next;		/* in cluster.workers */
};

enum slot_state {
	SLOT_STOPPED = 0,	/* wanted down, nothing runs */
	SLOT_STARTING,
	SLOT_READY,
	SLOT_BACKOFF,		/* waiting to respawn after a crash */
};

struct slot {
	int			 index;
	enum slot_state		 state;
	bool			 wanted;	/* false: being scaled away */
	struct worker		*cur;		/* serving (or starting) */
	struct worker		*incoming;	/* reload: next generation */
	unsigned		 restarts;
	double			 backoff;	/* next restart delay */
	char			 last_exit[64];
	ev_timer		 backoff_w;
	ev_timer		 drain_w;	/* scale-down: queue empty? */
	ev_tstamp		 drain_until;
	char			 tail[4][160];	/* last worker output lines */
	int			 ntail;
};

enum cluster_phase {
	PHASE_STARTING = 0,	/* never been ready yet */
	PHASE_RUNNING,
	PHASE_STOPPING,
};

struct cluster {
	struct ev_loop		*loop;
	struct config		*cfg;		/* current */
	struct config		*pending;	/* reload being rolled out */
	enum cluster_phase	 phase;
	pid_t			 master_pid;
	ev_tstamp		 started;
	unsigned		 generation;	/* of cfg */
	unsigned		 last_generation;	/* highest handed out */
	struct rlimit		 orig_nofile;	/* what workers get */

	struct listener		*all;		/* every bound listener */

	struct slot	       **slots;
	int			 nslots;	/* allocated */
	int			 wanted;	/* wanted worker count */
	struct worker		*workers;	/* every live process */

	bool			 steer_disabled;	/* CLUSTERD_NO_STEER */
	int			 start_fd;	/* pipe to `start`, -1 */
	int			 exit_code;
	int			 nkilled;	/* SIGKILLed at stop */
	ev_tstamp		 stop_started;
	ev_timer		 stop_w;
	ev_timer		 mem_w;		/* max_memory checks */
	ev_signal		 sig_w[8];
	int			 nsig;
};

extern struct cluster	cl;

/* ------------------------------------------------------------------ */
/* listen.c: bind, SO_REUSEPORT groups, sockets inherited from systemd. */
int	 listen_test_bind(const struct config_listen *, char *err, size_t);
int	 listen_open(struct listener *, const struct config_listen *,
	    int nslots, char *err, size_t errlen);
/* A bound listener on cl.all (test-bind first), or NULL with err. */
struct listener *listen_new(const struct config_listen *, int nslots,
	    char *err, size_t errlen);
void	 listen_ref(struct listener *);
void	 listen_unref(struct listener *);	/* last one closes it */
void	 listen_shut(struct listener *);	/* stop: close its fds */
void	 listen_update(struct listener *, const struct config_listen *);
bool	 listen_same(const struct listener *, const struct config_listen *);
int	 listen_resize(struct listener *, int nslots, char *err, size_t);
int	 listen_repair(struct listener *, int slot);
void	 listen_close_slot(struct listener *, int slot);
int	 listen_queued(const struct listener *, int slot);
int	 listen_requeue(struct listener *, int slot);
int	 listen_migrate_req(void);
void	 listen_close(struct listener *);
int	 listen_slot_fd(const struct listener *, int slot);
/* Sockets passed by systemd (LISTEN_FDS): fills c->lset where they
 * match; the caller binds the rest. */
int	 listen_activated(struct config *, char *err, size_t errlen);
const char *listen_describe(const struct listener *);

/* steer.c: keep the reuseport group's selection on ready slots. */
void	 steer_update(struct listener *, const bool *ready, int nslots);
void	 steer_reset(struct listener *);
void	 steer_joined(struct listener *, int slot);
void	 steer_left(struct listener *, int slot);
void	 steer_free(struct listener *);

/* worker.c: slot table, worker state machine, spawn, reap. */
int	 worker_init(int nslots);
void	 worker_spawn(struct slot *, unsigned generation,
	    const struct config *);
void	 worker_set_state(struct worker *, enum worker_state);
void	 slot_set_state(struct slot *, enum slot_state);
void	 worker_stop(struct worker *, const char *why);
void	 worker_stop_all(void);
void	 worker_ready(struct worker *);
struct worker *worker_find_pid(pid_t);
int	 worker_count(enum worker_state);
int	 worker_slots_ready(void);
const char *worker_state_name(enum worker_state);
const char *slot_state_name(enum slot_state);
void	 worker_format_exit(int status, char *buf, size_t len);
int	 worker_scale(int n, char *err, size_t errlen);
uint64_t worker_rss(pid_t);
void	 worker_steer_refresh(void);
void	 worker_kill_all(void);
void	 worker_watchdog_ping(struct worker *);
void	 worker_slot_gone(struct slot *);
bool	 worker_slot_receiving(const struct slot *);
void	 worker_check_memory(void);

/* notify.c: sd_notify inbound from workers, outbound to systemd. */
struct notify_msg {
	bool	ready, stopping, watchdog, reloading, barrier;
	bool	has_status;
	char	status[128];
};

int	 notify_open(char *err, size_t errlen);
void	 notify_close(void);
const char *notify_socket_name(void);	/* NOTIFY_SOCKET for workers */
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
struct control_client;
void	 reload_request(struct control_client *);	/* NULL: a signal */
void	 reload_step(void);		/* a worker became ready or failed */
bool	 reload_running(void);
void	 reload_forget(struct control_client *);	/* it went away */
void	 reload_abort(const char *why);	/* the cluster stops */
const char *reload_last_result(void);
struct config *reload_pending_config(void);	/* NULL unless rolling */

/* control.c: control socket, server and client side. */
int	 control_listen(const char *path, char *err, size_t errlen);
void	 control_close(void);
/* Answer a waiting client and close it: code is the CLI's exit code. */
void	 control_reply(struct control_client *, int code, const char *text);
void	 control_stopped(void);		/* master about to exit */
/* CLI side: send one request, print the answer, return the exit code. */
int	 control_command(const char *socket_path, const char *request,
	    bool wait_exit);
/* The request decoder, no I/O (exported for tests/fuzz/fuzz_control.c). */
enum control_cmd {
	CONTROL_STATUS = 0,
	CONTROL_STATUS_JSON,
	CONTROL_RELOAD,
	CONTROL_STOP,
	CONTROL_SCALE,
};
struct control_request {
	enum control_cmd	 cmd;
	int			 scale;		/* CONTROL_SCALE: N, +N or -N */
	bool			 relative;	/* +N or -N */
	char			 arg[16];	/* CONTROL_SCALE: as sent */
};
/* 0 once buf holds a whole request line; -EAGAIN while it may still come;
 * else -errno with the answer for the client in msg. */
int	 control_parse_request(const char *buf, size_t len,
	    struct control_request *ret, char *msg, size_t msglen);

/* daemon.c: detach, pidfile + lock, readiness handshake with start. */
int	 daemon_start(struct config *);		/* `clusterd start` */
int	 daemon_logs(const struct config *, bool follow);
/* 0, -EEXIST with *ret_owner when another master holds it, or -errno. */
int	 daemon_lock_pidfile(const char *path, pid_t *ret_owner);
void	 daemon_remove_pidfile(void);
/* Tell a waiting `start` how the start went (no-op under `run`). */
void	 daemon_started(int code, const char *msg);

/* main.c: commands, and the cluster's own life (start, stop). */
void	 cluster_stop(const char *why);
void	 cluster_check_started(void);
void	 cluster_fail_start(struct slot *, const char *why);
void	 cluster_stopped(void);
int	 cluster_run(struct config *, int start_fd);
void	 cluster_status_line(char *buf, size_t len);
void	 cluster_config_release(struct config *);

#endif
