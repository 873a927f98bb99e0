/*
 * top.c - `clusterd top`: a live view of one cluster. Once a second it
 * asks the master for `status json` and redraws a full screen (ncurses):
 * the status header, then a row per slot. CPU % is the client's: the
 * difference of two cpu_s readings of the same worker over the time
 * between them. Not a terminal: one frame as plain text.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curses.h>
#include <term.h>

#include "clusterd.h"

#define TOP_INTERVAL	1.0	/* seconds between frames */
#define TOP_TIMEOUT	5.0	/* for one status answer */

/* The last cpu_s seen per worker (by pid: a draining worker has a row of
 * its own beside its slot's new one), to turn the next one into a rate. */
struct cpu_seen {
	long		 pid;
	double		 cpu_s, at;
	unsigned	 reading;	/* which status it came from */
	char		 shown[16];	/* the CPU % it gave */
};

static struct {
	const char		*path;		/* the control socket */
	const char		*label;		/* FILE, for messages */
	struct cpu_seen		*seen;
	int			 nseen;
	unsigned		 reading;	/* status answers read */
	bool			 curses;
	bool			 colour;
	volatile sig_atomic_t	 quit;		/* SIGINT: as q */
	volatile sig_atomic_t	 killed;	/* SIGTERM, SIGHUP: that signal */
} top;

/* Colour pairs by state. */
enum { PAIR_READY = 1, PAIR_START, PAIR_BAD, PAIR_DRAIN, PAIR_HEAD };

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* What the master sent goes to the terminal only as printable ASCII. */
static void
safe_copy(char *dst, size_t len, const char *src)
{
	size_t o = 0;

	if (src == NULL)
		src = "-";
	for (; *src != '\0' && o + 1 < len; src++)
		dst[o++] = *src >= 0x20 && *src < 0x7f ? *src : '?';
	dst[o] = '\0';
}

/* A count: its value, "-" when absent, null or not a whole number. */
static const char *
fmt_num(const struct json *o, const char *key, char *buf, size_t len)
{
	long v;

	if (!json_long(o, key, &v))
		return "-";
	snprintf(buf, len, "%ld", v);
	return buf;
}

/* "signal 9 (KILL)..." as "SIGKILL...": the column is narrow at 80. */
static void
short_exit(char *s)
{
	char *open = strchr(s, '('), *close = open ? strchr(open, ')') : NULL;
	char tmp[64];

	if (strncmp(s, "signal ", 7) != 0 || close == NULL ||
	    close - open > 16)
		return;
	snprintf(tmp, sizeof tmp, "SIG%.*s%s", (int)(close - open - 1),
	    open + 1, close + 1);
	snprintf(s, 64, "%s", tmp);
}

static int
state_pair(const char *state)
{
	if (strcmp(state, "ready") == 0)
		return PAIR_READY;
	if (strcmp(state, "starting") == 0 || strcmp(state, "replacing") == 0)
		return PAIR_START;
	if (strcmp(state, "backoff") == 0 || strcmp(state, "exited") == 0)
		return PAIR_BAD;
	if (strcmp(state, "draining") == 0)
		return PAIR_DRAIN;
	return 0;
}

/* CPU % of a worker between the last reading and this one ("-" for a
 * new worker, without cpu_s, or if it went backwards). A redraw of the
 * same reading (a resize) shows what that reading gave. */
static const char *
cpu_percent(long pid, const struct json *w, double now, bool fresh)
{
	struct cpu_seen *s = NULL, *p;
	double cpu;
	int i;

	for (i = 0; i < top.nseen; i++)
		if (top.seen[i].pid == pid)
			s = &top.seen[i];
	if (!fresh || pid <= 0)
		return s != NULL && pid > 0 ? s->shown : "-";
	if (!json_num(w, "cpu_s", &cpu))
		return "-";
	if (s == NULL) {
		if ((p = realloc(top.seen, (size_t)(top.nseen + 1) *
		    sizeof *p)) == NULL)
			return "-";
		top.seen = p;
		s = &top.seen[top.nseen++];
		s->pid = pid;
		snprintf(s->shown, sizeof s->shown, "-");
	} else if (now > s->at && cpu >= s->cpu_s)
		snprintf(s->shown, sizeof s->shown, "%.1f",
		    100 * (cpu - s->cpu_s) / (now - s->at));
	else
		snprintf(s->shown, sizeof s->shown, "-");
	s->cpu_s = cpu;
	s->at = now;
	s->reading = top.reading;
	return s->shown;
}

