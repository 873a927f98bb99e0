#!/usr/bin/env bash
# stop_delay = 2s under a client opening a new connection every 5 ms: from
# SIGTERM the cluster is a lame duck — systemd hears STOPPING=1 and
# "STATUS=stopping: lame duck for 2.0s", `status` says stopping, the
# listeners stay open and every request started before SIGTERM + 2 s gets
# 200 (none refused, reset or timed out) — then the usual stop, exit 0,
# and the port refuses. With the default stop_delay = 0 the stop begins at
# once, as before.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
. "$(dirname "$0")/lameduck.sh"

# Playing systemd: every datagram on NOTIFY_SOCKET, one line each.
NOTIFY=@clusterd-test-lameduck-$$
bg_run python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + sys.argv[1][1:])
out = open(sys.argv[2], "a", buffering=1)
out.write("recording\n")
while True:
    out.write(s.recv(4096).decode(errors="replace").replace("\n", "|") + "\n")
' "$NOTIFY" "$T/notify.log"
wait_until 5 grep -q recording "$T/notify.log" || fail "notify recorder not up"

cluster_app 2 "[cluster]" "stop_delay = 2s"
CONF=$T/app.conf
NOTIFY_SOCKET=$NOTIFY run_cluster "$CONF"
wait_started
lameduck_under_load "$MASTER" 2
grep -q "^STOPPING=1|STATUS=stopping: lame duck for 2.0s$" "$T/notify.log" ||
	fail "no STOPPING=1 + lame-duck STATUS to systemd: $(cat "$T/notify.log")"
master_log_has "stopping: SIGTERM: lame duck for 2.0s" || fail "lame duck not logged"
master_log_has "stopping: SIGTERM, after a 2.0s lame duck" || fail "end of the lame duck not logged"
# The lame duck came before the stop: nothing was stopped during it.
first_stop=$(grep -n "stopping pid" "$T/master.log" | head -1 | cut -d: -f1)
duck=$(grep -n "lame duck for" "$T/master.log" | head -1 | cut -d: -f1)
over=$(grep -n "after a 2.0s lame duck" "$T/master.log" | head -1 | cut -d: -f1)
[ "$duck" -lt "$over" ] && [ "$over" -lt "$first_stop" ] ||
	fail "a worker was stopped during the lame duck: $(sed -n "${duck},${first_stop}p" "$T/master.log")"

# stop_delay = 0 (the default): no lame duck, the port refuses at once.
CONF=$T/nodelay.conf start_cluster 2
t0=$(now_ms)
kill -TERM "$MASTER"
wait_until 2 port_refused "$PORT" || fail "port still accepting without stop_delay"
wait "$MASTER"; rc=$?
assert_eq "$rc" 0 "exit status without stop_delay"
master_log_has "lame duck" && fail "a lame duck without stop_delay: $(grep "lame duck" "$T/master.log")"
note "without stop_delay the master exited $(( $(now_ms) - t0 )) ms after SIGTERM"
exit 0
