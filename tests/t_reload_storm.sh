#!/usr/bin/env bash
# 20 HUPs within one second under load: no failed request; within a bounded
# time every slot runs one newest generation and the storm was coalesced.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

start_cluster 2 "command = $WORKER --ready-delay-ms 100"
python3 "$ROOT/tests/load.py" --port "$PORT" --duration 5 --conc 4 >"$T/load.json" &
LOAD=$!
for i in $(seq 20); do kill -HUP "$MASTER"; sleep 0.04; done
settled() {
	! grep -q "reload: queued" "$T/master.log" && return 1
	local last; last=$(grep -o 'reloaded: generation [0-9]*' "$T/master.log" | tail -1 | awk '{print $3}')
	[ -n "$last" ] || return 1
	# No reload is running or queued once the last one finished.
	[ "$(grep -c 'reload: generation' "$T/master.log")" = "$(grep -c -E 'reloaded: generation|failed' "$T/master.log")" ] || return 1
	local p
	for p in $(children "$MASTER"); do
		tr '\0' '\n' <"/proc/$p/environ" | grep -qx "CLUSTERD_GENERATION=$last" || return 1
	done
	[ "$(nchildren "$MASTER")" = 2 ]
}
wait_until 15 settled || fail "did not settle: $(grep -E 'reload' "$T/master.log" | tail)"
rolls=$(grep -c 'reload: generation' "$T/master.log")
note "20 HUPs gave $rolls rolls"
[ "$rolls" -lt 20 ] || fail "HUPs were not coalesced ($rolls rolls)"
wait "$LOAD"
note "load: $(cat "$T/load.json")"
[ "$(load_field failed)" = 0 ] && [ "$(load_field ok)" -gt 0 ] ||
	fail "requests failed during the HUP storm"
kill -TERM "$MASTER"; wait "$MASTER"
exit 0
