/*
 * test_config.c - config.c: the pure parsers (durations, sizes, signals,
 * addresses, command words), every file of tests/conf/good (must load) and
 * tests/conf/bad (must fail with the message on its first line), inih's
 * line-length boundary, defaults, reload rules, and cgroup CPU quotas.
 *
 * usage: test_config [CORPUS_DIR]   (default tests/conf, run from the repo)
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "clusterd.h"
#include "check.h"

static char	 tmpdir[] = "/tmp/test_config.XXXXXX";

static bool
streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Write text to tmpdir/name; returns the path (static buffer). */
static const char *
write_file(const char *name, const char *text)
{
	static char	 path[512];
	FILE		*fp;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	if ((fp = fopen(path, "w")) == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, fp);
	fclose(fp);
	return path;
}

/* Load text as tmpdir/name; NULL (with err) on failure. */
static struct config *
load_text(const char *name, const char *text, int flags, char *err,
    size_t errlen)
{
	struct config	*cfg = NULL;

	err[0] = '\0';
	if (config_load(write_file(name, text), flags, &cfg, err, errlen) != 0)
		return NULL;
	return cfg;
}

/* ------------------------------------------------------------------ */

static void
test_durations(void)
{
	static const struct { const char *s; double v; } good[] = {
		{ "250ms", 0.25 }, { "10s", 10 }, { "2m", 120 }, { "1h", 3600 },
		{ "1.5s", 1.5 }, { "0", 0 }, { "5", 5 }, { ".5s", 0.5 },
		{ "100ms", 0.1 }, { "0.25h", 900 }, { "1.5", 1.5 },
		{ "0ms", 0 }, { "86400", 86400 },
	};
	static const char *bad[] = {
		"", "s", "ms", "-1", "-1s", "1.", "1x", "10 s", " 10s", "10s ",
		"1e3", "inf", "nan", "0x10", "+5", "1S", "10sec", "1m30s",
		"99999999999999999999", "1.0000000001", "1d", "1..5",
	};
	size_t	 i;
	double	 d;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		d = -1;
		CHECK(value_duration(good[i].s, &d) == 0 &&
		    fabs(d - good[i].v) < 1e-9, "duration '%s': got %g, "
		    "expected %g", good[i].s, d, good[i].v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d = -42;
		CHECK(value_duration(bad[i], &d) == -EINVAL && d == -42,
		    "duration '%s' accepted (%g)", bad[i], d);
	}
}

static void
test_sizes(void)
{
	static const struct { const char *s; uint64_t v; } good[] = {
		{ "0", 0 }, { "1024", 1024 }, { "1K", 1024 }, { "1k", 1024 },
		{ "1KB", 1024 }, { "1kb", 1024 }, { "2M", 2 << 20 },
		{ "512MB", 512ULL << 20 }, { "2G", 2ULL << 30 },
		{ "1.5G", 3ULL << 29 }, { "0.5k", 512 }, { "1gB", 1ULL << 30 },
	};
	static const char *bad[] = {
		"", "K", "-1", "1X", "1KiB", "1 K", "1T", "1KBB", "0x10",
		"99999999999G", "1e6", "M512",
	};
	size_t		 i;
	uint64_t	 v;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 7;
		CHECK(value_size(good[i].s, &v) == 0 &&
		    v == good[i].v, "size '%s': got %llu, expected %llu",
		    good[i].s, (unsigned long long)v,
		    (unsigned long long)good[i].v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 7;
		CHECK(value_size(bad[i], &v) == -EINVAL && v == 7,
		    "size '%s' accepted (%llu)", bad[i],
		    (unsigned long long)v);
	}
}

static void
test_signals(void)
{
	static const struct { const char *s; int v; } good[] = {
		{ "TERM", SIGTERM }, { "SIGTERM", SIGTERM }, { "term", SIGTERM },
		{ "sigint", SIGINT }, { "15", SIGTERM }, { "QUIT", SIGQUIT },
		{ "HUP", SIGHUP }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
		{ "KILL", SIGKILL }, { "WINCH", SIGWINCH }, { "9", SIGKILL },
	};
	static const char *bad[] = {
		"", "TERMINATE", "0", "65", "-15", "SIG", "15x", "SIGSIGTERM",
		" TERM",
	};
	size_t	 i;
	int	 s, n;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		s = -1;
		CHECK(value_signal(good[i].s, &s) == 0 &&
		    s == good[i].v, "signal '%s': got %d, expected %d",
		    good[i].s, s, good[i].v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = -1;
		CHECK(value_signal(bad[i], &s) == -EINVAL && s == -1,
		    "signal '%s' accepted (%d)", bad[i], s);
	}
	CHECK(value_signal("34", &s) == 0 && s == 34, "RT signal 34");
	CHECK(streq(value_signame(SIGTERM), "TERM"), "signame TERM");
	CHECK(streq(value_signame(SIGQUIT), "QUIT"), "signame QUIT");
	CHECK(streq(value_signame(34), "34"), "signame 34: %s",
	    value_signame(34));
	/* Every named signal round-trips through its name. */
	for (n = 1; n < 32; n++) {
		s = -1;
		CHECK(value_signal(value_signame(n), &s) == 0 &&
		    s == n, "signal %d: name '%s' parses to %d", n,
		    value_signame(n), s);
	}
}

