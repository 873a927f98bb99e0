/*
 * http.c - the worker's HTTP/1.1 side: accepted connections, a small
 * request parser (keep-alive, pipelining, bounded header section, request
 * bodies skipped by Content-Length) and the endpoints tests rely on.
 * Nothing here blocks except /hang, which exists to block.
 */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "worker.h"

#define RBUF_SIZE	16384		/* per connection input buffer */
#define HDR_MAX		8192		/* request line + headers, else 431 */
#define OUT_HIGH	65536		/* stop parsing pipelined requests */
#define SLOW_MAX_MS	600000		/* /slow and /hang cap: 10 min */
#define DRAIN_IDLE	0.2		/* idle grace while draining, seconds */
#define DRAIN_FRESH	2.0		/* same, accepted but no request yet */
#define LINGER_SECS	2.0		/* lingering close: discard input */

enum {
	CONN_SLOW	= 0x01,	/* a /slow answer is pending */
	CONN_CLOSE	= 0x02,	/* close once the output is flushed */
	CONN_LINGER	= 0x04,	/* output done, FIN sent, discarding input */
	CONN_GRACE	= 0x08,	/* draining: idle-grace timer running */
	CONN_ERR	= 0x10,	/* answered a bad request: linger on close */
	CONN_TCP	= 0x20,	/* TCP: wants TCP_NODELAY before a 2nd send */
	CONN_SENT	= 0x40,	/* has sent before */
};

struct conn {
	ev_io		 rio;
	ev_io		 wio;
	ev_timer	 timer;		/* /slow, drain grace, linger */
	int		 fd;
	unsigned	 flags;
	size_t		 rlen;		/* bytes in rbuf */
	uint64_t	 body_left;	/* request body bytes to skip */
	char		*out;
	size_t		 out_len, out_off, out_cap;
	/* the pending /slow answer */
	unsigned	 slow_ms;
	bool		 slow_keep, slow_v10, slow_head;
	struct conn	*prev, *next;
	char		 rbuf[RBUF_SIZE];
};

struct req {
	const char	*target;
	size_t		 target_len;
	bool		 v10;		/* HTTP/1.0 */
	bool		 keep;		/* the client wants keep-alive */
	bool		 head;		/* HEAD: headers only */
	uint64_t	 clen;
	size_t		 len;		/* bytes of the header section */
	int		 status;	/* parse error: status to answer */
};

static void	conn_read_cb(EV_P_ ev_io *, int);
static void	conn_write_cb(EV_P_ ev_io *, int);
static void	conn_timer_cb(EV_P_ ev_timer *, int);
static void	conn_read(struct conn *);
static void	conn_process(struct conn *);
static int	conn_flush(struct conn *);
static void	conn_close(struct conn *);
static void	conn_finish(struct conn *);
static bool	conn_idle(const struct conn *);
static double	drain_grace(const struct conn *);
static int	parse(const char *, size_t, struct req *);
static void	route(struct conn *, const struct req *);
static void	reply(struct conn *, int, const char *, size_t, bool, bool,
		    bool);

static struct conn	*conns;		/* every open connection */
static size_t		 nconns;
static struct conn	*spare;		/* one closed conn kept for reuse */
static char		 hdr_worker[96];	/* X-Worker-Pid/-Slot lines */
static size_t		 hdr_worker_len;

void
http_init(void)
{
	int n;

	n = snprintf(hdr_worker, sizeof hdr_worker,
	    "X-Worker-Pid: %ld\r\nX-Worker-Slot: %s\r\n",
	    (long)worker.pid, worker.slot);
	hdr_worker_len = (n > 0 && (size_t)n < sizeof hdr_worker) ? (size_t)n : 0;
}

size_t
http_count(void)
{
	return nconns;
}

