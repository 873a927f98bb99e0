/*
 * value.c - one configuration value at a time, with no file and no table:
 * numbers, durations, sizes, signals and their names, names, paths,
 * listen addresses and command words. Pure functions (host names are
 * resolved): 0 or -errno, the result in *ret only on success, and for the
 * few with more than one way to fail a static reason in *why.
 */

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "clusterd.h"

static const char *parse_number(const char *, double *);
static void	 argv_free(char **, int);
static char	*path_clean(const char *);
static int	 parse_port(const char *, in_port_t *);
static int	 resolve_host(const char *, int, in_port_t,
		    struct sockaddr_storage *, socklen_t *, const char **);
static int	 address_unix(const char *, const char *,
		    struct sockaddr_storage *, socklen_t *, char **,
		    const char **);
static int	 address_host(const char *, const char *, int, in_port_t,
		    struct sockaddr_storage *, socklen_t *, const char **);
static int	 address_inet6(const char *, struct sockaddr_storage *,
		    socklen_t *, const char **);
static int	 address_inet(const char *, struct sockaddr_storage *,
		    socklen_t *, const char **);

/* A cluster or listener name: [A-Za-z0-9._-]{1,63}, not "." or "..". */
int
value_name(const char *s)
{
	size_t	 n = strlen(s);

	if (n == 0 || n >= NAME_MAX_LEN || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0)
		return -EINVAL;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-") == n ? 0 : -EINVAL;
}

/* Decimal "12" or "1.5": at most 15 integer and 9 fraction digits. */
static const char *
parse_number(const char *s, double *ret)
{
	unsigned long long	 ip = 0, fp = 0, scale = 1;
	int			 ni = 0, nf = 0;

	while (isdigit((unsigned char)*s)) {
		if (++ni > 15)
			return NULL;
		ip = ip * 10 + (unsigned)(*s++ - '0');
	}
	if (*s == '.') {
		s++;
		while (isdigit((unsigned char)*s)) {
			if (++nf > 9)
				return NULL;
			fp = fp * 10 + (unsigned)(*s++ - '0');
			scale *= 10;
		}
		if (nf == 0)
			return NULL;
	}
	if (ni == 0 && nf == 0)
		return NULL;
	*ret = (double)ip + (double)fp / (double)scale;
	return s;
}

int
count_of(const struct count_pct *c, int of)
{
	int n = c->pct ? (int)(((long long)c->n * of + 99) / 100) : c->n;

	return n < 1 ? 1 : n;
}

/* "-12", "300": a decimal integer (the table checks the range). */
int
value_int(const char *s, long long *ret)
{
	long long	 v = 0;
	bool		 neg = false;

	if (*s == '-') {
		neg = true;
		s++;
	}
	if (*s == '\0')
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s) || v > 100000000000LL)
			return -EINVAL;
		v = v * 10 + (*s - '0');
	}
	*ret = neg ? -v : v;
	return 0;
}

/* The units a number may carry, and what they multiply it by. */
struct unit {
	const char	*name;
	double		 mult;
};
static const struct unit duration_units[] = {
	{ "", 1 }, { "s", 1 }, { "ms", 0.001 }, { "m", 60 }, { "h", 3600 },
	{ NULL, 0 },
};
static const struct unit size_units[] = {	/* any case */
	{ "", 1 }, { "K", 1024.0 }, { "KB", 1024.0 },
	{ "M", 1024.0 * 1024 }, { "MB", 1024.0 * 1024 },
	{ "G", 1024.0 * 1024 * 1024 }, { "GB", 1024.0 * 1024 * 1024 },
	{ NULL, 0 },
};

/* A number and one of units right after it: 0 with the product, or
 * -EINVAL. */
static int
number_in(const char *s, const struct unit *units, bool anycase,
    double *ret)
{
	const char	*u;
	double		 v;
	int		 i;

	if ((u = parse_number(s, &v)) == NULL)
		return -EINVAL;
	for (i = 0; units[i].name != NULL; i++)
		if ((anycase ? strcasecmp(u, units[i].name) :
		    strcmp(u, units[i].name)) == 0) {
			*ret = v * units[i].mult;
			return 0;
		}
	return -EINVAL;
}

