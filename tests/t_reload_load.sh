#!/usr/bin/env bash
# SIGHUP under 6 s of keep-alive load (64 connections): zero socket errors,
# zero non-2xx; every slot ends with a new pid in generation 2; at every
# sample during the reload at least N workers were ready to serve.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
command -v wrk >/dev/null || skip "wrk missing"

start_cluster 2 "command = $WORKER --ready-delay-ms 300"
old=$(children "$MASTER" | sort | tr '\n' ' ')

wrk -t2 -c64 -d6s "http://127.0.0.1:$PORT/" >"$T/wrk.out" 2>&1 &
WRK=$!
wait_until 3 eval "ss -tn state established '( dport = :$PORT )' | grep -q $PORT"
kill -HUP "$MASTER"
# Sample while the reload rolls: ready slots never fall below N.
min=99
done_reload() { grep -q "reloaded: generation 2" "$T/master.log"; }
while ! done_reload; do
	# A slot serves while its old or its new worker is ready: count the
	# master's children that answered READY and have not been told to go.
	n=$(awk '/ready after/ { r[$7]=1 } /stopping pid/ { d[$6]=1 } END { c=0; for (p in r) if (!(p in d)) c++; print c }' "$T/master.log")
	alive_n=$(nchildren "$MASTER")
	[ "$n" -lt "$min" ] && min=$n
	[ "$alive_n" -lt 2 ] && fail "only $alive_n workers alive during the reload"
	sleep 0.02
	alive "$MASTER" || fail "master died"
done
note "min ready workers during the reload: $min"
[ "$min" -ge 2 ] || fail "ready workers fell to $min during the reload"
wait "$WRK"
cat "$T/wrk.out" >&2
grep -q "Socket errors" "$T/wrk.out" && fail "socket errors under reload"
grep -q "Non-2xx" "$T/wrk.out" && fail "non-2xx under reload"
grep -q "requests in" "$T/wrk.out" || fail "wrk did not run"
new=$(children "$MASTER" | sort | tr '\n' ' ')
for p in $new; do
	case " $old " in *" $p "*) fail "old worker $p still runs" ;; esac
	assert_contains "$(tr '\0' '\n' <"/proc/$p/environ")" "CLUSTERD_GENERATION=2" "generation of $p"
done
assert_eq "$(nchildren "$MASTER")" 2 "two workers after the reload"
kill -TERM "$MASTER"; wait "$MASTER"
exit 0