static void
check_inet(const char *s, const char *base, int family, const char *host,
    int port, const char *path)
{
	struct config_listen	 l;
	char			 buf[INET6_ADDRSTRLEN] = "";
	int			 p = 0;

	memset(&l, 0, sizeof l);
	if (value_address(s, base, &l, NULL) != 0) {
		CHECK(0, "address '%s' rejected", s);
		return;
	}
	CHECK(streq(l.address, s), "address '%s': as written '%s'", s,
	    l.address);
	CHECK(l.family == family && l.addr.ss_family == family,
	    "address '%s': family %d, expected %d", s, l.family, family);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&l.addr;

		inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
		p = ntohs(sin->sin_port);
		CHECK(l.addrlen == sizeof(*sin), "address '%s': addrlen", s);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&l.addr;

		inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
		p = ntohs(sin6->sin6_port);
		CHECK(l.addrlen == sizeof(*sin6), "address '%s': addrlen", s);
	} else {
		struct sockaddr_un *sun = (struct sockaddr_un *)&l.addr;

		CHECK(streq(l.path, path) && streq(sun->sun_path, path),
		    "address '%s': path '%s', expected '%s'", s, l.path, path);
		CHECK(l.addrlen == offsetof(struct sockaddr_un, sun_path) +
		    strlen(path) + 1, "address '%s': addrlen", s);
	}
	if (family != AF_UNIX) {
		CHECK(streq(buf, host) && p == port, "address '%s': got "
		    "%s port %d, expected %s port %d", s, buf, p, host, port);
		CHECK(l.path == NULL, "address '%s': path set", s);
	}
	free(l.address);
	free(l.path);
}

static void
test_addresses(void)
{
	static const char *bad[] = {
		"", "8080", ":0", ":65536", ":80x", ":-1", "1.2.3.4:",
		"::1:80", "[::1]80", "[::1", "[::1]:", "unix:", "unix:@abs",
		"256.0.0.1:80", "1.2.3:80", "[1.2.3.4]:80", "[::g]:80",
		"127.0.0.1:http",
	};
	struct config_listen	 l, zero;
	char			 longpath[160];
	size_t			 i;

	check_inet(":8080", NULL, AF_INET, "0.0.0.0", 8080, NULL);
	check_inet("127.0.0.1:80", NULL, AF_INET, "127.0.0.1", 80, NULL);
	check_inet("0.0.0.0:65535", NULL, AF_INET, "0.0.0.0", 65535, NULL);
	check_inet("[::1]:443", NULL, AF_INET6, "::1", 443, NULL);
	check_inet("[::]:8080", NULL, AF_INET6, "::", 8080, NULL);
	check_inet("localhost:8080", NULL, AF_INET, "127.0.0.1", 8080, NULL);
	check_inet("unix:/tmp/a.sock", "/srv/x", AF_UNIX, NULL, 0,
	    "/tmp/a.sock");
	check_inet("unix:rel/a.sock", "/srv/x", AF_UNIX, NULL, 0,
	    "/srv/x/rel/a.sock");
	check_inet("unix:../a/./b.sock", "/srv/x", AF_UNIX, NULL, 0,
	    "/srv/a/b.sock");
	check_inet("unix://tmp//c.sock", "/srv/x", AF_UNIX, NULL, 0,
	    "/tmp/c.sock");

	memset(&zero, 0x5a, sizeof zero);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(&l, &zero, sizeof l);
		CHECK(value_address(bad[i], "/srv", &l, NULL) == -EINVAL &&
		    memcmp(&l, &zero, sizeof l) == 0,
		    "address '%s' accepted or ret touched", bad[i]);
	}
	/* sun_path holds 107 bytes and a NUL. */
	memset(longpath, 0, sizeof longpath);
	memcpy(longpath, "unix:/", 6);
	memset(longpath + 6, 'p', 106);
	memset(&l, 0, sizeof l);
	CHECK(value_address(longpath, NULL, &l, NULL) == 0 &&
	    strlen(l.path) == 107, "107-byte unix path rejected");
	free(l.address);
	free(l.path);
	longpath[6 + 106] = 'p';
	memset(&l, 0, sizeof l);
	CHECK(value_address(longpath, NULL, &l, NULL) == -EINVAL,
	    "108-byte unix path accepted");
}

/* words: expected argv, NULL-terminated. */
static void
check_split(const char *s, const char *const *words)
{
	char	**argv = NULL;
	int	  i;

	if (value_command(s, &argv, NULL) != 0) {
		CHECK(0, "command \"%s\" rejected", s);
		return;
	}
	for (i = 0; words[i] != NULL && argv[i] != NULL; i++)
		CHECK(streq(argv[i], words[i]), "command \"%s\": word %d is "
		    "\"%s\", expected \"%s\"", s, i, argv[i], words[i]);
	CHECK(words[i] == NULL && argv[i] == NULL, "command \"%s\": %s words",
	    s, words[i] == NULL ? "too many" : "too few");
	config_free_argv(argv);
}

#define W(...)	((const char *const[]){ __VA_ARGS__, NULL })

