/*
 * config.c - the configuration file: one table of every key (section, type,
 * bounds, default, reloadable), inih for the syntax, and a whole-file
 * validation into a fresh struct config. Lines are read and counted here,
 * not by inih, so that every error names FILE:LINE and inih only ever sees
 * lines it can take whole (Debian's inih cuts lines at 200 bytes silently,
 * joins indented lines and passes no line number).
 */

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ini.h>

#include "clusterd.h"

/* Longest line clusterd reads, without its newline. */
#define CONFIG_LINE_MAX		4096
#define DURATION_MAX		86400.0		/* one day */

enum section {
	SEC_NONE = 0,		/* before the first [section] */
	SEC_CLUSTER,
	SEC_LISTEN,
	SEC_WORKER,
	SEC_OTHER,		/* CONFIG_CLIENT: a section it skips */
};

enum key_type {
	KT_NAME,		/* [A-Za-z0-9._-]{1,63} */
	KT_WORKERS,		/* auto or an integer */
	KT_USER,
	KT_GROUP,
	KT_PATH,		/* absolute; relative to FILE's directory */
	KT_DIR,			/* KT_PATH that must be a directory */
	KT_ADDRESS,
	KT_INT,
	KT_ENUM,
	KT_MODE,		/* octal file mode */
	KT_SOCKGROUP,
	KT_COMMAND,
	KT_ENV,			/* NAME=VALUE, repeatable */
	KT_DURATION,
	KT_SIZE,
	KT_SIGNAL,
};

struct key {
	enum section		 section;
	const char		*name;
	enum key_type		 type;
	size_t			 off;	/* in struct config or config_listen */
	double			 min, max;
	const char		*def;	/* parsed like a value; NULL: none */
	bool			 reload;	/* a reload can change it */
	bool			 client;	/* CONFIG_CLIENT reads it */
	const char *const	*words;	/* KT_ENUM: the values, in enum order */
};

static const char *const sockets_words[] = { "per-worker", "shared", NULL };
static const char *const ready_words[] = { "delay", "notify", NULL };

#define C(f)	offsetof(struct config, f)
#define L(f)	offsetof(struct config_listen, f)

/*
 * Every key clusterd knows. Defaults are written as they would be in FILE
 * and go through the same parser; keys without one are computed (name,
 * control, pidfile) or stay unset. clusterd.conf(5) documents this table.
 */
