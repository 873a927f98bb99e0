#!/usr/bin/env bash
# Security L1: a local user (nobody) floods the master's NOTIFY_SOCKET for
# 3 s. Its datagrams are dropped on their uid, before any /proc read: the
# master spends under 40 us of CPU per datagram (about 100 us before, a
# /proc walk each), `status` answers within 2 s while the flood runs, workers
# still serve, and the flood is logged at most once per 10 s. (How much CPU
# the master spends in all follows the sender's own speed: it must read
# what comes, or workers' messages would find the queue full.) Then a root process that is not a worker
# sends READY=1: that different problem must still be logged (one junk
# datagram used to silence every later notify warning for good).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

need_nobody_python

SECS=3
start_cluster 1
w=$(children "$MASTER" | head -1)
NS=$(notify_socket_of "$w")

cat >"$T/flood.py" <<'EOP'
import socket, sys, time
name, secs = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.setblocking(False)
addr = "\0" + name[1:]
end = time.time() + secs; sent = full = 0
while time.time() < end:
    try: s.sendto(b"READY=1", addr); sent += 1
    except BlockingIOError: full += 1
print("sent %d, queue full %d times" % (sent, full), flush=True)
EOP
hz=$(getconf CLK_TCK)
c0=$(cpu_ticks "$MASTER")
t0=$(now_ms)
$AS_NOBODY "$PY" - "$NS" "$SECS" <"$T/flood.py" >"$T/flood.out" 2>&1 &
FLOOD=$!
for i in 1 2 3; do
	timeout 2 "$CLUSTERD" status "$T/app.conf" >/dev/null ||
		fail "status did not answer within 2 s during the flood"
done
alive "$FLOOD" || note "the flood ended before the third status answer"
wait "$FLOOD" || fail "flood: $(cat "$T/flood.out")"
http_ok "http://127.0.0.1:$PORT/" || fail "no answer after the flood"
"$CLUSTERD" status "$T/app.conf" >/dev/null || fail "no status after the flood"
c1=$(cpu_ticks "$MASTER")
ms=$(( $(now_ms) - t0 ))
cpu_ms=$(( (c1 - c0) * 1000 / hz ))
sent=$(sed -n 's/^sent \([0-9]*\),.*/\1/p' "$T/flood.out")
[ "${sent:-0}" -gt 0 ] || fail "flood: $(cat "$T/flood.out")"
us_per=$(( cpu_ms * 1000 / sent ))
note "flood as nobody: $(cat "$T/flood.out"); master CPU $cpu_ms ms in $ms ms, $us_per us per datagram"
[ "$us_per" -lt 40 ] || fail "the master spent $us_per us of CPU per datagram"
n=$(grep -c "notify: .*not the workers' user" "$T/master.log")
[ "$n" -ge 1 ] || fail "the flood was not logged"
[ "$n" -le 2 ] || fail "the flood was logged $n times in ${SECS}s"

# A different problem after the flood: still logged.
pid=$("$PY" -c 'import os, socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1", "\0" + sys.argv[1][1:]); print(os.getpid())' "$NS")
logged() { master_log_has "notify: .*pid $pid, not a worker"; }
wait_until 5 logged ||
	fail "a message from a non-worker after the flood was not logged: $(grep notify: "$T/master.log")"
grep 'notify:' "$T/master.log" | sed 's/^/# /' >&2
kill -TERM "$MASTER"
wait "$MASTER"
assert_eq "$?" 0 "master exit status"
exit 0