static void
test_split(void)
{
	static const char *bad[] = {
		"", "   ", "\t", "'abc", "\"abc", "abc\\", "a 'b", "\"a\\\"",
		"a\"b'c\"'",
	};
	char	**argv;
	size_t	  i;

	check_split("a b  c", W("a", "b", "c"));
	check_split("  lead trail  ", W("lead", "trail"));
	check_split("\t tab\tsep", W("tab", "sep"));
	check_split("'a b' \"c d\"", W("a b", "c d"));
	check_split("a\\ b", W("a b"));
	check_split("\"a\\\"b\"", W("a\"b"));
	check_split("'a\\b'", W("a\\b"));
	check_split("\"a\\b\"", W("a\\b"));
	check_split("\"\\$HOME \\\\ \\`\"", W("$HOME \\ `"));
	check_split("$HOME *.js > out 2>&1", W("$HOME", "*.js", ">", "out",
	    "2>&1"));
	check_split("''", W(""));
	check_split("a '' b", W("a", "", "b"));
	check_split("a''b", W("ab"));
	check_split("x'y z'w", W("xy zw"));
	check_split("'it'\\''s'", W("it's"));
	check_split("\"'\" '\"'", W("'", "\""));
	check_split("/bin/sh -c 'exec node server.js'",
	    W("/bin/sh", "-c", "exec node server.js"));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		argv = (char **)0x1;
		CHECK(value_command(bad[i], &argv, NULL) == -EINVAL &&
		    argv == (char **)0x1, "command \"%s\" accepted", bad[i]);
	}
}

/* ------------------------------------------------------------------ */
/* The corpus                                                         */

static int
corpus_filter(const struct dirent *d)
{
	size_t	 n = strlen(d->d_name);

	return n > 5 && strcmp(d->d_name + n - 5, ".conf") == 0;
}

static void
test_good_file(const char *path)
{
	struct config	*cfg = NULL;
	char		 err[1024];

	err[0] = '\0';
	CHECK(config_load(path, CONFIG_FULL, &cfg, err, sizeof err) == 0,
	    "good %s: %s", path, err);
	config_free(cfg);
	cfg = NULL;
	CHECK(config_load(path, CONFIG_CLIENT, &cfg, err, sizeof err) == 0,
	    "good %s (client): %s", path, err);
	config_free(cfg);
}

/*
 * Line 1: "; expect: TEXT": the error is "PATH:TEXT" when TEXT starts with
 * a line number, else "PATH: TEXT". Line 2, optional: "; client: ok" (the
 * CONFIG_CLIENT read succeeds) or "; client: same" (fails the same way).
 */
static void
test_bad_file(const char *path)
{
	struct config	*cfg = (struct config *)0x1;
	FILE		*fp;
	char		 l1[8192] = "", l2[256] = "", want[9000], err[9000];
	int		 rc;

	if ((fp = fopen(path, "r")) == NULL) {
		CHECK(0, "%s: %s", path, strerror(errno));
		return;
	}
	if (fgets(l1, sizeof l1, fp) == NULL || fgets(l2, sizeof l2, fp) ==
	    NULL)
		l2[0] = '\0';
	fclose(fp);
	l1[strcspn(l1, "\n")] = '\0';
	l2[strcspn(l2, "\n")] = '\0';
	if (strncmp(l1, "; expect: ", 10) != 0) {
		CHECK(0, "%s: first line is not '; expect: ...'", path);
		return;
	}
	snprintf(want, sizeof want, "%s:%s%s", path,
	    l1[10] >= '0' && l1[10] <= '9' ? "" : " ", l1 + 10);
	err[0] = '\0';
	rc = config_load(path, CONFIG_FULL, &cfg, err, sizeof err);
	CHECK(rc == EXIT_CONFIG && cfg == (struct config *)0x1,
	    "bad %s: loaded (rc %d)", path, rc);
	CHECK(streq(err, want), "bad %s:\n  got      %s\n  expected %s", path,
	    err, want);

	if (strcmp(l2, "; client: ok") == 0) {
		cfg = NULL;
		rc = config_load(path, CONFIG_CLIENT, &cfg, err, sizeof err);
		CHECK(rc == 0 && cfg != NULL && cfg->name != NULL &&
		    cfg->control != NULL, "bad %s: client read failed: %s",
		    path, err);
		config_free(cfg);
	} else if (strcmp(l2, "; client: same") == 0) {
		rc = config_load(path, CONFIG_CLIENT, &cfg, err, sizeof err);
		CHECK(rc == EXIT_CONFIG && streq(err, want), "bad %s: client "
		    "got '%s'", path, err);
	}
}

static int
test_corpus(const char *dir, const char *kind, void (*fn)(const char *))
{
	struct dirent	**list;
	char		  path[PATH_MAX + 64];
	int		  n, i;

	snprintf(path, sizeof path, "%s/%s", dir, kind);
	if ((n = scandir(path, &list, corpus_filter, alphasort)) < 0) {
		CHECK(0, "%s: %s", path, strerror(errno));
		return 0;
	}
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s/%s", dir, kind,
		    list[i]->d_name);
		fn(path);
		free(list[i]);
	}
	free(list);
	return n;
}

/* ------------------------------------------------------------------ */
/* Whole files: defaults, values, paths                               */

