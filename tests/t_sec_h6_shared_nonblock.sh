#!/usr/bin/env bash
# H6: with sockets = shared, and for every unix: listener, all workers hold
# the same open file of the listening socket, O_NONBLOCK included. The
# reference worker sets it and accepts until EAGAIN, as nginx and node do.
# When slot 0 crashes the master must not clear O_NONBLOCK: slot 1 would
# block in accept() for the whole backoff (5 s here) and answer nothing.
# During the backoff slot 1's fd 3 stays non-blocking and three requests in
# a row get 200 within 2 s each.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

flags() { awk '/^flags:/ { print $2 }' "/proc/$1/fdinfo/3"; }
nonblock() { [ $(( 0$(flags "$1") & 04000 )) -ne 0 ]; }

# round ADDRESS SOCKETS-LINE CURL-ARGS...
round() {
	local addr=$1 sockets=$2 w0 w1 i t0 ms code
	shift 2
	WORKERS=2 cluster_conf "$T/app.conf" <<EOF
[listen]
address = $addr
$sockets
[worker]
command = $WORKER
ready = notify
restart_delay = 5s
EOF
	run_cluster "$T/app.conf"
	wait_started
	w0=$(slot_pid 0) || fail "$addr: no slot 0 worker"
	w1=$(slot_pid 1) || fail "$addr: no slot 1 worker"
	nonblock "$w1" || fail "$addr: slot 1's fd 3 is blocking before the crash ($(flags "$w1"))"
	assert_eq "$(http_code "$@")" 200 "$addr: before the crash"

	kill -KILL "$w0"
	# A worker that had been ready for a second is replaced at once; its
	# successor, killed right away, is a crash in a row: the backoff.
	wait_until 5 eval 'master_log_has "slot 0: restarting in" || master_log_has "slot 0: restarting at once"'
	if ! master_log_has "slot 0: restarting in"; then
		wait_until 5 eval '[ "$(grep -c "slot 0: pid .* ready after" "$T/master.log")" -ge 2 ]' ||
			fail "$addr: slot 0 not replaced"
		kill -KILL "$(slot_pid 0)"
	fi
	wait_until 5 master_log_has "slot 0: restarting in" ||
		fail "$addr: no backoff for slot 0: $(tail -5 "$T/master.log")"
	nonblock "$w1" ||
		fail "$addr: the master cleared O_NONBLOCK on the shared socket (slot 1 fd 3 flags $(flags "$w1"))"
	for i in 1 2 3; do
		t0=$(now_ms)
		code=$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$@")
		ms=$(( $(now_ms) - t0 ))
		[ "$code" = 200 ] ||
			fail "$addr: request $i during slot 0's backoff: $code after $ms ms (slot 1 in $(cat "/proc/$w1/wchan" 2>/dev/null))"
	done
	# Still in the backoff: otherwise the new slot 0 worker answered.
	slot_pid 0 >/dev/null && fail "$addr: slot 0 restarted before the requests were done"
	alive "$w1" || fail "$addr: slot 1 died"
	note "$addr: 3 requests served by slot 1 during slot 0's backoff, fd 3 stays O_NONBLOCK"
	kill -TERM "$MASTER"
	wait "$MASTER"
	rm -f "$T/master.log"
}
PORT=$(free_port)
round "127.0.0.1:$PORT" "sockets = shared" "http://127.0.0.1:$PORT/"
round "unix:$T/app.sock" "" --unix-socket "$T/app.sock" http://x/
exit 0
