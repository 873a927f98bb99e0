#!/usr/bin/env bash
# The worker program breaks after the cluster started: its file is removed
# (exec: not found), loses its x bit (exec: permission denied), or the
# `directory` goes away (chdir fails). A crashed slot then cannot respawn:
# each attempt is logged with the reason and the exit code, restarts back
# off (growing delays, little master CPU), the other slot keeps serving,
# the master answers SIGHUP (the reload fails, says why) and, once the file
# is back, the slot recovers by itself. SIGTERM at the end: exit 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

mkdir -p "$T/bin" "$T/wd"
cp "$(readlink -f "$WORKER")" "$T/bin/app"
start_cluster 2 "command = $T/bin/app" "directory = $T/wd" "ready_timeout = 5s" \
	"restart_delay = 50ms" "restart_delay_max = 800ms"

slot1_serves() {
	[ "$(http_headers "http://127.0.0.1:$PORT/" | header_of X-Worker-Slot)" = 1 ]
}

gen=1
# break_it HOW / repair HOW; EXPECT: the worker's message, CODE: its exit.
phase() {
	local how=$1 expect=$2 code=$3 victim n0 n c0 c1 hz fails
	note "phase: $how"
	victim=$(slot_pid 0) || fail "no worker in slot 0"
	n0=$(grep -c "exited: exit code $code" "$T/master.log")
	case $how in
	missing) mv "$T/bin/app" "$T/bin/app.away" ;;
	noexec) chmod a-x "$T/bin/app" ;;
	nodir) mv "$T/wd" "$T/wd.away" ;;
	esac
	c0=$(cpu_ticks "$MASTER")
	kill -9 "$victim"
	wait_until 10 eval "[ \$(grep -c 'exited: exit code $code' '$T/master.log') -ge \$(($n0 + 4)) ]" ||
		fail "$how: no failing restarts: $(tail -5 "$T/master.log")"
	grep -q "slot 0 pid [0-9]*: clusterd: worker: $expect" "$T/master.log" ||
		fail "$how: no clear reason in the log (expected '$expect'): $(grep 'slot 0 pid' "$T/master.log" | tail -3)"
	# The other slot serves all along.
	for i in 1 2 3 4 5; do slot1_serves || fail "$how: slot 1 does not answer"; done
	# A reload cannot start a new worker in slot 0 either: it fails, says
	# why, and the master stays up.
	gen=$((gen + 1))
	kill -HUP "$MASTER"
	wait_until 15 master_log_has "reload to generation $gen failed" ||
		fail "$how: reload result missing: $(tail -5 "$T/master.log")"
	alive "$MASTER" || fail "$how: master died"
	slot1_serves || fail "$how: slot 1 does not answer after the reload"
	# Backoff: over ~2 s of failures the master used little CPU.
	wait_until 3 eval "[ \$(grep -c 'slot 0: restarting in 0.800s' '$T/master.log') -ge 1 ]" ||
		fail "$how: the backoff does not reach restart_delay_max"
	c1=$(cpu_ticks "$MASTER")
	hz=$(getconf CLK_TCK)
	note "$how: master CPU $((c1 - c0)) ticks of 1/$hz s"
	[ $(( (c1 - c0) * 1000 / hz )) -lt 300 ] || fail "$how: master CPU $((c1 - c0)) ticks"
	case $how in
	missing) mv "$T/bin/app.away" "$T/bin/app" ;;
	noexec) chmod a+x "$T/bin/app" ;;
	nodir) mv "$T/wd.away" "$T/wd" ;;
	esac
	# Repaired: slot 0 comes back by itself within restart_delay_max.
	wait_until 5 eval "slot_pid 0 >/dev/null && grep -q \"slot 0: pid \$(slot_pid 0) ready\" '$T/master.log'" ||
		fail "$how: slot 0 did not recover: $(tail -5 "$T/master.log")"
	n=0
	for i in $(seq 40); do
		[ "$(http_headers "http://127.0.0.1:$PORT/" | header_of X-Worker-Slot)" = 0 ] && n=$((n + 1))
	done
	[ "$n" -gt 0 ] || fail "$how: slot 0 recovered but receives nothing"
}
phase missing "exec $T/bin/app: No such file or directory" 127
phase noexec "exec $T/bin/app: Permission denied" 127
phase nodir "chdir $T/wd: No such file or directory" 126

stop_master
exit 0
