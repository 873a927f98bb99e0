#!/usr/bin/env bash
# Steering (per-worker sockets): one slot's worker crash-loops while the other
# is healthy. Under 10 s of new connections (Connection: close) no request
# takes longer than 200 ms and none fails. The same run with steering
# disabled (CLUSTERD_NO_STEER=1) shows the stalls it prevents: connections
# hashed to the dead slot's socket wait in its queue.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

DUR=${STEER_DURATION:-10}
run_case() {	# run_case NAME [env...]
	local name=$1; shift
	rm -f "$T/crash"
	NAME=$name cluster_app 2 \
		"command = /bin/sh -c 'if [ -e $T/crash ] && [ \"\$CLUSTERD_WORKER\" = 0 ]; then exit 3; fi; exec $WORKER'" \
		"restart_delay = 100ms" "restart_delay_max = 2s"
	: >"$T/master.log"
	bg_run env "$@" "$CLUSTERD" run "$T/$name.conf" >"$T/master.log" 2>&1
	MASTER=$BG_PID
	wait_started
	touch "$T/crash"
	for p in $(children "$MASTER"); do
		tr '\0' '\n' <"/proc/$p/environ" | grep -qx CLUSTERD_WORKER=0 && kill -9 "$p"
	done
	wait_until 5 master_log_has "slot 0: restarting in" || fail "no crash loop"
	python3 "$ROOT/tests/load.py" --port "$PORT" --duration "$DUR" --conc 4 \
		--slow-ms 200 --timeout 3 >"$T/$name.json"
	note "$name: $(cat "$T/$name.json")"
	kill -TERM "$MASTER"; wait "$MASTER"
}
field() { load_field "$2" "$T/$1.json"; }	# field RUN FIELD

run_case steered
run_case unsteered CLUSTERD_NO_STEER=1
echo "steered:   ok=$(field steered ok) failed=$(field steered failed) slow=$(field steered slow) max=$(field steered max_ms)ms" >&2
echo "unsteered: ok=$(field unsteered ok) failed=$(field unsteered failed) slow=$(field unsteered slow) max=$(field unsteered max_ms)ms" >&2
assert_eq "$(field steered failed)" 0 "failed requests with steering"
assert_eq "$(field steered slow)" 0 "requests over 200 ms with steering"
[ "$(field steered ok)" -gt 1000 ] || fail "too few requests"
# Without steering the dead slot's queue holds connections: stalls or
# time-outs must show, else this test proves nothing.
[ $(( $(field unsteered slow) + $(field unsteered failed) )) -gt 0 ] ||
	fail "no stall without steering: the scenario does not exercise the dead slot"
exit 0
