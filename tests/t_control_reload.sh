#!/usr/bin/env bash
# `clusterd reload` through the control socket waits for the roll and
# prints its result; a reload client that goes away (killed) before the
# answer does not disturb the master: the roll completes, it is logged, and
# the next reload and status work. A broken FILE fails the reload (exit 1,
# FILE:LINE) and changes nothing.
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

app_conf --ready-delay-ms 700
start_app
assert_eq "$RC" 0 "start: $(cat "$T/start.err")"

t0=$(now_ms)
out=$("$CLUSTERD" reload "$CONF" 2>&1) || fail "reload: $out"
t1=$(now_ms)
assert_eq "$out" "reloaded: generation 2, 2/2 workers" "reload answer"
[ $((t1 - t0)) -ge 1300 ] || fail "reload returned after $((t1 - t0)) ms, before 2 workers were ready"
assert_eq "$(js 'd["generation"], sorted(set(w["generation"] for w in d["workers"] if w["state"] == "ready"))')" \
	"2 [2]" "generation after reload"

# The client is killed while it waits.
"$CLUSTERD" reload "$CONF" >/dev/null 2>&1 &
R=$!
wait_until 3 grep -q "reload: generation 3" "$T/app.log" || fail "reload 3 not started"
kill -KILL "$R"
wait "$R" 2>/dev/null
wait_until 5 grep -q "reloaded: generation 3" "$T/app.log" || fail "reload 3 did not finish"
grep -q "control: pid $R went away before the answer" "$T/app.log" || fail "gone client not logged"
out=$("$CLUSTERD" reload "$CONF" 2>&1) || fail "reload after a gone client: $out"
assert_eq "$out" "reloaded: generation 4, 2/2 workers" "reload after a gone client"

# Two clients, one roll each way: both hear the result of the roll they
# asked for (the second is queued behind the first).
"$CLUSTERD" reload "$CONF" >"$T/r1.out" 2>&1 &
R1=$!
wait_until 3 grep -q "reload: generation 5" "$T/app.log" || fail "reload 5 not started"
"$CLUSTERD" reload "$CONF" >"$T/r2.out" 2>&1 &
R2=$!
wait "$R1" || fail "first of two reloads: $(cat "$T/r1.out")"
wait "$R2" || fail "second of two reloads: $(cat "$T/r2.out")"
assert_eq "$(cat "$T/r1.out")" "reloaded: generation 5, 2/2 workers" "first of two reloads"
assert_eq "$(cat "$T/r2.out")" "reloaded: generation 6, 2/2 workers" "second of two reloads"

# A broken file: exit 1 with FILE:LINE; the cluster keeps generation 6.
cp "$CONF" "$T/good.conf"
echo "bogus_key = 1" >>"$CONF"
out=$("$CLUSTERD" reload "$CONF" 2>&1)
assert_eq "$?" 1 "reload of a broken file: $out"
assert_contains "$out" "$CONF:" "reload error names the file"
assert_eq "$(js 'd["generation"], d["ready"]')" "6 2" "after a failed reload"
cp "$T/good.conf" "$CONF"
"$CLUSTERD" stop "$CONF" >/dev/null || fail "stop"
wait_until 2 nothing_left || fail "processes left: $(leftovers)"
exit 0