static void
test_defaults(const char *dir)
{
	struct config	*c = NULL;
	char		 path[PATH_MAX + 64], err[1024], want[PATH_MAX + 128];

	snprintf(path, sizeof path, "%s/good/minimal.conf", dir);
	if (config_load(path, CONFIG_FULL, &c, err, sizeof err) != 0) {
		CHECK(0, "minimal.conf: %s", err);
		return;
	}
	CHECK(c->file[0] == '/' && strstr(c->file, "/good/minimal.conf") &&
	    access(c->file, R_OK) == 0, "file '%s'", c->file);
	CHECK(c->dir[0] == '/' && strlen(c->dir) + strlen("/minimal.conf") ==
	    strlen(c->file) && strncmp(c->file, c->dir, strlen(c->dir)) == 0,
	    "dir '%s'", c->dir);
	CHECK(streq(c->name, "minimal"), "name '%s'", c->name);
	CHECK(c->workers_auto && c->workers == cpus_available(),
	    "workers %d auto %d", c->workers, c->workers_auto);
	CHECK(c->user == NULL && c->group == NULL && c->uid == geteuid() &&
	    c->gid == getegid(), "user/group");
	CHECK(c->log == NULL && !c->log_set, "log");
	CHECK(c->stop_delay == 0, "stop_delay %g", c->stop_delay);
	if (geteuid() == 0)
		CHECK(streq(c->runtime_dir, "/run/clusterd/minimal"),
		    "runtime_dir '%s'", c->runtime_dir);
	snprintf(want, sizeof want, "%s/control.sock", c->runtime_dir);
	CHECK(streq(c->control, want), "control '%s'", c->control);
	snprintf(want, sizeof want, "%s/master.pid", c->runtime_dir);
	CHECK(streq(c->pidfile, want), "pidfile '%s'", c->pidfile);
	CHECK(c->nlistens == 1, "nlistens %d", c->nlistens);
	if (c->nlistens == 1) {
		struct config_listen *l = &c->listens[0];

		CHECK(streq(l->name, "default") && l->backlog == 511 &&
		    l->sockets == LISTEN_PER_WORKER && l->socket_mode == -1 &&
		    !l->has_socket_group && l->line == 3 &&
		    l->family == AF_INET && l->path == NULL,
		    "listen defaults: name %s backlog %d sockets %d mode %d "
		    "line %d", l->name, l->backlog, l->sockets,
		    l->socket_mode, l->line);
	}
	CHECK(streq(c->command, "/bin/true") && streq(c->argv[0], "/bin/true")
	    && c->argv[1] == NULL, "command");
	CHECK(c->directory == NULL && c->env == NULL && c->nenv == 0,
	    "directory/env");
	CHECK(c->ready == READY_DELAY && c->ready_delay == 1 &&
	    c->ready_timeout == 30 && c->stop_signal == SIGTERM &&
	    c->stop_timeout == 10 && fabs(c->restart_delay - 0.1) < 1e-9 &&
	    c->restart_delay_max == 30 && c->watchdog == 0 &&
	    c->max_memory == 0, "worker defaults");
	config_free(c);
}

static void
test_full(const char *dir)
{
	struct config	*c = NULL;
	char		 path[PATH_MAX + 64], err[1024], want[PATH_MAX + 128];
	const char	*const argv[] = { "/usr/bin/env", "NAME=a b", "x y",
	    "z w", NULL };
	int		 i;

	snprintf(path, sizeof path, "%s/good/full.conf", dir);
	if (config_load(path, CONFIG_FULL, &c, err, sizeof err) != 0) {
		CHECK(0, "full.conf: %s", err);
		return;
	}
	CHECK(streq(c->name, "full-app") && c->workers == 3 &&
	    !c->workers_auto, "name/workers");
	CHECK(streq(c->user, "nobody") && c->uid == 65534 &&
	    streq(c->group, "nogroup") && c->gid == 65534, "user/group");
	snprintf(want, sizeof want, "%s/run/ctl.sock", c->dir);
	CHECK(streq(c->control, want), "control '%s'", c->control);
	CHECK(streq(c->pidfile, "/tmp/clusterd-full/master.pid"), "pidfile");
	snprintf(want, sizeof want, "%.*s/logs/full.log",
	    (int)(strrchr(c->dir, '/') - c->dir), c->dir);
	CHECK(streq(c->log, want) && c->log_set, "log '%s', expected '%s'",
	    c->log, want);
	CHECK(c->nlistens == 3, "nlistens %d", c->nlistens);
	if (c->nlistens == 3) {
		CHECK(streq(c->listens[0].name, "default") &&
		    c->listens[0].backlog == 1024 &&
		    c->listens[0].sockets == LISTEN_SHARED, "listen 0");
		CHECK(streq(c->listens[1].name, "admin") &&
		    c->listens[1].family == AF_INET6 &&
		    c->listens[1].sockets == LISTEN_PER_WORKER, "listen 1");
		snprintf(want, sizeof want, "%s/sock/app.sock", c->dir);
		CHECK(streq(c->listens[2].name, "local") &&
		    c->listens[2].family == AF_UNIX &&
		    streq(c->listens[2].path, want) &&
		    c->listens[2].sockets == LISTEN_SHARED &&
		    c->listens[2].socket_mode == 0660 &&
		    c->listens[2].has_socket_group &&
		    c->listens[2].socket_gid == 65534, "listen 2");
	}
	for (i = 0; argv[i] != NULL; i++)
		CHECK(streq(c->argv[i], argv[i]), "argv[%d] '%s'", i,
		    c->argv[i]);
	CHECK(c->argv[i] == NULL, "argc");
	CHECK(streq(c->directory, c->dir), "directory '%s'", c->directory);
	CHECK(c->nenv == 3 && streq(c->env[0], "NODE_ENV=production") &&
	    streq(c->env[1], "EMPTY=") && streq(c->env[2], "EQ=a=b") &&
	    c->env[3] == NULL, "env");
	CHECK(c->ready == READY_NOTIFY && c->ready_delay == 1.5 &&
	    c->ready_timeout == 120 && c->stop_signal == SIGQUIT &&
	    c->stop_timeout == 0.25 && c->restart_delay == 1 &&
	    c->restart_delay_max == 3600 && c->watchdog == 5 &&
	    c->max_memory == 512ULL << 20, "worker values");
	config_free(c);
}

