#!/usr/bin/env bash
# A worker frozen with SIGSTOP for 5 s. Without a watchdog the master cannot
# know: connections hashed to its socket wait until SIGCONT, then are served
# (measured and reported, none may fail). With `watchdog = 1s` the hang is
# detected, the slot stops receiving, and from then on clients see no
# failure.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

start() {	# start NAME [worker lines]
	local name=$1; shift
	: >"$T/master.log"
	NAME=$name start_cluster 2 "$@"
	VICTIM=$(slot_pid 0)
}
field() { load_field "$2" "$T/$1.json"; }	# field RUN FIELD

# 1. No watchdog: 5 s freeze under load.
start frozen
python3 "$ROOT/tests/load.py" --port "$PORT" --duration 7 --conc 4 --timeout 10 >"$T/frozen.json" &
LOAD=$!
kill -STOP "$VICTIM"
t0=$(now_ms)
wait_until 6 eval "[ \$(( \$(now_ms) - $t0 )) -ge 5000 ]"
kill -CONT "$VICTIM"
wait "$LOAD"
note "frozen 5 s, no watchdog: $(cat "$T/frozen.json")"
echo "no watchdog: ok=$(field frozen ok) failed=$(field frozen failed) slow(>200ms)=$(field frozen slow) max=$(field frozen max_ms)ms" >&2
assert_eq "$(field frozen failed)" 0 "requests lost while a worker was frozen"
kill -TERM "$MASTER"; wait "$MASTER"

# 2. watchdog = 1s: after it fires, no client sees a failure.
start watched "watchdog = 1s"
kill -STOP "$VICTIM"
wait_until 4 master_log_has "pid $VICTIM hangs" || fail "watchdog did not fire"
python3 "$ROOT/tests/load.py" --port "$PORT" --duration 4 --conc 4 --timeout 5 >"$T/watched.json"
note "after the watchdog fired: $(cat "$T/watched.json")"
echo "watchdog 1s, after it fired: ok=$(field watched ok) failed=$(field watched failed) max=$(field watched max_ms)ms" >&2
assert_eq "$(field watched failed)" 0 "failures after the watchdog fired"
[ "$(field watched ok)" -gt 100 ] || fail "too few requests"
kill -TERM "$MASTER"; wait "$MASTER"
exit 0
