#!/usr/bin/env bash
# `start` when the port is taken (by a plain listener, and by a SO_REUSEPORT
# one that would otherwise silently share it): exit 4, a message naming the
# address, and nothing left running: no process, pidfile or socket.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

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
