#!/usr/bin/env bash
# `clusterd stop FILE --timeout DURATION` gives up waiting after DURATION:
# with a worker busy on a 4 s request it returns after about 1 s, says the
# master did not exit in time, exits 1, and the master goes on stopping
# (it exits once the request is done). A stop that ends in time is the
# plain stop (exit 0, "stopped in"); a bad DURATION is a usage error (2).
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

STOP_TIMEOUT=20s app_conf
start_app
assert_eq "$RC" 0 "start: $(cat "$T/start.err")"

for bad in 0 -1s soon; do
	"$CLUSTERD" stop "$CONF" --timeout "$bad" >"$T/out" 2>&1; rc=$?
	assert_eq "$rc" 2 "--timeout $bad: $(cat "$T/out")"
	assert_contains "$(cat "$T/out")" "--timeout '$bad' is not a duration" "--timeout $bad"
done
"$CLUSTERD" stop "$CONF" --timeout >"$T/out" 2>&1; rc=$?
assert_eq "$rc" 2 "--timeout without a value: $(cat "$T/out")"
kill -0 "$MASTER" || fail "a refused stop stopped the master"

curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
	"http://127.0.0.1:$PORT/slow?ms=4000" >"$T/slow.code" &
CURL=$!
wait_until 3 eval "ss -Htn state established '( dport = :$PORT )' | grep -q ." ||
	fail "slow request not connected"
t0=$(now_ms)
"$CLUSTERD" stop "$CONF" --timeout 1s >"$T/out" 2>"$T/err"; rc=$?
t1=$(now_ms)
note "stop --timeout 1s: rc $rc after $((t1 - t0)) ms: $(cat "$T/out" "$T/err")"
assert_eq "$rc" 1 "stop --timeout 1s while a request drains"
assert_contains "$(cat "$T/err")" "did not exit within 1s" "says it gave up"
assert_contains "$(cat "$T/err")" "pid $MASTER" "names the master"
[ -s "$T/out" ] && fail "stdout after giving up: $(cat "$T/out")"
[ $((t1 - t0)) -ge 900 ] && [ $((t1 - t0)) -lt 3000 ] ||
	fail "gave up after $((t1 - t0)) ms, not about 1 s"
kill -0 "$MASTER" || fail "the master is already gone: the test proves nothing"

# The master was not stopped short: the request completes, then it exits.
wait "$CURL"
assert_eq "$(cat "$T/slow.code")" 200 "the draining request completed"
wait_until 10 eval '! kill -0 "$MASTER" 2>/dev/null' || fail "master still running"
grep -q "stopping: clusterd stop" "$T/app.log" || fail "stop not logged"

# In time: the ordinary answer (through -s, the option after no FILE).
start_app
assert_eq "$RC" 0 "second start: $(cat "$T/start.err")"
"$CLUSTERD" -s "$T/run/control.sock" stop --timeout 30s >"$T/out" 2>&1; rc=$?
assert_eq "$rc" 0 "stop --timeout 30s: $(cat "$T/out")"
assert_contains "$(cat "$T/out")" "stopped in" "stop --timeout 30s"
wait_until 2 nothing_left || fail "processes left: $(leftovers)"
exit 0
