# tests/ready_listen.sh - helpers for the t_ready_listen* tests; sourced
# after lib.sh and daemon.sh.
#
#   listen_starts NAME COMMAND [LINE...]   # ready = listen, 2 workers behind
#                                          # a 1 s sleep: start >= 1 s, serves
#   listen_never NAME COMMAND WHY          # never accepts: fails at
#                                          # ready_timeout with WHY in the reason

# listen_conf COMMAND [LINE...]: $CONF with ready = listen and COMMAND.
listen_conf() {
	local cmd=$1; shift
	NAME=app cluster_app "${WORKERS:-2}" \
		"[cluster]" "control = $T/run/control.sock" \
		"pidfile = $T/run/master.pid" "log = $T/app.log" \
		"[listen]" "address = 127.0.0.1:$PORT" \
		"[worker]" "command = $cmd" "ready = listen" \
		"ready_timeout = ${READY_TIMEOUT:-20s}" "stop_timeout = 5s" \
		"env = CLUSTERD_TEST_TAG=$T" "$@"
}

# listen_starts NAME COMMAND [LINE...]: COMMAND run behind `sleep 1` under
# ready = listen; `start` returns 0 after at least a second and the server
# answers at once, from every slot's worker.
listen_starts() {
	local name=$1 cmd=$2 t0 dt body w; shift 2
	listen_conf "/bin/sh -c 'sleep 1; exec $cmd'" "$@"
	t0=$(now_ms)
	start_app
	dt=$(( $(now_ms) - t0 ))
	[ "$RC" = 0 ] || fail "$name: start failed ($RC): $(cat "$T/start.err"; tail -20 "$T/app.log")"
	[ "$dt" -ge 1000 ] || fail "$name: start returned after $dt ms, before the server listened"
	body=$(http_get "http://127.0.0.1:$PORT/") || fail "$name: no answer right after start: $(tail "$T/app.log")"
	[ -n "$body" ] || fail "$name: empty answer"
	w=$(ps --ppid "$MASTER" -o pid= | head -1 | tr -d ' ')
	tr '\0' '\n' <"/proc/$w/environ" | grep -qx "CLUSTERD_READY=listen" ||
		fail "$name: CLUSTERD_READY=listen not in the worker's environment"
	grep -q "ready after 1\.\|ready after [2-9]\." "$T/app.log" ||
		fail "$name: 'ready after' not >= 1 s: $(grep 'ready after' "$T/app.log")"
	note "$name: start took $dt ms; $(grep -o 'ready after [0-9.]*s' "$T/app.log" | tr '\n' ' ')"
	"$CLUSTERD" stop "$CONF" >/dev/null 2>&1 || fail "$name: stop failed"
	wait_until 10 nothing_left || fail "$name: processes left: $(leftovers)"
	rm -f "$T/app.log"
}

# listen_never NAME COMMAND WHY: a server that holds its socket and never
# waits on it: start fails (1) at ready_timeout, the reason contains WHY.
listen_never() {
	local name=$1 cmd=$2 why=$3 t0 dt
	WORKERS=1 READY_TIMEOUT=2s listen_conf "$cmd"
	t0=$(now_ms)
	start_app
	dt=$(( $(now_ms) - t0 ))
	assert_eq "$RC" 1 "$name: exit code of a start that never listens"
	[ "$dt" -ge 1900 ] || fail "$name: failed after $dt ms, before ready_timeout"
	[ "$dt" -lt 10000 ] || fail "$name: took $dt ms"
	assert_contains "$(cat "$T/start.err")" "not ready within ready_timeout" "$name: reason"
	assert_contains "$(cat "$T/start.err")" "$why" "$name: what the master saw"
	note "$name: $(head -1 "$T/start.err")"
	wait_until 10 nothing_left || fail "$name: processes left: $(leftovers)"
	rm -f "$T/app.log"
}
