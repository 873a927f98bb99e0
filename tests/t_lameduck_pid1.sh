#!/usr/bin/env bash
# The lame duck as PID 1 of a PID namespace (a Kubernetes pod's shape:
# `clusterd run` is the container's init): stop_delay = 2s under a client
# opening a new connection every 5 ms; SIGTERM from outside (the kubelet)
# makes it a lame duck, every request started before SIGTERM + 2 s gets
# 200, then it stops and exits 0. A second SIGTERM to PID 1 during a long
# lame duck ends it at once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
. "$(dirname "$0")/lameduck.sh"

[ "$(id -u)" = 0 ] || skip "needs root (PID namespace)"
unshare -pf --mount-proc true 2>/dev/null || skip "cannot create a PID namespace"

# pid1_cluster FILE: `clusterd run FILE` as PID 1 of a new PID namespace;
# sets UNSHARE (what the test waits for) and MASTER (PID 1, as seen here).
pid1_cluster() {
	bg_run unshare -pf --mount-proc "$CLUSTERD" run "$1" >"$T/master.log" 2>&1
	UNSHARE=$BG_PID
	wait_started
	MASTER=$(children "$UNSHARE")
	[ -n "$MASTER" ] || fail "no master"
	grep -q "NSpid:.*[[:space:]]1$" "/proc/$MASTER/status" ||
		fail "clusterd is not PID 1 in its namespace: $(grep NSpid "/proc/$MASTER/status")"
}

CONF=$T/app.conf
cluster_app 2 "[cluster]" "stop_delay = 2s"
pid1_cluster "$CONF"
lameduck_under_load "$UNSHARE" 2
master_log_has "stopping: SIGTERM: lame duck for 2.0s" || fail "lame duck not logged"
master_log_has "after a 2.0s lame duck" || fail "end of the lame duck not logged"

# A second SIGTERM to PID 1 cuts a 30 s lame duck.
cluster_app 2 "[cluster]" "stop_delay = 30s"
pid1_cluster "$CONF"
t0=$(now_ms)
kill -TERM "$MASTER"
wait_until 3 master_log_has "lame duck for 30.0s" || fail "no lame duck: $(tail -5 "$T/master.log")"
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "PID 1 serves during the lame duck"
kill -TERM "$MASTER"
wait "$UNSHARE"; rc=$?
dt=$(( $(now_ms) - t0 ))
assert_eq "$rc" 0 "exit status of PID 1 after a second SIGTERM"
note "PID 1: second SIGTERM, exited $dt ms after the first (stop_delay 30 s)"
[ "$dt" -lt 15000 ] || fail "a second SIGTERM to PID 1 did not cut the lame duck: $dt ms"
master_log_has "lame duck cut short" || fail "cut not logged"
exit 0
