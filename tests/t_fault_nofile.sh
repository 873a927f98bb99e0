#!/usr/bin/env bash
# The master at its fd limit: started with `ulimit -n 32` (soft and hard, so
# it cannot raise it), 4 workers, then asked for 12 more (SIGTTIN). Each
# slot takes a socket and a pipe: somewhere the fds run out. Whatever fails
# is logged with the reason, never a crash: the master stays alive and
# idle, the running workers serve; a control client cannot be accepted
# then, and the master retries once a second (it used to spin, logging a
# warning each time); once scaled back down it holds the fds it held before
# (nothing leaked), answers `status` and a reload, and stops cleanly. A
# worker being set up never runs out itself: only the master's own fds
# count.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

cluster_app 4 "ready_timeout = 5s" "restart_delay = 50ms" "restart_delay_max = 500ms"
bg_run bash -c 'ulimit -n 32 && exec "$0" run "$1"' "$CLUSTERD" "$T/app.conf" \
	>"$T/master.log" 2>&1
MASTER=$BG_PID
wait_started
nfds() { ls "/proc/$MASTER/fd" | wc -l; }
fds0=$(nfds)
note "fds with 4 workers: $fds0"

for i in $(seq 12); do
	kill -TTIN "$MASTER"
	wait_until 2 eval "grep -q 'scaling from $((3 + i)) to $((4 + i))\|Too many open files' '$T/master.log'"
done
wait_until 5 grep -q 'Too many open files' "$T/master.log" ||
	fail "the fds never ran out: $(tail -3 "$T/master.log")"
note "errors: $(grep -c 'Too many open files' "$T/master.log")"
grep 'Too many open files' "$T/master.log" | sed 's/^[^ ]* //' | sort | uniq -c | head -5 >&2
# It is the master that runs out, never a worker being set up: the child
# closes the master's other fds before it makes its copies (it used to
# exit 126 with EMFILE, 14 times in this scenario).
assert_eq "$(grep -c 'exit code 126' "$T/master.log")" 0 "workers that failed their own setup (exit 126)"
# Some time at the limit: restarts that fail, retries.
t0=$(now_ms)
c0=$(cpu_ticks "$MASTER")
for i in $(seq 20); do
	alive "$MASTER" || fail "master died at its fd limit: $(tail -5 "$T/master.log")"
	http_ok "http://127.0.0.1:$PORT/" || fail "no answer at the fd limit"
	sleep 0.1
done
c1=$(cpu_ticks "$MASTER")
note "2 s at the limit: master CPU $((c1 - c0)) ticks, $(nfds) fds"
[ $(( (c1 - c0) * 1000 / $(getconf CLK_TCK) )) -lt 300 ] || fail "busy at the fd limit"

# A control client while no fd is free: the master cannot accept it (it
# retries once a second, without spinning: at most a few warnings).
timeout 3 "$CLUSTERD" status "$T/app.conf" >"$T/st0" 2>&1
note "status at the fd limit: exit $? $(head -1 "$T/st0")"
nacc=$(grep -c 'control: accept: Too many open files' "$T/master.log")
note "control accept warnings: $nacc"
[ "$nacc" -le 8 ] || fail "$nacc accept failures logged in ~3 s: the master spins"
alive "$MASTER" || fail "master died"

# Back to 4 workers (SIGTTOU: signals need no fd): everything works again.
n=$(grep -o 'scaling from [0-9]* to [0-9]*' "$T/master.log" | tail -1 | awk '{print $NF}')
for ((; n > 4; n--)); do
	kill -TTOU "$MASTER"
	wait_until 2 master_log_has "scaling from $n to $((n - 1))" ||
		fail "SIGTTOU at $n workers: $(tail -3 "$T/master.log")"
done
wait_until 10 eval "[ \$(nchildren $MASTER) -le 4 ]" || fail "did not scale down"
"$CLUSTERD" status "$T/app.conf" >"$T/status.out" 2>&1 || fail "status: $(cat "$T/status.out")"
assert_contains "$(cat "$T/status.out")" "4/4 workers ready" "status after scaling down"
# Nothing leaked on the failure paths: the fds of 4 workers, as before.
wait_until 5 eval "[ \$(nfds) -eq $fds0 ]" ||
	fail "fds: $fds0 before, $(nfds) after scaling back: $(ls -l /proc/$MASTER/fd | tail -n +2 | awk '{print $9, $11}' | tr '\n' ' ')"
"$CLUSTERD" reload "$T/app.conf" >"$T/reload.out" 2>&1 ||
	fail "reload: $(cat "$T/reload.out")"
note "$(cat "$T/reload.out")"
stop_master
exit 0
