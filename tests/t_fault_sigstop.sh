#!/usr/bin/env bash
# The master frozen (SIGSTOP) for 5 s under load, per-worker sockets: the
# master is not in the data path, so every request during the freeze is
# served by the workers. After SIGCONT everything is normal: a crashed
# worker is replaced, `status` and `reload` answer, SIGTERM stops (exit 0).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

start_cluster 2 "[listen]" "sockets = per-worker" "[worker]" "restart_delay = 50ms"

kill -STOP "$MASTER"
on_exit "kill -CONT $MASTER 2>/dev/null"
t0=$(now_ms)
python3 "$ROOT/tests/load.py" --port "$PORT" --duration 4.5 --conc 4 \
	--timeout 3 >"$T/load.json"
wait_until 2 eval "[ \$(( \$(now_ms) - $t0 )) -ge 5000 ]"
state=$(awk '{print $3}' "/proc/$MASTER/stat")
assert_eq "$state" T "master state during the freeze"
kill -CONT "$MASTER"
res=$(cat "$T/load.json")
note "load while the master was stopped: $res"
ok=$(load_field ok)
failed=$(load_field failed)
nslots=$(load_field slots)
assert_eq "$failed" 0 "failed requests while the master was stopped"
[ "$ok" -gt 100 ] || fail "only $ok requests served while the master was stopped"
assert_eq "$nslots" 2 "slots that served during the freeze"

note "after SIGCONT"
"$CLUSTERD" status "$T/app.conf" >"$T/st" 2>&1 || fail "status: $(cat "$T/st")"
assert_contains "$(cat "$T/st")" "2/2 workers ready" "status after the freeze"
victim=$(children "$MASTER" | head -1)
kill -9 "$victim"
wait_until 5 eval "[ \$(grep -c 'ready after' '$T/master.log') -ge 3 ]" ||
	fail "crashed worker not replaced: $(tail -5 "$T/master.log")"
out=$("$CLUSTERD" reload "$T/app.conf" 2>&1) || fail "reload: $out"
assert_contains "$out" "reloaded: generation 2, 2/2 workers" "reload after the freeze"
http_ok "http://127.0.0.1:$PORT/" || fail "no answer after the freeze"
stop_master
exit 0
