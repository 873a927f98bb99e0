#!/usr/bin/env bash
# stderr connected to the journal (JOURNAL_STREAM = DEV:INODE of fd 2, as
# systemd sets it): every master log line, the workers' relayed output
# included, starts with a <N> syslog priority and carries no timestamp
# (journald stamps lines itself). A JOURNAL_STREAM naming another file
# changes nothing. Workers never inherit JOURNAL_STREAM.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

NAME=sdj CONF=$T/app.conf cluster_app 2 "command = $WORKER --stderr-line \"hello from the worker\""

# journal_run STREAM: clusterd run with stderr to $T/master.log and
# JOURNAL_STREAM=STREAM, until ready.
journal_run() {
	: >"$T/master.log"
	JOURNAL_STREAM=$1 bg_run "$CLUSTERD" run "$T/app.conf" 2>"$T/master.log" >/dev/null
	MASTER=$BG_PID
	wait_started
}

# 1. JOURNAL_STREAM matches fd 2: <N> prefixes, no timestamps.
: >"$T/master.log"
stream=$(stat -c '%d:%i' "$T/master.log")	# st_dev in decimal, as systemd writes it
note "JOURNAL_STREAM=$stream"
journal_run "$stream"
wait_until 5 master_log_has "hello from the worker" || fail "worker line missing: $(cat "$T/master.log")"

# A message from a stranger on the master's notify socket: one warning.
sock=$(http_get "http://127.0.0.1:$PORT/env" | sed -n 's/^NOTIFY_SOCKET=@//p')
[ -n "$sock" ] || fail "no NOTIFY_SOCKET in the worker's environment"
python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1", "\0" + sys.argv[1])' "$sock" || fail "cannot send to @$sock"
wait_until 5 master_log_has "not a worker" || fail "no warning: $(cat "$T/master.log")"
assert_not_contains "$(http_get "http://127.0.0.1:$PORT/env")" "JOURNAL_STREAM=" "worker environment"
stop_master

note "$(head -3 "$T/master.log")"
bad=$(grep -v '^<[0-7]>' "$T/master.log" | head -3)
[ -z "$bad" ] || fail "lines without a <N> prefix: $bad"
stamped=$(grep -E '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z|clusterd\[[0-9]+\]:' "$T/master.log" | head -3)
[ -z "$stamped" ] || fail "timestamps under the journal: $stamped"
grep -q '^<5>sdj: 2/2 workers ready on' "$T/master.log" || fail "notice line: $(cat "$T/master.log")"
grep -q '^<6>slot 0: started pid' "$T/master.log" || fail "info line: $(cat "$T/master.log")"
grep -q '^<4>notify: ignoring a message from pid [0-9]*, not a worker' "$T/master.log" ||
	fail "warning line: $(cat "$T/master.log")"
# The worker wrote it to its stderr: warning (4), its stdout would be 6.
grep -q '^<4>slot [01] pid [0-9]*: .*hello from the worker' "$T/master.log" ||
	fail "relayed worker line: $(cat "$T/master.log")"
grep -q '^<5>stopping: SIGTERM' "$T/master.log" || fail "stop line: $(cat "$T/master.log")"

# 2. JOURNAL_STREAM naming another file: stderr is not the journal.
: >"$T/other"
journal_run "$(stat -c '%d:%i' "$T/other")"
stop_master
! grep -q '^<[0-7]>' "$T/master.log" || fail "<N> prefix without the journal: $(head -3 "$T/master.log")"
grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z clusterd\[[0-9]+\]: notice: sdj: 2/2 workers ready' \
	"$T/master.log" || fail "timestamped lines expected: $(head -3 "$T/master.log")"
exit 0
