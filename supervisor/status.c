/*
 * status.c - the `status` answer, as text for people and JSON for
 * programs, rendered from slot rows. Text output escapes control
 * characters: what a worker or a config puts in a field must not drive the
 * reader's terminal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clusterd.h"

static bool
is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Text for a terminal: C0 controls and DEL as \xHH, the rest as is (UTF-8
 * stays readable). */
static void
buf_text_str(struct buf *b, const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (is_control(*p))
			buf_printf(b, "\\x%02x", *p);
		else
			buf_append(b, (const char *)p, 1);
}

/* The same into a short fixed buffer, for a padded column. */
static const char *
text_safe(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	for (; *s != '\0' && o + 5 < len; s++)
		if (is_control((unsigned char)*s))
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x",
			    (unsigned char)*s);
		else
			buf[o++] = *s;
	buf[o] = '\0';
	return buf;
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void
buf_json_str(struct buf *b, const char *s)
{
	const unsigned char *p;

	if (s == NULL) {
		buf_append(b, "null", 4);
		return;
	}
	buf_append(b, "\"", 1);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			buf_append(b, "\\n", 2);
		else if (*p == '\t')
			buf_append(b, "\\t", 2);
		else if (is_control(*p))
			buf_printf(b, "\\u%04x", *p);
		else
			buf_append(b, (const char *)p, 1);
	}
	buf_append(b, "\"", 1);
}

/* ------------------------------------------------------------------ */
/* Reply buffers, bounded by CONTROL_OUT_MAX.                                                      */

