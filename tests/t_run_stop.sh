#!/usr/bin/env bash
# SIGTERM with a 3 s request in flight: it completes with 200, the master
# exits 0 after it and nothing is left; a worker that ignores SIGTERM (and
# its forked grandchild) is SIGKILLed at stop_timeout (+-0.5 s).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

start_cluster 2
pids=$(children "$MASTER")
curl -s --max-time 10 -o "$T/slow.body" -w '%{http_code}' \
	"http://127.0.0.1:$PORT/slow?ms=3000" >"$T/slow.code" &
CURL=$!
wait_until 3 eval "ss -tn state established '( dport = :$PORT )' | grep -q $PORT" ||
	fail "slow request not connected"
t0=$(now_ms)
kill -TERM "$MASTER"
# New clients are refused once the workers stopped accepting.
wait_until 2 port_refused "$PORT" || fail "port still accepting during stop"
wait "$CURL"
assert_eq "$(cat "$T/slow.code")" 200 "in-flight request during stop"
wait "$MASTER"; rc=$?
t1=$(now_ms)
assert_eq "$rc" 0 "master exit code"
[ $((t1 - t0)) -ge 2500 ] || fail "master exited before the request finished ($((t1 - t0)) ms)"
for p in $pids; do alive "$p" && fail "worker $p still running"; done
[ -e "$T/master.pid" ] && fail "pidfile left"
[ -e "$T/control.sock" ] && fail "control socket left"

# A worker that ignores SIGTERM, with a grandchild that ignores it too.
CONF=$T/stubborn.conf start_cluster 1 "command = $WORKER --ignore-term" "stop_timeout = 2s"
w=$(children "$MASTER")
wait_until 3 eval "[ -n \"\$(children $w)\" ]" || fail "no grandchild"
g=$(children "$w")
t0=$(now_ms)
kill -TERM "$MASTER"
wait "$MASTER"; rc=$?
t1=$(now_ms)
assert_eq "$rc" 0 "master exit code"
dt=$((t1 - t0))
note "stop with a stubborn worker took $dt ms (stop_timeout 2 s)"
[ "$dt" -ge 1500 ] && [ "$dt" -le 2500 ] || fail "stop took $dt ms, expected 2000 +- 500"
wait_until 1 eval "! alive $w && ! alive $g" || fail "worker $w or grandchild $g survived"
grep -q "killing its process group" "$T/master.log" || fail "SIGKILL not logged"
grep -q "exited: signal 9 (KILL)" "$T/master.log" || fail "exit by SIGKILL not logged"
exit 0
