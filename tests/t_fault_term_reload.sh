#!/usr/bin/env bash
# Signals during a slow reload (new workers take 2 s to be ready):
# A. SIGTERM while generation 2 starts: a clean stop, exit 0; the waiting
#    `clusterd reload` hears that the cluster is stopping (exit 1); no
#    process of either generation is left, nor anything in their groups.
# B. Workers that ignore SIGTERM (and a grandchild that does too): SIGINT
#    during the reload, then SIGTERM: the second signal kills every process
#    group now; exit 0 within a few seconds, nothing left.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

# leftovers: pids (and process groups) of every worker this master started
# that still exist.
leftovers() {
	local p
	for p in $(sed -n 's/.*: started pid \([0-9]*\),.*/\1/p' "$T/master.log"); do
		alive "$p" && echo "pid $p"
		group_alive "$p" && echo "group $p"
	done
	return 0
}

scenario() {	# scenario NAME WORKER-ARGS STOP_TIMEOUT
	local name=$1 args=$2 st=$3
	note "scenario $name"
	NAME=$name cluster_app 2 "command = $WORKER --ready-delay-ms 2000 $args" \
		"ready_timeout = 10s" "stop_timeout = $st"
	: >"$T/master.log"
	run_cluster "$T/$name.conf"
	wait_started 15
}

scenario A "" 5s
"$CLUSTERD" reload "$T/A.conf" >"$T/reload.out" 2>&1 &
RELOAD=$!
wait_until 5 master_log_has "generation 2: " || fail "A: no generation 2 worker started"
master_log_has "slot 0: pid [0-9]* ready after .* (generation 2)" &&
	fail "A: the new worker was ready too soon for this test"
t0=$(now_ms)
kill -TERM "$MASTER"
wait_until 10 eval "! alive $MASTER" || fail "A: master still running"
wait "$MASTER"
rc=$?
note "A: stopped in $(( $(now_ms) - t0 )) ms"
assert_eq "$rc" 0 "A: master exit status"
wait "$RELOAD"
assert_eq "$?" 1 "A: exit status of the waiting reload"
assert_contains "$(cat "$T/reload.out")" "stopping" "A: reload answer"
wait_until 3 eval '[ -z "$(leftovers)" ]' || fail "A: left behind: $(leftovers)"
master_log_has "master $MASTER exiting (stopped" || fail "A: no clean exit logged"

scenario B "--ignore-term" 30s
kill -HUP "$MASTER"
wait_until 5 master_log_has "generation 2: " || fail "B: no generation 2 worker started"
t0=$(now_ms)
kill -INT "$MASTER"
wait_until 5 master_log_has "stopping: SIGINT" || fail "B: SIGINT not seen"
alive "$MASTER" || fail "B: master gone before its workers"
kill -TERM "$MASTER"
wait_until 5 eval "! alive $MASTER" || fail "B: the second signal did not kill now"
wait "$MASTER"
rc=$?
note "B: stopped in $(( $(now_ms) - t0 )) ms"
assert_eq "$rc" 0 "B: master exit status"
wait_until 3 eval '[ -z "$(leftovers)" ]' || fail "B: left behind: $(leftovers)"
exit 0
