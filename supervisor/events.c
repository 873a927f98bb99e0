/*
 * events.c - `clusterd events`: the readers of the event stream and the
 * events themselves (slot transitions, worker exits, reload, scale, stop;
 * events_emit for the others). Each reader has a fixed buffer; what does
 * not fit is dropped and counted, and the count is said in the stream as
 * soon as there is room again, so a slow or stopped reader costs the
 * master neither time nor memory beyond that buffer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clusterd.h"

/*
 * Per reader: 64 KiB, fixed, allocated when it connects. An event is 100
 * to 300 bytes, so this holds a few hundred of them, about what a reload
 * of a large cluster makes at once, on top of what the kernel's socket
 * buffer (about 200 KiB) takes; a reader that lags more than that loses
 * events rather than growing the master. 16 readers: at most 1 MiB.
 */
#define EVENTS_BUF		(64 * 1024)
#define EVENTS_READERS_MAX	16
/* One rendered event, at most (longer details are cut). */
#define EVENTS_LINE_MAX		2048

struct events_reader {
	int			 fd;
	pid_t			 pid;
	bool			 json;
	ev_io			 read_w;	/* EOF: it went away */
	ev_io			 write_w;	/* while buf holds something */
	char			*buf;		/* EVENTS_BUF bytes */
	size_t			 off, len;	/* unsent: buf[off..len) */
	unsigned long long	 dropped;	/* not said yet */
	struct events_reader	*next;
};

static struct {
	struct events_reader	*readers;
	int			 nreaders;
} evs;

static void	 reader_free(struct events_reader *);
static void	 reader_read_cb(struct ev_loop *, ev_io *, int);
static void	 reader_write_cb(struct ev_loop *, ev_io *, int);

/* ------------------------------------------------------------------ */
/* Rendering.                                                          */

struct line {
	char	 s[EVENTS_LINE_MAX];
	size_t	 n;
};