/* Forget the workers the last reading did not have. */
static void
cpu_prune(void)
{
	int i, n = 0;

	for (i = 0; i < top.nseen; i++)
		if (top.seen[i].reading == top.reading)
			top.seen[n++] = top.seen[i];
	top.nseen = n;
}

/*
 * One frame, line by line: emit(text, state column, state width, pair)
 * puts a line (the state cell coloured when pair is set). rows: how many
 * lines there is room for (0: all).
 */
typedef void emit_fn(int y, const char *line, int col, int width, int pair);

static void
frame(const struct json *st, double now, int rows, emit_fn *emit,
    bool fresh)
{
	const struct json *ws, *w, *l;
	char line[512], name[NAME_MAX_LEN + 8], up[32], buf[6][32], st_s[16];
	char last[64], list[256], pid_s[16], *state;
	char mpid[24], gen[24], ready[24], wanted[24];
	double v;
	size_t o;
	long slot, lv;
	int y = 0, n = 0, shown;

	if (fresh)
		top.reading++;

	safe_copy(name, sizeof name, json_str(st, "name"));
	list_fmt_duration(json_num(st, "uptime_s", &v) ? v : 0, up,
	    sizeof up);
	safe_copy(st_s, sizeof st_s, json_str(st, "state"));
	snprintf(line, sizeof line, "%s: master %s, up %s, generation %s, "
	    "%s/%s workers ready (%s%s)", name,
	    fmt_num(st, "master_pid", mpid, sizeof mpid), up,
	    fmt_num(st, "generation", gen, sizeof gen),
	    fmt_num(st, "ready", ready, sizeof ready),
	    fmt_num(st, "wanted", wanted, sizeof wanted), st_s, (l = json_get(st, "reloading")) != NULL &&
	    l->type == JSON_BOOL && l->boolean ? ", reloading" : "");
	emit(y++, line, 0, 0, 0);
	o = 0;
	list[0] = '\0';
	if ((l = json_get(st, "listen")) != NULL && l->type == JSON_ARRAY)
		for (l = l->child; l != NULL && o + 8 < sizeof list;
		    l = l->next) {
			char one[sizeof list];

			safe_copy(one, sizeof one, l->type == JSON_STRING ?
			    l->string : "?");
			o += (size_t)snprintf(list + o, sizeof list - o, "%s%s",
			    o ? ", " : "", one);
		}
	snprintf(line, sizeof line, "listen: %s", o ? list : "closed");
	emit(y++, line, 0, 0, 0);
	emit(y++, "", 0, 0, 0);
	snprintf(line, sizeof line, "%-4s %-7s %-3s %-9s %-6s %-8s %5s %6s "
	    "%5s %-4s %s", "SLOT", "PID", "GEN", "STATE", "UPTIME", "RESTARTS",
	    "CPU%", "RSS", "QUEUE", "RECV", "LAST EXIT");
	emit(y++, line, 0, -1, PAIR_HEAD);
	if ((ws = json_get(st, "workers")) == NULL || ws->type != JSON_ARRAY)
		return;
	for (w = ws->child; w != NULL; w = w->next)
		n++;
	shown = 0;
	for (w = ws->child; w != NULL; w = w->next) {
		char state_b[16];
		long pid;

		if (!json_long(w, "pid", &pid))
			pid = 0;
		if (rows > 0 && y >= rows - 1 && shown + 1 < n) {
			if (y == rows - 1) {
				snprintf(line, sizeof line, "... %d more rows "
				    "(the window is too small)", n - shown);
				emit(y++, line, 0, 0, 0);
			}
			cpu_percent(pid, w, now, fresh);  /* for later */
			continue;
		}
		if (!json_long(w, "slot", &slot))
			slot = -1;
		safe_copy(state_b, sizeof state_b, json_str(w, "state"));
		state = state_b;
		safe_copy(last, sizeof last, json_str(w, "last_exit"));
		short_exit(last);
		snprintf(pid_s, sizeof pid_s, pid > 0 ? "%ld" : "-", pid);
		if (json_num(w, "uptime_s", &v))
			list_fmt_duration(v, up, sizeof up);
		else
			snprintf(up, sizeof up, "-");
		if (json_long(w, "rss_bytes", &lv) && lv > 0)
			list_fmt_size((uint64_t)lv, buf[4], sizeof buf[4]);
		else
			snprintf(buf[4], sizeof buf[4], "-");
		l = json_get(w, "receiving");
		snprintf(line, sizeof line, "%-4ld %-7s %-3s %-9s %-6s %-8s %5s "
		    "%6s %5s %-4s %s", slot, pid_s,
		    fmt_num(w, "generation", buf[0], sizeof buf[0]),
		    state, up,
		    fmt_num(w, "restarts", buf[1], sizeof buf[1]),
		    cpu_percent(pid, w, now, fresh),
		    buf[4], fmt_num(w, "queued", buf[3], sizeof buf[3]),
		    l == NULL || l->type != JSON_BOOL ? "-" :
		    l->boolean ? "yes" : "no", last);
		emit(y++, line, 17, 9, state_pair(state));
		shown++;
	}
	if (fresh)
		cpu_prune();
}

