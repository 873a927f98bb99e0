#!/usr/bin/env bash
# L2: the daemon of `start` keeps no fd its caller left open without
# FD_CLOEXEC. A caller that reads `start`'s output until EOF while another
# copy of that pipe sits at fd 9 (a CI runner, `$(...)` in a script) gets
# its EOF once `start` returns (within 10 s, not never), and the master
# holds neither that pipe nor a file open at fd 7.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

app_conf
: >"$T/inherited.txt"
mkfifo "$T/pipe"
# The caller reads until EOF, for 10 s at most.
timeout 10 cat "$T/pipe" >"$T/read.out" &
reader=$!
t0=$(now_ms)
"$CLUSTERD" start "$CONF" 7>>"$T/inherited.txt" 9>"$T/pipe" >"$T/start.out" 2>"$T/start.err"
rc=$?
wait "$reader"
eof=$?
t1=$(now_ms)
MASTER=$(cat "$T/run/master.pid" 2>/dev/null) && track "$MASTER"
[ -n "$MASTER" ] || fail "no master: $(cat "$T/start.err")"
note "the caller saw EOF after $((t1 - t0)) ms (reader rc $eof, start rc $rc)"
assert_eq "$rc" 0 "start with an inherited pipe at fd 9 ($(cat "$T/start.err"))"
assert_contains "$(cat "$T/start.out")" "workers ready" "start's output"
assert_eq "$eof" 0 "the caller's read of the pipe at fd 9 (124: no EOF within 10 s)"
fds=$(ls -l "/proc/$MASTER/fd" | awk '{print $(NF-2), $NF}')
assert_not_contains "$fds" "$T/inherited.txt" "master fds"
for fd in 7 9; do
	[ "$(readlink "/proc/$MASTER/fd/$fd")" = "$T/inherited.txt" ] &&
		fail "the master holds fd $fd of its caller"
done
"$CLUSTERD" stop "$CONF" >"$T/stop.out" 2>&1 || fail "stop: $(cat "$T/stop.out")"
exit 0
