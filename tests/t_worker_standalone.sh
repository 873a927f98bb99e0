#!/usr/bin/env bash
# t_worker_standalone: the reference worker without a supervisor
# (--listen, as the benchmark's bare baseline runs it): answers, headers,
# keep-alive, /slow, and the SIGTERM drain: an in-flight request completes,
# new connections are refused at once, idle keep-alive connections are
# closed, exit 0. Then the Python and Node examples under
# systemd-socket-activate (fd 3, as clusterd hands it over): same drain.
. "$(dirname "$0")/lib.sh"

[ -x "$WORKER" ] || fail "no $WORKER (make clusterd-worker)"

has_inflight() { [ "$(conns_accepted "$1")" -ge 1 ]; }

# drain_check LABEL PID PORT: SIGTERM with a /slow?ms=1500 request in
# flight. The request completes with 200 and "Connection: close", new
# connections are refused long before it completes, the server exits 0.
drain_check() {
	local label=$1 pid=$2 port=$3 cpid t0 t1 rc
	curl -s --max-time 10 -D "$T/$label.hdr" -o "$T/$label.body" \
		-w '%{http_code}' "http://127.0.0.1:$port/slow?ms=1500" \
		>"$T/$label.code" 2>&1 &
	cpid=$!
	wait_until 5 has_inflight "$port" ||
		fail "$label: the /slow request never reached the server"
	t0=$(now_ms)
	kill -TERM "$pid"
	wait_until 3 port_refused "$port" ||
		fail "$label: still accepting connections 3 s after SIGTERM"
	t1=$(now_ms)
	alive "$cpid" ||
		fail "$label: the in-flight request ended before the listener closed"
	note "$label: new connections refused $((t1 - t0)) ms after SIGTERM"
	wait "$cpid"
	assert_eq "$(cat "$T/$label.code")" 200 "$label: in-flight /slow status"
	assert_eq "$(cat "$T/$label.body")" "slept 1500 ms" "$label: /slow body"
	assert_contains "$(tr -d '\r' <"$T/$label.hdr")" "Connection: close" \
		"$label: answer during the drain"
	wait_until 5 eval "! alive $pid" ||
		fail "$label: still running 5 s after its last request"
	wait "$pid"
	rc=$?
	assert_eq "$rc" 0 "$label: exit status after SIGTERM"
	note "$label: drained and exited 0 $(($(now_ms) - t0)) ms after SIGTERM"
}

# --- The C worker, bare -------------------------------------------------
port=$(free_port)
url=http://127.0.0.1:$port
bg_run env -u CLUSTERD_WORKER "$WORKER" --listen "127.0.0.1:$port" \
	--stderr-line "hello on stderr" >"$T/w.log" 2>&1
wpid=$BG_PID
wait_until 5 http_ok "$url/" || fail "worker does not answer: $(cat "$T/w.log")"
assert_contains "$(cat "$T/w.log")" "hello on stderr" "--stderr-line"

assert_eq "$(http_get "$url/")" "hello world" "GET / body"
h=$(http_headers "$url/")
assert_contains "$h" "HTTP/1.1 200 OK" "GET / status"
assert_contains "$h" "Content-Length: 12" "GET / length"
assert_contains "$h" "X-Worker-Pid: $wpid" "GET / pid header"
assert_contains "$h" "X-Worker-Slot: -" "slot header without CLUSTERD_WORKER"
assert_not_contains "$h" "Connection: close" "HTTP/1.1 keep-alive answer"
assert_eq "$(http_get "$url/pid")" "$wpid" "GET /pid"
assert_eq "$(http_code "$url/no/such/thing")" 404 "unknown path"
assert_contains "$(http_headers "$url/nope")" "X-Worker-Pid: $wpid" \
	"404 carries the worker headers"

# Keep-alive: two requests, one connection.
curl -sv --max-time 5 "$url/" "$url/pid" >"$T/ka.out" 2>"$T/ka.err" ||
	fail "keep-alive curl failed"