/* ------------------------------------------------------------------ */
/* Output: a plain frame, or the screen.                               */

static void
emit_plain(int y, const char *line, int col, int width, int pair)
{
	printf("%s\n", line);
}

static void
emit_none(int y, const char *line, int col, int width, int pair)
{
}

static void
emit_curses(int y, const char *line, int col, int width, int pair)
{
	if (y >= LINES)
		return;
	mvaddnstr(y, 0, line, COLS);
	clrtoeol();
	if (width < 0)
		mvchgat(y, 0, -1, A_REVERSE, top.colour ? PAIR_HEAD : 0, NULL);
	else if (pair != 0 && top.colour && col < COLS)
		mvchgat(y, col, width, A_BOLD, (short)pair, NULL);
}

static void
on_signal(int sig)
{
	if (sig == SIGINT)
		top.quit = 1;
	else
		top.killed = sig;
}

static void
catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;	/* no SA_RESTART: wake getch */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
}

/* The screen, or -ENOTTY when the terminal is unknown (TERM unset, no
 * terminfo entry), where initscr would exit the process. */
static int
screen_open(void)
{
	int err;

	/* Asked first: a newterm that fails leaks what it set up. */
	if (setupterm(NULL, STDOUT_FILENO, &err) != OK)
		return -ENOTTY;
	del_curterm(cur_term);
	if (newterm(NULL, stdout, stdin) == NULL)
		return -ENOTTY;
	cbreak();		/* Ctrl-C stays SIGINT: the handler quits */
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	curs_set(0);
	if (has_colors() && start_color() == OK) {
		use_default_colors();
		init_pair(PAIR_READY, COLOR_GREEN, -1);
		init_pair(PAIR_START, COLOR_YELLOW, -1);
		init_pair(PAIR_BAD, COLOR_RED, -1);
		init_pair(PAIR_DRAIN, COLOR_CYAN, -1);
		init_pair(PAIR_HEAD, COLOR_BLACK, COLOR_CYAN);
		top.colour = true;
	}
	top.curses = true;
	return 0;
}

static void
screen_close(void)
{
	if (!top.curses)
		return;
	top.curses = false;
	endwin();
}

/* One status answer, parsed: 0, or -errno (the message in why). */
static int
fetch(struct json **ret, char *why, size_t len)
{
	char *text;
	int code, r;

	r = control_query(top.path, "status json", geteuid(), false,
	    TOP_TIMEOUT, &text, &code, NULL);
	if (r == -ENOENT || r == -ECONNREFUSED) {
		snprintf(why, len, "no master at %s", top.path);
		return r;
	}
	if (r < 0) {
		snprintf(why, len, "%s: %s", top.path, r == -EPERM ?
		    "refused: the process answering there is not root or "
		    "us" : r == -EPROTO ? "no answer from the master" :
		    strerror(-r));
		return r;
	}
	if (code != EXIT_OK) {
		safe_copy(why, len, text);
		free(text);
		return -EPROTO;
	}
	r = json_parse(text, strlen(text), ret);
	free(text);
	if (r < 0 || (*ret)->type != JSON_OBJECT) {
		if (r == 0)
			json_free(*ret);
		snprintf(why, len, "%s: the master's status is not the JSON "
		    "object expected", top.path);
		return -EPROTO;
	}
	return 0;
}

