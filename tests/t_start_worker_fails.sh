#!/usr/bin/env bash
# `start` with a worker that exits before it is ready: non-zero at once (not
# after ready_timeout), the worker's stderr line in the message, nothing
# left running. Also when only one slot of three fails, and when the
# workers never become ready (ready_timeout).
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

check_failed() {	# check_failed WHAT MAX_MS T0
	local t1
	t1=$(now_ms)
	[ "$RC" -ne 0 ] || fail "$1: start succeeded"
	assert_eq "$RC" 1 "$1: exit code"
	[ $((t1 - $3)) -le "$2" ] || fail "$1: start took $((t1 - $3)) ms"
	[ -s "$T/start.out" ] && fail "$1: start wrote to stdout: $(cat "$T/start.out")"
	[ -e "$T/run/master.pid" ] && fail "$1: pidfile left"
	[ -e "$T/run/control.sock" ] && fail "$1: control socket left"
	wait_until 2 nothing_left || fail "$1: processes left: $(leftovers)"
	port_refused "$PORT" || fail "$1: port still open"
}

app_conf --exit-at-start 3 --stderr-line boom
t0=$(now_ms)
start_app
check_failed "crashing workers" 3000 "$t0"
err=$(cat "$T/start.err")
assert_contains "$err" "app: start failed: slot" "message"
assert_contains "$err" "exit code 3" "message gives the exit"
assert_contains "$err" "boom" "worker's stderr line in the message"

# Only slot 1 of 3 fails: the two healthy workers are stopped too.
WORKERS=3 app_conf --exit-at-start 7 --only-slot 1 --stderr-line "slot one says no"
t0=$(now_ms)
start_app
check_failed "one failing slot" 3000 "$t0"
err=$(cat "$T/start.err")
assert_contains "$err" "slot 1: exit code 7" "message names the slot"
assert_contains "$err" "slot one says no" "worker's stderr line in the message"

# Never ready (no READY=1): fails at ready_timeout (1 s here), with a reason.
app_conf --no-ready
sed -i 's/^ready_timeout = .*/ready_timeout = 1s/' "$CONF"
t0=$(now_ms)
start_app
check_failed "never ready" 4000 "$t0"
assert_contains "$(cat "$T/start.err")" "ready_timeout" "message says why"

# A command that does not exist.
app_conf
sed -i "s|^command = .*|command = $T/no-such-program|" "$CONF"
t0=$(now_ms)
start_app
check_failed "missing program" 3000 "$t0"
assert_contains "$(cat "$T/start.err")" "no-such-program" "message names the program"
exit 0
