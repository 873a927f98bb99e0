#!/usr/bin/env bash
# `clusterd restart` of a daemon under a new connection per request, with
# `user` changed to nobody: the new master takes the old one's listening
# sockets over (same inodes), so no connection is refused or reset; the new
# workers run as nobody. Then restarts that change the worker count: the
# per-worker group keeps its sockets, gets one more, or drains the extra
# ones in the old master before it stops (none is reset). A request in
# flight at each restart keeps the old master's stop going for a second:
# connections queue on every socket meanwhile.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
. "$(dirname "$0")/daemon.sh"

[ "$(id -u)" = 0 ] || skip "needs root (user = nobody)"
id nobody >/dev/null 2>&1 || skip "no user nobody"
chmod 755 "$T"

# inodes: the inodes of the sockets listening on $PORT, sorted.
inodes() {
	ss -lntHe "( sport = :$PORT )" | grep -o 'ino:[0-9]*' | sort | tr '\n' ' '
}
uids_of_workers() {
	local p
	for p in $(children "$MASTER"); do
		awk '/^Uid:/ { print $2 }' "/proc/$p/status"
	done | sort -u | tr '\n' ' '
}
# restart_under_load WHAT: `clusterd restart` while tests/load.py opens a
# new connection per request; fails on any refused, reset or lost request.
restart_under_load() {
	local old=$MASTER
	rm -f "$T/stop"
	python3 "$(dirname "$0")/load.py" --port "$PORT" --conc 4 \
		--duration 60 --timeout 20 --stop-file "$T/stop" >"$T/load.json" 2>&1 &
	LOAD=$!
	wait_until 10 eval "[ \"\$(conns_accepted $PORT)\" -gt 0 ] || ss -tnH state time-wait '( sport = :$PORT )' | grep -q ."
	curl -s -o "$T/slow.out" -w '%{http_code}' --max-time 20 \
		"http://127.0.0.1:$PORT/slow?ms=1000" >"$T/slow.code" &
	SLOW=$!
	wait_until 5 eval "ss -tnH state established '( sport = :$PORT )' | grep -q ."
	"$CLUSTERD" restart "$CONF" >"$T/restart.out" 2>&1 ||
		fail "restart ($1): $(cat "$T/restart.out"; tail -5 "$T/app.log")"
	wait "$SLOW"
	assert_eq "$(cat "$T/slow.code")" 200 "the request in flight at the restart ($1)"
	MASTER=$(cat "$T/run/master.pid") && track "$MASTER"
	[ "$MASTER" != "$old" ] || fail "restart ($1) kept the old master"
	alive "$old" && fail "old master $old survived the restart ($1)"
	# Requests against the new workers for a moment, then the count.
	ok0=$(now_ms)
	wait_until 5 eval "[ \$(( \$(now_ms) - $ok0 )) -ge 700 ]"
	touch "$T/stop"; wait "$LOAD"
	note "load during the restart ($1): $(cat "$T/load.json" | head -c 400)"
	for f in refused reset timeout other non2xx; do
		assert_eq "$(load_field $f)" 0 "$f connections during the restart ($1)"
	done
	[ "$(load_field ok)" -gt 0 ] || fail "no request served ($1)"
}

WORKERS=2 app_conf
start_app
[ "$RC" = 0 ] || fail "start: $(cat "$T/start.err")"
before=$(inodes)
assert_eq "$(echo $before | wc -w)" 2 "two per-worker sockets"
assert_eq "$(uids_of_workers)" "0 " "workers run as root before"

# The reason to restart: `user` cannot change by a reload.
sed -i 's/^\[cluster\]$/[cluster]\nuser = nobody/' "$CONF"
restart_under_load "user = nobody"
assert_contains "$(cat "$T/restart.out")" "2/2 workers ready" "restart output"
assert_eq "$(inodes)" "$before" "listening sockets (inodes) kept across the restart"
assert_eq "$(uids_of_workers)" "$(id -u nobody) " "new workers run as nobody"
grep -q "took over 2 sockets of the master before (per-worker)" "$T/app.log" ||
	fail "the new master did not say it took the sockets over: $(tail "$T/app.log")"

# One worker more: the two sockets kept, one bound.
sed -i 's/^workers = .*/workers = 3/' "$CONF"
restart_under_load "workers 2 -> 3"
now=$(inodes)
assert_eq "$(echo $now | wc -w)" 3 "three sockets after scaling to 3"
for i in $before; do
	assert_contains " $now" " $i" "socket $i kept when going to 3 workers"
done
# One worker: the first socket kept, the others closed.
sed -i 's/^workers = .*/workers = 1/' "$CONF"
restart_under_load "workers 3 -> 1"
grep -q "sockets 1: slots 1 and up drain first" "$T/app.log" ||
	fail "the old master did not drain slots 1 and 2 first: $(tail "$T/app.log")"
assert_eq "$(echo $(inodes) | wc -w)" 1 "one socket after going to 1 worker"
assert_contains " $before" " $(inodes)" "slot 0's socket kept"
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "serves after the restarts"

"$CLUSTERD" stop "$CONF" >/dev/null || fail "final stop"
port_refused "$PORT" || fail "port still open after the stop"
nothing_left || fail "processes left: $(leftovers)"
exit 0
