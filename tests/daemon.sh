# tests/daemon.sh - helpers for the tests of `clusterd start` and the
# control CLI (t_start_*, t_control_*, t_scale*, t_status*, t_logs); sourced
# after lib.sh. Sets CONF and PORT.
CONF=$T/app.conf
PORT=$(free_port)
# app_conf [WORKER ARGS]: $CONF as lib.sh cluster_app writes it, named app,
# with $WORKERS (default 2) reference workers on $PORT; control and pidfile
# in $T/run, log in $T; CLUSTERD_TEST_TAG marks the workers' environment.
app_conf() {
	local a cmd=$WORKER
	for a in "$@"; do cmd+=" '$a'"; done
	NAME=app cluster_app "${WORKERS:-2}" \
		"[cluster]" "control = $T/run/control.sock" \
		"pidfile = $T/run/master.pid" "log = $T/app.log" \
		"[listen]" "address = 127.0.0.1:$PORT" \
		"[worker]" "command = $cmd" "ready_timeout = 10s" \
		"stop_timeout = ${STOP_TIMEOUT:-5s}" "env = CLUSTERD_TEST_TAG=$T"
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
