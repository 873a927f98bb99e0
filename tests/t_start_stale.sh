#!/usr/bin/env bash
# A master killed with SIGKILL leaves its pidfile and control socket behind;
# its workers go (PDEATHSIG). `status` says not running, `start` takes over
# the stale pidfile and socket and works; a pidfile naming a live but
# unrelated process (pid reuse) does not block it either.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

app_conf
start_app
assert_eq "$RC" 0 "start: $(cat "$T/start.err")"
old=$MASTER
pids=$(js '" ".join(str(w["pid"]) for w in d["workers"])')
kill -KILL "$old"
wait_until 5 nothing_left || fail "processes left after kill -9 of the master: $(leftovers)"
for p in $pids; do alive "$p" && fail "worker $p survived its master"; done
[ -e "$T/run/master.pid" ] || fail "expected a stale pidfile"
[ -S "$T/run/control.sock" ] || fail "expected a stale control socket"

"$CLUSTERD" status "$CONF" >"$T/st.out" 2>&1
assert_eq "$?" 1 "status with a stale pidfile and socket"
assert_contains "$(cat "$T/st.out")" "not running" "status message"

start_app
assert_eq "$RC" 0 "start over a stale pidfile: $(cat "$T/start.err")"
[ "$MASTER" != "$old" ] || fail "pidfile still names the dead master"
assert_eq "$(js 'd["master_pid"], d["ready"]')" "$MASTER 2" "status after restart"
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "served"
"$CLUSTERD" stop "$CONF" >/dev/null || fail "stop"

# A pidfile with the pid of a live process that is no master (pid reuse).
mkdir -p "$T/run"
echo $$ >"$T/run/master.pid"
start_app
assert_eq "$RC" 0 "start over a pidfile naming an unrelated process: $(cat "$T/start.err")"
assert_eq "$(cat "$T/run/master.pid")" "$MASTER" "pidfile rewritten"
"$CLUSTERD" stop "$CONF" >/dev/null || fail "stop"
wait_until 2 nothing_left || fail "processes left: $(leftovers)"
exit 0