static void
draw(const struct json *st, double now, bool fresh)
{
	char clock[64], hint[128];
	time_t t = time(NULL);
	struct tm tm;

	erase();
	frame(st, now, LINES - 1, emit_curses, fresh);
	strftime(clock, sizeof clock, "%H:%M:%S", localtime_r(&t, &tm));
	snprintf(hint, sizeof hint, "%s  q: quit", clock);
	if (LINES > 1)
		mvaddnstr(LINES - 1, 0, hint, COLS);
	refresh();
}

/* The screen until q, Ctrl-C, a signal or the master's going. */
static int
run_screen(struct json *st)
{
	char why[256];
	double next = mono() + TOP_INTERVAL, left;
	int ch, r;

	if (screen_open() < 0) {
		fprintf(stderr, "clusterd: top: terminal '%s' unknown, one "
		    "frame as text\n", getenv("TERM") ? getenv("TERM") : "");
		frame(st, mono(), 0, emit_plain, true);
		json_free(st);
		return EXIT_OK;
	}
	draw(st, mono(), true);
	for (;;) {
		if (top.quit || top.killed)
			break;
		left = next - mono();
		if (left > 0) {
			timeout((int)(left * 1000) + 1);
			ch = getch();
			if (ch == 'q' || ch == 'Q' || ch == 3)
				break;
			if (ch == KEY_RESIZE || ch == 12 /* ^L */) {
				clearok(curscr, TRUE);
				draw(st, mono(), false);
			}
			continue;
		}
		next = mono() + TOP_INTERVAL;
		json_free(st);
		st = NULL;
		if ((r = fetch(&st, why, sizeof why)) < 0) {
			if (top.quit || top.killed)
				break;	/* asked to go while it waited */
			screen_close();
			if (r == -ETIMEDOUT)
				fprintf(stderr, "clusterd: top: %s: the master "
				    "stopped answering (nothing within %gs)\n",
				    top.label, TOP_TIMEOUT);
			else
				fprintf(stderr, "clusterd: top: %s: the master "
				    "went away (%s)\n", top.label, why);
			return EXIT_FAILED;
		}
		draw(st, mono(), true);
	}
	json_free(st);
	screen_close();
	if (top.killed) {
		signal(top.killed, SIG_DFL);
		raise(top.killed);
	}
	return EXIT_OK;
}

int
top_run(const char *path, const char *label)
{
	struct json *st;
	struct timespec ts = { 0, 500 * 1000 * 1000 };
	const struct json *w;
	char why[256];
	bool has_cpu = false;

	top.path = path;
	top.label = label;
	if (fetch(&st, why, sizeof why) < 0) {
		fprintf(stderr, "clusterd: top: %s\n", why);
		return EXIT_FAILED;
	}
	if (isatty(STDOUT_FILENO) && isatty(STDIN_FILENO)) {
		setlocale(LC_CTYPE, "");
		catch_signals();
		return run_screen(st);
	}
	/* One frame. CPU % needs a second reading of cpu_s: take one. */
	w = json_get(st, "workers");
	for (w = w != NULL ? w->child : NULL; w != NULL; w = w->next)
		has_cpu |= json_get(w, "cpu_s") != NULL;
	if (has_cpu) {
		frame(st, mono(), 0, emit_none, true);
		json_free(st);
		nanosleep(&ts, NULL);
		if (fetch(&st, why, sizeof why) < 0) {
			fprintf(stderr, "clusterd: top: %s\n", why);
			return EXIT_FAILED;
		}
	}
	frame(st, mono(), 0, emit_plain, true);
	json_free(st);
	free(top.seen);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}
