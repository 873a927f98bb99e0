/*
 * worker.h - private header of clusterd-worker, the reference worker.
 * clusterd-worker.c owns the process: options, listening sockets, sd_notify,
 * signals and the drain; http.c owns accepted connections and HTTP.
 */
#ifndef CLUSTERD_WORKER_H
#define CLUSTERD_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <ev.h>

/* What the process is and what it started with, shared by both files. */
struct worker {
	struct ev_loop	*loop;
	pid_t		 pid;
	char		 slot[32];	/* CLUSTERD_WORKER, "-" when unset */
	bool		 draining;	/* SIGTERM seen: no new requests kept alive */
	bool		 debug;		/* /env /crash /exit /hang answer */
	char		*env;		/* environment at start, one per line */
	size_t		 envlen;
	char		*fds;		/* "fds: 0 1 2 3" as inherited, + details */
	size_t		 fdslen;
};

extern struct worker worker;

/* clusterd-worker.c */
void	worker_log(const char *, ...) __attribute__((format(printf, 1, 2)));
void	worker_idle_check(void);	/* a connection closed: done draining? */

/* http.c */
void	http_init(void);
void	http_conn_new(int, bool);	/* fd, is TCP */
void	http_drain(void);
size_t	http_count(void);

#endif
