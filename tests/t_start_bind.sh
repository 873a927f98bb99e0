#!/usr/bin/env bash
# `start` when the port is taken (by a plain listener, and by a SO_REUSEPORT
# one that would otherwise silently share it): exit 4, a message naming the
# address, and nothing left running: no process, pidfile or socket.
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

for reuse in 0 1; do
	bg_run python3 -c '
import socket, sys, time
s = socket.socket()
if int(sys.argv[2]):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
time.sleep(60)' "$PORT" "$reuse"
	holder=$BG_PID
	wait_until 5 port_open "$PORT" || fail "holder not listening"
	app_conf
	start_app
	assert_eq "$RC" 4 "start on a taken port (reuseport=$reuse), stderr: $(cat "$T/start.err")"
	assert_contains "$(cat "$T/start.err")" "127.0.0.1:$PORT" "message names the address"
	assert_contains "$(cat "$T/start.err")" "in use" "message says why"
	[ -s "$T/start.out" ] && fail "start wrote to stdout: $(cat "$T/start.out")"
	[ -e "$T/run/master.pid" ] && fail "pidfile left"
	[ -e "$T/run/control.sock" ] && fail "control socket left"
	wait_until 2 nothing_left || fail "processes left: $(leftovers)"
	"$CLUSTERD" status "$CONF" >/dev/null 2>&1
	assert_eq "$?" 1 "status after a failed start"
	kill "$holder"
	wait_until 5 port_refused "$PORT" || fail "holder still listening"
done
# And with the port free again, start works.
start_app
assert_eq "$RC" 0 "start once the port is free: $(cat "$T/start.err")"
"$CLUSTERD" stop "$CONF" >/dev/null || fail "stop"
exit 0
