/*
 * main.c - the command table and dispatch: each CLI command either runs a
 * master (run, start), validates (check), or talks to a running master
 * through its control socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clusterd.h"

static const char *socket_opt;	/* -s SOCKET */

static int	 check_paths(const char *, const struct config *);
static int	 cmd_check(int, char **);
static int	 cmd_run(int, char **);
static int	 cmd_start(int, char **);
static int	 cmd_stop(int, char **);
static int	 cmd_reload(int, char **);
static int	 cmd_status(int, char **);
static int	 cmd_scale(int, char **);
static int	 cmd_restart(int, char **);
static int	 cmd_logs(int, char **);

static const struct command {
	const char	*name;
	const char	*usage;
	int		 (*fn)(int, char **);
} commands[] = {
	{ "start",   "start FILE", cmd_start },
	{ "run",     "run FILE", cmd_run },
	{ "stop",    "stop FILE", cmd_stop },
	{ "reload",  "reload FILE", cmd_reload },
	{ "status",  "status FILE [--json]", cmd_status },
	{ "scale",   "scale FILE N|+N|-N", cmd_scale },
	{ "restart", "restart FILE", cmd_restart },
	{ "logs",    "logs FILE [-f]", cmd_logs },
	{ "check",   "check FILE", cmd_check },
};
#define NCOMMANDS	(sizeof commands / sizeof commands[0])

static void __attribute__((noreturn))
usage(FILE *f, int code)
{
	size_t i;

	fprintf(f, "usage: clusterd [-s SOCKET] COMMAND FILE [ARGS]\n");
	fprintf(f, "       (with -s, stop/reload/status/scale need no FILE)\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "       clusterd %s\n", commands[i].usage);
	fprintf(f, "       clusterd --help | --version\n");
	if (f == stdout)
		fprintf(f, "\nSee clusterd(8) and clusterd.conf(5).\n");
	exit(code);
}

static struct config *
load_or_exit(const char *file, int flags)
{
	struct config *c;
	char err[1024];

	if (config_load(file, flags, &c, err, sizeof err) != 0) {
		log_open(NULL);	/* under systemd: an error, not info */
		fprintf(stderr, "%s%s\n", log_is_journal() ? "<3>" : "", err);
		exit(EXIT_CONFIG);
	}
	return c;
}

/* run and start would refuse a file that is not a socket at the control
 * or a unix: path (they never delete one): so does check. A socket in use
 * is fine here, it may be this cluster's. */
static int
check_paths(const char *file, const struct config *c)
{
	char err[512];
	int i, r, bad = 0;

	if ((r = listen_probe_path(c->control)) == -ENOTSOCK) {
		listen_strerror("control", c->control, r, err, sizeof err);
		fprintf(stderr, "%s: %s\n", file, err);
		bad = r;
	}
	for (i = 0; i < c->nlistens; i++) {
		if (c->listens[i].family != AF_UNIX ||
		    (r = listen_probe_path(c->listens[i].path)) != -ENOTSOCK)
			continue;
		listen_strerror(c->listens[i].address, c->listens[i].path, r,
		    err, sizeof err);
		fprintf(stderr, "%s:%d: %s\n", file, c->listens[i].line, err);
		bad = r;
	}
	return bad;
}

static int
cmd_check(int argc, char **argv)
{
	struct config *c;

	if (argc != 2)
		usage(stderr, EXIT_USAGE);
	c = load_or_exit(argv[1], CONFIG_FULL);
	if (check_paths(argv[1], c) < 0) {
		config_free(c);
		return EXIT_CONFIG;
	}
	printf("%s: configuration OK\n", argv[1]);
	config_free(c);
	return EXIT_OK;
}

static int
cmd_run(int argc, char **argv)
{
	if (argc != 2)
		usage(stderr, EXIT_USAGE);
	return cluster_run(load_or_exit(argv[1], CONFIG_FULL), -1);
}

static int
cmd_start(int argc, char **argv)
{
	if (argc != 2)
		usage(stderr, EXIT_USAGE);
	return daemon_start(load_or_exit(argv[1], CONFIG_FULL));
}

/* Commands that only talk to a master read name/control/pidfile/log. */
static const char *
control_path(const char *file, struct config **ret)
{
	*ret = NULL;
	if (socket_opt != NULL)
		return socket_opt;
	*ret = load_or_exit(file, CONFIG_CLIENT);
	return (*ret)->control;
}

static int
client(const char *file, const char *request, bool wait_exit)
{
	struct config *c;
	int r;

	r = control_command(control_path(file, &c), request, wait_exit);
	config_free(c);
	return r;
}

static int
cmd_stop(int argc, char **argv)
{
	if (argc != 2)
		usage(stderr, EXIT_USAGE);
	return client(argv[1], "stop", true);
}

static int
cmd_reload(int argc, char **argv)
{
	if (argc != 2)
		usage(stderr, EXIT_USAGE);
	return client(argv[1], "reload", false);
}

static int
cmd_status(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[2], "--json") == 0)
		return client(argv[1], "status json", false);
	if (argc != 2)
		usage(stderr, EXIT_USAGE);
	return client(argv[1], "status", false);
}

