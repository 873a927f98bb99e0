#!/usr/bin/env bash
# Readiness: READY=1 from the worker itself, from a `systemd-notify --ready`
# child of it, and by `ready = delay`; a never-ready worker hits
# ready_timeout and fails the start (exit 1, with the reason).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

start_with() {	# start_with NAME COMMAND READY-KEYS...
	local name=$1 cmd=$2; shift 2
	NAME=$name cluster_app 1 "command = $cmd" "$@"
	bg_run "$CLUSTERD" run "$T/$name.conf" >"$T/$name.log" 2>&1
	MASTER=$BG_PID
}
started() { grep -q "workers ready on" "$T/$1.log"; }

# 1. READY=1 sent by the worker (after 300 ms).
start_with self "$WORKER --ready-delay-ms 300" "ready = notify"
t0=$(now_ms)
wait_until 5 started self || fail "not ready: $(cat "$T/self.log")"
grep -q "ready after 0.[3-9]" "$T/self.log" || fail "ready too early: $(grep 'ready after' "$T/self.log")"
kill -TERM "$MASTER"; wait "$MASTER"

# 2. systemd-notify --ready run by the worker (a child process sends it).
command -v systemd-notify >/dev/null || skip "systemd-notify missing"
start_with helper "/bin/sh -c 'systemd-notify --ready --status=up; exec $WORKER --no-ready'" "ready = notify"
wait_until 8 started helper || fail "systemd-notify not credited: $(cat "$T/helper.log")"
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "helper-readied worker serves"
kill -TERM "$MASTER"; wait "$MASTER"

# 3. ready = delay: any program, ready after ready_delay alive.
start_with delay "$WORKER --no-ready" "ready = delay" "ready_delay = 500ms"
wait_until 5 started delay || fail "delay readiness: $(cat "$T/delay.log")"
grep -q "ready after 0.[45]" "$T/delay.log" || fail "$(grep 'ready after' "$T/delay.log")"
kill -TERM "$MASTER"; wait "$MASTER"

# 4. Never ready: ready_timeout fails the start.
start_with never "$WORKER --no-ready" "ready = notify" "ready_timeout = 1s"
t0=$(now_ms)
wait "$MASTER"; rc=$?
dt=$(( $(now_ms) - t0 ))
assert_eq "$rc" 1 "exit code of a start whose worker is never ready"
grep -q "not ready within ready_timeout" "$T/never.log" || fail "reason missing: $(cat "$T/never.log")"
[ "$dt" -lt 4000 ] || fail "took $dt ms"

# 5. A worker that exits before it is ready fails the start at once.
start_with typo "/nonexistent/server" "ready = notify"
t0=$(now_ms)
wait "$MASTER"; rc=$?
dt=$(( $(now_ms) - t0 ))
assert_eq "$rc" 1 "exit code with a missing command"
grep -q "exec /nonexistent/server: No such file" "$T/typo.log" || fail "exec error not shown: $(cat "$T/typo.log")"
[ "$dt" -lt 1000 ] || fail "a typo cost $dt ms"
exit 0
