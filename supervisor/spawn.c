/*
 * spawn.c - the process layer: turn one spawn request into a running
 * worker process. The parent builds everything (environment, socket list,
 * credentials) before fork(); the child only moves fds, drops privileges
 * and execs, or leaves with a WORKER_EXIT_* code and a line on its output
 * pipe saying why. The slot and worker bookkeeping stays in worker.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clusterd.h"

extern char	**environ;

/* What the child needs, all of it resolved in the parent. */
struct spawn_child {
	const struct spawn_req	*req;
	char		       **env;
	int			*socks;		/* nlset fds, moved in place,
						 * then the ready fd if any */
	int			 nsocks;
	int			 out_fd;	/* write end of the output pipe */
	int			 err_fd;	/* and of the error pipe */
	pid_t			 master;
	bool			 set_ids;	/* user or group set */
	bool			 set_groups;	/* differs from the master's */
	gid_t			*groups;
	int			 ngroups;
	bool			 drop_caps;	/* uid changes to non-root */
};

static int	 env_push(char ***, size_t *, size_t *, char *);
static bool	 env_dropped(const char *, const struct config *);
static char	*fmt(const char *, ...) __attribute__((format(printf, 1, 2)));
static char	**build_env(const struct spawn_req *, char *, size_t);
static int	 gid_cmp(const void *, const void *);
static int	 resolve_groups(const struct config *, struct spawn_child *,
		    char *, size_t);
static void	 child_fail(int, const char *, const char *, int)
		    __attribute__((noreturn));
static void	 child_exec(const struct spawn_child *)
		    __attribute__((noreturn));

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
		"CLUSTERD_GENERATION=", "CLUSTERD_READY_FD=", "CLUSTERD_READY=",
		NULL };
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
 * The worker's environment, built in the parent (no allocation after
 * fork). LISTEN_PID and WATCHDOG_PID are the child's own pid, which only
 * the child knows: their values are placeholders it overwrites.
 * LISTEN_FDNAMES comes from the configuration the worker is started with,
 * not from the listener (renamed only once a reload is over), and has no
 * length limit: every name the worker is promised arrives.
 */
