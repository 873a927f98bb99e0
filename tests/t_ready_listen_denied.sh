#!/usr/bin/env bash
# ready = listen when the master may not look: a master that is not root
# sees its own user's workers (a Python asyncio server is ready), but not
# one that made itself non-dumpable (its /proc/PID/fd is root's then): the
# start fails at ready_timeout and the reason says that the master could
# not read its /proc, not that it was never listening.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
need_nobody_python

chmod 711 "$T"
mkdir -p "$T/pub/rt"
chown nobody "$T/pub/rt"
chmod 700 "$T/pub/rt"
cat >"$T/pub/w.py" <<'PYEOF'
import asyncio, ctypes, os, socket, sys
if sys.argv[1:] == ["hide"]:
    ctypes.CDLL(None).prctl(4, 0)       # PR_SET_DUMPABLE, 0
async def handle(r, w):
    await r.readline()
    w.write(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
    await w.drain()
    w.close()
async def main():
    srv = await asyncio.start_server(handle, sock=socket.socket(fileno=3))
    await srv.serve_forever()
asyncio.run(main())
PYEOF
chmod 644 "$T/pub/w.py"

run_as_nobody() {	# run_as_nobody ARG: the master as nobody, worker w.py ARG
	NAME=denied CONF=$T/pub/app.conf cluster_app 1 \
		"[cluster]" "control = $T/pub/rt/control.sock" "pidfile = $T/pub/rt/master.pid" \
		"[worker]" "command = $PY $T/pub/w.py $1" "ready = listen" "ready_timeout = 2s"
	chmod 644 "$T/pub/app.conf"
	bg_run $AS_NOBODY "$CLUSTERD" run "$T/pub/app.conf" >"$T/master.log" 2>&1
	MASTER=$BG_PID
}

run_as_nobody show
wait_started 15
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "ok" "a worker the master can see is ready and serves"
stop_master

run_as_nobody hide
wait "$MASTER"; rc=$?
assert_eq "$rc" 1 "exit code when the master cannot look"
assert_contains "$(cat "$T/master.log")" "the master may not read /proc/" "reason: no access"
note "$(grep -m1 'start failed' "$T/master.log")"
exit 0
