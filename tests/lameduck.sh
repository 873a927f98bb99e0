# tests/lameduck.sh - the lame-duck check t_lameduck.sh and
# t_lameduck_pid1.sh share; sourced after lib.sh and cluster.sh.
#
# lameduck_under_load WAIT_PID DELAY: with tests/lameduck.py opening a new
# connection every 5 ms, SIGTERM $MASTER (its cluster has stop_delay =
# DELAY seconds, config in $CONF, on $PORT). During the delay `status` says
# stopping with its listeners open; every request whose connection was made
# before SIGTERM + DELAY, and every one begun more than 100 ms before it,
# gets 200; WAIT_PID (the master, or what runs it) exits 0 no sooner than
# DELAY after the SIGTERM, and then the port refuses. Sets LD_SUM (the
# client's summary, JSON) and LD_STOP_MS.
lameduck_under_load() {
	local wpid=$1 delay=$2 t_kill t_exit rc st cutoff
	rm -f "$T/ld.stop" "$T/ld.ready" "$T/ld.json"
	bg_run python3 "$ROOT/tests/lameduck.py" run --port "$PORT" \
		--every-ms 5 --stop-file "$T/ld.stop" --ready-file "$T/ld.ready" \
		--out "$T/ld.json" >"$T/ld.log" 2>&1
	local client=$BG_PID
	wait_until 10 test -e "$T/ld.ready" || fail "the client got no 200: $(cat "$T/ld.log")"
	t_kill=$EPOCHREALTIME
	kill -TERM "$MASTER"
	wait_until 1 eval '"$CLUSTERD" status "$CONF" >"$T/ld.status" 2>&1 && grep -q "(stopping)" "$T/ld.status"' ||
		fail "status does not say stopping within 1 s: $(cat "$T/ld.status")"
	st=$(cat "$T/ld.status")
	assert_not_contains "$st" "closed" "listeners during the lame duck"
	assert_contains "$st" "2/2 workers ready" "workers during the lame duck"
	wait "$wpid"; rc=$?
	t_exit=$EPOCHREALTIME
	assert_eq "$rc" 0 "exit status after the lame duck"
	LD_STOP_MS=$(awk -v a="$t_kill" -v b="$t_exit" 'BEGIN { printf "%d", (b - a) * 1000 }')
	[ "$LD_STOP_MS" -ge $(awk -v d="$delay" 'BEGIN { printf "%d", d * 1000 - 50 }') ] ||
		fail "stopped $LD_STOP_MS ms after SIGTERM, before the ${delay} s delay was over"
	port_refused "$PORT" || fail "port still open after the master exited"
	touch "$T/ld.stop"
	wait "$client"
	[ -s "$T/ld.json" ] || fail "no client records: $(cat "$T/ld.log")"
	cutoff=$(awk -v a="$t_kill" -v d="$delay" 'BEGIN { printf "%.6f", a + d }')
	LD_SUM=$(python3 "$ROOT/tests/lameduck.py" summary "$T/ld.json" "$cutoff")
	note "lame duck of ${delay} s under new connections: $LD_SUM; master exited after $LD_STOP_MS ms"
	ld_field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$LD_SUM" "$1"; }
	assert_eq "$(ld_field connected_before_failed)" 0 "requests connected before SIGTERM + ${delay} s that failed: $(ld_field errors)"
	assert_eq "$(ld_field started_before_failed)" 0 "requests begun before SIGTERM + ${delay} s - 100 ms that failed: $(ld_field errors)"
	# Enough of them to mean something: one every 5 ms, 2 s or more.
	[ "$(ld_field connected_before)" -ge 100 ] ||
		fail "only $(ld_field connected_before) requests before the cutoff"
}