void
http_conn_new(int fd, bool tcp)
{
	struct conn	*c;

	if (spare != NULL) {
		c = spare;
		spare = NULL;
	} else if ((c = malloc(sizeof *c)) == NULL) {
		close(fd);
		return;
	} else {
		c->out = NULL;
		c->out_cap = 0;
	}
	c->fd = fd;
	c->flags = tcp ? CONN_TCP : 0;
	c->rlen = 0;
	c->body_left = 0;
	c->out_len = c->out_off = 0;
	ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, conn_write_cb, fd, EV_WRITE);
	ev_init(&c->timer, conn_timer_cb);
	c->rio.data = c->wio.data = c->timer.data = c;
	c->prev = NULL;
	c->next = conns;
	if (conns != NULL)
		conns->prev = c;
	conns = c;
	nconns++;
	ev_io_start(worker.loop, &c->rio);
	if (worker.draining) {
		/* Accepted while draining (the last accepts before closing
		 * the listener): serve one request, with Connection: close. */
		c->flags |= CONN_GRACE;
		ev_timer_set(&c->timer, drain_grace(c), 0.);
		ev_timer_start(worker.loop, &c->timer);
	}
}

/*
 * Draining: stop keeping connections alive. Busy connections get their
 * answers with "Connection: close"; idle ones are closed after a short
 * grace, so a request already on its way is still answered instead of
 * hitting a closed socket.
 */
void
http_drain(void)
{
	struct conn	*c, *next;

	for (c = conns; c != NULL; c = next) {
		next = c->next;
		if (!conn_idle(c) || (c->flags & CONN_GRACE))
			continue;
		c->flags |= CONN_GRACE;
		ev_timer_stop(worker.loop, &c->timer);
		ev_timer_set(&c->timer, drain_grace(c), 0.);
		ev_timer_start(worker.loop, &c->timer);
	}
}

/* A connection accepted just before the drain whose client has not sent
 * its first request yet (a slow or busy client) is not idle keep-alive:
 * closing it after 200 ms would fail a request that is on its way. */
static double
drain_grace(const struct conn *c)
{
	return (c->flags & CONN_SENT) ? DRAIN_IDLE : DRAIN_FRESH;
}

/* Nothing received, nothing pending: a keep-alive connection at rest. */
static bool
conn_idle(const struct conn *c)
{
	return c->rlen == 0 && c->body_left == 0 && c->out_len == 0 &&
	    (c->flags & (CONN_SLOW | CONN_CLOSE | CONN_LINGER)) == 0;
}

static void
conn_close(struct conn *c)
{
	ev_io_stop(worker.loop, &c->rio);
	ev_io_stop(worker.loop, &c->wio);
	ev_timer_stop(worker.loop, &c->timer);
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	nconns--;
	if (spare == NULL && c->out_cap <= OUT_HIGH * 2)
		spare = c;
	else {
		free(c->out);
		free(c);
	}
	worker_idle_check();
}

/*
 * The answer that ends the connection has been flushed. Close at once
 * unless the client has sent more than we read (pipelined requests after
 * a "close"): closing with unread input makes the kernel send RST, which
 * can destroy the answer before the client reads it. Then half-close and
 * discard input until EOF, for a bounded time.
 */
static void
conn_finish(struct conn *c)
{
	if (c->rlen == 0 && c->body_left == 0 && !(c->flags & CONN_ERR)) {
		conn_close(c);
		return;
	}
	c->flags |= CONN_LINGER;
	c->rlen = 0;
	shutdown(c->fd, SHUT_WR);	/* an accepted socket, not a listener */
	ev_io_stop(worker.loop, &c->wio);
	ev_io_start(worker.loop, &c->rio);
	ev_timer_stop(worker.loop, &c->timer);
	ev_timer_set(&c->timer, LINGER_SECS, 0.);
	ev_timer_start(worker.loop, &c->timer);
}

static void
conn_read_cb(EV_P_ ev_io *w, int revents)
{
	conn_read(w->data);
}

static void
conn_read(struct conn *c)
{
	char	 junk[4096];
	ssize_t	 n;

	if (c->flags & CONN_LINGER) {
		n = read(c->fd, junk, sizeof junk);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_close(c);
		return;
	}
	if (c->rlen == sizeof c->rbuf) {	/* cannot happen: see HDR_MAX */
		ev_io_stop(worker.loop, &c->rio);
		return;
	}
	n = read(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		conn_close(c);
		return;
	}
	if (n == 0) {
		/* EOF: answer what is pending (a client may half-close
		 * after its request), then close. */
		ev_io_stop(worker.loop, &c->rio);
		c->rlen = 0;
		c->body_left = 0;
		if (c->out_len == 0 && !(c->flags & CONN_SLOW))
			conn_close(c);
		else
			c->flags |= CONN_CLOSE;
		return;
	}
	c->rlen += (size_t)n;
	if (c->flags & CONN_GRACE) {
		c->flags &= ~CONN_GRACE;
		ev_timer_stop(worker.loop, &c->timer);
	}
	conn_process(c);
}