static const struct key keys[] = {
	/* section	name		type	   field	min max  default  reload client */
	{ SEC_CLUSTER, "name",		KT_NAME,   C(name),	0, 0,	NULL,	false, true, NULL },
	{ SEC_CLUSTER, "workers",	KT_WORKERS, C(workers),	1, WORKERS_MAX, "auto", true, false, NULL },
	{ SEC_CLUSTER, "user",		KT_USER,   C(user),	0, 0,	NULL,	false, false, NULL },
	{ SEC_CLUSTER, "group",		KT_GROUP,  C(group),	0, 0,	NULL,	false, false, NULL },
	{ SEC_CLUSTER, "control",	KT_PATH,   C(control),	0, 0,	NULL,	false, true, NULL },
	{ SEC_CLUSTER, "pidfile",	KT_PATH,   C(pidfile),	0, 0,	NULL,	false, true, NULL },
	{ SEC_CLUSTER, "log",		KT_PATH,   C(log),	0, 0,	NULL,	true, true, NULL },

	{ SEC_LISTEN, "address",	KT_ADDRESS, L(address),	0, 0,	NULL,	true, false, NULL },
	{ SEC_LISTEN, "backlog",	KT_INT,    L(backlog),	1, 65535, "511", true, false, NULL },
	{ SEC_LISTEN, "sockets",	KT_ENUM,   L(sockets),	0, 0,	"per-worker", false, false, sockets_words },
	{ SEC_LISTEN, "socket_mode",	KT_MODE,   L(socket_mode), 0, 0777, NULL, true, false, NULL },
	{ SEC_LISTEN, "socket_group",	KT_SOCKGROUP, L(socket_gid), 0, 0, NULL, true, false, NULL },

	{ SEC_WORKER, "command",	KT_COMMAND, C(command),	0, 0,	NULL,	true, false, NULL },
	{ SEC_WORKER, "directory",	KT_DIR,    C(directory), 0, 0,	NULL,	true, false, NULL },
	{ SEC_WORKER, "env",		KT_ENV,    C(env),	0, 0,	NULL,	true, false, NULL },
	{ SEC_WORKER, "ready",		KT_ENUM,   C(ready),	0, 0,	"delay", true, false, ready_words },
	{ SEC_WORKER, "ready_delay",	KT_DURATION, C(ready_delay), 0, DURATION_MAX, "1s", true, false, NULL },
	{ SEC_WORKER, "ready_timeout",	KT_DURATION, C(ready_timeout), 0.01, DURATION_MAX, "30s", true, false, NULL },
	{ SEC_WORKER, "stop_signal",	KT_SIGNAL, C(stop_signal), 0, 0, "TERM", true, false, NULL },
	{ SEC_WORKER, "stop_timeout",	KT_DURATION, C(stop_timeout), 0, DURATION_MAX, "10s", true, false, NULL },
	{ SEC_WORKER, "restart_delay",	KT_DURATION, C(restart_delay), 0.001, DURATION_MAX, "100ms", true, false, NULL },
	{ SEC_WORKER, "restart_delay_max", KT_DURATION, C(restart_delay_max), 0.001, DURATION_MAX, "30s", true, false, NULL },
	{ SEC_WORKER, "watchdog",	KT_DURATION, C(watchdog), 0, DURATION_MAX, "0", true, false, NULL },
	{ SEC_WORKER, "max_memory",	KT_SIZE,   C(max_memory), 0, 1125899906842624.0, "0", true, false, NULL },
};

#undef C
#undef L

#define NKEYS	((int)(sizeof(keys) / sizeof(keys[0])))

/* Environment variables clusterd sets itself for every worker. */
static const char *const env_reserved[] = {
	"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET",
	"WATCHDOG_USEC", "WATCHDOG_PID", "CLUSTERD_WORKER",
	"CLUSTERD_GENERATION", NULL
};

/* One parse of one FILE. */
struct parse {
	const char		*path;		/* as given, for messages */
	FILE			*fp;
	int			 flags;
	struct config		*cfg;

	int			 line;		/* our own count */
	char			*buf;		/* getline */
	size_t			 bufsz;
	bool			 content;	/* a line that is not a comment */

	enum section		 sec;
	char			 secname[128];	/* as canonical: "listen web" */
	int			 cur;		/* SEC_LISTEN: index in listens */
	int			 cluster_line, worker_line;

	bool			 cut;		/* an inline comment was removed */
	bool			 long_pending;	/* the handler takes long_* */
	char			*long_key;
	char			*long_value;

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
static char	*config_reader(char *, int, void *);
static int	 config_handler(void *, const char *, const char *,
		    const char *);
static int	 config_set(struct parse *, const char *, const char *);
static int	 config_section(struct parse *, char *);
static int	 config_defaults(struct parse *);
static int	 config_validate(struct parse *);
static int	 config_paths(struct parse *);
static const char *find_sep(const char *, const char *);
static void	 format_duration(double, char *, size_t);

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
	char	 msg[640];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (p->cut)
		return parse_fail(p, p->line, "'%s'%s%s%s: %s (a ';' after "
		    "whitespace starts a comment: write \\; for a literal ';')",
		    k->name, k->section == SEC_LISTEN ? " in [" : "",
		    k->section == SEC_LISTEN ? p->secname : "",
		    k->section == SEC_LISTEN ? "]" : "", msg);
	return parse_fail(p, p->line, "'%s'%s%s%s: %s", k->name,
	    k->section == SEC_LISTEN ? " in [" : "",
	    k->section == SEC_LISTEN ? p->secname : "",
	    k->section == SEC_LISTEN ? "]" : "", msg);
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
/* Setting one key                                                    */

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
	int	 i = (int)(k - keys);

