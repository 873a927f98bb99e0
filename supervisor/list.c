/*
 * list.c - `clusterd list`: the clusters this user can see, found by their
 * runtime directories (a master's default control socket and pidfile live
 * there): root looks in everyone's, a user in their own. Each is asked
 * for `status json`; a directory whose master is gone is shown as stale.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clusterd.h"

#define LIST_TIMEOUT	5.0	/* for one master's answer */

struct entry {
	char		 name[NAME_MAX_LEN + 8];
	char		*dir;		/* the runtime directory */
	uid_t		 uid;		/* its owner */
	const char	*state;		/* running ..., stale, no answer */
	long		 pid;		/* 0: unknown */
	struct json	*status;	/* the master's answer, or NULL */
	char		 why[PATH_MAX + 128];	/* stale: how we know */
};

static struct {
	struct entry	*v;
	int		 n;
	int		 err;		/* a directory we could not read */
} ls;

void
list_fmt_duration(double s, char *buf, size_t len)
{
	long t = s < 0 || isnan(s) || s > 1e12 ? 0 : (long)s;

	if (t < 60)
		snprintf(buf, len, "%lds", t);
	else if (t < 3600)
		snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
	else if (t < 86400)
		snprintf(buf, len, "%ldh%02ldm", t / 3600, t % 3600 / 60);
	else
		snprintf(buf, len, "%ldd%02ldh", t / 86400, t % 86400 / 3600);
}

void
list_fmt_size(uint64_t b, char *buf, size_t len)
{
	if (b == 0)
		snprintf(buf, len, "-");
	else if (b < 1024 * 1024)
		snprintf(buf, len, "%.0fK", (double)b / 1024);
	else if (b < 1024ULL * 1024 * 1024)
		snprintf(buf, len, "%.1fM", (double)b / (1024 * 1024));
	else
		snprintf(buf, len, "%.2fG", (double)b / (1024 * 1024 * 1024));
}

/* The pid in a pidfile, and whether a process holds its lock (a master
 * holds it as long as it lives): 1 held, 0 not, -errno no pidfile. */
static int
pidfile_look(const char *path, long *ret_pid)
{
	char buf[32];
	ssize_t n;
	int fd, held;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK)) == -1)
		return -errno;
	held = flock(fd, LOCK_SH | LOCK_NB) == -1 && errno == EWOULDBLOCK;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	*ret_pid = atol(buf) > 0 ? atol(buf) : 0;
	return held;
}

/* One runtime directory: what is there. */
static void
look(const char *base, const char *name, uid_t uid)
{
	char sock[PATH_MAX], pidf[PATH_MAX], *text;
	struct entry e, *v;
	struct stat st;
	pid_t peer;
	long pid = 0;
	int held, r, code;

	memset(&e, 0, sizeof e);
	if (value_name(name) < 0 || asprintf(&e.dir, "%s/%s", base, name) < 0)
		return;
	snprintf(e.name, sizeof e.name, "%s", name);
	if (lstat(e.dir, &st) == -1 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != uid)
		goto skip;	/* not a master's: it makes its own */
	e.uid = uid;
	snprintf(sock, sizeof sock, "%s/control.sock", e.dir);
	snprintf(pidf, sizeof pidf, "%s/master.pid", e.dir);
	held = pidfile_look(pidf, &pid);
	/* Only a socket of the directory's owner, answered by that owner: a
	 * user's directory must not make root talk to another daemon (a
	 * symlink to its socket) nor believe a process of someone else. */
	if (lstat(sock, &st) == -1)
		r = -errno;
	else if (!S_ISSOCK(st.st_mode) || st.st_uid != uid)
		r = -EPERM;
	else
		r = control_query(sock, "status json", uid, true,
		    LIST_TIMEOUT, &text, &code, &peer);
	if (r == 0) {
		if (code == EXIT_OK && json_parse(text, strlen(text),
		    &e.status) == 0 && e.status->type == JSON_OBJECT) {
			e.state = json_str(e.status, "state");
			if (e.state == NULL)
				e.state = "running";
			if (!json_long(e.status, "master_pid", &e.pid))
				e.pid = (long)peer;
		} else {
			json_free(e.status);
			e.status = NULL;
			e.state = "no answer";
			e.pid = peer;
			snprintf(e.why, sizeof e.why, "its master's status "
			    "could not be read");
		}
		free(text);
	} else if (held == 1) {
		/* The lock says a master lives: starting, or not answering. */
		e.state = "no answer";
		e.pid = pid;
		snprintf(e.why, sizeof e.why, "master %ld holds the pidfile "
		    "but %s: %s", pid, sock, strerror(-r));
	} else if (held == -ENOENT && (r == -ENOENT || r == -ENOTDIR)) {
		goto skip;	/* nothing left: it stopped cleanly */
	} else {
		e.state = "stale";
		e.pid = pid;
		if (pid > 0 && kill((pid_t)pid, 0) == -1 && errno == ESRCH)
			snprintf(e.why, sizeof e.why, "master %ld is gone",
			    pid);
		else if (r == -EPERM)
			snprintf(e.why, sizeof e.why, "%s is not a socket "
			    "of uid %u nor answered by it", sock,
			    (unsigned)uid);
		else if (held == 0)
			snprintf(e.why, sizeof e.why, "nobody holds the "
			    "pidfile's lock");
		else
			snprintf(e.why, sizeof e.why, "no master at %s: %s",
			    sock, strerror(-r));
	}
	if ((v = realloc(ls.v, (size_t)(ls.n + 1) * sizeof *v)) == NULL)
		goto skip;
	ls.v = v;
	ls.v[ls.n++] = e;
	return;
skip:
	json_free(e.status);
	free(e.dir);
}

