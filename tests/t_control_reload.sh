#!/usr/bin/env bash
# `clusterd reload` through the control socket waits for the roll and
# prints its result; a reload client that goes away (killed) before the
# answer does not disturb the master: the roll completes, it is logged, and
# the next reload and status work. A broken FILE fails the reload (exit 1,
# FILE:LINE) and changes nothing.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

app_conf --ready-delay-ms 700
start_app
assert_eq "$RC" 0 "start: $(cat "$T/start.err")"

t0=$(now_ms)
out=$("$CLUSTERD" reload "$CONF" 2>&1) || fail "reload: $out"
t1=$(now_ms)
assert_eq "$out" "reloaded: generation 2, 2/2 workers" "reload answer"
[ $((t1 - t0)) -ge 1300 ] || fail "reload returned after $((t1 - t0)) ms, before 2 workers were ready"
assert_eq "$(js 'd["generation"], sorted(set(w["generation"] for w in d["workers"] if w["state"] == "ready"))')" \
	"2 [2]" "generation after reload"

# The client is killed while it waits.
"$CLUSTERD" reload "$CONF" >/dev/null 2>&1 &
R=$!
wait_until 3 grep -q "reload: generation 3" "$T/app.log" || fail "reload 3 not started"
kill -KILL "$R"
wait "$R" 2>/dev/null
wait_until 5 grep -q "reloaded: generation 3" "$T/app.log" || fail "reload 3 did not finish"
grep -q "control: pid $R went away before the answer" "$T/app.log" || fail "gone client not logged"
out=$("$CLUSTERD" reload "$CONF" 2>&1) || fail "reload after a gone client: $out"
assert_eq "$out" "reloaded: generation 4, 2/2 workers" "reload after a gone client"

# Two clients, one roll each way: both hear the result of the roll they
# asked for (the second is queued behind the first).
"$CLUSTERD" reload "$CONF" >"$T/r1.out" 2>&1 &
R1=$!
wait_until 3 grep -q "reload: generation 5" "$T/app.log" || fail "reload 5 not started"
"$CLUSTERD" reload "$CONF" >"$T/r2.out" 2>&1 &
R2=$!
wait "$R1" || fail "first of two reloads: $(cat "$T/r1.out")"
wait "$R2" || fail "second of two reloads: $(cat "$T/r2.out")"
assert_eq "$(cat "$T/r1.out")" "reloaded: generation 5, 2/2 workers" "first of two reloads"
assert_eq "$(cat "$T/r2.out")" "reloaded: generation 6, 2/2 workers" "second of two reloads"

# A broken file: exit 1 with FILE:LINE; the cluster keeps generation 6.
cp "$CONF" "$T/good.conf"
echo "bogus_key = 1" >>"$CONF"
out=$("$CLUSTERD" reload "$CONF" 2>&1)
assert_eq "$?" 1 "reload of a broken file: $out"
assert_contains "$out" "$CONF:" "reload error names the file"
assert_eq "$(js 'd["generation"], d["ready"]')" "6 2" "after a failed reload"
cp "$T/good.conf" "$CONF"
"$CLUSTERD" stop "$CONF" >/dev/null || fail "stop"
wait_until 2 nothing_left || fail "processes left: $(leftovers)"
exit 0
