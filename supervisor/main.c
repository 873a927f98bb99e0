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

/* What one command line asked for, once checked against the table. */
struct invocation {
	const char	*file;		/* NULL: -s SOCKET without FILE */
	char	       **args;		/* the arguments after FILE */
	bool		 opt;		/* the command's option was given */
	const char	*opt_value;	/* and its value, if it takes one */
	bool		 flag;		/* the command's flag word was given */
};

#define CMD_CLIENT	0x1	/* talks to a master: FILE optional with -s */
#define CMD_NOFILE	0x2	/* takes no FILE at all */

static int	 check_paths(const char *, const struct config *);
static int	 cmd_check(const struct invocation *);
static int	 cmd_run(const struct invocation *);
static int	 cmd_start(const struct invocation *);
static int	 cmd_stop(const struct invocation *);
static int	 cmd_reload(const struct invocation *);
static int	 cmd_status(const struct invocation *);
static int	 cmd_scale(const struct invocation *);
static int	 cmd_restart(const struct invocation *);
static int	 cmd_logs(const struct invocation *);
static int	 cmd_top(const struct invocation *);
static int	 cmd_list(const struct invocation *);
static int	 cmd_events(const struct invocation *);
static int	 cmd_upgrade(const struct invocation *);

/*
 * Every command takes FILE, then nargs arguments, then at most one option
 * (opt_value: followed by its value).
 */
static const struct command {
	const char	*name;
	const char	*usage;
	int		 nargs;
	unsigned	 flags;
	const char	*opt;
	bool		 opt_value;
	int		 (*fn)(const struct invocation *);
} commands[] = {
	{ "start",   "start FILE", 0, 0, NULL, false, cmd_start },
	{ "run",     "run FILE", 0, 0, NULL, false, cmd_run },
	{ "stop",    "stop [--now] FILE [--timeout DURATION]", 0, CMD_CLIENT,
	    "--timeout", true, cmd_stop },
	{ "reload",  "reload FILE", 0, CMD_CLIENT, NULL, false, cmd_reload },
	{ "status",  "status FILE [--json]", 0, CMD_CLIENT, "--json", false,
	    cmd_status },
	{ "scale",   "scale FILE N|+N|-N", 1, CMD_CLIENT, NULL, false,
	    cmd_scale },
	{ "restart", "restart FILE", 0, 0, NULL, false, cmd_restart },
	{ "logs",    "logs FILE [-f]", 0, 0, "-f", false, cmd_logs },
	{ "check",   "check FILE", 0, 0, NULL, false, cmd_check },
	{ "top",     "top FILE", 0, CMD_CLIENT, NULL, false, cmd_top },
	{ "list",    "list [--json]", 0, CMD_NOFILE, "--json", false,
	    cmd_list },
	{ "events",  "events FILE [--json]", 0, CMD_CLIENT, "--json", false,
	    cmd_events },
	{ "upgrade", "upgrade FILE", 0, CMD_CLIENT, NULL, false,
	    cmd_upgrade },
};
#define NCOMMANDS	(sizeof commands / sizeof commands[0])

/* Flag words (no value) a command also takes, anywhere after its name. */
static const struct {
	const char	*command;
	const char	*flag;
} command_flags[] = {
	{ "stop", "--now" },
};