/* Every cluster directory under base (its clusterd/ or clusterd-UID/).
 * uid: whose they must be; (uid_t)-1: the owner of base. */
static void
scan(const char *base, uid_t uid)
{
	struct dirent *d;
	struct stat st;
	DIR *dir;

	if (lstat(base, &st) == -1 || !S_ISDIR(st.st_mode))
		return;
	if (uid == (uid_t)-1)
		uid = st.st_uid;
	if (st.st_uid != uid && st.st_uid != 0)
		return;
	if ((dir = opendir(base)) == NULL) {
		if (errno != ENOENT)
			ls.err = errno;
		return;
	}
	while ((d = readdir(dir)) != NULL)
		if (d->d_name[0] != '.')
			look(base, d->d_name, uid);
	closedir(dir);
}

/* Where runtime directories are: /run/clusterd/NAME for root, else
 * $XDG_RUNTIME_DIR/clusterd/NAME or /tmp/clusterd-UID/NAME. */
static void
scan_all(void)
{
	char path[PATH_MAX];
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct dirent *d;
	DIR *dir;
	uid_t me = geteuid();

	if (me != 0) {
		if (xdg != NULL && xdg[0] == '/') {
			snprintf(path, sizeof path, "%s/clusterd", xdg);
			scan(path, me);
		}
		snprintf(path, sizeof path, "/tmp/clusterd-%u", (unsigned)me);
		scan(path, me);
		return;
	}
	scan("/run/clusterd", 0);
	if ((dir = opendir("/run/user")) != NULL) {
		while ((d = readdir(dir)) != NULL) {
			if (d->d_name[0] == '.')
				continue;
			snprintf(path, sizeof path, "/run/user/%s/clusterd",
			    d->d_name);
			scan(path, (uid_t)-1);
		}
		closedir(dir);
	}
	if ((dir = opendir("/tmp")) != NULL) {
		while ((d = readdir(dir)) != NULL) {
			char *end;
			unsigned long u;

			if (strncmp(d->d_name, "clusterd-", 9) != 0)
				continue;
			u = strtoul(d->d_name + 9, &end, 10);
			if (end == d->d_name + 9 || *end != '\0')
				continue;
			snprintf(path, sizeof path, "/tmp/%s", d->d_name);
			scan(path, (uid_t)u);
		}
		closedir(dir);
	}
}

static int
by_name(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : strcmp(x->dir, y->dir);
}

static const char *
user_name(uid_t uid, char *buf, size_t len)
{
	struct passwd *pw = getpwuid(uid);

	if (pw != NULL && value_name(pw->pw_name) == 0)
		snprintf(buf, len, "%s", pw->pw_name);
	else
		snprintf(buf, len, "%u", (unsigned)uid);
	return buf;
}

/* Printable ASCII only, for a terminal. */
static const char *
safe(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	for (; s != NULL && *s != '\0' && o + 1 < len; s++)
		buf[o++] = *s >= 0x20 && *s < 0x7f ? *s : '?';
	buf[o] = '\0';
	return o ? buf : "-";
}

