/*
 * output.c - the workers' stdout and stderr: two pipes per worker, read as
 * it comes; each line goes to the log attributed to its slot, pid and
 * stream (log.c renders it: text, JSON or a journal entry), and the last
 * lines of each worker are kept for error messages. Always drained, so a
 * busy log never blocks a worker; read in bounded bursts, so a worker that
 * never stops writing cannot keep the master from its other work.
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

static void	 output_cb(struct ev_loop *, ev_io *, int);
static void	 output_line(struct worker *, int, const char *, size_t);
static int	 output_read(struct worker *, int, int reads);

/* The read ends of the worker's stdout and stderr pipes. */
void
output_start(struct worker *w, const int fd[2])
{
	struct output_pipe *p;
	int i;

	for (i = 0; i < OUTPUT_NSTREAMS; i++) {
		p = &w->out.pipe[i];
		p->fd = fd[i];
		p->len = 0;
		fcntl(p->fd, F_SETFL, O_NONBLOCK);
		ev_io_init(&p->w, output_cb, p->fd, EV_READ);
		p->w.data = w;
		ev_io_start(cl.loop, &p->w);
	}
}

static void
pipe_stop(struct output_pipe *p)
{
	if (p->fd == -1)
		return;
	ev_io_stop(cl.loop, &p->w);
	close(p->fd);
	p->fd = -1;
}

void
output_stop(struct worker *w)
{
	int i;

	for (i = 0; i < OUTPUT_NSTREAMS; i++)
		pipe_stop(&w->out.pipe[i]);
}

static void
output_line(struct worker *w, int stream, const char *line, size_t len)
{
	struct output *o = &w->out;
	size_t n;

	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;		/* CRLF lines */
	log_worker_line(w->slot, w->pid, w->generation, stream, line, len);
	if (o->ntail == OUTPUT_TAIL) {
		memmove(o->tail[0], o->tail[1], sizeof o->tail[0] *
		    (OUTPUT_TAIL - 1));
		o->ntail = OUTPUT_TAIL - 1;
	}
	/* For the start's error message, escaped like a text log line. */
	n = log_escape(o->tail[o->ntail], sizeof o->tail[0] - 1, line, len);
	o->tail[o->ntail++][n] = '\0';
}

/* Where to cut a line too long for the buffer: not inside a UTF-8
 * character, so that each piece stays valid text. */
static size_t
cut_at(const char *buf, size_t len)
{
	size_t i = len, k, need;
	unsigned char c;

	for (k = 0; k < 3 && i > 0 && ((unsigned char)buf[i - 1] & 0xc0) ==
	    0x80; k++)
		i--;
	if (i == 0 || (c = (unsigned char)buf[i - 1]) < 0xc0)
		return len;
	need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
	return len - (i - 1) < need && i - 1 > 0 ? i - 1 : len;
}

/* Up to reads reads (and OUTPUT_BURST_LINES lines) of one pipe: 1 while
 * it may have more, 0 once it is empty or closed. */
static int
output_read(struct worker *w, int stream, int reads)
{
	struct output_pipe *p = &w->out.pipe[stream];
	char *nl;
	ssize_t n;
	size_t used;
	int lines = 0;

	while (reads > 0 && lines < OUTPUT_BURST_LINES) {
		n = read(p->fd, p->buf + p->len, sizeof p->buf - p->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			pipe_stop(p);
			return 0;
		}
		reads--;
		p->len += (size_t)n;
		used = 0;
		while ((nl = memchr(p->buf + used, '\n', p->len - used)) !=
		    NULL) {
			output_line(w, stream, p->buf + used,
			    (size_t)(nl - (p->buf + used)) + 1);
			used = (size_t)(nl - p->buf) + 1;
			lines++;
		}
		if (used == 0 && p->len == sizeof p->buf) {
			/* Too long: split, each piece its own line. */
			used = cut_at(p->buf, p->len);
			output_line(w, stream, p->buf, used);
			lines++;
		}
		memmove(p->buf, p->buf + used, p->len - used);
		p->len -= used;
	}
	return 1;
}

static void
output_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct worker *w = io->data;
	int stream = io == &w->out.pipe[OUTPUT_STDERR].w ? OUTPUT_STDERR :
	    OUTPUT_STDOUT;
	struct output_pipe *p = &w->out.pipe[stream];

	if (output_read(w, stream, OUTPUT_BURST_READS) == 0 && p->fd == -1 &&
	    p->len > 0) {
		output_line(w, stream, p->buf, p->len);	/* EOF: the rest */
		p->len = 0;
	}
}

/*
 * The worker exited: what is left in its pipes (about a pipe's worth, not
 * more: a process it left behind may still hold them and keep writing),
 * then a last partial line of each.
 */
void
output_flush(struct worker *w)
{
	struct output_pipe *p;
	int i, s;

	for (s = 0; s < OUTPUT_NSTREAMS; s++) {
		p = &w->out.pipe[s];
		for (i = 0; i < 128 && p->fd != -1; i++)
			if (output_read(w, s, OUTPUT_BURST_READS) == 0)
				break;
		if (p->len > 0) {
			output_line(w, s, p->buf, p->len);
			p->len = 0;
		}
	}
}

/* Across an upgrade: both pipes (what the worker wrote meanwhile waits
 * in them), their partial lines and the last lines. */
void
output_dump(struct ustate *st, const struct worker *w)
{
	const struct output *o = &w->out;
	int i;

	for (i = 0; i < OUTPUT_NSTREAMS; i++) {
		upgrade_put_fd(st, o->pipe[i].fd);
		upgrade_put_mem(st, o->pipe[i].buf, o->pipe[i].len);
	}
	upgrade_put_mem(st, o->tail, sizeof o->tail);
	upgrade_put_u64(st, (uint64_t)o->ntail);
}

int
output_restore(struct ustate *st, struct worker *w)
{
	struct output *o = &w->out;
	struct output_pipe *p;
	size_t len;
	char *b;
	int i;

	for (i = 0; i < OUTPUT_NSTREAMS; i++) {
		p = &o->pipe[i];
		p->fd = upgrade_get_fd(st);
		p->len = 0;
		b = upgrade_get_blob(st, &len);
		if (b != NULL && len <= sizeof p->buf) {
			memcpy(p->buf, b, len);
			p->len = len;
		}
		free(b);
	}
	upgrade_get_mem(st, o->tail, sizeof o->tail);
	o->ntail = (int)upgrade_get_u64(st);
	if (upgrade_get_failed(st) || o->ntail < 0 || o->ntail > OUTPUT_TAIL)
		return -EBADMSG;
	for (i = 0; i < OUTPUT_NSTREAMS; i++) {
		p = &o->pipe[i];
		if (p->fd == -1)
			continue;
		ev_io_init(&p->w, output_cb, p->fd, EV_READ);
		p->w.data = w;
		ev_io_start(cl.loop, &p->w);
	}
	return 0;
}
