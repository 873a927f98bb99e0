#!/usr/bin/env bash
# kill -9 of a worker under continuous load (per-worker sockets): the
# replacement answers within 1 s, no connection attempt is refused, and only
# requests in flight on the dead worker may fail.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

start_cluster 2

python3 "$ROOT/tests/load.py" --port "$PORT" --duration 4 --conc 4 >"$T/load.json" &
LOAD=$!
wait_until 5 eval "[ \$(grep -c 'slot.*ready after' '$T/master.log') -ge 2 ]"
victim=$(children "$MASTER" | head -1)
vslot=$(tr '\0' '\n' <"/proc/$victim/environ" | sed -n 's/^CLUSTERD_WORKER=//p')
t0=$(now_ms)
kill -9 "$victim"
# The replacement: a new child of the master in the same slot, answering.
replaced() {
	local p
	for p in $(children "$MASTER"); do
		[ "$p" = "$victim" ] && continue
		tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "CLUSTERD_WORKER=$vslot" || continue
		grep -q "slot $vslot: pid $p ready" "$T/master.log" && return 0
	done
	return 1
}
wait_until 3 replaced || fail "no replacement for slot $vslot"
t1=$(now_ms)
note "replacement ready after $((t1 - t0)) ms"
[ $((t1 - t0)) -le 1000 ] || fail "replacement took $((t1 - t0)) ms"
wait "$LOAD"
res=$(cat "$T/load.json")
note "load: $res"
refused=$(load_field refused)
failed=$(load_field failed)
ok=$(load_field ok)
assert_eq "$refused" 0 "refused connections"
[ "$ok" -gt 100 ] || fail "too few requests served: $ok"
# 4 clients: at most one request each can be in flight on the victim.
[ "$failed" -le 4 ] || fail "$failed requests failed (more than those in flight)"
grep -q "slot $vslot: pid $victim (generation 1) exited: signal 9 (KILL)" "$T/master.log" ||
	fail "exit not logged: $(grep exited "$T/master.log")"
exit 0
