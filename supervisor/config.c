/*
 * config.c - the configuration file: one table of every key (section, type,
 * bounds, default, flags, hooks), inih (third_party/inih) for the syntax,
 * and a whole-file validation into a fresh struct config. value.c parses
 * each value; every error names FILE:LINE and the key.
 */

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "clusterd.h"

/* Longest line clusterd reads, without its line end. */
#define CONFIG_LINE_MAX		4096
#define DURATION_MAX		86400.0		/* one day */

/* The inih build this file expects (Makefile INI_DEFS): the whole line in
 * inih's buffer (with a byte order mark and the NUL), line numbers and new
 * sections reported to the handler, no continuation lines, and parsing
 * that goes on after a line it rejects (a client skips such sections). */
#if INI_MAX_LINE < CONFIG_LINE_MAX + 4 || !INI_HANDLER_LINENO || \
    INI_ALLOW_MULTILINE || !INI_CALL_HANDLER_ON_NEW_SECTION || \
    INI_STOP_ON_FIRST_ERROR || INI_ALLOW_NO_VALUE || !INI_ALLOW_BOM || \
    !INI_ALLOW_INLINE_COMMENTS
#error "inih is not built with the Makefile's INI_DEFS"
#endif

/* Environment variables clusterd sets itself for every worker. */
const char *const env_reserved[] = {
	"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET",
	"WATCHDOG_USEC", "WATCHDOG_PID", "CLUSTERD_WORKER",
	"CLUSTERD_GENERATION", "CLUSTERD_READY_FD", "CLUSTERD_READY", NULL
};

enum section {
	SEC_NONE = 0,		/* before the first [section] */
	SEC_CLUSTER,
	SEC_LISTEN,
	SEC_WORKER,
	SEC_OTHER,		/* CONFIG_CLIENT: a section it skips */
};

/* How a value is parsed and stored; kinds[] has a setter and a
 * comparison for each. */
enum key_type {
	KT_NAME,		/* char *, [A-Za-z0-9._-]{1,63} */
	KT_USER,		/* char *, the user's name */
	KT_GROUP,		/* char *, the group's name */
	KT_GID,			/* gid_t */
	KT_PATH,		/* char *, absolute; relative to FILE's dir */
	KT_DIR,			/* KT_PATH that must be a directory */
	KT_ADDRESS,		/* char * as written; fills its listener */
	KT_INT,
	KT_ENUM,		/* int, the index in words */
	KT_MODE,		/* int, octal file mode */
	KT_COMMAND,		/* char * as written; also sets argv */
	KT_ENV,			/* char **, NAME=VALUE, repeatable */
	KT_DURATION,		/* double, seconds */
	KT_SIZE,		/* uint64_t, bytes */
	KT_SIGNAL,		/* int */
	KT_COUNT,		/* struct count_pct: N, or N% */
};

/* Every key, in table order (config_needs_restart names the first). */
enum key_id {
	KEY_NAME, KEY_WORKERS, KEY_USER, KEY_GROUP, KEY_CONTROL, KEY_PIDFILE,
	KEY_LOG,
	KEY_LOG_FORMAT,
	KEY_ADDRESS, KEY_BACKLOG, KEY_SOCKETS, KEY_SOCKET_MODE,
	KEY_SOCKET_GROUP,
	KEY_COMMAND, KEY_DIRECTORY, KEY_ENV, KEY_READY, KEY_READY_DELAY,
	KEY_READY_TIMEOUT, KEY_STOP_SIGNAL, KEY_STOP_TIMEOUT,
	KEY_RESTART_DELAY, KEY_RESTART_DELAY_MAX, KEY_WATCHDOG,
	KEY_MAX_MEMORY, KEY_RELOAD_SURGE, KEY_STALL_TIMEOUT,
	KEY_STOP_DELAY,
	KEY_ADMIN, KEY_READY_MIN,
	KEY_MAX_LIFETIME,
	NKEYS
};

/* Key flags. */
#define K_RELOAD	0x01	/* a reload can change it */
#define K_CLIENT	0x02	/* CONFIG_CLIENT reads it */
#define K_REPEAT	0x04	/* may be given more than once */

struct parse;
struct key;
typedef int	 key_setter(struct parse *, const struct key *, void *,
		    const char *);

struct key {
	enum section		 section;
	const char		*name;
	enum key_type		 type;
	size_t			 off;	/* in struct config or config_listen */
	double			 min, max;
	const char		*def;	/* parsed like a value; NULL: none */
	unsigned		 flags;	/* K_* */
	const char *const	*words;	/* KT_ENUM: the values, in enum order */
	/* Hooks, NULL for none: set replaces the type's setter, check runs
	 * after a successful set, same replaces the type's comparison in
	 * config_needs_restart. */
	key_setter		*set;
	int			(*check)(struct parse *, const struct key *,
				    const void *);
	bool			(*same)(const struct config *,
				    const struct config *);
};

/* One parse of one FILE. */
struct parse {
	const char		*path;		/* as given, for messages */
	FILE			*fp;
	int			 flags;
	struct config		*cfg;

	int			 line;		/* of the line last read */
	char			*buf;		/* that line, without its end */
	size_t			 bufsz;
	const char		*str;		/* inih's copy of it */
	int			 handled;	/* last line the handler saw */
	bool			 content;	/* a line that is not a comment */

	enum section		 sec;
	char			 secname[128];	/* as canonical: "listen web" */
	int			 cur;		/* SEC_LISTEN: index in listens */
	int			 cluster_line, worker_line;
	bool			 cut;		/* inih cut an inline comment */

	int			 seen[NKEYS];	/* line of each [cluster]/[worker] key */
	int			(*lseen)[NKEYS];	/* the same per listener */
	char		       **lsec;		/* per listener: "listen web" */
	int			*env_lines;

	uid_t			 user_uid;
	gid_t			 user_gid;
	gid_t			 group_gid;

	bool			 failed;
	char			*err;
	size_t			 errlen;
};

