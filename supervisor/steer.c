/*
 * steer.c - keeps a per-worker listener's SO_REUSEPORT group from handing
 * new connections to slots without a ready worker. It owns the listener's
 * picture of the kernel's group order (group[], group_ready[]) and the
 * classic BPF program attached to the group; listen.c reports joins and
 * departures, worker.c reports which slots are ready.
 *
 * How: the kernel picks a member by running the group's program, whose
 * answer is an index into the group. The group's order is join order at
 * listen(); when a member leaves (last fd closed, or shutdown()) the LAST
 * member moves into its index. So we mirror that order here and, while some
 * but not all members are ready, attach "pick one of the ready indices at
 * random": ld random; mod #L; jeq #0 -> ret #H0; ... ret #H[L-1]. With all
 * members ready, or none, the program is detached and the kernel's own hash
 * spreads connections over every member: nothing runs per SYN when healthy.
 * Random, not a flow hash: a listener sees each connection's SYN once. The
 * chain is linear (L <= 2047 in BPF_MAXINSNS); with 64 slots a rebuild costs
 * about 20 us and the per-SYN cost is lost in the noise.
 *
 * Kernel: SO_ATTACH_REUSEPORT_CBPF since 4.5, consulted for TCP listeners
 * since 4.6; SKF_AD_RANDOM since 3.15; SO_DETACH_REUSEPORT_BPF since 5.3.
 * Before 5.3 a one-instruction program answering an out-of-range index
 * stands in for the detach (the kernel then falls back to its hash). No
 * privilege is needed. Classic BPF rather than an SK_REUSEPORT eBPF program
 * with a sockarray map: loading eBPF needs CAP_BPF (unprivileged BPF is off
 * on current distributions), libbpf or hand-built bytecode, and a build
 * step; a classic program is ten lines of C. Where the kernel refuses, we
 * warn once per listener and leave its default spread alone.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/filter.h>

#include "clusterd.h"

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF	51
#endif
#ifndef SO_DETACH_REUSEPORT_BPF
#define SO_DETACH_REUSEPORT_BPF		68
#endif

/* ld, mod, then a jeq + ret pair per ready member but the last, one ret. */
#define STEER_MAX	((BPF_MAXINSNS - 1) / 2)

static int	 member_fd(const struct listener *);
static int	 attach(int fd, const int *pick, int n);
static int	 detach(int fd);
static void	 apply(struct listener *);
static void	 give_up(struct listener *, const char *what, int err);

/* Before 5.3 there is no detach: remembered once we have seen that. */
static bool	 no_detach;

/*
 * A member that is listening right now. Attaching to a socket that is not
 * (a member a worker shut down, or one being replaced) would give it a
 * private group and make its next listen() fail with EADDRINUSE.
 */
static int
member_fd(const struct listener *l)
{
	int i, slot, on;
	socklen_t len;

	for (i = 0; i < l->ngroup; i++) {
		slot = l->group[i];
		if (slot < 0 || slot >= l->nfds || l->fds[slot] < 0)
			continue;
		on = 0;
		len = sizeof on;
		if (getsockopt(l->fds[slot], SOL_SOCKET, SO_ACCEPTCONN, &on,
		    &len) == 0 && on)
			return l->fds[slot];
	}
	return -1;
}

/* Replace the group's program: pick one of the n indices evenly. */
static int
attach(int fd, const int *pick, int n)
{
	static struct sock_filter insn[BPF_MAXINSNS];
	struct sock_fprog prog;
	int i, len = 0;

	if (n < 1 || n > STEER_MAX)
		return -E2BIG;
	if (n > 1) {
		insn[len++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W |
		    BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM));
		insn[len++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_MOD |
		    BPF_K, (uint32_t)n);
		for (i = 0; i < n - 1; i++) {
			insn[len++] = (struct sock_filter)BPF_JUMP(BPF_JMP |
			    BPF_JEQ | BPF_K, (uint32_t)i, 0, 1);
			insn[len++] = (struct sock_filter)BPF_STMT(BPF_RET |
			    BPF_K, (uint32_t)pick[i]);
		}
	}
	insn[len++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
	    (uint32_t)pick[n - 1]);

	memset(&prog, 0, sizeof prog);	/* padding goes to the kernel */
	prog.len = (unsigned short)len;
	prog.filter = insn;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
	    sizeof prog) == -1)
		return -errno;
	return 0;
}

/* Back to the kernel's hash over all members. */
static int
detach(int fd)
{
	static struct sock_filter any = BPF_STMT(BPF_RET | BPF_K, UINT32_MAX);
	struct sock_fprog prog;
	int zero = 0;

	if (!no_detach) {
		if (setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &zero,
		    sizeof zero) == 0 || errno == ENOENT)
			return 0;
		if (errno != ENOPROTOOPT)
			return -errno;
		no_detach = true;
	}
	/* An index past the end makes the kernel use its hash. */
	memset(&prog, 0, sizeof prog);
	prog.len = 1;
	prog.filter = &any;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
	    sizeof prog) == -1)
		return -errno;
	return 0;
}