static void __attribute__((noreturn))
usage(FILE *f, int code)
{
	const char *sep = "";
	size_t i;

	fprintf(f, "usage: clusterd [-s SOCKET] COMMAND FILE [ARGS]\n");
	fprintf(f, "       (with -s, ");
	for (i = 0; i < NCOMMANDS; i++)
		if (commands[i].flags & CMD_CLIENT) {
			fprintf(f, "%s%s", sep, commands[i].name);
			sep = "/";
		}
	fprintf(f, " need no FILE)\n");
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
cmd_check(const struct invocation *inv)
{
	struct config *c;

	c = load_or_exit(inv->file, CONFIG_FULL);
	if (check_paths(inv->file, c) < 0) {
		config_free(c);
		return EXIT_CONFIG;
	}
	printf("%s: configuration OK\n", inv->file);
	config_free(c);
	return EXIT_OK;
}

static int
cmd_run(const struct invocation *inv)
{
	return cluster_run(load_or_exit(inv->file, CONFIG_FULL), -1);
}

static int
cmd_start(const struct invocation *inv)
{
	return daemon_start(load_or_exit(inv->file, CONFIG_FULL), cluster_run);
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
client(const char *file, const char *request, bool wait_exit,
    double timeout)
{
	struct config *c;
	int r;

	r = control_command(control_path(file, &c), request, wait_exit,
	    timeout);
	config_free(c);
	return r;
}

static int
cmd_stop(const struct invocation *inv)
{
	double timeout = 0;

	if (inv->opt && (value_duration(inv->opt_value, &timeout) < 0 ||
	    timeout <= 0)) {
		fprintf(stderr, "clusterd: stop: --timeout '%s' is not a "
		    "duration above zero (e.g. 30s, 2m)\n", inv->opt_value);
		return EXIT_USAGE;
	}
	return client(inv->file, inv->flag ? "stop now" : "stop", true,
	    timeout);
}

static int
cmd_reload(const struct invocation *inv)
{
	return client(inv->file, "reload", false, 0);
}

static int
cmd_status(const struct invocation *inv)
{
	return client(inv->file, inv->opt ? "status json" : "status", false,
	    CONTROL_CLI_TIMEOUT);
}

static int
cmd_scale(const struct invocation *inv)
{
	char req[64];
	bool relative;
	int n;

	if (control_parse_scale(inv->args[0], &n, &relative) < 0) {
		fprintf(stderr, "clusterd: scale: '%s' is not N, +N or -N\n",
		    inv->args[0]);
		return EXIT_USAGE;
	}
	snprintf(req, sizeof req, "scale %s", inv->args[0]);
	return client(inv->file, req, false, CONTROL_CLI_TIMEOUT);
}

static int
cmd_restart(const struct invocation *inv)
{
	struct config *c;
	const char *path;
	int r, n;

	c = load_or_exit(inv->file, CONFIG_FULL);	/* before stopping it */
	path = socket_opt ? socket_opt : c->control;
	/* Its listening sockets first: held here while it stops, they keep
	 * their queues, and the new master takes them over. Slots the new
	 * count has no room for drain in the old master first. */
	if ((r = control_take_sockets(path, c->workers, c->stop_timeout,
	    &n)) != EXIT_OK) {
		config_free(c);
		return r;
	}
	if (n != 0 && (r = control_command(path, "stop", true, 0)) !=
	    EXIT_OK) {
		listen_inherit_drop();
		config_free(c);
		return r;
	}
	return daemon_start(c, cluster_run);
}

/* The answer comes from the new image, on the same connection: it
 * arrives once the new binary runs the cluster. */
static int
cmd_upgrade(const struct invocation *inv)
{
	return client(inv->file, "upgrade", false, 0);
}

static int
cmd_logs(const struct invocation *inv)
{
	struct config *c;
	int r;

	c = load_or_exit(inv->file, CONFIG_CLIENT);
	r = daemon_logs(c, inv->opt);
	config_free(c);
	return r;
}

/* A live view of one cluster: the socket, and what to call it. */
static int
cmd_top(const struct invocation *inv)
{
	struct config *c;
	const char *path = control_path(inv->file, &c);
	int r;

	r = top_run(path, inv->file != NULL ? inv->file : path);
	config_free(c);
	return r;
}

static int
cmd_list(const struct invocation *inv)
{
	return list_run(inv->opt);
}

/* Until the master exits (then 0): no timeout. */
static int
cmd_events(const struct invocation *inv)
{
	return client(inv->file, inv->opt ? "events json" : "events", false,
	    0);
}

/*
 * Check argv (after the command's name) against its row: FILE, nargs
 * arguments, then the option if any; with -s a command that only talks to
 * a master may leave FILE out. A word that cannot be the option is FILE.
 * A mismatch is a usage error.
 */
static bool
fits(const struct command *cmd, int argc, char **argv,
    struct invocation *ret)
{
	if (cmd->flags & CMD_NOFILE) {
		ret->args = argv;
		return argc == cmd->nargs;
	}
	if (argc == cmd->nargs + 1) {
		ret->file = argv[0];
		ret->args = argv + 1;
		return true;
	}
	if (argc == cmd->nargs && socket_opt != NULL &&
	    (cmd->flags & CMD_CLIENT)) {
		ret->args = argv;
		return true;
	}
	return false;
}

static void
parse_invocation(const struct command *cmd, int argc, char **argv,
    struct invocation *ret)
{
	int n = cmd->opt_value ? 2 : 1, i, j;
	size_t f;

	memset(ret, 0, sizeof *ret);
	for (f = 0; f < sizeof command_flags / sizeof command_flags[0]; f++) {
		if (strcmp(command_flags[f].command, cmd->name) != 0)
			continue;
		for (i = j = 0; i < argc; i++)
			if (strcmp(argv[i], command_flags[f].flag) == 0)
				ret->flag = true;
			else
				argv[j++] = argv[i];
		argc = j;
	}
	if (cmd->opt != NULL && argc >= n &&
	    strcmp(argv[argc - n], cmd->opt) == 0 &&
	    fits(cmd, argc - n, argv, ret)) {
		ret->opt = true;
		ret->opt_value = cmd->opt_value ? argv[argc - 1] : NULL;
		return;
	}
	if (!fits(cmd, argc, argv, ret))
		usage(stderr, EXIT_USAGE);
}

int
main(int argc, char **argv)
{
	struct invocation inv;
	size_t i;
	int ch;
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		/* What an upgrading master asks a binary, and how it runs
		 * the new one (upgrade.c). */
		{ "upgrade-check", no_argument, NULL, 'C' },
		{ "upgrade-resume", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};

	upgrade_init(argc, argv);

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
		case 'C':
			return upgrade_check_main();
		case 'R':
			return upgrade_resume_main(optarg);
		default:
			usage(stderr, EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage(stderr, EXIT_USAGE);
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[0], commands[i].name) == 0) {
			parse_invocation(&commands[i], argc - 1, argv + 1,
			    &inv);
			return commands[i].fn(&inv);
		}
	fprintf(stderr, "clusterd: unknown command '%s'\n", argv[0]);
	usage(stderr, EXIT_USAGE);
}

