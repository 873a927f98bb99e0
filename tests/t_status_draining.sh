#!/usr/bin/env bash
# `status` during and after a reload that leaves an old worker draining (it
# has a 3 s request in flight): the slot shows its new worker (generation
# 2, ready, receiving) and beside it the old one (generation 1, draining,
# not receiving); the human table shows the same; once the old worker is
# done, one row per slot again. Crash restarts and the last exit show too.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

WORKERS=1 app_conf
start_app
assert_eq "$RC" 0 "start: $(cat "$T/start.err")"
old=$(js 'd["workers"][0]["pid"]')
curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
	"http://127.0.0.1:$PORT/slow?ms=3000" >"$T/slow.code" &
CURL=$!
wait_until 3 eval "ss -Htn state established '( dport = :$PORT )' | grep -q ." ||
	fail "slow request not connected"
out=$("$CLUSTERD" reload "$CONF" 2>&1) || fail "reload: $out"
assert_eq "$out" "reloaded: generation 2, 1/1 workers" "reload answer"
assert_eq "$(js '[(w["slot"], w["generation"], w["state"], w["receiving"], w["pid"] == '"$old"') for w in d["workers"]]')" \
	"[(0, 2, 'ready', True, False), (0, 1, 'draining', False, True)]" "status json during the drain"
assert_eq "$(js 'd["generation"], d["ready"], d["wanted"]')" "2 1 1" "status json header during the drain"
"$CLUSTERD" status "$CONF" >"$T/status.out" || fail "status"
grep -qE "^0 +[0-9]+ +2 +ready .* yes " "$T/status.out" || fail "new worker row: $(cat "$T/status.out")"
grep -qE "^0 +$old +1 +draining .* no " "$T/status.out" || fail "draining row: $(cat "$T/status.out")"
wait "$CURL"
assert_eq "$(cat "$T/slow.code")" 200 "request on the draining worker"
wait_until 5 eval '[ "$(js "len(d[\"workers\"])")" = 1 ]' || fail "old worker still listed: $(js 'd["workers"]')"
alive "$old" && fail "old worker $old still running"

# A crash: the slot restarts, status counts it and shows the last exit.
cur=$(js 'd["workers"][0]["pid"]')
kill -KILL "$cur"
wait_until 5 eval '[ "$(js "d[\"workers\"][0][\"restarts\"], d[\"workers\"][0][\"state\"]")" = "1 ready" ]' ||
	fail "no restart: $(js 'd["workers"]')"
assert_eq "$(js 'd["workers"][0]["last_exit"]')" "signal 9 (KILL)" "last exit"
"$CLUSTERD" status "$CONF" >"$T/status.out" || fail "status"
grep -qE "^0 +[0-9]+ +2 +ready +[0-9]+s +1 .* yes +signal 9 \(KILL\)$" "$T/status.out" ||
	fail "row after a crash: $(cat "$T/status.out")"
"$CLUSTERD" stop "$CONF" >/dev/null || fail "stop"
wait_until 2 nothing_left || fail "processes left: $(leftovers)"
exit 0
