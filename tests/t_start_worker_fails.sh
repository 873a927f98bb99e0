#!/usr/bin/env bash
# `start` with a worker that exits before it is ready: non-zero at once (not
# after ready_timeout), the worker's stderr line in the message, nothing
# left running. Also when only one slot of three fails, and when the
# workers never become ready (ready_timeout).
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