static int	 parse_fail(struct parse *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static int	 key_fail(struct parse *, const struct key *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	 format_duration(double, char *, size_t);
static key_setter set_name, set_user, set_group, set_gid, set_path, set_dir,
		    set_address, set_int, set_enum, set_mode, set_command,
		    set_env, set_duration, set_size, set_signal, set_workers,
		    set_count, set_admin;
static bool	 same_str(const void *, const void *);
static bool	 same_strv(const void *, const void *);
static bool	 same_user(const struct config *, const struct config *);
static bool	 same_group(const struct config *, const struct config *);
static int	 check_sun_path(struct parse *, const struct key *,
		    const void *);
static int	 check_catchable(struct parse *, const struct key *,
		    const void *);
static char	*config_reader(char *, int, void *);
static int	 config_handler(void *, const char *, const char *,
		    const char *, int);
static int	 config_set(struct parse *, const char *, const char *);
static int	 config_section(struct parse *);
static int	 config_defaults(struct parse *);
static int	 config_validate(struct parse *);
static int	 config_paths(struct parse *);

/* A kind's setter, and how two stored values compare: by `same`, or,
 * for plain scalars, byte for byte over `size`. */
static const struct {
	key_setter	*set;
	bool		(*same)(const void *, const void *);
	size_t		 size;
} kinds[] = {
	[KT_NAME]	= { set_name,	  same_str,  0 },
	[KT_USER]	= { set_user,	  same_str,  0 },
	[KT_GROUP]	= { set_group,	  same_str,  0 },
	[KT_GID]	= { set_gid,	  NULL,	     sizeof(gid_t) },
	[KT_PATH]	= { set_path,	  same_str,  0 },
	[KT_DIR]	= { set_dir,	  same_str,  0 },
	[KT_ADDRESS]	= { set_address,  same_str,  0 },
	[KT_INT]	= { set_int,	  NULL,	     sizeof(int) },
	[KT_ENUM]	= { set_enum,	  NULL,	     sizeof(int) },
	[KT_MODE]	= { set_mode,	  NULL,	     sizeof(int) },
	[KT_COMMAND]	= { set_command,  same_str,  0 },
	[KT_ENV]	= { set_env,	  same_strv, 0 },
	[KT_DURATION]	= { set_duration, NULL,	     sizeof(double) },
	[KT_SIZE]	= { set_size,	  NULL,	     sizeof(uint64_t) },
	[KT_SIGNAL]	= { set_signal,	  NULL,	     sizeof(int) },
	[KT_COUNT]	= { set_count,	  NULL,	     sizeof(struct count_pct) },
};

static const char *const sockets_words[] = { "per-worker", "shared", NULL };
static const char *const ready_words[] = { "delay", "notify", "listen",
	"fd", NULL };

/* "listen": what CLUSTERD_READY tells a worker. */
const char *
config_ready_name(enum ready_mode m)
{
	return m <= READY_FD ? ready_words[m] : "?";
}
static const char *const log_format_words[] = { "text", "json", NULL };

#define C(f)	.off = offsetof(struct config, f)
#define L(f)	.off = offsetof(struct config_listen, f)

/*
 * Every key clusterd knows. Defaults are written as they would be in FILE
 * and go through the same parser; keys without one are computed (name,
 * control, pidfile) or stay unset. clusterd.conf(5) documents this table.
 */
static const struct key keys[NKEYS] = {
	[KEY_NAME] = { SEC_CLUSTER, "name", KT_NAME, C(name),
	    .flags = K_CLIENT },
	[KEY_WORKERS] = { SEC_CLUSTER, "workers", KT_INT, C(workers),
	    .min = 1, .max = WORKERS_MAX, .def = "auto", .flags = K_RELOAD,
	    .set = set_workers },
	[KEY_USER] = { SEC_CLUSTER, "user", KT_USER, C(user),
	    .same = same_user },
	[KEY_GROUP] = { SEC_CLUSTER, "group", KT_GROUP, C(group),
	    .same = same_group },
	[KEY_CONTROL] = { SEC_CLUSTER, "control", KT_PATH, C(control),
	    .flags = K_CLIENT, .check = check_sun_path },
	[KEY_PIDFILE] = { SEC_CLUSTER, "pidfile", KT_PATH, C(pidfile),
	    .flags = K_CLIENT },
	[KEY_LOG] = { SEC_CLUSTER, "log", KT_PATH, C(log),
	    .flags = K_RELOAD | K_CLIENT },
	[KEY_LOG_FORMAT] = { SEC_CLUSTER, "log_format", KT_ENUM, C(log_format),
	    .def = "text", .flags = K_RELOAD, .words = log_format_words },

	[KEY_ADDRESS] = { SEC_LISTEN, "address", KT_ADDRESS, L(address),
	    .flags = K_RELOAD },
	[KEY_BACKLOG] = { SEC_LISTEN, "backlog", KT_INT, L(backlog),
	    .min = 1, .max = 65535, .def = "511", .flags = K_RELOAD },
	[KEY_SOCKETS] = { SEC_LISTEN, "sockets", KT_ENUM, L(sockets),
	    .def = "per-worker", .words = sockets_words },
	[KEY_SOCKET_MODE] = { SEC_LISTEN, "socket_mode", KT_MODE,
	    L(socket_mode), .max = 0777, .flags = K_RELOAD },
	[KEY_SOCKET_GROUP] = { SEC_LISTEN, "socket_group", KT_GID,
	    L(socket_gid), .flags = K_RELOAD },

	[KEY_COMMAND] = { SEC_WORKER, "command", KT_COMMAND, C(command),
	    .flags = K_RELOAD },
	[KEY_DIRECTORY] = { SEC_WORKER, "directory", KT_DIR, C(directory),
	    .flags = K_RELOAD },
	[KEY_ENV] = { SEC_WORKER, "env", KT_ENV, C(env),
	    .flags = K_RELOAD | K_REPEAT },
	[KEY_READY] = { SEC_WORKER, "ready", KT_ENUM, C(ready),
	    .def = "delay", .flags = K_RELOAD, .words = ready_words },
	[KEY_READY_DELAY] = { SEC_WORKER, "ready_delay", KT_DURATION,
	    C(ready_delay), .max = DURATION_MAX, .def = "1s",
	    .flags = K_RELOAD },
	[KEY_READY_TIMEOUT] = { SEC_WORKER, "ready_timeout", KT_DURATION,
	    C(ready_timeout), .min = 0.01, .max = DURATION_MAX, .def = "30s",
	    .flags = K_RELOAD },
	[KEY_STOP_SIGNAL] = { SEC_WORKER, "stop_signal", KT_SIGNAL,
	    C(stop_signal), .def = "TERM", .flags = K_RELOAD,
	    .check = check_catchable },
	[KEY_STOP_TIMEOUT] = { SEC_WORKER, "stop_timeout", KT_DURATION,
	    C(stop_timeout), .max = DURATION_MAX, .def = "10s",
	    .flags = K_RELOAD },
	[KEY_RESTART_DELAY] = { SEC_WORKER, "restart_delay", KT_DURATION,
	    C(restart_delay), .min = 0.001, .max = DURATION_MAX,
	    .def = "100ms", .flags = K_RELOAD },
	[KEY_RESTART_DELAY_MAX] = { SEC_WORKER, "restart_delay_max",
	    KT_DURATION, C(restart_delay_max), .min = 0.001,
	    .max = DURATION_MAX, .def = "30s", .flags = K_RELOAD },
	[KEY_WATCHDOG] = { SEC_WORKER, "watchdog", KT_DURATION, C(watchdog),
	    .max = DURATION_MAX, .def = "0", .flags = K_RELOAD },
	[KEY_MAX_MEMORY] = { SEC_WORKER, "max_memory", KT_SIZE,
	    C(max_memory), .max = 1125899906842624.0, .def = "0",
	    .flags = K_RELOAD },
	[KEY_RELOAD_SURGE] = { SEC_WORKER, "reload_surge", KT_COUNT,
	    C(reload_surge), .min = 1, .max = WORKERS_MAX, .def = "1",
	    .flags = K_RELOAD },
	[KEY_STALL_TIMEOUT] = { SEC_WORKER, "stall_timeout", KT_DURATION,
	    C(stall_timeout), .max = DURATION_MAX, .def = "0",
	    .flags = K_RELOAD },
	[KEY_STOP_DELAY] = { SEC_CLUSTER, "stop_delay", KT_DURATION,
	    C(stop_delay), .max = DURATION_MAX, .def = "0",
	    .flags = K_RELOAD },
	/* Bound once at start, like a listener, but never a worker's. */
	[KEY_ADMIN] = { SEC_CLUSTER, "admin", KT_ADDRESS, C(admin),
	    .set = set_admin },
	[KEY_READY_MIN] = { SEC_CLUSTER, "ready_min", KT_COUNT, C(ready_min),
	    .min = 1, .max = WORKERS_MAX, .def = "1", .flags = K_RELOAD },
	[KEY_MAX_LIFETIME] = { SEC_WORKER, "max_lifetime", KT_DURATION,
	    C(max_lifetime), .max = DURATION_MAX, .def = "0",
	    .flags = K_RELOAD },
};

#undef C
#undef L

/* ------------------------------------------------------------------ */
/* Messages                                                           */

/* "FILE:LINE: message", or "FILE: message" when line is 0. First wins. */
static int
parse_fail(struct parse *p, int line, const char *fmt, ...)
{
	char	 msg[768];
	va_list	 ap;

	if (p->failed)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(p->err, p->errlen, "%s:%d: %s", p->path, line, msg);
	else
		snprintf(p->err, p->errlen, "%s: %s", p->path, msg);
	p->failed = true;
	return -1;
}

/* A bad value: "'KEY': message", "'KEY' in [listen web]: message". */
static int
key_fail(struct parse *p, const struct key *k, const char *fmt, ...)
{
	char		 msg[640];
	va_list		 ap;
	bool		 l = k->section == SEC_LISTEN;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return parse_fail(p, p->line, "'%s'%s%s%s: %s%s", k->name,
	    l ? " in [" : "", l ? p->secname : "", l ? "]" : "", msg,
	    p->cut ? " (a ';' after whitespace starts a comment: write \\; "
	    "for a literal ';')" : "");
}

static void
format_duration(double s, char *buf, size_t len)
{
	if (s >= 3600 && fmod(s, 3600) == 0)
		snprintf(buf, len, "%gh", s / 3600);
	else if (s >= 60 && fmod(s, 60) == 0)
		snprintf(buf, len, "%gm", s / 60);
	else if (s >= 1 || s == 0)
		snprintf(buf, len, "%gs", s);
	else
		snprintf(buf, len, "%gms", s * 1000);
}

/* ------------------------------------------------------------------ */
/* Setting one key: the type's setter (or the key's own), then its check */

static bool
valid_env_name(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0 || isdigit((unsigned char)s[0]))
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

/* Where key k's value lives for the current section. */
static void *
key_field(struct parse *p, const struct key *k)
{
	if (k->section == SEC_LISTEN)
		return (char *)&p->cfg->listens[p->cur] + k->off;
	return (char *)p->cfg + k->off;
}

static int *
key_seen(struct parse *p, const struct key *k)
{
	if (k->section == SEC_LISTEN)
		return &p->lseen[p->cur][k - keys];
	return &p->seen[k - keys];
}

/* Parse value v for key k into its field; 0 or -1 with the error set. */
static int
key_set(struct parse *p, const struct key *k, const char *v)
{
	void	*field = key_field(p, k);
	int	 rc;

	rc = (k->set != NULL ? k->set : kinds[k->type].set)(p, k, field, v);
	if (rc == 0 && k->check != NULL)
		rc = k->check(p, k, field);
	return rc;
}

static int
set_string(struct parse *p, char **field, const char *v)
{
	char	*s;

	if ((s = strdup(v)) == NULL)
		return parse_fail(p, 0, "out of memory");
	free(*field);
	*field = s;
	return 0;
}

/* A name, or a number of an id that has one. */
static int
lookup_id(const char *v, long long *ret)
{
	if (v[0] == '\0' || strspn(v, "0123456789") != strlen(v))
		return -EINVAL;
	return value_int(v, ret);
}

static int
set_name(struct parse *p, const struct key *k, void *field, const char *v)
{
	if (value_name(v) < 0)
		return key_fail(p, k, "bad name '%s' (1 to %d of A-Z a-z 0-9 . "
		    "_ -)", v, NAME_MAX_LEN - 1);
	return set_string(p, field, v);
}

/* auto is 0 until the file is read: counting CPUs is not parsing. */
static int
set_workers(struct parse *p, const struct key *k, void *field, const char *v)
{
	long long	 n;

	if (strcmp(v, "auto") == 0) {
		*(int *)field = 0;
		return 0;
	}
	if (value_int(v, &n) < 0 || n < k->min || n > k->max)
		return key_fail(p, k, "bad value '%s' (expected auto or "
		    "%g..%g)", v, k->min, k->max);
	*(int *)field = (int)n;
	return 0;
}

static int
set_user(struct parse *p, const struct key *k, void *field, const char *v)
{
	struct passwd	*pw;
	long long	 n;

	if ((pw = getpwnam(v)) == NULL && lookup_id(v, &n) == 0)
		pw = getpwuid((uid_t)n);
	if (pw == NULL)
		return key_fail(p, k, "unknown user '%s'", v);
	p->user_uid = pw->pw_uid;
	p->user_gid = pw->pw_gid;
	/* The name, also for "33": workers need it for initgroups. */
	return set_string(p, field, pw->pw_name);
}

static struct group *
lookup_group(const char *v)
{
	struct group	*gr;
	long long	 n;

	if ((gr = getgrnam(v)) == NULL && lookup_id(v, &n) == 0)
		gr = getgrgid((gid_t)n);
	return gr;
}

static int
set_group(struct parse *p, const struct key *k, void *field, const char *v)
{
	struct group	*gr;

	if ((gr = lookup_group(v)) == NULL)
		return key_fail(p, k, "unknown group '%s'", v);
	p->group_gid = gr->gr_gid;
	return set_string(p, field, gr->gr_name);
}

static int
set_gid(struct parse *p, const struct key *k, void *field, const char *v)
{
	struct group	*gr;

	if ((gr = lookup_group(v)) == NULL)
		return key_fail(p, k, "unknown group '%s'", v);
	*(gid_t *)field = gr->gr_gid;
	return 0;
}

static int
set_path(struct parse *p, const struct key *k, void *field, const char *v)
{
	char	*path;

	if (*v == '\0')
		return key_fail(p, k, "empty path");
	if ((path = value_path(p->cfg->dir, v)) == NULL)
		return parse_fail(p, 0, "out of memory");
	free(*(char **)field);
	*(char **)field = path;
	return 0;
}

static int
set_dir(struct parse *p, const struct key *k, void *field, const char *v)
{
	struct stat	 st;

	if (set_path(p, k, field, v) < 0)
		return -1;
	if (stat(*(char **)field, &st) < 0)
		return key_fail(p, k, "%s: %s", v, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return key_fail(p, k, "%s: not a directory", v);
	return 0;
}

/* The control socket's path must fit in sun_path. */
static int
check_sun_path(struct parse *p, const struct key *k, const void *field)
{
	const char	*path = *(char *const *)field;

	if (strlen(path) > SUN_PATH_MAX)
		return key_fail(p, k, "path too long for a unix socket (%zu "
		    "bytes, at most %zu)", strlen(path), SUN_PATH_MAX);
	return 0;
}

/* The address as written in field; its listener gets the resolved one. */
static int
set_address(struct parse *p, const struct key *k, void *field, const char *v)
{
	const char	*why;

	(void)field;
	if (value_address(v, p->cfg->dir, &p->cfg->listens[p->cur],
	    &why) < 0)
		return key_fail(p, k, "%s: %s", v, why);
	return 0;
}

/* admin: an address parsed like a listener's, into cfg->admin_listen. */
static int
set_admin(struct parse *p, const struct key *k, void *field, const char *v)
{
	struct config_listen	*a = &p->cfg->admin_listen;
	const char		*why;

	free(a->address);
	free(a->path);
	memset(a, 0, sizeof *a);
	if (value_address(v, p->cfg->dir, a, &why) < 0)
		return key_fail(p, k, "%s: %s", v, why);
	snprintf(a->name, sizeof a->name, "admin");
	a->backlog = 64;
	a->socket_mode = 0600;
	a->sockets = LISTEN_SHARED;
	a->line = p->line;
	return set_string(p, field, v);
}

static int
set_int(struct parse *p, const struct key *k, void *field, const char *v)
{
	long long	 n;

	if (value_int(v, &n) < 0)
		return key_fail(p, k, "bad number '%s'", v);
	if (n < k->min || n > k->max)
		return key_fail(p, k, "%s out of range (%g..%g)", v, k->min,
		    k->max);
	*(int *)field = (int)n;
	return 0;
}

/* N (min..max), or N% (1..100) of the wanted workers. */
static int
set_count(struct parse *p, const struct key *k, void *field, const char *v)
{
	struct count_pct	*c = field;
	char			 num[32];
	size_t			 n = strlen(v);
	bool			 pct = n > 0 && v[n - 1] == '%';
	long long		 x;

	if (n - pct >= sizeof num)
		return key_fail(p, k, "bad value '%s' (expected N or N%%)", v);
	memcpy(num, v, n - pct);
	num[n - pct] = '\0';
	if (value_int(num, &x) < 0 || x < (pct ? 1 : k->min) ||
	    x > (pct ? 100 : k->max))
		return key_fail(p, k, "bad value '%s' (expected %g..%g or "
		    "1%%..100%%)", v, k->min, k->max);
	c->n = (int)x;
	c->pct = pct;
	return 0;
}

static int
set_enum(struct parse *p, const struct key *k, void *field, const char *v)
{
	int	 i;

	for (i = 0; k->words[i] != NULL; i++) {
		if (strcmp(v, k->words[i]) == 0) {
			*(int *)field = i;
			return 0;
		}
	}
	return key_fail(p, k, "bad value '%s' (expected %s or %s)", v,
	    k->words[0], k->words[1]);
}

static int
set_mode(struct parse *p, const struct key *k, void *field, const char *v)
{
	long	 n;

	if (*v == '\0' || strlen(v) > 4 || strspn(v, "01234567") != strlen(v))
		return key_fail(p, k, "bad mode '%s' (expected octal, e.g. "
		    "0660)", v);
	n = strtol(v, NULL, 8);
	if (n > k->max)
		return key_fail(p, k, "%s out of range (0..0777)", v);
	*(int *)field = (int)n;
	return 0;
}

/* The command as written in field, its words in argv. */
static int
set_command(struct parse *p, const struct key *k, void *field, const char *v)
{
	char		**argv;
	const char	 *why;

	if (value_command(v, &argv, &why) < 0)
		return key_fail(p, k, "%s", why);
	if (set_string(p, field, v) < 0) {
		config_free_argv(argv);
		return -1;
	}
	config_free_argv(p->cfg->argv);
	p->cfg->argv = argv;
	return 0;
}

/* One more NAME=VALUE in field (cfg->env, counted in cfg->nenv). */
static int
set_env(struct parse *p, const struct key *k, void *field, const char *v)
{
	struct config	 *cfg = p->cfg;
	char		***env = field, **ne, *s;
	const char	 *eq;
	int		 *nl, i;
	size_t		  n;

	if ((eq = strchr(v, '=')) == NULL)
		return key_fail(p, k, "'%s' has no '=' (expected NAME=VALUE)",
		    v);
	n = (size_t)(eq - v);
	if (!valid_env_name(v, n))
		return key_fail(p, k, "bad variable name '%.*s'", (int)n, v);
	for (i = 0; env_reserved[i] != NULL; i++)
		if (strlen(env_reserved[i]) == n &&
		    strncmp(env_reserved[i], v, n) == 0)
			return key_fail(p, k, "%s is set by clusterd",
			    env_reserved[i]);
	for (i = 0; i < cfg->nenv; i++)
		if (strncmp((*env)[i], v, n + 1) == 0)
			return key_fail(p, k, "%.*s set twice (first on "
			    "line %d)", (int)n, v, p->env_lines[i]);
	if ((ne = realloc(*env, (cfg->nenv + 2) * sizeof(*ne))) == NULL)
		return parse_fail(p, 0, "out of memory");
	*env = ne;
	ne[cfg->nenv] = NULL;
	if ((nl = realloc(p->env_lines, (cfg->nenv + 1) * sizeof(*nl))) ==
	    NULL)
		return parse_fail(p, 0, "out of memory");
	p->env_lines = nl;
	if ((s = strdup(v)) == NULL)
		return parse_fail(p, 0, "out of memory");
	p->env_lines[cfg->nenv] = p->line;
	ne[cfg->nenv++] = s;
	ne[cfg->nenv] = NULL;
	return 0;
}

static int
set_duration(struct parse *p, const struct key *k, void *field, const char *v)
{
	char	 lo[32], hi[32];
	double	 d;

	if (value_duration(v, &d) < 0)
		return key_fail(p, k, "bad duration '%s' (e.g. 250ms, 10s, 2m, "
		    "1h)", v);
	if (d < k->min || d > k->max) {
		format_duration(k->min, lo, sizeof lo);
		format_duration(k->max, hi, sizeof hi);
		return key_fail(p, k, "%s out of range (%s..%s)", v, lo, hi);
	}
	*(double *)field = d;
	return 0;
}

static int
set_size(struct parse *p, const struct key *k, void *field, const char *v)
{
	uint64_t	 sz;

	if (value_size(v, &sz) < 0)
		return key_fail(p, k, "bad size '%s' (e.g. 512M, 2G)", v);
	if ((double)sz > k->max)
		return key_fail(p, k, "%s out of range", v);
	*(uint64_t *)field = sz;
	return 0;
}

static int
set_signal(struct parse *p, const struct key *k, void *field, const char *v)
{
	int	 signo;

	if (value_signal(v, &signo) < 0)
		return key_fail(p, k, "bad signal '%s' (e.g. TERM, INT, QUIT, "
		    "15)", v);
	*(int *)field = signo;
	return 0;
}

/* A stop signal the worker can catch. */
static int
check_catchable(struct parse *p, const struct key *k, const void *field)
{
	if (*(const int *)field == SIGSTOP)
		return key_fail(p, k, "STOP cannot be caught: the worker would "
		    "freeze");
	return 0;
}

/* Unescape "\;" into ";", the one escape the INI layer has. */
static char *
unescape(const char *v)
{
	char	*out, *o;

	if ((out = malloc(strlen(v) + 1)) == NULL)
		return NULL;
	for (o = out; *v != '\0'; v++) {
		if (v[0] == '\\' && v[1] == ';')
			v++;
		*o++ = *v;
	}
	*o = '\0';
	return out;
}

static int
config_set(struct parse *p, const char *name, const char *value)
{
	const struct key	*k = NULL;
	int			*seen, i, rc;
	char			*v;
	bool			 client = p->flags == CONFIG_CLIENT;

	if (p->sec == SEC_OTHER)
		return 0;
	if (p->sec == SEC_NONE) {
		if (client)
			return 0;
		return parse_fail(p, p->line, "key '%s' before the first "
		    "[section]", name);
	}
	for (i = 0; i < NKEYS && k == NULL; i++)
		if (keys[i].section == p->sec && strcmp(keys[i].name, name) == 0)
			k = &keys[i];
	if (k == NULL) {
		if (client)
			return 0;
		return parse_fail(p, p->line, "unknown key '%s' in [%s]", name,
		    p->secname);
	}
	if (client && !(k->flags & K_CLIENT))
		return 0;
	seen = key_seen(p, k);
	if (*seen != 0 && !(k->flags & K_REPEAT))
		return parse_fail(p, p->line, "'%s' given twice in [%s] "
		    "(first on line %d)", name, p->secname, *seen);
	if (*seen == 0)
		*seen = p->line;
	if ((v = unescape(value)) == NULL)
		return parse_fail(p, 0, "out of memory");
	rc = key_set(p, k, v);
	free(v);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Lines: read and counted here, parsed by inih                       */

/* A client reads [cluster] only: what is elsewhere cannot stop it. */
static bool
skipping(const struct parse *p)
{
	return p->flags == CONFIG_CLIENT && p->sec != SEC_CLUSTER;
}

/* The line last read, after the byte order mark inih skips on line 1. */
static char *
raw_line(const struct parse *p)
{
	if (p->line == 1 && strncmp(p->buf, "\xEF\xBB\xBF", 3) == 0)
		return p->buf + 3;
	return p->buf;
}

static char *
skip_space(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

static char *
trim(char *s)
{
	char	*e;

	s = skip_space(s);
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* A line that is not a comment and starts with a space or a tab: an
 * error unless the client skips it (inih, built to, would join it to the
 * line before as a continuation; other white space inih just skips). */
static int
line_indented(struct parse *p)
{
	if (skipping(p))
		return 1;
	return parse_fail(p, p->line, "indented line (a continuation line is "
	    "not supported: write the value on one line)");
}

/*
 * inih calls the handler for each section and key line and skips comments
 * and blank lines: a line of neither kind that the handler did not see is
 * one inih refused (a '[' without ']', no '=' or ':'). Called before the
 * next line is read, and at the end.
 */
static int
line_rejected(struct parse *p)
{
	const char	*s;

	if (p->line == 0 || p->handled == p->line)
		return 0;
	p->handled = p->line;
	s = skip_space(raw_line(p));
	if (strchr(INI_START_COMMENT_PREFIXES, *s) != NULL)	/* or '\0' */
		return 0;
	p->content = true;
	if (*raw_line(p) == ' ' || *raw_line(p) == '\t')
		return line_indented(p) < 0 ? -1 : 0;
	if (*s == '[') {
		p->sec = SEC_OTHER;
		if (p->flags == CONFIG_CLIENT)
			return 0;
		return parse_fail(p, p->line, "section header without ']'");
	}
	if (skipping(p))
		return 0;
	return parse_fail(p, p->line, "expected 'key = value' or a "
	    "[section]");
}

/*
 * inih's reader: one whole line per call, without its line end. A line
 * longer than CONFIG_LINE_MAX or with a NUL byte is an error here, so that
 * inih never sees a line cut short. NULL ends the parse.
 */
static char *
config_reader(char *str, int num, void *stream)
{
	struct parse	*p = stream;
	ssize_t		 n;
	size_t		 len;

	if (p->failed || line_rejected(p) < 0)
		return NULL;
	errno = 0;
	if ((n = getline(&p->buf, &p->bufsz, p->fp)) < 0) {
		if (ferror(p->fp))
			parse_fail(p, 0, "read error: %s", strerror(errno));
		return NULL;
	}
	p->line++;
	p->str = str;
	if ((size_t)n != strlen(p->buf)) {
		parse_fail(p, p->line, "NUL byte in line");
		return NULL;
	}
	while (n > 0 && (p->buf[n - 1] == '\n' || p->buf[n - 1] == '\r'))
		p->buf[--n] = '\0';
	len = strlen(raw_line(p));
	if (len > CONFIG_LINE_MAX || (size_t)n >= (size_t)num) {
		if (skipping(p)) {
			p->handled = p->line;
			str[0] = '\0';
			return str;
		}
		parse_fail(p, p->line, "line too long (%zu bytes, at most %d)",
		    len, CONFIG_LINE_MAX);
		return NULL;
	}
	memcpy(str, p->buf, (size_t)n + 1);
	return str;
}

/* Whether inih cut an inline comment off value (a hint in messages):
 * value lies in str, the copy of buf inih ends in place. */
static bool
value_cut(const struct parse *p, const char *value)
{
	size_t	 off;

	if (value < p->str || value >= p->str + INI_MAX_LINE)
		return false;
	off = (size_t)(value - p->str) + strlen(value);
	return *skip_space(p->buf + off) != '\0';
}

static int
config_handler(void *user, const char *section, const char *name,
    const char *value, int lineno)
{
	struct parse	*p = user;
	char		*s = raw_line(p);

	(void)section;		/* cut at 50 bytes: the header is read whole */
	p->line = lineno;
	p->handled = lineno;
	p->content = true;
	p->cut = false;
	if (*s == ' ' || *s == '\t')
		return line_indented(p) > 0;
	if (name == NULL)
		return config_section(p) == 0;
	p->cut = value_cut(p, value);
	return config_set(p, name, value) == 0;
}

/* [listen NAME]: one more listener, with its own table of seen keys. */
static int
listen_add(struct parse *p, const char *lname)
{
	struct config		*cfg = p->cfg;
	struct config_listen	*nl;
	int			(*ns)[NKEYS];
	char			**nsec;

	if (cfg->nlistens >= LISTEN_MAX)
		return parse_fail(p, p->line, "more than %d [listen] sections",
		    LISTEN_MAX);
	nl = realloc(cfg->listens, (cfg->nlistens + 1) * sizeof(*nl));
	if (nl == NULL)
		return parse_fail(p, 0, "out of memory");
	cfg->listens = nl;
	ns = realloc(p->lseen, (cfg->nlistens + 1) * sizeof(*ns));
	if (ns == NULL)
		return parse_fail(p, 0, "out of memory");
	p->lseen = ns;
	nsec = realloc(p->lsec, (cfg->nlistens + 1) * sizeof(*nsec));
	if (nsec == NULL)
		return parse_fail(p, 0, "out of memory");
	p->lsec = nsec;
	if ((p->lsec[cfg->nlistens] = strdup(p->secname)) == NULL)
		return parse_fail(p, 0, "out of memory");

	p->cur = cfg->nlistens++;
	nl = &cfg->listens[p->cur];
	memset(nl, 0, sizeof(*nl));
	memset(p->lseen[p->cur], 0, sizeof(p->lseen[p->cur]));
	snprintf(nl->name, sizeof nl->name, "%s", lname);
	nl->socket_mode = -1;
	nl->line = p->line;
	p->sec = SEC_LISTEN;
	return 0;
}

/* [cluster] and [worker]: once each. */
static int
section_once(struct parse *p, enum section sec, int *line, const char *name)
{
	if (*line != 0)
		return parse_fail(p, p->line, "[%s] given twice (first on line "
		    "%d)", name, *line);
	*line = p->line;
	p->sec = sec;
	return 0;
}

/* "[cluster]", "[listen]", "[listen NAME]", "[worker]", read whole from
 * the line (inih keeps only 49 bytes of a section name). */
static int
config_section(struct parse *p)
{
	struct config	*cfg = p->cfg;
	char		*s = skip_space(raw_line(p)), *inner, *lname, *rest;
	bool		 client = p->flags == CONFIG_CLIENT;
	int		 i;

	/* inih found this ']' before any comment. */
	if ((rest = strchr(s, ']')) == NULL)
		return parse_fail(p, p->line, "section header without ']'");
	*rest = '\0';
	rest = trim(rest + 1);
	inner = trim(s + 1);
	snprintf(p->secname, sizeof p->secname, "%s", inner);
	if (*rest != '\0' && *rest != ';' && *rest != '#' && !client)
		return parse_fail(p, p->line, "unexpected '%s' after [%s]",
		    rest, inner);
	if (strcmp(inner, "cluster") == 0)
		return section_once(p, SEC_CLUSTER, &p->cluster_line,
		    "cluster");
	p->sec = SEC_OTHER;
	if (client)
		return 0;
	if (strcmp(inner, "worker") == 0)
		return section_once(p, SEC_WORKER, &p->worker_line, "worker");
	if (strncmp(inner, "listen", 6) != 0 ||
	    (inner[6] != '\0' && inner[6] != ' ' && inner[6] != '\t'))
		return parse_fail(p, p->line, "unknown section [%s]", inner);

	lname = inner[6] == '\0' ? "default" : trim(inner + 7);
	if (value_name(lname) < 0)
		return parse_fail(p, p->line, "bad listener name '%s' (1 to "
		    "%d of A-Z a-z 0-9 . _ -)", lname, NAME_MAX_LEN - 1);
	/* Canonical "listen web" for messages. */
	if (inner[6] == '\0')
		snprintf(p->secname, sizeof p->secname, "listen");
	else
		snprintf(p->secname, sizeof p->secname, "listen %s", lname);
	for (i = 0; i < cfg->nlistens; i++)
		if (strcmp(cfg->listens[i].name, lname) == 0)
			return parse_fail(p, p->line, "duplicate listener "
			    "'%s' (first on line %d)", lname,
			    cfg->listens[i].line);
	return listen_add(p, lname);
}

/* ------------------------------------------------------------------ */
/* The whole file                                                     */

/* Table defaults for every key FILE did not set. */
static int
config_defaults(struct parse *p)
{
	int	 i, j;
	bool	 client = p->flags == CONFIG_CLIENT;

	p->line = 0;
	p->cut = false;
	for (i = 0; i < NKEYS; i++) {
		if (keys[i].def == NULL || (client &&
		    !(keys[i].flags & K_CLIENT)))
			continue;
		if (keys[i].section == SEC_LISTEN) {
			for (j = 0; j < p->cfg->nlistens; j++) {
				if (p->lseen[j][i] != 0)
					continue;
				p->cur = j;
				snprintf(p->secname, sizeof p->secname, "%s",
				    p->lsec[j]);
				if (key_set(p, &keys[i], keys[i].def) < 0)
					return -1;
			}
		} else if (p->seen[i] == 0 &&
		    key_set(p, &keys[i], keys[i].def) < 0)
			return -1;
	}
	return 0;
}

/* One listener against the rules that span its keys and the others. */
static int
validate_listen(struct parse *p, int i)
{
	struct config_listen	*l = &p->cfg->listens[i], *o;
	const int		*seen = p->lseen[i];
	int			 j, line;

	if (l->address == NULL)
		return parse_fail(p, 0, "missing [%s] address", p->lsec[i]);
	if (l->family == AF_UNIX) {
		if (l->sockets == LISTEN_PER_WORKER && seen[KEY_SOCKETS] != 0)
			return parse_fail(p, seen[KEY_SOCKETS], "'sockets' in "
			    "[%s]: a unix: listener is always shared",
			    p->lsec[i]);
		l->sockets = LISTEN_SHARED;
	} else if ((line = seen[KEY_SOCKET_MODE]) != 0 ||
	    (line = seen[KEY_SOCKET_GROUP]) != 0)
		return parse_fail(p, line, "'%s' in [%s]: only for unix: "
		    "addresses", keys[seen[KEY_SOCKET_MODE] ? KEY_SOCKET_MODE :
		    KEY_SOCKET_GROUP].name, p->lsec[i]);
	for (j = 0; j < i; j++) {
		o = &p->cfg->listens[j];
		if (o->addrlen == l->addrlen &&
		    memcmp(&o->addr, &l->addr, l->addrlen) == 0)
			return parse_fail(p, seen[KEY_ADDRESS], "'address' in "
			    "[%s]: %s is already used by [%s] (line %d)",
			    p->lsec[i], l->address, p->lsec[j],
			    p->lseen[j][KEY_ADDRESS]);
	}
	l->has_socket_group = seen[KEY_SOCKET_GROUP] != 0;
	return 0;
}

/* Checks across keys, once everything is read. */
static int
config_validate(struct parse *p)
{
	struct config	*cfg = p->cfg;
	char		 a[32], b[32];
	int		 i, line;

	if (!p->content)
		return parse_fail(p, 0, "empty file");
	if (cfg->command == NULL)
		return parse_fail(p, 0, "missing [worker] command");
	if (cfg->nlistens == 0)
		return parse_fail(p, 0, "no [listen] section");
	for (i = 0; i < cfg->nlistens; i++)
		if (validate_listen(p, i) < 0)
			return -1;
	for (i = 0; cfg->admin != NULL && i < cfg->nlistens; i++)
		if (cfg->listens[i].addrlen == cfg->admin_listen.addrlen &&
		    memcmp(&cfg->listens[i].addr, &cfg->admin_listen.addr,
		    cfg->admin_listen.addrlen) == 0)
			return parse_fail(p, p->seen[KEY_ADMIN], "'%s': %s is "
			    "already used by [%s] (line %d)",
			    keys[KEY_ADMIN].name, cfg->admin, p->lsec[i],
			    p->lseen[i][KEY_ADDRESS]);
	if (cfg->restart_delay_max < cfg->restart_delay) {
		format_duration(cfg->restart_delay, a, sizeof a);
		format_duration(cfg->restart_delay_max, b, sizeof b);
		line = p->seen[KEY_RESTART_DELAY_MAX] ?
		    p->seen[KEY_RESTART_DELAY_MAX] : p->seen[KEY_RESTART_DELAY];
		return parse_fail(p, line, "'%s' (%s) is less than '%s' (%s)",
		    keys[KEY_RESTART_DELAY_MAX].name, b,
		    keys[KEY_RESTART_DELAY].name, a);
	}

	/* Credentials: the group's gid, else the user's primary one. */
	cfg->uid = cfg->user != NULL ? p->user_uid : geteuid();
	if (cfg->group != NULL)
		cfg->gid = p->group_gid;
	else if (cfg->user != NULL)
		cfg->gid = p->user_gid;
	else
		cfg->gid = getegid();
	/* Once the file is read: counting CPUs is no part of parsing it. */
	if (cfg->workers == 0) {
		cfg->workers_auto = true;
		cfg->workers = cpus_available();
	}
	return 0;
}


/* name, and the runtime dir with control and pidfile under it. */
static int
config_paths(struct parse *p)
{
	struct config	*cfg = p->cfg;
	const char	*base, *xdg;
	size_t		 n;
	int		 rc;

	if (cfg->name == NULL) {
		base = strrchr(cfg->file, '/') + 1;
		n = strlen(base);
		if (n > 5 && strcmp(base + n - 5, ".conf") == 0)
			n -= 5;
		if ((cfg->name = strndup(base, n)) == NULL)
			return parse_fail(p, 0, "out of memory");
		if (value_name(cfg->name) < 0)
			return parse_fail(p, 0, "the file name does not make "
			    "a cluster name ('%s': 1 to %d of A-Z a-z 0-9 . _ "
			    "-): set [cluster] name", cfg->name,
			    NAME_MAX_LEN - 1);
	}
	xdg = getenv("XDG_RUNTIME_DIR");
	if (geteuid() == 0)
		rc = asprintf(&cfg->runtime_dir, "/run/clusterd/%s",
		    cfg->name);
	else if (xdg != NULL && xdg[0] == '/')
		rc = asprintf(&cfg->runtime_dir, "%s/clusterd/%s", xdg,
		    cfg->name);
	else
		rc = asprintf(&cfg->runtime_dir, "/tmp/clusterd-%u/%s",
		    (unsigned)geteuid(), cfg->name);
	if (rc < 0) {
		cfg->runtime_dir = NULL;
		return parse_fail(p, 0, "out of memory");
	}
	if (cfg->control == NULL) {
		if (asprintf(&cfg->control, "%s/control.sock",
		    cfg->runtime_dir) < 0) {
			cfg->control = NULL;
			return parse_fail(p, 0, "out of memory");
		}
		if (strlen(cfg->control) > SUN_PATH_MAX)
			return parse_fail(p, 0, "control socket %s: path too "
			    "long for a unix socket (%zu bytes, at most %zu): "
			    "set [cluster] control", cfg->control,
			    strlen(cfg->control), SUN_PATH_MAX);
	}
	if (cfg->pidfile == NULL && asprintf(&cfg->pidfile, "%s/master.pid",
	    cfg->runtime_dir) < 0) {
		cfg->pidfile = NULL;
		return parse_fail(p, 0, "out of memory");
	}
	return 0;
}

/* FILE's absolute path: its directory resolved, its own name kept. */
static int
config_file(struct parse *p, const char *file)
{
	struct config	*cfg = p->cfg;
	const char	*slash = strrchr(file, '/');
	char		*d, *real;

	if (slash == NULL)
		d = strdup(".");
	else if (slash == file)
		d = strdup("/");
	else
		d = strndup(file, (size_t)(slash - file));
	if (d == NULL)
		return parse_fail(p, 0, "out of memory");
	real = realpath(d, NULL);
	free(d);
	if (real == NULL)
		return parse_fail(p, 0, "%s", strerror(errno));
	cfg->dir = real;
	if (asprintf(&cfg->file, "%s%s%s", real, strcmp(real, "/") ? "/" : "",
	    slash ? slash + 1 : file) < 0) {
		cfg->file = NULL;
		return parse_fail(p, 0, "out of memory");
	}
	return 0;
}

static void
parse_free(struct parse *p)
{
	int	 i;

	if (p->fp != NULL)
		fclose(p->fp);
	free(p->buf);
	free(p->lseen);
	if (p->lsec != NULL)
		for (i = 0; i < p->cfg->nlistens; i++)
			free(p->lsec[i]);
	free(p->lsec);
	free(p->env_lines);
}

/* The whole of fp into p->cfg->text (kept: an upgrade carries the text
 * in force), then a stream on that copy for inih. */
static int
config_slurp(struct parse *p, FILE *fp)
{
	char	*text = NULL, *t;
	size_t	 len = 0, cap = 0, n;

	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			if ((t = realloc(text, cap + 1)) == NULL) {
				free(text);
				return parse_fail(p, 0, "out of memory");
			}
			text = t;
		}
		n = fread(text + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		free(text);
		return parse_fail(p, 0, "read error: %s", strerror(errno));
	}
	text[len] = '\0';
	p->cfg->text = text;
	p->cfg->textlen = len;
	return 0;
}

static char	 empty_line[] = "\n";

/* Let inih read the text (FILE's, or given) into p->cfg. */
static int
config_read(struct parse *p, const char *file, const char *text, size_t len)
{
	struct stat	 st;
	FILE		*fp;
	int		 rc;

	if (text == NULL) {
		if ((fp = fopen(file, "re")) == NULL)
			return parse_fail(p, 0, "%s", strerror(errno));
		if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
			fclose(fp);
			return parse_fail(p, 0, "is a directory");
		}
		rc = config_slurp(p, fp);
		fclose(fp);
		if (rc < 0 || config_file(p, file) < 0)
			return -1;
	} else {
		/* The path the text came from, as it was resolved then. */
		if ((p->cfg->text = malloc(len + 1)) == NULL ||
		    (p->cfg->file = strdup(file)) == NULL ||
		    (p->cfg->dir = strndup(file, (size_t)(strrchr(file, '/') -
		    file))) == NULL)
			return parse_fail(p, 0, "out of memory");
		memcpy(p->cfg->text, text, len);
		p->cfg->text[len] = '\0';
		p->cfg->textlen = len;
		if (p->cfg->dir[0] == '\0') {
			free(p->cfg->dir);
			if ((p->cfg->dir = strdup("/")) == NULL)
				return parse_fail(p, 0, "out of memory");
		}
	}
	/* fmemopen wants at least one byte: an empty file reads as one
	 * empty line. */
	if ((p->fp = p->cfg->textlen ? fmemopen(p->cfg->text,
	    p->cfg->textlen, "r") : fmemopen(empty_line, 1, "r")) == NULL)
		return parse_fail(p, 0, "%s", strerror(errno));
	rc = ini_parse_stream(config_reader, p, config_handler, p);
	if (p->failed)
		return -1;
	/* A client goes on after a line inih refused outside [cluster]. */
	if (rc == -2 || (rc != 0 && p->flags != CONFIG_CLIENT))
		return parse_fail(p, rc > 0 ? rc : 0, rc == -2 ?
		    "out of memory" : "syntax error");
	p->cfg->log_set = p->seen[KEY_LOG] != 0;
	return 0;
}

static int
config_parse(const char *file, const char *text, size_t len, int flags,
    struct config **ret, char *err, size_t errlen)
{
	struct parse	 p;

	memset(&p, 0, sizeof p);
	p.path = file;
	p.flags = flags;
	p.err = err;
	p.errlen = errlen;
	if ((p.cfg = calloc(1, sizeof(*p.cfg))) == NULL) {
		parse_fail(&p, 0, "out of memory");
		return EXIT_CONFIG;
	}
	if (config_read(&p, file, text, len) < 0 || config_defaults(&p) < 0 ||
	    (flags != CONFIG_CLIENT && config_validate(&p) < 0) ||
	    config_paths(&p) < 0) {
		parse_free(&p);
		config_free(p.cfg);
		return EXIT_CONFIG;
	}
	parse_free(&p);
	*ret = p.cfg;
	return 0;
}

int
config_load(const char *file, int flags, struct config **ret, char *err,
    size_t errlen)
{
	return config_parse(file, NULL, 0, flags, ret, err, errlen);
}

int
config_load_text(const char *file, const char *text, size_t len, int flags,
    struct config **ret, char *err, size_t errlen)
{
	return config_parse(file, text, len, flags, ret, err, errlen);
}

void
config_free_argv(char **argv)
{
	char	**a;

	if (argv == NULL)
		return;
	for (a = argv; *a != NULL; a++)
		free(*a);
	free(argv);
}

void
config_free(struct config *cfg)
{
	int	 i;

	if (cfg == NULL)
		return;
	free(cfg->file);
	free(cfg->dir);
	free(cfg->name);
	free(cfg->user);
	free(cfg->group);
	free(cfg->control);
	free(cfg->pidfile);
	free(cfg->log);
	free(cfg->runtime_dir);
	free(cfg->admin);
	free(cfg->admin_listen.address);
	free(cfg->admin_listen.path);
	free(cfg->text);
	for (i = 0; i < cfg->nlistens; i++) {
		free(cfg->listens[i].address);
		free(cfg->listens[i].path);
	}
	free(cfg->listens);
	free(cfg->command);
	config_free_argv(cfg->argv);
	free(cfg->directory);
	config_free_argv(cfg->env);
	free(cfg);
}

/* ------------------------------------------------------------------ */
/* What a reload cannot change                                        */

static bool
same_str(const void *a, const void *b)
{
	const char	*x = *(char *const *)a, *y = *(char *const *)b;

	if (x == NULL || y == NULL)
		return x == y;
	return strcmp(x, y) == 0;
}

static bool
same_strv(const void *a, const void *b)
{
	char *const	*x = *(char **const *)a, *const *y = *(char **const *)b;

	for (; x != NULL && y != NULL && *x != NULL && *y != NULL; x++, y++)
		if (strcmp(*x, *y) != 0)
			return false;
	return (x == NULL || *x == NULL) && (y == NULL || *y == NULL);
}

/* user and group compare as resolved ids: "33" and "www-data" agree. */
static bool
same_user(const struct config *a, const struct config *b)
{
	return (a->user != NULL) == (b->user != NULL) && a->uid == b->uid;
}

static bool
same_group(const struct config *a, const struct config *b)
{
	return (a->group != NULL) == (b->group != NULL) && a->gid == b->gid;
}

static bool
value_same(const struct key *k, const void *a, const void *b)
{
	if (kinds[k->type].same != NULL)
		return kinds[k->type].same(a, b);
	return memcmp(a, b, kinds[k->type].size) == 0;
}

/* Key k in a and b; a [listen] key per listener of the same name (a
 * listener added or removed is something a reload does). */
static bool
key_same(const struct key *k, const struct config *a, const struct config *b)
{
	int	 i, j;

	if (k->same != NULL)
		return k->same(a, b);
	if (k->section != SEC_LISTEN)
		return value_same(k, (const char *)a + k->off,
		    (const char *)b + k->off);
	for (i = 0; i < a->nlistens; i++)
		for (j = 0; j < b->nlistens; j++)
			if (strcmp(a->listens[i].name,
			    b->listens[j].name) == 0 && !value_same(k,
			    (const char *)&a->listens[i] + k->off,
			    (const char *)&b->listens[j] + k->off))
				return false;
	return true;
}

/* The first key (in table order) whose change a reload cannot apply, or
 * NULL. */
const char *
config_needs_restart(const struct config *old, const struct config *new)
{
	const struct key	*k;

	for (k = keys; k < keys + NKEYS; k++)
		if (!(k->flags & K_RELOAD) && !key_same(k, old, new))
			return k->name;
	return NULL;
}