/* Steering is off for good on this listener; say so once. */
static void
give_up(struct listener *l, const char *what, int err)
{
	int fd;

	if (l->steer_ok && (fd = member_fd(l)) != -1 && detach(fd) == 0)
		l->steer_ok = false;
	if (!l->steer_warned)
		log_warn("listen %s: %s: %s; steering off: new connections "
		    "also reach slots without a ready worker",
		    l->cfg.address ? l->cfg.address : l->cfg.name, what,
		    strerror(-err));
	l->steer_warned = true;
}

/* Make the kernel's selection match group_ready[]. */
static void
apply(struct listener *l)
{
	static int pick[STEER_MAX];
	int i, n = 0, fd, r;

	if (!listen_per_worker(l) || l->steer_warned)
		return;
	for (i = 0; i < l->ngroup; i++) {
		if (!l->group_ready[i])
			continue;
		if (n == STEER_MAX) {
			give_up(l, "program too long", -E2BIG);
			return;
		}
		pick[n++] = i;
	}

	if (n == 0 || n == l->ngroup) {
		if (!l->steer_ok)
			return;
		if ((fd = member_fd(l)) == -1)
			return;		/* no group left to steer */
		if ((r = detach(fd)) < 0) {
			give_up(l, "SO_DETACH_REUSEPORT_BPF", r);
			return;
		}
		l->steer_ok = false;
		log_debug("listen %s: %s slot ready: kernel spreads connections",
		    l->cfg.address ? l->cfg.address : l->cfg.name,
		    n == 0 ? "no" : "every");
		return;
	}
	if ((fd = member_fd(l)) == -1)
		return;			/* a later join applies it */
	if ((r = attach(fd, pick, n)) < 0) {
		give_up(l, "SO_ATTACH_REUSEPORT_CBPF", r);
		return;
	}
	l->steer_ok = true;
	log_debug("listen %s: new connections go to %d of %d sockets",
	    l->cfg.address ? l->cfg.address : l->cfg.name, n, l->ngroup);
}

/*
 * The slot's socket was just listen()ed: the kernel appended it to the group.
 * Its worker is not known to be ready, so it gets nothing while others are;
 * if all others were ready (no program), this attaches one that skips it.
 */
void
steer_joined(struct listener *l, int slot)
{
	int *g;
	bool *r;
	size_t n = (size_t)l->ngroup + 1;

	if ((g = realloc(l->group, n * sizeof *g)) != NULL)
		l->group = g;
	if ((r = realloc(l->group_ready, n * sizeof *r)) != NULL)
		l->group_ready = r;
	if (g == NULL || r == NULL) {
		/* The order is lost: any program would misroute. */
		give_up(l, "malloc", -ENOMEM);
		return;
	}
	l->group[l->ngroup] = slot;
	l->group_ready[l->ngroup] = false;
	l->ngroup++;
	if (!l->steer_ok)	/* an attached program never names the newcomer */
		apply(l);
}

/*
 * The slot's socket left the group (its last fd closed, or shutdown()): the
 * last member moved into its index. An attached program still names the old
 * indices, so it is rebuilt now, not at the next steer_update().
 */
void
steer_left(struct listener *l, int slot)
{
	int i;

	for (i = 0; i < l->ngroup; i++)
		if (l->group[i] == slot)
			break;
	if (i == l->ngroup)
		return;
	l->ngroup--;
	l->group[i] = l->group[l->ngroup];
	l->group_ready[i] = l->group_ready[l->ngroup];
	if (l->ngroup == 0) {
		l->steer_ok = false;	/* the group and its program are gone */
		return;
	}
	apply(l);
}

/* ready[slot] for slot < nslots; slots beyond count as not ready. Only a
 * change of the ready members reaches the kernel. */
void
steer_update(struct listener *l, const bool *ready, int nslots)
{
	bool changed = false, r;
	int i, slot;

	if (!listen_per_worker(l))
		return;
	for (i = 0; i < l->ngroup; i++) {
		slot = l->group[i];
		r = slot >= 0 && slot < nslots && ready[slot];
		if (r != l->group_ready[i]) {
			l->group_ready[i] = r;
			changed = true;
		}
	}
	if (changed)
		apply(l);
}

/* Detach: the kernel spreads over all members until the next change. */
void
steer_reset(struct listener *l)
{
	int fd, i;

	if (!listen_per_worker(l))
		return;
	for (i = 0; i < l->ngroup; i++)
		l->group_ready[i] = false;
	if (l->steer_ok && (fd = member_fd(l)) != -1 && detach(fd) == 0)
		l->steer_ok = false;
}

/* Memory only: closing the sockets takes the group and program with it. */
void
steer_free(struct listener *l)
{
	free(l->group);
	free(l->group_ready);
	l->group = NULL;
	l->group_ready = NULL;
	l->ngroup = 0;
	l->steer_ok = false;
}
