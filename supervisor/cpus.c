/*
 * cpus.c - what the machine gives this process: how many CPUs, for
 * workers = auto (the affinity mask, capped by a cgroup CPU quota: v2
 * cpu.max or v1 cpu.cfs_quota_us, which is what limits a container whose
 * mask still shows every CPU of the host), and how much memory is left,
 * for the batches of a surge reload.
 */

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clusterd.h"

/* The cpu.max quota of one cgroup v2 directory, or of a v1 cpu cgroup. */
static int
cgroup_quota(const char *dir, bool v1)
{
	char		 path[PATH_MAX + 32], buf[64];
	FILE		*fp;
	long long	 quota, period;
	int		 n;

	if (v1) {
		snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir);
		if ((fp = fopen(path, "re")) == NULL)
			return 0;
		n = fscanf(fp, "%lld", &quota);
		fclose(fp);
		snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir);
		if (n != 1 || quota <= 0 || (fp = fopen(path, "re")) == NULL)
			return 0;
		n = fscanf(fp, "%lld", &period);
		fclose(fp);
	} else {
		snprintf(path, sizeof path, "%s/cpu.max", dir);
		if ((fp = fopen(path, "re")) == NULL)
			return 0;
		/* "200000 100000"; "max 100000" is no quota */
		n = fgets(buf, sizeof buf, fp) != NULL &&
		    sscanf(buf, "%lld %lld", &quota, &period) == 2;
		fclose(fp);
	}
	if (n != 1 || quota <= 0 || period <= 0)
		return 0;
	n = (int)((quota + period - 1) / period);
	return n < 1 ? 1 : n;
}

/* The smallest quota from the cgroup at rel up to the hierarchy's root. */
static int
cgroup_cpus(const char *root, const char *rel, bool v1)
{
	char	 dir[PATH_MAX], *slash;
	int	 q, best = 0;

	if (snprintf(dir, sizeof dir, "%s%s", root, rel) >= (int)sizeof dir)
		return 0;
	for (;;) {
		q = cgroup_quota(dir, v1);
		if (q > 0 && (best == 0 || q < best))
			best = q;
		if (strlen(dir) <= strlen(root))
			break;
		if ((slash = strrchr(dir, '/')) == NULL)
			break;
		*slash = '\0';
	}
	return best;
}

/* Whether the comma-separated controller list ctl names c. */
static bool
has_controller(const char *ctl, const char *c)
{
	size_t n = strlen(c);

	for (; ctl != NULL && *ctl != '\0'; ctl = strchr(ctl, ',')) {
		if (*ctl == ',')
			ctl++;
		if (strncmp(ctl, c, n) == 0 && (ctl[n] == ',' || ctl[n] == '\0'))
			return true;
	}
	return false;
}

/* fn(controllers, path) for each line of /proc/self/cgroup: "0::/path"
 * (v2: no controllers), "4:cpu,cpuacct:/path" (v1). */
static void
cgroup_each(void (*fn)(const char *ctl, const char *rel, void *), void *arg)
{
	char	*line = NULL, *rel, *ctl;
	size_t	 linesz = 0;
	FILE	*fp;

	if ((fp = fopen("/proc/self/cgroup", "re")) == NULL)
		return;
	while (getline(&line, &linesz, fp) > 0) {
		line[strcspn(line, "\n")] = '\0';
		if ((ctl = strchr(line, ':')) == NULL ||
		    (rel = strchr(ctl + 1, ':')) == NULL)
			continue;
		*rel++ = '\0';
		fn(ctl + 1, rel, arg);
	}
	free(line);
	fclose(fp);
}

/* The smallest CPU quota over the hierarchies into *(int *)arg. */
static void
cpu_quota_of(const char *ctl, const char *rel, void *arg)
{
	int *quota = arg, q = 0;

	if (*ctl == '\0') {
		q = cgroup_cpus("/sys/fs/cgroup", rel, false);
		if (q == 0)
			q = cgroup_cpus("/sys/fs/cgroup/unified", rel, false);
	} else if (has_controller(ctl, "cpu")) {
		q = cgroup_cpus("/sys/fs/cgroup/cpu", rel, true);
		if (q == 0)
			q = cgroup_cpus("/sys/fs/cgroup/cpu,cpuacct", rel, true);
	}
	if (q > 0 && (*quota == 0 || q < *quota))
		*quota = q;
}

