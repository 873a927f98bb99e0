#!/usr/bin/env bash
# L7: the installed reference worker does not serve its test endpoints to
# any client. Without --debug-endpoints (or CLUSTERD_WORKER_DEBUG=1) /env
# (the whole environment, [worker] env secrets included), /crash, /exit and
# /hang answer 404 and the worker keeps serving; with either they work.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

probe() {	# probe PORT: the codes of the four endpoints, then of /
	local u=http://127.0.0.1:$1
	echo "$(http_code "$u/env") $(http_code "$u/hang?ms=3000") $(http_code "$u/exit") $(http_code "$u/crash") $(http_code "$u/")"
}

# Bare, as installed.
port=$(free_port)
bg_run env -u CLUSTERD_WORKER_DEBUG "$WORKER" --listen "127.0.0.1:$port" >"$T/w.log" 2>&1
w=$BG_PID
wait_until 5 http_ok "http://127.0.0.1:$port/" || fail "worker not up: $(cat "$T/w.log")"
assert_eq "$(probe "$port")" "404 404 404 404 200" "bare worker without the flag"
alive "$w" || fail "the worker died"
assert_not_contains "$(http_get "http://127.0.0.1:$port/env")" "PATH=" "/env body"

# Under clusterd, with a secret in [worker] env: not readable over HTTP.
PORT=$(free_port)
WORKERS=1 cluster_conf "$T/app.conf" <<EOF
[listen]
address = 127.0.0.1:$PORT
[worker]
command = $WORKER
env = API_TOKEN=s3cret
ready = notify
EOF
bg_run env -u CLUSTERD_WORKER_DEBUG "$CLUSTERD" run "$T/app.conf" >"$T/master.log" 2>&1
MASTER=$BG_PID
wait_started
wpid=$(children "$MASTER")
assert_not_contains "$(http_get "http://127.0.0.1:$PORT/env")" "s3cret" "secret over HTTP"
assert_eq "$(probe "$PORT")" "404 404 404 404 200" "worker under clusterd"
assert_eq "$(children "$MASTER")" "$wpid" "same worker after the probes"
kill -TERM "$MASTER"; wait "$MASTER"

# The flag and the variable turn them on.
port=$(free_port)
bg_run env -u CLUSTERD_WORKER_DEBUG "$WORKER" --debug-endpoints --listen "127.0.0.1:$port" >"$T/w2.log" 2>&1
wait_until 5 http_ok "http://127.0.0.1:$port/" || fail "worker 2 not up"
assert_eq "$(http_code "http://127.0.0.1:$port/env")" 200 "/env with --debug-endpoints"
assert_eq "$(http_get "http://127.0.0.1:$port/hang?ms=10")" "hung 10 ms" "/hang with --debug-endpoints"
port=$(free_port)
bg_run env CLUSTERD_WORKER_DEBUG=1 "$WORKER" --listen "127.0.0.1:$port" >"$T/w3.log" 2>&1
w3=$BG_PID
wait_until 5 http_ok "http://127.0.0.1:$port/" || fail "worker 3 not up"
assert_contains "$(http_get "http://127.0.0.1:$port/env")" "CLUSTERD_WORKER_DEBUG=1" "/env with CLUSTERD_WORKER_DEBUG=1"
http_code "http://127.0.0.1:$port/exit" >/dev/null
wait_until 5 eval '! alive $w3' || fail "/exit with CLUSTERD_WORKER_DEBUG=1 did not exit"
exit 0
