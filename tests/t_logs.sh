#!/usr/bin/env bash
# `clusterd logs` prints the last 50 lines of the cluster's log; `logs -f`
# follows it across a rotation (mv, SIGUSR1: the master reopens, the
# follower switches to the new file after what the old one still got) and
# a truncation, losing and repeating nothing. Without a log: exit 1.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

app_conf
out=$("$CLUSTERD" logs "$CONF" 2>&1)
assert_eq "$?" 1 "logs without a log: $out"
assert_contains "$out" "$T/app.log" "logs without a log names the file"

for ((i = 1; i <= 120; i++)); do echo "old line $i"; done >"$T/app.log"
"$CLUSTERD" logs "$CONF" >"$T/logs.out" || fail "logs"
assert_eq "$(cat "$T/logs.out")" "$(seq 71 120 | sed 's/^/old line /')" "logs: the last 50 lines"

start_app
assert_eq "$RC" 0 "start: $(cat "$T/start.err")"
"$CLUSTERD" logs "$CONF" >"$T/logs.out" || fail "logs"
assert_eq "$(wc -l <"$T/logs.out")" 50 "logs: line count"
assert_eq "$(tail -1 "$T/logs.out")" "$(tail -1 "$T/app.log")" "logs: last line"
assert_contains "$(cat "$T/logs.out")" "workers ready on 127.0.0.1:$PORT" "logs: the start"

bg_run "$CLUSTERD" logs "$CONF" -f >"$T/follow.out" 2>"$T/follow.err"
FOLLOW=$BG_PID
has() { grep -q -- "$2" "$1"; }
wait_until 5 has "$T/follow.out" "workers ready on" || fail "logs -f printed no tail"
"$CLUSTERD" scale "$CONF" 3 >/dev/null || fail "scale 3"
wait_until 5 has "$T/follow.out" "scaling from 2 to 3" || fail "logs -f missed a new line"

# Rotation: moved away, the master still writes to the old file until
# SIGUSR1, then to a new one.
mv "$T/app.log" "$T/app.log.1"
"$CLUSTERD" scale "$CONF" 4 >/dev/null || fail "scale 4"
wait_until 5 has "$T/app.log.1" "scaling from 3 to 4" || fail "no line in the moved log"
wait_until 5 has "$T/follow.out" "scaling from 3 to 4" || fail "logs -f missed a line of the moved file"
kill -USR1 "$MASTER"
wait_until 5 has "$T/app.log" "log reopened" || fail "no new log after SIGUSR1"
"$CLUSTERD" scale "$CONF" 5 >/dev/null || fail "scale 5"
wait_until 5 has "$T/app.log" "scaling from 4 to 5" || fail "no line in the new log"
has "$T/app.log.1" "scaling from 4 to 5" && fail "line after the reopen in the old log"
wait_until 5 has "$T/follow.out" "scaling from 4 to 5" || fail "logs -f did not switch to the new file"
wait_until 5 has "$T/follow.out" "log reopened" || fail "logs -f missed the first line of the new file"

# Truncated in place (copytruncate; the cluster is idle, nothing is written
# between the copy and the truncation): followed from its new start.
cp "$T/app.log" "$T/app.log.2"
: >"$T/app.log"
"$CLUSTERD" scale "$CONF" 2 >/dev/null || fail "scale 2"
wait_until 5 has "$T/follow.out" "scaling from 5 to 2" || fail "logs -f lost the file after a truncation"
"$CLUSTERD" stop "$CONF" >/dev/null || fail "stop"
wait_until 5 has "$T/follow.out" "master $MASTER exiting" || fail "logs -f missed the last line"
kill "$FOLLOW"
wait_until 2 eval '! alive $FOLLOW' || fail "logs -f did not exit on SIGTERM"

# Nothing lost or repeated: what was followed is the end of the old file,
# then the new one, then the truncated one; every line is whole.
cat "$T/app.log.1" "$T/app.log.2" "$T/app.log" >"$T/all"
n=$(wc -l <"$T/follow.out")
tail -n "$n" "$T/all" | cmp -s - "$T/follow.out" ||
	fail "followed output differs from the files: $(tail -n "$n" "$T/all" | diff - "$T/follow.out" | head -20)"
grep -vE '^(old line [0-9]+|[0-9-]+T[0-9:.]+Z clusterd\[[0-9]+\]: [a-z]+: .*)$' "$T/all" &&
	fail "broken lines in the log"
[ "$(sort "$T/all" | uniq -d | grep -c 'scaling from')" = 0 ] || fail "repeated lines"
wait_until 2 nothing_left || fail "processes left: $(leftovers)"
exit 0
