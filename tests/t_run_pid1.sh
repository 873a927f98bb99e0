#!/usr/bin/env bash
# `clusterd run` as PID 1 of a PID namespace (a container's init): it
# serves, reaps orphans a worker leaves behind, and a SIGTERM from outside
# (docker stop) is a graceful stop, exit 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

[ "$(id -u)" = 0 ] || skip "needs root (PID namespace)"
unshare -pf --mount-proc true 2>/dev/null || skip "cannot create a PID namespace"
# Each worker leaves an orphan behind: the init must reap it.
cluster_app 2 "command = /bin/sh -c '(sleep 0.1 &) && exec $WORKER'"
bg_run unshare -pf --mount-proc "$CLUSTERD" run "$T/app.conf" >"$T/master.log" 2>&1
UNSHARE=$BG_PID
wait_started
MASTER=$(children "$UNSHARE")
[ -n "$MASTER" ] || fail "no master"
grep -q "NSpid:.*[[:space:]]1$" "/proc/$MASTER/status" || fail "clusterd is not PID 1 in its namespace: $(grep NSpid /proc/$MASTER/status)"
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "serves as PID 1"
# The orphans (sleep 0.1) exit and are reaped: no zombie stays.
zombies() { ps --ppid "$MASTER" -o stat= | grep -c '^Z'; }
wait_until 3 eval '[ "$(zombies)" = 0 ]' || fail "zombies left: $(ps --ppid "$MASTER" -o pid=,stat=,comm=)"
kill -TERM "$MASTER"
wait "$UNSHARE"; rc=$?
assert_eq "$rc" 0 "exit code after SIGTERM to PID 1"
master_log_has "stopping: SIGTERM" || fail "SIGTERM not handled"
exit 0
