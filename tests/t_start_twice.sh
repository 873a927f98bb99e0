#!/usr/bin/env bash
# A second `start` of a running cluster is refused (exit 1, names the
# running master) and leaves the running one alone; `start` with a bad
# config exits 3 before anything forks.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

app_conf
start_app
assert_eq "$RC" 0 "first start: $(cat "$T/start.err")"
first=$MASTER
pids=$(js '" ".join(str(w["pid"]) for w in d["workers"])')

start_app
assert_eq "$RC" 1 "second start"
assert_eq "$(cat "$T/start.err")" "app: already running (master $first)" "second start message"
[ -s "$T/start.out" ] && fail "second start wrote to stdout"
assert_eq "$(cat "$T/run/master.pid")" "$first" "pidfile after a second start"
assert_eq "$(js '" ".join(str(w["pid"]) for w in d["workers"])')" "$pids" "workers after a second start"
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "served after a second start"

# Two at once: exactly one master survives (the pidfile lock decides).
"$CLUSTERD" stop "$CONF" >/dev/null || fail "stop"
"$CLUSTERD" start "$CONF" >"$T/a.out" 2>&1 &
a=$!
"$CLUSTERD" start "$CONF" >"$T/b.out" 2>&1 &
b=$!
wait "$a"; ra=$?
wait "$b"; rb=$?
MASTER=$(cat "$T/run/master.pid") && track "$MASTER"
note "concurrent starts: $ra $rb: $(cat "$T/a.out" "$T/b.out")"
[ $((ra + rb)) -eq 1 ] && [ $((ra * rb)) -eq 0 ] ||
	fail "concurrent starts exited $ra and $rb: $(cat "$T/a.out" "$T/b.out")"
cat "$T/a.out" "$T/b.out" | grep -qE "^app: already running \(master $MASTER\)$" ||
	fail "the loser's message: $(cat "$T/a.out" "$T/b.out")"
assert_eq "$(js 'd["ready"]')" 2 "ready workers after concurrent starts"
"$CLUSTERD" stop "$CONF" >/dev/null || fail "stop"
wait_until 2 nothing_left || fail "processes left: $(leftovers)"

# A bad config: exit 3 with FILE:LINE, no daemon, no log written.
app_conf
echo "bogus_key = 1" >>"$CONF"
rm -f "$T/app.log"
start_app
assert_eq "$RC" 3 "start with a bad config"
assert_contains "$(cat "$T/start.err")" "$CONF:" "message names the file"
[ -e "$T/app.log" ] && fail "a log was written for a bad config"
nothing_left || fail "processes left: $(leftovers)"
exit 0
