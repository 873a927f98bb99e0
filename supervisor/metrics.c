/*
 * metrics.c - the cluster in Prometheus text format 0.0.4, for the admin
 * endpoint's /metrics. Everything is read when scraped (counters kept by
 * the master, /proc, the kernel's view of each listening socket): nothing
 * is sampled between scrapes, so an idle master stays idle.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/sock_diag.h>

#include "clusterd.h"

static const char *const exit_names[EXIT_NREASONS] = {
	[EXIT_CRASH] = "crash", [EXIT_STOPPED] = "stopped",
	[EXIT_KILLED] = "killed",
};

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A listening TCP socket's accept queue: its length and limit (TCP_INFO
 * of a listener: tcpi_unacked, tcpi_sacked) and what the kernel dropped
 * on it (SO_MEMINFO). 0, or -errno for a socket that is not TCP. */
static int
socket_queue(int fd, unsigned *ret_len, unsigned *ret_limit,
    unsigned *ret_drops)
{
	uint32_t mem[SK_MEMINFO_VARS];
	struct tcp_info ti;
	socklen_t len = sizeof ti;

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1)
		return -errno;
	*ret_len = ti.tcpi_unacked;
	*ret_limit = ti.tcpi_sacked;
	len = sizeof mem;
	memset(mem, 0, sizeof mem);
	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) == -1 ||
	    len <= SK_MEMINFO_DROPS * sizeof mem[0])
		mem[SK_MEMINFO_DROPS] = 0;
	*ret_drops = mem[SK_MEMINFO_DROPS];
	return 0;
}

/* The three queue families over the listeners of the current
 * configuration: per slot for per-worker sockets, slot="shared" for a
 * shared one; unix: sockets have no TCP queue to report and are left out. */
static void
queues(FILE *f)
{
	static const struct {
		const char *name, *type, *help;
	} fam[3] = {
		{ "clusterd_listen_queue_length", "gauge",
		  "Connections waiting in the socket's accept queue." },
		{ "clusterd_listen_queue_limit", "gauge",
		  "The socket's accept queue limit (its backlog)." },
		{ "clusterd_listen_drops_total", "counter",
		  "Connections the kernel dropped on the socket." },
	};
	const struct listener *l;
	unsigned (*v)[3];
	char slot[16];
	int k, i, j, n, fd;

	/* Each socket asked once, printed in the three families. */
	for (i = 0, n = 0; i < cl.cfg->nlset; i++)
		n += listen_per_worker(cl.cfg->lset[i]) ? cl.cfg->lset[i]->nfds : 1;
	if ((v = calloc((size_t)n + 1, sizeof *v)) == NULL)
		return;
	for (i = 0, n = 0; i < cl.cfg->nlset; i++) {
		l = cl.cfg->lset[i];
		for (j = 0; j < (listen_per_worker(l) ? l->nfds : 1); j++, n++)
			if (l->shut || l->cfg.family == AF_UNIX ||
			    (fd = l->fds[j]) == -1 ||
			    socket_queue(fd, &v[n][0], &v[n][1], &v[n][2]) < 0)
				v[n][0] = UINT_MAX;	/* left out */
	}
	for (k = 0; k < 3; k++) {
		family(f, fam[k].name, fam[k].type, fam[k].help);
		for (i = 0, n = 0; i < cl.cfg->nlset; i++) {
			l = cl.cfg->lset[i];
			for (j = 0; j < (listen_per_worker(l) ? l->nfds : 1);
			    j++, n++) {
				if (v[n][0] == UINT_MAX)
					continue;
				if (listen_per_worker(l))
					snprintf(slot, sizeof slot, "%d", j);
				else
					snprintf(slot, sizeof slot, "shared");
				fprintf(f, "%s{listen=\"%s\",slot=\"%s\"} %u\n",
				    fam[k].name, l->cfg.name, slot, v[n][k]);
			}
		}
	}
	free(v);
}