/* Answer every complete request in rbuf, in order, then flush. */
static void
conn_process(struct conn *c)
{
	struct req	 r;
	size_t		 pos = 0, take;
	int		 rc;

	while (pos < c->rlen && !(c->flags & (CONN_SLOW | CONN_CLOSE))) {
		if (c->body_left > 0) {
			take = c->rlen - pos;
			if (take > c->body_left)
				take = (size_t)c->body_left;
			c->body_left -= take;
			pos += take;
			continue;
		}
		if (c->out_len >= OUT_HIGH) {
			if (conn_flush(c) < 0)
				return;
			if (c->out_len > 0)
				break;	/* the write watcher resumes us */
		}
		rc = parse(c->rbuf + pos, c->rlen - pos, &r);
		if (rc == 0)
			break;
		if (rc < 0) {
			c->flags |= CONN_ERR;
			reply(c, r.status, NULL, 0, false, false, r.v10);
			pos = c->rlen;
			break;
		}
		pos += r.len;
		c->body_left = r.clen;
		route(c, &r);
	}
	if (pos > 0) {
		c->rlen -= pos;
		if (c->rlen > 0)
			memmove(c->rbuf, c->rbuf + pos, c->rlen);
	}
	if (c->rlen >= HDR_MAX && !(c->flags & (CONN_SLOW | CONN_CLOSE)) &&
	    c->out_len == 0 && c->body_left == 0) {
		/* No end of the header section within HDR_MAX bytes. */
		c->flags |= CONN_ERR;
		reply(c, 431, NULL, 0, false, false, false);
		c->rlen = 0;
	}
	if (c->out_len > 0) {
		if (conn_flush(c) < 0)
			return;
	} else if (c->flags & CONN_CLOSE && !(c->flags & CONN_SLOW)) {
		conn_finish(c);
		return;
	}
	if (c->flags & CONN_SLOW || c->out_len > 0)
		ev_io_stop(worker.loop, &c->rio);	/* back-pressure */
}

/* Send the output; 0 if the connection is still open, -1 if closed. */
static int
conn_flush(struct conn *c)
{
	ssize_t	n;
	int	one = 1;

	/*
	 * Nagle would hold a small answer while an earlier one is unacked
	 * (a pipelining client with delayed ACKs waits 40 ms). The first
	 * send has nothing unacked before it: a Connection: close client
	 * never pays for the setsockopt.
	 */
	if ((c->flags & (CONN_TCP | CONN_SENT)) == (CONN_TCP | CONN_SENT)) {
		(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof one);
		c->flags &= ~CONN_TCP;
	}
	c->flags |= CONN_SENT;
	while (c->out_off < c->out_len) {
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		    MSG_NOSIGNAL);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			ev_io_stop(worker.loop, &c->rio);
			ev_io_start(worker.loop, &c->wio);
			return 0;
		}
		conn_close(c);
		return -1;
	}
	c->out_len = c->out_off = 0;
	ev_io_stop(worker.loop, &c->wio);
	if (c->flags & CONN_CLOSE) {
		if (c->flags & CONN_SLOW)
			return 0;
		conn_finish(c);
		return -1;
	}
	return 0;
}

static void
conn_write_cb(EV_P_ ev_io *w, int revents)
{
	struct conn	*c = w->data;

	if (conn_flush(c) < 0 || c->out_len > 0)
		return;
	if (c->flags & CONN_SLOW)
		return;
	/* Flushed: resume reading and answer what is already buffered. */
	ev_io_start(worker.loop, &c->rio);
	conn_process(c);
}