assert_eq "$(tr -d '\n' <"$T/ka.out")" "hello world$wpid" "keep-alive bodies"
assert_eq "$(grep -c '^\* Connected to' "$T/ka.err")" 1 \
	"connections made for two keep-alive requests"
grep -q 'Re-using existing connection' "$T/ka.err" ||
	fail "curl did not re-use the connection: $(cat "$T/ka.err")"

# /slow is slow, and does not block the process.
t0=$(now_ms)
curl -s --max-time 5 -o "$T/slow.body" "$url/slow?ms=300" &
spid=$!
wait_until 2 has_inflight "$port" || fail "/slow request not accepted"
t1=$(now_ms)
assert_eq "$(http_get "$url/")" "hello world" "GET / while /slow runs"
t2=$(now_ms)
[ $((t2 - t1)) -lt 250 ] || fail "GET / took $((t2 - t1)) ms during a /slow"
wait "$spid" || fail "/slow curl failed"
t3=$(now_ms)
assert_eq "$(cat "$T/slow.body")" "slept 300 ms" "/slow body"
[ $((t3 - t0)) -ge 300 ] || fail "/slow?ms=300 took only $((t3 - t0)) ms"
[ $((t3 - t0)) -lt 2000 ] || fail "/slow?ms=300 took $((t3 - t0)) ms"
note "/slow?ms=300 took $((t3 - t0)) ms"

drain_check c-worker "$wpid" "$port"
assert_contains "$(cat "$T/w.log")" "draining" "worker log on SIGTERM"

# --- Idle keep-alive connections do not hold up the exit ----------------
port=$(free_port)
bg_run "$WORKER" --listen "127.0.0.1:$port" >"$T/w2.log" 2>&1
wpid=$BG_PID
wait_until 5 port_open "$port" || fail "second worker not listening"
exec 5<>"/dev/tcp/127.0.0.1/$port"
printf 'GET / HTTP/1.1\r\nHost: t\r\n\r\n' >&5
got=
while IFS= read -r -t 3 line <&5; do
	line=${line%$'\r'}
	got+="$line|"
	[ "$line" = "hello world" ] && break
done
assert_contains "$got" "HTTP/1.1 200 OK|" "answer on the held connection"
assert_not_contains "$got" "Connection: close" "held connection kept alive"
t0=$(now_ms)
kill -TERM "$wpid"
wait_until 3 eval "! alive $wpid" ||
	fail "worker still running with one idle keep-alive connection"
note "exited $(($(now_ms) - t0)) ms after SIGTERM with an idle connection"
wait "$wpid"
assert_eq "$?" 0 "exit status with an idle connection"
if IFS= read -r -t 2 line <&5; then
	fail "data on the idle connection after the drain: $line"
fi
exec 5<&-

# --- Examples under systemd-socket-activate ------------------------------
if ! command -v systemd-socket-activate >/dev/null; then
	note "SKIPPED: examples: no systemd-socket-activate"
	exit 0
fi

# example LABEL CMD...: serve through fd 3 like under clusterd, then drain.
example() {
	local label=$1 port pid h
	shift
	port=$(free_port)
	# It waits for the first connection before it execs CMD (same pid).
	bg_run systemd-socket-activate -l "127.0.0.1:$port" \
		-E CLUSTERD_WORKER=2 "$@" >"$T/$label.log" 2>&1
	pid=$BG_PID
	wait_until 10 http_ok "http://127.0.0.1:$port/" ||
		fail "$label: no answer: $(cat "$T/$label.log")"
	assert_eq "$(http_get "http://127.0.0.1:$port/")" "hello world" \
		"$label: GET /"
	h=$(http_headers "http://127.0.0.1:$port/")
	assert_contains "$h" "X-Worker-Pid: $pid" "$label: pid header"
	assert_contains "$h" "X-Worker-Slot: 2" "$label: slot header"
	drain_check "$label" "$pid" "$port"
}

example python python3 "$ROOT/worker/examples/server.py"
if command -v node >/dev/null; then
	example node node "$ROOT/worker/examples/server.js"
else
	note "node example: skipped (no node)"
fi
exit 0