/* The master's own, as Prometheus client libraries name them. */
static void
process(FILE *f)
{
	static double start_time;
	unsigned long long starttime;
	char buf[1024], *p;
	struct rusage ru;
	struct dirent *de;
	unsigned long btime;
	long nfd = 0;
	FILE *sf;
	DIR *d;

	getrusage(RUSAGE_SELF, &ru);
	family(f, "process_cpu_seconds_total", "counter",
	    "Total user and system CPU time spent in seconds.");
	fprintf(f, "process_cpu_seconds_total %.6f\n",
	    (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	family(f, "process_resident_memory_bytes", "gauge",
	    "Resident memory size in bytes.");
	fprintf(f, "process_resident_memory_bytes %llu\n",
	    (unsigned long long)worker_rss(getpid()));
	if ((d = opendir("/proc/self/fd")) != NULL) {
		while ((de = readdir(d)) != NULL)
			nfd += de->d_name[0] != '.';
		closedir(d);
		nfd--;		/* the directory's own */
	}
	family(f, "process_open_fds", "gauge",
	    "Number of open file descriptors.");
	fprintf(f, "process_open_fds %ld\n", nfd);
	/* Boot time plus the start in clock ticks since boot: it never
	 * changes, so it is read once. */
	if (start_time == 0 && (sf = fopen("/proc/self/stat", "re")) != NULL) {
		if (fgets(buf, sizeof buf, sf) != NULL &&
		    (p = strrchr(buf, ')')) != NULL &&
		    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
		    "%*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		    &starttime) == 1)
			start_time = (double)starttime /
			    (double)sysconf(_SC_CLK_TCK);
		else
			start_time = -1;
		fclose(sf);
		btime = 0;
		if (start_time > 0 && (sf = fopen("/proc/stat", "re")) != NULL) {
			while (fgets(buf, sizeof buf, sf) != NULL)
				if (sscanf(buf, "btime %lu", &btime) == 1)
					break;
			fclose(sf);
		}
		start_time = btime > 0 ? start_time + (double)btime : -1;
	}
	family(f, "process_start_time_seconds", "gauge",
	    "Start time of the process since unix epoch in seconds.");
	fprintf(f, "process_start_time_seconds %.2f\n",
	    start_time > 0 ? start_time : cl.started);
}

/* The whole /metrics answer into f: 0, or -ENOMEM. */
int
metrics_render(FILE *f)
{
	struct slot *s;
	int i, n = slot_count(), st, k;

	family(f, "clusterd_build_info", "gauge",
	    "clusterd's version; always 1.");
	fprintf(f, "clusterd_build_info{version=\"%s\"} 1\n",
	    CLUSTERD_VERSION);
	family(f, "clusterd_generation", "gauge",
	    "Configuration generation in use.");
	fprintf(f, "clusterd_generation %u\n", cl.generation);
	family(f, "clusterd_workers_wanted", "gauge",
	    "Workers the cluster should run.");
	fprintf(f, "clusterd_workers_wanted %d\n", slot_wanted());
	family(f, "clusterd_workers_ready", "gauge",
	    "Slots whose worker is ready and receives connections.");
	fprintf(f, "clusterd_workers_ready %d\n", slot_ready_count());

	family(f, "clusterd_slot_state", "gauge",
	    "1 for the slot's state, 0 for the others.");
	for (i = 0; i < n; i++) {
		s = slot_get(i);
		for (st = 0; st < SLOT_NSTATES; st++)
			fprintf(f, "clusterd_slot_state{slot=\"%d\",state=\"%s\"}"
			    " %d\n", i, slot_state_name((enum slot_state)st),
			    s->state == (enum slot_state)st);
	}
	family(f, "clusterd_slot_restarts_total", "counter",
	    "Respawns of the slot's worker after a crash.");
	for (i = 0; i < n; i++)
		fprintf(f, "clusterd_slot_restarts_total{slot=\"%d\"} %u\n", i,
		    slot_get(i)->restarts);
	family(f, "clusterd_slot_recycles_total", "counter",
	    "Make-before-break replacements of the slot's worker, by reason.");
	for (i = 0; i < n; i++)
		for (k = 0; k < RECYCLE_NREASONS; k++)
			fprintf(f, "clusterd_slot_recycles_total{slot=\"%d\","
			    "reason=\"%s\"} %lu\n", i, slot_recycle_name(k),
			    slot_get(i)->recycles[k]);
	family(f, "clusterd_slot_cpu_seconds_total", "counter",
	    "User and system CPU of every worker that ran in the slot.");
	for (i = 0; i < n; i++)
		fprintf(f, "clusterd_slot_cpu_seconds_total{slot=\"%d\"} %.3f\n",
		    i, slot_cpu(slot_get(i)));
	family(f, "clusterd_slot_rss_bytes", "gauge",
	    "RSS of the slot's current worker, 0 when it has none.");
	for (i = 0; i < n; i++) {
		s = slot_get(i);
		fprintf(f, "clusterd_slot_rss_bytes{slot=\"%d\"} %llu\n", i,
		    s->cur != NULL ?
		    (unsigned long long)worker_rss(s->cur->pid) : 0ULL);
	}

	family(f, "clusterd_worker_exits_total", "counter",
	    "Worker exits: crash (not asked for), stopped (asked for), "
	    "killed (SIGKILLed by the master).");
	for (k = 0; k < EXIT_NREASONS; k++)
		fprintf(f, "clusterd_worker_exits_total{reason=\"%s\"} %lu\n",
		    exit_names[k], cl.exits[k]);
	family(f, "clusterd_reloads_total", "counter",
	    "Reloads, by result.");
	fprintf(f, "clusterd_reloads_total{result=\"ok\"} %lu\n", cl.reloads_ok);
	fprintf(f, "clusterd_reloads_total{result=\"failed\"} %lu\n",
	    cl.reloads_failed);
	family(f, "clusterd_reload_duration_seconds", "gauge",
	    "The last reload, from its start to its result.");
	fprintf(f, "clusterd_reload_duration_seconds %.3f\n",
	    cl.reload_duration);
	queues(f);
	process(f);
	return ferror(f) ? -ENOMEM : 0;
}