/*
 * CPUs this process may use: its affinity mask, capped by a cgroup CPU
 * quota (cgroup v2 cpu.max, or v1 cpu.cfs_quota_us), which is what limits a
 * container whose affinity mask still shows every host CPU.
 */
int
cpus_available(void)
{
	cpu_set_t	*set;
	size_t		 size;
	int		 ncpu = 0, n, quota = 0;

	for (n = 1024; n <= 1 << 20 && ncpu == 0; n *= 2) {
		if ((set = CPU_ALLOC(n)) == NULL)
			break;
		size = CPU_ALLOC_SIZE(n);
		CPU_ZERO_S(size, set);
		if (sched_getaffinity(0, size, set) == 0)
			ncpu = CPU_COUNT_S(size, set);
		CPU_FREE(set);
		if (ncpu == 0 && errno != EINVAL)
			break;
	}
	if (ncpu <= 0 && (ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN)) <= 0)
		ncpu = 1;

	cgroup_each(cpu_quota_of, &quota);
	if (quota > 0 && quota < ncpu)
		ncpu = quota;
	return ncpu < 1 ? 1 : ncpu;
}
/* One number from a file of the cgroup directory dir; -1 for "max" or
 * none. */
static long long
cgroup_number(const char *dir, const char *name)
{
	char		 path[PATH_MAX + 32], buf[64];
	FILE		*fp;
	long long	 v = -1;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((fp = fopen(path, "re")) == NULL)
		return -1;
	if (fgets(buf, sizeof buf, fp) == NULL || sscanf(buf, "%lld", &v) != 1)
		v = -1;
	fclose(fp);
	return v;
}

/* The least room (limit - usage) from the cgroup at rel up to the root
 * of one hierarchy into *best (-1: no limit seen). */
static void
cgroup_room(const char *root, const char *rel, const char *limit,
    const char *usage, long long *best)
{
	char		 dir[PATH_MAX], *slash;
	long long	 max, cur;

	if (snprintf(dir, sizeof dir, "%s%s", root, rel) >= (int)sizeof dir)
		return;
	for (;;) {
		max = cgroup_number(dir, limit);
		cur = cgroup_number(dir, usage);
		/* v1 writes "no limit" as a page-rounded LLONG_MAX */
		if (max >= 0 && max < (1LL << 62) && cur >= 0 &&
		    (*best < 0 || max - cur < *best))
			*best = max > cur ? max - cur : 0;
		if (strlen(dir) <= strlen(root) ||
		    (slash = strrchr(dir, '/')) == NULL)
			break;
		*slash = '\0';
	}
}

/* The least memory room over the hierarchies into *(long long *)arg. */
static void
mem_room_of(const char *ctl, const char *rel, void *arg)
{
	if (*ctl == '\0') {
		cgroup_room("/sys/fs/cgroup", rel, "memory.max",
		    "memory.current", arg);
		cgroup_room("/sys/fs/cgroup/unified", rel, "memory.max",
		    "memory.current", arg);
	} else if (has_controller(ctl, "memory"))
		cgroup_room("/sys/fs/cgroup/memory", rel,
		    "memory.limit_in_bytes", "memory.usage_in_bytes", arg);
}

/*
 * Bytes of memory this process may still use: the least room its memory
 * cgroups leave (v2 memory.max - memory.current, v1 memory.limit_in_bytes
 * - memory.usage_in_bytes, from its cgroup up to the root); with no
 * limit, MemAvailable. 0 when nothing can be read. *limited says which.
 */
uint64_t
mem_headroom(bool *limited)
{
	char		*line = NULL;
	size_t		 linesz = 0;
	FILE		*fp;
	long long	 best = -1, kb;

	*limited = false;
	cgroup_each(mem_room_of, &best);
	if (best >= 0) {
		*limited = true;
		return (uint64_t)best;
	}
	if ((fp = fopen("/proc/meminfo", "re")) != NULL) {
		while (getline(&line, &linesz, fp) > 0)
			if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1) {
				best = kb * 1024;
				break;
			}
		fclose(fp);
	}
	free(line);
	return best > 0 ? (uint64_t)best : 0;
}