int
value_duration(const char *s, double *ret_seconds)
{
	double	 v;

	if (number_in(s, duration_units, false, &v) < 0)
		return -EINVAL;
	*ret_seconds = v;
	return 0;
}

int
value_size(const char *s, uint64_t *ret_bytes)
{
	double	 v;

	if (number_in(s, size_units, true, &v) < 0)
		return -EINVAL;
	v = floor(v);
	if (v >= 9223372036854775808.0)		/* 2^63 */
		return -EINVAL;
	*ret_bytes = (uint64_t)v;
	return 0;
}

static const struct {
	const char	*name;
	int		 signo;
} signals[] = {
	{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
	{ "ILL", SIGILL }, { "TRAP", SIGTRAP }, { "ABRT", SIGABRT },
	{ "BUS", SIGBUS }, { "FPE", SIGFPE }, { "KILL", SIGKILL },
	{ "USR1", SIGUSR1 }, { "SEGV", SIGSEGV }, { "USR2", SIGUSR2 },
	{ "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM },
#ifdef SIGSTKFLT
	{ "STKFLT", SIGSTKFLT },
#endif
	{ "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "STOP", SIGSTOP },
	{ "TSTP", SIGTSTP }, { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },
	{ "URG", SIGURG }, { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
	{ "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH },
	{ "IO", SIGIO },
#ifdef SIGPWR
	{ "PWR", SIGPWR },
#endif
	{ "SYS", SIGSYS },
};

/* "TERM", "SIGTERM", "term", "15"; realtime signals by number. */
int
value_signal(const char *s, int *ret_signo)
{
	long long	 n;
	size_t		 i;

	if (isdigit((unsigned char)*s)) {
		if (value_int(s, &n) < 0 || n < 1 || n > SIGRTMAX)
			return -EINVAL;
		*ret_signo = (int)n;
		return 0;
	}
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		if (strcasecmp(s, signals[i].name) == 0) {
			*ret_signo = signals[i].signo;
			return 0;
		}
	}
	return -EINVAL;
}

/* "TERM"; a number for signals without a name (static buffer). */
const char *
value_signame(int signo)
{
	static char	 buf[16];
	size_t		 i;

	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		if (signals[i].signo == signo)
			return signals[i].name;
	snprintf(buf, sizeof buf, "%d", signo);
	return buf;
}

static void
argv_free(char **argv, int n)
{
	int	 i;

	for (i = 0; i < n; i++)
		free(argv[i]);
	free(argv);
}

/*
 * Split like a shell, expand nothing: blanks separate words; '...' is
 * literal; in "..." a backslash escapes only \ " $ ` and newline; elsewhere
 * a backslash escapes the next character.
 */
int
value_command(const char *s, char ***ret_argv, const char **why)
{
	char	**argv = NULL, **na, *word;
	const char *unused;
	size_t	  wlen;
	int	  argc = 0;
	char	  quote;

	if (why == NULL)
		why = &unused;

	if ((word = malloc(strlen(s) + 1)) == NULL) {
		*why = "out of memory";
		return -ENOMEM;
	}
	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\n')
			s++;
		if (*s == '\0')
			break;
		wlen = 0;
		quote = 0;
		for (; *s != '\0'; s++) {
			if (quote == '\'') {
				if (*s == '\'')
					quote = 0;
				else
					word[wlen++] = *s;
			} else if (quote == '"') {
				if (*s == '"')
					quote = 0;
				else if (*s == '\\' && s[1] != '\0' &&
				    strchr("\\\"$`\n", s[1]) != NULL)
					word[wlen++] = *++s;
				else
					word[wlen++] = *s;
			} else if (*s == ' ' || *s == '\t' || *s == '\n')
				break;
			else if (*s == '\'' || *s == '"')
				quote = *s;
			else if (*s == '\\') {
				if (s[1] == '\0') {
					*why = "ends with a backslash";
					goto fail;
				}
				word[wlen++] = *++s;
			} else
				word[wlen++] = *s;
		}
		if (quote != 0) {
			*why = quote == '\'' ? "unterminated ' quote" :
			    "unterminated \" quote";
			goto fail;
		}
		if ((na = realloc(argv, (argc + 2) * sizeof(*argv))) == NULL)
			goto nomem;
		argv = na;
		if ((argv[argc] = strndup(word, wlen)) == NULL)
			goto nomem;
		argv[++argc] = NULL;
	}
	free(word);
	if (argc == 0) {
		*why = "empty command";
		free(argv);
		return -EINVAL;
	}
	*ret_argv = argv;
	return 0;
nomem:
	*why = "out of memory";
fail:
	free(word);
	argv_free(argv, argc);
	return -EINVAL;
}

/* Lexically clean an absolute path: no ".", "..", "//" or trailing "/". */
static char *
path_clean(const char *in)
{
	const char	*p, *e;
	char		*out;
	size_t		 o = 0, len;

	if ((out = malloc(strlen(in) + 2)) == NULL)
		return NULL;
	for (p = in; *p != '\0'; p = e) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		e = strchrnul(p, '/');
		len = (size_t)(e - p);
		if (len == 1 && p[0] == '.')
			continue;
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			continue;
		}
		out[o++] = '/';
		memcpy(out + o, p, len);
		o += len;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return out;
}

/* p as an absolute path: relative ones are relative to basedir. */
char *
value_path(const char *basedir, const char *p)
{
	char	*joined, *out;

	if (p[0] == '/' || basedir == NULL)
		return path_clean(p);
	if (asprintf(&joined, "%s/%s", basedir, p) < 0)
		return NULL;
	out = path_clean(joined);
	free(joined);
	return out;
}

/* "port" as 1..65535. */
static int
parse_port(const char *s, in_port_t *ret)
{
	long long	 n;

	if (!isdigit((unsigned char)*s) || value_int(s, &n) < 0 ||
	    n < 1 || n > 65535)
		return -EINVAL;
	*ret = htons((in_port_t)n);
	return 0;
}

/* A host (numeric preferred, else resolved; first IPv4 result wins). */
static int
resolve_host(const char *host, int family, in_port_t port,
    struct sockaddr_storage *ss, socklen_t *len, const char **why)
{
	static char		 msg[160];
	struct addrinfo		 hints, *res, *ai, *pick = NULL;
	int			 rc;

	/* Dotted digits: an IPv4 address in full, never a host name. */
	if (family != AF_INET6 && strspn(host, "0123456789.") ==
	    strlen(host)) {
		struct sockaddr_in	*sin = (struct sockaddr_in *)ss;

		memset(ss, 0, sizeof(*ss));
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
			snprintf(msg, sizeof msg, "bad IPv4 address '%s'",
			    host);
			*why = msg;
			return -EINVAL;
		}
		sin->sin_family = AF_INET;
		sin->sin_port = port;
		*len = sizeof(*sin);
		return 0;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0 && family == AF_UNSPEC) {
		hints.ai_flags = 0;
		rc = getaddrinfo(host, NULL, &hints, &res);
	}
	if (rc != 0) {
		if (family == AF_INET6)
			snprintf(msg, sizeof msg, "bad IPv6 address '%s'",
			    host);
		else
			snprintf(msg, sizeof msg, "cannot resolve '%s': %s",
			    host, gai_strerror(rc));
		*why = msg;
		return -EINVAL;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (pick == NULL || (pick->ai_family != AF_INET &&
		    ai->ai_family == AF_INET))
			pick = ai;
	}
	if (pick == NULL || pick->ai_addrlen > sizeof(*ss)) {
		freeaddrinfo(res);
		snprintf(msg, sizeof msg, "no IP address for '%s'", host);
		*why = msg;
		return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, pick->ai_addr, pick->ai_addrlen);
	*len = pick->ai_addrlen;
	if (pick->ai_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = port;
	else
		((struct sockaddr_in6 *)ss)->sin6_port = port;
	freeaddrinfo(res);
	return 0;
}

/* unix:PATH (s is PATH), relative to basedir; the path in *ret_path. */
static int
address_unix(const char *s, const char *basedir, struct sockaddr_storage *ss,
    socklen_t *len, char **ret_path, const char **why)
{
	static char		 msg[160];
	struct sockaddr_un	*sun = (struct sockaddr_un *)ss;
	char			*path;

	if (s[0] == '\0') {
		*why = "empty unix: path";
		return -EINVAL;
	}
	if (s[0] == '@') {
		*why = "abstract unix sockets are not supported";
		return -EINVAL;
	}
	if ((path = value_path(basedir, s)) == NULL) {
		*why = "out of memory";
		return -ENOMEM;
	}
	if (strlen(path) > SUN_PATH_MAX) {
		snprintf(msg, sizeof msg, "unix socket path too long (%zu "
		    "bytes, at most %zu)", strlen(path), SUN_PATH_MAX);
		*why = msg;
		free(path);
		return -EINVAL;
	}
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, strlen(path) + 1);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(path) + 1);
	*ret_path = path;
	return 0;
}

