#!/usr/bin/env bash
# reload_surge bounded by memory headroom: in a memory cgroup whose limit
# leaves room for about two more workers, `reload_surge = 100%` of 4 slots
# replaces at most two at a time, and the log and the reload's result say
# that the headroom set the pace. Needs a memory cgroup it can create (v2
# with the memory controller, or v1): skipped otherwise.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

CG=
own=$(sed -n 's/^[0-9]*:memory:\(.*\)/\1/p' /proc/self/cgroup)
if [ -n "$own" ] && [ -w "/sys/fs/cgroup/memory$own" ]; then
	CG=/sys/fs/cgroup/memory$own/clusterd-test-$$ LIMIT=memory.limit_in_bytes USAGE=memory.usage_in_bytes
elif grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
	CG=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)/clusterd-test-$$ LIMIT=memory.max USAGE=memory.current
fi
[ -n "$CG" ] && mkdir "$CG" 2>/dev/null || skip "cannot create a memory cgroup here"
on_exit "rmdir $CG"

NAME=mem cluster_app 4 "command = python3 $ROOT/worker/examples/server.py" \
	"reload_surge = 100%" "ready_timeout = 20s"
# The master (and so its workers) in the cgroup.
bg_run sh -c "echo \$\$ >$CG/cgroup.procs && exec $CLUSTERD run $T/mem.conf" >"$T/master.log" 2>&1
MASTER=$BG_PID
wait_started 30
rss=$("$CLUSTERD" status "$T/mem.conf" --json | python3 -c 'import json, sys
print(max(w["rss_bytes"] for w in json.load(sys.stdin)["workers"]))')
usage=$(cat "$CG/$USAGE")
limit=$((usage + rss * 5 / 2))
echo "$limit" >"$CG/$LIMIT" || skip "cannot set the cgroup's memory limit"
note "largest worker $((rss / 1024)) KiB, cgroup uses $((usage / 1024)) KiB, limit $((limit / 1024)) KiB"

"$CLUSTERD" reload "$T/mem.conf" >"$T/reload.out" 2>&1 || fail "reload: $(cat "$T/reload.out")"
note "$(cat "$T/reload.out")"
grep 'reload: batch of' "$T/master.log" >&2
master_log_has "reload: batch of [12] (reload_surge 4): the .* MiB the cgroup has left hold" ||
	fail "the log does not say that the headroom set the batch: $(grep reload "$T/master.log")"
assert_contains "$(cat "$T/reload.out")" "memory headroom set the pace" "the reload's result"
# Never more than two successors at once: count starts between readies.
max=$(awk '/-\[want generation\]-> replacing/ { n++; if (n > m) m = n } /-\[new ready\]-> ready/ { n-- } END { print m + 0 }' "$T/master.log")
note "at most $max slots replacing at once"
[ "$max" -le 2 ] || fail "$max slots replaced at once in a cgroup with room for two"
stop_master_clean
