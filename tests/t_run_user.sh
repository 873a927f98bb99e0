#!/usr/bin/env bash
# As root with `user = nobody`: the master binds a port below 1024, the
# workers run as nobody and serve on it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

[ "$(id -u)" = 0 ] || skip "needs root"
id nobody >/dev/null 2>&1 || skip "no user nobody"
PORT=""
for p in $(seq 900 1000); do
	port_refused "$p" && ! ss -ltn "( sport = :$p )" | grep -q ":$p" && { PORT=$p; break; }
done
[ -n "$PORT" ] || skip "no free port below 1024"
chmod 755 "$T"
start_cluster 2 "[cluster]" "user = nobody" "[listen]" "address = 127.0.0.1:$PORT"
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "serves on a privileged port"
nobody=$(id -u nobody)
for p in $(children "$MASTER"); do
	uid=$(awk '/^Uid:/ { print $2 " " $3 " " $4 " " $5 }' "/proc/$p/status")
	assert_eq "$uid" "$nobody $nobody $nobody $nobody" "worker $p uids"
	env=$(tr '\0' '\n' <"/proc/$p/environ")
	assert_contains "$env" "USER=nobody" "USER of the worker"
	assert_contains "$env" "HOME=$(getent passwd nobody | cut -d: -f6)" "HOME of the worker"
done
[ "$(awk '/^Uid:/ { print $2 }' "/proc/$MASTER/status")" = 0 ] || fail "master not root"
kill -TERM "$MASTER"; wait "$MASTER"
exit 0
