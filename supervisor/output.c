/*
 * output.c - the workers' stdout and stderr: one pipe per worker, read as it
 * comes; each line goes to the log attributed to its slot and pid, with
 * control characters escaped, and the last lines of each slot are kept for
 * error messages. Always drained, so a busy log never blocks a worker; read
 * in bounded bursts, so a worker that never stops writing cannot keep the
 * master from its other work.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clusterd.h"

/* Per wakeup of one pipe: at most this many reads, or lines. libev comes
 * back to a pipe that is still readable on its next turn, after signals,
 * the control socket and timers had theirs. */
#define OUTPUT_BURST_READS	16
#define OUTPUT_BURST_LINES	256
/* Longest line logged, in bytes of the worker's output. */
#define OUTPUT_LINE_MAX		1200

static void	 output_cb(struct ev_loop *, ev_io *, int);
static void	 output_line(struct worker *, const char *, size_t);
static int	 output_read(struct worker *, int reads);

/*
 * Raw control characters would reach terminals (`clusterd logs`, `run`'s
 * stderr, `start`'s error message) and move their cursor, retitle or
 * reprogram them: each C0 byte but tab, and DEL, is written as \xHH. At
 * most max bytes of out; a trailing CR (CRLF lines) goes.
 */
static size_t
escape(char *out, size_t max, const char *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c;
	size_t i, n = 0;

	if (len > 0 && in[len - 1] == '\r')
		len--;
	for (i = 0; i < len; i++) {
		c = (unsigned char)in[i];
		if ((c >= 0x20 && c != 0x7f) || c == '\t') {
			if (n + 1 > max)
				break;
			out[n++] = (char)c;
			continue;
		}
		if (n + 4 > max)
			break;
		out[n++] = '\\';
		out[n++] = 'x';
		out[n++] = hex[c >> 4];
		out[n++] = hex[c & 15];
	}
	return n;
}

/* The worker's end of the pipe is fd (the master's reading end). */
void
output_start(struct worker *w, int fd)
{
	w->out.fd = fd;
	w->out.len = 0;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	ev_io_init(&w->out.w, output_cb, fd, EV_READ);
	w->out.w.data = w;
	ev_io_start(cl.loop, &w->out.w);
}

void
output_stop(struct worker *w)
{
	if (w->out.fd == -1)
		return;
	ev_io_stop(cl.loop, &w->out.w);
	close(w->out.fd);
	w->out.fd = -1;
}

static void
output_line(struct worker *w, const char *line, size_t len)
{
	struct output *o = &w->out;
	char text[OUTPUT_LINE_MAX], buf[OUTPUT_LINE_MAX + 200];
	size_t n, tlen;
	int m;

	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > OUTPUT_LINE_MAX)
		len = OUTPUT_LINE_MAX;
	tlen = escape(text, sizeof text, line, len);
	n = log_prefix(buf, sizeof buf, LOG_LVL_INFO);
	m = snprintf(buf + n, sizeof buf - n, "slot %d pid %ld: %.*s\n",
	    w->slot, (long)w->pid, (int)tlen, text);
	if (m > 0)
		log_raw(buf, n + ((size_t)m < sizeof buf - n ? (size_t)m :
		    sizeof buf - n - 1));
	if (o->ntail == OUTPUT_TAIL) {
		memmove(o->tail[0], o->tail[1], sizeof o->tail[0] *
		    (OUTPUT_TAIL - 1));
		o->ntail = OUTPUT_TAIL - 1;
	}
	snprintf(o->tail[o->ntail++], sizeof o->tail[0], "%.*s", (int)tlen,
	    text);
}

/* Up to reads reads (and OUTPUT_BURST_LINES lines): 1 while the pipe may
 * have more, 0 once it is empty or closed. */
static int
output_read(struct worker *w, int reads)
{
	struct output *o = &w->out;
	char *nl;
	ssize_t n;
	size_t used;
	int lines = 0;

	while (reads > 0 && lines < OUTPUT_BURST_LINES) {
		n = read(o->fd, o->buf + o->len, sizeof o->buf - o->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			output_stop(w);
			return 0;
		}
		reads--;
		o->len += (size_t)n;
		used = 0;
		while ((nl = memchr(o->buf + used, '\n', o->len - used)) !=
		    NULL) {
			output_line(w, o->buf + used,
			    (size_t)(nl - (o->buf + used)) + 1);
			used = (size_t)(nl - o->buf) + 1;
			lines++;
		}
		if (used == 0 && o->len == sizeof o->buf) {
			output_line(w, o->buf, o->len);	/* too long */
			used = o->len;
			lines++;
		}
		memmove(o->buf, o->buf + used, o->len - used);
		o->len -= used;
	}
	return 1;
}

static void
output_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct worker *w = io->data;

	if (output_read(w, OUTPUT_BURST_READS) == 0 && w->out.fd == -1 &&
	    w->out.len > 0) {
		output_line(w, w->out.buf, w->out.len);	/* EOF: the rest */
		w->out.len = 0;
	}
}

/*
 * The worker exited: what is left in the pipe (about a pipe's worth, not
 * more: a process it left behind may still hold the pipe and keep
 * writing), then a last partial line.
 */
void
output_flush(struct worker *w)
{
	int i;

	for (i = 0; i < 128 && w->out.fd != -1; i++)
		if (output_read(w, OUTPUT_BURST_READS) == 0)
			break;
	if (w->out.len > 0) {
		output_line(w, w->out.buf, w->out.len);
		w->out.len = 0;
	}
}

/* Across an upgrade: the pipe (what the worker wrote meanwhile waits in
 * it), the partial line and the last lines. */
void
output_dump(struct ustate *st, const struct worker *w)
{
	const struct output *o = &w->out;

	upgrade_put_fd(st, o->fd);
	upgrade_put_mem(st, o->buf, o->len);
	upgrade_put_mem(st, o->tail, sizeof o->tail);
	upgrade_put_u64(st, (uint64_t)o->ntail);
}

int
output_restore(struct ustate *st, struct worker *w)
{
	struct output *o = &w->out;
	size_t len;
	char *b;

	o->fd = upgrade_get_fd(st);
	b = upgrade_get_blob(st, &len);
	if (b != NULL && len <= sizeof o->buf) {
		memcpy(o->buf, b, len);
		o->len = len;
	}
	free(b);
	upgrade_get_mem(st, o->tail, sizeof o->tail);
	o->ntail = (int)upgrade_get_u64(st);
	if (upgrade_get_failed(st) || o->ntail < 0 || o->ntail > OUTPUT_TAIL)
		return -EBADMSG;
	if (o->fd != -1) {
		ev_io_init(&o->w, output_cb, o->fd, EV_READ);
		o->w.data = w;
		ev_io_start(cl.loop, &o->w);
	}
	return 0;
}