static char **
build_env(const struct spawn_req *req, char *err, size_t errlen)
{
	const struct config *c = req->cfg;
	char **env = NULL, **e, *names = NULL, *p;
	size_t n = 0, cap = 0, len = 1;
	struct passwd *pw;
	int i, r = 0;

	for (e = environ; *e != NULL && r == 0; e++)
		if (!env_dropped(*e, c))
			r = env_push(&env, &n, &cap, strdup(*e));
	for (i = 0; i < req->nlset; i++)
		len += strlen(c->listens[i].name) + 1;
	if ((names = malloc(len)) != NULL) {
		p = names;
		*p = '\0';
		for (i = 0; i < req->nlset; i++)
			p = stpcpy(stpcpy(p, i ? ":" : ""),
			    c->listens[i].name);
	}
	r |= env_push(&env, &n, &cap, fmt("LISTEN_FDS=%d", req->nlset));
	r |= env_push(&env, &n, &cap, strdup("LISTEN_PID=0000000000"));
	r |= env_push(&env, &n, &cap, names ?
	    fmt("LISTEN_FDNAMES=%s", names) : NULL);
	free(names);
	r |= env_push(&env, &n, &cap, fmt("NOTIFY_SOCKET=%s",
	    req->notify_name));
	r |= env_push(&env, &n, &cap, fmt("CLUSTERD_WORKER=%d", req->slot));
	r |= env_push(&env, &n, &cap, fmt("CLUSTERD_GENERATION=%u",
	    req->generation));
	r |= env_push(&env, &n, &cap, fmt("CLUSTERD_READY=%s",
	    config_ready_name(c->ready)));
	if (req->ready_fd >= 0)
		r |= env_push(&env, &n, &cap, fmt("CLUSTERD_READY_FD=%d",
		    3 + req->nlset));
	if (c->watchdog > 0) {
		r |= env_push(&env, &n, &cap, fmt("WATCHDOG_USEC=%llu",
		    (unsigned long long)(c->watchdog * 1e6)));
		r |= env_push(&env, &n, &cap,
		    strdup("WATCHDOG_PID=0000000000"));
	}
	if (c->user != NULL) {
		errno = 0;
		if ((pw = getpwnam(c->user)) == NULL) {
			snprintf(err, errlen, "user %s: %s", c->user, errno ?
			    strerror(errno) : "no longer exists");
			config_free_argv(env);
			return NULL;
		}
		r |= env_push(&env, &n, &cap, fmt("HOME=%s", pw->pw_dir));
		r |= env_push(&env, &n, &cap, fmt("USER=%s", pw->pw_name));
		r |= env_push(&env, &n, &cap, fmt("LOGNAME=%s", pw->pw_name));
		r |= env_push(&env, &n, &cap, fmt("SHELL=%s", pw->pw_shell));
	}
	for (i = 0; i < c->nenv; i++)
		r |= env_push(&env, &n, &cap, strdup(c->env[i]));
	if (r != 0) {
		config_free_argv(env);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return env;
}

static int
gid_cmp(const void *a, const void *b)
{
	gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The supplementary groups of the worker, looked up here rather than with
 * initgroups() in the child: NSS (files, sssd, LDAP) is not for a forked
 * child, and a failed lookup fails the spawn with a message. They are set
 * whenever user or group is, whatever the master's uid (a non-root master
 * with CAP_SETGID would otherwise pass its own groups on); only when they
 * already are the master's own is the call skipped, so that a master
 * without that capability can still run workers as itself.
 */
static int
resolve_groups(const struct config *c, struct spawn_child *ch, char *err,
    size_t errlen)
{
	gid_t *g = NULL, *cur = NULL, *ng;
	int n = 16, ncur, i, j;

	if (c->user == NULL) {
		if ((g = malloc(sizeof *g)) == NULL)
			goto nomem;
		g[0] = c->gid;
		n = 1;
	} else {
		for (;;) {
			if ((ng = realloc(g, sizeof *g * (size_t)n)) == NULL)
				goto nomem;
			g = ng;
			i = n;
			errno = 0;
			if (getgrouplist(c->user, c->gid, g, &i) != -1) {
				n = i;
				break;
			}
			if (i <= n) {
				snprintf(err, errlen, "groups of user %s: %s",
				    c->user, errno ? strerror(errno) :
				    "lookup failed");
				free(g);
				return -ENOENT;
			}
			n = i;
		}
	}
	/* Sorted and without duplicates (the primary group may be listed
	 * twice), to compare with the master's own. */
	qsort(g, (size_t)n, sizeof *g, gid_cmp);
	for (i = j = 0; i < n; i++)
		if (j == 0 || g[i] != g[j - 1])
			g[j++] = g[i];
	n = j;

	ch->set_groups = true;
	if ((ncur = getgroups(0, NULL)) >= 0 && ncur == n &&
	    (cur = malloc(sizeof *cur * (size_t)(n ? n : 1))) != NULL &&
	    getgroups(ncur, cur) == ncur) {
		qsort(cur, (size_t)n, sizeof *cur, gid_cmp);
		ch->set_groups = n > 0 &&
		    memcmp(cur, g, sizeof *g * (size_t)n) != 0;
	}
	free(cur);
	ch->groups = g;
	ch->ngroups = n;
	return 0;
nomem:
	free(g);
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

/* In the child: a line on its output pipe, then the exit code. */
static void
child_fail(int code, const char *what, const char *arg, int errnum)
{
	dprintf(STDERR_FILENO, "clusterd: worker: %s%s%s: %s\n", what,
	    arg ? " " : "", arg ? arg : "", strerror(errnum));
	_exit(code);
}

/* Default dispositions first, then unblock: neither libev's handlers nor
 * the everything-blocked mask of the fork reach the worker. */
static void
child_signals(void)
{
	struct sigaction sa;
	sigset_t none;
	int sig;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* close_range(lo, hi), or close() one by one where it is missing. */
static void
close_span(unsigned lo, unsigned hi)
{
	struct rlimit rl;
	unsigned fd;

	if (close_range(lo, hi, 0) == 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	for (fd = lo; fd <= hi && (rlim_t)fd < rl.rlim_cur; fd++)
		close((int)fd);
}

/*
 * Every fd from 3 up but the two pipes and the sockets: the master's other
 * fds are close-on-exec, but open until execve, and a master at its fd
 * limit would leave no room for the copies child_fds makes (the worker
 * then failed to start with EMFILE, exit 126, in t_fault_nofile's reload).
 */
static void
close_others(const struct spawn_child *ch)
{
	unsigned from = 3, next;
	int i, fd;

	for (;;) {
		next = ~0U;
		for (i = -2; i < ch->nsocks; i++) {
			fd = i == -2 ? ch->err_fd : i == -1 ? ch->out_fd :
			    ch->socks[i];
			if (fd >= 0 && (unsigned)fd >= from &&
			    (unsigned)fd < next)
				next = (unsigned)fd;
		}
		if (next == ~0U) {
			close_span(from, ~0U);
			return;
		}
		if (next > from)
			close_span(from, next - 1);
		from = next + 1;
	}
}

/* stdout and stderr to their pipes first, so that every later failure
 * reaches the master's log; stdin from /dev/null; the sockets to
 * 3..3+n-1 (and, with ready = fd, the ready pipe right after them);
 * nothing else of the master. */
static void
child_fds(const struct spawn_child *ch)
{
	char num[16];
	int i, fd, n = ch->nsocks, devnull, *socks = ch->socks;

	close_others(ch);
	if ((fd = fcntl(ch->err_fd, F_DUPFD, 3 + n)) == -1 ||
	    dup2(fd, STDERR_FILENO) == -1) {
		dprintf(ch->err_fd, "clusterd: worker: error pipe: %s\n",
		    strerror(errno));
		_exit(WORKER_EXIT_SETUP);
	}
	if ((fd = fcntl(ch->out_fd, F_DUPFD, 3 + n)) == -1 ||
	    dup2(fd, STDOUT_FILENO) == -1)
		child_fail(WORKER_EXIT_SETUP, "output pipe", NULL, errno);
	if ((devnull = open("/dev/null", O_RDONLY)) == -1 ||
	    dup2(devnull, STDIN_FILENO) == -1)
		child_fail(WORKER_EXIT_SETUP, "open", "/dev/null", errno);
	/* First move everything out of the way of the target range, then
	 * dup2 down: dup2 clears FD_CLOEXEC on the copy. A worker without
	 * one of the sockets it is promised is not run. */
	for (i = 0; i < n; i++) {
		snprintf(num, sizeof num, "%d", 3 + i);
		if (socks[i] < 0)
			child_fail(WORKER_EXIT_SETUP, "no listening socket for "
			    "fd", num, EBADF);
		if ((fd = fcntl(socks[i], F_DUPFD_CLOEXEC, 3 + n)) == -1)
			child_fail(WORKER_EXIT_SETUP, "listening socket for fd",
			    num, errno);
		socks[i] = fd;
	}
	for (i = 0; i < n; i++)
		if (dup2(socks[i], 3 + i) == -1) {
			snprintf(num, sizeof num, "%d", 3 + i);
			child_fail(WORKER_EXIT_SETUP, "dup2 to fd", num, errno);
		}
	close_span(3 + (unsigned)n, ~0U);
}

/* LISTEN_PID / WATCHDOG_PID placeholders get the child's pid. */
static void
child_env_pids(char **env)
{
	char num[16], *p;
	int i;

	snprintf(num, sizeof num, "%ld", (long)getpid());
	for (i = 0; env[i] != NULL; i++) {
		if (strncmp(env[i], "LISTEN_PID=", 11) == 0)
			p = env[i] + 11;
		else if (strncmp(env[i], "WATCHDOG_PID=", 13) == 0)
			p = env[i] + 13;
		else
			continue;
		memcpy(p, num, strlen(num) + 1);
	}
}

/* Groups, gid, uid (each fatal), then every capability the master may
 * have had (a non-root to non-root uid change keeps them). */
static void
child_privileges(const struct spawn_child *ch)
{
	const struct config *c = ch->req->cfg;
	struct __user_cap_header_struct hdr;
	struct __user_cap_data_struct data[2];

	if (ch->set_ids) {
		if (ch->set_groups &&
		    setgroups((size_t)ch->ngroups, ch->groups) == -1)
			child_fail(WORKER_EXIT_SETUP, "setgroups for",
			    c->user ? c->user : c->group, errno);
		if (setresgid(c->gid, c->gid, c->gid) == -1)
			child_fail(WORKER_EXIT_SETUP, "setgid to",
			    c->group ? c->group : c->user, errno);
		if (c->user != NULL &&
		    setresuid(c->uid, c->uid, c->uid) == -1)
			child_fail(WORKER_EXIT_SETUP, "setuid to", c->user,
			    errno);
	}
	if (!ch->drop_caps)
		return;
	/* Ambient first: it cannot outlive permitted anyway, but a kernel
	 * without ambient sets (EINVAL) has none to clear. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 &&
	    errno != EINVAL)
		child_fail(WORKER_EXIT_SETUP, "clear ambient capabilities of",
		    c->user, errno);
	memset(&hdr, 0, sizeof hdr);
	memset(data, 0, sizeof data);
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	if (syscall(SYS_capset, &hdr, data) == -1)
		child_fail(WORKER_EXIT_SETUP, "drop capabilities of", c->user,
		    errno);
}

/*
 * Child side of the fork: async-signal-safe calls only, then exec.
 * The order matters: the privileges, then chdir with the worker's own
 * rights, then PDEATHSIG, which the uid change would have cleared.
 */
static void
child_exec(const struct spawn_child *ch)
{
	const struct config *c = ch->req->cfg;

	setpgid(0, 0);
	child_signals();
	child_fds(ch);
	/* The limits the master was started with, not its raised ones. */
	setrlimit(RLIMIT_NOFILE, ch->req->nofile);
	child_env_pids(ch->env);
	child_privileges(ch);
	if (c->directory != NULL && chdir(c->directory) == -1)
		child_fail(WORKER_EXIT_SETUP, "chdir", c->directory, errno);
	/* Then make sure the master did not die before PDEATHSIG was set
	 * (the signal would be lost). */
	prctl(PR_SET_PDEATHSIG, c->stop_signal);
	if (getppid() != ch->master)
		_exit(WORKER_EXIT_ORPHAN);
	execvpe(c->argv[0], c->argv, ch->env);
	child_fail(WORKER_EXIT_EXEC, "exec", c->argv[0], errno);
}

int
spawn_worker(const struct spawn_req *req, pid_t *ret_pid, int *ret_out_fd,
    char *err, size_t errlen)
{
	const struct config *c = req->cfg;
	struct spawn_child ch;
	sigset_t all, old;
	int pfd[2], efd[2], i, r;
	pid_t pid;

	memset(&ch, 0, sizeof ch);
	ch.req = req;
	ch.master = getpid();
	ch.nsocks = req->nlset + (req->ready_fd >= 0);
	ch.set_ids = c->user != NULL || c->group != NULL;
	ch.drop_caps = c->user != NULL && c->uid != 0;
	if ((ch.socks = calloc((size_t)req->nlset + 1, sizeof *ch.socks))
	    == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < req->nlset; i++)
		ch.socks[i] = listen_slot_fd(req->lset[i], req->slot);
	if (req->ready_fd >= 0)
		ch.socks[req->nlset] = req->ready_fd;
	if (ch.set_ids && (r = resolve_groups(c, &ch, err, errlen)) < 0) {
		free(ch.socks);
		return r;
	}
	if ((ch.env = build_env(req, err, errlen)) == NULL) {
		free(ch.groups);
		free(ch.socks);
		return -ENOMEM;
	}
	if (pipe2(pfd, O_CLOEXEC) == -1) {
		r = -errno;
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto out;
	}
	if (pipe2(efd, O_CLOEXEC) == -1) {
		r = -errno;
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		goto out;
	}
	ch.out_fd = pfd[1];
	ch.err_fd = efd[1];
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		child_exec(&ch);
	r = -errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(pfd[1]);
	close(efd[1]);
	if (pid == -1) {
		snprintf(err, errlen, "fork: %s", strerror(-r));
		close(pfd[0]);
		close(efd[0]);
		goto out;
	}
	setpgid(pid, pid);	/* no race with the child's own setpgid */
	*ret_pid = pid;
	ret_out_fd[0] = pfd[0];
	ret_out_fd[1] = efd[0];
	r = 0;
out:
	config_free_argv(ch.env);
	free(ch.groups);
	free(ch.socks);
	return r;
}
