#!/usr/bin/env bash
# A master killed with SIGKILL leaves its pidfile and control socket behind;
# its workers go (PDEATHSIG). `status` says not running, `start` takes over
# the stale pidfile and socket and works; a pidfile naming a live but
# unrelated process (pid reuse) does not block it either.
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
old=$MASTER
pids=$(js '" ".join(str(w["pid"]) for w in d["workers"])')
kill -KILL "$old"
wait_until 5 nothing_left || fail "processes left after kill -9 of the master: $(leftovers)"
for p in $pids; do alive "$p" && fail "worker $p survived its master"; done
[ -e "$T/run/master.pid" ] || fail "expected a stale pidfile"
[ -S "$T/run/control.sock" ] || fail "expected a stale control socket"

"$CLUSTERD" status "$CONF" >"$T/st.out" 2>&1
assert_eq "$?" 1 "status with a stale pidfile and socket"
assert_contains "$(cat "$T/st.out")" "not running" "status message"

start_app
assert_eq "$RC" 0 "start over a stale pidfile: $(cat "$T/start.err")"
[ "$MASTER" != "$old" ] || fail "pidfile still names the dead master"
assert_eq "$(js 'd["master_pid"], d["ready"]')" "$MASTER 2" "status after restart"
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "served"
"$CLUSTERD" stop "$CONF" >/dev/null || fail "stop"

# A pidfile with the pid of a live process that is no master (pid reuse).
mkdir -p "$T/run"
echo $$ >"$T/run/master.pid"
start_app
assert_eq "$RC" 0 "start over a pidfile naming an unrelated process: $(cat "$T/start.err")"
assert_eq "$(cat "$T/run/master.pid")" "$MASTER" "pidfile rewritten"
"$CLUSTERD" stop "$CONF" >/dev/null || fail "stop"
wait_until 2 nothing_left || fail "processes left: $(leftovers)"
exit 0
