#!/usr/bin/env bash
# `clusterd stop` waits for the master to exit: with a 2 s request in
# flight it returns after it (the request gets its answer), prints
# "stopped in X.Ys" and exits 0; a second `stop` meanwhile joins the first;
# `scale` and `reload` during the stop are refused, `status` shows it.
# Workers that ignore SIGTERM are SIGKILLed at stop_timeout and `stop`
# says how many.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

app_conf
start_app
assert_eq "$RC" 0 "start: $(cat "$T/start.err")"
curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
	"http://127.0.0.1:$PORT/slow?ms=2000" >"$T/slow.code" &
CURL=$!
wait_until 3 eval "ss -Htn state established '( dport = :$PORT )' | grep -q ." ||
	fail "slow request not connected"
t0=$(now_ms)
"$CLUSTERD" stop "$CONF" >"$T/stop1.out" 2>&1 &
S1=$!
wait_until 3 grep -q "stopping: clusterd stop" "$T/app.log" || fail "stop not seen"
"$CLUSTERD" stop "$CONF" >"$T/stop2.out" 2>&1 &
S2=$!

"$CLUSTERD" scale "$CONF" 3 >"$T/out" 2>&1
assert_eq "$?" 1 "scale during stop: $(cat "$T/out")"
assert_contains "$(cat "$T/out")" "the cluster is stopping" "scale during stop"
"$CLUSTERD" reload "$CONF" >"$T/out" 2>&1
assert_eq "$?" 1 "reload during stop: $(cat "$T/out")"
assert_contains "$(cat "$T/out")" "the cluster is stopping" "reload during stop"
assert_eq "$(js 'd["state"], "draining" in [w["state"] for w in d["workers"]], set(w["state"] for w in d["workers"]) <= {"draining", "stopped"}')" \
	"stopping True True" "status during stop: $(js 'd["workers"]')"
"$CLUSTERD" status "$CONF" | grep -q "^listen: 127.0.0.1:$PORT (closed: stopping)$" ||
	fail "status text during stop: $("$CLUSTERD" status "$CONF")"

wait "$S1"; r1=$?
t1=$(now_ms)
wait "$S2"; r2=$?
wait "$CURL"
assert_eq "$(cat "$T/slow.code")" 200 "request in flight during stop"
assert_eq "$r1" 0 "first stop: $(cat "$T/stop1.out")"
assert_eq "$r2" 0 "second stop: $(cat "$T/stop2.out")"
grep -qE '^stopped in (1\.[89]|2\.[0-9])s$' "$T/stop1.out" || fail "first stop: $(cat "$T/stop1.out")"
grep -qE '^stopped in [0-9.]+s$' "$T/stop2.out" || fail "second stop: $(cat "$T/stop2.out")"
[ $((t1 - t0)) -ge 1800 ] || fail "stop returned after $((t1 - t0)) ms, before the request was done"
[ -e "$T/run/master.pid" ] && fail "pidfile left"
wait_until 1 eval '! alive $MASTER' || fail "master still running"
wait_until 2 nothing_left || fail "processes left: $(leftovers)"

# A stop while `start` still waits for readiness: start says so, exit 1.
app_conf --ready-delay-ms 5000
rm -f "$T/app.log"
"$CLUSTERD" start "$CONF" >"$T/start.out" 2>"$T/start.err" &
START=$!
wait_until 5 eval '[ "$(grep -c "started pid" "$T/app.log")" -ge 2 ]' || fail "workers not spawned"
MASTER=$(cat "$T/run/master.pid") && track "$MASTER"
out=$("$CLUSTERD" stop "$CONF" 2>&1) || fail "stop during start: $out"
assert_contains "$out" "stopped in" "stop during start"
wait "$START"
assert_eq "$?" 1 "start interrupted by stop"
assert_eq "$(cat "$T/start.err")" "app: start interrupted: clusterd stop (pid $(grep -o 'stopping: clusterd stop (pid [0-9]*' "$T/app.log" | tail -1 | grep -o '[0-9]*$'))" "interrupted start message"
wait_until 2 nothing_left || fail "processes left: $(leftovers)"

# Workers that ignore SIGTERM: SIGKILLed after stop_timeout (1 s).
STOP_TIMEOUT=1s app_conf --ignore-term
start_app
assert_eq "$RC" 0 "start: $(cat "$T/start.err")"
t0=$(now_ms)
out=$("$CLUSTERD" stop "$CONF" 2>&1)
rc=$?
t1=$(now_ms)
assert_eq "$rc" 0 "stop of stubborn workers: $out"
echo "$out" | grep -qE '^stopped in 1\.[0-9]s, 2 workers SIGKILLed$' || fail "stop output: $out"
[ $((t1 - t0)) -ge 900 ] && [ $((t1 - t0)) -le 3000 ] || fail "stop took $((t1 - t0)) ms"
wait_until 2 nothing_left || fail "processes left: $(leftovers)"
exit 0