static void
test_inih_rules(const char *dir)
{
	struct config	*c = NULL;
	char		 path[PATH_MAX + 64], err[1024];
	int		 i;

	snprintf(path, sizeof path, "%s/good/comments.conf", dir);
	if (config_load(path, CONFIG_FULL, &c, err, sizeof err) == 0) {
		CHECK(c->workers == 2 && streq(c->name, "comments"),
		    "comments: workers %d", c->workers);
		CHECK(streq(c->argv[2], "echo one ; exec echo two;three"),
		    "comments: \\; in command: '%s'", c->argv[2]);
		CHECK(c->nenv == 3 && streq(c->env[0], "SEMI=a;b") &&
		    streq(c->env[1], "HASH=#not-a-comment") &&
		    streq(c->env[2], "ESC=x;y"), "comments: env");
		config_free(c);
	} else
		CHECK(0, "comments.conf: %s", err);

	/* Over inih's 200 bytes, read whole, with its comment removed. */
	snprintf(path, sizeof path, "%s/good/long_command.conf", dir);
	c = NULL;
	if (config_load(path, CONFIG_FULL, &c, err, sizeof err) == 0) {
		for (i = 0; c->argv[i] != NULL; i++)
			;
		CHECK(i == 17 && strlen(c->command) > 300 &&
		    streq(c->argv[14], "--option-13=value-13") &&
		    streq(c->argv[15], ";") && streq(c->argv[16], "end"),
		    "long command: %d words", i);
		CHECK(c->nenv == 1 && streq(c->env[0], "AFTER=long-line"),
		    "line after the long one");
		config_free(c);
	} else
		CHECK(0, "long_command.conf: %s", err);

	snprintf(path, sizeof path, "%s/good/crlf.conf", dir);
	c = NULL;
	if (config_load(path, CONFIG_FULL, &c, err, sizeof err) == 0) {
		CHECK(streq(c->argv[1], "crlf") && c->argv[2] == NULL &&
		    streq(c->listens[0].address, "localhost:8080"), "crlf");
		config_free(c);
	} else
		CHECK(0, "crlf.conf: %s", err);
}

/*
 * Every length around inih's 200-byte buffer and around our own limit:
 * the command comes back whole, or (over 4096) the error says so.
 */
static void
test_line_lengths(void)
{
	static const int lens[] = { 190, 196, 197, 198, 199, 200, 201, 202,
	    210, 255, 256, 1000, 4095, 4096 };
	struct config	*c;
	char		*text, err[1024], want[256];
	const char	*head = "[listen]\naddress = :80\n[worker]\n";
	const char	*prefix = "command = /bin/echo ";
	size_t		 i, hl = strlen(head), pl = strlen(prefix);
	int		 len;

	text = malloc(5000);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		len = lens[i];
		snprintf(text, 5000, "%s%s", head, prefix);
		memset(text + hl + pl, 'x', (size_t)len - pl);
		snprintf(text + hl + (size_t)len, 5000 - hl - (size_t)len,
		    "\nenv = A=1\n");
		c = load_text("len.conf", text, CONFIG_FULL, err, sizeof err);
		CHECK(c != NULL && c->argv[1] != NULL &&
		    strlen(c->argv[1]) == (size_t)len - pl &&
		    c->argv[2] == NULL && c->nenv == 1,
		    "line of %d bytes: %s", len, c ? "cut" : err);
		config_free(c);
	}
	len = 4097;
	snprintf(text, 5000, "%s%s", head, prefix);
	memset(text + hl + pl, 'x', (size_t)len - pl);
	text[hl + (size_t)len] = '\0';
	c = load_text("len.conf", text, CONFIG_FULL, err, sizeof err);
	snprintf(want, sizeof want, "%s/len.conf:4: line too long (4097 "
	    "bytes, at most 4096)", tmpdir);
	CHECK(c == NULL && streq(err, want), "4097 bytes: %s", err);
	free(text);
}

/*
 * The same value through inih (short line) and through our long-line path
 * (padded comment) must give the same result.
 */
