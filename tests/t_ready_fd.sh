#!/usr/bin/env bash
# ready = fd: the worker gets CLUSTERD_READY_FD, a pipe's write end at the
# first fd after its sockets; a newline is ready (a shell worker that
# writes it after 1 s: start takes >= 1 s; the Node example from its listen
# callback); closing it without one fails the start at once, not at
# ready_timeout, and says so.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"

fd_conf() {
	NAME=app cluster_app "${WORKERS:-2}" \
		"[cluster]" "control = $T/run/control.sock" \
		"pidfile = $T/run/master.pid" "log = $T/app.log" \
		"[listen]" "address = 127.0.0.1:$PORT" \
		"[worker]" "command = $1" "ready = fd" "ready_timeout = 20s" \
		"stop_timeout = 5s" "env = CLUSTERD_TEST_TAG=$T"
}
stop_app() {
	"$CLUSTERD" stop "$CONF" >/dev/null 2>&1 || fail "stop failed"
	wait_until 10 nothing_left || fail "processes left: $(leftovers)"
	rm -f "$T/app.log"
}

# 1. A shell worker: the newline after 1 s, then the server.
fd_conf "/bin/sh -c 'sleep 1; echo \"fd=\$CLUSTERD_READY_FD \$(readlink /proc/self/fd/\$CLUSTERD_READY_FD)\"; echo >&\$CLUSTERD_READY_FD; exec $WORKER --no-ready'"
t0=$(now_ms)
start_app
dt=$(( $(now_ms) - t0 ))
[ "$RC" = 0 ] || fail "start failed: $(cat "$T/start.err")"
[ "$dt" -ge 1000 ] || fail "start returned after $dt ms, before the newline"
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "answer after start"
w=$(ps --ppid "$MASTER" -o pid= | head -1 | tr -d ' ')
tr '\0' '\n' <"/proc/$w/environ" | grep -qx "CLUSTERD_READY=fd" || fail "CLUSTERD_READY=fd not in the worker's environment"
grep -q "fd=4 pipe:" "$T/app.log" || fail "CLUSTERD_READY_FD is not fd 4 (after fd 3), a pipe: $(grep 'fd=' "$T/app.log")"
note "shell worker: start took $dt ms"
stop_app

# 2. Closed without a newline: the start fails at once.
fd_conf "/bin/sh -c 'eval \"exec \$CLUSTERD_READY_FD>&-\"; exec sleep 60'"
t0=$(now_ms)
start_app
dt=$(( $(now_ms) - t0 ))
assert_eq "$RC" 1 "exit code when the ready fd is closed without a newline"
[ "$dt" -lt 5000 ] || fail "took $dt ms (ready_timeout is 20 s)"
assert_contains "$(cat "$T/start.err")" "closed CLUSTERD_READY_FD without writing a newline" "reason"
note "closed fd: failed after $dt ms: $(head -1 "$T/start.err")"
wait_until 10 nothing_left || fail "processes left: $(leftovers)"
rm -f "$T/app.log"

# 3. A worker that exits before the newline: its exit is the reason.
fd_conf "/bin/sh -c 'echo bad config >&2; exit 3'"
start_app
assert_eq "$RC" 1 "exit code when the worker exits first"
assert_contains "$(cat "$T/start.err")" "bad config" "the worker's last line in the message"
wait_until 10 nothing_left || fail "processes left: $(leftovers)"
rm -f "$T/app.log"

# 4. The Node example writes the newline from its listen callback.
if command -v node >/dev/null; then
	fd_conf "node $(cd "$(dirname "$0")/../worker/examples" && pwd)/server.js"
	start_app
	[ "$RC" = 0 ] || fail "Node: start failed: $(cat "$T/start.err")"
	assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "Node answers after start"
	stop_app
else
	note "SKIP Node example: node not installed"
fi
exit 0
