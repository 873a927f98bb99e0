#!/usr/bin/env bash
# M5: neither a log reader that stalls nor a worker that never stops writing
# keeps the master from supervising.
# 1. `run`'s stderr is a FIFO that nobody reads, and the worker is `yes`:
#    `status` still answers within 3 s, again and again; once someone reads
#    the FIFO, the lines that could not be written are announced
#    ("N log lines dropped"); SIGTERM stops the master within 5 s.
# 2. The same worker with `log = /dev/null` (nothing stalls, the master just
#    never runs out of output to read): `status` answers within 3 s and
#    SIGTERM stops it within 5 s.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

YES=$(command -v yes) || skip "no yes(1)"
yes_conf() {	# yes_conf [CLUSTER LINE]
	cluster_app 1 "command = $YES" "ready = delay" "ready_delay = 100ms" \
		"stop_timeout = 2s" "[cluster]" "$@"
}
status_answers() {
	timeout 3 "$CLUSTERD" status "$T/app.conf" >"$T/st" 2>&1 ||
		fail "status did not answer within 3 s (rc $?): $(cat "$T/st")"
	assert_contains "$(cat "$T/st")" "1/1 workers ready" "status"
}
stops_in_5s() {
	kill -TERM "$MASTER"
	wait_until 5 eval '! alive "$MASTER"' ||
		fail "master still alive 5 s after SIGTERM (state $(cut -d' ' -f3 "/proc/$MASTER/stat"), wchan $(cat "/proc/$MASTER/wchan"))"
}

note "1. stderr to a FIFO nobody reads"
mkfifo "$T/fifo"
exec 7<>"$T/fifo"	# keeps the FIFO open for reading; never reads
yes_conf
bg_run "$CLUSTERD" run "$T/app.conf" 7<&- >"$T/fifo" 2>&1
MASTER=$BG_PID
wait_until 5 eval '[ "$(nchildren "$MASTER")" -ge 1 ]' || fail "no worker started"
wait_until 5 eval 'timeout 3 "$CLUSTERD" status "$T/app.conf" | grep -q "1/1 workers ready"' ||
	fail "never 1/1 ready with a stalled log"
for i in 1 2 3; do
	status_answers
done
bg_run cat "$T/fifo" >"$T/drained"
exec 7<&-
wait_until 5 grep -q "log lines dropped: the log could not take them" "$T/drained" ||
	fail "no count of dropped lines: $(grep -v 'pid [0-9]*: y$' "$T/drained" | tail -5)"
note "$(grep -m1 'log lines dropped' "$T/drained")"
status_answers
stops_in_5s
note "2. a worker that never stops writing, log = /dev/null"
yes_conf "log = /dev/null"
run_cluster "$T/app.conf"
wait_until 5 eval '[ "$(nchildren "$MASTER")" -ge 1 ]' || fail "no worker started"
wait_until 5 eval 'timeout 3 "$CLUSTERD" status "$T/app.conf" | grep -q "1/1 workers ready"' ||
	fail "never 1/1 ready: $(cat "$T/master.log")"
for i in 1 2 3; do
	status_answers
done
stops_in_5s
exit 0