static void
test_long_equals_short(void)
{
	static const char *values[] = {
		"/bin/echo a ; comment",
		"/bin/echo a\t; tab comment",
		"/bin/echo a;b",
		"/bin/echo a \\; b",
		"/bin/echo 'x;y' \"p;q\" \"r \\; s\"",
		"/bin/echo trailing   ",
		"/bin/echo =:= : =",
		"/bin/echo ;;",
	};
	struct config	*s, *l;
	char		 text[2048], err[1024], pad[400];
	size_t		 i;
	int		 j;

	memset(pad, 'p', sizeof pad - 1);
	pad[sizeof pad - 1] = '\0';
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		snprintf(text, sizeof text, "[listen]\naddress = :80\n"
		    "[worker]\ncommand = %s\n", values[i]);
		s = load_text("short.conf", text, CONFIG_FULL, err, sizeof err);
		CHECK(s != NULL, "short '%s': %s", values[i], err);
		snprintf(text, sizeof text, "[listen]\naddress = :80\n"
		    "[worker]\ncommand = %s ; %s\n", values[i], pad);
		l = load_text("long.conf", text, CONFIG_FULL, err, sizeof err);
		CHECK(l != NULL, "long '%s': %s", values[i], err);
		if (s != NULL && l != NULL) {
			CHECK(streq(s->command, l->command), "'%s': short "
			    "'%s' long '%s'", values[i], s->command,
			    l->command);
			for (j = 0; s->argv[j] != NULL; j++)
				CHECK(streq(s->argv[j], l->argv[j]),
				    "'%s' word %d", values[i], j);
		}
		config_free(s);
		config_free(l);
	}
}

static void
test_paths(void)
{
	struct config	*c;
	char		 err[1024], sub[600], want[PATH_MAX + 128], link[600];

	/* FILE through a symlink: its own name, its directory resolved. */
	snprintf(sub, sizeof sub, "%s/real", tmpdir);
	mkdir(sub, 0755);
	write_file("real/target.conf", "[listen]\naddress = unix:s.sock\n"
	    "[worker]\ncommand = x\ndirectory = .\n");
	snprintf(link, sizeof link, "%s/app.conf", tmpdir);
	unlink(link);
	CHECK(symlink("real/target.conf", link) == 0, "symlink");
	c = NULL;
	CHECK(config_load(link, CONFIG_FULL, &c, err, sizeof err) == 0,
	    "symlink: %s", err);
	if (c != NULL) {
		CHECK(streq(c->name, "app") && streq(c->file, link) &&
		    streq(c->dir, tmpdir), "symlink: name %s file %s dir %s",
		    c->name, c->file, c->dir);
		snprintf(want, sizeof want, "%s/s.sock", tmpdir);
		CHECK(streq(c->listens[0].path, want) &&
		    streq(c->directory, tmpdir), "symlink: relative paths");
		config_free(c);
	}
	/* FILE given relative to the cwd, name without ".conf". */
	CHECK(chdir(tmpdir) == 0, "chdir");
	c = NULL;
	CHECK(config_load("real/./target.conf", CONFIG_FULL, &c, err,
	    sizeof err) == 0, "relative: %s", err);
	if (c != NULL) {
		snprintf(want, sizeof want, "%s/real/target.conf", tmpdir);
		CHECK(streq(c->file, want) && streq(c->name, "target"),
		    "relative: %s", c->file);
		config_free(c);
	}
	write_file("noext", "[listen]\naddress = :1\n[worker]\ncommand = x\n");
	c = NULL;
	CHECK(config_load("noext", CONFIG_FULL, &c, err, sizeof err) == 0 &&
	    streq(c->name, "noext"), "name without .conf: %s", err);
	config_free(c);
	c = (struct config *)0x1;
	CHECK(config_load("missing.conf", CONFIG_CLIENT, &c, err, sizeof err)
	    == EXIT_CONFIG && streq(err, "missing.conf: No such file or "
	    "directory") && c == (struct config *)0x1, "missing: %s", err);
	CHECK(config_load("real", CONFIG_FULL, &c, err, sizeof err) ==
	    EXIT_CONFIG && streq(err, "real: is a directory"),
	    "directory: %s", err);
	if (chdir("/") != 0)
		CHECK(0, "chdir /");

	/* A NUL byte is an error, not a silently shortened line. */
	snprintf(want, sizeof want, "%s/nul.conf", tmpdir);
	{
		FILE *fp = fopen(want, "w");

		fputs("[listen]\naddress = :80\n[worker]\ncommand = a", fp);
		fputc('\0', fp);
		fputs("b\n", fp);
		fclose(fp);
	}
	c = NULL;
	CHECK(config_load(want, CONFIG_FULL, &c, err, sizeof err) ==
	    EXIT_CONFIG && strstr(err, "nul.conf:4: NUL byte in line"),
	    "NUL: %s", err);
}

/* The defaults of a master that is not root, as seen by a child. */
static void
test_runtime_dirs(void)
{
	char		 path[600], err[1024], secret[600];
	struct config	*c;
	pid_t		 pid;
	int		 status, rc;

	if (geteuid() != 0) {
		printf("skip: runtime dirs of other users need root\n");
		return;
	}
	chmod(tmpdir, 0755);
	snprintf(path, sizeof path, "%s", write_file("rt.conf",
	    "[listen]\naddress = :80\n[worker]\ncommand = x\n"));
	chmod(path, 0644);
	snprintf(secret, sizeof secret, "%s", write_file("secret.conf",
	    "[cluster]\n"));
	chmod(secret, 0600);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		rc = 0;
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(99);
		setenv("XDG_RUNTIME_DIR", "/run/user/65534", 1);
		if (config_load(path, CONFIG_FULL, &c, err, sizeof err) != 0 ||
		    !streq(c->runtime_dir, "/run/user/65534/clusterd/rt") ||
		    !streq(c->control,
		    "/run/user/65534/clusterd/rt/control.sock"))
			rc |= 1;
		else
			config_free(c);
		unsetenv("XDG_RUNTIME_DIR");
		if (config_load(path, CONFIG_CLIENT, &c, err, sizeof err) != 0 ||
		    !streq(c->runtime_dir, "/tmp/clusterd-65534/rt") ||
		    !streq(c->pidfile, "/tmp/clusterd-65534/rt/master.pid"))
			rc |= 2;
		else
			config_free(c);
		setenv("XDG_RUNTIME_DIR", "relative", 1);	/* ignored */
		if (config_load(path, CONFIG_CLIENT, &c, err, sizeof err) != 0 ||
		    !streq(c->runtime_dir, "/tmp/clusterd-65534/rt"))
			rc |= 4;
		else
			config_free(c);
		if (config_load(secret, CONFIG_CLIENT, &c, err, sizeof err) !=
		    EXIT_CONFIG || strstr(err, ": Permission denied") == NULL)
			rc |= 8;
		_exit(rc);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid &&
	    WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "runtime dirs as uid 65534: status %d", status);
}

