#!/usr/bin/env bash
# Scaling down and up under load (wrk, new connection per request, 4 s):
# every request is answered; no connection is refused, reset or lost
# while slots are drained away and added back.
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

command -v wrk >/dev/null || skip "wrk not installed"
counts() { js 'd["wanted"], d["ready"]'; }
expect() {	# expect "WANTED READY" WHAT
	want=$1
	wait_until 10 eval '[ "$(counts)" = "$want" ]' || fail "$2: got '$(counts)', expected '$1'"
}
established() { [ "$(ss -Htn state established "( dport = :$PORT )" | wc -l)" -gt 0 ]; }

WORKERS=4 app_conf
start_app
assert_eq "$RC" 0 "start: $(cat "$T/start.err")"
wrk -t 2 -c 16 -d 4s -H "Connection: close" "http://127.0.0.1:$PORT/" >"$T/wrk.out" 2>&1 &
WRK=$!
wait_until 3 established || fail "no load"
"$CLUSTERD" scale "$CONF" 1 >/dev/null || fail "scale 1"
expect "1 1" "scale down to 1 under load"
wait_until 5 eval '[ "$(js "len(d[\"workers\"])")" = 1 ]' || fail "drained workers did not exit"
"$CLUSTERD" scale "$CONF" 4 >/dev/null || fail "scale 4"
expect "4 4" "scale up to 4 under load"
"$CLUSTERD" scale "$CONF" -2 >/dev/null || fail "scale -2"
expect "2 2" "scale down to 2 under load"
wait "$WRK" || fail "wrk failed: $(cat "$T/wrk.out")"
cat "$T/wrk.out" >&2
reqs=$(awk '/requests in/ { print $1 }' "$T/wrk.out")
[ "${reqs:-0}" -gt 1000 ] || fail "too little load: ${reqs:-0} requests"
errors=$(awk -F'[ ,]+' '/Socket errors/ { print $5 + $7 + $9 + $11 }' "$T/wrk.out")
non2xx=$(awk '/Non-2xx/ { print $NF }' "$T/wrk.out")
note "requests $reqs, socket errors ${errors:-0}, non-2xx ${non2xx:-0}"
assert_eq "${errors:-0}" 0 "socket errors under scale changes: $(grep Socket "$T/wrk.out")"
assert_eq "${non2xx:-0}" 0 "non-2xx answers under scale changes"
"$CLUSTERD" stop "$CONF" >/dev/null || fail "stop"
wait_until 2 nothing_left || fail "processes left: $(leftovers)"
exit 0