static int
cmd_scale(int argc, char **argv)
{
	char req[64], *end;
	long n;

	if (argc != 3)
		usage(stderr, EXIT_USAGE);
	errno = 0;
	n = strtol(argv[2], &end, 10);
	if (errno || end == argv[2] || *end != '\0' || n < -WORKERS_MAX ||
	    n > WORKERS_MAX) {
		fprintf(stderr, "clusterd: scale: '%s' is not N, +N or -N\n",
		    argv[2]);
		return EXIT_USAGE;
	}
	snprintf(req, sizeof req, "scale %s", argv[2]);
	return client(argv[1], req, false);
}

static int
cmd_restart(int argc, char **argv)
{
	struct config *c;
	int r;

	if (argc != 2)
		usage(stderr, EXIT_USAGE);
	c = load_or_exit(argv[1], CONFIG_FULL);	/* before stopping it */
	r = control_command(socket_opt ? socket_opt : c->control, "stop",
	    true);
	if (r != EXIT_OK)
		return r;
	return daemon_start(c);
}

static int
cmd_logs(int argc, char **argv)
{
	struct config *c;
	bool follow = argc == 3 && strcmp(argv[2], "-f") == 0;
	int r;

	if (argc != 2 && !follow)
		usage(stderr, EXIT_USAGE);
	c = load_or_exit(argv[1], CONFIG_CLIENT);
	r = daemon_logs(c, follow);
	config_free(c);
	return r;
}

int
main(int argc, char **argv)
{
	size_t i;
	int ch;
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};

	while ((ch = getopt_long(argc, argv, "+s:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			socket_opt = optarg;
			break;
		case 'h':
			usage(stdout, EXIT_OK);
		case 'V':
			printf("clusterd %s\n", CLUSTERD_VERSION);
			return EXIT_OK;
		default:
			usage(stderr, EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage(stderr, EXIT_USAGE);
	/* With -s SOCKET, the commands that only talk to a master need no
	 * FILE: "-" stands in for it. */
	if (socket_opt != NULL && (
	    ((!strcmp(argv[0], "stop") || !strcmp(argv[0], "reload") ||
	    !strcmp(argv[0], "status")) && argc == 1) ||
	    (!strcmp(argv[0], "status") && argc == 2 &&
	    !strcmp(argv[1], "--json")) ||
	    (!strcmp(argv[0], "scale") && argc == 2))) {
		char **nargv = calloc((size_t)argc + 2, sizeof *nargv);

		if (nargv == NULL)
			return EXIT_FAILED;
		nargv[0] = argv[0];
		nargv[1] = (char *)"-";
		for (ch = 1; ch < argc; ch++)
			nargv[ch + 1] = argv[ch];
		argv = nargv;
		argc++;
	}
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			return commands[i].fn(argc, argv);
	fprintf(stderr, "clusterd: unknown command '%s'\n", argv[0]);
	usage(stderr, EXIT_USAGE);
}