	if (k->section == SEC_LISTEN)
		return &p->lseen[p->cur][i];
	return &p->seen[i];
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

static int
set_env(struct parse *p, const struct key *k, const char *v)
{
	struct config	 *cfg = p->cfg;
	const char	 *eq;
	char		**ne, *s;
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
		if (strncmp(cfg->env[i], v, n + 1) == 0)
			return key_fail(p, k, "%.*s set twice (first on "
			    "line %d)", (int)n, v, p->env_lines[i]);
	if ((ne = realloc(cfg->env, (cfg->nenv + 2) * sizeof(*ne))) == NULL)
		return parse_fail(p, 0, "out of memory");
	cfg->env = ne;
	ne[cfg->nenv] = NULL;
	if ((nl = realloc(p->env_lines, (cfg->nenv + 1) * sizeof(*nl))) ==
	    NULL)
		return parse_fail(p, 0, "out of memory");
	p->env_lines = nl;
	if ((s = strdup(v)) == NULL)
		return parse_fail(p, 0, "out of memory");
	p->env_lines[cfg->nenv] = p->line;
	cfg->env[cfg->nenv++] = s;
	cfg->env[cfg->nenv] = NULL;
	return 0;
}

/* Parse value v for key k into its field; 0 or -1 with the error set. */
static int
key_set(struct parse *p, const struct key *k, const char *v)
{
	struct config		*cfg = p->cfg;
	struct config_listen	*l;
	void			*field = key_field(p, k);
	struct passwd		*pw;
	struct group		*gr;
	char			*path, **argv, lo[32], hi[32];
	const char		*why;
	long long		 n;
	double			 d;
	uint64_t		 sz;
	int			 i, rc;

	switch (k->type) {
	case KT_NAME:
		if (value_name(v) < 0)
			return key_fail(p, k, "bad name '%s' (1 to %d of "
			    "A-Z a-z 0-9 . _ -)", v, NAME_MAX_LEN - 1);
		return set_string(p, field, v);
	case KT_WORKERS:
		if (strcmp(v, "auto") == 0) {
			cfg->workers = cpus_available();
			cfg->workers_auto = true;
			return 0;
		}
		if (value_int(v, &n) < 0 || n < k->min || n > k->max)
			return key_fail(p, k, "bad value '%s' (expected auto "
			    "or %g..%g)", v, k->min, k->max);
		cfg->workers = (int)n;
		cfg->workers_auto = false;
		return 0;
	case KT_USER:
		if ((pw = getpwnam(v)) == NULL && v[0] != '\0' &&
		    strspn(v, "0123456789") == strlen(v) &&
		    value_int(v, &n) == 0)
			pw = getpwuid((uid_t)n);
		if (pw == NULL)
			return key_fail(p, k, "unknown user '%s'", v);
		p->user_uid = pw->pw_uid;
		p->user_gid = pw->pw_gid;
		/* The name, also for "33": workers need it for initgroups. */
		return set_string(p, field, pw->pw_name);
	case KT_GROUP:
	case KT_SOCKGROUP:
		if ((gr = getgrnam(v)) == NULL && v[0] != '\0' &&
		    strspn(v, "0123456789") == strlen(v) &&
		    value_int(v, &n) == 0)
			gr = getgrgid((gid_t)n);
		if (gr == NULL)
			return key_fail(p, k, "unknown group '%s'", v);
		if (k->type == KT_SOCKGROUP) {
			l = &cfg->listens[p->cur];
			l->socket_gid = gr->gr_gid;
			l->has_socket_group = true;
			return 0;
		}
		p->group_gid = gr->gr_gid;
		return set_string(p, field, gr->gr_name);
	case KT_PATH:
	case KT_DIR:
		if (*v == '\0')
			return key_fail(p, k, "empty path");
		if ((path = value_path(cfg->dir, v)) == NULL)
			return parse_fail(p, 0, "out of memory");
		if (k->type == KT_DIR) {
			struct stat	 st;

			if (stat(path, &st) < 0) {
				rc = errno;
				free(path);
				return key_fail(p, k, "%s: %s", v,
				    strerror(rc));
			}
			if (!S_ISDIR(st.st_mode)) {
				free(path);
				return key_fail(p, k, "%s: not a directory",
				    v);
			}
		}
		if (field == &cfg->control && strlen(path) > SUN_PATH_MAX) {
			n = (long long)strlen(path);
			free(path);
			return key_fail(p, k, "path too long for a unix socket "
			    "(%lld bytes, at most %zu)", n, SUN_PATH_MAX);
		}
		free(*(char **)field);
		*(char **)field = path;
		if (field == &cfg->log)
			cfg->log_set = true;
		return 0;
	case KT_ADDRESS:
		l = &cfg->listens[p->cur];
		if (value_address(v, cfg->dir, l, &why) < 0)
			return key_fail(p, k, "%s: %s", v, why);
		return 0;
	case KT_INT:
		if (value_int(v, &n) < 0)
			return key_fail(p, k, "bad number '%s'", v);
		if (n < k->min || n > k->max)
			return key_fail(p, k, "%s out of range (%g..%g)", v,
			    k->min, k->max);
		*(int *)field = (int)n;
		return 0;
	case KT_ENUM:
		for (i = 0; k->words[i] != NULL; i++) {
			if (strcmp(v, k->words[i]) == 0) {
				*(int *)field = i;
				return 0;
			}
		}
		return key_fail(p, k, "bad value '%s' (expected %s or %s)", v,
		    k->words[0], k->words[1]);
	case KT_MODE:
		if (*v == '\0' || strlen(v) > 4 ||
		    strspn(v, "01234567") != strlen(v))
			return key_fail(p, k, "bad mode '%s' (expected octal, "
			    "e.g. 0660)", v);
		n = strtol(v, NULL, 8);
		if (n > k->max)
			return key_fail(p, k, "%s out of range (0..0777)", v);
		*(int *)field = (int)n;
		return 0;
	case KT_COMMAND:
		if (value_command(v, &argv, &why) < 0)
			return key_fail(p, k, "%s", why);
		if (set_string(p, field, v) < 0) {
			config_free_argv(argv);
			return -1;
		}
		config_free_argv(cfg->argv);
		cfg->argv = argv;
		return 0;
	case KT_ENV:
		return set_env(p, k, v);
	case KT_DURATION:
		if (value_duration(v, &d) < 0)
			return key_fail(p, k, "bad duration '%s' (e.g. 250ms, "
			    "10s, 2m, 1h)", v);
		if (d < k->min || d > k->max) {
			format_duration(k->min, lo, sizeof lo);
			format_duration(k->max, hi, sizeof hi);
			return key_fail(p, k, "%s out of range (%s..%s)", v,
			    lo, hi);
		}
		*(double *)field = d;
		return 0;
	case KT_SIZE:
		if (value_size(v, &sz) < 0)
			return key_fail(p, k, "bad size '%s' (e.g. 512M, 2G)",
			    v);
		if ((double)sz > k->max)
			return key_fail(p, k, "%s out of range", v);
		*(uint64_t *)field = sz;
		return 0;
	case KT_SIGNAL:
		if (value_signal(v, &i) < 0)
			return key_fail(p, k, "bad signal '%s' (e.g. TERM, "
			    "INT, QUIT, 15)", v);
		if (i == SIGSTOP)
			return key_fail(p, k, "STOP cannot be caught: the "
			    "worker would freeze");
		*(int *)field = i;
		return 0;
	}
	return key_fail(p, k, "unhandled key type");
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
	for (i = 0; i < NKEYS; i++) {
		if (keys[i].section == p->sec &&
		    strcmp(keys[i].name, name) == 0) {
			k = &keys[i];
			break;
		}
	}
	if (k == NULL) {
		if (client)
			return 0;
		return parse_fail(p, p->line, "unknown key '%s' in [%s]", name,
		    p->secname);
	}
	if (client && !k->client)
		return 0;
	seen = key_seen(p, k);
	if (*seen != 0 && k->type != KT_ENV)
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
/* Reading lines: our count, our checks, inih's syntax                */

/*
 * inih's find_chars_or_comment(): the first of chars, or a ';' that
 * follows whitespace (an inline comment), or the end.
 */
static const char *
find_sep(const char *s, const char *chars)
{
	bool	 was_space = false;

	while (*s != '\0' && (chars == NULL || strchr(chars, *s) == NULL) &&
	    !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s);
		s++;
	}
	return s;
}

static char *
trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* "[cluster]", "[listen]", "[listen NAME]", "[worker]". */
static int
config_section(struct parse *p, char *s)
{
	struct config		*cfg = p->cfg;
	struct config_listen	*nl;
	int			(*ns)[NKEYS];
	char			**nsec, *end, *inner, *lname, *rest;
	bool			 client = p->flags == CONFIG_CLIENT;
	int			 i;

	if ((end = strchr(s, ']')) == NULL) {
		p->sec = SEC_OTHER;
		if (client)
			return 0;
		return parse_fail(p, p->line, "section header without ']'");
	}
	*end = '\0';
	rest = trim(end + 1);
	inner = trim(s + 1);
	snprintf(p->secname, sizeof p->secname, "%s", inner);
	if (*rest != '\0' && *rest != ';' && *rest != '#' && !client)
		return parse_fail(p, p->line, "unexpected '%s' after [%s]",
		    rest, inner);

	if (strcmp(inner, "cluster") == 0) {
		if (p->cluster_line != 0)
			return parse_fail(p, p->line, "[cluster] given twice "
			    "(first on line %d)", p->cluster_line);
		p->cluster_line = p->line;
		p->sec = SEC_CLUSTER;
		return 0;
	}
	if (client) {
		p->sec = SEC_OTHER;
		return 0;
	}
	if (strcmp(inner, "worker") == 0) {
		if (p->worker_line != 0)
			return parse_fail(p, p->line, "[worker] given twice "
			    "(first on line %d)", p->worker_line);
		p->worker_line = p->line;
		p->sec = SEC_WORKER;
		return 0;
	}
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

/*
 * inih's reader: hand it one whole line at a time, after our checks.
 * Comments and blank lines go on as "\n", sections as our own canonical
 * header; key lines go on unchanged when they fit inih's buffer, else as
 * a stub whose real key and value the handler takes from us. A NULL
 * return ends the parse (end of file or an error in p->err).
 */
static char *
config_reader(char *str, int num, void *stream)
{
	struct parse	*p = stream;
	char		*line, *s, *sep;
	ssize_t		 n;
	bool		 client = p->flags == CONFIG_CLIENT;

	p->cut = false;
	p->long_pending = false;
	if (p->failed)
		return NULL;
	errno = 0;
	if ((n = getline(&p->buf, &p->bufsz, p->fp)) < 0) {
		if (ferror(p->fp))
			parse_fail(p, 0, "read error: %s", strerror(errno));
		return NULL;
	}
	p->line++;
	line = p->buf;
	if ((size_t)n != strlen(line)) {
		parse_fail(p, p->line, "NUL byte in line");
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (p->line == 1 && strncmp(line, "\xEF\xBB\xBF", 3) == 0) {
		line += 3;
		n -= 3;
	}
	if (n > CONFIG_LINE_MAX) {
		if (client && p->sec != SEC_CLUSTER)
			goto blank;
		parse_fail(p, p->line, "line too long (%zd bytes, at most %d)",
		    n, CONFIG_LINE_MAX);
		return NULL;
	}

	s = line;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0' || *s == ';' || *s == '#')
		goto blank;
	p->content = true;
	if (s != line) {
		if (client && p->sec != SEC_CLUSTER)
			goto blank;
		parse_fail(p, p->line, "indented line (a continuation line "
		    "is not supported: write the value on one line)");
		return NULL;
	}
	if (*s == '[') {
		if (config_section(p, s) < 0)
			return NULL;
		snprintf(str, (size_t)num, "[s]\n");
		return str;
	}

	/* A key line: key = value (or key: value, as inih allows). */
	if (client && p->sec != SEC_CLUSTER)
		goto blank;
	sep = (char *)find_sep(s, "=:");
	if (*sep != '=' && *sep != ':') {
		parse_fail(p, p->line, "expected 'key = value' or a "
		    "[section]");
		return NULL;
	}
	p->cut = *find_sep(sep + 1, NULL) != '\0';
	if (n + 2 <= num) {
		memcpy(str, line, (size_t)n);
		memcpy(str + n, "\n", 2);
		return str;
	}
	/* Too long for inih: the handler gets key and value from here. */
	*sep = '\0';
	p->long_key = trim(s);
	*(char *)find_sep(sep + 1, NULL) = '\0';
	p->long_value = trim(sep + 1);
	p->long_pending = true;
	snprintf(str, (size_t)num, "k=v\n");
	return str;
blank:
	snprintf(str, (size_t)num, "\n");
	return str;
}

static int
config_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct parse	*p = user;

	(void)section;		/* ours is p->sec: inih's is cut at 50 */
	if (name == NULL)	/* a new section, in some inih builds */
		return 1;
	if (p->long_pending) {
		name = p->long_key;
		value = p->long_value;
		p->long_pending = false;
	}
	return config_set(p, name, value) == 0;
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
		if (keys[i].def == NULL || (client && !keys[i].client))
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

static int
key_index(const char *name)
{
	int	 i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return i;
	return -1;
}

/* Checks across keys, once everything is read. */
static int
config_validate(struct parse *p)
{
	struct config		*cfg = p->cfg;
	struct config_listen	*l, *o;
	int			 i, j, line;
	int			 k_addr = key_index("address");
	int			 k_sockets = key_index("sockets");
	int			 k_mode = key_index("socket_mode");
	int			 k_group = key_index("socket_group");
	int			 k_rd = key_index("restart_delay");
	int			 k_rdm = key_index("restart_delay_max");
	char			 a[32], b[32];

	if (!p->content)
		return parse_fail(p, 0, "empty file");
	if (cfg->command == NULL)
		return parse_fail(p, 0, "missing [worker] command");
	if (cfg->nlistens == 0)
		return parse_fail(p, 0, "no [listen] section");
	for (i = 0; i < cfg->nlistens; i++) {
		l = &cfg->listens[i];
		if (l->address == NULL)
			return parse_fail(p, 0, "missing [%s] address",
			    p->lsec[i]);
		if (l->family == AF_UNIX) {
			if (l->sockets == LISTEN_PER_WORKER &&
			    p->lseen[i][k_sockets] != 0)
				return parse_fail(p, p->lseen[i][k_sockets],
				    "'sockets' in [%s]: a unix: listener is "
				    "always shared", p->lsec[i]);
			l->sockets = LISTEN_SHARED;
		} else {
			if ((line = p->lseen[i][k_mode]) != 0 ||
			    (line = p->lseen[i][k_group]) != 0)
				return parse_fail(p, line, "'%s' in [%s]: "
				    "only for unix: addresses",
				    p->lseen[i][k_mode] ? "socket_mode" :
				    "socket_group", p->lsec[i]);
		}
		for (j = 0; j < i; j++) {
			o = &cfg->listens[j];
			if (o->addrlen == l->addrlen &&
			    memcmp(&o->addr, &l->addr, l->addrlen) == 0)
				return parse_fail(p, p->lseen[i][k_addr],
				    "'address' in [%s]: %s is already used "
				    "by [%s] (line %d)", p->lsec[i],
				    l->address, p->lsec[j],
				    p->lseen[j][k_addr]);
		}
	}
	if (cfg->restart_delay_max < cfg->restart_delay) {
		format_duration(cfg->restart_delay, a, sizeof a);
		format_duration(cfg->restart_delay_max, b, sizeof b);
		line = p->seen[k_rdm] ? p->seen[k_rdm] : p->seen[k_rd];
		return parse_fail(p, line, "'restart_delay_max' (%s) is less "
		    "than 'restart_delay' (%s)", b, a);
	}

	/* Credentials: the group's gid, else the user's primary one. */
	cfg->uid = cfg->user != NULL ? p->user_uid : geteuid();
	if (cfg->group != NULL)
		cfg->gid = p->group_gid;
	else if (cfg->user != NULL)
		cfg->gid = p->user_gid;
	else
		cfg->gid = getegid();
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

int
config_load(const char *file, int flags, struct config **ret, char *err,
    size_t errlen)
{
	struct parse	 p;
	struct config	*cfg;
	struct stat	 st;
	int		 i, rc;

	memset(&p, 0, sizeof p);
	p.path = file;
	p.flags = flags;
	p.err = err;
	p.errlen = errlen;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		parse_fail(&p, 0, "out of memory");
		return EXIT_CONFIG;
	}
	p.cfg = cfg;

	if ((p.fp = fopen(file, "re")) == NULL) {
		parse_fail(&p, 0, "%s", strerror(errno));
		goto fail;
	}
	if (fstat(fileno(p.fp), &st) == 0 && S_ISDIR(st.st_mode)) {
		parse_fail(&p, 0, "is a directory");
		goto fail;
	}
	if (config_file(&p, file) < 0)
		goto fail;

	rc = ini_parse_stream(config_reader, &p, config_handler, &p);
	if (p.failed)
		goto fail;
	if (rc != 0) {
		parse_fail(&p, rc > 0 ? rc : 0, rc == -2 ? "out of memory" :
		    "syntax error");
		goto fail;
	}
	if (config_defaults(&p) < 0)
		goto fail;
	if (flags != CONFIG_CLIENT && config_validate(&p) < 0)
		goto fail;
	if (config_paths(&p) < 0)
		goto fail;

	fclose(p.fp);
	free(p.buf);
	free(p.lseen);
	for (i = 0; i < cfg->nlistens; i++)
		free(p.lsec[i]);
	free(p.lsec);
	free(p.env_lines);
	*ret = cfg;
	return 0;
fail:
	if (p.fp != NULL)
		fclose(p.fp);
	free(p.buf);
	free(p.lseen);
	if (p.lsec != NULL)
		for (i = 0; i < cfg->nlistens; i++)
			free(p.lsec[i]);
	free(p.lsec);
	free(p.env_lines);
	config_free(cfg);
	return EXIT_CONFIG;
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

static bool
str_differ(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/*
 * The first key (in table order) whose change a reload cannot apply, or
 * NULL. user/group compare as resolved ids, so "33" and "www-data" agree.
 */
const char *
config_needs_restart(const struct config *old, const struct config *new)
{
	const struct key	*k;
	const void		*a, *b;
	int			 i, j;

	for (k = keys; k < keys + NKEYS; k++) {
		if (k->reload)
			continue;
		a = (const char *)old + k->off;
		b = (const char *)new + k->off;
		switch (k->type) {
		case KT_USER:
			if ((old->user != NULL) != (new->user != NULL) ||
			    old->uid != new->uid)
				return k->name;
			break;
		case KT_GROUP:
			if ((old->group != NULL) != (new->group != NULL) ||
			    old->gid != new->gid)
				return k->name;
			break;
		case KT_ENUM:	/* sockets, per listener of the same name */
			for (i = 0; i < old->nlistens; i++) {
				for (j = 0; j < new->nlistens; j++) {
					a = (const char *)&old->listens[i] +
					    k->off;
					b = (const char *)&new->listens[j] +
					    k->off;
					if (strcmp(old->listens[i].name,
					    new->listens[j].name) == 0 &&
					    *(const int *)a != *(const int *)b)
						return k->name;
				}
			}
			break;
		default:
			if (str_differ(*(char *const *)a, *(char *const *)b))
				return k->name;
			break;
		}
	}
	return NULL;
}