/* host (of family) from s up to end, resolved, with port. */
static int
address_host(const char *s, const char *end, int family, in_port_t port,
    struct sockaddr_storage *ss, socklen_t *len, const char **why)
{
	char	*host;
	int	 rc;

	if ((host = strndup(s, (size_t)(end - s))) == NULL) {
		*why = "out of memory";
		return -ENOMEM;
	}
	rc = resolve_host(host, family, port, ss, len, why);
	free(host);
	return rc < 0 ? -EINVAL : 0;
}

/* [IPv6]:port */
static int
address_inet6(const char *s, struct sockaddr_storage *ss, socklen_t *len,
    const char **why)
{
	const char	*end;
	in_port_t	 port;

	if ((end = strchr(s, ']')) == NULL || end[1] != ':') {
		*why = "expected [IPv6]:port";
		return -EINVAL;
	}
	if (parse_port(end + 2, &port) < 0) {
		*why = "bad port (expected 1..65535)";
		return -EINVAL;
	}
	return address_host(s + 1, end, AF_INET6, port, ss, len, why);
}

/* host:port, or :port for every IPv4 address. */
static int
address_inet(const char *s, struct sockaddr_storage *ss, socklen_t *len,
    const char **why)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	const char		*colon;
	in_port_t		 port;

	if ((colon = strrchr(s, ':')) == NULL) {
		*why = "expected host:port, [IPv6]:port, :port or unix:/path";
		return -EINVAL;
	}
	if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
		*why = "an IPv6 address needs brackets: [::1]:8080";
		return -EINVAL;
	}
	if (parse_port(colon + 1, &port) < 0) {
		*why = "bad port (expected 1..65535)";
		return -EINVAL;
	}
	if (colon != s)
		return address_host(s, colon, AF_UNSPEC, port, ss, len, why);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_ANY);
	sin->sin_port = port;
	*len = sizeof(*sin);
	return 0;
}

/* host:port, [v6]:port, :port (all IPv4 addresses), unix:/path. */
int
value_address(const char *s, const char *basedir, struct config_listen *ret,
    const char **why)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = 0;
	const char		*unused;
	char			*path = NULL, *addr;
	int			 rc;

	if (why == NULL)
		why = &unused;
	memset(&ss, 0, sizeof ss);
	if (strncmp(s, "unix:", 5) == 0)
		rc = address_unix(s + 5, basedir, &ss, &len, &path, why);
	else if (s[0] == '[')
		rc = address_inet6(s, &ss, &len, why);
	else
		rc = address_inet(s, &ss, &len, why);
	if (rc < 0)
		return rc;
	if ((addr = strdup(s)) == NULL) {
		free(path);
		*why = "out of memory";
		return -ENOMEM;
	}
	ret->address = addr;
	ret->path = path;
	ret->family = ss.ss_family;
	ret->addr = ss;
	ret->addrlen = len;
	return 0;
}
