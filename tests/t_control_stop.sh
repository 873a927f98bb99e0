#!/usr/bin/env bash
# `clusterd stop` waits for the master to exit: with a 2 s request in
# flight it returns after it (the request gets its answer), prints
# "stopped in X.Ys" and exits 0; a second `stop` meanwhile joins the first;
# `scale` and `reload` during the stop are refused, `status` shows it.
# Workers that ignore SIGTERM are SIGKILLed at stop_timeout and `stop`
# says how many.
. "$(dirname "$0")/lib.sh"

# --- daemon helpers (the same block in every t_start/t_control/t_scale/
# t_status/t_logs test) ---
CONF=$T/app.conf
PORT=$(free_port)
# app_conf [WORKER ARGS]: $WORKERS (default 2) reference workers; control,
# pidfile and log in $T; CLUSTERD_TEST_TAG marks the workers' environment.
app_conf() {
	local a cmd=$WORKER
	for a in "$@"; do cmd+=" '$a'"; done
	cat >"$CONF" <<EOF
[cluster]
name = app
workers = ${WORKERS:-2}
control = $T/run/control.sock
pidfile = $T/run/master.pid
log = $T/app.log
[listen]
address = 127.0.0.1:$PORT
[worker]
command = $cmd
ready = notify
ready_timeout = 10s
stop_timeout = ${STOP_TIMEOUT:-5s}
env = CLUSTERD_TEST_TAG=$T
EOF
}
# start_app: `clusterd start`; output in $T/start.out and $T/start.err, exit
# code in $RC; the master (from the pidfile) is killed at exit if still up.
start_app() {
	"$CLUSTERD" start "$CONF" >"$T/start.out" 2>"$T/start.err"
	RC=$?
	MASTER=$(cat "$T/run/master.pid" 2>/dev/null) && track "$MASTER"
	return 0
}
# js EXPR: print the python3 expression EXPR over `status --json` as d.
js() {
	"$CLUSTERD" status "$CONF" --json |
		python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"
}
# leftovers: live processes of this cluster: FILE on their command line
# (the master) or the test's tag in their environment (workers).
leftovers() {
	python3 - "$CONF" "CLUSTERD_TEST_TAG=$T" <<'EOF'
import os, sys
conf, tag = sys.argv[1].encode(), sys.argv[2].encode()
for p in os.listdir("/proc"):
    if not p.isdigit() or int(p) == os.getpid():
        continue
    try:
        with open(f"/proc/{p}/stat", "rb") as f:
            if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                continue
        with open(f"/proc/{p}/cmdline", "rb") as f:
            cmd = f.read().split(b"\0")
        with open(f"/proc/{p}/environ", "rb") as f:
            env = f.read().split(b"\0")
    except OSError:
        continue
    if conf in cmd or tag in env:
        print(p)
EOF
}
nothing_left() { [ -z "$(leftovers)" ]; }
# --- end of daemon helpers ---

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