static void
conn_timer_cb(EV_P_ ev_timer *w, int revents)
{
	struct conn	*c = w->data;
	char		 body[64];
	int		 n;

	if (c->flags & CONN_LINGER) {
		conn_close(c);
		return;
	}
	if (c->flags & CONN_GRACE) {
		c->flags &= ~CONN_GRACE;
		if (conn_idle(c))
			conn_close(c);
		return;
	}
	if (!(c->flags & CONN_SLOW))
		return;
	c->flags &= ~CONN_SLOW;
	n = snprintf(body, sizeof body, "slept %u ms\n", c->slow_ms);
	reply(c, 200, body, (size_t)n, c->slow_keep, c->slow_head,
	    c->slow_v10);
	if (!(c->flags & CONN_CLOSE))
		ev_io_start(worker.loop, &c->rio);
	conn_process(c);
}

/* ------------------------------------------------------------------ */
/* Parsing                                                              */

static bool
token_eq(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && strncasecmp(s, lit, len) == 0;
}

/* Does the comma-separated header value contain the token? */
static bool
has_token(const char *v, size_t len, const char *tok)
{
	size_t	i = 0, start, end;

	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		start = i;
		while (i < len && v[i] != ',')
			i++;
		end = i;
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		if (token_eq(v + start, end - start, tok))
			return true;
	}
	return false;
}

/*
 * Parse one request head from buf. Returns 1 with r filled in, 0 if more
 * bytes are needed, -1 with r->status set if the request is malformed
 * (the connection is then answered and closed). Lines may end in CRLF or
 * LF; empty lines before the request line are skipped (RFC 9112 2.2).
 */
