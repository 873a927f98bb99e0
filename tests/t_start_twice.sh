#!/usr/bin/env bash
# A second `start` of a running cluster is refused (exit 1, names the
# running master) and leaves the running one alone; `start` with a bad
# config exits 3 before anything forks.
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
assert_eq "$RC" 0 "first start: $(cat "$T/start.err")"
first=$MASTER
pids=$(js '" ".join(str(w["pid"]) for w in d["workers"])')

start_app
assert_eq "$RC" 1 "second start"
assert_eq "$(cat "$T/start.err")" "app: already running (master $first)" "second start message"
[ -s "$T/start.out" ] && fail "second start wrote to stdout"
assert_eq "$(cat "$T/run/master.pid")" "$first" "pidfile after a second start"
assert_eq "$(js '" ".join(str(w["pid"]) for w in d["workers"])')" "$pids" "workers after a second start"
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "served after a second start"

# Two at once: exactly one master survives (the pidfile lock decides).
"$CLUSTERD" stop "$CONF" >/dev/null || fail "stop"
"$CLUSTERD" start "$CONF" >"$T/a.out" 2>&1 &
a=$!
"$CLUSTERD" start "$CONF" >"$T/b.out" 2>&1 &
b=$!
wait "$a"; ra=$?
wait "$b"; rb=$?
MASTER=$(cat "$T/run/master.pid") && track "$MASTER"
note "concurrent starts: $ra $rb: $(cat "$T/a.out" "$T/b.out")"
[ $((ra + rb)) -eq 1 ] && [ $((ra * rb)) -eq 0 ] ||
	fail "concurrent starts exited $ra and $rb: $(cat "$T/a.out" "$T/b.out")"
cat "$T/a.out" "$T/b.out" | grep -qE "^app: already running \(master $MASTER\)$" ||
	fail "the loser's message: $(cat "$T/a.out" "$T/b.out")"
assert_eq "$(js 'd["ready"]')" 2 "ready workers after concurrent starts"
"$CLUSTERD" stop "$CONF" >/dev/null || fail "stop"
wait_until 2 nothing_left || fail "processes left: $(leftovers)"

# A bad config: exit 3 with FILE:LINE, no daemon, no log written.
app_conf
echo "bogus_key = 1" >>"$CONF"
rm -f "$T/app.log"
start_app
assert_eq "$RC" 3 "start with a bad config"
assert_contains "$(cat "$T/start.err")" "$CONF:" "message names the file"
[ -e "$T/app.log" ] && fail "a log was written for a bad config"
nothing_left || fail "processes left: $(leftovers)"
exit 0