/* One side of a reload: [cluster] keys, [listen] keys, extra sections,
 * [worker] keys. */
struct side {
	const char	*cluster, *listen, *extra, *worker;
};

static struct config *
load_side(const struct side *sd, char *err, size_t errlen)
{
	char	 text[1024];

	snprintf(text, sizeof text, "[cluster]\n%s[listen]\naddress = :1\n%s"
	    "%s[worker]\ncommand = x\n%s", sd->cluster, sd->listen, sd->extra,
	    sd->worker);
	return load_text("r.conf", text, CONFIG_FULL, err, errlen);
}

/* Numeric user and group resolve to their names (for initgroups). */
static void
test_numeric_ids(void)
{
	struct config	*c;
	char		 err[1024];

	c = load_text("ids.conf", "[cluster]\nuser = 65534\ngroup = 0\n"
	    "[listen]\naddress = :1\n[worker]\ncommand = x\n", CONFIG_FULL,
	    err, sizeof err);
	CHECK(c != NULL && streq(c->user, "nobody") && c->uid == 65534 &&
	    streq(c->group, "root") && c->gid == 0, "numeric ids: %s",
	    c ? c->user : err);
	config_free(c);
}

static void
test_needs_restart(void)
{
	static const struct {
		struct side	 from, to;
		const char	*want;
	} cases[] = {
		{ { "", "", "", "" }, { "", "", "", "" }, NULL },
		{ { "", "", "", "" }, { "workers = 7\n", "", "", "" }, NULL },
		{ { "", "", "", "" }, { "log = /tmp/x.log\n", "", "", "" },
		    NULL },
		{ { "", "", "", "" }, { "", "backlog = 5\n", "", "" }, NULL },
		{ { "", "", "", "" }, { "stop_delay = 5s\n", "", "", "" }, NULL },
		{ { "", "", "", "" }, { "", "", "", "env = A=1\n"
		    "stop_timeout = 1s\nready = notify\n" }, NULL },
		{ { "", "", "", "" }, { "", "", "[listen b]\naddress = :9\n", "" }, NULL },
		{ { "", "", "", "" }, { "name = other\n", "", "", "" },
		    "name" },
		{ { "", "", "", "" }, { "control = /tmp/c.sock\n", "", "", "" },
		    "control" },
		{ { "", "", "", "" }, { "pidfile = /tmp/p.pid\n", "", "", "" },
		    "pidfile" },
		{ { "", "", "", "" }, { "user = nobody\n", "", "", "" },
		    "user" },
		{ { "user = nobody\n", "", "", "" },
		    { "user = 65534\n", "", "", "" }, NULL },
		{ { "", "", "", "" }, { "group = nogroup\n", "", "", "" },
		    "group" },
		{ { "name = a\n", "", "", "" },
		    { "name = b\ncontrol = /tmp/c.sock\n", "", "", "" },
		    "name" },
		{ { "", "", "", "" }, { "", "sockets = shared\n", "", "" },
		    "sockets" },
		{ { "", "", "", "" }, { "", "", "[listen new]\naddress = :2\n"
		    "sockets = shared\n", "" }, NULL },
		{ { "", "", "[listen a]\naddress = unix:/tmp/a.sock\n", "" },
		    { "", "", "[listen a]\naddress = :3\n", "" }, "sockets" },
		{ { "", "", "[listen a]\naddress = unix:/tmp/a.sock\n", "" },
		    { "", "", "[listen a]\naddress = :3\nsockets = shared\n",
		    "" }, NULL },
	};
	struct config	*a, *b;
	char		 err[1024];
	const char	*got;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		a = load_side(&cases[i].from, err, sizeof err);
		CHECK(a != NULL, "reload case %zu (from): %s", i, err);
		b = load_side(&cases[i].to, err, sizeof err);
		CHECK(b != NULL, "reload case %zu (to): %s", i, err);
		if (a != NULL && b != NULL) {
			got = config_needs_restart(a, b);
			CHECK(streq(got, cases[i].want), "reload case %zu: got "
			    "%s, expected %s", i, got ? got : "NULL",
			    cases[i].want ? cases[i].want : "NULL");
		}
		config_free(a);
		config_free(b);
	}
}

/* ------------------------------------------------------------------ */
/* CPUs: the affinity mask, and a real cgroup quota when we can make one */

static int
affinity_cpus(void)
{
	cpu_set_t	 set;

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof set, &set) < 0)
		return -1;
	return CPU_COUNT(&set);
}

