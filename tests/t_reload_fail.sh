#!/usr/bin/env bash
# A reload with a broken file changes nothing (same pids serve, FILE:LINE in
# the log); a reload whose new workers never become ready fails, the old
# workers keep serving and no slot is ever empty; the next good reload works.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

PORT=$(free_port)
conf() {	# conf EXTRA-WORKER-LINES...
	cluster_app 2 "[listen]" "address = 127.0.0.1:$PORT" \
		"[worker]" "command = ${CMD:-$WORKER}" "$@"
}
conf
run_cluster "$T/app.conf"
wait_started
old=$(children "$MASTER" | sort | tr '\n' ' ')

# 1. Broken file.
conf "bogus_key = 1"
kill -HUP "$MASTER"
wait_until 5 master_log_has "reload to generation 2 failed" || fail "no failure logged"
line=$(grep -n bogus_key "$T/app.conf" | cut -d: -f1)
master_log_has "$T/app.conf:$line:" || fail "no FILE:LINE in: $(grep failed "$T/master.log")"
assert_eq "$(children "$MASTER" | sort | tr '\n' ' ')" "$old" "same workers after a broken reload"
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "still serving"

# 2. New workers never ready: ready_timeout fails the reload at slot 0.
CMD="$WORKER --no-ready" conf "ready_timeout = 2s"
python3 "$ROOT/tests/load.py" --port "$PORT" --duration 3.5 --conc 2 >"$T/load.json" &
LOAD=$!
kill -HUP "$MASTER"
wait_until 6 master_log_has "reload to generation 3 failed" || fail "reload did not fail"
master_log_has "not ready within ready_timeout" || fail "reason not logged"
wait "$LOAD"
note "load during the failed reload: $(cat "$T/load.json")"
[ "$(load_field failed)" = 0 ] && [ "$(load_field ok)" -gt 0 ] ||
	fail "requests failed during a failed reload"
now=$(children "$MASTER" | sort | tr '\n' ' ')
assert_eq "$now" "$old" "old workers serve after a failed reload"
grep -q "slots run generation 0:1 1:1" "$T/master.log" || fail "result does not say what each slot runs"

# 3. Fixed file: the next reload rolls through.
conf
kill -HUP "$MASTER"
wait_until 10 master_log_has "reloaded: generation 4" || fail "good reload failed: $(tail "$T/master.log")"
for p in $(children "$MASTER"); do
	assert_contains "$(tr '\0' '\n' <"/proc/$p/environ")" "CLUSTERD_GENERATION=4" "generation after the good reload"
done
kill -TERM "$MASTER"; wait "$MASTER"
exit 0
