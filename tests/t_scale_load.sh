#!/usr/bin/env bash
# Scaling down and up under load (wrk, new connection per request, 4 s):
# every request is answered; no connection is refused, reset or lost
# while slots are drained away and added back.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

command -v wrk >/dev/null || skip "wrk not installed"
counts() { js 'd["wanted"], d["ready"]'; }
expect() {	# expect "WANTED READY" WHAT
	want=$1
	wait_until 10 eval '[ "$(counts)" = "$want" ]' || fail "$2: got '$(counts)', expected '$1'"
}
established() { [ "$(ss -Htn state established "( dport = :$PORT )" | wc -l)" -gt 0 ]; }

WORKERS=4 app_conf
start_app
assert_eq "$RC" 0 "start: $(cat "$T/start.err")"
wrk -t 2 -c 16 -d 4s -H "Connection: close" "http://127.0.0.1:$PORT/" >"$T/wrk.out" 2>&1 &
WRK=$!
wait_until 3 established || fail "no load"
"$CLUSTERD" scale "$CONF" 1 >/dev/null || fail "scale 1"
expect "1 1" "scale down to 1 under load"
wait_until 5 eval '[ "$(js "len(d[\"workers\"])")" = 1 ]' || fail "drained workers did not exit"
"$CLUSTERD" scale "$CONF" 4 >/dev/null || fail "scale 4"
expect "4 4" "scale up to 4 under load"
"$CLUSTERD" scale "$CONF" -2 >/dev/null || fail "scale -2"
expect "2 2" "scale down to 2 under load"
wait "$WRK" || fail "wrk failed: $(cat "$T/wrk.out")"
cat "$T/wrk.out" >&2
reqs=$(awk '/requests in/ { print $1 }' "$T/wrk.out")
[ "${reqs:-0}" -gt 1000 ] || fail "too little load: ${reqs:-0} requests"
errors=$(awk -F'[ ,]+' '/Socket errors/ { print $5 + $7 + $9 + $11 }' "$T/wrk.out")
non2xx=$(awk '/Non-2xx/ { print $NF }' "$T/wrk.out")
note "requests $reqs, socket errors ${errors:-0}, non-2xx ${non2xx:-0}"
assert_eq "${errors:-0}" 0 "socket errors under scale changes: $(grep Socket "$T/wrk.out")"
assert_eq "${non2xx:-0}" 0 "non-2xx answers under scale changes"
"$CLUSTERD" stop "$CONF" >/dev/null || fail "stop"
wait_until 2 nothing_left || fail "processes left: $(leftovers)"
exit 0