static bool
write_str(const char *path, const char *s)
{
	int	 fd;
	ssize_t	 n;

	if ((fd = open(path, O_WRONLY)) < 0)
		return false;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s);
}

/* cpus_available() of a child placed in cgroup dir; -1 if that fails. */
static int
cpus_in_cgroup(const char *dir)
{
	char	 procs[600];
	pid_t	 pid;
	int	 status;

	snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		if (!write_str(procs, "0"))
			_exit(200);
		_exit(cpus_available());
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)
	    || WEXITSTATUS(status) == 200)
		return -1;
	return WEXITSTATUS(status);
}

static void
test_cpus(void)
{
	char	 parent[400], child[500], quota[600], inner[600], own[300];
	char	*line = NULL;
	size_t	 linesz = 0;
	FILE	*fp;
	int	 aff = affinity_cpus(), n;
	bool	 v1;

	n = cpus_available();
	CHECK(n >= 1 && n <= aff, "config_cpus %d, affinity %d", n, aff);

	/* A cgroup with a 0.5-CPU quota, and a child cgroup without one. */
	v1 = access("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", F_OK) == 0;
	if (v1)
		snprintf(parent, sizeof parent,
		    "/sys/fs/cgroup/cpu/clusterd-test-%d", (int)getpid());
	else {
		own[0] = '\0';
		if ((fp = fopen("/proc/self/cgroup", "r")) != NULL) {
			while (getline(&line, &linesz, fp) > 0)
				if (strncmp(line, "0::", 3) == 0)
					snprintf(own, sizeof own, "%.*s",
					    (int)strcspn(line + 3, "\n"),
					    line + 3);
			fclose(fp);
			free(line);
		}
		snprintf(parent, sizeof parent,
		    "/sys/fs/cgroup%s/clusterd-test-%d",
		    strcmp(own, "/") == 0 ? "" : own, (int)getpid());
	}
	snprintf(child, sizeof child, "%s/inner", parent);
	if (mkdir(parent, 0755) < 0) {
		printf("skip: cgroup quota: mkdir %s: %s\n", parent,
		    strerror(errno));
		return;
	}
	if (v1) {
		snprintf(quota, sizeof quota, "%s/cpu.cfs_quota_us", parent);
		n = write_str(quota, "50000");
	} else {
		snprintf(quota, sizeof quota, "%s/cpu.max", parent);
		n = write_str(quota, "50000 100000");
	}
	if (!n || mkdir(child, 0755) < 0) {
		printf("skip: cgroup quota: cannot set %s\n", quota);
	} else {
		n = cpus_in_cgroup(parent);
		if (n < 0)
			printf("skip: cgroup quota: cannot join %s\n", parent);
		else {
			CHECK(n == 1, "0.5 CPU quota: config_cpus %d", n);
			n = cpus_in_cgroup(child);
			CHECK(n == 1, "quota of the parent cgroup: %d", n);
			/* A larger quota below a smaller one: the smaller
			 * wins (cgroup v1 refuses to set this up). */
			snprintf(inner, sizeof inner, "%s/%s", child,
			    v1 ? "cpu.cfs_quota_us" : "cpu.max");
			if (write_str(inner, v1 ? "400000" : "400000 100000")) {
				n = cpus_in_cgroup(child);
				CHECK(n == 1, "larger child quota: %d", n);
			} else
				printf("skip: cgroup quota: child quota above "
				    "its parent's refused\n");
			write_str(quota, v1 ? "-1" : "max 100000");
			n = cpus_in_cgroup(parent);
			CHECK(n == aff, "no quota: config_cpus %d, affinity "
			    "%d", n, aff);
		}
	}
	rmdir(child);
	rmdir(parent);
}

/* ------------------------------------------------------------------ */

int
main(int argc, char *argv[])
{
	char	 dir[PATH_MAX], extra[PATH_MAX + 64];
	int	 ngood, nbad;

	/* Absolute: test_paths changes the working directory. */
	if (realpath(argc > 1 ? argv[1] : "tests/conf", dir) == NULL) {
		perror(argc > 1 ? argv[1] : "tests/conf");
		return 1;
	}
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}

	test_durations();
	test_sizes();
	test_signals();
	test_addresses();
	test_split();
	ngood = test_corpus(dir, "good", test_good_file);
	nbad = test_corpus(dir, "bad", test_bad_file);
	snprintf(extra, sizeof extra, "%s/../../conf/example.conf", dir);
	test_good_file(extra);
	snprintf(extra, sizeof extra, "%s/../../conf/demo.conf", dir);
	test_good_file(extra);
	test_defaults(dir);
	test_full(dir);
	test_inih_rules(dir);
	test_line_lengths();
	test_long_equals_short();
	test_paths();
	test_runtime_dirs();
	test_numeric_ids();
	test_needs_restart();
	test_cpus();

	snprintf(extra, sizeof extra, "rm -rf '%s'", tmpdir);
	if (system(extra) != 0)
		printf("warning: could not remove %s\n", tmpdir);
	CHECK(ngood >= 5 && nbad >= 25, "corpus: %d good, %d bad files",
	    ngood, nbad);
	printf("test_config: %d checks, %d failed (%d good, %d bad files)\n",
	    nchecks, nfailed, ngood, nbad);
	return nfailed == 0 ? 0 : 1;
}
