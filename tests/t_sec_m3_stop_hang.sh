#!/usr/bin/env bash
# M3: a worker that ignores SIGTERM and leaves the process group the master
# made for it (setpgid into the master's group) still dies at stop_timeout:
# the master sends SIGKILL to the pid as well as to the group, and exits.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

cat >"$T/pg.py" <<'PY'
import os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
os.setpgid(0, os.getpgid(os.getppid()))	# leave the group clusterd made
time.sleep(1000)
PY
cluster_app 1 "command = python3 $T/pg.py" "ready = delay" \
	"ready_delay = 200ms" "stop_timeout = 1s"
run_cluster "$T/app.conf"
wait_started
victim=$(children "$MASTER")
[ -n "$victim" ] || fail "no worker"
wait_until 3 eval "[ \"\$(ps -o pgid= -p $victim | tr -d ' ')\" != $victim ]" ||
	fail "the worker did not leave its group"
t0=$(now_ms)
kill -TERM "$MASTER"
wait_until 6 eval "! alive $MASTER" ||
	fail "master still running 6 s after SIGTERM (stop_timeout 1s): $(tail -5 "$T/master.log")"
dt=$(( $(now_ms) - t0 ))
alive "$victim" && fail "worker $victim survived the stop"
wait "$MASTER"; rc=$?
assert_eq "$rc" 0 "master exit code"
note "stopped in $dt ms; the worker was SIGKILLed by pid"
[ "$dt" -ge 900 ] || fail "stopped before stop_timeout ($dt ms)"
master_log_has "killing its process group" || fail "no SIGKILL logged"
exit 0
