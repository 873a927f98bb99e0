#!/usr/bin/env bash
# Backoff is for crash loops: a worker that stayed ready for a second and
# is then killed is respawned at once every time (no delay, no doubling);
# the next crash in a row waits restart_delay, then it doubles.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

start_cluster 1 "restart_delay = 200ms" "restart_delay_max = 5s"
for i in 1 2 3; do
	w=$(children "$MASTER")
	# The scenario: it has been serving for more than a second.
	t0=$(now_ms)
	wait_until 3 eval "[ \$(( \$(now_ms) - $t0 )) -ge 1200 ]"
	kill -9 "$w"
	wait_until 3 eval "[ \$(grep -c 'ready after' '$T/master.log') -ge $((i + 1)) ]" ||
		fail "no replacement after kill $i"
done
delays=$(sed -n 's/.*slot 0: restarting \(at once\|in [0-9.]*s\).*/\1/p' "$T/master.log" | tr '\n' ',')
note "restarts after kills of long-lived workers: $delays"
assert_eq "$delays" "at once,at once,at once," "restarts of stable workers"
# Crashes in a row, each right after the replacement is ready.
for i in 4 5; do
	wait_until 3 eval "[ \$(grep -c 'ready after' '$T/master.log') -ge $i ]" || fail "not ready before kill $i"
	kill -9 "$(children "$MASTER")"
	wait_until 5 eval "[ \$(grep -c 'ready after' '$T/master.log') -ge $((i + 1)) ]" ||
		fail "no replacement after kill $i"
done
delays=$(sed -n 's/.*slot 0: restarting \(at once\|in [0-9.]*s\).*/\1/p' "$T/master.log" | tr '\n' ',')
note "then crashes in a row: $delays"
assert_eq "$delays" "at once,at once,at once,in 0.200s,in 0.400s," "restart delays"
kill -TERM "$MASTER"; wait "$MASTER"
exit 0
