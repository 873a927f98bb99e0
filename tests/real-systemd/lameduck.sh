# tests/real-systemd/lameduck.sh - sourced by run.sh: `systemctl stop` of a
# clusterd@ unit whose cluster has stop_delay = 3s, under a client opening
# a new connection every 5 ms (tests/lameduck.py, from the host: the
# container shares its network). During the lame duck the unit is
# deactivating with StatusText "stopping: lame duck for 3.0s" and serves;
# every request begun before the stop + 3 s gets 200; systemctl stop
# returns 0 after the delay.
PD=$(free_port)
ct sh -c "cat >/etc/clusterd/duck.conf" <<EOF
[cluster]
workers = 2
stop_delay = 3s

[listen]
address = 127.0.0.1:$PD

[worker]
command = /usr/bin/clusterd-worker
ready = notify
EOF
UD=clusterd@duck.service
ct systemctl start "$UD"; rc=$?
check "lame duck: systemctl start $UD: rc $rc" test "$rc" = 0
rm -f "$W/ld.stop" "$W/ld.ready"
python3 "$ROOT/tests/lameduck.py" run --port "$PD" --every-ms 5 \
	--stop-file "$W/ld.stop" --ready-file "$W/ld.ready" --out "$W/ld.json" \
	--duration 60 >"$W/ld.log" 2>&1 &
LOADPID=$!
wait_for 10 test -e "$W/ld.ready"
t_stop=$EPOCHREALTIME
t=$(date +%s%N)
ct systemctl stop "$UD" >"$W/ld.stop.out" 2>&1 &
stopper=$!
duck_status() { grep -q "^stopping: lame duck for 3.0s$" <<<"$(prop "$UD" StatusText)"; }
wait_for 2 duck_status
check "lame duck: StatusText during the delay: $(prop "$UD" StatusText)" duck_status
check "lame duck: $(prop "$UD" ActiveState)/$(prop "$UD" SubState) during the delay" \
	state_is "$UD" deactivating
check "lame duck: serving during the delay" http_ok "$PD"
wait "$stopper"; rc=$?
dt=$(ms_since "$t")
check "lame duck: systemctl stop rc $rc after $dt ms (stop_delay 3 s)" \
	test "$rc" = 0 -a "$dt" -ge 2900
check "lame duck: inactive: $(prop "$UD" ActiveState)" state_is "$UD" inactive
check "lame duck: port refused after the stop" port_refused "$PD"
touch "$W/ld.stop"; wait "$LOADPID"; LOADPID=
sum=$(python3 "$ROOT/tests/lameduck.py" summary "$W/ld.json" \
	"$(awk -v a="$t_stop" 'BEGIN { printf "%.6f", a + 3 }')")
log "lame duck under new connections: $sum"
check "lame duck: every request begun before the stop + 3 s got 200" python3 -c 'import json, sys
s = json.loads(sys.argv[1])
sys.exit(not (s["connected_before"] >= 100 and s["connected_before_failed"] == 0 and
    s["started_before_failed"] == 0))' "$sum"
ct journalctl -u "$UD" -o cat --no-pager | grep -E "lame duck" | sed 's/^/    /'
