#!/usr/bin/env bash
# `scale N`, `scale +N`, `scale -N`, SIGTTIN and SIGTTOU change the number of
# workers at run time: the answer comes at once, the counts in `status
# --json` follow, new slots get the next numbers, scaling down removes the
# highest slots (their workers drain and exit). Out-of-range and malformed
# arguments are refused and change nothing.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

# counts: "wanted ready slots" from status --json (slots of ready workers).
counts() { js 'd["wanted"], d["ready"], [w["slot"] for w in d["workers"] if w["state"] == "ready"]'; }
expect() {	# expect "WANTED READY [SLOTS]" WHAT
	want=$1
	wait_until 10 eval '[ "$(counts)" = "$want" ]' || fail "$2: got '$(counts)', expected '$1'"
}

WORKERS=2 app_conf
start_app
assert_eq "$RC" 0 "start: $(cat "$T/start.err")"
expect "2 2 [0, 1]" "at start"

out=$("$CLUSTERD" scale "$CONF" 3) || fail "scale 3: $out"
assert_eq "$out" "scaled to 3 workers (from 2)" "scale 3 answer"
expect "3 3 [0, 1, 2]" "scale 3"
out=$("$CLUSTERD" scale "$CONF" +1) || fail "scale +1: $out"
assert_eq "$out" "scaled to 4 workers (from 3)" "scale +1 answer"
expect "4 4 [0, 1, 2, 3]" "scale +1"
gone=$(js '" ".join(str(w["pid"]) for w in d["workers"] if w["slot"] >= 2)')
out=$("$CLUSTERD" scale "$CONF" -2) || fail "scale -2: $out"
assert_eq "$out" "scaled to 2 workers (from 4)" "scale -2 answer"
expect "2 2 [0, 1]" "scale -2"
for p in $gone; do wait_until 5 eval '! alive $p' || fail "scaled-down worker $p still running"; done
out=$("$CLUSTERD" scale "$CONF" 2) || fail "scale 2: $out"
assert_eq "$out" "already 2 workers" "scale to the current count"

kill -TTIN "$MASTER"
expect "3 3 [0, 1, 2]" "SIGTTIN"
kill -TTIN "$MASTER"
expect "4 4 [0, 1, 2, 3]" "second SIGTTIN"
kill -TTOU "$MASTER"
expect "3 3 [0, 1, 2]" "SIGTTOU"

# Refused: below 1, above the maximum, not a number.
"$CLUSTERD" scale "$CONF" -3 >"$T/out" 2>&1
assert_eq "$?" 2 "scale -3 of 3 workers"
assert_contains "$(cat "$T/out")" "out of range" "scale -3 message"
"$CLUSTERD" scale "$CONF" 0 >"$T/out" 2>&1
assert_eq "$?" 2 "scale 0"
"$CLUSTERD" scale "$CONF" 5000 >"$T/out" 2>&1
assert_eq "$?" 2 "scale 5000"
"$CLUSTERD" scale "$CONF" three >"$T/out" 2>&1
assert_eq "$?" 2 "scale three"
assert_contains "$(cat "$T/out")" "not N, +N or -N" "scale three message"
expect "3 3 [0, 1, 2]" "after refused scales"
# One signal at a time: signals of one kind sent together coalesce.
kill -TTOU "$MASTER"
expect "2 2 [0, 1]" "SIGTTOU to 2"
kill -TTOU "$MASTER"
expect "1 1 [0]" "SIGTTOU to 1"
kill -TTOU "$MASTER"	# never below 1
wait_until 5 grep -q "SIGTTOU: worker count 0 out of range" "$T/app.log" ||
	fail "refused SIGTTOU not logged"
expect "1 1 [0]" "SIGTTOU below one worker"

# Each worker answers: the scaled-up ones serve.
"$CLUSTERD" scale "$CONF" 3 >/dev/null || fail "scale 3"
expect "3 3 [0, 1, 2]" "scale 3 again"
declare -A seen=()
for ((i = 0; i < 60 && ${#seen[@]} < 3; i++)); do
	s=$(http_get "http://127.0.0.1:$PORT/env" | awk -F= '$1 == "CLUSTERD_WORKER" { print $2 }')
	[ -n "$s" ] && seen[$s]=1
done
assert_eq "$(echo "${!seen[@]}" | tr ' ' '\n' | sort | tr '\n' ' ')" "0 1 2 " "slots that answered"

"$CLUSTERD" stop "$CONF" >/dev/null || fail "stop"
wait_until 2 nothing_left || fail "processes left: $(leftovers)"
exit 0