static void
line_add(struct line *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
line_add(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int m;

	if (l->n >= sizeof l->s - 2)
		return;
	va_start(ap, fmt);
	m = vsnprintf(l->s + l->n, sizeof l->s - 2 - l->n, fmt, ap);
	va_end(ap);
	if (m > 0)
		l->n += (size_t)m < sizeof l->s - 2 - l->n ? (size_t)m :
		    sizeof l->s - 3 - l->n;
}

static void
line_json_str(struct line *l, const char *s)
{
	size_t room;

	if (l->n + 3 >= sizeof l->s - 2)
		return;
	l->s[l->n++] = '"';
	room = sizeof l->s - 3 - l->n;	/* the quote and the line's end */
	l->n += log_json_escape(l->s + l->n, room, s, strlen(s));
	l->s[l->n++] = '"';
}

/* {"ts":...,"type":...,fields...}\n or "TS TEXT\n". */
static void
render(struct line *l, bool json, const char *ts, const char *type,
    const struct event_field *f, int nf, const char *text)
{
	int i;

	l->n = 0;
	if (!json) {
		line_add(l, "%s %s", ts, text);
		/* The text comes from workers too (STATUS=, exit details):
		 * nothing in it may move a terminal's cursor. */
		for (i = 0; (size_t)i < l->n; i++)
			if ((unsigned char)l->s[i] < 0x20 || l->s[i] == 0x7f)
				l->s[i] = '?';
		l->s[l->n++] = '\n';
		return;
	}
	line_add(l, "{\"ts\":\"%s\",\"type\":", ts);
	line_json_str(l, type);
	for (i = 0; i < nf; i++) {
		line_add(l, ",");
		line_json_str(l, f[i].key);
		if (f[i].str != NULL) {
			line_add(l, ":");
			line_json_str(l, f[i].str);
		} else
			line_add(l, ":%lld", f[i].num);
	}
	line_add(l, "}");
	l->s[l->n++] = '\n';
}

/* ------------------------------------------------------------------ */
/* Readers.                                                            */

/* Room for n more bytes: moves the unsent part to the front if needed. */
static bool
reader_room(struct events_reader *r, size_t n)
{
	if (r->len + n <= EVENTS_BUF)
		return true;
	if (r->len - r->off + n > EVENTS_BUF)
		return false;
	memmove(r->buf, r->buf + r->off, r->len - r->off);
	r->len -= r->off;
	r->off = 0;
	return true;
}

static void
reader_queue(struct events_reader *r, const char *s, size_t n)
{
	memcpy(r->buf + r->len, s, n);
	r->len += n;
	ev_io_start(cl.loop, &r->write_w);
}

/* "dropped N events", once there is room for it: true once said. */
static bool
reader_say_dropped(struct events_reader *r)
{
	struct event_field f[] = { { "count", NULL, (long long)r->dropped } };
	struct line l;
	char ts[32], text[128];

	if (r->dropped == 0)
		return true;
	log_timestamp(ts, sizeof ts);
	snprintf(text, sizeof text, "dropped %llu event%s: this reader did "
	    "not keep up", r->dropped, r->dropped == 1 ? "" : "s");
	render(&l, r->json, ts, "dropped", f, 1, text);
	if (!reader_room(r, l.n))
		return false;
	reader_queue(r, l.s, l.n);
	r->dropped = 0;
	return true;
}

static void
reader_push(struct events_reader *r, const struct line *l)
{
	if (!reader_say_dropped(r) || !reader_room(r, l->n)) {
		r->dropped++;
		return;
	}
	reader_queue(r, l->s, l->n);
}

/* Exit status 1 and why, best effort (nothing was sent yet), then close. */
static void
refuse(int fd, const char *why)
{
	char buf[160];
	int n;

	n = snprintf(buf, sizeof buf, "%d\n%s\n", EXIT_FAILED, why);
	if (n > 0)
		(void)send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

/*
 * A control connection that asked for `events` becomes a reader: the
 * answer's code now, then one line per event. fd is taken over (closed
 * here, also on failure). 0, or -EBUSY (too many readers), -ENOMEM.
 */
static struct events_reader *reader_new(int fd, pid_t pid, bool json);

int
events_add(int fd, pid_t pid, bool json)
{
	struct events_reader *r;

	if (evs.nreaders >= EVENTS_READERS_MAX) {
		refuse(fd, "clusterd: the master is busy: too many event "
		    "readers");
		return -EBUSY;
	}
	if ((r = reader_new(fd, pid, json)) == NULL) {
		refuse(fd, "clusterd: the master is out of memory");
		return -ENOMEM;
	}
	reader_queue(r, "0\n", 2);
	log_info("events: pid %ld reads the event stream%s", (long)pid,
	    json ? " (json)" : "");
	return 0;
}

static struct events_reader *
reader_new(int fd, pid_t pid, bool json)
{
	struct events_reader *r;

	if ((r = calloc(1, sizeof *r)) == NULL ||
	    (r->buf = malloc(EVENTS_BUF)) == NULL) {
		free(r);
		return NULL;
	}
	r->fd = fd;
	r->pid = pid;
	r->json = json;
	ev_io_init(&r->read_w, reader_read_cb, fd, EV_READ);
	r->read_w.data = r;
	ev_io_init(&r->write_w, reader_write_cb, fd, EV_WRITE);
	r->write_w.data = r;
	ev_io_start(cl.loop, &r->read_w);
	r->next = evs.readers;
	evs.readers = r;
	evs.nreaders++;
	return r;
}

/* Across an upgrade: every reader with what it has not been sent yet, so
 * its stream goes on (the upgrade event is in it). */
void
events_dump(struct ustate *st)
{
	struct events_reader *r;

	upgrade_put_u64(st, (uint64_t)evs.nreaders);
	for (r = evs.readers; r != NULL; r = r->next) {
		upgrade_put_fd(st, r->fd);
		upgrade_put_u64(st, (uint64_t)r->pid);
		upgrade_put_u64(st, r->json);
		upgrade_put_mem(st, r->buf + r->off, r->len - r->off);
		upgrade_put_u64(st, r->dropped);
	}
}

int
events_restore(struct ustate *st)
{
	struct events_reader *r;
	size_t len;
	char *b;
	int n, i, fd;
	pid_t pid;
	bool json;

	n = (int)upgrade_get_u64(st);
	if (n < 0 || n > EVENTS_READERS_MAX)
		return -EBADMSG;
	for (i = 0; i < n && !upgrade_get_failed(st); i++) {
		fd = upgrade_get_fd(st);
		pid = (pid_t)upgrade_get_u64(st);
		json = upgrade_get_u64(st) != 0;
		b = upgrade_get_blob(st, &len);
		if (fd == -1 || len > EVENTS_BUF ||
		    (r = reader_new(fd, pid, json)) == NULL) {
			free(b);
			if (fd != -1)
				close(fd);
			return -EBADMSG;
		}
		r->dropped = upgrade_get_u64(st);
		if (len > 0)
			reader_queue(r, b, len);
		free(b);
	}
	return upgrade_get_failed(st) ? -EBADMSG : 0;
}

static void
reader_free(struct events_reader *r)
{
	struct events_reader **pp;

	for (pp = &evs.readers; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			evs.nreaders--;
			break;
		}
	ev_io_stop(cl.loop, &r->read_w);
	ev_io_stop(cl.loop, &r->write_w);
	close(r->fd);
	free(r->buf);
	free(r);
}

/* Readers send nothing: input is thrown away, EOF or an error ends it. */
static void
reader_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct events_reader *r = w->data;
	char junk[256];
	ssize_t n;

	n = recv(r->fd, junk, sizeof junk, MSG_DONTWAIT);
	if (n > 0 || (n == -1 && (errno == EINTR || errno == EAGAIN)))
		return;
	log_info("events: pid %ld stopped reading", (long)r->pid);
	reader_free(r);
}

/* 0 sent all it could, -1 the reader is gone. */
static int
reader_send(struct events_reader *r)
{
	ssize_t n;

	while (r->off < r->len) {
		n = send(r->fd, r->buf + r->off, r->len - r->off,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		r->off += (size_t)n;
	}
	r->off = r->len = 0;
	return 0;
}

static void
reader_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct events_reader *r = w->data;

	if (reader_send(r) < 0) {
		log_info("events: pid %ld went away", (long)r->pid);
		reader_free(r);
		return;
	}
	/* Room again: the reader hears what it missed, then what comes. */
	if (r->dropped > 0)
		reader_say_dropped(r);
	if (r->off == r->len)
		ev_io_stop(loop, w);
}

/* The master exits: a last try to send what is queued, then the close
 * that ends each reader's stream (its `clusterd events` exits 0). */
void
events_close(void)
{
	while (evs.readers != NULL) {
		(void)reader_send(evs.readers);
		reader_free(evs.readers);
	}
}

/* ------------------------------------------------------------------ */
/* Events.                                                             */

/*
 * One event to every reader: type, then fields in order; text is the
 * human line (the timestamp goes before it). Nothing is rendered when
 * nobody reads.
 */
void
events_emit(const char *type, const struct event_field *f, int nf,
    const char *text)
{
	struct events_reader *r;
	struct line lines[2];
	bool done[2] = { false, false };
	char ts[32];

	if (evs.readers == NULL)
		return;
	log_timestamp(ts, sizeof ts);
	for (r = evs.readers; r != NULL; r = r->next) {
		if (!done[r->json]) {
			render(&lines[r->json], r->json, ts, type, f, nf, text);
			done[r->json] = true;
		}
		reader_push(r, &lines[r->json]);
	}
}

/* slot_event wrote s->state: from -[ev: detail]-> to. pid and generation
 * are of the worker the event was about (read before the transition: it
 * may be freed by now), 0 for an event about the slot: then its current
 * worker's, if it has one. */
void
events_slot(const struct slot *s, pid_t pid, unsigned generation,
    enum slot_state from, enum slot_state to, enum slot_event ev,
    const char *detail)
{
	struct event_field f[7];
	char text[512];
	int n = 0;

	if (evs.readers == NULL)
		return;
	if (pid == 0 && s->cur != NULL) {
		pid = s->cur->pid;
		generation = s->cur->generation;
	}
	f[n++] = (struct event_field){ "slot", NULL, s->index };
	f[n++] = (struct event_field){ "from", slot_state_name(from), 0 };
	f[n++] = (struct event_field){ "to", slot_state_name(to), 0 };
	f[n++] = (struct event_field){ "event", slot_event_name(ev), 0 };
	if (detail != NULL)
		f[n++] = (struct event_field){ "detail", detail, 0 };
	if (pid != 0) {
		f[n++] = (struct event_field){ "pid", NULL, pid };
		f[n++] = (struct event_field){ "generation", NULL, generation };
	}
	snprintf(text, sizeof text, "slot %d: %s -[%s%s%s]-> %s", s->index,
	    slot_state_name(from), slot_event_name(ev), detail ? ": " : "",
	    detail ? detail : "", slot_state_name(to));
	if (pid != 0)
		snprintf(text + strlen(text), sizeof text - strlen(text),
		    " (pid %ld, generation %u)", (long)pid, generation);
	events_emit("slot", f, n, text);
}

/* A worker was reaped; how: "exit code 3", "signal 9 (KILL)". */
void
events_exit(const struct worker *w, const char *how)
{
	const char *reason = w->killed ? "killed" : w->stopping ? "stopped" :
	    "crash";
	struct event_field f[] = {
		{ "slot", NULL, w->slot }, { "pid", NULL, w->pid },
		{ "generation", NULL, w->generation },
		{ "reason", reason, 0 }, { "status", how, 0 },
	};
	char text[256];

	if (evs.readers == NULL)
		return;
	snprintf(text, sizeof text, "exit: slot %d pid %ld (generation %u): "
	    "%s, %s", w->slot, (long)w->pid, w->generation, reason, how);
	events_emit("exit", f, sizeof f / sizeof f[0], text);
}

/* The reload of generation: "begin", "ok" or "failed" (msg: why). */
void
events_reload(const char *phase, unsigned generation, const char *msg)
{
	struct event_field f[3] = {
		{ "phase", phase, 0 }, { "generation", NULL, generation },
		{ "msg", msg ? msg : "", 0 },
	};
	char text[600];

	if (evs.readers == NULL)
		return;
	snprintf(text, sizeof text, "reload: generation %u %s%s%s",
	    generation, phase, msg ? ": " : "", msg ? msg : "");
	events_emit("reload", f, msg ? 3 : 2, text);
}

void
events_scale(int from, int to)
{
	struct event_field f[] = { { "from", NULL, from }, { "to", NULL, to } };
	char text[96];

	snprintf(text, sizeof text, "scale: %d -> %d workers", from, to);
	events_emit("scale", f, 2, text);
}

/* The cluster stops (phase "begin", why), or the master exits ("done"). */
void
events_stop(const char *phase, const char *why)
{
	struct event_field f[] = { { "phase", phase, 0 }, { "why", why, 0 } };
	char text[256];

	snprintf(text, sizeof text, "stop: %s: %s", phase, why);
	events_emit("stop", f, 2, text);
}