static void
print_text(struct buf *b)
{
	char user[40], ready[32], gen[16], up[32], pid[16], file[PATH_MAX];
	char state[16];
	double r, w, g, u;
	int i, nw = 16;

	for (i = 0; i < ls.n; i++)	/* the names line up, however long */
		if ((int)strlen(ls.v[i].name) > nw)
			nw = (int)strlen(ls.v[i].name);
	buf_printf(b, "%-*s %-8s %-8s %-9s %-7s %-4s %-8s %s\n", nw, "NAME",
	    "USER", "MASTER", "STATE", "READY", "GEN", "UPTIME", "FILE");
	for (i = 0; i < ls.n; i++) {
		const struct entry *e = &ls.v[i];
		const struct json *s = e->status;

		snprintf(pid, sizeof pid, e->pid > 0 ? "%ld" : "-", e->pid);
		if (s != NULL && json_num(s, "ready", &r) &&
		    json_num(s, "wanted", &w))
			snprintf(ready, sizeof ready, "%.0f/%.0f", r, w);
		else
			snprintf(ready, sizeof ready, "-");
		if (s != NULL && json_num(s, "generation", &g))
			snprintf(gen, sizeof gen, "%.0f", g);
		else
			snprintf(gen, sizeof gen, "-");
		if (s != NULL && json_num(s, "uptime_s", &u))
			list_fmt_duration(u, up, sizeof up);
		else
			snprintf(up, sizeof up, "-");
		buf_printf(b, "%-*s %-8s %-8s %-9s %-7s %-4s %-8s ", nw, e->name,
		    user_name(e->uid, user, sizeof user), pid,
		    safe(e->state, state, sizeof state), ready, gen, up);
		if (s != NULL)
			buf_printf(b, "%s\n", safe(json_str(s, "file"), file,
			    sizeof file));
		else
			buf_printf(b, "(%s: %s)\n", safe(e->dir, file,
			    sizeof file), e->why);
	}
}

static void
num_or_null(struct buf *b, const char *key, const struct json *s)
{
	double v;

	if (s != NULL && json_num(s, key, &v))
		buf_printf(b, ",\"%s\":%.15g", key, v);
	else
		buf_printf(b, ",\"%s\":null", key);
}

/* Field names are a contract: only ever add, never rename. */
static void
print_json(struct buf *b)
{
	char user[40];
	int i;

	buf_append(b, "[", 1);
	for (i = 0; i < ls.n; i++) {
		const struct entry *e = &ls.v[i];
		const struct json *s = e->status;

		buf_printf(b, "%s{\"name\":", i ? "," : "");
		json_buf_str(b, e->name);
		buf_printf(b, ",\"user\":");
		json_buf_str(b, user_name(e->uid, user, sizeof user));
		buf_printf(b, ",\"uid\":%u,\"runtime_dir\":", (unsigned)e->uid);
		json_buf_str(b, e->dir);
		buf_printf(b, ",\"state\":");
		json_buf_str(b, e->state);
		buf_printf(b, ",\"stale\":%s", strcmp(e->state, "stale") == 0 ?
		    "true" : "false");
		if (e->pid > 0)
			buf_printf(b, ",\"master_pid\":%ld", e->pid);
		else
			buf_printf(b, ",\"master_pid\":null");
		num_or_null(b, "ready", s);
		num_or_null(b, "wanted", s);
		num_or_null(b, "generation", s);
		num_or_null(b, "uptime_s", s);
		buf_printf(b, ",\"file\":");
		json_buf_str(b, s != NULL ? json_str(s, "file") : NULL);
		buf_printf(b, ",\"reason\":");
		json_buf_str(b, e->why[0] ? e->why : NULL);
		buf_append(b, "}", 1);
	}
	buf_append(b, "]\n", 2);
}

int
list_run(bool json)
{
	struct buf b = { 0 };
	int i, code;

	scan_all();
	if (ls.n > 1)
		qsort(ls.v, (size_t)ls.n, sizeof *ls.v, by_name);
	if (json)
		print_json(&b);
	else
		print_text(&b);
	code = b.overflow ? EXIT_SYSTEM : EXIT_OK;
	if (b.len > 0 && fwrite(b.data, 1, b.len, stdout) != b.len)
		code = EXIT_SYSTEM;
	if (fflush(stdout) != 0)
		code = EXIT_SYSTEM;
	if (ls.err != 0) {
		fprintf(stderr, "clusterd: list: a runtime directory could "
		    "not be read: %s\n", strerror(ls.err));
		code = EXIT_SYSTEM;
	}
	for (i = 0; i < ls.n; i++) {
		json_free(ls.v[i].status);
		free(ls.v[i].dir);
	}
	free(ls.v);
	buf_free(&b);
	return code;
}
