#!/usr/bin/env bash
# No leak across many crash-restarts and reloads. 4 slots whose program
# exits at once (the command's symlink is pointed at /bin/true after the
# cluster started; restart_delay = restart_delay_max = 1ms)
# until the log shows LEAK_RESTARTS exits (10000; 2000 under ASan unless
# LEAK_FULL=1),
# then 200 reloads (SIGHUP, each waited for). The master's fd count and RSS
# are taken with every slot ready: after a warm-up round (baseline), after
# the restarts, after the reloads. fds must be equal, RSS within +512 KiB.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

# Under ASan the RSS says nothing: LeakSanitizer checks the master at its
# exit instead of the RSS comparison ($SAN, from cluster.sh).

# 10,000 restarts take ~8 s; under ASan ~25 s, so 2000 there unless LEAK_FULL.
if [ -n "$SAN" ] && [ -z "${LEAK_FULL:-}" ]; then
	RESTARTS=${LEAK_RESTARTS:-2000}
else
	RESTARTS=${LEAK_RESTARTS:-10000}
fi
RELOADS=${LEAK_RELOADS:-200}
ln -s "$(readlink -f "$WORKER")" "$T/app"
start_cluster 4 "command = $T/app" "ready_timeout = 10s" \
	"restart_delay = 1ms" "restart_delay_max = 1ms"

nfds() { ls "/proc/$MASTER/fd" | wc -l; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$MASTER/status"; }
nexits() { grep -c ' exited: ' "$T/master.log"; }
all_ready() {
	"$CLUSTERD" status "$T/app.conf" --json 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)
ok = s["ready"] == s["wanted"] == 4 and not s["reloading"] and \
    all(w["state"] == "ready" for w in s["workers"])
sys.exit(0 if ok else 1)'
}
point_to() { ln -sfn "$1" "$T/app.tmp" && mv -T "$T/app.tmp" "$T/app"; }
# crash_round N: the program exits at once until N more exits are logged,
# then it is the real worker again and every slot is ready.
crash_round() {
	local target=$(( $(nexits) + $1 )) secs=$2
	point_to /bin/true
	kill -9 $(children "$MASTER")	# the running ones; respawns exit at once
	wait_until "$secs" eval "[ \$(nexits) -ge $target ]" ||
		{ point_to "$(readlink -f "$WORKER")"; fail "only $(nexits) of $target exits in ${secs}s"; }
	point_to "$(readlink -f "$WORKER")"
	wait_until 10 all_ready || fail "not every slot ready after the crash round"
}
measure() { echo "$(nfds) $(rss) $(cpu_ticks "$MASTER")"; }

crash_round 100 30
read -r fds0 rss0 cpu0 <<<"$(measure)"
note "baseline (after 100 restarts): $fds0 fds, RSS $rss0 KiB"

t0=$(now_ms)
crash_round "$RESTARTS" 110
read -r fds1 rss1 cpu1 <<<"$(measure)"
secs=$(awk -v ms=$(( $(now_ms) - t0 )) 'BEGIN { printf "%.1f", ms / 1000 }')
note "after $RESTARTS crash-restarts (${secs}s, master CPU $((cpu1 - cpu0)) ticks): $fds1 fds, RSS $rss1 KiB"

t0=$(now_ms)
g=$(sed -n 's/.*reloaded: generation \([0-9]*\).*/\1/p' "$T/master.log" | tail -1)
g=${g:-1}
for i in $(seq "$RELOADS"); do
	g=$((g + 1))
	kill -HUP "$MASTER"
	wait_until 20 master_log_has "reloaded: generation $g," ||
		fail "reload $i (generation $g) did not finish: $(tail -3 "$T/master.log")"
done
wait_until 10 all_ready || fail "not every slot ready after the reloads"
# The last reload's old workers drain in the background: wait for them.
wait_until 10 eval "[ \$(nchildren $MASTER) -eq 4 ]" || fail "old workers still there"
read -r fds2 rss2 cpu2 <<<"$(measure)"
secs=$(awk -v ms=$(( $(now_ms) - t0 )) 'BEGIN { printf "%.1f", ms / 1000 }')
note "after $RELOADS reloads (${secs}s, master CPU $((cpu2 - cpu1)) ticks): $fds2 fds, RSS $rss2 KiB"

echo "leak: restarts=$RESTARTS reloads=$RELOADS fds $fds0/$fds1/$fds2 rss_kib $rss0/$rss1/$rss2"
assert_eq "$fds1" "$fds0" "fds after the restarts"
assert_eq "$fds2" "$fds0" "fds after the reloads"
if [ -z "$SAN" ]; then
	[ $((rss1 - rss0)) -le 512 ] || fail "RSS grew by $((rss1 - rss0)) KiB over the restarts"
	[ $((rss2 - rss0)) -le 512 ] || fail "RSS grew by $((rss2 - rss0)) KiB over the restarts and reloads"
else
	note "ASan build: RSS not compared; LeakSanitizer checks at exit"
fi
stop_master_clean
exit 0
