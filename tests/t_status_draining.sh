#!/usr/bin/env bash
# `status` during and after a reload that leaves an old worker draining (it
# has a 3 s request in flight): the slot shows its new worker (generation
# 2, ready, receiving) and beside it the old one (generation 1, draining,
# not receiving); the human table shows the same; once the old worker is
# done, one row per slot again. Crash restarts and the last exit show too.
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

WORKERS=1 app_conf
start_app
assert_eq "$RC" 0 "start: $(cat "$T/start.err")"
old=$(js 'd["workers"][0]["pid"]')
curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
	"http://127.0.0.1:$PORT/slow?ms=3000" >"$T/slow.code" &
CURL=$!
wait_until 3 eval "ss -Htn state established '( dport = :$PORT )' | grep -q ." ||
	fail "slow request not connected"
out=$("$CLUSTERD" reload "$CONF" 2>&1) || fail "reload: $out"
assert_eq "$out" "reloaded: generation 2, 1/1 workers" "reload answer"
assert_eq "$(js '[(w["slot"], w["generation"], w["state"], w["receiving"], w["pid"] == '"$old"') for w in d["workers"]]')" \
	"[(0, 2, 'ready', True, False), (0, 1, 'draining', False, True)]" "status json during the drain"
assert_eq "$(js 'd["generation"], d["ready"], d["wanted"]')" "2 1 1" "status json header during the drain"
"$CLUSTERD" status "$CONF" >"$T/status.out" || fail "status"
grep -qE "^0 +[0-9]+ +2 +ready .* yes " "$T/status.out" || fail "new worker row: $(cat "$T/status.out")"
grep -qE "^0 +$old +1 +draining .* no " "$T/status.out" || fail "draining row: $(cat "$T/status.out")"
wait "$CURL"
assert_eq "$(cat "$T/slow.code")" 200 "request on the draining worker"
wait_until 5 eval '[ "$(js "len(d[\"workers\"])")" = 1 ]' || fail "old worker still listed: $(js 'd["workers"]')"
alive "$old" && fail "old worker $old still running"

# A crash: the slot restarts, status counts it and shows the last exit.
cur=$(js 'd["workers"][0]["pid"]')
kill -KILL "$cur"
wait_until 5 eval '[ "$(js "d[\"workers\"][0][\"restarts\"], d[\"workers\"][0][\"state\"]")" = "1 ready" ]' ||
	fail "no restart: $(js 'd["workers"]')"
assert_eq "$(js 'd["workers"][0]["last_exit"]')" "signal 9 (KILL)" "last exit"
"$CLUSTERD" status "$CONF" >"$T/status.out" || fail "status"
grep -qE "^0 +[0-9]+ +2 +ready +[0-9]+s +1 .* yes +signal 9 \(KILL\)$" "$T/status.out" ||
	fail "row after a crash: $(cat "$T/status.out")"
"$CLUSTERD" stop "$CONF" >/dev/null || fail "stop"
wait_until 2 nothing_left || fail "processes left: $(leftovers)"
exit 0