void
buf_append(struct buf *b, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (b->overflow)
		return;
	if (b->len + n + 1 > CONTROL_OUT_MAX) {
		b->overflow = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		for (cap = b->cap ? b->cap : 1024; cap < b->len + n + 1;)
			cap *= 2;
		if (cap > CONTROL_OUT_MAX)
			cap = CONTROL_OUT_MAX;
		if ((p = realloc(b->data, cap)) == NULL) {
			b->overflow = true;
			return;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	char small[512], *big;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof small) {
		buf_append(b, small, (size_t)n);
		return;
	}
	va_start(ap, fmt);
	n = vasprintf(&big, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->overflow = true;
		return;
	}
	buf_append(b, big, (size_t)n);
	free(big);
}

void
buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

/* ------------------------------------------------------------------ */
/* Rendering.                                                          */

static const char *
phase_name(void)
{
	switch (cl.phase) {
	case PHASE_STARTING:
		return "starting";
	case PHASE_RUNNING:
		return "running";
	case PHASE_LAME_DUCK:
	case PHASE_STOPPING:
		return "stopping";
	}
	return "?";
}

static const char *
listener_mode(const struct listener *l)
{
	if (l->shut)
		return "closed: stopping";
	if (l->activated)
		return "from systemd, shared";
	if (l->cfg.family == AF_UNIX || l->cfg.sockets == LISTEN_SHARED)
		return "shared";
	return "per-worker";
}

/* "replaced: slot 0 lifetime, slot 3 request": why each slot's worker was
 * last replaced make-before-break, when it ever was. */
static void
status_replaced(struct buf *b, const struct slot_row *rows, int n)
{
	int i, last = -1, shown = 0;

	for (i = 0; i < n; i++) {
		if (rows[i].slot == last || rows[i].last_replace[0] == '\0')
			continue;
		last = rows[i].slot;
		buf_printf(b, "%s slot %d %s", shown++ ? "," : "replaced:",
		    rows[i].slot, rows[i].last_replace);
	}
	if (shown)
		buf_append(b, "\n", 1);
}

static void
status_text(struct buf *b, const struct slot_row *rows, int n)
{
	char up[32], rss[32], state[48], queue[16], cpu[32];
	int i;

	list_fmt_duration(ev_now(cl.loop) - cl.started, up, sizeof up);
	buf_text_str(b, cl.cfg->name);
	buf_printf(b, ": master %ld, up %s, generation %u, %d/%d workers "
	    "ready (%s%s)\n", (long)cl.master_pid, up, cl.generation,
	    slot_ready_count(), slot_wanted(), phase_name(),
	    reload_running() ? ", reloading" : "");
	if (cl.cfg->nlset == 0)
		buf_printf(b, "listen: closed\n");
	for (i = 0; i < cl.cfg->nlset; i++) {
		buf_printf(b, "listen: ");
		buf_text_str(b, listen_describe(cl.cfg->lset[i]));
		buf_printf(b, " (%s)\n", listener_mode(cl.cfg->lset[i]));
	}
	buf_printf(b, "\n%-5s %-8s %-4s %-9s %-8s %-8s %-8s %-5s %-8s %-9s "
	    "%s\n", "SLOT", "PID", "GEN", "STATE", "UPTIME", "RESTARTS", "RSS",
	    "QUEUE", "CPU", "RECEIVING", "LAST EXIT");
	for (i = 0; i < n; i++) {
		const struct slot_row *r = &rows[i];
		char pid[16], gen[16];

		if (r->pid) {
			snprintf(pid, sizeof pid, "%ld", (long)r->pid);
			snprintf(gen, sizeof gen, "%u", r->generation);
			list_fmt_duration(r->uptime, up, sizeof up);
			list_fmt_size(r->rss, rss, sizeof rss);
		} else {
			snprintf(pid, sizeof pid, "-");
			snprintf(gen, sizeof gen, "-");
			snprintf(up, sizeof up, "-");
			snprintf(rss, sizeof rss, "-");
		}
		if (r->queued < 0)
			snprintf(queue, sizeof queue, "-");
		else
			snprintf(queue, sizeof queue, "%d", r->queued);
		snprintf(cpu, sizeof cpu, "%.2fs", r->cpu_s);
		buf_printf(b, "%-5d %-8s %-4s %-9s %-8s %-8u %-8s %-5s %-8s %-9s ",
		    r->slot, pid, gen, text_safe(r->state, state, sizeof state),
		    up, r->restarts, rss, queue, cpu,
		    r->receiving ? "yes" : "no");
		buf_text_str(b, r->last_exit[0] ? r->last_exit : "-");
		buf_append(b, "\n", 1);
	}
	status_replaced(b, rows, n);
}

/* Field names are a contract: only ever add, never rename. */
static void
status_json(struct buf *b, const struct slot_row *rows, int n, bool paths)
{
	int i;

	buf_printf(b, "{\"name\":");
	buf_json_str(b, cl.cfg->name);
	if (paths) {	/* FILE, for `clusterd list`; not for the admin port */
		buf_printf(b, ",\"file\":");
		buf_json_str(b, cl.cfg->file);
	}
	buf_printf(b, ",\"master_pid\":%ld,\"generation\":%u,"
	    "\"uptime_s\":%.1f,\"state\":\"%s\",\"reloading\":%s,"
	    "\"wanted\":%d,\"ready\":%d,\"listen\":[", (long)cl.master_pid,
	    cl.generation, ev_now(cl.loop) - cl.started, phase_name(),
	    reload_running() ? "true" : "false", slot_wanted(),
	    slot_ready_count());
	for (i = 0; i < cl.cfg->nlset; i++) {
		if (i > 0)
			buf_append(b, ",", 1);
		buf_json_str(b, listen_describe(cl.cfg->lset[i]));
	}
	buf_printf(b, "],\"workers\":[");
	for (i = 0; i < n; i++) {
		const struct slot_row *r = &rows[i];

		buf_printf(b, "%s{\"slot\":%d,", i ? "," : "", r->slot);
		if (r->pid)
			buf_printf(b, "\"pid\":%ld,\"generation\":%u,"
			    "\"uptime_s\":%.1f,", (long)r->pid, r->generation,
			    r->uptime);
		else
			buf_printf(b, "\"pid\":null,\"generation\":null,"
			    "\"uptime_s\":null,");
		buf_printf(b, "\"state\":");
		buf_json_str(b, r->state);
		buf_printf(b, ",\"restarts\":%u,\"last_exit\":", r->restarts);
		buf_json_str(b, r->last_exit[0] ? r->last_exit : NULL);
		buf_printf(b, ",\"last_replace\":");
		buf_json_str(b, r->last_replace[0] ? r->last_replace : NULL);
		buf_printf(b, ",\"rss_bytes\":%llu,\"receiving\":%s,",
		    (unsigned long long)r->rss, r->receiving ? "true" : "false");
		if (r->queued < 0)
			buf_printf(b, "\"queued\":null,");
		else
			buf_printf(b, "\"queued\":%d,", r->queued);
		buf_printf(b, "\"cpu_s\":%.3f}", r->cpu_s);
	}
	buf_printf(b, "]}\n");
}

int
status_render(struct buf *b, bool json, bool paths)
{
	struct slot_row *rows;
	int n, max;

	max = slot_rows(NULL, 0);
	if ((rows = calloc((size_t)max + 1, sizeof *rows)) == NULL)
		return -ENOMEM;
	n = slot_rows(rows, max);
	if (n > max)
		n = max;
	if (json)
		status_json(b, rows, n, paths);
	else
		status_text(b, rows, n);
	free(rows);
	return 0;
}
