#!/usr/bin/env bash
# Exits by reason and the config keys: workers that ignore SIGTERM are
# SIGKILLed after stop_timeout when a reload replaces them: killed +2, no
# crash. `check` refuses bad admin and ready_min values with the key named.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
. "$(dirname "$0")/admin.sh"

for v in "ready_min = 0" "ready_min = 101%" "ready_min = x" "ready_min = 1025" "admin = nowhere" "admin = 127.0.0.1:99999"; do
	cluster_app 2 "[cluster]" "$v"
	out=$("$CLUSTERD" check "$T/app.conf" 2>&1)
	assert_eq "$?" 3 "check with $v: $out"
	assert_contains "$out" "'${v%% *}'" "check names the key for $v"
done
cluster_app 2 "[listen]" "address = 127.0.0.1:9199" "[cluster]" "admin = 127.0.0.1:9199"
out=$("$CLUSTERD" check "$T/app.conf" 2>&1)
assert_eq "$?" 3 "check with admin on a listener's address: $out"
assert_contains "$out" "'admin': 127.0.0.1:9199 is already used by [listen]" "admin on a listener's address"
cluster_app 2 "[cluster]" "ready_min = 50%" "admin = [::1]:9101"
out=$("$CLUSTERD" check "$T/app.conf" 2>&1) || fail "check with good values: $out"

need_prom
ADMIN_PORT=$(free_port)
start_cluster 2 "[cluster]" "admin = 127.0.0.1:$ADMIN_PORT" \
	"[worker]" "command = $WORKER --ignore-term" "stop_timeout = 1s"
scrape
assert_eq "$(metric 'clusterd_worker_exits_total{reason="killed"}')" 0 "killed before"
out=$("$CLUSTERD" reload "$T/app.conf" 2>&1) || fail "reload: $out"
wait_until 10 eval 'scrape && [ "$(metric "clusterd_worker_exits_total{reason=\"killed\"}")" = 2 ]' ||
	fail "killed after the reload: $(metric 'clusterd_worker_exits_total{reason="killed"}')"
assert_eq "$(metric 'clusterd_worker_exits_total{reason="crash"}')" 0 "crash exits"
assert_eq "$(metric 'clusterd_worker_exits_total{reason="stopped"}')" 0 "stopped exits"
# A failed reload counts as failed.
echo "bogus line" >>"$T/app.conf"
"$CLUSTERD" reload "$T/app.conf" >/dev/null 2>&1 && fail "a bad reload succeeded"
scrape
assert_eq "$(metric 'clusterd_reloads_total{result="failed"}')" 1 "failed reloads"
assert_eq "$(metric 'clusterd_reloads_total{result="ok"}')" 1 "ok reloads"
kill -TERM "$MASTER"
wait "$MASTER"
exit 0
