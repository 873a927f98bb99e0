#!/usr/bin/env bash
# The lame duck (stop_delay = 30s) is cut short: a second SIGTERM ends it
# at once (the graceful stop follows, exit 0, well before 30 s); during it
# a reload, a scale, SIGHUP and SIGTTIN are refused ("stopping", exit 1 for
# the commands) and the cluster goes on serving. Under `clusterd start`:
# `clusterd stop` during the lame duck waits for it, `clusterd stop --now`
# cuts it and both return "stopped in"; `stop --now` of a running cluster
# skips the lame duck. A reload changes stop_delay: the stop after it uses
# the new value.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

start_cluster 2 "[cluster]" "stop_delay = 30s"
CONF=$T/app.conf
pids=$(children "$MASTER")
t0=$(now_ms)
kill -TERM "$MASTER"
wait_until 3 master_log_has "lame duck for 30.0s" || fail "no lame duck: $(tail -5 "$T/master.log")"

"$CLUSTERD" reload "$CONF" >"$T/out" 2>&1; rc=$?
assert_eq "$rc" 1 "reload during the lame duck: $(cat "$T/out")"
assert_contains "$(cat "$T/out")" "stopping" "reload during the lame duck"
"$CLUSTERD" scale "$CONF" 3 >"$T/out" 2>&1; rc=$?
assert_eq "$rc" 1 "scale during the lame duck: $(cat "$T/out")"
assert_contains "$(cat "$T/out")" "stopping" "scale during the lame duck"
kill -HUP "$MASTER"
wait_until 3 master_log_has "SIGHUP: reload refused: the cluster is stopping" || fail "SIGHUP not refused"
kill -TTIN "$MASTER"
wait_until 3 master_log_has "SIGTTIN: scale refused: the cluster is stopping" || fail "SIGTTIN not refused"
master_log_has "reload: generation" && fail "a reload ran during the lame duck"
# Still the same two workers, serving.
assert_eq "$(children "$MASTER" | sort | tr '\n' ' ')" "$(echo "$pids" | sort | tr '\n' ' ')" "workers during the lame duck"
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "served during the lame duck"
"$CLUSTERD" status "$CONF" --json >"$T/st.json"
assert_eq "$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d["state"], d["wanted"], d["ready"])' "$T/st.json")" \
	"stopping 2 2" "status --json during the lame duck"

kill -TERM "$MASTER"
wait "$MASTER"; rc=$?
dt=$(( $(now_ms) - t0 ))
assert_eq "$rc" 0 "exit status after a second SIGTERM"
note "second SIGTERM: the master exited $dt ms after the first (stop_delay 30 s)"
[ "$dt" -lt 15000 ] || fail "second SIGTERM did not cut the lame duck: $dt ms"
master_log_has "lame duck cut short" || fail "cut not logged"
grep -q "exited: exit code 0" "$T/master.log" || fail "workers were not drained gracefully"
grep -q "signal 9" "$T/master.log" && fail "workers killed after a second SIGTERM during the lame duck"

# Under `clusterd start`: stop waits, stop --now cuts.
. "$(dirname "$0")/daemon.sh"
app_conf
sed -i 's/^\[cluster\]$/[cluster]\nstop_delay = 30s/' "$CONF"
start_app
assert_eq "$RC" 0 "start: $(cat "$T/start.err")"
t0=$(now_ms)
"$CLUSTERD" stop "$CONF" >"$T/stop1.out" 2>&1 &
S1=$!
wait_until 3 grep -q "lame duck for 30.0s" "$T/app.log" || fail "no lame duck under start: $(tail -5 "$T/app.log")"
alive "$S1" || fail "stop returned during the lame duck: $(cat "$T/stop1.out")"
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "served during the lame duck (start)"
"$CLUSTERD" stop --now "$CONF" >"$T/stop2.out" 2>&1; r2=$?
wait "$S1"; r1=$?
dt=$(( $(now_ms) - t0 ))
assert_eq "$r2" 0 "stop --now: $(cat "$T/stop2.out")"
assert_eq "$r1" 0 "stop: $(cat "$T/stop1.out")"
grep -qE '^stopped in [0-9.]+s$' "$T/stop1.out" || fail "stop: $(cat "$T/stop1.out")"
grep -qE '^stopped in [0-9.]+s$' "$T/stop2.out" || fail "stop --now: $(cat "$T/stop2.out")"
note "stop --now: the master exited $dt ms after the first stop (stop_delay 30 s)"
[ "$dt" -lt 15000 ] || fail "stop --now did not cut the lame duck: $dt ms"
grep -q "clusterd stop --now (pid [0-9]*), lame duck cut short" "$T/app.log" || fail "stop --now not logged: $(grep stopping "$T/app.log")"
wait_until 2 nothing_left || fail "processes left: $(leftovers)"

# stop --now of a running cluster: no lame duck at all.
rm -f "$T/app.log"
start_app
assert_eq "$RC" 0 "second start: $(cat "$T/start.err")"
t0=$(now_ms)
"$CLUSTERD" --now stop "$CONF" >/dev/null 2>&1 && fail "--now before the command is no option of clusterd"
out=$("$CLUSTERD" stop "$CONF" --now 2>&1) || fail "stop FILE --now: $out"
dt=$(( $(now_ms) - t0 ))
assert_contains "$out" "stopped in" "stop FILE --now"
grep -q "lame duck" "$T/app.log" && fail "stop --now of a running cluster had a lame duck: $(grep "lame duck" "$T/app.log")"
[ "$dt" -lt 10000 ] || fail "stop --now took $dt ms"
wait_until 2 nothing_left || fail "processes left: $(leftovers)"

# stop_delay is reloadable: 30 s in the file at start, 1 s after a reload.
CONF=$T/reload.conf start_cluster 2 "[cluster]" "stop_delay = 30s"
sed -i 's/^stop_delay = 30s$/stop_delay = 1s/' "$T/reload.conf"
out=$("$CLUSTERD" reload "$T/reload.conf" 2>&1) || fail "reload of stop_delay: $out"
assert_contains "$out" "reloaded: generation 2" "reload of stop_delay"
t0=$(now_ms)
kill -TERM "$MASTER"
wait "$MASTER"; rc=$?
dt=$(( $(now_ms) - t0 ))
assert_eq "$rc" 0 "exit status after the reloaded stop_delay"
master_log_has "lame duck for 1.0s" || fail "the reloaded stop_delay was not used: $(grep "lame duck" "$T/master.log")"
[ "$dt" -ge 950 ] && [ "$dt" -lt 15000 ] || fail "stop with stop_delay 1 s took $dt ms"
exit 0