static int
parse(const char *buf, size_t len, struct req *r)
{
	const char	*p, *end, *line, *nl, *sp, *colon, *v;
	size_t		 ll, vl, i;
	bool		 first = true, have_clen = false;
	uint64_t	 clen;

	memset(r, 0, sizeof *r);
	r->keep = true;
	p = buf;
	end = buf + len;
	while (p < end && (*p == '\r' || *p == '\n'))
		p++;
	for (;;) {
		if ((size_t)(p - buf) >= HDR_MAX) {
			r->status = 431;
			return -1;
		}
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			return 0;
		line = p;
		ll = (size_t)(nl - p);
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		p = nl + 1;
		if ((size_t)(p - buf) > HDR_MAX) {
			r->status = 431;
			return -1;
		}
		if (first) {
			first = false;
			/* METHOD SP target SP HTTP/1.x */
			sp = memchr(line, ' ', ll);
			if (sp == NULL || sp == line)
				goto bad;
			for (v = line; v < sp; v++)
				if (!isupper((unsigned char)*v) && *v != '-' &&
				    *v != '_')
					goto bad;
			r->head = token_eq(line, (size_t)(sp - line), "HEAD");
			v = sp + 1;
			sp = memchr(v, ' ', ll - (size_t)(v - line));
			if (sp == NULL || sp == v)
				goto bad;
			r->target = v;
			r->target_len = (size_t)(sp - v);
			v = sp + 1;
			vl = ll - (size_t)(v - line);
			if (vl == 8 && memcmp(v, "HTTP/1.1", 8) == 0)
				r->v10 = false;
			else if (vl == 8 && memcmp(v, "HTTP/1.0", 8) == 0) {
				r->v10 = true;
				r->keep = false;
			} else if (vl == 8 && memcmp(v, "HTTP/", 5) == 0 &&
			    isdigit((unsigned char)v[5]) && v[6] == '.' &&
			    isdigit((unsigned char)v[7])) {
				r->status = 505;
				return -1;
			} else
				goto bad;
			continue;
		}
		if (ll == 0)
			break;		/* end of the header section */
		if (line[0] == ' ' || line[0] == '\t')
			goto bad;	/* obsolete line folding */
		colon = memchr(line, ':', ll);
		if (colon == NULL || colon == line)
			goto bad;
		for (v = line; v < colon; v++)
			if (*v == ' ' || *v == '\t')
				goto bad;
		v = colon + 1;
		vl = ll - (size_t)(v - line);
		while (vl > 0 && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		switch ((size_t)(colon - line)) {
		case 6:
			/* The answer does not wait for the body: close after
			 * it rather than guess whether the body follows. */
			if (token_eq(line, 6, "expect") &&
			    has_token(v, vl, "100-continue"))
				r->keep = false;
			break;
		case 10:
			if (token_eq(line, 10, "connection")) {
				if (has_token(v, vl, "close"))
					r->keep = false;
				else if (r->v10 && has_token(v, vl, "keep-alive"))
					r->keep = true;
			}
			break;
		case 14:
			if (!token_eq(line, 14, "content-length"))
				break;
			if (vl == 0 || vl > 18)
				goto bad;
			clen = 0;
			for (i = 0; i < vl; i++) {
				if (!isdigit((unsigned char)v[i]))
					goto bad;
				clen = clen * 10 + (uint64_t)(v[i] - '0');
			}
			if (have_clen && clen != r->clen)
				goto bad;
			have_clen = true;
			r->clen = clen;
			break;
		case 17:
			if (token_eq(line, 17, "transfer-encoding")) {
				/* No chunked bodies here: without them the
				 * end of the message cannot be found. */
				r->status = 501;
				return -1;
			}
			break;
		}
	}
	r->len = (size_t)(p - buf);
	return 1;
bad:
	r->status = 400;
	return -1;
}

/* ------------------------------------------------------------------ */
/* Answers                                                              */

static const char *
status_line(int status)
{
	switch (status) {
	case 200: return "HTTP/1.1 200 OK\r\n";
	case 400: return "HTTP/1.1 400 Bad Request\r\n";
	case 404: return "HTTP/1.1 404 Not Found\r\n";
	case 431: return "HTTP/1.1 431 Request Header Fields Too Large\r\n";
	case 501: return "HTTP/1.1 501 Not Implemented\r\n";
	case 505: return "HTTP/1.1 505 HTTP Version Not Supported\r\n";
	default:  return "HTTP/1.1 500 Internal Server Error\r\n";
	}
}

static const char *
status_body(int status)
{
	switch (status) {
	case 400: return "bad request\n";
	case 404: return "not found\n";
	case 431: return "request header fields too large\n";
	case 501: return "not implemented\n";
	case 505: return "http version not supported\n";
	default:  return "internal error\n";
	}
}

static bool
out_reserve(struct conn *c, size_t more)
{
	size_t	 cap;
	char	*p;

	if (c->out_len + more <= c->out_cap)
		return true;
	cap = c->out_cap ? c->out_cap : 4096;
	while (cap < c->out_len + more)
		cap *= 2;
	if ((p = realloc(c->out, cap)) == NULL)
		return false;
	c->out = p;
	c->out_cap = cap;
	return true;
}

#define APPEND(s, n) do { memcpy(o, (s), (n)); o += (n); } while (0)
#define APPENDLIT(s) APPEND(s, sizeof(s) - 1)

/*
 * Queue one answer. Keep-alive unless the client or the drain says
 * otherwise; an HTTP/1.0 client that asked for keep-alive is told so.
 */
static void
reply(struct conn *c, int status, const char *body, size_t blen, bool keep,
    bool head, bool v10)
{
	const char	*sl;
	char		 num[24], *o;
	size_t		 sll, nl;

	if (body == NULL) {
		body = status_body(status);
		blen = strlen(body);
	}
	if (worker.draining)
		keep = false;
	sl = status_line(status);
	sll = strlen(sl);
	nl = (size_t)snprintf(num, sizeof num, "%zu", blen);
	if (!out_reserve(c, sll + nl + hdr_worker_len + blen + 128)) {
		c->flags |= CONN_CLOSE;
		return;
	}
	o = c->out + c->out_len;
	APPEND(sl, sll);
	APPENDLIT("Content-Type: text/plain\r\nContent-Length: ");
	APPEND(num, nl);
	APPENDLIT("\r\n");
	APPEND(hdr_worker, hdr_worker_len);
	if (!keep)
		APPENDLIT("Connection: close\r\n");
	else if (v10)
		APPENDLIT("Connection: keep-alive\r\n");
	APPENDLIT("\r\n");
	if (!head)
		APPEND(body, blen);
	c->out_len = (size_t)(o - c->out);
	if (!keep)
		c->flags |= CONN_CLOSE;
}

/* The value of NAME in a query string, or NULL. */
static const char *
query_get(const char *q, size_t qlen, const char *name, size_t *ret_len)
{
	size_t	nlen = strlen(name), i = 0, start;

	while (i < qlen) {
		start = i;
		while (i < qlen && q[i] != '&')
			i++;
		if (i - start > nlen && memcmp(q + start, name, nlen) == 0 &&
		    q[start + nlen] == '=') {
			*ret_len = i - start - nlen - 1;
			return q + start + nlen + 1;
		}
		i++;
	}
	return NULL;
}

static unsigned
query_ms(const char *q, size_t qlen)
{
	const char	*v;
	size_t		 vl, i;
	unsigned long	 ms = 0;

	if ((v = query_get(q, qlen, "ms", &vl)) == NULL)
		return 0;
	for (i = 0; i < vl && isdigit((unsigned char)v[i]); i++) {
		ms = ms * 10 + (unsigned long)(v[i] - '0');
		if (ms > SLOW_MAX_MS)
			return SLOW_MAX_MS;
	}
	return (unsigned)ms;
}

/* /env: the environment and the fds this process started with. */
static void
reply_env(struct conn *c, const struct req *r, bool keep)
{
	char	*body;
	size_t	 len = worker.envlen + worker.fdslen;

	if ((body = malloc(len + 1)) == NULL) {
		reply(c, 500, NULL, 0, false, r->head, r->v10);
		return;
	}
	memcpy(body, worker.env, worker.envlen);
	memcpy(body + worker.envlen, worker.fds, worker.fdslen);
	reply(c, 200, body, len, keep, r->head, r->v10);
	free(body);
}

static void
route(struct conn *c, const struct req *r)
{
	const char	*path = r->target, *q;
	size_t		 plen = r->target_len, qlen = 0;
	char		 body[64];
	struct timespec	 ts;
	unsigned	 ms;
	int		 n;

	/* absolute-form: http://host/path */
	if (plen > 7 && (strncasecmp(path, "http://", 7) == 0 ||
	    strncasecmp(path, "https://", 8) == 0)) {
		q = memchr(path + 8, '/', plen - 8);
		if (q == NULL) {
			path = "/";
			plen = 1;
		} else {
			plen -= (size_t)(q - path);
			path = q;
		}
	}
	q = memchr(path, '?', plen);
	if (q != NULL) {
		qlen = plen - (size_t)(q - path) - 1;
		plen = (size_t)(q - path);
		q++;
	}
#define IS(lit) (plen == sizeof(lit) - 1 && memcmp(path, lit, plen) == 0)
	if (IS("/")) {
		reply(c, 200, "hello world\n", 12, r->keep, r->head, r->v10);
	} else if (IS("/slow")) {
		c->slow_ms = query_ms(q, qlen);
		c->slow_keep = r->keep;
		c->slow_head = r->head;
		c->slow_v10 = r->v10;
		c->flags |= CONN_SLOW;
		ev_timer_stop(worker.loop, &c->timer);
		c->flags &= ~CONN_GRACE;
		ev_timer_set(&c->timer, c->slow_ms / 1000., 0.);
		ev_timer_start(worker.loop, &c->timer);
	} else if (IS("/pid")) {
		n = snprintf(body, sizeof body, "%ld\n", (long)worker.pid);
		reply(c, 200, body, (size_t)n, r->keep, r->head, r->v10);
	} else if (IS("/env") && worker.debug) {
		reply_env(c, r, r->keep);
	} else if (IS("/crash") && worker.debug) {
		abort();
	} else if (IS("/exit") && worker.debug) {
		_exit(3);
	} else if (IS("/hang") && worker.debug) {
		/* Block the whole process: no accepts, no WATCHDOG=1. */
		ms = query_ms(q, qlen);
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (long)(ms % 1000) * 1000000L;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		ev_now_update(worker.loop);
		n = snprintf(body, sizeof body, "hung %u ms\n", ms);
		reply(c, 200, body, (size_t)n, r->keep, r->head, r->v10);
	} else {
		reply(c, 404, NULL, 0, r->keep, r->head, r->v10);
	}
#undef IS
}
